/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A live reader of the top-level tracefs trace_pipe, including bpf_printk
 * output. Non-blocking on the main context; lines are handed out in batches.
 * trace_pipe allows one reader: when another program holds it, start fails
 * with LAB_ERROR_BUSY naming that program.
 */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

#define LAB_TYPE_TRACE_PIPE (lab_trace_pipe_get_type ())
G_DECLARE_FINAL_TYPE (LabTracePipe, lab_trace_pipe, LAB, TRACE_PIPE, GObject)

/*
 * Signals:
 * "lines" (GStrv lines): a batch of complete lines without newlines, in valid
 * UTF-8, with U+FFFD in place of invalid bytes.
 * "error" (GError *error): reading trace_pipe failed, so the reader closed it
 * and stopped. A new start may follow.
 */

LabTracePipe *lab_trace_pipe_new (void);
/* Finds or mounts tracefs and opens trace_pipe; runs the blocking part on a thread. */
void lab_trace_pipe_start_async (LabTracePipe *self, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean lab_trace_pipe_start_finish (LabTracePipe *self, GAsyncResult *result, GError **error);
/* Closes trace_pipe. A start in flight fails with G_IO_ERROR_CANCELLED. Idempotent. */
void lab_trace_pipe_stop (LabTracePipe *self);
/* tracefs mount point in use, such as "/sys/kernel/tracing", or NULL before start. */
const char *lab_trace_pipe_get_tracefs (LabTracePipe *self);
guint64 lab_trace_pipe_get_lines_read (LabTracePipe *self);
/*
 * Trace entries that the kernel overwrote before they were read, counted while
 * this object had trace_pipe open, across restarts, like the lines read. It is
 * the growth of the "overrun:" sum over per_cpu/cpuN/stats since each start,
 * checked once a second, so it lags by up to a second. Overruns from before a
 * start or after a stop are left out.
 */
guint64 lab_trace_pipe_get_overruns (LabTracePipe *self);

G_END_DECLS
