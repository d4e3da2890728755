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
meson test -C "$build_dir" --print-errorlogs --num-processes 2 "$@"
