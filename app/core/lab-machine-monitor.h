/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live list of machines: the host, systemd-machined's machines (ListMachines,
 * then MachineNew / MachineRemoved) and every name under /run/netns. A GListModel
 * of LabMachine, host first. A missing system bus or machined is a normal state.
 */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

#define LAB_TYPE_MACHINE_MONITOR (lab_machine_monitor_get_type ())
G_DECLARE_FINAL_TYPE (LabMachineMonitor, lab_machine_monitor, LAB, MACHINE_MONITOR, GObject)

LabMachineMonitor *lab_machine_monitor_new (void);

/*
 * Starts watching and completes once the first full listing (machined, if it
 * runs, and /run/netns) is in the model, with interfaces loaded.
 */
void lab_machine_monitor_load_async (LabMachineMonitor *self, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gboolean lab_machine_monitor_load_finish (LabMachineMonitor *self, GAsyncResult *result,
                                          GError **error);

/* Reloads every machine's interfaces. */
void lab_machine_monitor_refresh (LabMachineMonitor *self);

/*
 * Finds a machine by target name: ".host", then a machined machine, then a
 * /run/netns name. Returns a new reference or NULL.
 */
LabMachine *lab_machine_monitor_lookup (LabMachineMonitor *self, const char *target);

/*
 * Returns why the last probe of @machine could not read its namespace or
 * interfaces, such as a stale /run/netns file, or NULL when that probe
 * succeeded or none has ended yet. Valid until the next probe of @machine ends.
 */
const GError *lab_machine_monitor_get_probe_error (LabMachineMonitor *self, LabMachine *machine);

/* A note on machined ("systemd-machined is not running") for display, or NULL. */
const char *lab_machine_monitor_get_machined_status (LabMachineMonitor *self);

G_END_DECLS
