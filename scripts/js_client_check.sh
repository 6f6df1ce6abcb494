#!/usr/bin/env bash
# Check the official JavaScript client, camunda-external-task-client-js@3.1.0, unmodified, against a
# real `extask serve`.
#
# 1. installs the client with npm into a temporary directory (nothing lands in the repository),
# 2. starts `extask serve` on a free port with a temporary SQLite database,
# 3. runs scripts/js_client_check.mjs: a worker subscribed to fresh topics that completes with typed
#    variables, fails with retries 0 (incident, PUT retries, fetched again), throws a BPMN error,
#    extends and releases its lock; every effect is verified over HTTP,
# 4. stops the server it started (by its pid) and removes the temporary directory.
#
# Usage: scripts/js_client_check.sh          (PYTHON=/path/to/python to choose the interpreter)
# Exit status: 0 all scenarios passed, 1 a scenario failed, 2 the server did not start or a tool is
# missing, 75 the client could not be installed (npm registry unreachable).

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENT_PACKAGE="camunda-external-task-client-js@3.1.0"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON="python3"; fi
fi
READY_SECONDS=20

for tool in node npm "$PYTHON"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "js_client_check: '$tool' is not installed" >&2
    exit 2
  fi
done

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/extask-js-client.XXXXXX")"
SERVER_PID=""

cleanup() {
  local status=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK_DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The client, from the registry, into the temporary directory.
echo "== installing $CLIENT_PACKAGE into $WORK_DIR"
echo '{"name": "extask-js-client-check", "private": true}' >"$WORK_DIR/package.json"
if ! (cd "$WORK_DIR" && npm install --no-audit --no-fund --no-package-lock --loglevel=error \
        --fetch-retries=1 --fetch-timeout=30000 "$CLIENT_PACKAGE" >"$WORK_DIR/npm.log" 2>&1); then
  echo "js_client_check: npm install $CLIENT_PACKAGE failed:" >&2
  cat "$WORK_DIR/npm.log" >&2
  exit 75
fi
echo "   installed: $(node -p "require('$WORK_DIR/node_modules/camunda-external-task-client-js/package.json').version")"

# 2. The server, on a free port, with a temporary SQLite database.
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE_URL="http://127.0.0.1:$PORT/engine-rest"
echo "== starting extask serve on $BASE_URL"
(
  cd "$REPO_ROOT"
  unset EXTASK_DATABASE_URL
  exec "$PYTHON" -c "from extask.infrastructure.cli import main; main()" serve \
    --host 127.0.0.1 --port "$PORT" --database-url "sqlite:///$WORK_DIR/extask.db"
) >"$WORK_DIR/server.log" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 $((READY_SECONDS * 10))); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
  if node -e "fetch('$BASE_URL/version').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "js_client_check: extask serve did not answer GET $BASE_URL/version within $READY_SECONDS s; its output:" >&2
  cat "$WORK_DIR/server.log" >&2
  exit 2
fi
echo "   ready (pid $SERVER_PID)"

# 3. The worker scenarios.
echo "== running scripts/js_client_check.mjs"
status=0
EXTASK_BASE_URL="$BASE_URL" JS_CLIENT_DIR="$WORK_DIR" node "$REPO_ROOT/scripts/js_client_check.mjs" || status=$?
if [[ $status -ne 0 ]]; then
  echo "== extask serve output (tail)" >&2
  tail -n 50 "$WORK_DIR/server.log" >&2
  echo "js_client_check: FAILED (status $status)" >&2
  exit 1
fi
echo "js_client_check: OK"
