#!/bin/bash
# Runs a GUI test program under a private X server and session bus, with the
# settings under which GTK 4.8 and VTE 0.70 run without warnings on Xvfb.
# Skips (exit 77) with the reason when root or a tool is missing.
set -u

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root to create network namespaces and qdiscs"
  exit 77
fi
for tool in xvfb-run dbus-run-session; do
  if ! command -v "$tool" > /dev/null; then
    echo "SKIP: $tool is missing; install xvfb and dbus"
    exit 77
  fi
done

exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
  env GTK_A11Y=none GSK_RENDERER=cairo GDK_DEBUG=gl-disable "$@"
