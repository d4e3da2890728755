/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The main window: the machine list on the left, the Network, Trace, Events and Terminal pages. */
#pragma once

#include <gtk/gtk.h>

#include "lab-core.h"
#include "lab-shape-session.h"

G_BEGIN_DECLS

#define LAB_TYPE_WINDOW (lab_window_get_type ())
G_DECLARE_FINAL_TYPE (LabWindow, lab_window, LAB, WINDOW, GtkApplicationWindow)

/* @application may be NULL, as in tests that drive the window directly. */
LabWindow *lab_window_new (GtkApplication *application, LabMachineMonitor *monitor,
                           LabShapeSession *session);

/* Selects the machine named @name now, or as soon as it appears in the list. */
void lab_window_select_machine (LabWindow *self, const char *name);
/* Opens a terminal in the machine named @name now, or as soon as it appears. */
void lab_window_open_terminal (LabWindow *self, const char *name);
/* Starts the Trace and Events pages. */
void lab_window_start_tracing (LabWindow *self);
void lab_window_stop_tracing (LabWindow *self);
/* Shows @message in a banner at the top of the window; NULL hides it. */
void lab_window_show_error (LabWindow *self, const char *message);
/* Appends "key=value" lines that describe what the window shows, for scripted checks. */
void lab_window_append_status (LabWindow *self, GString *status);

G_END_DECLS
