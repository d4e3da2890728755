/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "Trace" page: live trace_pipe lines, the last LAB_TRACE_PAGE_MAX_LINES of them. */
#pragma once

#include <gtk/gtk.h>

#include "lab-core.h"

G_BEGIN_DECLS

/* Older lines are dropped from the view, so memory stays bounded under a flood. */
#define LAB_TRACE_PAGE_MAX_LINES 5000

#define LAB_TYPE_TRACE_PAGE (lab_trace_page_get_type ())
G_DECLARE_FINAL_TYPE (LabTracePage, lab_trace_page, LAB, TRACE_PAGE, GtkBox)

/* Opens trace_pipe; a failure (busy, no tracefs) is shown in the page. */
void lab_trace_page_start (LabTracePage *self);
void lab_trace_page_stop (LabTracePage *self);
guint64 lab_trace_page_get_lines_read (LabTracePage *self);
/* The error shown in the page, from a failed start or a failed read, or NULL. */
const char *lab_trace_page_get_error (LabTracePage *self);

G_END_DECLS
