#!/usr/bin/env bash
# uses-fixture: pg
# The container image of deploy/Containerfile, built by scripts/build-image.sh and run with
# podman under deploy/seccomp-io_uring.json: `doctor` says io_uring ok, the process runs as
# uid 10001 and not root, and a bulk clone from inside the container (host network, the
# fixture's TCP role, the password in PGPASSWORD) arrives identical — pg_dump and pg_restore
# from the image's postgresql-client-15.
#
# Building the image compiles the whole release build inside it (and, with no registry,
# debootstraps a Debian 12 base first): 15 minutes or more on 2 cores, more than the test
# suite's budget. So it runs when URINGMIG_IMAGE_TEST=1 is set (a release check, a nightly
# job); otherwise, or when buildah/podman is missing, it says why and exits 77, which ctest
# reports as "Not Run" (SKIP_RETURN_CODE), never as passed.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
repo=$(realpath -- "$(dirname "${BASH_SOURCE[0]}")/../..")
if [ "${URINGMIG_IMAGE_TEST:-0}" != 1 ]; then
  echo "deploy_image: not built: set URINGMIG_IMAGE_TEST=1 to build and run the image (15+ min on 2 cores)"
  exit 77
fi
for tool in buildah podman; do
  command -v "$tool" >/dev/null || { echo "deploy_image: not built: $tool is not installed"; exit 77; }
done
tag=localhost/uringmig:e2e-$$
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
"$repo/scripts/build-image.sh" "$tag" >"$work/build.log" 2>&1 || {
  tail -20 "$work/build.log"
  fail "scripts/build-image.sh failed"
  finish deploy_image
}
podman_run() {
  podman --storage-driver "$STORAGE_DRIVER" run --rm --network host \
    --security-opt seccomp="$repo/deploy/seccomp-io_uring.json" "$@"
}
trap 'podman --storage-driver "$STORAGE_DRIVER" rmi -f "$tag" >/dev/null 2>&1; rm -rf -- "$work"' EXIT

podman_run "$tag" doctor >"$work/doctor" 2>&1 || fail "doctor in the image: $(cat "$work/doctor")"
grep -Eq '^ *io_uring *:? *ok' "$work/doctor" || fail "io_uring not ok in the image: $(grep io_uring "$work/doctor")"
[ "$(podman_run --entrypoint id "$tag" -u)" = 10001 ] || fail "the image does not run as uid 10001"

src=image_src_$$; dst=image_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items (id bigint primary key, note text);
insert into items select g, 'n' || g from generate_series(1, 20000) g;
create index on items (note);
SQL
podman_run -e PGPASSWORD="$PGFIX_PASSWORD" "$tag" run --preset bulk \
  --source "postgresql://$PGFIX_ROLE@127.0.0.1:$PGFIX_PORT/$src" \
  --target "postgresql://$PGFIX_ROLE@127.0.0.1:$PGFIX_PORT/$dst" >"$work/run.out" 2>&1 ||
  fail "bulk clone in the image: $(tail -3 "$work/run.out")"
[ "$(table_sums "$src")" = "$(table_sums "$dst")" ] || fail "tables differ after the clone in the image"
finish deploy_image
