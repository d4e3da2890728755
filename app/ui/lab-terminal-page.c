/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include <vte/vte.h>

#include "lab-terminal-page.h"

struct _LabTerminalPage {
  GtkBox parent_instance;

  GtkLabel *error_label;
  GtkNotebook *notebook;
};

G_DEFINE_FINAL_TYPE (LabTerminalPage, lab_terminal_page, GTK_TYPE_BOX)

/*
 * Bash expands $(...) and backquotes in PS1, and a namespace name is data, so
 * the prompt shows the name with each character outside [A-Za-z0-9._-] as '?'.
 */
static char *
prompt_name_new (const char *name)
{
  char *safe = g_strdup (name);

  for (char *c = safe; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_' && *c != '.')
      *c = '?';
  return safe;
}

static GtkWidget *
page_find_tab (LabTerminalPage *self, const char *machine_name)
{
  int n = gtk_notebook_get_n_pages (self->notebook);

  for (int i = 0; i < n; i++)
    {
      GtkWidget *child = gtk_notebook_get_nth_page (self->notebook, i);

      if (g_strcmp0 (g_object_get_data (G_OBJECT (child), "lab-machine"), machine_name) == 0)
        return child;
    }
  return NULL;
}

static void
page_set_error (LabTerminalPage *self, const char *message)
{
  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
spawn_cb (VteTerminal *terminal, GPid pid, GError *error, gpointer user_data)
{
  g_autoptr (LabTerminalPage) self = user_data;
  g_autofree char *message = NULL;

  if (error == NULL)
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  /* No shell runs in this tab, so opening the machine again retries. */
  g_object_set_data (G_OBJECT (terminal), "lab-exited", GINT_TO_POINTER (TRUE));
  message = g_strdup_printf ("Failed to start a shell in '%s': %s; check that bash and nsenter "
                             "are installed, then open the machine again",
                             (const char *) g_object_get_data (G_OBJECT (terminal), "lab-machine"),
                             error->message);
  page_set_error (self, message);
}

static void
child_exited_cb (VteTerminal *terminal, int status, gpointer user_data)
{
  g_autofree char *note = NULL;

  /* The tab stays to show the last output until the machine is opened again. */
  g_object_set_data (G_OBJECT (terminal), "lab-exited", GINT_TO_POINTER (TRUE));
  note = g_strdup_printf ("\r\n[shell exited with wait status %d; open the machine again for a "
                          "new one]\r\n",
                          status);
  vte_terminal_feed (terminal, note, -1);
}

void
lab_terminal_page_open (LabTerminalPage *self, LabMachine *machine)
{
  LabNetns *netns;
  const char *name;
  GtkWidget *terminal;
  GtkWidget *existing;
  g_autofree char *prompt_name = NULL;
  g_autofree char *prompt = NULL;
  g_autofree char *netns_path = NULL;
  g_autofree char *nsenter_arg = NULL;
  g_auto (GStrv) envv = NULL;
  g_autoptr (GStrvBuilder) argv_builder = g_strv_builder_new ();
  g_auto (GStrv) argv = NULL;

  g_return_if_fail (LAB_IS_TERMINAL_PAGE (self));
  g_return_if_fail (LAB_IS_MACHINE (machine));

  name = lab_machine_get_name (machine);
  existing = page_find_tab (self, name);
  if (existing != NULL && g_object_get_data (G_OBJECT (existing), "lab-exited") == NULL)
    {
      gtk_notebook_set_current_page (self->notebook,
                                     gtk_notebook_page_num (self->notebook, existing));
      return;
    }
  /* The shell in that tab has exited, so a new tab with a new shell replaces it. */
  if (existing != NULL)
    gtk_notebook_remove_page (self->notebook, gtk_notebook_page_num (self->notebook, existing));

  page_set_error (self, NULL);
  netns = lab_machine_get_netns (machine);
  prompt_name = prompt_name_new (name);
  prompt = g_strdup_printf ("[%s] \\w \\$ ", prompt_name);

  /* nsenter only joins the network namespace, so the shell keeps the host's filesystem. */
  if (netns != NULL && lab_netns_get_kind (netns) != LAB_NETNS_HOST)
    {
      netns_path = lab_netns_dup_path (netns);
      nsenter_arg = g_strdup_printf ("--net=%s", netns_path);
      g_strv_builder_add_many (argv_builder, "nsenter", nsenter_arg, "--", NULL);
    }
  /* --norc, because Debian's bashrc files set PS1 and would hide the machine name. */
  g_strv_builder_add_many (argv_builder, "bash", "--norc", "-i", NULL);
  argv = g_strv_builder_end (argv_builder);

  envv = g_get_environ ();
  envv = g_environ_setenv (envv, "PS1", prompt, TRUE);
  envv = g_environ_setenv (envv, "LAB_MACHINE", name, TRUE);
  envv = g_environ_setenv (envv, "TERM", "xterm-256color", TRUE);

  terminal = vte_terminal_new ();
  gtk_widget_set_hexpand (terminal, TRUE);
  gtk_widget_set_vexpand (terminal, TRUE);
  vte_terminal_set_scrollback_lines (VTE_TERMINAL (terminal), 10000);
  g_object_set_data_full (G_OBJECT (terminal), "lab-machine", g_strdup (name), g_free);
  g_object_set_data_full (G_OBJECT (terminal), "lab-prompt", g_strdup_printf ("[%s]", prompt_name),
                          g_free);
  g_signal_connect (terminal, "child-exited", G_CALLBACK (child_exited_cb), NULL);

  gtk_notebook_append_page (self->notebook, terminal, gtk_label_new (name));
  gtk_notebook_set_current_page (self->notebook,
                                 gtk_notebook_page_num (self->notebook, terminal));

  vte_terminal_spawn_async (VTE_TERMINAL (terminal), VTE_PTY_DEFAULT, NULL, argv, envv,
                            G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, -1, NULL, spawn_cb,
                            g_object_ref (self));
  gtk_widget_grab_focus (terminal);
}

gboolean
lab_terminal_page_shows_prompt (LabTerminalPage *self)
{
  int current;
  GtkWidget *terminal;
  const char *marker;
  g_autofree char *text = NULL;

  g_return_val_if_fail (LAB_IS_TERMINAL_PAGE (self), FALSE);

  current = gtk_notebook_get_current_page (self->notebook);
  if (current < 0)
    return FALSE;
  terminal = gtk_notebook_get_nth_page (self->notebook, current);
  marker = g_object_get_data (G_OBJECT (terminal), "lab-prompt");
  text = vte_terminal_get_text (VTE_TERMINAL (terminal), NULL, NULL, NULL);
  return text != NULL && marker != NULL && strstr (text, marker) != NULL;
}

static void
lab_terminal_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), LAB_TYPE_TERMINAL_PAGE);
  G_OBJECT_CLASS (lab_terminal_page_parent_class)->dispose (object);
}

static void
lab_terminal_page_class_init (LabTerminalPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lab_terminal_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/kinvolk/Lab/ui/lab-terminal-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LabTerminalPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, LabTerminalPage, notebook);
}

static void
lab_terminal_page_init (LabTerminalPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
