/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Namespace files of the demo nodes under /run/netns, made and removed as `ip netns` does. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

int lab_demo_open_netns_run_dir (GError **error);
void lab_demo_set_exists_error (const char *name, const char *prefix, GError **error);
gboolean lab_demo_create_netns_file (int dir_fd, const char *name, const char *prefix,
                                     gboolean *out_created, GError **error);
int lab_demo_remove_netns_file (const char *name);
gboolean lab_demo_remove_netns_files (const char * const *names, GError **error);

G_END_DECLS
