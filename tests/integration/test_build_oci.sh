#!/usr/bin/env bash
# strata build writes OCI layouts and docker-archives that skopeo and umoci accept, and
# skopeo copy of the layout round-trips. The second build is all cache hits.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"

make_project "$WORK/proj"
strata --json build "$WORK/proj" -o "oci:$WORK/layout:v1" >"$WORK/b1.json"
manifest=$(json_get "$WORK/b1.json" 'd["manifest"]')
[[ "$manifest" == sha256:* ]] || fail "no manifest digest in build output"
[ "$(json_get "$WORK/b1.json" 'len(d["layers"])')" = 3 ] || fail "expected 3 layers"
[ "$(json_get "$WORK/b1.json" 'sum(1 for l in d["layers"] if l["cached"])')" = 0 ] ||
  fail "first build in an empty store must not hit the cache"
pass "first build: $manifest"

# skopeo reads the layout and agrees on the digest and the config.
skopeo inspect "oci:$WORK/layout:v1" >"$WORK/inspect.json"
[ "$(json_get "$WORK/inspect.json" 'd["Digest"]')" = "$manifest" ] || fail "skopeo sees another digest"
[ "$(json_get "$WORK/inspect.json" 'len(d["Layers"])')" = 3 ] || fail "skopeo sees another layer count"
raw_digest="sha256:$(skopeo inspect --raw "oci:$WORK/layout:v1" | sha256sum | cut -d' ' -f1)"
[ "$raw_digest" = "$manifest" ] || fail "raw manifest bytes hash to $raw_digest"
skopeo inspect --config "oci:$WORK/layout:v1" >"$WORK/config.json"
json_get "$WORK/config.json" 'd["config"]["Env"]' | grep -q 'LANG=C.UTF-8' || fail "env missing from config"
[ "$(json_get "$WORK/config.json" 'd["config"]["User"]')" = "1000:1000" ] || fail "user missing"
[ "$(json_get "$WORK/config.json" 'd["created"]')" = "2023-11-14T22:13:20Z" ] || fail "created is not SOURCE_DATE_EPOCH"
pass "skopeo inspect agrees"

# umoci unpacks it into a runtime bundle with the right files, modes and owners. Debian 12's
# umoci (0.4.7) predates zstd layers, so this check uses the same project with gzip layers.
sed 's/^source_date_epoch = .*/&\ncompression = "gzip"/' "$WORK/proj/strata.toml" >"$WORK/proj/gzip.toml"
strata --json build "$WORK/proj/gzip.toml" -o "oci:$WORK/layout-gz:v1" >"$WORK/bgz.json"
[ "$(json_get "$WORK/bgz.json" 'd["layers"][0]["media_type"]')" = \
  application/vnd.oci.image.layer.v1.tar+gzip ] || fail "gzip recipe did not give gzip layers"
umoci unpack --image "$WORK/layout-gz:v1" "$WORK/bundle" >/dev/null
rootfs="$WORK/bundle/rootfs"
[ "$(cat "$rootfs/etc/motd")" = "built by strata" ] || fail "inline file content"
[ "$(stat -c %a "$rootfs/opt/app/hello.sh")" = 755 ] || fail "mode of copied file"
[ "$(stat -c %u:%g "$rootfs/opt/app/hello.sh")" = 1000:1000 ] || fail "owner of copied file"
[ "$(readlink "$rootfs/opt/app/run")" = hello.sh ] || fail "symlink kept"
cmp "$rootfs/srv/data/blob.bin" "$WORK/proj/data/blob.bin" || fail "copied data differs"
[ "$(stat -c %Y "$rootfs/srv/data/blob.bin")" = 1700000000 ] || fail "mtime not clamped"
pass "umoci unpack"

# skopeo copy to a second layout keeps every byte.
skopeo copy -q "oci:$WORK/layout:v1" "oci:$WORK/layout2:v1"
[ "$(skopeo inspect "oci:$WORK/layout2:v1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')" = "$manifest" ] ||
  fail "skopeo copy changed the manifest"
for f in "$WORK/layout/blobs/sha256/"*; do
  cmp "$f" "$WORK/layout2/blobs/sha256/$(basename "$f")" || fail "blob $(basename "$f") differs after copy"
done
pass "skopeo copy round-trips"

# Second build: every layer from the cache, same digest.
strata --json build "$WORK/proj" -o "oci:$WORK/layout:v1" >"$WORK/b2.json"
[ "$(json_get "$WORK/b2.json" 'd["manifest"]')" = "$manifest" ] || fail "rebuild changed the digest"
[ "$(json_get "$WORK/b2.json" 'all(l["cached"] for l in d["layers"])')" = True ] || fail "rebuild missed the cache"
pass "rebuild is all cache hits"

# docker-archive output: skopeo reads it, and it unpacks to the same tree.
strata build "$WORK/proj" --tag itest:v1 -o "docker-archive:$WORK/img.tar" >/dev/null
skopeo inspect "docker-archive:$WORK/img.tar" >"$WORK/da.json"
[ "$(json_get "$WORK/da.json" 'len(d["Layers"])')" = 3 ] || fail "docker-archive layer count"
# The archive's RepoTags name the image: skopeo finds it by that name.
skopeo inspect "docker-archive:$WORK/img.tar:itest:v1" >/dev/null || fail "tag itest:v1 not in the archive"
skopeo copy -q "docker-archive:$WORK/img.tar" "oci:$WORK/layout3:v1"
umoci unpack --image "$WORK/layout3:v1" "$WORK/bundle3" >/dev/null
diff -r "$rootfs" "$WORK/bundle3/rootfs" || fail "docker-archive content differs from the OCI image"
pass "docker-archive accepted by skopeo"

# inspect shows the image.
strata inspect "oci:$WORK/layout:v1" >"$WORK/inspect.txt"
grep -q "$manifest" "$WORK/inspect.txt" || fail "strata inspect does not show the digest"
strata --json inspect "oci:$WORK/layout:v1" >"$WORK/inspect2.json"
json_get "$WORK/inspect2.json" 'd["manifest"]' >/dev/null
pass "strata inspect"
