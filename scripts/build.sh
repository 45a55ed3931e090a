#!/usr/bin/env bash
# Configures and builds strata into ${STRATA_BUILD_DIR:-build} (Ninja, warnings as errors).
# Default: optimised (-O2) without debug info, which builds faster on 2 cores;
# STRATA_BUILD_TYPE=RelWithDebInfo (or Debug) for a build to debug.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${STRATA_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${STRATA_BUILD_TYPE:-Release}" \
  -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DSTRATA_DEV=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
