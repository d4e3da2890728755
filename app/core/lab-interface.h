/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

/* One network interface as seen inside its namespace. */
struct _LabInterface {
  char *name;
  int ifindex;
  guint flags;        /* IFF_UP, IFF_LOOPBACK, ... */
  char *kind;         /* rtnl link type such as "veth" or "bridge", or NULL */
  char *mac;          /* "aa:bb:cc:dd:ee:ff" or NULL */
  GStrv addresses;    /* "198.18.0.1/24", "fe80::1/64", ... */
  char *qdisc_kind;   /* root qdisc kind, or NULL when unknown */
};

#define LAB_TYPE_INTERFACE (lab_interface_get_type ())
GType lab_interface_get_type (void);
LabInterface *lab_interface_copy (const LabInterface *iface);
void lab_interface_free (LabInterface *iface);
gboolean lab_interface_is_loopback (const LabInterface *iface);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabInterface, lab_interface_free)

/* Lists the interfaces of @netns, sorted by ifindex; result is a GPtrArray of LabInterface. */
void lab_interface_list_async (LabNetns *netns, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *lab_interface_list_finish (GAsyncResult *result, GError **error);

/*
 * Lists interfaces from the namespace the calling thread is in. Only for code
 * already running inside a LabNetnsFunc.
 */
GPtrArray *lab_interface_list_here (GError **error);

G_END_DECLS
