#!/usr/bin/env bash
# The same recipe built in two empty stores gives the same manifest digest and identical
# output files; a changed input file changes exactly the layer that reads it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"

# The example recipe, twice, in two empty stores, from two copies of the project made at
# different times (so file mtimes differ).
cp -a "$STRATA_SOURCE_DIR/examples/hello" "$WORK/a"
sleep 1
cp -r "$STRATA_SOURCE_DIR/examples/hello" "$WORK/b"
touch "$WORK/b"/*
STRATA_HOME="$WORK/store-a" strata --json build "$WORK/a" -o "oci:$WORK/out-a:x" \
  -o "docker-archive:$WORK/a.tar" >"$WORK/a.json"
STRATA_HOME="$WORK/store-b" strata --json build "$WORK/b" -o "oci:$WORK/out-b:x" \
  -o "docker-archive:$WORK/b.tar" >"$WORK/b.json"
da=$(json_get "$WORK/a.json" 'd["manifest"]')
db=$(json_get "$WORK/b.json" 'd["manifest"]')
[ "$da" = "$db" ] || fail "example built twice gives $da and $db"
cmp "$WORK/a.tar" "$WORK/b.tar" || fail "docker-archives differ"
diff -r "$WORK/out-a" "$WORK/out-b" || fail "OCI layouts differ"
pass "example reproducible: $da"

# A changed file changes only the layer that reads it.
make_project "$WORK/p"
strata --json build "$WORK/p" >"$WORK/p1.json"
printf 'changed\n' >"$WORK/p/app/lib/helper.txt"
strata --json build "$WORK/p" >"$WORK/p2.json"
python3 - "$WORK/p1.json" "$WORK/p2.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["layers"]
b = json.load(open(sys.argv[2]))["layers"]
assert len(a) == len(b) == 3, (len(a), len(b))
# layer 0 (data) untouched: same digest and a cache hit
assert a[0]["digest"] == b[0]["digest"] and b[0]["cached"], "data layer must be reused"
# layer 1 (app) reads the changed file: new digest, rebuilt
assert a[1]["digest"] != b[1]["digest"] and not b[1]["cached"], "app layer must change"
# layer 2 (etc) sits above: rebuilt (new parent key) but byte-identical
assert not b[2]["cached"], "layers above a change are rebuilt"
assert a[2]["digest"] == b[2]["digest"], "an unchanged layer above keeps its digest"
PY
pass "a changed file changes exactly its layer"
