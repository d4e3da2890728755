#!/bin/bash
# labctl set, show and reset on a namespace this script creates, checked with tc.
set -u

skip () { echo "SKIP: $*"; exit 77; }
fail () { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces and qdiscs"
command -v ip >/dev/null && command -v tc >/dev/null || skip "needs ip and tc from iproute2"
[ -x "${LABCTL:-}" ] || skip "LABCTL does not name a built labctl"

prefix=${LAB_TEST_PREFIX:-labt$$}
ns="$prefix-cli-a"
peer_ns="$prefix-cli-b"

stale="$prefix-stale"

cleanup () {
  ip netns delete "$ns" 2>/dev/null
  ip netns delete "$peer_ns" 2>/dev/null
  rm -f "/run/netns/$stale"
}
trap cleanup EXIT

ip netns add "$ns" || fail "could not add namespace '$ns'"
ip netns add "$peer_ns" || fail "could not add namespace '$peer_ns'"
ip -n "$ns" link add eth0 type veth peer name "$prefix-p" netns "$peer_ns" || fail "veth add"
ip -n "$peer_ns" link set "$prefix-p" name eth0 || fail "veth rename"
ip -n "$ns" link set eth0 up || fail "link up"
ip -n "$peer_ns" link set eth0 up || fail "peer link up"

qdisc () { tc -n "$ns" qdisc show dev eth0; }
before=$(qdisc)

# set prints the read-back state, and tc shows the same tbf.
out=$("$LABCTL" set "$ns" rate 1mbit) || fail "'labctl set $ns rate 1mbit' exited $?"
echo "$out" | grep -q "rate 1Mbit" || fail "set printed no 'rate 1Mbit': $out"
qdisc | grep -q "tbf" || fail "tc shows no tbf after set: $(qdisc)"
qdisc | grep -q "rate 1Mbit" || fail "tc shows no 'rate 1Mbit' after set: $(qdisc)"
echo "PASS: set rate 1mbit"

out=$("$LABCTL" show "$ns" dev eth0) || fail "'labctl show' exited $?"
echo "$out" | grep -q "rate 1Mbit" || fail "show printed no 'rate 1Mbit': $out"
echo "PASS: show"

"$LABCTL" reset "$ns" >/dev/null || fail "'labctl reset' exited $?"
[ "$(qdisc)" = "$before" ] || fail "reset left '$(qdisc)', expected '$before'"
echo "PASS: reset restores the original"

err=$("$LABCTL" set "$ns" delay 100ms 2>&1)
status=$?
if [ "$status" = 0 ]; then
  qdisc | grep -q netem || fail "set delay succeeded but tc shows no netem: $(qdisc)"
  "$LABCTL" reset "$ns" >/dev/null || fail "reset after netem exited $?"
  echo "PASS: set delay 100ms (this kernel has sch_netem)"
else
  [ "$status" = 1 ] || fail "set delay exited $status, expected 1"
  echo "$err" | grep -q "sch_netem" || fail "set delay error does not name sch_netem: $err"
  [ "$(qdisc)" = "$before" ] || fail "failed set delay changed the qdisc to '$(qdisc)'"
  echo "PASS: set delay 100ms fails with the sch_netem message"
fi

"$LABCTL" set "$ns" loss 150% >/dev/null 2>&1
status=$?
[ "$status" = 2 ] || fail "'set loss 150%' exited $status, expected 2"
"$LABCTL" set "$ns" speed 1mbit >/dev/null 2>&1
status=$?
[ "$status" = 2 ] || fail "'set speed 1mbit' exited $status, expected 2"
[ "$(qdisc)" = "$before" ] || fail "an invalid set changed the qdisc to '$(qdisc)'"
echo "PASS: invalid input exits 2 and changes nothing"

"$LABCTL" --help | grep -q "set TARGET" || fail "--help shows no 'set TARGET'"
echo "PASS: --help"

"$LABCTL" show "$prefix-no-such-target" >/dev/null 2>&1
status=$?
[ "$status" = 1 ] || fail "show of an unknown target exited $status, expected 1"
echo "PASS: unknown target exits 1"

err=$("$LABCTL" set "$ns" dev nope0 rate 1mbit 2>&1)
status=$?
[ "$status" = 1 ] || fail "'set dev nope0' exited $status, expected 1"
echo "$err" | grep -q "Interface 'nope0' not found" \
  || fail "'set dev nope0' did not say not found: $err"
echo "$err" | grep -q "eth0, lo" || fail "'set dev nope0' did not list the interfaces: $err"
echo "$err" | grep -q "gone" && fail "'set dev nope0' said gone: $err"
[ "$(qdisc)" = "$before" ] || fail "'set dev nope0' changed the qdisc to '$(qdisc)'"
echo "PASS: an unknown interface is not found, with the list"

for command in set show reset; do
  out=$("$LABCTL" "$command" --help) || fail "'labctl $command --help' exited $?"
  echo "$out" | grep -q "^Usage: labctl $command" || fail "'$command --help' printed: $out"
  "$LABCTL" "$command" "$ns" -h | grep -q "^Usage: labctl $command" \
    || fail "'$command TARGET -h' printed no usage"
  "$LABCTL" "$command" --bogus >/dev/null 2>&1
  status=$?
  [ "$status" = 2 ] || fail "'$command --bogus' exited $status, expected 2"
  "$LABCTL" "$command" "$ns" -x >/dev/null 2>&1
  status=$?
  [ "$status" = 2 ] || fail "'$command TARGET -x' exited $status, expected 2"
done
echo "PASS: command --help prints usage, unknown options exit 2"

tc -n "$ns" qdisc add dev eth0 root handle 5: tbf rate 5mbit burst 10kb latency 70ms \
  || fail "could not add the user's tbf"
user_qdisc=$(qdisc)
err=$("$LABCTL" reset "$ns" dev eth0 2>&1 >/dev/null)
status=$?
[ "$status" = 0 ] || fail "reset of the user's tbf exited $status, expected 0"
[ "$(qdisc)" = "$user_qdisc" ] || fail "reset changed the user's tbf to '$(qdisc)'"
echo "$err" | grep -q "left the tbf root qdisc 5: on eth0 alone because Lab did not create it" \
  || fail "reset did not say it left the user's tbf alone: $err"
echo "$err" | grep -qF "\"tc -n $ns qdisc del dev eth0 root\"" \
  || fail "reset did not show the tc command: $err"
[ "$(echo "$err" | wc -l)" = 1 ] || fail "reset printed more than one line: $err"
echo "PASS: reset leaves a root qdisc Lab did not create and says so"

tc -n "$ns" qdisc del dev eth0 root || fail "could not delete the user's tbf"
err=$("$LABCTL" reset "$ns" dev eth0 2>&1 >/dev/null) || fail "reset of noqueue exited $?"
[ -z "$err" ] || fail "reset of the kernel default printed: $err"
echo "PASS: reset of the kernel default prints no note"

# A stale file under /run/netns gets the open error with its fix, not "is gone".
mkdir -p /run/netns && touch "/run/netns/$stale" || fail "could not create the stale file '$stale'"
err=$("$LABCTL" show "$stale" 2>&1)
status=$?
[ "$status" = 1 ] || fail "show of a stale file exited $status, expected 1: $err"
echo "$err" | grep -qF "is not a network namespace" || fail "show of a stale file: $err"
echo "$err" | grep -qF "ip netns delete" || fail "show of a stale file names no fix: $err"
echo "$err" | grep -qF "is gone" && fail "show of a stale file says 'is gone': $err"
rm -f "/run/netns/$stale"
echo "PASS: show of a stale namespace file"
