/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The restore journal: the original root qdisc of every interface Lab changed,
 * kept in a key file under $LAB_RUNTIME_DIR so another process can restore it.
 * Entries are keyed by network namespace inode and ifindex, and also store the
 * namespace cookie, because the kernel reuses the inode of a deleted namespace.
 * Every call does blocking file I/O; reads and writes take the held lock as
 * their first argument. Private to the core library.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *ifname;
  char *kind;      /* kind of the original root qdisc, for messages */
  GBytes *message; /* RTM_NEWQDISC that re-creates the original, or NULL for the kernel default */
} LabJournalEntry;

LabJournalEntry *lab_journal_entry_new (const char *ifname, const char *kind, GBytes *message);
void lab_journal_entry_free (LabJournalEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabJournalEntry, lab_journal_entry_free)

/*
 * The key of one interface in the journal. Unlike the inode, the namespace
 * cookie (SO_NETNS_COOKIE, Linux 5.14) is never reused until reboot. It is 0
 * when the kernel lacks it, and then entries match by inode and ifindex alone.
 */
typedef struct {
  guint64 netns_inode;
  guint64 netns_cookie;
  int ifindex;
} LabJournalKey;

/*
 * Fills @out_key for @ifindex in the network namespace of the calling thread.
 * Call it from a thread inside the namespace, such as a LabNetnsFunc.
 */
gboolean lab_journal_key_init (LabJournalKey *out_key, int ifindex, GError **error);

/* $LAB_RUNTIME_DIR, or LAB_RUNTIME_DIR_DEFAULT when it is unset or empty. */
char *lab_journal_dup_dir (void);

/*
 * An exclusive flock() on the journal, held until lab_journal_unlock(). Each
 * lock opens the lock file anew, so it also excludes other threads of the same
 * process. Hold one lock from reading the qdiscs through the change and the
 * journal update, so a concurrent apply or reset cannot slip in between.
 */
typedef struct _LabJournal LabJournal;

/* Creates the runtime directory if needed, then blocks until the lock is free. */
LabJournal *lab_journal_lock (GError **error);
void lab_journal_unlock (LabJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabJournal, lab_journal_unlock)

/*
 * Sets *out_entry to the saved entry, or to NULL when there is none. An entry
 * with the same inode but another cookie belongs to a deleted namespace and
 * counts as none.
 */
gboolean lab_journal_lookup (LabJournal *journal, const LabJournalKey *key,
                             LabJournalEntry **out_entry, GError **error);
/*
 * Saves @entry, replacing any entry with the same inode and ifindex. Like
 * lab_journal_remove(), it also drops every entry of a deleted namespace that
 * had the same inode, because two namespaces that exist at once never share an
 * inode. Both also drop the entries of namespaces whose inode is neither
 * mounted under /run/netns nor the network namespace of a process.
 */
gboolean lab_journal_save (LabJournal *journal, const LabJournalKey *key,
                           const LabJournalEntry *entry, GError **error);
/* Removes the entry; succeeds when there was none. */
gboolean lab_journal_remove (LabJournal *journal, const LabJournalKey *key, GError **error);

G_END_DECLS
