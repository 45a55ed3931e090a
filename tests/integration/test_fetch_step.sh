#!/usr/bin/env bash
# `fetch` steps end to end: a recipe downloads a file and a tar.gz and a zip (extracted with
# strip_components) from a loopback HTTP server; the OCI layout holds them; a rebuild with
# the server stopped is all cache hits; a wrong checksum fails with exit 5 naming the URL
# and stores nothing.
source "$(dirname "$0")/lib.sh"
require_tools python3 tar

WWW="$WORK/www"
mkdir -p "$WWW/src/tool-1.2/bin" "$WWW/src/tool-1.2/share" "$WWW/zsrc/pkg/lib"
printf '#!/bin/sh\necho fetched\n' >"$WWW/hello.sh"
printf '#!/bin/sh\necho tool\n' >"$WWW/src/tool-1.2/bin/tool"
chmod 755 "$WWW/src/tool-1.2/bin/tool"
printf 'docs\n' >"$WWW/src/tool-1.2/share/README"
tar -C "$WWW/src" --owner=0 --group=0 --numeric-owner -czf "$WWW/tool-1.2.tar.gz" tool-1.2
printf 'library\n' >"$WWW/zsrc/pkg/lib/data.txt"
(cd "$WWW/zsrc" && python3 -c 'import zipfile; z=zipfile.ZipFile("../pkg.zip","w"); z.write("pkg"); z.write("pkg/lib"); z.write("pkg/lib/data.txt"); z.close()')
sha() { sha256sum "$1" | cut -d' ' -f1; }

PORT=$(free_port)
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WWW" >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
stop_http() {
  if [ -n "${HTTP_PID:-}" ]; then
    kill "$HTTP_PID" 2>/dev/null || true
    wait "$HTTP_PID" 2>/dev/null || true
    HTTP_PID=
  fi
}
on_exit stop_http
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
  sleep 0.1
done
URL="http://127.0.0.1:$PORT"

mkdir -p "$WORK/proj"
cat >"$WORK/proj/strata.toml" <<EOF
[recipe]
name = "fetched"
source_date_epoch = 1700000000
compression = "gzip"

[[layer]]
name = "downloads"
  [[layer.step]]
  type = "fetch"
  url = "$URL/hello.sh"
  sha256 = "$(sha "$WWW/hello.sh")"
  dest = "/usr/local/bin/"
  mode = 0o755
  [[layer.step]]
  type = "fetch"
  url = "$URL/tool-1.2.tar.gz"
  sha512 = "$(sha512sum "$WWW/tool-1.2.tar.gz" | cut -d' ' -f1)"
  dest = "/opt/tool"
  extract = "tar"
  strip_components = 1
  [[layer.step]]
  type = "fetch"
  url = "$URL/pkg.zip"
  sha256 = "$(sha "$WWW/pkg.zip")"
  dest = "/opt/pkg"
  extract = "zip"
  strip_components = 1
EOF

strata --json build "$WORK/proj" -o "oci:$WORK/layout:v1" >"$WORK/b1.json" 2>"$WORK/b1.err" ||
  fail "build failed: $(cat "$WORK/b1.err" "$WORK/b1.json")"
manifest=$(json_get "$WORK/b1.json" 'd["manifest"]')
[ "$(json_get "$WORK/b1.json" 'len(d["layers"])')" = 1 ] || fail "expected 1 layer"
strata inspect "oci:$WORK/layout:v1" >"$WORK/inspect.txt"
grep -q "$manifest" "$WORK/inspect.txt" || fail "strata inspect does not show $manifest"
grep -q "fetch $URL/hello.sh" "$WORK/inspect.txt" || fail "history does not name the fetch: $(cat "$WORK/inspect.txt")"
pass "build with fetch steps: $manifest"

D=$(json_get "$WORK/b1.json" "d['layers'][0]['digest']")
strata layer unpack "$WORK/layout/blobs/sha256/${D#sha256:}" "$WORK/root" >/dev/null
cmp "$WORK/root/usr/local/bin/hello.sh" "$WWW/hello.sh" || fail "fetched file differs"
[ "$(stat -c %a "$WORK/root/usr/local/bin/hello.sh")" = 755 ] || fail "mode of the fetched file"
cmp "$WORK/root/opt/tool/bin/tool" "$WWW/src/tool-1.2/bin/tool" || fail "extracted tar file differs"
[ "$(stat -c %a "$WORK/root/opt/tool/bin/tool")" = 755 ] || fail "mode from the tar not kept"
[ -f "$WORK/root/opt/tool/share/README" ] || fail "tar: share/README missing"
[ -e "$WORK/root/opt/tool/tool-1.2" ] && fail "strip_components not applied to the tar"
cmp "$WORK/root/opt/pkg/lib/data.txt" "$WWW/zsrc/pkg/lib/data.txt" || fail "extracted zip file differs"
[ "$(stat -c %Y "$WORK/root/opt/tool/share/README")" -le 1700000000 ] || fail "mtime not clamped"
pass "layer holds the fetched file and both extractions"

# The cache key needs no download: with the server gone the rebuild is all cache hits.
stop_http
strata --json build "$WORK/proj" -o "oci:$WORK/layout:v1" >"$WORK/b2.json" 2>"$WORK/b2.err" ||
  fail "offline rebuild failed: $(cat "$WORK/b2.err")"
[ "$(json_get "$WORK/b2.json" 'd["manifest"]')" = "$manifest" ] || fail "rebuild changed the digest"
[ "$(json_get "$WORK/b2.json" 'all(l["cached"] for l in d["layers"])')" = True ] ||
  fail "rebuild missed the cache"
pass "offline rebuild is a cache hit"

# A wrong checksum: exit 5 (corruption), the URL and both digests named, nothing stored.
mkdir -p "$WORK/bad"
wrong=$(printf 'not it' | sha256sum | cut -d' ' -f1)
printf 'other content\n' >"$WORK/bad/other.txt"
cat >"$WORK/bad/strata.toml" <<EOF
[recipe]
name = "bad"
[[layer]]
  [[layer.step]]
  type = "fetch"
  url = "file://$WORK/bad/other.txt"
  sha256 = "$wrong"
  dest = "/other.txt"
EOF
expect_fail 5 strata build "$WORK/bad"
grep -q "other.txt" "$WORK/err" || fail "error does not name the URL: $(cat "$WORK/err")"
grep -q "sha256:$wrong" "$WORK/err" || fail "error does not name the expected digest"
grep -q "sha256:$(sha "$WORK/bad/other.txt")" "$WORK/err" || fail "error does not name the actual digest"
grep -q "strata.toml:4:" "$WORK/err" || fail "error does not name the step: $(cat "$WORK/err")"
[ ! -e "$STRATA_HOME/blobs/sha256/$(sha "$WORK/bad/other.txt")" ] || fail "the wrong file was stored"
pass "wrong checksum refused"
