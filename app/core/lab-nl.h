/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A route netlink socket that keeps the kernel's extended ack text. libnl 3.7
 * has no API for NETLINK_EXT_ACK, so a custom error callback parses
 * NLMSGERR_ATTR_MSG itself. Private to the core library.
 */
#pragma once

#include <glib.h>
#include <netlink/netlink.h>

G_BEGIN_DECLS

typedef struct _LabNl LabNl;

/*
 * Opens and connects a NETLINK_ROUTE socket in the calling thread's network
 * namespace. Returns NULL and sets *out_err to a negative errno on failure.
 */
LabNl *lab_nl_open (int *out_err);
void lab_nl_close (LabNl *nl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabNl, lab_nl_close)

struct nl_sock *lab_nl_get_sock (LabNl *nl);

/*
 * Sends @msg and waits for the kernel's ack. Returns 0 or a negative errno;
 * on failure lab_nl_get_ext_ack() returns the kernel's text, if it sent one.
 */
int lab_nl_send (LabNl *nl, struct nl_msg *msg);

/* The extended ack message of the last failed request, or NULL. */
const char *lab_nl_get_ext_ack (LabNl *nl);

/* Maps a negative libnl NLE_* code to the closest negative errno. */
int lab_nl_errno_from_nle (int nle_error);

G_END_DECLS
