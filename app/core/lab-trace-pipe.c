/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-trace-pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>

#include "lab-error.h"
#include "lab-tracefs-private.h"

#define LAB_TRACEFS_DIR "/sys/kernel/tracing"
#define LAB_TRACEFS_DEBUGFS_DIR "/sys/kernel/debug/tracing"

/* Bytes per read() call, and the maximum one wakeup reads before yielding to other sources. */
#define READ_CHUNK_SIZE (64 * 1024)
#define READ_BUDGET_BYTES (4 * READ_CHUNK_SIZE)
/*
 * Maximum length of the incomplete line kept between reads, an estimate well
 * above the few KiB of one formatted trace entry. A longer run without a
 * newline is emitted as a line of its own.
 */
#define PARTIAL_LINE_MAX (64 * 1024)
#define OVERRUN_REFRESH_SECONDS 1

struct _LabTracePipe
{
  GObject parent_instance;

  char *tracefs;
  int fd;
  /* Both attached to the thread-default context of the start caller. */
  GSource *watch;
  GSource *overrun_timer;
  GTask *start_task; /* the caller's task while start is in flight */
  GCancellable *cancellable; /* cancelled by stop: start and overrun reads */
  /*
   * An open thread is in flight, perhaps for a stopped start. A new start waits
   * for it, because its fd holds trace_pipe until on_trace_pipe_opened closes it.
   */
  gboolean opening;
  gboolean overrun_refresh_pending;

  char *read_buffer;
  GString *partial_line;
  guint64 lines_read;
  guint64 overruns;            /* counted while this object had trace_pipe open */
  guint64 kernel_overruns;     /* the kernel's total at the last check */
};

G_DEFINE_FINAL_TYPE (LabTracePipe, lab_trace_pipe, G_TYPE_OBJECT)

enum
{
  SIGNAL_LINES,
  SIGNAL_ERROR,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* Serializes the check and the mount, so two callers never stack two tracefs mounts. */
static GMutex tracefs_mutex;

static char *
find_tracefs_mount (void)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean have_tracing = FALSE;
  gboolean have_debug_tracing = FALSE;

  if (!g_file_get_contents ("/proc/self/mounts", &contents, NULL, NULL))
    return NULL;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], " ", 4);

      if (g_strv_length (fields) < 3 || g_strcmp0 (fields[2], "tracefs") != 0)
        continue;
      if (g_str_equal (fields[1], LAB_TRACEFS_DIR))
        have_tracing = TRUE;
      else if (g_str_equal (fields[1], LAB_TRACEFS_DEBUGFS_DIR))
        have_debug_tracing = TRUE;
    }

  if (have_tracing)
    return g_strdup (LAB_TRACEFS_DIR);
  if (have_debug_tracing)
    return g_strdup (LAB_TRACEFS_DEBUGFS_DIR);
  return NULL;
}

char *
lab_tracefs_find_or_mount (gboolean *out_mounted, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&tracefs_mutex);
  char *found = find_tracefs_mount ();
  int saved_errno;

  if (found != NULL)
    {
      if (out_mounted != NULL)
        *out_mounted = FALSE;
      return found;
    }

  if (mount ("tracefs", LAB_TRACEFS_DIR, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
    {
      g_debug ("Mounted tracefs at %s", LAB_TRACEFS_DIR);
      if (out_mounted != NULL)
        *out_mounted = TRUE;
      return g_strdup (LAB_TRACEFS_DIR);
    }

  saved_errno = errno;
  if (saved_errno == EPERM || saved_errno == EACCES)
    g_set_error (error, LAB_ERROR, LAB_ERROR_PERMISSION,
                 "Mounting tracefs at %s failed: %s. Run as root (CAP_SYS_ADMIN), "
                 "or mount it first with 'mount -t tracefs tracefs %s'",
                 LAB_TRACEFS_DIR, g_strerror (saved_errno), LAB_TRACEFS_DIR);
  else if (saved_errno == ENODEV)
    g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED,
                 "Mounting tracefs at %s failed: the kernel has no tracefs. "
                 "Use a kernel built with CONFIG_TRACING",
                 LAB_TRACEFS_DIR);
  else
    g_set_error (error, LAB_ERROR, lab_error_from_errno (saved_errno),
                 "Mounting tracefs at %s failed: %s", LAB_TRACEFS_DIR,
                 g_strerror (saved_errno));
  return NULL;
}

/*
 * Finds a process with an open file descriptor on @path by comparing device
 * and inode through /proc/PID/fd. Returns FALSE when none is visible, such as
 * a holder in another PID namespace.
 */
static gboolean
find_file_holder (const char *path, GPid *out_pid, char **out_comm)
{
  g_autoptr (GDir) proc = NULL;
  struct stat target;
  const char *name;

  if (stat (path, &target) != 0)
    return FALSE;
  proc = g_dir_open ("/proc", 0, NULL);
  if (proc == NULL)
    return FALSE;

  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *fd_dir_path = NULL;
      g_autoptr (GDir) fd_dir = NULL;
      const char *fd_name;
      char *end = NULL;
      long pid = strtol (name, &end, 10);

      if (end == name || *end != '\0' || pid <= 0)
        continue;
      fd_dir_path = g_strdup_printf ("/proc/%ld/fd", pid);
      fd_dir = g_dir_open (fd_dir_path, 0, NULL);
      if (fd_dir == NULL)
        continue;

      while ((fd_name = g_dir_read_name (fd_dir)) != NULL)
        {
          g_autofree char *link_path = g_build_filename (fd_dir_path, fd_name, NULL);
          g_autofree char *link_target = g_file_read_link (link_path, NULL);
          g_autofree char *comm_path = NULL;
          g_autofree char *comm = NULL;
          struct stat st;

          /* Only stat links that look like trace_pipe, so other files are never touched. */
          if (link_target == NULL || !g_str_has_suffix (link_target, "/trace_pipe"))
            continue;
          if (stat (link_path, &st) != 0 || st.st_dev != target.st_dev
              || st.st_ino != target.st_ino)
            continue;

          comm_path = g_strdup_printf ("/proc/%ld/comm", pid);
          if (!g_file_get_contents (comm_path, &comm, NULL, NULL))
            comm = g_strdup ("unknown");
          *out_pid = (GPid) pid;
          *out_comm = g_strdup (g_strstrip (comm));
          return TRUE;
        }
    }
  return FALSE;
}

/* Sums "overrun:" over per_cpu/cpuN/stats; blocking. */
static guint64
read_overruns (const char *tracefs)
{
  g_autofree char *per_cpu_path = g_build_filename (tracefs, "per_cpu", NULL);
  g_autoptr (GDir) per_cpu = g_dir_open (per_cpu_path, 0, NULL);
  const char *name;
  guint64 total = 0;

  if (per_cpu == NULL)
    return 0;
  while ((name = g_dir_read_name (per_cpu)) != NULL)
    {
      g_autofree char *stats_path = NULL;
      g_autofree char *contents = NULL;
      g_auto (GStrv) lines = NULL;

      if (!g_str_has_prefix (name, "cpu"))
        continue;
      stats_path = g_build_filename (per_cpu_path, name, "stats", NULL);
      if (!g_file_get_contents (stats_path, &contents, NULL, NULL))
        continue;
      lines = g_strsplit (contents, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          if (g_str_has_prefix (lines[i], "overrun:"))
            total += g_ascii_strtoull (lines[i] + strlen ("overrun:"), NULL, 10);
        }
    }
  return total;
}

typedef struct
{
  char *tracefs;
  int fd;
  guint64 overruns;
} OpenResult;

static void
open_result_free (OpenResult *result)
{
  g_free (result->tracefs);
  if (result->fd >= 0)
    close (result->fd);
  g_free (result);
}

static void
open_trace_pipe_thread (GTask *task, gpointer source_object, gpointer task_data,
                        GCancellable *cancellable)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tracefs = NULL;
  g_autofree char *path = NULL;
  OpenResult *result;
  gboolean mounted = FALSE;
  int fd;

  if (g_task_return_error_if_cancelled (task))
    return;

  tracefs = lab_tracefs_find_or_mount (&mounted, &error);
  if (tracefs == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  path = g_build_filename (tracefs, "trace_pipe", NULL);
  fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_autofree char *holder_comm = NULL;
      GPid holder_pid = 0;

      if (saved_errno != EBUSY)
        g_task_return_new_error (task, LAB_ERROR, lab_error_from_errno (saved_errno),
                                 "Opening %s failed: %s", path, g_strerror (saved_errno));
      else if (find_file_holder (path, &holder_pid, &holder_comm))
        g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                                 "trace_pipe is held by PID %d (%s); stop it or close that program",
                                 (int) holder_pid, holder_comm);
      else
        g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                                 "trace_pipe at %s is held by a reader that is not visible here, "
                                 "perhaps in another PID namespace; close it and try again",
                                 path);
      return;
    }

  result = g_new0 (OpenResult, 1);
  result->tracefs = g_steal_pointer (&tracefs);
  result->fd = fd;
  /* The baseline: overruns before this open belong to earlier readers. */
  result->overruns = read_overruns (result->tracefs);
  g_task_return_pointer (task, result, (GDestroyNotify) open_result_free);
}

/* Appends @length bytes of @data to @batch as one line of valid UTF-8. */
static void
add_line (GPtrArray *batch, const char *data, gsize length)
{
  /* trace_pipe shows strings as the kernel holds them, such as a comm cut at 15 bytes. */
  if (g_utf8_validate_len (data, length, NULL))
    g_ptr_array_add (batch, g_strndup (data, length));
  else
    g_ptr_array_add (batch, g_utf8_make_valid (data, length));
}

/* Appends the complete lines of @data to @batch and keeps the incomplete rest. */
static void
split_lines (LabTracePipe *self, const char *data, gsize length, GPtrArray *batch)
{
  const char *end = data + length;

  while (data < end)
    {
      const char *newline = memchr (data, '\n', end - data);

      if (newline == NULL)
        {
          g_string_append_len (self->partial_line, data, end - data);
          break;
        }
      if (self->partial_line->len > 0)
        {
          g_string_append_len (self->partial_line, data, newline - data);
          add_line (batch, self->partial_line->str, self->partial_line->len);
          g_string_truncate (self->partial_line, 0);
        }
      else
        {
          add_line (batch, data, newline - data);
        }
      data = newline + 1;
    }

  if (self->partial_line->len > PARTIAL_LINE_MAX)
    {
      g_debug ("Flushing a %zu-byte trace_pipe line that has no newline yet",
               self->partial_line->len);
      add_line (batch, self->partial_line->str, self->partial_line->len);
      g_string_truncate (self->partial_line, 0);
    }
}

static gboolean
on_trace_pipe_readable (int fd, GIOCondition condition, gpointer user_data)
{
  LabTracePipe *self = LAB_TRACE_PIPE (user_data);
  g_autoptr (LabTracePipe) guard = g_object_ref (self);
  g_autoptr (GPtrArray) batch = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  gsize budget = READ_BUDGET_BYTES;
  int read_errno = 0;

  while (budget > 0)
    {
      ssize_t n = read (fd, self->read_buffer, READ_CHUNK_SIZE);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n < 0)
        {
          read_errno = errno;
          break;
        }
      if (n == 0)
        break;
      split_lines (self, self->read_buffer, n, batch);
      budget -= MIN (budget, (gsize) n);
    }

  if (batch->len > 0)
    {
      self->lines_read += batch->len;
      g_ptr_array_add (batch, NULL);
      g_signal_emit (self, signals[SIGNAL_LINES], 0, (GStrv) batch->pdata);
      /* A handler stopped the reader, which also removed this source. */
      if (self->fd != fd)
        return G_SOURCE_REMOVE;
    }

  if (read_errno == 0)
    return G_SOURCE_CONTINUE;

  error = g_error_new (LAB_ERROR, lab_error_from_errno (read_errno),
                       "Reading %s/trace_pipe failed: %s; the reader stopped. Start it again",
                       self->tracefs, g_strerror (read_errno));
  g_debug ("%s", error->message);
  /* Returning G_SOURCE_REMOVE destroys the watch, so stop only drops the reference. */
  g_clear_pointer (&self->watch, g_source_unref);
  lab_trace_pipe_stop (self);
  g_signal_emit (self, signals[SIGNAL_ERROR], 0, error);
  return G_SOURCE_REMOVE;
}

static void
read_overruns_thread (GTask *task, gpointer source_object, gpointer task_data,
                      GCancellable *cancellable)
{
  guint64 overruns = read_overruns (task_data);

  g_task_return_pointer (task, g_memdup2 (&overruns, sizeof overruns), g_free);
}

static void
on_overruns_read (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  LabTracePipe *self = LAB_TRACE_PIPE (source_object);
  g_autofree guint64 *kernel_overruns = g_task_propagate_pointer (G_TASK (result), NULL);

  self->overrun_refresh_pending = FALSE;
  if (kernel_overruns == NULL || self->fd < 0)
    return;

  /*
   * The kernel zeroes its counters when the ring buffer is reset, such as by
   * writing to the "trace" file. A smaller total means such a reset, and the
   * new total counts only overruns since then.
   */
  if (*kernel_overruns >= self->kernel_overruns)
    self->overruns += *kernel_overruns - self->kernel_overruns;
  else
    self->overruns += *kernel_overruns;
  self->kernel_overruns = *kernel_overruns;
}

/* Refreshes the overrun count on a worker thread, at most one read in flight. */
static gboolean
on_overrun_timer (gpointer user_data)
{
  LabTracePipe *self = LAB_TRACE_PIPE (user_data);
  g_autoptr (GTask) task = NULL;

  if (self->overrun_refresh_pending)
    return G_SOURCE_CONTINUE;
  self->overrun_refresh_pending = TRUE;
  task = g_task_new (self, self->cancellable, on_overruns_read, NULL);
  g_task_set_source_tag (task, on_overrun_timer);
  g_task_set_task_data (task, g_strdup (self->tracefs), g_free);
  g_task_run_in_thread (task, read_overruns_thread);
  return G_SOURCE_CONTINUE;
}

static void open_trace_pipe_async (LabTracePipe *self);

static void
on_trace_pipe_opened (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  LabTracePipe *self = LAB_TRACE_PIPE (source_object);
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  GCancellable *open_cancellable = g_task_get_cancellable (G_TASK (result));
  OpenResult *opened = g_task_propagate_pointer (G_TASK (result), &error);

  self->opening = FALSE;
  if (self->start_task == task)
    g_clear_object (&self->start_task);

  if (g_cancellable_is_cancelled (open_cancellable))
    {
      g_clear_pointer (&opened, open_result_free);
      g_clear_error (&error);
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                           "Opening trace_pipe was cancelled by a stop");
    }
  else if (opened != NULL && g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task),
                                                                   &error))
    {
      g_clear_pointer (&opened, open_result_free);
    }

  /* The fd of a stopped start is closed now, so a start that waited for it may open. */
  if (self->start_task != NULL)
    open_trace_pipe_async (self);

  if (opened == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_free (self->tracefs);
  self->tracefs = g_steal_pointer (&opened->tracefs);
  self->fd = opened->fd;
  opened->fd = -1;
  self->kernel_overruns = opened->overruns;
  open_result_free (opened);

  /* Below redraw priority, so a busy trace_pipe cannot starve drawing or input. */
  self->watch = g_unix_fd_source_new (self->fd, G_IO_IN);
  g_source_set_priority (self->watch, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (self->watch, G_SOURCE_FUNC (on_trace_pipe_readable), self, NULL);
  g_source_set_static_name (self->watch, "[lab] trace_pipe");
  g_source_attach (self->watch, g_main_context_get_thread_default ());

  self->overrun_timer = g_timeout_source_new_seconds (OVERRUN_REFRESH_SECONDS);
  g_source_set_callback (self->overrun_timer, on_overrun_timer, self, NULL);
  g_source_set_static_name (self->overrun_timer, "[lab] trace_pipe overruns");
  g_source_attach (self->overrun_timer, g_main_context_get_thread_default ());
  g_debug ("Reading %s/trace_pipe", self->tracefs);
  g_task_return_boolean (task, TRUE);
}

/* Opens trace_pipe on a thread for self->start_task. */
static void
open_trace_pipe_async (LabTracePipe *self)
{
  g_autoptr (GTask) open_task = g_task_new (self, self->cancellable, on_trace_pipe_opened,
                                            g_object_ref (self->start_task));

  g_task_set_source_tag (open_task, lab_trace_pipe_start_async);
  /* on_trace_pipe_opened closes a cancelled open's fd itself, before any other open starts. */
  g_task_set_check_cancellable (open_task, FALSE);
  self->opening = TRUE;
  g_task_run_in_thread (open_task, open_trace_pipe_thread);
}

void
lab_trace_pipe_start_async (LabTracePipe *self, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (LAB_IS_TRACE_PIPE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_trace_pipe_start_async);

  if (self->fd >= 0)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (self->start_task != NULL)
    {
      g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                               "Starting the trace_pipe reader failed: a start is already in "
                               "progress; wait for it to finish");
      return;
    }

  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->start_task = g_object_ref (task);
  if (!self->opening)
    open_trace_pipe_async (self);
}

gboolean
lab_trace_pipe_start_finish (LabTracePipe *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (LAB_IS_TRACE_PIPE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
destroy_source (GSource **source)
{
  if (*source != NULL)
    g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

void
lab_trace_pipe_stop (LabTracePipe *self)
{
  g_return_if_fail (LAB_IS_TRACE_PIPE (self));

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->start_task);
  destroy_source (&self->watch);
  destroy_source (&self->overrun_timer);
  if (self->fd >= 0)
    {
      close (self->fd);
      self->fd = -1;
      g_debug ("Closed %s/trace_pipe after %" G_GUINT64_FORMAT " lines", self->tracefs,
               self->lines_read);
    }
  g_string_truncate (self->partial_line, 0);
}

const char *
lab_trace_pipe_get_tracefs (LabTracePipe *self)
{
  g_return_val_if_fail (LAB_IS_TRACE_PIPE (self), NULL);

  return self->tracefs;
}

guint64
lab_trace_pipe_get_lines_read (LabTracePipe *self)
{
  g_return_val_if_fail (LAB_IS_TRACE_PIPE (self), 0);

  return self->lines_read;
}

guint64
lab_trace_pipe_get_overruns (LabTracePipe *self)
{
  g_return_val_if_fail (LAB_IS_TRACE_PIPE (self), 0);

  return self->overruns;
}

LabTracePipe *
lab_trace_pipe_new (void)
{
  return g_object_new (LAB_TYPE_TRACE_PIPE, NULL);
}

static void
lab_trace_pipe_dispose (GObject *object)
{
  LabTracePipe *self = LAB_TRACE_PIPE (object);

  lab_trace_pipe_stop (self);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (lab_trace_pipe_parent_class)->dispose (object);
}

static void
lab_trace_pipe_finalize (GObject *object)
{
  LabTracePipe *self = LAB_TRACE_PIPE (object);

  g_free (self->tracefs);
  g_free (self->read_buffer);
  g_string_free (self->partial_line, TRUE);

  G_OBJECT_CLASS (lab_trace_pipe_parent_class)->finalize (object);
}

static void
lab_trace_pipe_class_init (LabTracePipeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lab_trace_pipe_dispose;
  object_class->finalize = lab_trace_pipe_finalize;

  /* A batch of complete lines without their newlines, valid during the emission. */
  signals[SIGNAL_LINES] = g_signal_new ("lines", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1,
                                        G_TYPE_STRV | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* A read failure that stopped the reader, after the lines read before it. */
  signals[SIGNAL_ERROR] = g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1,
                                        G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
lab_trace_pipe_init (LabTracePipe *self)
{
  self->fd = -1;
  self->read_buffer = g_malloc (READ_CHUNK_SIZE);
  self->partial_line = g_string_sized_new (256);
}
