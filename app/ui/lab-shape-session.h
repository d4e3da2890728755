/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The impairments this UI applied, per (namespace, interface). Requests are
 * coalesced: at most one shaper call is in flight per interface, and when it
 * finishes the latest request is sent if it differs from what the kernel is
 * known to hold, so the final value always reaches the kernel. Every interface
 * that was changed is remembered, so that reset_all can restore them before the
 * application quits.
 */
#pragma once

#include <gio/gio.h>

#include "lab-core.h"

G_BEGIN_DECLS

#define LAB_TYPE_SHAPE_SESSION (lab_shape_session_get_type ())
G_DECLARE_FINAL_TYPE (LabShapeSession, lab_shape_session, LAB, SHAPE_SESSION, GObject)

/* Signal "changed" (LabNetns *netns, const char *ifname): new state or error for that interface. */

LabShapeSession *lab_shape_session_new (void);

/* Requests @impairment on the egress of @ifname in @netns; ignored once reset_all started. */
void lab_shape_session_request (LabShapeSession *self, LabNetns *netns, const char *ifname,
                                const LabImpairment *impairment);
/* Reads the root qdisc back and emits "changed" when it arrives. */
void lab_shape_session_refresh (LabShapeSession *self, LabNetns *netns, const char *ifname);
/*
 * Returns a counter of the applies and resets on that interface, which changes when one starts
 * and when one finishes. Take it just before starting a read outside the session.
 */
guint lab_shape_session_get_call_serial (LabShapeSession *self, LabNetns *netns,
                                         const char *ifname);
/*
 * Records @state, read back outside the session (such as by a periodic
 * lab_shaper_read_async), as the kernel's current impairment. A later request
 * that differs from it is then sent, also when it equals the last request.
 * @call_serial is lab_shape_session_get_call_serial() from before the read started.
 * Returns FALSE and ignores @state when an apply or reset is in flight or ran
 * since, because the read may predate its change.
 */
gboolean lab_shape_session_note_kernel_state (LabShapeSession *self, LabNetns *netns,
                                              const char *ifname, guint call_serial,
                                              const LabQdiscState *state);
/* Restores the original root qdisc of one interface. */
void lab_shape_session_reset (LabShapeSession *self, LabNetns *netns, const char *ifname);

/*
 * Looks up what is known about an interface. Returns FALSE when it was never
 * requested or read. Each out-parameter may be NULL; the pointers stay owned by
 * the session and are valid until the next "changed" emission.
 */
gboolean lab_shape_session_lookup (LabShapeSession *self, LabNetns *netns, const char *ifname,
                                   LabImpairment *out_desired, const LabQdiscState **out_state,
                                   const GError **out_error, const GError **out_netem_error);

/* Number of interfaces that an apply was sent to, whatever its result, and not yet reset. */
guint lab_shape_session_get_n_changed (LabShapeSession *self);

/*
 * Stops taking requests, waits for calls in flight, then resets every changed
 * interface. Fails with the first reset error; the other resets still run.
 */
void lab_shape_session_reset_all_async (LabShapeSession *self, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean lab_shape_session_reset_all_finish (LabShapeSession *self, GAsyncResult *result,
                                             GError **error);

G_END_DECLS
