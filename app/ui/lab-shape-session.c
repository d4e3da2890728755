/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-shape-session.h"

typedef enum {
  CALL_NONE,
  CALL_APPLY,
  CALL_READ,
  CALL_RESET,
} CallKind;

typedef struct {
  LabShapeSession *session; /* not owned: slots live in the session's table */
  LabNetns *netns;
  char *ifname;
  LabImpairment desired;
  /*
   * The kernel's impairment as far as the session knows: the last apply, without netem
   * fields, or a later read-back, which also shows changes made outside Lab.
   */
  LabImpairment applied;
  /* FALSE until a read-back or a successful apply, and after an apply or reset that failed. */
  gboolean applied_known;
  /* Incremented when an apply or reset starts and when it finishes; see note_kernel_state. */
  guint call_serial;
  /* A request arrived that slot_send has not yet compared with applied. */
  gboolean request_pending;
  CallKind in_flight;
  gboolean resend; /* the last apply failed for sch_netem and must go again without it */
  gboolean read_wanted;
  gboolean reset_wanted;
  gboolean changed; /* an apply was sent, whatever its result, and no reset followed */
  LabQdiscState *state;
  GError *error;
  GError *netem_error; /* sch_netem is missing: delay, jitter and loss stay off */
} Slot;

struct _LabShapeSession {
  GObject parent_instance;

  GHashTable *slots; /* "description\nifname" -> Slot */
  GCancellable *cancellable;
  GTask *reset_all_task;
  GError *reset_all_error;
  gboolean closing;
};

G_DEFINE_FINAL_TYPE (LabShapeSession, lab_shape_session, G_TYPE_OBJECT)

enum {
  SIGNAL_CHANGED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void slot_send (Slot *slot);

static void
slot_free (Slot *slot)
{
  lab_netns_unref (slot->netns);
  g_free (slot->ifname);
  g_clear_pointer (&slot->state, lab_qdisc_state_free);
  g_clear_error (&slot->error);
  g_clear_error (&slot->netem_error);
  g_free (slot);
}

static char *
slot_key (LabNetns *netns, const char *ifname)
{
  return g_strdup_printf ("%s\n%s", lab_netns_get_description (netns), ifname);
}

static Slot *
slot_get (LabShapeSession *self, LabNetns *netns, const char *ifname, gboolean create)
{
  g_autofree char *key = slot_key (netns, ifname);
  Slot *slot = g_hash_table_lookup (self->slots, key);

  if (slot != NULL || !create)
    return slot;

  slot = g_new0 (Slot, 1);
  slot->session = self;
  slot->netns = lab_netns_ref (netns);
  slot->ifname = g_strdup (ifname);
  g_hash_table_insert (self->slots, g_steal_pointer (&key), slot);
  return slot;
}

static gboolean
session_is_idle (LabShapeSession *self)
{
  GHashTableIter iter;
  Slot *slot;

  g_hash_table_iter_init (&iter, self->slots);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &slot))
    if (slot->in_flight != CALL_NONE)
      return FALSE;
  return TRUE;
}

static void
session_check_reset_all (LabShapeSession *self)
{
  g_autoptr (GTask) task = NULL;

  if (self->reset_all_task == NULL || !session_is_idle (self))
    return;

  task = g_steal_pointer (&self->reset_all_task);
  if (self->reset_all_error != NULL)
    g_task_return_error (task, g_steal_pointer (&self->reset_all_error));
  else
    g_task_return_boolean (task, TRUE);
}

/* Drops the netem fields once the kernel reported that sch_netem is missing. */
static LabImpairment
slot_effective (Slot *slot)
{
  LabImpairment impairment = slot->desired;

  if (slot->netem_error != NULL)
    {
      impairment.delay_usec = 0;
      impairment.jitter_usec = 0;
      impairment.loss_percent = 0.0;
    }
  return impairment;
}

static void
slot_store_result (Slot *slot, LabQdiscState *state, GError *error)
{
  if (state != NULL)
    {
      g_clear_pointer (&slot->state, lab_qdisc_state_free);
      slot->state = state;
    }
  g_clear_error (&slot->error);
  slot->error = error;
}

/* Takes a read-back as the applied state, so that a request that differs from it is sent. */
static void
slot_note_kernel (Slot *slot, const LabQdiscState *state)
{
  slot->applied = state->impairment;
  slot->applied_known = TRUE;
}

static void
slot_finish_call (Slot *slot)
{
  LabShapeSession *self = slot->session;

  if (slot->in_flight != CALL_READ)
    slot->call_serial++;
  slot->in_flight = CALL_NONE;
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0, slot->netns, slot->ifname);
  slot_send (slot);
  session_check_reset_all (self);
  /* Balances the reference taken when the call started. */
  g_object_unref (self);
}

static void
apply_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Slot *slot = user_data;
  GError *error = NULL;
  LabQdiscState *state = lab_shaper_apply_finish (result, &error);

  /* Without sch_netem, keep rate shaping working and say once why the rest is off. */
  if (g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED)
      && lab_impairment_needs_netem (&slot->applied) && slot->netem_error == NULL)
    {
      slot->netem_error = g_steal_pointer (&error);
      slot->resend = TRUE;
    }
  /* A failed or cancelled apply may have left any state, so the next request goes out anyway. */
  slot->applied_known = state != NULL || slot->resend;
  slot_store_result (slot, state, error);
  slot_finish_call (slot);
}

static void
read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Slot *slot = user_data;
  GError *error = NULL;
  LabQdiscState *state = lab_shaper_read_finish (result, &error);

  if (state != NULL)
    slot_note_kernel (slot, state);
  slot_store_result (slot, state, error);
  slot_finish_call (slot);
}

static void
reset_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Slot *slot = user_data;
  LabShapeSession *self = slot->session;
  GError *error = NULL;
  LabQdiscState *state = lab_shaper_reset_finish (result, &error);

  /* A namespace or interface that is gone holds nothing to restore. */
  if (state != NULL || g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_FOUND))
    {
      slot->changed = FALSE;
      slot->applied = (LabImpairment) LAB_IMPAIRMENT_INIT;
      slot->applied_known = TRUE;
      if (state != NULL)
        slot_note_kernel (slot, state);
    }
  else
    {
      slot->applied_known = FALSE;
      if (self->closing && self->reset_all_error == NULL)
        self->reset_all_error = g_error_copy (error);
    }
  if (error != NULL)
    g_warning ("Failed to reset '%s' in %s: %s", slot->ifname,
               lab_netns_get_description (slot->netns), error->message);
  slot_store_result (slot, state, error);
  slot_finish_call (slot);
}

/* Starts the next call this slot needs, if none is in flight. */
static void
slot_send (Slot *slot)
{
  LabShapeSession *self = slot->session;
  LabImpairment effective;

  if (slot->in_flight != CALL_NONE)
    return;

  if (slot->reset_wanted)
    {
      slot->reset_wanted = FALSE;
      /* The reset supersedes an apply that was to go again without netem. */
      slot->resend = FALSE;
      slot->in_flight = CALL_RESET;
      slot->call_serial++;
      g_object_ref (self);
      lab_shaper_reset_async (slot->netns, slot->ifname, self->cancellable, reset_cb, slot);
      return;
    }

  /*
   * Only a new request is compared with applied. A read-back that shows a change made
   * outside Lab updates applied, and the session must not undo that change on its own.
   */
  effective = slot_effective (slot);
  if (!self->closing
      && (slot->resend
          || (slot->request_pending
              && (!slot->applied_known || !lab_impairment_equal (&effective, &slot->applied)))))
    {
      slot->applied = effective;
      slot->resend = FALSE;
      slot->request_pending = FALSE;
      slot->read_wanted = FALSE;
      slot->in_flight = CALL_APPLY;
      slot->call_serial++;
      /*
       * Set before the result, because a failed or cancelled apply may still
       * have changed the kernel. A reset finds nothing to undo when it did not.
       */
      slot->changed = TRUE;
      g_object_ref (self);
      lab_shaper_apply_async (slot->netns, slot->ifname, &effective, self->cancellable, apply_cb,
                              slot);
      return;
    }
  slot->request_pending = FALSE;

  if (slot->read_wanted)
    {
      slot->read_wanted = FALSE;
      slot->in_flight = CALL_READ;
      g_object_ref (self);
      lab_shaper_read_async (slot->netns, slot->ifname, self->cancellable, read_cb, slot);
    }
}

void
lab_shape_session_request (LabShapeSession *self, LabNetns *netns, const char *ifname,
                           const LabImpairment *impairment)
{
  Slot *slot;

  g_return_if_fail (LAB_IS_SHAPE_SESSION (self));
  g_return_if_fail (netns != NULL && ifname != NULL && impairment != NULL);

  if (self->closing)
    return;
  slot = slot_get (self, netns, ifname, TRUE);
  slot->desired = *impairment;
  slot->request_pending = TRUE;
  slot_send (slot);
}

void
lab_shape_session_refresh (LabShapeSession *self, LabNetns *netns, const char *ifname)
{
  Slot *slot;

  g_return_if_fail (LAB_IS_SHAPE_SESSION (self));

  if (self->closing)
    return;
  slot = slot_get (self, netns, ifname, TRUE);
  slot->read_wanted = TRUE;
  slot_send (slot);
}

void
lab_shape_session_reset (LabShapeSession *self, LabNetns *netns, const char *ifname)
{
  Slot *slot;

  g_return_if_fail (LAB_IS_SHAPE_SESSION (self));

  if (self->closing)
    return;
  slot = slot_get (self, netns, ifname, TRUE);
  slot->desired = (LabImpairment) LAB_IMPAIRMENT_INIT;
  slot->request_pending = FALSE;
  slot->reset_wanted = TRUE;
  slot_send (slot);
}

guint
lab_shape_session_get_call_serial (LabShapeSession *self, LabNetns *netns, const char *ifname)
{
  g_return_val_if_fail (LAB_IS_SHAPE_SESSION (self), 0);
  g_return_val_if_fail (netns != NULL && ifname != NULL, 0);

  return slot_get (self, netns, ifname, TRUE)->call_serial;
}

gboolean
lab_shape_session_note_kernel_state (LabShapeSession *self, LabNetns *netns, const char *ifname,
                                     guint call_serial, const LabQdiscState *state)
{
  Slot *slot;

  g_return_val_if_fail (LAB_IS_SHAPE_SESSION (self), FALSE);
  g_return_val_if_fail (netns != NULL && ifname != NULL && state != NULL, FALSE);

  slot = slot_get (self, netns, ifname, TRUE);
  /* A read that ran beside an apply or reset may predate that call's change. */
  if (slot->in_flight != CALL_NONE || slot->reset_wanted || slot->call_serial != call_serial)
    return FALSE;
  slot_note_kernel (slot, state);
  return TRUE;
}

gboolean
lab_shape_session_lookup (LabShapeSession *self, LabNetns *netns, const char *ifname,
                          LabImpairment *out_desired, const LabQdiscState **out_state,
                          const GError **out_error, const GError **out_netem_error)
{
  Slot *slot;

  g_return_val_if_fail (LAB_IS_SHAPE_SESSION (self), FALSE);

  slot = slot_get (self, netns, ifname, FALSE);
  if (slot == NULL)
    return FALSE;
  if (out_desired != NULL)
    *out_desired = slot->desired;
  if (out_state != NULL)
    *out_state = slot->state;
  if (out_error != NULL)
    *out_error = slot->error;
  if (out_netem_error != NULL)
    *out_netem_error = slot->netem_error;
  return TRUE;
}

guint
lab_shape_session_get_n_changed (LabShapeSession *self)
{
  GHashTableIter iter;
  Slot *slot;
  guint n = 0;

  g_return_val_if_fail (LAB_IS_SHAPE_SESSION (self), 0);

  g_hash_table_iter_init (&iter, self->slots);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &slot))
    if (slot->changed)
      n++;
  return n;
}

void
lab_shape_session_reset_all_async (LabShapeSession *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  GHashTableIter iter;
  Slot *slot;

  g_return_if_fail (LAB_IS_SHAPE_SESSION (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_shape_session_reset_all_async);
  if (self->reset_all_task != NULL)
    {
      g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                               "Resetting every changed interface is already under way; "
                               "wait for it to finish");
      return;
    }

  self->closing = TRUE;
  self->reset_all_task = g_steal_pointer (&task);

  /* A slot with an apply in flight is marked changed too, so its reset follows that apply. */
  g_hash_table_iter_init (&iter, self->slots);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &slot))
    {
      slot->read_wanted = FALSE;
      if (slot->changed)
        {
          slot->reset_wanted = TRUE;
          slot_send (slot);
        }
    }
  session_check_reset_all (self);
}

gboolean
lab_shape_session_reset_all_finish (LabShapeSession *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
lab_shape_session_dispose (GObject *object)
{
  LabShapeSession *self = LAB_SHAPE_SESSION (object);

  g_cancellable_cancel (self->cancellable);
  G_OBJECT_CLASS (lab_shape_session_parent_class)->dispose (object);
}

static void
lab_shape_session_finalize (GObject *object)
{
  LabShapeSession *self = LAB_SHAPE_SESSION (object);

  g_hash_table_unref (self->slots);
  g_clear_object (&self->cancellable);
  g_clear_error (&self->reset_all_error);
  G_OBJECT_CLASS (lab_shape_session_parent_class)->finalize (object);
}

static void
lab_shape_session_class_init (LabShapeSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lab_shape_session_dispose;
  object_class->finalize = lab_shape_session_finalize;

  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER,
                                          G_TYPE_STRING);
}

static void
lab_shape_session_init (LabShapeSession *self)
{
  self->slots = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) slot_free);
  self->cancellable = g_cancellable_new ();
}

LabShapeSession *
lab_shape_session_new (void)
{
  return g_object_new (LAB_TYPE_SHAPE_SESSION, NULL);
}
