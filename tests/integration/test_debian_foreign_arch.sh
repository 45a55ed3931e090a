#!/usr/bin/env bash
# A foreign-architecture image, hermetic: an arm64 recipe on this (amd64) machine with no
# qemu binfmt_misc handler (STRATA_BINFMT_MISC points at an empty directory, so a CI host
# with qemu-user-static installed behaves the same) is built extract-only: every package
# unpacked with a complete dpkg database, no maintainer script run, the skip reported, the
# image's platform linux/arm64/v8; a run step on it is refused with what to install.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
use_debian_fixture
[ "$(dpkg --print-architecture)" = amd64 ] || fail "this test expects an amd64 machine (arm64 is the foreign architecture)"
export STRATA_BINFMT_MISC=$WORK/binfmt
mkdir -p "$STRATA_BINFMT_MISC"

P=$WORK/arm
mkdir -p "$P"
recipe() {
  cat >"$P/strata.toml" <<TOML
[recipe]
name = "arm-image"
[debian]
suite = "trixie"
keyring = "$FIX/keyring.gpg"
architectures = ["arm64"]
[[layer]]
name = "system"
  [[layer.step]]
  type = "debian"
  priority = "minbase"
  packages = ["hello"]
$1
TOML
}
recipe ""
strata lock "$P" >"$WORK/lock.out" 2>&1 || fail "lock: $(cat "$WORK/lock.out")"
grep -q 'name = "hello", version = "2.10-3", architecture = "arm64"' "$P/strata.lock" ||
  fail "the lock does not hold arm64 packages: $(cat "$P/strata.lock")"
strata --json build "$P" --locked -o "oci:$WORK/layout" >"$WORK/b.json" 2>"$WORK/b.err" ||
  fail "extract-only build failed: $(cat "$WORK/b.err")"
grep -q "configure skipped" "$WORK/b.err" || fail "the skipped configure is not reported: $(cat "$WORK/b.err")"
grep -q "qemu-aarch64" "$WORK/b.err" || fail "the report does not say what to install: $(cat "$WORK/b.err")"
CONFIG=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"]; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+m.split(":")[1])); print(m["config"]["digest"].split(":")[1])' "$WORK/layout")
python3 - "$WORK/layout/blobs/sha256/$CONFIG" <<'PY' || fail "image platform"
import json, sys
c = json.load(open(sys.argv[1]))
assert (c["os"], c["architecture"], c.get("variant")) == ("linux", "arm64", "v8"), c
PY
mkdir -p "$WORK/root"
for d in $(json_get "$WORK/b.json" '" ".join(l["digest"] for l in d["layers"])'); do
  strata layer unpack "$WORK/layout/blobs/sha256/${d#sha256:}" "$WORK/root" >/dev/null
done
for pkg in hello base-files mawk libc6; do
  grep -A3 "^Package: $pkg\$" "$WORK/root/var/lib/dpkg/status" | grep -q "^Status: install ok unpacked" ||
    fail "$pkg is not recorded as unpacked: $(grep -A4 "^Package: $pkg\$" "$WORK/root/var/lib/dpkg/status")"
done
[ -f "$WORK/root/usr/share/doc/hello/copyright" ] || fail "hello's files are not in the image"
[ -e "$WORK/root/var/lib/strata-test" ] && fail "a maintainer script ran"
grep -q "^arm64$" "$WORK/root/var/lib/dpkg/arch" || fail "dpkg's arch file: $(cat "$WORK/root/var/lib/dpkg/arch")"
pass "arm64 image on amd64 without qemu: extract-only, packages unpacked, skip reported, platform arm64"

recipe '[[layer]]
name = "check"
  [[layer.step]]
  type = "run"
  command = "true"'
expect_fail 10 strata build "$P" --locked
grep -q "cannot run arm64 programs" "$WORK/err" && grep -q "qemu-user-static" "$WORK/err" ||
  fail "run step on a foreign image: $(cat "$WORK/err")"
pass "a run step in a foreign image without qemu is refused with what to install"
