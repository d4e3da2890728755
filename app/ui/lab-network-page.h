/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "Network" page: a machine's interfaces and live impairment sliders for one of them. */
#pragma once

#include <gtk/gtk.h>

#include "lab-core.h"
#include "lab-shape-session.h"

G_BEGIN_DECLS

#define LAB_TYPE_NETWORK_PAGE (lab_network_page_get_type ())
G_DECLARE_FINAL_TYPE (LabNetworkPage, lab_network_page, LAB, NETWORK_PAGE, GtkBox)

void lab_network_page_set_session (LabNetworkPage *self, LabShapeSession *session);
/* Shows @machine's interfaces; NULL shows an empty page. */
void lab_network_page_set_machine (LabNetworkPage *self, LabMachine *machine);
/* Shows that the machine named @name disappeared, with no machine selected. */
void lab_network_page_show_machine_gone (LabNetworkPage *self, const char *name);

G_END_DECLS
