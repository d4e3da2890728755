/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "Events" page: Lab's BPF events, the last LAB_EVENTS_PAGE_MAX_ROWS of them. */
#pragma once

#include <gtk/gtk.h>

#include "lab-core.h"

G_BEGIN_DECLS

#define LAB_EVENTS_PAGE_MAX_ROWS 5000

#define LAB_TYPE_EVENTS_PAGE (lab_events_page_get_type ())
G_DECLARE_FINAL_TYPE (LabEventsPage, lab_events_page, LAB, EVENTS_PAGE, GtkBox)

/* The machine list used to name an event's network namespace. */
void lab_events_page_set_machines (LabEventsPage *self, GListModel *machines);
/* Loads and attaches the BPF programs; a failure is shown in the page. */
void lab_events_page_start (LabEventsPage *self);
void lab_events_page_stop (LabEventsPage *self);
guint64 lab_events_page_get_received (LabEventsPage *self);
guint64 lab_events_page_get_lost (LabEventsPage *self);
const char *lab_events_page_get_error (LabEventsPage *self);

G_END_DECLS
