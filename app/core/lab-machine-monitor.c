/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-machine-monitor.h"
#include "lab-machine-monitor-private.h"

#include <string.h>

#include "lab-error.h"
#include "lab-interface.h"
#include "lab-machine.h"
#include "lab-netns.h"

/*
 * `ip netns add` creates the file under /run/netns before it bind-mounts the
 * namespace on it, so a probe right after the inotify event can fail with
 * LAB_ERROR_NOT_FOUND ("stale file"), just as for a name being deleted. Such a
 * probe is retried with a growing delay (50, 100, 200, 400 ms) while the name
 * is still listed. A deleted name leaves the list at the next scan.
 */
#define PROBE_MAX_ATTEMPTS 5
#define PROBE_RETRY_BASE_MSEC 50

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LabMachineMonitor, lab_machine_monitor, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

/* Probes of one machine may overlap (refresh); only the newest one is applied. */
static GQuark
probe_serial_quark (void)
{
  return g_quark_from_static_string ("lab-machine-monitor-probe-serial");
}

/* The GError of a machine's last probe, set only when that probe failed. */
static GQuark
probe_error_quark (void)
{
  return g_quark_from_static_string ("lab-machine-monitor-probe-error");
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

void
lab_machine_monitor_insert_machine (LabMachineMonitor *self, LabMachine *machine)
{
  guint position = 0;

  while (position < self->machines->len
         && compare_machines (g_ptr_array_index (self->machines, position), machine) < 0)
    position++;
  g_ptr_array_insert (self->machines, position, g_object_ref (machine));
  g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
}

void
lab_machine_monitor_remove_machine_at (LabMachineMonitor *self, guint position)
{
  g_ptr_array_remove_index (self->machines, position);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
}

LabMachine *
lab_machine_monitor_find_machine (LabMachineMonitor *self, LabMachineSource source,
                                  const char *name, guint *position)
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

void
lab_machine_monitor_op_begin (LabMachineMonitor *self)
{
  self->pending++;
}

void
lab_machine_monitor_op_end (LabMachineMonitor *self)
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
  GMainContext *context; /* the thread-default context of the caller, where retries run */
  LabMachine *machine;
  guint serial;
  guint attempt;
} ProbeOp;

static void
probe_op_free (ProbeOp *op)
{
  g_clear_object (&op->cancellable);
  g_clear_pointer (&op->context, g_main_context_unref);
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

/* Runs the next attempt of @op after a delay that doubles with each attempt. */
static void
schedule_probe_retry (ProbeOp *op)
{
  g_autoptr (GSource) source = g_timeout_source_new (PROBE_RETRY_BASE_MSEC << op->attempt);

  g_source_set_callback (source, probe_retry_cb, op, NULL);
  g_source_set_static_name (source, "[lab] machine probe retry");
  g_source_attach (source, op->context);
  op->attempt++;
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
  g_object_set_qdata (G_OBJECT (machine), probe_error_quark (), NULL);
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
      schedule_probe_retry (op);
      return;
    }

  if (!probe_is_current (op))
    g_debug ("Dropping an outdated probe of machine '%s'", lab_machine_get_name (op->machine));
  else if (result != NULL)
    apply_probe_result (self, op->machine, result);
  else
    {
      g_autoptr (GPtrArray) none = g_ptr_array_new ();

      if (error == NULL)
        g_set_error (&error, LAB_ERROR, LAB_ERROR_FAILED,
                     "Reading the interfaces of machine '%s' failed for an unknown reason",
                     lab_machine_get_name (op->machine));
      g_debug ("Could not read the interfaces of machine '%s': %s",
               lab_machine_get_name (op->machine), error->message);
      g_object_set_qdata_full (G_OBJECT (op->machine), probe_error_quark (),
                               g_steal_pointer (&error), (GDestroyNotify) g_error_free);

      /* An empty list, so that callers stop waiting for interfaces that will never load. */
      if (lab_machine_get_interfaces (op->machine) == NULL)
        lab_machine_set_interfaces (op->machine, none);
    }

  g_clear_pointer (&result, probe_result_free);
  lab_machine_monitor_op_end (self);
  probe_op_free (op);
}

static void
probe_op_start (ProbeOp *op)
{
  lab_netns_run_async (lab_machine_get_netns (op->machine), probe_in_netns, NULL, NULL,
                       (GDestroyNotify) probe_result_free, op->cancellable, probe_done_cb, op);
}

void
lab_machine_monitor_probe_machine (LabMachineMonitor *self, LabMachine *machine)
{
  ProbeOp *op = g_new0 (ProbeOp, 1);
  guint serial = GPOINTER_TO_UINT (g_object_get_qdata (G_OBJECT (machine),
                                                       probe_serial_quark ()));

  op->self = self;
  op->cancellable = g_object_ref (self->cancellable);
  op->context = g_main_context_ref_thread_default ();
  op->machine = g_object_ref (machine);
  op->serial = serial + 1;
  g_object_set_qdata (G_OBJECT (machine), probe_serial_quark (), GUINT_TO_POINTER (op->serial));

  lab_machine_monitor_op_begin (self);
  probe_op_start (op);
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
  lab_machine_monitor_forget_machined (self);
  lab_machine_monitor_set_netns_dir_watched (self, FALSE);
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
  lab_machine_monitor_op_begin (self);

  lab_machine_monitor_probe_machine (self, self->host);
  lab_machine_monitor_start_netns_watch (self);
  lab_machine_monitor_start_machined_watch (self);

  lab_machine_monitor_op_end (self);
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
    lab_machine_monitor_probe_machine (self, g_ptr_array_index (self->machines, i));
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
      LabMachine *machine = lab_machine_monitor_find_machine (self, order[i], target, NULL);

      if (machine != NULL)
        return g_object_ref (machine);
    }
  return NULL;
}

const GError *
lab_machine_monitor_get_probe_error (LabMachineMonitor *self, LabMachine *machine)
{
  g_return_val_if_fail (LAB_IS_MACHINE_MONITOR (self), NULL);
  g_return_val_if_fail (LAB_IS_MACHINE (machine), NULL);

  return g_object_get_qdata (G_OBJECT (machine), probe_error_quark ());
}

const char *
lab_machine_monitor_get_machined_status (LabMachineMonitor *self)
{
  g_return_val_if_fail (LAB_IS_MACHINE_MONITOR (self), NULL);
  return self->machined_status;
}
