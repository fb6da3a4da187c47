#!/usr/bin/env python3
"""The layer rules, checked against the build: cli -> engine -> connectors -> codecs, io beneath.

For each layer, a probe file that includes one header of every layer is preprocessed with the
exact flags of one of the layer's own sources (from compile_commands.json). A header of a layer
it may include must be found; any other must be "No such file or directory". So the test fails
when a target sees too much (say, the repository root back on the include path) and when the
probe itself is broken (an allowed header not found). It also rejects io::detail outside io/.

usage: check_layers.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# What each layer may include (itself and the layers beneath it).
ALLOWED = {
    "io": {"io"},
    "codecs": {"codecs"},
    "connectors": {"connectors", "codecs", "io"},
    "engine": {"engine", "connectors", "codecs", "io"},
    "cli": {"cli", "engine", "codecs", "io"},
}
# One header per layer that includes nothing outside what the layers above may see.
PROBE = {
    "io": "io/sleep.hpp",
    "codecs": "codecs/url.hpp",
    "connectors": "connectors/sqlite/database.hpp",
    "engine": "engine/core/job.hpp",
    "cli": "cli/app.hpp",
}


def preprocess_args(entry, probe):
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    if os.path.basename(args[0]) == "ccache":
        args = args[1:]
    out, skip = [], False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MT", "-MF", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or a == entry["file"] or a.endswith(entry["file"]):
            continue
        out.append(a)
    return [args[0]] + out + ["-E", "-o", os.devnull, probe]


def main():
    build, src = sys.argv[1], os.path.realpath(sys.argv[2])
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for layer, allowed in ALLOWED.items():
            sources = sorted(
                (e for e in commands
                 if os.path.realpath(e["file"]).startswith(os.path.join(src, layer) + os.sep)
                 and e["file"].endswith(".cpp")), key=lambda e: e["file"])
            if not sources:
                failures.append(f"{layer}: no source in compile_commands.json")
                continue
            entry = sources[0]
            for other, header in PROBE.items():
                probe = os.path.join(tmp, f"{layer}_sees_{other}.cpp")
                with open(probe, "w") as f:
                    f.write(f'#include "{header}"\n')
                r = subprocess.run(preprocess_args(entry, probe), cwd=entry["directory"],
                                   capture_output=True, text=True)
                found = r.returncode == 0
                missing = f"{header}: No such file or directory" in r.stderr
                if other in allowed and not found:
                    failures.append(f"{layer} must see {header} but does not:\n{r.stderr[-2000:]}")
                elif other not in allowed and not missing:
                    why = "it does" if found else "another error:\n" + r.stderr[-2000:]
                    failures.append(f"{layer} must not see {header}, but {why}")
                else:
                    print(f"ok: {layer} {'sees' if found else 'cannot see'} {header}")
    detail = re.compile(r"\bio::detail\b")
    for layer in ("connectors", "engine", "cli", "tests"):
        for root, _, files in os.walk(os.path.join(src, layer)):
            for name in files:
                if name.endswith((".cpp", ".hpp", ".h")):
                    path = os.path.join(root, name)
                    with open(path, errors="replace") as f:
                        for no, line in enumerate(f, 1):
                            if detail.search(line):
                                failures.append(f"{os.path.relpath(path, src)}:{no}: io::detail "
                                                "used outside io/ (use io's public API)")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
