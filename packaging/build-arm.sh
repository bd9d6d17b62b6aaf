#!/usr/bin/env bash
# Cross-compiles hearth for a Raspberry Pi with Debian's cross toolchains (run as root on
# Debian bookworm or later; installs what is missing):
#
#   packaging/build-arm.sh [TARGET...]
#
# Targets: aarch64-unknown-linux-gnu (64-bit Pi OS, Pi 3/4/5, Zero 2) and
# armv7-unknown-linux-gnueabihf (32-bit Pi OS, Pi 2 and later; not ARMv6 Pi 1/Zero), both by
# default. HEARTH_PROFILE picks the cargo profile (default: release, the release artifacts).
# Linker and qemu runner per target are in .cargo/config.toml. Prints each binary and size.
# The binaries need glibc >= 2.36 (bookworm, Pi OS 12), the toolchains' own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
PROFILE="${HEARTH_PROFILE:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)

pkgs=(qemu-user-static binutils)
for target in "${targets[@]}"; do
  case "$target" in
    aarch64-unknown-linux-gnu) pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
    armv7-unknown-linux-gnueabihf) pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross) ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
fi
installed="$(rustup target list --installed)"
for target in "${targets[@]}"; do
  grep -qx "$target" <<<"$installed" || rustup target add "$target" >&2
done

profile_dir="$PROFILE"
[ "$PROFILE" = dev ] && profile_dir=debug
for target in "${targets[@]}"; do
  start=$SECONDS
  cargo build --locked --profile "$PROFILE" --target "$target" >&2
  bin="$TARGET_DIR/$target/$profile_dir/hearth"
  echo "$bin $(stat -c %s "$bin") bytes, built in $((SECONDS - start)) s"
done
