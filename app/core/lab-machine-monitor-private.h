/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LabMachineMonitor's instance struct and the internals that its three source files share:
 * lab-machine-monitor.c (model, loading, probing), -netns.c (/run/netns) and -machined.c.
 */
#pragma once

#include <gio/gio.h>

#include "lab-machine.h"
#include "lab-machine-monitor.h"

G_BEGIN_DECLS

/* The host's name, as systemd-machined and machinectl spell it. */
#define HOST_NAME ".host"

struct _LabMachineMonitor {
  GObject parent_instance;

  GPtrArray *machines;       /* LabMachine: the host first, then sorted by name */
  LabMachine *host;
  guint64 host_inode;        /* 0 until the host's probe finished */
  GCancellable *cancellable; /* cancelled in dispose; every callback checks it first */

  gboolean started;
  gboolean loaded;
  guint pending;           /* operations in flight; the first time it drops to 0, load ends */
  GPtrArray *load_waiters; /* LoadWaiter */

  guint machined_watch_id;
  gboolean machined_seen; /* the first name-appeared or name-vanished callback ran */
  guint machined_epoch;   /* bumped when machined appears or vanishes */
  GDBusConnection *bus;
  guint machine_new_id;
  guint machine_removed_id;
  GHashTable *machined_lookups; /* name -> serial of the newest lookup of that machine */
  guint machined_serial;
  char *machined_status;

  GFileMonitor *run_dir_monitor;   /* reports /run/netns itself appearing or going */
  GFileMonitor *netns_dir_monitor; /* reports entries inside /run/netns */
  gboolean scanning;
  gboolean rescan_requested;
};

/* Model edits, defined in lab-machine-monitor.c. Each one emits items-changed. */
void lab_machine_monitor_insert_machine (LabMachineMonitor *self, LabMachine *machine);
void lab_machine_monitor_remove_machine_at (LabMachineMonitor *self, guint position);
LabMachine *lab_machine_monitor_find_machine (LabMachineMonitor *self, LabMachineSource source,
                                              const char *name, guint *position);

/*
 * op_begin() counts an operation in flight and op_end() ends it. The first time
 * the count drops to 0, the load completes for every load_async caller.
 */
void lab_machine_monitor_op_begin (LabMachineMonitor *self);
void lab_machine_monitor_op_end (LabMachineMonitor *self);

/* Reads the machine's namespace inode and interfaces on a thread inside its namespace. */
void lab_machine_monitor_probe_machine (LabMachineMonitor *self, LabMachine *machine);

/* Defined in lab-machine-monitor-netns.c. */
void lab_machine_monitor_start_netns_watch (LabMachineMonitor *self);
void lab_machine_monitor_set_netns_dir_watched (LabMachineMonitor *self, gboolean watched);

/* Defined in lab-machine-monitor-machined.c. */
void lab_machine_monitor_start_machined_watch (LabMachineMonitor *self);
void lab_machine_monitor_forget_machined (LabMachineMonitor *self);

G_END_DECLS
