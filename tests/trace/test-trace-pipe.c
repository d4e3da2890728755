/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LabTracePipe against the real top-level trace_pipe: marker lines and a busy pipe. */
#include <fcntl.h>
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

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (geteuid () != 0)
    lab_test_skip_all ("needs root to mount tracefs and read trace_pipe");
  trace_test_record_tracefs ();

  g_test_add_func ("/lab/trace/marker-line", test_marker_line);
  g_test_add_func ("/lab/trace/busy", test_busy);

  status = g_test_run ();
  trace_test_restore_tracefs ();
  return status;
}
