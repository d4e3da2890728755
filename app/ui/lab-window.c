/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-window-private.h"

#include "lab-events-page.h"
#include "lab-network-page.h"
#include "lab-terminal-page.h"
#include "lab-trace-page.h"

struct _LabWindow {
  GtkApplicationWindow parent_instance;

  GtkListView *machine_view;
  GtkLabel *banner_label;
  GtkLabel *machined_label;
  GtkLabel *subtitle_label;
  GtkStack *stack;
  LabNetworkPage *network_page;
  LabTracePage *trace_page;
  LabEventsPage *events_page;
  LabTerminalPage *terminal_page;

  LabMachineMonitor *monitor;
  LabShapeSession *session;
  GtkSingleSelection *selection;
  char *pending_select;   /* machine to select once it appears */
  char *pending_terminal; /* machine to open a terminal in once it appears */
  /* The machine shown last, kept to tell its removal from an empty list at startup. */
  LabMachine *shown_machine;
  /* Set once a machine was selected, so that the first machine is only picked at startup. */
  gboolean had_selection;
};

G_DEFINE_FINAL_TYPE (LabWindow, lab_window, GTK_TYPE_APPLICATION_WINDOW)

static gboolean
window_find_machine (LabWindow *self, const char *name, guint *out_position)
{
  GListModel *model = G_LIST_MODEL (self->monitor);
  guint n = g_list_model_get_n_items (model);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (model, i);

      if (g_strcmp0 (lab_machine_get_name (machine), name) == 0)
        {
          *out_position = i;
          return TRUE;
        }
    }
  return FALSE;
}

/* Runs what waited for a machine to appear in the list. */
static void
window_apply_pending (LabWindow *self)
{
  guint position;

  if (self->pending_select != NULL && window_find_machine (self, self->pending_select, &position))
    {
      g_clear_pointer (&self->pending_select, g_free);
      gtk_single_selection_set_selected (self->selection, position);
    }

  if (self->pending_terminal != NULL
      && window_find_machine (self, self->pending_terminal, &position))
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (G_LIST_MODEL (self->monitor),
                                                              position);

      g_clear_pointer (&self->pending_terminal, g_free);
      lab_terminal_page_open (self->terminal_page, machine);
    }
}

static void
window_update_machined_label (LabWindow *self)
{
  const char *status = lab_machine_monitor_get_machined_status (self->monitor);

  gtk_label_set_text (self->machined_label, status != NULL ? status : "");
  gtk_widget_set_visible (GTK_WIDGET (self->machined_label), status != NULL);
}

static void
machines_changed_cb (LabWindow *self, guint position, guint removed, guint added,
                     GListModel *model)
{
  /* Autoselect is off, so that a removal never moves the selection to another machine. */
  if (!self->had_selection && self->pending_select == NULL
      && g_list_model_get_n_items (model) > 0)
    gtk_single_selection_set_selected (self->selection, 0);
  window_apply_pending (self);
  window_update_machined_label (self);
}

/* Names the selected machine in the header bar and in the title the window manager shows. */
static void
window_update_title (LabWindow *self)
{
  LabMachine *machine = gtk_single_selection_get_selected_item (self->selection);
  g_autofree char *title = NULL;

  if (machine == NULL)
    {
      gtk_window_set_title (GTK_WINDOW (self), "Lab");
      gtk_label_set_text (self->subtitle_label, "No machine selected");
      return;
    }
  title = g_strdup_printf ("Lab — %s", lab_machine_get_name (machine));
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_label_set_text (self->subtitle_label, lab_machine_get_name (machine));
}

static gboolean
window_has_machine (LabWindow *self, LabMachine *machine)
{
  GListModel *model = G_LIST_MODEL (self->monitor);
  guint n = g_list_model_get_n_items (model);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LabMachine) item = g_list_model_get_item (model, i);

      if (item == machine)
        return TRUE;
    }
  return FALSE;
}

static void
selected_machine_notify_cb (LabWindow *self, GParamSpec *pspec, GtkSingleSelection *selection)
{
  LabMachine *machine = gtk_single_selection_get_selected_item (selection);
  g_autoptr (LabMachine) previous = g_steal_pointer (&self->shown_machine);

  lab_network_page_set_machine (self->network_page, machine);
  if (machine != NULL)
    {
      self->had_selection = TRUE;
      self->shown_machine = g_object_ref (machine);
    }
  else if (previous != NULL && !window_has_machine (self, previous))
    {
      lab_network_page_show_machine_gone (self->network_page, lab_machine_get_name (previous));
    }
  window_update_title (self);
}

static void
machine_row_setup_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *name_label = gtk_label_new (NULL);
  GtkWidget *detail_label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (name_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name_label), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (name_label, "heading");
  gtk_label_set_xalign (GTK_LABEL (detail_label), 0);
  gtk_label_set_wrap (GTK_LABEL (detail_label), TRUE);
  gtk_widget_add_css_class (detail_label, "dim-label");
  gtk_box_append (GTK_BOX (box), name_label);
  gtk_box_append (GTK_BOX (box), detail_label);
  gtk_widget_set_margin_top (box, 4);
  gtk_widget_set_margin_bottom (box, 4);
  gtk_list_item_set_child (item, box);
}

static void
machine_row_update (GtkListItem *item)
{
  LabMachine *machine = gtk_list_item_get_item (item);
  GtkWidget *name_label = gtk_widget_get_first_child (gtk_list_item_get_child (item));
  GtkWidget *detail_label = gtk_widget_get_next_sibling (name_label);
  const char *klass = lab_machine_get_class (machine);
  g_autoptr (GString) detail = g_string_new (lab_machine_source_to_string (
    lab_machine_get_source (machine)));

  if (klass != NULL)
    g_string_append_printf (detail, " · %s", klass);
  if (lab_machine_get_shares_host_network (machine))
    g_string_append (detail, " · shares host network");

  gtk_label_set_text (GTK_LABEL (name_label), lab_machine_get_name (machine));
  gtk_label_set_text (GTK_LABEL (detail_label), detail->str);
}

static void
machine_row_notify_cb (GtkListItem *item, GParamSpec *pspec, LabMachine *machine)
{
  machine_row_update (item);
}

/* A machine's class and network sharing may arrive after it is listed, so the row follows it. */
static void
machine_row_bind_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  LabMachine *machine = gtk_list_item_get_item (item);

  g_signal_connect_object (machine, "notify", G_CALLBACK (machine_row_notify_cb), item,
                           G_CONNECT_SWAPPED);
  machine_row_update (item);
}

static void
machine_row_unbind_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer user_data)
{
  g_signal_handlers_disconnect_by_func (gtk_list_item_get_item (item), machine_row_notify_cb,
                                        item);
}

static void
open_terminal_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  LabWindow *self = LAB_WINDOW (widget);
  LabMachine *machine = gtk_single_selection_get_selected_item (self->selection);

  if (machine == NULL)
    return;
  lab_terminal_page_open (self->terminal_page, machine);
  gtk_stack_set_visible_child_name (self->stack, "terminal");
}

void
lab_window_select_machine (LabWindow *self, const char *name)
{
  g_return_if_fail (LAB_IS_WINDOW (self));

  g_free (self->pending_select);
  self->pending_select = g_strdup (name);
  window_apply_pending (self);
}

void
lab_window_open_terminal (LabWindow *self, const char *name)
{
  g_return_if_fail (LAB_IS_WINDOW (self));

  g_free (self->pending_terminal);
  self->pending_terminal = g_strdup (name);
  window_apply_pending (self);
}

void
lab_window_start_tracing (LabWindow *self)
{
  g_return_if_fail (LAB_IS_WINDOW (self));

  lab_trace_page_start (self->trace_page);
  lab_events_page_start (self->events_page);
}

void
lab_window_stop_tracing (LabWindow *self)
{
  g_return_if_fail (LAB_IS_WINDOW (self));

  lab_trace_page_stop (self->trace_page);
  lab_events_page_stop (self->events_page);
}

void
lab_window_show_error (LabWindow *self, const char *message)
{
  g_return_if_fail (LAB_IS_WINDOW (self));

  gtk_label_set_text (self->banner_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->banner_label), message != NULL);
}

void
lab_window_append_status (LabWindow *self, GString *status)
{
  LabMachine *machine;
  const char *trace_error;
  const char *events_error;

  g_return_if_fail (LAB_IS_WINDOW (self));

  machine = gtk_single_selection_get_selected_item (self->selection);
  trace_error = lab_trace_page_get_error (self->trace_page);
  events_error = lab_events_page_get_error (self->events_page);
  g_string_append_printf (status, "selected=%s\n",
                          machine != NULL ? lab_machine_get_name (machine) : "");
  g_string_append_printf (status, "machines=%u\n",
                          g_list_model_get_n_items (G_LIST_MODEL (self->monitor)));
  g_string_append_printf (status, "trace_lines=%" G_GUINT64_FORMAT "\n",
                          lab_trace_page_get_lines_read (self->trace_page));
  g_string_append_printf (status, "trace_error=%s\n", trace_error != NULL ? trace_error : "");
  g_string_append_printf (status, "events=%" G_GUINT64_FORMAT "\n",
                          lab_events_page_get_received (self->events_page));
  g_string_append_printf (status, "events_lost=%" G_GUINT64_FORMAT "\n",
                          lab_events_page_get_lost (self->events_page));
  g_string_append_printf (status, "events_error=%s\n", events_error != NULL ? events_error : "");
  g_string_append_printf (status, "terminal_prompt=%d\n",
                          lab_terminal_page_shows_prompt (self->terminal_page));
  g_string_append_printf (status, "impaired_interfaces=%u\n",
                          lab_shape_session_get_n_changed (self->session));
}

LabNetworkPage *
lab_window_get_network_page (LabWindow *self)
{
  g_return_val_if_fail (LAB_IS_WINDOW (self), NULL);

  return self->network_page;
}

/* Finds the name label of @name's row among @widget and its descendants. */
static GtkWidget *
find_machine_name_label (GtkWidget *widget, const char *name)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_has_css_class (widget, "heading")
      && g_strcmp0 (gtk_label_get_text (GTK_LABEL (widget)), name) == 0)
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_machine_name_label (child, name);

      if (found != NULL)
        return found;
    }
  return NULL;
}

char *
lab_window_dup_machine_row_detail (LabWindow *self, const char *name)
{
  GtkWidget *name_label;

  g_return_val_if_fail (LAB_IS_WINDOW (self), NULL);

  name_label = find_machine_name_label (GTK_WIDGET (self->machine_view), name);
  if (name_label == NULL)
    return NULL;
  return g_strdup (gtk_label_get_text (GTK_LABEL (gtk_widget_get_next_sibling (name_label))));
}

LabMachine *
lab_window_get_selected_machine (LabWindow *self)
{
  g_return_val_if_fail (LAB_IS_WINDOW (self), NULL);

  return gtk_single_selection_get_selected_item (self->selection);
}

void
lab_window_show_page (LabWindow *self, const char *name)
{
  g_return_if_fail (LAB_IS_WINDOW (self));

  gtk_stack_set_visible_child_name (self->stack, name);
}

gboolean
lab_window_terminal_shows_prompt (LabWindow *self)
{
  g_return_val_if_fail (LAB_IS_WINDOW (self), FALSE);

  return lab_terminal_page_shows_prompt (self->terminal_page);
}

static void
window_set_models (LabWindow *self, LabMachineMonitor *monitor, LabShapeSession *session)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();

  self->monitor = g_object_ref (monitor);
  self->session = g_object_ref (session);
  lab_network_page_set_session (self->network_page, session);
  lab_events_page_set_machines (self->events_page, G_LIST_MODEL (monitor));

  self->selection = gtk_single_selection_new (G_LIST_MODEL (g_object_ref (monitor)));
  gtk_single_selection_set_autoselect (self->selection, FALSE);
  gtk_single_selection_set_can_unselect (self->selection, TRUE);
  g_signal_connect_object (self->selection, "notify::selected-item",
                           G_CALLBACK (selected_machine_notify_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (monitor, "items-changed", G_CALLBACK (machines_changed_cb), self,
                           G_CONNECT_SWAPPED);

  g_signal_connect (factory, "setup", G_CALLBACK (machine_row_setup_cb), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (machine_row_bind_cb), NULL);
  g_signal_connect (factory, "unbind", G_CALLBACK (machine_row_unbind_cb), NULL);
  gtk_list_view_set_factory (self->machine_view, factory);
  g_object_unref (factory);
  gtk_list_view_set_model (self->machine_view, GTK_SELECTION_MODEL (self->selection));

  machines_changed_cb (self, 0, 0, 0, G_LIST_MODEL (monitor));
  selected_machine_notify_cb (self, NULL, self->selection);
  window_update_machined_label (self);
}

LabWindow *
lab_window_new (GtkApplication *application, LabMachineMonitor *monitor,
                LabShapeSession *session)
{
  LabWindow *self;

  g_return_val_if_fail (LAB_IS_MACHINE_MONITOR (monitor), NULL);
  g_return_val_if_fail (LAB_IS_SHAPE_SESSION (session), NULL);

  self = g_object_new (LAB_TYPE_WINDOW, "application", application, NULL);
  window_set_models (self, monitor, session);
  return self;
}

static void
lab_window_dispose (GObject *object)
{
  LabWindow *self = LAB_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), LAB_TYPE_WINDOW);
  g_clear_object (&self->selection);
  g_clear_object (&self->shown_machine);
  g_clear_object (&self->monitor);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (lab_window_parent_class)->dispose (object);
}

static void
lab_window_finalize (GObject *object)
{
  LabWindow *self = LAB_WINDOW (object);

  g_free (self->pending_select);
  g_free (self->pending_terminal);
  G_OBJECT_CLASS (lab_window_parent_class)->finalize (object);
}

static void
lab_window_class_init (LabWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lab_window_dispose;
  object_class->finalize = lab_window_finalize;

  g_type_ensure (LAB_TYPE_NETWORK_PAGE);
  g_type_ensure (LAB_TYPE_TRACE_PAGE);
  g_type_ensure (LAB_TYPE_EVENTS_PAGE);
  g_type_ensure (LAB_TYPE_TERMINAL_PAGE);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/kinvolk/Lab/ui/lab-window.ui");
  gtk_widget_class_bind_template_child (widget_class, LabWindow, machine_view);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, banner_label);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, machined_label);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, subtitle_label);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, network_page);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, trace_page);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, events_page);
  gtk_widget_class_bind_template_child (widget_class, LabWindow, terminal_page);

  gtk_widget_class_install_action (widget_class, "win.open-terminal", NULL, open_terminal_action);
}

static void
lab_window_init (LabWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
