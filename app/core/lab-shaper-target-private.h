/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The interface a shaper call works on, defined in app/core/lab-shaper-target.c.
 * Call these only on a thread inside the interface's namespace.
 */
#pragma once

#include <glib.h>
#include <netlink/route/link.h>

#include "lab-journal.h"
#include "lab-nl.h"
#include "lab-types.h"

G_BEGIN_DECLS

/* One interface inside the namespace the current thread is in. */
typedef struct {
  LabNetns *netns;
  LabNl *nl;
  struct rtnl_link *link;
  char *ifname;
  int ifindex;
  LabJournalKey key;
} Target;

/*
 * Opens a netlink socket and looks up @ifname, or the only non-loopback
 * interface when @ifname is NULL.
 */
Target *lab_shaper_target_open (LabNetns *netns, const char *ifname, GError **error);
void lab_shaper_target_free (Target *target);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Target, lab_shaper_target_free)

/* "namespace 'x'", "the host namespace" or "the namespace of PID 1234", for messages. */
char *lab_shaper_describe_netns (LabNetns *netns);

/* Sets the "interface gone" error, or "namespace gone" when @ifname is NULL. */
void lab_shaper_set_gone_error (GError **error, LabNetns *netns, const char *ifname);

/* Turns a negative errno from netlink into a GError; ENODEV means the interface vanished. */
void lab_shaper_set_netlink_error (GError **error, Target *target, const char *action, int err);

G_END_DECLS
