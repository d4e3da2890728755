/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Apply latency of lab_shaper_apply_async against spawning `tc -n NS qdisc
 * replace ... tbf`, on the eth0 ends of a fresh namespace pair: Lab shapes one
 * end and tc the other. The two alternate apply by apply, and each apply
 * switches the rate, so every call changes the kernel's state.
 *
 * A Lab apply is timed from the _async call to its callback, so it includes
 * the namespace thread, the journal and the read-back that every apply does.
 */
#include <stdio.h>

#include "bench-util.h"

#define APPLIES 200
/* Applies per side before timing starts. Lab's first apply also saves the original qdisc. */
#define WARMUP_APPLIES 5

static const guint64 rates_bps[] = { 1000000, 2000000 };
static const char *const tc_rates[] = { "1mbit", "2mbit" };

static void
store_result (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static double
apply_with_lab (LabNetns *netns, guint64 rate_bps)
{
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  double start;
  double seconds;

  impairment.rate_bps = rate_bps;
  start = bench_now ();
  lab_shaper_apply_async (netns, "eth0", &impairment, NULL, store_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  seconds = bench_now () - start;

  state = lab_shaper_apply_finish (result, &error);
  if (state == NULL)
    g_error ("Applying rate %" G_GUINT64_FORMAT " bit/s with Lab failed: %s", rate_bps,
             error->message);
  if (g_strcmp0 (state->kind, "tbf") != 0 || state->impairment.rate_bps != rate_bps)
    g_error ("Lab applied rate %" G_GUINT64_FORMAT " bit/s but read back %s rate %"
             G_GUINT64_FORMAT " bit/s",
             rate_bps, state->kind, state->impairment.rate_bps);
  return seconds;
}

static double
apply_with_tc (const char *ns, const char *rate)
{
  const char *argv[] = { "tc", "-n", ns, "qdisc", "replace", "dev", "eth0", "root", "tbf",
                         "rate", rate, "burst", "32kbit", "latency", "400ms", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *standard_error = NULL;
  int status = 0;
  double start = bench_now ();
  double seconds;

  if (!g_spawn_sync (NULL, (char **) argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                     &standard_error, &status, &error))
    g_error ("Spawning tc failed: %s", error->message);
  seconds = bench_now () - start;
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("'tc -n %s qdisc replace dev eth0 root tbf rate %s' failed: %s %s", ns, rate,
             error->message, standard_error);
  return seconds;
}

static void
reset_with_lab (LabNetns *netns)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;

  lab_shaper_reset_async (netns, "eth0", NULL, store_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  state = lab_shaper_reset_finish (result, &error);
  if (state == NULL)
    g_error ("Resetting eth0 with Lab failed: %s", error->message);
}

static void
print_side (const char *name, const double *seconds, guint count)
{
  printf ("%-3s applies %u: mean %.3f ms, median %.3f ms, p90 %.3f ms, max %.3f ms\n", name,
          count, bench_mean (seconds, count) * 1e3, bench_median (seconds, count) * 1e3,
          bench_percentile (seconds, count, 90) * 1e3, bench_max (seconds, count) * 1e3);
}

int
main (int argc, char **argv)
{
  g_autoptr (LabTestPair) pair = NULL;
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *tc_show = NULL;
  g_autofree char *tc_path = g_find_program_in_path ("tc");
  double lab_seconds[APPLIES];
  double tc_seconds[APPLIES];
  double mean_ratio;
  double median_ratio;

  setvbuf (stdout, NULL, _IOLBF, 0);
  lab_test_require_root ();
  if (tc_path == NULL)
    lab_test_skip_all ("tc from iproute2 is not installed");

  pair = lab_test_pair_new ();
  netns = lab_netns_new_named (pair->ns_a, &error);
  g_assert_no_error (error);

  bench_print_header ("bench-apply");
  printf ("# %d applies per side after %d warm-up applies; Lab shapes eth0 in '%s', tc in '%s'; "
          "rates alternate between 1mbit and 2mbit\n",
          APPLIES, WARMUP_APPLIES, pair->ns_a, pair->ns_b);

  for (guint i = 0; i < WARMUP_APPLIES; i++)
    {
      apply_with_lab (netns, rates_bps[i % 2]);
      apply_with_tc (pair->ns_b, tc_rates[i % 2]);
    }

  /* Which side goes first alternates too, so neither always runs right after the other. */
  for (guint i = 0; i < APPLIES; i++)
    {
      if (i % 4 < 2)
        {
          lab_seconds[i] = apply_with_lab (netns, rates_bps[i % 2]);
          tc_seconds[i] = apply_with_tc (pair->ns_b, tc_rates[i % 2]);
        }
      else
        {
          tc_seconds[i] = apply_with_tc (pair->ns_b, tc_rates[i % 2]);
          lab_seconds[i] = apply_with_lab (netns, rates_bps[i % 2]);
        }
    }

  print_side ("lab", lab_seconds, APPLIES);
  print_side ("tc", tc_seconds, APPLIES);
  mean_ratio = bench_mean (tc_seconds, APPLIES) / bench_mean (lab_seconds, APPLIES);
  median_ratio = bench_median (tc_seconds, APPLIES) / bench_median (lab_seconds, APPLIES);
  printf ("ratio tc/lab: mean %.2f, median %.2f\n", mean_ratio, median_ratio);

  tc_show = lab_test_run ((const char *[]){ "tc", "-n", pair->ns_b, "qdisc", "show", "dev",
                                            "eth0", NULL });
  printf ("# tc side after the last apply: %s", tc_show);
  reset_with_lab (netns);
  return 0;
}
