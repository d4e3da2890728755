/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Setup of one demo node inside its network namespace. */
#pragma once

#include <gio/gio.h>

#include "lab-netns.h"

G_BEGIN_DECLS

#define DEMO_PREFIX_LEN 24

/* What a node's setup inside its namespace needs and produces. */
typedef struct {
  const char *address; /* this node's IPv4 address on eth0 */
  const char *peer_address;
  int veth_peer_netns_fd; /* >= 0: create the veth pair and move the peer there */
  gboolean echo;          /* TRUE: open the echo socket, FALSE: the sender socket */
  int socket_fd;          /* output */
} DemoNodeSetup;

/* A LabNetnsFunc: @user_data is a DemoNodeSetup. */
gpointer lab_demo_setup_node_in_netns (LabNetns *netns, gpointer user_data,
                                       GCancellable *cancellable, GError **error);

G_END_DECLS
