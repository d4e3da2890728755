/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void
lab_test_skip_all (const char *format, ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);
  printf ("SKIP: %s\n", reason);
  fflush (stdout);
  exit (LAB_TEST_EXIT_SKIP);
}

void
lab_test_require_root (void)
{
  if (geteuid () != 0)
    lab_test_skip_all ("needs root to create network namespaces and qdiscs");
}

char *
lab_test_unique_name (const char *suffix)
{
  static guint counter;
  const char *prefix = g_getenv ("LAB_TEST_PREFIX");
  g_autofree char *fallback = NULL;

  if (prefix == NULL || *prefix == '\0')
    prefix = fallback = g_strdup_printf ("labt%d", (int) getpid ());
  return g_strdup_printf ("%s-%s-%u", prefix, suffix, ++counter);
}

char *
lab_test_run (const char * const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *command = g_strjoinv (" ", (char **) argv);
  char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("'%s' failed (status %d): %s", command, status, err);
  return out;
}

char *
lab_test_run_line (const char *command_line)
{
  g_auto (GStrv) argv = g_strsplit (command_line, " ", -1);

  return lab_test_run ((const char * const *) argv);
}

LabTestPair *
lab_test_pair_new (void)
{
  static guint subnet;
  LabTestPair *pair = g_new0 (LabTestPair, 1);
  g_autofree char *peer = g_strdup_printf ("labp%d", (int) getpid ());
  g_autofree char *addr_a = NULL;
  g_autofree char *addr_b = NULL;
  guint net = 100 + (subnet++ % 100);

  pair->ns_a = lab_test_unique_name ("a");
  pair->ns_b = lab_test_unique_name ("b");
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "add", pair->ns_a, NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "add", pair->ns_b, NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", pair->ns_a, "link", "add", "eth0", "type",
                                          "veth", "peer", "name", peer, "netns", pair->ns_b,
                                          NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", pair->ns_b, "link", "set", peer, "name",
                                          "eth0", NULL }));

  addr_a = g_strdup_printf ("198.18.%u.1/24", net);
  addr_b = g_strdup_printf ("198.18.%u.2/24", net);
  g_free (lab_test_run ((const char *[]){ "ip", "-n", pair->ns_a, "addr", "add", addr_a, "dev",
                                          "eth0", NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", pair->ns_b, "addr", "add", addr_b, "dev",
                                          "eth0", NULL }));
  for (guint i = 0; i < 2; i++)
    {
      const char *ns = i == 0 ? pair->ns_a : pair->ns_b;

      g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "set", "lo", "up", NULL }));
      g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "set", "eth0", "up", NULL }));
    }
  return pair;
}

static void
delete_netns_quietly (const char *name)
{
  g_autofree char *path = g_build_filename ("/run/netns", name, NULL);
  const char *argv[] = { "ip", "netns", "delete", name, NULL };

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return;
  g_spawn_sync (NULL, (char **) argv, NULL,
                G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                NULL, NULL, NULL, NULL, NULL, NULL);
}

void
lab_test_pair_free (LabTestPair *pair)
{
  if (pair == NULL)
    return;
  delete_netns_quietly (pair->ns_a);
  delete_netns_quietly (pair->ns_b);
  g_free (pair->ns_a);
  g_free (pair->ns_b);
  g_free (pair);
}

void
lab_test_wait_for (gboolean *flag)
{
  while (!*flag)
    g_main_context_iteration (NULL, TRUE);
}
