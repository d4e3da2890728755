/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib-unix.h>
#include <signal.h>

#include "lab-application.h"
#include "lab-core.h"
#include "lab-shape-session.h"
#include "lab-window.h"

/* Set to a path to get a key=value status file, rewritten every second, for scripted checks. */
#define STATUS_FILE_ENV "LAB_UI_STATUS_FILE"

typedef enum {
  DEMO_OFF,
  DEMO_STARTING,
  DEMO_RUNNING,
  DEMO_FAILED,
  DEMO_STOPPED,
} DemoState;

static const char * const demo_state_names[] = {
  "off", "starting", "running", "failed", "stopped",
};

struct _LabApplication {
  GtkApplication parent_instance;

  /* Command-line options. */
  gboolean demo_enabled;
  char *demo_prefix;
  char *select_name;

  LabMachineMonitor *monitor;
  LabShapeSession *session;
  LabWindow *window;
  LabDemo *demo;
  DemoState demo_state;
  GCancellable *cancellable;

  guint sigint_source;
  guint sigterm_source;
  guint sighup_source;
  gboolean quitting;
  /* Set when the resets finished during the demo start, so demo_started_cb stops the demo. */
  gboolean stop_after_start;
  gboolean quit_finished;

  GFile *status_file;
  guint status_source;
  gboolean status_writing;
};

G_DEFINE_FINAL_TYPE (LabApplication, lab_application, GTK_TYPE_APPLICATION)

static const GOptionEntry option_entries[] = {
  { "demo", 0, 0, G_OPTION_ARG_NONE, NULL,
    "Build the demo lab (two nodes with traffic), open a terminal in one and start tracing", NULL },
  { "demo-prefix", 0, 0, G_OPTION_ARG_STRING, NULL,
    "Name prefix of the demo's network namespaces (default \"" LAB_DEMO_PREFIX_DEFAULT "\")",
    "NAME" },
  { "select", 0, 0, G_OPTION_ARG_STRING, NULL,
    "Select the machine NAME (\".host\", a machined machine or a /run/netns name) at start",
    "NAME" },
  { NULL },
};

static void
status_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LabApplication) self = user_data;
  g_autoptr (GError) error = NULL;

  self->status_writing = FALSE;
  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    g_warning ("Failed to write the status file '%s': %s", g_file_peek_path (self->status_file),
               error->message);
}

static gboolean
status_timeout_cb (gpointer user_data)
{
  LabApplication *self = user_data;
  g_autoptr (GString) status = g_string_new (NULL);
  g_autoptr (GBytes) bytes = NULL;

  /* Skips a tick while a write is in flight, because the next tick carries newer numbers. */
  if (self->status_writing || self->window == NULL)
    return G_SOURCE_CONTINUE;

  g_string_append_printf (status, "demo=%s\n", demo_state_names[self->demo_state]);
  g_string_append_printf (status, "demo_echoes=%" G_GUINT64_FORMAT "\n",
                          self->demo != NULL ? lab_demo_get_echo_count (self->demo) : 0);
  g_string_append_printf (status, "quitting=%d\n", self->quitting);
  lab_window_append_status (self->window, status);

  bytes = g_string_free_to_bytes (g_steal_pointer (&status));
  self->status_writing = TRUE;
  g_file_replace_contents_bytes_async (self->status_file, bytes, NULL, FALSE,
                                       G_FILE_CREATE_REPLACE_DESTINATION, NULL, status_written_cb,
                                       g_object_ref (self));
  return G_SOURCE_CONTINUE;
}

/* Ends the quit that lab_application_request_quit began; runs once. */
static void
app_finish_quit (LabApplication *self)
{
  if (self->quit_finished)
    return;
  self->quit_finished = TRUE;

  g_clear_handle_id (&self->status_source, g_source_remove);
  if (self->window != NULL)
    {
      gtk_window_destroy (GTK_WINDOW (self->window));
      self->window = NULL;
    }
  g_application_release (G_APPLICATION (self));
  g_application_quit (G_APPLICATION (self));
}

static void
demo_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LabApplication) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!lab_demo_stop_finish (LAB_DEMO (source), result, &error))
    g_warning ("Failed to stop the demo lab '%s': %s; run 'labctl demo --prefix %s --cleanup'",
               self->demo_prefix, error->message, self->demo_prefix);
  else
    g_debug ("Demo lab stopped");
  self->demo_state = DEMO_STOPPED;
  app_finish_quit (self);
}

/* The last step of a quit: stops a running demo, then ends the application. */
static void
app_stop_demo_and_finish (LabApplication *self)
{
  if (self->demo == NULL || self->demo_state != DEMO_RUNNING)
    {
      app_finish_quit (self);
      return;
    }
  lab_demo_stop_async (self->demo, NULL, demo_stopped_cb, g_object_ref (self));
}

static void
reset_all_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LabApplication) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!lab_shape_session_reset_all_finish (LAB_SHAPE_SESSION (source), result, &error))
    g_warning ("Some impairments could not be reset: %s; run 'labctl list' to see them and "
               "'labctl reset TARGET dev IFACE' for each",
               error->message);
  else
    g_debug ("Every changed interface is reset");

  /* A start in progress cannot be stopped yet, so demo_started_cb stops what it built. */
  if (self->demo_state == DEMO_STARTING)
    {
      self->stop_after_start = TRUE;
      return;
    }
  app_stop_demo_and_finish (self);
}

void
lab_application_request_quit (LabApplication *self)
{
  g_return_if_fail (LAB_IS_APPLICATION (self));

  if (self->quitting)
    return;
  self->quitting = TRUE;
  g_debug ("Quitting: resetting %u changed interfaces",
           self->session != NULL ? lab_shape_session_get_n_changed (self->session) : 0);

  /* Held until every reset and the demo stop are done, even with the window hidden. */
  g_application_hold (G_APPLICATION (self));
  g_cancellable_cancel (self->cancellable);
  if (self->window != NULL)
    {
      lab_window_stop_tracing (self->window);
      gtk_widget_set_visible (GTK_WIDGET (self->window), FALSE);
    }

  /* Before the first activate there is no session and no demo. */
  if (self->session == NULL)
    {
      app_stop_demo_and_finish (self);
      return;
    }
  lab_shape_session_reset_all_async (self->session, NULL, reset_all_cb, g_object_ref (self));
}

/* Names what a quit still has to undo, so the exit message states only work that will happen. */
static const char *
app_describe_cleanup (LabApplication *self)
{
  gboolean impaired = self->session != NULL && lab_shape_session_get_n_changed (self->session) > 0;
  gboolean demo = self->demo_state == DEMO_STARTING || self->demo_state == DEMO_RUNNING;

  if (impaired && demo)
    return "resetting impairments and stopping the demo before exit";
  if (impaired)
    return "resetting impairments before exit";
  if (demo)
    return "stopping the demo before exit";
  return "exiting";
}

static gboolean
quit_signal_cb (gpointer user_data)
{
  LabApplication *self = user_data;

  /* A reset or stop that hangs would otherwise keep the process alive for good. */
  if (self->quitting)
    {
      g_autofree char *demo_advice = NULL;

      if (self->demo_state == DEMO_STARTING || self->demo_state == DEMO_RUNNING)
        demo_advice = g_strdup_printf ("run 'labctl demo --prefix %s --cleanup', then ",
                                       self->demo_prefix);
      g_message ("Second signal received: exiting before the cleanup finished; %srun "
                 "'labctl reset TARGET dev IFACE' for each interface that 'labctl list' shows "
                 "as impaired",
                 demo_advice != NULL ? demo_advice : "");
      app_finish_quit (self);
      return G_SOURCE_CONTINUE;
    }
  g_message ("Signal received: %s", app_describe_cleanup (self));
  lab_application_request_quit (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
window_close_request_cb (GtkWindow *window, LabApplication *self)
{
  lab_application_request_quit (self);
  /* The window is destroyed after the cleanup, in app_finish_quit. */
  return TRUE;
}

static void
demo_started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LabApplication) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *node_a = NULL;

  if (!lab_demo_start_finish (LAB_DEMO (source), result, &error))
    {
      /* The start removed what it had built, so a quit has no demo left to stop. */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_debug ("Demo lab start cancelled");
          self->demo_state = DEMO_STOPPED;
        }
      else
        {
          self->demo_state = DEMO_FAILED;
          g_warning ("Failed to start the demo lab with prefix '%s': %s", self->demo_prefix,
                     error->message);
        }
      if (self->stop_after_start)
        app_finish_quit (self);
      else if (self->demo_state == DEMO_FAILED && self->window != NULL)
        {
          g_autofree char *message = g_strdup_printf (
            "The demo lab '%s' did not start: %s", self->demo_prefix, error->message);

          lab_window_show_error (self->window, message);
        }
      return;
    }

  self->demo_state = DEMO_RUNNING;
  g_debug ("Demo lab '%s' running", self->demo_prefix);
  if (self->stop_after_start)
    {
      app_stop_demo_and_finish (self);
      return;
    }
  /* While the resets still run, reset_all_cb stops the demo after them. */
  if (self->quitting)
    return;
  node_a = g_strdup_printf ("%s-a", self->demo_prefix);
  lab_machine_monitor_refresh (self->monitor);
  lab_window_select_machine (self->window, node_a);
  lab_window_open_terminal (self->window, node_a);
}

static void
monitor_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LabApplication) self = user_data;
  g_autoptr (GError) error = NULL;

  /* A quit cancels the load, which is no failure worth a warning. */
  if (!lab_machine_monitor_load_finish (LAB_MACHINE_MONITOR (source), result, &error)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_warning ("Failed to list machines: %s", error->message);
}

static void
lab_application_activate (GApplication *application)
{
  LabApplication *self = LAB_APPLICATION (application);

  /* A second launch during a quit must not build a new window or demo. */
  if (self->quitting)
    return;
  if (self->window != NULL)
    {
      gtk_window_present (GTK_WINDOW (self->window));
      return;
    }

  self->monitor = lab_machine_monitor_new ();
  self->session = lab_shape_session_new ();
  self->window = lab_window_new (GTK_APPLICATION (self), self->monitor, self->session);
  g_signal_connect (self->window, "close-request", G_CALLBACK (window_close_request_cb), self);

  lab_machine_monitor_load_async (self->monitor, self->cancellable, monitor_loaded_cb,
                                  g_object_ref (self));
  if (self->select_name != NULL)
    lab_window_select_machine (self->window, self->select_name);

  if (self->demo_enabled)
    {
      self->demo = lab_demo_new (self->demo_prefix);
      self->demo_state = DEMO_STARTING;
      lab_demo_start_async (self->demo, self->cancellable, demo_started_cb, g_object_ref (self));
      lab_window_start_tracing (self->window);
    }

  if (self->status_file != NULL)
    self->status_source = g_timeout_add_seconds (1, status_timeout_cb, self);

  gtk_window_present (GTK_WINDOW (self->window));
}

static int
lab_application_handle_local_options (GApplication *application, GVariantDict *options)
{
  LabApplication *self = LAB_APPLICATION (application);
  const char *status_path = g_getenv (STATUS_FILE_ENV);

  g_variant_dict_lookup (options, "demo", "b", &self->demo_enabled);
  g_variant_dict_lookup (options, "demo-prefix", "s", &self->demo_prefix);
  g_variant_dict_lookup (options, "select", "s", &self->select_name);

  if (self->demo_prefix == NULL)
    self->demo_prefix = g_strdup (LAB_DEMO_PREFIX_DEFAULT);
  if (!lab_netns_name_is_valid (self->demo_prefix))
    {
      g_printerr ("kinvolk-lab: invalid --demo-prefix '%s': use a namespace name without '/', "
                  "such as \"%s\"\n",
                  self->demo_prefix, LAB_DEMO_PREFIX_DEFAULT);
      return 2;
    }
  if (status_path != NULL && *status_path != '\0')
    self->status_file = g_file_new_for_path (status_path);

  /* Continue with the default handling: register, then activate. */
  return -1;
}

static void
lab_application_startup (GApplication *application)
{
  LabApplication *self = LAB_APPLICATION (application);

  G_APPLICATION_CLASS (lab_application_parent_class)->startup (application);

  self->sigint_source = g_unix_signal_add (SIGINT, quit_signal_cb, self);
  self->sigterm_source = g_unix_signal_add (SIGTERM, quit_signal_cb, self);
  /* Closing the terminal that started the application sends SIGHUP. */
  self->sighup_source = g_unix_signal_add (SIGHUP, quit_signal_cb, self);
}

static void
lab_application_shutdown (GApplication *application)
{
  LabApplication *self = LAB_APPLICATION (application);

  g_clear_handle_id (&self->sigint_source, g_source_remove);
  g_clear_handle_id (&self->sigterm_source, g_source_remove);
  g_clear_handle_id (&self->sighup_source, g_source_remove);
  g_clear_handle_id (&self->status_source, g_source_remove);
  G_APPLICATION_CLASS (lab_application_parent_class)->shutdown (application);
}

static void
lab_application_dispose (GObject *object)
{
  LabApplication *self = LAB_APPLICATION (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->demo);
  g_clear_object (&self->session);
  g_clear_object (&self->monitor);
  self->window = NULL;
  G_OBJECT_CLASS (lab_application_parent_class)->dispose (object);
}

static void
lab_application_finalize (GObject *object)
{
  LabApplication *self = LAB_APPLICATION (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->status_file);
  g_free (self->demo_prefix);
  g_free (self->select_name);
  G_OBJECT_CLASS (lab_application_parent_class)->finalize (object);
}

static void
lab_application_class_init (LabApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *application_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = lab_application_dispose;
  object_class->finalize = lab_application_finalize;
  application_class->activate = lab_application_activate;
  application_class->handle_local_options = lab_application_handle_local_options;
  application_class->startup = lab_application_startup;
  application_class->shutdown = lab_application_shutdown;
}

static void
lab_application_init (LabApplication *self)
{
  self->cancellable = g_cancellable_new ();
  g_application_add_main_option_entries (G_APPLICATION (self), option_entries);
}

LabApplication *
lab_application_new (void)
{
  return g_object_new (LAB_TYPE_APPLICATION, "application-id", LAB_APP_ID, "flags",
                       G_APPLICATION_DEFAULT_FLAGS, NULL);
}
