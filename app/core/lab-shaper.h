/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Impairment of one interface's egress through libnl-route-3: netem for delay,
 * jitter and loss, tbf for rate. The original root qdisc is saved in a journal
 * before the first change and restored exactly on reset, also by a later process.
 *
 * @ifname may be NULL: then the namespace's only non-loopback interface is used,
 * or the call fails with LAB_ERROR_AMBIGUOUS listing the choices.
 * Every call reads the root qdisc back and returns what the kernel holds.
 */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

/* Where the journal lives unless $LAB_RUNTIME_DIR names another directory. */
#define LAB_RUNTIME_DIR_DEFAULT "/run/kinvolk-lab"

/*
 * Sends the whole desired state: fields at zero are cleared. An empty
 * impairment restores the original. Delay, jitter or loss on a kernel without
 * sch_netem fails with LAB_ERROR_NOT_SUPPORTED and changes nothing.
 */
void lab_shaper_apply_async (LabNetns *netns, const char *ifname,
                             const LabImpairment *impairment, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
LabQdiscState *lab_shaper_apply_finish (GAsyncResult *result, GError **error);

void lab_shaper_read_async (LabNetns *netns, const char *ifname, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
LabQdiscState *lab_shaper_read_finish (GAsyncResult *result, GError **error);

/* Restores the saved original root qdisc and forgets it; a no-op when nothing was saved. */
void lab_shaper_reset_async (LabNetns *netns, const char *ifname, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
LabQdiscState *lab_shaper_reset_finish (GAsyncResult *result, GError **error);

/* The tc command line that deletes @ifname's root qdisc in @netns, quoted for a shell. */
char *lab_shaper_describe_tc_delete (LabNetns *netns, const char *ifname);

G_END_DECLS
