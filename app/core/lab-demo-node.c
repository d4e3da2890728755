/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Setup of one demo node, run inside its network namespace through
 * lab_netns_run_sync(): the veth pair, address and links through libnl, then
 * the node's UDP socket.
 */
#include "lab-demo-node-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "lab-error.h"

#define DEMO_IFNAME "eth0"
/* The well-known echo port. Each node namespace has its own ports, so nothing clashes. */
#define DEMO_ECHO_PORT 7

static LabError
lab_error_from_nl (int err)
{
  switch (abs (err))
    {
    case NLE_EXIST:
      return LAB_ERROR_EXISTS;
    case NLE_PERM:
      return LAB_ERROR_PERMISSION;
    case NLE_NODEV:
    case NLE_OBJ_NOTFOUND:
      return LAB_ERROR_NOT_FOUND;
    case NLE_OPNOTSUPP:
      return LAB_ERROR_NOT_SUPPORTED;
    case NLE_BUSY:
      return LAB_ERROR_BUSY;
    case NLE_INVAL:
    case NLE_RANGE:
      return LAB_ERROR_INVALID_ARGUMENT;
    default:
      return LAB_ERROR_FAILED;
    }
}

static int
set_link_up (struct nl_sock *sock, const char *ifname)
{
  struct rtnl_link *link = NULL;
  struct rtnl_link *change = NULL;
  int ret;

  ret = rtnl_link_get_kernel (sock, 0, ifname, &link);
  if (ret < 0)
    return ret;
  change = rtnl_link_alloc ();
  if (change == NULL)
    {
      rtnl_link_put (link);
      return -NLE_NOMEM;
    }
  rtnl_link_set_flags (change, IFF_UP);
  ret = rtnl_link_change (sock, link, change, 0);
  rtnl_link_put (change);
  rtnl_link_put (link);
  return ret;
}

static int
add_veth_pair (struct nl_sock *sock, int peer_netns_fd)
{
  struct rtnl_link *link = rtnl_link_veth_alloc ();
  struct rtnl_link *peer;
  int ret;

  if (link == NULL)
    return -NLE_NOMEM;
  rtnl_link_set_name (link, DEMO_IFNAME);
  peer = rtnl_link_veth_get_peer (link);
  rtnl_link_set_name (peer, DEMO_IFNAME);
  rtnl_link_set_ns_fd (peer, peer_netns_fd);
  rtnl_link_put (peer);

  ret = rtnl_link_add (sock, link, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_link_veth_release (link);
  return ret;
}

static int
add_address (struct nl_sock *sock, const char *ifname, const char *address)
{
  g_autofree char *cidr = g_strdup_printf ("%s/%d", address, DEMO_PREFIX_LEN);
  struct rtnl_link *link = NULL;
  struct rtnl_addr *addr = NULL;
  struct nl_addr *local = NULL;
  int ret;

  ret = rtnl_link_get_kernel (sock, 0, ifname, &link);
  if (ret < 0)
    return ret;
  ret = nl_addr_parse (cidr, AF_INET, &local);
  if (ret < 0)
    goto out;
  addr = rtnl_addr_alloc ();
  if (addr == NULL)
    {
      ret = -NLE_NOMEM;
      goto out;
    }
  rtnl_addr_set_ifindex (addr, rtnl_link_get_ifindex (link));
  ret = rtnl_addr_set_local (addr, local);
  if (ret < 0)
    goto out;
  ret = rtnl_addr_add (sock, addr, 0);

out:
  if (addr != NULL)
    rtnl_addr_put (addr);
  if (local != NULL)
    nl_addr_put (local);
  rtnl_link_put (link);
  return ret;
}

/* Returns a non-blocking UDP socket, bound and for the sender connected, or a negative errno. */
static int
open_demo_socket (const DemoNodeSetup *setup)
{
  struct sockaddr_in local = { .sin_family = AF_INET };
  struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons (DEMO_ECHO_PORT) };
  int fd;

  inet_pton (AF_INET, setup->address, &local.sin_addr);
  inet_pton (AF_INET, setup->peer_address, &peer.sin_addr);
  if (setup->echo)
    local.sin_port = htons (DEMO_ECHO_PORT);

  fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (bind (fd, (struct sockaddr *) &local, sizeof local) < 0
      || (!setup->echo && connect (fd, (struct sockaddr *) &peer, sizeof peer) < 0))
    {
      int err = errno;

      close (fd);
      return -err;
    }
  return fd;
}

gpointer
lab_demo_setup_node_in_netns (LabNetns *netns, gpointer user_data, GCancellable *cancellable,
                              GError **error)
{
  DemoNodeSetup *setup = user_data;
  const char *ns_name = lab_netns_get_description (netns);
  struct nl_sock *sock;
  const char *step;
  int ret;

  sock = nl_socket_alloc ();
  if (sock == NULL)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_FAILED,
                   "Cannot allocate a netlink socket for network namespace %s: out of memory",
                   ns_name);
      return NULL;
    }

  step = "connect to rtnetlink";
  ret = nl_connect (sock, NETLINK_ROUTE);
  if (ret >= 0 && setup->veth_peer_netns_fd >= 0)
    {
      step = "create the veth pair " DEMO_IFNAME;
      ret = add_veth_pair (sock, setup->veth_peer_netns_fd);
    }
  if (ret >= 0)
    {
      step = "bring up lo";
      ret = set_link_up (sock, "lo");
    }
  if (ret >= 0)
    {
      step = "add the address to " DEMO_IFNAME;
      ret = add_address (sock, DEMO_IFNAME, setup->address);
    }
  if (ret >= 0)
    {
      step = "bring up " DEMO_IFNAME;
      ret = set_link_up (sock, DEMO_IFNAME);
    }
  nl_socket_free (sock);

  if (ret < 0)
    {
      g_set_error (error, LAB_ERROR, lab_error_from_nl (ret),
                   "Cannot %s in network namespace %s: %s", step, ns_name, nl_geterror (ret));
      return NULL;
    }

  ret = open_demo_socket (setup);
  if (ret < 0)
    {
      g_set_error (error, LAB_ERROR, lab_error_from_errno (ret),
                   "Cannot open the UDP %s socket on %s port %d in network namespace %s: %s",
                   setup->echo ? "echo" : "sender", setup->address,
                   setup->echo ? DEMO_ECHO_PORT : 0, ns_name, g_strerror (-ret));
      return NULL;
    }
  setup->socket_fd = ret;
  return GINT_TO_POINTER (TRUE);
}
