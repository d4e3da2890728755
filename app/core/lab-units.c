/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-units.h"

#include <math.h>
#include <string.h>

#include "lab-error.h"

typedef struct {
  const char *name;
  double scale;
} Unit;

/* Suffixes as tc(8) accepts them, compared without case; scales to microseconds. */
static const Unit time_units[] = {
  { "s", 1e6 }, { "sec", 1e6 }, { "secs", 1e6 },
  { "ms", 1e3 }, { "msec", 1e3 }, { "msecs", 1e3 },
  { "us", 1 }, { "usec", 1 }, { "usecs", 1 },
  { "ns", 1e-3 }, { "nsec", 1e-3 }, { "nsecs", 1e-3 },
};

/* Scales to bits per second; "bps" is bytes per second, as in tc(8). */
static const Unit rate_units[] = {
  { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 }, { "tbit", 1e12 },
  { "kibit", 1024.0 }, { "mibit", 1048576.0 }, { "gibit", 1073741824.0 },
  { "tibit", 1099511627776.0 },
  { "bps", 8 }, { "kbps", 8e3 }, { "mbps", 8e6 }, { "gbps", 8e9 }, { "tbps", 8e12 },
  { "kibps", 8 * 1024.0 }, { "mibps", 8 * 1048576.0 }, { "gibps", 8 * 1073741824.0 },
  { "tibps", 8 * 1099511627776.0 },
};

/*
 * Splits "1.5ms" into 1.5 and "ms". Only a plain unsigned decimal number is
 * accepted, so "-5", "+5", "inf", "nan" and "0x10" are rejected here.
 */
static gboolean
split_number (const char *text, double *out_number, const char **out_suffix)
{
  const char *p = text;
  char *end = NULL;
  gboolean digits = FALSE;
  double number;

  for (; g_ascii_isdigit (*p); p++)
    digits = TRUE;
  if (*p == '.')
    for (p++; g_ascii_isdigit (*p); p++)
      digits = TRUE;
  if (!digits)
    return FALSE;

  number = g_ascii_strtod (text, &end);
  if (end != p || !isfinite (number))
    return FALSE;

  *out_number = number;
  *out_suffix = p;
  return TRUE;
}

static const Unit *
find_unit (const Unit *units, gsize n_units, const char *suffix)
{
  for (gsize i = 0; i < n_units; i++)
    if (g_ascii_strcasecmp (units[i].name, suffix) == 0)
      return &units[i];
  return NULL;
}

static gboolean
check_text (const char *what, const char *text, const char *example, GError **error)
{
  if (text == NULL || *text == '\0')
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Missing %s value: give one such as %s", what, example);
      return FALSE;
    }
  if (text[0] == '-')
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid %s '%s': it must not be negative; give one such as %s", what, text,
                   example);
      return FALSE;
    }
  return TRUE;
}

gboolean
lab_parse_time (const char *text, guint64 *out_usec, GError **error)
{
  const char *suffix;
  const Unit *unit;
  double number;
  double usec;

  if (!check_text ("time", text, "100ms", error))
    return FALSE;

  if (!split_number (text, &number, &suffix))
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid time '%s': expected a number with a unit, such as 100ms, 1.5s "
                   "or 250us", text);
      return FALSE;
    }

  if (*suffix == '\0')
    {
      if (number != 0)
        {
          g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                       "Invalid time '%s': missing unit; write %sms, %ss or %sus", text, text,
                       text, text);
          return FALSE;
        }
      *out_usec = 0;
      return TRUE;
    }

  unit = find_unit (time_units, G_N_ELEMENTS (time_units), suffix);
  if (unit == NULL)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid time '%s': unknown unit '%s'; use s, ms, us or ns", text, suffix);
      return FALSE;
    }

  usec = round (number * unit->scale);
  if (usec > (double) LAB_TIME_MAX_USEC)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid time '%s': the maximum is 60s", text);
      return FALSE;
    }
  if (usec == 0 && number != 0)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid time '%s': below the resolution of 1us; use 0 or at least 1us",
                   text);
      return FALSE;
    }

  *out_usec = (guint64) usec;
  return TRUE;
}

gboolean
lab_parse_rate (const char *text, guint64 *out_bits_per_second, GError **error)
{
  const char *suffix;
  const Unit *unit;
  double number;
  double bps;

  if (!check_text ("rate", text, "1mbit", error))
    return FALSE;

  if (!split_number (text, &number, &suffix))
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid rate '%s': expected a number with a unit, such as 1mbit, 100kbit "
                   "or 125kbps", text);
      return FALSE;
    }

  if (*suffix == '\0')
    {
      if (number != 0)
        {
          g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                       "Invalid rate '%s': missing unit; write %skbit, %smbit or %sbps (bytes "
                       "per second)", text, text, text, text);
          return FALSE;
        }
      *out_bits_per_second = 0;
      return TRUE;
    }

  unit = find_unit (rate_units, G_N_ELEMENTS (rate_units), suffix);
  if (unit == NULL)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid rate '%s': unknown unit '%s'; use bit, kbit, mbit, gbit, or bps, "
                   "kbps, mbps, gbps for bytes per second", text, suffix);
      return FALSE;
    }

  bps = round (number * unit->scale);
  if (bps == 0)
    {
      *out_bits_per_second = 0;
      return TRUE;
    }
  if (bps < (double) LAB_RATE_MIN_BPS || bps > (double) LAB_RATE_MAX_BPS)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid rate '%s': it must be between 8kbit and 10gbit, or 0 for no limit",
                   text);
      return FALSE;
    }

  *out_bits_per_second = (guint64) bps;
  return TRUE;
}

gboolean
lab_parse_percent (const char *text, double *out_percent, GError **error)
{
  const char *suffix;
  double number;

  if (!check_text ("percentage", text, "5%", error))
    return FALSE;

  if (!split_number (text, &number, &suffix) || (*suffix != '\0' && strcmp (suffix, "%") != 0))
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid percentage '%s': expected a number from 0 to 100, such as 5%% "
                   "or 0.5%%", text);
      return FALSE;
    }
  if (number > 100)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                   "Invalid percentage '%s': it must be between 0%% and 100%%", text);
      return FALSE;
    }

  *out_percent = number;
  return TRUE;
}

/* Prints VALUE with at most three decimals and no trailing zeros, then UNIT. */
static char *
format_scaled (double value, const char *unit)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  char *dot;
  gsize len;

  g_ascii_formatd (buffer, sizeof buffer, "%.3f", value);
  dot = strchr (buffer, '.');
  if (dot != NULL)
    {
      len = strlen (buffer);
      while (len > 0 && buffer[len - 1] == '0')
        buffer[--len] = '\0';
      if (len > 0 && buffer[len - 1] == '.')
        buffer[--len] = '\0';
    }
  return g_strconcat (buffer, unit, NULL);
}

char *
lab_format_time (guint64 usec)
{
  if (usec >= G_USEC_PER_SEC)
    return format_scaled ((double) usec / G_USEC_PER_SEC, "s");
  if (usec >= 1000)
    return format_scaled ((double) usec / 1000, "ms");
  return g_strdup_printf ("%" G_GUINT64_FORMAT "us", usec);
}

char *
lab_format_rate (guint64 bits_per_second)
{
  static const char *const units[] = { "bit", "Kbit", "Mbit", "Gbit", "Tbit" };
  double value = (double) bits_per_second;
  gsize i = 0;

  while (value >= 1000 && i < G_N_ELEMENTS (units) - 1)
    {
      value /= 1000;
      i++;
    }
  return format_scaled (value, units[i]);
}

char *
lab_format_percent (double percent)
{
  return format_scaled (percent, "%");
}
