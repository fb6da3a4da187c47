#!/usr/bin/env bash
# Builds the container image of deploy/Containerfile with buildah (or podman), as root or not.
#   scripts/build-image.sh [TAG]          (default uringmig:latest)
# DEBIAN_IMAGE names the base image (default docker.io/library/debian:12). When it is not in
# local storage and cannot be pulled (no registry reachable), a Debian 12 base is made with
# debootstrap from deb.debian.org and stored as localhost/debian:12.
# The build runs with chroot isolation and the vfs storage driver unless BUILDAH_ISOLATION /
# STORAGE_DRIVER say otherwise: slower than overlay, but they work inside containers and VMs
# that give no user namespaces or overlay mounts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tag=${1:-uringmig:latest}
base=${DEBIAN_IMAGE:-docker.io/library/debian:12}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}

if command -v buildah >/dev/null; then
  builder=(buildah --storage-driver "$STORAGE_DRIVER")
  build=(bud --isolation "$BUILDAH_ISOLATION")
elif command -v podman >/dev/null; then
  builder=(podman --storage-driver "$STORAGE_DRIVER")
  build=(build --isolation "$BUILDAH_ISOLATION")
else
  echo "build-image: neither buildah nor podman is installed (apt-get install buildah)" >&2
  exit 2
fi

have_image() { "${builder[@]}" inspect --type image "$1" >/dev/null 2>&1; }

if ! have_image "$base" && ! "${builder[@]}" pull -q "$base" >/dev/null 2>&1; then
  base=localhost/debian:12
  if ! have_image "$base"; then
    command -v debootstrap >/dev/null || {
      echo "build-image: cannot pull ${DEBIAN_IMAGE:-docker.io/library/debian:12} and debootstrap is not installed" >&2
      exit 2
    }
    root=$(mktemp -d)
    trap 'rm -rf -- "$root"' EXIT
    echo "build-image: no registry; making $base with debootstrap" >&2
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
    if command -v podman >/dev/null; then
      tar -C "$root" -c . | podman --storage-driver "$STORAGE_DRIVER" import - "$base" >/dev/null
    else
      ctr=$(buildah --storage-driver "$STORAGE_DRIVER" from scratch)
      buildah --storage-driver "$STORAGE_DRIVER" copy "$ctr" "$root" / >/dev/null
      buildah --storage-driver "$STORAGE_DRIVER" commit --rm "$ctr" "$base" >/dev/null
    fi
  fi
fi

"${builder[@]}" "${build[@]}" --layers --pull=never --build-arg "DEBIAN_IMAGE=$base" \
  -f deploy/Containerfile -t "$tag" .
