#!/usr/bin/env bash
# Installs everything strata needs to build, test and run on Debian 12, from Debian's
# archive only. Idempotent: packages already installed are not touched, and `apt-get update`
# runs only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache make
  # libraries (DESIGN.md "Dependencies")
  libarchive-dev libssl-dev libzstd-dev zlib1g-dev libsqlite3-dev libcurl4-openssl-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev catch2 libcpp-httplib-dev libcrypt-dev
  # run time and test peers
  gpgv gnupg zstd tar skopeo umoci docker-registry python3 python3-jsonschema apache2-utils
  mmdebstrap
  curl openssl ca-certificates
  # Debian test archive (tests/fixtures/debian/make_archive.sh)
  dpkg xz-utils gzip
  # sandbox tests: a static shell for the test rootfs
  busybox-static
  # foreign-architecture images: arm64 maintainer scripts under qemu-user
  # (tests/integration/test_mirror_foreign_arch.sh)
  qemu-user-static binfmt-support
  # benchmarks
  hyperfine time
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
