/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Validation and formatting of LabImpairment; needs no privileges. */
#include <math.h>
#include <string.h>

#include "lab-test.h"

static void
test_validate_ranges (void)
{
  static const struct {
    LabImpairment impairment;
    const char *expected_text; /* NULL when valid */
  } cases[] = {
    { { 0, 0, 0.0, 0 }, NULL },
    { { 100000, 10000, 1.0, 1000000 }, NULL },
    { { 0, 0, 100.0, 0 }, NULL },
    { { 0, 0, 150.0, 0 }, "loss 150%" },
    { { 0, 0, -1.0, 0 }, "loss -1%" },
    { { LAB_TIME_MAX_USEC + 1, 0, 0.0, 0 }, "delay" },
    { { 0, LAB_TIME_MAX_USEC + 1, 0.0, 0 }, "jitter" },
    { { 0, 0, 0.0, LAB_RATE_MIN_BPS - 1 }, "rate" },
    { { 0, 0, 0.0, LAB_RATE_MAX_BPS + 1 }, "rate" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean valid = lab_impairment_validate (&cases[i].impairment, &error);

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      if (cases[i].expected_text == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (valid);
        }
      else
        {
          g_assert_false (valid);
          g_assert_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
          g_assert_nonnull (strstr (error->message, cases[i].expected_text));
          g_assert_nonnull (strstr (error->message, "range"));
        }
    }
}

static void
test_validate_nan (void)
{
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (GError) error = NULL;

  impairment.loss_percent = NAN;
  g_assert_false (lab_impairment_validate (&impairment, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
}

static void
test_predicates (void)
{
  LabImpairment empty = LAB_IMPAIRMENT_INIT;
  LabImpairment rate = LAB_IMPAIRMENT_INIT;
  LabImpairment loss = LAB_IMPAIRMENT_INIT;

  rate.rate_bps = 1000000;
  loss.loss_percent = 0.5;

  g_assert_true (lab_impairment_is_empty (&empty));
  g_assert_false (lab_impairment_is_empty (&rate));
  g_assert_false (lab_impairment_needs_netem (&rate));
  g_assert_true (lab_impairment_needs_netem (&loss));
  g_assert_true (lab_impairment_equal (&rate, &rate));
  g_assert_false (lab_impairment_equal (&rate, &loss));
}

static void
test_to_string (void)
{
  LabImpairment empty = LAB_IMPAIRMENT_INIT;
  LabImpairment all = { 100000, 10000, 1.0, 1000000 };
  g_autofree char *empty_text = lab_impairment_to_string (&empty);
  g_autofree char *all_text = lab_impairment_to_string (&all);

  g_assert_cmpstr (empty_text, ==, "none");
  g_assert_cmpstr (all_text, ==, "delay 100ms jitter 10ms loss 1% rate 1Mbit");
}

static void
test_qdisc_state_copy (void)
{
  LabQdiscState state = { .ifname = (char *) "eth0", .ifindex = 2, .kind = (char *) "tbf",
                          .handle = 0x01ab0000, .ours = TRUE, .has_original = TRUE,
                          .impairment = { 0, 0, 0.0, 1000000 },
                          .summary = (char *) "tbf rate 1Mbit" };
  g_autoptr (LabQdiscState) copy = lab_qdisc_state_copy (&state);

  g_assert_true (copy->ifname != state.ifname);
  g_assert_cmpstr (copy->ifname, ==, "eth0");
  g_assert_cmpstr (copy->kind, ==, "tbf");
  g_assert_cmpstr (copy->summary, ==, "tbf rate 1Mbit");
  g_assert_cmphex (copy->handle, ==, 0x01ab0000);
  g_assert_true (lab_impairment_equal (&copy->impairment, &state.impairment));
  g_assert_true (G_TYPE_IS_BOXED (LAB_TYPE_QDISC_STATE));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/lab/impairment/validate-ranges", test_validate_ranges);
  g_test_add_func ("/lab/impairment/validate-nan", test_validate_nan);
  g_test_add_func ("/lab/impairment/predicates", test_predicates);
  g_test_add_func ("/lab/impairment/to-string", test_to_string);
  g_test_add_func ("/lab/impairment/qdisc-state-copy", test_qdisc_state_copy);

  return g_test_run ();
}
