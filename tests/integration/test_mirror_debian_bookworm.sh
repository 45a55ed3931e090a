#!/usr/bin/env bash
# REAL MIRROR (marked: the name says "mirror"; ctest label "mirror"): the bookworm base
# recipe, locked and built from the mirror that this machine's apt sources name (or
# STRATA_DEBIAN_MIRROR), compared with `mmdebstrap --variant=minbase
# --include=apt,ca-certificates bookworm` on the same mirror: the same package set and, file
# by file, the same paths, types, modes, owners and contents apart from the documented list
# (docs/debian.md, "Compared with mmdebstrap"). Then, inside strata's image: every package
# is "ii", `apt-get check` passes and `apt-get install` of a further package works; and the
# same lock built in a second empty store gives the same manifest.
source "$(dirname "$0")/lib.sh"
require_tools mmdebstrap python3 chroot

MIRROR=$(strata mirror) || fail "no Debian mirror in the apt sources; set STRATA_DEBIAN_MIRROR"
export STRATA_DEBIAN_MIRROR=$MIRROR

R=$WORK/recipe
mkdir -p "$R"
cp "$STRATA_SOURCE_DIR/recipes/base/debian-bookworm.toml" "$R/"
# Lock now (the committed lock may pin versions the mirror has dropped since).
strata lock "$R/debian-bookworm.toml" >/dev/null
strata --json build "$R/debian-bookworm.toml" --locked >"$WORK/build.json" 2>"$WORK/build.err" ||
  fail "build failed: $(tail -30 "$WORK/build.err")"
M1=$(json_get "$WORK/build.json" 'd["manifest"]')
BASE=$(json_get "$WORK/build.json" 'd["layers"][0]["digest"]')
mkdir "$WORK/strata-root"
strata layer unpack --preserve-owners "$STRATA_HOME/blobs/sha256/${BASE#sha256:}" \
  "$WORK/strata-root" >/dev/null
pass "bookworm base locked and built from the mirror"

mmdebstrap --quiet --mode=root --variant=minbase --include=apt,ca-certificates bookworm \
  "$WORK/mm-root" "$MIRROR" 2>"$WORK/mm.err" || fail "mmdebstrap failed: $(tail "$WORK/mm.err")"

chroot "$WORK/mm-root" dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' | sort >"$WORK/mm.pkgs"
dpkg-query --admindir="$WORK/strata-root/var/lib/dpkg" -W \
  -f='${Package} ${Version} ${Architecture}\n' | sort >"$WORK/strata.pkgs"
diff -u "$WORK/mm.pkgs" "$WORK/strata.pkgs" >&2 || fail "package sets differ (above)"
pass "same package set as mmdebstrap ($(wc -l <"$WORK/mm.pkgs") packages, same versions)"

python3 - "$WORK/mm-root" "$WORK/strata-root" <<'PY' || fail "trees differ beyond the documented list"
import hashlib, os, stat, sys, fnmatch
# docs/debian.md, "Compared with mmdebstrap": what differs and why.
ONLY_MMDEBSTRAP = [
    "dev/*",                       # device nodes: OCI layers carry none, runtimes make /dev
    "etc/apt/sources.list",        # strata never writes a mirror into an image
    "etc/fstab", "etc/hostname", "etc/resolv.conf",  # host configuration mmdebstrap copies
    "etc/*-",                      # backups of passwd/group/shadow (removed: build time)
    "var/cache/debconf/*-old", "var/lib/dpkg/*-old",   # backups
    "run/lock", "var/lib/dpkg/lock*", "var/lib/dpkg/triggers/Lock",
    "var/cache/apt/archives/lock", "var/lib/apt/lists/lock",
]
ONLY_STRATA = ["var/lib/dpkg/available", "var/lib/dpkg/statoverride"]  # dpkg --unpack's empty files
DIFFER = {
    "etc/shadow": "content",       # password-change day = SOURCE_DATE_EPOCH's day, not today
    "etc/shells": "content",       # line order follows the configure order
    "var/cache/debconf/config.dat": "content",  # template owners (apt preconfigures)
    "var/lib/apt/extended_states": "content",   # the same auto-installed set, sorted by name
    "var/cache/apt/archives/partial": "mode,uid",  # apt chowns it to _apt on first use
    "var/lib/apt/lists/partial": "mode,uid",
}
def walk(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n); rel = os.path.relpath(p, root); st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256(open(p, "rb").read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                h = os.readlink(p)
            else:
                h = ""
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, h)
    return out
mm, st = walk(sys.argv[1]), walk(sys.argv[2])
bad = []
for k in sorted(set(mm) | set(st)):
    if k not in st:
        if not any(fnmatch.fnmatch(k, g) for g in ONLY_MMDEBSTRAP): bad.append("only in mmdebstrap: " + k)
    elif k not in mm:
        if k not in ONLY_STRATA: bad.append("only in strata: " + k)
    elif mm[k] != st[k]:
        what = ",".join(n for n, a, b in zip(("type", "mode", "uid", "gid", "content"), mm[k], st[k]) if a != b)
        if not set(what.split(",")) <= set(DIFFER.get(k, "").split(",")): bad.append(f"differs ({what}): {k}")
for line in bad[:50]: print(line, file=sys.stderr)
print(f"{len(mm)} paths compared, {len(bad)} unexpected differences", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
grep '^Package:' "$WORK/mm-root/var/lib/apt/extended_states" | sort >"$WORK/mm.auto"
grep '^Package:' "$WORK/strata-root/var/lib/apt/extended_states" | sort >"$WORK/strata.auto"
diff -u "$WORK/mm.auto" "$WORK/strata.auto" >&2 || fail "apt's auto-installed marks differ"
pass "file by file the same as mmdebstrap's tree, apart from the documented list"

# A normal Debian system: dpkg, apt-get check, apt-get install from the mirror.
cat >"$R/check.toml" <<TOML
[recipe]
name = "bookworm-check"
from = "debian-bookworm.toml"

[[layer]]
  [[layer.step]]
  type = "run"
  command = "dpkg -l | awk 'NR > 5 && \$1 != \"ii\" { print; bad = 1 } END { exit bad }' && apt-get check"

[[layer]]
  [[layer.step]]
  type = "run"
  network = true
  env = { MIRROR = "$MIRROR" }
  command = "echo \"deb \$MIRROR bookworm main\" > /etc/apt/sources.list && apt-get update -qq && apt-get install -y -qq --no-install-recommends hello >/dev/null && hello --version | head -n 1"
TOML
strata build "$R/check.toml" >"$WORK/check.out" 2>&1 || fail "checks inside the image failed: $(tail -30 "$WORK/check.out")"
pass "inside the image: every package ii, apt-get check, apt-get install hello"

STRATA_HOME=$WORK/store2 strata --json build "$R/debian-bookworm.toml" --locked >"$WORK/build2.json"
[ "$(json_get "$WORK/build2.json" 'd["manifest"]')" = "$M1" ] || fail "a second empty store gave another manifest"
pass "reproducible: the same manifest from a second empty store"
