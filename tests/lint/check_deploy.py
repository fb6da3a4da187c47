#!/usr/bin/python3
"""Offline checks of deploy/: the Kubernetes manifests, the seccomp profile, the Containerfile.

usage: check_deploy.py SOURCE_DIR URINGMIG_BINARY

- Every document of deploy/k8s/*.yaml validates against tests/lint/deploy/k8s.schema.json (the
  part of the Kubernetes API the manifests use, closed: a misspelt field fails), plus the rules
  the API server enforces across fields (an Indexed Job for backoffLimitPerIndex, restartPolicy
  Never with a pod failure policy, ...) and the manifest's own consistency: each secretKeyRef
  names a Secret of the same file and one of its keys, each $(VAR) is an env entry, each mount a
  volume, the Localhost seccomp profile is deploy/'s file, the user is the image's, and every
  flag the container passes exists in `uringmig <command> --help`.
- deploy/seccomp-io_uring.json validates against tests/lint/deploy/seccomp.schema.json, allows
  the three io_uring calls, names only system calls the kernel's table has, and blocks the ones
  a container must not make (mount, unshare, ptrace, ...).
- deploy/Containerfile builds from Debian 12 only, runs as the manifest's non-root user, and
  its run stage installs the package of every shared library the binary links.
Needs Debian's python3-yaml and python3-jsonschema (scripts/setup-deps.sh installs them).
"""

import json
import os
import re
import subprocess
import sys

import jsonschema
import yaml

errors = []


def err(where, what):
    errors.append(f"{where}: {what}")


def help_flags(binary, command):
    out = subprocess.run([binary, command, "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out))


def check_job(path, job, secrets, image_uid, binary, deploy_dir):
    spec = job["spec"]
    pod = spec["template"]["spec"]
    where = f"{path}: Job {job['metadata']['name']}"
    indexed = spec.get("completionMode") == "Indexed"
    for field in ("backoffLimitPerIndex", "maxFailedIndexes"):
        if field in spec and not indexed:
            err(where, f"{field} needs completionMode: Indexed")
    if indexed and "completions" not in spec:
        err(where, "an Indexed Job needs completions")
    if "maxFailedIndexes" in spec and "backoffLimitPerIndex" not in spec:
        err(where, "maxFailedIndexes needs backoffLimitPerIndex")
    if spec.get("parallelism", 1) > spec.get("completions", 1):
        err(where, "parallelism above completions leaves workers idle")
    if spec.get("maxFailedIndexes", 0) > spec.get("completions", 1):
        err(where, "maxFailedIndexes above completions")
    if ("backoffLimitPerIndex" in spec or "podFailurePolicy" in spec) and \
            pod.get("restartPolicy") != "Never":
        err(where, "backoffLimitPerIndex and podFailurePolicy need restartPolicy: Never")
    containers = {c["name"]: c for c in pod["containers"]}
    for rule in spec.get("podFailurePolicy", {}).get("rules", []):
        name = rule.get("onExitCodes", {}).get("containerName")
        if name is not None and name not in containers:
            err(where, f"podFailurePolicy names container {name}, which the pod lacks")
        if rule["action"] == "FailIndex" and "backoffLimitPerIndex" not in spec:
            err(where, "FailIndex needs backoffLimitPerIndex")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        err(where, "the pod must set runAsNonRoot: true")
    if psc.get("runAsUser") != image_uid:
        err(where, f"runAsUser {psc.get('runAsUser')} is not the image's user {image_uid}")
    profile = psc.get("seccompProfile", {})
    if profile.get("type") != "Localhost" or \
            not os.path.isfile(os.path.join(deploy_dir, os.path.basename(
                profile.get("localhostProfile", "")))):
        err(where, "seccompProfile must be Localhost, naming a profile file of deploy/")
    volumes = {v["name"] for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        cwhere = f"{where}: container {c['name']}"
        env = {e["name"] for e in c.get("env", [])}
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            if ref["name"] not in secrets:
                err(cwhere, f"env {e['name']}: no Secret {ref['name']} in this file")
            elif ref["key"] not in secrets[ref["name"]]:
                err(cwhere, f"env {e['name']}: Secret {ref['name']} has no key {ref['key']}")
        args = c.get("args", [])
        for a in args:
            for var in re.findall(r"\$\(([^)]*)\)", a):
                if var not in env:
                    err(cwhere, f"args use $({var}), which is no env entry")
            if re.search(r"[a-z]+://[^$\s]*:[^@$\s]+@", a):
                err(cwhere, "a password in args: read URLs from the Secret")
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                err(cwhere, f"mount of volume {m['name']}, which the pod lacks")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            err(cwhere, "allowPrivilegeEscalation must be false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            err(cwhere, "capabilities must drop ALL")
        if args:
            known = help_flags(binary, args[0])
            if not known:
                err(cwhere, f"`uringmig {args[0]} --help` lists no flags: not a command?")
            for a in args:
                if a.startswith("--") and a.split("=")[0] not in known:
                    err(cwhere, f"{a} is not a flag of `uringmig {args[0]}`")


def check_manifests(src, binary, image_uid):
    schema = json.load(open(os.path.join(src, "tests/lint/deploy/k8s.schema.json")))
    deploy_dir = os.path.join(src, "deploy")
    k8s_dir = os.path.join(deploy_dir, "k8s")
    manifests = sorted(f for f in os.listdir(k8s_dir) if f.endswith(".yaml"))
    if not manifests:
        err(k8s_dir, "no manifests")
    for name in manifests:
        path = os.path.join("deploy/k8s", name)
        docs = [d for d in yaml.safe_load_all(open(os.path.join(k8s_dir, name))) if d]
        secrets = {}
        for d in docs:
            try:
                jsonschema.validate(d, schema)
            except jsonschema.ValidationError as e:
                loc = "/".join(str(p) for p in e.absolute_path)
                err(path, f"{d.get('kind')} {loc}: {e.message[:200]}")
                continue
            if d["kind"] == "Secret":
                secrets[d["metadata"]["name"]] = set(d.get("stringData", {})) | set(
                    d.get("data", {}))
        jobs = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Job"]
        if not jobs:
            err(path, "no Job")
        for job in jobs:
            if "spec" in job and "template" in job["spec"]:
                check_job(path, job, secrets, image_uid, binary, deploy_dir)


def kernel_syscalls():
    names = set()
    for header in ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
                   "/usr/include/asm-generic/unistd.h"):
        if os.path.exists(header):
            names |= set(re.findall(r"#define __NR_([a-z0-9_]+)\s", open(header).read()))
    return names


def check_seccomp(src):
    path = "deploy/seccomp-io_uring.json"
    profile = json.load(open(os.path.join(src, path)))
    schema = json.load(open(os.path.join(src, "tests/lint/deploy/seccomp.schema.json")))
    try:
        jsonschema.validate(profile, schema)
    except jsonschema.ValidationError as e:
        err(path, e.message[:200])
        return
    if profile["defaultAction"] == "SCMP_ACT_ALLOW":
        err(path, "the default action must deny")
    allowed = set()
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            allowed |= set(rule["names"])
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        if name not in allowed:
            err(path, f"{name} is not allowed")
    for name in ("mount", "umount2", "unshare", "setns", "ptrace", "bpf", "kexec_load",
                 "init_module", "reboot", "pivot_root", "keyctl", "userfaultfd",
                 "open_by_handle_at", "perf_event_open", "clone3"):
        if name in allowed:
            err(path, f"{name} must not be allowed without conditions")
    known = kernel_syscalls()
    for rule in profile["syscalls"]:
        for name in rule["names"]:
            if name not in known:
                err(path, f"{name} is no system call this kernel's table knows")


def needed_packages(binary):
    """Debian packages of the shared libraries `binary` links directly."""
    dump = subprocess.run(["objdump", "-p", binary], capture_output=True, text=True).stdout
    needed = re.findall(r"NEEDED\s+(\S+)", dump)
    cache = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    packages = {}
    for lib in needed:
        # The sanitizers' runtimes come with the asan build, not the release image's binary;
        # libc, libm, libgcc_s and libstdc++ are in every Debian base image.
        if re.match(r"lib(asan|ubsan|c|m|gcc_s|stdc\+\+|pthread|dl)\.so", lib):
            continue
        m = re.search(r"^\s*" + re.escape(lib) + r" \(libc6,x86-64\) => (\S+)$", cache, re.M)
        if m is None:
            err(binary, f"cannot find {lib} in the linker cache")
            continue
        real = os.path.realpath(m.group(1))
        owner = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", m.group(1)], capture_output=True, text=True)
        packages[lib] = owner.stdout.split(":")[0].strip()
    return packages


def check_containerfile(src, binary):
    path = "deploy/Containerfile"
    text = open(os.path.join(src, path)).read()
    text = re.sub(r"\\\n", " ", text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    base = next((ln.split("=", 1)[1] for ln in lines if ln.startswith("ARG DEBIAN_IMAGE=")), "")
    if not re.match(r"^(docker\.io/(library/)?)?debian:12(-slim)?$", base):
        err(path, f"the base image {base!r} is not Debian 12")
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    if len(froms) < 2:
        err(path, "not a multi-stage build")
    for f in froms:
        if not f.split()[1] == "${DEBIAN_IMAGE}":
            err(path, f"{f}: every stage starts from ${{DEBIAN_IMAGE}}")
    if not any("scripts/setup-deps.sh build" in ln for ln in lines):
        err(path, "the build stage must install with scripts/setup-deps.sh build")
    run_stage = lines[lines.index(froms[-1]):]
    user = [ln for ln in run_stage if ln.startswith("USER ")]
    uid = None
    if not user:
        err(path, "the run stage has no USER")
    else:
        uid = int(user[-1].split()[1].split(":")[0])
        if uid == 0:
            err(path, "the run stage runs as root")
    installed = set()
    for ln in run_stage:
        if "apt-get install" in ln:
            installed |= set(re.findall(r"(?<![-\w])([a-z0-9][a-z0-9.+-]+[a-z0-9])(?=\s|$)",
                                        ln.split("apt-get install", 1)[1]))
    if "postgresql-client-15" not in installed:
        err(path, "the run stage lacks postgresql-client-15 (pg_dump, pg_restore)")
    for lib, package in needed_packages(binary).items():
        if package not in installed:
            err(path, f"the binary links {lib} ({package}), which the run stage does not install")
    return uid


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, binary = sys.argv[1], sys.argv[2]
    uid = check_containerfile(src, binary)
    check_seccomp(src)
    check_manifests(src, binary, uid)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check_deploy: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("check_deploy: deploy/ is consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
