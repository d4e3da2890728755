#!/bin/bash
# `labctl list` shows a namespace of its own with its inode, interfaces,
# addresses and root qdisc, and exits 0 with only a note when machined is missing.
set -u

skip () {
  echo "SKIP: $*"
  exit 77
}

fail () {
  echo "FAIL: $*"
  echo "--- labctl list output:"
  cat "$tmp/out"
  echo "--- labctl list errors:"
  cat "$tmp/err"
  exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
[ -n "${LABCTL:-}" ] && [ -x "$LABCTL" ] || skip "LABCTL does not name the labctl binary"
command -v ip >/dev/null || skip "ip (package iproute2) is missing"

ns="${LAB_TEST_PREFIX:-labt$$}-list-1"
tmp=$(mktemp -d /tmp/lab-list.XXXXXX)

cleanup () {
  [ -e "/run/netns/$ns" ] && ip netns delete "$ns"
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$ns" || fail "could not create namespace '$ns'"
ip -n "$ns" link add lab0 type veth peer name lab1 || fail "could not create a veth pair"
ip -n "$ns" addr add 198.18.77.1/24 dev lab0 || fail "could not add an address"
ip -n "$ns" link set lo up
ip -n "$ns" link set lab1 up
ip -n "$ns" link set lab0 up
ip -n "$ns" link set lab1 down
inode=$(stat -L -c %i "/run/netns/$ns")

# A system bus socket that does not exist stands for a host without machined.
DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no_bus_socket" "$LABCTL" list >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" = 0 ] || fail "labctl list exited with $status, expected 0"

grep -q "^\.host  host  netns [0-9]" "$tmp/out" || fail "no .host line with its namespace inode"
[ "$(head -n 1 "$tmp/out" | cut -d' ' -f1)" = ".host" ] || fail ".host is not listed first"
grep -qx "$ns  netns  netns $inode" "$tmp/out" \
  || fail "no line '$ns  netns  netns $inode' for the test namespace"

# The interface rows follow the machine's line, up to the next blank line.
sed -n "/^$ns  /,/^\$/p" "$tmp/out" >"$tmp/machine"
grep -Eq '^  INTERFACE +STATE +ADDRESSES +QDISC$' "$tmp/machine" || fail "no table header"
grep -Eq '^  lo +UP +127\.0\.0\.1/8 ::1/128 +noqueue$' "$tmp/machine" \
  || fail "no row for lo, up, with 127.0.0.1/8 and ::1/128 and noqueue"
grep -Eq '^  lab0 +NO-CARRIER +198\.18\.77\.1/24( [^ ]+)* +noqueue$' "$tmp/machine" \
  || fail "no row for lab0, no carrier, with 198.18.77.1/24 and noqueue"
grep -Eq '^  lab1 +DOWN +- +' "$tmp/machine" || fail "no row for lab1, down, without addresses"

# A qdisc that Lab did not set is shown by its kind and handle, as the kernel reports it.
tc -n "$ns" qdisc replace dev lab0 root handle 10: tbf rate 1mbit burst 4kb latency 50ms \
  || fail "could not add a tbf qdisc"
DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no_bus_socket" "$LABCTL" list >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" = 0 ] || fail "labctl list exited with $status after adding tbf, expected 0"
sed -n "/^$ns  /,/^\$/p" "$tmp/out" >"$tmp/machine"
grep -Eq '^  lab0 +NO-CARRIER +198\.18\.77\.1/24( [^ ]+)* +tbf rate 1Mbit' "$tmp/machine" \
  || fail "no row for lab0 with 'tbf rate 1Mbit'"

[ "$(wc -l <"$tmp/err")" = 1 ] || fail "expected exactly one line on stderr"
grep -q "^labctl: note: .*machined" "$tmp/err" || fail "no note about machined on stderr"

"$LABCTL" list extra >/dev/null 2>"$tmp/err"
status=$?
[ "$status" = 2 ] || fail "labctl list with an argument exited with $status, expected 2"

echo "PASS: labctl list shows '$ns' (inode $inode) and its interfaces"
