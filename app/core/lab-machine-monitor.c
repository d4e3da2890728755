/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-machine-monitor.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "lab-error.h"
#include "lab-interface.h"
#include "lab-machine.h"
#include "lab-netns.h"

#define HOST_NAME ".host"

#define MACHINED_NAME "org.freedesktop.machine1"
#define MACHINED_PATH "/org/freedesktop/machine1"
#define MACHINED_MANAGER "org.freedesktop.machine1.Manager"
#define MACHINED_MACHINE "org.freedesktop.machine1.Machine"

/*
 * `ip netns add` creates the file under /run/netns before it bind-mounts the
 * namespace on it, so a probe right after the inotify event can fail with
 * LAB_ERROR_NOT_FOUND ("stale file"), just as for a name being deleted. Such a
 * probe is retried with a growing delay (50, 100, 200, 400 ms) while the name
 * is still listed. A deleted name leaves the list at the next scan.
 */
#define PROBE_MAX_ATTEMPTS 5
#define PROBE_RETRY_BASE_MSEC 50

struct _LabMachineMonitor {
  GObject parent_instance;

  GPtrArray *machines;       /* LabMachine: the host first, then sorted by name */
  LabMachine *host;
  guint64 host_inode;        /* 0 until the host's probe finished */
  GCancellable *cancellable; /* cancelled in dispose; every callback checks it first */

  gboolean started;
  gboolean loaded;
  guint pending;           /* operations in flight; the first time it drops to 0, load ends */
  GPtrArray *load_waiters; /* LoadWaiter */

  guint machined_watch_id;
  gboolean machined_seen; /* the first name-appeared or name-vanished callback ran */
  guint machined_epoch;   /* bumped when machined appears or vanishes */
  GDBusConnection *bus;
  guint machine_new_id;
  guint machine_removed_id;
  GHashTable *machined_lookups; /* name -> serial of the newest lookup of that machine */
  guint machined_serial;
  char *machined_status;

  GFileMonitor *run_dir_monitor;   /* reports /run/netns itself appearing or going */
  GFileMonitor *netns_dir_monitor; /* reports entries inside /run/netns */
  gboolean scanning;
  gboolean rescan_requested;
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LabMachineMonitor, lab_machine_monitor, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

static void request_scan (LabMachineMonitor *self);
static void probe_machine (LabMachineMonitor *self, LabMachine *machine);

/* Probes of one machine may overlap (refresh); only the newest one is applied. */
static GQuark
probe_serial_quark (void)
{
  return g_quark_from_static_string ("lab-machine-monitor-probe-serial");
}

/* GListModel */

static GType
lab_machine_monitor_get_item_type (GListModel *model)
{
  return LAB_TYPE_MACHINE;
}

static guint
lab_machine_monitor_get_n_items (GListModel *model)
{
  return LAB_MACHINE_MONITOR (model)->machines->len;
}

static gpointer
lab_machine_monitor_get_item (GListModel *model, guint position)
{
  LabMachineMonitor *self = LAB_MACHINE_MONITOR (model);

  if (position >= self->machines->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->machines, position));
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = lab_machine_monitor_get_item_type;
  iface->get_n_items = lab_machine_monitor_get_n_items;
  iface->get_item = lab_machine_monitor_get_item;
}

/* Model edits */

static int
compare_machines (LabMachine *a, LabMachine *b)
{
  gboolean a_host = lab_machine_get_source (a) == LAB_MACHINE_HOST;
  gboolean b_host = lab_machine_get_source (b) == LAB_MACHINE_HOST;
  int by_name;

  if (a_host != b_host)
    return a_host ? -1 : 1;
  by_name = strcmp (lab_machine_get_name (a), lab_machine_get_name (b));
  if (by_name != 0)
    return by_name;
  return (int) lab_machine_get_source (a) - (int) lab_machine_get_source (b);
}

static void
insert_machine (LabMachineMonitor *self, LabMachine *machine)
{
  guint position = 0;

  while (position < self->machines->len
         && compare_machines (g_ptr_array_index (self->machines, position), machine) < 0)
    position++;
  g_ptr_array_insert (self->machines, position, g_object_ref (machine));
  g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
}

static void
remove_machine_at (LabMachineMonitor *self, guint position)
{
  g_ptr_array_remove_index (self->machines, position);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
}

static LabMachine *
find_machine (LabMachineMonitor *self, LabMachineSource source, const char *name, guint *position)
{
  for (guint i = 0; i < self->machines->len; i++)
    {
      LabMachine *machine = g_ptr_array_index (self->machines, i);

      if (lab_machine_get_source (machine) == source
          && g_str_equal (lab_machine_get_name (machine), name))
        {
          if (position != NULL)
            *position = i;
          return machine;
        }
    }
  return NULL;
}

static gboolean
contains_machine (LabMachineMonitor *self, LabMachine *machine)
{
  return g_ptr_array_find (self->machines, machine, NULL);
}

static void
update_shares_host_network (LabMachineMonitor *self, LabMachine *machine)
{
  guint64 inode = lab_machine_get_netns_inode (machine);

  if (machine == self->host)
    lab_machine_set_shares_host_network (machine, TRUE);
  else
    lab_machine_set_shares_host_network (machine, inode != 0 && inode == self->host_inode);
}

/* Loading: pending operations and the callers of load_async waiting for them */

typedef struct {
  GTask *task;
  GCancellable *cancellable;
  gulong cancelled_id;
} LoadWaiter;

static void
load_waiter_free (LoadWaiter *waiter)
{
  if (waiter->cancelled_id != 0)
    g_cancellable_disconnect (waiter->cancellable, waiter->cancelled_id);
  g_clear_object (&waiter->cancellable);
  g_clear_object (&waiter->task);
  g_free (waiter);
}

static void
op_begin (LabMachineMonitor *self)
{
  self->pending++;
}

static void
op_end (LabMachineMonitor *self)
{
  g_autoptr (GPtrArray) waiters = NULL;

  g_return_if_fail (self->pending > 0);

  self->pending--;
  if (self->pending > 0 || self->loaded)
    return;

  self->loaded = TRUE;
  waiters = g_steal_pointer (&self->load_waiters);
  self->load_waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) load_waiter_free);
  for (guint i = 0; i < waiters->len; i++)
    {
      LoadWaiter *waiter = g_ptr_array_index (waiters, i);

      g_task_return_boolean (waiter->task, TRUE);
    }
}

/* Probing: namespace inode and interfaces, read on a thread inside the namespace */

typedef struct {
  guint64 inode;
  GPtrArray *interfaces;
} ProbeResult;

static void
probe_result_free (ProbeResult *result)
{
  g_clear_pointer (&result->interfaces, g_ptr_array_unref);
  g_free (result);
}

static gpointer
probe_in_netns (LabNetns *netns, gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) interfaces = NULL;
  ProbeResult *result;
  guint64 inode = 0;

  if (!lab_netns_get_inode (netns, &inode, error))
    return NULL;
  interfaces = lab_interface_list_here (error);
  if (interfaces == NULL)
    return NULL;

  result = g_new0 (ProbeResult, 1);
  result->inode = inode;
  result->interfaces = g_steal_pointer (&interfaces);
  return result;
}

typedef struct {
  LabMachineMonitor *self; /* not a reference: valid only while cancellable is not cancelled */
  GCancellable *cancellable;
  LabMachine *machine;
  guint serial;
  guint attempt;
} ProbeOp;

static void
probe_op_free (ProbeOp *op)
{
  g_clear_object (&op->cancellable);
  g_clear_object (&op->machine);
  g_free (op);
}

static void probe_op_start (ProbeOp *op);

static gboolean
probe_retry_cb (gpointer user_data)
{
  ProbeOp *op = user_data;

  if (g_cancellable_is_cancelled (op->cancellable))
    {
      probe_op_free (op);
      return G_SOURCE_REMOVE;
    }
  probe_op_start (op);
  return G_SOURCE_REMOVE;
}

static gboolean
probe_is_current (ProbeOp *op)
{
  guint serial = GPOINTER_TO_UINT (g_object_get_qdata (G_OBJECT (op->machine),
                                                       probe_serial_quark ()));

  return serial == op->serial;
}

static void
apply_probe_result (LabMachineMonitor *self, LabMachine *machine, ProbeResult *result)
{
  lab_machine_set_netns_inode (machine, result->inode);
  lab_machine_set_interfaces (machine, result->interfaces);

  if (machine != self->host)
    {
      update_shares_host_network (self, machine);
      return;
    }

  /* The host's inode decides shares-host-network of every other machine. */
  self->host_inode = result->inode;
  for (guint i = 0; i < self->machines->len; i++)
    update_shares_host_network (self, g_ptr_array_index (self->machines, i));
}

static void
probe_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ProbeOp *op = user_data;
  LabMachineMonitor *self = op->self;
  g_autoptr (GError) error = NULL;
  ProbeResult *result;

  result = lab_netns_run_finish (res, &error);
  if (g_cancellable_is_cancelled (op->cancellable))
    {
      g_clear_pointer (&result, probe_result_free);
      probe_op_free (op);
      return;
    }

  if (result == NULL && probe_is_current (op) && contains_machine (self, op->machine)
      && lab_machine_get_source (op->machine) == LAB_MACHINE_NETNS
      && op->attempt + 1 < PROBE_MAX_ATTEMPTS)
    {
      g_debug ("Retrying to read namespace %s: %s",
               lab_netns_get_description (lab_machine_get_netns (op->machine)),
               error != NULL ? error->message : "no error message");
      g_timeout_add (PROBE_RETRY_BASE_MSEC << op->attempt, probe_retry_cb, op);
      op->attempt++;
      return;
    }

  if (!probe_is_current (op))
    g_debug ("Dropping an outdated probe of machine '%s'", lab_machine_get_name (op->machine));
  else if (result != NULL)
    apply_probe_result (self, op->machine, result);
  else
    {
      g_autoptr (GPtrArray) none = g_ptr_array_new ();

      /* An empty list, so that callers stop waiting for interfaces that will never load. */
      g_debug ("Could not read the interfaces of machine '%s': %s",
               lab_machine_get_name (op->machine),
               error != NULL ? error->message : "no error message");
      if (lab_machine_get_interfaces (op->machine) == NULL)
        lab_machine_set_interfaces (op->machine, none);
    }

  g_clear_pointer (&result, probe_result_free);
  op_end (self);
  probe_op_free (op);
}

static void
probe_op_start (ProbeOp *op)
{
  lab_netns_run_async (lab_machine_get_netns (op->machine), probe_in_netns, NULL, NULL,
                       (GDestroyNotify) probe_result_free, op->cancellable, probe_done_cb, op);
}

static void
probe_machine (LabMachineMonitor *self, LabMachine *machine)
{
  ProbeOp *op = g_new0 (ProbeOp, 1);
  guint serial = GPOINTER_TO_UINT (g_object_get_qdata (G_OBJECT (machine),
                                                       probe_serial_quark ()));

  op->self = self;
  op->cancellable = g_object_ref (self->cancellable);
  op->machine = g_object_ref (machine);
  op->serial = serial + 1;
  g_object_set_qdata (G_OBJECT (machine), probe_serial_quark (), GUINT_TO_POINTER (op->serial));

  op_begin (self);
  probe_op_start (op);
}

/* /run/netns */

typedef struct {
  gboolean dir_exists;
  GPtrArray *names;
} ScanResult;

static void
scan_result_free (ScanResult *result)
{
  g_clear_pointer (&result->names, g_ptr_array_unref);
  g_free (result);
}

static void
scan_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  ScanResult *result = g_new0 (ScanResult, 1);
  DIR *dir;
  struct dirent *entry;

  result->names = g_ptr_array_new_with_free_func (g_free);
  dir = opendir (LAB_NETNS_RUN_DIR);
  if (dir == NULL)
    {
      if (errno != ENOENT)
        g_debug ("Could not list %s: %s", LAB_NETNS_RUN_DIR, g_strerror (errno));
      g_task_return_pointer (task, result, (GDestroyNotify) scan_result_free);
      return;
    }

  result->dir_exists = TRUE;
  while ((entry = readdir (dir)) != NULL)
    {
      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
        continue;
      if (!lab_netns_name_is_valid (entry->d_name))
        {
          g_debug ("Skipping '%s' in %s: not a valid namespace name", entry->d_name,
                   LAB_NETNS_RUN_DIR);
          continue;
        }
      g_ptr_array_add (result->names, g_strdup (entry->d_name));
    }
  closedir (dir);
  g_task_return_pointer (task, result, (GDestroyNotify) scan_result_free);
}

static void
netns_dir_changed_cb (GFileMonitor *monitor, GFile *file, GFile *other_file,
                      GFileMonitorEvent event, gpointer user_data)
{
  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CHANGED:
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
    case G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED:
      return;
    default:
      request_scan (LAB_MACHINE_MONITOR (user_data));
    }
}

static void
set_netns_dir_watched (LabMachineMonitor *self, gboolean watched)
{
  g_autoptr (GFile) dir = NULL;
  g_autoptr (GError) error = NULL;

  if (watched == (self->netns_dir_monitor != NULL))
    return;

  if (!watched)
    {
      g_signal_handlers_disconnect_by_data (self->netns_dir_monitor, self);
      g_file_monitor_cancel (self->netns_dir_monitor);
      g_clear_object (&self->netns_dir_monitor);
      return;
    }

  dir = g_file_new_for_path (LAB_NETNS_RUN_DIR);
  self->netns_dir_monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES,
                                                      NULL, &error);
  if (self->netns_dir_monitor == NULL)
    {
      g_warning ("Could not watch %s, so new namespaces show only after a refresh: %s",
                 LAB_NETNS_RUN_DIR, error->message);
      return;
    }
  g_signal_connect (self->netns_dir_monitor, "changed", G_CALLBACK (netns_dir_changed_cb), self);
  /* Names created between the scan and the watch would be missed without another scan. */
  request_scan (self);
}

static void
reconcile_netns (LabMachineMonitor *self, ScanResult *result)
{
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < result->names->len; i++)
    g_hash_table_add (names, g_ptr_array_index (result->names, i));

  for (guint i = self->machines->len; i > 0; i--)
    {
      LabMachine *machine = g_ptr_array_index (self->machines, i - 1);

      if (lab_machine_get_source (machine) == LAB_MACHINE_NETNS
          && !g_hash_table_contains (names, lab_machine_get_name (machine)))
        remove_machine_at (self, i - 1);
    }

  for (guint i = 0; i < result->names->len; i++)
    {
      const char *name = g_ptr_array_index (result->names, i);
      g_autoptr (LabNetns) netns = NULL;
      g_autoptr (LabMachine) machine = NULL;
      g_autoptr (GError) error = NULL;

      if (find_machine (self, LAB_MACHINE_NETNS, name, NULL) != NULL)
        continue;
      netns = lab_netns_new_named (name, &error);
      if (netns == NULL)
        {
          g_debug ("Skipping namespace '%s': %s", name, error->message);
          continue;
        }
      machine = lab_machine_new (LAB_MACHINE_NETNS, name, netns);
      insert_machine (self, machine);
      probe_machine (self, machine);
    }
}

typedef struct {
  LabMachineMonitor *self; /* not a reference: valid only while cancellable is not cancelled */
  GCancellable *cancellable;
} MonitorOp;

static MonitorOp *
monitor_op_new (LabMachineMonitor *self)
{
  MonitorOp *op = g_new0 (MonitorOp, 1);

  op->self = self;
  op->cancellable = g_object_ref (self->cancellable);
  return op;
}

static void
monitor_op_free (MonitorOp *op)
{
  g_clear_object (&op->cancellable);
  g_free (op);
}

static void
scan_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  MonitorOp *op = user_data;
  LabMachineMonitor *self = op->self;
  ScanResult *result;

  result = g_task_propagate_pointer (G_TASK (res), NULL);
  if (g_cancellable_is_cancelled (op->cancellable))
    {
      g_clear_pointer (&result, scan_result_free);
      monitor_op_free (op);
      return;
    }

  self->scanning = FALSE;
  set_netns_dir_watched (self, result->dir_exists);
  reconcile_netns (self, result);
  scan_result_free (result);

  if (self->rescan_requested)
    {
      self->rescan_requested = FALSE;
      request_scan (self);
    }
  op_end (self);
  monitor_op_free (op);
}

static void
request_scan (LabMachineMonitor *self)
{
  g_autoptr (GTask) task = NULL;
  MonitorOp *op;

  if (self->scanning)
    {
      self->rescan_requested = TRUE;
      return;
    }

  self->scanning = TRUE;
  op_begin (self);
  op = monitor_op_new (self);
  task = g_task_new (NULL, op->cancellable, scan_done_cb, op);
  g_task_set_source_tag (task, request_scan);
  g_task_run_in_thread (task, scan_thread);
}

static void
run_dir_changed_cb (GFileMonitor *monitor, GFile *file, GFile *other_file,
                    GFileMonitorEvent event, gpointer user_data)
{
  netns_dir_changed_cb (monitor, file, other_file, event, user_data);
}

static void
start_netns_watch (LabMachineMonitor *self)
{
  g_autoptr (GFile) dir = g_file_new_for_path (LAB_NETNS_RUN_DIR);
  g_autoptr (GError) error = NULL;

  /* A file monitor on the directory's own path reports `ip netns` creating or removing it. */
  self->run_dir_monitor = g_file_monitor_file (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (self->run_dir_monitor == NULL)
    g_warning ("Could not watch for %s to appear: %s", LAB_NETNS_RUN_DIR, error->message);
  else
    g_signal_connect (self->run_dir_monitor, "changed", G_CALLBACK (run_dir_changed_cb), self);

  request_scan (self);
}

/* systemd-machined */

typedef struct {
  LabMachineMonitor *self; /* not a reference: valid only while cancellable is not cancelled */
  GCancellable *cancellable;
  GDBusConnection *bus;
  guint epoch;
  char *name;
  guint serial;
} MachinedOp;

static MachinedOp *
machined_op_new (LabMachineMonitor *self, const char *name)
{
  MachinedOp *op = g_new0 (MachinedOp, 1);

  op->self = self;
  op->cancellable = g_object_ref (self->cancellable);
  op->bus = g_object_ref (self->bus);
  op->epoch = self->machined_epoch;
  op->name = g_strdup (name);
  return op;
}

static void
machined_op_free (MachinedOp *op)
{
  g_clear_object (&op->cancellable);
  g_clear_object (&op->bus);
  g_free (op->name);
  g_free (op);
}

/* TRUE when machined went away or the machine was removed or looked up again meanwhile. */
static gboolean
machined_op_is_stale (MachinedOp *op)
{
  gpointer serial;

  if (op->epoch != op->self->machined_epoch)
    return TRUE;
  if (op->name == NULL)
    return FALSE;
  if (!g_hash_table_lookup_extended (op->self->machined_lookups, op->name, NULL, &serial))
    return TRUE;
  return GPOINTER_TO_UINT (serial) != op->serial;
}

static void
machined_op_finish (MachinedOp *op)
{
  LabMachineMonitor *self = op->self;

  machined_op_free (op);
  op_end (self);
}

static void
add_machined_machine (LabMachineMonitor *self, const char *name, GPid leader, const char *klass)
{
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (LabMachine) machine = NULL;
  LabMachine *old;
  guint position;

  old = find_machine (self, LAB_MACHINE_MACHINED, name, &position);
  if (old != NULL && lab_machine_get_leader (old) == leader)
    {
      lab_machine_set_class (old, klass);
      probe_machine (self, old);
      return;
    }
  if (old != NULL)
    remove_machine_at (self, position);

  /* The netns follows the leader, which is fixed for the machine's life. */
  netns = lab_netns_new_pid (leader);
  machine = lab_machine_new (LAB_MACHINE_MACHINED, name, netns);
  lab_machine_set_leader (machine, leader);
  lab_machine_set_class (machine, klass);
  insert_machine (self, machine);
  probe_machine (self, machine);
}

static void
get_properties_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  MachinedOp *op = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GError) error = NULL;
  const char *klass = NULL;
  guint32 leader = 0;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (g_cancellable_is_cancelled (op->cancellable))
    {
      machined_op_free (op);
      return;
    }
  if (machined_op_is_stale (op))
    {
      machined_op_finish (op);
      return;
    }
  if (reply == NULL)
    {
      g_debug ("Could not read the properties of machined machine '%s': %s", op->name,
               error->message);
      machined_op_finish (op);
      return;
    }

  props = g_variant_get_child_value (reply, 0);
  g_variant_lookup (props, "Leader", "u", &leader);
  g_variant_lookup (props, "Class", "&s", &klass);
  if (leader == 0)
    g_debug ("Skipping machined machine '%s': it has no leader process", op->name);
  else
    add_machined_machine (op->self, op->name, (GPid) leader, klass);
  machined_op_finish (op);
}

static void
get_machine_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  MachinedOp *op = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  const char *path = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (g_cancellable_is_cancelled (op->cancellable))
    {
      machined_op_free (op);
      return;
    }
  if (machined_op_is_stale (op))
    {
      machined_op_finish (op);
      return;
    }
  if (reply == NULL)
    {
      g_debug ("Could not look up machined machine '%s': %s", op->name, error->message);
      machined_op_finish (op);
      return;
    }

  g_variant_get (reply, "(&o)", &path);
  g_dbus_connection_call (op->bus, MACHINED_NAME, path, "org.freedesktop.DBus.Properties",
                          "GetAll", g_variant_new ("(s)", MACHINED_MACHINE),
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1, op->cancellable,
                          get_properties_done_cb, op);
}

static void
lookup_machined_machine (LabMachineMonitor *self, const char *name)
{
  MachinedOp *op;

  /* machined's own entry for the host; the monitor has its own. */
  if (g_str_equal (name, HOST_NAME))
    return;

  op = machined_op_new (self, name);
  op->serial = ++self->machined_serial;
  g_hash_table_insert (self->machined_lookups, g_strdup (name), GUINT_TO_POINTER (op->serial));

  op_begin (self);
  g_dbus_connection_call (self->bus, MACHINED_NAME, MACHINED_PATH, MACHINED_MANAGER,
                          "GetMachine", g_variant_new ("(s)", name), G_VARIANT_TYPE ("(o)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, op->cancellable, get_machine_done_cb, op);
}

static void
list_machines_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  MachinedOp *op = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantIter) iter = NULL;
  g_autoptr (GError) error = NULL;
  const char *name;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (g_cancellable_is_cancelled (op->cancellable))
    {
      machined_op_free (op);
      return;
    }
  if (machined_op_is_stale (op))
    {
      machined_op_finish (op);
      return;
    }
  if (reply == NULL)
    {
      g_warning ("Could not list the machines of systemd-machined: %s", error->message);
      g_free (op->self->machined_status);
      op->self->machined_status = g_strdup_printf ("Could not list systemd-machined's "
                                                   "machines: %s", error->message);
      machined_op_finish (op);
      return;
    }

  g_variant_get (reply, "(a(ssso))", &iter);
  while (g_variant_iter_next (iter, "(&s&s&s&o)", &name, NULL, NULL, NULL))
    lookup_machined_machine (op->self, name);
  machined_op_finish (op);
}

static void
machine_new_cb (GDBusConnection *bus, const char *sender, const char *path,
                const char *interface, const char *signal, GVariant *parameters,
                gpointer user_data)
{
  LabMachineMonitor *self = user_data;
  const char *name;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(so)")))
    return;
  g_variant_get (parameters, "(&s&o)", &name, NULL);
  lookup_machined_machine (self, name);
}

static void
machine_removed_cb (GDBusConnection *bus, const char *sender, const char *path,
                    const char *interface, const char *signal, GVariant *parameters,
                    gpointer user_data)
{
  LabMachineMonitor *self = user_data;
  const char *name;
  guint position;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(so)")))
    return;
  g_variant_get (parameters, "(&s&o)", &name, NULL);
  g_hash_table_remove (self->machined_lookups, name);
  if (find_machine (self, LAB_MACHINE_MACHINED, name, &position) != NULL)
    remove_machine_at (self, position);
}

static void
forget_machined (LabMachineMonitor *self)
{
  if (self->bus != NULL)
    {
      g_dbus_connection_signal_unsubscribe (self->bus, self->machine_new_id);
      g_dbus_connection_signal_unsubscribe (self->bus, self->machine_removed_id);
      self->machine_new_id = 0;
      self->machine_removed_id = 0;
      g_clear_object (&self->bus);
    }
  g_hash_table_remove_all (self->machined_lookups);
  self->machined_epoch++;
}

static void
machined_seen (LabMachineMonitor *self)
{
  if (self->machined_seen)
    return;
  self->machined_seen = TRUE;
  op_end (self);
}

static void
machined_appeared_cb (GDBusConnection *bus, const char *name, const char *owner,
                      gpointer user_data)
{
  LabMachineMonitor *self = user_data;
  MachinedOp *op;

  forget_machined (self);
  g_clear_pointer (&self->machined_status, g_free);

  /*
   * GLib's shared system bus connection exits the process when the bus closes;
   * losing the system bus must only hide machined's machines.
   */
  g_dbus_connection_set_exit_on_close (bus, FALSE);
  self->bus = g_object_ref (bus);

  /* Subscribe before listing, so no machine is missed between the two. */
  self->machine_new_id =
    g_dbus_connection_signal_subscribe (bus, MACHINED_NAME, MACHINED_MANAGER, "MachineNew",
                                        MACHINED_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        machine_new_cb, self, NULL);
  self->machine_removed_id =
    g_dbus_connection_signal_subscribe (bus, MACHINED_NAME, MACHINED_MANAGER, "MachineRemoved",
                                        MACHINED_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        machine_removed_cb, self, NULL);

  op = machined_op_new (self, NULL);
  op_begin (self);
  g_dbus_connection_call (bus, MACHINED_NAME, MACHINED_PATH, MACHINED_MANAGER, "ListMachines",
                          NULL, G_VARIANT_TYPE ("(a(ssso))"), G_DBUS_CALL_FLAGS_NONE, -1,
                          op->cancellable, list_machines_done_cb, op);
  machined_seen (self);
}

static void
machined_vanished_cb (GDBusConnection *bus, const char *name, gpointer user_data)
{
  LabMachineMonitor *self = user_data;

  forget_machined (self);
  for (guint i = self->machines->len; i > 0; i--)
    if (lab_machine_get_source (g_ptr_array_index (self->machines, i - 1))
        == LAB_MACHINE_MACHINED)
      remove_machine_at (self, i - 1);

  g_free (self->machined_status);
  if (bus == NULL)
    {
      self->machined_status = g_strdup ("The system bus is not available, so "
                                        "systemd-machined's machines are not listed");
    }
  else
    {
      g_dbus_connection_set_exit_on_close (bus, FALSE);
      /* sd_booted() only checks for /run/systemd/system, which lives on tmpfs. */
      if (sd_booted () > 0)
        self->machined_status = g_strdup ("systemd-machined is not running; start it with "
                                          "'systemctl start systemd-machined'");
      else
        self->machined_status = g_strdup ("systemd-machined is not running, and this system "
                                          "was not booted with systemd");
    }
  g_debug ("%s", self->machined_status);
  machined_seen (self);
}

/* GObject */

static void
lab_machine_monitor_dispose (GObject *object)
{
  LabMachineMonitor *self = LAB_MACHINE_MONITOR (object);

  g_cancellable_cancel (self->cancellable);
  if (self->machined_watch_id != 0)
    {
      g_bus_unwatch_name (self->machined_watch_id);
      self->machined_watch_id = 0;
    }
  forget_machined (self);
  set_netns_dir_watched (self, FALSE);
  if (self->run_dir_monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->run_dir_monitor, self);
      g_file_monitor_cancel (self->run_dir_monitor);
      g_clear_object (&self->run_dir_monitor);
    }

  G_OBJECT_CLASS (lab_machine_monitor_parent_class)->dispose (object);
}

static void
lab_machine_monitor_finalize (GObject *object)
{
  LabMachineMonitor *self = LAB_MACHINE_MONITOR (object);

  g_clear_pointer (&self->machines, g_ptr_array_unref);
  g_clear_object (&self->host);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->load_waiters, g_ptr_array_unref);
  g_clear_pointer (&self->machined_lookups, g_hash_table_unref);
  g_free (self->machined_status);

  G_OBJECT_CLASS (lab_machine_monitor_parent_class)->finalize (object);
}

static void
lab_machine_monitor_class_init (LabMachineMonitorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lab_machine_monitor_dispose;
  object_class->finalize = lab_machine_monitor_finalize;
}

static void
lab_machine_monitor_init (LabMachineMonitor *self)
{
  g_autoptr (LabNetns) host_netns = lab_netns_new_host ();

  self->machines = g_ptr_array_new_with_free_func (g_object_unref);
  self->cancellable = g_cancellable_new ();
  self->load_waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) load_waiter_free);
  self->machined_lookups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* The host is always there, so the model is never empty. */
  self->host = lab_machine_new (LAB_MACHINE_HOST, HOST_NAME, host_netns);
  lab_machine_set_shares_host_network (self->host, TRUE);
  g_ptr_array_add (self->machines, g_object_ref (self->host));
}

LabMachineMonitor *
lab_machine_monitor_new (void)
{
  return g_object_new (LAB_TYPE_MACHINE_MONITOR, NULL);
}

static void
start (LabMachineMonitor *self)
{
  self->started = TRUE;

  /* Held until every source has been started, so that no early result ends the load. */
  op_begin (self);

  probe_machine (self, self->host);
  start_netns_watch (self);

  /* Ended by the first name-appeared or name-vanished callback. */
  op_begin (self);
  self->machined_watch_id = g_bus_watch_name (G_BUS_TYPE_SYSTEM, MACHINED_NAME,
                                              G_BUS_NAME_WATCHER_FLAGS_NONE, machined_appeared_cb,
                                              machined_vanished_cb, self, NULL);

  op_end (self);
}

static gboolean
load_cancelled_idle_cb (gpointer user_data)
{
  GTask *task = user_data;
  LabMachineMonitor *self = g_task_get_source_object (task);

  /* The load may have completed meanwhile; then the waiter is gone and nothing is left to do. */
  for (guint i = 0; i < self->load_waiters->len; i++)
    {
      LoadWaiter *waiter = g_ptr_array_index (self->load_waiters, i);

      if (waiter->task == task)
        {
          g_ptr_array_remove_index (self->load_waiters, i);
          g_task_return_error_if_cancelled (task);
          break;
        }
    }
  return G_SOURCE_REMOVE;
}

static void
load_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr (GSource) source = NULL;

  /*
   * Runs in the cancelling thread, so the waiter is removed later in the task's context.
   * g_main_context_invoke() would run it here when this thread can own the context. Then
   * freeing the waiter calls g_cancellable_disconnect() inside this handler, which deadlocks
   * on GLib 2.74 because it waits for the handler to return.
   */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, load_cancelled_idle_cb, g_object_ref (task), g_object_unref);
  g_source_set_static_name (source, "[lab] machine monitor load cancelled");
  g_source_attach (source, g_task_get_context (task));
}

void
lab_machine_monitor_load_async (LabMachineMonitor *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  LoadWaiter *waiter;

  g_return_if_fail (LAB_IS_MACHINE_MONITOR (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_machine_monitor_load_async);

  if (self->loaded)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  waiter = g_new0 (LoadWaiter, 1);
  waiter->task = g_object_ref (task);
  g_ptr_array_add (self->load_waiters, waiter);
  if (cancellable != NULL)
    {
      waiter->cancellable = g_object_ref (cancellable);
      waiter->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (load_cancelled_cb),
                                                    task, NULL);
    }

  if (!self->started)
    start (self);
}

gboolean
lab_machine_monitor_load_finish (LabMachineMonitor *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
lab_machine_monitor_refresh (LabMachineMonitor *self)
{
  g_return_if_fail (LAB_IS_MACHINE_MONITOR (self));

  for (guint i = 0; i < self->machines->len; i++)
    probe_machine (self, g_ptr_array_index (self->machines, i));
}

LabMachine *
lab_machine_monitor_lookup (LabMachineMonitor *self, const char *target)
{
  static const LabMachineSource order[] = { LAB_MACHINE_MACHINED, LAB_MACHINE_NETNS };

  g_return_val_if_fail (LAB_IS_MACHINE_MONITOR (self), NULL);
  g_return_val_if_fail (target != NULL, NULL);

  if (g_str_equal (target, HOST_NAME))
    return g_object_ref (self->host);
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    {
      LabMachine *machine = find_machine (self, order[i], target, NULL);

      if (machine != NULL)
        return g_object_ref (machine);
    }
  return NULL;
}

const char *
lab_machine_monitor_get_machined_status (LabMachineMonitor *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE_MONITOR (self), NULL);
  return self->machined_status;
}
