#!/usr/bin/env bash
# Runs the ARM builds of packaging/build-arm.sh under qemu-user, as a peer would see them:
#
#   packaging/test-arm.sh [TARGET...]      (default: both; HEARTH_PROFILE as for the build)
#
# Each binary starts `hearth serve` with a fresh config and data folder, answers
# GET /_matrix/client/versions, and serves a key document signed with the key it generated
# (checked with signedjson by packaging/check_server.py, from .venv). Prints size and idle
# RSS: the qemu process's VmRSS, which includes the emulator, and an estimate of hearth's own
# part: that minus qemu's translated-code buffer and minus the same for qemu running an idle
# C program (pause()) on the same glibc (still counting qemu's per-thread memory). HEARTH_PKG_NET (default 127.0.101) names the addresses used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
PROFILE="${HEARTH_PROFILE:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
NET="${HEARTH_PKG_NET:-127.0.101}"
PY="$REPO/.venv/bin/python"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
profile_dir="$PROFILE"
[ "$PROFILE" = dev ] && profile_dir=debug

passed=0
failed=0
check() { # DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $what"
  else
    failed=$((failed + 1))
    echo "FAIL $what"
  fi
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-arm-test.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Resident kB of qemu's translated-code buffer: its one anonymous read-write-execute mapping.
code_kb() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / {code = ($2 == "rwxp" && NF == 5)} code && /^Rss:/ {s += $2}
       END {print s + 0}' "/proc/$1/smaps"
}

host=2
for target in "${targets[@]}"; do
  case "$target" in
    aarch64-unknown-linux-gnu) qemu=qemu-aarch64-static gnu=aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) qemu=qemu-arm-static gnu=arm-linux-gnueabihf ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  run=("$qemu" -L "/usr/$gnu")
  bin="$TARGET_DIR/$target/$profile_dir/hearth"
  echo "---- $target ($bin)"
  [ -x "$bin" ] || { echo "no binary at $bin: run packaging/build-arm.sh first" >&2; exit 1; }
  check "$target: the binary is an ARM executable" bash -c "file -b '$bin' | grep -q ARM"
  check "$target: hearth version runs under qemu" bash -c "${run[*]} '$bin' version | grep -q '^hearth '"

  dir="$WORK/$target"
  mkdir -p "$dir"
  addr="$NET.$host:18448"
  host=$((host + 1))
  cat >"$dir/hearth.toml" <<EOF
server_name = "$target.test"
data_dir = "$dir/data"
[[listen]]
addr = "$addr"
EOF
  "${run[@]}" "$bin" serve --config "$dir/hearth.toml" >"$dir/serve.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do
    curl -sf "http://$addr/_matrix/client/versions" >/dev/null && break
    sleep 0.1
  done
  check "$target: serves versions and a key document signed with its key" \
    "$PY" packaging/check_server.py "http://$addr" "$target.test" "$dir/data/signing.key"
  sleep 2
  if ! kill -0 "$pid" 2>/dev/null; then
    failed=$((failed + 1))
    echo "FAIL $target: hearth serve exited:"
    sed 's/^/     serve.log: /' "$dir/serve.log"
    continue
  fi
  rss="$(rss_kb "$pid")"
  code="$(code_kb "$pid")"

  # The emulator's own share: the same qemu running an idle program on the same glibc.
  printf '#include <unistd.h>\nint main(void) { pause(); return 0; }\n' >"$dir/idle.c"
  "$gnu-gcc" -O2 -o "$dir/idle" "$dir/idle.c"
  "${run[@]}" "$dir/idle" &
  idle_pid=$!
  pids+=("$idle_pid")
  sleep 2
  base="$(rss_kb "$idle_pid")"
  base_code="$(code_kb "$idle_pid")"
  kill "$pid" "$idle_pid"
  wait "$pid" "$idle_pid" 2>/dev/null || true
  echo "     $target: $(stat -c %s "$bin") bytes; idle VmRSS under qemu $rss kB" \
    "(translated code $code kB); qemu with an idle C program $base kB (code $base_code kB);" \
    "hearth's estimated own part $((rss - code - base + base_code)) kB"
  [ "$failed" -eq 0 ] || sed 's/^/     serve.log: /' "$dir/serve.log"
done

echo "arm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
