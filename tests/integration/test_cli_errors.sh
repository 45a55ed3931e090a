#!/usr/bin/env bash
# Bad input gets a clear error naming file:line:column or the missing object, with the
# documented exit code, and leaves no cache entry behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"

make_project "$WORK/p"
# Unknown key: line 5, column 1.
cat >"$WORK/p/bad.toml" <<'TOML'
[recipe]
name = "bad"


colour = "blue"
TOML
expect_fail 3 strata build "$WORK/p/bad.toml"
grep -q 'bad.toml:5:1' "$WORK/err" || { cat "$WORK/err"; fail "unknown key without file:line:col"; }
grep -qi 'colour' "$WORK/err" || fail "unknown key not named"
pass "unknown key -> bad.toml:5:1"

# Wrong type.
cat >"$WORK/p/type.toml" <<'TOML'
[recipe]
name = 42
TOML
expect_fail 3 strata build "$WORK/p/type.toml"
grep -q 'type.toml:2:' "$WORK/err" || { cat "$WORK/err"; fail "wrong type without position"; }
pass "wrong type"

# TOML syntax error.
printf '[recipe\nname = "x"\n' >"$WORK/p/syntax.toml"
expect_fail 3 strata build "$WORK/p/syntax.toml"
grep -q 'syntax.toml:1:' "$WORK/err" || { cat "$WORK/err"; fail "syntax error without position"; }
pass "syntax error"

# Missing copy source names itself; nothing is cached for the failing layer.
rm -rf "$WORK/p/app"
set +e
strata build "$WORK/p" >"$WORK/out" 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "build with a missing copy source succeeded"
grep -q 'app' "$WORK/err" || { cat "$WORK/err"; fail "missing copy source not named"; }
pass "missing copy source (exit $rc): $(head -1 "$WORK/err")"

# --json errors are machine-readable.
set +e
strata --json build "$WORK/p/bad.toml" >"$WORK/out.json" 2>/dev/null
set -e
[ "$(json_get "$WORK/out.json" 'd["error"]["kind"]')" = invalid-input ] || fail "json error kind"
pass "json error"

# A recipe path that does not exist.
expect_fail 4 strata build "$WORK/nope.toml"
pass "missing recipe -> exit 4"
