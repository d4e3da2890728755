#!/bin/bash
# Installs the Debian 12 packages that Lab needs to build, run and test.
# Skips apt-get when every package is already installed.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config gcc clang llvm bpftool gettext
  libglib2.0-dev libglib2.0-bin libgtk-4-dev libvte-2.91-gtk4-dev
  libnl-3-dev libnl-route-3-dev libbpf-dev libelf-dev zlib1g-dev libsystemd-dev
  # run: namespaces and qdiscs, machined, the terminal's shell
  iproute2 util-linux procps systemd systemd-container dbus-daemon bash
  # see the app without a desktop: Broadway, Xvfb and screenshots
  libgtk-4-bin xvfb xauth imagemagick
  # tests
  desktop-file-utils appstream-util iputils-ping
  # netem in a VM, since Debian's kernel has sch_netem and the host kernel may not
  qemu-system-x86 busybox-static cpio
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (sudo $0) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
