#!/usr/bin/env bash
# Layer sharing between projects (hermetic, tests/fixtures/debian archive): two projects
# `from` the same base recipe and `use` the same catalog recipe (a CUDA-like stack), each with
# its own project layer. The base and catalog layers are byte-identical in both images (same
# digests), a change in one project's layer never touches the layers below, and the lock
# entries of the shared layers are the same in both projects' locks.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
use_debian_fixture

CAT=$WORK/catalog
mkdir -p "$CAT/base" "$CAT/gpu"
cat >"$CAT/base/fixture.toml" <<TOML
[recipe]
name = "fixture-base"
$(fixture_debian_table)
$(fixture_base_layer)
TOML
cat >"$CAT/gpu/cuda-lite.toml" <<'TOML'
[recipe]
name = "cuda-lite"
from = "base/fixture"
[debian]
components = ["contrib"]
[[layer]]
name = "cuda"
  [[layer.step]]
  type = "debian"
  packages = ["cuda-lite"]
[config]
env = { NVIDIA_VISIBLE_DEVICES = "all" }
TOML
project() {  # project DIR PACKAGE
  mkdir -p "$1"
  cat >"$1/strata.toml" <<TOML
[recipe]
name = "$(basename "$1")"
from = "base/fixture"
use = ["gpu/cuda-lite"]
[[layer]]
name = "project"
  [[layer.step]]
  type = "debian"
  packages = ["$2"]
TOML
}
project "$WORK/alpha" hello
project "$WORK/beta" mailer

for p in alpha beta; do
  strata --catalog "$CAT" lock "$WORK/$p" >/dev/null
  strata --catalog "$CAT" --json build "$WORK/$p" --locked >"$WORK/$p.json" 2>"$WORK/$p.err" ||
    fail "build $p: $(tail -20 "$WORK/$p.err")"
done
digests() { json_get "$1" '" ".join(l["digest"] for l in d["layers"])'; }
read -r -a A <<<"$(digests "$WORK/alpha.json")"
read -r -a B <<<"$(digests "$WORK/beta.json")"
[ "${#A[@]}" = 3 ] && [ "${#B[@]}" = 3 ] || fail "expected base, cuda and project layers"
[ "${A[0]}" = "${B[0]}" ] || fail "the base layer differs between the projects"
[ "${A[1]}" = "${B[1]}" ] || fail "the cuda layer differs between the projects"
[ "${A[2]}" != "${B[2]}" ] || fail "different project layers have the same digest"
python3 - "$WORK/alpha/strata.lock" "$WORK/beta/strata.lock" <<'PY' || fail "shared lock entries differ"
import sys, tomllib
a, b = (tomllib.load(open(f, "rb")) for f in sys.argv[1:3])
assert a["layer"][0] == b["layer"][0] and a["layer"][1] == b["layer"][1], "shared layers"
assert a["layer"][2]["packages"] != b["layer"][2]["packages"]
PY
pass "two projects share the base and cuda layers digest for digest"

# A change in alpha's project layer rebuilds only that layer.
project "$WORK/alpha" python3-six
strata --catalog "$CAT" lock "$WORK/alpha" >/dev/null
strata --catalog "$CAT" --json build "$WORK/alpha" --locked >"$WORK/alpha2.json"
read -r -a A2 <<<"$(digests "$WORK/alpha2.json")"
[ "${A2[0]}" = "${A[0]}" ] && [ "${A2[1]}" = "${A[1]}" ] || fail "a project change touched lower layers"
[ "$(json_get "$WORK/alpha2.json" '[l["cached"] for l in d["layers"]]')" = "[True, True, False]" ] ||
  fail "only the project layer should be rebuilt"
pass "a change in the project layer leaves the layers below untouched"
