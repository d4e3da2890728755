#!/bin/bash
# Runs a test against the real systemd-machined on a private system bus:
#   with-machined.sh PROGRAM [ARGUMENTS]
# It starts a dbus-daemon from a copy of the system bus configuration that
# listens under a temporary directory, and exports DBUS_SYSTEM_BUS_ADDRESS for
# it. It starts /lib/systemd/systemd-machined in its own mount namespace with a
# tmpfs on /run/systemd, so the host's machined state stays untouched. Both
# daemons are stopped by PID when the test ends, also when it fails.
set -u

skip () {
  echo "SKIP: $*"
  exit 77
}

machined=/lib/systemd/systemd-machined
system_conf=/usr/share/dbus-1/system.conf
cgroup_root=/sys/fs/cgroup/unified

[ "$(id -u)" = 0 ] || skip "needs root to run systemd-machined and create cgroups"
[ -x "$machined" ] || skip "systemd-machined is missing at $machined (package systemd-container)"
command -v dbus-daemon >/dev/null || skip "dbus-daemon is missing (package dbus-daemon)"
command -v unshare >/dev/null || skip "unshare is missing (package util-linux)"
[ -f "$system_conf" ] || skip "the system bus configuration $system_conf is missing"
[ -d /run/systemd ] || skip "/run/systemd is missing, so no tmpfs can be mounted over it"
[ -w "$cgroup_root/cgroup.procs" ] \
  || skip "no writable unified cgroup hierarchy at $cgroup_root; machined needs one for the leader"

tmp=$(mktemp -d /tmp/lab-machined.XXXXXX)
dbus_pid=
machined_pid=

stop_pid () {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

cleanup () {
  stop_pid "$machined_pid"
  stop_pid "$dbus_pid"
  # Leader cgroups of a test that crashed before its own cleanup. The names
  # carry the test's prefix, so the processes in them are the test's leaders.
  if [ -n "${LAB_TEST_PREFIX:-}" ]; then
    for scope in "$cgroup_root/$LAB_TEST_PREFIX"-*.scope; do
      [ -d "$scope" ] || continue
      echo "with-machined: removing cgroup '$scope' left by the test" >&2
      while read -r pid; do
        kill -KILL "$pid" 2>/dev/null
      done <"$scope/cgroup.procs"
      rmdir "$scope" 2>/dev/null || echo "with-machined: failed to remove '$scope'" >&2
    done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The system configuration without the parts that need a real system: the
# service user, activation, the pid file and syslog.
sed -e '/<user>/d' \
    -e '/<fork\/>/d' \
    -e '/<standard_system_servicedirs\/>/d' \
    -e '/<servicehelper>/d' \
    -e '/<pidfile>/d' \
    -e '/<syslog\/>/d' \
    -e '/<include ignore_missing="yes">\/etc\/dbus-1\/system.conf<\/include>/d' \
    -e "s|<listen>[^<]*</listen>|<listen>unix:path=$tmp/system_bus_socket</listen>|" \
    -e 's|<includedir>system.d</includedir>|<includedir>/usr/share/dbus-1/system.d</includedir>|' \
    "$system_conf" >"$tmp/system.conf"
grep -q "unix:path=$tmp/system_bus_socket" "$tmp/system.conf" \
  || { echo "with-machined: no <listen> element to replace in $system_conf" >&2; exit 1; }

# dbus-daemon writes its address to the FIFO once it listens, so reading it waits exactly that long.
mkfifo "$tmp/address"
dbus-daemon --config-file="$tmp/system.conf" --nofork --print-address=3 3>"$tmp/address" &
dbus_pid=$!
read -r address <"$tmp/address"
[ -n "$address" ] || { echo "with-machined: dbus-daemon did not start" >&2; exit 1; }
export DBUS_SYSTEM_BUS_ADDRESS="$address"

# The test waits for machined's bus name itself, so it does not matter when it is ready.
unshare --mount -- sh -c 'mount -t tmpfs tmpfs /run/systemd && exec "$0"' "$machined" &
machined_pid=$!

"$@"
