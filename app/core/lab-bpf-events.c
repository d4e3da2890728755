/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-bpf-events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <glib-unix.h>
#include <linux/perf_event.h>
#include <linux/types.h>

#include "lab-error.h"
#include "lab-events.h"
#include "lab_events.skel.h"
#include "lab-tracefs-private.h"

#define LAB_BTF_VMLINUX "/sys/kernel/btf/vmlinux"

/* Pages per CPU for the perf buffer: 256 KiB with 4 KiB pages. */
#define PERF_BUFFER_PAGES 64
/*
 * Events decoded per dispatch before yielding to other sources. One per-CPU
 * buffer is always read to its end, so a dispatch may pass this by at most one
 * buffer's worth of events.
 */
#define EVENT_BUDGET 1024

struct _LabBpfEvents
{
  GObject parent_instance;

  struct lab_events *skeleton;
  struct perf_buffer *perf_buffer;
  /* The control page of each per-CPU buffer, NULL for a slot without one. */
  GPtrArray *ring_headers;
  GSource *reader;
  gsize next_buffer; /* round-robin start, so one busy CPU cannot hide the others */
  gboolean reported_unreadable_record; /* logged once per start */
  GTask *start_task;
  GCancellable *cancellable; /* cancelled by stop */

  GArray *pending; /* struct lab_event copies from the current drain */
  guint64 pending_lost;
  guint generation; /* bumped by stop, so an emission loop notices */

  guint64 received;
  guint64 lost;
};

G_DEFINE_FINAL_TYPE (LabBpfEvents, lab_bpf_events, G_TYPE_OBJECT)

enum
{
  SIGNAL_EVENT,
  SIGNAL_LOST,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/*
 * While a start runs on a thread, libbpf warnings go into its error message,
 * not the log, up to LIBBPF_WARNINGS_MAX bytes.
 */
#define LIBBPF_WARNINGS_MAX 1024
static GPrivate libbpf_warnings = G_PRIVATE_INIT ((GDestroyNotify) NULL);

static int
on_libbpf_print (enum libbpf_print_level level, const char *format, va_list args)
{
  GString *captured = g_private_get (&libbpf_warnings);
  g_autofree char *message = g_strdup_vprintf (format, args);

  g_strchomp (message);
  if (level == LIBBPF_WARN && captured != NULL)
    {
      const char *text = g_str_has_prefix (message, "libbpf: ") ? message + 8 : message;

      g_debug ("%s", message);
      if (captured->len >= LIBBPF_WARNINGS_MAX)
        return 0;
      if (captured->len > 0)
        g_string_append (captured, "; ");
      g_string_append (captured, text);
    }
  else if (level == LIBBPF_WARN)
    g_warning ("%s", message);
  else if (level == LIBBPF_INFO)
    g_info ("%s", message);
  else
    g_debug ("%s", message);
  return 0;
}

static void
set_bpf_error (GError **error, const char *step, int err, GString *libbpf_messages)
{
  int code = err < 0 ? -err : err;
  g_autofree char *reason = NULL;

  if (libbpf_messages != NULL && libbpf_messages->len > 0)
    reason = g_strdup_printf (" (libbpf: %s)", libbpf_messages->str);

  if (code == EPERM || code == EACCES)
    g_set_error (error, LAB_ERROR, LAB_ERROR_PERMISSION,
                 "%s failed: %s. It needs root or CAP_BPF and CAP_PERFMON, and kernel "
                 "lockdown in \"confidentiality\" mode can also reject it%s",
                 step, g_strerror (code), reason ? reason : "");
  else
    g_set_error (error, LAB_ERROR, lab_error_from_errno (code), "%s failed: %s%s", step,
                 g_strerror (code), reason ? reason : "");
}

typedef struct
{
  struct lab_events *skeleton;
  struct perf_buffer *perf_buffer;
} LoadResult;

static void
load_result_free (LoadResult *result)
{
  perf_buffer__free (result->perf_buffer);
  lab_events__destroy (result->skeleton);
  g_free (result);
}

static void on_perf_sample (void *ctx, int cpu, void *data, __u32 size);
static void on_perf_lost (void *ctx, int cpu, __u64 count);

/* Attaches one program; returns 0 or a negative errno. */
static int
attach_program (struct bpf_program *program, struct bpf_link **out_link)
{
  struct bpf_link *link = bpf_program__attach (program);

  if (link == NULL)
    return -errno;
  *out_link = link;
  return 0;
}

static void
load_programs_thread (GTask *task, gpointer source_object, gpointer task_data,
                      GCancellable *cancellable)
{
  g_autoptr (GString) warnings = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *tracefs = NULL;
  LoadResult *result = g_new0 (LoadResult, 1);
  int err;

  g_private_set (&libbpf_warnings, warnings);

  if (access (LAB_BTF_VMLINUX, R_OK) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        g_set_error (&error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED,
                     "Loading Lab's BPF programs failed: the kernel exposes no BTF at %s. "
                     "Use a kernel built with CONFIG_DEBUG_INFO_BTF",
                     LAB_BTF_VMLINUX);
      else
        set_bpf_error (&error, "Reading the kernel BTF at " LAB_BTF_VMLINUX, -saved_errno, NULL);
      goto out;
    }

  /* libbpf looks up tracepoint ids under tracefs when it attaches. */
  tracefs = lab_tracefs_find_or_mount (NULL, &error);
  if (tracefs == NULL)
    goto out;

  result->skeleton = lab_events__open ();
  if (result->skeleton == NULL)
    {
      set_bpf_error (&error, "Opening Lab's BPF programs", -errno, warnings);
      goto out;
    }
  err = lab_events__load (result->skeleton);
  if (err < 0)
    {
      set_bpf_error (&error, "Loading Lab's BPF programs into the kernel", err, warnings);
      goto out;
    }

  err = attach_program (result->skeleton->progs.handle_exec, &result->skeleton->links.handle_exec);
  if (err < 0)
    {
      set_bpf_error (&error, "Attaching to tracepoint sched/sched_process_exec", err, warnings);
      goto out;
    }
  err = attach_program (result->skeleton->progs.handle_tcp_retransmit,
                        &result->skeleton->links.handle_tcp_retransmit);
  if (err < 0)
    {
      set_bpf_error (&error, "Attaching to tracepoint tcp/tcp_retransmit_skb", err, warnings);
      goto out;
    }

  result->perf_buffer = perf_buffer__new (bpf_map__fd (result->skeleton->maps.events),
                                          PERF_BUFFER_PAGES, on_perf_sample, on_perf_lost,
                                          source_object, NULL);
  if (result->perf_buffer == NULL)
    {
      set_bpf_error (&error, "Creating the perf buffer for Lab's BPF events", -errno, warnings);
      goto out;
    }

out:
  g_private_set (&libbpf_warnings, NULL);
  if (error != NULL)
    {
      load_result_free (result);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, result, (GDestroyNotify) load_result_free);
}

static void
on_perf_sample (void *ctx, int cpu, void *data, __u32 size)
{
  LabBpfEvents *self = ctx;

  if (size < sizeof (struct lab_event))
    {
      g_debug ("Dropping a %u-byte BPF sample from CPU %d, shorter than an event", size, cpu);
      return;
    }
  g_array_append_vals (self->pending, data, 1);
}

static void
on_perf_lost (void *ctx, int cpu, __u64 count)
{
  LabBpfEvents *self = ctx;

  self->pending_lost += count;
}

static const char *
tcp_state_to_string (guint state)
{
  /* The kernel's TCP state numbers: TCP_ESTABLISHED is 1, TCP_BOUND_INACTIVE is 13 (Linux 6.18). */
  static const char *const names[] = {
    "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
  };

  return state < G_N_ELEMENTS (names) ? names[state] : "UNKNOWN";
}

static char *
format_endpoint (guint family, const __u8 *address, guint port)
{
  char text[INET6_ADDRSTRLEN] = "?";

  if (family == AF_INET6)
    {
      inet_ntop (AF_INET6, address, text, sizeof text);
      return g_strdup_printf ("[%s]:%u", text, port);
    }
  inet_ntop (AF_INET, address, text, sizeof text);
  return g_strdup_printf ("%s:%u", text, port);
}

static char *
format_detail (const struct lab_event *raw)
{
  /* The program copies a fixed number of bytes, which can end inside a multibyte character. */
  if (raw->kind == LAB_EVENT_EXEC)
    return g_utf8_make_valid (raw->exec.filename,
                              strnlen (raw->exec.filename, sizeof raw->exec.filename));

  if (raw->kind == LAB_EVENT_TCP_RETRANSMIT)
    {
      g_autofree char *source = format_endpoint (raw->tcp.family, raw->tcp.saddr, raw->tcp.sport);
      g_autofree char *destination =
        format_endpoint (raw->tcp.family, raw->tcp.daddr, raw->tcp.dport);

      return g_strdup_printf ("%s -> %s state %s", source, destination,
                              tcp_state_to_string (raw->tcp.state));
    }
  return g_strdup_printf ("unknown event kind %u", raw->kind);
}

/* Emits what the last drain collected; stops early when a handler calls stop. */
static void
emit_pending (LabBpfEvents *self)
{
  g_autoptr (LabBpfEvents) guard = g_object_ref (self);
  guint generation = self->generation;
  /* One offset per drain, from the two clocks read back to back. */
  gint64 realtime_offset_usec = g_get_real_time () - g_get_monotonic_time ();
  guint64 lost = self->pending_lost;

  self->pending_lost = 0;
  if (lost > 0)
    {
      self->lost += lost;
      g_signal_emit (self, signals[SIGNAL_LOST], 0, lost);
    }

  for (guint i = 0; i < self->pending->len && generation == self->generation; i++)
    {
      const struct lab_event *raw = &g_array_index (self->pending, struct lab_event, i);
      g_autofree char *detail = format_detail (raw);
      LabBpfEvent event = {
        .kind = raw->kind,
        .realtime_usec = (gint64) (raw->timestamp_ns / 1000) + realtime_offset_usec,
        .pid = raw->pid,
        .tid = raw->tid,
        .netns_inode = raw->netns_ino,
        .detail = detail,
      };

      memcpy (event.comm, raw->comm, sizeof event.comm);
      event.comm[sizeof event.comm - 1] = '\0';
      self->received++;
      g_signal_emit (self, signals[SIGNAL_EVENT], 0, &event);
    }
  if (generation == self->generation)
    g_array_set_size (self->pending, 0);
}

/*
 * Handles a failed perf_buffer__consume_buffer() of buffer @index, whose
 * data_tail was @tail_before. libbpf (1.1) advances data_tail past a record
 * that its callback rejects, and leaves it in place only when copying a record
 * that wraps around the buffer end fails to allocate. libbpf logs the cause
 * and returns LIBBPF_PERF_EVENT_ERROR (-1), which is no errno.
 */
static void
handle_consume_error (LabBpfEvents *self, gsize index, __u64 tail_before)
{
  struct perf_event_mmap_page *header = g_ptr_array_index (self->ring_headers, index);

  if (header == NULL)
    return;

  /* A record left unread would keep the reader ready forever, so prepare stops checking it. */
  if (header->data_tail == tail_before)
    {
      g_warning ("libbpf could not read a record in perf buffer %zu (see the libbpf warning); "
                 "that buffer is read only when another buffer wakes the reader",
                 index);
      g_ptr_array_index (self->ring_headers, index) = NULL;
      return;
    }

  if (!self->reported_unreadable_record)
    {
      g_warning ("libbpf reported an unreadable record in perf buffer %zu (see the libbpf warning)",
                 index);
      self->reported_unreadable_record = TRUE;
    }
}

/*
 * Consumes per-CPU buffers round-robin until EVENT_BUDGET events are
 * collected, then emits them. Buffers left unread are found by the reader
 * source's next prepare.
 */
static void
drain (LabBpfEvents *self)
{
  gsize buffer_count = perf_buffer__buffer_cnt (self->perf_buffer);
  gsize visited = 0;

  while (visited < buffer_count && self->pending->len < EVENT_BUDGET)
    {
      struct perf_event_mmap_page *header = g_ptr_array_index (self->ring_headers,
                                                               self->next_buffer);
      __u64 tail_before = header != NULL ? header->data_tail : 0;
      int err = perf_buffer__consume_buffer (self->perf_buffer, self->next_buffer);

      /* libbpf returns -ENOENT for a slot without a buffer, such as an offline CPU's. */
      if (err < 0 && err != -ENOENT)
        handle_consume_error (self, self->next_buffer, tail_before);
      self->next_buffer = (self->next_buffer + 1) % buffer_count;
      visited++;
    }
  emit_pending (self);
}

/* Checks whether any per-CPU buffer contains a record that has not been read yet. */
static gboolean
has_unread_records (LabBpfEvents *self)
{
  for (guint i = 0; i < self->ring_headers->len; i++)
    {
      struct perf_event_mmap_page *header = g_ptr_array_index (self->ring_headers, i);

      /* The kernel publishes data_head with a release store after writing the record. */
      if (header != NULL
          && __atomic_load_n (&header->data_head, __ATOMIC_ACQUIRE) != header->data_tail)
        return TRUE;
    }
  return FALSE;
}

/*
 * The reader is a GSource that is ready while any buffer holds unread records,
 * not only when the epoll fd polls readable. Polling a perf event fd clears its
 * wakeup (perf_poll() in kernel/events/core.c), so when a higher-priority
 * source is dispatched instead of this one after the poll, the next poll
 * reports nothing and the records would wait for the next event. The check of
 * the buffer positions in prepare catches them.
 */
typedef struct
{
  GSource source;
  LabBpfEvents *events; /* not owned: stop destroys the source before it drops the buffers */
  gpointer epoll_tag;
} ReaderSource;

static gboolean
reader_prepare (GSource *source, int *timeout)
{
  ReaderSource *reader = (ReaderSource *) source;

  *timeout = -1;
  return has_unread_records (reader->events);
}

static gboolean
reader_check (GSource *source)
{
  ReaderSource *reader = (ReaderSource *) source;

  return (g_source_query_unix_fd (source, reader->epoll_tag) & G_IO_IN) != 0
         || has_unread_records (reader->events);
}

static gboolean
reader_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ReaderSource *reader = (ReaderSource *) source;
  struct epoll_event ready[16];

  /*
   * Takes up to 16 wakeups from epoll's ready list, so that the next poll
   * blocks once the list is empty. One call per dispatch bounds the time spent
   * here: with more busy CPUs, the epoll fd stays readable and the next
   * dispatch takes the rest. drain() reads every buffer by its positions, not
   * by these wakeups.
   */
  if (g_source_query_unix_fd (source, reader->epoll_tag) & G_IO_IN)
    epoll_wait (perf_buffer__epoll_fd (reader->events->perf_buffer), ready,
                G_N_ELEMENTS (ready), 0);
  drain (reader->events);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs reader_source_funcs = {
  .prepare = reader_prepare,
  .check = reader_check,
  .dispatch = reader_dispatch,
};

static void
attach_reader (LabBpfEvents *self)
{
  g_autoptr (GSource) source = g_source_new (&reader_source_funcs, sizeof (ReaderSource));
  ReaderSource *reader = (ReaderSource *) source;
  gsize buffer_count = perf_buffer__buffer_cnt (self->perf_buffer);

  /* Each mapping starts with its control page. libbpf returns -ENOENT for a slot without one. */
  for (gsize i = 0; i < buffer_count; i++)
    {
      void *base = NULL;
      size_t size = 0;

      if (perf_buffer__buffer (self->perf_buffer, (int) i, &base, &size) < 0)
        base = NULL;
      g_ptr_array_add (self->ring_headers, base);
    }

  reader->events = self;
  reader->epoll_tag =
    g_source_add_unix_fd (source, perf_buffer__epoll_fd (self->perf_buffer), G_IO_IN);
  /* Below redraw priority, so an event flood cannot starve drawing or input. */
  g_source_set_priority (source, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_static_name (source, "[lab] BPF perf buffer");
  g_source_attach (source, g_main_context_get_thread_default ());
  self->reader = g_steal_pointer (&source);
}

/*
 * Detaching a tracepoint program waits for an RCU grace period, which took
 * about 150 ms per stop on the development VM, so it runs off the main thread.
 */
static void
free_programs_thread (GTask *task, gpointer source_object, gpointer task_data,
                      GCancellable *cancellable)
{
  load_result_free (task_data);
  g_task_return_boolean (task, TRUE);
}

/* Detaches and frees @programs on a worker thread; takes ownership. */
static void
free_programs_async (LoadResult *programs)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, NULL, NULL);

  g_task_set_source_tag (task, free_programs_async);
  g_task_set_task_data (task, programs, NULL);
  g_task_run_in_thread (task, free_programs_thread);
}

static void
on_programs_loaded (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  LabBpfEvents *self = LAB_BPF_EVENTS (source_object);
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  GCancellable *load_cancellable = g_task_get_cancellable (G_TASK (result));
  LoadResult *loaded = g_task_propagate_pointer (G_TASK (result), &error);

  if (self->start_task == task)
    g_clear_object (&self->start_task);

  /* A stop came during the load, so the attached programs are detached on a worker thread. */
  if (g_cancellable_is_cancelled (load_cancellable))
    {
      if (loaded != NULL)
        free_programs_async (loaded);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "Starting Lab's BPF programs was cancelled by a stop");
      return;
    }
  if (loaded == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    {
      free_programs_async (loaded);
      return;
    }

  self->skeleton = g_steal_pointer (&loaded->skeleton);
  self->perf_buffer = g_steal_pointer (&loaded->perf_buffer);
  g_free (loaded);
  self->next_buffer = 0;
  self->reported_unreadable_record = FALSE;
  attach_reader (self);

  g_debug ("Lab's BPF programs are attached; reading %zu perf buffers",
           perf_buffer__buffer_cnt (self->perf_buffer));
  g_task_return_boolean (task, TRUE);
}

void
lab_bpf_events_start_async (LabBpfEvents *self, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  static gsize print_set = 0;
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) load_task = NULL;

  g_return_if_fail (LAB_IS_BPF_EVENTS (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (g_once_init_enter (&print_set))
    {
      libbpf_set_print (on_libbpf_print);
      g_once_init_leave (&print_set, 1);
    }

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_bpf_events_start_async);

  if (self->perf_buffer != NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (self->start_task != NULL)
    {
      g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                               "Starting Lab's BPF programs failed: a start is already in "
                               "progress; wait for it to finish");
      return;
    }

  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->start_task = g_object_ref (task);
  load_task = g_task_new (self, self->cancellable, on_programs_loaded, g_steal_pointer (&task));
  g_task_set_source_tag (load_task, lab_bpf_events_start_async);
  /*
   * A cancelled load still hands its programs to on_programs_loaded, which
   * detaches them on a thread. GTask would otherwise free them on the main thread.
   */
  g_task_set_check_cancellable (load_task, FALSE);
  g_task_run_in_thread (load_task, load_programs_thread);
}

gboolean
lab_bpf_events_start_finish (LabBpfEvents *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (LAB_IS_BPF_EVENTS (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
lab_bpf_events_stop (LabBpfEvents *self)
{
  g_return_if_fail (LAB_IS_BPF_EVENTS (self));

  self->generation++;
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->start_task);
  if (self->reader != NULL)
    g_source_destroy (self->reader);
  g_clear_pointer (&self->reader, g_source_unref);
  /* The pages are unmapped with the perf buffer on the worker thread. */
  g_ptr_array_set_size (self->ring_headers, 0);
  if (self->skeleton != NULL)
    {
      LoadResult *programs = g_new0 (LoadResult, 1);

      g_debug ("Detaching Lab's BPF programs after %" G_GUINT64_FORMAT " events, %"
               G_GUINT64_FORMAT " lost", self->received, self->lost);
      programs->skeleton = g_steal_pointer (&self->skeleton);
      programs->perf_buffer = g_steal_pointer (&self->perf_buffer);
      free_programs_async (programs);
    }
  g_array_set_size (self->pending, 0);
  self->pending_lost = 0;
}

guint64
lab_bpf_events_get_received (LabBpfEvents *self)
{
  g_return_val_if_fail (LAB_IS_BPF_EVENTS (self), 0);

  return self->received;
}

guint64
lab_bpf_events_get_lost (LabBpfEvents *self)
{
  g_return_val_if_fail (LAB_IS_BPF_EVENTS (self), 0);

  return self->lost;
}

const char *
lab_bpf_event_kind_to_string (LabBpfEventKind kind)
{
  switch (kind)
    {
    case LAB_BPF_EVENT_EXEC:
      return "exec";
    case LAB_BPF_EVENT_TCP_RETRANSMIT:
      return "tcp-retransmit";
    default:
      return "unknown";
    }
}

LabBpfEvents *
lab_bpf_events_new (void)
{
  return g_object_new (LAB_TYPE_BPF_EVENTS, NULL);
}

static void
lab_bpf_events_dispose (GObject *object)
{
  LabBpfEvents *self = LAB_BPF_EVENTS (object);

  lab_bpf_events_stop (self);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (lab_bpf_events_parent_class)->dispose (object);
}

static void
lab_bpf_events_finalize (GObject *object)
{
  LabBpfEvents *self = LAB_BPF_EVENTS (object);

  g_array_unref (self->pending);
  g_ptr_array_unref (self->ring_headers);

  G_OBJECT_CLASS (lab_bpf_events_parent_class)->finalize (object);
}

static void
lab_bpf_events_class_init (LabBpfEventsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lab_bpf_events_dispose;
  object_class->finalize = lab_bpf_events_finalize;

  /* One decoded LabBpfEvent, valid during the emission. */
  signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /* Events the kernel dropped because a perf buffer was full, counted since the last report. */
  signals[SIGNAL_LOST] = g_signal_new ("lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT64);
}

static void
lab_bpf_events_init (LabBpfEvents *self)
{
  self->pending = g_array_new (FALSE, FALSE, sizeof (struct lab_event));
  self->ring_headers = g_ptr_array_new ();
}
