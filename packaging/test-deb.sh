#!/usr/bin/env bash
# Tests a hearth .deb in a clean Debian root, as an admin would use it (run as root):
#
#   packaging/test-deb.sh path/to/hearth_<version>_amd64.deb
#
# lintian has no errors; in a fresh bookworm root (mmdebstrap: minbase, adduser and systemd,
# as on any Debian system) `dpkg -i` installs it
# (user, data folder, key, config rights, service enabled); `hearth version` runs; the unit
# passes `systemd-analyze verify`; with the config edited as the README says, the packaged
# service user can add an account and serve a signed key document; an upgrade over an older
# build keeps config, key (byte for byte) and database; `remove` keeps the data, `purge`
# deletes it. The server's system calls (strace) must pass the unit's SystemCallFilter.
# Needs mmdebstrap, lintian, systemd (systemd-analyze), strace, curl and .venv (signedjson).
#
# The clean root is cached as a tarball in $HEARTH_PKG_CACHE (default
# /var/cache/hearth-packaging), renewed when older than a week; HEARTH_PKG_CACHE=none always
# makes a new one. HEARTH_PKG_ADDR (default 127.0.101.1:18448) is where the server listens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
DEB="$(realpath "${1:?usage: $0 hearth_VERSION_amd64.deb}")"
CACHE="${HEARTH_PKG_CACHE:-/var/cache/hearth-packaging}"
ADDR="${HEARTH_PKG_ADDR:-127.0.101.1:18448}"
SUITE=bookworm
PY="$REPO/.venv/bin/python"

passed=0
failed=0
check() { # DESCRIPTION COMMAND...: one assertion, printed as ok/FAIL
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
t0=$SECONDS
stamp() { echo "     ($((SECONDS - t0)) s) $*"; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hearth-deb-test.XXXXXX")"
ROOT="$WORK/root"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
in_root() { chroot "$ROOT" "$@"; }
as_hearth() { chroot "$ROOT" setpriv --reuid=hearth --regid=hearth --init-groups "$@"; }

# ---- lintian
lintian_out="$WORK/lintian.txt"
lintian_rc=0
lintian --fail-on error,warning --info --display-experimental --color never "$DEB" \
  >"$lintian_out" 2>&1 || lintian_rc=$?
sed 's/^/     lintian: /' "$lintian_out"
check "lintian reports no errors or warnings" test "$lintian_rc" -eq 0
stamp "lintian done"

# ---- the older build for the upgrade test: the same package, version lowered.
version="$(dpkg-deb --field "$DEB" Version)"
old_deb="$WORK/hearth_${version}~old_amd64.deb"
dpkg-deb --raw-extract "$DEB" "$WORK/old"
sed -i "s/^Version: .*/Version: ${version}~old/" "$WORK/old/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip -z1 --build "$WORK/old" "$old_deb" >/dev/null
check "the older build sorts lower" dpkg --compare-versions "${version}~old" lt "$version"

# ---- a clean root
tarball="$CACHE/$SUITE-minbase-systemd.tar"
if [ "$CACHE" != none ] && [ -f "$tarball" ] && [ -n "$(find "$tarball" -mtime -7)" ]; then
  mkdir "$ROOT"
  tar -C "$ROOT" -xf "$tarball"
  stamp "clean root unpacked from $tarball"
else
  start=$SECONDS
  mmdebstrap --quiet --variant=minbase --include=adduser,systemd --mode=root "$SUITE" "$ROOT" \
    http://deb.debian.org/debian
  stamp "clean root made by mmdebstrap in $((SECONDS - start)) s"
  if [ "$CACHE" != none ]; then
    mkdir -p "$CACHE"
    tar -C "$ROOT" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  fi
fi
check "the clean root has no hearth user" bash -c "! chroot '$ROOT' getent passwd hearth"
cp "$DEB" "$old_deb" "$ROOT/tmp/"

# ---- install the older build
in_root dpkg -i "/tmp/$(basename "$old_deb")"
check "dpkg -i installs it" in_root dpkg-query -W -f='${Status}' hearth
check "hearth version runs in the root" bash -c "chroot '$ROOT' hearth version | grep -q '^hearth [0-9]'"
check "a system user hearth exists" bash -c \
  "chroot '$ROOT' getent passwd hearth | grep -q ':/var/lib/hearth:/usr/sbin/nologin$'"
check "/var/lib/hearth is hearth's, mode 0700" bash -c \
  "[ \"\$(chroot '$ROOT' stat -c '%U:%G %a' '/var/lib/hearth')\" = 'hearth:hearth 700' ]"
check "the signing key was made: hearth's, mode 0600, Synapse's format" bash -c \
  "[ \"\$(chroot '$ROOT' stat -c '%U:%G %a' '/var/lib/hearth/signing.key')\" = 'hearth:hearth 600' ] &&
   grep -Eq '^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}$' '$ROOT/var/lib/hearth/signing.key'"
check "the config is root:hearth, mode 0640, and a conffile" bash -c \
  "[ \"\$(chroot '$ROOT' stat -c '%U:%G %a' '/etc/hearth/hearth.toml')\" = 'root:hearth 640' ] &&
   chroot '$ROOT' dpkg-query -W -f='\${Conffiles}' hearth | grep -q /etc/hearth/hearth.toml"
check "the service is enabled" test -L "$ROOT/etc/systemd/system/multi-user.target.wants/hearth.service"
check "the unit passes systemd-analyze verify, without a warning" bash -c \
  "systemd-analyze verify --man=no --root='$ROOT' /usr/lib/systemd/system/hearth.service \
     >'$WORK/verify.txt' 2>&1; rc=\$?; sed 's/^/     verify: /' '$WORK/verify.txt';
   [ \$rc -eq 0 ] && [ ! -s '$WORK/verify.txt' ]"
systemd-analyze security --offline=true --root="$ROOT" hearth.service 2>/dev/null |
  tail -n1 | sed 's/^/     systemd-analyze security: /' || true
check "the service refuses the shipped config (no server_name yet)" bash -c \
  "! chroot '$ROOT' setpriv --reuid=hearth --regid=hearth --init-groups \
     hearth serve --config /etc/hearth/hearth.toml 2>'$WORK/refused.txt' &&
   grep -q 'server_name' '$WORK/refused.txt'"
stamp "installed"

# ---- the admin's edits (README.Debian): server name, a plain listener behind a proxy
sed -i -e 's/^server_name = ""$/server_name = "pkg.test"/' \
  -e "s/^addr = \"0.0.0.0:8448\".*/addr = \"$ADDR\"/" -e '/^tls_cert\|^tls_key/d' \
  "$ROOT/etc/hearth/hearth.toml"
echo 'correct horse' | as_hearth hearth user add alice --password-stdin \
  --config /etc/hearth/hearth.toml >/dev/null
check "the service user adds an account (database made in /var/lib/hearth)" \
  test -s "$ROOT/var/lib/hearth/hearth.db"
check "nothing listens on $ADDR yet" bash -c "! curl -s 'http://$ADDR/' >/dev/null"
# Traced, to compare its system calls with the unit's filter. chroot and setpriv exec the
# server, so the first process in the trace is the server.
strace -f -qq -o "$WORK/trace" chroot "$ROOT" setpriv --reuid=hearth --regid=hearth \
  --init-groups hearth serve --config /etc/hearth/hearth.toml >"$WORK/serve.log" 2>&1 &
STRACE_PID=$!
for _ in $(seq 100); do
  curl -sf "http://$ADDR/_matrix/client/versions" >/dev/null && break
  sleep 0.1
done
SERVER_PID="$(awk 'NR == 1 {print $1}' "$WORK/trace")"
check "the packaged server serves a key document signed with the packaged key" \
  "$PY" packaging/check_server.py "http://$ADDR" pkg.test "$ROOT/var/lib/hearth/signing.key"
kill "$SERVER_PID"
wait "$STRACE_PID" 2>/dev/null || true
SERVER_PID=""

# SystemCallFilter: every call the server made (from its exec on) is in the allowed groups
# and in none of the denied ones, as systemd-analyze expands them.
expand() { # GROUP...: its system calls, nested groups expanded
  local g
  for g in "$@"; do
    systemd-analyze syscall-filter "$g" 2>/dev/null | awk 'NR > 1 && $1 !~ /^#/ {print $1}' |
      while read -r name; do
        case "$name" in @*) expand "$name" ;; *) echo "$name" ;; esac
      done
  done
}
unit="$ROOT/usr/lib/systemd/system/hearth.service"
# shellcheck disable=SC2046 # the group names are words
expand $(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$unit") | sort -u >"$WORK/allowed"
# shellcheck disable=SC2046
expand $(sed -n 's/^SystemCallFilter=~//p' "$unit") | sort -u >"$WORK/denied"
awk '/execve\("\/usr\/bin\/hearth"/ {on = 1} on {sub(/\(.*/, "", $2); print $2}' "$WORK/trace" |
  grep -E '^[a-z0-9_]+$' | sort -u >"$WORK/used"
echo "     the server made $(wc -l <"$WORK/used") kinds of system call"
check "the unit's SystemCallFilter allows every system call the server made" bash -c \
  "[ -s '$WORK/used' ] && [ -s '$WORK/allowed' ] &&
   comm -23 '$WORK/used' '$WORK/allowed' | sed 's/^/     not allowed: /' | { ! grep .; } &&
   comm -12 '$WORK/used' '$WORK/denied' | sed 's/^/     denied: /' | { ! grep .; }"
check "the server opened only sockets RestrictAddressFamilies allows" bash -c \
  "! grep -oE 'socket(pair)?\\(AF_[A-Z0-9]+' '$WORK/trace' | grep -vE 'AF_(INET|INET6|UNIX)$'"

sums() { (cd "$ROOT" && sha256sum var/lib/hearth/signing.key var/lib/hearth/hearth.db etc/hearth/hearth.toml); }
before="$(sums)"

# ---- upgrade
in_root dpkg -i "/tmp/$(basename "$DEB")"
check "the upgrade installs version $version" bash -c \
  "[ \"\$(chroot '$ROOT' dpkg-query -W -f='\${Version}' hearth)\" = '$version' ]"
check "the upgrade keeps key, database and edited config byte for byte" \
  bash -c "[ \"\$(cd '$ROOT' && sha256sum var/lib/hearth/signing.key var/lib/hearth/hearth.db etc/hearth/hearth.toml)\" = '$before' ]"
check "the config keeps its rights after the upgrade" bash -c \
  "[ \"\$(chroot '$ROOT' stat -c '%U:%G %a' '/etc/hearth/hearth.toml')\" = 'root:hearth 640' ]"

# ---- remove keeps the data; reinstalling finds it again
in_root dpkg -r hearth
check "remove deletes the binary" test ! -e "$ROOT/usr/bin/hearth"
check "remove keeps key, database and config" \
  bash -c "[ \"\$(cd '$ROOT' && sha256sum var/lib/hearth/signing.key var/lib/hearth/hearth.db etc/hearth/hearth.toml)\" = '$before' ]"
in_root dpkg -i "/tmp/$(basename "$DEB")"
check "reinstalling after remove keeps key, database and config" \
  bash -c "[ \"\$(cd '$ROOT' && sha256sum var/lib/hearth/signing.key var/lib/hearth/hearth.db etc/hearth/hearth.toml)\" = '$before' ]"

# ---- purge deletes it
in_root dpkg -P hearth
check "purge deletes /var/lib/hearth" test ! -e "$ROOT/var/lib/hearth"
check "purge deletes the config" test ! -e "$ROOT/etc/hearth/hearth.toml"
check "purge drops the statoverride" bash -c \
  "! chroot '$ROOT' dpkg-statoverride --list /etc/hearth/hearth.toml"
check "purge leaves no package state" bash -c \
  "! chroot '$ROOT' dpkg-query -W hearth 2>/dev/null | grep -q ."
stamp "upgrade, remove, purge done"

echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
