/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the benchmarks: clocks, summary statistics, process
 * memory and a header that records the machine a run happened on.
 */
#pragma once

#include "lab-test.h"

G_BEGIN_DECLS

/* CLOCK_MONOTONIC in seconds. */
double bench_now (void);

/* Statistics over @count samples. They leave the array unchanged. */
double bench_mean (const double *values, guint count);
double bench_median (const double *values, guint count);
/* Nearest-rank percentile, @percent from 0 to 100. */
double bench_percentile (const double *values, guint count, double percent);
double bench_max (const double *values, guint count);

/* VmRSS of this process in KiB from /proc/self/status, or 0 when it cannot be read. */
guint64 bench_read_rss_kib (void);

/* Prints the benchmark's name, the CPU count, the kernel release and the load average. */
void bench_print_header (const char *name);

/* Waits for a child that this benchmark started, reaps it and returns its wait status. */
int bench_wait_child (GPid pid);

G_END_DECLS
