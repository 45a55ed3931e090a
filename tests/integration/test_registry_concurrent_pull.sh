#!/usr/bin/env bash
# 16 clients pull the same image at once from `strata registry serve`: every `strata pull`
# (each into its own store, half of them with --unpack) must succeed with the pushed
# digest, every store must verify, the unpacked trees must be identical, and 16 concurrent
# plain GETs of the largest layer must all hash to its digest. The server keeps serving.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fixtures.sh"
require_tools curl python3 sha256sum

clients=16
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
on_exit stop_server

# An image with a few MiB of incompressible data, so that the transfers overlap.
make_project "$WORK/proj"
head -c 6000000 /dev/urandom >"$WORK/proj/data/big.bin"
strata --json build "$WORK/proj" --tag conc:v1 >"$WORK/build.json"
manifest=$(json_get "$WORK/build.json" 'd["manifest"]')

port=$(free_port)
"$STRATA_BIN" -q registry serve --root "$WORK/reg" --addr "127.0.0.1:$port" --threads 8 \
  >"$WORK/server.out" 2>"$WORK/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited early: $(cat "$WORK/server.err")"
  sleep 0.1
done
reg="127.0.0.1:$port"
[ "$(strata -q push conc:v1 "$reg/team/conc:v1")" = "$manifest" ] || fail "push"

# 16 pulls at once against a server started with 8 threads: its pool must grow, else
# clients wait for idle keep-alive connections to time out (this took 20 s instead of 2).
start=$(date +%s)
pull_pids=()
for n in $(seq 1 "$clients"); do
  args=()
  if [ $((n % 2)) -eq 0 ]; then
    args=(--unpack "$WORK/rootfs$n")
  fi
  STRATA_HOME="$WORK/node$n" "$STRATA_BIN" -q pull "$reg/team/conc:v1" "${args[@]}" \
    >"$WORK/pull$n.out" 2>"$WORK/pull$n.err" &
  pull_pids+=($!)
done
failed=0
for n in $(seq 1 "$clients"); do
  if ! wait "${pull_pids[$((n - 1))]}"; then
    echo "pull $n failed: $(cat "$WORK/pull$n.err")" >&2
    failed=$((failed + 1))
  fi
done
[ "$failed" -eq 0 ] || fail "$failed of $clients concurrent pulls failed"
elapsed=$(($(date +%s) - start))
[ "$elapsed" -le 10 ] || fail "$clients concurrent pulls of a 6 MB image took $elapsed s (threads starved?)"
for n in $(seq 1 "$clients"); do
  got=$(tail -1 "$WORK/pull$n.out")
  [ "$got" = "$manifest" ] || fail "pull $n printed '$got', expected $manifest"
  STRATA_HOME="$WORK/node$n" "$STRATA_BIN" -q cache verify >/dev/null 2>"$WORK/verify$n.err" ||
    fail "the store of pull $n does not verify: $(cat "$WORK/verify$n.err")"
done
tree() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort && find . -type f -exec sha256sum {} + | sort); }
tree "$WORK/rootfs2" >"$WORK/tree2"
grep -q "srv/data/big.bin" "$WORK/tree2" || fail "the unpacked tree lacks srv/data/big.bin"
for n in $(seq 4 2 "$clients"); do
  diff -q "$WORK/tree2" <(tree "$WORK/rootfs$n") >/dev/null || fail "unpacked tree $n differs from tree 2"
done
pass "$clients concurrent pulls: same digest, stores verify, identical trees"

# 16 plain GETs of the largest layer at once; each must hash to the layer's digest.
strata --json inspect conc:v1 >"$WORK/inspect.json"
layer=$(json_get "$WORK/inspect.json" 'max(d["manifest"]["layers"], key=lambda l: l["size"])["digest"]')
get_pids=()
for n in $(seq 1 "$clients"); do
  (curl -fsS "http://$reg/v2/team/conc/blobs/$layer" | sha256sum | cut -d' ' -f1 >"$WORK/get$n") &
  get_pids+=($!)
done
for p in "${get_pids[@]}"; do wait "$p" || fail "a concurrent blob GET failed"; done
for n in $(seq 1 "$clients"); do
  [ "sha256:$(cat "$WORK/get$n")" = "$layer" ] || fail "GET $n of $layer hashed to $(cat "$WORK/get$n")"
done
curl -fsS -o /dev/null "http://$reg/v2/" || fail "the server stopped answering"
pass "$clients concurrent blob GETs verify"
