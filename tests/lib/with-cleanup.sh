#!/bin/bash
# Runs one test with a unique LAB_TEST_PREFIX and a private LAB_RUNTIME_DIR,
# then deletes every network namespace whose name carries the prefix, so a
# crashed or aborted test still leaves the machine as it was.
set -u

prefix="labt$$"
runtime_dir=$(mktemp -d /tmp/lab-test-runtime.XXXXXX)
export LAB_TEST_PREFIX="$prefix"
export LAB_RUNTIME_DIR="$runtime_dir"

"$@"
status=$?

if [ -d /run/netns ]; then
  for path in /run/netns/"$prefix"-*; do
    [ -e "$path" ] || continue
    name=${path##*/}
    echo "with-cleanup: deleting namespace '$name' left by the test" >&2
    ip netns delete "$name" || echo "with-cleanup: could not delete '$name'" >&2
  done
fi
rm -rf "$runtime_dir"
exit "$status"
