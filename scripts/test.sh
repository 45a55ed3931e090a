#!/usr/bin/env bash
# Quick-start command 2: install dependencies, build, run the whole test suite
# (unit + integration). Exit status is the test suite's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
build_dir=${STRATA_BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure --timeout 900 -j "$(nproc)"
