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

# Two builds: a plain one, and one under AddressSanitizer and UBSan.
setup_build() {
  local dir=$1
  shift
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
  meson compile -C "$dir"
}
setup_build _build-tests
setup_build _build-tests-asan -Db_sanitize=address,undefined -Db_lundef=false

# The tracing tests and the app mount tracefs when it is missing. Put the
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

echo "run-tests: plain build"
meson test -C _build-tests --print-errorlogs --num-processes 2 "$@"
echo "run-tests: AddressSanitizer and UBSan build"
meson test -C _build-tests-asan --print-errorlogs --num-processes 2 "$@"

# One closing line over both runs, counted from meson's JSON logs.
python3 - _build-tests/meson-logs/testlog.json _build-tests-asan/meson-logs/testlog.json <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    with open(path) as log:
        for line in log:
            result = json.loads(line)["result"]
            key = "OK" if result in ("OK", "EXPECTEDFAIL") else "SKIP" if result == "SKIP" else "FAIL"
            counts[key] += 1
print(f"{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
