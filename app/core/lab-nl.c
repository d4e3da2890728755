/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-nl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/errno.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct _LabNl {
  struct nl_sock *sock;
  int kernel_error; /* negative errno from the last NLMSG_ERROR, or 0 */
  char *ext_ack;
};

/*
 * The kernel appends NLMSGERR_ATTR_* after struct nlmsgerr and, unless
 * NLM_F_CAPPED is set, after a copy of the request. libnl hands us the
 * nlmsgerr, which is the payload of the message header just before it.
 */
static char *
parse_ext_ack (const struct nlmsgerr *err)
{
  const struct nlmsghdr *hdr = (const struct nlmsghdr *) ((const char *) err - NLMSG_HDRLEN);
  struct nlattr *attrs[NLMSGERR_ATTR_MAX + 1] = { NULL };
  guint offset = sizeof (*err);
  int payload_len = hdr->nlmsg_len - NLMSG_HDRLEN;

  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS))
    return NULL;
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED))
    offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
  offset = NLMSG_ALIGN (offset);
  if ((int) offset >= payload_len)
    return NULL;

  if (nla_parse (attrs, NLMSGERR_ATTR_MAX, (struct nlattr *) ((char *) err + offset),
                 payload_len - offset, NULL)
      < 0)
    return NULL;
  if (attrs[NLMSGERR_ATTR_MSG] == NULL)
    return NULL;
  return g_strndup (nla_data (attrs[NLMSGERR_ATTR_MSG]), nla_len (attrs[NLMSGERR_ATTR_MSG]));
}

static int
error_cb (struct sockaddr_nl *addr, struct nlmsgerr *err, void *user_data)
{
  LabNl *nl = user_data;

  nl->kernel_error = err->error;
  g_free (nl->ext_ack);
  nl->ext_ack = parse_ext_ack (err);
  /* NL_STOP makes libnl return the error mapped from err->error. */
  return NL_STOP;
}

LabNl *
lab_nl_open (int *out_err)
{
  g_autoptr (LabNl) nl = g_new0 (LabNl, 1);
  int one = 1;
  int ret;

  nl->sock = nl_socket_alloc ();
  if (nl->sock == NULL)
    {
      *out_err = -ENOMEM;
      return NULL;
    }
  ret = nl_connect (nl->sock, NETLINK_ROUTE);
  if (ret < 0)
    {
      *out_err = lab_nl_errno_from_nle (ret);
      return NULL;
    }

  /* Both options only add detail, so older kernels without them still work. */
  setsockopt (nl_socket_get_fd (nl->sock), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt (nl_socket_get_fd (nl->sock), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);

  ret = nl_socket_modify_err_cb (nl->sock, NL_CB_CUSTOM, error_cb, nl);
  if (ret < 0)
    {
      *out_err = lab_nl_errno_from_nle (ret);
      return NULL;
    }
  return g_steal_pointer (&nl);
}

void
lab_nl_close (LabNl *nl)
{
  if (nl == NULL)
    return;
  g_clear_pointer (&nl->sock, nl_socket_free);
  g_free (nl->ext_ack);
  g_free (nl);
}

struct nl_sock *
lab_nl_get_sock (LabNl *nl)
{
  return nl->sock;
}

int
lab_nl_send (LabNl *nl, struct nl_msg *msg)
{
  int ret;

  nl->kernel_error = 0;
  g_clear_pointer (&nl->ext_ack, g_free);

  ret = nl_send_auto (nl->sock, msg);
  if (ret >= 0)
    ret = nl_wait_for_ack (nl->sock);
  if (ret >= 0)
    return 0;
  if (nl->kernel_error < 0)
    return nl->kernel_error;
  return lab_nl_errno_from_nle (ret);
}

const char *
lab_nl_get_ext_ack (LabNl *nl)
{
  return nl->ext_ack;
}

int
lab_nl_errno_from_nle (int nle_error)
{
  switch (-nle_error)
    {
    case 0:
      return 0;
    case NLE_INTR:
      return -EINTR;
    case NLE_BAD_SOCK:
      return -EBADF;
    case NLE_AGAIN:
      return -EAGAIN;
    case NLE_NOMEM:
      return -ENOMEM;
    case NLE_EXIST:
      return -EEXIST;
    case NLE_INVAL:
    case NLE_MISSING_ATTR:
    case NLE_NOATTR:
      return -EINVAL;
    case NLE_RANGE:
      return -ERANGE;
    case NLE_MSGSIZE:
    case NLE_MSG_TOOSHORT:
    case NLE_MSG_TRUNC:
      return -EMSGSIZE;
    case NLE_OPNOTSUPP:
      return -EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
      return -EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND:
      return -ENOENT;
    case NLE_NODEV:
      return -ENODEV;
    case NLE_PERM:
      return -EPERM;
    case NLE_BUSY:
      return -EBUSY;
    case NLE_NOACCESS:
      return -EACCES;
    case NLE_PROTO_MISMATCH:
      return -EPROTONOSUPPORT;
    default:
      return -EIO;
    }
}
