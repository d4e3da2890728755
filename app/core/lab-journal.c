/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-journal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab-error.h"
#include "lab-shaper.h"

#define JOURNAL_FILE "shaper.journal"
#define LOCK_FILE "shaper.lock"
/* Value of the "original" key when the kernel's default qdisc was at the root. */
#define ORIGINAL_DEFAULT "default"

LabJournalEntry *
lab_journal_entry_new (const char *ifname, const char *kind, GBytes *message)
{
  LabJournalEntry *entry = g_new0 (LabJournalEntry, 1);

  entry->ifname = g_strdup (ifname);
  entry->kind = g_strdup (kind);
  entry->message = message != NULL ? g_bytes_ref (message) : NULL;
  return entry;
}

void
lab_journal_entry_free (LabJournalEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->ifname);
  g_free (entry->kind);
  g_clear_pointer (&entry->message, g_bytes_unref);
  g_free (entry);
}

char *
lab_journal_dup_dir (void)
{
  const char *dir = g_getenv ("LAB_RUNTIME_DIR");

  if (dir == NULL || *dir == '\0')
    dir = LAB_RUNTIME_DIR_DEFAULT;
  return g_strdup (dir);
}

static char *
group_name (guint64 netns_inode, int ifindex)
{
  return g_strdup_printf ("netns %" G_GUINT64_FORMAT " ifindex %d", netns_inode, ifindex);
}

struct _LabJournal {
  char *dir;
  int lock_fd;
};

LabJournal *
lab_journal_lock (GError **error)
{
  g_autofree char *dir = lab_journal_dup_dir ();
  g_autofree char *path = g_build_filename (dir, LOCK_FILE, NULL);
  LabJournal *journal;
  int fd;

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, LAB_ERROR, lab_error_from_errno (saved_errno),
                   "Could not create the runtime directory '%s': %s; check its parent or set "
                   "LAB_RUNTIME_DIR",
                   dir, g_strerror (saved_errno));
      return NULL;
    }

  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || flock (fd, LOCK_EX) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, LAB_ERROR, lab_error_from_errno (saved_errno),
                   "Could not lock the restore journal '%s': %s", path, g_strerror (saved_errno));
      if (fd >= 0)
        close (fd);
      return NULL;
    }

  journal = g_new0 (LabJournal, 1);
  journal->dir = g_steal_pointer (&dir);
  journal->lock_fd = fd;
  return journal;
}

void
lab_journal_unlock (LabJournal *journal)
{
  if (journal == NULL)
    return;
  /* Closing the fd releases the flock(). */
  close (journal->lock_fd);
  g_free (journal->dir);
  g_free (journal);
}

static GKeyFile *
load_key_file (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, JOURNAL_FILE, NULL);
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;

  if (!g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, &local_error)
      && !g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_FAILED,
                   "Could not read the restore journal '%s': %s; move it away to start afresh",
                   path, local_error->message);
      return NULL;
    }
  return g_steal_pointer (&key_file);
}

static gboolean
store_key_file (const char *dir, GKeyFile *key_file, GError **error)
{
  g_autofree char *path = g_build_filename (dir, JOURNAL_FILE, NULL);
  g_autofree char *data = g_key_file_to_data (key_file, NULL, NULL);
  g_autoptr (GError) local_error = NULL;

  /* g_file_set_contents_full() writes a temporary file and renames it over the journal. */
  if (!g_file_set_contents_full (path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 &local_error))
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_FAILED,
                   "Could not write the restore journal '%s': %s", path, local_error->message);
      return FALSE;
    }
  return TRUE;
}

static LabJournalEntry *
entry_from_group (GKeyFile *key_file, const char *group)
{
  g_autofree char *ifname = g_key_file_get_string (key_file, group, "ifname", NULL);
  g_autofree char *kind = g_key_file_get_string (key_file, group, "kind", NULL);
  g_autofree char *original = g_key_file_get_string (key_file, group, "original", NULL);
  g_autoptr (GBytes) message = NULL;

  if (original == NULL)
    return NULL;
  if (!g_str_equal (original, ORIGINAL_DEFAULT))
    {
      gsize len = 0;
      guchar *data = g_base64_decode (original, &len);

      if (len == 0)
        {
          g_free (data);
          return NULL;
        }
      message = g_bytes_new_take (data, len);
    }
  return lab_journal_entry_new (ifname, kind, message);
}

gboolean
lab_journal_lookup (LabJournal *journal, guint64 netns_inode, int ifindex,
                    LabJournalEntry **out_entry, GError **error)
{
  g_autofree char *group = group_name (netns_inode, ifindex);
  g_autoptr (GKeyFile) key_file = NULL;

  g_return_val_if_fail (journal != NULL, FALSE);

  key_file = load_key_file (journal->dir, error);
  if (key_file == NULL)
    return FALSE;

  *out_entry = NULL;
  if (g_key_file_has_group (key_file, group))
    {
      *out_entry = entry_from_group (key_file, group);
      if (*out_entry == NULL)
        g_warning ("Ignoring the damaged restore journal entry [%s] in '%s'", group,
                   journal->dir);
    }
  return TRUE;
}

gboolean
lab_journal_save (LabJournal *journal, guint64 netns_inode, int ifindex,
                  const LabJournalEntry *entry, GError **error)
{
  g_autofree char *group = group_name (netns_inode, ifindex);
  g_autoptr (GKeyFile) key_file = NULL;
  g_autofree char *original = NULL;

  g_return_val_if_fail (journal != NULL, FALSE);

  if (entry->message != NULL)
    {
      gsize len = 0;
      const guchar *data = g_bytes_get_data (entry->message, &len);

      original = g_base64_encode (data, len);
    }
  else
    original = g_strdup (ORIGINAL_DEFAULT);

  key_file = load_key_file (journal->dir, error);
  if (key_file == NULL)
    return FALSE;

  g_key_file_remove_group (key_file, group, NULL);
  g_key_file_set_string (key_file, group, "ifname", entry->ifname);
  g_key_file_set_string (key_file, group, "kind", entry->kind);
  g_key_file_set_string (key_file, group, "original", original);
  return store_key_file (journal->dir, key_file, error);
}

gboolean
lab_journal_remove (LabJournal *journal, guint64 netns_inode, int ifindex, GError **error)
{
  g_autofree char *group = group_name (netns_inode, ifindex);
  g_autoptr (GKeyFile) key_file = NULL;

  g_return_val_if_fail (journal != NULL, FALSE);

  key_file = load_key_file (journal->dir, error);
  if (key_file == NULL)
    return FALSE;
  if (!g_key_file_remove_group (key_file, group, NULL))
    return TRUE;
  return store_key_file (journal->dir, key_file, error);
}
