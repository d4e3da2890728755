/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The GTK-free core of Lab. */
#pragma once

#include "lab-types.h"
#include "lab-error.h"
#include "lab-units.h"
#include "lab-impairment.h"
#include "lab-netns.h"
#include "lab-interface.h"
#include "lab-machine.h"
#include "lab-machine-monitor.h"
#include "lab-shaper.h"
#include "lab-trace-pipe.h"
#include "lab-bpf-events.h"
#include "lab-demo.h"
