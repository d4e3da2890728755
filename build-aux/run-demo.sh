#!/bin/bash
# Installs what Lab needs, builds it and starts `kinvolk-lab --demo` as root.
# With no display, the window is served by GTK's Broadway backend on
# http://127.0.0.1:8085/, or with LAB_DEMO_VIEW=xvfb runs under Xvfb and a
# screenshot is written every 2 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "run-demo: the demo creates network namespaces and qdiscs; run as root:" >&2
  echo "  sudo $0" >&2
  exit 1
fi

build-aux/install-deps.sh

build_dir=_build
if [ ! -d "$build_dir" ]; then
  meson setup "$build_dir"
fi
meson compile -C "$build_dir" kinvolk-lab labctl
app="$PWD/$build_dir/app/ui/kinvolk-lab"
echo "run-demo: labctl is at $PWD/$build_dir/app/cli/labctl"

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$app" --demo "$@"
fi

echo "run-demo: no display found (DISPLAY and WAYLAND_DISPLAY are unset)."

# The display server and the app run in sessions of their own, so Ctrl+C
# reaches only this script. It sends the app one SIGTERM, waits until the app
# has removed the demo lab, and only then stops the display server, which the
# app needs until it exits.
server_pid=
app_pid=
shot_pid=
stop_app() {
  if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
    echo "run-demo: stopping the demo (the app removes its namespaces first)"
    kill -TERM "$app_pid" 2>/dev/null || true
  fi
}
stop_all() {
  [ -n "$shot_pid" ] && kill "$shot_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  if [ "$view" = broadway ] && [ -n "$server_pid" ]; then
    # gtk4-broadwayd names its socket after the display number plus one.
    rm -f "${XDG_RUNTIME_DIR:-$HOME/.cache}/broadway6.socket"
  fi
}
view=${LAB_DEMO_VIEW:-broadway}
trap stop_app INT TERM
trap stop_all EXIT

wait_for_app() {
  local status=0
  # wait returns early when a trapped signal arrives; keep waiting for the app.
  while kill -0 "$app_pid" 2>/dev/null; do
    wait "$app_pid" || status=$?
  done
  return "$status"
}

if [ "$view" = broadway ]; then
  echo "run-demo: serving the window with GTK's Broadway backend:"
  echo "run-demo:   open http://127.0.0.1:8085/ in a browser on this machine"
  echo "run-demo:   (LAB_DEMO_VIEW=xvfb gives screenshots in a file instead)"
  setsid gtk4-broadwayd --address 127.0.0.1 --port 8085 :5 &
  server_pid=$!
  sleep 1
  GDK_BACKEND=broadway BROADWAY_DISPLAY=:5 setsid "$app" --demo "$@" &
  app_pid=$!
  wait_for_app
  exit $?
fi

shot="$PWD/$build_dir/demo-screenshot.png"
display_file=$(mktemp)
setsid Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$display_file" &
server_pid=$!
while [ ! -s "$display_file" ]; do
  kill -0 "$server_pid" 2>/dev/null || { echo "run-demo: Xvfb failed to start" >&2; exit 1; }
  sleep 0.2
done
export DISPLAY=":$(head -n1 "$display_file")"
rm -f "$display_file"

echo "run-demo: running under Xvfb on $DISPLAY; a screenshot is written to $shot every 2 s."
echo "run-demo: press Ctrl+C to stop; the app removes the demo lab before it exits."
GTK_A11Y=none GSK_RENDERER=cairo GDK_DEBUG=gl-disable setsid "$app" --demo "$@" &
app_pid=$!
(
  while sleep 2; do
    import -window root "$shot.tmp.png" 2>/dev/null && mv "$shot.tmp.png" "$shot"
  done
) &
shot_pid=$!
wait_for_app
