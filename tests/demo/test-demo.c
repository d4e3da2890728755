/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The demo lab on real namespaces: start, traffic, stop, and a name that already exists. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab-test.h"

static gboolean
netns_listed (const char *name)
{
  g_autofree char *list = lab_test_run_line ("ip netns list");
  g_auto (GStrv) lines = g_strsplit (list, "\n", -1);

  /* Lines read "NAME" or "NAME (id: N)". */
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) words = g_strsplit (lines[i], " ", 2);

      if (words[0] != NULL && g_str_equal (words[0], name))
        return TRUE;
    }
  return FALSE;
}

static gboolean
netns_file_exists (const char *name)
{
  g_autofree char *path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);
  struct stat st;

  return lstat (path, &st) == 0;
}

/* Counts this process's open sockets, because a socket left open keeps its namespace alive. */
static guint
count_open_sockets (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *entry;
  guint count = 0;

  g_assert_nonnull (dir);
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/fd", entry, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);

      if (target != NULL && g_str_has_prefix (target, "socket:"))
        count++;
    }
  return count;
}

static void
start_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out_result = user_data;

  *out_result = g_object_ref (result);
}

static gboolean
start_demo_cancellable (LabDemo *demo, GCancellable *cancellable, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  lab_demo_start_async (demo, cancellable, start_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return lab_demo_start_finish (demo, result, error);
}

static gboolean
start_demo (LabDemo *demo, GError **error)
{
  return start_demo_cancellable (demo, NULL, error);
}

static void
assert_node_address (const char *ns, const char *cidr)
{
  const char *argv[] = { "ip", "-n", ns, "-o", "-4", "addr", "show", "dev", "eth0", NULL };
  g_autofree char *out = lab_test_run (argv);
  g_autofree char *expected = g_strdup_printf ("inet %s ", cidr);

  g_assert_nonnull (strstr (out, expected));
}

static void
assert_node_link_up (const char *ns)
{
  const char *argv[] = { "ip", "-n", ns, "-d", "link", "show", "dev", "eth0", NULL };
  g_autofree char *out = lab_test_run (argv);

  g_assert_nonnull (strstr (out, "state UP"));
  g_assert_nonnull (strstr (out, "veth"));
}

static void
test_start_stop (void)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);
  g_autofree char *name_b = g_strdup_printf ("%s-b", prefix);
  const char * const *names;
  guint sockets_before = count_open_sockets ();

  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);

  names = lab_demo_get_node_names (demo);
  g_assert_cmpstr (names[0], ==, name_a);
  g_assert_cmpstr (names[1], ==, name_b);
  g_assert_null (names[2]);

  g_assert_true (netns_listed (name_a));
  g_assert_true (netns_listed (name_b));
  g_assert_cmpstr (lab_demo_get_node_address (demo, 0), ==, "198.18.0.1/24");
  g_assert_cmpstr (lab_demo_get_node_address (demo, 1), ==, "198.18.0.2/24");
  assert_node_address (name_a, lab_demo_get_node_address (demo, 0));
  assert_node_address (name_b, lab_demo_get_node_address (demo, 1));
  assert_node_link_up (name_a);
  assert_node_link_up (name_b);
  g_assert_cmpuint (count_open_sockets (), >, sockets_before);

  while (lab_demo_get_echo_count (demo) == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (lab_demo_get_echo_count (demo), >, 0);

  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
  g_assert_false (netns_listed (name_a));
  g_assert_false (netns_listed (name_b));
  g_assert_false (netns_file_exists (name_a));
  g_assert_false (netns_file_exists (name_b));
  g_assert_cmpuint (count_open_sockets (), ==, sockets_before);

  /* A second stop finds nothing to do. */
  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
}

static void
test_restart (void)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);

  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);

  /* Starting a running demo again is rejected and leaves it running. */
  g_assert_false (start_demo (demo, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_BUSY);
  g_clear_error (&error);
  g_assert_true (netns_listed (name_a));

  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
  g_assert_false (netns_listed (name_a));

  /* After a stop, the same object builds the lab again. */
  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);
  g_assert_true (netns_listed (name_a));
  while (lab_demo_get_echo_count (demo) == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
  g_assert_false (netns_listed (name_a));
}

static gboolean
stop_demo_async (LabDemo *demo, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  lab_demo_stop_async (demo, NULL, start_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return lab_demo_stop_finish (demo, result, error);
}

static void
test_stop_async (void)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (GAsyncResult) start_result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);
  g_autofree char *name_b = g_strdup_printf ("%s-b", prefix);
  guint sockets_before = count_open_sockets ();
  guint64 echoes;

  /* A stop while the start runs is rejected, and the start still completes. */
  lab_demo_start_async (demo, NULL, start_cb, &start_result);
  g_assert_false (stop_demo_async (demo, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_BUSY);
  g_clear_error (&error);
  while (start_result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (lab_demo_start_finish (demo, start_result, &error));
  g_assert_no_error (error);
  g_assert_true (netns_listed (name_a));

  while (lab_demo_get_echo_count (demo) == 0)
    g_main_context_iteration (NULL, TRUE);

  g_assert_true (stop_demo_async (demo, &error));
  g_assert_no_error (error);
  g_assert_false (netns_listed (name_a));
  g_assert_false (netns_listed (name_b));
  g_assert_false (netns_file_exists (name_a));
  g_assert_false (netns_file_exists (name_b));
  g_assert_cmpuint (count_open_sockets (), ==, sockets_before);

  /* The count of the stopped run stays readable and no longer grows. */
  echoes = lab_demo_get_echo_count (demo);
  g_assert_cmpuint (echoes, >, 0);
  for (guint i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (lab_demo_get_echo_count (demo), ==, echoes);

  /* A second stop finds nothing to do. */
  g_assert_true (stop_demo_async (demo, &error));
  g_assert_no_error (error);
}

static void
test_dispose_removes (void)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);
  g_autofree char *name_b = g_strdup_printf ("%s-b", prefix);
  LabDemo *demo = lab_demo_new (prefix);

  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);
  g_assert_true (netns_listed (name_a));

  g_object_unref (demo);
  g_assert_false (netns_listed (name_a));
  g_assert_false (netns_listed (name_b));
}

static void
test_cancelled (void)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);
  g_autofree char *name_b = g_strdup_printf ("%s-b", prefix);

  g_cancellable_cancel (cancellable);
  g_assert_false (start_demo_cancellable (demo, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (netns_file_exists (name_a));
  g_assert_false (netns_file_exists (name_b));

  /* A cancelled start leaves the object ready for another start. */
  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);
  g_assert_true (netns_listed (name_a));
  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
  g_assert_false (netns_listed (name_a));
}

static guint64 stat_inode (const char *name);

static void
test_start_while_stopping (void)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (GAsyncResult) stop_result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);

  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);

  /* The removal runs on a worker thread, so the start below comes before it ends. */
  lab_demo_stop_async (demo, NULL, start_cb, &stop_result);
  g_assert_false (start_demo (demo, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "still stopping"));
  g_assert_null (strstr (error->message, "ip netns delete"));
  g_clear_error (&error);

  while (stop_result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (lab_demo_stop_finish (demo, stop_result, &error));
  g_assert_no_error (error);
  g_assert_false (netns_file_exists (name_a));

  /* Once the stop has finished, the same object starts again. */
  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);
  g_assert_true (netns_listed (name_a));
  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
  g_assert_false (netns_listed (name_a));
}

static char *
lock_file_path (const char *prefix)
{
  g_autofree char *name = g_strdup_printf ("demo-%s.lock", prefix);
  const char *dir = g_getenv ("LAB_RUNTIME_DIR");

  g_assert_nonnull (dir);
  return g_build_filename (dir, name, NULL);
}

static void
test_second_demo_running (void)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (LabDemo) second = lab_demo_new (prefix);
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);
  g_autofree char *name_b = g_strdup_printf ("%s-b", prefix);
  g_autofree char *lock_path = lock_file_path (prefix);
  g_autofree char *expected = g_strdup_printf ("running in PID %d;", (int) getpid ());
  g_autofree char *lock_text = NULL;
  guint64 inode_a;

  g_assert_true (start_demo (demo, &error));
  g_assert_no_error (error);
  inode_a = stat_inode (name_a);
  g_assert_true (g_file_get_contents (lock_path, &lock_text, NULL, NULL));
  g_assert_cmpint (atoi (lock_text), ==, getpid ());

  /* A second demo with the prefix names the running one instead of offering --cleanup. */
  g_assert_false (start_demo (second, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, expected));
  g_assert_null (strstr (error->message, "--cleanup"));
  g_clear_error (&error);
  g_assert_false (lab_demo_check_not_running (prefix, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, expected));
  g_clear_error (&error);

  /* The failed start left the running demo and its lock intact. */
  g_clear_object (&second);
  g_assert_true (netns_listed (name_a));
  g_assert_true (netns_listed (name_b));
  g_assert_cmpuint (stat_inode (name_a), ==, inode_a);
  g_assert_true (g_file_test (lock_path, G_FILE_TEST_EXISTS));
  g_assert_false (lab_demo_check_not_running (prefix, NULL));

  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
  g_assert_false (netns_listed (name_a));
  g_assert_false (g_file_test (lock_path, G_FILE_TEST_EXISTS));
  g_assert_true (lab_demo_check_not_running (prefix, &error));
  g_assert_no_error (error);
}

static guint64
stat_inode (const char *name)
{
  g_autofree char *path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_ino;
}

/* Pre-creates the namespace of node EXISTING_INDEX, then checks that start fails cleanly. */
static void
check_exists (guint existing_index)
{
  g_autofree char *prefix = lab_test_unique_name ("demo");
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (GError) error = NULL;
  g_autofree char *name_a = g_strdup_printf ("%s-a", prefix);
  g_autofree char *name_b = g_strdup_printf ("%s-b", prefix);
  const char *names[] = { name_a, name_b };
  const char *existing = names[existing_index];
  const char *other_name = names[1 - existing_index];
  g_autofree char *add = g_strdup_printf ("ip netns add %s", existing);
  g_autofree char *delete = g_strdup_printf ("ip netns delete %s", existing);
  g_autofree char *expected_fix = g_strdup_printf ("'ip netns delete %s'", existing);
  guint64 inode_before;

  g_free (lab_test_run_line (add));
  inode_before = stat_inode (existing);

  g_assert_false (start_demo (demo, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, existing));
  g_assert_nonnull (strstr (error->message, expected_fix));
  g_assert_nonnull (strstr (error->message, "--cleanup"));
  g_clear_error (&error);

  g_assert_true (netns_listed (existing));
  g_assert_cmpuint (stat_inode (existing), ==, inode_before);
  g_assert_false (netns_listed (other_name));
  g_assert_false (netns_file_exists (other_name));

  /* Stop and dispose must leave the namespace that was there before. */
  g_assert_true (lab_demo_stop (demo, &error));
  g_assert_no_error (error);
  g_clear_object (&demo);
  g_assert_true (netns_listed (existing));
  g_assert_cmpuint (stat_inode (existing), ==, inode_before);

  g_free (lab_test_run_line (delete));
  g_assert_false (netns_listed (existing));
}

static void
test_exists_first (void)
{
  check_exists (0);
}

static void
test_exists_second (void)
{
  check_exists (1);
}

static void
test_invalid_prefix (void)
{
  g_autofree char *unique = lab_test_unique_name ("demo");
  g_autofree char *prefix = g_strdup_printf ("../%s", unique);
  g_autofree char *escaped_path = g_strdup_printf ("/run/%s-a", unique);
  g_autoptr (LabDemo) demo = lab_demo_new (prefix);
  g_autoptr (GError) error = NULL;

  g_assert_false (start_demo (demo, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
  g_assert_false (g_file_test (escaped_path, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_autofree char *ip_path = NULL;

  g_test_init (&argc, &argv, NULL);
  lab_test_require_root ();
  ip_path = g_find_program_in_path ("ip");
  if (ip_path == NULL)
    lab_test_skip_all ("needs 'ip' from iproute2 to check namespaces and addresses");

  g_test_add_func ("/lab/demo/start-stop", test_start_stop);
  g_test_add_func ("/lab/demo/restart", test_restart);
  g_test_add_func ("/lab/demo/stop-async", test_stop_async);
  g_test_add_func ("/lab/demo/dispose-removes", test_dispose_removes);
  g_test_add_func ("/lab/demo/cancelled", test_cancelled);
  g_test_add_func ("/lab/demo/start-while-stopping", test_start_while_stopping);
  g_test_add_func ("/lab/demo/second-demo-running", test_second_demo_running);
  g_test_add_func ("/lab/demo/exists", test_exists_first);
  g_test_add_func ("/lab/demo/exists-second", test_exists_second);
  g_test_add_func ("/lab/demo/invalid-prefix", test_invalid_prefix);

  return g_test_run ();
}
