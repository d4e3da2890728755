/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared helpers for Lab's tests: skipping with a reason, unique names, real namespaces. */
#pragma once

#include "lab-core.h"

G_BEGIN_DECLS

/* meson treats this exit status as "skipped". */
#define LAB_TEST_EXIT_SKIP 77

/* Prints "SKIP: REASON" and exits with LAB_TEST_EXIT_SKIP. */
G_NORETURN void lab_test_skip_all (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* Skips the whole binary unless it runs as root. */
void lab_test_require_root (void);

/*
 * A name that no other test run uses: "$LAB_TEST_PREFIX-SUFFIX-N". The
 * with-cleanup.sh wrapper sets the prefix and deletes every namespace that
 * carries it after the test, even one that crashed.
 */
char *lab_test_unique_name (const char *suffix);

/* Runs argv, fails the test unless it exits 0; returns its stdout. */
char *lab_test_run (const char * const *argv);
/* Same from a space-separated command line with no quoting. */
char *lab_test_run_line (const char *command_line);

/* Two named namespaces joined by a veth pair, "eth0" in each, 198.18.N.1/24 and .2/24, up. */
typedef struct {
  char *ns_a;
  char *ns_b;
} LabTestPair;

LabTestPair *lab_test_pair_new (void);
/* Deletes both namespaces; safe when they are already gone. */
void lab_test_pair_free (LabTestPair *pair);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabTestPair, lab_test_pair_free)

/* Iterates the default main context until *flag becomes TRUE. */
void lab_test_wait_for (gboolean *flag);

G_END_DECLS
