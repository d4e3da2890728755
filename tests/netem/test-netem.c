/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lab's netem path on a kernel that has sch_netem: delay, jitter, loss and
 * netem with a tbf rate, applied through lab_shaper_*, read back through Lab
 * and through iproute2's tc, and measured with ping between two namespaces.
 *
 * run-vm.sh runs this program inside a QEMU VM and sets LAB_NETEM_VM=1: there
 * a missing sch_netem fails the test. Elsewhere it skips, because the
 * development kernels lack sch_netem.
 */
#include "lab-test.h"

#include <math.h>

/* iproute2's tc by full path: busybox has a tc applet that prints other output. */
#define TC_PATH "/usr/sbin/tc"

#define PING_COUNT 60
#define PING_INTERVAL "0.1"
/* ICMP payload in bytes for the default ping and for the one that fills the tbf bucket. */
#define PING_SIZE 56
#define PING_SIZE_LARGE 8000

#define DELAY_USEC 50000
#define JITTER_USEC 10000
#define LOSS_PERCENT 20.0
#define RATE_BPS 1000000

typedef struct {
  gboolean done;
  GAsyncResult *result;
} AsyncWait;

typedef struct {
  guint transmitted;
  guint received;
  GArray *rtt_ms; /* double, one per reply */
} PingResult;

static void
ping_result_free (PingResult *ping)
{
  g_array_unref (ping->rtt_ms);
  g_free (ping);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PingResult, ping_result_free)

static void
on_async_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncWait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->done = TRUE;
}

typedef enum {
  SHAPER_APPLY,
  SHAPER_READ,
  SHAPER_RESET,
} ShaperCall;

/* Runs one lab_shaper_* call and iterates the main loop until it finishes. */
static LabQdiscState *
call_shaper (ShaperCall call, const char *netns_name, const LabImpairment *impairment,
             GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (LabNetns) netns = lab_netns_new_named (netns_name, &local_error);
  AsyncWait wait = { FALSE, NULL };
  LabQdiscState *state = NULL;

  g_assert_no_error (local_error);
  switch (call)
    {
    case SHAPER_APPLY:
      lab_shaper_apply_async (netns, "eth0", impairment, NULL, on_async_ready, &wait);
      lab_test_wait_for (&wait.done);
      state = lab_shaper_apply_finish (wait.result, error);
      break;
    case SHAPER_READ:
      lab_shaper_read_async (netns, "eth0", NULL, on_async_ready, &wait);
      lab_test_wait_for (&wait.done);
      state = lab_shaper_read_finish (wait.result, error);
      break;
    case SHAPER_RESET:
      lab_shaper_reset_async (netns, "eth0", NULL, on_async_ready, &wait);
      lab_test_wait_for (&wait.done);
      state = lab_shaper_reset_finish (wait.result, error);
      break;
    default:
      g_assert_not_reached ();
    }
  g_clear_object (&wait.result);
  return state;
}

/*
 * Applies @impairment to eth0 of @netns_name. Skips the test when the kernel
 * has no sch_netem, unless LAB_NETEM_VM is set because the VM must have it.
 */
static LabQdiscState *
apply_or_skip (const char *netns_name, const LabImpairment *impairment)
{
  g_autoptr (GError) error = NULL;
  LabQdiscState *state = call_shaper (SHAPER_APPLY, netns_name, impairment, &error);

  if (g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED)
      && g_getenv ("LAB_NETEM_VM") == NULL)
    {
      g_test_skip_printf ("%s (tests/netem/run-vm.sh runs this test in a VM that has it)",
                          error->message);
      return NULL;
    }
  g_assert_no_error (error);
  g_assert_nonnull (state);
  return state;
}

static LabQdiscState *
read_state (const char *netns_name)
{
  g_autoptr (GError) error = NULL;
  LabQdiscState *state = call_shaper (SHAPER_READ, netns_name, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (state);
  return state;
}

static char *
tc_show (const char *netns_name, gboolean with_statistics)
{
  const char *argv[] = { TC_PATH, "-n", netns_name, "qdisc", "show", "dev", "eth0", NULL };
  const char *argv_statistics[] = { TC_PATH, "-n", netns_name, "-s", "qdisc", "show", "dev",
                                    "eth0", NULL };
  char *output = lab_test_run (with_statistics ? argv_statistics : argv);

  g_test_message ("tc -n %s%s qdisc show dev eth0:\n%s", netns_name,
                  with_statistics ? " -s" : "", output);
  return output;
}

/* The first line of tc's output that starts with "qdisc KIND ", or NULL. */
static char *
find_qdisc_line (const char *tc_output, const char *kind)
{
  g_auto (GStrv) lines = g_strsplit (tc_output, "\n", -1);
  g_autofree char *start = g_strdup_printf ("qdisc %s ", kind);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], start))
        return g_strdup (lines[i]);
    }
  return NULL;
}

/* TRUE when @line contains the whitespace-separated words of @sequence in a row. */
static gboolean
line_has_words (const char *line, const char *sequence)
{
  g_auto (GStrv) words = g_strsplit_set (line, " \t", -1);
  g_auto (GStrv) wanted = g_strsplit (sequence, " ", -1);
  g_autoptr (GPtrArray) filtered = g_ptr_array_new ();
  guint n_wanted = g_strv_length (wanted);

  for (guint i = 0; words[i] != NULL; i++)
    {
      if (*words[i] != '\0')
        g_ptr_array_add (filtered, words[i]);
    }
  for (guint i = 0; i + n_wanted <= filtered->len; i++)
    {
      guint matched = 0;

      while (matched < n_wanted
             && g_strcmp0 (g_ptr_array_index (filtered, i + matched), wanted[matched]) == 0)
        matched++;
      if (matched == n_wanted)
        return TRUE;
    }
  return FALSE;
}

/* The major number of "qdisc KIND MAJOR: ..." as tc prints it, in hexadecimal. */
static guint
qdisc_line_major (const char *line)
{
  g_auto (GStrv) words = g_strsplit (line, " ", 4);

  g_assert_cmpuint (g_strv_length (words), >=, 3);
  return (guint) g_ascii_strtoull (words[2], NULL, 16);
}

/* The major number after "parent ", or 0 for a root qdisc. */
static guint
qdisc_line_parent_major (const char *line)
{
  const char *parent = strstr (line, " parent ");

  if (line_has_words (line, "root"))
    return 0;
  g_assert_nonnull (parent);
  return (guint) g_ascii_strtoull (parent + strlen (" parent "), NULL, 16);
}

/* The number after "Sent " on the line below the qdisc line of @kind in `tc -s` output. */
static guint64
tc_sent_bytes (const char *tc_output, const char *kind)
{
  g_autofree char *start = g_strdup_printf ("qdisc %s ", kind);
  const char *line = strstr (tc_output, start);
  const char *sent = NULL;

  g_assert_nonnull (line);
  sent = strstr (line, " Sent ");
  g_assert_nonnull (sent);
  return g_ascii_strtoull (sent + strlen (" Sent "), NULL, 10);
}

/* Returns the word after @key in `ip -o` output for eth0 in @netns_name, such as its address. */
static char *
eth0_word_after (const char *netns_name, const char *object, const char *key)
{
  const char *argv[] = { "ip", "-n", netns_name, "-4", "-o", object, "show", "dev", "eth0", NULL };
  g_autofree char *output = lab_test_run (argv);
  g_autofree char *spaced_key = g_strdup_printf (" %s ", key);
  const char *start = strstr (output, spaced_key);

  g_assert_nonnull (start);
  start += strlen (spaced_key);
  return g_strndup (start, strcspn (start, " /\n"));
}

/*
 * Adds permanent neighbor entries on both sides of @pair. Otherwise ARP
 * requests and replies would pass netem too, and a lost one drops every ping
 * queued behind it: in one run, 60 pings at 20 % loss lost 61 %.
 */
static void
pin_neighbors (LabTestPair *pair)
{
  for (guint i = 0; i < 2; i++)
    {
      const char *local = i == 0 ? pair->ns_a : pair->ns_b;
      const char *remote = i == 0 ? pair->ns_b : pair->ns_a;
      g_autofree char *address = eth0_word_after (remote, "addr", "inet");
      g_autofree char *mac = eth0_word_after (remote, "link", "link/ether");
      const char *argv[] = { "ip", "-n", local, "neigh", "replace", address, "lladdr", mac,
                             "dev", "eth0", "nud", "permanent", NULL };

      g_free (lab_test_run (argv));
    }
}

/* Creates a namespace pair whose neighbors need no ARP, and returns the address of ns_b. */
static LabTestPair *
pair_new (char **out_address_b)
{
  LabTestPair *pair = lab_test_pair_new ();

  pin_neighbors (pair);
  *out_address_b = eth0_word_after (pair->ns_b, "addr", "inet");
  return pair;
}

/*
 * Sends @count pings with @size bytes of payload to @address from inside
 * @netns_name, with busybox's or iputils' ping, and parses every "time=X ms"
 * reply and the "N packets transmitted, M ... received" summary. A nonzero
 * exit status is expected when all replies were lost.
 */
static PingResult *
ping_from (const char *netns_name, const char *address, guint count, guint size)
{
  g_autofree char *count_text = g_strdup_printf ("%u", count);
  g_autofree char *size_text = g_strdup_printf ("%u", size);
  const char *argv[] = { "ip", "netns", "exec", netns_name, "ping", "-c", count_text, "-s",
                         size_text, "-i", PING_INTERVAL, "-W", "2", address, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  g_autofree char *errors = NULL;
  g_auto (GStrv) lines = NULL;
  PingResult *ping = g_new0 (PingResult, 1);
  gboolean have_summary = FALSE;

  ping->rtt_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &output, &errors,
                NULL, &error);
  g_assert_no_error (error);
  g_test_message ("ping from %s to %s:\n%s%s", netns_name, address, output, errors);

  lines = g_strsplit (output, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *time = strstr (lines[i], "time=");
      const char *summary = strstr (lines[i], " packets transmitted, ");

      if (time != NULL && strstr (lines[i], "bytes from") != NULL)
        {
          double rtt = g_ascii_strtod (time + strlen ("time="), NULL);

          g_array_append_val (ping->rtt_ms, rtt);
        }
      else if (summary != NULL)
        {
          ping->transmitted = (guint) g_ascii_strtoull (lines[i], NULL, 10);
          ping->received = (guint) g_ascii_strtoull (summary + strlen (" packets transmitted, "),
                                                     NULL, 10);
          have_summary = TRUE;
        }
    }
  g_assert_true (have_summary);
  g_assert_cmpuint (ping->transmitted, ==, count);
  /* Each reply matches one request because this netem setup never duplicates packets. */
  g_assert_cmpuint (ping->rtt_ms->len, ==, ping->received);
  return ping;
}

static double
ping_min_ms (const PingResult *ping)
{
  double min = INFINITY;

  for (guint i = 0; i < ping->rtt_ms->len; i++)
    min = MIN (min, g_array_index (ping->rtt_ms, double, i));
  return min;
}

static double
ping_max_ms (const PingResult *ping)
{
  double max = 0.0;

  for (guint i = 0; i < ping->rtt_ms->len; i++)
    max = MAX (max, g_array_index (ping->rtt_ms, double, i));
  return max;
}

static double
ping_mean_ms (const PingResult *ping)
{
  double sum = 0.0;

  g_assert_cmpuint (ping->rtt_ms->len, >, 0);
  for (guint i = 0; i < ping->rtt_ms->len; i++)
    sum += g_array_index (ping->rtt_ms, double, i);
  return sum / ping->rtt_ms->len;
}

/* Checks Lab's read-back of a netem root with @expected. */
static void
assert_state_netem (const LabQdiscState *state, const LabImpairment *expected)
{
  g_assert_cmpstr (state->ifname, ==, "eth0");
  g_assert_cmpint (state->ifindex, >, 0);
  g_assert_true (state->ours);
  g_assert_true (state->has_original);
  g_assert_cmpuint (state->impairment.delay_usec, ==, expected->delay_usec);
  g_assert_cmpuint (state->impairment.jitter_usec, ==, expected->jitter_usec);
  /* The kernel stores loss as a fraction of UINT32_MAX, so it comes back rounded. */
  g_assert_cmpfloat_with_epsilon (state->impairment.loss_percent, expected->loss_percent, 0.01);
  g_assert_cmpuint (state->impairment.rate_bps, ==, expected->rate_bps);
  g_assert_nonnull (state->summary);
}

/* Resets eth0 and checks that tc and Lab both show the original root qdisc again. */
static void
reset_and_assert_original (const char *netns_name, const char *original_tc,
                           const char *original_kind)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LabQdiscState) state = call_shaper (SHAPER_RESET, netns_name, NULL, &error);
  g_autoptr (LabQdiscState) read_back = NULL;
  g_autofree char *tc_after = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (state);
  g_assert_cmpstr (state->kind, ==, original_kind);
  g_assert_false (state->ours);
  g_assert_false (state->has_original);
  g_assert_true (lab_impairment_is_empty (&state->impairment));

  read_back = read_state (netns_name);
  g_assert_cmpstr (read_back->kind, ==, original_kind);
  g_assert_false (read_back->has_original);

  tc_after = tc_show (netns_name, FALSE);
  g_assert_cmpstr (tc_after, ==, original_tc);
}

static void
test_delay (void)
{
  g_autofree char *address = NULL;
  g_autoptr (LabTestPair) pair = pair_new (&address);
  g_autofree char *original_tc = tc_show (pair->ns_a, FALSE);
  g_autoptr (LabQdiscState) original = read_state (pair->ns_a);
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) read_back = NULL;
  g_autoptr (PingResult) baseline = NULL;
  g_autoptr (PingResult) delayed = NULL;
  g_autofree char *tc_output = NULL;
  g_autofree char *netem_line = NULL;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;

  g_assert_false (original->ours);
  g_assert_false (original->has_original);
  baseline = ping_from (pair->ns_a, address, PING_COUNT, PING_SIZE);
  g_assert_cmpuint (baseline->received, ==, baseline->transmitted);

  impairment.delay_usec = DELAY_USEC;
  state = apply_or_skip (pair->ns_a, &impairment);
  if (state == NULL)
    return;
  g_assert_cmpstr (state->kind, ==, "netem");
  assert_state_netem (state, &impairment);
  read_back = read_state (pair->ns_a);
  g_assert_cmpstr (read_back->kind, ==, "netem");
  assert_state_netem (read_back, &impairment);

  tc_output = tc_show (pair->ns_a, FALSE);
  netem_line = find_qdisc_line (tc_output, "netem");
  g_assert_nonnull (netem_line);
  g_assert_true (line_has_words (netem_line, "root"));
  g_assert_true (line_has_words (netem_line, "delay 50ms"));
  g_assert_false (line_has_words (netem_line, "loss"));

  /*
   * Only the request leaves through eth0 of the first namespace, so the RTT
   * grows by the delay once, and netem never sends a packet early. The
   * baseline shows that the pair alone answers faster than the delay.
   */
  delayed = ping_from (pair->ns_a, address, PING_COUNT, PING_SIZE);
  g_assert_cmpuint (delayed->received, ==, delayed->transmitted);
  g_assert_cmpfloat (ping_min_ms (baseline), <, DELAY_USEC / 1000.0);
  g_assert_cmpfloat (ping_min_ms (delayed), >=, DELAY_USEC / 1000.0);

  reset_and_assert_original (pair->ns_a, original_tc, original->kind);
}

static void
test_jitter_loss (void)
{
  g_autofree char *address = NULL;
  g_autoptr (LabTestPair) pair = pair_new (&address);
  g_autofree char *original_tc = tc_show (pair->ns_a, FALSE);
  g_autoptr (LabQdiscState) original = read_state (pair->ns_a);
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) read_back = NULL;
  g_autoptr (PingResult) ping = NULL;
  g_autofree char *tc_output = NULL;
  g_autofree char *netem_line = NULL;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;

  impairment.delay_usec = DELAY_USEC;
  impairment.jitter_usec = JITTER_USEC;
  impairment.loss_percent = LOSS_PERCENT;
  state = apply_or_skip (pair->ns_a, &impairment);
  if (state == NULL)
    return;
  g_assert_cmpstr (state->kind, ==, "netem");
  assert_state_netem (state, &impairment);
  read_back = read_state (pair->ns_a);
  assert_state_netem (read_back, &impairment);

  tc_output = tc_show (pair->ns_a, FALSE);
  netem_line = find_qdisc_line (tc_output, "netem");
  g_assert_nonnull (netem_line);
  g_assert_true (line_has_words (netem_line, "root"));
  g_assert_true (line_has_words (netem_line, "delay 50ms 10ms"));
  g_assert_true (line_has_words (netem_line, "loss 20%"));

  /*
   * With 60 requests and 20 % loss, losing none has a probability of 1.5e-6
   * and losing half or more far less. Jitter of 10 ms spreads the replies.
   */
  ping = ping_from (pair->ns_a, address, PING_COUNT, PING_SIZE);
  g_assert_cmpuint (ping->received, <, ping->transmitted);
  g_assert_cmpuint (ping->received, >=, ping->transmitted / 2);
  g_assert_cmpfloat (ping_mean_ms (ping), >=, (DELAY_USEC - JITTER_USEC / 2) / 1000.0);
  g_assert_cmpfloat (ping_max_ms (ping) - ping_min_ms (ping), >=, 5.0);

  reset_and_assert_original (pair->ns_a, original_tc, original->kind);
}

static void
test_rate (void)
{
  g_autofree char *address = NULL;
  g_autoptr (LabTestPair) pair = pair_new (&address);
  g_autofree char *original_tc = tc_show (pair->ns_a, FALSE);
  g_autoptr (LabQdiscState) original = read_state (pair->ns_a);
  g_autoptr (LabQdiscState) state = NULL;
  g_autoptr (LabQdiscState) read_back = NULL;
  g_autoptr (LabQdiscState) rate_only = NULL;
  g_autoptr (PingResult) ping = NULL;
  g_autoptr (PingResult) baseline_large = NULL;
  g_autoptr (PingResult) large = NULL;
  g_autofree char *tc_output = NULL;
  g_autofree char *tc_statistics = NULL;
  g_autofree char *tc_rate_only = NULL;
  g_autofree char *netem_line = NULL;
  g_autofree char *tbf_line = NULL;
  g_autofree char *root_line = NULL;
  LabImpairment impairment = LAB_IMPAIRMENT_INIT;
  guint netem_parent = 0;
  guint tbf_parent = 0;

  impairment.delay_usec = DELAY_USEC;
  impairment.jitter_usec = JITTER_USEC;
  impairment.loss_percent = LOSS_PERCENT;
  /* Without shaping, large pings come back faster than the rate would allow. */
  baseline_large = ping_from (pair->ns_a, address, 10, PING_SIZE_LARGE);
  g_assert_cmpuint (baseline_large->received, ==, baseline_large->transmitted);
  g_assert_cmpfloat (ping_min_ms (baseline_large), <, 30.0);

  impairment.rate_bps = RATE_BPS;
  state = apply_or_skip (pair->ns_a, &impairment);
  if (state == NULL)
    return;
  assert_state_netem (state, &impairment);
  read_back = read_state (pair->ns_a);
  assert_state_netem (read_back, &impairment);
  g_assert_cmpstr (read_back->kind, ==, state->kind);

  tc_output = tc_show (pair->ns_a, FALSE);
  netem_line = find_qdisc_line (tc_output, "netem");
  tbf_line = find_qdisc_line (tc_output, "tbf");
  g_assert_nonnull (netem_line);
  g_assert_nonnull (tbf_line);
  g_assert_true (line_has_words (netem_line, "delay 50ms 10ms"));
  g_assert_true (line_has_words (netem_line, "loss 20%"));
  g_assert_true (line_has_words (tbf_line, "rate 1Mbit"));

  /* One of the two is the root and the other hangs below it, in either order. */
  netem_parent = qdisc_line_parent_major (netem_line);
  tbf_parent = qdisc_line_parent_major (tbf_line);
  if (netem_parent == 0)
    {
      g_assert_cmpstr (state->kind, ==, "netem");
      g_assert_cmpuint (tbf_parent, ==, qdisc_line_major (netem_line));
    }
  else
    {
      g_assert_cmpstr (state->kind, ==, "tbf");
      g_assert_cmpuint (tbf_parent, ==, 0);
      g_assert_cmpuint (netem_parent, ==, qdisc_line_major (tbf_line));
    }

  ping = ping_from (pair->ns_a, address, PING_COUNT, PING_SIZE);
  g_assert_cmpuint (ping->received, <, ping->transmitted);
  g_assert_cmpuint (ping->received, >=, ping->transmitted / 2);
  g_assert_cmpfloat (ping_mean_ms (ping), >=, (DELAY_USEC - JITTER_USEC / 2) / 1000.0);
  /* The requests went through both qdiscs. */
  tc_statistics = tc_show (pair->ns_a, TRUE);
  g_assert_cmpuint (tc_sent_bytes (tc_statistics, "netem"), >, 0);
  g_assert_cmpuint (tc_sent_bytes (tc_statistics, "tbf"), >, 0);

  /* Setting delay, jitter and loss back to zero removes netem and keeps the rate. */
  impairment.delay_usec = 0;
  impairment.jitter_usec = 0;
  impairment.loss_percent = 0.0;
  rate_only = apply_or_skip (pair->ns_a, &impairment);
  g_assert_nonnull (rate_only);
  g_assert_cmpstr (rate_only->kind, ==, "tbf");
  g_assert_true (rate_only->ours);
  g_assert_true (rate_only->has_original);
  g_assert_cmpuint (rate_only->impairment.rate_bps, ==, RATE_BPS);
  g_assert_cmpuint (rate_only->impairment.delay_usec, ==, 0);
  g_assert_cmpfloat (rate_only->impairment.loss_percent, ==, 0.0);
  tc_rate_only = tc_show (pair->ns_a, FALSE);
  g_assert_null (strstr (tc_rate_only, "qdisc netem "));
  root_line = find_qdisc_line (tc_rate_only, "tbf");
  g_assert_nonnull (root_line);
  g_assert_true (line_has_words (root_line, "root"));
  g_assert_true (line_has_words (root_line, "rate 1Mbit"));

  /*
   * An 8000-byte ping leaves as six fragments of about 8100 bytes in all. Lab's
   * 3000-byte burst (2 MTU) lets the first ones pass, and the rest waits for tokens:
   * about 5100 bytes at 1 Mbit/s take 41 ms. Pings 0.1 s apart refill the bucket.
   */
  large = ping_from (pair->ns_a, address, 10, PING_SIZE_LARGE);
  g_assert_cmpuint (large->received, ==, large->transmitted);
  g_assert_cmpfloat (ping_min_ms (large), >=, 30.0);

  reset_and_assert_original (pair->ns_a, original_tc, original->kind);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  lab_test_require_root ();
  if (!g_file_test (TC_PATH, G_FILE_TEST_IS_EXECUTABLE))
    lab_test_skip_all ("'%s' not found; install iproute2", TC_PATH);

  g_test_add_func ("/lab/netem/delay", test_delay);
  g_test_add_func ("/lab/netem/jitter-loss", test_jitter_loss);
  g_test_add_func ("/lab/netem/rate", test_rate);
  return g_test_run ();
}
