/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LabTracePipe against the real top-level trace_pipe: marker lines, invalid
 * UTF-8, a busy pipe, a restart after stop, a read error and overrun counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "trace-test.h"

typedef struct
{
  const char *needle;
  gboolean found;
  char *line;
} MarkerSearch;

static void
on_lines (LabTracePipe *pipe, GStrv lines, gpointer user_data)
{
  MarkerSearch *search = user_data;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (!search->found && strstr (lines[i], search->needle) != NULL)
        {
          search->found = TRUE;
          search->line = g_strdup (lines[i]);
        }
    }
}

static void
write_trace_marker (const char *tracefs, const char *text)
{
  g_autofree char *path = g_build_filename (tracefs, "trace_marker", NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error);
  g_assert_no_error (error);
}

static void
start_pipe (LabTracePipe *pipe)
{
  g_autoptr (GError) error = NULL;
  TraceTestWait wait = { 0 };

  lab_trace_pipe_start_async (pipe, NULL, trace_test_on_ready, &wait);
  lab_test_wait_for (&wait.done);
  g_assert_true (lab_trace_pipe_start_finish (pipe, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
}

static void
test_marker_line (void)
{
  g_autoptr (LabTracePipe) pipe = lab_trace_pipe_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *needle = g_strdup_printf ("lab-marker-%d-%08x", (int) getpid (),
                                             g_random_int ());
  TraceTestWait wait = { 0 };
  MarkerSearch search = { .needle = needle };
  gulong handler;

  g_assert_null (lab_trace_pipe_get_tracefs (pipe));
  lab_trace_pipe_start_async (pipe, NULL, trace_test_on_ready, &wait);
  lab_test_wait_for (&wait.done);
  g_assert_true (lab_trace_pipe_start_finish (pipe, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_assert_nonnull (lab_trace_pipe_get_tracefs (pipe));
  g_assert_true (trace_test_tracefs_is_mounted ());

  handler = g_signal_connect (pipe, "lines", G_CALLBACK (on_lines), &search);
  write_trace_marker (lab_trace_pipe_get_tracefs (pipe), needle);
  lab_test_wait_for (&search.found);

  g_assert_nonnull (strstr (search.line, "tracing_mark_write"));
  g_assert_cmpuint (lab_trace_pipe_get_lines_read (pipe), >=, 1);
  g_signal_handler_disconnect (pipe, handler);
  lab_trace_pipe_stop (pipe);
  g_free (search.line);
}

static void
test_invalid_utf8 (void)
{
  g_autoptr (LabTracePipe) pipe = lab_trace_pipe_new ();
  g_autofree char *needle = g_strdup_printf ("lab-utf8-%d-%08x", (int) getpid (),
                                             g_random_int ());
  /* Bytes that are never valid UTF-8, then a character cut after its first byte. */
  g_autofree char *marker = g_strdup_printf ("%s \xff\xfe end \xc3", needle);
  MarkerSearch search = { .needle = needle };
  gulong handler;

  start_pipe (pipe);
  handler = g_signal_connect (pipe, "lines", G_CALLBACK (on_lines), &search);
  write_trace_marker (lab_trace_pipe_get_tracefs (pipe), marker);
  lab_test_wait_for (&search.found);

  g_test_message ("line: %s", search.line);
  g_assert_true (g_utf8_validate (search.line, -1, NULL));
  g_assert_nonnull (strstr (search.line, " \xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd"));
  g_signal_handler_disconnect (pipe, handler);
  lab_trace_pipe_stop (pipe);
  g_free (search.line);
}

static void
test_busy (void)
{
  g_autoptr (LabTracePipe) pipe = lab_trace_pipe_new ();
  g_autoptr (LabTracePipe) second = lab_trace_pipe_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *holder = g_strdup_printf ("PID %d (", (int) getpid ());
  TraceTestWait wait = { 0 };
  int fd;

  /* Start once to find or mount tracefs, then hold trace_pipe in this process. */
  lab_trace_pipe_start_async (pipe, NULL, trace_test_on_ready, &wait);
  lab_test_wait_for (&wait.done);
  g_assert_true (lab_trace_pipe_start_finish (pipe, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  path = g_build_filename (lab_trace_pipe_get_tracefs (pipe), "trace_pipe", NULL);
  lab_trace_pipe_stop (pipe);

  fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);

  wait.done = FALSE;
  lab_trace_pipe_start_async (second, NULL, trace_test_on_ready, &wait);
  lab_test_wait_for (&wait.done);
  g_assert_false (lab_trace_pipe_start_finish (second, wait.result, &error));
  g_clear_object (&wait.result);
  close (fd);

  g_assert_error (error, LAB_ERROR, LAB_ERROR_BUSY);
  g_test_message ("busy message: %s", error->message);
  g_assert_nonnull (strstr (error->message, holder));
  g_assert_nonnull (strstr (error->message, "stop it or close that program"));

  /* Once the holder closes it, the same object starts. */
  g_clear_error (&error);
  wait.done = FALSE;
  lab_trace_pipe_start_async (second, NULL, trace_test_on_ready, &wait);
  lab_test_wait_for (&wait.done);
  g_assert_true (lab_trace_pipe_start_finish (second, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  lab_trace_pipe_stop (second);
}

/* Stops while the open runs on its thread and starts again at once, so the second open waits. */
static void
test_restart_after_stop (void)
{
  g_autoptr (LabTracePipe) pipe = lab_trace_pipe_new ();
  g_autoptr (GError) error = NULL;
  TraceTestWait first = { 0 };
  TraceTestWait second = { 0 };

  lab_trace_pipe_start_async (pipe, NULL, trace_test_on_ready, &first);
  lab_trace_pipe_stop (pipe);
  lab_trace_pipe_start_async (pipe, NULL, trace_test_on_ready, &second);
  lab_test_wait_for (&first.done);
  lab_test_wait_for (&second.done);

  g_assert_false (lab_trace_pipe_start_finish (pipe, first.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_true (lab_trace_pipe_start_finish (pipe, second.result, &error));
  g_assert_no_error (error);
  g_assert_nonnull (lab_trace_pipe_get_tracefs (pipe));
  g_clear_object (&first.result);
  g_clear_object (&second.result);
  lab_trace_pipe_stop (pipe);
}

/* Returns this process's file descriptor open on trace_pipe, or -1. */
static int
find_trace_pipe_fd (void)
{
  g_autoptr (GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;

  g_assert_nonnull (fds);
  while ((name = g_dir_read_name (fds)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);

      if (target != NULL && g_str_has_suffix (target, "/trace_pipe"))
        return atoi (name);
    }
  return -1;
}

static void
on_error (LabTracePipe *pipe, GError *error, gpointer user_data)
{
  GError **out_error = user_data;

  g_assert_null (*out_error);
  *out_error = g_error_copy (error);
}

/*
 * A directory put in place of trace_pipe's fd polls readable and fails read()
 * with EISDIR, which stands in for a trace_pipe read failure.
 */
static void
test_read_error (void)
{
  g_autoptr (LabTracePipe) pipe = lab_trace_pipe_new ();
  g_autoptr (GError) read_error = NULL;
  gulong handler;
  int directory_fd;
  int pipe_fd;

  start_pipe (pipe);
  pipe_fd = find_trace_pipe_fd ();
  g_assert_cmpint (pipe_fd, >=, 0);
  handler = g_signal_connect (pipe, "error", G_CALLBACK (on_error), &read_error);

  directory_fd = open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (directory_fd, >=, 0);
  g_assert_cmpint (dup2 (directory_fd, pipe_fd), ==, pipe_fd);
  close (directory_fd);
  while (read_error == NULL)
    g_main_context_iteration (NULL, TRUE);

  g_test_message ("read error: %s", read_error->message);
  g_assert_true (read_error->domain == LAB_ERROR);
  g_assert_nonnull (strstr (read_error->message, "/trace_pipe failed: "));
  g_assert_nonnull (strstr (read_error->message, g_strerror (EISDIR)));
  /* The reader closed its fd, which held the directory after dup2. */
  g_assert_cmpint (fcntl (pipe_fd, F_GETFD), ==, -1);
  g_assert_cmpint (errno, ==, EBADF);

  /* The same object starts again on the real trace_pipe. */
  start_pipe (pipe);
  g_assert_cmpint (find_trace_pipe_fd (), >=, 0);
  g_signal_handler_disconnect (pipe, handler);
  lab_trace_pipe_stop (pipe);
  g_assert_cmpint (find_trace_pipe_fd (), ==, -1);
}

/* Sums "overrun:" over per_cpu/cpuN/stats: the kernel's count since boot or the last reset. */
static guint64
read_kernel_overruns (const char *tracefs)
{
  g_autofree char *per_cpu_path = g_build_filename (tracefs, "per_cpu", NULL);
  g_autoptr (GDir) per_cpu = g_dir_open (per_cpu_path, 0, NULL);
  const char *name;
  guint64 total = 0;

  g_assert_nonnull (per_cpu);
  while ((name = g_dir_read_name (per_cpu)) != NULL)
    {
      g_autofree char *stats_path = g_build_filename (per_cpu_path, name, "stats", NULL);
      g_autofree char *contents = NULL;
      const char *overrun;

      if (!g_file_get_contents (stats_path, &contents, NULL, NULL))
        continue;
      overrun = strstr (contents, "overrun: ");
      g_assert_nonnull (overrun);
      total += g_ascii_strtoull (overrun + strlen ("overrun: "), NULL, 10);
    }
  return total;
}

/* Returns the size of one per-CPU ring buffer in KiB, once tracing has expanded it. */
static guint64
read_buffer_size_kb (const char *tracefs)
{
  g_autofree char *path = g_build_filename (tracefs, "buffer_size_kb", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  const char *expanded;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  /* Before first use the file reads "7 (expanded: 1408)". */
  expanded = strstr (contents, "expanded: ");
  if (expanded != NULL)
    return g_ascii_strtoull (expanded + strlen ("expanded: "), NULL, 10);
  return g_ascii_strtoull (contents, NULL, 10);
}

#define FLOOD_LINE_SIZE 1000

/*
 * Writes 1,000-byte trace_marker lines from one CPU until three times that
 * CPU's ring buffer size has been written, so the kernel overwrites unread entries.
 */
static void
flood_trace_markers (const char *tracefs)
{
  g_autofree char *path = g_build_filename (tracefs, "trace_marker", NULL);
  guint64 line_count = 3 * read_buffer_size_kb (tracefs) * 1024 / FLOOD_LINE_SIZE;
  char line[FLOOD_LINE_SIZE];
  cpu_set_t saved_cpus;
  cpu_set_t one_cpu;
  int first_cpu = 0;
  int fd;

  memset (line, 'x', sizeof line - 1);
  line[sizeof line - 1] = '\n';

  g_assert_no_errno (sched_getaffinity (0, sizeof saved_cpus, &saved_cpus));
  while (!CPU_ISSET (first_cpu, &saved_cpus))
    first_cpu++;
  CPU_ZERO (&one_cpu);
  CPU_SET (first_cpu, &one_cpu);
  g_assert_no_errno (sched_setaffinity (0, sizeof one_cpu, &one_cpu));

  fd = open (path, O_WRONLY | O_CLOEXEC);
  g_assert_no_errno (fd);
  for (guint64 i = 0; i < line_count; i++)
    g_assert_cmpint (write (fd, line, sizeof line), ==, sizeof line);
  g_assert_no_errno (close (fd));

  g_assert_no_errno (sched_setaffinity (0, sizeof saved_cpus, &saved_cpus));
}

static void
start_pipe_in_context (LabTracePipe *pipe, GMainContext *context)
{
  g_autoptr (GError) error = NULL;
  TraceTestWait wait = { 0 };

  lab_trace_pipe_start_async (pipe, NULL, trace_test_on_ready, &wait);
  while (!wait.done)
    g_main_context_iteration (context, TRUE);
  g_assert_true (lab_trace_pipe_start_finish (pipe, wait.result, &error));
  g_assert_no_error (error);
  g_clear_object (&wait.result);
}

/*
 * The overrun count starts at zero on each start and leaves out overruns while
 * stopped. The reader runs under a pushed thread-default context, where its
 * refresh timer must fire too.
 */
static void
test_overruns_since_start (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (LabTracePipe) pipe = lab_trace_pipe_new ();
  g_autofree char *tracefs = NULL;
  guint64 before_flood;
  guint64 before_start;
  guint64 before_second_flood;
  guint64 overruns;

  g_main_context_push_thread_default (context);
  start_pipe_in_context (pipe, context);
  tracefs = g_strdup (lab_trace_pipe_get_tracefs (pipe));
  lab_trace_pipe_stop (pipe);

  before_flood = read_kernel_overruns (tracefs);
  flood_trace_markers (tracefs);
  before_start = read_kernel_overruns (tracefs);
  g_assert_cmpuint (before_start, >, before_flood);

  start_pipe_in_context (pipe, context);
  g_assert_cmpuint (lab_trace_pipe_get_overruns (pipe), ==, 0);

  /* The main loop does not run here, so the reader reads nothing while these are written. */
  before_second_flood = read_kernel_overruns (tracefs);
  flood_trace_markers (tracefs);
  g_assert_cmpuint (read_kernel_overruns (tracefs), >, before_second_flood);

  while (lab_trace_pipe_get_overruns (pipe) == 0)
    g_main_context_iteration (context, TRUE);
  overruns = lab_trace_pipe_get_overruns (pipe);
  g_test_message ("overruns: %" G_GUINT64_FORMAT " counted, kernel total %" G_GUINT64_FORMAT
                  " before the start",
                  overruns, before_start);
  g_assert_cmpuint (overruns, <=, read_kernel_overruns (tracefs) - before_start);

  lab_trace_pipe_stop (pipe);
  /* Lets cancelled refreshes end on the context they were started on. */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (geteuid () != 0)
    lab_test_skip_all ("needs root to mount tracefs and read trace_pipe");
  trace_test_record_tracefs ();

  g_test_add_func ("/lab/trace/marker-line", test_marker_line);
  g_test_add_func ("/lab/trace/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/lab/trace/busy", test_busy);
  g_test_add_func ("/lab/trace/restart-after-stop", test_restart_after_stop);
  g_test_add_func ("/lab/trace/read-error", test_read_error);
  g_test_add_func ("/lab/trace/overruns-since-start", test_overruns_since_start);

  status = g_test_run ();
  trace_test_restore_tracefs ();
  return status;
}
