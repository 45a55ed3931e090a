#!/usr/bin/env bash
# strata cache ls/du/verify/gc on a real store: a corrupted blob is reported and dropped,
# and the next build recreates it; GC keeps tagged images and removes what nothing uses.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"

make_project "$WORK/p"
strata --json build "$WORK/p" --tag keep >"$WORK/b1.json"
manifest=$(json_get "$WORK/b1.json" 'd["manifest"]')
strata --json cache ls >"$WORK/ls.json"
python3 - "$WORK/ls.json" "$manifest" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
blobs = {b["digest"] for b in d["blobs"]}
assert sys.argv[2] in blobs, "manifest not listed"
assert len(blobs) >= 5, blobs   # 3 layers + config + manifest
PY
strata cache du >/dev/null
strata cache verify >/dev/null || fail "fresh store does not verify"
pass "ls/du/verify on a fresh store"

# Corrupt the data layer's blob: verify reports it (exit 5) and drops it.
layer=$(json_get "$WORK/b1.json" 'd["layers"][0]["digest"]')
blob="$STRATA_HOME/blobs/sha256/${layer#sha256:}"
chmod u+w "$blob"
printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
expect_fail 5 strata cache verify
grep -q "${layer#sha256:}" "$WORK/out" "$WORK/err" || fail "verify does not name the bad blob"
[ ! -e "$blob" ] || fail "bad blob still in the store"
strata cache verify >/dev/null || fail "store not clean after verify dropped the blob"
pass "verify drops a corrupted blob"

# The next build recreates it (the cache entry died with the blob).
strata --json build "$WORK/p" --tag keep >"$WORK/b2.json"
[ "$(json_get "$WORK/b2.json" 'd["layers"][0]["cached"]')" = False ] || fail "layer with dropped blob reported cached"
[ -e "$blob" ] || fail "rebuild did not recreate the blob"
[ "$(json_get "$WORK/b2.json" 'd["manifest"]')" = "$manifest" ] || fail "rebuild gave another digest"
pass "rebuild recreates the dropped blob"

# GC: change the project and retag; the old app layer is no longer referenced.
old_app=$(json_get "$WORK/b1.json" 'd["layers"][1]["digest"]')
printf 'v2\n' >"$WORK/p/app/lib/helper.txt"
strata --json build "$WORK/p" --tag keep >"$WORK/b3.json"
strata cache gc --max-age 0s --grace 0s --dry-run >/dev/null
[ -e "$STRATA_HOME/blobs/sha256/${old_app#sha256:}" ] || fail "dry-run removed a blob"
strata cache gc --max-age 0s --grace 0s >/dev/null
[ ! -e "$STRATA_HOME/blobs/sha256/${old_app#sha256:}" ] || fail "gc kept an unreferenced layer"
for l in $(json_get "$WORK/b3.json" '" ".join(x["digest"] for x in d["layers"])'); do
  [ -e "$STRATA_HOME/blobs/sha256/${l#sha256:}" ] || fail "gc removed a layer of a tagged image"
done
strata cache verify >/dev/null || fail "store not clean after gc"
pass "gc keeps tagged images, removes the rest"
