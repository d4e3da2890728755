/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drives the rate slider of the Network page like a drag, then checks that the
 * kernel has tbf with that rate, read back with libnl and with tc. Also checks
 * that an exited shell can be reopened and that SIGTERM resets the impairment.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <gtk/gtk.h>
#include <vte/vte.h>

#include "lab-application.h"
#include "lab-gui-test.h"
#include "lab-network-page-private.h"

#define TARGET_RATE_BPS G_GUINT64_CONSTANT (1000000)

typedef struct {
  LabShapeSession *session;
  LabNetns *netns;
} SessionCheck;

/* TRUE once the session stored the read-back tbf, which the page shows under the sliders. */
static gboolean
session_shows_tbf (gpointer user_data)
{
  SessionCheck *check = user_data;
  const LabQdiscState *state = NULL;

  return lab_shape_session_lookup (check->session, check->netns, "eth0", NULL, &state, NULL, NULL)
         && state != NULL && g_strcmp0 (state->kind, "tbf") == 0;
}

static gboolean
terminal_shows_prompt (gpointer user_data)
{
  return lab_window_terminal_shows_prompt (user_data);
}

static void
test_rate_slider (void)
{
  g_autoptr (LabGuiTestFixture) fixture = lab_gui_test_fixture_new ();
  g_autoptr (LabQdiscState) state = NULL;
  g_autofree char *tc_output = NULL;
  g_autofree char *tc_after_reset = NULL;
  LabWindow *window = fixture->window;
  const char *ns = fixture->pair->ns_a;
  GtkRange *rate_scale;
  SessionCheck session_check;
  double target_position;

  /* The mapping lands exactly on 1Mbit, which tbf stores as 125000 bytes per second. */
  target_position = lab_rate_scale_bps_to_position (TARGET_RATE_BPS);
  g_assert_cmpuint (lab_rate_scale_position_to_bps (target_position), ==, TARGET_RATE_BPS);
  g_assert_cmpuint (lab_rate_scale_position_to_bps (LAB_RATE_SCALE_UNLIMITED), ==, 0);

  /* A drag sends many values in a row; coalescing must still apply the last one. */
  rate_scale = lab_network_page_get_rate_scale (lab_window_get_network_page (window));
  for (double position = LAB_RATE_SCALE_UNLIMITED - 1; position > target_position; position -= 37)
    gtk_range_set_value (rate_scale, position);
  gtk_range_set_value (rate_scale, target_position);

  lab_gui_test_wait_for_tbf_rate (fixture->netns, "eth0", TARGET_RATE_BPS);

  state = lab_gui_test_read_qdisc (fixture->netns, "eth0");
  g_assert_cmpstr (state->kind, ==, "tbf");
  g_assert_cmpuint (state->impairment.rate_bps, ==, TARGET_RATE_BPS);
  g_assert_true (state->ours);
  g_assert_cmpuint (lab_shape_session_get_n_changed (fixture->session), ==, 1);

  tc_output = lab_gui_test_tc_qdisc_show (ns, "eth0");
  g_test_message ("tc: %s", tc_output);
  g_assert_nonnull (strstr (tc_output, "qdisc tbf"));
  g_assert_nonnull (strstr (tc_output, "rate 1Mbit"));

  session_check = (SessionCheck){ fixture->session, fixture->netns };
  lab_gui_test_wait_until (session_shows_tbf, &session_check);
  lab_gui_test_save_screenshot (GTK_WIDGET (window), "gui-rate-slider.png");

  /* The terminal page, with a shell inside the selected namespace, goes into a second artifact. */
  lab_window_open_terminal (window, ns);
  lab_window_show_page (window, "terminal");
  lab_gui_test_wait_until (terminal_shows_prompt, window);
  lab_gui_test_save_screenshot (GTK_WIDGET (window), "gui-terminal.png");

  lab_gui_test_reset_session (fixture->session);
  g_assert_cmpuint (lab_shape_session_get_n_changed (fixture->session), ==, 0);

  tc_after_reset = lab_gui_test_tc_qdisc_show (ns, "eth0");
  g_assert_null (strstr (tc_after_reset, "tbf"));
}

/* Without sch_netem, a latency request shows the kernel's reason and rate shaping still works. */
static void
test_netem_missing (void)
{
  g_autoptr (LabGuiTestFixture) fixture = lab_gui_test_fixture_new ();
  g_autoptr (LabQdiscState) state = NULL;
  const GError *netem_error;
  LabNetworkPage *page = lab_window_get_network_page (fixture->window);

  gtk_range_set_value (lab_network_page_get_delay_scale (page), 100);
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (TARGET_RATE_BPS));

  state = lab_gui_test_read_qdisc (fixture->netns, "eth0");
  if (g_strcmp0 (state->kind, "netem") == 0)
    {
      g_test_skip ("this kernel has sch_netem, so latency is applied");
    }
  else
    {
      lab_gui_test_wait_for_tbf_rate (fixture->netns, "eth0", TARGET_RATE_BPS);
      netem_error = lab_gui_test_wait_for_netem_error (fixture->session, fixture->netns, "eth0");
      g_assert_error ((GError *) netem_error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED);
      g_test_message ("netem error: %s", netem_error->message);

      lab_gui_test_save_screenshot (GTK_WIDGET (fixture->window), "gui-netem-missing.png");
    }

  lab_gui_test_reset_session (fixture->session);
}

/* The first VteTerminal under @widget in depth-first order, or NULL. */
static VteTerminal *
find_terminal (GtkWidget *widget)
{
  if (VTE_IS_TERMINAL (widget))
    return VTE_TERMINAL (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      VteTerminal *terminal = find_terminal (child);

      if (terminal != NULL)
        return terminal;
    }
  return NULL;
}

static gboolean
terminal_shows_text (VteTerminal *terminal, const char *needle)
{
  g_autofree char *text = vte_terminal_get_text (terminal, NULL, NULL, NULL);

  return text != NULL && strstr (text, needle) != NULL;
}

typedef struct {
  LabWindow *window;
  VteTerminal *old_terminal;
} ReopenCheck;

/* TRUE once the window shows a terminal other than the exited one, with its prompt. */
static gboolean
new_terminal_shows_prompt (gpointer user_data)
{
  ReopenCheck *check = user_data;
  VteTerminal *terminal = find_terminal (GTK_WIDGET (check->window));

  return terminal != NULL && terminal != check->old_terminal
         && lab_window_terminal_shows_prompt (check->window);
}

typedef struct {
  VteTerminal *terminal;
  const char *text;
} TextCheck;

static gboolean
text_shown (gpointer user_data)
{
  TextCheck *check = user_data;

  return terminal_shows_text (check->terminal, check->text);
}

static void
child_exited_cb (VteTerminal *terminal, int status, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* After its shell exits, opening the machine again gives a new, working shell. */
static void
test_terminal_reopen (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabMachineMonitor) monitor = lab_gui_test_load_monitor ();
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autoptr (VteTerminal) old_terminal = NULL;
  LabWindow *window;
  VteTerminal *terminal;
  gboolean exited = FALSE;
  ReopenCheck reopen_check;
  TextCheck text_check;

  window = lab_window_new (NULL, monitor, session);
  gtk_window_present (GTK_WINDOW (window));
  lab_window_show_page (window, "terminal");
  lab_window_open_terminal (window, pair->ns_a);
  lab_gui_test_wait_until (terminal_shows_prompt, window);

  old_terminal = g_object_ref (find_terminal (GTK_WIDGET (window)));
  g_assert_nonnull (old_terminal);
  g_signal_connect (old_terminal, "child-exited", G_CALLBACK (child_exited_cb), &exited);
  vte_terminal_feed_child (old_terminal, "exit\n", -1);
  lab_gui_test_wait_for_flag (&exited);
  /* VTE parses fed text on a later main-loop iteration, so the note shows up after a wait. */
  text_check = (TextCheck){ old_terminal, "shell exited" };
  lab_gui_test_wait_until (text_shown, &text_check);

  lab_window_open_terminal (window, pair->ns_a);
  reopen_check = (ReopenCheck){ window, old_terminal };
  lab_gui_test_wait_until (new_terminal_shows_prompt, &reopen_check);
  /* The exited tab is replaced, not kept beside the new one. */
  g_assert_null (gtk_widget_get_parent (GTK_WIDGET (old_terminal)));

  /* Only a live shell prints 42lab, because the typed line shows $((6*7)) unexpanded. */
  terminal = find_terminal (GTK_WIDGET (window));
  vte_terminal_feed_child (terminal, "echo $((6*7))lab\n", -1);
  text_check = (TextCheck){ terminal, "42lab" };
  lab_gui_test_wait_until (text_shown, &text_check);

  g_signal_handlers_disconnect_by_func (old_terminal, child_exited_cb, &exited);
  gtk_window_destroy (GTK_WINDOW (window));
}

typedef struct {
  LabApplication *application;
  const char *machine_name;
  LabNetns *netns;
  gboolean rate_applied;
} QuitCheck;

/* Sets the rate once the window shows eth0, then sends SIGTERM once the kernel has tbf. */
static gboolean
quit_step_cb (gpointer user_data)
{
  QuitCheck *check = user_data;
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (check->application));
  LabWindow *window = windows != NULL ? LAB_WINDOW (windows->data) : NULL;

  if (!check->rate_applied)
    {
      if (window == NULL
          || !lab_gui_test_window_shows_interface (window, check->machine_name, "eth0"))
        return G_SOURCE_CONTINUE;
      gtk_range_set_value (lab_network_page_get_rate_scale (lab_window_get_network_page (window)),
                           lab_rate_scale_bps_to_position (TARGET_RATE_BPS));
      check->rate_applied = TRUE;
      return G_SOURCE_CONTINUE;
    }

  if (!lab_gui_test_kernel_has_tbf_rate (check->netns, "eth0", TARGET_RATE_BPS))
    return G_SOURCE_CONTINUE;
  g_test_message ("tbf at 1Mbit is on eth0; sending SIGTERM");
  g_assert_cmpint (kill (getpid (), SIGTERM), ==, 0);
  return G_SOURCE_REMOVE;
}

/* SIGTERM makes the application reset the impairment it applied before it exits. */
static void
test_sigterm_resets (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabApplication) application = lab_application_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autofree char *tc_output = NULL;
  char *argv[] = { "kinvolk-lab", "--select", pair->ns_a, NULL };
  QuitCheck check;
  guint step_source;
  int status;

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  check = (QuitCheck){ application, pair->ns_a, netns, FALSE };
  step_source = g_timeout_add (20, quit_step_cb, &check);

  status = g_application_run (G_APPLICATION (application), G_N_ELEMENTS (argv) - 1, argv);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (check.rate_applied);
  /* The step source removes itself only after it sent the signal. */
  g_assert_null (g_main_context_find_source_by_id (NULL, step_source));

  state = lab_gui_test_read_qdisc (netns, "eth0");
  g_assert_false (state->ours);
  g_assert_cmpstr (state->kind, !=, "tbf");
  tc_output = lab_gui_test_tc_qdisc_show (pair->ns_a, "eth0");
  g_test_message ("tc after SIGTERM: %s", tc_output);
  g_assert_null (strstr (tc_output, "tbf"));
}

int
main (int argc, char *argv[])
{
  lab_gui_test_init (&argc, &argv);

  g_test_add_func ("/lab/gui/rate-slider", test_rate_slider);
  g_test_add_func ("/lab/gui/netem-missing", test_netem_missing);
  g_test_add_func ("/lab/gui/terminal-reopen", test_terminal_reopen);
  /* Last, so the application's startup and shutdown come after the tests that build windows. */
  g_test_add_func ("/lab/gui/sigterm-resets", test_sigterm_resets);
  return g_test_run ();
}
