#!/usr/bin/env bash
# dpkg triggers across layers, hermetic: a layer keeps var/lib/dpkg/triggers/Unincorp, so the
# dpkg of the layers above (and of `dpkg`/`apt-get` inside the image) does not re-run every
# trigger of every installed package (dpkg's transitional activation when that file is
# missing); a trigger that a later package really activates still runs, once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
use_debian_fixture

P=$WORK/project
mkdir -p "$P"
log=/var/lib/strata-test/trigger-watch
cat >"$P/strata.toml" <<TOML
[recipe]
name = "triggers"

$(fixture_debian_table)

$(fixture_base_layer)
  packages = ["trigger-watch"]

[[layer]]
name = "apps"
  [[layer.step]]
  type = "debian"
  packages = ["hello"]

[[layer]]
name = "after-apps"
  [[layer.step]]
  type = "run"
  command = """
set -e
test -f /var/lib/dpkg/triggers/Unincorp || { echo "no triggers/Unincorp"; exit 1; }
if grep triggered $log; then echo "a trigger ran in layer apps, which activates none"; exit 1; fi
cp $log /after-apps.log
"""

[[layer]]
name = "poke"
  [[layer.step]]
  type = "debian"
  packages = ["trigger-poke"]

[[layer]]
name = "check"
  [[layer.step]]
  type = "run"
  command = """
set -e
test "\$(grep -c 'postinst triggered strata-test-trigger' $log)" = 1 || { cat $log; exit 1; }
dpkg --configure -a
test "\$(grep -c 'postinst triggered strata-test-trigger' $log)" = 1 || { echo "dpkg in the image re-ran the trigger"; cat $log; exit 1; }
echo checked > /checked
"""
TOML

strata lock "$P" >"$WORK/lock.out" 2>&1 || fail "strata lock failed: $(cat "$WORK/lock.out")"
strata build "$P" --locked -o "oci:$WORK/out:latest" >"$WORK/build.out" 2>&1 ||
  fail "the build failed: $(tail -n 30 "$WORK/build.out")"
pass "no transitional trigger activation in the layers above; a real activation runs once"

# The image carries the (empty) Unincorp file, like a system dpkg installed.
mkdir -p "$WORK/root"
python3 - "$WORK/out" <<'PY' >"$WORK/layers"
import json, sys
root = sys.argv[1]
index = json.load(open(root + "/index.json"))
digest = index["manifests"][0]["digest"].split(":")[1]
manifest = json.load(open(root + "/blobs/sha256/" + digest))
for layer in manifest["layers"]:
    print(root + "/blobs/sha256/" + layer["digest"].split(":")[1])
PY
while read -r blob; do
  strata layer unpack "$blob" "$WORK/root" >/dev/null
done <"$WORK/layers"
[ -f "$WORK/root/var/lib/dpkg/triggers/Unincorp" ] || fail "the image lacks var/lib/dpkg/triggers/Unincorp"
[ ! -s "$WORK/root/var/lib/dpkg/triggers/Unincorp" ] || fail "Unincorp holds unprocessed activations: $(cat "$WORK/root/var/lib/dpkg/triggers/Unincorp")"
[ -f "$WORK/root/checked" ] || fail "the check layer did not run"
pass "the image has an empty var/lib/dpkg/triggers/Unincorp"
