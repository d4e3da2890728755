/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checks that the Network page follows root qdisc changes made outside Lab
 * without applying anything itself, picks an interface that is up first,
 * names the machine in the window title and hints once that netem is missing.
 */
#include <string.h>

#include <gtk/gtk.h>

#include "lab-gui-test.h"
#include "lab-network-page-private.h"

#define EXTERNAL_RATE_BPS G_GUINT64_CONSTANT (100000)
#define EXTERNAL_HANDLE 0x01ab0000u
#define LAB_RATE_BPS G_GUINT64_CONSTANT (1000000)

static guint64
page_rate_bps (LabNetworkPage *page)
{
  GtkRange *rate_scale = lab_network_page_get_rate_scale (page);

  return lab_rate_scale_position_to_bps (gtk_range_get_value (rate_scale));
}

/* TRUE once the read-back line and the rate slider both show the rate set outside Lab. */
static gboolean
page_shows_external_rate (gpointer user_data)
{
  LabNetworkPage *page = user_data;

  return strstr (lab_network_page_get_state_text (page), "rate 100Kbit") != NULL
         && page_rate_bps (page) == EXTERNAL_RATE_BPS;
}

static gboolean
row_shows_tbf (gpointer user_data)
{
  g_autofree char *detail = lab_network_page_dup_row_detail (user_data, "eth0");

  return detail != NULL && strstr (detail, "qdisc tbf") != NULL;
}

static gboolean
page_is_polling (gpointer user_data)
{
  return lab_network_page_is_polling (user_data);
}

static gboolean
page_is_not_polling (gpointer user_data)
{
  return !lab_network_page_is_polling (user_data);
}

static void
replace_with_external_tbf (const char *ns)
{
  g_free (lab_test_run ((const char *[]){ "tc", "-n", ns, "qdisc", "replace", "dev", "eth0",
                                          "root", "handle", "1ab:", "tbf", "rate", "100kbit",
                                          "burst", "3000", "latency", "50ms", NULL }));
}

/* A tbf set with tc shows in the page within a poll, and the page sends nothing for it. */
static void
test_external_change (void)
{
  g_autoptr (LabGuiTestFixture) fixture = lab_gui_test_fixture_new ();
  g_autoptr (LabQdiscState) state = NULL;
  g_autofree char *tc_output = NULL;
  g_autofree char *title = NULL;
  LabShapeSession *session = fixture->session;
  LabNetns *netns = fixture->netns;
  LabWindow *window = fixture->window;
  LabNetworkPage *page = lab_window_get_network_page (window);
  const char *ns = fixture->pair->ns_a;
  LabImpairment desired;

  title = g_strdup_printf ("Lab — %s", ns);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, title);
  lab_gui_test_wait_until (page_is_polling, page);

  replace_with_external_tbf (ns);
  lab_gui_test_wait_until (page_shows_external_rate, page);
  lab_gui_test_wait_until (row_shows_tbf, page);
  g_test_message ("read-back: %s", lab_network_page_get_state_text (page));

  /* Moving the slider to the kernel's value sent no request and left the qdisc as tc set it. */
  g_assert_true (lab_shape_session_lookup (session, netns, "eth0", &desired, NULL, NULL, NULL));
  g_assert_cmpuint (desired.rate_bps, ==, 0);
  g_assert_cmpuint (lab_shape_session_get_n_changed (session), ==, 0);
  state = lab_gui_test_read_qdisc (netns, "eth0");
  g_assert_cmpstr (state->kind, ==, "tbf");
  g_assert_cmphex (state->handle, ==, EXTERNAL_HANDLE);
  /* tc used Lab's handle, as labctl does, but the journal holds no original from an apply. */
  g_assert_false (state->has_original);
  g_assert_cmpuint (state->impairment.rate_bps, ==, EXTERNAL_RATE_BPS);
  tc_output = lab_gui_test_tc_qdisc_show (ns, "eth0");
  g_test_message ("tc: %s", tc_output);
  g_assert_nonnull (strstr (tc_output, "qdisc tbf 1ab: root"));
  g_assert_nonnull (strstr (tc_output, "rate 100Kbit"));
  g_assert_nonnull (strstr (tc_output, "burst 3000b"));
  g_assert_nonnull (strstr (tc_output, "lat 50ms"));

  lab_gui_test_save_screenshot (GTK_WIDGET (window), "gui-network-page-external.png");

  /* A hidden page stops reading, and reads again once shown. */
  lab_window_show_page (window, "trace");
  lab_gui_test_wait_until (page_is_not_polling, page);
  lab_window_show_page (window, "network");
  lab_gui_test_wait_until (page_is_polling, page);

  /* The user's slider still applies, also back to a value the session sent before. */
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (LAB_RATE_BPS));
  lab_gui_test_wait_for_tbf_rate (netns, "eth0", LAB_RATE_BPS);
  replace_with_external_tbf (ns);
  lab_gui_test_wait_until (page_shows_external_rate, page);
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (LAB_RATE_BPS));
  lab_gui_test_wait_for_tbf_rate (netns, "eth0", LAB_RATE_BPS);

  lab_gui_test_reset_session (session);
}

static void
count_changed_cb (LabShapeSession *session, LabNetns *netns, const char *ifname,
                  gpointer user_data)
{
  (*(guint *) user_data)++;
}

typedef struct {
  guint *count;
  guint expected;
} CountCheck;

static gboolean
count_reached (gpointer user_data)
{
  CountCheck *check = user_data;

  return *check->count >= check->expected;
}

/* Refreshes eth0 and waits for its "changed" emission; an apply started before would come first. */
static void
refresh_and_wait (LabShapeSession *session, LabNetns *netns, guint *n_changed)
{
  CountCheck check = { n_changed, *n_changed + 1 };

  lab_shape_session_refresh (session, netns, "eth0");
  lab_gui_test_wait_until (count_reached, &check);
}

static void
assert_kernel_holds_external_tbf (LabNetns *netns)
{
  g_autoptr (LabQdiscState) state = lab_gui_test_read_qdisc (netns, "eth0");

  g_assert_cmpstr (state->kind, ==, "tbf");
  g_assert_cmphex (state->handle, ==, EXTERNAL_HANDLE);
  g_assert_cmpuint (state->impairment.rate_bps, ==, EXTERNAL_RATE_BPS);
}

/* A read-back that shows a change made outside Lab makes the session resend its last request. */
static void
test_session_external_change (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LabQdiscState) external_state = NULL;
  LabImpairment lab_rate = LAB_IMPAIRMENT_INIT;
  LabImpairment desired;
  guint n_changed = 0;
  guint call_serial;

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  g_signal_connect (session, "changed", G_CALLBACK (count_changed_cb), &n_changed);
  lab_rate.rate_bps = LAB_RATE_BPS;

  lab_shape_session_request (session, netns, "eth0", &lab_rate);
  lab_gui_test_wait_for_tbf_rate (netns, "eth0", LAB_RATE_BPS);

  /* The session's own read-back takes the change made outside, and sends nothing for it. */
  replace_with_external_tbf (pair->ns_a);
  refresh_and_wait (session, netns, &n_changed);
  refresh_and_wait (session, netns, &n_changed);
  assert_kernel_holds_external_tbf (netns);
  g_assert_true (lab_shape_session_lookup (session, netns, "eth0", &desired, NULL, NULL, NULL));
  g_assert_cmpuint (desired.rate_bps, ==, LAB_RATE_BPS);

  /* The same request as before differs from the kernel now, so it is sent. */
  lab_shape_session_request (session, netns, "eth0", &lab_rate);
  lab_gui_test_wait_for_tbf_rate (netns, "eth0", LAB_RATE_BPS);

  /* A read made outside the session, as the page's poll does, counts the same. */
  replace_with_external_tbf (pair->ns_a);
  call_serial = lab_shape_session_get_call_serial (session, netns, "eth0");
  external_state = lab_gui_test_read_qdisc (netns, "eth0");
  g_assert_cmpuint (external_state->impairment.rate_bps, ==, EXTERNAL_RATE_BPS);
  g_assert_true (lab_shape_session_note_kernel_state (session, netns, "eth0", call_serial,
                                                      external_state));
  lab_shape_session_request (session, netns, "eth0", &lab_rate);
  lab_gui_test_wait_for_tbf_rate (netns, "eth0", LAB_RATE_BPS);

  g_signal_handlers_disconnect_by_data (session, &n_changed);
  lab_gui_test_reset_session (session);
}

static gboolean
kernel_has_no_tbf (gpointer user_data)
{
  g_autoptr (LabQdiscState) state = lab_gui_test_read_qdisc (user_data, "eth0");

  return g_strcmp0 (state->kind, "tbf") != 0;
}

/* A read that overlapped an apply is rejected, so it cannot undo what the apply sent. */
static void
test_session_stale_read (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LabQdiscState) before = NULL;
  LabImpairment lab_rate = LAB_IMPAIRMENT_INIT;
  guint call_serial;

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  lab_rate.rate_bps = LAB_RATE_BPS;

  /* The read starts before the apply and returns after it, as a slow poll would. */
  call_serial = lab_shape_session_get_call_serial (session, netns, "eth0");
  before = lab_gui_test_read_qdisc (netns, "eth0");
  g_assert_cmpuint (before->impairment.rate_bps, ==, 0);
  lab_shape_session_request (session, netns, "eth0", &lab_rate);
  g_assert_false (lab_shape_session_note_kernel_state (session, netns, "eth0", call_serial,
                                                       before));
  lab_gui_test_wait_for_tbf_rate (netns, "eth0", LAB_RATE_BPS);
  g_assert_false (lab_shape_session_note_kernel_state (session, netns, "eth0", call_serial,
                                                       before));

  /* Had the stale read been taken, the session would drop this request as already sent. */
  lab_shape_session_request (session, netns, "eth0", &(LabImpairment) LAB_IMPAIRMENT_INIT);
  lab_gui_test_wait_until (kernel_has_no_tbf, netns);

  lab_gui_test_reset_session (session);
}

/* A reset right after an apply that netem rejected ends with nothing changed and no resend. */
static void
test_session_reset_after_netem (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  LabImpairment delay = LAB_IMPAIRMENT_INIT;
  guint n_changed = 0;
  CountCheck check = { &n_changed, 2 };

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  g_signal_connect (session, "changed", G_CALLBACK (count_changed_cb), &n_changed);
  delay.delay_usec = 10 * 1000;

  lab_shape_session_request (session, netns, "lo", &delay);
  lab_shape_session_reset (session, netns, "lo");
  lab_gui_test_wait_until (count_reached, &check);

  /* A refresh runs after any apply still queued, so the count shows whether one was sent. */
  check.expected = 3;
  lab_shape_session_refresh (session, netns, "lo");
  lab_gui_test_wait_until (count_reached, &check);
  g_assert_cmpuint (n_changed, ==, 3);
  g_assert_cmpuint (lab_shape_session_get_n_changed (session), ==, 0);
  state = lab_gui_test_read_qdisc (netns, "lo");
  g_assert_cmpuint (state->impairment.delay_usec, ==, 0);
  g_assert_cmpuint (state->impairment.rate_bps, ==, 0);
  g_assert_false (state->has_original);

  g_signal_handlers_disconnect_by_data (session, &n_changed);
}

/* A request equal to one whose apply failed is sent again once the interface exists. */
static void
test_session_retry_after_failure (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (GError) error = NULL;
  LabImpairment lab_rate = LAB_IMPAIRMENT_INIT;
  const GError *apply_error = NULL;
  guint n_changed = 0;
  CountCheck check = { &n_changed, 1 };

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  g_signal_connect (session, "changed", G_CALLBACK (count_changed_cb), &n_changed);
  lab_rate.rate_bps = LAB_RATE_BPS;

  lab_shape_session_request (session, netns, "late0", &lab_rate);
  lab_gui_test_wait_until (count_reached, &check);
  g_assert_true (lab_shape_session_lookup (session, netns, "late0", NULL, NULL, &apply_error,
                                           NULL));
  g_assert_nonnull (apply_error);
  g_test_message ("apply to a missing interface: %s", apply_error->message);

  g_free (lab_test_run ((const char *[]){ "ip", "-n", pair->ns_a, "link", "add", "late0", "type",
                                          "veth", "peer", "name", "late1", NULL }));
  lab_shape_session_request (session, netns, "late0", &lab_rate);
  lab_gui_test_wait_for_tbf_rate (netns, "late0", LAB_RATE_BPS);

  g_signal_handlers_disconnect_by_data (session, &n_changed);
  lab_gui_test_reset_session (session);
}

static gboolean
window_has_no_selection (gpointer user_data)
{
  return lab_window_get_selected_machine (user_data) == NULL;
}

/* Deleting the shown namespace selects no other machine, so no slider can shape another one. */
static void
test_machine_gone (void)
{
  g_autoptr (LabGuiTestFixture) fixture = lab_gui_test_fixture_new ();
  g_autoptr (LabQdiscState) other_lo = NULL;
  g_autofree char *notice = NULL;
  LabNetworkPage *page = lab_window_get_network_page (fixture->window);
  LabNetns *other_netns;
  g_autoptr (GError) error = NULL;

  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", fixture->pair->ns_a, NULL }));
  lab_gui_test_wait_until (window_has_no_selection, fixture->window);

  notice = g_strdup_printf ("Machine '%s' is gone; choose another machine", fixture->pair->ns_a);
  g_assert_cmpstr (lab_network_page_get_title_text (page), ==, notice);
  g_assert_null (lab_network_page_get_ifname (page));
  g_assert_false (lab_network_page_sliders_are_sensitive (page));
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (fixture->window)), ==, "Lab");
  lab_gui_test_save_screenshot (GTK_WIDGET (fixture->window), "gui-network-page-gone.png");

  /* A slider moved now has no interface to go to. */
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (LAB_RATE_BPS));
  lab_gui_test_wait_for_paint (GTK_WIDGET (fixture->window));
  g_assert_cmpuint (lab_shape_session_get_n_changed (fixture->session), ==, 0);
  other_netns = lab_netns_new_named (fixture->pair->ns_b, &error);
  g_assert_no_error (error);
  other_lo = lab_gui_test_read_qdisc (other_netns, "lo");
  g_assert_cmpstr (other_lo->kind, !=, "tbf");
  lab_netns_unref (other_netns);
}

/* A row follows its machine's properties, not only list updates. */
static void
test_machine_row_follows (void)
{
  g_autoptr (LabGuiTestFixture) fixture = lab_gui_test_fixture_new ();
  GListModel *machines = G_LIST_MODEL (fixture->monitor);
  g_autofree char *detail = NULL;
  g_autoptr (LabMachine) other = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (machines) && other == NULL; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (machines, i);

      if (g_strcmp0 (lab_machine_get_name (machine), fixture->pair->ns_b) == 0)
        other = g_steal_pointer (&machine);
    }
  g_assert_nonnull (other);
  lab_gui_test_wait_for_paint (GTK_WIDGET (fixture->window));
  detail = lab_window_dup_machine_row_detail (fixture->window, fixture->pair->ns_b);
  g_assert_nonnull (detail);
  g_assert_null (strstr (detail, "shares host network"));
  g_clear_pointer (&detail, g_free);

  lab_machine_set_shares_host_network (other, TRUE);
  detail = lab_window_dup_machine_row_detail (fixture->window, fixture->pair->ns_b);
  g_assert_nonnull (detail);
  g_assert_nonnull (strstr (detail, "shares host network"));
  g_clear_pointer (&detail, g_free);

  lab_machine_set_shares_host_network (other, FALSE);
  detail = lab_window_dup_machine_row_detail (fixture->window, fixture->pair->ns_b);
  g_assert_nonnull (detail);
  g_assert_null (strstr (detail, "shares host network"));
}

/* Picks the first interface that is up, not a down one listed before it. */
static void
test_default_interface (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autofree char *ns = lab_test_unique_name ("netpage");
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autofree char *ifb_detail = NULL;
  g_autofree char *ifb_tc = NULL;
  LabWindow *window;

  /* ifb0 gets the lower ifindex and stays down, like ifb0 on many hosts. */
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "add", ns, NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "add", "ifb0", "index", "2",
                                          "type", "ifb", NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "add", "veth0", "index", "5",
                                          "type", "veth", "peer", "name", "veth1", NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "set", "veth0", "up", NULL }));

  monitor = lab_gui_test_load_monitor ();
  window = lab_gui_test_open_window (monitor, session, ns, "veth0");

  /* The row of a down ifb without a root qdisc says so, like the read-back line would. */
  ifb_detail = lab_network_page_dup_row_detail (lab_window_get_network_page (window), "ifb0");
  g_assert_nonnull (ifb_detail);
  g_assert_nonnull (strstr (ifb_detail, "no root qdisc"));
  g_assert_nonnull (strstr (ifb_detail, "down"));
  ifb_tc = lab_gui_test_tc_qdisc_show (ns, "ifb0");
  g_assert_cmpstr (g_strstrip (ifb_tc), ==, "");

  gtk_window_destroy (GTK_WINDOW (window));
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", ns, NULL }));
}

/* Without sch_netem, the latency slider stays usable and a hint says why it has no effect. */
static void
test_netem_hint (void)
{
  g_autoptr (LabGuiTestFixture) fixture = lab_gui_test_fixture_new ();
  g_autoptr (LabQdiscState) state = NULL;
  LabShapeSession *session = fixture->session;
  LabNetns *netns = fixture->netns;
  LabNetworkPage *page = lab_window_get_network_page (fixture->window);
  GtkWidget *delay_scale;

  g_assert_false (lab_network_page_shows_netem_hint (page));

  gtk_range_set_value (lab_network_page_get_delay_scale (page), 100);
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (LAB_RATE_BPS));
  lab_gui_test_wait_for_tbf_rate (netns, "eth0", LAB_RATE_BPS);
  state = lab_gui_test_read_qdisc (netns, "eth0");
  if (state->impairment.delay_usec != 0)
    {
      g_test_skip ("this kernel has sch_netem, so latency is applied");
    }
  else
    {
      lab_gui_test_wait_for_netem_error (session, netns, "eth0");
      g_assert_true (lab_network_page_shows_netem_hint (page));
      delay_scale = GTK_WIDGET (lab_network_page_get_delay_scale (page));
      g_assert_true (gtk_widget_is_sensitive (delay_scale));
      /* The read-back lacks the delay, yet the slider keeps what the user set. */
      g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (delay_scale)), ==, 100);
      lab_gui_test_save_screenshot (GTK_WIDGET (fixture->window),
                                    "gui-network-page-netem-hint.png");
    }

  lab_gui_test_reset_session (session);
}

int
main (int argc, char *argv[])
{
  lab_gui_test_init (&argc, &argv);

  g_test_add_func ("/lab/gui/network-page/external-change", test_external_change);
  g_test_add_func ("/lab/gui/network-page/session-external-change",
                   test_session_external_change);
  g_test_add_func ("/lab/gui/network-page/session-stale-read", test_session_stale_read);
  g_test_add_func ("/lab/gui/network-page/session-reset-after-netem",
                   test_session_reset_after_netem);
  g_test_add_func ("/lab/gui/network-page/session-retry-after-failure",
                   test_session_retry_after_failure);
  g_test_add_func ("/lab/gui/network-page/machine-gone", test_machine_gone);
  g_test_add_func ("/lab/gui/network-page/machine-row-follows", test_machine_row_follows);
  g_test_add_func ("/lab/gui/network-page/default-interface", test_default_interface);
  g_test_add_func ("/lab/gui/network-page/netem-hint", test_netem_hint);
  return g_test_run ();
}
