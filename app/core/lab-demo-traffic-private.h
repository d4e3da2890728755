/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The demo's UDP traffic between its two nodes. */
#pragma once

#include <unistd.h>

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The sockets and counters that the traffic sources use. Each source holds a
 * reference, and the sockets close when the last one goes, so a stop never
 * closes a socket while a callback on the demo's main context still reads it.
 */
typedef struct {
  gatomicrefcount ref_count;
  char *sender_node; /* for log messages */
  char *echo_node;
  int sender_fd; /* in node a, connected to node b's echo port */
  int echo_fd;   /* in node b, bound to the echo port */
  guint32 probe_sequence;
  guint64 echo_count;
} DemoTraffic;

/* Closes a node socket, which the start owns first and the traffic afterwards. */
static inline void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

DemoTraffic *lab_demo_traffic_new (const char *sender_node, const char *echo_node, int sender_fd,
                                   int echo_fd);
gpointer lab_demo_traffic_ref (gpointer data);
void lab_demo_traffic_unref (gpointer data);
gboolean lab_demo_traffic_send_probe_cb (gpointer user_data);
gboolean lab_demo_traffic_sender_readable_cb (int fd, GIOCondition condition, gpointer user_data);
gboolean lab_demo_traffic_echo_readable_cb (int fd, GIOCondition condition, gpointer user_data);

G_END_DECLS
