#!/usr/bin/env bash
# strata cache verify/gc/ls/du on a store filled by hand (no build needed): files without
# rows are registered, a damaged blob makes verify exit 5 (one JSON document with --json),
# gc honours --max-age, --max-size and --grace, and bad option values are clear errors.
source "$(dirname "$0")/lib.sh"

blobs="$STRATA_HOME/blobs/sha256"
strata cache ls >/dev/null  # creates the store
# put_file CONTENT DATE: a blob file as a crashed writer would leave it (no row).
put_file() {
  local hex
  hex=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)
  printf '%s' "$1" >"$blobs/$hex"
  chmod 0444 "$blobs/$hex"
  touch -d "$2" "$blobs/$hex"
  echo "$hex"
}
old1=$(put_file "old blob one" "10 days ago")
old2=$(put_file "old blob number two" "5 days ago")
new=$(put_file "fresh blob" "now")

strata --json cache verify >"$WORK/v.json" || fail "verify of intact files failed"
[ "$(json_get "$WORK/v.json" 'len(d["registered"])')" = 3 ] || fail "files without rows not registered"
[ "$(json_get "$WORK/v.json" 'd["ok"]')" = True ] || fail "verify not ok"
strata --json cache ls >"$WORK/ls.json"
[ "$(json_get "$WORK/ls.json" 'len(d["blobs"])')" = 3 ] || fail "ls does not list 3 blobs"
strata --json cache du >"$WORK/du.json"
[ "$(json_get "$WORK/du.json" 'd["kinds"]["other"]["blobs"]')" = 3 ] || fail "du kinds wrong"
[ "$(json_get "$WORK/du.json" 'd["total"]["bytes"]')" = 41 ] || fail "du total wrong"
strata cache ls | grep -q "^DIGEST  *SIZE  *MEDIA TYPE  *LAST USED" || fail "ls header"
pass "verify registers orphan files; ls and du report them"

# Damage one: verify exits 5, prints one JSON document naming it, and removes it.
chmod u+w "$blobs/$old2"
printf 'X' | dd of="$blobs/$old2" bs=1 seek=2 conv=notrunc status=none
expect_fail 5 strata --json cache verify
python3 - "$WORK/out" "$old2" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read())   # exactly one document
assert d["ok"] is False, d
assert [b["digest"] for b in d["bad"]] == ["sha256:" + sys.argv[2]], d
PY
[ ! -e "$blobs/$old2" ] || fail "damaged blob still present"
strata cache verify >/dev/null || fail "store not clean after verify"
pass "verify exits 5 and removes a damaged blob"

# gc: the dry run changes nothing; --max-age removes the old blob, grace keeps the new one.
strata cache gc --max-age 7d --dry-run | grep -q "would remove 1 blobs" || fail "dry-run report"
[ -e "$blobs/$old1" ] || fail "dry run removed a blob"
strata --json cache gc --max-age 7d >"$WORK/gc.json"
[ "$(json_get "$WORK/gc.json" 'd["removed"][0]["digest"]')" = "sha256:$old1" ] || fail "gc json"
[ ! -e "$blobs/$old1" ] || fail "gc kept an old unreferenced blob"
strata cache gc --max-size 0 >/dev/null
[ -e "$blobs/$new" ] || fail "gc removed a blob inside the grace period"
strata cache gc --max-size 0 --grace 0s >/dev/null
[ ! -e "$blobs/$new" ] || fail "gc --grace 0s kept the blob"
pass "gc honours --dry-run, --max-age, --max-size and --grace"

expect_fail 3 strata cache gc --max-size 10X
grep -q -- "--max-size" "$WORK/err" || fail "size error does not name the option"
expect_fail 3 strata cache gc --max-age 3y
grep -q -- "--max-age" "$WORK/err" || fail "duration error does not name the option"
pass "bad sizes and durations are clear errors"
