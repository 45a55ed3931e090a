#!/usr/bin/env bash
# Benchmark: the bookworm base image, strata vs mmdebstrap, same package set, same mirror.
#   cold: nothing cached on either side (strata: empty store; mmdebstrap: downloads itself)
#   warm: packages already downloaded on both sides (strata: .debs in the store, the layer
#         itself rebuilt (SOURCE_DATE_EPOCH changes its key); mmdebstrap: apt cache pre-filled
#         through its documented sync-in/sync-out hooks)
# Also: resolution alone of a large trixie request (time and peak memory).
# usage: bench/debian_base.sh [RUNS]     (needs the mirror of the apt sources, mmdebstrap)
#   BENCH_ONLY=cold|warm|lock runs only that part; STRATA_BIN_BEFORE=<an older strata> also
#   times a warm build by it against the current one in the same run (before/after figures).
#   STRATA_TIMINGS=1 makes strata print where a build's time goes (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
strata=${STRATA_BIN:-$PWD/build/strata}
work=${BENCH_DIR:-/var/tmp/strata-bench}/debian
mkdir -p "$work"
out="$work/../results.jsonl"
mirror=$("$strata" mirror)
export STRATA_DEBIAN_MIRROR=${STRATA_DEBIAN_MIRROR:-$mirror}
recipe=$work/recipe/debian-bookworm.toml
mkdir -p "$work/recipe"
cp recipes/base/debian-bookworm.toml "$work/recipe/"
STRATA_HOME="$work/lockstore" "$strata" -q lock "$recipe" >/dev/null
mm="mmdebstrap --quiet --mode=root --variant=minbase --include=apt,ca-certificates bookworm"

only=${BENCH_ONLY:-all}
if [[ $only == all || $only == cold ]]; then
python3 bench/pair.py --name "bookworm base, cold: strata build vs mmdebstrap" --runs "$runs" \
  --json "$out" --prepare "rm -rf $work/store $work/mm.tar" \
  "STRATA_HOME=$work/store $strata -q build $recipe --locked" \
  "$mm $work/mm.tar $STRATA_DEBIAN_MIRROR"

fi

# Warm: fill both caches once, then time builds that reuse them.
if [[ $only == all || $only == warm ]]; then
rm -rf "$work/warm-store" "$work/apt-cache"
mkdir -p "$work/apt-cache"
STRATA_HOME="$work/warm-store" "$strata" -q build "$recipe" --locked >/dev/null
mm_warm="$mm --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p \"\$1\"/var/cache/apt/archives/' \
  --setup-hook='sync-in $work/apt-cache /var/cache/apt/archives/' \
  --customize-hook='sync-out /var/cache/apt/archives $work/apt-cache'"
eval "$mm_warm $work/mm.tar $STRATA_DEBIAN_MIRROR" >/dev/null
n=0
python3 bench/pair.py --name "bookworm base, warm: strata build vs mmdebstrap" --runs "$runs" \
  --json "$out" --prepare "rm -f $work/mm.tar" \
  "SOURCE_DATE_EPOCH=\$(date +%s) STRATA_HOME=$work/warm-store $strata -q build $recipe --locked" \
  "$mm_warm $work/mm.tar $STRATA_DEBIAN_MIRROR"

if [[ -n ${STRATA_BIN_BEFORE:-} ]]; then
  python3 bench/pair.py --name "bookworm base, warm: strata vs STRATA_BIN_BEFORE" --runs "$runs" \
    --json "$out" \
    "SOURCE_DATE_EPOCH=\$(date +%s) STRATA_HOME=$work/warm-store $strata -q build $recipe --locked" \
    "SOURCE_DATE_EPOCH=\$(date +%s) STRATA_HOME=$work/warm-store $STRATA_BIN_BEFORE -q build $recipe --locked"
fi
fi

# Resolution alone: a large request over trixie main+contrib+non-free (indexes cached).
if [[ $only == all || $only == lock ]]; then
big=$work/recipe/big.toml
cat >"$big" <<'TOML'
[recipe]
name = "big"
[debian]
suite = "trixie"
components = ["main", "contrib", "non-free"]
[[layer]]
  [[layer.step]]
  type = "debian"
  priority = "minbase"
  packages = ["python3-torch", "jupyterlab", "python3-sklearn", "python3-pandas", "nvidia-cuda-toolkit"]
TOML
STRATA_HOME="$work/lockstore" "$strata" -q lock "$big" >/dev/null  # downloads the indexes
for i in $(seq "$runs"); do
  rm -f "$work/recipe/big.lock"
  /usr/bin/time -f "%e s, %M KiB peak RSS" -o "$work/time.txt" \
    env STRATA_HOME="$work/lockstore" "$strata" -q lock "$big" >/dev/null
  echo "resolution (lock) of a large trixie request, run $i: $(cat "$work/time.txt"), $(grep -c 'name = ' "$work/recipe/big.lock") packages"
done
fi
