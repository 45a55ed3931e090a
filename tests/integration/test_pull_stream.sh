#!/usr/bin/env bash
# Streaming `strata pull --unpack` against `strata registry serve` on 127.0.0.1: layers are
# applied while they download (no temporary tarball), the result equals umoci's unpack of
# the same image, every blob lands verified in the store, a corrupted blob on the server
# fails with Corruption (exit 5) naming the layer and stores nothing, and the store
# download still resumes a partial file with a Range request.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
for tool in umoci python3 curl; do
  command -v "$tool" >/dev/null || fail "$tool is required (Debian package $tool)"
done

pids=()
stop_servers() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
on_exit stop_servers

# A multi-layer image with one layer of a few MiB (so that it streams in many reads), gzip
# so that Debian 12's umoci can unpack the same image for comparison.
make_project "$WORK/proj"
head -c 6000000 /dev/urandom >"$WORK/proj/data/big.bin"
sed 's/^source_date_epoch = .*/&\ncompression = "gzip"/' "$WORK/proj/strata.toml" >"$WORK/proj/gzip.toml"
strata --json build "$WORK/proj/gzip.toml" -o "oci:$WORK/layout:v1" >"$WORK/build.json"
manifest=$(json_get "$WORK/build.json" 'd["manifest"]')
mfile="$WORK/layout/blobs/sha256/${manifest#sha256:}"
mapfile -t layers < <(python3 -c 'import json,sys; [print(l["digest"].split(":")[1]) for l in json.load(open(sys.argv[1]))["layers"]]' "$mfile")
[ "${#layers[@]}" -ge 3 ] || fail "expected a multi-layer image, got ${#layers[@]} layers"
# The biggest layer: the one corrupted below.
big=$(cd "$WORK/layout/blobs/sha256" && ls -S "${layers[@]}" | head -n1)

port=$(free_port)
"$STRATA_BIN" registry serve --root "$WORK/reg" --addr "127.0.0.1:$port" >"$WORK/serve.out" 2>"$WORK/serve.err" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && break
  sleep 0.1
done
reg="127.0.0.1:$port"
strata -q push "oci:$WORK/layout:v1" "docker://$reg/team/img:v1" >/dev/null

tree() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort); }
umoci unpack --rootless --image "$WORK/layout:v1" "$WORK/bundle" >/dev/null

# 1. Into an empty store: the tree equals umoci's, every blob is in the store, byte for
#    byte the layout's, and no partial or temporary file is left.
export STRATA_HOME="$WORK/store1"
[ "$(strata -q pull "$reg/team/img:v1" --unpack "$WORK/rootfs1" -j 3)" = "$manifest" ] || fail "pull --unpack printed another digest"
diff <(tree "$WORK/rootfs1") <(tree "$WORK/bundle/rootfs") || fail "pull --unpack differs from umoci unpack"
diff -r "$WORK/rootfs1" "$WORK/bundle/rootfs" >/dev/null || fail "file contents differ from umoci unpack"
for l in "${layers[@]}"; do
  cmp -s "$WORK/store1/blobs/sha256/$l" "$WORK/layout/blobs/sha256/$l" || fail "layer $l is not in the store intact"
done
[ -z "$(ls -A "$WORK/store1/tmp")" ] || fail "files left in the store's tmp: $(ls "$WORK/store1/tmp")"
pass "streamed pull --unpack equals umoci unpack; the store holds the verified blobs"

# 2. Layers already in the store are unpacked from it (nothing downloaded).
strata --json pull "$reg/team/img:v1" --unpack "$WORK/rootfs2" >"$WORK/pull2.json"
[ "$(json_get "$WORK/pull2.json" 'd["downloaded"]')" = 0 ] || fail "second pull downloaded: $(cat "$WORK/pull2.json")"
diff -r "$WORK/rootfs2" "$WORK/bundle/rootfs" >/dev/null || fail "unpack from the store differs"
pass "pull --unpack from blobs already in the store"

# 3. A corrupted blob on the server (same size, one byte changed): Corruption (exit 5)
#    naming the layer and saying the directory is incomplete; the bad blob is not stored.
blobfile="$WORK/reg/blobs/sha256/$big"
[ -f "$blobfile" ] || fail "registry blob file $blobfile not found"
chmod u+w "$blobfile"
python3 - "$blobfile" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0x5A]))
PY
export STRATA_HOME="$WORK/store3"
expect_fail 5 strata pull "$reg/team/img:v1" --unpack "$WORK/rootfs3"
grep -q "sha256:$big" "$WORK/err" || fail "the error does not name the layer: $(cat "$WORK/err")"
grep -q "incomplete" "$WORK/err" || fail "the error does not say the directory is incomplete: $(cat "$WORK/err")"
[ ! -e "$WORK/store3/blobs/sha256/$big" ] || fail "the corrupt blob was stored"
[ ! -e "$WORK/store3/tmp/partial-$big" ] || fail "the corrupt partial download was kept"
expect_fail 5 strata pull "$reg/team/img:v1"
[ ! -e "$WORK/store3/blobs/sha256/$big" ] || fail "the corrupt blob was stored by a plain pull"
# The registry shares blob files between repositories: repair it for what follows.
cp "$WORK/layout/blobs/sha256/$big" "$blobfile"
pass "corrupted blob on the server: exit 5, layer named, nothing bad stored"

# 4. Resume: a partial file holding the blob's first half is continued with a Range
#    request. A wrong first half proves the client did not start over (the digest then
#    fails and the partial file is dropped); the right one completes the blob.
half=$(( $(stat -c %s "$WORK/layout/blobs/sha256/$big") / 2 ))
export STRATA_HOME="$WORK/store4"
strata cache ls >/dev/null 2>&1 || true
mkdir -p "$WORK/store4/tmp"
head -c "$half" /dev/zero >"$WORK/store4/tmp/partial-$big"
expect_fail 5 strata pull "$reg/team/img:v1" --unpack "$WORK/rootfs4"
[ ! -e "$WORK/store4/tmp/partial-$big" ] || fail "a partial file that failed its digest was kept"
head -c "$half" "$WORK/layout/blobs/sha256/$big" >"$WORK/store4/tmp/partial-$big"
rm -rf "$WORK/rootfs4"
strata -q pull "$reg/team/img:v1" --unpack "$WORK/rootfs4" >/dev/null
cmp -s "$WORK/store4/blobs/sha256/$big" "$WORK/layout/blobs/sha256/$big" || fail "resumed blob differs"
diff -r "$WORK/rootfs4" "$WORK/bundle/rootfs" >/dev/null || fail "unpack of a resumed download differs"
export STRATA_HOME="$WORK/store5"
mkdir -p "$WORK/store5/tmp"
head -c "$half" "$WORK/layout/blobs/sha256/$big" >"$WORK/store5/tmp/partial-$big"
strata -q pull "$reg/team/img:v1" >/dev/null
cmp -s "$WORK/store5/blobs/sha256/$big" "$WORK/layout/blobs/sha256/$big" || fail "resumed blob (plain pull) differs"
pass "partial downloads resume with Range, with and without --unpack"

# 5. A hostile layer (an entry "../escape") with a correct digest: the unpack error stops
#    the pull (exit 3) naming the layer and saying DIR is incomplete; nothing is written
#    outside DIR, and the blob, which verified, may stay in the store.
python3 - "$WORK/hostile" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(root + "/blobs/sha256")
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open(root + "/blobs/sha256/" + h, "wb").write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name in ("ok.txt", "../escape"):
        info = tarfile.TarInfo(name)
        info.size = 3
        t.addfile(info, io.BytesIO(b"hi\n"))
layer = gzip.compress(raw.getvalue(), mtime=0)
diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": dict(blob(config), mediaType="application/vnd.oci.image.config.v1+json"),
     "layers": [dict(blob(layer), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}
md = dict(blob(json.dumps(m).encode()), mediaType=m["mediaType"],
          annotations={"org.opencontainers.image.ref.name": "v1"})
json.dump({"schemaVersion": 2, "manifests": [md]}, open(root + "/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(root + "/oci-layout", "w"))
PY
strata -q push "oci:$WORK/hostile:v1" "docker://$reg/team/hostile:v1" >/dev/null
export STRATA_HOME="$WORK/store6"
mkdir -p "$WORK/jail"
expect_fail 3 strata pull "$reg/team/hostile:v1" --unpack "$WORK/jail/rootfs"
grep -q "layer 1 of 1" "$WORK/err" || fail "the unpack error does not name the layer: $(cat "$WORK/err")"
grep -q "incomplete" "$WORK/err" || fail "the unpack error does not say DIR is incomplete: $(cat "$WORK/err")"
[ ! -e "$WORK/jail/escape" ] || fail "a hostile entry was written outside the unpack directory"
strata cache verify >/dev/null || fail "the store holds a bad blob after the failed pull"
pass "hostile layer: exit 3, layer named, nothing outside DIR"
