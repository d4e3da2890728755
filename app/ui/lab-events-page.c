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

/*
 * An event as received. A flush formats it into a LabEventRow, so events that a
 * flood pushes out before the next flush cost no formatting.
 */
typedef struct {
  LabBpfEventKind kind;
  guint32 pid;
  gint64 realtime_usec;
  guint64 netns_inode;
  char comm[16];
  char *detail;
} PendingEvent;

/* State shared by the rows of one flush. */
typedef struct {
  gint64 second; /* Unix time that second_text shows */
  char *second_text;
  gboolean names_rebuilt;
} FlushContext;

struct _LabEventsPage {
  GtkBox parent_instance;

  GtkButton *start_button;
  GtkLabel *counters_label;
  GtkLabel *error_label;
  GtkColumnView *column_view;
  GtkScrolledWindow *scroller;
  /* The view is at its newest row, so rows added later scroll into view. */
  gboolean following;
  /* Set while the page itself scrolls, so that scroll does not count as the user's. */
  gboolean scrolling_to_end;

  GListStore *rows;
  /* Ring buffer of LAB_EVENTS_PAGE_MAX_ROWS slots; the oldest event is overwritten when full. */
  PendingEvent *pending;
  guint pending_start;
  guint pending_length;
  GListModel *machines;
  GHashTable *netns_names; /* guint64 inode → machine name, cleared when the machines change */
  LabBpfEvents *events;
  GCancellable *cancellable;
  guint flush_source;
  guint counters_source;
  gboolean running;
  char *error;
};

G_DEFINE_FINAL_TYPE (LabEventsPage, lab_events_page, GTK_TYPE_BOX)

static void
page_rebuild_netns_names (LabEventsPage *self)
{
  guint n = self->machines != NULL ? g_list_model_get_n_items (self->machines) : 0;

  g_hash_table_remove_all (self->netns_names);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (self->machines, i);
      guint64 inode = lab_machine_get_netns_inode (machine);

      /* When machines share a namespace, the first in the list names it. */
      if (inode != 0 && !g_hash_table_contains (self->netns_names, &inode))
        g_hash_table_insert (self->netns_names, g_memdup2 (&inode, sizeof inode),
                             g_strdup (lab_machine_get_name (machine)));
    }
}

/*
 * Names the namespace by the machine that lives in it, else by its inode. A
 * machine's inode is probed after it joins the list, so a miss rebuilds the
 * cache, at most once per flush.
 */
static char *
page_describe_netns (LabEventsPage *self, guint64 inode, FlushContext *context)
{
  const char *name = g_hash_table_lookup (self->netns_names, &inode);

  if (name == NULL && inode != 0 && !context->names_rebuilt)
    {
      page_rebuild_netns_names (self);
      context->names_rebuilt = TRUE;
      name = g_hash_table_lookup (self->netns_names, &inode);
    }
  if (name != NULL)
    return g_strdup (name);
  return g_strdup_printf ("net:[%" G_GUINT64_FORMAT "]", inode);
}

static const char *
flush_context_format_second (FlushContext *context, gint64 second)
{
  g_autoptr (GDateTime) time = NULL;

  if (context->second_text != NULL && context->second == second)
    return context->second_text;
  g_clear_pointer (&context->second_text, g_free);
  time = g_date_time_new_from_unix_local (second);
  context->second = second;
  context->second_text = time != NULL ? g_date_time_format (time, "%H:%M:%S") : g_strdup ("?");
  return context->second_text;
}

static LabEventRow *
event_row_new (LabEventsPage *self, PendingEvent *event, FlushContext *context)
{
  LabEventRow *row = g_object_new (LAB_TYPE_EVENT_ROW, NULL);
  const char *second = flush_context_format_second (context,
                                                     event->realtime_usec / G_USEC_PER_SEC);

  row->cells[COLUMN_TIME] =
    g_strdup_printf ("%s.%03d", second, (int) ((event->realtime_usec / 1000) % 1000));
  row->cells[COLUMN_KIND] = g_strdup (lab_bpf_event_kind_to_string (event->kind));
  row->cells[COLUMN_PID] = g_strdup_printf ("%u", event->pid);
  /* The kernel cuts comm at 15 bytes, which can split a multibyte character. */
  row->cells[COLUMN_COMM] = g_utf8_make_valid (event->comm, strnlen (event->comm,
                                                                     sizeof event->comm));
  row->cells[COLUMN_NAMESPACE] = page_describe_netns (self, event->netns_inode, context);
  row->cells[COLUMN_DETAIL] = event->detail != NULL ? g_steal_pointer (&event->detail)
                                                    : g_strdup ("");
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
  g_autoptr (GPtrArray) added = g_ptr_array_new_full (self->pending_length, g_object_unref);
  FlushContext context = { 0 };
  guint excess;

  self->flush_source = 0;
  for (guint i = 0; i < self->pending_length; i++)
    {
      PendingEvent *event = &self->pending[(self->pending_start + i) % LAB_EVENTS_PAGE_MAX_ROWS];

      g_ptr_array_add (added, event_row_new (self, event, &context));
    }
  g_free (context.second_text);
  self->pending_start = 0;
  self->pending_length = 0;
  g_list_store_splice (self->rows, n_rows, 0, added->pdata, added->len);

  n_rows = g_list_model_get_n_items (G_LIST_MODEL (self->rows));
  excess = n_rows > LAB_EVENTS_PAGE_MAX_ROWS ? n_rows - LAB_EVENTS_PAGE_MAX_ROWS : 0;
  if (excess > 0)
    g_list_store_splice (self->rows, 0, excess, NULL, 0);
  /* Keep the counters in step with the rows shown, not a second behind. */
  page_update_counters (self);
  return G_SOURCE_REMOVE;
}

/* A scroll up by the user stops following the newest row; a scroll back to the bottom resumes. */
static void
scroll_value_changed_cb (LabEventsPage *self, GtkAdjustment *adjustment)
{
  double bottom = gtk_adjustment_get_upper (adjustment) - gtk_adjustment_get_page_size (adjustment);

  if (self->scrolling_to_end)
    return;
  /* One pixel of slack, so that a rounded position still counts as the bottom. */
  self->following = gtk_adjustment_get_value (adjustment) >= bottom - 1.0;
}

/* New rows grow the adjustment's upper bound; a following view moves down with it. */
static void
scroll_changed_cb (LabEventsPage *self, GtkAdjustment *adjustment)
{
  if (!self->following)
    return;
  self->scrolling_to_end = TRUE;
  gtk_adjustment_set_value (adjustment, gtk_adjustment_get_upper (adjustment)
                                          - gtk_adjustment_get_page_size (adjustment));
  self->scrolling_to_end = FALSE;
}

static void
page_clear_pending (LabEventsPage *self)
{
  for (guint i = 0; i < self->pending_length; i++)
    g_free (self->pending[(self->pending_start + i) % LAB_EVENTS_PAGE_MAX_ROWS].detail);
  self->pending_start = 0;
  self->pending_length = 0;
}

/* Copies the event into the ring buffer in constant time; formatting waits for the flush. */
static void
bpf_event_cb (LabBpfEvents *events, gpointer event_pointer, LabEventsPage *self)
{
  const LabBpfEvent *event = event_pointer;
  PendingEvent *slot;

  if (self->pending_length == LAB_EVENTS_PAGE_MAX_ROWS)
    {
      slot = &self->pending[self->pending_start];
      g_free (slot->detail);
      self->pending_start = (self->pending_start + 1) % LAB_EVENTS_PAGE_MAX_ROWS;
    }
  else
    {
      slot = &self->pending[(self->pending_start + self->pending_length)
                            % LAB_EVENTS_PAGE_MAX_ROWS];
      self->pending_length++;
    }
  slot->kind = event->kind;
  slot->pid = event->pid;
  slot->realtime_usec = event->realtime_usec;
  slot->netns_inode = event->netns_inode;
  memcpy (slot->comm, event->comm, sizeof slot->comm);
  slot->comm[sizeof slot->comm - 1] = '\0';
  slot->detail = g_strdup (event->detail);

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
  /* Also while a start is in flight, so its programs are detached and a new start may follow. */
  lab_bpf_events_stop (self->events);
  page_set_running (self, FALSE);
}

static void
machines_changed_cb (GListModel *machines, guint position, guint removed, guint added,
                     LabEventsPage *self)
{
  g_hash_table_remove_all (self->netns_names);
}

void
lab_events_page_set_machines (LabEventsPage *self, GListModel *machines)
{
  g_return_if_fail (LAB_IS_EVENTS_PAGE (self));

  if (self->machines == machines)
    return;
  if (self->machines != NULL)
    g_signal_handlers_disconnect_by_func (self->machines, machines_changed_cb, self);
  g_set_object (&self->machines, machines);
  if (self->machines != NULL)
    g_signal_connect (self->machines, "items-changed", G_CALLBACK (machines_changed_cb), self);
  g_hash_table_remove_all (self->netns_names);
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
      lab_bpf_events_stop (self->events);
      self->running = FALSE;
      g_signal_handlers_disconnect_by_func (self->events, bpf_event_cb, self);
      g_clear_object (&self->events);
    }
  g_clear_handle_id (&self->flush_source, g_source_remove);
  g_clear_handle_id (&self->counters_source, g_source_remove);
  if (self->machines != NULL)
    g_signal_handlers_disconnect_by_func (self->machines, machines_changed_cb, self);
  g_clear_object (&self->machines);
  page_clear_pending (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), LAB_TYPE_EVENTS_PAGE);
  G_OBJECT_CLASS (lab_events_page_parent_class)->dispose (object);
}

static void
lab_events_page_finalize (GObject *object)
{
  LabEventsPage *self = LAB_EVENTS_PAGE (object);

  page_clear_pending (self);
  g_clear_pointer (&self->pending, g_free);
  g_clear_pointer (&self->netns_names, g_hash_table_unref);
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
  gtk_widget_class_bind_template_child (widget_class, LabEventsPage, scroller);

  gtk_widget_class_install_action (widget_class, "events.toggle", NULL, toggle_action);
}

static void
lab_events_page_init (LabEventsPage *self)
{
  g_autoptr (GtkNoSelection) selection = NULL;
  GtkAdjustment *vadjustment;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->rows = g_list_store_new (LAB_TYPE_EVENT_ROW);
  self->pending = g_new0 (PendingEvent, LAB_EVENTS_PAGE_MAX_ROWS);
  self->netns_names = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  selection = gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->rows)));
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (selection));
  page_add_columns (self);

  self->following = TRUE;
  vadjustment = gtk_scrolled_window_get_vadjustment (self->scroller);
  g_signal_connect_object (vadjustment, "value-changed", G_CALLBACK (scroll_value_changed_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (vadjustment, "changed", G_CALLBACK (scroll_changed_cb), self,
                           G_CONNECT_SWAPPED);

  self->events = lab_bpf_events_new ();
  g_signal_connect (self->events, "event", G_CALLBACK (bpf_event_cb), self);
}
