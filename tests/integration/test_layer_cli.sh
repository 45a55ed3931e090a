#!/usr/bin/env bash
# `strata layer pack` / `strata layer unpack`: reproducible bytes whatever the mtimes, the
# output accepted by GNU tar, zstd and gzip, and a verified round trip through the unpacker.
source "$(dirname "$0")/lib.sh"

make_tree() {
  local d=$1
  mkdir -p "$d/usr/bin" "$d/etc/app" "$d/$(printf 'n%.0s' {1..150})/$(printf 'm%.0s' {1..150})"
  printf '#!/bin/sh\necho hi\n' >"$d/usr/bin/tool"
  chmod 0755 "$d/usr/bin/tool"
  printf 'key=value\n' >"$d/etc/app/conf"
  : >"$d/etc/app/empty"
  head -c 300000 /dev/zero | tr '\0' 'x' >"$d/etc/app/big"
  ln -s ../../usr/bin/tool "$d/etc/app/link"
  ln "$d/usr/bin/tool" "$d/usr/bin/tool-hard"
  printf 'deep\n' >"$d/$(printf 'n%.0s' {1..150})/$(printf 'm%.0s' {1..150})/f"
  printf 'ü\n' >"$d/etc/app/$(printf 'caf\xc3\xa9')"
}

make_tree "$WORK/a"
make_tree "$WORK/b"
find "$WORK/b" -exec touch -h -d '2030-01-01' {} +  # newer mtimes: clamped away

strata --json layer pack "$WORK/a" -o "$WORK/a.tar.zst" --source-date-epoch 1700000000 >"$WORK/a.json"
strata --json layer pack "$WORK/b" -o "$WORK/b.tar.zst" --source-date-epoch 1700000000 >"$WORK/b.json"
digest=$(json_get "$WORK/a.json" 'd["digest"]')
[ "$digest" = "$(json_get "$WORK/b.json" 'd["digest"]')" ] || fail "same tree, different digest"
[ "$digest" = "sha256:$(sha256sum "$WORK/a.tar.zst" | cut -d' ' -f1)" ] ||
  fail "printed digest is not the file's sha256"
[ "$(json_get "$WORK/a.json" 'd["media_type"]')" = "application/vnd.oci.image.layer.v1.tar+zstd" ] ||
  fail "wrong media type"
diff_id=$(json_get "$WORK/a.json" 'd["diff_id"]')
[ "$diff_id" = "sha256:$(zstd -dc "$WORK/a.tar.zst" | sha256sum | cut -d' ' -f1)" ] ||
  fail "diff_id is not the sha256 of the uncompressed tar"
pass "pack is reproducible; digest and diff_id match the bytes"

# SOURCE_DATE_EPOCH from the environment is the default.
SOURCE_DATE_EPOCH=1700000000 strata --json layer pack "$WORK/b" -o "$WORK/c.tar.zst" >"$WORK/c.json"
[ "$(json_get "$WORK/c.json" 'd["digest"]')" = "$digest" ] || fail "SOURCE_DATE_EPOCH ignored"
pass "SOURCE_DATE_EPOCH from the environment"

strata layer pack "$WORK/a" -o "$WORK/a.tar" --compression none --source-date-epoch 1700000000 \
  >"$WORK/plain.txt"
grep -q "^diff_id: *$diff_id" "$WORK/plain.txt" || fail "uncompressed layer has another diff_id"
tar -tvf "$WORK/a.tar" >"$WORK/list" || fail "GNU tar rejects the layer"
grep -q 'usr/bin/tool-hard link to usr/bin/tool' "$WORK/list" || fail "hardlink lost"
grep -q "$(printf 'm%.0s' {1..150})/f" "$WORK/list" || fail "long path lost"
grep -q '2023-11-14' "$WORK/list" || fail "mtime not clamped to SOURCE_DATE_EPOCH"
pass "GNU tar lists the layer"

strata --json layer pack "$WORK/a" -o "$WORK/a.tar.gz" --compression gzip --level 9 \
  --source-date-epoch 1700000000 >"$WORK/gz.json"
gzip -t "$WORK/a.tar.gz" || fail "gzip rejects the layer"
[ "$(head -c 10 "$WORK/a.tar.gz" | od -An -tx1 | tr -d ' \n')" = "1f8b08000000000002ff" ] ||
  fail "gzip header is not fixed (no name, mtime 0, OS 255)"
[ "$(json_get "$WORK/gz.json" 'd["diff_id"]')" = "$diff_id" ] || fail "gzip layer diff_id differs"
pass "gzip layer"

# Worker count never changes the bytes.
strata --json layer pack "$WORK/a" -o "$WORK/t1.tar.zst" --threads 1 --source-date-epoch 1700000000 >"$WORK/t1.json"
strata --json layer pack "$WORK/a" -o "$WORK/t4.tar.zst" --threads 4 --source-date-epoch 1700000000 >"$WORK/t4.json"
[ "$(json_get "$WORK/t1.json" 'd["digest"]')" = "$(json_get "$WORK/t4.json" 'd["digest"]')" ] ||
  fail "zstd output depends on the thread count"
pass "zstd output independent of --threads"

# Round trip through the safe unpacker, verified against the digest first.
strata layer unpack "$WORK/a.tar.zst" "$WORK/unpacked" --digest "$digest" >/dev/null
diff -r --no-dereference "$WORK/a" "$WORK/unpacked" || fail "unpacked tree differs from the packed one"
[ "$(stat -c %i "$WORK/unpacked/usr/bin/tool")" = "$(stat -c %i "$WORK/unpacked/usr/bin/tool-hard")" ] ||
  fail "hardlink not restored"
pass "unpack round trip"

expect_fail 5 strata layer unpack "$WORK/a.tar.zst" "$WORK/never" \
  --digest sha256:0000000000000000000000000000000000000000000000000000000000000000
[ ! -e "$WORK/never" ] || fail "a layer with the wrong digest was unpacked"
pass "wrong digest refused before unpacking"

expect_fail 3 strata layer pack "$WORK/a" -o "$WORK/x.tar" --level 99
expect_fail 3 strata layer unpack "$WORK/a/etc/app/conf" "$WORK/y"
grep -q -- '--media-type' "$WORK/err" || fail "unknown format without a hint"
pass "bad arguments"
