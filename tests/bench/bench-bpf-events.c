/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Event ingest of LabBpfEvents against a bare libbpf perf_buffer reader of the
 * same lab_events skeleton, on a flood of execs of a symlink to /bin/true
 * whose unique path marks this run's events. Rounds alternate the two readers.
 *
 * Also measured:
 * - main-loop latency: how late a 1 ms timeout fires while LabBpfEvents
 *   ingests the flood, against the same flood with no reader;
 * - VmRSS before LabBpfEvents starts and after each round, to show whether
 *   memory grows with the events ingested.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <glib/gstdio.h>
#include <linux/types.h>

#include "bench-util.h"
#include "lab-events.h"
#include "lab_events.skel.h"

#define ROUNDS 3
#define EXECS_PER_ROUND 3000
/* Threads that spawn the execs, so the flood does not wait on one fork at a time. */
#define SPAWNER_COUNT 2
/* The size LabBpfEvents uses, so both readers lose events at the same fill level. */
#define PERF_BUFFER_PAGES 64
/* After the last exec, how long a reader may go without a new event before the round ends. */
#define QUIET_LIMIT_SECONDS 1.0
/*
 * LabBpfEvents detaches its programs on a worker thread after stop, which took
 * about 150 ms on the development VM (2 cores, Linux 6.18). The next round
 * waits this long, so the old programs no longer fire during it.
 * NOTE: an estimate; nothing checks that the detach has finished.
 */
#define DETACH_SETTLE_USEC (500 * 1000)
#define TIMER_INTERVAL_USEC 1000

extern char **environ;

/*
 * The ingest sides run no timer, so their main-thread CPU time is the reader's
 * alone. The timed sides measure main-loop latency, with LabBpfEvents and with
 * no reader at all as the baseline.
 */
typedef enum
{
  SIDE_BARE,
  SIDE_LAB,
  SIDE_LAB_TIMED,
  SIDE_NONE_TIMED,
  N_SIDES
} Side;

static const char *const side_names[] = { "bare", "lab", "lab+timer", "none+timer" };

typedef struct
{
  guint count;
  gint *execs_done;
  gint *spawners_left;
} SpawnJob;

typedef struct
{
  Side side;
  guint64 ours;  /* exec events of this run's path */
  guint64 total; /* every event, other processes' execs included */
  guint64 lost;
  double last_event_time;

  /* main-loop lateness samples in milliseconds */
  GArray *lateness;
  gint64 timer_due_usec;
  guint timer_id;
} Round;

typedef struct
{
  double seconds;
  double cpu_seconds; /* CPU time of the main thread, which runs the reader on both sides */
  guint64 ours;
  guint64 total;
  guint64 lost;
  guint64 late; /* own events that arrived only after one more exec, counted apart from ours */
  double lateness_p99_ms;
  double lateness_max_ms;
  guint64 rss_kib;
} RoundResult;

static char *exec_path;

static gpointer
spawn_thread (gpointer data)
{
  SpawnJob *job = data;
  char *argv[] = { exec_path, NULL };

  for (guint i = 0; i < job->count; i++)
    {
      pid_t pid;
      int status;
      int err = posix_spawn (&pid, exec_path, NULL, NULL, argv, environ);

      if (err != 0)
        g_error ("Spawning %s failed: %s", exec_path, g_strerror (err));
      while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
      g_atomic_int_inc (job->execs_done);
    }
  if (g_atomic_int_dec_and_test (job->spawners_left))
    g_main_context_wakeup (NULL);
  return NULL;
}

static void
count_event (Round *round, guint32 kind, const char *filename, gsize filename_size)
{
  round->total++;
  round->last_event_time = bench_now ();
  if (kind == LAB_EVENT_EXEC && strncmp (filename, exec_path, filename_size) == 0)
    round->ours++;
}

static void
on_bare_sample (void *ctx, int cpu, void *data, __u32 size)
{
  const struct lab_event *event = data;

  if (size < sizeof *event)
    return;
  count_event (ctx, event->kind, event->exec.filename, sizeof event->exec.filename);
}

static void
on_bare_lost (void *ctx, int cpu, __u64 count)
{
  Round *round = ctx;

  round->lost += count;
}

static void
on_lab_event (LabBpfEvents *events, gpointer event_pointer, gpointer user_data)
{
  const LabBpfEvent *event = event_pointer;

  count_event (user_data, event->kind, event->detail, strlen (event->detail) + 1);
}

static void
on_lab_lost (LabBpfEvents *events, guint64 count, gpointer user_data)
{
  Round *round = user_data;

  round->lost += count;
}

static gboolean on_timer (gpointer user_data);

static void
schedule_timer (Round *round)
{
  round->timer_due_usec = g_get_monotonic_time () + TIMER_INTERVAL_USEC;
  round->timer_id = g_timeout_add (TIMER_INTERVAL_USEC / 1000, on_timer, round);
}

/* A one-shot 1 ms timeout that records how late it fired and schedules the next one. */
static gboolean
on_timer (gpointer user_data)
{
  Round *round = user_data;
  double late_ms = (g_get_monotonic_time () - round->timer_due_usec) / 1000.0;

  g_array_append_val (round->lateness, late_ms);
  schedule_timer (round);
  return G_SOURCE_REMOVE;
}

static gboolean
round_is_complete (Round *round, gint *spawners_left)
{
  if (g_atomic_int_get (spawners_left) > 0)
    return FALSE;
  if (round->side == SIDE_NONE_TIMED || round->ours >= EXECS_PER_ROUND)
    return TRUE;
  return bench_now () - round->last_event_time > QUIET_LIMIT_SECONDS;
}

static void
start_spawners (SpawnJob *jobs, GThread **threads, gint *execs_done, gint *spawners_left)
{
  *spawners_left = SPAWNER_COUNT;
  for (guint i = 0; i < SPAWNER_COUNT; i++)
    {
      jobs[i].count = EXECS_PER_ROUND / SPAWNER_COUNT;
      jobs[i].execs_done = execs_done;
      jobs[i].spawners_left = spawners_left;
      threads[i] = g_thread_new ("bench-spawn", spawn_thread, &jobs[i]);
    }
}

static void
join_spawners (GThread **threads)
{
  for (guint i = 0; i < SPAWNER_COUNT; i++)
    g_thread_join (threads[i]);
}
static double
thread_cpu_seconds (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return (double) now.tv_sec + (double) now.tv_nsec / 1e9;
}

static void
run_bare (Round *round, RoundResult *result)
{
  SpawnJob jobs[SPAWNER_COUNT];
  GThread *threads[SPAWNER_COUNT];
  gint execs_done = 0;
  gint spawners_left = SPAWNER_COUNT;
  struct lab_events *skeleton = lab_events__open_and_load ();
  struct perf_buffer *buffer;
  double start_time;
  double start_cpu;
  int err;

  if (skeleton == NULL)
    g_error ("Loading the lab_events skeleton failed: %s", g_strerror (errno));
  err = lab_events__attach (skeleton);
  if (err < 0)
    g_error ("Attaching the lab_events programs failed: %s", g_strerror (-err));
  buffer = perf_buffer__new (bpf_map__fd (skeleton->maps.events), PERF_BUFFER_PAGES,
                             on_bare_sample, on_bare_lost, round, NULL);
  if (buffer == NULL)
    g_error ("Creating the perf buffer failed: %s", g_strerror (errno));

  start_time = bench_now ();
  start_cpu = thread_cpu_seconds ();
  round->last_event_time = start_time;
  start_spawners (jobs, threads, &execs_done, &spawners_left);
  while (!round_is_complete (round, &spawners_left))
    {
      err = perf_buffer__poll (buffer, 100);
      if (err < 0 && err != -EINTR)
        g_error ("Polling the perf buffer failed: %s", g_strerror (-err));
    }
  result->seconds = round->last_event_time - start_time;
  result->cpu_seconds = thread_cpu_seconds () - start_cpu;
  join_spawners (threads);

  perf_buffer__free (buffer);
  lab_events__destroy (skeleton);
}

static void
on_started (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static LabBpfEvents *
start_lab_events (Round *round)
{
  g_autoptr (LabBpfEvents) events = lab_bpf_events_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  g_signal_connect (events, "event", G_CALLBACK (on_lab_event), round);
  g_signal_connect (events, "lost", G_CALLBACK (on_lab_lost), round);
  lab_bpf_events_start_async (events, NULL, on_started, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (!lab_bpf_events_start_finish (events, result, &error))
    {
      if (g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED)
          || g_error_matches (error, LAB_ERROR, LAB_ERROR_PERMISSION))
        lab_test_skip_all ("%s", error->message);
      g_error ("Starting LabBpfEvents failed: %s", error->message);
    }
  return g_steal_pointer (&events);
}

/*
 * Runs one more exec, of /bin/true and not the counted path, then reads for
 * QUIET_LIMIT_SECONDS. Events of the round that arrive only now sat in a perf
 * buffer without waking the reader. Returns their count and leaves the
 * round's own count as it was.
 */
static guint64
collect_late_events (Round *round)
{
  const char *argv[] = { "/bin/true", NULL };
  guint64 counted = round->ours;
  guint64 late;
  double until;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, NULL,
                     NULL))
    g_error ("Spawning /bin/true failed");
  until = bench_now () + QUIET_LIMIT_SECONDS;
  while (bench_now () < until)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  late = round->ours - counted;
  round->ours = counted;
  return late;
}

/* The Lab side and the no-reader baseline, which run the main loop. */
static void
run_main_loop (Round *round, RoundResult *result)
{
  SpawnJob jobs[SPAWNER_COUNT];
  GThread *threads[SPAWNER_COUNT];
  gint execs_done = 0;
  gint spawners_left = SPAWNER_COUNT;
  g_autoptr (LabBpfEvents) events = NULL;
  gboolean timed = round->side == SIDE_LAB_TIMED || round->side == SIDE_NONE_TIMED;
  double start_time;
  double start_cpu;
  double end_time;

  if (round->side != SIDE_NONE_TIMED)
    events = start_lab_events (round);

  start_time = bench_now ();
  start_cpu = thread_cpu_seconds ();
  round->last_event_time = start_time;
  if (timed)
    schedule_timer (round);
  start_spawners (jobs, threads, &execs_done, &spawners_left);
  while (!round_is_complete (round, &spawners_left))
    g_main_context_iteration (NULL, TRUE);
  end_time = events != NULL ? round->last_event_time : bench_now ();
  result->seconds = end_time - start_time;
  result->cpu_seconds = thread_cpu_seconds () - start_cpu;
  g_clear_handle_id (&round->timer_id, g_source_remove);
  join_spawners (threads);

  result->rss_kib = bench_read_rss_kib ();
  if (events != NULL && round->ours + round->lost < EXECS_PER_ROUND)
    result->late = collect_late_events (round);
  if (events != NULL)
    lab_bpf_events_stop (events);
}

static void
run_round (Side side, RoundResult *result)
{
  Round round = { .side = side };
  GArray *lateness = g_array_new (FALSE, FALSE, sizeof (double));

  memset (result, 0, sizeof *result);
  round.lateness = lateness;
  if (side == SIDE_BARE)
    run_bare (&round, result);
  else
    run_main_loop (&round, result);

  result->ours = round.ours;
  result->total = round.total;
  result->lost = round.lost;
  result->lateness_p99_ms = bench_percentile ((double *) lateness->data, lateness->len, 99);
  result->lateness_max_ms = bench_max ((double *) lateness->data, lateness->len);
  g_array_unref (lateness);

  /* The main loop runs meanwhile, so the worker's detach of LabBpfEvents can finish. */
  for (double until = bench_now () + DETACH_SETTLE_USEC / 1e6; bench_now () < until;)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
}

static void
print_round (guint round, Side side, const RoundResult *result)
{
  printf ("round %u %-10s", round, side_names[side]);
  if (side != SIDE_NONE_TIMED)
    printf (" received %4" G_GUINT64_FORMAT "/%d (all events %" G_GUINT64_FORMAT "), lost %"
            G_GUINT64_FORMAT ", %5.0f events/s",
            result->ours, EXECS_PER_ROUND, result->total, result->lost,
            result->ours / result->seconds);
  if (side == SIDE_BARE || side == SIDE_LAB)
    printf (", main thread CPU %.1f us/event", result->cpu_seconds * 1e6 / result->total);
  if (side == SIDE_LAB_TIMED || side == SIDE_NONE_TIMED)
    printf (", 1 ms timer late p99 %.3f ms max %.3f ms", result->lateness_p99_ms,
            result->lateness_max_ms);
  if (side == SIDE_LAB || side == SIDE_LAB_TIMED)
    printf (", VmRSS %" G_GUINT64_FORMAT " KiB", result->rss_kib);
  printf ("\n");
  if (side != SIDE_NONE_TIMED && result->ours + result->lost < EXECS_PER_ROUND)
    printf ("# NOTE: %" G_GUINT64_FORMAT " exec events neither arrived within %.0f s of the last "
            "exec nor were reported lost; %" G_GUINT64_FORMAT " of them arrived after one "
            "more exec\n",
            EXECS_PER_ROUND - result->ours - result->lost, QUIET_LIMIT_SECONDS, result->late);
}

typedef struct
{
  double rate[ROUNDS];
  double cpu_per_event_usec[ROUNDS];
  double lateness_p99_ms[ROUNDS];
  double lateness_max_ms[ROUNDS];
  guint64 lost;
  guint64 received;
} SideSummary;

static void
summarize (RoundResult results[N_SIDES][ROUNDS], SideSummary *summaries)
{
  for (Side side = 0; side < N_SIDES; side++)
    {
      SideSummary *summary = &summaries[side];

      memset (summary, 0, sizeof *summary);
      for (guint round = 0; round < ROUNDS; round++)
        {
          const RoundResult *result = &results[side][round];

          summary->rate[round] = result->ours / result->seconds;
          summary->cpu_per_event_usec[round] =
            result->total > 0 ? result->cpu_seconds * 1e6 / result->total : 0;
          summary->lateness_p99_ms[round] = result->lateness_p99_ms;
          summary->lateness_max_ms[round] = result->lateness_max_ms;
          summary->lost += result->lost;
          summary->received += result->total;
        }
    }
}

int
main (int argc, char **argv)
{
  static const Side orders[2][N_SIDES] = {
    { SIDE_BARE, SIDE_LAB, SIDE_LAB_TIMED, SIDE_NONE_TIMED },
    { SIDE_NONE_TIMED, SIDE_LAB_TIMED, SIDE_LAB, SIDE_BARE },
  };
  RoundResult results[N_SIDES][ROUNDS];
  SideSummary summaries[N_SIDES];
  SideSummary *bare = &summaries[SIDE_BARE];
  SideSummary *lab = &summaries[SIDE_LAB];
  SideSummary *lab_timed = &summaries[SIDE_LAB_TIMED];
  SideSummary *none_timed = &summaries[SIDE_NONE_TIMED];
  g_autoptr (GError) error = NULL;
  g_autofree char *directory = NULL;
  guint64 rss_before;
  guint64 rss_first = 0;
  guint64 rss_last = 0;
  double bare_rate;
  double lab_rate;
  double bare_cpu;
  double lab_cpu;

  setvbuf (stdout, NULL, _IOLBF, 0);
  lab_test_require_root ();
  if (!g_file_test ("/sys/kernel/btf/vmlinux", G_FILE_TEST_EXISTS))
    lab_test_skip_all ("the kernel exposes no BTF at /sys/kernel/btf/vmlinux");

  directory = g_dir_make_tmp ("lab-bench-exec-XXXXXX", &error);
  g_assert_no_error (error);
  exec_path = g_build_filename (directory, "true", NULL);
  if (symlink ("/bin/true", exec_path) != 0)
    g_error ("Creating the symlink %s failed: %s", exec_path, g_strerror (errno));

  bench_print_header ("bench-bpf-events");
  printf ("# %d rounds of %d execs of %s from %d threads per side; perf buffer %d pages "
          "per CPU\n",
          ROUNDS, EXECS_PER_ROUND, exec_path, SPAWNER_COUNT, PERF_BUFFER_PAGES);

  rss_before = bench_read_rss_kib ();
  printf ("VmRSS before LabBpfEvents starts: %" G_GUINT64_FORMAT " KiB\n", rss_before);

  /* The order reverses each round, so a warm cache or a slow start favours no side. */
  for (guint round = 0; round < ROUNDS; round++)
    {
      for (guint step = 0; step < N_SIDES; step++)
        {
          Side side = orders[round % 2][step];

          run_round (side, &results[side][round]);
          print_round (round + 1, side, &results[side][round]);
          if (side == SIDE_LAB || side == SIDE_LAB_TIMED)
            {
              rss_last = results[side][round].rss_kib;
              if (rss_first == 0)
                rss_first = rss_last;
            }
        }
    }

  summarize (results, summaries);
  bare_rate = bench_median (bare->rate, ROUNDS);
  lab_rate = bench_median (lab->rate, ROUNDS);
  bare_cpu = bench_median (bare->cpu_per_event_usec, ROUNDS);
  lab_cpu = bench_median (lab->cpu_per_event_usec, ROUNDS);
  printf ("ingest: median bare %.0f events/s, lab %.0f events/s, ratio lab/bare %.2f; "
          "lost in all rounds bare %" G_GUINT64_FORMAT ", lab %" G_GUINT64_FORMAT "\n",
          bare_rate, lab_rate, lab_rate / bare_rate, bare->lost, lab->lost);
  printf ("reader CPU: median bare %.1f us/event, lab %.1f us/event, ratio lab/bare %.2f\n",
          bare_cpu, lab_cpu, lab_cpu / bare_cpu);
  printf ("main loop: 1 ms timer lateness, median over rounds: p99 %.3f ms with LabBpfEvents, "
          "%.3f ms with no reader; max %.3f ms and %.3f ms\n",
          bench_median (lab_timed->lateness_p99_ms, ROUNDS),
          bench_median (none_timed->lateness_p99_ms, ROUNDS),
          bench_median (lab_timed->lateness_max_ms, ROUNDS),
          bench_median (none_timed->lateness_max_ms, ROUNDS));
  printf ("VmRSS: %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT " KiB after the first "
          "LabBpfEvents round, %" G_GUINT64_FORMAT " KiB after the last, with %" G_GUINT64_FORMAT
          " events ingested in all\n",
          rss_before, rss_first, rss_last, lab->received + lab_timed->received);

  unlink (exec_path);
  g_rmdir (directory);
  g_free (exec_path);
  return 0;
}
