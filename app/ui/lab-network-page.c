/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <net/if.h>

#include "lab-network-page-private.h"

#define USEC_PER_MSEC 1000
/* How often the shown interface's root qdisc and the interface list are read back. */
#define POLL_INTERVAL_MSEC 1000
/*
 * An apply that the read-back has not confirmed counts as in flight for this
 * long after the last request or "changed" emission, so that a kernel that
 * stores a slightly different value cannot stop the polling for good.
 */
#define APPLY_SETTLE_USEC (2 * G_USEC_PER_SEC)

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
  GtkLabel *netem_hint_label;
  GtkLabel *error_label;
  GtkLabel *state_label;

  LabShapeSession *session;
  LabMachine *machine;
  char *ifname;
  /* Set while sliders are moved by code, so that no request is sent. */
  gboolean syncing;
  /* A pointer button or touch is down on one of the sliders. */
  gboolean dragging;
  /* The drag began with a touch, which sets no button in the pointer's modifier mask. */
  gboolean dragging_by_touch;
  /* The machine that was shown until it disappeared, for the notice; NULL otherwise. */
  char *gone_machine;

  /* Latest root qdisc of the shown interface, from the session or from a poll. */
  LabQdiscState *state;
  GError *read_error;

  guint poll_id;
  /* Cancels the reads of the shown machine and interface; replaced when they change. */
  GCancellable *poll_cancellable;
  gboolean read_in_flight;
  gboolean list_in_flight;
  /* Counts requests, so that a read that started before one is dropped. */
  guint request_serial;

  /* The last request, not yet confirmed by a read-back. */
  gboolean apply_pending;
  LabImpairment requested;
  gint64 apply_activity_usec;

  /* The kernel rejected netem once; the reason is kept for the hint's tooltip. */
  char *netem_reason;
};

G_DEFINE_FINAL_TYPE (LabNetworkPage, lab_network_page, GTK_TYPE_BOX)

/* A poll started for the page; dropped without effect once its cancellable is cancelled. */
typedef struct {
  LabNetworkPage *self;
  GCancellable *cancellable;
  guint request_serial;
  /* The session's call serial of the shown interface when a qdisc read started. */
  guint call_serial;
} PollCall;

static PollCall *
poll_call_new (LabNetworkPage *self)
{
  PollCall *call = g_new0 (PollCall, 1);

  call->self = g_object_ref (self);
  call->cancellable = g_object_ref (self->poll_cancellable);
  call->request_serial = self->request_serial;
  return call;
}

static void
poll_call_free (PollCall *call)
{
  g_object_unref (call->self);
  g_object_unref (call->cancellable);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PollCall, poll_call_free)
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

  impairment.delay_usec =
    (guint64) llround (gtk_range_get_value (self->delay_scale)) * USEC_PER_MSEC;
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

/* Rounds @bits_per_second to the rate a slider position gives, so values compare as displayed. */
static guint64
rate_as_shown (guint64 bits_per_second)
{
  return lab_rate_scale_position_to_bps (lab_rate_scale_bps_to_position (bits_per_second));
}

/* TRUE when the sliders would show @a and @b alike; netem fields count only when netem works. */
static gboolean
page_impairment_shown_equal (LabNetworkPage *self, const LabImpairment *a, const LabImpairment *b)
{
  if (rate_as_shown (a->rate_bps) != rate_as_shown (b->rate_bps))
    return FALSE;
  if (self->netem_reason != NULL)
    return TRUE;
  return llround ((double) a->delay_usec / USEC_PER_MSEC)
           == llround ((double) b->delay_usec / USEC_PER_MSEC)
         && llround ((double) a->jitter_usec / USEC_PER_MSEC)
              == llround ((double) b->jitter_usec / USEC_PER_MSEC)
         && llround (a->loss_percent * 10) == llround (b->loss_percent * 10);
}

/* TRUE while a request or reset from this page may still be on its way to the kernel. */
static gboolean
page_apply_in_flight (LabNetworkPage *self)
{
  if (self->apply_pending
      && g_get_monotonic_time () - self->apply_activity_usec > APPLY_SETTLE_USEC)
    self->apply_pending = FALSE;
  return self->apply_pending;
}

static void
page_mark_apply_pending (LabNetworkPage *self, const LabImpairment *requested)
{
  self->request_serial++;
  self->apply_pending = TRUE;
  self->requested = *requested;
  self->apply_activity_usec = g_get_monotonic_time ();
}

/* "qdisc tbf", or "no root qdisc" for a NULL kind and for read-back's "none". */
static char *
format_qdisc_kind (const char *kind)
{
  if (kind == NULL || g_str_equal (kind, "none"))
    return g_strdup ("no root qdisc");
  return g_strdup_printf ("qdisc %s", kind);
}

static void
row_update_detail (GtkListBoxRow *row, const char *qdisc_kind)
{
  const LabInterface *iface = g_object_get_data (G_OBJECT (row), "lab-interface");
  GtkLabel *detail_label = g_object_get_data (G_OBJECT (row), "lab-detail-label");
  g_autofree char *addresses = NULL;
  g_autofree char *qdisc_text = format_qdisc_kind (qdisc_kind);
  g_autofree char *detail = NULL;

  addresses = iface->addresses != NULL && iface->addresses[0] != NULL
                ? g_strjoinv (", ", iface->addresses)
                : g_strdup ("no addresses");
  detail = g_strdup_printf ("%s · %s · %s", addresses, qdisc_text,
                            (iface->flags & IFF_UP) != 0 ? "up" : "down");
  gtk_label_set_text (detail_label, detail);
}

/* The shown interface's row takes the qdisc kind of the latest read-back, so both lines agree. */
static void
page_update_chosen_row (LabNetworkPage *self)
{
  GtkListBoxRow *row = gtk_list_box_get_selected_row (self->interface_list);

  if (row == NULL || self->state == NULL
      || g_strcmp0 (g_object_get_data (G_OBJECT (row), "lab-ifname"), self->ifname) != 0)
    return;
  row_update_detail (row, self->state->kind);
}

/* Shows the read-back state, the errors and the netem hint for the chosen interface. */
static void
page_update_state (LabNetworkPage *self)
{
  LabNetns *netns = page_get_netns (self);
  const GError *error = NULL;
  g_autoptr (GString) errors = g_string_new (NULL);
  g_autofree char *state_text = NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->netem_hint_label), self->netem_reason != NULL);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->netem_hint_label), self->netem_reason);

  if (netns == NULL || self->ifname == NULL || self->session == NULL)
    {
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
      gtk_label_set_text (self->state_label, "");
      return;
    }

  lab_shape_session_lookup (self->session, netns, self->ifname, NULL, NULL, &error, NULL);
  if (error != NULL)
    g_string_append (errors, error->message);
  if (self->read_error != NULL)
    g_string_append_printf (errors, "%s%s", errors->len > 0 ? "\n" : "",
                            self->read_error->message);
  gtk_label_set_text (self->error_label, errors->str);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), errors->len > 0);

  if (self->state == NULL)
    state_text = g_strdup ("Root qdisc: reading…");
  else if (g_str_equal (self->state->kind, "none"))
    state_text = g_strdup ("Root qdisc: none");
  else
    state_text = g_strdup_printf ("Root qdisc: %s%s", self->state->summary,
                                  self->state->has_original ? " (original saved for reset)" : "");
  gtk_label_set_text (self->state_label, state_text);
  page_update_chosen_row (self);
}

/*
 * Moves the sliders to what the kernel holds when it differs, unless the user
 * drags one or a request is still on its way. Fields that need the missing
 * sch_netem keep what the user set.
 */
static void
page_sync_sliders (LabNetworkPage *self)
{
  LabImpairment shown, kernel;

  if (self->state == NULL || self->dragging || page_apply_in_flight (self))
    return;

  shown = sliders_get_impairment (self);
  kernel = self->state->impairment;
  if (page_impairment_shown_equal (self, &shown, &kernel))
    return;

  if (self->netem_reason != NULL)
    {
      kernel.delay_usec = shown.delay_usec;
      kernel.jitter_usec = shown.jitter_usec;
      kernel.loss_percent = shown.loss_percent;
    }
  sliders_set_impairment (self, &kernel);
}

static void
page_take_state (LabNetworkPage *self, LabQdiscState *state)
{
  g_clear_pointer (&self->state, lab_qdisc_state_free);
  self->state = state;
}

static void
session_changed_cb (LabNetworkPage *self, LabNetns *netns, const char *ifname,
                    LabShapeSession *session)
{
  LabNetns *shown_netns = page_get_netns (self);
  const LabQdiscState *state = NULL;
  const GError *error = NULL;
  const GError *netem_error = NULL;

  if (shown_netns == NULL || self->ifname == NULL || g_strcmp0 (ifname, self->ifname) != 0
      || g_strcmp0 (lab_netns_get_description (netns),
                    lab_netns_get_description (shown_netns)) != 0)
    return;

  lab_shape_session_lookup (session, netns, ifname, NULL, &state, &error, &netem_error);
  if (netem_error != NULL && self->netem_reason == NULL)
    self->netem_reason = g_strdup (netem_error->message);
  if (state != NULL)
    {
      page_take_state (self, lab_qdisc_state_copy (state));
      g_clear_error (&self->read_error);
    }

  /* The request is confirmed once the read-back matches it or the session reports an error. */
  if (self->apply_pending)
    {
      self->apply_activity_usec = g_get_monotonic_time ();
      if (error != NULL
          || (state != NULL && page_impairment_shown_equal (self, &state->impairment,
                                                            &self->requested)))
        self->apply_pending = FALSE;
    }

  page_sync_sliders (self);
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
  page_mark_apply_pending (self, &impairment);
  lab_shape_session_request (self->session, netns, self->ifname, &impairment);
  page_update_state (self);
}

/* Tracks whether the user drags a slider, so a read-back does not move it under the pointer. */
static gboolean
slider_event_cb (LabNetworkPage *self, GdkEvent *event, GtkEventControllerLegacy *controller)
{
  switch ((int) gdk_event_get_event_type (event))
    {
    case GDK_BUTTON_PRESS:
    case GDK_TOUCH_BEGIN:
      self->dragging = TRUE;
      self->dragging_by_touch = gdk_event_get_event_type (event) == GDK_TOUCH_BEGIN;
      break;
    case GDK_BUTTON_RELEASE:
    case GDK_TOUCH_END:
    case GDK_TOUCH_CANCEL:
    /* Another client or a popup took the grab, so no release will arrive. */
    case GDK_GRAB_BROKEN:
      self->dragging = FALSE;
      break;
    default:
      break;
    }
  return GDK_EVENT_PROPAGATE;
}

static void
poll_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PollCall) call = user_data;
  LabNetworkPage *self = call->self;
  g_autoptr (GError) error = NULL;
  LabQdiscState *state = lab_shaper_read_finish (result, &error);

  if (g_cancellable_is_cancelled (call->cancellable))
    {
      g_clear_pointer (&state, lab_qdisc_state_free);
      return;
    }
  self->read_in_flight = FALSE;

  /* A request sent while this read ran makes its result stale. */
  if (call->request_serial != self->request_serial)
    {
      g_clear_pointer (&state, lab_qdisc_state_free);
      return;
    }

  if (state == NULL)
    {
      g_debug ("Could not read the root qdisc of '%s': %s", self->ifname, error->message);
      g_clear_error (&self->read_error);
      self->read_error = g_steal_pointer (&error);
      page_update_state (self);
      return;
    }

  /*
   * So that the session sends a later request that differs from a change made outside Lab.
   * The session rejects a read that an apply or reset overlapped, and its "changed" emission
   * brings the newer state.
   */
  if (!lab_shape_session_note_kernel_state (self->session, page_get_netns (self), self->ifname,
                                            call->call_serial, state))
    {
      lab_qdisc_state_free (state);
      return;
    }
  g_clear_error (&self->read_error);
  page_take_state (self, state);
  page_sync_sliders (self);
  page_update_state (self);
}

static void
poll_list_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PollCall) call = user_data;
  LabNetworkPage *self = call->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) interfaces = lab_interface_list_finish (result, &error);

  if (g_cancellable_is_cancelled (call->cancellable))
    return;
  self->list_in_flight = FALSE;

  if (interfaces == NULL)
    {
      g_debug ("Could not list the interfaces of '%s': %s", lab_machine_get_name (self->machine),
               error->message);
      return;
    }
  /* An equal list keeps the rows as they are; a different one rebuilds them. */
  lab_machine_set_interfaces (self->machine, interfaces);
}

/* TRUE while a pointer button is held, as the windowing system reports it now. */
static gboolean
page_pointer_button_held (LabNetworkPage *self)
{
  GtkNative *native = gtk_widget_get_native (GTK_WIDGET (self));
  GdkSeat *seat = gdk_display_get_default_seat (gtk_widget_get_display (GTK_WIDGET (self)));
  GdkDevice *pointer = seat != NULL ? gdk_seat_get_pointer (seat) : NULL;
  GdkModifierType mask = 0;
  double x, y;

  if (native == NULL || pointer == NULL)
    return FALSE;
  gdk_surface_get_device_position (gtk_native_get_surface (native), pointer, &x, &y, &mask);
  return (mask & (GDK_BUTTON1_MASK | GDK_BUTTON2_MASK | GDK_BUTTON3_MASK | GDK_BUTTON4_MASK
                  | GDK_BUTTON5_MASK))
         != 0;
}

static gboolean
poll_tick_cb (gpointer user_data)
{
  LabNetworkPage *self = user_data;
  LabNetns *netns = page_get_netns (self);

  /* A release that went elsewhere, such as after a lost grab, must not stop the polling. */
  if (self->dragging && !self->dragging_by_touch && !page_pointer_button_held (self))
    self->dragging = FALSE;

  if (netns == NULL)
    return G_SOURCE_CONTINUE;

  if (!self->list_in_flight)
    {
      self->list_in_flight = TRUE;
      lab_interface_list_async (netns, self->poll_cancellable, poll_list_cb, poll_call_new (self));
    }

  if (self->ifname != NULL && !self->read_in_flight && !self->dragging
      && !page_apply_in_flight (self))
    {
      PollCall *call = poll_call_new (self);

      call->call_serial = lab_shape_session_get_call_serial (self->session, netns, self->ifname);
      self->read_in_flight = TRUE;
      lab_shaper_read_async (netns, self->ifname, self->poll_cancellable, poll_read_cb, call);
    }
  return G_SOURCE_CONTINUE;
}

/* Drops the reads in flight, so their results cannot land on another machine or interface. */
static void
page_cancel_polls (LabNetworkPage *self)
{
  g_cancellable_cancel (self->poll_cancellable);
  g_object_unref (self->poll_cancellable);
  self->poll_cancellable = g_cancellable_new ();
  self->read_in_flight = FALSE;
  self->list_in_flight = FALSE;
}

/* Polls while the page is on screen with a machine, and stops otherwise. */
static void
page_update_polling (LabNetworkPage *self)
{
  gboolean needed = gtk_widget_get_mapped (GTK_WIDGET (self)) && self->machine != NULL
                    && self->session != NULL;

  if (needed && self->poll_id == 0)
    self->poll_id = g_timeout_add (POLL_INTERVAL_MSEC, poll_tick_cb, self);
  else if (!needed && self->poll_id != 0)
    {
      g_clear_handle_id (&self->poll_id, g_source_remove);
      page_cancel_polls (self);
    }
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
  page_cancel_polls (self);
  page_take_state (self, NULL);
  g_clear_error (&self->read_error);
  self->apply_pending = FALSE;

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

  /* Sliders show what this UI last requested until the kernel state is read back. */
  if (lab_shape_session_lookup (self->session, netns, ifname, &desired, NULL, NULL, NULL))
    sliders_set_impairment (self, &desired);
  else
    sliders_set_impairment (self, &(LabImpairment) LAB_IMPAIRMENT_INIT);
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

  name_text = g_strdup_printf ("%s%s%s%s", iface->name, iface->kind != NULL ? " (" : "",
                               iface->kind != NULL ? iface->kind : "",
                               iface->kind != NULL ? ")" : "");
  name_label = gtk_label_new (name_text);
  gtk_label_set_xalign (GTK_LABEL (name_label), 0);
  detail_label = gtk_label_new (NULL);
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
  g_object_set_data_full (G_OBJECT (row), "lab-interface", lab_interface_copy (iface),
                          (GDestroyNotify) lab_interface_free);
  g_object_set_data (G_OBJECT (row), "lab-detail-label", detail_label);
  row_update_detail (GTK_LIST_BOX_ROW (row), iface->qdisc_kind);
  return row;
}

/* Ranks the rows for the first selection: up non-loopback, then other non-loopback, then lo. */
static int
interface_default_rank (const LabInterface *iface)
{
  if (lab_interface_is_loopback (iface))
    return 2;
  return (iface->flags & IFF_UP) != 0 ? 0 : 1;
}

/* Rebuilds the interface list, keeping the chosen interface when it still exists. */
static void
page_rebuild_interfaces (LabNetworkPage *self)
{
  GPtrArray *interfaces = self->machine != NULL ? lab_machine_get_interfaces (self->machine) : NULL;
  g_autofree char *chosen = g_strdup (self->ifname);
  GtkListBoxRow *chosen_row = NULL;
  GtkListBoxRow *default_row = NULL;
  int default_rank = G_MAXINT;
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->interface_list))) != NULL)
    gtk_list_box_remove (self->interface_list, child);

  for (guint i = 0; interfaces != NULL && i < interfaces->len; i++)
    {
      const LabInterface *iface = g_ptr_array_index (interfaces, i);
      GtkWidget *row = interface_row_new (iface);
      int rank = interface_default_rank (iface);

      gtk_list_box_append (self->interface_list, row);
      if (g_strcmp0 (iface->name, chosen) == 0)
        chosen_row = GTK_LIST_BOX_ROW (row);
      if (rank < default_rank)
        {
          default_row = GTK_LIST_BOX_ROW (row);
          default_rank = rank;
        }
    }

  if (chosen_row == NULL)
    chosen_row = default_row;
  if (chosen_row != NULL)
    {
      gtk_list_box_select_row (self->interface_list, chosen_row);
      page_update_chosen_row (self);
    }
  else
    {
      page_choose_interface (self, NULL);
    }
}

static void
page_update_title (LabNetworkPage *self)
{
  g_autofree char *title = NULL;
  gboolean loading;

  if (self->machine == NULL && self->gone_machine != NULL)
    {
      title = g_strdup_printf ("Machine '%s' is gone; choose another machine",
                               self->gone_machine);
      gtk_label_set_text (self->title_label, title);
      return;
    }
  if (self->machine == NULL)
    {
      gtk_label_set_text (self->title_label, "No machine selected");
      return;
    }
  loading = lab_machine_get_interfaces (self->machine) == NULL;
  title = g_strdup_printf ("Interfaces of '%s'%s", lab_machine_get_name (self->machine),
                           loading ? " (loading…)" : "");
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
  page_choose_interface (self, NULL);
  page_cancel_polls (self);
  g_clear_pointer (&self->gone_machine, g_free);
  g_set_object (&self->machine, machine);
  page_update_title (self);
  if (machine != NULL)
    g_signal_connect_object (machine, "notify::interfaces",
                             G_CALLBACK (machine_interfaces_notify_cb), self, G_CONNECT_SWAPPED);
  page_rebuild_interfaces (self);
  page_update_polling (self);
}

void
lab_network_page_show_machine_gone (LabNetworkPage *self, const char *name)
{
  g_return_if_fail (LAB_IS_NETWORK_PAGE (self));
  g_return_if_fail (name != NULL);

  lab_network_page_set_machine (self, NULL);
  g_free (self->gone_machine);
  self->gone_machine = g_strdup (name);
  page_update_title (self);
}

const char *
lab_network_page_get_title_text (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), NULL);

  return gtk_label_get_text (self->title_label);
}

gboolean
lab_network_page_sliders_are_sensitive (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), FALSE);

  return gtk_widget_is_sensitive (self->slider_grid);
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
  page_update_polling (self);
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

const char *
lab_network_page_get_state_text (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), NULL);

  return gtk_label_get_text (self->state_label);
}

gboolean
lab_network_page_is_polling (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), FALSE);

  return self->poll_id != 0;
}

char *
lab_network_page_dup_row_detail (LabNetworkPage *self, const char *ifname)
{
  GtkWidget *row;

  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), NULL);

  for (row = gtk_widget_get_first_child (GTK_WIDGET (self->interface_list)); row != NULL;
       row = gtk_widget_get_next_sibling (row))
    if (g_strcmp0 (g_object_get_data (G_OBJECT (row), "lab-ifname"), ifname) == 0)
      return g_strdup (gtk_label_get_text (g_object_get_data (G_OBJECT (row), "lab-detail-label")));
  return NULL;
}

gboolean
lab_network_page_shows_netem_hint (LabNetworkPage *self)
{
  g_return_val_if_fail (LAB_IS_NETWORK_PAGE (self), FALSE);

  return gtk_widget_get_visible (GTK_WIDGET (self->netem_hint_label));
}

static void
reset_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  LabNetworkPage *self = LAB_NETWORK_PAGE (widget);
  LabNetns *netns = page_get_netns (self);

  if (netns == NULL || self->ifname == NULL || self->session == NULL)
    return;

  sliders_set_impairment (self, &(LabImpairment) LAB_IMPAIRMENT_INIT);
  page_mark_apply_pending (self, &(LabImpairment) LAB_IMPAIRMENT_INIT);
  lab_shape_session_reset (self->session, netns, self->ifname);
  page_update_state (self);
}

static void
lab_network_page_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (lab_network_page_parent_class)->map (widget);
  page_update_polling (LAB_NETWORK_PAGE (widget));
}

static void
lab_network_page_unmap (GtkWidget *widget)
{
  LabNetworkPage *self = LAB_NETWORK_PAGE (widget);

  /* A release outside the page never arrives here, so the drag ends with the page. */
  self->dragging = FALSE;
  GTK_WIDGET_CLASS (lab_network_page_parent_class)->unmap (widget);
  page_update_polling (self);
}

static void
lab_network_page_dispose (GObject *object)
{
  LabNetworkPage *self = LAB_NETWORK_PAGE (object);

  lab_network_page_set_machine (self, NULL);
  lab_network_page_set_session (self, NULL);
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_cancellable_cancel (self->poll_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), LAB_TYPE_NETWORK_PAGE);
  G_OBJECT_CLASS (lab_network_page_parent_class)->dispose (object);
}

static void
lab_network_page_finalize (GObject *object)
{
  LabNetworkPage *self = LAB_NETWORK_PAGE (object);

  g_free (self->ifname);
  g_free (self->gone_machine);
  g_clear_pointer (&self->state, lab_qdisc_state_free);
  g_clear_error (&self->read_error);
  g_clear_object (&self->poll_cancellable);
  g_free (self->netem_reason);
  G_OBJECT_CLASS (lab_network_page_parent_class)->finalize (object);
}

static void
lab_network_page_class_init (LabNetworkPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lab_network_page_dispose;
  object_class->finalize = lab_network_page_finalize;
  widget_class->map = lab_network_page_map;
  widget_class->unmap = lab_network_page_unmap;

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
  gtk_widget_class_bind_template_child (widget_class, LabNetworkPage, netem_hint_label);
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
watch_slider_drag (LabNetworkPage *self, GtkRange *range)
{
  GtkEventController *controller = gtk_event_controller_legacy_new ();

  /* In the capture phase, presses and releases arrive before the slider's gestures claim them. */
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect_swapped (controller, "event", G_CALLBACK (slider_event_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (range), controller);
}

static void
lab_network_page_init (LabNetworkPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  install_value_css ();
  self->poll_cancellable = g_cancellable_new ();

  gtk_scale_set_format_value_func (GTK_SCALE (self->delay_scale), format_time_value, NULL, NULL);
  gtk_scale_set_format_value_func (GTK_SCALE (self->jitter_scale), format_time_value, NULL, NULL);
  gtk_scale_set_format_value_func (GTK_SCALE (self->loss_scale), format_percent_value, NULL, NULL);
  gtk_scale_set_format_value_func (GTK_SCALE (self->rate_scale), format_rate_value, NULL, NULL);
  watch_slider_drag (self, self->delay_scale);
  watch_slider_drag (self, self->jitter_scale);
  watch_slider_drag (self, self->loss_scale);
  watch_slider_drag (self, self->rate_scale);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "network.reset", FALSE);
}
