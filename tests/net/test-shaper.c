/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Root integration tests of the shaper on real namespaces and veth pairs. Each
 * result is checked twice: through libnl from inside the namespace and through
 * `tc -n NS qdisc show`.
 */
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab-journal.h"
#include "lab-test.h"

#define HANDLE_LAB_TBF 0x01ab0000U

typedef struct {
  LabTestPair *pair;
  LabNetns *netns; /* pair->ns_a, where every test shapes eth0 */
} Fixture;

/* The root qdisc of eth0 as libnl reads it from inside the namespace. */
typedef struct {
  char *kind;
  guint32 handle;
  int rate_bytes; /* tbf only, else -1 */
} RootQdisc;

static void
root_qdisc_free (RootQdisc *root)
{
  g_free (root->kind);
  g_free (root);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RootQdisc, root_qdisc_free)

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->pair = lab_test_pair_new ();
  fixture->netns = lab_netns_new_named (fixture->pair->ns_a, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->netns, lab_netns_unref);
  g_clear_pointer (&fixture->pair, lab_test_pair_free);
}

static void
store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static GAsyncResult *
wait_for_result (GAsyncResult **result)
{
  while (*result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *result;
}

static LabQdiscState *
apply (LabNetns *netns, const char *ifname, const LabImpairment *impairment, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  lab_shaper_apply_async (netns, ifname, impairment, NULL, store_result_cb, &result);
  return lab_shaper_apply_finish (wait_for_result (&result), error);
}

static LabQdiscState *
reset (LabNetns *netns, const char *ifname, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  lab_shaper_reset_async (netns, ifname, NULL, store_result_cb, &result);
  return lab_shaper_reset_finish (wait_for_result (&result), error);
}

static LabQdiscState *
read_state (LabNetns *netns, const char *ifname, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  lab_shaper_read_async (netns, ifname, NULL, store_result_cb, &result);
  return lab_shaper_read_finish (wait_for_result (&result), error);
}

static gpointer
read_root_in_netns (LabNetns *netns, gpointer user_data, GCancellable *cancellable,
                    GError **error)
{
  struct nl_sock *sock = nl_socket_alloc ();
  struct nl_cache *links = NULL;
  struct nl_cache *qdiscs = NULL;
  struct rtnl_qdisc *qdisc = NULL;
  RootQdisc *root = NULL;
  int ifindex;

  g_assert_nonnull (sock);
  g_assert_cmpint (nl_connect (sock, NETLINK_ROUTE), ==, 0);
  g_assert_cmpint (rtnl_link_alloc_cache (sock, AF_UNSPEC, &links), ==, 0);
  ifindex = rtnl_link_name2i (links, "eth0");
  g_assert_cmpint (ifindex, >, 0);
  g_assert_cmpint (rtnl_qdisc_alloc_cache (sock, &qdiscs), ==, 0);

  qdisc = rtnl_qdisc_get_by_parent (qdiscs, ifindex, TC_H_ROOT);
  g_assert_nonnull (qdisc);
  root = g_new0 (RootQdisc, 1);
  root->kind = g_strdup (rtnl_tc_get_kind (TC_CAST (qdisc)));
  root->handle = rtnl_tc_get_handle (TC_CAST (qdisc));
  root->rate_bytes = g_str_equal (root->kind, "tbf") ? rtnl_qdisc_tbf_get_rate (qdisc) : -1;

  rtnl_qdisc_put (qdisc);
  nl_cache_free (qdiscs);
  nl_cache_free (links);
  nl_socket_free (sock);
  return root;
}

static RootQdisc *
read_root (LabNetns *netns)
{
  g_autoptr (GError) error = NULL;
  RootQdisc *root = lab_netns_run_sync (netns, read_root_in_netns, NULL, NULL, &error);

  g_assert_no_error (error);
  return root;
}

/*
 * Returns `tc qdisc show` output without htb's direct_packets_stat, a packet
 * counter that IPv6 router solicitations on the veth can raise at any time.
 */
static char *
tc_show (const char *ns)
{
  g_autofree char *output = lab_test_run ((const char *[]){ "tc", "-n", ns, "qdisc", "show",
                                                            "dev", "eth0", NULL });
  g_autoptr (GRegex) counter = g_regex_new (" direct_packets_stat [0-9]+", 0, 0, NULL);

  return g_regex_replace_literal (counter, output, -1, 0, "", 0, NULL);
}

static void
tc_in (const char *ns, const char *arguments)
{
  g_autofree char *line = g_strdup_printf ("tc -n %s %s", ns, arguments);

  g_free (lab_test_run_line (line));
}

static gpointer
journal_key_in_netns (LabNetns *netns, gpointer user_data, GCancellable *cancellable,
                      GError **error)
{
  g_autofree LabJournalKey *key = g_new0 (LabJournalKey, 1);
  int ifindex = if_nametoindex ("eth0");

  g_assert_cmpint (ifindex, >, 0);
  if (!lab_journal_key_init (key, ifindex, error))
    return NULL;
  return g_steal_pointer (&key);
}

/* The journal key of eth0 in @netns, as the shaper computes it. */
static LabJournalKey
journal_key (LabNetns *netns)
{
  g_autoptr (GError) error = NULL;
  g_autofree LabJournalKey *key = lab_netns_run_sync (netns, journal_key_in_netns, NULL, NULL,
                                                      &error);

  g_assert_no_error (error);
  g_assert_cmpuint (key->netns_inode, >, 0);
  return *key;
}

static LabJournalEntry *
journal_lookup (const LabJournalKey *key)
{
  g_autoptr (LabJournal) journal = NULL;
  g_autoptr (GError) error = NULL;
  LabJournalEntry *entry = NULL;

  journal = lab_journal_lock (&error);
  g_assert_no_error (error);
  g_assert_true (lab_journal_lookup (journal, key, &entry, &error));
  g_assert_no_error (error);
  return entry;
}

static void
journal_save (const LabJournalKey *key, const LabJournalEntry *entry)
{
  g_autoptr (LabJournal) journal = NULL;
  g_autoptr (GError) error = NULL;

  journal = lab_journal_lock (&error);
  g_assert_no_error (error);
  g_assert_true (lab_journal_save (journal, key, entry, &error));
  g_assert_no_error (error);
}

static gboolean
journal_has_entry (LabNetns *netns)
{
  LabJournalKey key = journal_key (netns);
  g_autoptr (LabJournalEntry) entry = journal_lookup (&key);

  return entry != NULL;
}

static void
test_rate_set_and_reset (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) after_reset = NULL;
  g_autoptr (RootQdisc) root = NULL;
  g_autoptr (RootQdisc) root_after = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = tc_show (ns);
  g_autofree char *shaped = NULL;
  g_autofree char *restored = NULL;

  g_assert_nonnull (strstr (before, "noqueue"));

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, NULL, &impairment, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (state->ifname, ==, "eth0");
  g_assert_cmpstr (state->kind, ==, "tbf");
  g_assert_cmphex (state->handle, ==, HANDLE_LAB_TBF);
  g_assert_true (state->ours);
  g_assert_true (state->has_original);
  g_assert_cmpuint (state->impairment.rate_bps, ==, 1000000);
  g_test_message ("summary: %s", state->summary);
  g_assert_nonnull (strstr (state->summary, "tbf rate 1Mbit"));
  g_assert_nonnull (strstr (state->summary, "lat 50ms"));
  g_assert_true (journal_has_entry (fixture->netns));

  root = read_root (fixture->netns);
  g_assert_cmpstr (root->kind, ==, "tbf");
  g_assert_cmphex (root->handle, ==, HANDLE_LAB_TBF);
  g_assert_cmpint (root->rate_bytes, ==, 125000);

  shaped = tc_show (ns);
  g_assert_nonnull (strstr (shaped, "tbf"));
  g_assert_nonnull (strstr (shaped, "rate 1Mbit"));

  after_reset = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (after_reset->kind, ==, "noqueue");
  g_assert_false (after_reset->ours);
  g_assert_false (after_reset->has_original);
  g_assert_false (journal_has_entry (fixture->netns));

  root_after = read_root (fixture->netns);
  g_assert_cmpstr (root_after->kind, ==, "noqueue");
  restored = tc_show (ns);
  g_assert_cmpstr (restored, ==, before);
}

static void
test_rate_change_and_clear (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  LabImpairment empty = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) first = NULL;
  g_autoptr (LabQdiscState) second = NULL;
  g_autoptr (LabQdiscState) cleared = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = tc_show (ns);
  g_autofree char *shaped = NULL;
  g_autofree char *after = NULL;

  impairment.rate_bps = 1000000;
  first = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_no_error (error);

  impairment.rate_bps = 2000000;
  second = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (second->impairment.rate_bps, ==, 2000000);
  g_assert_true (second->has_original);
  shaped = tc_show (ns);
  g_assert_nonnull (strstr (shaped, "rate 2Mbit"));

  /* An empty impairment is a reset. */
  cleared = apply (fixture->netns, "eth0", &empty, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cleared->kind, ==, "noqueue");
  g_assert_true (lab_impairment_is_empty (&cleared->impairment));
  after = tc_show (ns);
  g_assert_cmpstr (after, ==, before);
}

static void
test_pfifo_original_restored (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) original = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) restored_state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *restored = NULL;

  tc_in (ns, "qdisc add dev eth0 root pfifo limit 77");
  before = tc_show (ns);
  g_assert_nonnull (strstr (before, "pfifo"));
  g_assert_nonnull (strstr (before, "limit 77p"));

  original = read_state (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (original->kind, ==, "pfifo");
  g_assert_false (original->ours);
  g_assert_nonnull (strstr (original->summary, "limit 77p"));

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (state->kind, ==, "tbf");
  g_assert_true (state->has_original);

  restored_state = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (restored_state->kind, ==, "pfifo");
  restored = tc_show (ns);
  g_assert_cmpstr (restored, ==, before);
}

/* Resets from a child process that shares only the journal file with this one, then via labctl. */
static void
test_reset_from_new_process (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after_child = NULL;
  const char *labctl = g_getenv ("LABCTL");
  g_autofree char *runtime_dir = lab_journal_dup_dir ();
  g_autofree char *subprocess_ns_path = g_build_filename (runtime_dir, "test-reset-ns", NULL);

  tc_in (ns, "qdisc add dev eth0 root pfifo limit 77");
  before = tc_show (ns);

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_no_error (error);

  g_assert_true (g_file_set_contents (subprocess_ns_path, ns, -1, NULL));
  g_test_trap_subprocess ("/lab/shaper/reset-subprocess", 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  after_child = tc_show (ns);
  g_assert_cmpstr (after_child, ==, before);
  g_assert_false (journal_has_entry (fixture->netns));
  g_unlink (subprocess_ns_path);

  if (labctl == NULL || !g_file_test (labctl, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("LABCTL is not set to a built labctl; skipping the labctl reset");
      return;
    }

  {
    g_autoptr (LabQdiscState) again = apply (fixture->netns, "eth0", &impairment, &error);
    g_autofree char *shaped = NULL;
    g_autofree char *after_labctl = NULL;

    g_assert_no_error (error);
    shaped = tc_show (ns);
    g_assert_nonnull (strstr (shaped, "rate 1Mbit"));
    g_free (lab_test_run ((const char *[]){ labctl, "reset", ns, "dev", "eth0", NULL }));
    after_labctl = tc_show (ns);
    g_assert_cmpstr (after_labctl, ==, before);
  }
}

static void
test_reset_subprocess (void)
{
  g_autofree char *runtime_dir = lab_journal_dup_dir ();
  g_autofree char *path = g_build_filename (runtime_dir, "test-reset-ns", NULL);
  g_autofree char *ns = NULL;
  g_autoptr (LabNetns) netns = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_test_subprocess ())
    {
      g_test_skip ("only runs as the child of /lab/shaper/reset-new-process");
      return;
    }
  g_assert_true (g_file_get_contents (path, &ns, NULL, NULL));
  netns = lab_netns_new_named (ns, &error);
  g_assert_no_error (error);
  state = reset (netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (state->kind, ==, "pfifo");
}

typedef struct {
  guint pending;
  guint failed;
} RaceCounter;

static void
race_shaper_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RaceCounter *counter = user_data;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;

  if (g_async_result_is_tagged (result, lab_shaper_reset_async))
    state = lab_shaper_reset_finish (result, &error);
  else
    state = lab_shaper_apply_finish (result, &error);
  if (error != NULL)
    {
      g_test_message ("concurrent call failed: %s", error->message);
      counter->failed++;
    }
  counter->pending--;
}

static void
race_labctl_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RaceCounter *counter = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_subprocess_wait_check_finish (G_SUBPROCESS (source), result, &error))
    {
      g_test_message ("concurrent labctl failed: %s", error->message);
      counter->failed++;
    }
  counter->pending--;
}

/*
 * Races applies against resets, from threads of this process and from labctl
 * processes. Without one journal lock across each call, an apply could read
 * Lab's root, lose its journal entry to a reset and reinstall Lab's root with
 * no entry left, so the final reset would delete the pfifo original.
 */
static void
test_concurrent_apply_and_reset (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  const char *labctl = g_getenv ("LABCTL");
  g_autofree char *before = NULL;
  g_autofree char *restored = NULL;
  g_autoptr (LabQdiscState) final_state = NULL;
  g_autoptr (GError) error = NULL;
  RaceCounter counter = { 0, 0 };
  const guint rounds = 25;
  const guint calls_per_round = 4;

  tc_in (ns, "qdisc add dev eth0 root pfifo limit 77");
  before = tc_show (ns);

  for (guint round = 0; round < rounds; round++)
    {
      g_autoptr (LabQdiscState) state = NULL;

      if (labctl != NULL && g_file_test (labctl, G_FILE_TEST_IS_EXECUTABLE))
        {
          const char *verb = round % 2 == 0 ? "reset" : "set";
          g_autoptr (GSubprocess) process = NULL;

          if (round % 2 == 0)
            process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, labctl, verb,
                                        ns, "dev", "eth0", NULL);
          else
            process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, labctl, verb,
                                        ns, "dev", "eth0", "rate", "2mbit", NULL);
          g_assert_no_error (error);
          counter.pending++;
          g_subprocess_wait_check_async (process, NULL, race_labctl_done_cb, &counter);
        }

      for (guint i = 0; i < calls_per_round; i++)
        {
          LabImpairment impairment = LAB_IMPAIRMENT_INIT;

          impairment.rate_bps = 1000000 * (i + 1);
          counter.pending += 2;
          lab_shaper_apply_async (fixture->netns, "eth0", &impairment, NULL,
                                  race_shaper_done_cb, &counter);
          lab_shaper_reset_async (fixture->netns, "eth0", NULL, race_shaper_done_cb, &counter);
        }

      while (counter.pending > 0)
        g_main_context_iteration (NULL, TRUE);
      g_assert_cmpuint (counter.failed, ==, 0);

      /* Whichever call ran last, a root that is Lab's must have its original saved. */
      state = read_state (fixture->netns, "eth0", &error);
      g_assert_no_error (error);
      if (state->ours)
        g_assert_true (state->has_original);
      else
        g_assert_cmpstr (state->kind, ==, "pfifo");
    }

  final_state = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (final_state->kind, ==, "pfifo");
  g_assert_false (journal_has_entry (fixture->netns));
  restored = tc_show (ns);
  g_assert_cmpstr (restored, ==, before);
}

/* Returns FALSE, after marking the test skipped, when the kernel accepted netem. */
static gboolean
assert_netem_rejected (Fixture *fixture, const LabImpairment *impairment)
{
  const char *ns = fixture->pair->ns_a;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = tc_show (ns);
  g_autofree char *after = NULL;
  gboolean had_entry = journal_has_entry (fixture->netns);

  state = apply (fixture->netns, "eth0", impairment, &error);
  if (error == NULL)
    {
      g_assert_cmpstr (state->kind, ==, "netem");
      g_test_skip ("this kernel has sch_netem; the rejection path cannot be checked");
      return FALSE;
    }
  g_test_message ("error: %s", error->message);
  g_assert_null (state);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "sch_netem"));
  g_assert_nonnull (strstr (error->message, "CONFIG_NET_SCH_NETEM"));
  g_assert_nonnull (strstr (error->message, "rate alone still works"));

  after = tc_show (ns);
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpint (journal_has_entry (fixture->netns), ==, had_entry);
  return TRUE;
}

static void
test_netem_unsupported (Fixture *fixture, gconstpointer data)
{
  LabImpairment delay = LAB_IMPAIRMENT_INIT;
  LabImpairment delay_and_rate = LAB_IMPAIRMENT_INIT;
  LabImpairment rate = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) shaped = NULL;
  g_autoptr (LabQdiscState) restored = NULL;
  g_autoptr (GError) error = NULL;

  delay.delay_usec = 100000;
  if (!assert_netem_rejected (fixture, &delay))
    return;

  delay_and_rate.delay_usec = 100000;
  delay_and_rate.rate_bps = 1000000;
  assert_netem_rejected (fixture, &delay_and_rate);

  /* With Lab's tbf in place, a failed netem keeps it exactly. */
  rate.rate_bps = 3000000;
  shaped = apply (fixture->netns, "eth0", &rate, &error);
  g_assert_no_error (error);
  assert_netem_rejected (fixture, &delay_and_rate);

  restored = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (restored->kind, ==, "noqueue");
}

static void
test_netns_gone (Fixture *fixture, gconstpointer data)
{
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) state_no_ifname = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) error_no_ifname = NULL;
  g_autofree char *expected = NULL;

  impairment.rate_bps = 1000000;
  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", fixture->pair->ns_a, NULL }));

  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_null (state);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND);
  expected = g_strdup_printf ("Interface 'eth0' in namespace '%s' is gone; refresh the list",
                              fixture->pair->ns_a);
  g_assert_cmpstr (error->message, ==, expected);

  state_no_ifname = apply (fixture->netns, NULL, &impairment, &error_no_ifname);
  g_assert_null (state_no_ifname);
  g_assert_error (error_no_ifname, LAB_ERROR, LAB_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error_no_ifname->message, "is gone"));
}

/* A save drops the entries of deleted namespaces and keeps those of namespaces that exist. */
static void
test_journal_prunes_deleted (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LabNetns) netns_b = lab_netns_new_named (fixture->pair->ns_b, &error);
  g_autoptr (LabJournalEntry) entry = lab_journal_entry_new ("eth0", "noqueue", NULL);
  g_autoptr (LabJournalEntry) entry_b_before = NULL;
  g_autoptr (LabJournalEntry) pruned = NULL;
  g_autoptr (LabJournalEntry) saved = NULL;
  g_autofree char *journal_path = NULL;
  g_autofree char *journal_text = NULL;
  g_autofree char *group_b = NULL;
  LabJournalKey key_a;
  LabJournalKey key_b;

  g_assert_no_error (error);
  key_a = journal_key (fixture->netns);
  key_b = journal_key (netns_b);
  group_b = g_strdup_printf ("[netns %" G_GUINT64_FORMAT " ifindex %d]", key_b.netns_inode,
                             key_b.ifindex);

  /* While namespace b exists, a save for a keeps b's entry. */
  journal_save (&key_b, entry);
  journal_save (&key_a, entry);
  entry_b_before = journal_lookup (&key_b);
  g_assert_nonnull (entry_b_before);

  g_free (lab_test_run ((const char *[]){ "ip", "netns", "delete", fixture->pair->ns_b, NULL }));
  journal_save (&key_a, entry);

  pruned = journal_lookup (&key_b);
  g_assert_null (pruned);
  saved = journal_lookup (&key_a);
  g_assert_nonnull (saved);
  journal_path = g_build_filename (g_getenv ("LAB_RUNTIME_DIR"), "shaper.journal", NULL);
  g_assert_true (g_file_get_contents (journal_path, &journal_text, NULL, NULL));
  g_assert_null (strstr (journal_text, group_b));
}

/* An interface missing when the call starts is "not found", and the message lists the others. */
static void
test_interface_not_found (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) reset_state = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) reset_error = NULL;
  g_autofree char *expected = NULL;

  impairment.rate_bps = 1000000;
  g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "delete", "eth0", NULL }));
  g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "add", "labx0", "type", "veth",
                                          "peer", "name", "labx1", NULL }));

  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_null (state);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND);
  expected = g_strdup_printf ("Interface 'eth0' not found in namespace '%s', which has: labx0, "
                              "labx1, lo; choose one with 'dev IFACE'",
                              ns);
  g_assert_cmpstr (error->message, ==, expected);

  reset_state = reset (fixture->netns, "nope0", &reset_error);
  g_assert_null (reset_state);
  g_assert_error (reset_error, LAB_ERROR, LAB_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (reset_error->message, "Interface 'nope0' not found"));
  g_assert_null (strstr (reset_error->message, "gone"));
}

/* Whether /proc/locks lists a flock() of this process blocked on the file with @inode. */
static gboolean
flock_is_waiting (guint64 inode)
{
  g_autofree char *locks = NULL;
  g_autofree char *pattern = NULL;
  g_autoptr (GRegex) regex = NULL;

  g_assert_true (g_file_get_contents ("/proc/locks", &locks, NULL, NULL));
  /* Such as "3: -> FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF". */
  pattern = g_strdup_printf ("-> FLOCK +ADVISORY +WRITE +%d +[0-9a-f]+:[0-9a-f]+:%" G_GUINT64_FORMAT
                             " ",
                             (int) getpid (), inode);
  regex = g_regex_new (pattern, G_REGEX_MULTILINE, 0, NULL);
  return g_regex_match (regex, locks, 0, NULL);
}

/*
 * An interface deleted after the call found it, while the call waits for the
 * journal lock that this test holds, ends the change with "gone".
 */
static void
test_interface_gone_mid_change (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabJournal) journal = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *runtime_dir = lab_journal_dup_dir ();
  g_autofree char *lock_path = g_build_filename (runtime_dir, "shaper.lock", NULL);
  g_autofree char *expected = NULL;
  LabJournalKey key = journal_key (fixture->netns);
  g_autoptr (LabJournalEntry) entry = NULL;
  struct stat st;

  journal = lab_journal_lock (&error);
  g_assert_no_error (error);
  g_assert_cmpint (stat (lock_path, &st), ==, 0);

  impairment.rate_bps = 1000000;
  lab_shaper_apply_async (fixture->netns, "eth0", &impairment, NULL, store_result_cb, &result);
  while (!flock_is_waiting (st.st_ino))
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }

  g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "delete", "eth0", NULL }));
  g_clear_pointer (&journal, lab_journal_unlock);

  state = lab_shaper_apply_finish (wait_for_result (&result), &error);
  g_assert_null (state);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND);
  expected = g_strdup_printf ("Interface 'eth0' in namespace '%s' is gone; refresh the list", ns);
  g_assert_cmpstr (error->message, ==, expected);

  /* The failed apply keeps no entry for the deleted interface. */
  entry = journal_lookup (&key);
  g_assert_null (entry);
}

/*
 * Applies a rate over "pfifo limit 33", resets, and returns the journal entry
 * that apply saved: an entry that restores a qdisc the interface no longer has.
 */
static LabJournalEntry *
make_pfifo_entry (Fixture *fixture)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  LabJournalKey key = journal_key (fixture->netns);
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) reset_state = NULL;
  g_autoptr (GError) error = NULL;
  LabJournalEntry *entry;

  tc_in (ns, "qdisc add dev eth0 root pfifo limit 33");
  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_no_error (error);
  entry = journal_lookup (&key);
  g_assert_nonnull (entry);
  g_assert_cmpstr (entry->kind, ==, "pfifo");
  g_assert_nonnull (entry->message);

  reset_state = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reset_state->kind, ==, "pfifo");
  tc_in (ns, "qdisc del dev eth0 root");
  return entry;
}

/* A stale entry for a root that is not Lab's: reset drops it and changes nothing. */
static void
test_stale_entry_not_restored (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabJournalKey key = journal_key (fixture->netns);
  g_autoptr (LabJournalEntry) stale = make_pfifo_entry (fixture);
  g_autoptr (LabJournalEntry) after = NULL;
  g_autoptr (LabQdiscState) state_before = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *restored = NULL;

  tc_in (ns, "qdisc add dev eth0 root handle 7: tbf rate 5mbit burst 10kb latency 70ms");
  before = tc_show (ns);
  journal_save (&key, stale);

  state_before = read_state (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_false (state_before->ours);
  g_assert_false (state_before->has_original);

  state = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (state->kind, ==, "tbf");
  g_assert_cmphex (state->handle, ==, 0x00070000);
  restored = tc_show (ns);
  g_assert_cmpstr (restored, ==, before);
  after = journal_lookup (&key);
  g_assert_null (after);
}

/* A stale entry for a root that is not Lab's: apply saves the current root in its place. */
static void
test_stale_entry_replaced_by_apply (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  LabJournalKey key = journal_key (fixture->netns);
  g_autoptr (LabJournalEntry) stale = make_pfifo_entry (fixture);
  g_autoptr (LabJournalEntry) saved = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) reset_state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *restored = NULL;

  tc_in (ns, "qdisc add dev eth0 root handle 7: tbf rate 5mbit burst 10kb latency 70ms");
  before = tc_show (ns);
  journal_save (&key, stale);

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_no_error (error);
  g_assert_cmphex (state->handle, ==, HANDLE_LAB_TBF);
  saved = journal_lookup (&key);
  g_assert_nonnull (saved);
  g_assert_cmpstr (saved->kind, ==, "tbf");

  reset_state = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmphex (reset_state->handle, ==, 0x00070000);
  restored = tc_show (ns);
  g_assert_cmpstr (restored, ==, before);
}

/*
 * An entry left by a deleted namespace whose inode this one reuses, with the
 * same ifindex, is ignored even under a root with Lab's handle, and the next
 * journal write drops every entry of that deleted namespace.
 */
static void
test_reused_inode_entry_ignored (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabJournalKey key = journal_key (fixture->netns);
  LabJournalKey old_key = key;
  LabJournalKey old_other_key = key;
  g_autoptr (LabJournalEntry) stale = NULL;
  g_autoptr (LabJournalEntry) found = NULL;
  g_autoptr (LabJournalEntry) old_found = NULL;
  g_autoptr (LabJournalEntry) old_other_found = NULL;
  g_autoptr (LabQdiscState) state_before = NULL;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *after = NULL;

  if (key.netns_cookie == 0)
    {
      g_test_skip ("this kernel has no SO_NETNS_COOKIE (Linux 5.14), so entries carry no cookie");
      return;
    }

  stale = make_pfifo_entry (fixture);
  old_key.netns_cookie = key.netns_cookie + 1;
  old_other_key.netns_cookie = old_key.netns_cookie;
  old_other_key.ifindex = key.ifindex + 1000;
  journal_save (&old_key, stale);
  journal_save (&old_other_key, stale);

  /* Someone else's tbf that carries Lab's handle 1ab:. */
  tc_in (ns, "qdisc add dev eth0 root handle 1ab: tbf rate 3mbit burst 10kb latency 50ms");

  found = journal_lookup (&key);
  g_assert_null (found);
  state_before = read_state (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_true (state_before->ours);
  g_assert_false (state_before->has_original);

  /* Without a usable entry, reset returns to the kernel default, not the pfifo. */
  state = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (state->kind, ==, "noqueue");
  after = tc_show (ns);
  g_assert_null (strstr (after, "pfifo"));
  g_assert_nonnull (strstr (after, "noqueue"));

  old_found = journal_lookup (&old_key);
  g_assert_null (old_found);
  old_other_found = journal_lookup (&old_other_key);
  g_assert_null (old_other_found);
}

static void
test_invalid_changes_nothing (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment loss = LAB_IMPAIRMENT_INIT;
  LabImpairment rate = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) rate_state = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) rate_error = NULL;
  g_autofree char *before = tc_show (ns);
  g_autofree char *after = NULL;
  gboolean had_entry = journal_has_entry (fixture->netns);

  loss.loss_percent = 150.0;
  loss.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &loss, &error);
  g_assert_null (state);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "loss 150%"));
  g_assert_nonnull (strstr (error->message, "100%"));

  rate.rate_bps = 100;
  rate_state = apply (fixture->netns, "eth0", &rate, &rate_error);
  g_assert_null (rate_state);
  g_assert_error (rate_error, LAB_ERROR, LAB_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (rate_error->message, "rate"));

  after = tc_show (ns);
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpint (journal_has_entry (fixture->netns), ==, had_entry);
}

static void
test_ambiguous_interface (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;

  g_free (lab_test_run ((const char *[]){ "ip", "-n", ns, "link", "add", "labx0", "type", "veth",
                                          "peer", "name", "labx1", NULL }));

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, NULL, &impairment, &error);
  g_assert_null (state);
  g_test_message ("error: %s", error->message);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_AMBIGUOUS);
  g_assert_nonnull (strstr (error->message, "eth0"));
  g_assert_nonnull (strstr (error->message, "labx0"));
  g_assert_nonnull (strstr (error->message, "labx1"));
  g_assert_null (strstr (error->message, "lo,"));
}

static void
test_classful_original_rejected (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gboolean had_entry;

  tc_in (ns, "qdisc add dev eth0 root handle 1: htb default 1");
  tc_in (ns, "class add dev eth0 parent 1: classid 1:1 htb rate 5mbit");
  before = tc_show (ns);
  had_entry = journal_has_entry (fixture->netns);

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_null (state);
  g_test_message ("error: %s", error->message);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "'htb'"));
  g_assert_nonnull (strstr (error->message, "with classes"));
  g_assert_nonnull (strstr (error->message, "qdisc del dev eth0 root"));

  after = tc_show (ns);
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpint (journal_has_entry (fixture->netns), ==, had_entry);
}

static void
test_tbf_original_restored (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) restored_state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *restored = NULL;

  tc_in (ns, "qdisc add dev eth0 root handle 7: tbf rate 5mbit burst 10kb latency 70ms");
  before = tc_show (ns);
  g_assert_nonnull (strstr (before, "tbf 7:"));

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_no_error (error);
  g_assert_cmphex (state->handle, ==, HANDLE_LAB_TBF);
  g_assert_true (state->has_original);

  restored_state = reset (fixture->netns, "eth0", &error);
  g_assert_no_error (error);
  g_assert_cmphex (restored_state->handle, ==, 0x00070000);
  g_assert_false (restored_state->ours);
  restored = tc_show (ns);
  g_assert_cmpstr (restored, ==, before);
}

static void
test_bare_htb_original_rejected (Fixture *fixture, gconstpointer data)
{
  const char *ns = fixture->pair->ns_a;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  tc_in (ns, "qdisc add dev eth0 root handle 5: htb");
  before = tc_show (ns);

  impairment.rate_bps = 1000000;
  state = apply (fixture->netns, "eth0", &impairment, &error);
  g_assert_null (state);
  g_assert_error (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "'htb'"));
  g_assert_nonnull (strstr (error->message, "cannot save"));

  after = tc_show (ns);
  g_assert_cmpstr (after, ==, before);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* The child run of reset-new-process needs no root check of its own. */
  if (!g_test_subprocess ())
    lab_test_require_root ();

#define ADD(path, func) \
  g_test_add ("/lab/shaper/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("rate-set-and-reset", test_rate_set_and_reset);
  ADD ("rate-change-and-clear", test_rate_change_and_clear);
  ADD ("pfifo-original-restored", test_pfifo_original_restored);
  ADD ("reset-new-process", test_reset_from_new_process);
  ADD ("netem-unsupported", test_netem_unsupported);
  ADD ("netns-gone", test_netns_gone);
  ADD ("interface-not-found", test_interface_not_found);
  ADD ("interface-gone-mid-change", test_interface_gone_mid_change);
  ADD ("stale-entry-not-restored", test_stale_entry_not_restored);
  ADD ("stale-entry-replaced-by-apply", test_stale_entry_replaced_by_apply);
  ADD ("reused-inode-entry-ignored", test_reused_inode_entry_ignored);
  ADD ("journal-prunes-deleted", test_journal_prunes_deleted);
  ADD ("invalid-changes-nothing", test_invalid_changes_nothing);
  ADD ("ambiguous-interface", test_ambiguous_interface);
  ADD ("classful-original-rejected", test_classful_original_rejected);
  ADD ("tbf-original-restored", test_tbf_original_restored);
  ADD ("bare-htb-original-rejected", test_bare_htb_original_rejected);
  ADD ("concurrent-apply-and-reset", test_concurrent_apply_and_reset);
#undef ADD
  g_test_add_func ("/lab/shaper/reset-subprocess", test_reset_subprocess);

  return g_test_run ();
}
