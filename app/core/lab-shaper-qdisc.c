/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qdiscs Lab installs on one interface: building and sending them through
 * libnl-route-3, saving the root they replace, and decoding what the kernel holds.
 *
 * Layout of the qdiscs Lab installs:
 *   rate only                root tbf 1ab:
 *   delay, jitter or loss    root netem 1ac:
 *     plus rate              tbf 1ad: under netem class 1ac:1, as netem(8) shows
 * The handle majors 1ab, 1ac and 1ad mark a qdisc as Lab's. Each kind has its
 * own root handle because the kernel changes a root in place only when handle
 * and kind both match; a different handle with NLM_F_CREATE | NLM_F_REPLACE
 * grafts the new root in one step, so the interface keeps a root qdisc throughout.
 *
 * tbf sizing: burst is the larger of 2 MTU and 10 ms at the rate, so a single
 * full-size packet always fits; the queue limit allows 50 ms of waiting at the
 * rate on top of the burst. netem keeps tc's default limit of 1000 packets.
 *
 */
#include "lab-shaper-qdisc-private.h"

#include <errno.h>
#include <math.h>
#include <netlink/msg.h>
#include <netlink/route/class.h>
#include <netlink/route/classifier.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/fifo.h>

#include "lab-error.h"
#include "lab-impairment.h"
#include "lab-shaper.h"
#include "lab-units.h"

#define HANDLE_TBF 0x01ab0000U
#define HANDLE_NETEM 0x01ac0000U
#define HANDLE_NETEM_TBF 0x01ad0000U
#define PARENT_NETEM_CHILD 0x01ac0001U

#define TBF_BURST_MIN_MTUS 2
#define TBF_BURST_USEC 10000
#define TBF_LATENCY_USEC 50000
#define NETEM_LIMIT_PACKETS 1000

void
lab_shaper_snapshot_clear (Snapshot *snapshot)
{
  g_clear_pointer (&snapshot->root, g_bytes_unref);
  g_clear_pointer (&snapshot->child, g_bytes_unref);
}

gboolean
lab_shaper_is_ours (struct rtnl_qdisc *qdisc)
{
  guint32 handle;

  if (qdisc == NULL)
    return FALSE;
  handle = rtnl_tc_get_handle (TC_CAST (qdisc));
  return handle == HANDLE_TBF || handle == HANDLE_NETEM;
}

/* The kernel's own choice, re-created by deleting whatever root is there. */
static gboolean
is_kernel_default (struct rtnl_qdisc *qdisc)
{
  const char *kind;

  if (qdisc == NULL || rtnl_tc_get_handle (TC_CAST (qdisc)) == 0)
    return TRUE;
  kind = rtnl_tc_get_kind (TC_CAST (qdisc));
  return kind == NULL || g_str_equal (kind, "noqueue") || g_str_equal (kind, "mq")
         || g_str_equal (kind, "pfifo_fast");
}

/*
 * Kinds whose kernel attributes libnl 3.7 parses and writes back, so the
 * message it builds re-creates the qdisc. For tbf that holds up to rates of
 * 2^32 bytes/s, beyond which the kernel adds 64-bit attributes libnl ignores.
 */
static gboolean
kind_is_restorable (const char *kind)
{
  static const char *const kinds[] = { "pfifo", "bfifo", "tbf", NULL };

  return kind != NULL && g_strv_contains (kinds, kind);
}

int
lab_shaper_load_qdiscs (Target *target, struct nl_cache **out_cache)
{
  int ret = rtnl_qdisc_alloc_cache (lab_nl_get_sock (target->nl), out_cache);

  return ret < 0 ? lab_nl_errno_from_nle (ret) : 0;
}

struct rtnl_qdisc *
lab_shaper_find_qdisc (struct nl_cache *qdiscs, int ifindex, guint32 parent)
{
  return rtnl_qdisc_get_by_parent (qdiscs, ifindex, parent);
}

/* Copies the RTM_NEWQDISC request libnl builds for @qdisc. */
static int
build_add_message (struct rtnl_qdisc *qdisc, GBytes **out_message)
{
  g_autoptr (NlMsg) msg = NULL;
  struct nlmsghdr *hdr;
  int ret;

  ret = rtnl_qdisc_build_add_request (qdisc, NLM_F_CREATE | NLM_F_REPLACE, &msg);
  if (ret < 0)
    return lab_nl_errno_from_nle (ret);
  hdr = nlmsg_hdr (msg);
  *out_message = g_bytes_new (hdr, hdr->nlmsg_len);
  return 0;
}

int
lab_shaper_send_message (Target *target, GBytes *message)
{
  g_autoptr (NlMsg) msg = NULL;
  gsize len = 0;
  g_autofree struct nlmsghdr *hdr = g_bytes_unref_to_data (g_bytes_ref (message), &len);

  if (len < NLMSG_HDRLEN || hdr->nlmsg_len != len)
    return -EINVAL;
  msg = nlmsg_convert (hdr);
  if (msg == NULL)
    return -ENOMEM;
  return lab_nl_send (target->nl, msg);
}

static int
send_add (Target *target, struct rtnl_qdisc *qdisc)
{
  g_autoptr (NlMsg) msg = NULL;
  int ret;

  ret = rtnl_qdisc_build_add_request (qdisc, NLM_F_CREATE | NLM_F_REPLACE, &msg);
  if (ret < 0)
    return lab_nl_errno_from_nle (ret);
  return lab_nl_send (target->nl, msg);
}

int
lab_shaper_send_delete (Target *target, guint32 parent, guint32 handle)
{
  g_autoptr (RtnlQdisc) qdisc = rtnl_qdisc_alloc ();
  g_autoptr (NlMsg) msg = NULL;
  int ret;

  rtnl_tc_set_ifindex (TC_CAST (qdisc), target->ifindex);
  rtnl_tc_set_parent (TC_CAST (qdisc), parent);
  rtnl_tc_set_handle (TC_CAST (qdisc), handle);
  ret = rtnl_qdisc_build_delete_request (qdisc, &msg);
  if (ret < 0)
    return lab_nl_errno_from_nle (ret);
  return lab_nl_send (target->nl, msg);
}

static struct rtnl_qdisc *
new_qdisc (Target *target, guint32 parent, guint32 handle, const char *kind)
{
  struct rtnl_qdisc *qdisc = rtnl_qdisc_alloc ();

  rtnl_tc_set_link (TC_CAST (qdisc), target->link);
  rtnl_tc_set_parent (TC_CAST (qdisc), parent);
  rtnl_tc_set_handle (TC_CAST (qdisc), handle);
  rtnl_tc_set_kind (TC_CAST (qdisc), kind);
  return qdisc;
}

static int
send_tbf (Target *target, guint32 parent, guint32 handle, guint64 rate_bps)
{
  g_autoptr (RtnlQdisc) qdisc = new_qdisc (target, parent, handle, "tbf");
  guint64 rate_bytes = rate_bps / 8;
  guint64 burst = MAX ((guint64) TBF_BURST_MIN_MTUS * rtnl_link_get_mtu (target->link),
                       rate_bytes * TBF_BURST_USEC / G_USEC_PER_SEC);
  int ret;

  /* lab_impairment_validate() keeps the rate under LAB_RATE_MAX_BPS, which fits in an int. */
  rtnl_qdisc_tbf_set_rate (qdisc, (int) rate_bytes, (int) burst, 0);
  ret = rtnl_qdisc_tbf_set_limit_by_latency (qdisc, TBF_LATENCY_USEC);
  if (ret < 0)
    return lab_nl_errno_from_nle (ret);
  return send_add (target, qdisc);
}

/*
 * NOTE: the netem layout, and the rollback after its tbf child fails, have only
 * run on kernels without sch_netem, which reject the netem before any change.
 */
static int
send_netem (Target *target, const LabImpairment *impairment)
{
  g_autoptr (RtnlQdisc) qdisc = new_qdisc (target, TC_H_ROOT, HANDLE_NETEM, "netem");
  guint32 loss = (guint32) llround (impairment->loss_percent / 100.0 * G_MAXUINT32);

  rtnl_netem_set_limit (qdisc, NETEM_LIMIT_PACKETS);
  rtnl_netem_set_delay (qdisc, (int) impairment->delay_usec);
  rtnl_netem_set_jitter (qdisc, (int) impairment->jitter_usec);
  /* libnl takes the u32 probability (UINT32_MAX = 100 %) through an int. */
  rtnl_netem_set_loss (qdisc, (int) loss);
  return send_add (target, qdisc);
}

/*
 * Fails unless the saved message will re-create @root exactly: its kind must
 * be one libnl writes back completely, with no classes, child qdiscs or
 * filters, because replacing the root deletes all of them.
 */
static gboolean
check_restorable (Target *target, struct nl_cache *qdiscs, struct rtnl_qdisc *root,
                  GError **error)
{
  const char *kind = rtnl_tc_get_kind (TC_CAST (root));
  guint32 major = TC_H_MAJ (rtnl_tc_get_handle (TC_CAST (root)));
  g_autoptr (NlCache) classes = NULL;
  g_autoptr (NlCache) filters = NULL;
  const char *problem = NULL;
  int ret;

  for (struct nl_object *object = nl_cache_get_first (qdiscs);
       problem == NULL && object != NULL; object = nl_cache_get_next (object))
    {
      struct rtnl_tc *tc = TC_CAST (object);

      if (rtnl_tc_get_ifindex (tc) == target->ifindex
          && TC_H_MAJ (rtnl_tc_get_parent (tc)) == major)
        problem = "with child qdiscs";
    }

  if (problem == NULL)
    {
      ret = rtnl_class_alloc_cache (lab_nl_get_sock (target->nl), target->ifindex, &classes);
      if (ret < 0)
        {
          lab_shaper_set_netlink_error (error, target, "list the classes",
                                        lab_nl_errno_from_nle (ret));
          return FALSE;
        }
      /* tbf always reports one class of its own; a qdisc grafted on it shows up as a child. */
      for (struct nl_object *object = nl_cache_get_first (classes);
           problem == NULL && object != NULL; object = nl_cache_get_next (object))
        if (!kind_is_restorable (rtnl_tc_get_kind (TC_CAST (object))))
          problem = "with classes";
    }

  if (problem == NULL)
    {
      ret = rtnl_cls_alloc_cache (lab_nl_get_sock (target->nl), target->ifindex, major,
                                  &filters);
      if (ret < 0)
        {
          lab_shaper_set_netlink_error (error, target, "list the filters",
                                        lab_nl_errno_from_nle (ret));
          return FALSE;
        }
      if (nl_cache_nitems (filters) > 0)
        problem = "with filters";
    }

  if (problem == NULL && !kind_is_restorable (kind))
    problem = "of a kind whose settings Lab cannot save";

  if (problem != NULL)
    {
      g_autofree char *where = lab_shaper_describe_netns (target->netns);
      g_autofree char *command = lab_shaper_describe_tc_delete (target->netns, target->ifname);

      g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED,
                   "Interface '%s' in %s has a '%s' root qdisc %s, which Lab could not restore "
                   "afterwards, so nothing was changed; remove it with \"%s\" and try again",
                   target->ifname, where, kind, problem, command);
      return FALSE;
    }
  return TRUE;
}

/* Builds the journal entry that restores @root, which is not Lab's. */
LabJournalEntry *
lab_shaper_make_journal_entry (Target *target, struct nl_cache *qdiscs, struct rtnl_qdisc *root,
                               GError **error)
{
  g_autoptr (GBytes) message = NULL;
  const char *kind = root != NULL ? rtnl_tc_get_kind (TC_CAST (root)) : NULL;
  int ret;

  if (is_kernel_default (root))
    return lab_journal_entry_new (target->ifname, kind != NULL ? kind : "none", NULL);

  if (!check_restorable (target, qdiscs, root, error))
    return NULL;
  ret = build_add_message (root, &message);
  if (ret < 0)
    {
      lab_shaper_set_netlink_error (error, target, "save the root qdisc", ret);
      return NULL;
    }
  return lab_journal_entry_new (target->ifname, kind, message);
}

/* Records the current root (and the tbf under Lab's netem) before a change. */
int
lab_shaper_snapshot_take (Snapshot *snapshot, Target *target, struct nl_cache *qdiscs,
                          struct rtnl_qdisc *root)
{
  g_autoptr (RtnlQdisc) child = NULL;
  int ret;

  if (is_kernel_default (root))
    return 0;
  ret = build_add_message (root, &snapshot->root);
  if (ret < 0)
    return ret;

  if (rtnl_tc_get_handle (TC_CAST (root)) == HANDLE_NETEM)
    {
      child = lab_shaper_find_qdisc (qdiscs, target->ifindex, PARENT_NETEM_CHILD);
      if (child != NULL)
        return build_add_message (child, &snapshot->child);
    }
  return 0;
}

int
lab_shaper_snapshot_restore (Snapshot *snapshot, Target *target)
{
  g_autoptr (NlCache) qdiscs = NULL;
  g_autoptr (RtnlQdisc) root = NULL;
  int ret;

  if (snapshot->root != NULL)
    {
      ret = lab_shaper_send_message (target, snapshot->root);
      if (ret == 0 && snapshot->child != NULL)
        ret = lab_shaper_send_message (target, snapshot->child);
      return ret;
    }

  ret = lab_shaper_load_qdiscs (target, &qdiscs);
  if (ret < 0)
    return ret;
  root = lab_shaper_find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);
  if (!lab_shaper_is_ours (root))
    return 0;
  return lab_shaper_send_delete (target, TC_H_ROOT, rtnl_tc_get_handle (TC_CAST (root)));
}

/*
 * Installs the layout for @impairment. Sets *out_changed once the kernel
 * contains something new, so the caller knows whether to roll back.
 */
gboolean
lab_shaper_install (Target *target, const LabImpairment *impairment, struct nl_cache *qdiscs,
                    struct rtnl_qdisc *root, gboolean *out_changed, GError **error)
{
  g_autoptr (RtnlQdisc) old_child = NULL;
  int ret;

  *out_changed = FALSE;

  if (!lab_impairment_needs_netem (impairment))
    {
      ret = send_tbf (target, TC_H_ROOT, HANDLE_TBF, impairment->rate_bps);
      if (ret < 0)
        {
          lab_shaper_set_netlink_error (error, target, "install the tbf qdisc", ret);
          return FALSE;
        }
      *out_changed = TRUE;
      return TRUE;
    }

  ret = send_netem (target, impairment);
  if (ret == -ENOENT)
    {
      g_autofree char *where = lab_shaper_describe_netns (target->netns);

      g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED,
                   "The kernel lacks sch_netem (CONFIG_NET_SCH_NETEM), which delay, jitter and "
                   "loss need (kernel: %s); rate alone still works. Nothing was changed on "
                   "interface '%s' in %s",
                   lab_nl_get_ext_ack (target->nl) != NULL ? lab_nl_get_ext_ack (target->nl)
                                                           : "no netem qdisc",
                   target->ifname, where);
      return FALSE;
    }
  if (ret < 0)
    {
      lab_shaper_set_netlink_error (error, target, "install the netem qdisc", ret);
      return FALSE;
    }
  *out_changed = TRUE;

  /* Changing netem in place keeps its child, so a cleared rate must delete the tbf. */
  if (root != NULL && rtnl_tc_get_handle (TC_CAST (root)) == HANDLE_NETEM)
    old_child = lab_shaper_find_qdisc (qdiscs, target->ifindex, PARENT_NETEM_CHILD);

  if (impairment->rate_bps != 0)
    {
      ret = send_tbf (target, PARENT_NETEM_CHILD, HANDLE_NETEM_TBF, impairment->rate_bps);
      if (ret < 0)
        {
          lab_shaper_set_netlink_error (error, target, "install the tbf qdisc under netem", ret);
          return FALSE;
        }
    }
  else if (old_child != NULL)
    {
      ret = lab_shaper_send_delete (target, PARENT_NETEM_CHILD,
                                    rtnl_tc_get_handle (TC_CAST (old_child)));
      if (ret < 0)
        {
          lab_shaper_set_netlink_error (error, target, "delete the tbf qdisc under netem", ret);
          return FALSE;
        }
    }
  return TRUE;
}

/* Formats a byte count as tc does: "3000b", "4Kb", "2Mb". */
static char *
format_size (guint64 bytes)
{
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "Mb", bytes / (1024 * 1024));
  if (bytes >= 1024 && bytes % 1024 == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "Kb", bytes / 1024);
  return g_strdup_printf ("%" G_GUINT64_FORMAT "b", bytes);
}

/* Adds the tbf's settings to @impairment and @summary, as "tbf rate 1Mbit burst 3000b lat 50ms". */
static void
decode_tbf (struct rtnl_qdisc *tbf, LabImpairment *impairment, GString *summary)
{
  int rate = rtnl_qdisc_tbf_get_rate (tbf);
  int burst = rtnl_qdisc_tbf_get_rate_bucket (tbf);
  int limit = rtnl_qdisc_tbf_get_limit (tbf);

  g_string_append (summary, "tbf");
  if (rate <= 0)
    return;

  impairment->rate_bps = (guint64) rate * 8;
  {
    g_autofree char *rate_text = lab_format_rate (impairment->rate_bps);
    g_string_append_printf (summary, " rate %s", rate_text);
  }
  if (burst > 0)
    {
      g_autofree char *burst_text = format_size (burst);
      g_string_append_printf (summary, " burst %s", burst_text);
    }
  if (limit > 0 && burst > 0 && limit >= burst)
    {
      /* tc's "lat": how long a full queue takes to drain beyond the burst. */
      guint64 latency = llround ((double) (limit - burst) * G_USEC_PER_SEC / rate);
      g_autofree char *latency_text = lab_format_time (latency);

      g_string_append_printf (summary, " lat %s", latency_text);
    }
}

static void
decode_netem (struct rtnl_qdisc *netem, LabImpairment *impairment, GString *summary)
{
  int delay = rtnl_netem_get_delay (netem);
  int jitter = rtnl_netem_get_jitter (netem);
  int loss = rtnl_netem_get_loss (netem);
  int limit = rtnl_netem_get_limit (netem);

  g_string_append (summary, "netem");
  if (limit > 0)
    g_string_append_printf (summary, " limit %d", limit);
  if (delay > 0)
    {
      g_autofree char *text = lab_format_time (delay);

      impairment->delay_usec = delay;
      g_string_append_printf (summary, " delay %s", text);
    }
  if (jitter > 0)
    {
      g_autofree char *text = lab_format_time (jitter);

      impairment->jitter_usec = jitter;
      g_string_append_printf (summary, " %s", text);
    }
  if (loss != 0 && loss != -NLE_NOATTR)
    {
      g_autofree char *text = NULL;

      impairment->loss_percent = (guint32) loss * 100.0 / G_MAXUINT32;
      text = lab_format_percent (impairment->loss_percent);
      g_string_append_printf (summary, " loss %s", text);
    }
}

/* Reads the root qdisc of @target (and the tbf under Lab's netem) from the kernel. */
LabQdiscState *
lab_shaper_read_state (Target *target, LabJournal *journal, GError **error)
{
  g_autoptr (LabQdiscState) state = g_new0 (LabQdiscState, 1);
  g_autoptr (NlCache) qdiscs = NULL;
  g_autoptr (RtnlQdisc) root = NULL;
  g_autoptr (LabJournalEntry) entry = NULL;
  g_autoptr (GString) summary = g_string_new (NULL);
  int ret;

  ret = lab_shaper_load_qdiscs (target, &qdiscs);
  if (ret < 0)
    {
      lab_shaper_set_netlink_error (error, target, "read the qdiscs", ret);
      return NULL;
    }
  if (!lab_journal_lookup (journal, &target->key, &entry, error))
    return NULL;

  state->ifname = g_strdup (target->ifname);
  state->ifindex = target->ifindex;
  root = lab_shaper_find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);
  if (root == NULL)
    {
      state->kind = g_strdup ("none");
      state->summary = g_strdup ("no root qdisc");
      return g_steal_pointer (&state);
    }

  state->kind = g_strdup (rtnl_tc_get_kind (TC_CAST (root)));
  state->handle = rtnl_tc_get_handle (TC_CAST (root));
  state->ours = lab_shaper_is_ours (root);
  state->has_original = state->ours && entry != NULL;

  if (g_str_equal (state->kind, "tbf"))
    decode_tbf (root, &state->impairment, summary);
  else if (g_str_equal (state->kind, "netem"))
    {
      g_autoptr (RtnlQdisc) child = NULL;

      decode_netem (root, &state->impairment, summary);
      child = lab_shaper_find_qdisc (qdiscs, target->ifindex, TC_H_MAKE (state->handle, 1));
      if (child != NULL && g_strcmp0 (rtnl_tc_get_kind (TC_CAST (child)), "tbf") == 0)
        {
          g_string_append (summary, " + ");
          decode_tbf (child, &state->impairment, summary);
        }
    }
  else
    {
      g_string_append (summary, state->kind);
      if (state->handle != 0)
        g_string_append_printf (summary, " %x:", TC_H_MAJ (state->handle) >> 16);
      if (g_str_equal (state->kind, "pfifo") || g_str_equal (state->kind, "bfifo"))
        {
          int limit = rtnl_qdisc_fifo_get_limit (root);

          if (limit >= 0)
            g_string_append_printf (summary, " limit %d%s", limit,
                                    g_str_equal (state->kind, "pfifo") ? "p" : "b");
        }
    }

  state->summary = g_string_free (g_steal_pointer (&summary), FALSE);
  return g_steal_pointer (&state);
}
