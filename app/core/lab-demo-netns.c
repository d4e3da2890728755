/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Namespace files of the demo nodes under /run/netns, made and removed as
 * iproute2's `ip netns add` and `ip netns delete` do, so the two tools can
 * manage each other's namespaces.
 */
#include "lab-demo-netns-private.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab-error.h"
#include "lab-netns.h"

/*
 * Creates /run/netns if needed and makes it a shared mount point, so that
 * unmounting a namespace file there also unmounts its copies in other mount
 * namespaces and lets the kernel free the namespace. Returns a directory fd or
 * a negative errno.
 */
int
lab_demo_open_netns_run_dir (GError **error)
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

void
lab_demo_set_exists_error (const char *name, const char *prefix, GError **error)
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
gboolean
lab_demo_create_netns_file (int dir_fd, const char *name, const char *prefix, gboolean *out_created,
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
        lab_demo_set_exists_error (name, prefix, error);
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
int
lab_demo_remove_netns_file (const char *name)
{
  g_autofree char *path = g_build_filename (LAB_NETNS_RUN_DIR, name, NULL);

  /* EINVAL: not mounted, as when creation failed between the file and the mount. */
  if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return -errno;
  if (unlink (path) < 0 && errno != ENOENT)
    return -errno;
  return 0;
}

/* Removes the namespace files in @names, all of them even after a failure. Blocking. */
gboolean
lab_demo_remove_netns_files (const char * const *names, GError **error)
{
  int first_error = 0;
  const char *failed_name = NULL;

  for (gsize i = 0; names[i] != NULL; i++)
    {
      int ret = lab_demo_remove_netns_file (names[i]);

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
