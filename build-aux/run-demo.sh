#!/bin/bash
# Installs what Lab needs, builds it and starts `kinvolk-lab --demo` as root.
# With no display, the window is served by GTK's Broadway backend on
# http://127.0.0.1:8085/ and a screenshot is written every 2 seconds by Xvfb.
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
meson compile -C "$build_dir"
app="$build_dir/app/ui/kinvolk-lab"

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$app" --demo "$@"
fi

echo "run-demo: no display found (DISPLAY and WAYLAND_DISPLAY are unset)."
choice=${LAB_DEMO_VIEW:-broadway}
if [ "$choice" = broadway ]; then
  echo "run-demo: serving the window with GTK's Broadway backend:"
  echo "run-demo:   open http://127.0.0.1:8085/ in a browser on this machine"
  echo "run-demo:   (set LAB_DEMO_VIEW=xvfb to get screenshots in a file instead)"
  gtk4-broadwayd --address 127.0.0.1 --port 8085 :5 &
  broadwayd_pid=$!
  trap 'kill "$broadwayd_pid" 2>/dev/null || true' EXIT
  GDK_BACKEND=broadway BROADWAY_DISPLAY=:5 "$app" --demo "$@"
  exit $?
fi

shot="$PWD/$build_dir/demo-screenshot.png"
echo "run-demo: running under Xvfb; a screenshot is written to $shot every 2 seconds."
echo "run-demo: press Ctrl+C to stop the demo; it removes its namespaces on exit."
exec xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  GTK_A11Y=none GSK_RENDERER=cairo GDK_DEBUG=gl-disable "$1" --demo "${@:3}" &
  app_pid=$!
  trap "kill -TERM $app_pid 2>/dev/null; wait $app_pid" INT TERM
  while kill -0 "$app_pid" 2>/dev/null; do
    sleep 2
    import -window root "$2.tmp.png" 2>/dev/null && mv "$2.tmp.png" "$2"
  done
  wait "$app_pid"
' run-demo "$app" "$shot" "$@"
