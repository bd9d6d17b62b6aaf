#!/usr/bin/env bash
# The large-room join benchmark (issue 6): hearth and Synapse each join a remote room of
# 10,000 members (a full-state send_join answer of about 7 MB) held by a synthetic
# resident server (benches/bigjoin/resident.py), all in a private lab (tests/interop/lab.sh).
# Prints the time from the client's POST /join to its 200 and the memory each joiner took.
#
#   cargo build --release && bash benches/bigjoin.sh
#
# Needs root (the lab's mount namespace), dnsmasq-base, openssl, curl, and the .venv of
# tests/requirements.txt (Synapse 1.163.2, signedjson). The room is generated and signed
# once (about 5 s) and cached in BENCH_CACHE_DIR.
# Environment: HEARTH_BIN (default ${CARGO_TARGET_DIR:-target}/release/hearth),
# BENCH_MEMBERS (default 10000), BENCH_LAB_NET (default 127.0.7: addresses .30-.32, DNS .53),
# BENCH_CACHE_DIR (default ${CARGO_TARGET_DIR:-target}/bigjoin-cache), BENCH_LAB_DIR
# (default a fresh folder beside the cache; logs stay in it), BENCH_NO_SYNAPSE=1 (hearth only),
# BENCH_PERF=FILE (record hearth during its join with `perf record -g`; build unstripped:
# CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
BIN="${HEARTH_BIN:-$TARGET/release/hearth}"
PY="${HEARTH_LAB_PYTHON:-$REPO/.venv/bin/python}"
[ -x "$BIN" ] || { echo "no release binary at $BIN: run cargo build --release first" >&2; exit 2; }
[ -x "$PY" ] || { echo "no $PY: python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt" >&2; exit 2; }
CACHE="${BENCH_CACHE_DIR:-$TARGET/bigjoin-cache}"
LAB="${BENCH_LAB_DIR:-$TARGET/bigjoin-lab}"
echo "== large-room join: $("$BIN" version 2>/dev/null || echo hearth) $BIN (built $(date -u -r "$BIN" +%FT%TZ), repo at $(git rev-parse --short HEAD 2>/dev/null || echo '?')), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$PY" benches/bigjoin/run.py --lab "$LAB" --net "${BENCH_LAB_NET:-127.0.7}" --cache "$CACHE" \
  --members "${BENCH_MEMBERS:-10000}" --hearth-bin "$BIN" ${BENCH_NO_SYNAPSE:+--no-synapse} ${BENCH_PERF:+--perf "$BENCH_PERF"}
