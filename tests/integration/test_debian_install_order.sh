#!/usr/bin/env bash
# Install order inside one Debian layer, hermetic: needs-tool's preinst uses preinst-tool,
# its Pre-Depends, in the same layer; dpkg promises the Pre-Depends is configured before the
# preinst runs, so strata must unpack and configure preinst-tool in a group of its own
# first (builder/install_order.hpp). The fixture's preinst fails otherwise. A preinst that
# runs before its package is unpacked runs as dpkg runs it: from the package's whole control
# area in /var/lib/dpkg/tmp.ci (early-area's preinst checks), which is gone afterwards.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
use_debian_fixture

P=$WORK/project
mkdir -p "$P"
cat >"$P/strata.toml" <<TOML
[recipe]
name = "order"
$(fixture_debian_table)
$(fixture_base_layer)
[[layer]]
name = "tools"
  [[layer.step]]
  type = "debian"
  packages = ["needs-tool", "hello", "early-area"]
TOML
strata lock "$P" >"$WORK/lock.out" 2>&1 || fail "lock: $(cat "$WORK/lock.out")"
strata build -v "$P" --locked -t order:1 >"$WORK/build.out" 2>&1 ||
  fail "a preinst whose Pre-Depends is in the same layer failed: $(tail -30 "$WORK/build.out")"
grep -q "group 1/2" "$WORK/build.out" || fail "no install groups reported: $(cat "$WORK/build.out")"
strata run order:1 -- sh -c 'cat /var/lib/strata-test/needs-tool; dpkg-query -W -f="\${Package} \${Status}\n" needs-tool preinst-tool hello' \
  >"$WORK/run.out" 2>&1 || fail "run: $(cat "$WORK/run.out")"
grep -q "^preinst install" "$WORK/run.out" || fail "needs-tool's preinst did not run: $(cat "$WORK/run.out")"
[ "$(grep -c 'install ok installed' "$WORK/run.out")" = 3 ] || fail "not all configured: $(cat "$WORK/run.out")"
pass "a preinst runs after its same-layer Pre-Depends is unpacked and configured"
strata run order:1 -- sh -c 'cat /var/lib/strata-test/early-area; ls /var/lib/dpkg/info/early-area.templates; ls -d /var/lib/dpkg/tmp.ci /.strata-preinst 2>&1 || true' \
  >"$WORK/area.out" 2>&1 || true
grep -q "^preinst install from /var/lib/dpkg/tmp.ci$" "$WORK/area.out" || fail "early-area's preinst: $(cat "$WORK/area.out")"
grep -q "info/early-area.templates" "$WORK/area.out" || fail "no templates in the dpkg database: $(cat "$WORK/area.out")"
[ "$(grep -c 'No such file' "$WORK/area.out")" = 2 ] || fail "staging left in the image: $(cat "$WORK/area.out")"
pass "a preinst before unpacking runs from its control area in /var/lib/dpkg/tmp.ci, removed afterwards"
