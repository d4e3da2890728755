/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The /run/netns part of LabMachineMonitor: lists the named network namespaces on a
 * worker thread, watches the directory and keeps one LAB_MACHINE_NETNS machine per name.
 */
#include "lab-machine-monitor-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "lab-machine.h"
#include "lab-netns.h"

/* Linux 6.8 added this mount ID, which unlike STATX_MNT_ID is never reused; glibc 2.36 lacks it. */
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

static void request_scan (LabMachineMonitor *self);

/*
 * What a /run/netns name pointed to at a scan: the inode and the mount ID of
 * the namespace bind-mounted on it, or of the file itself while none is.
 * All zero when statx() failed.
 */
typedef struct {
  guint64 inode;
  guint64 mount_id;
} NetnsIdentity;

typedef struct {
  gboolean dir_exists;
  GPtrArray *names;
  GArray *identities; /* NetnsIdentity, one per name */
} ScanResult;

static void
scan_result_free (ScanResult *result)
{
  g_clear_pointer (&result->names, g_ptr_array_unref);
  g_clear_pointer (&result->identities, g_array_unref);
  g_free (result);
}

/* The NetnsIdentity of a machine's name at the scan that last probed it. */
static GQuark
netns_identity_quark (void)
{
  return g_quark_from_static_string ("lab-machine-monitor-netns-identity");
}

static NetnsIdentity
read_netns_identity (int dir_fd, const char *name)
{
  NetnsIdentity identity = { 0 };
  struct statx st;

  if (statx (dir_fd, name, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID | STATX_MNT_ID_UNIQUE,
             &st) != 0)
    {
      g_debug ("Could not read the inode of '%s' in %s: %s", name, LAB_NETNS_RUN_DIR,
               g_strerror (errno));
      return identity;
    }

  identity.inode = st.stx_ino;
  /* NOTE: kernels before 6.8 return only the reusable STATX_MNT_ID. */
  if (st.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE))
    identity.mount_id = st.stx_mnt_id;
  return identity;
}

static void
scan_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  ScanResult *result = g_new0 (ScanResult, 1);
  DIR *dir;
  struct dirent *entry;

  result->names = g_ptr_array_new_with_free_func (g_free);
  result->identities = g_array_new (FALSE, TRUE, sizeof (NetnsIdentity));
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
      NetnsIdentity identity = read_netns_identity (dirfd (dir), entry->d_name);

      g_ptr_array_add (result->names, g_strdup (entry->d_name));
      g_array_append_val (result->identities, identity);
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

void
lab_machine_monitor_set_netns_dir_watched (LabMachineMonitor *self, gboolean watched)
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
remember_netns_identity (LabMachine *machine, const NetnsIdentity *identity)
{
  g_object_set_qdata_full (G_OBJECT (machine), netns_identity_quark (),
                           g_memdup2 (identity, sizeof *identity), g_free);
}

/*
 * Checks whether @machine's name points to what it pointed to at the scan that
 * last started a probe of it. A name deleted and created again between two
 * scans is a new namespace on a new bind mount. Its inode number cannot show that, because
 * the kernel allocates these numbers from an IDA and can hand a freed one out
 * again, but its unique mount ID differs.
 */
static gboolean
netns_identity_is_known (LabMachine *machine, const NetnsIdentity *identity)
{
  const NetnsIdentity *known = g_object_get_qdata (G_OBJECT (machine), netns_identity_quark ());

  return known != NULL && identity->mount_id != 0 && known->inode == identity->inode
         && known->mount_id == identity->mount_id;
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
        lab_machine_monitor_remove_machine_at (self, i - 1);
    }

  for (guint i = 0; i < result->names->len; i++)
    {
      const char *name = g_ptr_array_index (result->names, i);
      g_autoptr (LabNetns) netns = NULL;
      g_autoptr (LabMachine) machine = NULL;
      g_autoptr (GError) error = NULL;
      const NetnsIdentity *identity = &g_array_index (result->identities, NetnsIdentity, i);
      LabMachine *listed = lab_machine_monitor_find_machine (self, LAB_MACHINE_NETNS, name, NULL);

      if (listed != NULL)
        {
          if (netns_identity_is_known (listed, identity))
            continue;
          remember_netns_identity (listed, identity);
          lab_machine_monitor_probe_machine (self, listed);
          continue;
        }
      netns = lab_netns_new_named (name, &error);
      if (netns == NULL)
        {
          g_debug ("Skipping namespace '%s': %s", name, error->message);
          continue;
        }
      machine = lab_machine_new (LAB_MACHINE_NETNS, name, netns);
      remember_netns_identity (machine, identity);
      lab_machine_monitor_insert_machine (self, machine);
      lab_machine_monitor_probe_machine (self, machine);
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
  lab_machine_monitor_set_netns_dir_watched (self, result->dir_exists);
  reconcile_netns (self, result);
  scan_result_free (result);

  if (self->rescan_requested)
    {
      self->rescan_requested = FALSE;
      request_scan (self);
    }
  lab_machine_monitor_op_end (self);
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
  lab_machine_monitor_op_begin (self);
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

void
lab_machine_monitor_start_netns_watch (LabMachineMonitor *self)
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
