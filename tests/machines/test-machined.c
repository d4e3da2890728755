/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine list against the real systemd-machined on a private system bus,
 * which with-machined.sh starts and names in DBUS_SYSTEM_BUS_ADDRESS.
 */
#include "lab-test.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup/unified"

static void
store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

static gboolean
set_flag_cb (gpointer user_data)
{
  gboolean *flag = user_data;

  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

/* For conditions no event announces, such as another process's namespace changing. */
static void
iterate_briefly (void)
{
  gboolean fired = FALSE;
  guint id = g_timeout_add (10, set_flag_cb, &fired);

  g_main_context_iteration (NULL, TRUE);
  if (!fired)
    g_source_remove (id);
}

static guint64
inode_of (const char *path)
{
  struct stat st;

  g_assert_no_errno (stat (path, &st));
  return st.st_ino;
}

/* The process exists and runs `sleep`, so `unshare --net` already made its namespace. */
static gboolean
leader_is_ready (GPid pid)
{
  g_autofree char *comm_path = g_strdup_printf ("/proc/%d/comm", (int) pid);
  g_autofree char *comm = NULL;

  if (!g_file_get_contents (comm_path, &comm, NULL, NULL))
    return FALSE;
  return g_str_equal (g_strchomp (comm), "sleep");
}

static LabMachine *
find_machined (LabMachineMonitor *monitor, const char *name)
{
  guint n_items = g_list_model_get_n_items (G_LIST_MODEL (monitor));

  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (G_LIST_MODEL (monitor), i);

      if (lab_machine_get_source (machine) == LAB_MACHINE_MACHINED
          && g_str_equal (lab_machine_get_name (machine), name))
        return g_steal_pointer (&machine);
    }
  return NULL;
}

static void
call_machined (GDBusConnection *bus, const char *method, GVariant *parameters)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.machine1",
                                       "/org/freedesktop/machine1",
                                       "org.freedesktop.machine1.Manager", method, parameters,
                                       NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
}

typedef struct {
  GPid leader;
  char *cgroup;
} Leader;

static void
leader_stop (Leader *leader)
{
  if (leader->leader > 0)
    {
      g_assert_no_errno (kill (leader->leader, SIGKILL));
      g_assert_cmpint (waitpid (leader->leader, NULL, 0), ==, leader->leader);
      leader->leader = 0;
    }
  if (leader->cgroup != NULL)
    {
      /* The kernel may report the cgroup busy for a moment after its last process is reaped. */
      while (rmdir (leader->cgroup) < 0)
        {
          g_assert_cmpint (errno, ==, EBUSY);
          iterate_briefly ();
        }
      g_clear_pointer (&leader->cgroup, g_free);
    }
}

static void
leader_start (Leader *leader, const char *name)
{
  const char *argv[] = { "unshare", "--net", "--", "sleep", "infinity", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *procs = NULL;
  g_autofree char *pid_text = NULL;

  g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                 NULL, NULL, &leader->leader, &error);
  g_assert_no_error (error);

  /* machined takes the unit from the leader's cgroup, so it needs a scope of its own. */
  leader->cgroup = g_strdup_printf (CGROUP_ROOT "/%s.scope", name);
  g_assert_no_errno (mkdir (leader->cgroup, 0755));
  procs = g_build_filename (leader->cgroup, "cgroup.procs", NULL);
  pid_text = g_strdup_printf ("%d", (int) leader->leader);
  g_file_set_contents_full (procs, pid_text, -1, G_FILE_SET_CONTENTS_NONE, 0644, &error);
  g_assert_no_error (error);

  while (!leader_is_ready (leader->leader))
    iterate_briefly ();
}

static void
test_machined (void)
{
  g_autoptr (LabMachineMonitor) monitor = lab_machine_monitor_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (LabMachine) machine = NULL;
  g_autoptr (LabMachine) looked_up = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = lab_test_unique_name ("machined");
  g_autofree char *leader_netns = NULL;
  Leader leader = { 0, NULL };
  guint64 expected_inode;
  gboolean found_lo = FALSE;
  GPtrArray *interfaces;

  lab_machine_monitor_load_async (monitor, NULL, store_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (lab_machine_monitor_load_finish (monitor, result, &error));
  g_assert_no_error (error);

  /* with-machined.sh does not wait for machined, so the monitor may see it appear later. */
  while (lab_machine_monitor_get_machined_status (monitor) != NULL)
    g_main_context_iteration (NULL, TRUE);

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  g_assert_no_error (error);

  leader_start (&leader, name);
  leader_netns = g_strdup_printf ("/proc/%d/ns/net", (int) leader.leader);
  expected_inode = inode_of (leader_netns);
  g_assert_cmpuint (expected_inode, !=, inode_of ("/proc/self/ns/net"));

  call_machined (bus, "RegisterMachine",
                 g_variant_new ("(s@ayssus)", name,
                                g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, NULL, 0, 1),
                                "lab-test", "container", (guint32) leader.leader, ""));

  while ((machine = find_machined (monitor, name)) == NULL
         || lab_machine_get_interfaces (machine) == NULL)
    {
      g_clear_object (&machine);
      g_main_context_iteration (NULL, TRUE);
    }

  g_assert_cmpint (lab_machine_get_leader (machine), ==, leader.leader);
  g_assert_cmpstr (lab_machine_get_class (machine), ==, "container");
  g_assert_cmpuint (lab_machine_get_netns_inode (machine), ==, expected_inode);
  g_assert_false (lab_machine_get_shares_host_network (machine));
  g_assert_cmpint (lab_netns_get_kind (lab_machine_get_netns (machine)), ==, LAB_NETNS_PID);
  interfaces = lab_machine_get_interfaces (machine);
  for (guint i = 0; i < interfaces->len; i++)
    {
      const LabInterface *iface = g_ptr_array_index (interfaces, i);

      found_lo = found_lo || g_str_equal (iface->name, "lo");
    }
  g_assert_true (found_lo);

  looked_up = lab_machine_monitor_lookup (monitor, name);
  g_assert_true (looked_up == machine);
  g_clear_object (&looked_up);
  g_clear_object (&machine);

  call_machined (bus, "UnregisterMachine", g_variant_new ("(s)", name));
  while ((machine = find_machined (monitor, name)) != NULL)
    {
      g_clear_object (&machine);
      g_main_context_iteration (NULL, TRUE);
    }
  looked_up = lab_machine_monitor_lookup (monitor, name);
  g_assert_null (looked_up);

  leader_stop (&leader);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (g_getenv ("DBUS_SYSTEM_BUS_ADDRESS") == NULL)
    lab_test_skip_all ("needs the private system bus that tests/machines/with-machined.sh starts");
  lab_test_require_root ();

  g_test_add_func ("/lab/machines/machined", test_machined);
  return g_test_run ();
}
