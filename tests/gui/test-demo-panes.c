/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs kinvolk-lab --demo in-process and checks each page as a user sees it.
 * The machine list shows both nodes, the Trace page a trace_marker line, the
 * Events page an exec event named by the node, and the Terminal page the node's
 * prompt. Closing the window must then remove both demo namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gtk/gtk.h>
#include <vte/vte.h>

#include "lab-application.h"
#include "lab-events-page.h"
#include "lab-gui-test.h"
#include "lab-network-page-private.h"
#include "lab-terminal-page.h"
#include "lab-trace-page.h"

/* The Events page's columns: Time, Event, PID, Command, Namespace, Detail. */
#define EVENT_COLUMNS 6
#define EVENT_COLUMN_KIND 1
#define EVENT_COLUMN_COMM 3
#define EVENT_COLUMN_NAMESPACE 4
#define EVENT_COLUMN_DETAIL 5

/* The exec is repeated at this period until its row shows the node's name. */
#define EXEC_PERIOD_USEC (500 * G_TIME_SPAN_MILLISECOND)

typedef struct {
  char *prefix;
  char *node_a;
  char *node_b;
  LabWindow *window;
  gboolean closed;

  /* Trace page check. */
  LabTracePage *trace_page;
  GtkTextView *trace_view;
  char *marker;
  gboolean marker_written;

  /* Events page check. */
  LabEventsPage *events_page;
  GtkWidget *events_view;
  gint64 last_exec_usec;
  guint n_execs;
} DemoCheck;

static gboolean
netns_file_exists (const char *name)
{
  g_autofree char *path = g_build_filename ("/run/netns", name, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/*
 * TRUE once both nodes have rows in the machine list and the first one is selected. Fails at
 * once when the window's banner shows an error, such as a demo that did not start.
 */
static gboolean
window_lists_both_nodes (gpointer user_data)
{
  DemoCheck *check = user_data;
  g_autofree char *detail_a = lab_window_dup_machine_row_detail (check->window, check->node_a);
  g_autofree char *detail_b = lab_window_dup_machine_row_detail (check->window, check->node_b);
  GtkWidget *banner = lab_gui_test_find_widget (GTK_WIDGET (check->window), GTK_TYPE_LABEL,
                                                "window-error");

  g_assert_nonnull (banner);
  if (gtk_widget_get_visible (banner))
    g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (banner)), ==, NULL);
  return detail_a != NULL && detail_b != NULL
         && lab_gui_test_window_shows_interface (check->window, check->node_a, "eth0");
}

/* Returns the tracefs mount point that /proc/self/mounts lists, or NULL while none is mounted. */
static char *
find_tracefs (void)
{
  g_autofree char *mounts = NULL;
  g_auto (GStrv) lines = NULL;
  char *found = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/mounts", &mounts, NULL, NULL));
  lines = g_strsplit (mounts, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], " ", 4);

      if (g_strv_length (fields) < 3 || g_strcmp0 (fields[2], "tracefs") != 0)
        continue;
      /* The same preference as the trace page, so the marker goes where it reads. */
      if (g_strcmp0 (fields[1], "/sys/kernel/tracing") == 0)
        {
          g_free (found);
          return g_strdup (fields[1]);
        }
      if (found == NULL)
        found = g_strdup (fields[1]);
    }
  return found;
}

static void
write_trace_marker (const char *tracefs, const char *marker)
{
  g_autofree char *path = g_build_filename (tracefs, "trace_marker", NULL);
  gsize length = strlen (marker);
  int fd = open (path, O_WRONLY | O_CLOEXEC);

  if (fd < 0)
    g_error ("Opening %s failed: %s", path, g_strerror (errno));
  g_assert_cmpint (write (fd, marker, length), ==, (gssize) length);
  g_assert_cmpint (close (fd), ==, 0);
}

/* TRUE when a line of @view ends with the trace_marker event of @marker. */
static gboolean
text_view_has_marker_line (GtkTextView *view, const char *marker)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);
  g_autofree char *suffix = g_strdup_printf ("tracing_mark_write: %s", marker);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_suffix (lines[i], suffix))
      return TRUE;
  return FALSE;
}

/*
 * Writes the marker once tracefs is mounted, which the trace page does when it starts, then
 * returns TRUE once the page shows the marker's line. trace_pipe also returns lines written
 * before it was opened, so one write is enough.
 */
static gboolean
trace_page_shows_marker (gpointer user_data)
{
  DemoCheck *check = user_data;

  g_assert_cmpstr (lab_trace_page_get_error (check->trace_page), ==, NULL);
  if (!check->marker_written)
    {
      g_autofree char *tracefs = find_tracefs ();

      if (tracefs == NULL)
        return FALSE;
      write_trace_marker (tracefs, check->marker);
      check->marker_written = TRUE;
    }
  return text_view_has_marker_line (check->trace_view, check->marker);
}

/* Reads the label texts of @row's cells into @cells when @row is a row of event cells. */
static gboolean
read_event_row (GtkWidget *row, const char *cells[EVENT_COLUMNS])
{
  guint n = 0;

  for (GtkWidget *cell = gtk_widget_get_first_child (row); cell != NULL;
       cell = gtk_widget_get_next_sibling (cell))
    {
      GtkWidget *label = gtk_widget_get_first_child (cell);

      if (n == EVENT_COLUMNS || label == NULL || !GTK_IS_LABEL (label))
        return FALSE;
      cells[n++] = gtk_label_get_text (GTK_LABEL (label));
    }
  return n == EVENT_COLUMNS;
}

/* TRUE when @widget or a descendant is a shown row for the exec of /bin/true in @netns_name. */
static gboolean
view_shows_exec_row (GtkWidget *widget, const char *netns_name)
{
  const char *cells[EVENT_COLUMNS];

  if (read_event_row (widget, cells) && g_strcmp0 (cells[EVENT_COLUMN_KIND], "exec") == 0
      && g_strcmp0 (cells[EVENT_COLUMN_NAMESPACE], netns_name) == 0
      && g_strcmp0 (cells[EVENT_COLUMN_COMM], "true") == 0
      && g_strcmp0 (cells[EVENT_COLUMN_DETAIL], "/bin/true") == 0)
    return TRUE;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (view_shows_exec_row (child, netns_name))
      return TRUE;
  return FALSE;
}

/*
 * Runs /bin/true in the node every EXEC_PERIOD_USEC until the page shows its row. An exec
 * before the programs are attached is not seen, and one before the page learned the node's
 * namespace inode shows "net:[INODE]", so a single exec could be missed.
 */
static gboolean
events_page_shows_exec (gpointer user_data)
{
  DemoCheck *check = user_data;
  gint64 now = g_get_monotonic_time ();

  g_assert_cmpstr (lab_events_page_get_error (check->events_page), ==, NULL);
  if (view_shows_exec_row (check->events_view, check->node_a))
    return TRUE;
  if (now - check->last_exec_usec >= EXEC_PERIOD_USEC)
    {
      g_free (lab_test_run ((const char *[]){ "ip", "netns", "exec", check->node_a, "/bin/true",
                                              NULL }));
      check->last_exec_usec = now;
      check->n_execs++;
    }
  return FALSE;
}

static gboolean
terminal_shows_node_prompt (gpointer user_data)
{
  DemoCheck *check = user_data;
  g_autofree char *prompt = g_strdup_printf ("[%s]", check->node_a);
  g_autofree char *text = NULL;
  GtkWidget *page;
  GtkNotebook *notebook;
  GtkWidget *terminal;
  int current;

  if (!lab_window_terminal_shows_prompt (check->window))
    return FALSE;

  /* The shown tab must be the node's shell, with the node's name in its prompt. */
  page = lab_gui_test_find_widget (GTK_WIDGET (check->window), LAB_TYPE_TERMINAL_PAGE, NULL);
  notebook = GTK_NOTEBOOK (lab_gui_test_find_widget (page, GTK_TYPE_NOTEBOOK, NULL));
  current = gtk_notebook_get_current_page (notebook);
  g_assert_cmpint (current, >=, 0);
  terminal = gtk_notebook_get_nth_page (notebook, current);
  g_assert_true (VTE_IS_TERMINAL (terminal));
  text = vte_terminal_get_text (VTE_TERMINAL (terminal), NULL, NULL, NULL);
  return text != NULL && strstr (text, prompt) != NULL;
}

typedef guint64 (*CountGetter) (DemoCheck *check);

typedef struct {
  DemoCheck *demo;
  GtkLabel *label;
  const char *count_name;
  CountGetter get_count;
} CounterCheck;

static guint64
get_trace_lines_read (DemoCheck *check)
{
  return lab_trace_page_get_lines_read (check->trace_page);
}

static guint64
get_events_received (DemoCheck *check)
{
  return lab_events_page_get_received (check->events_page);
}

/*
 * TRUE once the counters label shows the page's current count. The counters refresh once a
 * second while rows arrive every 100 ms, so a screenshot taken at once could show a stale count.
 */
static gboolean
counter_label_is_current (gpointer user_data)
{
  CounterCheck *check = user_data;
  g_autofree char *expected = g_strdup_printf ("%s %" G_GUINT64_FORMAT " ", check->count_name,
                                               check->get_count (check->demo));

  return strstr (gtk_label_get_text (check->label), expected) != NULL;
}

static void
wait_for_counter_label (DemoCheck *demo, GtkWidget *page, const char *label_name,
                        const char *count_name, CountGetter get_count)
{
  CounterCheck check = { demo, NULL, count_name, get_count };

  check.label = GTK_LABEL (lab_gui_test_find_widget (page, GTK_TYPE_LABEL, label_name));
  g_assert_nonnull (check.label);
  lab_gui_test_wait_until (counter_label_is_current, &check);
}

static void
check_network_page (DemoCheck *check)
{
  LabNetworkPage *page = lab_window_get_network_page (check->window);
  g_autofree char *detail = NULL;

  lab_window_show_page (check->window, "network");
  lab_gui_test_wait_until (window_lists_both_nodes, check);
  g_assert_true (netns_file_exists (check->node_a));
  g_assert_true (netns_file_exists (check->node_b));
  g_assert_cmpstr (lab_machine_get_name (lab_window_get_selected_machine (check->window)), ==,
                   check->node_a);
  detail = lab_network_page_dup_row_detail (page, "eth0");
  g_test_message ("%s eth0: %s", check->node_a, detail);
  g_assert_nonnull (detail);
  lab_gui_test_save_screenshot (GTK_WIDGET (check->window), "gui-demo-network.png");
}

static void
check_trace_page (DemoCheck *check)
{
  GtkWidget *window = GTK_WIDGET (check->window);
  GtkWidget *page = lab_gui_test_find_widget (window, LAB_TYPE_TRACE_PAGE, NULL);
  GtkWidget *view;

  g_assert_nonnull (page);
  view = lab_gui_test_find_widget (page, GTK_TYPE_TEXT_VIEW, "trace-view");
  g_assert_nonnull (view);
  check->trace_page = LAB_TRACE_PAGE (page);
  check->trace_view = GTK_TEXT_VIEW (view);

  lab_window_show_page (check->window, "trace");
  lab_gui_test_wait_until (trace_page_shows_marker, check);
  g_assert_cmpuint (lab_trace_page_get_lines_read (check->trace_page), >=, 1);
  wait_for_counter_label (check, GTK_WIDGET (check->trace_page), "trace-counters", "lines read",
                          get_trace_lines_read);
  lab_gui_test_save_screenshot (window, "gui-demo-trace.png");
}

static void
check_events_page (DemoCheck *check)
{
  GtkWidget *window = GTK_WIDGET (check->window);
  GtkWidget *page = lab_gui_test_find_widget (window, LAB_TYPE_EVENTS_PAGE, NULL);

  g_assert_nonnull (page);
  check->events_page = LAB_EVENTS_PAGE (page);
  check->events_view = lab_gui_test_find_widget (page, GTK_TYPE_COLUMN_VIEW, "events-view");
  g_assert_nonnull (check->events_view);

  /* The column view builds widgets only for rows on screen, so the page must be shown. */
  lab_window_show_page (check->window, "events");
  lab_gui_test_wait_until (events_page_shows_exec, check);
  g_test_message ("the exec row appeared after %u runs of /bin/true", check->n_execs);
  g_assert_cmpuint (lab_events_page_get_received (check->events_page), >=, 1);
  wait_for_counter_label (check, GTK_WIDGET (check->events_page), "events-counters",
                          "Events received", get_events_received);
  lab_gui_test_save_screenshot (window, "gui-demo-events.png");
}

static void
check_terminal_page (DemoCheck *check)
{
  lab_window_show_page (check->window, "terminal");
  lab_gui_test_wait_until (terminal_shows_node_prompt, check);
  lab_gui_test_save_screenshot (GTK_WIDGET (check->window), "gui-demo-terminal.png");
}

/* Runs the checks inside the application's main loop, then closes the window like a user. */
static gboolean
check_demo_cb (gpointer user_data)
{
  DemoCheck *check = user_data;

  check_network_page (check);
  check_trace_page (check);
  check_events_page (check);
  check_terminal_page (check);

  check->closed = TRUE;
  gtk_window_close (GTK_WINDOW (check->window));
  return G_SOURCE_REMOVE;
}

static void
activate_cb (GApplication *application, DemoCheck *check)
{
  /* A second activate only presents the window; the checks run once. */
  if (check->window != NULL)
    return;
  check->window = LAB_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (application)));
  g_assert_nonnull (check->window);
  g_idle_add (check_demo_cb, check);
}

static void
test_demo_panes (void)
{
  g_autoptr (LabApplication) application = lab_application_new ();
  g_autofree char *netns_list = NULL;
  DemoCheck check = { 0 };
  int status;

  check.prefix = lab_test_unique_name ("p");
  check.node_a = g_strdup_printf ("%s-a", check.prefix);
  check.node_b = g_strdup_printf ("%s-b", check.prefix);
  check.marker = g_strdup_printf ("lab demo-panes %d %08x", (int) getpid (), g_random_int ());

  {
    char *argv[] = { "kinvolk-lab", "--demo", "--demo-prefix", check.prefix, NULL };

    /* Connected after the class handler, which builds the window and starts the demo. */
    g_signal_connect_after (application, "activate", G_CALLBACK (activate_cb), &check);
    status = g_application_run (G_APPLICATION (application), G_N_ELEMENTS (argv) - 1, argv);
  }

  g_assert_cmpint (status, ==, 0);
  g_assert_true (check.closed);
  g_assert_false (netns_file_exists (check.node_a));
  g_assert_false (netns_file_exists (check.node_b));
  netns_list = lab_test_run ((const char *[]){ "ip", "netns", "list", NULL });
  g_assert_null (strstr (netns_list, check.prefix));

  g_free (check.prefix);
  g_free (check.node_a);
  g_free (check.node_b);
  g_free (check.marker);
}

int
main (int argc, char *argv[])
{
  lab_gui_test_init (&argc, &argv);

  g_test_add_func ("/lab/gui/demo-panes", test_demo_panes);
  return g_test_run ();
}
