#!/usr/bin/env bash
# Quick-start command 1: install dependencies, build strata, and run the main job:
# build the example recipe (examples/hello) into an OCI image layout, print its digest and
# layers, and build it again to show the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
strata=$PWD/${STRATA_BUILD_DIR:-build}/strata
out=${STRATA_DEMO_DIR:-$PWD/demo-out}
export STRATA_HOME=${STRATA_HOME:-$out/store}
mkdir -p "$out"

step() { printf '\n== %s\n' "$*"; }
timed() {
  local t0=$EPOCHREALTIME
  "$@"
  python3 -c "import sys; print('   (%.2f s)' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$EPOCHREALTIME"
}

step "build examples/hello into oci:$out/layout:latest"
timed "$strata" build examples/hello -o "oci:$out/layout:latest"
step "inspect the image"
"$strata" inspect "oci:$out/layout:latest"
step "build again: every layer comes from the cache"
timed "$strata" build examples/hello -o "oci:$out/layout:latest"
