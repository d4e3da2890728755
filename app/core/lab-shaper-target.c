/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The interface a shaper call works on, looked up in the namespace the current
 * thread is in, and the error messages that name it.
 */
#include "lab-shaper-target-private.h"

#include <errno.h>
#include <net/if.h>

#include "lab-error.h"
#include "lab-netns.h"

typedef struct nl_cache NlCache;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlCache, nl_cache_free)

void
lab_shaper_target_free (Target *target)
{
  g_clear_pointer (&target->nl, lab_nl_close);
  if (target->link != NULL)
    rtnl_link_put (target->link);
  g_free (target->ifname);
  g_free (target);
}

/*
 * "namespace 'x'", "the host namespace", "the namespace of PID 1234" or "the
 * namespace of machine 'web' (leader PID 1234)", for messages.
 */
char *
lab_shaper_describe_netns (LabNetns *netns)
{
  switch (lab_netns_get_kind (netns))
    {
    case LAB_NETNS_NAMED:
      return g_strdup_printf ("namespace '%s'", lab_netns_get_name (netns));
    case LAB_NETNS_PID:
      return g_strdup_printf ("the namespace of %s", lab_netns_get_description (netns));
    case LAB_NETNS_HOST:
    default:
      return g_strdup ("the host namespace");
    }
}

/* The same description with a capital first letter, to start a sentence. */
static char *
describe_netns_capitalized (LabNetns *netns)
{
  char *text = lab_shaper_describe_netns (netns);

  text[0] = g_ascii_toupper (text[0]);
  return text;
}

void
lab_shaper_set_gone_error (GError **error, LabNetns *netns, const char *ifname)
{
  g_autofree char *where = lab_shaper_describe_netns (netns);

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
void
lab_shaper_set_netlink_error (GError **error, Target *target, const char *action, int err)
{
  g_autofree char *where = lab_shaper_describe_netns (target->netns);
  const char *ext_ack = lab_nl_get_ext_ack (target->nl);
  const char *advice = "";

  if (err == -ENODEV)
    {
      lab_shaper_set_gone_error (error, target->netns, target->ifname);
      return;
    }
  if (err == -EPERM || err == -EACCES)
    advice = "; run as root or with CAP_NET_ADMIN";

  g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
               "Could not %s on interface '%s' in %s: %s%s%s%s%s", action, target->ifname, where,
               g_strerror (-err), ext_ack != NULL ? " (kernel: " : "",
               ext_ack != NULL ? ext_ack : "", ext_ack != NULL ? ")" : "", advice);
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
  g_autofree char *where = lab_shaper_describe_netns (netns);
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

Target *
lab_shaper_target_open (LabNetns *netns, const char *ifname, GError **error)
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
      g_autofree char *where = lab_shaper_describe_netns (netns);

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
