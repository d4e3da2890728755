/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "Terminal" page: one tab per opened machine, a shell inside its network namespace. */
#pragma once

#include <gtk/gtk.h>

#include "lab-core.h"

G_BEGIN_DECLS

#define LAB_TYPE_TERMINAL_PAGE (lab_terminal_page_get_type ())
G_DECLARE_FINAL_TYPE (LabTerminalPage, lab_terminal_page, LAB, TERMINAL_PAGE, GtkBox)

/* Opens a tab with an interactive bash in @machine's network namespace, or shows its tab. */
void lab_terminal_page_open (LabTerminalPage *self, LabMachine *machine);
/* TRUE when the shown tab's terminal displays its shell prompt. */
gboolean lab_terminal_page_shows_prompt (LabTerminalPage *self);

G_END_DECLS
