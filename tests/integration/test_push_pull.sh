#!/usr/bin/env bash
# strata push/pull/copy/tags against `strata registry serve` and against Debian's
# docker-registry (distribution), checked with skopeo and umoci.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
for tool in skopeo umoci python3 curl; do
  command -v "$tool" >/dev/null || fail "$tool is required (Debian package $tool)"
done
[ -x /usr/bin/docker-registry ] || fail "/usr/bin/docker-registry is required (Debian package docker-registry)"

pids=()
stop_servers() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
on_exit stop_servers

# wait_v2 URL: until GET URL/v2/ answers.
wait_v2() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1/v2/" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "no registry answered at $1/v2/"
}

# An image in the store, gzip layers so that Debian 12's umoci can read it.
make_project "$WORK/proj"
sed 's/^source_date_epoch = .*/&\ncompression = "gzip"/' "$WORK/proj/strata.toml" >"$WORK/proj/gzip.toml"
strata --json build "$WORK/proj/gzip.toml" --tag hello:gz -o "oci:$WORK/layout:v1" >"$WORK/build.json"
manifest=$(json_get "$WORK/build.json" 'd["manifest"]')

port=$(free_port)
"$STRATA_BIN" registry serve --root "$WORK/reg" --addr "127.0.0.1:$port" >"$WORK/serve.out" 2>"$WORK/serve.err" &
pids+=($!)
wait_v2 "http://127.0.0.1:$port"
reg="127.0.0.1:$port"

# Push a store tag; the registry and skopeo agree on the digest.
pushed=$(strata -q push hello:gz "$reg/team/hello:v1")
[ "$pushed" = "$manifest" ] || fail "push printed $pushed, the build made $manifest"
skopeo inspect --tls-verify=false "docker://$reg/team/hello:v1" >"$WORK/inspect.json"
[ "$(json_get "$WORK/inspect.json" 'd["Digest"]')" = "$manifest" ] || fail "skopeo sees another digest"
pass "push of a store tag: $manifest"

# A second push uploads nothing; pushing an OCI layout to another repository mounts nothing
# (no --mount-from) but uploads; --mount-from mounts.
strata --json push hello:gz "$reg/team/hello:v2" >"$WORK/push2.json"
[ "$(json_get "$WORK/push2.json" 'd["uploaded"]')" = 0 ] || fail "second push uploaded blobs again"
strata --json push "oci:$WORK/layout:v1" "docker://$reg/team/mounted:v1" --mount-from team/hello >"$WORK/push3.json"
[ "$(json_get "$WORK/push3.json" 'd["uploaded"]')" = 0 ] || fail "push with --mount-from uploaded"
[ "$(json_get "$WORK/push3.json" 'd["mounted"]')" -gt 0 ] || fail "push with --mount-from mounted nothing"
pass "second push skips, --mount-from mounts"

[ "$(strata tags "$reg/team/hello" --page-size 1 | tr '\n' ' ')" = "v1 v2 " ] || fail "tags"
pass "tags with paging"

# Pull into an empty store: same digest, tagged, inspectable.
export STRATA_HOME="$WORK/store2"
pulled=$(strata -q pull "$reg/team/hello:v1")
[ "$pulled" = "$manifest" ] || fail "pull gave $pulled"
strata --json inspect "$reg/team/hello:v1" >"$WORK/inspect2.json"
[ "$(json_get "$WORK/inspect2.json" 'd["digest"]')" = "$manifest" ] || fail "inspect of the pulled tag"
strata --json inspect "docker://$reg/team/hello:v1" >"$WORK/inspect3.json"
[ "$(json_get "$WORK/inspect3.json" 'd["digest"]')" = "$manifest" ] || fail "inspect docker://"
pass "pull into an empty store; inspect from the store and from the registry"

# pull --unpack gives the tree umoci unpacks from the same image.
strata -q pull "$reg/team/hello:v1" --unpack "$WORK/rootfs" >/dev/null
umoci unpack --rootless --image "$WORK/layout:v1" "$WORK/bundle" >/dev/null
tree() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort); }
diff <(tree "$WORK/rootfs") <(tree "$WORK/bundle/rootfs") || fail "pull --unpack differs from umoci unpack"
diff -r "$WORK/rootfs" "$WORK/bundle/rootfs" >/dev/null || fail "file contents differ from umoci unpack"
expect_fail 3 strata pull "$reg/team/hello:v1" --unpack "$WORK/rootfs"
grep -q -- "--force" "$WORK/err" || fail "non-empty --unpack directory: $(cat "$WORK/err")"
pass "pull --unpack matches umoci"

# copy registry -> OCI layout keeps the digest.
strata -q copy "$reg/team/hello:v1" "oci:$WORK/copy:c1" >/dev/null
[ "$(skopeo inspect "oci:$WORK/copy:c1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')" = "$manifest" ] ||
  fail "copy to a layout changed the digest"
strata -q copy "oci:$WORK/layout:v1" copied:v1 >/dev/null
strata --json inspect copied:v1 >"$WORK/inspect4.json"
[ "$(json_get "$WORK/inspect4.json" 'd["digest"]')" = "$manifest" ] || fail "copy to a store tag"
pass "copy to an OCI layout and to a store tag"
unset STRATA_HOME
export STRATA_HOME="$WORK/store"

# Debian's docker-registry (distribution) on loopback.
dport=$(free_port)
mkdir -p "$WORK/dist"
cat >"$WORK/dist/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/dist/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$dport
YML
/usr/bin/docker-registry serve "$WORK/dist/config.yml" >"$WORK/dist.out" 2>&1 &
pids+=($!)
wait_v2 "http://127.0.0.1:$dport"
dpushed=$(strata -q push hello:gz "127.0.0.1:$dport/team/hello:v1")
[ "$dpushed" = "$manifest" ] || fail "push to distribution printed $dpushed"
skopeo inspect --tls-verify=false "docker://127.0.0.1:$dport/team/hello:v1" >"$WORK/dinspect.json"
[ "$(json_get "$WORK/dinspect.json" 'd["Digest"]')" = "$manifest" ] || fail "distribution holds another digest"
export STRATA_HOME="$WORK/store3"
[ "$(strata -q pull "127.0.0.1:$dport/team/hello:v1")" = "$manifest" ] || fail "pull from distribution"
pass "push and pull with docker-registry"
