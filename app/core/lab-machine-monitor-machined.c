/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The systemd-machined part of LabMachineMonitor: watches machined's bus name, lists its
 * machines and follows MachineNew and MachineRemoved, reading each machine's leader and class.
 */
#include "lab-machine-monitor-private.h"

#include <systemd/sd-daemon.h>

#include "lab-machine.h"
#include "lab-netns.h"

#define MACHINED_NAME "org.freedesktop.machine1"
#define MACHINED_PATH "/org/freedesktop/machine1"
#define MACHINED_MANAGER "org.freedesktop.machine1.Manager"
#define MACHINED_MACHINE "org.freedesktop.machine1.Machine"

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
  lab_machine_monitor_op_end (self);
}

static void
add_machined_machine (LabMachineMonitor *self, const char *name, GPid leader, const char *klass)
{
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (LabMachine) machine = NULL;
  LabMachine *old;
  guint position;

  old = lab_machine_monitor_find_machine (self, LAB_MACHINE_MACHINED, name, &position);
  if (old != NULL && lab_machine_get_leader (old) == leader)
    {
      lab_machine_set_class (old, klass);
      lab_machine_monitor_probe_machine (self, old);
      return;
    }
  if (old != NULL)
    lab_machine_monitor_remove_machine_at (self, position);

  /* The netns follows the leader, which is fixed for the machine's life. */
  netns = lab_netns_new_machine (name, leader);
  machine = lab_machine_new (LAB_MACHINE_MACHINED, name, netns);
  lab_machine_set_leader (machine, leader);
  lab_machine_set_class (machine, klass);
  lab_machine_monitor_insert_machine (self, machine);
  lab_machine_monitor_probe_machine (self, machine);
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

  lab_machine_monitor_op_begin (self);
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
  if (lab_machine_monitor_find_machine (self, LAB_MACHINE_MACHINED, name, &position) != NULL)
    lab_machine_monitor_remove_machine_at (self, position);
}

void
lab_machine_monitor_forget_machined (LabMachineMonitor *self)
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
  lab_machine_monitor_op_end (self);
}

static void
machined_appeared_cb (GDBusConnection *bus, const char *name, const char *owner,
                      gpointer user_data)
{
  LabMachineMonitor *self = user_data;
  MachinedOp *op;

  lab_machine_monitor_forget_machined (self);
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
  lab_machine_monitor_op_begin (self);
  g_dbus_connection_call (bus, MACHINED_NAME, MACHINED_PATH, MACHINED_MANAGER, "ListMachines",
                          NULL, G_VARIANT_TYPE ("(a(ssso))"), G_DBUS_CALL_FLAGS_NONE, -1,
                          op->cancellable, list_machines_done_cb, op);
  machined_seen (self);
}

static void
machined_vanished_cb (GDBusConnection *bus, const char *name, gpointer user_data)
{
  LabMachineMonitor *self = user_data;

  lab_machine_monitor_forget_machined (self);
  for (guint i = self->machines->len; i > 0; i--)
    if (lab_machine_get_source (g_ptr_array_index (self->machines, i - 1))
        == LAB_MACHINE_MACHINED)
      lab_machine_monitor_remove_machine_at (self, i - 1);

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

void
lab_machine_monitor_start_machined_watch (LabMachineMonitor *self)
{
  /* Ended by the first name-appeared or name-vanished callback. */
  lab_machine_monitor_op_begin (self);
  self->machined_watch_id = g_bus_watch_name (G_BUS_TYPE_SYSTEM, MACHINED_NAME,
                                              G_BUS_NAME_WATCHER_FLAGS_NONE, machined_appeared_cb,
                                              machined_vanished_cb, self, NULL);
}
