/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checks that the Network page follows root qdisc changes made outside Lab
 * without applying anything itself, picks an interface that is up first,
 * names the machine in the window title and hints once that netem is missing.
 */
#include <string.h>

#include <gtk/gtk.h>

#include "lab-network-page-private.h"
#include "lab-test.h"
#include "lab-window-private.h"

#define EXTERNAL_RATE_BPS G_GUINT64_CONSTANT (100000)
#define EXTERNAL_HANDLE 0x01ab0000u
#define LAB_RATE_BPS G_GUINT64_CONSTANT (1000000)

typedef gboolean (*Condition) (gpointer user_data);

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the main loop until @condition is TRUE; a tick rechecks state that changes silently. */
static void
wait_until (Condition condition, gpointer user_data)
{
  guint tick = g_timeout_add (20, tick_cb, NULL);

  while (!condition (user_data))
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

static void
store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static gboolean
result_arrived (gpointer user_data)
{
  return *(GAsyncResult **) user_data != NULL;
}

static LabQdiscState *
read_qdisc (LabNetns *netns, const char *ifname)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  LabQdiscState *state;

  lab_shaper_read_async (netns, ifname, NULL, store_result_cb, &result);
  wait_until (result_arrived, &result);
  state = lab_shaper_read_finish (result, &error);
  g_assert_no_error (error);
  return state;
}

static LabMachineMonitor *
load_monitor (void)
{
  LabMachineMonitor *monitor = lab_machine_monitor_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  lab_machine_monitor_load_async (monitor, NULL, store_result_cb, &result);
  wait_until (result_arrived, &result);
  g_assert_true (lab_machine_monitor_load_finish (monitor, result, &error));
  g_assert_no_error (error);
  return monitor;
}

typedef struct {
  LabWindow *window;
  const char *machine_name;
  const char *ifname;
} WindowCheck;

static gboolean
window_shows_interface (gpointer user_data)
{
  WindowCheck *check = user_data;
  LabMachine *machine = lab_window_get_selected_machine (check->window);
  LabNetworkPage *page = lab_window_get_network_page (check->window);

  return machine != NULL && g_strcmp0 (lab_machine_get_name (machine), check->machine_name) == 0
         && g_strcmp0 (lab_network_page_get_ifname (page), check->ifname) == 0;
}

static LabWindow *
open_window (LabMachineMonitor *monitor, LabShapeSession *session, const char *machine_name,
             const char *ifname)
{
  LabWindow *window = lab_window_new (NULL, monitor, session);
  WindowCheck check = { window, machine_name, ifname };

  lab_window_select_machine (window, machine_name);
  gtk_window_present (GTK_WINDOW (window));
  wait_until (window_shows_interface, &check);
  return window;
}

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

typedef struct {
  LabNetns *netns;
  guint64 rate_bps;
} KernelCheck;

/* TRUE once the kernel's root qdisc on eth0 is tbf with the expected rate. */
static gboolean
kernel_holds_lab_rate (gpointer user_data)
{
  KernelCheck *check = user_data;
  g_autoptr (LabQdiscState) state = read_qdisc (check->netns, "eth0");

  return g_strcmp0 (state->kind, "tbf") == 0 && state->impairment.rate_bps == check->rate_bps;
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
after_paint_cb (GdkFrameClock *clock, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

static gboolean
flag_is_set (gpointer user_data)
{
  return *(gboolean *) user_data;
}

static gboolean
widget_is_drawable (gpointer user_data)
{
  GtkWidget *widget = user_data;

  return gtk_widget_get_mapped (widget) && gtk_widget_get_width (widget) > 0;
}

/* Waits for a frame painted after now, so the window shows the latest state. */
static void
wait_for_paint (GtkWidget *window)
{
  GdkFrameClock *clock;
  gboolean painted = FALSE;
  gulong handler;

  wait_until (widget_is_drawable, window);
  clock = gtk_widget_get_frame_clock (window);
  handler = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &painted);
  gtk_widget_queue_draw (window);
  wait_until (flag_is_set, &painted);
  g_signal_handler_disconnect (clock, handler);
}

static void
save_screenshot (GtkWidget *window, const char *name)
{
  const char *build_dir = g_getenv ("LAB_BUILD_DIR");
  g_autofree char *dir = g_build_filename (build_dir != NULL ? build_dir : ".", "test-artifacts",
                                           NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GdkPaintable) paintable = NULL;
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  GskRenderer *renderer;

  wait_for_paint (window);
  paintable = gtk_widget_paintable_new (window);
  renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  gdk_paintable_snapshot (paintable, snapshot, gtk_widget_get_width (window),
                          gtk_widget_get_height (window));
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node, NULL);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_print ("# screenshot: %s\n", path);
}

static void
replace_with_external_tbf (const char *ns)
{
  g_free (lab_test_run ((const char *[]){ "tc", "-n", ns, "qdisc", "replace", "dev", "eth0",
                                          "root", "handle", "1ab:", "tbf", "rate", "100kbit",
                                          "burst", "3000", "latency", "50ms", NULL }));
}

static void
reset_session (LabShapeSession *session)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  lab_shape_session_reset_all_async (session, NULL, store_result_cb, &result);
  wait_until (result_arrived, &result);
  g_assert_true (lab_shape_session_reset_all_finish (session, result, &error));
  g_assert_no_error (error);
}

/* A tbf set with tc shows in the page within a poll, and the page sends nothing for it. */
static void
test_external_change (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabMachineMonitor) monitor = load_monitor ();
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autofree char *tc_output = NULL;
  g_autofree char *title = NULL;
  LabImpairment desired;
  LabNetworkPage *page;
  LabWindow *window;
  KernelCheck kernel_check;

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  window = open_window (monitor, session, pair->ns_a, "eth0");
  page = lab_window_get_network_page (window);

  title = g_strdup_printf ("Lab — %s", pair->ns_a);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, title);
  wait_until (page_is_polling, page);

  replace_with_external_tbf (pair->ns_a);
  wait_until (page_shows_external_rate, page);
  wait_until (row_shows_tbf, page);
  g_test_message ("read-back: %s", lab_network_page_get_state_text (page));

  /* Moving the slider to the kernel's value sent no request and left the qdisc as tc set it. */
  g_assert_true (lab_shape_session_lookup (session, netns, "eth0", &desired, NULL, NULL, NULL));
  g_assert_cmpuint (desired.rate_bps, ==, 0);
  g_assert_cmpuint (lab_shape_session_get_n_changed (session), ==, 0);
  state = read_qdisc (netns, "eth0");
  g_assert_cmpstr (state->kind, ==, "tbf");
  g_assert_cmphex (state->handle, ==, EXTERNAL_HANDLE);
  /* tc used Lab's handle, as labctl does, but the journal holds no original from an apply. */
  g_assert_false (state->has_original);
  g_assert_cmpuint (state->impairment.rate_bps, ==, EXTERNAL_RATE_BPS);
  tc_output = lab_test_run ((const char *[]){ "tc", "-n", pair->ns_a, "qdisc", "show", "dev",
                                              "eth0", NULL });
  g_test_message ("tc: %s", tc_output);
  g_assert_nonnull (strstr (tc_output, "qdisc tbf 1ab: root"));
  g_assert_nonnull (strstr (tc_output, "rate 100Kbit"));
  g_assert_nonnull (strstr (tc_output, "burst 3000b"));
  g_assert_nonnull (strstr (tc_output, "lat 50ms"));

  save_screenshot (GTK_WIDGET (window), "gui-network-page-external.png");

  /* A hidden page stops reading, and reads again once shown. */
  lab_window_show_page (window, "trace");
  wait_until (page_is_not_polling, page);
  lab_window_show_page (window, "network");
  wait_until (page_is_polling, page);

  /* The user's slider still applies, also back to a value the session sent before. */
  kernel_check = (KernelCheck){ netns, LAB_RATE_BPS };
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (LAB_RATE_BPS));
  wait_until (kernel_holds_lab_rate, &kernel_check);
  replace_with_external_tbf (pair->ns_a);
  wait_until (page_shows_external_rate, page);
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (LAB_RATE_BPS));
  wait_until (kernel_holds_lab_rate, &kernel_check);

  reset_session (session);
  gtk_window_destroy (GTK_WINDOW (window));
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
  wait_until (count_reached, &check);
}

static void
assert_kernel_holds_external_tbf (LabNetns *netns)
{
  g_autoptr (LabQdiscState) state = read_qdisc (netns, "eth0");

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
  KernelCheck kernel_check;
  guint n_changed = 0;

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  g_signal_connect (session, "changed", G_CALLBACK (count_changed_cb), &n_changed);
  lab_rate.rate_bps = LAB_RATE_BPS;
  kernel_check = (KernelCheck){ netns, LAB_RATE_BPS };

  lab_shape_session_request (session, netns, "eth0", &lab_rate);
  wait_until (kernel_holds_lab_rate, &kernel_check);

  /* The session's own read-back takes the change made outside, and sends nothing for it. */
  replace_with_external_tbf (pair->ns_a);
  refresh_and_wait (session, netns, &n_changed);
  refresh_and_wait (session, netns, &n_changed);
  assert_kernel_holds_external_tbf (netns);
  g_assert_true (lab_shape_session_lookup (session, netns, "eth0", &desired, NULL, NULL, NULL));
  g_assert_cmpuint (desired.rate_bps, ==, LAB_RATE_BPS);

  /* The same request as before differs from the kernel now, so it is sent. */
  lab_shape_session_request (session, netns, "eth0", &lab_rate);
  wait_until (kernel_holds_lab_rate, &kernel_check);

  /* A read made outside the session, as the page's poll does, counts the same. */
  replace_with_external_tbf (pair->ns_a);
  external_state = read_qdisc (netns, "eth0");
  g_assert_cmpuint (external_state->impairment.rate_bps, ==, EXTERNAL_RATE_BPS);
  lab_shape_session_note_kernel_state (session, netns, "eth0", external_state);
  lab_shape_session_request (session, netns, "eth0", &lab_rate);
  wait_until (kernel_holds_lab_rate, &kernel_check);

  g_signal_handlers_disconnect_by_data (session, &n_changed);
  reset_session (session);
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

  monitor = load_monitor ();
  window = open_window (monitor, session, ns, "veth0");

  /* The row of a down ifb without a root qdisc says so, like the read-back line would. */
  ifb_detail = lab_network_page_dup_row_detail (lab_window_get_network_page (window), "ifb0");
  g_assert_nonnull (ifb_detail);
  g_assert_nonnull (strstr (ifb_detail, "no root qdisc"));
  g_assert_nonnull (strstr (ifb_detail, "down"));
  ifb_tc = lab_test_run ((const char *[]){ "tc", "-n", ns, "qdisc", "show", "dev", "ifb0",
                                           NULL });
  g_assert_cmpstr (g_strstrip (ifb_tc), ==, "");

  gtk_window_destroy (GTK_WINDOW (window));
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", ns, NULL }));
}

typedef struct {
  LabShapeSession *session;
  LabNetns *netns;
} NetemCheck;

static gboolean
session_has_netem_error (gpointer user_data)
{
  NetemCheck *check = user_data;
  const GError *netem_error = NULL;

  return lab_shape_session_lookup (check->session, check->netns, "eth0", NULL, NULL, NULL,
                                   &netem_error)
         && netem_error != NULL;
}

/* Without sch_netem, the latency slider stays usable and a hint says why it has no effect. */
static void
test_netem_hint (void)
{
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autoptr (LabMachineMonitor) monitor = load_monitor ();
  g_autoptr (LabShapeSession) session = lab_shape_session_new ();
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  LabNetworkPage *page;
  LabWindow *window;
  GtkWidget *delay_scale;
  NetemCheck netem_check;
  KernelCheck kernel_check;

  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);
  window = open_window (monitor, session, pair->ns_a, "eth0");
  page = lab_window_get_network_page (window);
  g_assert_false (lab_network_page_shows_netem_hint (page));

  gtk_range_set_value (lab_network_page_get_delay_scale (page), 100);
  gtk_range_set_value (lab_network_page_get_rate_scale (page),
                       lab_rate_scale_bps_to_position (LAB_RATE_BPS));
  kernel_check = (KernelCheck){ netns, LAB_RATE_BPS };
  wait_until (kernel_holds_lab_rate, &kernel_check);
  state = read_qdisc (netns, "eth0");
  if (state->impairment.delay_usec != 0)
    {
      g_test_skip ("this kernel has sch_netem, so latency is applied");
    }
  else
    {
      netem_check = (NetemCheck){ session, netns };
      wait_until (session_has_netem_error, &netem_check);
      g_assert_true (lab_network_page_shows_netem_hint (page));
      delay_scale = GTK_WIDGET (lab_network_page_get_delay_scale (page));
      g_assert_true (gtk_widget_is_sensitive (delay_scale));
      /* The read-back lacks the delay, yet the slider keeps what the user set. */
      g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (delay_scale)), ==, 100);
      save_screenshot (GTK_WIDGET (window), "gui-network-page-netem-hint.png");
    }

  reset_session (session);
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char *argv[])
{
  lab_test_require_root ();
  if (!gtk_init_check ())
    lab_test_skip_all ("no display: run under with-xvfb.sh");
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/lab/gui/network-page/external-change", test_external_change);
  g_test_add_func ("/lab/gui/network-page/session-external-change",
                   test_session_external_change);
  g_test_add_func ("/lab/gui/network-page/default-interface", test_default_interface);
  g_test_add_func ("/lab/gui/network-page/netem-hint", test_netem_hint);
  return g_test_run ();
}
