#!/usr/bin/env bash
# Benchmark: the pytorch-cuda-jupyter project (`strata init --template pytorch-cuda-jupyter`:
# trixie + CUDA 12.4 runtime + python3-torch-cuda + SciPy stack + JupyterLab + one project
# package; 1044 packages, 2.6 GB of .debs), from its lock. No peer: absolute figures.
#   cold: `strata build --locked` with an empty store (downloads every .deb)
#   warm: the .debs in the store, every layer rebuilt (a new SOURCE_DATE_EPOCH changes the
#         cache keys)
#   image: number of layers, compressed size (manifest), uncompressed size (layer tars)
#   node:  v1 pushed to `strata registry serve` on loopback and pulled with
#          `strata pull --unpack` into a node store; then one package is added to the
#          project layer, re-locked, rebuilt, pushed as v2 and pulled again into the same
#          node store: the bytes the node downloads (target: only the project layer).
# usage: bench/pytorch_cuda_jupyter.sh [RUNS]   (several GB: BENCH_DIR needs ~35 GB free)
# Figures: docs/benchmarks.md, "pytorch-cuda-jupyter template". CATALOG=DIR builds from another catalog.
# KEEP=1 keeps the stores under $BENCH_DIR/pytorch-cuda-jupyter (default: removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
strata=${STRATA_BIN:-$PWD/build/strata}
work=${BENCH_DIR:-/var/tmp/strata-bench}/pytorch-cuda-jupyter
out="$work/../results.jsonl"
mirror=$("$strata" mirror)
export STRATA_DEBIAN_MIRROR=${STRATA_DEBIAN_MIRROR:-$mirror}
unset SOURCE_DATE_EPOCH

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$work/store" "$work/lock-store" "$work/registry" "$work/node" "$work/rootfs-v1" \
      "$work/rootfs-v2"
  fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$(now)"; }
log() { echo "[$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)] $*"; }
record() { # NAME VALUE UNIT
  python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "value": float(sys.argv[2]), "unit": sys.argv[3]}))' \
    "pytorch-cuda-jupyter: $1" "$2" "$3" >>"$out"
  log "RESULT $1: $2 $3"
}
median() { python3 -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 2))' "$@"; }

rm -rf "$work"
mkdir -p "$work"
# A copy of the catalog (CATALOG, default the source tree's recipes/; right also when
# STRATA_BIN is a copy outside the build tree). frameworks/pytorch-cuda's last layer,
# "cudnn", runs Debian's update-nvidia-cudnn with the network on: it downloads cuDNN from
# NVIDIA's site (docs/catalog.md, "cuDNN"), which the benchmark machine cannot reach. Unless
# WITH_CUDNN=1, the copy leaves that layer out: the image then holds every .deb of the lock
# but not libcudnn (about 1 GB more on a machine that can download it).
export STRATA_CATALOG=$work/catalog
cp -r "${CATALOG:-$PWD/recipes}" "$STRATA_CATALOG"
if [ "${WITH_CUDNN:-0}" != 1 ]; then
  python3 - "$STRATA_CATALOG/frameworks/pytorch-cuda.toml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
cut = re.sub(r'\[\[layer\]\]\nname = "cudnn"\n(?:(?!\[\[layer\]\]|\[config\]).*\n)*', "", s)
assert cut != s, "no cudnn layer in " + p
open(p, "w").write(cut)
PY
  log "catalog copy: frameworks/pytorch-cuda without its cudnn layer (no libcudnn in the image)"
fi
proj=$work/project
"$strata" init "$proj" --template pytorch-cuda-jupyter --name pcj >/dev/null
# Lock in a separate store, so that the cold build's store is really empty.
STRATA_HOME=$work/lock-store "$strata" -q lock "$proj" >/dev/null
STRATA_HOME=$work/lock-store "$strata" plan "$proj" >"$work/plan.txt"
log "locked: $(grep -c 'name = ' "$proj/strata.lock") packages; plan in $work/plan.txt"

# Cold: empty store. The store of the last cold run is kept: it is the warm runs' store
# and v1's.
cold=()
for i in $(seq "$runs"); do
  rm -rf "$work/store"
  t0=$(now)
  STRATA_HOME=$work/store "$strata" -q build "$proj" --locked -t pcj:v1 >/dev/null
  cold+=("$(since "$t0")")
  log "cold run $i: ${cold[-1]} s"
done
record "cold build (median of $runs)" "$(median "${cold[@]}")" s
ls "$work/store/snapshots" >"$work/snapshots-v1.txt"

# Warm: the .debs are in the store; a new SOURCE_DATE_EPOCH rebuilds every layer. The
# warm runs' snapshots are removed afterwards (space); v1's stay for the v2 build.
warm=()
for i in $(seq "$runs"); do
  t0=$(now)
  SOURCE_DATE_EPOCH=$((1700000000 + i)) STRATA_HOME=$work/store \
    "$strata" -q build "$proj" --locked -t "pcj:warm$i" >/dev/null
  warm+=("$(since "$t0")")
  log "warm run $i: ${warm[-1]} s"
done
record "warm build (median of $runs)" "$(median "${warm[@]}")" s
for s in "$work"/store/snapshots/*; do
  grep -qx "$(basename "$s")" "$work/snapshots-v1.txt" || rm -rf "$s"
done

# The image (v1): a no-op rebuild (all cache hits) prints its layers.
t0=$(now)
STRATA_HOME=$work/store "$strata" --json build "$proj" --locked -t pcj:v1 >"$work/v1.json"
record "no-op rebuild" "$(since "$t0")" s
python3 - "$work/v1.json" "$work/store" <<'PY' >"$work/v1-layers.txt"
import json, subprocess, sys
b = json.load(open(sys.argv[1]))
total_c = total_u = 0
for l in b["layers"]:
    blob = f"{sys.argv[2]}/blobs/sha256/{l['digest'].split(':')[1]}"
    u = int(subprocess.run(f"zstd -dcq {blob} | wc -c", shell=True, check=True,
                           capture_output=True, text=True).stdout)
    total_c += l["size"]; total_u += u
    print(f"{l['digest'][:19]}  {l['size']/2**20:9.1f} MiB  {u/2**20:9.1f} MiB  "
          f"{'cached' if l['cached'] else 'built'}  {l['created_by'][:90]}")
print(f"layers {len(b['layers'])} compressed {total_c} uncompressed {total_u}")
PY
cat "$work/v1-layers.txt"
read -r _ nlayers _ csize _ usize < <(tail -1 "$work/v1-layers.txt")
record "layers" "$nlayers" count
record "image size, compressed (layer blobs)" "$(python3 -c "print(round($csize / 2**20, 1))")" MiB
record "image size, uncompressed (layer tars)" "$(python3 -c "print(round($usize / 2**20, 1))")" MiB

# Registry on loopback, v1 pushed, pulled by a node.
port=$(free_port)
"$strata" registry serve --root "$work/registry" --addr "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
reg=127.0.0.1:$port/bench/pcj
t0=$(now)
STRATA_HOME=$work/store "$strata" -q push pcj:v1 "$reg:v1" >/dev/null
record "push v1 to strata registry (loopback)" "$(since "$t0")" s
t0=$(now)
STRATA_HOME=$work/node "$strata" -q pull "$reg:v1" --unpack "$work/rootfs-v1" >/dev/null
record "node: pull --unpack v1 (empty node store)" "$(since "$t0")" s
record "node: unpacked rootfs v1 (du)" "$(du -sm "$work/rootfs-v1" | cut -f1)" MiB
rm -rf "$work/rootfs-v1"

# v2: one package added to the project layer; re-locked (only that layer changes), rebuilt
# with the same store (the layers below are cache hits), pushed.
python3 - "$proj/strata.toml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
assert 'packages = ["python3-tqdm"]' in s, "the template's project layer changed"
open(p, "w").write(s.replace('packages = ["python3-tqdm"]', 'packages = ["python3-tqdm", "python3-tabulate"]'))
PY
cp "$proj/strata.lock" "$work/v1.lock"
STRATA_HOME=$work/lock-store "$strata" -q lock "$proj" >/dev/null
"$strata" diff "$work/v1.lock" "$proj/strata.lock" | tee "$work/lock-diff.txt"
t0=$(now)
STRATA_HOME=$work/store "$strata" --json build "$proj" --locked -t pcj:v2 >"$work/v2.json"
record "v2 rebuild after the one-package change" "$(since "$t0")" s
STRATA_HOME=$work/store "$strata" -q push pcj:v2 "$reg:v2" >/dev/null

# The node, holding v1, pulls v2: what it downloads is every blob it does not have. Counted
# twice: from `strata pull`'s "pulled DIGEST" lines (sizes from the manifest) and from the
# new files in the node's blob store.
ls "$work/node/blobs/sha256" >"$work/node-blobs-v1.txt"
t0=$(now)
STRATA_HOME=$work/node "$strata" pull "$reg:v2" --unpack "$work/rootfs-v2" 2>"$work/pull-v2.err" >/dev/null
record "node: pull --unpack v2 (node store holds v1)" "$(since "$t0")" s
python3 - "$work" <<'PY'
import json, os, re, sys
w = sys.argv[1]
v1 = json.load(open(f"{w}/v1.json")); v2 = json.load(open(f"{w}/v2.json"))
l1 = [l["digest"] for l in v1["layers"]]
l2 = [(l["digest"], l["size"], l["created_by"]) for l in v2["layers"]]
changed = [(i, d, s, c) for i, (d, s, c) in enumerate(l2) if d not in l1]
print(f"v2 layers not in v1: {len(changed)} of {len(l2)}")
for i, d, s, c in changed:
    print(f"  layer {i}: {d} {s} bytes  {c[:90]}")
pulled = re.findall(r"pulled (sha256:[0-9a-f]{64})", open(f"{w}/pull-v2.err").read())
sizes = {d: s for d, s, _ in l2}
layer_bytes = sum(sizes.get(d, 0) for d in pulled)
other = [d for d in pulled if d not in sizes]
old = set(open(f"{w}/node-blobs-v1.txt").read().split())
new = {f: os.path.getsize(f"{w}/node/blobs/sha256/{f}")
       for f in os.listdir(f"{w}/node/blobs/sha256") if f not in old}
total = sum(l["size"] for l in v2["layers"])
print(f"pulled blobs: {len(pulled)} (layers {len(pulled) - len(other)}, other {len(other)})")
print(f"new files in the node store: {len(new)}, {sum(new.values())} bytes")
open(f"{w}/bytes.txt", "w").write(f"{layer_bytes} {sum(new.values())} {total}\n")
only_project = [d for _, d, _, _ in changed] == [d for d in pulled if d in sizes] and \
    len(changed) == 1 and changed[0][0] == len(l2) - 1
print("only the project layer re-downloaded:", only_project)
PY
read -r lbytes sbytes tbytes <"$work/bytes.txt"
record "node: layer bytes re-downloaded for v2" "$(python3 -c "print(round($lbytes / 2**20, 3))")" MiB
record "node: all new blob bytes in the node store for v2 (layers, config, manifest)" \
  "$(python3 -c "print(round($sbytes / 2**20, 3))")" MiB
record "v2 image, compressed" "$(python3 -c "print(round($tbytes / 2**20, 1))")" MiB
log "done; results appended to $out"
