/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "labctl.h"

#define EXIT_USAGE 2

static const char usage[] =
  "Usage: labctl COMMAND [ARGUMENTS]\n"
  "\n"
  "Network impairment of machines and namespaces (run as root).\n"
  "\n"
  "Commands:\n"
  "  list                        machines, their namespace, interfaces and impairment\n"
  "  set TARGET [dev IFACE] [delay TIME] [jitter TIME] [loss PERCENT] [rate RATE]\n"
  "                              replace the impairment of one interface's egress;\n"
  "                              fields left out are cleared\n"
  "  show TARGET [dev IFACE]     the root qdisc the kernel holds\n"
  "  reset TARGET [dev IFACE]    restore the root qdisc that was there before Lab\n"
  "  demo [--prefix PREFIX]      build the demo lab (PREFIX-a, PREFIX-b) and keep it\n"
  "                              until Ctrl+C; --cleanup removes one left behind\n"
  "\n"
  "TARGET is \".host\", a systemd-machined machine name or a name under /run/netns.\n"
  "Without dev, the namespace's only non-loopback interface is used.\n"
  "Units as in tc: TIME 100ms, 1.5s, 250us; RATE 1mbit, 100kbit, 1gbit, 125kbps\n"
  "(bytes per second); PERCENT 0 to 100, such as 5%.\n";

void
labctl_wait_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LabctlWait *wait = user_data;

  wait->result = g_object_ref (result);
}

GAsyncResult *
labctl_wait (LabctlWait *wait)
{
  while (wait->result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_steal_pointer (&wait->result);
}

LabMachine *
labctl_resolve_target (const char *target, GError **error)
{
  g_autoptr (LabMachineMonitor) monitor = lab_machine_monitor_new ();
  g_autoptr (GAsyncResult) result = NULL;
  LabctlWait wait = { NULL };
  LabMachine *machine;

  lab_machine_monitor_load_async (monitor, NULL, labctl_wait_cb, &wait);
  result = labctl_wait (&wait);
  if (!lab_machine_monitor_load_finish (monitor, result, error))
    return NULL;

  machine = lab_machine_monitor_lookup (monitor, target);
  if (machine == NULL && !g_str_equal (target, ".host") && !lab_netns_name_is_valid (target))
    g_set_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT,
                 "Invalid target '%s': a name cannot be empty, '.' or '..', or contain '/'; "
                 "run 'labctl list' to see the targets", target);
  else if (machine == NULL)
    g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND,
                 "No machine or namespace named '%s'; run 'labctl list' to see the targets",
                 target);
  return machine;
}

int
labctl_fail (const GError *error)
{
  g_printerr ("labctl: %s\n", error->message);
  return EXIT_FAILURE;
}

int
labctl_usage_error (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("labctl: %s\nRun 'labctl --help' for usage.\n", message);
  return EXIT_USAGE;
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    int (*run) (int argc, char **argv);
  } commands[] = {
    { "list", labctl_list },
    { "set", labctl_set },
    { "show", labctl_show },
    { "reset", labctl_reset },
    { "demo", labctl_demo },
  };

  setlocale (LC_ALL, "");

  if (argc < 2)
    return labctl_usage_error ("missing command");

  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h")
      || g_str_equal (argv[1], "help"))
    {
      fputs (usage, stdout);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (argv[1], "--version"))
    {
      printf ("labctl %s\n", LAB_VERSION);
      return EXIT_SUCCESS;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (argv[1], commands[i].name))
      return commands[i].run (argc - 1, argv + 1);

  return labctl_usage_error ("unknown command '%s'", argv[1]);
}
