/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `labctl list`: every machine with its namespace, then one row per interface,
 * in the spirit of `machinectl list` and `ip -br addr`.
 */
#include <linux/if.h>
#include <string.h>

#include "labctl.h"

/* Spaces between two columns of the interface table. */
#define COLUMN_GAP 2

/* Column widths of the interface table, sized to the longest cell of all machines. */
typedef struct {
  int name;
  int state;
  int qdisc;
} ColumnWidths;

/* Link state from the flags, as `ip -br link` shows it in its own column. */
static const char *
interface_state (const LabInterface *iface)
{
  if ((iface->flags & IFF_UP) == 0)
    return "DOWN";
  if ((iface->flags & IFF_LOWER_UP) == 0)
    return "NO-CARRIER";
  return "UP";
}

static const char *
interface_qdisc (const LabInterface *iface)
{
  /* The kernel does not report the built-in noop qdisc of a link that is down. */
  return iface->qdisc_kind != NULL ? iface->qdisc_kind : "-";
}

static void
measure_columns (GListModel *machines, ColumnWidths *widths)
{
  guint n_machines = g_list_model_get_n_items (machines);

  widths->name = strlen ("INTERFACE");
  widths->state = strlen ("STATE");
  widths->qdisc = strlen ("QDISC");
  for (guint i = 0; i < n_machines; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (machines, i);
      GPtrArray *interfaces = lab_machine_get_interfaces (machine);

      for (guint j = 0; interfaces != NULL && j < interfaces->len; j++)
        {
          const LabInterface *iface = g_ptr_array_index (interfaces, j);

          widths->name = MAX (widths->name, (int) strlen (iface->name));
          widths->state = MAX (widths->state, (int) strlen (interface_state (iface)));
          widths->qdisc = MAX (widths->qdisc, (int) strlen (interface_qdisc (iface)));
        }
    }
}

static void
print_row (const ColumnWidths *widths, const char *name, const char *state, const char *qdisc,
           const char *addresses)
{
  g_autoptr (GString) line = g_string_new ("  ");

  g_string_append_printf (line, "%-*s%-*s%-*s%s", widths->name + COLUMN_GAP, name,
                          widths->state + COLUMN_GAP, state, widths->qdisc + COLUMN_GAP, qdisc,
                          addresses);
  /* No trailing blanks when the last cells are empty. */
  g_strchomp (line->str);
  g_print ("%s\n", line->str);
}

static void
print_machine_header (LabMachine *machine)
{
  g_autoptr (GString) line = g_string_new (NULL);
  const char *klass = lab_machine_get_class (machine);
  guint64 inode = lab_machine_get_netns_inode (machine);

  g_string_append_printf (line, "%s  %s", lab_machine_get_name (machine),
                          lab_machine_source_to_string (lab_machine_get_source (machine)));
  if (klass != NULL)
    g_string_append_printf (line, " %s", klass);
  if (lab_machine_get_leader (machine) != 0)
    g_string_append_printf (line, "  leader %d", (int) lab_machine_get_leader (machine));

  if (inode != 0)
    g_string_append_printf (line, "  netns %" G_GUINT64_FORMAT, inode);
  else
    g_string_append (line, "  netns unknown");
  if (lab_machine_get_shares_host_network (machine)
      && lab_machine_get_source (machine) != LAB_MACHINE_HOST)
    g_string_append (line, " (shares host network)");

  g_print ("%s\n", line->str);
}

static void
print_interfaces (LabMachine *machine, const ColumnWidths *widths)
{
  GPtrArray *interfaces = lab_machine_get_interfaces (machine);

  if (interfaces == NULL || interfaces->len == 0)
    {
      g_print ("  (no interfaces could be read)\n");
      return;
    }

  print_row (widths, "INTERFACE", "STATE", "QDISC", "ADDRESSES");
  for (guint i = 0; i < interfaces->len; i++)
    {
      const LabInterface *iface = g_ptr_array_index (interfaces, i);
      g_autofree char *addresses = NULL;

      addresses = iface->addresses != NULL ? g_strjoinv (" ", iface->addresses) : g_strdup ("");
      /*
       * TODO: show the impairment from lab_shaper_read_async once lab-shaper.c
       * is implemented; until then only the root qdisc kind is known here.
       */
      print_row (widths, iface->name, interface_state (iface), interface_qdisc (iface),
                 addresses);
    }
}

int
labctl_list (int argc, char **argv)
{
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  LabctlWait wait = { NULL };
  const char *machined_status;
  ColumnWidths widths;
  guint n_machines;

  if (argc > 1)
    return labctl_usage_error ("'list' takes no arguments, got '%s'", argv[1]);

  monitor = lab_machine_monitor_new ();
  lab_machine_monitor_load_async (monitor, NULL, labctl_wait_cb, &wait);
  result = labctl_wait (&wait);
  if (!lab_machine_monitor_load_finish (monitor, result, &error))
    return labctl_fail (error);

  n_machines = g_list_model_get_n_items (G_LIST_MODEL (monitor));
  measure_columns (G_LIST_MODEL (monitor), &widths);
  for (guint i = 0; i < n_machines; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (G_LIST_MODEL (monitor), i);

      if (i > 0)
        g_print ("\n");
      print_machine_header (machine);
      print_interfaces (machine, &widths);
    }
  g_print ("\n%u %s listed.\n", n_machines, n_machines == 1 ? "machine" : "machines");

  /* machined is optional: its absence is a note, never a failure. */
  machined_status = lab_machine_monitor_get_machined_status (monitor);
  if (machined_status != NULL)
    g_printerr ("labctl: note: %s\n", machined_status);

  return EXIT_SUCCESS;
}
