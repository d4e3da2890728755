/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bench-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double
bench_now (void)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (double) now.tv_sec + (double) now.tv_nsec / 1e9;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return (x > y) - (x < y);
}

static double *
sorted_copy (const double *values, guint count)
{
  double *copy = g_memdup2 (values, count * sizeof *values);

  qsort (copy, count, sizeof *copy, compare_doubles);
  return copy;
}

double
bench_mean (const double *values, guint count)
{
  double sum = 0;

  if (count == 0)
    return 0;
  for (guint i = 0; i < count; i++)
    sum += values[i];
  return sum / count;
}

double
bench_median (const double *values, guint count)
{
  g_autofree double *sorted = NULL;

  if (count == 0)
    return 0;
  sorted = sorted_copy (values, count);
  if (count % 2 == 1)
    return sorted[count / 2];
  return (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

double
bench_percentile (const double *values, guint count, double percent)
{
  g_autofree double *sorted = NULL;
  guint rank;

  if (count == 0)
    return 0;
  sorted = sorted_copy (values, count);
  rank = (guint) (percent / 100.0 * count + 0.999999);
  rank = CLAMP (rank, 1, count);
  return sorted[rank - 1];
}

double
bench_max (const double *values, guint count)
{
  double max = 0;

  for (guint i = 0; i < count; i++)
    max = MAX (max, values[i]);
  return max;
}

guint64
bench_read_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, "\nVmRSS:");
  if (line == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen ("\nVmRSS:"), NULL, 10);
}

void
bench_print_header (const char *name)
{
  struct utsname system;
  double load[3] = { 0 };

  uname (&system);
  if (getloadavg (load, 3) < 3)
    load[0] = load[1] = load[2] = -1;
  printf ("# %s: %ld online CPUs, kernel %s, load average %.2f %.2f %.2f\n", name,
          sysconf (_SC_NPROCESSORS_ONLN), system.release, load[0], load[1], load[2]);
  fflush (stdout);
}

int
bench_wait_child (GPid pid)
{
  int status = 0;

  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);
  return status;
}
