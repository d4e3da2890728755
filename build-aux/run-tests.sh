#!/bin/bash
# Installs what Lab needs, builds it and runs the whole test suite as root.
# Usage: build-aux/run-tests.sh [extra arguments for meson test]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "run-tests: the tests create namespaces, qdiscs and BPF programs; run as root:" >&2
  echo "  sudo $0" >&2
  exit 1
fi

build-aux/install-deps.sh

build_dir=_build-tests
if [ -d "$build_dir" ]; then
  meson setup --reconfigure "$build_dir"
else
  meson setup "$build_dir"
fi
meson compile -C "$build_dir"

# The tracing tests and the app mount tracefs when it is missing; put the
# machine back as it was, even when a test aborted before its own unmount.
tracefs_was_mounted=no
if findmnt -t tracefs /sys/kernel/tracing >/dev/null 2>&1; then
  tracefs_was_mounted=yes
fi
unmount_tracefs_if_ours() {
  if [ "$tracefs_was_mounted" = no ] && findmnt -t tracefs /sys/kernel/tracing >/dev/null 2>&1; then
    umount /sys/kernel/tracing || echo "run-tests: could not unmount /sys/kernel/tracing" >&2
  fi
}
trap unmount_tracefs_if_ours EXIT

meson test -C "$build_dir" --print-errorlogs --num-processes 2 "$@"
