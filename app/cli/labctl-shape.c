/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `labctl set`, `show` and `reset`: iproute2-style words for one interface's egress impairment. */
#include <net/if.h>
#include <linux/pkt_sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labctl.h"

typedef struct {
  const char *target;
  const char *ifname;
  LabImpairment impairment;
} ShapeArguments;

/* The value words each command takes after TARGET; set takes all of them. */
static const char *const set_keywords[] = { "dev", "delay", "jitter", "loss", "rate", NULL };
static const char *const dev_keywords[] = { "dev", NULL };

#define TARGET_HELP \
  "TARGET is \".host\", a systemd-machined machine name or a name under /run/netns;\n" \
  "put -- before a TARGET that starts with '-'. Without dev, the namespace's only\n" \
  "non-loopback interface is used.\n"

static const char set_usage[] =
  "Usage: labctl set [--] TARGET [dev IFACE] [delay TIME] [jitter TIME] [loss PERCENT]\n"
  "                  [rate RATE]\n"
  "\n"
  "Replace the impairment of one interface's egress and print the root qdisc the\n"
  "kernel then holds. Fields left out are cleared; with none, set acts as reset.\n"
  "\n"
  TARGET_HELP
  "Units as in tc: TIME 100ms, 1.5s, 250us; RATE 1mbit, 100kbit, 1gbit, 125kbps\n"
  "(bytes per second); PERCENT 0 to 100, such as 5%.\n";

static const char show_usage[] =
  "Usage: labctl show [--] TARGET [dev IFACE]\n"
  "\n"
  "Print the root qdisc the kernel holds on one interface and whether Lab owns it.\n"
  "\n"
  TARGET_HELP;

static const char reset_usage[] =
  "Usage: labctl reset [--] TARGET [dev IFACE]\n"
  "\n"
  "Restore the root qdisc that was there before Lab changed it. A root qdisc that\n"
  "Lab did not create is left as it is.\n"
  "\n"
  TARGET_HELP;

static gboolean
parse_value (const char *keyword, const char *value, ShapeArguments *arguments, GError **error)
{
  if (g_str_equal (keyword, "dev"))
    {
      if (*value == '\0' || strlen (value) >= IFNAMSIZ || strchr (value, '/') != NULL)
        {
          g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                       "invalid interface name '%s': it must be 1 to %d bytes without '/'",
                       value, IFNAMSIZ - 1);
          return FALSE;
        }
      arguments->ifname = value;
      return TRUE;
    }
  if (g_str_equal (keyword, "delay"))
    return lab_parse_time (value, &arguments->impairment.delay_usec, error);
  if (g_str_equal (keyword, "jitter"))
    return lab_parse_time (value, &arguments->impairment.jitter_usec, error);
  if (g_str_equal (keyword, "loss"))
    return lab_parse_percent (value, &arguments->impairment.loss_percent, error);
  if (g_str_equal (keyword, "rate"))
    return lab_parse_rate (value, &arguments->impairment.rate_bps, error);
  g_assert_not_reached ();
}

static gboolean
is_help_option (const char *word)
{
  return g_str_equal (word, "--help") || g_str_equal (word, "-h");
}

/*
 * Parses "[--] TARGET [KEYWORD VALUE]..." after the command name; returns an
 * exit status, or -1 when the command should run. --help anywhere before "--"
 * prints @usage and exits 0.
 */
static int
parse_arguments (int argc, char **argv, const char *const *keywords, const char *usage,
                 ShapeArguments *arguments)
{
  const char *command = argv[0];
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *expected = g_strjoinv (", ", (char **) keywords);
  int first = 1;

  for (int i = 1; i < argc && !g_str_equal (argv[i], "--"); i++)
    if (is_help_option (argv[i]))
      {
        fputs (usage, stdout);
        return EXIT_SUCCESS;
      }

  if (argc > 1 && g_str_equal (argv[1], "--"))
    first = 2;
  else if (argc > 1 && argv[1][0] == '-')
    return labctl_usage_error ("unknown option '%s' for '%s'", argv[1], command);
  if (argc <= first)
    return labctl_usage_error ("'%s' needs a TARGET", command);
  arguments->target = argv[first];

  for (int i = first + 1; i < argc; i += 2)
    {
      const char *keyword = argv[i];
      g_autoptr (GError) error = NULL;

      if (keyword[0] == '-')
        return labctl_usage_error ("unknown option '%s' for '%s'", keyword, command);
      if (!g_strv_contains (keywords, keyword))
        return labctl_usage_error ("unknown argument '%s' for '%s'; expected one of: %s",
                                   keyword, command, expected);
      if (!g_hash_table_add (seen, (gpointer) keyword))
        return labctl_usage_error ("'%s' is given twice; give it once", keyword);
      if (i + 1 >= argc)
        return labctl_usage_error ("'%s' needs a value", keyword);
      if (!parse_value (keyword, argv[i + 1], arguments, &error))
        return labctl_usage_error ("%s", error->message);
    }
  return -1;
}

static void
print_state (const ShapeArguments *arguments, const LabQdiscState *state)
{
  g_autofree char *impairment = lab_impairment_to_string (&state->impairment);

  printf ("%s dev %s\n", arguments->target, state->ifname);
  printf ("  qdisc       %s\n", state->summary);
  printf ("  impairment  %s\n", impairment);
  if (state->ours)
    printf ("  owner       Lab; reset restores %s\n",
            state->has_original ? "the saved original" : "the kernel default");
  else
    printf ("  owner       not Lab\n");
}

/* Tells why reset kept a root qdisc that someone else installed, and how to remove it. */
static void
print_left_alone (LabNetns *netns, const LabQdiscState *state)
{
  g_autofree char *command = lab_shaper_describe_tc_delete (netns, state->ifname);

  g_printerr ("labctl: left the %s root qdisc %x: on %s alone because Lab did not create it; "
              "remove it with \"%s\"\n",
              state->kind, TC_H_MAJ (state->handle) >> 16, state->ifname, command);
}

typedef enum {
  SHAPE_SET,
  SHAPE_SHOW,
  SHAPE_RESET,
} ShapeCommand;

static const char *
usage_for_command (ShapeCommand command)
{
  switch (command)
    {
    case SHAPE_SET:
      return set_usage;
    case SHAPE_RESET:
      return reset_usage;
    case SHAPE_SHOW:
    default:
      return show_usage;
    }
}

static int
run_shape (ShapeCommand command, int argc, char **argv)
{
  ShapeArguments arguments = { NULL, NULL, LAB_IMPAIRMENT_INIT };
  g_autoptr (LabMachine) machine = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (LabQdiscState) before = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  LabctlWait wait = { NULL };
  LabNetns *netns;
  int status;

  status = parse_arguments (argc, argv, command == SHAPE_SET ? set_keywords : dev_keywords,
                            usage_for_command (command), &arguments);
  if (status >= 0)
    return status;

  /* Bad input is a usage error and must fail before anything is looked up or changed. */
  if (command == SHAPE_SET && !lab_impairment_validate (&arguments.impairment, &error))
    return labctl_usage_error ("%s", error->message);

  machine = labctl_resolve_target (arguments.target, &error);
  if (machine == NULL)
    return labctl_fail (error);
  netns = lab_machine_get_netns (machine);

  switch (command)
    {
    case SHAPE_SET:
      lab_shaper_apply_async (netns, arguments.ifname, &arguments.impairment, NULL,
                              labctl_wait_cb, &wait);
      result = labctl_wait (&wait);
      state = lab_shaper_apply_finish (result, &error);
      break;
    case SHAPE_RESET:
      /*
       * Reset leaves a root that is not Lab's alone, so the state after it
       * matches the state before. Reading the state first shows whether to
       * print the note. NOTE: an apply by another process in between is missed.
       */
      lab_shaper_read_async (netns, arguments.ifname, NULL, labctl_wait_cb, &wait);
      result = labctl_wait (&wait);
      before = lab_shaper_read_finish (result, &error);
      g_clear_object (&result);
      if (before == NULL)
        return labctl_fail (error);

      lab_shaper_reset_async (netns, arguments.ifname, NULL, labctl_wait_cb, &wait);
      result = labctl_wait (&wait);
      state = lab_shaper_reset_finish (result, &error);
      break;
    case SHAPE_SHOW:
    default:
      lab_shaper_read_async (netns, arguments.ifname, NULL, labctl_wait_cb, &wait);
      result = labctl_wait (&wait);
      state = lab_shaper_read_finish (result, &error);
      break;
    }

  if (state == NULL)
    return labctl_fail (error);
  print_state (&arguments, state);
  /* Handle 0 is the kernel's default qdisc, which there is nothing to remove from. */
  if (before != NULL && !before->ours && before->handle != 0 && !state->ours)
    print_left_alone (netns, state);
  return EXIT_SUCCESS;
}

int
labctl_set (int argc, char **argv)
{
  return run_shape (SHAPE_SET, argc, argv);
}

int
labctl_show (int argc, char **argv)
{
  return run_shape (SHAPE_SHOW, argc, argv);
}

int
labctl_reset (int argc, char **argv)
{
  return run_shape (SHAPE_RESET, argc, argv);
}
