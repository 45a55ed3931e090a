#!/usr/bin/env bash
# GC while clients push: `strata registry gc` (default grace) runs in a loop beside a live
# server while four clients push images. Before the pushes start, old garbage is made
# (orphan blobs and an untagged manifest, aged by two days); the clients reuse half of
# the orphan blobs the way real clients do (HEAD: skip the upload when it exists, else
# upload), so GC and pushes race on the same blobs. No manifest PUT may fail with
# MANIFEST_BLOB_UNKNOWN, every completed push must stay readable, GC must really have
# removed the garbage nobody reused, and fsck must be clean at the end.
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

port=$(free_port)
"$STRATA_BIN" -q registry serve --root "$root" --addr "127.0.0.1:$port" \
  >"$WORK/server.out" 2>"$WORK/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited early: $(cat "$WORK/server.err")"
  sleep 0.1
done
base="http://127.0.0.1:$port"

sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

upload_blob() {  # REPO FILE
  curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@$2" "$base/v2/$1/blobs/uploads/?digest=$(sha "$2")"
}

# Garbage: 8 orphan blobs and an untagged manifest over two more, then aged by two days.
mkdir -p "$WORK/old"
for i in $(seq 1 8); do
  head -c 50000 /dev/urandom >"$WORK/old/o$i"
  upload_blob shared "$WORK/old/o$i"
done
head -c 40000 /dev/urandom >"$WORK/old/ulayer"
echo '{"untagged":true}' >"$WORK/old/uconfig"
upload_blob shared "$WORK/old/ulayer"
upload_blob shared "$WORK/old/uconfig"
manifest_for() {  # CONFIG LAYER...
  local config=$1 layers="" sep=""
  shift
  for l in "$@"; do
    layers+="$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$(sha "$l")\",\"size\":$(stat -c %s "$l")}"
    sep=","
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}' \
    "$(sha "$config")" "$(stat -c %s "$config")" "$layers"
}
manifest_for "$WORK/old/uconfig" "$WORK/old/ulayer" >"$WORK/old/umanifest"
curl -sS -f -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$WORK/old/umanifest" "$base/v2/shared/manifests/$(sha "$WORK/old/umanifest")"
python3 - "$root" <<'EOF'
import sqlite3, sys, os, time
root = sys.argv[1]
age = 2 * 86400
db = sqlite3.connect(os.path.join(root, "registry.db"), timeout=10)
db.execute("UPDATE repo_blobs SET created = created - ?, touched = touched - ?", (age, age))
db.execute("UPDATE manifests SET created = created - ?", (age,))
db.commit()
db = sqlite3.connect(os.path.join(root, "strata.db"), timeout=10)
db.execute("UPDATE blobs SET created = created - ?, last_used = last_used - ?", (age, age))
db.commit()
old = time.time() - age
for alg in ("sha256",):
    d = os.path.join(root, "blobs", alg)
    for name in os.listdir(d):
        os.utime(os.path.join(d, name), (old, old))
EOF

# pusher W: 6 images into gc/wW, each with a fresh layer and one reused old orphan.
pusher() {
  local w=$1 dir="$WORK/w$1"
  mkdir -p "$dir"
  for n in $(seq 1 6); do
    local repo="gc/w$w" img="$dir/$n"
    mkdir -p "$img"
    head -c 100000 /dev/urandom >"$img/layer"
    printf '{"w":%d,"n":%d}' "$w" "$n" >"$img/config"
    cp "$WORK/old/o$(((w + n) % 4 + 1))" "$img/reused"
    for f in layer config; do
      upload_blob "$repo" "$img/$f" || { echo "upload failed" >"$img/status"; continue 2; }
    done
    # The reused blob: cross-repo mount, else HEAD in the repo, else upload.
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST \
      "$base/v2/$repo/blobs/uploads/?mount=$(sha "$img/reused")&from=shared")
    if [[ "$code" != 201 ]]; then
      upload_blob "$repo" "$img/reused" || { echo "upload failed" >"$img/status"; continue; }
    fi
    manifest_for "$img/config" "$img/layer" "$img/reused" >"$img/manifest"
    curl -sS -o "$img/body" -w '%{http_code}' -X PUT \
      -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
      --data-binary "@$img/manifest" "$base/v2/$repo/manifests/t$n" >"$img/status" || true
  done
}

gc_loop() {
  local n=0
  while [[ ! -f "$WORK/pushers-done" ]]; do
    n=$((n + 1))
    strata registry gc --root "$root" --json >"$WORK/gc$n.json" 2>"$WORK/gc$n.err" ||
      { cat "$WORK/gc$n.err" >&2; echo fail >"$WORK/gc-failed"; return; }
  done
  echo "$n" >"$WORK/gc-runs"
}

gc_loop &
gc_pid=$!
pids=()
for w in 1 2 3 4; do
  pusher "$w" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
touch "$WORK/pushers-done"
wait "$gc_pid"
[[ ! -f "$WORK/gc-failed" ]] || fail "a gc run failed"
pass "$(cat "$WORK/gc-runs") gc runs beside 24 pushes"

for img in "$WORK"/w*/*/; do
  status=$(cat "$img/status")
  [[ "$status" == 201 ]] || fail "push $img: manifest PUT gave $status: $(cat "$img/body" 2>/dev/null)"
done
pass "no manifest PUT failed (no MANIFEST_BLOB_UNKNOWN)"

strata registry gc --root "$root" --json >"$WORK/final.json"
check_pushes() {
  for img in "$WORK"/w*/*/; do
    w=$(basename "$(dirname "$img")")
    n=$(basename "$img")
    curl -sS -f -o "$WORK/got" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "$base/v2/gc/${w}/manifests/t$n" || fail "$w/$n: manifest lost"
    for f in config layer reused; do
      curl -sS -f -o "$WORK/got" "$base/v2/gc/${w}/blobs/$(sha "$img/$f")" ||
        fail "$w/$n: $f lost (404 on a referenced blob)"
      [[ "$(sha "$WORK/got")" == "$(sha "$img/$f")" ]] || fail "$w/$n: $f corrupted"
    done
  done
}
check_pushes
pass "every pushed image is complete after the GC runs"

# The garbage nobody reused is gone: orphans 5..8 and the untagged manifest with its blobs.
cat "$WORK"/gc*.json "$WORK/final.json" >"$WORK/all-gc.json"
for f in o5 o6 o7 o8 ulayer uconfig umanifest; do
  grep -q "$(sha "$WORK/old/$f")" "$WORK/all-gc.json" || fail "gc did not remove old $f"
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$base/v2/shared/blobs/$(sha "$WORK/old/$f")")
  [[ "$code" == 404 ]] || fail "old $f still readable ($code)"
  [[ ! -f "$root/blobs/sha256/$(sha256sum "$WORK/old/$f" | cut -d' ' -f1)" ]] ||
    fail "old $f still in the store"
done
pass "gc removed the aged garbage nobody reused"

stop_server
strata registry fsck --root "$root" >"$WORK/fsck.out" || { cat "$WORK/fsck.out" >&2; fail "fsck"; }
pass "fsck is clean: $(tail -1 "$WORK/fsck.out")"
