/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lab-demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "lab-error.h"
#include "lab-netns.h"

#define DEMO_N_NODES 2
#define DEMO_IFNAME "eth0"
#define DEMO_PREFIX_LEN 24
/* The well-known echo port. Each node namespace has its own ports, so nothing clashes. */
#define DEMO_ECHO_PORT 7
#define DEMO_PROBE_INTERVAL_MS 200
#define DEMO_PROBE_MAX_SIZE 64

static const char * const node_suffixes[DEMO_N_NODES] = { "a", "b" };
/* Inside Lab's subnet 198.18.0.0/15, the range reserved for network benchmarking. */
static const char * const node_addresses[DEMO_N_NODES] = { "198.18.0.1", "198.18.0.2" };

typedef enum {
  DEMO_STOPPED,
  DEMO_STARTING,
  DEMO_RUNNING,
} DemoState;

/*
 * The sockets and counters that the traffic sources use. Each source holds a
 * reference, and the sockets close when the last one goes, so a stop never
 * closes a socket while a callback on the demo's main context still reads it.
 */
typedef struct {
  gatomicrefcount ref_count;
  char *sender_node; /* for log messages */
  char *echo_node;
  int sender_fd; /* in node a, connected to node b's echo port */
  int echo_fd;   /* in node b, bound to the echo port */
  guint32 probe_sequence;
  guint64 echo_count;
} DemoTraffic;

struct _LabDemo {
  GObject parent_instance;

  char *prefix;
  char *node_names[DEMO_N_NODES + 1];

  DemoState state;
  /* Which namespace files this demo created, so stop never removes someone else's. */
  gboolean node_created[DEMO_N_NODES];

  GMainContext *context;
  DemoTraffic *traffic; /* NULL unless running */
  GSource *sender_source;
  GSource *echo_source;
  GSource *probe_source;
  guint64 echo_count; /* echoes of the last run, kept after stop */
};

G_DEFINE_FINAL_TYPE (LabDemo, lab_demo, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PREFIX,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* State of one start, owned by the worker thread until it returns. */
typedef struct {
  char *prefix;
  char *node_names[DEMO_N_NODES];
  LabNetns *netns[DEMO_N_NODES];
  gboolean node_created[DEMO_N_NODES];
  int sender_fd;
  int echo_fd;
} DemoBuild;

/* What a node's setup inside its namespace needs and produces. */
typedef struct {
  const char *address; /* this node's IPv4 address on eth0 */
  const char *peer_address;
  int veth_peer_netns_fd; /* >= 0: create the veth pair and move the peer there */
  gboolean echo;          /* TRUE: open the echo socket, FALSE: the sender socket */
  int socket_fd;          /* output */
} DemoNodeSetup;

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

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

/*
 * Namespace files, made and removed as iproute2's `ip netns add` and `ip netns
 * delete` do, so the two tools can manage each other's namespaces.
 */

/*
 * Creates /run/netns if needed and makes it a shared mount point, so that
 * unmounting a namespace file there also unmounts its copies in other mount
 * namespaces and lets the kernel free the namespace. Returns a directory fd or
 * a negative errno.
 */
static int
open_netns_run_dir (GError **error)
{
  gboolean made_mount_point = FALSE;
  int dir_fd;

  if (mkdir (LAB_NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
    {
      int err = errno;

      g_set_error (error, LAB_ERROR, lab_error_from_errno (err), "Cannot create %s: %s",
                   LAB_NETNS_RUN_DIR, g_strerror (err));
      return -err;
    }

  while (mount ("", LAB_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
    {
      int err = errno;

      /* EINVAL: not a mount point yet, so bind-mount the directory onto itself once. */
      if (err == EINVAL && !made_mount_point)
        {
          if (mount (LAB_NETNS_RUN_DIR, LAB_NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) == 0)
            {
              made_mount_point = TRUE;
              continue;
            }
          err = errno;
        }
      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Cannot make %s a shared mount point: %s%s", LAB_NETNS_RUN_DIR,
                   g_strerror (err), err == EPERM ? "; run as root" : "");
      return -err;
    }

  dir_fd = open (LAB_NETNS_RUN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    {
      int err = errno;

      g_set_error (error, LAB_ERROR, lab_error_from_errno (err), "Cannot open %s: %s",
                   LAB_NETNS_RUN_DIR, g_strerror (err));
      return -err;
    }
  return dir_fd;
}

static void
set_exists_error (const char *name, const char *prefix, GError **error)
{
  g_set_error (error, LAB_ERROR, LAB_ERROR_EXISTS,
               "Network namespace '%s' already exists; remove it with 'ip netns delete %s' "
               "or 'labctl demo --prefix %s --cleanup', or choose another prefix",
               name, name, prefix);
}

/* Runs on a thread made for it, which ends afterwards, so no other thread changes namespace. */
static gpointer
bind_new_netns_thread (gpointer user_data)
{
  const char *path = user_data;

  if (unshare (CLONE_NEWNET) < 0)
    return GINT_TO_POINTER (errno);
  if (mount ("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
    return GINT_TO_POINTER (errno);
  return GINT_TO_POINTER (0);
}

/* Creates the empty file NAME under /run/netns and mounts a new network namespace on it. */
static gboolean
create_netns_file (int dir_fd, const char *name, const char *prefix, gboolean *out_created,
                   GError **error)
{
  g_autofree char *path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);
  g_autoptr (GError) thread_error = NULL;
  GThread *thread;
  int fd;
  int err;

  fd = openat (dir_fd, name, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0)
    {
      err = errno;
      if (err == EEXIST)
        set_exists_error (name, prefix, error);
      else
        g_set_error (error, LAB_ERROR, lab_error_from_errno (err), "Cannot create %s: %s", path,
                     g_strerror (err));
      return FALSE;
    }
  close (fd);
  *out_created = TRUE;

  thread = g_thread_try_new ("lab-netns-add", bind_new_netns_thread, path, &thread_error);
  if (thread == NULL)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_FAILED,
                   "Cannot start a thread to create network namespace '%s': %s", name,
                   thread_error->message);
      return FALSE;
    }
  err = GPOINTER_TO_INT (g_thread_join (thread));
  if (err != 0)
    {
      g_set_error (error, LAB_ERROR, lab_error_from_errno (err),
                   "Cannot create network namespace '%s': %s%s", name, g_strerror (err),
                   err == EPERM ? "; run as root" : "");
      return FALSE;
    }
  return TRUE;
}

/*
 * Unmounts and unlinks a namespace file under /run/netns. The kernel frees the
 * namespace, and with it the veth end and its qdiscs, once nothing else holds
 * it. Returns 0 or a negative errno.
 */
static int
remove_netns_file (const char *name)
{
  g_autofree char *path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);

  /* EINVAL: not mounted, as when creation failed between the file and the mount. */
  if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return -errno;
  if (unlink (path) < 0 && errno != ENOENT)
    return -errno;
  return 0;
}

/* Libnl work, run inside a node's namespace through lab_netns_run_sync(). */

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

static gpointer
setup_node_in_netns (LabNetns *netns, gpointer user_data, GCancellable *cancellable,
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

/* The start, on a GTask worker thread. */

static DemoBuild *
demo_build_new (LabDemo *self)
{
  DemoBuild *build = g_new0 (DemoBuild, 1);

  build->prefix = g_strdup (self->prefix);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    build->node_names[i] = g_strdup (self->node_names[i]);
  build->sender_fd = -1;
  build->echo_fd = -1;
  return build;
}

/* Closes the sockets and removes the namespaces that this build created. Blocking. */
static void
demo_build_undo (DemoBuild *build)
{
  close_fd (&build->sender_fd);
  close_fd (&build->echo_fd);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      int ret;

      if (!build->node_created[i])
        continue;
      ret = remove_netns_file (build->node_names[i]);
      if (ret < 0)
        g_warning ("Cannot remove network namespace '%s' after a failed start: %s; "
                   "run 'ip netns delete %s'",
                   build->node_names[i], g_strerror (-ret), build->node_names[i]);
      build->node_created[i] = FALSE;
    }
}

static void
demo_build_free (DemoBuild *build)
{
  /* Only a build that was never handed to a running demo still owns namespaces or sockets. */
  demo_build_undo (build);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      g_free (build->node_names[i]);
      g_clear_pointer (&build->netns[i], lab_netns_unref);
    }
  g_free (build->prefix);
  g_free (build);
}

static gboolean
demo_build_run (DemoBuild *build, GCancellable *cancellable, GError **error)
{
  DemoNodeSetup setups[DEMO_N_NODES];
  int dir_fd;
  int peer_fd;
  gboolean ok = FALSE;

  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      build->netns[i] = lab_netns_new_named (build->node_names[i], error);
      if (build->netns[i] == NULL)
        return FALSE;
    }

  dir_fd = open_netns_run_dir (error);
  if (dir_fd < 0)
    return FALSE;

  /* Check every name first, so an existing second node leaves no first node behind. */
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      struct stat st;

      if (fstatat (dir_fd, build->node_names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
        {
          set_exists_error (build->node_names[i], build->prefix, error);
          goto out;
        }
    }

  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto out;
      if (!create_netns_file (dir_fd, build->node_names[i], build->prefix,
                              &build->node_created[i], error))
        goto out;
    }

  peer_fd = lab_netns_open (build->netns[1], error);
  if (peer_fd < 0)
    goto out;

  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      setups[i] = (DemoNodeSetup) {
        .address = node_addresses[i],
        .peer_address = node_addresses[1 - i],
        .veth_peer_netns_fd = i == 0 ? peer_fd : -1,
        .echo = i == 1,
        .socket_fd = -1,
      };
    }

  /* Node a goes first because it creates the veth pair whose peer end node b configures. */
  ok = lab_netns_run_sync (build->netns[0], setup_node_in_netns, &setups[0], cancellable, error)
       != NULL;
  build->sender_fd = setups[0].socket_fd;
  if (ok)
    {
      ok = lab_netns_run_sync (build->netns[1], setup_node_in_netns, &setups[1], cancellable,
                               error)
           != NULL;
      build->echo_fd = setups[1].socket_fd;
    }
  close (peer_fd);

out:
  close (dir_fd);
  return ok;
}

static void
demo_build_thread (GTask *task, gpointer source_object, gpointer task_data,
                   GCancellable *cancellable)
{
  DemoBuild *build = task_data;
  GError *error = NULL;

  if (!demo_build_run (build, cancellable, &error))
    {
      demo_build_undo (build);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

/* Traffic, on the main context of the caller of start. */

static DemoTraffic *
demo_traffic_new (const char *sender_node, const char *echo_node, int sender_fd, int echo_fd)
{
  DemoTraffic *traffic = g_new0 (DemoTraffic, 1);

  g_atomic_ref_count_init (&traffic->ref_count);
  traffic->sender_node = g_strdup (sender_node);
  traffic->echo_node = g_strdup (echo_node);
  traffic->sender_fd = sender_fd;
  traffic->echo_fd = echo_fd;
  return traffic;
}

static gpointer
demo_traffic_ref (gpointer data)
{
  DemoTraffic *traffic = data;

  g_atomic_ref_count_inc (&traffic->ref_count);
  return traffic;
}

static void
demo_traffic_unref (gpointer data)
{
  DemoTraffic *traffic = data;

  if (!g_atomic_ref_count_dec (&traffic->ref_count))
    return;
  close_fd (&traffic->sender_fd);
  close_fd (&traffic->echo_fd);
  g_free (traffic->sender_node);
  g_free (traffic->echo_node);
  g_free (traffic);
}

static gboolean
send_probe_cb (gpointer user_data)
{
  DemoTraffic *traffic = user_data;
  char payload[DEMO_PROBE_MAX_SIZE];
  int len;

  len = g_snprintf (payload, sizeof payload, "lab-demo probe %u", ++traffic->probe_sequence);
  /* ECONNREFUSED reports an ICMP error for an earlier probe, and the next probe may still pass. */
  if (send (traffic->sender_fd, payload, len, MSG_DONTWAIT) < 0 && errno != EAGAIN)
    g_debug ("Demo probe %u from '%s' not sent: %s", traffic->probe_sequence,
             traffic->sender_node, g_strerror (errno));
  return G_SOURCE_CONTINUE;
}

static gboolean
sender_readable_cb (int fd, GIOCondition condition, gpointer user_data)
{
  DemoTraffic *traffic = user_data;
  char buffer[DEMO_PROBE_MAX_SIZE];

  for (;;)
    {
      ssize_t len = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT);

      if (len >= 0)
        {
          traffic->echo_count++;
          continue;
        }
      if (errno == EINTR || errno == ECONNREFUSED)
        continue;
      if (errno != EAGAIN)
        g_debug ("Demo echo in '%s' not received: %s", traffic->sender_node, g_strerror (errno));
      break;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
echo_readable_cb (int fd, GIOCondition condition, gpointer user_data)
{
  DemoTraffic *traffic = user_data;
  char buffer[DEMO_PROBE_MAX_SIZE];

  for (;;)
    {
      struct sockaddr_in from;
      socklen_t from_len = sizeof from;
      ssize_t len;

      len = recvfrom (fd, buffer, sizeof buffer, MSG_DONTWAIT, (struct sockaddr *) &from,
                      &from_len);
      if (len < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN)
            g_debug ("Demo probe in '%s' not received: %s", traffic->echo_node,
                     g_strerror (errno));
          break;
        }
      /* The socket lives in node b's namespace, so replies go only to its own peers. */
      if (sendto (fd, buffer, len, MSG_DONTWAIT, (struct sockaddr *) &from, from_len) < 0)
        g_debug ("Demo echo in '%s' not sent: %s", traffic->echo_node, g_strerror (errno));
    }
  return G_SOURCE_CONTINUE;
}

static GSource *
attach_source (LabDemo *self, GSource *source, GSourceFunc func, const char *name)
{
  g_source_set_callback (source, func, demo_traffic_ref (self->traffic), demo_traffic_unref);
  g_source_set_static_name (source, name);
  g_source_attach (source, self->context);
  return source;
}

/* Takes ownership of both sockets. */
static void
start_traffic (LabDemo *self, int sender_fd, int echo_fd)
{
  self->traffic = demo_traffic_new (self->node_names[0], self->node_names[1], sender_fd, echo_fd);
  self->sender_source = attach_source (self, g_unix_fd_source_new (sender_fd, G_IO_IN),
                                       G_SOURCE_FUNC (sender_readable_cb), "[lab] demo sender");
  self->echo_source = attach_source (self, g_unix_fd_source_new (echo_fd, G_IO_IN),
                                     G_SOURCE_FUNC (echo_readable_cb), "[lab] demo echo");
  self->probe_source = attach_source (self, g_timeout_source_new (DEMO_PROBE_INTERVAL_MS),
                                      send_probe_cb, "[lab] demo probe");
  send_probe_cb (self->traffic);
}

/*
 * Destroys the traffic sources. On the demo's main context the sockets close
 * here. On another thread they close once a callback in progress returns.
 */
static void
stop_traffic (LabDemo *self)
{
  GSource **sources[] = { &self->sender_source, &self->echo_source, &self->probe_source };

  for (gsize i = 0; i < G_N_ELEMENTS (sources); i++)
    {
      if (*sources[i] == NULL)
        continue;
      g_source_destroy (*sources[i]);
      g_clear_pointer (sources[i], g_source_unref);
    }
  if (self->traffic != NULL)
    {
      self->echo_count = self->traffic->echo_count;
      g_clear_pointer (&self->traffic, demo_traffic_unref);
    }
}

static void
demo_build_done_cb (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  LabDemo *self = LAB_DEMO (source_object);
  g_autoptr (GTask) task = user_data;
  DemoBuild *build = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      self->state = DEMO_STOPPED;
      g_task_return_error (task, error);
      return;
    }

  /* The demo owns the namespaces and sockets from here on. */
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      self->node_created[i] = build->node_created[i];
      build->node_created[i] = FALSE;
    }
  self->echo_count = 0;
  self->state = DEMO_RUNNING;
  start_traffic (self, g_steal_fd (&build->sender_fd), g_steal_fd (&build->echo_fd));
  g_debug ("Demo '%s' started: nodes '%s' and '%s'", self->prefix, self->node_names[0],
           self->node_names[1]);
  g_task_return_boolean (task, TRUE);
}

/* Public API. */

LabDemo *
lab_demo_new (const char *prefix)
{
  return g_object_new (LAB_TYPE_DEMO, "prefix", prefix, NULL);
}

const char * const *
lab_demo_get_node_names (LabDemo *self)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), NULL);

  return (const char * const *) self->node_names;
}

guint64
lab_demo_get_echo_count (LabDemo *self)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), 0);

  return self->traffic != NULL ? self->traffic->echo_count : self->echo_count;
}

void
lab_demo_start_async (LabDemo *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) build_task = NULL;

  g_return_if_fail (LAB_IS_DEMO (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_demo_start_async);
  /* A build that finished is reported as done even if cancelled late; stop removes it. */
  g_task_set_check_cancellable (task, FALSE);

  if (self->state != DEMO_STOPPED)
    {
      g_task_return_new_error (task, LAB_ERROR, LAB_ERROR_BUSY,
                               "The demo lab '%s' is already %s; stop it before starting it again",
                               self->prefix, self->state == DEMO_RUNNING ? "running" : "starting");
      return;
    }

  self->state = DEMO_STARTING;
  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = g_main_context_ref_thread_default ();

  build_task = g_task_new (self, cancellable, demo_build_done_cb, g_steal_pointer (&task));
  g_task_set_source_tag (build_task, demo_build_thread);
  g_task_set_check_cancellable (build_task, FALSE);
  g_task_set_task_data (build_task, demo_build_new (self), (GDestroyNotify) demo_build_free);
  g_task_run_in_thread (build_task, demo_build_thread);
}

gboolean
lab_demo_start_finish (LabDemo *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == lab_demo_start_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/*
 * Stops the traffic and hands over the names of the namespace files that this
 * demo created, which the caller must remove. Returns NULL with
 * LAB_ERROR_BUSY while a start is in progress.
 */
static GStrv
demo_stop_begin (LabDemo *self, GError **error)
{
  g_autoptr (GStrvBuilder) names = g_strv_builder_new ();

  if (self->state == DEMO_STARTING)
    {
      g_set_error (error, LAB_ERROR, LAB_ERROR_BUSY,
                   "The demo lab '%s' is still starting; cancel the start or stop it once "
                   "the start has finished",
                   self->prefix);
      return NULL;
    }

  stop_traffic (self);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    {
      if (self->node_created[i])
        g_strv_builder_add (names, self->node_names[i]);
      self->node_created[i] = FALSE;
    }

  if (self->state == DEMO_RUNNING)
    g_debug ("Demo '%s' stopped after %" G_GUINT64_FORMAT " echoes", self->prefix,
             self->echo_count);
  self->state = DEMO_STOPPED;
  return g_strv_builder_end (names);
}

/* Removes the namespace files in @names, all of them even after a failure. Blocking. */
static gboolean
remove_netns_files (const char * const *names, GError **error)
{
  int first_error = 0;
  const char *failed_name = NULL;

  for (gsize i = 0; names[i] != NULL; i++)
    {
      int ret = remove_netns_file (names[i]);

      if (ret < 0 && first_error == 0)
        {
          first_error = ret;
          failed_name = names[i];
        }
    }

  if (first_error < 0)
    {
      g_set_error (error, LAB_ERROR, lab_error_from_errno (first_error),
                   "Cannot remove network namespace '%s': %s; run 'ip netns delete %s'",
                   failed_name, g_strerror (-first_error), failed_name);
      return FALSE;
    }
  return TRUE;
}

gboolean
lab_demo_stop (LabDemo *self, GError **error)
{
  g_auto (GStrv) names = NULL;

  g_return_val_if_fail (LAB_IS_DEMO (self), FALSE);

  names = demo_stop_begin (self, error);
  if (names == NULL)
    return FALSE;
  /* Once the sockets close, nothing but the mounts keeps the namespaces alive. */
  return remove_netns_files ((const char * const *) names, error);
}

static void
demo_remove_thread (GTask *task, gpointer source_object, gpointer task_data,
                    GCancellable *cancellable)
{
  GError *error = NULL;

  if (!remove_netns_files (task_data, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
lab_demo_stop_async (LabDemo *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  GError *error = NULL;
  GStrv names;

  g_return_if_fail (LAB_IS_DEMO (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lab_demo_stop_async);
  /* Once the traffic is stopped, the namespaces must go, so cancelling does not skip that. */
  g_task_set_check_cancellable (task, FALSE);

  names = demo_stop_begin (self, &error);
  if (names == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_set_task_data (task, names, (GDestroyNotify) g_strfreev);
  g_task_run_in_thread (task, demo_remove_thread);
}

gboolean
lab_demo_stop_finish (LabDemo *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (LAB_IS_DEMO (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == lab_demo_stop_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* GObject. */

static void
lab_demo_constructed (GObject *object)
{
  LabDemo *self = LAB_DEMO (object);

  G_OBJECT_CLASS (lab_demo_parent_class)->constructed (object);

  if (self->prefix == NULL)
    self->prefix = g_strdup (LAB_DEMO_PREFIX_DEFAULT);
  for (guint i = 0; i < DEMO_N_NODES; i++)
    self->node_names[i] = g_strdup_printf ("%s-%s", self->prefix, node_suffixes[i]);
}

static void
lab_demo_dispose (GObject *object)
{
  LabDemo *self = LAB_DEMO (object);
  g_autoptr (GError) error = NULL;

  /*
   * Blocks while a running demo's namespaces are removed, so a UI thread calls
   * lab_demo_stop_async first. A start in progress holds a reference, so the
   * state here is never DEMO_STARTING.
   */
  if (!lab_demo_stop (self, &error))
    g_warning ("Demo lab '%s' not fully removed: %s", self->prefix, error->message);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (lab_demo_parent_class)->dispose (object);
}

static void
lab_demo_finalize (GObject *object)
{
  LabDemo *self = LAB_DEMO (object);

  for (guint i = 0; i < DEMO_N_NODES; i++)
    g_free (self->node_names[i]);
  g_free (self->prefix);

  G_OBJECT_CLASS (lab_demo_parent_class)->finalize (object);
}

static void
lab_demo_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LabDemo *self = LAB_DEMO (object);

  switch (prop_id)
    {
    case PROP_PREFIX:
      g_value_set_string (value, self->prefix);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lab_demo_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  LabDemo *self = LAB_DEMO (object);

  switch (prop_id)
    {
    case PROP_PREFIX:
      self->prefix = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lab_demo_class_init (LabDemoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = lab_demo_constructed;
  object_class->dispose = lab_demo_dispose;
  object_class->finalize = lab_demo_finalize;
  object_class->get_property = lab_demo_get_property;
  object_class->set_property = lab_demo_set_property;

  /* Node namespaces are named PREFIX-a and PREFIX-b. NULL means LAB_DEMO_PREFIX_DEFAULT. */
  properties[PROP_PREFIX] =
    g_param_spec_string ("prefix", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
lab_demo_init (LabDemo *self)
{
}
