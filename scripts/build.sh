#!/usr/bin/env bash
# Configures and builds strata into ${STRATA_BUILD_DIR:-build} (Ninja, warnings as errors).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${STRATA_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${STRATA_BUILD_TYPE:-RelWithDebInfo} \
  -DSTRATA_DEV=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
