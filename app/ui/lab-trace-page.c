/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-trace-page.h"

/* Lines are added to the view at most this often, so a flood costs one insert per period. */
#define FLUSH_INTERVAL_MSEC 100

struct _LabTracePage {
  GtkBox parent_instance;

  GtkButton *start_button;
  GtkLabel *counters_label;
  GtkLabel *error_label;
  GtkTextView *text_view;

  LabTracePipe *trace_pipe;
  GCancellable *cancellable;
  GQueue pending; /* char *, at most LAB_TRACE_PAGE_MAX_LINES */
  guint flush_source;
  guint counters_source;
  gboolean running;
  char *error;
};

G_DEFINE_FINAL_TYPE (LabTracePage, lab_trace_page, GTK_TYPE_BOX)

static void
page_update_counters (LabTracePage *self)
{
  g_autofree char *text = NULL;

  if (!self->running)
    {
      gtk_label_set_text (self->counters_label, "Not reading trace_pipe");
      return;
    }
  text = g_strdup_printf ("%s/trace_pipe · lines read %" G_GUINT64_FORMAT
                          " · overruns %" G_GUINT64_FORMAT " · view keeps the last %d",
                          lab_trace_pipe_get_tracefs (self->trace_pipe),
                          lab_trace_pipe_get_lines_read (self->trace_pipe),
                          lab_trace_pipe_get_overruns (self->trace_pipe),
                          LAB_TRACE_PAGE_MAX_LINES);
  gtk_label_set_text (self->counters_label, text);
}

static gboolean
counters_timeout_cb (gpointer user_data)
{
  page_update_counters (user_data);
  return G_SOURCE_CONTINUE;
}

static void
view_trim (LabTracePage *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->text_view);
  int lines = gtk_text_buffer_get_line_count (buffer);
  GtkTextIter start, end;

  /* The buffer ends with a newline, so it has one empty line more than it shows. */
  if (lines - 1 <= LAB_TRACE_PAGE_MAX_LINES)
    return;
  gtk_text_buffer_get_start_iter (buffer, &start);
  gtk_text_buffer_get_iter_at_line (buffer, &end, lines - 1 - LAB_TRACE_PAGE_MAX_LINES);
  gtk_text_buffer_delete (buffer, &start, &end);
}

static gboolean
flush_cb (gpointer user_data)
{
  LabTracePage *self = user_data;
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->text_view);
  g_autoptr (GString) text = g_string_new (NULL);
  GtkTextIter end;
  char *line;

  self->flush_source = 0;
  while ((line = g_queue_pop_head (&self->pending)) != NULL)
    {
      g_string_append (text, line);
      g_string_append_c (text, '\n');
      g_free (line);
    }

  gtk_text_buffer_get_end_iter (buffer, &end);
  gtk_text_buffer_insert (buffer, &end, text->str, (int) text->len);
  view_trim (self);
  gtk_text_view_scroll_to_mark (self->text_view, gtk_text_buffer_get_insert (buffer), 0, FALSE,
                                0, 0);
  /* Keep the counters in step with the lines shown, not a second behind. */
  page_update_counters (self);
  return G_SOURCE_REMOVE;
}

static void
trace_lines_cb (LabTracePipe *trace_pipe, GStrv lines, LabTracePage *self)
{
  for (guint i = 0; lines != NULL && lines[i] != NULL; i++)
    {
      g_queue_push_tail (&self->pending, g_strdup (lines[i]));
      if (self->pending.length > LAB_TRACE_PAGE_MAX_LINES)
        g_free (g_queue_pop_head (&self->pending));
    }
  if (self->flush_source == 0 && self->pending.length > 0)
    self->flush_source = g_timeout_add (FLUSH_INTERVAL_MSEC, flush_cb, self);
}

static void
page_set_error (LabTracePage *self, const char *message)
{
  g_free (self->error);
  self->error = g_strdup (message);
  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void page_set_running (LabTracePage *self, gboolean running);

/* Shows why the reader closed trace_pipe after a read failure, and offers Start again. */
static void
trace_error_cb (LabTracePipe *trace_pipe, GError *error, LabTracePage *self)
{
  g_clear_object (&self->cancellable);
  page_set_error (self, error->message);
  page_set_running (self, FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "trace.toggle", TRUE);
}

static void
page_set_running (LabTracePage *self, gboolean running)
{
  self->running = running;
  gtk_button_set_label (self->start_button, running ? "_Stop" : "_Start");
  g_clear_handle_id (&self->counters_source, g_source_remove);
  if (running)
    self->counters_source = g_timeout_add_seconds (1, counters_timeout_cb, self);
  page_update_counters (self);
}

static void
start_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LabTracePage) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!lab_trace_pipe_start_finish (LAB_TRACE_PIPE (source), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_clear_object (&self->cancellable);
      page_set_error (self, error->message);
      page_set_running (self, FALSE);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "trace.toggle", TRUE);
      return;
    }
  page_set_running (self, TRUE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "trace.toggle", TRUE);
}

void
lab_trace_page_start (LabTracePage *self)
{
  g_return_if_fail (LAB_IS_TRACE_PAGE (self));

  if (self->running || self->cancellable != NULL)
    return;

  page_set_error (self, NULL);
  gtk_label_set_text (self->counters_label, "Opening trace_pipe…");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "trace.toggle", FALSE);
  self->cancellable = g_cancellable_new ();
  lab_trace_pipe_start_async (self->trace_pipe, self->cancellable, start_cb,
                              g_object_ref (self));
}

void
lab_trace_page_stop (LabTracePage *self)
{
  g_return_if_fail (LAB_IS_TRACE_PAGE (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  /* Also while a start is in flight, so a new start may follow at once. */
  lab_trace_pipe_stop (self->trace_pipe);
  page_set_running (self, FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "trace.toggle", TRUE);
}

guint64
lab_trace_page_get_lines_read (LabTracePage *self)
{
  g_return_val_if_fail (LAB_IS_TRACE_PAGE (self), 0);

  return lab_trace_pipe_get_lines_read (self->trace_pipe);
}

const char *
lab_trace_page_get_error (LabTracePage *self)
{
  g_return_val_if_fail (LAB_IS_TRACE_PAGE (self), NULL);

  return self->error;
}

static void
toggle_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  LabTracePage *self = LAB_TRACE_PAGE (widget);

  if (self->running)
    lab_trace_page_stop (self);
  else
    lab_trace_page_start (self);
}

static void
lab_trace_page_dispose (GObject *object)
{
  LabTracePage *self = LAB_TRACE_PAGE (object);

  if (self->trace_pipe != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
      lab_trace_pipe_stop (self->trace_pipe);
      self->running = FALSE;
      g_signal_handlers_disconnect_by_func (self->trace_pipe, trace_lines_cb, self);
      g_signal_handlers_disconnect_by_func (self->trace_pipe, trace_error_cb, self);
      g_clear_object (&self->trace_pipe);
    }
  g_clear_handle_id (&self->flush_source, g_source_remove);
  g_clear_handle_id (&self->counters_source, g_source_remove);
  g_queue_clear_full (&self->pending, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), LAB_TYPE_TRACE_PAGE);
  G_OBJECT_CLASS (lab_trace_page_parent_class)->dispose (object);
}

static void
lab_trace_page_finalize (GObject *object)
{
  LabTracePage *self = LAB_TRACE_PAGE (object);

  g_free (self->error);
  G_OBJECT_CLASS (lab_trace_page_parent_class)->finalize (object);
}

static void
lab_trace_page_class_init (LabTracePageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lab_trace_page_dispose;
  object_class->finalize = lab_trace_page_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/kinvolk/Lab/ui/lab-trace-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LabTracePage, start_button);
  gtk_widget_class_bind_template_child (widget_class, LabTracePage, counters_label);
  gtk_widget_class_bind_template_child (widget_class, LabTracePage, error_label);
  gtk_widget_class_bind_template_child (widget_class, LabTracePage, text_view);

  gtk_widget_class_install_action (widget_class, "trace.toggle", NULL, toggle_action);
}

static void
lab_trace_page_init (LabTracePage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  /* Undo would keep every programmatic insert and trim, up to 200 batches of text. */
  gtk_text_buffer_set_enable_undo (gtk_text_view_get_buffer (self->text_view), FALSE);

  g_queue_init (&self->pending);
  self->trace_pipe = lab_trace_pipe_new ();
  g_signal_connect (self->trace_pipe, "lines", G_CALLBACK (trace_lines_cb), self);
  g_signal_connect (self->trace_pipe, "error", G_CALLBACK (trace_error_cb), self);
}
