/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kinvolk-lab application: command-line options, the optional demo lab, and
 * an orderly exit that resets every impairment it applied and stops the demo.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define LAB_TYPE_APPLICATION (lab_application_get_type ())
G_DECLARE_FINAL_TYPE (LabApplication, lab_application, LAB, APPLICATION, GtkApplication)

LabApplication *lab_application_new (void);

/*
 * Resets every changed interface, stops the demo, then quits. Window close,
 * SIGINT and SIGTERM all end here; calling it again does nothing.
 */
void lab_application_request_quit (LabApplication *self);

G_END_DECLS
