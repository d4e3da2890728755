/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `labctl demo`: builds the demo lab, keeps it until SIGINT or SIGTERM, then removes it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib-unix.h>

#include "labctl.h"

static gboolean
stop_requested_cb (gpointer user_data)
{
  gboolean *stop_requested = user_data;

  *stop_requested = TRUE;
  return G_SOURCE_CONTINUE;
}

/*
 * Removes the namespaces PREFIX-a and PREFIX-b that a demo left behind (after
 * SIGKILL, for example), as `ip netns delete` does: unmount, then unlink.
 * Fails without removing anything while a demo with this prefix runs.
 */
static int
cleanup_demo (const char *prefix)
{
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  const char * const *names = lab_demo_get_node_names (demo);
  g_autoptr (GError) error = NULL;
  int status = EXIT_SUCCESS;

  for (gsize i = 0; names[i] != NULL; i++)
    {
      if (!lab_netns_name_is_valid (names[i]))
        return labctl_usage_error ("invalid prefix '%s': the namespace name '%s' must not be "
                                   "'.' or '..' or contain '/'",
                                   prefix, names[i]);
    }

  /* The namespaces of a live demo are not left behind: its owner removes them when it stops. */
  if (!lab_demo_check_not_running (prefix, &error))
    return labctl_fail (error);

  for (gsize i = 0; names[i] != NULL; i++)
    {
      g_autofree char *path = NULL;

      path = g_build_filename (LAB_NETNS_RUN_DIR, names[i], NULL);
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        {
          printf ("No namespace '%s' to remove\n", names[i]);
          continue;
        }

      /* EINVAL: a stale file with nothing mounted on it, which unlink alone removes. */
      if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL)
        g_printerr ("labctl: cannot unmount %s: %s; trying to unlink it anyway\n", path,
                    g_strerror (errno));
      if (unlink (path) < 0)
        {
          g_printerr ("labctl: cannot remove namespace '%s' (%s): %s%s\n", names[i], path,
                      g_strerror (errno), errno == EACCES || errno == EPERM ? "; run as root" : "");
          status = EXIT_FAILURE;
          continue;
        }
      printf ("Removed namespace '%s'\n", names[i]);
    }
  return status;
}

static void
print_demo_help (LabDemo *demo)
{
  const char * const *names = lab_demo_get_node_names (demo);
  const char *echo_cidr = lab_demo_get_node_address (demo, 1);
  /* ping takes the address without the prefix length. */
  g_autofree char *echo_address = g_strndup (echo_cidr, strcspn (echo_cidr, "/"));

  printf ("Demo lab running with two nodes (network namespaces) joined by a veth pair:\n");
  for (guint i = 0; names[i] != NULL; i++)
    printf ("  %-24s eth0 %s\n", names[i], lab_demo_get_node_address (demo, i));
  printf ("UDP echo traffic flows from %s to %s every 200 ms.\n\n", names[0], names[1]);
  printf ("Try, from another shell:\n");
  printf ("  labctl set %s rate 1mbit\n", names[0]);
  printf ("  ip netns exec %s ping %s\n", names[0], echo_address);
  printf ("  labctl reset %s\n\n", names[0]);
  printf ("Press Ctrl+C to stop the demo and remove both namespaces.\n");
  fflush (stdout);
}

int
labctl_demo (int argc, char **argv)
{
  g_autofree char *prefix = NULL;
  gboolean cleanup = FALSE;
  const GOptionEntry entries[] = {
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix,
      "Name the nodes PREFIX-a and PREFIX-b (default: " LAB_DEMO_PREFIX_DEFAULT ")", "NAME" },
    { "cleanup", 0, 0, G_OPTION_ARG_NONE, &cleanup,
      "Remove the namespaces an earlier demo with this prefix left behind, then exit", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LabDemo) demo = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  LabctlWait wait = { NULL };
  gboolean stop_requested = FALSE;
  guint sigint_id;
  guint sigterm_id;
  gboolean started;

  context = g_option_context_new ("- build the demo lab and keep it until Ctrl+C");
  g_option_context_add_main_entries (context, entries, NULL);
  g_set_prgname ("labctl demo");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return labctl_usage_error ("%s", error->message);
  if (argc > 1)
    return labctl_usage_error ("unexpected argument '%s' for 'demo'", argv[1]);
  if (prefix == NULL)
    prefix = g_strdup (LAB_DEMO_PREFIX_DEFAULT);

  if (cleanup)
    return cleanup_demo (prefix);

  /* Installed before the start, so a signal during it still removes what the start made. */
  sigint_id = g_unix_signal_add (SIGINT, stop_requested_cb, &stop_requested);
  sigterm_id = g_unix_signal_add (SIGTERM, stop_requested_cb, &stop_requested);

  demo = lab_demo_new (prefix);
  lab_demo_start_async (demo, NULL, labctl_wait_cb, &wait);
  result = labctl_wait (&wait);
  started = lab_demo_start_finish (demo, result, &error);

  if (started)
    {
      print_demo_help (demo);
      while (!stop_requested)
        g_main_context_iteration (NULL, TRUE);
      printf ("Stopping the demo lab after %" G_GUINT64_FORMAT " UDP echoes\n",
              lab_demo_get_echo_count (demo));
      fflush (stdout);
      started = lab_demo_stop (demo, &error);
    }

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (!started)
    return labctl_fail (error);
  return EXIT_SUCCESS;
}
