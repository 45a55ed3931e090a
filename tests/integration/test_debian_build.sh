#!/usr/bin/env bash
# Debian layers end to end, hermetic: a signed test archive (tests/fixtures/debian) read via
# file://, `strata lock`, `strata build --locked`, maintainer scripts run by the image's own
# dpkg in the sandbox, a run step on top, cache hits, reproducibility across two empty
# stores, `strata why`, and the bad-input cases (lock disagreement, unknown key, tampered
# .deb, unsatisfiable and conflicting requests, failing postinst) leaving nothing behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
use_debian_fixture

P=$WORK/project
mkdir -p "$P"
write_recipe() {  # write_recipe EXTRA_PACKAGES
  cat >"$P/strata.toml" <<TOML
[recipe]
name = "fixture-image"

$(fixture_debian_table)

$(fixture_base_layer)

[[layer]]
name = "apps"
  [[layer.step]]
  type = "debian"
  packages = [$1]

[[layer]]
name = "check"
  [[layer.step]]
  type = "run"
  command = """
set -e
grep -q 'postinst configure' /var/lib/strata-test/hello
grep -q 'preinst install' /var/lib/strata-test/hello
if grep -q "preinst saw" /var/lib/strata-test/hello; then echo "hello's preinst ran after unpacking"; exit 1; fi
grep -q "postinst saw" /var/lib/strata-test/hello
grep -q 'postinst configure' /var/lib/strata-test/base-files
test "\$(cat /etc/debian_version | head -n 1)" = '# base-files configuration'
dpkg-query -W -f='\${Package} \${Status}\\n' > /tmp/status
if grep -v 'install ok installed' /tmp/status; then exit 1; fi
test "\$(wc -l < /tmp/status)" -ge 6
echo checked > /checked
"""
TOML
}
write_recipe '"hello", "python3-six"'

# --- lock ----------------------------------------------------------------------------------
strata lock "$P" >"$WORK/lock.out" || fail "strata lock failed: $(cat "$WORK/lock.out")"
LOCK=$P/strata.lock
[ -f "$LOCK" ] || fail "no strata.lock beside the recipe"
grep -q '^  { name = "hello", version = "2.10-3", architecture = "amd64", sha256 = "' "$LOCK" ||
  fail "hello is not pinned in the lock: $(cat "$LOCK")"
grep -q 'name = "host-tools"' "$LOCK" || fail "the minbase layer lacks host-tools"
grep -q '^inrelease = "sha256:' "$LOCK" || fail "the lock does not pin the InRelease"
# hello must be in layer apps, base-files (Essential) in layer base, nothing twice.
python3 - "$LOCK" <<'PY' || fail "packages are in the wrong layers"
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
layers = {l["layer"]: [p["name"] for p in l["packages"]] for l in lock["layer"]}
assert "base-files" in layers["base"] and "hello" in layers["apps"], layers
assert "base-files" not in layers["apps"], layers
names = [n for ps in layers.values() for n in ps]
assert len(names) == len(set(names)), names
PY
cp "$LOCK" "$WORK/lock.first"
strata lock "$P" >/dev/null
cmp -s "$LOCK" "$WORK/lock.first" || fail "re-locking an unchanged recipe changed the lock"
pass "lock: packages pinned per layer, stable"

strata why python3 "$P" >"$WORK/why.out"
grep -q "python3-six 1.16.0-7 (all): requested" "$WORK/why.out" || fail "why: $(cat "$WORK/why.out")"
grep -q "Depends of python3-six.*python3-any" "$WORK/why.out" || fail "why: $(cat "$WORK/why.out")"
pass "why explains a dependency"

# --- build ---------------------------------------------------------------------------------
strata --json build "$P" --locked -o "oci:$WORK/layout" >"$WORK/b1.json" 2>"$WORK/b1.err" ||
  fail "locked build failed: $(cat "$WORK/b1.err" "$WORK/b1.json")"
M1=$(json_get "$WORK/b1.json" 'd["manifest"]')
[ "$(json_get "$WORK/b1.json" 'len(d["layers"])')" = 3 ] || fail "expected 3 layers"
for i in 0 1 2; do
  D=$(json_get "$WORK/b1.json" "d['layers'][$i]['digest']")
  strata layer unpack "$WORK/layout/blobs/sha256/${D#sha256:}" "$WORK/root" >/dev/null
done
[ -f "$WORK/root/checked" ] || fail "the run step's file is not in the image"
[ -f "$WORK/root/etc/mta-lite.conf" ] && fail "mta-lite was not asked for"
grep -q '^Package: hello$' "$WORK/root/var/lib/dpkg/status" || fail "hello missing from dpkg status"
[ -L "$WORK/root/bin" ] || fail "/bin is not the merged-/usr link"
[ -e "$WORK/root/usr/sbin/policy-rc.d" ] && fail "policy-rc.d was left in the image"
[ -e "$WORK/root/var/log/dpkg.log" ] && fail "dpkg.log (timestamps) was left in the image"
pass "locked build: packages configured by dpkg in the sandbox, run step on top"

strata run fixture-image -- sh -c 'test -f /checked && echo "in the image: $0"' run-arg >"$WORK/run.out"
grep -q "in the image: run-arg" "$WORK/run.out" || fail "strata run: $(cat "$WORK/run.out")"
strata run --rootfs "$WORK/root" -e GREETING=hi -- sh -c 'echo "$GREETING from the rootfs"' >"$WORK/run2.out"
grep -q "hi from the rootfs" "$WORK/run2.out" || fail "strata run --rootfs: $(cat "$WORK/run2.out")"
expect_fail 3 strata run fixture-image -- sh -c 'exit 4'
pass "strata run executes commands in a built image and in an unpacked rootfs"

strata --json build "$P" --locked >"$WORK/b2.json"
[ "$(json_get "$WORK/b2.json" 'all(l["cached"] for l in d["layers"])')" = True ] ||
  fail "a second build rebuilt layers"
[ "$(json_get "$WORK/b2.json" 'd["manifest"]')" = "$M1" ] || fail "second build differs"
pass "second build is all cache hits"

STRATA_HOME=$WORK/store2 strata --json build "$P" --locked >"$WORK/b3.json"
[ "$(json_get "$WORK/b3.json" 'd["manifest"]')" = "$M1" ] ||
  fail "an empty store gave another manifest: not reproducible"
pass "reproducible: the same manifest from an empty store"

# --- layer splitting ----------------------------------------------------------------------
# A tiny budget splits the debian layers into parts; the image's filesystem stays the same.
cp "$P/strata.toml" "$WORK/unsplit.toml"
sed -i 's/^name = "fixture-image"$/name = "fixture-image"\nlayer_budget = 4096/' "$P/strata.toml"
strata lock "$P" >/dev/null
strata --json build "$P" --locked >"$WORK/split.json" 2>"$WORK/split.err" ||
  fail "split build failed: $(cat "$WORK/split.err")"
N=$(json_get "$WORK/split.json" 'len(d["layers"])')
[ "$N" -gt 3 ] || fail "a 4096-byte budget did not split the debian layers ($N layers)"
json_get "$WORK/split.json" '"\n".join(l["created_by"] for l in d["layers"])' >"$WORK/history"
grep -q 'part 2/' "$WORK/history" || fail "split layers are not named as parts: $(cat "$WORK/history")"
mkdir "$WORK/split-root"
for i in $(seq 0 $((N - 1))); do
  D=$(json_get "$WORK/split.json" "d['layers'][$i]['digest']")
  strata layer unpack "$STRATA_HOME/blobs/sha256/${D#sha256:}" "$WORK/split-root" >/dev/null
done
diff -r --no-dereference "$WORK/root" "$WORK/split-root" >&2 ||
  fail "the split image's filesystem differs from the unsplit one"
strata --json build "$P" --locked >"$WORK/split2.json"
[ "$(json_get "$WORK/split2.json" 'all(l["cached"] for l in d["layers"])')" = True ] ||
  fail "a split layer was rebuilt although nothing changed"
cp "$WORK/unsplit.toml" "$P/strata.toml"
strata lock "$P" >/dev/null
pass "a layer over the budget is split into parts with the same filesystem, cached as a whole"

# --- rootless --------------------------------------------------------------------------------
# The same kind of build as an ordinary user (user namespaces): every owner becomes 0:0.
require_tools setpriv
RL=$WORK/rootless
mkdir -p "$RL/p"
cp -r "$FIX" "$RL/fix"
cp "$STRATA_BIN" "$RL/strata"
sed "s|$FIX|$RL/fix|" "$P/strata.toml" >"$RL/p/strata.toml"
chmod 755 "$WORK"
chown -R nobody:nogroup "$RL"
as_nobody() {
  setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$RL" STRATA_HOME="$RL/store" \
    STRATA_DEBIAN_MIRROR="file://$RL/fix/archive" "$RL/strata" "$@"
}
as_nobody lock "$RL/p" >/dev/null 2>"$WORK/rl.err" || fail "rootless lock: $(cat "$WORK/rl.err")"
as_nobody --json build "$RL/p" --locked >"$WORK/rl.json" 2>"$WORK/rl.err" ||
  fail "rootless build: $(tail -20 "$WORK/rl.err")"
[ "$(json_get "$WORK/rl.json" 'len(d["layers"])')" = 3 ] || fail "rootless build: wrong layer count"
pass "rootless: the same recipe locks and builds as an ordinary user"

# --- bad input ------------------------------------------------------------------------------
layers_in_store() {
  strata --json cache ls |
    python3 -c 'import json,sys; print(sum("layer" in b["media_type"] for b in json.load(sys.stdin)["blobs"]))'
}
BEFORE=$(layers_in_store)

write_recipe '"hello"'
expect_fail 7 strata build "$P" --locked
grep -q "does not agree" "$WORK/err" || fail "no disagreement message: $(cat "$WORK/err")"
grep -q "strata lock" "$WORK/err" || fail "the message does not say what to do"
pass "--locked refuses a lock that disagrees with the recipe"

write_recipe '"hello", "old-tool"'
expect_fail 7 strata lock "$P"
grep -q "old-tool" "$WORK/err" && grep -q "hello" "$WORK/err" ||
  fail "conflict message does not name the pair: $(cat "$WORK/err")"
cmp -s "$LOCK" "$WORK/lock.first" || fail "a failed lock changed strata.lock"
pass "conflicting packages are reported with the pair"

write_recipe '"no-such-package"'
expect_fail 4 strata lock "$P"
grep -q "no-such-package" "$WORK/err" || fail "unknown package not named: $(cat "$WORK/err")"
pass "an unknown package is named"

write_recipe '"hello", "fails-postinst"'
strata lock "$P" >/dev/null
expect_fail 3 strata build "$P" --locked
grep -q "cannot set up the frobnicator" "$WORK/err" ||
  fail "the failing postinst's output is not shown: $(cat "$WORK/err")"
[ "$(layers_in_store)" = "$BEFORE" ] || fail "the failed build left a layer in the cache"
ls "$STRATA_HOME/tmp" 2>/dev/null | grep -q . && fail "the failed build left scratch files"
pass "a failing postinst stops the build with its output, no cache entry"

# Tampered .deb: its bytes no longer match the index.
write_recipe '"mailer"'
strata lock "$P" >/dev/null
MTA=$(ls "$FIX"/archive/pool/main/m/mta-lite/*.deb "$FIX"/archive/pool/main/m/mailer/*.deb | head -n 1)
printf 'x' >>"$MTA"
expect_fail 5 strata build "$P" --locked
grep -q "$(basename "$MTA")" "$WORK/err" || fail "tampered .deb not named: $(cat "$WORK/err")"
[ "$(layers_in_store)" = "$BEFORE" ] || fail "the tampered build left a layer"
pass "a .deb that differs from the index is refused"

# Unknown signing key.
sed -i "s|keyring = \".*\"|keyring = \"$FIX/evil-keyring.gpg\"|" "$P/strata.toml"
rm -f "$LOCK"
expect_fail 6 strata lock "$P"
grep -qi "signature\|key" "$WORK/err" || fail "signature error not explained: $(cat "$WORK/err")"
[ -e "$LOCK" ] && fail "a lock was written from an untrusted archive"
pass "an archive signed by an unknown key is refused"
