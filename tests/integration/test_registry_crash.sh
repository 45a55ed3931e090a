#!/usr/bin/env bash
# Crash safety of `strata registry serve`: 50 concurrent pushes (curl: POST + monolithic
# PUT of a random layer and a config, then the manifest PUT), kill -9 of the server in the
# middle, restart on the same root. Every push whose manifest PUT returned 201 must be
# intact (manifest and blobs readable with the right digests), no blob may be visible
# with the wrong content, fsck must be clean, and an upload interrupted by the crash must
# be resumable after the restart, or expired when the server restarts with
# --upload-expiry 1s.
source "$(dirname "$0")/lib.sh"
require_tools curl python3 sha256sum

root="$WORK/root"
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
on_exit stop_server

start_server() {
  port=$(free_port)
  "$STRATA_BIN" registry serve --root "$root" --addr "127.0.0.1:$port" --threads 64 "$@" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
  server_pid=$!
  for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited early: $(cat "$WORK/server.err")"
    sleep 0.1
  done
  grep -q "listening on" "$WORK/server.out" || fail "the server did not start"
  base="http://127.0.0.1:$port"
}

sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# upload_blob REPO FILE: POST then monolithic PUT; fails unless 201.
upload_blob() {
  local loc
  loc=$(curl -sS -o /dev/null -D - -X POST "$base/v2/$1/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [[ -n "$loc" ]] || return 1
  curl -sS -f -o /dev/null --limit-rate 4M -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@$2" "$base$loc?digest=$(sha "$2")"
}

# push I: one image in repository crash/rI; writes pI/status (manifest PUT's HTTP code).
push() {
  local dir="$WORK/p$1" repo="crash/r$1"
  mkdir -p "$dir"
  head -c $((300000 + RANDOM * 8)) /dev/urandom >"$dir/layer"
  printf '{"push":%d,"salt":"%s"}' "$1" "$RANDOM$RANDOM" >"$dir/config"
  upload_blob "$repo" "$dir/layer" || return 0
  upload_blob "$repo" "$dir/config" || return 0
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'`
    `'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},'`
    `'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
    "$(sha "$dir/config")" "$(stat -c %s "$dir/config")" \
    "$(sha "$dir/layer")" "$(stat -c %s "$dir/layer")" >"$dir/manifest"
  curl -sS -o /dev/null -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$dir/manifest" "$base/v2/$repo/manifests/v1" >"$dir/status.tmp" || true
  mv "$dir/status.tmp" "$dir/status"
}

# start_partial NAME: POST + PATCH of the first half of a random blob; prints the location.
start_partial() {
  head -c 200000 /dev/urandom >"$WORK/$1"
  head -c 100000 "$WORK/$1" >"$WORK/$1.head"
  tail -c 100000 "$WORK/$1" >"$WORK/$1.tail"
  local loc
  loc=$(curl -sS -o /dev/null -D - -X POST "$base/v2/pending/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  curl -sS -f -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
    -H 'Content-Range: 0-99999' --data-binary "@$WORK/$1.head" "$base$loc"
  echo "$loc"
}

# count_done: how many pushes got 201 for their manifest.
count_done() { cat "$WORK"/p*/status 2>/dev/null | grep -o 201 | wc -l; }

start_server
resume_loc=$(start_partial resume)
expire_loc=$(start_partial expire)

for i in $(seq 1 50); do
  push "$i" 2>/dev/null &
done
# Kill once a few pushes completed, while the others are in flight.
for _ in $(seq 1 500); do
  [[ $(count_done) -ge 5 ]] && break
  sleep 0.02
done
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
wait  # the pushers notice the dead server and give up
completed=$(count_done)
[[ "$completed" -ge 5 ]] ||
  fail "only $completed pushes completed before the kill (statuses: $(cat "$WORK"/p*/status 2>/dev/null | sort | uniq -c | tr '\n' ' '))"
[[ "$completed" -lt 50 ]] || fail "every push completed before the kill: nothing was interrupted"
pass "killed the server with $completed of 50 pushes completed"

start_server
for i in $(seq 1 50); do
  dir="$WORK/p$i"
  if [[ "$(cat "$dir/status" 2>/dev/null)" == 201 ]]; then
    curl -sS -f -o "$dir/got" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "$base/v2/crash/r$i/manifests/v1" || fail "push $i: manifest lost"
    [[ "$(sha "$dir/got")" == "$(sha "$dir/manifest")" ]] || fail "push $i: manifest changed"
    for f in layer config; do
      curl -sS -f -o "$dir/got" "$base/v2/crash/r$i/blobs/$(sha "$dir/$f")" ||
        fail "push $i: $f lost"
      [[ "$(sha "$dir/got")" == "$(sha "$dir/$f")" ]] || fail "push $i: $f corrupted"
    done
  else
    # Interrupted: a blob is either absent or whole, never partial.
    for f in layer config; do
      [[ -f "$dir/$f" ]] || continue
      code=$(curl -sS -o "$dir/got" -w '%{http_code}' "$base/v2/crash/r$i/blobs/$(sha "$dir/$f")")
      case "$code" in
        404) ;;
        200) [[ "$(sha "$dir/got")" == "$(sha "$dir/$f")" ]] || fail "push $i: partial $f visible" ;;
        *) fail "push $i: GET $f gave $code" ;;
      esac
    done
  fi
done
pass "every completed push is intact, no partial blob is visible"

# The interrupted upload resumes where it was.
range=$(curl -sS -o /dev/null -D - "$base$resume_loc" | tr -d '\r' | sed -n 's/^[Rr]ange: //p')
[[ "$range" == "0-99999" ]] || fail "upload status after restart: Range '$range'"
curl -sS -f -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
  -H 'Content-Range: 100000-199999' --data-binary "@$WORK/resume.tail" "$base$resume_loc" ||
  fail "cannot resume the upload"
curl -sS -f -o /dev/null -X PUT "$base$resume_loc?digest=$(sha "$WORK/resume")" ||
  fail "cannot complete the resumed upload"
curl -sS -f -o "$WORK/got" "$base/v2/pending/blobs/$(sha "$WORK/resume")"
[[ "$(sha "$WORK/got")" == "$(sha "$WORK/resume")" ]] || fail "resumed blob differs"
pass "an upload interrupted by the crash resumes after the restart"

stop_server
strata registry fsck --root "$root" >"$WORK/fsck.out" || { cat "$WORK/fsck.out" >&2; fail "fsck"; }
pass "fsck is clean after the crash: $(tail -1 "$WORK/fsck.out")"

# A restart with a short expiry drops the other interrupted upload and its file.
sleep 2
expire_uuid=${expire_loc##*/}
[[ -f "$root/uploads/$expire_uuid" ]] || fail "the pending upload's file is missing before expiry"
start_server --upload-expiry 1s
code=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$base$expire_loc")
[[ "$code" == 404 ]] || fail "expired upload: status $code"
grep -q BLOB_UPLOAD_UNKNOWN "$WORK/body" || fail "expired upload: $(cat "$WORK/body")"
for _ in $(seq 1 50); do
  [[ -f "$root/uploads/$expire_uuid" ]] || break
  sleep 0.1
done
[[ ! -f "$root/uploads/$expire_uuid" ]] || fail "the expired upload's file is still there"
stop_server
strata registry fsck --root "$root" >/dev/null || fail "fsck after expiry"
pass "an interrupted upload expires with --upload-expiry 1s"

# A crash between publishing a completed upload (its file renamed into the blob store) and
# removing its session row leaves a row without a file: the restart drops it before serving.
start_server
loc=$(curl -sS -o /dev/null -D - -X POST "$base/v2/window/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
[[ -n "$loc" ]] || fail "no upload location"
stop_server
rm -f "$root/uploads/${loc##*/}"
strata registry fsck --root "$root" >/dev/null 2>&1 && fail "fsck did not notice the session without a file"
start_server
code=$(curl -sS -o /dev/null -w '%{http_code}' "$base$loc")
[[ "$code" == 404 ]] || fail "a session without its file: status $code after the restart"
stop_server
strata registry fsck --root "$root" >"$WORK/fsck2.out" || { cat "$WORK/fsck2.out" >&2; fail "fsck after the restart"; }
pass "a session left without its file by a crash is dropped at the restart; fsck clean"
