/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A reference to a network namespace: the host's, a name under /run/netns, or
 * the one a process (such as a machined leader) lives in. Immutable and
 * reference counted, so it can cross threads.
 */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

#define LAB_NETNS_RUN_DIR "/run/netns"

typedef enum {
  LAB_NETNS_HOST,  /* the namespace of this process's main thread */
  LAB_NETNS_NAMED, /* a bind mount under /run/netns, as `ip netns add` makes */
  LAB_NETNS_PID,   /* /proc/PID/ns/net */
} LabNetnsKind;

#define LAB_TYPE_NETNS (lab_netns_get_type ())
GType lab_netns_get_type (void);

LabNetns *lab_netns_new_host (void);
/* Fails with LAB_ERROR_INVALID_ARGUMENT for "", ".", "..", names with '/' or over NAME_MAX. */
LabNetns *lab_netns_new_named (const char *name, GError **error);
LabNetns *lab_netns_new_pid (GPid pid);
/* The namespace of a machined machine's leader; messages name the machine, not only the PID. */
LabNetns *lab_netns_new_machine (const char *machine, GPid leader);
LabNetns *lab_netns_ref (LabNetns *netns);
void lab_netns_unref (LabNetns *netns);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabNetns, lab_netns_unref)

gboolean lab_netns_name_is_valid (const char *name);
LabNetnsKind lab_netns_get_kind (LabNetns *netns);
/* The /run/netns name for LAB_NETNS_NAMED, else NULL. */
const char *lab_netns_get_name (LabNetns *netns);
/* The process for LAB_NETNS_PID, else 0. */
GPid lab_netns_get_pid (LabNetns *netns);
/* For messages: "'demo-a'", "the host", "PID 1234", "machine 'web' (leader PID 1234)". */
const char *lab_netns_get_description (LabNetns *netns);
/* A path that names the namespace, for nsenter --net=PATH. */
char *lab_netns_dup_path (LabNetns *netns);

/*
 * Opens the namespace file with O_RDONLY | O_CLOEXEC; names under /run/netns
 * are opened relative to a directory fd. Returns the fd or -1 with
 * LAB_ERROR_NOT_FOUND when it is gone. Does blocking I/O: call it off the UI thread.
 */
int lab_netns_open (LabNetns *netns, GError **error);

/* Reads the namespace inode (as in /proc/PID/ns/net -> net:[INODE]); blocking. */
gboolean lab_netns_get_inode (LabNetns *netns, guint64 *out_inode, GError **error);

/*
 * Work that runs inside the namespace. It runs on a thread that was created
 * for this call, has joined the namespace with setns() and ends afterwards, so
 * no shared thread ever changes namespace. Sockets it opens stay bound to the
 * namespace. Return NULL and set @error on failure.
 */
typedef gpointer (*LabNetnsFunc) (LabNetns *netns, gpointer user_data,
                                  GCancellable *cancellable, GError **error);

void lab_netns_run_async (LabNetns *netns, LabNetnsFunc func, gpointer user_data,
                          GDestroyNotify user_data_free, GDestroyNotify result_free,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer callback_data);
gpointer lab_netns_run_finish (GAsyncResult *result, GError **error);

/* Same, waiting for the thread; for threads that may block, never the UI thread. */
gpointer lab_netns_run_sync (LabNetns *netns, LabNetnsFunc func, gpointer user_data,
                             GCancellable *cancellable, GError **error);

G_END_DECLS
