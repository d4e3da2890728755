/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "lab-types.h"

G_BEGIN_DECLS

/* The desired impairment of one interface's egress. Zero means "off" for each field. */
struct _LabImpairment {
  guint64 delay_usec;
  guint64 jitter_usec;
  double loss_percent; /* 0 to 100 inclusive */
  guint64 rate_bps;    /* bits per second */
};

#define LAB_IMPAIRMENT_INIT { 0, 0, 0.0, 0 }

/* Fails with LAB_ERROR_INVALID_ARGUMENT naming the field, its value and the range. */
gboolean lab_impairment_validate (const LabImpairment *impairment, GError **error);
gboolean lab_impairment_is_empty (const LabImpairment *impairment);
/* Delay, jitter or loss need sch_netem; rate alone needs only tbf. */
gboolean lab_impairment_needs_netem (const LabImpairment *impairment);
gboolean lab_impairment_equal (const LabImpairment *a, const LabImpairment *b);
/* "delay 100ms jitter 10ms loss 1% rate 1Mbit", or "none". */
char *lab_impairment_to_string (const LabImpairment *impairment);

/* What the kernel holds at an interface's root, read back after every change. */
struct _LabQdiscState {
  char *ifname;
  int ifindex;
  char *kind;           /* root qdisc kind: "noqueue", "tbf", "netem", ... */
  guint32 handle;       /* root qdisc handle, 0 for the kernel's default */
  gboolean ours;        /* TRUE when Lab installed the root qdisc */
  gboolean has_original; /* TRUE when a saved original will be restored on reset */
  LabImpairment impairment; /* decoded from netem and tbf; empty for other kinds */
  char *summary;        /* one line for display, such as "tbf rate 1Mbit burst 1600b" */
};

#define LAB_TYPE_QDISC_STATE (lab_qdisc_state_get_type ())
GType lab_qdisc_state_get_type (void);
LabQdiscState *lab_qdisc_state_copy (const LabQdiscState *state);
void lab_qdisc_state_free (LabQdiscState *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabQdiscState, lab_qdisc_state_free)

G_END_DECLS
