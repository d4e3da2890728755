/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the GUI tests: main-loop waits, windows, read-backs and screenshots. */
#pragma once

#include <gtk/gtk.h>

#include "lab-test.h"
#include "lab-window-private.h"

G_BEGIN_DECLS

/* Skips the whole binary unless it runs as root with a display, then calls g_test_init(). */
void lab_gui_test_init (int *argc, char ***argv);

typedef gboolean (*LabGuiTestCondition) (gpointer user_data);

/*
 * Iterates the main loop until @condition is TRUE. A 20 ms tick wakes the loop, so a condition on
 * state that changes without a main-loop event, such as a qdisc, is rechecked too.
 */
void lab_gui_test_wait_until (LabGuiTestCondition condition, gpointer user_data);
/* Iterates the main loop until *flag becomes TRUE. */
void lab_gui_test_wait_for_flag (gboolean *flag);

/* Loads a new machine monitor and fails the test unless the load succeeds. */
LabMachineMonitor *lab_gui_test_load_monitor (void);
/* Reads the root qdisc of @ifname in @netns and fails the test unless the read succeeds. */
LabQdiscState *lab_gui_test_read_qdisc (LabNetns *netns, const char *ifname);
/* Runs "tc -n NS qdisc show dev IFNAME" and returns its output. */
char *lab_gui_test_tc_qdisc_show (const char *ns, const char *ifname);

/* TRUE when the kernel's root qdisc on @ifname is tbf with @rate_bps. */
gboolean lab_gui_test_kernel_has_tbf_rate (LabNetns *netns, const char *ifname, guint64 rate_bps);
/* Waits until the kernel's root qdisc on @ifname is tbf with @rate_bps. */
void lab_gui_test_wait_for_tbf_rate (LabNetns *netns, const char *ifname, guint64 rate_bps);
/* Waits until @session stored a netem error for @ifname, and returns it; borrowed. */
const GError *lab_gui_test_wait_for_netem_error (LabShapeSession *session, LabNetns *netns,
                                                 const char *ifname);
/* Resets every impairment @session applied and fails the test unless the reset succeeds. */
void lab_gui_test_reset_session (LabShapeSession *session);

/* TRUE when @window has @machine_name selected and its Network page shows @ifname. */
gboolean lab_gui_test_window_shows_interface (LabWindow *window, const char *machine_name,
                                              const char *ifname);
/* Opens a window on @machine_name and waits until its Network page shows @ifname. */
LabWindow *lab_gui_test_open_window (LabMachineMonitor *monitor, LabShapeSession *session,
                                     const char *machine_name, const char *ifname);

/*
 * Returns the first widget, in depth-first order from @root itself, that is a @type and whose
 * widget name is @name; G_TYPE_INVALID or NULL matches any. Borrowed, or NULL when none matches.
 */
GtkWidget *lab_gui_test_find_widget (GtkWidget *root, GType type, const char *name);

/* Waits for a frame painted after now, so @window shows the latest state. */
void lab_gui_test_wait_for_paint (GtkWidget *window);
/*
 * Waits for a paint, then saves @window as $LAB_BUILD_DIR/test-artifacts/NAME (the current
 * folder when LAB_BUILD_DIR is unset) and prints the path as a TAP comment.
 */
void lab_gui_test_save_screenshot (GtkWidget *window, const char *name);

/*
 * A veth pair with a loaded machine monitor, a shape session and a window that shows eth0 of
 * the first namespace, ns_a. Freeing it destroys the window, then deletes the namespaces.
 */
typedef struct {
  LabTestPair *pair;
  LabNetns *netns;
  LabMachineMonitor *monitor;
  LabShapeSession *session;
  LabWindow *window;
} LabGuiTestFixture;

LabGuiTestFixture *lab_gui_test_fixture_new (void);
void lab_gui_test_fixture_free (LabGuiTestFixture *fixture);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabGuiTestFixture, lab_gui_test_fixture_free)

G_END_DECLS
