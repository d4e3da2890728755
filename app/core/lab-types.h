/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Forward declarations of every core type, so headers can refer to each other. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _LabBpfEvent LabBpfEvent;
typedef struct _LabBpfEvents LabBpfEvents;
typedef struct _LabDemo LabDemo;
typedef struct _LabImpairment LabImpairment;
typedef struct _LabInterface LabInterface;
typedef struct _LabMachine LabMachine;
typedef struct _LabMachineMonitor LabMachineMonitor;
typedef struct _LabNetns LabNetns;
typedef struct _LabQdiscState LabQdiscState;
typedef struct _LabTracePipe LabTracePipe;

G_END_DECLS
