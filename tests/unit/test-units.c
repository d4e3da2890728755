/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-test.h"

typedef struct {
  const char *text;
  guint64 expected;
} IntCase;

static void
test_time_valid (void)
{
  static const IntCase cases[] = {
    { "100ms", 100000 },
    { "1.5s", 1500000 },
    { "250us", 250 },
    { "0", 0 },
    { "0ms", 0 },
    { "10MS", 10000 },
    { "2sec", 2000000 },
    { ".5ms", 500 },
    { "1500ns", 2 },
    { "60s", 60000000 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      guint64 usec = G_MAXUINT64;

      g_test_message ("parsing '%s'", cases[i].text);
      g_assert_true (lab_parse_time (cases[i].text, &usec, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (usec, ==, cases[i].expected);
    }
}

static void
assert_time_rejected (const char *text, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  guint64 usec = 42;

  g_test_message ("rejecting time '%s'", text ? text : "(null)");
  g_assert_false (lab_parse_time (text, &usec, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, fragment));
  g_assert_cmpuint (usec, ==, 42);
}

static void
test_time_invalid (void)
{
  assert_time_rejected ("", "Missing");
  assert_time_rejected (NULL, "Missing");
  assert_time_rejected ("10m", "unknown unit 'm'");
  assert_time_rejected ("100", "missing unit");
  assert_time_rejected ("-5ms", "negative");
  assert_time_rejected ("61s", "maximum is 60s");
  assert_time_rejected ("99999999999999999999999s", "maximum");
  assert_time_rejected ("ms", "expected a number");
  assert_time_rejected ("1e3ms", "expected a number");
  assert_time_rejected ("inf", "expected a number");
  assert_time_rejected ("0.1ns", "resolution");
  assert_time_rejected ("10 ms", "unknown unit");
}

static void
test_rate_valid (void)
{
  static const IntCase cases[] = {
    { "1mbit", 1000000 },
    { "100kbit", 100000 },
    { "1.5Mbit", 1500000 },
    { "10gbit", 10000000000 },
    { "125kbps", 1000000 },
    { "1mibit", 1048576 },
    { "8000bit", 8000 },
    { "0", 0 },
    { "0kbit", 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      guint64 bps = G_MAXUINT64;

      g_test_message ("parsing '%s'", cases[i].text);
      g_assert_true (lab_parse_rate (cases[i].text, &bps, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (bps, ==, cases[i].expected);
    }
}

static void
assert_rate_rejected (const char *text, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  guint64 bps = 42;

  g_test_message ("rejecting rate '%s'", text);
  g_assert_false (lab_parse_rate (text, &bps, &error));
  g_assert_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, fragment));
  g_assert_cmpuint (bps, ==, 42);
}

static void
test_rate_invalid (void)
{
  assert_rate_rejected ("", "Missing");
  assert_rate_rejected ("10m", "unknown unit 'm'");
  assert_rate_rejected ("1000", "missing unit");
  assert_rate_rejected ("-1mbit", "negative");
  assert_rate_rejected ("11gbit", "between 8kbit and 10gbit");
  assert_rate_rejected ("1bit", "between 8kbit and 10gbit");
  assert_rate_rejected ("184467440737095516160000tbit", "between");
  assert_rate_rejected ("fast", "expected a number");
}

static void
test_percent (void)
{
  static const struct {
    const char *text;
    double expected;
  } cases[] = {
    { "5%", 5 }, { "0%", 0 }, { "100%", 100 }, { "0.5%", 0.5 }, { "7", 7 },
  };
  static const char *const rejected[] = { "-5%", "150%", "", "5%%", "abc", "100.1%", "5 %" };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      double percent = -1;

      g_assert_true (lab_parse_percent (cases[i].text, &percent, &error));
      g_assert_no_error (error);
      g_assert_cmpfloat_with_epsilon (percent, cases[i].expected, 1e-9);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (rejected); i++)
    {
      g_autoptr (GError) error = NULL;
      double percent = -1;

      g_test_message ("rejecting percentage '%s'", rejected[i]);
      g_assert_false (lab_parse_percent (rejected[i], &percent, &error));
      g_assert_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, rejected[i]));
      g_assert_cmpfloat (percent, ==, -1);
    }
}

static void
test_format (void)
{
  static const struct {
    char *(*format) (guint64 value);
    guint64 value;
    const char *expected;
  } cases[] = {
    { lab_format_time, 100000, "100ms" },
    { lab_format_time, 1500000, "1.5s" },
    { lab_format_time, 250, "250us" },
    { lab_format_time, 0, "0us" },
    { lab_format_rate, 1000000, "1Mbit" },
    { lab_format_rate, 100000, "100Kbit" },
    { lab_format_rate, 1500000, "1.5Mbit" },
    { lab_format_rate, 10000000000, "10Gbit" },
    { lab_format_rate, 8000, "8Kbit" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = cases[i].format (cases[i].value);

      g_assert_cmpstr (text, ==, cases[i].expected);
    }

  {
    g_autofree char *five = lab_format_percent (5);
    g_autofree char *half = lab_format_percent (0.5);

    g_assert_cmpstr (five, ==, "5%");
    g_assert_cmpstr (half, ==, "0.5%");
  }
}

static void
test_round_trip (void)
{
  static const char *const times[] = { "100ms", "1.5s", "250us", "42ms" };
  static const char *const rates[] = { "1Mbit", "100Kbit", "1.5Mbit", "10Gbit" };

  for (gsize i = 0; i < G_N_ELEMENTS (times); i++)
    {
      g_autofree char *text = NULL;
      guint64 usec = 0;

      g_assert_true (lab_parse_time (times[i], &usec, NULL));
      text = lab_format_time (usec);
      g_assert_cmpstr (text, ==, times[i]);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (rates); i++)
    {
      g_autofree char *text = NULL;
      guint64 bps = 0;

      g_assert_true (lab_parse_rate (rates[i], &bps, NULL));
      text = lab_format_rate (bps);
      g_assert_cmpstr (text, ==, rates[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/lab/units/time-valid", test_time_valid);
  g_test_add_func ("/lab/units/time-invalid", test_time_invalid);
  g_test_add_func ("/lab/units/rate-valid", test_rate_valid);
  g_test_add_func ("/lab/units/rate-invalid", test_rate_invalid);
  g_test_add_func ("/lab/units/percent", test_percent);
  g_test_add_func ("/lab/units/format", test_format);
  g_test_add_func ("/lab/units/round-trip", test_round_trip);

  return g_test_run ();
}
