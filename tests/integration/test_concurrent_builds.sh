#!/usr/bin/env bash
# Several strata processes building at once into one store all succeed and leave it
# consistent (cache verify is clean, every image is readable).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"

make_project "$WORK/p1"
make_project "$WORK/p2"
printf 'other\n' >"$WORK/p2/app/lib/helper.txt"
pids=()
for i in 1 2 3 4; do
  p=$(( (i % 2) + 1 ))
  strata -q build "$WORK/p$p" --tag "img$i" -o "oci:$WORK/out$i:latest" >"$WORK/log$i" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { cat "$WORK/log$((i + 1))"; fail "concurrent build $((i + 1)) failed"; }
done
pass "4 concurrent builds succeeded"

strata cache verify >"$WORK/verify.txt" || { cat "$WORK/verify.txt"; fail "store inconsistent after concurrent builds"; }
for i in 1 2 3 4; do
  skopeo inspect "oci:$WORK/out$i:latest" >/dev/null || fail "image $i unreadable"
done
[ "$(skopeo inspect "oci:$WORK/out1:latest" | json_get /dev/stdin 'd["Digest"]')" = \
  "$(skopeo inspect "oci:$WORK/out3:latest" | json_get /dev/stdin 'd["Digest"]')" ] ||
  fail "the same recipe built concurrently gave two digests"
pass "store consistent"
