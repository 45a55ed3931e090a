#!/usr/bin/env bash
# Benchmark: CLIENTS clients (default 64) pull the same image at once from
# `strata registry serve` and, side by side in the same run, from Debian's docker-registry
# (distribution). Each client fetches the manifest by tag, then every blob, and checks each
# blob's sha256 (curl | sha256sum: nothing is written to disk, so the servers and the
# loopback are measured, not the client's disk). Reports errors, wall time, aggregate
# throughput (bytes delivered to all clients / wall time) and each server's peak RSS
# (VmHWM). MODE=strata uses `strata pull` (one store per client) instead of curl.
# usage: bench/registry_concurrent.sh [CLIENTS] [SIZE_MB] [RUNS]
#   (needs ./build/strata or $STRATA_BIN, curl, sha256sum, docker-registry)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-64}
size_mb=${2:-256}
runs=${3:-3}
mode=${MODE:-curl}
strata=${STRATA_BIN:-$PWD/build/strata}
work=${BENCH_DIR:-/var/tmp/strata-bench}/registry-concurrent
rm -rf "$work"
mkdir -p "$work/blobs"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_v2() { for _ in $(seq 100); do curl -fs -o /dev/null "$1/v2/" && return 0; sleep 0.1; done; echo "no registry at $1" >&2; exit 1; }
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# The image: a config and 4 random layers of SIZE_MB/2, /4, /8, /8.
layers=()
for frac in 2 4 8 8; do
  f="$work/blobs/layer${#layers[@]}"
  head -c $((size_mb * 1024 * 1024 / frac)) /dev/urandom >"$f"
  layers+=("$f")
done
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/blobs/config"
{
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
  printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[' \
    "$(sha "$work/blobs/config")" "$(stat -c %s "$work/blobs/config")"
  sep=""
  for l in "${layers[@]}"; do
    printf '%s{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}' \
      "$sep" "$(sha "$l")" "$(stat -c %s "$l")"
    sep=","
  done
  printf ']}'
} >"$work/manifest.json"
blob_files=("$work/blobs/config" "${layers[@]}")
image_bytes=0
for f in "${blob_files[@]}"; do image_bytes=$((image_bytes + $(stat -c %s "$f"))); done
for f in "${blob_files[@]}"; do sha "$f"; done >"$work/digests"

sport=$(free_port)
"$strata" registry serve --root "$work/sreg" --addr "127.0.0.1:$sport" --threads "${THREADS:-$((clients * 2))}" >/dev/null 2>&1 &
spid=$!; pids+=($spid)
dport=$(free_port)
mkdir -p "$work/dist"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work/dist/data" "$dport" >"$work/dist/config.yml"
/usr/bin/docker-registry serve "$work/dist/config.yml" >/dev/null 2>&1 &
dpid=$!; pids+=($dpid)
wait_v2 "http://127.0.0.1:$sport"
wait_v2 "http://127.0.0.1:$dport"

push() {  # BASE
  local f loc
  for f in "${blob_files[@]}"; do  # POST, then PUT with the whole blob (both servers do it)
    loc=$(curl -fsS -o /dev/null -w '%header{location}' -X POST "$1/v2/bench/img/blobs/uploads/")
    case $loc in http*) ;; *) loc="$1$loc" ;; esac
    case $loc in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
    curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
      --data-binary "@$f" "${loc}digest=$(sha "$f")"
  done
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$work/manifest.json" "$1/v2/bench/img/manifests/v1"
}
push "http://127.0.0.1:$sport"
push "http://127.0.0.1:$dport"

# One client: manifest, then every blob, each digest checked. Prints nothing on success.
client_curl() {  # BASE N
  curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "$1/v2/bench/img/manifests/v1" || { echo "client $2: manifest"; return; }
  while read -r d; do
    got=$(curl -fsS "$1/v2/bench/img/blobs/$d" | sha256sum | cut -d' ' -f1) || true
    [ "sha256:$got" = "$d" ] || echo "client $2: $d came back as sha256:$got"
  done <"$work/digests"
}
client_strata() {  # BASE N
  rm -rf "$work/nodes/$2"
  STRATA_HOME="$work/nodes/$2" "$strata" -q pull -j 2 "${1#http://}/bench/img:v1" >/dev/null 2>"$work/nodes/$2.err" ||
    echo "client $2: $(tail -1 "$work/nodes/$2.err")"
}

round() {  # BASE -> prints "seconds errors"; the first error lines go to stderr
  local start end n pids=()
  rm -f "$work"/err.*
  mkdir -p "$work/nodes"
  start=$(date +%s.%N)
  for n in $(seq 1 "$clients"); do
    "client_$mode" "$1" "$n" >"$work/err.$n" 2>&1 &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || true; done
  end=$(date +%s.%N)
  cat "$work"/err.* >"$work/errors"
  head -3 "$work/errors" >&2
  echo "$(python3 -c "print(f'{$end - $start:.2f}')") $(wc -l <"$work/errors")"
}

echo "image: $((image_bytes / 1024 / 1024)) MiB in ${#blob_files[@]} blobs; $clients clients, mode $mode, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A times errors
for r in $(seq 1 "$runs"); do
  # Alternate which server goes first.
  order=("strata $sport" "distribution $dport")
  [ $((r % 2)) -eq 0 ] && order=("distribution $dport" "strata $sport")
  for entry in "${order[@]}"; do
    set -- $entry
    round "http://127.0.0.1:$2" >"$work/round"
    read -r secs errs <"$work/round"
    times[$1]+="$secs "
    errors[$1]=$(( ${errors[$1]:-0} + errs ))
    echo "run $r $1: ${secs} s, $errs errors"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
total=$((image_bytes * clients))
for s in strata distribution; do
  m=$(echo "${times[$s]}" | median)
  echo "$s: median $m s, $(python3 -c "print(f'{$total / $m / 1e6:.0f}')") MB/s aggregate, ${errors[$s]} errors"
done
ms=$(echo "${times[strata]}" | median)
md=$(echo "${times[distribution]}" | median)
echo "time ratio strata/distribution: $(python3 -c "print(f'{$ms / $md:.2f}')")"
echo "server peak RSS: strata $(grep VmHWM /proc/$spid/status | awk '{print $2, $3}'), distribution $(grep VmHWM /proc/$dpid/status | awk '{print $2, $3}')"
