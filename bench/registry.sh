#!/usr/bin/env bash
# Benchmark: a ~2 GB image (several layers of different sizes) pushed and pulled with
# skopeo to/from strata's registry and Debian's docker-registry (distribution), side by side
# in one run; server peak RSS (VmHWM) for both; and `strata pull --unpack` against
# `skopeo copy docker://... oci:DIR && umoci unpack`.
# usage: bench/registry.sh [RUNS] [SIZE_MB]   (needs ./build/strata, skopeo, umoci, docker-registry)
# BENCH_ONLY=unpack runs only the pull --unpack comparison (no distribution, no push/pull
# pairs); STRATA_BIN_BEFORE=PATH then also times that strata binary (before/after a change).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
size_mb=${2:-2048}
strata=${STRATA_BIN:-$PWD/build/strata}
work=${BENCH_DIR:-/var/tmp/strata-bench}/registry
rm -rf "$work"
mkdir -p "$work"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_v2() { for _ in $(seq 100); do curl -fs -o /dev/null "$1/v2/" && return 0; sleep 0.1; done; echo "no registry at $1" >&2; exit 1; }

# The image: layers of 1/2, 1/4, 1/8, 1/16 and 1/16 of SIZE_MB, half random (incompressible)
# and half text, in gzip so that umoci (0.4.7, no zstd) can unpack the same image.
src="$work/src"
mkdir -p "$src"
i=0
for frac in 2 4 8 16 16; do
  i=$((i + 1))
  d="$src/layer$i"
  mkdir -p "$d"
  mb=$((size_mb / frac))
  head -c $((mb * 1024 * 1024 / 2)) /dev/urandom >"$d/random.bin"
  { yes "strata benchmark line $i, some text that compresses" || true; } | head -c $((mb * 1024 * 1024 / 2)) >"$d/text.txt"
done
cat >"$src/strata.toml" <<TOML
[recipe]
name = "regbench"
compression = "gzip"
$(for n in 1 2 3 4 5; do printf '[[layer]]\nname = "l%s"\n  [[layer.step]]\n  type = "copy"\n  src = "layer%s"\n  dest = "/data/l%s/"\n' $n $n $n; done)
TOML
STRATA_HOME="$work/store" "$strata" -q build "$src" -o "oci:$work/layout:v1" >/dev/null
echo "image: $(du -sh "$work/layout" | cut -f1) in $(ls "$work/layout/blobs/sha256" | wc -l) blobs"

sport=$(free_port)
"$strata" registry serve --root "$work/sreg" --addr "127.0.0.1:$sport" >/dev/null 2>&1 &
spid=$!; pids+=($spid)
only=${BENCH_ONLY:-}
if [ "$only" != unpack ]; then
dport=$(free_port)
mkdir -p "$work/dist"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work/dist/data" "$dport" >"$work/dist/config.yml"
/usr/bin/docker-registry serve "$work/dist/config.yml" >/dev/null 2>&1 &
dpid=$!; pids+=($dpid)
wait_v2 "http://127.0.0.1:$dport"
fi
wait_v2 "http://127.0.0.1:$sport"

out="$work/results.jsonl"
n=0
if [ "$only" != unpack ]; then
# Each round pushes to a fresh repository name so that no blob is already there.
push_cmd() { echo "n=\$(date +%s%N); skopeo copy -q --dest-tls-verify=false oci:$work/layout:v1 docker://127.0.0.1:$1/bench/p\$n:v1"; }
# skopeo remembers where blobs live (blob-info cache) and would mount them instead of
# uploading: forget that before every push.
forget="rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb \$HOME/.local/share/containers/cache/blob-info-cache-v1.boltdb"
# CPU seconds (user + system) a server process has used so far: with the wall times, how much
# of each transfer the server itself costs (the client, skopeo, runs on the same 2 cores).
server_cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
cpu_report() {  # WHAT STRATA_BEFORE DIST_BEFORE
  echo "server CPU during the $1 runs ($runs per side): strata $(awk "BEGIN{print $(server_cpu $spid) - $2}") s, distribution $(awk "BEGIN{print $(server_cpu $dpid) - $3}") s"
}
s0=$(server_cpu $spid); d0=$(server_cpu $dpid)
python3 bench/pair.py --name "skopeo push ${size_mb} MB: strata registry vs distribution" \
  --runs "$runs" --json "$out" --prepare "$forget" "$(push_cmd "$sport")" "$(push_cmd "$dport")"
cpu_report push "$s0" "$d0"
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://127.0.0.1:$sport/bench/img:v1"
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://127.0.0.1:$dport/bench/img:v1"
s0=$(server_cpu $spid); d0=$(server_cpu $dpid)
python3 bench/pair.py --name "skopeo pull ${size_mb} MB: strata registry vs distribution" \
  --runs "$runs" --json "$out" --prepare "rm -rf $work/pulled" \
  "skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$sport/bench/img:v1 oci:$work/pulled:v1" \
  "skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$dport/bench/img:v1 oci:$work/pulled:v1"
cpu_report pull "$s0" "$d0"
echo "server peak RSS: strata $(grep VmHWM /proc/$spid/status | awk '{print $2, $3}'), distribution $(grep VmHWM /proc/$dpid/status | awk '{print $2, $3}')"
else
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://127.0.0.1:$sport/bench/img:v1"
if [ -n "${STRATA_BIN_BEFORE:-}" ]; then
  python3 bench/pair.py --name "pull+unpack ${size_mb} MB: strata pull --unpack, this build vs $STRATA_BIN_BEFORE" \
    --runs "$runs" --json "$out" --prepare "rm -rf $work/rootfs $work/rootfs0 $work/nodestore $work/nodestore0" \
    "STRATA_HOME=$work/nodestore $strata -q pull 127.0.0.1:$sport/bench/img:v1 --unpack $work/rootfs" \
    "STRATA_HOME=$work/nodestore0 $STRATA_BIN_BEFORE -q pull 127.0.0.1:$sport/bench/img:v1 --unpack $work/rootfs0"
fi
fi

# Node side: strata pull --unpack vs skopeo copy + umoci unpack, both from strata's registry.
python3 bench/pair.py --name "pull+unpack ${size_mb} MB: strata pull --unpack vs skopeo copy + umoci unpack" \
  --runs "$runs" --json "$out" --prepare "rm -rf $work/rootfs $work/bundle $work/ocidir $work/nodestore" \
  "STRATA_HOME=$work/nodestore $strata -q pull 127.0.0.1:$sport/bench/img:v1 --unpack $work/rootfs" \
  "skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$sport/bench/img:v1 oci:$work/ocidir:v1 && umoci unpack --image $work/ocidir:v1 $work/bundle"
