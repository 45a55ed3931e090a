#!/usr/bin/env bash
# REAL MIRROR (ctest label "mirror"): an arm64 Debian bookworm minbase image built on this
# amd64 machine. With qemu-user-static's binfmt_misc handler (scripts/setup.sh installs it)
# every maintainer script runs under emulation: all packages end up configured ("ii"), a run
# step sees an aarch64 machine, the image's platform is linux/arm64/v8. Without a handler
# (STRATA_BINFMT_MISC pointing at an empty directory) the same recipe is built extract-only:
# every package "unpacked", the skip reported, and another layer digest (its own cache key).
source "$(dirname "$0")/lib.sh"
require_tools qemu-aarch64-static update-binfmts

handler=/proc/sys/fs/binfmt_misc/qemu-aarch64
if [ ! -e "$handler" ]; then
  # binfmt_misc not mounted yet or the handler not imported (a container without systemd).
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    fail "cannot mount binfmt_misc (needed to run arm64 programs through qemu-user)"
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
[ -e "$handler" ] && grep -q '^enabled' "$handler" && grep -q '^flags:.*F' "$handler" ||
  fail "no enabled qemu-aarch64 binfmt_misc handler with the F flag: $(cat "$handler" 2>&1)"

P=$WORK/arm
mkdir -p "$P"
cat >"$P/strata.toml" <<'TOML'
[recipe]
name = "arm-base"
[debian]
suite = "bookworm"
architectures = ["arm64"]
[[layer]]
name = "base"
  [[layer.step]]
  type = "debian"
  priority = "minbase"
TOML
strata lock "$P" >"$WORK/lock.out" 2>&1 || fail "lock: $(tail -5 "$WORK/lock.out")"
grep -q 'name = "dpkg", version = "[^"]*", architecture = "arm64"' "$P/strata.lock" ||
  fail "the lock does not hold arm64 dpkg"

strata --json build "$P" --locked -t arm:emulated >"$WORK/emu.json" 2>"$WORK/emu.err" ||
  fail "build under qemu failed: $(tail -30 "$WORK/emu.err")"
grep -q "configure skipped" "$WORK/emu.err" && fail "configure was skipped although qemu is there"
strata run arm:emulated -- sh -c 'uname -m; dpkg --print-architecture; dpkg-query -W -f="\${db:Status-Abbrev}\n" | sort | uniq -c' \
  >"$WORK/emu.out" 2>&1 || fail "run in the arm64 image: $(cat "$WORK/emu.out")"
grep -qx aarch64 "$WORK/emu.out" && grep -qx arm64 "$WORK/emu.out" || fail "not an arm64 system: $(cat "$WORK/emu.out")"
[ "$(grep -c . "$WORK/emu.out")" = 3 ] && grep -Eq '^ +[0-9]+ ii $' "$WORK/emu.out" ||
  fail "not every package is configured: $(cat "$WORK/emu.out")"
strata inspect arm:emulated | grep -q "linux/arm64/v8" || fail "platform: $(strata inspect arm:emulated)"
pass "arm64 bookworm minbase built under qemu-user: every package configured, platform linux/arm64/v8"

mkdir -p "$WORK/no-binfmt"
STRATA_BINFMT_MISC=$WORK/no-binfmt strata --json build "$P" --locked -t arm:extract \
  >"$WORK/ext.json" 2>"$WORK/ext.err" || fail "extract-only build failed: $(tail -20 "$WORK/ext.err")"
grep -q "configure skipped for .* arm64 packages" "$WORK/ext.err" || fail "no report: $(cat "$WORK/ext.err")"
[ "$(json_get "$WORK/emu.json" 'd["layers"][0]["digest"]')" != "$(json_get "$WORK/ext.json" 'd["layers"][0]["digest"]')" ] ||
  fail "the extract-only layer reused the configured one"
strata run arm:extract -- sh -c 'dpkg-query -W -f="\${db:Status-Abbrev}\n" | sort | uniq -c' >"$WORK/ext.out" 2>&1 ||
  fail "run in the extract-only image: $(cat "$WORK/ext.out")"
grep -Eq '^ +[0-9]+ iU $' "$WORK/ext.out" && [ "$(grep -c . "$WORK/ext.out")" = 1 ] ||
  fail "extract-only packages are not all 'unpacked': $(cat "$WORK/ext.out")"
pass "without a binfmt handler: extract-only, every package unpacked, reported, its own cache key"
