/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-gui-test.h"

#include "lab-network-page-private.h"

void
lab_gui_test_init (int *argc, char ***argv)
{
  lab_test_require_root ();
  if (!gtk_init_check ())
    lab_test_skip_all ("no display: run under with-xvfb.sh");
  g_test_init (argc, argv, NULL);
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

void
lab_gui_test_wait_until (LabGuiTestCondition condition, gpointer user_data)
{
  guint tick = g_timeout_add (20, tick_cb, NULL);

  while (!condition (user_data))
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

static gboolean
flag_is_set (gpointer user_data)
{
  return *(gboolean *) user_data;
}

void
lab_gui_test_wait_for_flag (gboolean *flag)
{
  lab_gui_test_wait_until (flag_is_set, flag);
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

LabMachineMonitor *
lab_gui_test_load_monitor (void)
{
  LabMachineMonitor *monitor = lab_machine_monitor_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  lab_machine_monitor_load_async (monitor, NULL, store_result_cb, &result);
  lab_gui_test_wait_until (result_arrived, &result);
  g_assert_true (lab_machine_monitor_load_finish (monitor, result, &error));
  g_assert_no_error (error);
  return monitor;
}

LabQdiscState *
lab_gui_test_read_qdisc (LabNetns *netns, const char *ifname)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  LabQdiscState *state;

  lab_shaper_read_async (netns, ifname, NULL, store_result_cb, &result);
  lab_gui_test_wait_until (result_arrived, &result);
  state = lab_shaper_read_finish (result, &error);
  g_assert_no_error (error);
  return state;
}

char *
lab_gui_test_tc_qdisc_show (const char *ns, const char *ifname)
{
  return lab_test_run ((const char *[]){ "tc", "-n", ns, "qdisc", "show", "dev", ifname, NULL });
}

gboolean
lab_gui_test_kernel_has_tbf_rate (LabNetns *netns, const char *ifname, guint64 rate_bps)
{
  g_autoptr (LabQdiscState) state = lab_gui_test_read_qdisc (netns, ifname);

  return g_strcmp0 (state->kind, "tbf") == 0 && state->impairment.rate_bps == rate_bps;
}

typedef struct {
  LabNetns *netns;
  const char *ifname;
  guint64 rate_bps;
} KernelCheck;

static gboolean
kernel_has_tbf_rate (gpointer user_data)
{
  KernelCheck *check = user_data;

  return lab_gui_test_kernel_has_tbf_rate (check->netns, check->ifname, check->rate_bps);
}

void
lab_gui_test_wait_for_tbf_rate (LabNetns *netns, const char *ifname, guint64 rate_bps)
{
  KernelCheck check = { netns, ifname, rate_bps };

  lab_gui_test_wait_until (kernel_has_tbf_rate, &check);
}

typedef struct {
  LabShapeSession *session;
  LabNetns *netns;
  const char *ifname;
  const GError *netem_error;
} NetemCheck;

static gboolean
session_has_netem_error (gpointer user_data)
{
  NetemCheck *check = user_data;

  return lab_shape_session_lookup (check->session, check->netns, check->ifname, NULL, NULL, NULL,
                                   &check->netem_error)
         && check->netem_error != NULL;
}

const GError *
lab_gui_test_wait_for_netem_error (LabShapeSession *session, LabNetns *netns, const char *ifname)
{
  NetemCheck check = { session, netns, ifname, NULL };

  lab_gui_test_wait_until (session_has_netem_error, &check);
  return check.netem_error;
}

void
lab_gui_test_reset_session (LabShapeSession *session)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  lab_shape_session_reset_all_async (session, NULL, store_result_cb, &result);
  lab_gui_test_wait_until (result_arrived, &result);
  g_assert_true (lab_shape_session_reset_all_finish (session, result, &error));
  g_assert_no_error (error);
}

gboolean
lab_gui_test_window_shows_interface (LabWindow *window, const char *machine_name,
                                     const char *ifname)
{
  LabMachine *machine = lab_window_get_selected_machine (window);
  LabNetworkPage *page = lab_window_get_network_page (window);

  return machine != NULL && g_strcmp0 (lab_machine_get_name (machine), machine_name) == 0
         && g_strcmp0 (lab_network_page_get_ifname (page), ifname) == 0;
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

  return lab_gui_test_window_shows_interface (check->window, check->machine_name, check->ifname);
}

LabWindow *
lab_gui_test_open_window (LabMachineMonitor *monitor, LabShapeSession *session,
                          const char *machine_name, const char *ifname)
{
  LabWindow *window = lab_window_new (NULL, monitor, session);
  WindowCheck check = { window, machine_name, ifname };

  lab_window_select_machine (window, machine_name);
  gtk_window_present (GTK_WINDOW (window));
  lab_gui_test_wait_until (window_shows_interface, &check);
  return window;
}

GtkWidget *
lab_gui_test_find_widget (GtkWidget *root, GType type, const char *name)
{
  if ((type == G_TYPE_INVALID || G_TYPE_CHECK_INSTANCE_TYPE (root, type))
      && (name == NULL || g_strcmp0 (gtk_widget_get_name (root), name) == 0))
    return root;

  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = lab_gui_test_find_widget (child, type, name);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
after_paint_cb (GdkFrameClock *clock, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

static gboolean
widget_is_drawable (gpointer user_data)
{
  GtkWidget *widget = user_data;

  return gtk_widget_get_mapped (widget) && gtk_widget_get_width (widget) > 0;
}

void
lab_gui_test_wait_for_paint (GtkWidget *window)
{
  GdkFrameClock *clock;
  gboolean painted = FALSE;
  gulong handler;

  lab_gui_test_wait_until (widget_is_drawable, window);
  clock = gtk_widget_get_frame_clock (window);
  handler = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &painted);
  gtk_widget_queue_draw (window);
  lab_gui_test_wait_for_flag (&painted);
  g_signal_handler_disconnect (clock, handler);
}

void
lab_gui_test_save_screenshot (GtkWidget *window, const char *name)
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

  lab_gui_test_wait_for_paint (window);
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

LabGuiTestFixture *
lab_gui_test_fixture_new (void)
{
  LabGuiTestFixture *fixture = g_new0 (LabGuiTestFixture, 1);
  g_autoptr (GError) error = NULL;

  fixture->pair = lab_test_pair_new ();
  fixture->netns = lab_netns_new_named (fixture->pair->ns_a, &error);
  g_assert_no_error (error);
  fixture->monitor = lab_gui_test_load_monitor ();
  fixture->session = lab_shape_session_new ();
  fixture->window = lab_gui_test_open_window (fixture->monitor, fixture->session,
                                              fixture->pair->ns_a, "eth0");
  return fixture;
}

void
lab_gui_test_fixture_free (LabGuiTestFixture *fixture)
{
  gtk_window_destroy (GTK_WINDOW (fixture->window));
  lab_netns_unref (fixture->netns);
  g_object_unref (fixture->session);
  g_object_unref (fixture->monitor);
  lab_test_pair_free (fixture->pair);
  g_free (fixture);
}
