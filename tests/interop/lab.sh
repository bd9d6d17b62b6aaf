#!/usr/bin/env bash
# lab.sh: hearth's private federation lab on one machine, loopback only.
#
# Test hosts get real names (LAB/hosts), real DNS with SRV records (dnsmasq),
# certificates from a lab CA, and federation peers: Synapse (pinned version)
# and hearth servers. Processes that must see the lab's names run under
# `lab.sh exec LAB -- CMD`: a private mount namespace in which /etc/hosts and
# /etc/resolv.conf are the lab's own, so the machine's files are never touched.
# Needs root, openssl, curl, dnsmasq (apt-get install dnsmasq-base) and a
# Python with matrix-synapse installed (tests/requirements.txt).
#
#   lab.sh init LAB                        new lab folder: CA, hosts, resolv.conf
#   lab.sh host LAB NAME IP                NAME resolves to IP (NAME ends in .test, IP in 127.0.0.0/8)
#   lab.sh srv LAB SRVNAME TARGET PORT     SRV record, e.g. _matrix-fed._tcp.srv.test hsrv.test 8450
#   lab.sh cert LAB NAME [NAME...]         LAB/certs/NAME.crt (leaf+CA chain) and NAME.key for NAMEs
#   lab.sh dns LAB                         (re)start dnsmasq serving the lab's names and SRV records
#   lab.sh exec LAB -- CMD...              run CMD seeing the lab's /etc/hosts and /etc/resolv.conf
#   lab.sh synapse LAB NAME IP PORT [HOST] start Synapse for server_name NAME, TLS on IP:PORT
#                                          (client+federation+keys); waits until it answers
#   lab.sh hearth LAB ID CONFIG            start `hearth serve --config CONFIG` inside the lab;
#                                          waits until every [[listen]] addr accepts connections
#   lab.sh stop LAB                        stop every process the lab started (TERM, then KILL)
#
# Environment:
#   HEARTH_LAB_DNS_IP  address dnsmasq listens on (default 127.0.5.53; one lab per address)
#   HEARTH_LAB_PYTHON  python with matrix-synapse (default <repo>/.venv/bin/python)
#   HEARTH_BIN         hearth binary (default ${CARGO_TARGET_DIR:-<repo>/target}/debug/hearth)
set -euo pipefail

SYNAPSE_VERSION="1.163.2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$HERE/../.." && pwd)"
DNS_IP="${HEARTH_LAB_DNS_IP:-127.0.5.53}"
PY="${HEARTH_LAB_PYTHON:-$REPO/.venv/bin/python}"
HEARTH_BIN="${HEARTH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/hearth}"

die() { echo "lab.sh: $*" >&2; exit 2; }
abs() { [ -d "$1" ] || die "no lab at $1 (run: lab.sh init $1)"; (cd "$1" && pwd); }
need() { command -v "$1" >/dev/null || die "$1 missing: $2"; }

check_name() { case "$1" in *.test) ;; *) die "name $1 must end in .test";; esac; }
check_ip() {
  [[ "$1" =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "address $1 is not in 127.0.0.0/8"
  local o; for o in "${BASH_REMATCH[@]:1}"; do [ "$o" -le 255 ] || die "bad address $1"; done
}

# Records a started process so `stop` can end it.
remember() { echo "$2" >"$1/pids/$3"; }

cmd_init() {
  [ $# -eq 1 ] || die "usage: init LAB"
  mkdir -p "$1"/{certs,pids,logs}
  local lab; lab="$(abs "$1")"
  # The machine's own name too, so programs that look it up need no DNS.
  printf '127.0.0.1 localhost %s\n::1 localhost\n' "$(uname -n)" >"$lab/hosts"
  echo "nameserver $DNS_IP" >"$lab/resolv.conf"
  : >"$lab/srv"
  if [ ! -f "$lab/certs/ca.crt" ]; then
    need openssl "apt-get install openssl"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -subj "/CN=hearth interop lab CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$lab/certs/ca.key" -out "$lab/certs/ca.crt" 2>/dev/null
  fi
  echo "$lab"
}

cmd_host() {
  [ $# -eq 3 ] || die "usage: host LAB NAME IP"
  local lab; lab="$(abs "$1")"; check_name "$2"; check_ip "$3"
  echo "$3 $2" >>"$lab/hosts"
}

cmd_srv() {
  [ $# -eq 4 ] || die "usage: srv LAB SRVNAME TARGET PORT"
  local lab; lab="$(abs "$1")"; check_name "$2"; check_name "$3"
  [[ "$4" =~ ^[0-9]+$ ]] || die "bad port $4"
  echo "srv-host=$2,$3,$4" >>"$lab/srv"
}

cmd_cert() {
  [ $# -ge 2 ] || die "usage: cert LAB NAME [NAME...]"
  local lab; lab="$(abs "$1")"; shift
  local name="$1" n san=""
  for n in "$@"; do check_name "$n"; san="${san:+$san,}DNS:$n"; done
  local c="$lab/certs/$name"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$c.key" -out "$c.csr" 2>/dev/null
  openssl x509 -req -in "$c.csr" -CA "$lab/certs/ca.crt" -CAkey "$lab/certs/ca.key" \
    -CAcreateserial -days 30 -out "$c.leaf" 2>/dev/null \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$san")
  cat "$c.leaf" "$lab/certs/ca.crt" >"$c.crt"
  rm -f "$c.csr"
  chmod 600 "$c.key"
}

stop_one() {
  local f="$1" pid i
  pid="$(cat "$f" 2>/dev/null || true)"; rm -f "$f"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_dns() {
  [ $# -eq 1 ] || die "usage: dns LAB"
  local lab; lab="$(abs "$1")"
  need dnsmasq "apt-get install dnsmasq-base"
  [ -f "$lab/pids/dnsmasq" ] && stop_one "$lab/pids/dnsmasq"
  {
    echo "listen-address=$DNS_IP"; echo "bind-interfaces"; echo "port=53"
    # Answer only for the lab: nothing is forwarded anywhere.
    echo "no-resolv"; echo "no-hosts"; echo "local=/test/"; echo "local=/localhost/"
    echo "addn-hosts=$lab/hosts"; echo "log-queries"; echo "log-facility=-"
    cat "$lab/srv"
  } >"$lab/dnsmasq.conf"
  dnsmasq --keep-in-foreground --conf-file="$lab/dnsmasq.conf" --user=root \
    >"$lab/logs/dnsmasq.log" 2>&1 &
  remember "$lab" $! dnsmasq
  local i
  for i in $(seq 1 50); do
    grep -q "started" "$lab/logs/dnsmasq.log" 2>/dev/null && return 0
    kill -0 "$(cat "$lab/pids/dnsmasq")" 2>/dev/null || break
    sleep 0.1
  done
  cat "$lab/logs/dnsmasq.log" >&2; die "dnsmasq did not start on $DNS_IP"
}

cmd_exec() {
  [ $# -ge 2 ] || die "usage: exec LAB -- CMD..."
  local lab; lab="$(abs "$1")"; shift; [ "${1:-}" = "--" ] && shift
  # unshare -m makes mounts private to the new namespace (--propagation private),
  # so the bind mounts never reach the machine's own /etc.
  exec unshare -m --propagation private bash -c \
    'mount --bind "$0/hosts" /etc/hosts && mount --bind "$0/resolv.conf" /etc/resolv.conf && exec "$@"' \
    "$lab" "$@"
}

# Waits until the https URL answers (any status), using the lab's address for NAME.
wait_https() {
  local lab="$1" name="$2" ip="$3" port="$4" pidf="$5" log="$6" i
  for i in $(seq 1 240); do
    if curl -s -o /dev/null --max-time 2 --cacert "$lab/certs/ca.crt" --resolve "$name:$port:$ip" \
         "https://$name:$port/_matrix/federation/v1/version"; then return 0; fi
    kill -0 "$(cat "$pidf")" 2>/dev/null || break
    sleep 0.5
  done
  tail -30 "$log" >&2; return 1
}

cmd_synapse() {
  [ $# -ge 4 ] || die "usage: synapse LAB NAME IP PORT [HOST]"
  local lab name ip port host dir
  lab="$(abs "$1")"; name="$2"; ip="$3"; port="$4"; host="${5:-$2}"; dir="$lab/synapse-$name"
  check_name "$name"; check_ip "$ip"
  [ -x "$PY" ] || die "no python at $PY (make the venv from tests/requirements.txt)"
  "$PY" -c "import sys; from importlib.metadata import version; sys.exit(version('matrix-synapse') != '$SYNAPSE_VERSION')" ||
    die "$PY does not have matrix-synapse==$SYNAPSE_VERSION"
  mkdir -p "$dir/media"
  [ -f "$lab/certs/$name.crt" ] || cmd_cert "$lab" "$name" "$host"
  cat >"$dir/log.config" <<YAML
version: 1
formatters: {f: {format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}
handlers: {file: {class: logging.FileHandler, formatter: f, filename: $dir/homeserver.log}}
root: {level: INFO, handlers: [file]}
disable_existing_loggers: false
YAML
  cat >"$dir/homeserver.yaml" <<YAML
server_name: "$name"
pid_file: $dir/homeserver.pid
public_baseurl: "https://$host:$port/"
listeners:
  - {port: $port, bind_addresses: ["$ip"], type: http, tls: true, x_forwarded: false,
     resources: [{names: [client, federation, keys], compress: false}]}
tls_certificate_path: $lab/certs/$name.crt
tls_private_key_path: $lab/certs/$name.key
federation_custom_ca_list: [$lab/certs/ca.crt]
# The lab lives on loopback, which Synapse refuses by default.
ip_range_whitelist: ["127.0.0.0/8"]
trusted_key_servers: []
suppress_key_server_warning: true
database: {name: sqlite3, args: {database: $dir/homeserver.db}}
log_config: $dir/log.config
media_store_path: $dir/media
signing_key_path: $dir/signing.key
registration_shared_secret: "hearth-lab"
enable_registration: true
enable_registration_without_verification: true
report_stats: false
rc_message: {per_second: 1000, burst_count: 1000}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_login: {address: {per_second: 1000, burst_count: 1000}, account: {per_second: 1000, burst_count: 1000}, failed_attempts: {per_second: 1000, burst_count: 1000}}
rc_joins: {local: {per_second: 1000, burst_count: 1000}, remote: {per_second: 1000, burst_count: 1000}}
rc_invites: {per_room: {per_second: 1000, burst_count: 1000}, per_user: {per_second: 1000, burst_count: 1000}, per_issuer: {per_second: 1000, burst_count: 1000}}
rc_federation: {window_size: 1000, sleep_limit: 1000, sleep_delay: 0, reject_limit: 1000, concurrent: 100}
rc_key_requests: {per_second: 1000, burst_count: 1000}
federation_rr_transactions_per_room_per_second: 1000
YAML
  (cd "$dir" && "$PY" -m synapse.app.homeserver -c homeserver.yaml --generate-keys >"$lab/logs/synapse-$name.keygen" 2>&1) ||
    { cat "$lab/logs/synapse-$name.keygen" >&2; die "synapse $name: config rejected"; }
  "$SELF" exec "$lab" -- "$PY" -m synapse.app.homeserver -c "$dir/homeserver.yaml" \
    >"$lab/logs/synapse-$name.out" 2>&1 </dev/null &
  remember "$lab" $! "synapse-$name"
  wait_https "$lab" "$name" "$ip" "$port" "$lab/pids/synapse-$name" "$dir/homeserver.log" ||
    { tail -20 "$lab/logs/synapse-$name.out" >&2; die "synapse $name did not come up"; }
  echo "synapse $name up on $ip:$port"
}

# The addresses of a hearth config's [[listen]] tables, one "IP PORT" a line.
listen_addrs() {
  sed -n 's/^[[:space:]]*addr[[:space:]]*=[[:space:]]*"\([0-9.]*\):\([0-9]*\)".*/\1 \2/p' "$1"
}

cmd_hearth() {
  [ $# -eq 3 ] || die "usage: hearth LAB ID CONFIG"
  local lab id config; lab="$(abs "$1")"; id="$2"; config="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"
  [ -x "$HEARTH_BIN" ] || die "no hearth binary at $HEARTH_BIN (cargo build)"
  local addrs; addrs="$(listen_addrs "$config")"; [ -n "$addrs" ] || die "$config has no [[listen]] addr"
  local ip port
  while read -r ip port; do check_ip "$ip"; done <<<"$addrs"
  "$SELF" exec "$lab" -- "$HEARTH_BIN" serve --config "$config" \
    >"$lab/logs/hearth-$id.log" 2>&1 </dev/null &
  remember "$lab" $! "hearth-$id"
  local pid=$! i ok
  for i in $(seq 1 300); do
    ok=1
    while read -r ip port; do
      (exec 3<>"/dev/tcp/$ip/$port") 2>/dev/null || { ok=0; break; }
    done <<<"$addrs"
    [ "$ok" = 1 ] && { echo "hearth $id up on $(echo $addrs | tr '\n' ' ')"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0; wait "$pid" || rc=$?
      rm -f "$lab/pids/hearth-$id"
      tail -30 "$lab/logs/hearth-$id.log" >&2
      die "hearth $id exited with status $rc before listening (config $config)"
    fi
    sleep 0.1
  done
  tail -30 "$lab/logs/hearth-$id.log" >&2
  die "hearth $id did not listen on every addr within 30 s (config $config)"
}

cmd_stop() {
  [ $# -eq 1 ] || die "usage: stop LAB"
  [ -d "$1/pids" ] || return 0
  local f
  for f in "$1"/pids/*; do [ -f "$f" ] && stop_one "$f"; done
  return 0
}

[ $# -ge 1 ] || { sed -n '2,27p' "$0"; exit 2; }
sub="$1"; shift
case "$sub" in
  init) cmd_init "$@";; host) cmd_host "$@";; srv) cmd_srv "$@";; cert) cmd_cert "$@";;
  dns) cmd_dns "$@";; exec) cmd_exec "$@";; synapse) cmd_synapse "$@";;
  hearth) cmd_hearth "$@";; stop) cmd_stop "$@";;
  *) die "unknown command $sub";;
esac
