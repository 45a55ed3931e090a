#!/usr/bin/env bash
# `strata recipes list/show` and `strata init`, hermetic (no network): the shipped catalog
# is listed and shown; every committed catalog lock agrees with its recipe (`strata lock
# --check` reads no archive); each `init` template is written and parses against the
# catalog (`strata recipes show DIR`: the check that needs no Debian archive, see
# docs/catalog.md); and `use`/--catalog/STRATA_CATALOG compose a small file-step catalog
# that really builds.
source "$(dirname "$0")/lib.sh"
require_tools python3

CAT="$STRATA_SOURCE_DIR/recipes"
ALL="base/debian-bookworm base/debian-trixie bigdata/jvm bigdata/kafka bigdata/postgres
bigdata/spark cuda/12.4-devel cuda/12.4-runtime frameworks/pytorch frameworks/pytorch-cuda
frameworks/scipy frameworks/xgboost ide/jupyterlab ide/notebook"

# --- recipes list -------------------------------------------------------------------
strata --catalog "$CAT" recipes list >"$WORK/list.txt"
for name in $ALL; do
  grep -q "^$name  *[A-Z]" "$WORK/list.txt" || fail "recipes list lacks $name with a summary"
done
grep -q "^templates/" "$WORK/list.txt" && fail "templates are listed as catalog recipes"
LC_ALL=C sort -c "$WORK/list.txt" || fail "recipes list is not sorted"
strata --json recipes list >"$WORK/list.json"   # the build tree's catalog, found by itself
[ "$(json_get "$WORK/list.json" '" ".join(r["name"] for r in d["recipes"])')" = \
  "$(echo $ALL)" ] || fail "recipes list --json: $(cat "$WORK/list.json")"
[ "$(json_get "$WORK/list.json" 'all(r["summary"] and "error" not in r for r in d["recipes"])')" = True ] ||
  fail "a catalog recipe has no summary or does not parse"
strata recipes list --templates >"$WORK/templates.txt"
[ "$(cut -d' ' -f1 "$WORK/templates.txt" | tr '\n' ' ')" = \
  "pytorch-cuda-jupyter scipy-jupyter spark-client " ] || fail "templates: $(cat "$WORK/templates.txt")"
pass "recipes list: every catalog recipe, sorted, with its summary; templates apart"

# --- every committed lock agrees with its recipe ----------------------------------------
for name in $ALL; do
  strata lock --check "$CAT/$name.toml" >/dev/null 2>"$WORK/check.err" ||
    fail "$name.lock does not agree with $name.toml (run strata lock): $(cat "$WORK/check.err")"
done
pass "every catalog recipe's committed lock agrees with it"

# --- recipes show ---------------------------------------------------------------------
strata --json recipes show cuda/12.4-runtime >"$WORK/cuda.json"
[ "$(json_get "$WORK/cuda.json" '[s["name"] for s in d["stack"]]')" = \
  "['debian-trixie', 'cuda-12.4-runtime']" ] || fail "cuda stack"
[ "$(json_get "$WORK/cuda.json" 'd["debian"]["components"]')" = "['contrib', 'main', 'non-free']" ] ||
  fail "cuda components: $(json_get "$WORK/cuda.json" 'd["debian"]')"
[ "$(json_get "$WORK/cuda.json" 'd["config"]["env"]["NVIDIA_VISIBLE_DEVICES"]')" = all ] ||
  fail "cuda NVIDIA_VISIBLE_DEVICES"
[ "$(json_get "$WORK/cuda.json" '"libcudart12" in d["layers"][-1]["steps"][0]["packages"]')" = True ] ||
  fail "cuda layer packages"
[ "$(json_get "$WORK/cuda.json" 'd["lock"]["packages"] > 50')" = True ] || fail "cuda lock"
strata --json recipes show frameworks/pytorch-cuda >"$WORK/ptc.json"
[ "$(json_get "$WORK/ptc.json" '[s["name"] for s in d["stack"]]')" = \
  "['debian-trixie', 'cuda-12.4-runtime', 'pytorch-cuda']" ] || fail "pytorch-cuda stack"
strata --json recipes show bigdata/spark >"$WORK/spark.json"
[ "$(json_get "$WORK/spark.json" '[s for l in d["layers"] for s in l["steps"] if s["type"] == "fetch"][0]["dest"]')" = \
  /opt/spark ] || fail "spark fetch step"
[ "$(json_get "$WORK/spark.json" 'd["config"]["env"]["JAVA_HOME"]')" = /usr/lib/jvm/default-java ] ||
  fail "spark inherits JAVA_HOME from bigdata/jvm"
strata recipes show ide/jupyterlab >"$WORK/jl.txt"
grep -q "^stack:    debian-trixie -> jupyterlab" "$WORK/jl.txt" || fail "show: stack line"
grep -q "^  user 1000:1000" "$WORK/jl.txt" || fail "show: user"
grep -q "^    debian: jupyterlab python3-ipykernel" "$WORK/jl.txt" || fail "show: steps"
grep -q "^  ports 8888/tcp" "$WORK/jl.txt" || fail "show: ports"
expect_fail 4 strata recipes show nosuch/recipe
grep -q 'nosuch/recipe' "$WORK/err" || fail "show: the error names the recipe"
pass "recipes show: stack, components, layers with their packages, merged config"

# --- init ---------------------------------------------------------------------------
for t in scipy-jupyter pytorch-cuda-jupyter spark-client; do
  strata --json init "$WORK/My Project $t" --template "$t" >"$WORK/init.json"
  f="$WORK/My Project $t/strata.toml"
  [ -f "$f" ] || fail "init $t wrote no strata.toml"
  grep -q '^# ' "$f" || fail "init $t: the file has no comments"
  [ "$(json_get "$WORK/init.json" 'd["name"]')" = "my-project-$t" ] || fail "init $t: name"
  strata --json recipes show "$WORK/My Project $t" >"$WORK/show.json" ||
    fail "the strata.toml of template $t does not parse"
  [ "$(json_get "$WORK/show.json" 'd["stack"][0]["name"]')" = debian-trixie ] ||
    fail "init $t: not on the trixie base"
  [ "$(json_get "$WORK/show.json" 'd["layers"][-1]["layer"]')" = project ] ||
    fail "init $t: the project layer is not on top"
done
[ "$(json_get "$WORK/show.json" '[s["name"] for s in d["stack"]]')" = \
  "['debian-trixie', 'jvm', 'spark', 'kafka', 'postgres', 'my-project-spark-client']" ] ||
  fail "spark-client stack: $(json_get "$WORK/show.json" '[s["name"] for s in d["stack"]]')"
pass "init writes each template, and each parses against the catalog"

mkdir "$WORK/default"
(cd "$WORK/default" && strata init >/dev/null)
grep -q '"frameworks/scipy", "ide/jupyterlab"' "$WORK/default/strata.toml" ||
  fail "the default template is not scipy-jupyter"
grep -q '^name = "default"$' "$WORK/default/strata.toml" || fail "init . names the recipe after the directory"
cp "$WORK/default/strata.toml" "$WORK/before.toml"
expect_fail 7 strata init "$WORK/default" --template spark-client
grep -q "already exists" "$WORK/err" || fail "init over an existing strata.toml: $(cat "$WORK/err")"
cmp -s "$WORK/before.toml" "$WORK/default/strata.toml" || fail "init overwrote strata.toml"
expect_fail 4 strata init "$WORK/x" --template nosuch
grep -q "scipy-jupyter" "$WORK/err" || fail "unknown template: the error lists the templates"
expect_fail 3 strata init "$WORK/badname" --name "Bad Name"
[ ! -e "$WORK/badname/strata.toml" ] || fail "init wrote a recipe with an invalid name"
strata init "$WORK/named" --name team-env >/dev/null
grep -q '^name = "team-env"$' "$WORK/named/strata.toml" || fail "init --name"
pass "init: default template, never overwrites, errors name the template or the name"

# --- --catalog / STRATA_CATALOG / use, built for real (file steps only) ------------------
MINE="$WORK/mycat"
mkdir -p "$MINE/base" "$MINE/tools"
cat >"$MINE/base/debian-trixie.toml" <<'EOF'
[recipe]
name = "fake-base"
summary = "stands in for the real base"
[[layer]]
name = "base"
  [[layer.step]]
  type = "file"
  path = "/etc/base"
  content = "base\n"
[config]
env = { FROM = "base" }
EOF
for t in a b; do
  cat >"$MINE/tools/$t.toml" <<EOF
[recipe]
name = "tool-$t"
summary = "tool $t"
from = "base/debian-trixie"
[[layer]]
name = "$t"
  [[layer.step]]
  type = "file"
  path = "/opt/$t"
  content = "$t\n"
[config]
env = { TOOL_$t = "1" }
EOF
done
strata --catalog "$MINE" recipes show base/debian-trixie >"$WORK/mine.txt"
grep -q "^fake-base " "$WORK/mine.txt" || fail "--catalog is not searched first"
STRATA_CATALOG="$MINE" strata recipes show base/debian-trixie >"$WORK/mine.txt"
grep -q "^fake-base " "$WORK/mine.txt" || fail "STRATA_CATALOG is not searched before the installed catalog"
strata recipes show base/debian-trixie >"$WORK/real.txt"
grep -q "^debian-trixie " "$WORK/real.txt" || fail "without --catalog the shipped base is found"

mkdir "$WORK/proj"
cat >"$WORK/proj/strata.toml" <<'EOF'
[recipe]
name = "proj"
from = "base/debian-trixie"
use = ["tools/a", "tools/b"]
[[layer]]
name = "project"
  [[layer.step]]
  type = "file"
  path = "/opt/project"
  content = "p\n"
EOF
strata --json --catalog "$MINE" build "$WORK/proj" >"$WORK/build.json"
[ "$(json_get "$WORK/build.json" 'len(d["layers"])')" = 4 ] ||
  fail "use: base once + a + b + project = 4 layers: $(cat "$WORK/build.json")"
strata --json inspect proj >"$WORK/inspect.json"
[ "$(json_get "$WORK/inspect.json" 'sorted(d["config"]["config"]["Env"])')" = \
  "['FROM=base', 'TOOL_a=1', 'TOOL_b=1']" ] || fail "use: config not merged"
[ "$(json_get "$WORK/inspect.json" '[h["created_by"].split(" (")[0] for h in d["config"]["history"]]')" = \
  "['strata: layer base', 'strata: layer a', 'strata: layer b', 'strata: layer project']" ] ||
  fail "use: layer order: $(json_get "$WORK/inspect.json" 'd["config"]["history"]')"
pass "--catalog and STRATA_CATALOG come first; use stacks and builds a shared base once"
