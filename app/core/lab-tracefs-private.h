/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tracefs lookup shared by LabTracePipe and LabBpfEvents, defined in
 * app/core/lab-trace-pipe.c. libbpf resolves tracepoint ids through
 * /sys/kernel/tracing, so loading tracepoint programs needs tracefs too.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Returns the tracefs mount point from /proc/self/mounts, preferring
 * /sys/kernel/tracing over /sys/kernel/debug/tracing. When neither is mounted,
 * mounts tracefs at /sys/kernel/tracing and sets *out_mounted to TRUE.
 * Blocking: call it on a worker thread.
 */
char *lab_tracefs_find_or_mount (gboolean *out_mounted, GError **error);

G_END_DECLS
