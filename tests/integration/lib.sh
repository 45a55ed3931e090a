# Shared helpers for the black-box integration tests (sourced, not run).
# Environment from ctest: STRATA_BIN, STRATA_SOURCE_DIR, STRATA_BUILD_DIR.
set -euo pipefail

: "${STRATA_BIN:?STRATA_BIN must name the strata binary}"
: "${STRATA_SOURCE_DIR:?STRATA_SOURCE_DIR must name the source tree}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-it.XXXXXX")
export STRATA_HOME="$WORK/store"
# on_exit FUNCTION: run FUNCTION (e.g. one that stops a server) when the test exits. The
# test's exit status is kept whatever the hooks return.
EXIT_HOOKS=()
on_exit() {
  EXIT_HOOKS+=("$1")
}
cleanup() {
  local rc=$?
  local hook
  for hook in "${EXIT_HOOKS[@]}"; do
    "$hook" || true
  done
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

pass() {
  echo "ok: $*"
}

# Runs strata. Start servers with "$STRATA_BIN" itself, not this function, when backgrounding
# them: `strata ... &` forks a subshell, so $! is the subshell and killing it leaves the
# server running.
strata() {
  "$STRATA_BIN" "$@"
}

# json_get FILE EXPR: evaluates a Python expression over the parsed JSON document `d`.
json_get() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# expect_fail CODE CMD...: the command must exit with CODE; its stderr is in $WORK/err.
expect_fail() {
  local want=$1
  shift
  set +e
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  set -e
  if [ "$rc" -ne "$want" ]; then
    cat "$WORK/out" "$WORK/err" >&2
    fail "expected exit $want, got $rc: $*"
  fi
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# require_tools TOOL...: fail (never skip) when a peer the test needs is missing.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is required for this test (see scripts/setup.sh)"
  done
}
