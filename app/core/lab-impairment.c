/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-impairment.h"

#include <math.h>

#include "lab-error.h"
#include "lab-units.h"

static gboolean
validate_time (const char *field, guint64 usec, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *max = NULL;

  if (usec <= LAB_TIME_MAX_USEC)
    return TRUE;
  text = lab_format_time (usec);
  max = lab_format_time (LAB_TIME_MAX_USEC);
  g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
               "%s %s is out of range; use 0 (off) to %s", field, text, max);
  return FALSE;
}

gboolean
lab_impairment_validate (const LabImpairment *impairment, GError **error)
{
  g_return_val_if_fail (impairment != NULL, FALSE);

  if (!validate_time ("delay", impairment->delay_usec, error)
      || !validate_time ("jitter", impairment->jitter_usec, error))
    return FALSE;

  if (isnan (impairment->loss_percent) || impairment->loss_percent < 0.0
      || impairment->loss_percent > 100.0)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "loss %g%% is out of range; use 0%% (off) to 100%%",
                   impairment->loss_percent);
      return FALSE;
    }

  if (impairment->rate_bps != 0
      && (impairment->rate_bps < LAB_RATE_MIN_BPS || impairment->rate_bps > LAB_RATE_MAX_BPS))
    {
      g_autofree char *text = lab_format_rate (impairment->rate_bps);
      g_autofree char *min = lab_format_rate (LAB_RATE_MIN_BPS);
      g_autofree char *max = lab_format_rate (LAB_RATE_MAX_BPS);

      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "rate %s is out of range; use 0 (off) or %s to %s", text, min, max);
      return FALSE;
    }
  return TRUE;
}

gboolean
lab_impairment_is_empty (const LabImpairment *impairment)
{
  return !lab_impairment_needs_netem (impairment) && impairment->rate_bps == 0;
}

gboolean
lab_impairment_needs_netem (const LabImpairment *impairment)
{
  return impairment->delay_usec != 0 || impairment->jitter_usec != 0
         || impairment->loss_percent != 0.0;
}

gboolean
lab_impairment_equal (const LabImpairment *a, const LabImpairment *b)
{
  return a->delay_usec == b->delay_usec && a->jitter_usec == b->jitter_usec
         && a->loss_percent == b->loss_percent && a->rate_bps == b->rate_bps;
}

char *
lab_impairment_to_string (const LabImpairment *impairment)
{
  g_autoptr (GString) text = g_string_new (NULL);

  if (impairment->delay_usec != 0)
    {
      g_autofree char *value = lab_format_time (impairment->delay_usec);
      g_string_append_printf (text, " delay %s", value);
    }
  if (impairment->jitter_usec != 0)
    {
      g_autofree char *value = lab_format_time (impairment->jitter_usec);
      g_string_append_printf (text, " jitter %s", value);
    }
  if (impairment->loss_percent != 0.0)
    {
      g_autofree char *value = lab_format_percent (impairment->loss_percent);
      g_string_append_printf (text, " loss %s", value);
    }
  if (impairment->rate_bps != 0)
    {
      g_autofree char *value = lab_format_rate (impairment->rate_bps);
      g_string_append_printf (text, " rate %s", value);
    }

  if (text->len == 0)
    return g_strdup ("none");
  return g_strdup (text->str + 1);
}

G_DEFINE_BOXED_TYPE (LabQdiscState, lab_qdisc_state, lab_qdisc_state_copy, lab_qdisc_state_free)

LabQdiscState *
lab_qdisc_state_copy (const LabQdiscState *state)
{
  LabQdiscState *copy = g_new (LabQdiscState, 1);

  *copy = *state;
  copy->ifname = g_strdup (state->ifname);
  copy->kind = g_strdup (state->kind);
  copy->summary = g_strdup (state->summary);
  return copy;
}

void
lab_qdisc_state_free (LabQdiscState *state)
{
  if (state == NULL)
    return;
  g_free (state->ifname);
  g_free (state->kind);
  g_free (state->summary);
  g_free (state);
}
