/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-interface.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

#include "lab-error.h"
#include "lab-netns.h"

G_DEFINE_BOXED_TYPE (LabInterface, lab_interface, lab_interface_copy, lab_interface_free)

LabInterface *
lab_interface_copy (const LabInterface *iface)
{
  LabInterface *copy = g_new0 (LabInterface, 1);

  copy->name = g_strdup (iface->name);
  copy->ifindex = iface->ifindex;
  copy->flags = iface->flags;
  copy->kind = g_strdup (iface->kind);
  copy->mac = g_strdup (iface->mac);
  copy->addresses = g_strdupv (iface->addresses);
  copy->qdisc_kind = g_strdup (iface->qdisc_kind);
  return copy;
}

void
lab_interface_free (LabInterface *iface)
{
  if (iface == NULL)
    return;
  g_free (iface->name);
  g_free (iface->kind);
  g_free (iface->mac);
  g_strfreev (iface->addresses);
  g_free (iface->qdisc_kind);
  g_free (iface);
}

gboolean
lab_interface_is_loopback (const LabInterface *iface)
{
  return (iface->flags & IFF_LOOPBACK) != 0;
}

static void
set_error_from_nl (GError **error, int nl_err, const char *what)
{
  g_set_error (error, LAB_ERROR, LAB_ERROR_FAILED,
               "Could not read the %s of this network namespace: %s; check that the process "
               "may use rtnetlink here",
               what, nl_geterror (nl_err));
}

/* "aa:bb:cc:dd:ee:ff" for an Ethernet-sized hardware address, NULL for none or all zeros. */
static char *
format_mac (struct nl_addr *addr)
{
  const guint8 *bytes;
  gboolean all_zero = TRUE;

  if (addr == NULL || nl_addr_get_len (addr) != 6)
    return NULL;
  bytes = nl_addr_get_binary_addr (addr);
  for (guint i = 0; i < 6; i++)
    all_zero = all_zero && bytes[i] == 0;
  if (all_zero)
    return NULL;
  return g_strdup_printf ("%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                          bytes[3], bytes[4], bytes[5]);
}

/* Formats the local address with its prefix length even for /32 and /128, unlike nl_addr2str. */
static char *
format_address (struct rtnl_addr *addr)
{
  struct nl_addr *local = rtnl_addr_get_local (addr);
  char text[INET6_ADDRSTRLEN];
  int family;

  if (local == NULL)
    return NULL;
  family = nl_addr_get_family (local);
  if (family != AF_INET && family != AF_INET6)
    return NULL;
  if (inet_ntop (family, nl_addr_get_binary_addr (local), text, sizeof text) == NULL)
    return NULL;
  return g_strdup_printf ("%s/%d", text, rtnl_addr_get_prefixlen (addr));
}

typedef struct {
  struct nl_cache *addr_cache;
  struct nl_cache *qdisc_cache;
  GPtrArray *interfaces;
} ListContext;

static GStrv
collect_addresses (struct nl_cache *addr_cache, int ifindex)
{
  g_autoptr (GStrvBuilder) ipv4 = g_strv_builder_new ();
  g_autoptr (GStrvBuilder) ipv6 = g_strv_builder_new ();
  g_auto (GStrv) ipv6_strv = NULL;

  for (struct nl_object *obj = nl_cache_get_first (addr_cache); obj != NULL;
       obj = nl_cache_get_next (obj))
    {
      struct rtnl_addr *addr = (struct rtnl_addr *) obj;
      g_autofree char *text = NULL;

      if (rtnl_addr_get_ifindex (addr) != ifindex)
        continue;
      text = format_address (addr);
      if (text == NULL)
        continue;
      /* IPv4 first, as `ip -br addr` prints them. */
      if (rtnl_addr_get_family (addr) == AF_INET)
        g_strv_builder_add (ipv4, text);
      else
        g_strv_builder_add (ipv6, text);
    }

  ipv6_strv = g_strv_builder_end (ipv6);
  g_strv_builder_addv (ipv4, (const char **) ipv6_strv);
  return g_strv_builder_end (ipv4);
}

static void
add_link (struct nl_object *obj, void *user_data)
{
  struct rtnl_link *link = (struct rtnl_link *) obj;
  ListContext *context = user_data;
  LabInterface *iface = g_new0 (LabInterface, 1);
  struct rtnl_qdisc *root;

  iface->name = g_strdup (rtnl_link_get_name (link));
  iface->ifindex = rtnl_link_get_ifindex (link);
  iface->flags = rtnl_link_get_flags (link);
  iface->kind = g_strdup (rtnl_link_get_type (link));
  iface->mac = format_mac (rtnl_link_get_addr (link));
  iface->addresses = collect_addresses (context->addr_cache, iface->ifindex);

  root = rtnl_qdisc_get_by_parent (context->qdisc_cache, iface->ifindex, TC_H_ROOT);
  if (root != NULL)
    {
      iface->qdisc_kind = g_strdup (rtnl_tc_get_kind (TC_CAST (root)));
      rtnl_qdisc_put (root);
    }

  g_ptr_array_add (context->interfaces, iface);
}

static int
compare_ifindex (gconstpointer a, gconstpointer b)
{
  const LabInterface *first = *(LabInterface * const *) a;
  const LabInterface *second = *(LabInterface * const *) b;

  return (first->ifindex > second->ifindex) - (first->ifindex < second->ifindex);
}

GPtrArray *
lab_interface_list_here (GError **error)
{
  struct nl_sock *sock = nl_socket_alloc ();
  struct nl_cache *link_cache = NULL;
  ListContext context = { NULL, NULL, NULL };
  GPtrArray *result = NULL;
  int err;

  if (sock == NULL)
    {
      g_set_error_literal (error, LAB_ERROR, LAB_ERROR_FAILED,
                           "Could not allocate a netlink socket: out of memory");
      return NULL;
    }

  err = nl_connect (sock, NETLINK_ROUTE);
  if (err < 0)
    {
      set_error_from_nl (error, err, "interfaces");
      goto out;
    }
  err = rtnl_link_alloc_cache (sock, AF_UNSPEC, &link_cache);
  if (err < 0)
    {
      set_error_from_nl (error, err, "interfaces");
      goto out;
    }
  err = rtnl_addr_alloc_cache (sock, &context.addr_cache);
  if (err < 0)
    {
      set_error_from_nl (error, err, "addresses");
      goto out;
    }
  err = rtnl_qdisc_alloc_cache (sock, &context.qdisc_cache);
  if (err < 0)
    {
      set_error_from_nl (error, err, "qdiscs");
      goto out;
    }

  context.interfaces = g_ptr_array_new_with_free_func ((GDestroyNotify) lab_interface_free);
  nl_cache_foreach (link_cache, add_link, &context);
  g_ptr_array_sort (context.interfaces, compare_ifindex);
  result = g_steal_pointer (&context.interfaces);

out:
  if (context.qdisc_cache != NULL)
    nl_cache_free (context.qdisc_cache);
  if (context.addr_cache != NULL)
    nl_cache_free (context.addr_cache);
  if (link_cache != NULL)
    nl_cache_free (link_cache);
  nl_socket_free (sock);
  return result;
}

static gpointer
list_in_netns (LabNetns *netns, gpointer user_data, GCancellable *cancellable, GError **error)
{
  return lab_interface_list_here (error);
}

void
lab_interface_list_async (LabNetns *netns, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (netns != NULL);

  lab_netns_run_async (netns, list_in_netns, NULL, NULL, (GDestroyNotify) g_ptr_array_unref,
                       cancellable, callback, user_data);
}

GPtrArray *
lab_interface_list_finish (GAsyncResult *result, GError **error)
{
  return lab_netns_run_finish (result, error);
}
