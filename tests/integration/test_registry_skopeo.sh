#!/usr/bin/env bash
# Black-box test of `strata registry serve` against skopeo and umoci: build an OCI image
# layout with umoci, push it with skopeo, inspect it, copy it back to a second layout and
# compare every blob byte for byte. Also checks a few raw HTTP details with curl.
source "$(dirname "$0")/lib.sh"
require_tools skopeo umoci curl python3

work=$WORK
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
on_exit stop_server

fail() {
  echo "FAIL: $*" >&2
  [[ -f "$work/server.err" ]] && tail -20 "$work/server.err" >&2
  exit 1
}

# A free loopback port: bind port 0 and read what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$STRATA_BIN" registry serve --root "$work/root" --addr "127.0.0.1:$port" \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on http://127.0.0.1:$port" "$work/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited early"
  sleep 0.1
done
grep -q "listening on http://127.0.0.1:$port" "$work/server.out" || fail "the server did not start"
base="http://127.0.0.1:$port"

headers=$(curl -fsS -D - -o /dev/null "$base/v2/")
grep -qi '^Docker-Distribution-API-Version: registry/2.0' <<<"$headers" || fail "GET /v2/ header"

# An image made by umoci: two layers of files.
export SOURCE_DATE_EPOCH=1700000000
umoci init --layout "$work/src" >/dev/null
umoci new --image "$work/src:t" >/dev/null
umoci unpack --rootless --image "$work/src:t" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/etc" "$work/bundle/rootfs/data"
echo "hello from strata" >"$work/bundle/rootfs/etc/motd"
head -c 300000 /dev/urandom >"$work/bundle/rootfs/data/random.bin"
umoci repack --image "$work/src:t" "$work/bundle" >/dev/null
umoci unpack --rootless --image "$work/src:t" "$work/bundle2" >/dev/null
mkdir -p "$work/bundle2/rootfs/opt"
echo "second layer" >"$work/bundle2/rootfs/opt/file"
umoci repack --image "$work/src:t" "$work/bundle2" >/dev/null
umoci config --image "$work/src:t" --config.env APP=strata >/dev/null

ref="127.0.0.1:$port/test/img"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:t" "docker://$ref:t" \
  || fail "skopeo copy to the registry"
skopeo inspect --tls-verify=false "docker://$ref:t" >"$work/inspect.json" \
  || fail "skopeo inspect"
python3 - "$work/inspect.json" <<'PY' || fail "skopeo inspect output"
import json, sys
info = json.load(open(sys.argv[1]))
assert len(info["Layers"]) == 2, info["Layers"]
assert "APP=strata" in info["Env"], info["Env"]
PY
skopeo copy --quiet --src-tls-verify=false "docker://$ref:t" "oci:$work/dst:t" \
  || fail "skopeo copy back from the registry"

# Every blob of the source layout arrived unchanged (same names, same bytes).
(cd "$work/src/blobs" && find . -type f | sort) >"$work/src.list"
(cd "$work/dst/blobs" && find . -type f | sort) >"$work/dst.list"
while read -r blob; do
  cmp -s "$work/src/blobs/$blob" "$work/dst/blobs/$blob" || fail "blob $blob differs or is missing"
done <"$work/dst.list"
manifest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
  "$work/src/index.json")
grep -q "${manifest#sha256:}" "$work/dst.list" || fail "manifest $manifest did not round-trip"

# Raw protocol details a Go client would not show.
tags=$(curl -fsS "$base/v2/test/img/tags/list")
[[ "$tags" == '{"name":"test/img","tags":["t"]}' ]] || fail "tags/list: $tags"
skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
  "docker://$ref:t" "docker://127.0.0.1:$port/test/other:t" || fail "copy between repositories"
link=$(curl -fsS -D - -o /dev/null "$base/v2/_catalog?n=1" | tr -d '\r' | grep -i '^Link:' || true)
[[ "$link" == 'Link: </v2/_catalog?n=1&last=test%2Fimg>; rel="next"' ]] || fail "catalog Link: $link"
code=$(curl -s -o "$work/err.json" -w '%{http_code}' "$base/v2/test/img/blobs/sha256:bad")
[[ "$code" == 400 ]] && grep -q DIGEST_INVALID "$work/err.json" || fail "malformed digest: $code"

# SIGTERM stops the server cleanly.
kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not exit 0 on SIGTERM"
server_pid=""
echo "PASS: registry round trip with skopeo"
