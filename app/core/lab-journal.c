/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab-error.h"
#include "lab-netns.h"
#include "lab-shaper.h"

#define JOURNAL_FILE "shaper.journal"
#define LOCK_FILE "shaper.lock"
/* Value of the "original" key when the kernel's default qdisc was at the root. */
#define ORIGINAL_DEFAULT "default"

/* From linux/asm-generic/socket.h (Linux 5.14), for headers that predate it. */
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

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

gboolean
lab_journal_key_init (LabJournalKey *out_key, int ifindex, GError **error)
{
  struct stat st;
  guint64 cookie = 0;
  socklen_t len = sizeof cookie;
  int fd;

  /* The thread is inside the namespace, so this is its inode, whatever path led here. */
  if (stat ("/proc/thread-self/ns/net", &st) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, LAB_ERROR, lab_error_from_errno (saved_errno),
                   "Could not read the network namespace inode from /proc/thread-self/ns/net: "
                   "%s; check that /proc is mounted",
                   g_strerror (saved_errno));
      return FALSE;
    }

  /* Any socket carries the cookie of the namespace it was created in. */
  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || getsockopt (fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
    {
      int saved_errno = errno;

      if (fd >= 0)
        close (fd);
      if (saved_errno != ENOPROTOOPT)
        {
          g_set_error (error, LAB_ERROR, lab_error_from_errno (saved_errno),
                       "Could not read the network namespace cookie (SO_NETNS_COOKIE): %s",
                       g_strerror (saved_errno));
          return FALSE;
        }
      /* Kernels before 5.14 have no cookie: match by inode and ifindex alone. */
      cookie = 0;
    }
  else
    close (fd);

  out_key->netns_inode = st.st_ino;
  out_key->netns_cookie = cookie;
  out_key->ifindex = ifindex;
  return TRUE;
}

static char *
group_name (const LabJournalKey *key)
{
  return g_strdup_printf ("netns %" G_GUINT64_FORMAT " ifindex %d", key->netns_inode,
                          key->ifindex);
}

/* The cookie stored in @group, or 0 for entries written before cookies were stored. */
static guint64
group_cookie (GKeyFile *key_file, const char *group)
{
  return g_key_file_get_uint64 (key_file, group, "netns-cookie", NULL);
}

/* Whether @group was written for another namespace that had the inode of @key. */
static gboolean
group_is_other_namespace (GKeyFile *key_file, const char *group, const LabJournalKey *key)
{
  guint64 cookie = group_cookie (key_file, group);

  return cookie != 0 && key->netns_cookie != 0 && cookie != key->netns_cookie;
}

/*
 * Removes the entries of deleted namespaces whose inode @key's namespace now
 * has. Returns TRUE when it removed any.
 */
static gboolean
prune_reused_inode (GKeyFile *key_file, const LabJournalKey *key)
{
  g_auto (GStrv) groups = g_key_file_get_groups (key_file, NULL);
  gboolean pruned = FALSE;

  for (gsize i = 0; groups[i] != NULL; i++)
    {
      guint64 inode = 0;
      int ifindex = 0;

      if (sscanf (groups[i], "netns %" SCNu64 " ifindex %d", &inode, &ifindex) != 2
          || inode != key->netns_inode || !group_is_other_namespace (key_file, groups[i], key))
        continue;
      g_debug ("Dropping the restore journal entry [%s] of a deleted namespace", groups[i]);
      g_key_file_remove_group (key_file, groups[i], NULL);
      pruned = TRUE;
    }
  return pruned;
}

static void
add_netns_inode (GHashTable *inodes, const char *path)
{
  struct stat st;

  if (stat (path, &st) == 0)
    g_hash_table_add (inodes, g_memdup2 (&st.st_ino, sizeof (guint64)));
}

/*
 * Collects the inodes of the network namespaces that exist: those mounted
 * under /run/netns, those of every process and of the calling thread. Returns
 * NULL when /proc cannot be listed, so nothing is pruned on a partial view.
 * NOTE: a namespace kept alive only by an open fd or by another process's
 * non-leader thread is missed, and its entries are pruned.
 */
static GHashTable *
collect_netns_inodes (void)
{
  g_autoptr (GHashTable) inodes = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autoptr (GDir) run_netns = g_dir_open (LAB_NETNS_RUN_DIR, 0, NULL);
  const char *name;

  if (proc == NULL)
    return NULL;
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;

      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/ns/net", name);
      add_netns_inode (inodes, path);
    }
  add_netns_inode (inodes, "/proc/thread-self/ns/net");

  /* A stale file with nothing mounted adds a tmpfs inode, which at worst keeps one entry. */
  while (run_netns != NULL && (name = g_dir_read_name (run_netns)) != NULL)
    {
      g_autofree char *path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);

      add_netns_inode (inodes, path);
    }
  return g_steal_pointer (&inodes);
}

/*
 * Removes the entries of namespaces that no longer exist, except @key's own,
 * so the journal does not grow with every deleted namespace. Returns TRUE when
 * it removed any. An inode reused by a new namespace keeps its old entries
 * here, but the cookie check in lookups ignores them.
 */
static gboolean
prune_gone_namespaces (GKeyFile *key_file, const LabJournalKey *key)
{
  g_auto (GStrv) groups = g_key_file_get_groups (key_file, NULL);
  g_autoptr (GHashTable) inodes = NULL;
  gboolean pruned = FALSE;

  if (groups[0] == NULL)
    return FALSE;
  inodes = collect_netns_inodes ();
  if (inodes == NULL)
    return FALSE;

  for (gsize i = 0; groups[i] != NULL; i++)
    {
      guint64 inode = 0;
      int ifindex = 0;

      if (sscanf (groups[i], "netns %" SCNu64 " ifindex %d", &inode, &ifindex) != 2
          || inode == key->netns_inode || g_hash_table_contains (inodes, &inode))
        continue;
      g_debug ("Dropping the restore journal entry [%s] of a namespace that no longer exists",
               groups[i]);
      g_key_file_remove_group (key_file, groups[i], NULL);
      pruned = TRUE;
    }
  return pruned;
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
lab_journal_lookup (LabJournal *journal, const LabJournalKey *key, LabJournalEntry **out_entry,
                    GError **error)
{
  g_autofree char *group = group_name (key);
  g_autoptr (GKeyFile) key_file = NULL;

  g_return_val_if_fail (journal != NULL, FALSE);

  key_file = load_key_file (journal->dir, error);
  if (key_file == NULL)
    return FALSE;

  *out_entry = NULL;
  if (g_key_file_has_group (key_file, group))
    {
      if (group_is_other_namespace (key_file, group, key))
        {
          g_debug ("Ignoring the restore journal entry [%s] of a deleted namespace", group);
          return TRUE;
        }
      *out_entry = entry_from_group (key_file, group);
      if (*out_entry == NULL)
        g_warning ("Ignoring the damaged restore journal entry [%s] in '%s'", group,
                   journal->dir);
    }
  return TRUE;
}

gboolean
lab_journal_save (LabJournal *journal, const LabJournalKey *key, const LabJournalEntry *entry,
                  GError **error)
{
  g_autofree char *group = group_name (key);
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

  prune_reused_inode (key_file, key);
  prune_gone_namespaces (key_file, key);
  g_key_file_remove_group (key_file, group, NULL);
  if (key->netns_cookie != 0)
    g_key_file_set_uint64 (key_file, group, "netns-cookie", key->netns_cookie);
  g_key_file_set_string (key_file, group, "ifname", entry->ifname);
  g_key_file_set_string (key_file, group, "kind", entry->kind);
  g_key_file_set_string (key_file, group, "original", original);
  return store_key_file (journal->dir, key_file, error);
}

gboolean
lab_journal_remove (LabJournal *journal, const LabJournalKey *key, GError **error)
{
  g_autofree char *group = group_name (key);
  g_autoptr (GKeyFile) key_file = NULL;
  gboolean pruned;
  gboolean removed;

  g_return_val_if_fail (journal != NULL, FALSE);

  key_file = load_key_file (journal->dir, error);
  if (key_file == NULL)
    return FALSE;
  pruned = prune_reused_inode (key_file, key);
  pruned |= prune_gone_namespaces (key_file, key);
  removed = g_key_file_remove_group (key_file, group, NULL);
  if (!pruned && !removed)
    return TRUE;
  return store_key_file (journal->dir, key_file, error);
}
