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

/* One interface row, with the root qdisc as lab_shaper_read_async() decoded it. */
typedef struct {
  char *name; /* a copy, because the monitor may replace the machine's interfaces meanwhile */
  const char *state;
  char *addresses;
  char *qdisc;
} Row;

/* Interface rows of one machine, in the machine's interface order. */
typedef struct {
  LabMachine *machine;
  GArray *rows;
  char *probe_error; /* why no interfaces could be read, or NULL */
} MachineRows;

/* Column widths of the interface table, sized to the longest cell of all machines. */
typedef struct {
  int name;
  int state;
  int addresses;
} ColumnWidths;

/* Root qdisc reads still in flight, so the command waits for every one. */
typedef struct {
  guint pending;
} ReadBatch;

typedef struct {
  ReadBatch *batch;
  Row *row;
} RowRead;

static void
row_clear (Row *row)
{
  g_clear_pointer (&row->name, g_free);
  g_clear_pointer (&row->addresses, g_free);
  g_clear_pointer (&row->qdisc, g_free);
}

static void
machine_rows_free (MachineRows *rows)
{
  g_clear_object (&rows->machine);
  g_clear_pointer (&rows->rows, g_array_unref);
  g_free (rows->probe_error);
  g_free (rows);
}

/*
 * Link state from IFF_UP and IFF_LOWER_UP. `ip -br link` shows the kernel's
 * operstate instead, which reads UNKNOWN for lo.
 */
static const char *
interface_state (const LabInterface *iface)
{
  if ((iface->flags & IFF_UP) == 0)
    return "DOWN";
  if ((iface->flags & IFF_LOWER_UP) == 0)
    return "NO-CARRIER";
  return "UP";
}

static void
read_qdisc_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RowRead *read = user_data;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;

  state = lab_shaper_read_finish (result, &error);
  if (state != NULL)
    {
      g_free (read->row->qdisc);
      read->row->qdisc = state->ours ? g_strdup_printf ("%s (set by Lab)", state->summary)
                                     : g_strdup (state->summary);
    }
  else
    {
      /* The row keeps the qdisc kind from the interface listing. */
      g_debug ("Could not read the root qdisc of '%s': %s", read->row->name, error->message);
    }

  read->batch->pending--;
  g_free (read);
}

static MachineRows *
collect_rows (LabMachineMonitor *monitor, LabMachine *machine, ReadBatch *batch)
{
  MachineRows *rows = g_new0 (MachineRows, 1);
  const GError *probe_error = lab_machine_monitor_get_probe_error (monitor, machine);
  GPtrArray *interfaces = lab_machine_get_interfaces (machine);
  guint n_interfaces = interfaces != NULL ? interfaces->len : 0;

  rows->machine = g_object_ref (machine);
  rows->probe_error = probe_error != NULL ? g_strdup (probe_error->message) : NULL;
  rows->rows = g_array_sized_new (FALSE, TRUE, sizeof (Row), n_interfaces);
  g_array_set_clear_func (rows->rows, (GDestroyNotify) row_clear);
  /* Sized up front, so the row pointers handed to the reads stay valid. */
  g_array_set_size (rows->rows, n_interfaces);

  for (guint i = 0; i < n_interfaces; i++)
    {
      const LabInterface *iface = g_ptr_array_index (interfaces, i);
      Row *row = &g_array_index (rows->rows, Row, i);
      RowRead *read = g_new0 (RowRead, 1);

      row->name = g_strdup (iface->name);
      row->state = interface_state (iface);
      row->addresses = iface->addresses != NULL && iface->addresses[0] != NULL
                         ? g_strjoinv (" ", iface->addresses)
                         : g_strdup ("-");
      /* The kernel does not report the built-in noop qdisc of a link that is down. */
      row->qdisc = g_strdup (iface->qdisc_kind != NULL ? iface->qdisc_kind : "-");

      read->batch = batch;
      read->row = row;
      batch->pending++;
      lab_shaper_read_async (lab_machine_get_netns (machine), iface->name, NULL, read_qdisc_cb,
                             read);
    }
  return rows;
}

static void
measure_columns (GPtrArray *all_rows, ColumnWidths *widths)
{
  widths->name = strlen ("INTERFACE");
  widths->state = strlen ("STATE");
  widths->addresses = strlen ("ADDRESSES");
  for (guint i = 0; i < all_rows->len; i++)
    {
      MachineRows *rows = g_ptr_array_index (all_rows, i);

      for (guint j = 0; j < rows->rows->len; j++)
        {
          const Row *row = &g_array_index (rows->rows, Row, j);

          widths->name = MAX (widths->name, (int) strlen (row->name));
          widths->state = MAX (widths->state, (int) strlen (row->state));
          widths->addresses = MAX (widths->addresses, (int) strlen (row->addresses));
        }
    }
}

static void
print_row (const ColumnWidths *widths, const char *name, const char *state,
           const char *addresses, const char *qdisc)
{
  g_print ("  %-*s%-*s%-*s%s\n", widths->name + COLUMN_GAP, name, widths->state + COLUMN_GAP,
           state, widths->addresses + COLUMN_GAP, addresses, qdisc);
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
print_machine (MachineRows *rows, const ColumnWidths *widths)
{
  print_machine_header (rows->machine);
  if (rows->rows->len == 0)
    {
      g_print ("  (no interfaces could be read: %s)\n",
               rows->probe_error != NULL ? rows->probe_error : "no reason was reported");
      return;
    }

  print_row (widths, "INTERFACE", "STATE", "ADDRESSES", "QDISC");
  for (guint i = 0; i < rows->rows->len; i++)
    {
      const Row *row = &g_array_index (rows->rows, Row, i);

      print_row (widths, row->name, row->state, row->addresses, row->qdisc);
    }
}

int
labctl_list (int argc, char **argv)
{
  g_autoptr (LabMachineMonitor) monitor = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) all_rows = NULL;
  LabctlWait wait = { NULL };
  ReadBatch batch = { 0 };
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

  /* A snapshot: the model may change while the qdisc reads run. */
  n_machines = g_list_model_get_n_items (G_LIST_MODEL (monitor));
  all_rows = g_ptr_array_new_with_free_func ((GDestroyNotify) machine_rows_free);
  for (guint i = 0; i < n_machines; i++)
    {
      g_autoptr (LabMachine) machine = g_list_model_get_item (G_LIST_MODEL (monitor), i);

      g_ptr_array_add (all_rows, collect_rows (monitor, machine, &batch));
    }
  while (batch.pending > 0)
    g_main_context_iteration (NULL, TRUE);

  measure_columns (all_rows, &widths);
  for (guint i = 0; i < all_rows->len; i++)
    {
      if (i > 0)
        g_print ("\n");
      print_machine (g_ptr_array_index (all_rows, i), &widths);
    }
  g_print ("\n%u %s listed.\n", n_machines, n_machines == 1 ? "machine" : "machines");

  /* machined is optional: its absence is a note, never a failure. */
  machined_status = lab_machine_monitor_get_machined_status (monitor);
  if (machined_status != NULL)
    g_printerr ("labctl: note: %s\n", machined_status);

  return EXIT_SUCCESS;
}
