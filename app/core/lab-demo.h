/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The built-in demo lab: two nodes, network namespaces PREFIX-a and PREFIX-b
 * under /run/netns, joined by a veth pair (eth0 in each) with addresses in
 * 198.18.0.0/15, and UDP echo traffic flowing between them.
 */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

#define LAB_DEMO_PREFIX_DEFAULT "lab-demo"

#define LAB_TYPE_DEMO (lab_demo_get_type ())
G_DECLARE_FINAL_TYPE (LabDemo, lab_demo, LAB, DEMO, GObject)

LabDemo *lab_demo_new (const char *prefix);
/* Node namespace names, set at construction: { "PREFIX-a", "PREFIX-b", NULL }. */
const char * const *lab_demo_get_node_names (LabDemo *self);
/*
 * Returns the IPv4 address and prefix length on eth0 of the node named
 * lab_demo_get_node_names()[index]: "198.18.0.1/24" for index 0, "198.18.0.2/24" for index 1.
 */
const char *lab_demo_get_node_address (LabDemo *self, guint index);
/*
 * Fails with LAB_ERROR_BUSY when a live demo with the same prefix holds the
 * lock file $LAB_RUNTIME_DIR/demo-PREFIX.lock. Fails with LAB_ERROR_EXISTS
 * when a node's namespace already exists. A failed start leaves nothing behind.
 * A started demo holds the lock, with its PID in the file, until its
 * namespaces are removed.
 */
void lab_demo_start_async (LabDemo *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
gboolean lab_demo_start_finish (LabDemo *self, GAsyncResult *result, GError **error);
/*
 * Removes the traffic and both namespaces; blocking, safe to call twice. Fails
 * with LAB_ERROR_BUSY while a start or an asynchronous stop is in progress.
 */
gboolean lab_demo_stop (LabDemo *self, GError **error);
/*
 * Same as lab_demo_stop, without blocking: the traffic stops before this
 * returns, and the namespaces are removed on a worker thread. Call it from the
 * thread that started the demo. Cancelling does not skip the removal. Until
 * the removal finishes, a start fails with LAB_ERROR_BUSY.
 */
void lab_demo_stop_async (LabDemo *self, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
gboolean lab_demo_stop_finish (LabDemo *self, GAsyncResult *result, GError **error);
/*
 * Fails with LAB_ERROR_BUSY, naming the PID, when a live demo with @prefix in
 * any process holds its lock file. Blocking.
 */
gboolean lab_demo_check_not_running (const char *prefix, GError **error);
/* UDP echo packets answered so far, to show that traffic flows. */
guint64 lab_demo_get_echo_count (LabDemo *self);

G_END_DECLS
