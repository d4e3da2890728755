/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Egress impairment of one interface through libnl-route-3.
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
 * Before the first change the original root qdisc goes into the restore
 * journal (lab-journal.h) as the RTM_NEWQDISC message libnl builds from the
 * dumped object, or as "default" when the kernel's own qdisc was there.
 */
#include "lab-shaper.h"

#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <string.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/class.h>
#include <netlink/route/classifier.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/fifo.h>

#include "lab-error.h"
#include "lab-impairment.h"
#include "lab-journal.h"
#include "lab-netns.h"
#include "lab-nl.h"
#include "lab-units.h"

#define HANDLE_TBF 0x01ab0000U
#define HANDLE_NETEM 0x01ac0000U
#define HANDLE_NETEM_TBF 0x01ad0000U
#define PARENT_NETEM_CHILD 0x01ac0001U

#define TBF_BURST_MIN_MTUS 2
#define TBF_BURST_USEC 10000
#define TBF_LATENCY_USEC 50000
#define NETEM_LIMIT_PACKETS 1000

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

/* One interface inside the namespace the current thread is in. */
typedef struct {
  LabNetns *netns;
  LabNl *nl;
  struct rtnl_link *link;
  char *ifname;
  int ifindex;
  LabJournalKey key;
} Target;

/* What the root looked like before a change, for putting it back after a failure. */
typedef struct {
  GBytes *root;  /* NULL: the kernel default was there, so delete Lab's root */
  GBytes *child; /* the tbf under Lab's netem, or NULL */
} Snapshot;

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

static void
target_free (Target *target)
{
  g_clear_pointer (&target->nl, lab_nl_close);
  if (target->link != NULL)
    rtnl_link_put (target->link);
  g_free (target->ifname);
  g_free (target);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Target, target_free)

static void
snapshot_clear (Snapshot *snapshot)
{
  g_clear_pointer (&snapshot->root, g_bytes_unref);
  g_clear_pointer (&snapshot->child, g_bytes_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Snapshot, snapshot_clear)

static void
qdisc_put (struct rtnl_qdisc *qdisc)
{
  rtnl_qdisc_put (qdisc);
}
/* g_autoptr() needs typedef names for libnl's structs. */
typedef struct rtnl_qdisc RtnlQdisc;
typedef struct nl_cache NlCache;
typedef struct nl_msg NlMsg;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlQdisc, qdisc_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlCache, nl_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlMsg, nlmsg_free)

/* "namespace 'x'", "the host namespace" or "the namespace of PID 1234", for messages. */
static char *
describe_netns (LabNetns *netns)
{
  switch (lab_netns_get_kind (netns))
    {
    case LAB_NETNS_NAMED:
      return g_strdup_printf ("namespace '%s'", lab_netns_get_name (netns));
    case LAB_NETNS_PID:
      return g_strdup_printf ("the namespace of PID %d", (int) lab_netns_get_pid (netns));
    case LAB_NETNS_HOST:
    default:
      return g_strdup ("the host namespace");
    }
}

/* The same description with a capital first letter, to start a sentence. */
static char *
describe_netns_capitalized (LabNetns *netns)
{
  char *text = describe_netns (netns);

  text[0] = g_ascii_toupper (text[0]);
  return text;
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

static void
set_gone_error (GError **error, LabNetns *netns, const char *ifname)
{
  g_autofree char *where = describe_netns (netns);

  if (ifname != NULL)
    g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND,
                 "Interface '%s' in %s is gone; refresh the list", ifname, where);
  else
    {
      g_autofree char *subject = describe_netns_capitalized (netns);

      g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND, "%s is gone; refresh the list",
                   subject);
    }
}

/* Turns a negative errno from netlink into a GError; ENODEV means the interface vanished. */
static void
set_netlink_error (GError **error, Target *target, const char *action, int err)
{
  g_autofree char *where = describe_netns (target->netns);
  const char *ext_ack = lab_nl_get_ext_ack (target->nl);
  const char *advice = "";

  if (err == -ENODEV)
    {
      set_gone_error (error, target->netns, target->ifname);
      return;
    }
  if (err == -EPERM || err == -EACCES)
    advice = "; run as root or with CAP_NET_ADMIN";

  g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
               "Could not %s on interface '%s' in %s: %s%s%s%s%s", action, target->ifname, where,
               g_strerror (-err), ext_ack != NULL ? " (kernel: " : "",
               ext_ack != NULL ? ext_ack : "", ext_ack != NULL ? ")" : "", advice);
}

static gboolean
is_ours (struct rtnl_qdisc *qdisc)
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

static int
load_qdiscs (Target *target, struct nl_cache **out_cache)
{
  int ret = rtnl_qdisc_alloc_cache (lab_nl_get_sock (target->nl), out_cache);

  return ret < 0 ? lab_nl_errno_from_nle (ret) : 0;
}

static struct rtnl_qdisc *
find_qdisc (struct nl_cache *qdiscs, int ifindex, guint32 parent)
{
  return rtnl_qdisc_get_by_parent (qdiscs, ifindex, parent);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/*
 * Sets the error for an interface that did not exist when the call started,
 * listing the interfaces that do. One that vanishes during a change is "gone".
 */
static void
set_not_found_error (GError **error, LabNetns *netns, const char *ifname, struct nl_cache *links)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_null_terminated (4, NULL, TRUE);
  g_autofree char *where = describe_netns (netns);
  g_autofree char *list = NULL;

  for (struct nl_object *object = nl_cache_get_first (links); object != NULL;
       object = nl_cache_get_next (object))
    g_ptr_array_add (names, rtnl_link_get_name ((struct rtnl_link *) object));
  g_ptr_array_sort (names, compare_names);
  list = g_strjoinv (", ", (char **) names->pdata);

  g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND,
               "Interface '%s' not found in %s, which has: %s; choose one with 'dev IFACE'",
               ifname, where, list);
}

static Target *
target_open (LabNetns *netns, const char *ifname, GError **error)
{
  g_autoptr (Target) target = g_new0 (Target, 1);
  g_autoptr (NlCache) links = NULL;
  int err = 0;
  int ret;

  target->netns = netns;
  target->nl = lab_nl_open (&err);
  if (target->nl == NULL)
    {
      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Could not open a netlink socket: %s", g_strerror (-err));
      return NULL;
    }

  ret = rtnl_link_alloc_cache (lab_nl_get_sock (target->nl), AF_UNSPEC, &links);
  if (ret < 0)
    {
      g_autofree char *where = describe_netns (netns);

      err = lab_nl_errno_from_nle (ret);
      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Could not list the interfaces of %s: %s", where, g_strerror (-err));
      return NULL;
    }

  if (ifname != NULL)
    {
      target->link = rtnl_link_get_by_name (links, ifname);
      if (target->link == NULL)
        {
          set_not_found_error (error, netns, ifname, links);
          return NULL;
        }
    }
  else
    {
      g_autoptr (GPtrArray) names = g_ptr_array_new_null_terminated (4, NULL, TRUE);

      for (struct nl_object *object = nl_cache_get_first (links); object != NULL;
           object = nl_cache_get_next (object))
        {
          struct rtnl_link *link = (struct rtnl_link *) object;

          if (rtnl_link_get_flags (link) & IFF_LOOPBACK)
            continue;
          g_ptr_array_add (names, rtnl_link_get_name (link));
          if (target->link == NULL)
            {
              nl_object_get (object);
              target->link = link;
            }
        }

      if (names->len != 1)
        {
          g_ptr_array_sort (names, compare_names);
          g_autofree char *subject = describe_netns_capitalized (netns);
          g_autofree char *list = g_strjoinv (", ", (char **) names->pdata);

          if (names->len == 0)
            g_set_error (error, LAB_ERROR, LAB_ERROR_NOT_FOUND,
                         "%s has no interface besides loopback; add one first", subject);
          else
            g_set_error (error, LAB_ERROR, LAB_ERROR_AMBIGUOUS,
                         "%s has several interfaces (%s); choose one with 'dev IFACE'",
                         subject, list);
          return NULL;
        }
    }

  target->ifname = g_strdup (rtnl_link_get_name (target->link));
  target->ifindex = rtnl_link_get_ifindex (target->link);
  if (!lab_journal_key_init (&target->key, target->ifindex, error))
    return NULL;
  return g_steal_pointer (&target);
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

static int
send_message (Target *target, GBytes *message)
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

static int
send_delete (Target *target, guint32 parent, guint32 handle)
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
          set_netlink_error (error, target, "list the classes", lab_nl_errno_from_nle (ret));
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
          set_netlink_error (error, target, "list the filters", lab_nl_errno_from_nle (ret));
          return FALSE;
        }
      if (nl_cache_nitems (filters) > 0)
        problem = "with filters";
    }

  if (problem == NULL && !kind_is_restorable (kind))
    problem = "of a kind whose settings Lab cannot save";

  if (problem != NULL)
    {
      g_autofree char *where = describe_netns (target->netns);
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
static LabJournalEntry *
make_journal_entry (Target *target, struct nl_cache *qdiscs, struct rtnl_qdisc *root,
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
      set_netlink_error (error, target, "save the root qdisc", ret);
      return NULL;
    }
  return lab_journal_entry_new (target->ifname, kind, message);
}

/* Records the current root (and the tbf under Lab's netem) before a change. */
static int
snapshot_take (Snapshot *snapshot, Target *target, struct nl_cache *qdiscs,
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
      child = find_qdisc (qdiscs, target->ifindex, PARENT_NETEM_CHILD);
      if (child != NULL)
        return build_add_message (child, &snapshot->child);
    }
  return 0;
}

static int
snapshot_restore (Snapshot *snapshot, Target *target)
{
  g_autoptr (NlCache) qdiscs = NULL;
  g_autoptr (RtnlQdisc) root = NULL;
  int ret;

  if (snapshot->root != NULL)
    {
      ret = send_message (target, snapshot->root);
      if (ret == 0 && snapshot->child != NULL)
        ret = send_message (target, snapshot->child);
      return ret;
    }

  ret = load_qdiscs (target, &qdiscs);
  if (ret < 0)
    return ret;
  root = find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);
  if (!is_ours (root))
    return 0;
  return send_delete (target, TC_H_ROOT, rtnl_tc_get_handle (TC_CAST (root)));
}

/*
 * Installs the layout for @impairment. Sets *out_changed once the kernel
 * contains something new, so the caller knows whether to roll back.
 */
static gboolean
install (Target *target, const LabImpairment *impairment, struct nl_cache *qdiscs,
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
          set_netlink_error (error, target, "install the tbf qdisc", ret);
          return FALSE;
        }
      *out_changed = TRUE;
      return TRUE;
    }

  ret = send_netem (target, impairment);
  if (ret == -ENOENT)
    {
      g_autofree char *where = describe_netns (target->netns);

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
      set_netlink_error (error, target, "install the netem qdisc", ret);
      return FALSE;
    }
  *out_changed = TRUE;

  /* Changing netem in place keeps its child, so a cleared rate must delete the tbf. */
  if (root != NULL && rtnl_tc_get_handle (TC_CAST (root)) == HANDLE_NETEM)
    old_child = find_qdisc (qdiscs, target->ifindex, PARENT_NETEM_CHILD);

  if (impairment->rate_bps != 0)
    {
      ret = send_tbf (target, PARENT_NETEM_CHILD, HANDLE_NETEM_TBF, impairment->rate_bps);
      if (ret < 0)
        {
          set_netlink_error (error, target, "install the tbf qdisc under netem", ret);
          return FALSE;
        }
    }
  else if (old_child != NULL)
    {
      ret = send_delete (target, PARENT_NETEM_CHILD, rtnl_tc_get_handle (TC_CAST (old_child)));
      if (ret < 0)
        {
          set_netlink_error (error, target, "delete the tbf qdisc under netem", ret);
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
static LabQdiscState *
read_state (Target *target, LabJournal *journal, GError **error)
{
  g_autoptr (LabQdiscState) state = g_new0 (LabQdiscState, 1);
  g_autoptr (NlCache) qdiscs = NULL;
  g_autoptr (RtnlQdisc) root = NULL;
  g_autoptr (LabJournalEntry) entry = NULL;
  g_autoptr (GString) summary = g_string_new (NULL);
  int ret;

  ret = load_qdiscs (target, &qdiscs);
  if (ret < 0)
    {
      set_netlink_error (error, target, "read the qdiscs", ret);
      return NULL;
    }
  if (!lab_journal_lookup (journal, &target->key, &entry, error))
    return NULL;

  state->ifname = g_strdup (target->ifname);
  state->ifindex = target->ifindex;
  root = find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);
  if (root == NULL)
    {
      state->kind = g_strdup ("none");
      state->summary = g_strdup ("no root qdisc");
      return g_steal_pointer (&state);
    }

  state->kind = g_strdup (rtnl_tc_get_kind (TC_CAST (root)));
  state->handle = rtnl_tc_get_handle (TC_CAST (root));
  state->ours = is_ours (root);
  state->has_original = state->ours && entry != NULL;

  if (g_str_equal (state->kind, "tbf"))
    decode_tbf (root, &state->impairment, summary);
  else if (g_str_equal (state->kind, "netem"))
    {
      g_autoptr (RtnlQdisc) child = NULL;

      decode_netem (root, &state->impairment, summary);
      child = find_qdisc (qdiscs, target->ifindex, TC_H_MAKE (state->handle, 1));
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

static gboolean
reset_target (Target *target, LabJournal *journal, GError **error)
{
  g_autoptr (NlCache) qdiscs = NULL;
  g_autoptr (RtnlQdisc) root = NULL;
  g_autoptr (LabJournalEntry) entry = NULL;
  int ret;

  ret = load_qdiscs (target, &qdiscs);
  if (ret < 0)
    {
      set_netlink_error (error, target, "read the qdiscs", ret);
      return FALSE;
    }
  if (!lab_journal_lookup (journal, &target->key, &entry, error))
    return FALSE;
  root = find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);

  /* A root that is not Lab's was put there by someone else: keep it and drop the entry. */
  if (is_ours (root))
    {
      if (entry != NULL && entry->message != NULL)
        ret = send_message (target, entry->message);
      else
        /* NOTE: without an entry (journal lost) the kernel default is the best guess. */
        ret = send_delete (target, TC_H_ROOT, rtnl_tc_get_handle (TC_CAST (root)));
      if (ret < 0)
        {
          set_netlink_error (error, target, "restore the original root qdisc", ret);
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

  ret = load_qdiscs (target, &qdiscs);
  if (ret < 0)
    {
      set_netlink_error (error, target, "read the qdiscs", ret);
      return FALSE;
    }
  root = find_qdisc (qdiscs, target->ifindex, TC_H_ROOT);

  /*
   * A root that is not Lab's is the original; it replaces any older entry,
   * which is stale because someone else changed the root since.
   */
  if (!is_ours (root))
    {
      g_autoptr (LabJournalEntry) entry = make_journal_entry (target, qdiscs, root, error);

      if (entry == NULL)
        return FALSE;
      if (!lab_journal_save (journal, &target->key, entry, error))
        return FALSE;
      saved_entry = TRUE;
    }

  ret = snapshot_take (&snapshot, target, qdiscs, root);
  if (ret < 0)
    {
      set_netlink_error (error, target, "save the current root qdisc", ret);
      if (saved_entry)
        lab_journal_remove (journal, &target->key, NULL);
      return FALSE;
    }

  if (!install (target, impairment, qdiscs, root, &changed, error))
    {
      gboolean restored = TRUE;

      if (changed)
        {
          ret = snapshot_restore (&snapshot, target);
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
  target = target_open (netns, request->ifname, error);
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
  return read_state (target, journal, error);
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

  /* The thread could not enter the namespace: it was deleted since it was listed. */
  if (!call->entered && g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_FOUND))
    {
      g_debug ("Entering the namespace failed: %s", error->message);
      g_clear_error (&error);
      set_gone_error (&error, call->netns, call->ifname);
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
