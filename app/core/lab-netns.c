/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lab-error.h"

/* statfs f_type of namespace files (linux/magic.h). */
#define LAB_NSFS_MAGIC 0x6e736673

struct _LabNetns {
  gatomicrefcount ref_count;
  LabNetnsKind kind;
  char *name;
  GPid pid;
  char *description;
};

G_DEFINE_BOXED_TYPE (LabNetns, lab_netns, lab_netns_ref, lab_netns_unref)

static LabNetns *
lab_netns_alloc (LabNetnsKind kind)
{
  LabNetns *netns = g_new0 (LabNetns, 1);

  g_atomic_ref_count_init (&netns->ref_count);
  netns->kind = kind;
  return netns;
}

LabNetns *
lab_netns_new_host (void)
{
  LabNetns *netns = lab_netns_alloc (LAB_NETNS_HOST);

  netns->description = g_strdup ("the host");
  return netns;
}

gboolean
lab_netns_name_is_valid (const char *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  if (g_str_equal (name, ".") || g_str_equal (name, ".."))
    return FALSE;
  if (strchr (name, '/') != NULL || strlen (name) > NAME_MAX)
    return FALSE;
  return TRUE;
}

LabNetns *
lab_netns_new_named (const char *name, GError **error)
{
  LabNetns *netns;

  if (!lab_netns_name_is_valid (name))
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid namespace name '%s': it must be 1 to %d bytes, "
                   "not '.' or '..', and contain no '/'",
                   name ? name : "", NAME_MAX);
      return NULL;
    }

  netns = lab_netns_alloc (LAB_NETNS_NAMED);
  netns->name = g_strdup (name);
  netns->description = g_strdup_printf ("'%s'", name);
  return netns;
}

LabNetns *
lab_netns_new_pid (GPid pid)
{
  LabNetns *netns;

  g_return_val_if_fail (pid > 0, NULL);

  netns = lab_netns_alloc (LAB_NETNS_PID);
  netns->pid = pid;
  netns->description = g_strdup_printf ("PID %d", (int) pid);
  return netns;
}

LabNetns *
lab_netns_new_machine (const char *machine, GPid leader)
{
  LabNetns *netns;

  g_return_val_if_fail (machine != NULL, NULL);
  g_return_val_if_fail (leader > 0, NULL);

  netns = lab_netns_alloc (LAB_NETNS_PID);
  netns->pid = leader;
  netns->description = g_strdup_printf ("machine '%s' (leader PID %d)", machine, (int) leader);
  return netns;
}

LabNetns *
lab_netns_ref (LabNetns *netns)
{
  g_return_val_if_fail (netns != NULL, NULL);

  g_atomic_ref_count_inc (&netns->ref_count);
  return netns;
}

void
lab_netns_unref (LabNetns *netns)
{
  g_return_if_fail (netns != NULL);

  if (!g_atomic_ref_count_dec (&netns->ref_count))
    return;
  g_free (netns->name);
  g_free (netns->description);
  g_free (netns);
}

LabNetnsKind
lab_netns_get_kind (LabNetns *netns)
{
  return netns->kind;
}

const char *
lab_netns_get_name (LabNetns *netns)
{
  return netns->name;
}

GPid
lab_netns_get_pid (LabNetns *netns)
{
  return netns->pid;
}

const char *
lab_netns_get_description (LabNetns *netns)
{
  return netns->description;
}

char *
lab_netns_dup_path (LabNetns *netns)
{
  switch (netns->kind)
    {
    case LAB_NETNS_NAMED:
      return g_build_filename (LAB_NETNS_RUN_DIR, netns->name, NULL);
    case LAB_NETNS_PID:
      return g_strdup_printf ("/proc/%d/ns/net", (int) netns->pid);
    case LAB_NETNS_HOST:
    default:
      /* /proc/self names the thread group leader, which never changes namespace. */
      return g_strdup_printf ("/proc/%d/ns/net", (int) getpid ());
    }
}

static void
set_open_error (LabNetns *netns, int err, GError **error)
{
  if (err == ENOENT || err == ESRCH)
    {
      if (netns->kind == LAB_NETNS_PID)
        g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND,
                     "The network namespace of %s is gone because process %d exited; "
                     "refresh the list", netns->description, (int) netns->pid);
      else
        g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND,
                     "Network namespace %s not found in %s: it was deleted or never created; "
                     "run 'ip netns list' to see the names",
                     netns->description, LAB_NETNS_RUN_DIR);
      return;
    }

  g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
               "Cannot open network namespace %s: %s%s", netns->description, g_strerror (err),
               (err == EACCES || err == EPERM) ? "; run as root" : "");
}

int
lab_netns_open (LabNetns *netns, GError **error)
{
  g_autofree char *path = NULL;
  struct statfs fs;
  int fd;

  if (netns->kind == LAB_NETNS_NAMED)
    {
      int dir_fd = open (LAB_NETNS_RUN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

      if (dir_fd < 0)
        {
          set_open_error (netns, errno, error);
          return -1;
        }
      fd = openat (dir_fd, netns->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0)
        set_open_error (netns, errno, error);
      close (dir_fd);
    }
  else
    {
      path = lab_netns_dup_path (netns);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        set_open_error (netns, errno, error);
    }

  if (fd < 0)
    return -1;

  /* A name under /run/netns whose bind mount is missing is a plain empty file. */
  if (fstatfs (fd, &fs) < 0 || fs.f_type != LAB_NSFS_MAGIC)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND,
                   "%s is not a network namespace (a stale file with no namespace mounted on "
                   "it); delete it with 'ip netns delete'",
                   netns->description);
      close (fd);
      return -1;
    }
  return fd;
}

gboolean
lab_netns_get_inode (LabNetns *netns, guint64 *out_inode, GError **error)
{
  struct stat st;
  int fd = lab_netns_open (netns, error);

  if (fd < 0)
    return FALSE;
  if (fstat (fd, &st) < 0)
    {
      int err = errno;

      close (fd);
      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Cannot read the inode of network namespace %s: %s", netns->description,
                   g_strerror (err));
      return FALSE;
    }
  close (fd);
  *out_inode = st.st_ino;
  return TRUE;
}

/* Namespace threads that have not finished yet. */
static gint running_threads;

/*
 * Waits, for 2 s at most, for namespace threads at process exit. libnl's
 * destructors free its link-type tables then, which aborts a thread still
 * inside a netlink dump (seen as an assertion in libnl 3.7's link.c).
 */
static void
wait_for_threads_at_exit (void)
{
  for (int i = 0; i < 2000 && g_atomic_int_get (&running_threads) > 0; i++)
    g_usleep (1000);
}

static void
count_thread_start (void)
{
  static gsize registered;

  /* Registered after libnl is loaded, so it runs before libnl's destructors. */
  if (g_once_init_enter (&registered))
    {
      atexit (wait_for_threads_at_exit);
      g_once_init_leave (&registered, 1);
    }
  g_atomic_int_inc (&running_threads);
}

typedef struct {
  LabNetns *netns;
  LabNetnsFunc func;
  gpointer user_data;
  GDestroyNotify user_data_free;
  GDestroyNotify result_free;
  GCancellable *cancellable;
  GTask *task;       /* NULL for the synchronous variant */
  gpointer result;
  GError *error;
} RunData;

static void
run_data_free (RunData *data)
{
  if (data->user_data_free != NULL && data->user_data != NULL)
    data->user_data_free (data->user_data);
  g_clear_object (&data->cancellable);
  g_clear_pointer (&data->netns, lab_netns_unref);
  g_clear_error (&data->error);
  g_free (data);
}

/* Joins the namespace on the current thread, which must be one that Lab created for this. */
static gboolean
enter_netns (LabNetns *netns, GError **error)
{
  struct stat target, current;
  int fd = lab_netns_open (netns, error);

  if (fd < 0)
    return FALSE;

  /* Joining the namespace the thread is already in needs no CAP_SYS_ADMIN, so skip it. */
  if (fstat (fd, &target) == 0 && stat ("/proc/thread-self/ns/net", &current) == 0
      && target.st_dev == current.st_dev && target.st_ino == current.st_ino)
    {
      close (fd);
      return TRUE;
    }

  if (setns (fd, CLONE_NEWNET) < 0)
    {
      int err = errno;

      close (fd);
      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Cannot enter network namespace %s: %s%s", netns->description,
                   g_strerror (err), err == EPERM ? "; run as root (needs CAP_SYS_ADMIN)" : "");
      return FALSE;
    }
  close (fd);
  return TRUE;
}

static gpointer
run_thread (gpointer user_data)
{
  RunData *data = user_data;

  if (!g_cancellable_set_error_if_cancelled (data->cancellable, &data->error)
      && enter_netns (data->netns, &data->error))
    data->result = data->func (data->netns, data->user_data, data->cancellable, &data->error);

  if (data->task == NULL)
    {
      g_atomic_int_dec_and_test (&running_threads);
      return NULL;
    }

  if (data->result != NULL)
    g_task_return_pointer (data->task, g_steal_pointer (&data->result), data->result_free);
  else if (data->error != NULL)
    g_task_return_error (data->task, g_steal_pointer (&data->error));
  else
    g_task_return_new_error (data->task, LAB_ERROR, LAB_ERROR_FAILED,
                             "Work in network namespace %s failed without a reason",
                             data->netns->description);
  g_object_unref (data->task);
  g_atomic_int_dec_and_test (&running_threads);
  return NULL;
}

static RunData *
run_data_new (LabNetns *netns, LabNetnsFunc func, gpointer user_data,
              GDestroyNotify user_data_free, GCancellable *cancellable)
{
  RunData *data = g_new0 (RunData, 1);

  data->netns = lab_netns_ref (netns);
  data->func = func;
  data->user_data = user_data;
  data->user_data_free = user_data_free;
  data->cancellable = cancellable ? g_object_ref (cancellable) : NULL;
  return data;
}

void
lab_netns_run_async (LabNetns *netns, LabNetnsFunc func, gpointer user_data,
                     GDestroyNotify user_data_free, GDestroyNotify result_free,
                     GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer callback_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;
  RunData *data;
  GThread *thread;

  g_return_if_fail (netns != NULL);
  g_return_if_fail (func != NULL);

  task = g_task_new (NULL, cancellable, callback, callback_data);
  g_task_set_source_tag (task, lab_netns_run_async);
  data = run_data_new (netns, func, user_data, user_data_free, cancellable);
  data->result_free = result_free;
  data->task = g_object_ref (task);
  g_task_set_task_data (task, data, (GDestroyNotify) run_data_free);

  count_thread_start ();
  thread = g_thread_try_new ("lab-netns", run_thread, data, &error);
  if (thread == NULL)
    {
      g_atomic_int_dec_and_test (&running_threads);
      g_clear_object (&data->task);
      g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_FAILED,
                               "Cannot start a thread for network namespace %s: %s",
                               netns->description, error->message);
      return;
    }
  g_thread_unref (thread);
}

gpointer
lab_netns_run_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

gpointer
lab_netns_run_sync (LabNetns *netns, LabNetnsFunc func, gpointer user_data,
                    GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) thread_error = NULL;
  RunData *data;
  GThread *thread;
  gpointer result;

  g_return_val_if_fail (netns != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  data = run_data_new (netns, func, user_data, NULL, cancellable);
  count_thread_start ();
  thread = g_thread_try_new ("lab-netns", run_thread, data, &thread_error);
  if (thread == NULL)
    {
      g_atomic_int_dec_and_test (&running_threads);
      g_set_error (error, LAB_ERROR, LAB_ERROR_FAILED,
                   "Cannot start a thread for network namespace %s: %s", netns->description,
                   thread_error->message);
      run_data_free (data);
      return NULL;
    }
  g_thread_join (thread);

  result = g_steal_pointer (&data->result);
  if (result == NULL)
    {
      if (data->error != NULL)
        g_propagate_error (error, g_steal_pointer (&data->error));
      else
        g_set_error (error, LAB_ERROR, LAB_ERROR_FAILED,
                     "Work in network namespace %s failed without a reason", netns->description);
    }
  run_data_free (data);
  return result;
}
