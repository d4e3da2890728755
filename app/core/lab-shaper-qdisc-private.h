/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qdiscs Lab installs, defined in app/core/lab-shaper-qdisc.c. Functions
 * that return int return 0 or a negative errno.
 */
#pragma once

#include <glib.h>
#include <netlink/netlink.h>
#include <netlink/route/qdisc.h>

#include "lab-journal.h"
#include "lab-shaper-target-private.h"
#include "lab-types.h"

G_BEGIN_DECLS

/* What the root looked like before a change, for putting it back after a failure. */
typedef struct {
  GBytes *root;  /* NULL: the kernel default was there, so delete Lab's root */
  GBytes *child; /* the tbf under Lab's netem, or NULL */
} Snapshot;

void lab_shaper_snapshot_clear (Snapshot *snapshot);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Snapshot, lab_shaper_snapshot_clear)

/* g_autoptr() needs typedef names for libnl's structs. */
typedef struct rtnl_qdisc RtnlQdisc;
typedef struct nl_cache NlCache;
typedef struct nl_msg NlMsg;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlQdisc, rtnl_qdisc_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlCache, nl_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlMsg, nlmsg_free)

/* Whether @qdisc carries one of the root handles that mark Lab's qdiscs. */
gboolean lab_shaper_is_ours (struct rtnl_qdisc *qdisc);

int lab_shaper_load_qdiscs (Target *target, struct nl_cache **out_cache);
struct rtnl_qdisc *lab_shaper_find_qdisc (struct nl_cache *qdiscs, int ifindex, guint32 parent);

/* Sends a saved RTM_NEWQDISC message, such as a journal entry's. */
int lab_shaper_send_message (Target *target, GBytes *message);
int lab_shaper_send_delete (Target *target, guint32 parent, guint32 handle);

LabJournalEntry *lab_shaper_make_journal_entry (Target *target, struct nl_cache *qdiscs,
                                                struct rtnl_qdisc *root, GError **error);
int lab_shaper_snapshot_take (Snapshot *snapshot, Target *target, struct nl_cache *qdiscs,
                              struct rtnl_qdisc *root);
int lab_shaper_snapshot_restore (Snapshot *snapshot, Target *target);

gboolean lab_shaper_install (Target *target, const LabImpairment *impairment,
                             struct nl_cache *qdiscs, struct rtnl_qdisc *root,
                             gboolean *out_changed, GError **error);
LabQdiscState *lab_shaper_read_state (Target *target, LabJournal *journal, GError **error);

G_END_DECLS
