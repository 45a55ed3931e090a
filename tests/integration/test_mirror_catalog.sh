#!/usr/bin/env bash
# REAL MIRROR (marked: the name says "mirror"; ctest label "mirror"): the recipe catalog
# against the Debian trixie archive of the mirror that this machine's apt sources name (or
# STRATA_DEBIAN_MIRROR; strata finds it itself). Every catalog recipe and every `strata
# init` template is locked afresh, in a temporary copy of the catalog, so that a package
# renamed or dropped by Debian fails here rather than in a user's project; pytorch-cuda
# must resolve python3-torch-cuda from contrib over the CUDA libraries from non-free. Then
# the small bigdata/postgres recipe is built for real and psql and psycopg2 run inside it.
# CUDA, PyTorch and JupyterLab are locked only, never built (several GB each).
source "$(dirname "$0")/lib.sh"
require_tools python3

CAT="$WORK/catalog"
cp -r "$STRATA_SOURCE_DIR/recipes" "$CAT"
find "$CAT" -name '*.lock' -delete   # fresh: resolve everything against today's archive
RECIPES=$(cd "$CAT" && find . -name '*.toml' -not -path './templates/*' | sed 's|^\./||; s|\.toml$||' | sort)
[ "$(echo "$RECIPES" | wc -l)" -ge 14 ] || fail "the catalog copy has too few recipes: $RECIPES"

# The base first (every other lock reads the same archive, downloaded once into the
# store), then the rest in parallel.
strata --catalog "$CAT" lock "$CAT/base/debian-trixie.toml" >"$WORK/lock-base.log" 2>&1 ||
  fail "locking base/debian-trixie failed: $(tail -20 "$WORK/lock-base.log")"
pids=()
names=()
for name in $RECIPES; do
  [ "$name" = base/debian-trixie ] && continue
  log="$WORK/lock-$(echo "$name" | tr / _).log"
  strata --catalog "$CAT" lock "$CAT/$name.toml" >"$log" 2>&1 &
  pids+=($!)
  names+=("$name")
done
for t in "$CAT"/templates/*.toml; do
  d="$WORK/tpl/$(basename "$t" .toml)"
  mkdir -p "$d"
  cp "$t" "$d/strata.toml"
  strata --catalog "$CAT" lock "$d" >"$d.log" 2>&1 &
  pids+=($!)
  names+=("template $(basename "$t" .toml)")
done
failed=""
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    name=${names[$i]}
    log="$WORK/lock-$(echo "$name" | tr / _).log"
    [ -f "$log" ] || log="$WORK/tpl/${name#template }.log"
    echo "--- ${names[$i]}:" >&2
    tail -15 "$log" >&2
    failed="$failed ${names[$i]}"
  fi
done
[ -z "$failed" ] || fail "these catalog recipes no longer lock against the archive:$failed"
pass "every catalog recipe ($(echo $RECIPES | wc -w)) and template locks against the archive"

python3 - "$CAT/frameworks/pytorch-cuda.lock" <<'PY' || fail "pytorch-cuda does not lock as expected"
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
pkgs = {p["name"]: p for layer in lock["layer"] for p in layer["packages"]}
assert pkgs["python3-torch-cuda"]["archive"].endswith("/contrib"), pkgs["python3-torch-cuda"]
assert pkgs["libcudart12"]["archive"].endswith("/non-free"), pkgs["libcudart12"]
assert "python3-torch" not in pkgs, "the CPU build of torch came in too"
layers = [(l["recipe"], l["layer"]) for l in lock["layer"]]
assert layers == [("debian-trixie", "base"), ("cuda-12.4-runtime", "cuda-runtime"),
                  ("pytorch-cuda", "pytorch-cuda")], layers
print("python3-torch-cuda", pkgs["python3-torch-cuda"]["version"], file=sys.stderr)
PY
pass "pytorch-cuda resolves python3-torch-cuda (contrib) over the CUDA runtime (non-free)"

# Build the small one for real, then run its clients inside it.
mkdir "$WORK/pg"
cat >"$WORK/pg/strata.toml" <<'EOF'
[recipe]
name = "pg-check"
from = "bigdata/postgres"
[[layer]]
name = "check"
  [[layer.step]]
  type = "run"
  command = "psql --version > /opt/psql-version && python3 -c 'import psycopg2; print(psycopg2.__version__)' > /opt/psycopg2-version"
EOF
cp "$CAT/bigdata/postgres.lock" "$WORK/pg/strata.lock"
strata --json --catalog "$CAT" build "$WORK/pg" --locked >"$WORK/pg.json" 2>"$WORK/pg.err" ||
  fail "building bigdata/postgres failed: $(tail -30 "$WORK/pg.err")"
TOP=$(json_get "$WORK/pg.json" 'd["layers"][-1]["digest"]')
mkdir "$WORK/top"
strata layer unpack "$STRATA_HOME/blobs/sha256/${TOP#sha256:}" "$WORK/top" >/dev/null
grep -q '^psql (PostgreSQL) [0-9]' "$WORK/top/opt/psql-version" ||
  fail "psql did not run: $(cat "$WORK/top/opt/psql-version" 2>&1)"
grep -q '^[0-9]' "$WORK/top/opt/psycopg2-version" || fail "psycopg2 did not import"
pass "bigdata/postgres builds; inside it $(cat "$WORK/top/opt/psql-version") and psycopg2 run"
