/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * trace_pipe ingest of LabTracePipe against `cat trace_pipe > /dev/null`,
 * measured in turn in one run because trace_pipe allows one reader at a time.
 *
 * Two phases per round and reader:
 * - drain: lines written to trace_marker with no reader open, then read until
 *   the ring buffer is empty, which measures the reader alone;
 * - live: a writer thread writes LIVE_LINES lines while the reader runs, which
 *   shows whether the reader keeps up and how many lines it loses (overruns).
 * Lines consumed and overruns come from the kernel's per_cpu/cpuN/stats
 * ("read events:", "overrun:"), so both readers are counted the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "lab-tracefs-private.h"

#define ROUNDS 5
/*
 * Lines per CPU for the drain phase. A marker entry takes about 40 bytes of
 * ring buffer (an estimate), so 25,000 fit in the expanded default of 1,408
 * KiB per CPU; the run prints the overruns of the fill when they do not.
 */
#define DRAIN_LINES_PER_CPU 25000
#define LIVE_LINES 200000
/* How often the watcher thread reads per_cpu stats, in microseconds. */
#define POLL_INTERVAL_USEC 100
/* A reader that consumes nothing for this long while lines wait has stopped. */
#define STALL_LIMIT_SECONDS 10.0
/* How long to wait for another program to release trace_pipe before skipping. */
#define BUSY_WAIT_SECONDS 30.0

typedef enum
{
  READER_CAT,
  READER_LAB,
} ReaderKind;

typedef enum
{
  PHASE_DRAIN,
  PHASE_LIVE,
} Phase;

typedef struct
{
  guint64 entries;     /* lines waiting in the ring buffer */
  guint64 overruns;    /* lines overwritten before any reader consumed them */
  guint64 read_events; /* lines consumed through trace_pipe */
} RingStats;

typedef struct
{
  ReaderKind kind;
  GPid cat_pid;
  LabTracePipe *pipe;
  /* Lines LabTracePipe emitted in "lines" batches since its open, just before counting starts. */
  guint64 lines_emitted;
} Reader;

typedef struct
{
  guint count;
  int cpu; /* -1 lets the scheduler choose */
  gint done;
} WriterJob;

typedef struct
{
  gint *writer_done;
  gint finished;
  gint stalled;
  double end_time;
} Watcher;

typedef struct
{
  double seconds;
  guint64 lines;
  guint64 overruns;
  guint64 lines_emitted;
} RunResult;

static char *tracefs;
static char *trace_pipe_path;
static int marker_fd = -1;
static char marker_tag[32];

static void
read_ring_stats (RingStats *out)
{
  g_autofree char *per_cpu_path = g_build_filename (tracefs, "per_cpu", NULL);
  g_autoptr (GDir) per_cpu = g_dir_open (per_cpu_path, 0, NULL);
  const char *name;

  memset (out, 0, sizeof *out);
  if (per_cpu == NULL)
    g_error ("Opening %s failed; the benchmark needs per-CPU ring buffer stats", per_cpu_path);

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
          const char *line = lines[i];

          if (g_str_has_prefix (line, "entries:"))
            out->entries += g_ascii_strtoull (line + strlen ("entries:"), NULL, 10);
          else if (g_str_has_prefix (line, "overrun:"))
            out->overruns += g_ascii_strtoull (line + strlen ("overrun:"), NULL, 10);
          else if (g_str_has_prefix (line, "read events:"))
            out->read_events += g_ascii_strtoull (line + strlen ("read events:"), NULL, 10);
        }
    }
}

/*
 * Until an event is first enabled, the kernel keeps each per-CPU ring buffer at
 * a few KiB, reported as "7 (expanded: 1408)", and then grows it to the
 * expanded size. trace_marker writes do not trigger that, so the benchmark
 * requests the expanded size itself. The small size cannot be restored
 * afterwards without shrinking the buffer for everyone, so it is left
 * expanded, as after any first use of an event. Returns the size in KiB.
 */
static guint64
expand_ring_buffer (void)
{
  g_autofree char *path = g_build_filename (tracefs, "buffer_size_kb", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *expanded = NULL;
  g_autoptr (GError) error = NULL;
  const char *marker;
  int fd;

  if (!g_file_get_contents (path, &contents, NULL, &error))
    g_error ("Reading %s failed: %s", path, error->message);
  marker = strstr (contents, "(expanded: ");
  if (marker == NULL)
    return g_ascii_strtoull (contents, NULL, 10);

  expanded = g_strdup_printf ("%" G_GUINT64_FORMAT,
                              g_ascii_strtoull (marker + strlen ("(expanded: "), NULL, 10));
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write (fd, expanded, strlen (expanded)) < 0)
    g_error ("Writing %s to %s failed: %s", expanded, path, g_strerror (errno));
  close (fd);
  printf ("# expanded the ring buffer from %s KiB to %s KiB per CPU, as the first enabled "
          "event would\n", g_strstrip (contents), expanded);
  return g_ascii_strtoull (expanded, NULL, 10);
}

/*
 * Reads and discards what earlier activity left in the ring buffer. Skips the
 * benchmark when another reader keeps trace_pipe open for BUSY_WAIT_SECONDS.
 */
static void
discard_pending_lines (void)
{
  double deadline = bench_now () + BUSY_WAIT_SECONDS;
  g_autofree char *buffer = g_malloc (64 * 1024);
  int fd;

  while ((fd = open (trace_pipe_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
    {
      if (errno != EBUSY)
        g_error ("Opening %s failed: %s", trace_pipe_path, g_strerror (errno));
      if (bench_now () > deadline)
        lab_test_skip_all ("%s stayed held by another reader for %.0f s; run the benchmark "
                           "when no other trace_pipe reader is open",
                           trace_pipe_path, BUSY_WAIT_SECONDS);
      g_usleep (100 * 1000);
    }
  while (read (fd, buffer, 64 * 1024) > 0)
    ;
  close (fd);
}

static gpointer
write_lines_thread (gpointer data)
{
  WriterJob *job = data;
  char line[64];

  if (job->cpu >= 0)
    {
      cpu_set_t cpus;

      CPU_ZERO (&cpus);
      CPU_SET (job->cpu, &cpus);
      if (sched_setaffinity (0, sizeof cpus, &cpus) != 0)
        g_error ("Pinning the writer to CPU %d failed: %s", job->cpu, g_strerror (errno));
    }

  for (guint i = 0; i < job->count; i++)
    {
      int length = snprintf (line, sizeof line, "%s %u\n", marker_tag, i);

      if (write (marker_fd, line, length) != length)
        g_error ("Writing to %s/trace_marker failed: %s", tracefs, g_strerror (errno));
    }
  g_atomic_int_set (&job->done, TRUE);
  return NULL;
}

/* Fills each online CPU's ring buffer with DRAIN_LINES_PER_CPU lines, one pinned writer per CPU. */
static guint64
fill_ring_buffer (void)
{
  long cpu_count = sysconf (_SC_NPROCESSORS_ONLN);
  g_autofree WriterJob *jobs = g_new0 (WriterJob, cpu_count);
  g_autofree GThread **threads = g_new0 (GThread *, cpu_count);
  RingStats before;
  RingStats after;

  read_ring_stats (&before);
  for (long cpu = 0; cpu < cpu_count; cpu++)
    {
      jobs[cpu].count = DRAIN_LINES_PER_CPU;
      jobs[cpu].cpu = (int) cpu;
      threads[cpu] = g_thread_new ("bench-fill", write_lines_thread, &jobs[cpu]);
    }
  for (long cpu = 0; cpu < cpu_count; cpu++)
    g_thread_join (threads[cpu]);
  read_ring_stats (&after);
  return after.overruns - before.overruns;
}

/* Polls the ring buffer until the writer is done and it is empty, then wakes the main context. */
static gpointer
watch_ring_thread (gpointer data)
{
  Watcher *watcher = data;
  guint64 last_read_events = 0;
  double last_progress = bench_now ();

  for (;;)
    {
      RingStats stats;
      double now;

      read_ring_stats (&stats);
      now = bench_now ();
      if (g_atomic_int_get (watcher->writer_done) && stats.entries == 0)
        {
          watcher->end_time = now;
          break;
        }
      if (stats.read_events != last_read_events || stats.entries == 0)
        {
          last_read_events = stats.read_events;
          last_progress = now;
        }
      else if (now - last_progress > STALL_LIMIT_SECONDS)
        {
          g_atomic_int_set (&watcher->stalled, TRUE);
          watcher->end_time = now;
          break;
        }
      g_usleep (POLL_INTERVAL_USEC);
    }
  g_atomic_int_set (&watcher->finished, TRUE);
  g_main_context_wakeup (NULL);
  return NULL;
}

static gboolean
process_has_file_open (GPid pid, const char *path)
{
  g_autofree char *fd_dir_path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr (GDir) fd_dir = g_dir_open (fd_dir_path, 0, NULL);
  const char *name;

  if (fd_dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (fd_dir)) != NULL)
    {
      g_autofree char *link_path = g_build_filename (fd_dir_path, name, NULL);
      g_autofree char *target = g_file_read_link (link_path, NULL);

      if (g_strcmp0 (target, path) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
start_cat (Reader *reader)
{
  const char *argv[] = { "cat", trace_pipe_path, NULL };
  g_autoptr (GError) error = NULL;

  if (!g_spawn_async (NULL, (char **) argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD
                        | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, &reader->cat_pid, &error))
    g_error ("Starting 'cat %s' failed: %s", trace_pipe_path, error->message);

  /* cat reads as soon as it has opened the file, so counting starts after the open. */
  while (!process_has_file_open (reader->cat_pid, trace_pipe_path))
    {
      int status = 0;

      if (waitpid (reader->cat_pid, &status, WNOHANG) == reader->cat_pid)
        lab_test_skip_all ("'cat %s' exited at once (status %d), most likely because another "
                           "reader holds it; run the benchmark when none is open",
                           trace_pipe_path, status);
      g_usleep (50);
    }
}

static void
on_lines (LabTracePipe *pipe, GStrv lines, gpointer user_data)
{
  Reader *reader = user_data;

  reader->lines_emitted += g_strv_length (lines);
}

static void
on_started (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static void
start_lab (Reader *reader)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  reader->pipe = lab_trace_pipe_new ();
  g_signal_connect (reader->pipe, "lines", G_CALLBACK (on_lines), reader);
  lab_trace_pipe_start_async (reader->pipe, NULL, on_started, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (!lab_trace_pipe_start_finish (reader->pipe, result, &error))
    {
      if (g_error_matches (error, LAB_ERROR, LAB_ERROR_BUSY))
        lab_test_skip_all ("%s", error->message);
      g_error ("Starting LabTracePipe failed: %s", error->message);
    }
}

static void
start_reader (Reader *reader)
{
  if (reader->kind == READER_CAT)
    start_cat (reader);
  else
    start_lab (reader);
}

static void
stop_reader (Reader *reader)
{
  if (reader->kind == READER_CAT)
    {
      kill (reader->cat_pid, SIGTERM);
      bench_wait_child (reader->cat_pid);
      reader->cat_pid = 0;
      return;
    }
  lab_trace_pipe_stop (reader->pipe);
  g_clear_object (&reader->pipe);
}

static void
run_once (ReaderKind kind, Phase phase, RunResult *result)
{
  Reader reader = { .kind = kind };
  WriterJob live_writer = { .count = LIVE_LINES, .cpu = -1 };
  gint fill_done = TRUE;
  Watcher watcher = { 0 };
  GThread *writer_thread = NULL;
  GThread *watcher_thread;
  RingStats before;
  RingStats after;
  double start_time;

  discard_pending_lines ();
  if (phase == PHASE_DRAIN)
    {
      guint64 fill_overruns = fill_ring_buffer ();

      if (fill_overruns > 0)
        printf ("# NOTE: filling the ring buffer overwrote %" G_GUINT64_FORMAT " lines; "
                "it holds fewer than %d marker lines per CPU\n",
                fill_overruns, DRAIN_LINES_PER_CPU);
      watcher.writer_done = &fill_done;
    }
  else
    {
      watcher.writer_done = &live_writer.done;
    }

  start_reader (&reader);
  read_ring_stats (&before);
  start_time = bench_now ();
  if (phase == PHASE_LIVE)
    writer_thread = g_thread_new ("bench-writer", write_lines_thread, &live_writer);
  watcher_thread = g_thread_new ("bench-watcher", watch_ring_thread, &watcher);

  while (!g_atomic_int_get (&watcher.finished))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (watcher_thread);
  if (writer_thread != NULL)
    g_thread_join (writer_thread);

  read_ring_stats (&after);
  result->seconds = watcher.end_time - start_time;
  result->lines = after.read_events - before.read_events;
  result->overruns = after.overruns - before.overruns;
  result->lines_emitted = reader.lines_emitted;
  stop_reader (&reader);

  if (g_atomic_int_get (&watcher.stalled))
    g_error ("The %s reader consumed nothing for %.0f s while lines were waiting",
             kind == READER_CAT ? "cat" : "LabTracePipe", STALL_LIMIT_SECONDS);
}

static void
print_run (guint round, const char *reader_name, Phase phase, const RunResult *result)
{
  printf ("round %u %-5s %-5s %8" G_GUINT64_FORMAT " lines in %7.4f s = %9.0f lines/s, "
          "overruns %" G_GUINT64_FORMAT,
          round, phase == PHASE_DRAIN ? "drain" : "live", reader_name, result->lines,
          result->seconds, result->lines / result->seconds, result->overruns);
  if (g_str_equal (reader_name, "lab"))
    printf (", emitted %" G_GUINT64_FORMAT, result->lines_emitted);
  printf ("\n");
  fflush (stdout);
}

static void
print_summary (Phase phase, const RunResult *cat_runs, const RunResult *lab_runs)
{
  double cat_rates[ROUNDS];
  double lab_rates[ROUNDS];
  double cat_overruns[ROUNDS];
  double lab_overruns[ROUNDS];
  double cat_median;
  double lab_median;
  const char *phase_name = phase == PHASE_DRAIN ? "drain" : "live";

  for (guint i = 0; i < ROUNDS; i++)
    {
      cat_rates[i] = cat_runs[i].lines / cat_runs[i].seconds;
      lab_rates[i] = lab_runs[i].lines / lab_runs[i].seconds;
      cat_overruns[i] = (double) cat_runs[i].overruns;
      lab_overruns[i] = (double) lab_runs[i].overruns;
    }
  cat_median = bench_median (cat_rates, ROUNDS);
  lab_median = bench_median (lab_rates, ROUNDS);
  printf ("%s: median cat %.0f lines/s, lab %.0f lines/s, ratio lab/cat %.2f; "
          "overruns median cat %.0f, lab %.0f\n",
          phase_name, cat_median, lab_median, lab_median / cat_median,
          bench_median (cat_overruns, ROUNDS), bench_median (lab_overruns, ROUNDS));
}

int
main (int argc, char **argv)
{
  RunResult results[2][2][ROUNDS]; /* [phase][reader][round] */
  g_autoptr (GError) error = NULL;
  g_autofree char *marker_path = NULL;
  gboolean mounted = FALSE;

  setvbuf (stdout, NULL, _IOLBF, 0);
  lab_test_require_root ();

  tracefs = lab_tracefs_find_or_mount (&mounted, &error);
  if (tracefs == NULL)
    lab_test_skip_all ("%s", error->message);
  trace_pipe_path = g_build_filename (tracefs, "trace_pipe", NULL);
  marker_path = g_build_filename (tracefs, "trace_marker", NULL);
  marker_fd = open (marker_path, O_WRONLY | O_CLOEXEC);
  if (marker_fd < 0)
    lab_test_skip_all ("Opening %s failed: %s", marker_path, g_strerror (errno));
  g_snprintf (marker_tag, sizeof marker_tag, "lab-bench-%d", (int) getpid ());

  bench_print_header ("bench-trace-pipe");
  printf ("# ring buffer %" G_GUINT64_FORMAT " KiB per CPU\n", expand_ring_buffer ());
  printf ("# %d rounds; drain: %d lines per CPU written first, then read; "
          "live: %d lines written while the reader runs\n",
          ROUNDS, DRAIN_LINES_PER_CPU, LIVE_LINES);

  /* The order alternates each round, so a slow start or a warm cache favours neither reader. */
  for (guint round = 0; round < ROUNDS; round++)
    {
      for (guint phase = PHASE_DRAIN; phase <= PHASE_LIVE; phase++)
        {
          for (guint step = 0; step < 2; step++)
            {
              ReaderKind kind = (round + step) % 2 == 0 ? READER_CAT : READER_LAB;
              RunResult *result = &results[phase][kind][round];

              run_once (kind, phase, result);
              print_run (round + 1, kind == READER_CAT ? "cat" : "lab", phase, result);
            }
        }
    }

  print_summary (PHASE_DRAIN, results[PHASE_DRAIN][READER_CAT], results[PHASE_DRAIN][READER_LAB]);
  print_summary (PHASE_LIVE, results[PHASE_LIVE][READER_CAT], results[PHASE_LIVE][READER_LAB]);

  close (marker_fd);
  if (mounted && umount (tracefs) != 0)
    printf ("# tracefs at %s was mounted by this benchmark but unmounting failed: %s\n", tracefs,
            g_strerror (errno));
  g_free (trace_pipe_path);
  g_free (tracefs);
  return 0;
}
