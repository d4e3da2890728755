/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

#include "lab-types.h"

G_BEGIN_DECLS

typedef enum {
  LAB_MACHINE_HOST,     /* ".host" */
  LAB_MACHINE_MACHINED, /* registered with systemd-machined */
  LAB_MACHINE_NETNS,    /* a name under /run/netns */
} LabMachineSource;

#define LAB_TYPE_MACHINE (lab_machine_get_type ())
G_DECLARE_FINAL_TYPE (LabMachine, lab_machine, LAB, MACHINE, GObject)

LabMachine *lab_machine_new (LabMachineSource source, const char *name, LabNetns *netns);

const char *lab_machine_get_name (LabMachine *self);
LabMachineSource lab_machine_get_source (LabMachine *self);
/* "host", "machined" or "netns", as labctl prints it. */
const char *lab_machine_source_to_string (LabMachineSource source);
LabNetns *lab_machine_get_netns (LabMachine *self);
/* machined's class ("container", "vm") or NULL. */
const char *lab_machine_get_class (LabMachine *self);
void lab_machine_set_class (LabMachine *self, const char *klass);
/* machined's leader PID, or 0. */
GPid lab_machine_get_leader (LabMachine *self);
void lab_machine_set_leader (LabMachine *self, GPid leader);
/* Namespace inode, 0 until known. */
guint64 lab_machine_get_netns_inode (LabMachine *self);
void lab_machine_set_netns_inode (LabMachine *self, guint64 inode);
/* TRUE when the machine uses the host's network namespace. */
gboolean lab_machine_get_shares_host_network (LabMachine *self);
void lab_machine_set_shares_host_network (LabMachine *self, gboolean shares);
/* GPtrArray of LabInterface, or NULL until loaded; notifies "interfaces". */
GPtrArray *lab_machine_get_interfaces (LabMachine *self);
void lab_machine_set_interfaces (LabMachine *self, GPtrArray *interfaces);

G_END_DECLS
