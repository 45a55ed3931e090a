#!/usr/bin/env bash
# Quick-start command 1: install dependencies, build strata, and run the main job on this
# machine: build the example data-science environment (examples/datascience: Debian trixie
# + the SciPy stack + JupyterLab, from its committed lock), serve it from strata's embedded
# registry on loopback, push it, pull it back onto a "node" (an empty store) with --unpack,
# and run `python3 -c "import pandas, sklearn"` and `jupyter lab --version` inside the
# unpacked image in strata's sandbox, printing how long each step took.
# The first run downloads about 300 MB of Debian packages from the mirror of the apt sources
# (or STRATA_DEBIAN_MIRROR); a second run reuses them and every layer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
strata=$PWD/${STRATA_BUILD_DIR:-build}/strata
out=${STRATA_DEMO_DIR:-$PWD/demo-out}
export STRATA_HOME=${STRATA_HOME:-$out/store}
node_store=$out/node-store
rootfs=$out/rootfs
mkdir -p "$out"

declare -a summary=()
step() { printf '\n== %s\n' "$*"; }
timed() {  # timed LABEL CMD...
  local label=$1 t0=$EPOCHREALTIME
  shift
  "$@"
  local dt
  dt=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$EPOCHREALTIME")
  printf '   (%s s)\n' "$dt"
  summary+=("$(printf '%-44s %8s s' "$label" "$dt")")
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
registry=127.0.0.1:$port
step "start the embedded registry: strata registry serve --addr $registry"
"$strata" registry serve --addr "$registry" --root "$out/registry" >"$out/registry.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done

step "build examples/datascience from its lock and push it to $registry/datascience:latest"
timed "build --locked --push" \
  "$strata" build examples/datascience --locked --push "$registry/datascience:latest" -o "oci:$out/layout:latest"

step "the image"
"$strata" inspect datascience:latest | head -n 30

step "pull it onto a node (an empty store) and unpack it: strata pull --unpack"
rm -rf "$node_store" "$rootfs"
timed "pull --unpack (node)" env STRATA_HOME="$node_store" \
  "$strata" pull "$registry/datascience:latest" --unpack "$rootfs"

step "inside the unpacked image, in strata's sandbox"
timed "python3 -c 'import pandas, sklearn'" "$strata" run --rootfs "$rootfs" -u 1000:1000 -e HOME=/home/user -- \
  python3 -c "import pandas, sklearn; print('pandas', pandas.__version__, 'scikit-learn', sklearn.__version__)"
timed "jupyter lab --version" "$strata" run --rootfs "$rootfs" -u 1000:1000 -e HOME=/home/user -- jupyter lab --version
timed "notebooks/check.py" "$strata" run --rootfs "$rootfs" -u 1000:1000 -e HOME=/home/user -- \
  python3 /home/user/notebooks/check.py

step "build again: every layer from the cache"
timed "rebuild (no-op)" "$strata" build examples/datascience --locked

step "summary"
printf '%s\n' "${summary[@]}"
echo "image: oci:$out/layout:latest, SBOMs beside it; unpacked rootfs: $rootfs"
