#!/usr/bin/env bash
# Benchmark: no-op rebuild (every layer cached) against the first build in an empty store.
#   1. examples/hello (tiny: what a CI run of an unchanged project costs)
#   2. a project copying a ~1 GB tree (/usr/share + /usr/lib/gcc) into one layer
# usage: bench/rebuild.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
strata=${STRATA_BIN:-$PWD/build/strata}
work=${BENCH_DIR:-/var/tmp/strata-bench}
mkdir -p "$work"
out="$work/results.jsonl"

bench_recipe() {
  local name=$1 recipe=$2
  local warm="$work/store-warm" cold="$work/store-cold"
  rm -rf "$warm"
  STRATA_HOME="$warm" "$strata" -q build "$recipe" >/dev/null
  # "strata" = no-op rebuild in the warm store, "peer" = first build in an empty store.
  python3 bench/pair.py --name "$name: no-op rebuild vs first build" --runs "$runs" --json "$out" \
    --prepare "rm -rf $cold" \
    "STRATA_HOME=$warm $strata -q build $recipe" \
    "STRATA_HOME=$cold $strata -q build $recipe"
  rm -rf "$warm" "$cold"
}

bench_recipe "examples/hello" examples/hello

proj="$work/bigproj"
if [ ! -d "$proj/tree" ]; then
  mkdir -p "$proj/tree"
  cp -a /usr/share "$proj/tree/share"
  cp -a /usr/lib/gcc "$proj/tree/gcc"
fi
cat >"$proj/strata.toml" <<'TOML'
[recipe]
name = "bigproj"
[[layer]]
name = "tree"
  [[layer.step]]
  type = "copy"
  src = "tree"
  dest = "/srv/tree/"
[[layer]]
name = "settings"
  [[layer.step]]
  type = "file"
  path = "/etc/bigproj.conf"
  content = "x = 1\n"
TOML
bench_recipe "~1 GB copy project" "$proj"
