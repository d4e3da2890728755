/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internals of LabNetworkPage that tests drive directly. */
#pragma once

#include "lab-network-page.h"

G_BEGIN_DECLS

/* The rate slider runs from 0 to this position; the top position means "unlimited". */
#define LAB_RATE_SCALE_UNLIMITED 1000.0

/* Maps a rate slider position to bits per second, 0 for unlimited (logarithmic scale). */
guint64 lab_rate_scale_position_to_bps (double position);
/* Maps bits per second to a rate slider position; 0 maps to "unlimited". */
double lab_rate_scale_bps_to_position (guint64 bits_per_second);

GtkRange *lab_network_page_get_delay_scale (LabNetworkPage *self);
GtkRange *lab_network_page_get_rate_scale (LabNetworkPage *self);
/* The interface whose sliders are shown, or NULL. */
const char *lab_network_page_get_ifname (LabNetworkPage *self);
/* The read-back line under the sliders, such as "Root qdisc: tbf rate 1Mbit burst 1600b". */
const char *lab_network_page_get_state_text (LabNetworkPage *self);
/* TRUE while the page reads the shown interface back once a second. */
gboolean lab_network_page_is_polling (LabNetworkPage *self);
/* The detail line of @ifname's row ("ADDRESSES · qdisc KIND · up"), or NULL without that row. */
char *lab_network_page_dup_row_detail (LabNetworkPage *self, const char *ifname);
/* The heading above the interface list, such as "Interfaces of 'NAME'". */
const char *lab_network_page_get_title_text (LabNetworkPage *self);
/* TRUE when the sliders take input, which needs a chosen interface. */
gboolean lab_network_page_sliders_are_sensitive (LabNetworkPage *self);
/* TRUE once the hint that latency, jitter and loss need sch_netem is shown. */
gboolean lab_network_page_shows_netem_hint (LabNetworkPage *self);

G_END_DECLS
