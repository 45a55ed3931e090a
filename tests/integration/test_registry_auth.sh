#!/usr/bin/env bash
# Black-box test of `strata registry serve` with auth and TLS against skopeo: users from an
# htpasswd file written by `htpasswd -B`, ACLs and TLS from a --config file, a self-signed
# certificate from `openssl req -x509`. skopeo logs in, pushes an umoci-made image and
# copies it back; a wrong password, an anonymous push and a push outside the ACL fail;
# anonymous pull works because the config allows it.
source "$(dirname "$0")/lib.sh"
require_tools skopeo umoci curl python3 openssl htpasswd

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

# Users (bcrypt, cost 5 to keep the test fast), certificate, config.
htpasswd -cbB -C 5 "$work/users.htpasswd" alice alice-secret 2>/dev/null
htpasswd -bB -C 5 "$work/users.htpasswd" bob bob-secret 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null || fail "openssl req"
cat >"$work/registry.toml" <<TOML
[auth]
htpasswd = "users.htpasswd"
token_ttl = "5m"
anonymous_pull = true

[[acl]]
users = ["alice"]
repositories = ["test/*"]
actions = ["pull", "push", "delete"]

[[acl]]
users = ["*"]
repositories = ["*"]
actions = ["pull"]

[tls]
cert = "cert.pem"
key = "key.pem"
TOML

# A config with an unknown key is refused with its position.
printf '[auth]\nhtpasswd = "users.htpasswd"\nrealmm = "x"\n' >"$work/bad.toml"
if "$STRATA_BIN" registry serve --root "$work/root" --config "$work/bad.toml" \
  >/dev/null 2>"$work/bad.err"; then
  fail "a config with an unknown key was accepted"
fi
grep -q "bad.toml:3:1" "$work/bad.err" || fail "no position in: $(cat "$work/bad.err")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$STRATA_BIN" registry serve --root "$work/root" --addr "127.0.0.1:$port" \
  --config "$work/registry.toml" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on https://127.0.0.1:$port" "$work/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited early"
  sleep 0.1
done
grep -q "listening on https://127.0.0.1:$port" "$work/server.out" || fail "the server did not start"
base="https://127.0.0.1:$port"

# The challenge, over TLS.
headers=$(curl -ksS -D - -o /dev/null "$base/v2/" | tr -d '\r')
grep -q '^HTTP/1.1 401' <<<"$headers" || fail "GET /v2/ without credentials: $headers"
grep -qi "^WWW-Authenticate: Bearer realm=\"$base/v2/token\",service=\"strata\"" <<<"$headers" \
  || fail "challenge: $headers"

# An image made by umoci.
export SOURCE_DATE_EPOCH=1700000000
umoci init --layout "$work/src" >/dev/null
umoci new --image "$work/src:t" >/dev/null
umoci unpack --rootless --image "$work/src:t" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/etc"
echo "hello from strata over tls" >"$work/bundle/rootfs/etc/motd"
head -c 200000 /dev/urandom >"$work/bundle/rootfs/etc/random.bin"
umoci repack --image "$work/src:t" "$work/bundle" >/dev/null

export REGISTRY_AUTH_FILE="$work/auth.json"
ref="127.0.0.1:$port/test/img"

# Wrong password: login fails and stores nothing.
if skopeo login --tls-verify=false -u alice -p wrong "127.0.0.1:$port" >"$work/login.out" 2>&1; then
  fail "login with a wrong password succeeded"
fi
# Anonymous push is refused.
if skopeo copy --quiet --dest-tls-verify=false --dest-no-creds "oci:$work/src:t" \
  "docker://$ref:anon" >"$work/anon.out" 2>&1; then
  fail "anonymous push succeeded"
fi

skopeo login --tls-verify=false -u alice -p alice-secret "127.0.0.1:$port" >/dev/null \
  || fail "skopeo login as alice"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:t" "docker://$ref:t" \
  || fail "skopeo copy to the registry as alice"
# alice may not push outside test/*.
if skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:t" \
  "docker://127.0.0.1:$port/other/img:t" >"$work/other.out" 2>&1; then
  fail "alice pushed outside her repositories"
fi
skopeo copy --quiet --src-tls-verify=false "docker://$ref:t" "oci:$work/dst:t" \
  || fail "skopeo copy back as alice"
# Anonymous pull is allowed by the config.
skopeo inspect --tls-verify=false --no-creds "docker://$ref:t" >"$work/inspect.json" \
  || fail "anonymous skopeo inspect"
skopeo logout "127.0.0.1:$port" >/dev/null

# bob may pull but not push.
skopeo login --tls-verify=false -u bob -p bob-secret "127.0.0.1:$port" >/dev/null \
  || fail "skopeo login as bob"
skopeo copy --quiet --src-tls-verify=false "docker://$ref:t" "oci:$work/bob:t" \
  || fail "bob's pull"
if skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:t" "docker://$ref:bob" \
  >"$work/bob.out" 2>&1; then
  fail "bob pushed without push rights"
fi

# Every blob of the source layout arrived unchanged.
(cd "$work/dst/blobs" && find . -type f | sort) >"$work/dst.list"
[[ -s "$work/dst.list" ]] || fail "nothing was copied back"
while read -r blob; do
  cmp -s "$work/src/blobs/$blob" "$work/dst/blobs/$blob" || fail "blob $blob differs or is missing"
done <"$work/dst.list"

kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not exit 0 on SIGTERM"
server_pid=""
echo "PASS: registry auth and TLS with skopeo"
