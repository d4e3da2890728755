/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The machine list against the real kernel: the host and names under /run/netns. */
#include "lab-test.h"

#include <fcntl.h>
#include <linux/if.h>
#include <sys/stat.h>
#include <unistd.h>

static void
store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

static LabMachineMonitor *
new_loaded_monitor (void)
{
  g_autoptr (LabMachineMonitor) monitor = lab_machine_monitor_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  lab_machine_monitor_load_async (monitor, NULL, store_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (lab_machine_monitor_load_finish (monitor, result, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&monitor);
}

static LabMachine *
find_in_model (LabMachineMonitor *monitor, LabMachineSource source, const char *name)
{
  guint n_items = g_list_model_get_n_items (G_LIST_MODEL (monitor));

  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (G_LIST_MODEL (monitor), i);

      if (lab_machine_get_source (machine) == source
          && g_str_equal (lab_machine_get_name (machine), name))
        return g_steal_pointer (&machine);
    }
  return NULL;
}

static const LabInterface *
find_interface (LabMachine *machine, const char *name)
{
  GPtrArray *interfaces = lab_machine_get_interfaces (machine);

  if (interfaces == NULL)
    return NULL;
  for (guint i = 0; i < interfaces->len; i++)
    {
      const LabInterface *iface = g_ptr_array_index (interfaces, i);

      if (g_str_equal (iface->name, name))
        return iface;
    }
  return NULL;
}

static guint64
inode_of (const char *path)
{
  struct stat st;

  g_assert_no_errno (stat (path, &st));
  return st.st_ino;
}

static void
count_notify_cb (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  guint *count = user_data;

  (*count)++;
}

static void
test_machine_notify (void)
{
  g_autoptr (LabNetns) netns = lab_netns_new_host ();
  g_autoptr (LabMachine) machine = lab_machine_new (LAB_MACHINE_NETNS, "notify", netns);
  g_autoptr (GPtrArray) interfaces = g_ptr_array_new_with_free_func (
    (GDestroyNotify) lab_interface_free);
  g_autoptr (GPtrArray) same = g_ptr_array_new_with_free_func (
    (GDestroyNotify) lab_interface_free);
  LabInterface iface = { (char *) "eth0", 2, IFF_UP, (char *) "veth", NULL, NULL, NULL };
  guint class_notifies = 0;
  guint interfaces_notifies = 0;
  guint inode_notifies = 0;

  g_signal_connect (machine, "notify::class", G_CALLBACK (count_notify_cb), &class_notifies);
  g_signal_connect (machine, "notify::interfaces", G_CALLBACK (count_notify_cb),
                    &interfaces_notifies);
  g_signal_connect (machine, "notify::netns-inode", G_CALLBACK (count_notify_cb),
                    &inode_notifies);

  lab_machine_set_class (machine, "container");
  lab_machine_set_class (machine, "container");
  g_assert_cmpuint (class_notifies, ==, 1);
  g_assert_cmpstr (lab_machine_get_class (machine), ==, "container");

  lab_machine_set_netns_inode (machine, 42);
  lab_machine_set_netns_inode (machine, 42);
  g_assert_cmpuint (inode_notifies, ==, 1);

  g_ptr_array_add (interfaces, lab_interface_copy (&iface));
  g_ptr_array_add (same, lab_interface_copy (&iface));
  lab_machine_set_interfaces (machine, interfaces);
  lab_machine_set_interfaces (machine, same);
  g_assert_cmpuint (interfaces_notifies, ==, 1);
  g_assert_true (lab_machine_get_interfaces (machine) == interfaces);

  lab_machine_set_interfaces (machine, NULL);
  g_assert_cmpuint (interfaces_notifies, ==, 2);
  g_assert_null (lab_machine_get_interfaces (machine));

  g_assert_cmpstr (lab_machine_source_to_string (LAB_MACHINE_HOST), ==, "host");
  g_assert_cmpstr (lab_machine_source_to_string (LAB_MACHINE_MACHINED), ==, "machined");
  g_assert_cmpstr (lab_machine_source_to_string (LAB_MACHINE_NETNS), ==, "netns");
}

static void
test_host (void)
{
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (LabMachine) first = NULL;
  g_autoptr (LabMachine) looked_up = NULL;
  const LabInterface *lo;
  guint n_items;

  /* NOTE: lab_netns_run_async() calls setns() even for the host, which needs CAP_SYS_ADMIN. */
  if (geteuid () != 0)
    {
      g_test_skip ("needs root, because reading the host's interfaces enters its namespace");
      return;
    }

  monitor = new_loaded_monitor ();
  first = g_list_model_get_item (G_LIST_MODEL (monitor), 0);
  looked_up = lab_machine_monitor_lookup (monitor, ".host");
  n_items = g_list_model_get_n_items (G_LIST_MODEL (monitor));

  g_assert_nonnull (first);
  g_assert_cmpstr (lab_machine_get_name (first), ==, ".host");
  g_assert_cmpint (lab_machine_get_source (first), ==, LAB_MACHINE_HOST);
  g_assert_true (looked_up == first);
  g_assert_true (lab_machine_get_shares_host_network (first));
  g_assert_cmpuint (lab_machine_get_netns_inode (first), ==, inode_of ("/proc/self/ns/net"));

  g_assert_nonnull (lab_machine_get_interfaces (first));
  lo = find_interface (first, "lo");
  g_assert_nonnull (lo);
  g_assert_true (lab_interface_is_loopback (lo));
  g_assert_cmpint (lo->ifindex, ==, 1);

  /* Every other machine comes after the host, sorted by name. */
  for (guint i = 1; i + 1 < n_items; i++)
    {
      g_autoptr (LabMachine) a = g_list_model_get_item (G_LIST_MODEL (monitor), i);
      g_autoptr (LabMachine) b = g_list_model_get_item (G_LIST_MODEL (monitor), i + 1);

      g_assert_cmpint (lab_machine_get_source (a), !=, LAB_MACHINE_HOST);
      g_assert_cmpstr (lab_machine_get_name (a), <=, lab_machine_get_name (b));
    }
}

static void
test_no_system_bus (void)
{
  g_autoptr (LabMachineMonitor) monitor = new_loaded_monitor ();
  guint n_items = g_list_model_get_n_items (G_LIST_MODEL (monitor));

  /* main() points the system bus at a socket that does not exist. */
  g_assert_nonnull (lab_machine_monitor_get_machined_status (monitor));
  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (G_LIST_MODEL (monitor), i);

      g_assert_cmpint (lab_machine_get_source (machine), !=, LAB_MACHINE_MACHINED);
    }
}

static void
test_netns_appears (void)
{
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (LabMachine) machine = NULL;
  g_autoptr (LabMachine) looked_up = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  const LabInterface *lo;
  guint64 expected_inode;

  if (geteuid () != 0)
    {
      g_test_skip ("needs root to create network namespaces");
      return;
    }

  monitor = new_loaded_monitor ();
  name = lab_test_unique_name ("appears");
  path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);
  g_assert_null (find_in_model (monitor, LAB_MACHINE_NETNS, name));

  g_free (lab_test_run ((const char *[]){ "ip", "netns", "add", name, NULL }));
  expected_inode = inode_of (path);

  while ((machine = find_in_model (monitor, LAB_MACHINE_NETNS, name)) == NULL
         || lab_machine_get_interfaces (machine) == NULL
         || lab_machine_get_netns_inode (machine) == 0)
    {
      g_clear_object (&machine);
      g_main_context_iteration (NULL, TRUE);
    }

  g_assert_cmpuint (lab_machine_get_netns_inode (machine), ==, expected_inode);
  g_assert_null (lab_machine_monitor_get_probe_error (monitor, machine));
  g_assert_false (lab_machine_get_shares_host_network (machine));
  g_assert_cmpstr (lab_netns_get_name (lab_machine_get_netns (machine)), ==, name);
  lo = find_interface (machine, "lo");
  g_assert_nonnull (lo);
  g_assert_true (lab_interface_is_loopback (lo));
  g_assert_cmpuint (lab_machine_get_interfaces (machine)->len, ==, 1);

  looked_up = lab_machine_monitor_lookup (monitor, name);
  g_assert_true (looked_up == machine);
  g_clear_object (&looked_up);

  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", name, NULL }));
  g_clear_object (&machine);
  while ((machine = find_in_model (monitor, LAB_MACHINE_NETNS, name)) != NULL)
    {
      g_clear_object (&machine);
      g_main_context_iteration (NULL, TRUE);
    }
  looked_up = lab_machine_monitor_lookup (monitor, name);
  g_assert_null (looked_up);
}

/* A name under /run/netns with no namespace mounted on it, as a crashed `ip netns add` leaves. */
static void
test_netns_stale_file (void)
{
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (LabMachine) machine = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  const GError *probe_error;

  if (geteuid () != 0)
    {
      g_test_skip ("needs root to write to /run/netns");
      return;
    }

  monitor = new_loaded_monitor ();
  name = lab_test_unique_name ("stale");
  path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);
  g_file_set_contents (path, "", 0, &error);
  g_assert_no_error (error);

  /* The probe retries and then gives up with an empty list instead of leaving NULL. */
  while ((machine = find_in_model (monitor, LAB_MACHINE_NETNS, name)) == NULL
         || lab_machine_get_interfaces (machine) == NULL)
    {
      g_clear_object (&machine);
      g_main_context_iteration (NULL, TRUE);
    }
  g_assert_cmpuint (lab_machine_get_interfaces (machine)->len, ==, 0);
  g_assert_cmpuint (lab_machine_get_netns_inode (machine), ==, 0);
  g_assert_false (lab_machine_get_shares_host_network (machine));

  /* The reason stays on the monitor, so a list can show why the machine has no interfaces. */
  probe_error = lab_machine_monitor_get_probe_error (monitor, machine);
  g_assert_error (probe_error, LAB_ERROR, LAB_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (probe_error->message, name));
  g_assert_nonnull (strstr (probe_error->message, "stale file"));

  g_assert_no_errno (unlink (path));
  g_clear_object (&machine);
  while ((machine = find_in_model (monitor, LAB_MACHINE_NETNS, name)) != NULL)
    {
      g_clear_object (&machine);
      g_main_context_iteration (NULL, TRUE);
    }
}

/* Waits until the monitor's machine @name has an interface called @interface_name. */
static LabMachine *
wait_for_interface (LabMachineMonitor *monitor, const char *name, const char *interface_name)
{
  LabMachine *machine = NULL;

  while ((machine = find_in_model (monitor, LAB_MACHINE_NETNS, name)) == NULL
         || find_interface (machine, interface_name) == NULL)
    {
      g_clear_object (&machine);
      g_main_context_iteration (NULL, TRUE);
    }
  return machine;
}

/* `ip netns del NAME; ip netns add NAME` between two scans must show the new namespace. */
static void
test_netns_recreated (void)
{
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (LabMachine) machine = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  guint64 old_inode;
  guint64 new_inode;
  int old_netns_fd;

  if (geteuid () != 0)
    {
      g_test_skip ("needs root to create network namespaces");
      return;
    }

  monitor = new_loaded_monitor ();
  name = lab_test_unique_name ("recreated");
  path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);

  g_free (lab_test_run ((const char *[]){ "ip", "netns", "add", name, NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", name, "link", "add", "old0", "type", "veth",
                                          "peer", "name", "old1", NULL }));
  machine = wait_for_interface (monitor, name, "old0");
  old_inode = inode_of (path);
  g_assert_cmpuint (lab_machine_get_netns_inode (machine), ==, old_inode);
  g_clear_object (&machine);

  /* Holding the old namespace open keeps its inode number from going to the new one. */
  old_netns_fd = open (path, O_RDONLY | O_CLOEXEC);
  g_assert_no_errno (old_netns_fd);

  /* The main loop does not run in between, so the monitor starts no scan between these steps. */
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", name, NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "add", name, NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", name, "link", "add", "new0", "type", "veth",
                                          "peer", "name", "new1", NULL }));
  new_inode = inode_of (path);
  g_assert_cmpuint (new_inode, !=, old_inode);

  machine = wait_for_interface (monitor, name, "new0");
  g_assert_cmpuint (lab_machine_get_netns_inode (machine), ==, new_inode);
  g_assert_null (find_interface (machine, "old0"));
  g_assert_null (lab_machine_monitor_get_probe_error (monitor, machine));

  g_assert_no_errno (close (old_netns_fd));
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", name, NULL }));
}

/*
 * A load under a pushed thread-default context, with a stale /run/netns file
 * whose probe is retried. The retry must run on that context, or the load never ends.
 */
static void
test_load_pushed_context (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (LabMachine) machine = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;

  if (geteuid () != 0)
    {
      g_test_skip ("needs root to write to /run/netns");
      return;
    }

  name = lab_test_unique_name ("pushed");
  path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);
  g_assert_no_errno (g_mkdir_with_parents (LAB_NETNS_RUN_DIR, 0755));
  g_file_set_contents (path, "", 0, &error);
  g_assert_no_error (error);

  g_main_context_push_thread_default (context);
  monitor = lab_machine_monitor_new ();
  lab_machine_monitor_load_async (monitor, NULL, store_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);

  g_assert_true (lab_machine_monitor_load_finish (monitor, result, &error));
  g_assert_no_error (error);
  machine = find_in_model (monitor, LAB_MACHINE_NETNS, name);
  g_assert_nonnull (machine);
  g_assert_nonnull (lab_machine_get_interfaces (machine));
  g_assert_cmpuint (lab_machine_get_interfaces (machine)->len, ==, 0);
  g_assert_error (lab_machine_monitor_get_probe_error (monitor, machine), LAB_ERROR,
                  LAB_ERROR_NOT_FOUND);

  g_clear_object (&machine);
  g_clear_object (&monitor);
  /* Lets the monitor's cancelled operations end on the context they were started on. */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_assert_no_errno (unlink (path));
}

static guint
count_churn_machines (LabMachineMonitor *monitor, char **names)
{
  guint count = 0;

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autoptr (LabMachine) machine = find_in_model (monitor, LAB_MACHINE_NETNS, names[i]);

      if (machine != NULL)
        count++;
    }
  return count;
}

/* Namespaces that go while their interfaces load, and a monitor dropped mid-refresh. */
static void
test_netns_churn (void)
{
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (LabMachineMonitor) second = NULL;
  g_auto (GStrv) names = g_new0 (char *, 11);

  if (geteuid () != 0)
    {
      g_test_skip ("needs root to create network namespaces");
      return;
    }

  monitor = new_loaded_monitor ();
  for (guint i = 0; i < 10; i++)
    {
      names[i] = lab_test_unique_name ("churn");
      g_free (lab_test_run ((const char *[]){ "ip", "netns", "add", names[i], NULL }));
      /* Let the monitor start probing before the namespace goes. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (i % 2 == 0)
        g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", names[i], NULL }));
    }
  for (guint i = 1; i < 10; i += 2)
    g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", names[i], NULL }));

  while (count_churn_machines (monitor, names) > 0)
    g_main_context_iteration (NULL, TRUE);

  /* Probes still in flight must find the monitor gone without touching it. */
  lab_machine_monitor_refresh (monitor);
  g_clear_object (&monitor);

  second = new_loaded_monitor ();
  g_assert_cmpuint (count_churn_machines (second, names), ==, 0);
}

static void
assert_load_cancelled (LabMachineMonitor *monitor, GAsyncResult *result)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (lab_machine_monitor_load_finish (monitor, result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* Cancels from the main thread while the load is pending, beside a load that is not cancelled. */
static void
test_load_cancel (void)
{
  g_autoptr (LabMachineMonitor) monitor = lab_machine_monitor_new ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GAsyncResult) cancelled_result = NULL;
  g_autoptr (GAsyncResult) plain_result = NULL;
  g_autoptr (GAsyncResult) again_result = NULL;
  g_autoptr (GError) error = NULL;

  lab_machine_monitor_load_async (monitor, cancellable, store_result_cb, &cancelled_result);
  lab_machine_monitor_load_async (monitor, NULL, store_result_cb, &plain_result);

  /* Nothing was dispatched yet, so the probes and the bus watch are still pending. */
  g_cancellable_cancel (cancellable);
  while (cancelled_result == NULL)
    g_main_context_iteration (NULL, TRUE);
  assert_load_cancelled (monitor, cancelled_result);

  /* The other caller still gets the full listing. */
  while (plain_result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (lab_machine_monitor_load_finish (monitor, plain_result, &error));
  g_assert_no_error (error);

  /* Once loaded, a load with the cancelled cancellable reports the cancellation too. */
  lab_machine_monitor_load_async (monitor, cancellable, store_result_cb, &again_result);
  while (again_result == NULL)
    g_main_context_iteration (NULL, TRUE);
  assert_load_cancelled (monitor, again_result);
}

/* A cancellable that is already cancelled when the load starts. */
static void
test_load_cancel_before_start (void)
{
  g_autoptr (LabMachineMonitor) monitor = lab_machine_monitor_new ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GAsyncResult) result = NULL;

  g_cancellable_cancel (cancellable);
  lab_machine_monitor_load_async (monitor, cancellable, store_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  assert_load_cancelled (monitor, result);
}

static gpointer
cancel_thread (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return NULL;
}

/* Cancels from another thread while the main context is idle, so that thread could own it. */
static void
test_load_cancel_from_thread (void)
{
  g_autoptr (LabMachineMonitor) monitor = lab_machine_monitor_new ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GAsyncResult) result = NULL;
  GThread *thread;

  lab_machine_monitor_load_async (monitor, cancellable, store_result_cb, &result);
  thread = g_thread_new ("lab-test-cancel", cancel_thread, cancellable);
  g_thread_join (thread);
  g_assert_true (g_cancellable_is_cancelled (cancellable));

  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  assert_load_cancelled (monitor, result);
}

int
main (int argc, char **argv)
{
  g_autofree char *no_bus = NULL;

  /* Keep these tests off any real system bus; the machined test brings its own. */
  no_bus = g_strdup_printf ("unix:path=/nonexistent/lab-test-%d/system_bus_socket",
                            (int) getpid ());
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", no_bus, TRUE);

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lab/machines/machine-notify", test_machine_notify);
  g_test_add_func ("/lab/machines/host", test_host);
  g_test_add_func ("/lab/machines/no-system-bus", test_no_system_bus);
  g_test_add_func ("/lab/machines/netns-appears", test_netns_appears);
  g_test_add_func ("/lab/machines/netns-stale-file", test_netns_stale_file);
  g_test_add_func ("/lab/machines/netns-recreated", test_netns_recreated);
  g_test_add_func ("/lab/machines/netns-churn", test_netns_churn);
  g_test_add_func ("/lab/machines/load-cancel", test_load_cancel);
  g_test_add_func ("/lab/machines/load-cancel-before-start", test_load_cancel_before_start);
  g_test_add_func ("/lab/machines/load-cancel-from-thread", test_load_cancel_from_thread);
  g_test_add_func ("/lab/machines/load-pushed-context", test_load_pushed_context);
  return g_test_run ();
}
