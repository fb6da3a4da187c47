#!/usr/bin/env bash
# uses-fixture: pg
# The container image of deploy/Containerfile, built by scripts/build-image.sh and run with
# buildah (chroot isolation: works where podman's OCI runtime cannot, e.g. inside a VM
# without cgroup delegation) under deploy/seccomp-io_uring.json: `doctor` says io_uring ok,
# the process runs as uid 10001, a system call the profile leaves out (unshare) is refused,
# and a bulk clone from inside the container (host network, the fixture's TCP role, the
# password in PGPASSWORD) arrives identical — pg_dump and pg_restore from the image's
# postgresql-client-15.
#
# Building the image compiles the whole release build inside it (and, with no registry,
# debootstraps a Debian 12 base first): 15 to 40 minutes on 2 cores, more than the test
# suite's budget. So it runs when URINGMIG_IMAGE_TEST=1 is set (a release check, a nightly
# job; URINGMIG_IMAGE=TAG tests an image already built instead of building one); otherwise,
# or when buildah is missing, it says why and exits 77, which ctest reports as "Not Run"
# (SKIP_RETURN_CODE), never as passed.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
repo=$(realpath -- "$(dirname "${BASH_SOURCE[0]}")/../..")
if [ "${URINGMIG_IMAGE_TEST:-0}" != 1 ]; then
  echo "deploy_image: not built: set URINGMIG_IMAGE_TEST=1 to build and run the image (15+ min on 2 cores)"
  exit 77
fi
command -v buildah >/dev/null || { echo "deploy_image: not built: buildah is not installed"; exit 77; }
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
b() { buildah --storage-driver "$STORAGE_DRIVER" "$@"; }
tag=${URINGMIG_IMAGE:-}
if [ -z "$tag" ]; then
  tag=localhost/uringmig:e2e-$$
  "$repo/scripts/build-image.sh" "$tag" >"$work/build.log" 2>&1 || {
    tail -20 "$work/build.log"
    fail "scripts/build-image.sh failed"
    finish deploy_image
  }
fi
ctr=$(b from --security-opt seccomp="$repo/deploy/seccomp-io_uring.json" "$tag")
trap 'b rm "$ctr" >/dev/null 2>&1; [ -n "${URINGMIG_IMAGE:-}" ] || b rmi -f "$tag" >/dev/null 2>&1; rm -rf -- "$work"' EXIT
# The image's entrypoint and user, as a runtime would start it.
in_image() { b run --isolation chroot --user 10001:10001 --workingdir /var/lib/uringmig "$ctr" -- "$@"; }

in_image /usr/local/bin/uringmig doctor >"$work/doctor" 2>&1 || fail "doctor in the image: $(cat "$work/doctor")"
grep -Eq '^ *io_uring *:? *ok' "$work/doctor" || fail "io_uring not ok in the image: $(grep io_uring "$work/doctor")"
[ "$(in_image id -u)" = 10001 ] || fail "the image does not run as uid 10001"
[ "$(b inspect --format '{{.OCIv1.Config.User}}' "$tag")" = 10001:10001 ] || fail "the image's USER is not 10001:10001"
if in_image unshare --user true 2>"$work/unshare.err"; then fail "unshare ran in the image under the profile"; fi

src=image_src_$$; dst=image_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items (id bigint primary key, note text);
insert into items select g, 'n' || g from generate_series(1, 20000) g;
create index on items (note);
SQL
in_image env PGPASSWORD="$PGFIX_PASSWORD" /usr/local/bin/uringmig run --preset bulk \
  --source "postgresql://$PGFIX_ROLE@127.0.0.1:$PGFIX_PORT/$src" \
  --target "postgresql://$PGFIX_ROLE@127.0.0.1:$PGFIX_PORT/$dst" >"$work/run.out" 2>&1 ||
  fail "bulk clone in the image: $(tail -3 "$work/run.out")"
[ "$(table_sums "$src")" = "$(table_sums "$dst")" ] || fail "tables differ after the clone in the image"
finish deploy_image
