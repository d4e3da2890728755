/* SPDX-License-Identifier: GPL-2.0-or-later */
/* iproute2-style units: time (100ms, 1.5s, 250us), rate (1mbit, 100kbit, 1.5MBps), percent (5%). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Largest accepted delay or jitter: 60 s, in microseconds. */
#define LAB_TIME_MAX_USEC (G_GUINT64_CONSTANT (60) * G_USEC_PER_SEC)
/* Rate range accepted by tbf through libnl, which stores bytes per second in 32 bits. */
#define LAB_RATE_MIN_BPS G_GUINT64_CONSTANT (8000)
#define LAB_RATE_MAX_BPS G_GUINT64_CONSTANT (10000000000)

/* Each parser fails with LAB_ERROR_INVALID_ARGUMENT naming the text, the reason and the range. */
gboolean lab_parse_time (const char *text, guint64 *out_usec, GError **error);
gboolean lab_parse_rate (const char *text, guint64 *out_bits_per_second, GError **error);
gboolean lab_parse_percent (const char *text, double *out_percent, GError **error);

/* Formats as tc shows values: "100ms", "1.5s", "250us", "1Mbit", "100Kbit", "5%". */
char *lab_format_time (guint64 usec);
char *lab_format_rate (guint64 bits_per_second);
char *lab_format_percent (double percent);

G_END_DECLS
