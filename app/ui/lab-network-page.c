/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <net/if.h>

#include "lab-network-page-private.h"

#define USEC_PER_MSEC 1000

struct _LabNetworkPage {
  GtkBox parent_instance;

  GtkLabel *title_label;
  GtkListBox *interface_list;
  GtkLabel *interface_label;
  GtkWidget *slider_grid;
  GtkRange *delay_scale;
  GtkRange *jitter_scale;
  GtkRange *loss_scale;
  GtkRange *rate_scale;
  GtkLabel *error_label;
  GtkLabel *state_label;

  LabShapeSession *session;
  LabMachine *machine;
  char *ifname;
  /* Set while sliders are moved by code, so that no request is sent. */
  gboolean syncing;
  /* Sliders already show this interface's values, so a read-back must not move them. */
  gboolean sliders_loaded;
};

G_DEFINE_FINAL_TYPE (LabNetworkPage, lab_network_page, GTK_TYPE_BOX)

guint64
lab_rate_scale_position_to_bps (double position)
{
  double t, raw, unit;

  if (position >= LAB_RATE_SCALE_UNLIMITED - 0.5)
    return 0;

  t = CLAMP (position, 0.0, LAB_RATE_SCALE_UNLIMITED - 1) / (LAB_RATE_SCALE_UNLIMITED - 1);
  raw = (double) LAB_RATE_MIN_BPS * pow ((double) LAB_RATE_MAX_BPS / LAB_RATE_MIN_BPS, t);

  /* Two significant digits, so dragging lands on values such as 1.2Mbit. */
  unit = pow (10.0, floor (log10 (raw)) - 1);
  raw = round (raw / unit) * unit;
  return CLAMP ((guint64) raw, LAB_RATE_MIN_BPS, LAB_RATE_MAX_BPS);
}

double
lab_rate_scale_bps_to_position (guint64 bits_per_second)
{
  double t;

  if (bits_per_second == 0)
    return LAB_RATE_SCALE_UNLIMITED;

  bits_per_second = CLAMP (bits_per_second, LAB_RATE_MIN_BPS, LAB_RATE_MAX_BPS);
  t = log ((double) bits_per_second / LAB_RATE_MIN_BPS)
      / log ((double) LAB_RATE_MAX_BPS / LAB_RATE_MIN_BPS);
  return t * (LAB_RATE_SCALE_UNLIMITED - 1);
}

static char *
format_time_value (GtkScale *scale, double value, gpointer user_data)
{
  guint64 usec = (guint64) llround (value) * USEC_PER_MSEC;

  return usec == 0 ? g_strdup ("off") : lab_format_time (usec);
}

static char *
format_percent_value (GtkScale *scale, double value, gpointer user_data)
{
  return value <= 0.0 ? g_strdup ("off") : lab_format_percent (round (value * 10) / 10);
}

static char *
format_rate_value (GtkScale *scale, double value, gpointer user_data)
{
  guint64 bps = lab_rate_scale_position_to_bps (value);

  return bps == 0 ? g_strdup ("unlimited") : lab_format_rate (bps);
}

static LabImpairment
sliders_get_impairment (LabNetworkPage *self)
{
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;

  impairment.delay_usec = (guint64) llround (gtk_range_get_value (self->delay_scale)) * USEC_PER_MSEC;
  impairment.jitter_usec =
    (guint64) llround (gtk_range_get_value (self->jitter_scale)) * USEC_PER_MSEC;
  impairment.loss_percent = round (gtk_range_get_value (self->loss_scale) * 10) / 10;
  impairment.rate_bps = lab_rate_scale_position_to_bps (gtk_range_get_value (self->rate_scale));
  return impairment;
}

static void
sliders_set_impairment (LabNetworkPage *self, const LabImpairment *impairment)
{
  self->syncing = TRUE;
  gtk_range_set_value (self->delay_scale, (double) impairment->delay_usec / USEC_PER_MSEC);
  gtk_range_set_value (self->jitter_scale, (double) impairment->jitter_usec / USEC_PER_MSEC);
  gtk_range_set_value (self->loss_scale, impairment->loss_percent);
  gtk_range_set_value (self->rate_scale, lab_rate_scale_bps_to_position (impairment->rate_bps));
  self->syncing = FALSE;
}

static LabNetns *
page_get_netns (LabNetworkPage *self)
{
  return self->machine != NULL ? lab_machine_get_netns (self->machine) : NULL;
}

/* Shows the session's read-back state and errors for the chosen interface. */
static void
page_update_state (LabNetworkPage *self)
{
  LabNetns *netns = page_get_netns (self);
  const LabQdiscState *state = NULL;
  const GError *error = NULL;
  const GError *netem_error = NULL;
  LabImpairment desired;
  g_autoptr (GString) errors = g_string_new (NULL);
  g_autofree char *state_text = NULL;

  if (netns == NULL || self->ifname == NULL || self->session == NULL
      || !lab_shape_session_lookup (self->session, netns, self->ifname, &desired, &state, &error,
                                    &netem_error))
    {
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
      gtk_label_set_text (self->state_label, "");
      return;
    }

  if (netem_error != NULL && lab_impairment_needs_netem (&desired))
    g_string_append_printf (errors, "Latency, jitter and loss are not applied: %s",
                            netem_error->message);
  if (error != NULL)
    g_string_append_printf (errors, "%s%s", errors->len > 0 ? "\n" : "", error->message);
  gtk_label_set_text (self->error_label, errors->str);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), errors->len > 0);

  if (state != NULL)
    state_text = g_strdup_printf ("Root qdisc: %s%s", state->summary,
                                  state->has_original ? " (original saved for reset)" : "");
  else
    state_text = g_strdup ("Root qdisc: reading…");
  gtk_label_set_text (self->state_label, state_text);

  if (!self->sliders_loaded && state != NULL)
    {
      self->sliders_loaded = TRUE;
      if (state->ours)
        sliders_set_impairment (self, &state->impairment);
    }
}

static void
session_changed_cb (LabNetworkPage *self, LabNetns *netns, const char *ifname,
                    LabShapeSession *session)
{
  LabNetns *shown_netns = page_get_netns (self);

  if (shown_netns == NULL || self->ifname == NULL || g_strcmp0 (ifname, self->ifname) != 0
      || g_strcmp0 (lab_netns_get_description (netns), lab_netns_get_description (shown_netns)) != 0)
    return;
  page_update_state (self);
}

static void
slider_value_changed_cb (LabNetworkPage *self, GtkRange *range)
{
  LabImpairment impairment;
  LabNetns *netns = page_get_netns (self);

  if (self->syncing || netns == NULL || self->ifname == NULL || self->session == NULL)
    return;

  impairment = sliders_get_impairment (self);
  self->sliders_loaded = TRUE;
  lab_shape_session_request (self->session, netns, self->ifname, &impairment);
  page_update_state (self);
}

static void
page_choose_interface (LabNetworkPage *self, const char *ifname)
{
  LabNetns *netns = page_get_netns (self);
  LabImpairment desired;
  g_autofree char *heading = NULL;

  if (g_strcmp0 (ifname, self->ifname) == 0)
    return;

  g_free (self->ifname);
  self->ifname = g_strdup (ifname);
  self->sliders_loaded = FALSE;

  gtk_widget_set_sensitive (self->slider_grid, ifname != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "network.reset", ifname != NULL);
  if (ifname == NULL)
    {
      gtk_label_set_text (self->interface_label, "Choose an interface to impair its egress");
      sliders_set_impairment (self, &(LabImpairment) LAB_IMPAIRMENT_INIT);
      page_update_state (self);
      return;
    }

  heading = g_strdup_printf ("Egress impairment of '%s'", ifname);
  gtk_label_set_text (self->interface_label, heading);

  /* Sliders show what this UI last requested, else the kernel state once it is read back. */
  if (lab_shape_session_lookup (self->session, netns, ifname, &desired, NULL, NULL, NULL))
    {
      sliders_set_impairment (self, &desired);
      self->sliders_loaded = TRUE;
    }
  else
    {
      sliders_set_impairment (self, &(LabImpairment) LAB_IMPAIRMENT_INIT);
    }
  lab_shape_session_refresh (self->session, netns, ifname);
  page_update_state (self);
}

static void
interface_row_selected_cb (LabNetworkPage *self, GtkListBoxRow *row, GtkListBox *list)
{
  if (row == NULL)
    return;
  page_choose_interface (self, g_object_get_data (G_OBJECT (row), "lab-ifname"));
}

static GtkWidget *
interface_row_new (const LabInterface *iface)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *name_label, *detail_label;
  g_autofree char *name_text = NULL;
  g_autofree char *addresses = NULL;
  g_autofree char *detail = NULL;

  name_text = g_strdup_printf ("%s%s%s%s", iface->name, iface->kind != NULL ? " (" : "",
                               iface->kind != NULL ? iface->kind : "",
                               iface->kind != NULL ? ")" : "");
  addresses = iface->addresses != NULL && iface->addresses[0] != NULL
                ? g_strjoinv (", ", iface->addresses)
                : g_strdup ("no addresses");
  detail = g_strdup_printf ("%s · qdisc %s · %s", addresses,
                            iface->qdisc_kind != NULL ? iface->qdisc_kind : "unknown",
                            (iface->flags & IFF_UP) != 0 ? "up" : "down");

  name_label = gtk_label_new (name_text);
  gtk_label_set_xalign (GTK_LABEL (name_label), 0);
  detail_label = gtk_label_new (detail);
  gtk_label_set_xalign (GTK_LABEL (detail_label), 0);
  gtk_label_set_wrap (GTK_LABEL (detail_label), TRUE);
  gtk_widget_add_css_class (detail_label, "dim-label");
  gtk_box_append (GTK_BOX (box), name_label);
  gtk_box_append (GTK_BOX (box), detail_label);
  gtk_widget_set_margin_top (box, 4);
  gtk_widget_set_margin_bottom (box, 4);
  gtk_widget_set_margin_start (box, 6);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  g_object_set_data_full (G_OBJECT (row), "lab-ifname", g_strdup (iface->name), g_free);
  return row;
}

/* Rebuilds the interface list, keeping the chosen interface when it still exists. */
static void
page_rebuild_interfaces (LabNetworkPage *self)
{
  GPtrArray *interfaces = self->machine != NULL ? lab_machine_get_interfaces (self->machine) : NULL;
  g_autofree char *chosen = g_strdup (self->ifname);
  GtkListBoxRow *chosen_row = NULL;
  GtkListBoxRow *default_row = NULL;
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->interface_list))) != NULL)
    gtk_list_box_remove (self->interface_list, child);

  for (guint i = 0; interfaces != NULL && i < interfaces->len; i++)
    {
      const LabInterface *iface = g_ptr_array_index (interfaces, i);
      GtkWidget *row = interface_row_new (iface);

      gtk_list_box_append (self->interface_list, row);
      if (g_strcmp0 (iface->name, chosen) == 0)
        chosen_row = GTK_LIST_BOX_ROW (row);
      if (default_row == NULL && !lab_interface_is_loopback (iface))
        default_row = GTK_LIST_BOX_ROW (row);
    }

  if (chosen_row == NULL)
    chosen_row = default_row;
  if (chosen_row != NULL)
    gtk_list_box_select_row (self->interface_list, chosen_row);
  else
    page_choose_interface (self, NULL);
}

static void
page_update_title (LabNetworkPage *self)
{
  g_autofree char *title = NULL;

  if (self->machine == NULL)
    {
      gtk_label_set_text (self->title_label, "No machine selected");
      return;
    }
  title = g_strdup_printf ("Interfaces of '%s'%s", lab_machine_get_name (self->machine),
                           lab_machine_get_interfaces (self->machine) == NULL ? " (loading…)" : "");
  gtk_label_set_text (self->title_label, title);
}

static void
machine_interfaces_notify_cb (LabNetworkPage *self, GParamSpec *pspec, LabMachine *machine)
{
  page_update_title (self);
  page_rebuild_interfaces (self);
}

void
lab_network_page_set_machine (LabNetworkPage *self, LabMachine *machine)
{
  g_return_if_fail (LAB_IS_NETWORK_PAGE (self));

  if (self->machine == machine)
    return;

  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_func (self->machine, machine_interfaces_notify_cb, self);
  g_set_object (&self->machine, machine);
  page_choose_interface (self, NULL);
  page_update_title (self);
  if (machine != NULL)
    g_signal_connect_object (machine, "notify::interfaces", G_CALLBACK (machine_interfaces_notify_cb),
                           self, G_CONNECT_SWAPPED);
  page_rebuild_interfaces (self);
}

void
lab_network_page_set_session (LabNetworkPage *self, LabShapeSession *session)
{
  g_return_if_fail (LAB_IS_NETWORK_PAGE (self));

  if (self->session != NULL)
    g_signal_handlers_disconnect_by_func (self->session, session_changed_cb, self);
  g_set_object (&self->session, session);
  if (session != NULL)
    g_signal_connect_object (session, "changed", G_CALLBACK (session_changed_cb), self,
                             G_CONNECT_SWAPPED);
}

GtkRange *
lab_network_page_get_delay_scale (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), NULL);

  return self->delay_scale;
}

GtkRange *
lab_network_page_get_rate_scale (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), NULL);

  return self->rate_scale;
}

const char *
lab_network_page_get_ifname (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), NULL);

  return self->ifname;
}

static void
reset_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  LabNetworkPage *self = LAB_NETWORK_PAGE (widget);
  LabNetns *netns = page_get_netns (self);

  if (netns == NULL || self->ifname == NULL || self->session == NULL)
    return;

  sliders_set_impairment (self, &(LabImpairment) LAB_IMPAIRMENT_INIT);
  lab_shape_session_reset (self->session, netns, self->ifname);
  page_update_state (self);
}

static void
lab_network_page_dispose (GObject *object)
{
  LabNetworkPage *self = LAB_NETWORK_PAGE (object);

  lab_network_page_set_machine (self, NULL);
  lab_network_page_set_session (self, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), LAB_TYPE_NETWORK_PAGE);
  G_OBJECT_CLASS (lab_network_page_parent_class)->dispose (object);
}

static void
lab_network_page_finalize (GObject *object)
{
  LabNetworkPage *self = LAB_NETWORK_PAGE (object);

  g_free (self->ifname);
  G_OBJECT_CLASS (lab_network_page_parent_class)->finalize (object);
}

static void
lab_network_page_class_init (LabNetworkPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lab_network_page_dispose;
  object_class->finalize = lab_network_page_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/kinvolk/Lab/ui/lab-network-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, title_label);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, interface_list);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, interface_label);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, slider_grid);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, delay_scale);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, jitter_scale);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, loss_scale);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, rate_scale);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, state_label);
  gtk_widget_class_bind_template_callback (widget_class, interface_row_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, slider_value_changed_cb);

  gtk_widget_class_install_action (widget_class, "network.reset", NULL, reset_action);
}

/* Gives every slider's value label one width, so the four tracks line up. */
static void
install_value_css (void)
{
  static gboolean installed;
  g_autoptr (GtkCssProvider) provider = NULL;

  if (installed)
    return;
  installed = TRUE;
  provider = gtk_css_provider_new ();
  gtk_css_provider_load_from_data (provider, "scale.lab-impairment > value { min-width: 6em; }",
                                   -1);
  gtk_style_context_add_provider_for_display (gdk_display_get_default (),
                                              GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
}

static void
lab_network_page_init (LabNetworkPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  install_value_css ();

  gtk_scale_set_format_value_func (GTK_SCALE (self->delay_scale), format_time_value, NULL, NULL);
  gtk_scale_set_format_value_func (GTK_SCALE (self->jitter_scale), format_time_value, NULL, NULL);
  gtk_scale_set_format_value_func (GTK_SCALE (self->loss_scale), format_percent_value, NULL, NULL);
  gtk_scale_set_format_value_func (GTK_SCALE (self->rate_scale), format_rate_value, NULL, NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "network.reset", FALSE);
}

