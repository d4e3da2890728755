/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lab's own BPF tracepoint programs (process exec, TCP retransmit), delivering
 * events through a BPF_MAP_TYPE_PERF_EVENT_ARRAY map read on the main context.
 */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

typedef enum {
  LAB_BPF_EVENT_EXEC = 1,
  LAB_BPF_EVENT_TCP_RETRANSMIT = 2,
} LabBpfEventKind;

/* One decoded event, valid only during the "event" signal emission. */
struct _LabBpfEvent {
  LabBpfEventKind kind;
  gint64 realtime_usec; /* wall-clock time, converted from the kernel's monotonic stamp */
  guint32 pid;
  guint32 tid;
  guint64 netns_inode;
  /* The kernel's task name bytes, cut at 15 bytes, so not always valid UTF-8. */
  char comm[16];
  /*
   * Valid UTF-8, with U+FFFD in place of invalid bytes: "/usr/bin/true" or
   * "198.18.0.1:5201 -> 198.18.0.2:41000 state ESTABLISHED".
   */
  const char *detail;
};

#define LAB_TYPE_BPF_EVENTS (lab_bpf_events_get_type ())
G_DECLARE_FINAL_TYPE (LabBpfEvents, lab_bpf_events, LAB, BPF_EVENTS, GObject)

/* Signals: "event" (gpointer LabBpfEvent*), "lost" (guint64 count in this report). */

LabBpfEvents *lab_bpf_events_new (void);
/* Loads and attaches the programs on a worker thread; fails with the kernel's reason. */
void lab_bpf_events_start_async (LabBpfEvents *self, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean lab_bpf_events_start_finish (LabBpfEvents *self, GAsyncResult *result, GError **error);
/*
 * Stops delivery at once; the programs are detached on a worker thread shortly
 * after. A start in flight fails with G_IO_ERROR_CANCELLED, and a new start may
 * follow at once.
 */
void lab_bpf_events_stop (LabBpfEvents *self);
guint64 lab_bpf_events_get_received (LabBpfEvents *self);
guint64 lab_bpf_events_get_lost (LabBpfEvents *self);
const char *lab_bpf_event_kind_to_string (LabBpfEventKind kind);

G_END_DECLS
