# `strata build` and `strata inspect` end to end, checked with skopeo and umoci.
source "$(dirname "$0")/lib.sh"

EX="$STRATA_SOURCE_DIR/examples/hello"

# First build: every layer built; second: every layer cached, same manifest.
strata --json build "$EX" >"$WORK/b1.json"
strata --json build "$EX" -o "oci:$WORK/layout" -o "docker-archive:$WORK/hello.tar" >"$WORK/b2.json"
m1=$(json_get "$WORK/b1.json" 'd["manifest"]')
m2=$(json_get "$WORK/b2.json" 'd["manifest"]')
[ "$m1" = "$m2" ] || fail "rebuild changed the manifest: $m1 vs $m2"
[ "$(json_get "$WORK/b1.json" '[l["cached"] for l in d["layers"]]')" = "[False, False, False]" ] ||
  fail "first build should build every layer"
[ "$(json_get "$WORK/b2.json" '[l["cached"] for l in d["layers"]]')" = "[True, True, True]" ] ||
  fail "second build should be all cached"
[ "$(json_get "$WORK/b2.json" 'd["tag"]')" = "hello:latest" ] || fail "default tag"
pass "build is cached on the second run"

# Human output names CACHED layers and the manifest.
strata build "$EX" >"$WORK/human.txt" 2>/dev/null
grep -q "^CACHED sha256:" "$WORK/human.txt" || fail "human output lacks CACHED lines"
grep -q "^manifest $m1" "$WORK/human.txt" || fail "human output lacks the manifest digest"
pass "human output"

# Another empty store gives the same digest.
STRATA_HOME="$WORK/store2" strata --json build "$EX" >"$WORK/b3.json"
[ "$(json_get "$WORK/b3.json" 'd["manifest"]')" = "$m1" ] || fail "not reproducible across stores"
pass "reproducible across stores"

# skopeo reads the layout and the docker-archive.
skopeo inspect "oci:$WORK/layout:latest" >"$WORK/skopeo.json"
[ "$(json_get "$WORK/skopeo.json" 'd["Digest"]')" = "$m1" ] || fail "skopeo sees another digest"
[ "$(json_get "$WORK/skopeo.json" 'len(d["Layers"])')" = "3" ] || fail "skopeo layer count"
skopeo inspect "docker-archive:$WORK/hello.tar" >"$WORK/skopeo-da.json"
[ "$(json_get "$WORK/skopeo-da.json" '"HELLO_HOME=/opt/hello" in d["Env"]')" = "True" ] ||
  fail "docker-archive config lacks the env"
skopeo copy -q "oci:$WORK/layout:latest" "oci:$WORK/copy:x" >/dev/null
pass "skopeo reads oci and docker-archive output"

# inspect: from the store and from the layout.
strata inspect hello >"$WORK/inspect.txt"
grep -q "^manifest    $m1" "$WORK/inspect.txt" || fail "inspect manifest"
grep -q "^env         HELLO_HOME=/opt/hello" "$WORK/inspect.txt" || fail "inspect env"
grep -q "strata: layer app (copy scripts -> /opt/hello/bin/" "$WORK/inspect.txt" ||
  fail "inspect history"
strata --json inspect "oci:$WORK/layout" >"$WORK/inspect.json"
[ "$(json_get "$WORK/inspect.json" 'd["config"]["config"]["User"]')" = "1000:1000" ] ||
  fail "inspect --json config"
[ "$(json_get "$WORK/inspect.json" 'd["manifest"]["annotations"]["org.opencontainers.image.base.name"]')" = "hello-base" ] ||
  fail "inspect --json base annotation"
expect_fail 4 strata inspect nosuchimage:latest
pass "inspect"

# A gzip recipe unpacks with umoci (which predates zstd layers).
mkdir -p "$WORK/gz/files"
printf 'payload\n' >"$WORK/gz/files/p.txt"
cat >"$WORK/gz/strata.toml" <<'EOF'
[recipe]
name = "gz"
compression = "gzip"
[[layer]]
  [[layer.step]]
  type = "copy"
  src = "files"
  dest = "/srv/"
  [[layer.step]]
  type = "file"
  path = "/etc/greeting"
  content = "hi\n"
  mode = 0o640
EOF
strata build "$WORK/gz" --tag gz:v1 -o "oci:$WORK/gzlayout" >/dev/null 2>&1
umoci unpack --rootless --image "$WORK/gzlayout:v1" "$WORK/bundle" >/dev/null 2>&1 ||
  fail "umoci cannot unpack the gzip image"
[ "$(cat "$WORK/bundle/rootfs/srv/p.txt")" = "payload" ] || fail "copied file content"
[ "$(stat -c %a "$WORK/bundle/rootfs/etc/greeting")" = "640" ] || fail "file mode"
pass "umoci unpacks a gzip image"

# Errors: located recipe errors exit 3.
printf '[recipe]\nname = "x"\ncolour = "red"\n' >"$WORK/bad.toml"
expect_fail 3 strata build "$WORK/bad.toml"
grep -q "bad.toml:3:1: unknown key 'colour'" "$WORK/err" || fail "error lacks file:line:col"
printf '[recipe]\nname = "x"\n[[layer]]\n[[layer.step]]\ntype = "run"\n' >"$WORK/run.toml"
expect_fail 3 strata build "$WORK/run.toml"
grep -q "run.toml:4:1: a run step needs 'command'" "$WORK/err" || fail "run step message: $(cat "$WORK/err")"
expect_fail 3 strata build "$EX" -o "tarball:$WORK/x"
pass "errors"
