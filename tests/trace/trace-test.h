/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers for the tracing tests: leave tracefs mounted only if it was mounted before. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "lab-test.h"

#define TRACE_TEST_TRACEFS "/sys/kernel/tracing"

static gboolean trace_test_tracefs_was_mounted;

static gboolean
trace_test_tracefs_is_mounted (void)
{
  g_autofree char *mounts = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents ("/proc/self/mounts", &mounts, NULL, &error);
  g_assert_no_error (error);
  return strstr (mounts, " " TRACE_TEST_TRACEFS " tracefs ") != NULL
         || strstr (mounts, " /sys/kernel/debug/tracing tracefs ") != NULL;
}

/* Call first in main(): records whether tracefs is mounted before any test runs. */
static void
trace_test_record_tracefs (void)
{
  trace_test_tracefs_was_mounted = trace_test_tracefs_is_mounted ();
}

/* Call last in main(): unmounts tracefs if this run mounted it. */
static void
trace_test_restore_tracefs (void)
{
  if (trace_test_tracefs_was_mounted || !trace_test_tracefs_is_mounted ())
    return;
  if (umount (TRACE_TEST_TRACEFS) != 0)
    printf ("# tracefs at %s was mounted by this test but unmounting failed: %s\n",
            TRACE_TEST_TRACEFS, g_strerror (errno));
}

typedef struct
{
  gboolean done;
  GAsyncResult *result;
} TraceTestWait;

static void
trace_test_on_ready (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  TraceTestWait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->done = TRUE;
}
