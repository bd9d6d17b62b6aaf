#!/usr/bin/env bash
# hearth's benchmarks: printed numbers for README's "Measured" table, never timed tests.
#
#   cargo build --release && bash benches/run.sh
#
# Starts the release binary on a fresh data folder (plain HTTP on 127.0.0.1, open
# registration) and prints, in this order:
#   1. binary size, and idle RSS of `hearth serve` after a few requests;
#   2. send -> sync latency (benches/latency.py: A sends, B's long-polling /sync answers;
#      median/p90/p99 over BENCH_MESSAGES messages, default 500);
#   3. throughput: wrk, 2 threads, 8 connections, BENCH_SECONDS (default 10) s of
#      PUT /send/m.room.message with unique transaction IDs into one room (benches/send.lua);
#   4. RSS after the load.
# Environment: HEARTH_BIN (default ${CARGO_TARGET_DIR:-target}/release/hearth),
# BENCH_DATA_DIR (default: a temporary folder on the same disk as the repo; a tmpfs such as
# /dev/shm shows what the server costs without waiting for fsync), BENCH_PORT (default 18448),
# BENCH_DURABILITY (`[database] durability`: written, the default, or flushed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
BIN="${HEARTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hearth}"
PORT="${BENCH_PORT:-18448}"
MESSAGES="${BENCH_MESSAGES:-500}"
SECONDS_WRK="${BENCH_SECONDS:-10}"
PY="${PYTHON:-python3}"

[ -x "$BIN" ] || { echo "no release binary at $BIN: run cargo build --release first" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  apt-get install -y -q wrk </dev/null >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk </dev/null >/dev/null; }
fi

WORK="$(mktemp -d "${BENCH_DATA_DIR:-${CARGO_TARGET_DIR:-$REPO/target}}/hearth-bench.XXXXXX")"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/hearth.toml" <<EOF
server_name = "bench.test"
data_dir = "$WORK/data"

[[listen]]
addr = "127.0.0.1:$PORT"

[registration]
open = true

[database]
durability = "${BENCH_DURABILITY:-written}"
EOF
"$BIN" serve --config "$WORK/hearth.toml" 2>"$WORK/hearth.log" &
PID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/_matrix/client/versions" && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/hearth.log" >&2; exit 1; }
  sleep 0.1
done
BASE="http://127.0.0.1:$PORT"
rss() { awk '/^VmRSS/ {printf "%.1f MB (%d kB)", $2/1024, $2}' "/proc/$PID/status"; }

echo "== $("$BIN" version 2>/dev/null || echo hearth): $BIN (built $(date -u -r "$BIN" +%FT%TZ); repo at $(git rev-parse --short HEAD 2>/dev/null || echo '?')), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data folder: $WORK ($(df -P "$WORK" | awk 'NR==2 {print $1}')), durability ${BENCH_DURABILITY:-written}"
echo "binary: $(stat -c %s "$BIN") bytes ($(awk -v b="$(stat -c %s "$BIN")" 'BEGIN {printf "%.1f MB", b/1e6}'))"
for path in /_matrix/client/versions /_matrix/client/v3/login /_matrix/key/v2/server /.well-known/matrix/client; do
  curl -s -o /dev/null "$BASE$path"
done
sleep 1
echo "idle RSS after a few requests: $(rss)"

echo "== send -> sync latency ($MESSAGES messages)"
"$PY" benches/latency.py "$BASE" --messages "$MESSAGES"

echo "== throughput: wrk -t2 -c8 -d${SECONDS_WRK}s, PUT /send into one room"
read -r TOKEN ROOM < <("$PY" benches/latency.py "$BASE" --setup-sender)
BENCH_TOKEN="$TOKEN" BENCH_ROOM="$ROOM" BENCH_RUN="$(date +%s)" \
  wrk -t2 -c8 -d"${SECONDS_WRK}s" --latency -s benches/send.lua "$BASE" | tail -2
echo "RSS after the load: $(rss)"
