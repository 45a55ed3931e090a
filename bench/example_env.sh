#!/usr/bin/env bash
# Benchmark: the example data-science environment (examples/datascience: trixie + SciPy stack
# + JupyterLab + seaborn, ~910 packages), strata vs mmdebstrap with the same requests
# (minbase + the packages the recipes name) on the same mirror.
#   cold: strata with an empty store vs mmdebstrap downloading itself
#   warm: .debs present on both sides (strata's store; mmdebstrap's apt cache via sync-in),
#         every strata layer rebuilt (SOURCE_DATE_EPOCH changes the keys)
# usage: bench/example_env.sh [RUNS]     BENCH_ONLY=cold|warm runs only that part
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
strata=${STRATA_BIN:-$PWD/build/strata}
work=${BENCH_DIR:-/var/tmp/strata-bench}/example
mkdir -p "$work"
out="$work/../results.jsonl"
mirror=$("$strata" mirror)
export STRATA_DEBIAN_MIRROR=${STRATA_DEBIAN_MIRROR:-$mirror}
include=apt,ca-certificates,python3,python3-numpy,python3-scipy,python3-pandas,python3-sklearn
include=$include,python3-matplotlib,jupyterlab,python3-ipykernel,jupyter-core,python3-seaborn
mm="mmdebstrap --quiet --mode=root --variant=minbase --include=$include trixie"
ex=$PWD/examples/datascience

only=${BENCH_ONLY:-all}
if [[ $only == all || $only == cold ]]; then
python3 bench/pair.py --name "examples/datascience, cold: strata build vs mmdebstrap" \
  --runs "$runs" --json "$out" --prepare "rm -rf $work/store $work/mm.tar" \
  "STRATA_HOME=$work/store $strata -q build $ex --locked" \
  "$mm $work/mm.tar $STRATA_DEBIAN_MIRROR"

fi

if [[ $only == all || $only == warm ]]; then
rm -rf "$work/warm-store" "$work/apt-cache"
mkdir -p "$work/apt-cache"
STRATA_HOME="$work/warm-store" "$strata" -q build "$ex" --locked >/dev/null
mm_warm="$mm --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p \"\$1\"/var/cache/apt/archives/' \
  --setup-hook='sync-in $work/apt-cache /var/cache/apt/archives/' \
  --customize-hook='sync-out /var/cache/apt/archives $work/apt-cache'"
eval "$mm_warm $work/mm.tar $STRATA_DEBIAN_MIRROR" >/dev/null
python3 bench/pair.py --name "examples/datascience, warm: strata build vs mmdebstrap" \
  --runs "$runs" --json "$out" --prepare "rm -f $work/mm.tar" \
  "SOURCE_DATE_EPOCH=\$(date +%s%N | cut -c1-12) STRATA_HOME=$work/warm-store $strata -q build $ex --locked" \
  "$mm_warm $work/mm.tar $STRATA_DEBIAN_MIRROR"
fi
