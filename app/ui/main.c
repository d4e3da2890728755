/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <locale.h>

#include "lab-application.h"

int
main (int argc, char *argv[])
{
  g_autoptr (LabApplication) application = NULL;

  setlocale (LC_ALL, "");
  application = lab_application_new ();
  return g_application_run (G_APPLICATION (application), argc, argv);
}
