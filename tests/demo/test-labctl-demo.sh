#!/bin/bash
# labctl demo builds both node namespaces, keeps them until SIGTERM, then
# removes them and exits 0. --cleanup removes namespaces that a killed demo left,
# and neither --cleanup nor a second start touches a demo that still runs.
set -u

fail () {
  echo "FAIL: $*" >&2
  exit 1
}

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root to create network namespaces"
  exit 77
fi
command -v ip >/dev/null || { echo "SKIP: needs 'ip' from iproute2"; exit 77; }
labctl=${LABCTL:?LABCTL must name the labctl binary}
prefix="${LAB_TEST_PREFIX:-labt$$}-cli"
output="${LAB_RUNTIME_DIR:-/tmp}/labctl-demo.$$.out"

netns_listed () {
  ip netns list | awk '{ print $1 }' | grep -qxF -- "$1"
}

# --- run until SIGTERM ---
"$labctl" demo --prefix "$prefix" >"$output" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$output"' EXIT

# The last line of the help text appears once the start has finished.
until grep -q "Press Ctrl+C" "$output"; do
  kill -0 "$pid" 2>/dev/null || { cat "$output" >&2; fail "labctl demo exited before the lab was up"; }
  sleep 0.1
done

netns_listed "$prefix-a" || fail "'$prefix-a' missing from 'ip netns list'"
netns_listed "$prefix-b" || fail "'$prefix-b' missing from 'ip netns list'"
ip -n "$prefix-a" -o -4 addr show dev eth0 | grep -qF "inet 198.18.0.1/24" \
  || fail "eth0 in '$prefix-a' lacks 198.18.0.1/24"
ip -n "$prefix-b" -o -4 addr show dev eth0 | grep -qF "inet 198.18.0.2/24" \
  || fail "eth0 in '$prefix-b' lacks 198.18.0.2/24"
grep -qF "labctl set $prefix-a rate 1mbit" "$output" || fail "help text lacks the 'labctl set' example"
grep -qF "ip netns exec $prefix-a ping 198.18.0.2" "$output" || fail "help text lacks the ping example"

# --- a second start and --cleanup both fail while this demo runs, and leave it intact ---
running="running in PID $pid;"
lock="${LAB_RUNTIME_DIR:-/run/kinvolk-lab}/demo-$prefix.lock"
[ "$(cat "$lock")" = "$pid" ] || fail "lock file '$lock' does not contain PID $pid"
inode_before=$(stat -c %i "/run/netns/$prefix-a")
second=$("$labctl" demo --prefix "$prefix" 2>&1)
status=$?
[ "$status" -eq 1 ] || fail "a second labctl demo exited with status $status, expected 1: $second"
grep -qF -- "$running" <<<"$second" || fail "a second labctl demo does not name PID $pid: $second"
grep -qF -- "--cleanup" <<<"$second" && fail "a second labctl demo offers --cleanup: $second"
cleanup=$("$labctl" demo --prefix "$prefix" --cleanup 2>&1)
status=$?
[ "$status" -eq 1 ] || fail "--cleanup of a running demo exited with status $status, expected 1"
grep -qF -- "$running" <<<"$cleanup" || fail "--cleanup does not name PID $pid: $cleanup"
netns_listed "$prefix-a" || fail "'$prefix-a' removed from under the running demo"
netns_listed "$prefix-b" || fail "'$prefix-b' removed from under the running demo"
[ "$(stat -c %i "/run/netns/$prefix-a")" = "$inode_before" ] || fail "'$prefix-a' was replaced"
kill -0 "$pid" 2>/dev/null || fail "the running demo exited after the second start"

kill -TERM "$pid"
wait "$pid"
status=$?
trap 'rm -f "$output"' EXIT
[ "$status" -eq 0 ] || { cat "$output" >&2; fail "labctl demo exited with status $status after SIGTERM"; }
grep -q "Stopping the demo lab" "$output" || fail "labctl demo did not report the stop"
netns_listed "$prefix-a" && fail "'$prefix-a' still listed after SIGTERM"
netns_listed "$prefix-b" && fail "'$prefix-b' still listed after SIGTERM"
[ -e "$lock" ] && fail "lock file '$lock' left after SIGTERM"

# --- a leftover namespace blocks the start, and --cleanup removes it ---
ip netns add "$prefix-a" || fail "cannot create '$prefix-a' for the cleanup check"
# Emptied here, because the loop below may read the file before the new run truncates it.
: >"$output"
"$labctl" demo --prefix "$prefix" >"$output" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$output"' EXIT
while kill -0 "$pid" 2>/dev/null; do
  grep -q "Press Ctrl+C" "$output" && fail "labctl demo started over a leftover namespace"
  sleep 0.1
done
wait "$pid" && fail "labctl demo exited 0 over a leftover namespace"
trap 'rm -f "$output"' EXIT
grep -qF -- "--cleanup" "$output" || fail "the error does not mention --cleanup: $(cat "$output")"
"$labctl" demo --prefix "$prefix" --cleanup >"$output" 2>&1 || fail "labctl demo --cleanup failed: $(cat "$output")"
grep -qF "Removed namespace '$prefix-a'" "$output" || fail "--cleanup did not report '$prefix-a'"
netns_listed "$prefix-a" && fail "'$prefix-a' still listed after --cleanup"

echo "PASS"
exit 0
