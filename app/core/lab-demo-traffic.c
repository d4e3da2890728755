/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The demo's UDP traffic: probes from node a, echoes from node b, and the
 * echo counter, all run by sources on the main context of the caller of start.
 */
#include "lab-demo-traffic-private.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define DEMO_PROBE_MAX_SIZE 64

DemoTraffic *
lab_demo_traffic_new (const char *sender_node, const char *echo_node, int sender_fd, int echo_fd)
{
  DemoTraffic *traffic = g_new0 (DemoTraffic, 1);

  g_atomic_ref_count_init (&traffic->ref_count);
  traffic->sender_node = g_strdup (sender_node);
  traffic->echo_node = g_strdup (echo_node);
  traffic->sender_fd = sender_fd;
  traffic->echo_fd = echo_fd;
  return traffic;
}

gpointer
lab_demo_traffic_ref (gpointer data)
{
  DemoTraffic *traffic = data;

  g_atomic_ref_count_inc (&traffic->ref_count);
  return traffic;
}

void
lab_demo_traffic_unref (gpointer data)
{
  DemoTraffic *traffic = data;

  if (!g_atomic_ref_count_dec (&traffic->ref_count))
    return;
  close_fd (&traffic->sender_fd);
  close_fd (&traffic->echo_fd);
  g_free (traffic->sender_node);
  g_free (traffic->echo_node);
  g_free (traffic);
}

gboolean
lab_demo_traffic_send_probe_cb (gpointer user_data)
{
  DemoTraffic *traffic = user_data;
  char payload[DEMO_PROBE_MAX_SIZE];
  int len;

  len = g_snprintf (payload, sizeof payload, "lab-demo probe %u", ++traffic->probe_sequence);
  /* ECONNREFUSED reports an ICMP error for an earlier probe, and the next probe may still pass. */
  if (send (traffic->sender_fd, payload, len, MSG_DONTWAIT) < 0 && errno != EAGAIN)
    g_debug ("Demo probe %u from '%s' not sent: %s", traffic->probe_sequence,
             traffic->sender_node, g_strerror (errno));
  return G_SOURCE_CONTINUE;
}

gboolean
lab_demo_traffic_sender_readable_cb (int fd, GIOCondition condition, gpointer user_data)
{
  DemoTraffic *traffic = user_data;
  char buffer[DEMO_PROBE_MAX_SIZE];

  for (;;)
    {
      ssize_t len = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT);

      if (len >= 0)
        {
          traffic->echo_count++;
          continue;
        }
      if (errno == EINTR || errno == ECONNREFUSED)
        continue;
      if (errno != EAGAIN)
        g_debug ("Demo echo in '%s' not received: %s", traffic->sender_node, g_strerror (errno));
      break;
    }
  return G_SOURCE_CONTINUE;
}

gboolean
lab_demo_traffic_echo_readable_cb (int fd, GIOCondition condition, gpointer user_data)
{
  DemoTraffic *traffic = user_data;
  char buffer[DEMO_PROBE_MAX_SIZE];

  for (;;)
    {
      struct sockaddr_in from;
      socklen_t from_len = sizeof from;
      ssize_t len;

      len = recvfrom (fd, buffer, sizeof buffer, MSG_DONTWAIT, (struct sockaddr *) &from,
                      &from_len);
      if (len < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN)
            g_debug ("Demo probe in '%s' not received: %s", traffic->echo_node,
                     g_strerror (errno));
          break;
        }
      /* The socket lives in node b's namespace, so replies go only to its own peers. */
      if (sendto (fd, buffer, len, MSG_DONTWAIT, (struct sockaddr *) &from, from_len) < 0)
        g_debug ("Demo echo in '%s' not sent: %s", traffic->echo_node, g_strerror (errno));
    }
  return G_SOURCE_CONTINUE;
}
