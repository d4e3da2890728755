/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internals of LabWindow that tests drive directly. */
#pragma once

#include "lab-network-page.h"
#include "lab-window.h"

G_BEGIN_DECLS

LabNetworkPage *lab_window_get_network_page (LabWindow *self);
/* The selected machine, or NULL; borrowed. */
LabMachine *lab_window_get_selected_machine (LabWindow *self);
/* The detail line of @name's row in the machine list ("netns · shares host network"), or NULL. */
char *lab_window_dup_machine_row_detail (LabWindow *self, const char *name);

/* Shows the page named "network", "trace", "events" or "terminal". */
void lab_window_show_page (LabWindow *self, const char *name);
/* TRUE when the terminal page's current tab shows its shell prompt. */
gboolean lab_window_terminal_shows_prompt (LabWindow *self);

G_END_DECLS
