/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LAB_ERROR (lab_error_quark ())

/* Every message carries the value involved and what to do next. */
typedef enum {
  LAB_ERROR_FAILED,
  LAB_ERROR_INVALID_ARGUMENT, /* bad user input; nothing was changed */
  LAB_ERROR_NOT_FOUND,        /* namespace, machine or interface missing or gone */
  LAB_ERROR_AMBIGUOUS,        /* several candidates; the message lists them */
  LAB_ERROR_NOT_SUPPORTED,    /* the kernel lacks a feature, such as sch_netem */
  LAB_ERROR_PERMISSION,       /* missing capability or kernel lockdown */
  LAB_ERROR_BUSY,             /* another program holds the resource */
  LAB_ERROR_EXISTS,           /* something with that name already exists */
} LabError;

GQuark lab_error_quark (void);

/* Maps a negative or positive errno to the closest LabError code. */
LabError lab_error_from_errno (int err);

G_END_DECLS
