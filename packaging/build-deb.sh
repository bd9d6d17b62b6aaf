#!/usr/bin/env bash
# Builds hearth_<version>_<arch>.deb for amd64, arm64 or armhf with plain dpkg-deb.
#
#   packaging/build-deb.sh ARCH
#
# Environment (all optional):
#   HEARTH_PROFILE      cargo profile of the binary (default: release, the release artifact)
#   HEARTH_DEB_BIN      package this binary instead of building one
#   HEARTH_DEB_VERSION  the package version (default: the version in Cargo.toml)
#   HEARTH_DEB_OUT      where the .deb goes (default: $CARGO_TARGET_DIR/deb or target/deb)
# Prints the path of the .deb as its last line. ARM targets need packaging/build-arm.sh's
# toolchains (it installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"

ARCH="${1:-}"
case "$ARCH" in
  amd64) TARGET="" ;;
  arm64) TARGET=aarch64-unknown-linux-gnu ;;
  armhf) TARGET=armv7-unknown-linux-gnueabihf ;;
  *) echo "usage: $0 amd64|arm64|armhf" >&2; exit 2 ;;
esac
PROFILE="${HEARTH_PROFILE:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
OUT="${HEARTH_DEB_OUT:-$TARGET_DIR/deb}"
VERSION="${HEARTH_DEB_VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)}"
MAINTAINER="${HEARTH_DEB_MAINTAINER:-hearth developers <hearth@example.org>}"
# Reproducible timestamps: the commit's date, else now.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

if [ -n "${HEARTH_DEB_BIN:-}" ]; then
  BIN="$HEARTH_DEB_BIN"
else
  target_args=()
  [ -n "$TARGET" ] && target_args=(--target "$TARGET")
  cargo build --locked --profile "$PROFILE" "${target_args[@]}" >&2
  profile_dir="$PROFILE"
  [ "$PROFILE" = dev ] && profile_dir=debug
  BIN="$TARGET_DIR/${TARGET:+$TARGET/}$profile_dir/hearth"
fi
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }

# Debian's libc6 and libgcc-s1 versions from the symbol versions the binary needs
# (what dpkg-shlibdeps would compute; it cannot run here without the target's dpkg database).
max_version() { # PREFIX: the highest PREFIX<x.y[.z]> the binary references, as x.y
  readelf --version-info --wide "$BIN" | grep -o "Name: $1[0-9.]*" | sed "s/Name: $1//" |
    sort -V | tail -n1 | cut -d. -f1-2
}
needed="$(readelf --dynamic --wide "$BIN" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')"
depends=()
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | librt.so.1 | ld-linux*) ;;
    libgcc_s.so.1) depends+=("libgcc-s1 (>= $(max_version GCC_))") ;;
    *) echo "the binary needs $lib: add its Debian package to build-deb.sh" >&2; exit 1 ;;
  esac
done
depends=("libc6 (>= $(max_version GLIBC_))" "${depends[@]}" adduser)

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/hearth-deb.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
ROOT="$STAGE/root"
DOC="$ROOT/usr/share/doc/hearth"
install -d -m 0755 "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/etc/hearth" "$DOC" \
  "$ROOT/usr/lib/systemd/system" "$ROOT/usr/share/man/man1"
install -m 0755 "$BIN" "$ROOT/usr/bin/hearth"
install -m 0644 packaging/debian/hearth.service "$ROOT/usr/lib/systemd/system/hearth.service"
install -m 0644 packaging/debian/README.Debian "$DOC/README.Debian"
gzip -9n <packaging/debian/hearth.1 >"$ROOT/usr/share/man/man1/hearth.1.gz"
chmod 0644 "$ROOT/usr/share/man/man1/hearth.1.gz"

# The config: init's own template, with the packaged data folder and no server name (the
# admin chooses it; `hearth serve` refuses an empty one with a clear message).
{
  echo "# Installed by the hearth Debian package. Set server_name below, then run"
  echo "# \`systemctl restart hearth\` (see /usr/share/doc/hearth/README.Debian)."
  echo "#"
  sed -e 's|@SERVER_NAME@||' -e 's|@DATA_DIR@|/var/lib/hearth|' assets/hearth.toml
} >"$ROOT/etc/hearth/hearth.toml"
chmod 0644 "$ROOT/etc/hearth/hearth.toml"
grep -q '^server_name = ""$' "$ROOT/etc/hearth/hearth.toml" ||
  { echo "assets/hearth.toml changed: the packaged server_name line is gone" >&2; exit 1; }

# copyright: hearth's licence, then every crate compiled into the binary with its licence.
{
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hearth

Files: *
Copyright: the hearth developers
License: Apache-2.0

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0, is in
 /usr/share/common-licenses/Apache-2.0.
Comment:
 /usr/bin/hearth is statically linked with these Rust crates (name, version, licence),
 SQLite (public domain) among them, through rusqlite's bundled build:
EOF
  cargo tree --locked --edges normal --prefix none --format '{p} ({l})' \
    ${TARGET:+--target "$TARGET"} 2>/dev/null | sed 's/ (\*)$//; s/ (proc-macro)//' |
    sort -u | sed 's/^/ /'
} >"$DOC/copyright"

# A native package's changelog: one entry for this build.
{
  printf 'hearth (%s) unstable; urgency=medium\n\n' "$VERSION"
  printf '  * Built from the hearth source tree at commit %s.\n\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$DOC/changelog.gz"
chmod 0644 "$DOC/copyright" "$DOC/changelog.gz"

install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm \
  "$ROOT/DEBIAN/"
echo /etc/hearth/hearth.toml >"$ROOT/DEBIAN/conffiles"
(cd "$ROOT" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
installed_size="$(du -k -s --apparent-size --exclude=DEBIAN "$ROOT" | cut -f1)"
depends_line="$(IFS=,; echo "${depends[*]}" | sed 's/,/, /g')"
cat >"$ROOT/DEBIAN/control" <<EOF
Package: hearth
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $installed_size
Depends: $depends_line
Section: net
Priority: optional
Description: Matrix homeserver in one small executable
 hearth is a Matrix homeserver for people who host their own chat on a
 Raspberry Pi or a small server and want it to federate with the rest of
 Matrix (Synapse, Conduit, Dendrite) without PostgreSQL, a Python runtime or
 containers: one binary, one SQLite file, one TOML config.
 .
 This package runs it as a hardened systemd service under its own system
 user, with its data in /var/lib/hearth.
EOF
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
DEB="$OUT/hearth_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >&2
echo "$DEB"
