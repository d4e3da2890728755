/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-events-page.h"

/* Events are added to the view at most this often, so a flood costs one splice per period. */
#define FLUSH_INTERVAL_MSEC 100

typedef enum {
  COLUMN_TIME,
  COLUMN_KIND,
  COLUMN_PID,
  COLUMN_COMM,
  COLUMN_NAMESPACE,
  COLUMN_DETAIL,
  N_COLUMNS,
} Column;

static const char * const column_titles[N_COLUMNS] = {
  "Time", "Event", "PID", "Command", "Namespace", "Detail",
};

/* One formatted event: a row of the column view. */
#define LAB_TYPE_EVENT_ROW (lab_event_row_get_type ())
G_DECLARE_FINAL_TYPE (LabEventRow, lab_event_row, LAB, EVENT_ROW, GObject)

struct _LabEventRow {
  GObject parent_instance;
  char *cells[N_COLUMNS];
};

G_DEFINE_FINAL_TYPE (LabEventRow, lab_event_row, G_TYPE_OBJECT)

static void
lab_event_row_finalize (GObject *object)
{
  LabEventRow *self = LAB_EVENT_ROW (object);

  for (guint i = 0; i < N_COLUMNS; i++)
    g_free (self->cells[i]);
  G_OBJECT_CLASS (lab_event_row_parent_class)->finalize (object);
}

static void
lab_event_row_class_init (LabEventRowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lab_event_row_finalize;
}

static void
lab_event_row_init (LabEventRow *self)
{
}

struct _LabEventsPage {
  GtkBox parent_instance;

  GtkButton *start_button;
  GtkLabel *counters_label;
  GtkLabel *error_label;
  GtkColumnView *column_view;

  GListStore *rows;
  GPtrArray *pending; /* LabEventRow, at most LAB_EVENTS_PAGE_MAX_ROWS */
  GListModel *machines;
  LabBpfEvents *events;
  GCancellable *cancellable;
  guint flush_source;
  guint counters_source;
  gboolean running;
  char *error;
};

G_DEFINE_FINAL_TYPE (LabEventsPage, lab_events_page, GTK_TYPE_BOX)

/* Names the namespace by the machine that lives in it, else by its inode. */
static char *
page_describe_netns (LabEventsPage *self, guint64 inode)
{
  guint n = self->machines != NULL ? g_list_model_get_n_items (self->machines) : 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (self->machines, i);

      if (lab_machine_get_netns_inode (machine) == inode && inode != 0)
        return g_strdup (lab_machine_get_name (machine));
    }
  return g_strdup_printf ("net:[%" G_GUINT64_FORMAT "]", inode);
}

static LabEventRow *
event_row_new (LabEventsPage *self, const LabBpfEvent *event)
{
  LabEventRow *row = g_object_new (LAB_TYPE_EVENT_ROW, NULL);
  g_autoptr (GDateTime) time = g_date_time_new_from_unix_local (event->realtime_usec / G_USEC_PER_SEC);
  g_autofree char *seconds = time != NULL ? g_date_time_format (time, "%H:%M:%S") : NULL;

  row->cells[COLUMN_TIME] =
    g_strdup_printf ("%s.%03d", seconds != NULL ? seconds : "?",
                     (int) ((event->realtime_usec / 1000) % 1000));
  row->cells[COLUMN_KIND] = g_strdup (lab_bpf_event_kind_to_string (event->kind));
  row->cells[COLUMN_PID] = g_strdup_printf ("%u", event->pid);
  row->cells[COLUMN_COMM] = g_strndup (event->comm, sizeof event->comm);
  row->cells[COLUMN_NAMESPACE] = page_describe_netns (self, event->netns_inode);
  row->cells[COLUMN_DETAIL] = g_strdup (event->detail != NULL ? event->detail : "");
  return row;
}

static void
page_update_counters (LabEventsPage *self)
{
  g_autofree char *text = NULL;

  if (!self->running)
    {
      gtk_label_set_text (self->counters_label, "BPF programs not attached");
      return;
    }
  text = g_strdup_printf ("Events received %" G_GUINT64_FORMAT " · lost %" G_GUINT64_FORMAT
                          " · view keeps the last %d",
                          lab_bpf_events_get_received (self->events),
                          lab_bpf_events_get_lost (self->events), LAB_EVENTS_PAGE_MAX_ROWS);
  gtk_label_set_text (self->counters_label, text);
}

static gboolean
counters_timeout_cb (gpointer user_data)
{
  page_update_counters (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
flush_cb (gpointer user_data)
{
  LabEventsPage *self = user_data;
  guint n_rows = g_list_model_get_n_items (G_LIST_MODEL (self->rows));
  guint excess;

  self->flush_source = 0;
  g_list_store_splice (self->rows, n_rows, 0, self->pending->pdata, self->pending->len);
  g_ptr_array_set_size (self->pending, 0);

  n_rows = g_list_model_get_n_items (G_LIST_MODEL (self->rows));
  excess = n_rows > LAB_EVENTS_PAGE_MAX_ROWS ? n_rows - LAB_EVENTS_PAGE_MAX_ROWS : 0;
  if (excess > 0)
    g_list_store_splice (self->rows, 0, excess, NULL, 0);
  return G_SOURCE_REMOVE;
}

static void
bpf_event_cb (LabBpfEvents *events, gpointer event, LabEventsPage *self)
{
  g_ptr_array_add (self->pending, event_row_new (self, event));
  if (self->pending->len > LAB_EVENTS_PAGE_MAX_ROWS)
    g_ptr_array_remove_index (self->pending, 0);
  if (self->flush_source == 0)
    self->flush_source = g_timeout_add (FLUSH_INTERVAL_MSEC, flush_cb, self);
}

static void
page_set_error (LabEventsPage *self, const char *message)
{
  g_free (self->error);
  self->error = g_strdup (message);
  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
page_set_running (LabEventsPage *self, gboolean running)
{
  self->running = running;
  gtk_button_set_label (self->start_button, running ? "_Stop" : "_Start");
  g_clear_handle_id (&self->counters_source, g_source_remove);
  if (running)
    self->counters_source = g_timeout_add_seconds (1, counters_timeout_cb, self);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "events.toggle", TRUE);
  page_update_counters (self);
}

static void
start_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LabEventsPage) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!lab_bpf_events_start_finish (LAB_BPF_EVENTS (source), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_clear_object (&self->cancellable);
      page_set_error (self, error->message);
      page_set_running (self, FALSE);
      return;
    }
  page_set_running (self, TRUE);
}

void
lab_events_page_start (LabEventsPage *self)
{
  g_return_if_fail (LAB_IS_EVENTS_PAGE (self));

  if (self->running || self->cancellable != NULL)
    return;

  page_set_error (self, NULL);
  gtk_label_set_text (self->counters_label, "Loading BPF programs…");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "events.toggle", FALSE);
  self->cancellable = g_cancellable_new ();
  lab_bpf_events_start_async (self->events, self->cancellable, start_cb, g_object_ref (self));
}

void
lab_events_page_stop (LabEventsPage *self)
{
  g_return_if_fail (LAB_IS_EVENTS_PAGE (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->running)
    lab_bpf_events_stop (self->events);
  page_set_running (self, FALSE);
}

void
lab_events_page_set_machines (LabEventsPage *self, GListModel *machines)
{
  g_return_if_fail (LAB_IS_EVENTS_PAGE (self));

  g_set_object (&self->machines, machines);
}

guint64
lab_events_page_get_received (LabEventsPage *self)
{
  g_return_val_if_fail (LAB_IS_EVENTS_PAGE (self), 0);

  return lab_bpf_events_get_received (self->events);
}

guint64
lab_events_page_get_lost (LabEventsPage *self)
{
  g_return_val_if_fail (LAB_IS_EVENTS_PAGE (self), 0);

  return lab_bpf_events_get_lost (self->events);
}

const char *
lab_events_page_get_error (LabEventsPage *self)
{
  g_return_val_if_fail (LAB_IS_EVENTS_PAGE (self), NULL);

  return self->error;
}

static void
toggle_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  LabEventsPage *self = LAB_EVENTS_PAGE (widget);

  if (self->running)
    lab_events_page_stop (self);
  else
    lab_events_page_start (self);
}

static void
cell_setup_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_list_item_set_child (item, label);
}

static void
cell_bind_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  LabEventRow *row = gtk_list_item_get_item (item);
  Column column = GPOINTER_TO_UINT (user_data);

  gtk_label_set_text (GTK_LABEL (gtk_list_item_get_child (item)), row->cells[column]);
}

static void
page_add_columns (LabEventsPage *self)
{
  for (guint i = 0; i < N_COLUMNS; i++)
    {
      GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
      g_autoptr (GtkColumnViewColumn) column = NULL;

      g_signal_connect (factory, "setup", G_CALLBACK (cell_setup_cb), NULL);
      g_signal_connect (factory, "bind", G_CALLBACK (cell_bind_cb), GUINT_TO_POINTER (i));
      column = gtk_column_view_column_new (column_titles[i], factory);
      gtk_column_view_column_set_resizable (column, TRUE);
      gtk_column_view_column_set_expand (column, i == COLUMN_DETAIL);
      gtk_column_view_append_column (self->column_view, column);
    }
}

static void
lab_events_page_dispose (GObject *object)
{
  LabEventsPage *self = LAB_EVENTS_PAGE (object);

  if (self->events != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
      if (self->running)
        lab_bpf_events_stop (self->events);
      self->running = FALSE;
      g_signal_handlers_disconnect_by_func (self->events, bpf_event_cb, self);
      g_clear_object (&self->events);
    }
  g_clear_handle_id (&self->flush_source, g_source_remove);
  g_clear_handle_id (&self->counters_source, g_source_remove);
  g_clear_object (&self->machines);
  gtk_widget_dispose_template (GTK_WIDGET (self), LAB_TYPE_EVENTS_PAGE);
  G_OBJECT_CLASS (lab_events_page_parent_class)->dispose (object);
}

static void
lab_events_page_finalize (GObject *object)
{
  LabEventsPage *self = LAB_EVENTS_PAGE (object);

  g_clear_pointer (&self->pending, g_ptr_array_unref);
  g_clear_object (&self->rows);
  g_free (self->error);
  G_OBJECT_CLASS (lab_events_page_parent_class)->finalize (object);
}

static void
lab_events_page_class_init (LabEventsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lab_events_page_dispose;
  object_class->finalize = lab_events_page_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/kinvolk/Lab/ui/lab-events-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LabEventsPage, start_button);
  gtk_widget_class_bind_template_child (widget_class, LabEventsPage, counters_label);
  gtk_widget_class_bind_template_child (widget_class, LabEventsPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, LabEventsPage, column_view);

  gtk_widget_class_install_action (widget_class, "events.toggle", NULL, toggle_action);
}

static void
lab_events_page_init (LabEventsPage *self)
{
  g_autoptr (GtkNoSelection) selection = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->rows = g_list_store_new (LAB_TYPE_EVENT_ROW);
  self->pending = g_ptr_array_new_with_free_func (g_object_unref);
  selection = gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->rows)));
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (selection));
  page_add_columns (self);

  self->events = lab_bpf_events_new ();
  g_signal_connect (self->events, "event", G_CALLBACK (bpf_event_cb), self);
}
