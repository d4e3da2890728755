/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The restore journal: the original root qdisc of every interface Lab changed,
 * kept in a key file under $LAB_RUNTIME_DIR so another process can restore it.
 * Entries are keyed by network namespace inode and ifindex. All calls do
 * blocking file I/O under an exclusive flock(). Private to the core library.
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

/* $LAB_RUNTIME_DIR, or LAB_RUNTIME_DIR_DEFAULT when it is unset or empty. */
char *lab_journal_dup_dir (void);

/* Sets *out_entry to the saved entry, or to NULL when there is none. */
gboolean lab_journal_lookup (guint64 netns_inode, int ifindex, LabJournalEntry **out_entry,
                             GError **error);
/* Saves @entry, replacing any entry with the same key. */
gboolean lab_journal_save (guint64 netns_inode, int ifindex, const LabJournalEntry *entry,
                           GError **error);
/* Removes the entry; succeeds when there was none. */
gboolean lab_journal_remove (guint64 netns_inode, int ifindex, GError **error);

G_END_DECLS
