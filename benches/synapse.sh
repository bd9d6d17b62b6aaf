#!/usr/bin/env bash
# The same two benchmarks as benches/run.sh (send -> sync latency, wrk send throughput)
# against Synapse from PyPI (the .venv made from tests/requirements.txt), for the ratios
# README's "Measured" table gives. Synapse runs with SQLite, plain HTTP on 127.0.0.1, open
# registration and its rate limits lifted (as in tests/interop/lab.sh).
#
#   bash benches/synapse.sh
#
# Environment: BENCH_MESSAGES (default 200: Synapse is slow), BENCH_SECONDS (default 10),
# BENCH_SYNAPSE_PORT (default 18449), HEARTH_LAB_PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
PY="${HEARTH_LAB_PYTHON:-$REPO/.venv/bin/python}"
PORT="${BENCH_SYNAPSE_PORT:-18449}"
MESSAGES="${BENCH_MESSAGES:-200}"
SECONDS_WRK="${BENCH_SECONDS:-10}"
[ -x "$PY" ] || { echo "no $PY: python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt" >&2; exit 2; }
command -v wrk >/dev/null || apt-get install -y -q wrk </dev/null >/dev/null

WORK="$(mktemp -d "${CARGO_TARGET_DIR:-$REPO/target}/synapse-bench.XXXXXX")"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/log.config" <<YAML
version: 1
formatters: {f: {format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}
handlers: {file: {class: logging.FileHandler, formatter: f, filename: $WORK/homeserver.log}}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
YAML
cat >"$WORK/homeserver.yaml" <<YAML
server_name: "bench.test"
pid_file: $WORK/homeserver.pid
listeners:
  - {port: $PORT, bind_addresses: ["127.0.0.1"], type: http, tls: false, x_forwarded: false,
     resources: [{names: [client], compress: false}]}
database: {name: sqlite3, args: {database: $WORK/homeserver.db}}
log_config: $WORK/log.config
media_store_path: $WORK/media
signing_key_path: $WORK/signing.key
trusted_key_servers: []
report_stats: false
enable_registration: true
enable_registration_without_verification: true
rc_message: {per_second: 100000, burst_count: 100000}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_login: {address: {per_second: 1000, burst_count: 1000}, account: {per_second: 1000, burst_count: 1000}, failed_attempts: {per_second: 1000, burst_count: 1000}}
rc_joins: {local: {per_second: 1000, burst_count: 1000}, remote: {per_second: 1000, burst_count: 1000}}
rc_invites: {per_room: {per_second: 1000, burst_count: 1000}, per_user: {per_second: 1000, burst_count: 1000}, per_issuer: {per_second: 1000, burst_count: 1000}}
YAML
(cd "$WORK" && "$PY" -m synapse.app.homeserver -c homeserver.yaml --generate-keys >/dev/null 2>&1)
"$PY" -m synapse.app.homeserver -c "$WORK/homeserver.yaml" >"$WORK/synapse.out" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/_matrix/client/versions" && break
  kill -0 "$PID" 2>/dev/null || { tail -30 "$WORK/synapse.out" "$WORK/homeserver.log" >&2; exit 1; }
  sleep 0.1
done
BASE="http://127.0.0.1:$PORT"
echo "== Synapse $("$PY" -c 'from importlib.metadata import version; print(version("matrix-synapse"))') (SQLite), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "idle RSS: $(awk '/^VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$PID/status")"
echo "== send -> sync latency ($MESSAGES messages)"
python3 benches/latency.py "$BASE" --messages "$MESSAGES" --warmup 5
echo "== throughput: wrk -t2 -c8 -d${SECONDS_WRK}s, PUT /send into one room"
read -r TOKEN ROOM < <(python3 benches/latency.py "$BASE" --setup-sender)
BENCH_TOKEN="$TOKEN" BENCH_ROOM="$ROOM" BENCH_RUN="$(date +%s)" \
  wrk -t2 -c8 -d"${SECONDS_WRK}s" --latency --timeout 10s -s benches/send.lua "$BASE" | tail -2
