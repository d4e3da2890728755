#!/bin/bash
# /lab/gui/demo: kinvolk-lab --demo builds the demo lab, opens a terminal and
# starts both event panes; SIGTERM removes every demo namespace, also when it
# arrives during the start, and so does SIGHUP.
# Usage: test-demo.sh PATH-TO-KINVOLK-LAB (run inside with-cleanup.sh and with-xvfb.sh).
set -u

app=$1
prefix="${LAB_TEST_PREFIX:-labt$$}-d"
artifacts="${LAB_BUILD_DIR:-.}/test-artifacts"
status_file=$(mktemp /tmp/lab-gui-status.XXXXXX)
log_file="$artifacts/gui-demo.log"
screenshot="$artifacts/gui-demo.png"
app_pid=

mkdir -p "$artifacts"

fail() {
  echo "FAIL: $*"
  echo "--- status file:"
  cat "$status_file"
  echo "--- application log:"
  cat "$log_file"
  if [ -n "$app_pid" ]; then
    kill -TERM "$app_pid" 2> /dev/null && wait "$app_pid"
  fi
  rm -f "$status_file"
  exit 1
}

status_value() {
  sed -n "s/^$1=//p" "$status_file"
}

# Polls until the shell command in $1 succeeds; the test has no wall-clock limit
# of its own, because meson's timeout ends a hung run.
wait_for() {
  until eval "$1"; do
    if ! kill -0 "$app_pid" 2> /dev/null; then
      fail "kinvolk-lab exited while waiting for: $1"
    fi
    sleep 0.2
  done
}

LAB_UI_STATUS_FILE="$status_file" "$app" --demo --demo-prefix "$prefix" > "$log_file" 2>&1 &
app_pid=$!

wait_for '[ -e "/run/netns/$prefix-a" ] && [ -e "/run/netns/$prefix-b" ]'
wait_for '"$LABCTL" list 2> /dev/null | grep -q -- "$prefix-a" && "$LABCTL" list | grep -q -- "$prefix-b"'
echo "ok: demo namespaces $prefix-a and $prefix-b exist and labctl lists them"

wait_for '[ "$(status_value demo)" = running ]'
wait_for '[ "$(status_value selected)" = "$prefix-a" ]'
echo "ok: the demo is running and $prefix-a is selected"

# Something must write to trace_pipe: trace_marker lines go to the same top-level buffer.
tracefs=/sys/kernel/tracing
[ -w "$tracefs/trace_marker" ] || tracefs=/sys/kernel/debug/tracing
wait_for '[ -n "$(status_value trace_lines)" ] && { [ "$(status_value trace_lines)" -gt 0 ] || [ -n "$(status_value trace_error)" ] || { echo "lab gui test $$" > "$tracefs/trace_marker"; false; }; }'
[ -z "$(status_value trace_error)" ] || fail "trace pane shows an error: $(status_value trace_error)"
echo "ok: trace pane read $(status_value trace_lines) lines"

wait_for '[ "$(status_value events)" -gt 0 ] || [ -n "$(status_value events_error)" ]'
[ -z "$(status_value events_error)" ] || fail "events pane shows an error: $(status_value events_error)"
echo "ok: events pane received $(status_value events) events, lost $(status_value events_lost)"

wait_for '[ "$(status_value terminal_prompt)" = 1 ]'
echo "ok: the terminal shows the shell prompt of $prefix-a"

import -window root "$screenshot" || fail "failed to take a screenshot with import"
echo "# screenshot: $screenshot"

kill -TERM "$app_pid"
wait "$app_pid"
app_status=$?
app_pid=
[ "$app_status" -eq 0 ] || fail "kinvolk-lab exited with status $app_status after SIGTERM"

for node in a b; do
  [ ! -e "/run/netns/$prefix-$node" ] || fail "namespace $prefix-$node is left after exit"
done
echo "ok: kinvolk-lab exited with status 0 and removed both demo namespaces"

# A signal while the demo is still being built must still remove both namespaces:
# the quit waits for the start, then stops the demo. SIGHUP comes from closing
# the terminal that started the application.
for signal in TERM HUP; do
  early_prefix="$prefix-$signal"
  "$app" --demo --demo-prefix "$early_prefix" > "$log_file" 2>&1 &
  app_pid=$!
  until [ -e "/run/netns/$early_prefix-a" ]; do
    kill -0 "$app_pid" 2> /dev/null || fail "kinvolk-lab exited before creating $early_prefix-a"
    sleep 0.005
  done
  kill -"$signal" "$app_pid"
  wait "$app_pid"
  app_status=$?
  app_pid=
  [ "$app_status" -eq 0 ] \
    || fail "kinvolk-lab exited with status $app_status after an early SIG$signal"
  for node in a b; do
    [ ! -e "/run/netns/$early_prefix-$node" ] \
      || fail "namespace $early_prefix-$node is left after SIG$signal during the demo start"
  done
  echo "ok: SIG$signal during the demo start exits 0 and leaves no namespace"
done
rm -f "$status_file"
