/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-demo.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>

#include "lab-demo-netns-private.h"
#include "lab-demo-node-private.h"
#include "lab-demo-traffic-private.h"
#include "lab-error.h"
#include "lab-journal.h"
#include "lab-netns.h"

#define DEMO_N_NODES 2
#define DEMO_PROBE_INTERVAL_MS 200

static const char * const node_suffixes[DEMO_N_NODES] = { "a", "b" };
/* Inside Lab's subnet 198.18.0.0/15, the range reserved for network benchmarking. */
static const char * const node_addresses[DEMO_N_NODES] = { "198.18.0.1", "198.18.0.2" };

typedef enum {
  DEMO_STOPPED,
  DEMO_STARTING,
  DEMO_RUNNING,
  DEMO_STOPPING, /* the traffic is stopped and a worker thread removes the namespaces */
} DemoState;

struct _LabDemo {
  GObject parent_instance;

  char *prefix;
  char *node_names[DEMO_N_NODES + 1];
  char *node_cidrs[DEMO_N_NODES]; /* node_addresses with the prefix length */

  DemoState state;
  /* Which namespace files this demo created, so stop never removes someone else's. */
  gboolean node_created[DEMO_N_NODES];
  int lock_fd; /* the held lock file of a running demo, or -1 */

  GMainContext *context;
  DemoTraffic *traffic; /* NULL unless running */
  GSource *sender_source;
  GSource *echo_source;
  GSource *probe_source;
  guint64 echo_count; /* echoes of the last run, kept after stop */
};

G_DEFINE_FINAL_TYPE (LabDemo, lab_demo, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PREFIX,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* State of one start, owned by the worker thread until it returns. */
typedef struct {
  char *prefix;
  char *node_names[DEMO_N_NODES];
  LabNetns *netns[DEMO_N_NODES];
  gboolean node_created[DEMO_N_NODES];
  int lock_fd;
  int sender_fd;
  int echo_fd;
} DemoBuild;

/*
 * The lock file of a running demo. A demo holds an exclusive flock() on
 * $LAB_RUNTIME_DIR/demo-PREFIX.lock from its start until its namespaces are
 * removed, with its PID written in the file, so other processes can tell a
 * live demo from namespaces that a killed one left behind.
 */

static char *
demo_lock_path (const char *dir, const char *prefix)
{
  g_autofree char *name = g_strdup_printf ("demo-%s.lock", prefix);

  return g_build_filename (dir, name, NULL);
}

/* Sets LAB_ERROR_BUSY naming the PID that the lock file @fd contains. */
static void
set_running_error (int fd, const char *prefix, GError **error)
{
  char text[32] = "";
  guint64 pid = 0;

  if (pread (fd, text, sizeof text - 1, 0) > 0
      && g_ascii_string_to_unsigned (g_strstrip (text), 10, 1, G_MAXINT, &pid, NULL))
    g_set_error (error, LAB_ERROR, LAB_ERROR_BUSY,
                 "The demo lab '%s' is running in PID %" G_GUINT64_FORMAT "; stop it with Ctrl+C "
                 "there or 'kill -TERM %" G_GUINT64_FORMAT "'",
                 prefix, pid, pid);
  else
    /* The holder has locked the file but not written its PID yet. */
    g_set_error (error, LAB_ERROR, LAB_ERROR_BUSY,
                 "The demo lab '%s' is starting in another process; stop it there first", prefix);
}

static gboolean
check_lock_prefix (const char *prefix, GError **error)
{
  if (strchr (prefix, '/') != NULL)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid demo prefix '%s': it must not contain '/'", prefix);
      return FALSE;
    }
  return TRUE;
}

/* Takes the lock of the demo @prefix and writes this PID in it. Returns its fd, or -1. Blocking. */
static int
demo_lock_acquire (const char *prefix, GError **error)
{
  g_autofree char *dir = lab_journal_dup_dir ();
  g_autofree char *path = demo_lock_path (dir, prefix);
  g_autofree char *pid = g_strdup_printf ("%d\n", (int) getpid ());

  if (!check_lock_prefix (prefix, error))
    return -1;
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int err = errno;

      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Could not create the runtime directory '%s': %s; check its parent or set "
                   "LAB_RUNTIME_DIR",
                   dir, g_strerror (err));
      return -1;
    }

  for (;;)
    {
      struct stat fd_st;
      struct stat path_st;
      int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      int err;

      if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
        {
          err = errno;
          if (err == EWOULDBLOCK)
            set_running_error (fd, prefix, error);
          else
            g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                         "Could not lock the demo lock file '%s': %s", path, g_strerror (err));
          if (fd >= 0)
            close (fd);
          return -1;
        }

      /* A demo that stopped after our open() unlinked that file: lock the current one instead. */
      if (fstat (fd, &fd_st) == 0 && stat (path, &path_st) == 0 && fd_st.st_dev == path_st.st_dev
          && fd_st.st_ino == path_st.st_ino)
        {
          if (ftruncate (fd, 0) < 0 || pwrite (fd, pid, strlen (pid), 0) < 0)
            g_warning ("Could not write the PID into the demo lock file '%s': %s", path,
                       g_strerror (errno));
          return fd;
        }
      err = errno;
      close (fd);
      if (err != 0 && err != ENOENT)
        {
          g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                       "Could not check the demo lock file '%s': %s", path, g_strerror (err));
          return -1;
        }
    }
}

/* Unlinks the lock file before closing it, so a start that opened the old file retries. */
static void
demo_lock_release (int *fd, const char *prefix)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  if (*fd < 0)
    return;
  dir = lab_journal_dup_dir ();
  path = demo_lock_path (dir, prefix);
  if (unlink (path) < 0 && errno != ENOENT)
    g_warning ("Could not remove the demo lock file '%s': %s", path, g_strerror (errno));
  close_fd (fd);
}

/* The start, on a GTask worker thread. */

static DemoBuild *
demo_build_new (LabDemo *self)
{
  DemoBuild *build = g_new0 (DemoBuild, 1);

  build->prefix = g_strdup (self->prefix);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    build->node_names[i] = g_strdup (self->node_names[i]);
  build->lock_fd = -1;
  build->sender_fd = -1;
  build->echo_fd = -1;
  return build;
}

/*
 * Closes the sockets, removes the namespaces that this build created and
 * releases the lock. Blocking.
 */
static void
demo_build_undo (DemoBuild *build)
{
  close_fd (&build->sender_fd);
  close_fd (&build->echo_fd);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      int ret;

      if (!build->node_created[i])
        continue;
      ret = lab_demo_remove_netns_file (build->node_names[i]);
      if (ret < 0)
        g_warning ("Cannot remove network namespace '%s' after a failed start: %s; "
                   "run 'ip netns delete %s'",
                   build->node_names[i], g_strerror (-ret), build->node_names[i]);
      build->node_created[i] = FALSE;
    }
  demo_lock_release (&build->lock_fd, build->prefix);
}

static void
demo_build_free (DemoBuild *build)
{
  /* Only a build that was never handed to a running demo still owns namespaces or sockets. */
  demo_build_undo (build);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      g_free (build->node_names[i]);
      g_clear_pointer (&build->netns[i], lab_netns_unref);
    }
  g_free (build->prefix);
  g_free (build);
}

static gboolean
demo_build_run (DemoBuild *build, GCancellable *cancellable, GError **error)
{
  DemoNodeSetup setups[DEMO_N_NODES];
  int dir_fd;
  int peer_fd;
  gboolean ok = FALSE;

  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      build->netns[i] = lab_netns_new_named (build->node_names[i], error);
      if (build->netns[i] == NULL)
        return FALSE;
    }

  /* Taken first, so a live demo with this prefix is reported as running, not as existing. */
  build->lock_fd = demo_lock_acquire (build->prefix, error);
  if (build->lock_fd < 0)
    return FALSE;

  dir_fd = lab_demo_open_netns_run_dir (error);
  if (dir_fd < 0)
    return FALSE;

  /* Check every name first, so an existing second node leaves no first node behind. */
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      struct stat st;

      if (fstatat (dir_fd, build->node_names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
        {
          lab_demo_set_exists_error (build->node_names[i], build->prefix, error);
          goto out;
        }
    }

  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto out;
      if (!lab_demo_create_netns_file (dir_fd, build->node_names[i], build->prefix,
                                       &build->node_created[i], error))
        goto out;
    }

  peer_fd = lab_netns_open (build->netns[1], error);
  if (peer_fd < 0)
    goto out;

  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      setups[i] = (DemoNodeSetup) {
        .address = node_addresses[i],
        .peer_address = node_addresses[1 - i],
        .veth_peer_netns_fd = i == 0 ? peer_fd : -1,
        .echo = i == 1,
        .socket_fd = -1,
      };
    }

  /* Node a goes first because it creates the veth pair whose peer end node b configures. */
  ok = lab_netns_run_sync (build->netns[0], lab_demo_setup_node_in_netns, &setups[0], cancellable,
                           error)
       != NULL;
  build->sender_fd = setups[0].socket_fd;
  if (ok)
    {
      ok = lab_netns_run_sync (build->netns[1], lab_demo_setup_node_in_netns, &setups[1],
                               cancellable, error)
           != NULL;
      build->echo_fd = setups[1].socket_fd;
    }
  close (peer_fd);

out:
  close (dir_fd);
  return ok;
}

static void
demo_build_thread (GTask *task, gpointer source_object, gpointer task_data,
                   GCancellable *cancellable)
{
  DemoBuild *build = task_data;
  GError *error = NULL;

  if (!demo_build_run (build, cancellable, &error))
    {
      demo_build_undo (build);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static GSource *
attach_source (LabDemo *self, GSource *source, GSourceFunc func, const char *name)
{
  g_source_set_callback (source, func, lab_demo_traffic_ref (self->traffic),
                         lab_demo_traffic_unref);
  g_source_set_static_name (source, name);
  g_source_attach (source, self->context);
  return source;
}

/* Takes ownership of both sockets. */
static void
start_traffic (LabDemo *self, int sender_fd, int echo_fd)
{
  self->traffic
    = lab_demo_traffic_new (self->node_names[0], self->node_names[1], sender_fd, echo_fd);
  self->sender_source
    = attach_source (self, g_unix_fd_source_new (sender_fd, G_IO_IN),
                     G_SOURCE_FUNC (lab_demo_traffic_sender_readable_cb), "[lab] demo sender");
  self->echo_source
    = attach_source (self, g_unix_fd_source_new (echo_fd, G_IO_IN),
                     G_SOURCE_FUNC (lab_demo_traffic_echo_readable_cb), "[lab] demo echo");
  self->probe_source = attach_source (self, g_timeout_source_new (DEMO_PROBE_INTERVAL_MS),
                                      lab_demo_traffic_send_probe_cb, "[lab] demo probe");
  lab_demo_traffic_send_probe_cb (self->traffic);
}

/*
 * Destroys the traffic sources. On the demo's main context the sockets close
 * here. On another thread they close once a callback in progress returns.
 */
static void
stop_traffic (LabDemo *self)
{
  GSource **sources[] = { &self->sender_source, &self->echo_source, &self->probe_source };

  for (gsize i = 0; i < G_N_ELEMENTS (sources); i++)
    {
      if (*sources[i] == NULL)
        continue;
      g_source_destroy (*sources[i]);
      g_clear_pointer (sources[i], g_source_unref);
    }
  if (self->traffic != NULL)
    {
      self->echo_count = self->traffic->echo_count;
      g_clear_pointer (&self->traffic, lab_demo_traffic_unref);
    }
}

static void
demo_build_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  LabDemo *self = LAB_DEMO (source_object);
  g_autoptr (GTask) task = user_data;
  DemoBuild *build = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      self->state = DEMO_STOPPED;
      g_task_return_error (task, error);
      return;
    }

  /* The demo owns the namespaces and sockets from here on. */
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      self->node_created[i] = build->node_created[i];
      build->node_created[i] = FALSE;
    }
  self->lock_fd = g_steal_fd (&build->lock_fd);
  self->echo_count = 0;
  self->state = DEMO_RUNNING;
  start_traffic (self, g_steal_fd (&build->sender_fd), g_steal_fd (&build->echo_fd));
  g_debug ("Demo '%s' started: nodes '%s' and '%s'", self->prefix, self->node_names[0],
           self->node_names[1]);
  g_task_return_boolean (task, TRUE);
}

/* Public API. */

LabDemo *
lab_demo_new (const char *prefix)
{
  return g_object_new (LAB_TYPE_DEMO, "prefix", prefix, NULL);
}

const char * const *
lab_demo_get_node_names (LabDemo *self)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), NULL);

  return (const char * const *) self->node_names;
}

const char *
lab_demo_get_node_address (LabDemo *self, guint index)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), NULL);
  g_return_val_if_fail (index < DEMO_N_NODES, NULL);

  return self->node_cidrs[index];
}

guint64
lab_demo_get_echo_count (LabDemo *self)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), 0);

  return self->traffic != NULL ? self->traffic->echo_count : self->echo_count;
}

void
lab_demo_start_async (LabDemo *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) build_task = NULL;

  g_return_if_fail (LAB_IS_DEMO (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_demo_start_async);
  /* A build that finished is reported as done even if cancelled late; stop removes it. */
  g_task_set_check_cancellable (task, FALSE);

  if (self->state == DEMO_STOPPING)
    {
      g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                               "The demo lab '%s' is still stopping; start it again once the stop "
                               "has finished",
                               self->prefix);
      return;
    }
  if (self->state != DEMO_STOPPED)
    {
      g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                               "The demo lab '%s' is already %s; stop it before starting it again",
                               self->prefix, self->state == DEMO_RUNNING ? "running" : "starting");
      return;
    }

  self->state = DEMO_STARTING;
  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = g_main_context_ref_thread_default ();

  build_task = g_task_new (self, cancellable, demo_build_done_cb, g_steal_pointer (&task));
  g_task_set_source_tag (build_task, demo_build_thread);
  g_task_set_check_cancellable (build_task, FALSE);
  g_task_set_task_data (build_task, demo_build_new (self), (GDestroyNotify) demo_build_free);
  g_task_run_in_thread (build_task, demo_build_thread);
}

gboolean
lab_demo_start_finish (LabDemo *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == lab_demo_start_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* What a stop must remove, handed from the demo to lab_demo_stop() or the removal thread. */
typedef struct {
  char *prefix;
  GStrv names; /* the namespace files that this demo created */
  int lock_fd;
} DemoRemoval;

static void
demo_removal_free (DemoRemoval *removal)
{
  demo_lock_release (&removal->lock_fd, removal->prefix);
  g_strfreev (removal->names);
  g_free (removal->prefix);
  g_free (removal);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DemoRemoval, demo_removal_free)

/* Removes the namespace files, then releases the lock. Blocking. */
static gboolean
demo_removal_run (DemoRemoval *removal, GError **error)
{
  /* Once the sockets close, nothing but the mounts keeps the namespaces alive. */
  gboolean ok = lab_demo_remove_netns_files ((const char * const *) removal->names, error);

  demo_lock_release (&removal->lock_fd, removal->prefix);
  return ok;
}

/*
 * Stops the traffic and hands over what the caller must remove. Returns NULL
 * with LAB_ERROR_BUSY while a start or another stop is in progress.
 */
static DemoRemoval *
demo_stop_begin (LabDemo *self, GError **error)
{
  g_autoptr (GStrvBuilder) names = g_strv_builder_new ();
  DemoRemoval *removal;

  if (self->state == DEMO_STARTING)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_BUSY,
                   "The demo lab '%s' is still starting; cancel the start or stop it once "
                   "the start has finished",
                   self->prefix);
      return NULL;
    }
  if (self->state == DEMO_STOPPING)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_BUSY,
                   "The demo lab '%s' is already stopping; wait for that stop to finish",
                   self->prefix);
      return NULL;
    }

  stop_traffic (self);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      if (self->node_created[i])
        g_strv_builder_add (names, self->node_names[i]);
      self->node_created[i] = FALSE;
    }

  if (self->state == DEMO_RUNNING)
    g_debug ("Demo '%s' stopped after %" G_GUINT64_FORMAT " echoes", self->prefix,
             self->echo_count);

  removal = g_new0 (DemoRemoval, 1);
  removal->prefix = g_strdup (self->prefix);
  removal->names = g_strv_builder_end (names);
  removal->lock_fd = g_steal_fd (&self->lock_fd);
  return removal;
}

gboolean
lab_demo_stop (LabDemo *self, GError **error)
{
  g_autoptr (DemoRemoval) removal = NULL;

  g_return_val_if_fail (LAB_IS_DEMO (self), FALSE);

  removal = demo_stop_begin (self, error);
  if (removal == NULL)
    return FALSE;
  self->state = DEMO_STOPPED;
  return demo_removal_run (removal, error);
}

static void
demo_remove_thread (GTask *task, gpointer source_object, gpointer task_data,
                    GCancellable *cancellable)
{
  GError *error = NULL;

  if (!demo_removal_run (task_data, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
demo_remove_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  LabDemo *self = LAB_DEMO (source_object);
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  /* Only now are the namespaces gone, so a start from here on cannot find them. */
  self->state = DEMO_STOPPED;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
lab_demo_stop_async (LabDemo *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) remove_task = NULL;
  GError *error = NULL;
  DemoRemoval *removal;

  g_return_if_fail (LAB_IS_DEMO (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_demo_stop_async);
  /* Once the traffic is stopped, the namespaces must go, so cancelling does not skip that. */
  g_task_set_check_cancellable (task, FALSE);

  removal = demo_stop_begin (self, &error);
  if (removal == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  self->state = DEMO_STOPPING;

  remove_task = g_task_new (self, cancellable, demo_remove_done_cb, g_steal_pointer (&task));
  g_task_set_source_tag (remove_task, demo_remove_thread);
  g_task_set_check_cancellable (remove_task, FALSE);
  g_task_set_task_data (remove_task, removal, (GDestroyNotify) demo_removal_free);
  g_task_run_in_thread (remove_task, demo_remove_thread);
}

gboolean
lab_demo_stop_finish (LabDemo *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == lab_demo_stop_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* GObject. */

static void
lab_demo_constructed (GObject *object)
{
  LabDemo *self = LAB_DEMO (object);

  G_OBJECT_CLASS (lab_demo_parent_class)->constructed (object);

  if (self->prefix == NULL)
    self->prefix = g_strdup (LAB_DEMO_PREFIX_DEFAULT);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      self->node_names[i] = g_strdup_printf ("%s-%s", self->prefix, node_suffixes[i]);
      self->node_cidrs[i] = g_strdup_printf ("%s/%d", node_addresses[i], DEMO_PREFIX_LEN);
    }
}

static void
lab_demo_dispose (GObject *object)
{
  LabDemo *self = LAB_DEMO (object);
  g_autoptr (GError) error = NULL;

  /*
   * Blocks while a running demo's namespaces are removed, so a UI thread calls
   * lab_demo_stop_async first. A start in progress holds a reference, so the
   * state here is never DEMO_STARTING, and a stop in progress holds one too,
   * so it is never DEMO_STOPPING either.
   */
  if (!lab_demo_stop (self, &error))
    g_warning ("Demo lab '%s' not fully removed: %s", self->prefix, error->message);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (lab_demo_parent_class)->dispose (object);
}

static void
lab_demo_finalize (GObject *object)
{
  LabDemo *self = LAB_DEMO (object);

  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      g_free (self->node_names[i]);
      g_free (self->node_cidrs[i]);
    }
  g_free (self->prefix);

  G_OBJECT_CLASS (lab_demo_parent_class)->finalize (object);
}

static void
lab_demo_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LabDemo *self = LAB_DEMO (object);

  switch (prop_id)
    {
    case PROP_PREFIX:
      g_value_set_string (value, self->prefix);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lab_demo_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  LabDemo *self = LAB_DEMO (object);

  switch (prop_id)
    {
    case PROP_PREFIX:
      self->prefix = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lab_demo_class_init (LabDemoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = lab_demo_constructed;
  object_class->dispose = lab_demo_dispose;
  object_class->finalize = lab_demo_finalize;
  object_class->get_property = lab_demo_get_property;
  object_class->set_property = lab_demo_set_property;

  /* Node namespaces are named PREFIX-a and PREFIX-b. NULL means LAB_DEMO_PREFIX_DEFAULT. */
  properties[PROP_PREFIX] =
    g_param_spec_string ("prefix", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
lab_demo_init (LabDemo *self)
{
  self->lock_fd = -1;
}

gboolean
lab_demo_check_not_running (const char *prefix, GError **error)
{
  g_autofree char *dir = lab_journal_dup_dir ();
  g_autofree char *path = NULL;
  int fd;

  g_return_val_if_fail (prefix != NULL, FALSE);

  if (!check_lock_prefix (prefix, error))
    return FALSE;
  path = demo_lock_path (dir, prefix);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int err = errno;

      if (err == ENOENT)
        return TRUE;
      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Could not open the demo lock file '%s': %s", path, g_strerror (err));
      return FALSE;
    }

  /* Only demos take the exclusive lock, so a shared one fails only while a demo holds it. */
  if (flock (fd, LOCK_SH | LOCK_NB) < 0)
    {
      int err = errno;

      if (err == EWOULDBLOCK)
        set_running_error (fd, prefix, error);
      else
        g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                     "Could not check the demo lock file '%s': %s", path, g_strerror (err));
      close (fd);
      return FALSE;
    }
  close (fd);
  return TRUE;
}
