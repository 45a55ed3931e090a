#!/usr/bin/env bash
# Snapshot adoption (builder/snapshot_adopt.hpp): every tree a system layer was written from
# (a layer built on others, with whiteouts, an opaque directory, copied-up files, hardlinks,
# a fifo, setuid and setgid bits, future and old mtimes; and each part of a split layer) is
# kept as the snapshot of its diff_id. Proof that this is a pure optimisation: each adopted
# snapshot is compared, entry by entry (type, mode, uid/gid, size, content hash, symlink
# target, mtime, xattrs, hardlink groups), with the snapshot ensure_snapshot unpacks from the
# same blob in a second store (`strata run`), as root and rootless; and the manifest equals
# the one of a fresh store that built the stack layer by layer, every snapshot unpacked.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
use_debian_fixture
require_tools setpriv python3

# write_recipe DIR FIXDIR NLAYERS: the stack, cut after NLAYERS layers.
write_recipe() {
  local dir=$1 fix=$2 n=$3
  mkdir -p "$dir"
  {
    cat <<TOML
[recipe]
name = "adopt"
source_date_epoch = 1700000000
layer_budget = 4096

[debian]
suite = "trixie"
components = ["main", "system"]
keyring = "$fix/keyring.gpg"

[[layer]]
name = "base"
  [[layer.step]]
  type = "debian"
  priority = "minbase"
TOML
    [ "$n" -lt 2 ] || cat <<'TOML'

[[layer]]
name = "apps"
  [[layer.step]]
  type = "debian"
  packages = ["hello", "python3-six"]
TOML
    [ "$n" -lt 3 ] || cat <<'TOML'

[[layer]]
name = "mutate"
  [[layer.step]]
  type = "run"
  command = """
set -e
rm /etc/debian_version
rm -rf /var/lib/strata-test
mkdir /var/lib/strata-test
echo replaced > /var/lib/strata-test/new
echo appended >> /var/lib/dpkg/status
mkdir -p /opt/t/g
echo data > /opt/t/a
busybox ln /opt/t/a /opt/t/b
busybox ln -s a /opt/t/link
busybox mkfifo /opt/t/fifo
chmod 4755 /opt/t/b
chmod 2775 /opt/t/g
touch -d '2040-01-01 00:00:00' /opt/t/future
touch -d '2001-02-03 04:05:06' /opt/t/old
"""
TOML
    [ "$n" -lt 4 ] || cat <<'TOML'

[[layer]]
name = "top"
  [[layer.step]]
  type = "run"
  command = "test ! -e /etc/debian_version && test -f /var/lib/strata-test/new && echo top > /top"
TOML
  } >"$dir/strata.toml"
}

# compare_snapshots A B: entry-by-entry comparison of two snapshot directories. Whiteouts
# (char 0:0) compare by type, mode and owner: the unpacker gives them the time of unpacking.
cat >"$WORK/compare.py" <<'PY'
import hashlib, os, stat, sys

def scan(root):
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            e = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
                 "owner": (st.st_uid, st.st_gid),
                 "xattrs": sorted((k, os.getxattr(p, k, follow_symlinks=False))
                                  for k in os.listxattr(p, follow_symlinks=False))}
            whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
            if not whiteout:
                e["mtime"] = st.st_mtime_ns
                e["size"] = st.st_size if not stat.S_ISDIR(st.st_mode) else None
            if stat.S_ISCHR(st.st_mode):
                e["rdev"] = st.st_rdev
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            if stat.S_ISREG(st.st_mode):
                inodes.setdefault(st.st_ino, []).append(rel)
                e["path"] = p
            out[rel] = e
    for e in out.values():  # hash after every stat: reading may change atimes, not mtimes
        if "path" in e:
            e["sha256"] = hashlib.sha256(open(e.pop("path"), "rb").read()).hexdigest()
    groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return out, groups

a, ga = scan(sys.argv[1])
b, gb = scan(sys.argv[2])
bad = []
for rel in sorted(set(a) | set(b)):
    if a.get(rel) != b.get(rel):
        bad.append(f"{rel}: adopted {a.get(rel)} / unpacked {b.get(rel)}")
if ga != gb:
    bad.append(f"hardlink groups differ: adopted {ga} / unpacked {gb}")
if bad:
    print(f"{sys.argv[1]} differs from {sys.argv[2]}:", *bad[:20], sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(len(a))
PY

# check_mutate SNAPSHOT NAMESPACE: the run layer's snapshot really has what the test is
# about (a whiteout, an opaque directory in NAMESPACE, a hardlink, a clamped future mtime).
cat >"$WORK/mutate.py" <<'PY'
import os, stat, sys
root, ns = sys.argv[1], sys.argv[2]
st = os.lstat(os.path.join(root, "etc/debian_version"))
assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, "no whiteout for etc/debian_version"
keys = os.listxattr(os.path.join(root, "var/lib/strata-test"), follow_symlinks=False)
assert keys == [ns + ".overlay.opaque"], f"opaque xattrs of var/lib/strata-test: {keys}"
assert os.lstat(os.path.join(root, "opt/t/a")).st_ino == os.lstat(os.path.join(root, "opt/t/b")).st_ino
assert os.lstat(os.path.join(root, "opt/t/future")).st_mtime_ns == 1700000000 * 10**9
assert os.path.isfile(os.path.join(root, "var/lib/dpkg/status")), "no copied-up file"
PY

# check_adoption STORE1 STORE2 BUILD_JSON TIMINGS WHO: the adopted snapshots of every
# layer but the top one equal those unpacked from the blobs in STORE2.
check_adoption() {
  local s1=$1 s2=$2 json=$3 timings=$4 who=$5
  local n kept diffs i d entries
  n=$(json_get "$json" 'len(d["layers"])')
  [ "$n" -ge 6 ] || fail "$who: expected a split stack of at least 6 layers, got $n"
  grep -q "not kept as its snapshot" "$timings" &&
    fail "$who: a tree was not adopted: $(grep 'not kept' "$timings")"
  kept=$(grep -c "timing: keep layer .* tree as its snapshot" "$timings")
  [ "$kept" = $((n - 1)) ] || fail "$who: $kept trees adopted, expected $((n - 1))"
  diffs=$(json_get "$json" '"\n".join(l["diff_id"] for l in d["layers"])')
  i=0
  for d in $diffs; do
    i=$((i + 1))
    [ "$i" = "$n" ] && break  # the top layer has no layer above: nothing to adopt
    [ -d "$s1/snapshots/${d#sha256:}" ] || fail "$who: no snapshot of $d in the first store"
    [ -d "$s2/snapshots/${d#sha256:}" ] || fail "$who: no unpacked snapshot of $d"
    entries=$(python3 "$WORK/compare.py" "$s1/snapshots/${d#sha256:}" "$s2/snapshots/${d#sha256:}") ||
      fail "$who: the adopted snapshot of layer $i ($d) differs from the unpacked one"
    [ "$entries" -gt 0 ] || fail "$who: layer $i has an empty snapshot"
    [ "$i" = $((n - 1)) ] && { python3 "$WORK/mutate.py" "$s1/snapshots/${d#sha256:}" trusted ||
      fail "$who: the run layer's snapshot lacks what this test checks"; }
  done
}

# --- as root ---------------------------------------------------------------------------------
P=$WORK/p
write_recipe "$P" "$FIX" 4
strata lock "$P" >/dev/null
STRATA_TIMINGS=1 strata --json build "$P" --locked -o "oci:$WORK/layout" >"$WORK/b1.json" \
  2>"$WORK/b1.err" || fail "build failed: $(tail -20 "$WORK/b1.err")"
M1=$(json_get "$WORK/b1.json" 'd["manifest"]')
STRATA_HOME=$WORK/store2 strata copy "oci:$WORK/layout" adopt:latest >/dev/null
STRATA_HOME=$WORK/store2 strata run adopt -- sh -c : || fail "strata run in the second store failed"
check_adoption "$STRATA_HOME" "$WORK/store2" "$WORK/b1.json" "$WORK/b1.err" root
pass "root: every written tree (split parts, whiteouts, opaque dir) adopted, equal to its blob unpacked"

# Reproducibility: a fresh store building the stack one layer at a time unpacks every
# snapshot below from the blobs; the manifest must be the same.
P3=$WORK/p3
for n in 1 2 3 4; do
  write_recipe "$P3" "$FIX" $n
  STRATA_HOME=$WORK/store3 strata lock "$P3" >/dev/null
  STRATA_HOME=$WORK/store3 strata --json build "$P3" --locked >"$WORK/b3.json" 2>"$WORK/b3.err" ||
    fail "layer-by-layer build ($n layers) failed: $(tail -20 "$WORK/b3.err")"
done
[ "$(json_get "$WORK/b3.json" 'd["manifest"]')" = "$M1" ] ||
  fail "the build with adopted snapshots gave another manifest than one with unpacked snapshots"
pass "reproducible: same manifest as a layer-by-layer build on unpacked snapshots"

# --- rootless --------------------------------------------------------------------------------
RL=$WORK/rootless
mkdir -p "$RL"
cp -r "$FIX" "$RL/fix"
cp "$STRATA_BIN" "$RL/strata"
write_recipe "$RL/p" "$RL/fix" 4
cp "$WORK/compare.py" "$WORK/mutate.py" "$RL/"
chmod 755 "$WORK"
chown -R nobody:nogroup "$RL"
as_nobody() {
  setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$RL" STRATA_HOME="$RL/store" \
    STRATA_DEBIAN_MIRROR="file://$RL/fix/archive" "$@"
}
as_nobody "$RL/strata" lock "$RL/p" >/dev/null 2>"$WORK/rl.err" || fail "rootless lock: $(cat "$WORK/rl.err")"
as_nobody env STRATA_TIMINGS=1 "$RL/strata" --json build "$RL/p" --locked -o "oci:$RL/layout" \
  >"$WORK/rl.json" 2>"$WORK/rl.err" || fail "rootless build: $(tail -20 "$WORK/rl.err")"
as_nobody sh -c "STRATA_HOME=$RL/store2 $RL/strata copy oci:$RL/layout adopt:latest >/dev/null &&
  STRATA_HOME=$RL/store2 $RL/strata run adopt -- sh -c :" || fail "rootless run in the second store failed"
# Compare as nobody: the snapshots' user.* xattrs and owners are read as the builder sees them.
compare_rootless() {
  local d n i=0 entries
  n=$(json_get "$WORK/rl.json" 'len(d["layers"])')
  [ "$n" -ge 6 ] || fail "rootless: expected a split stack, got $n layers"
  grep -q "not kept as its snapshot" "$WORK/rl.err" &&
    fail "rootless: a tree was not adopted: $(grep 'not kept' "$WORK/rl.err")"
  [ "$(grep -c "timing: keep layer .* tree as its snapshot" "$WORK/rl.err")" = $((n - 1)) ] ||
    fail "rootless: not every tree below the top was adopted"
  for d in $(json_get "$WORK/rl.json" '"\n".join(l["diff_id"] for l in d["layers"])'); do
    i=$((i + 1))
    [ "$i" = "$n" ] && break
    entries=$(as_nobody python3 "$RL/compare.py" "$RL/store/snapshots/${d#sha256:}" \
      "$RL/store2/snapshots/${d#sha256:}") ||
      fail "rootless: the adopted snapshot of layer $i ($d) differs from the unpacked one"
    [ "$entries" -gt 0 ] || fail "rootless: layer $i has an empty snapshot"
    [ "$i" = $((n - 1)) ] && { as_nobody python3 "$RL/mutate.py" "$RL/store/snapshots/${d#sha256:}" user ||
      fail "rootless: the run layer's snapshot lacks what this test checks"; }
  done
}
compare_rootless
pass "rootless: every written tree adopted, equal to its blob unpacked (user.overlay namespace, caller's owners)"
