/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Egress impairment of one interface through libnl-route-3.
 *
 * Each call runs on a fresh thread inside the namespace. The qdisc layout is in
 * lab-shaper-qdisc.c, the interface lookup in lab-shaper-target.c.
 *
 * Before the first change the original root qdisc goes into the restore
 * journal (lab-journal.h) as the RTM_NEWQDISC message libnl builds from the
 * dumped object, or as "default" when the kernel's own qdisc was there.
 */
#include "lab-shaper.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "lab-error.h"
#include "lab-impairment.h"
#include "lab-journal.h"
#include "lab-netns.h"
#include "lab-nl.h"
#include "lab-shaper-qdisc-private.h"
#include "lab-shaper-target-private.h"

typedef enum {
  SHAPER_READ,
  SHAPER_APPLY,
  SHAPER_RESET,
} ShaperOperation;

/* Lives in the GTask; the namespace thread sets @entered once it runs. */
typedef struct {
  LabNetns *netns;
  char *ifname;
  gboolean entered;
} ShaperCall;

typedef struct {
  ShaperOperation operation;
  char *ifname;
  LabImpairment impairment;
  gboolean *entered;
} ShaperRequest;

static void
shaper_call_free (ShaperCall *call)
{
  lab_netns_unref (call->netns);
  g_free (call->ifname);
  g_free (call);
}

static void
shaper_request_free (ShaperRequest *request)
{
  g_free (request->ifname);
  g_free (request);
}

/* Quotes @word for a shell only when it needs it, so messages stay readable. */
static char *
shell_word (const char *word)
{
  for (const char *c = word; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && strchr ("._-+@%", *c) == NULL)
      return g_shell_quote (word);
  return g_strdup (word);
}

char *
lab_shaper_describe_tc_delete (LabNetns *netns, const char *ifname)
{
  g_autofree char *dev = shell_word (ifname);
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;

  switch (lab_netns_get_kind (netns))
    {
    case LAB_NETNS_NAMED:
      name = shell_word (lab_netns_get_name (netns));
      return g_strdup_printf ("tc -n %s qdisc del dev %s root", name, dev);
    case LAB_NETNS_PID:
      path = lab_netns_dup_path (netns);
      return g_strdup_printf ("nsenter --net=%s tc qdisc del dev %s root", path, dev);
    case LAB_NETNS_HOST:
    default:
      return g_strdup_printf ("tc qdisc del dev %s root", dev);
    }
}

/* Describes the labctl reset that restores the journal's original, for a failed rollback. */
static char *
describe_reset_advice (LabNetns *netns, const char *ifname)
{
  g_autofree char *dev = shell_word (ifname);
  g_autofree char *name = NULL;
  g_autofree char *tc_delete = NULL;

  switch (lab_netns_get_kind (netns))
    {
    case LAB_NETNS_NAMED:
      name = shell_word (lab_netns_get_name (netns));
      return g_strdup_printf ("run \"labctl reset %s dev %s\" to restore the original", name,
                              dev);
    case LAB_NETNS_PID:
      /* labctl takes a machine name, which the namespace of a PID does not carry. */
      tc_delete = lab_shaper_describe_tc_delete (netns, ifname);
      return g_strdup_printf ("run \"labctl reset MACHINE dev %s\" with the name of the machine "
                              "whose leader is PID %d to restore the original, or \"%s\" to "
                              "return to the kernel default",
                              dev, (int) lab_netns_get_pid (netns), tc_delete);
    case LAB_NETNS_HOST:
    default:
      return g_strdup_printf ("run \"labctl reset .host dev %s\" to restore the original", dev);
    }
}

static gboolean
reset_target (Target *target, LabJournal *journal, GError **error)
{
  g_autoptr (NlCache) qdiscs = NULL;
  g_autoptr (RtnlQdisc) root = NULL;
  g_autoptr (LabJournalEntry) entry = NULL;
  int ret;

  ret = lab_shaper_load_qdiscs (target, &qdiscs);
  if (ret < 0)
    {
      lab_shaper_set_netlink_error (error, target, "read the qdiscs", ret);
      return FALSE;
    }
  if (!lab_journal_lookup (journal, &target->key, &entry, error))
    return FALSE;
  root = lab_shaper_find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);

  /* A root that is not Lab's was put there by someone else: keep it and drop the entry. */
  if (lab_shaper_is_ours (root))
    {
      if (entry != NULL && entry->message != NULL)
        ret = lab_shaper_send_message (target, entry->message);
      else
        /* NOTE: without an entry (journal lost) the kernel default is the best guess. */
        ret = lab_shaper_send_delete (target, TC_H_ROOT, rtnl_tc_get_handle (TC_CAST (root)));
      if (ret < 0)
        {
          lab_shaper_set_netlink_error (error, target, "restore the original root qdisc", ret);
          return FALSE;
        }
    }
  else if (entry != NULL)
    g_debug ("Root qdisc of '%s' is not Lab's; dropping its journal entry", target->ifname);

  return lab_journal_remove (journal, &target->key, error);
}

/* Adds to the install error that the rollback failed too, and how to restore the original. */
static void
append_rollback_error (GError **error, Target *target, int rollback_err)
{
  g_autofree char *advice = describe_reset_advice (target->netns, target->ifname);
  char *message;

  if (error == NULL || *error == NULL)
    return;
  message = g_strdup_printf ("%s. Putting back the previous root qdisc also failed (%s), so "
                             "Lab's qdisc may still be on interface '%s'; %s",
                             (*error)->message, g_strerror (-rollback_err), target->ifname,
                             advice);
  g_free ((*error)->message);
  (*error)->message = message;
}

static gboolean
apply_target (Target *target, LabJournal *journal, const LabImpairment *impairment,
              GError **error)
{
  g_autoptr (NlCache) qdiscs = NULL;
  g_autoptr (RtnlQdisc) root = NULL;
  g_auto (Snapshot) snapshot = { NULL, NULL };
  gboolean saved_entry = FALSE;
  gboolean changed = FALSE;
  int ret;

  ret = lab_shaper_load_qdiscs (target, &qdiscs);
  if (ret < 0)
    {
      lab_shaper_set_netlink_error (error, target, "read the qdiscs", ret);
      return FALSE;
    }
  root = lab_shaper_find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);

  /*
   * A root that is not Lab's is the original; it replaces any older entry,
   * which is stale because someone else changed the root since.
   */
  if (!lab_shaper_is_ours (root))
    {
      g_autoptr (LabJournalEntry) entry
        = lab_shaper_make_journal_entry (target, qdiscs, root, error);

      if (entry == NULL)
        return FALSE;
      if (!lab_journal_save (journal, &target->key, entry, error))
        return FALSE;
      saved_entry = TRUE;
    }

  ret = lab_shaper_snapshot_take (&snapshot, target, qdiscs, root);
  if (ret < 0)
    {
      lab_shaper_set_netlink_error (error, target, "save the current root qdisc", ret);
      if (saved_entry)
        lab_journal_remove (journal, &target->key, NULL);
      return FALSE;
    }

  if (!lab_shaper_install (target, impairment, qdiscs, root, &changed, error))
    {
      gboolean restored = TRUE;

      if (changed)
        {
          ret = lab_shaper_snapshot_restore (&snapshot, target);
          restored = ret == 0;
          if (!restored)
            append_rollback_error (error, target, ret);
        }
      /* Keep the entry while Lab's qdisc may still be there, so reset can restore it. */
      if (saved_entry && restored)
        lab_journal_remove (journal, &target->key, NULL);
      return FALSE;
    }
  return TRUE;
}

static gpointer
shaper_in_netns (LabNetns *netns, gpointer user_data, GCancellable *cancellable, GError **error)
{
  ShaperRequest *request = user_data;
  g_autoptr (Target) target = NULL;
  g_autoptr (LabJournal) journal = NULL;

  *request->entered = TRUE;
  target = lab_shaper_target_open (netns, request->ifname, error);
  if (target == NULL)
    return NULL;

  /*
   * One lock from the first read of the qdiscs to the state returned, so an
   * apply or reset in another thread or process (labctl, the UI) cannot run
   * between reading the root, saving the original and changing the kernel.
   */
  journal = lab_journal_lock (error);
  if (journal == NULL)
    return NULL;

  /* Waiting for the lock can take a while, so cancellation is checked after it. */
  if (request->operation != SHAPER_READ
      && g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  switch (request->operation)
    {
    case SHAPER_APPLY:
      if (lab_impairment_is_empty (&request->impairment))
        {
          if (!reset_target (target, journal, error))
            return NULL;
        }
      else if (!apply_target (target, journal, &request->impairment, error))
        return NULL;
      break;
    case SHAPER_RESET:
      if (!reset_target (target, journal, error))
        return NULL;
      break;
    case SHAPER_READ:
    default:
      break;
    }
  return lab_shaper_read_state (target, journal, error);
}

/*
 * Returns whether the namespace file is still there, on a worker thread
 * because stat() is file I/O. The task data is the LabNetns.
 */
static void
netns_file_check_thread (GTask *check, gpointer source_object, gpointer task_data,
                         GCancellable *cancellable)
{
  g_autofree char *path = lab_netns_dup_path (task_data);
  struct stat st;

  g_task_return_boolean (check, lstat (path, &st) == 0);
}

/*
 * Ends a call whose thread could not enter the namespace. A namespace file
 * that is gone was deleted since it was listed, so the call fails with "is
 * gone". A file that is still there, such as a stale file under /run/netns
 * with nothing mounted on it, keeps the open error, which names the fix.
 */
static void
netns_file_check_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  ShaperCall *call = g_task_get_task_data (task);
  GError *open_error = g_object_get_data (G_OBJECT (result), "lab-open-error");
  GError *error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), NULL))
    {
      g_task_return_error (task, g_error_copy (open_error));
      return;
    }
  g_debug ("Entering the namespace failed: %s", open_error->message);
  lab_shaper_set_gone_error (&error, call->netns, call->ifname);
  g_task_return_error (task, error);
}

static void
shaper_run_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  ShaperCall *call = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  LabQdiscState *state;

  state = lab_netns_run_finish (result, &error);
  if (state != NULL)
    {
      g_task_return_pointer (task, state, (GDestroyNotify) lab_qdisc_state_free);
      return;
    }

  if (!call->entered && g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_FOUND))
    {
      g_autoptr (GTask) check = g_task_new (NULL, NULL, netns_file_check_cb,
                                            g_steal_pointer (&task));

      g_task_set_task_data (check, lab_netns_ref (call->netns), (GDestroyNotify) lab_netns_unref);
      g_object_set_data_full (G_OBJECT (check), "lab-open-error", g_steal_pointer (&error),
                              (GDestroyNotify) g_error_free);
      g_task_run_in_thread (check, netns_file_check_thread);
      return;
    }
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
shaper_start (ShaperOperation operation, LabNetns *netns, const char *ifname,
              const LabImpairment *impairment, GCancellable *cancellable,
              GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr (GError) error = NULL;
  ShaperCall *call;
  ShaperRequest *request;

  g_task_set_source_tag (task, source_tag);

  /* Bad input changes nothing, so it fails before any thread starts. */
  if (impairment != NULL && !lab_impairment_validate (impairment, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  call = g_new0 (ShaperCall, 1);
  call->netns = lab_netns_ref (netns);
  call->ifname = g_strdup (ifname);
  g_task_set_task_data (task, call, (GDestroyNotify) shaper_call_free);

  request = g_new0 (ShaperRequest, 1);
  request->operation = operation;
  request->ifname = g_strdup (ifname);
  if (impairment != NULL)
    request->impairment = *impairment;
  request->entered = &call->entered;

  lab_netns_run_async (netns, shaper_in_netns, request, (GDestroyNotify) shaper_request_free,
                       (GDestroyNotify) lab_qdisc_state_free, cancellable, shaper_run_cb,
                       g_steal_pointer (&task));
}

void
lab_shaper_apply_async (LabNetns *netns, const char *ifname, const LabImpairment *impairment,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_return_if_fail (netns != NULL);
  g_return_if_fail (impairment != NULL);

  shaper_start (SHAPER_APPLY, netns, ifname, impairment, cancellable, callback, user_data,
                lab_shaper_apply_async);
}

LabQdiscState *
lab_shaper_apply_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
lab_shaper_read_async (LabNetns *netns, const char *ifname, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (netns != NULL);

  shaper_start (SHAPER_READ, netns, ifname, NULL, cancellable, callback, user_data,
                lab_shaper_read_async);
}

LabQdiscState *
lab_shaper_read_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
lab_shaper_reset_async (LabNetns *netns, const char *ifname, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (netns != NULL);

  shaper_start (SHAPER_RESET, netns, ifname, NULL, cancellable, callback, user_data,
                lab_shaper_reset_async);
}

LabQdiscState *
lab_shaper_reset_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
