#!/usr/bin/env bash
# Installs every Debian 12 package uringmig needs to build, test and benchmark.
# `scripts/setup-deps.sh build`: only what the release binary needs to build (the container
# image's build stage, deploy/Containerfile).
# Idempotent: packages already present are not downloaded again.
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev liburing-dev libpq-dev libsqlite3-dev libcurl4-openssl-dev
  libssl-dev zlib1g-dev liblz4-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
)
packages=(
  "${build_packages[@]}" clang-format clang-tidy clang libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 sqlite3 strace util-linux
  python3 python3-yaml python3-jsonschema curl openssl jq libseccomp-dev prometheus tmux chromium firefox-esr
)

if [ "${1:-}" = build ]; then
  packages=("${build_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
