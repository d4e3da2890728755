/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "lab-core.h"

G_BEGIN_DECLS

/* Each command gets argv without the program name: argv[0] is the command. */
int labctl_list (int argc, char **argv);
int labctl_set (int argc, char **argv);
int labctl_show (int argc, char **argv);
int labctl_reset (int argc, char **argv);
int labctl_demo (int argc, char **argv);

/* Collects an async result so a command can run the main context until it arrives. */
typedef struct {
  GAsyncResult *result;
} LabctlWait;

void labctl_wait_cb (GObject *source, GAsyncResult *result, gpointer user_data);
/* Iterates the default main context until the callback ran; returns the result (owned). */
GAsyncResult *labctl_wait (LabctlWait *wait);

/* Loads the machine list once and finds TARGET: ".host", a machined name or a /run/netns name. */
LabMachine *labctl_resolve_target (const char *target, GError **error);

/* Prints "labctl: MESSAGE" to stderr and returns the exit status for failure. */
int labctl_fail (const GError *error);
int labctl_usage_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS
