/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LabBpfEvents with the real tracepoints: an exec on the host, a TCP retransmit
 * in a namespace, bursts of execs while higher-priority sources keep the main
 * loop busy, lost events, and stops and cancels while a start is in flight.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace-test.h"

typedef struct
{
  LabBpfEventKind kind;
  const char *detail_substring; /* matched with strstr */
  guint64 netns_inode;          /* 0 matches any */
  gboolean found;
  LabBpfEvent event;
  char *detail;
} EventSearch;

static void
on_event (LabBpfEvents *events, gpointer event_pointer, gpointer user_data)
{
  const LabBpfEvent *event = event_pointer;
  EventSearch *search = user_data;

  if (search->found || event->kind != search->kind)
    return;
  if (strstr (event->detail, search->detail_substring) == NULL)
    return;
  if (search->netns_inode != 0 && event->netns_inode != search->netns_inode)
    return;
  search->event = *event;
  search->detail = g_strdup (event->detail);
  search->event.detail = search->detail;
  search->found = TRUE;
}

static LabBpfEvents *
start_events (void)
{
  LabBpfEvents *events = lab_bpf_events_new ();
  g_autoptr (GError) error = NULL;
  TraceTestWait wait = { 0 };

  lab_bpf_events_start_async (events, NULL, trace_test_on_ready, &wait);
  lab_test_wait_for (&wait.done);
  if (!lab_bpf_events_start_finish (events, wait.result, &error))
    {
      if (g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED))
        lab_test_skip_all ("%s", error->message);
      g_assert_no_error (error);
    }
  g_clear_object (&wait.result);
  return events;
}

static guint64
inode_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_ino;
}

static void
test_exec_event (void)
{
  g_autoptr (LabBpfEvents) events = start_events ();
  g_autoptr (GError) error = NULL;
  g_autofree char *directory = g_dir_make_tmp ("lab-exec-XXXXXX", &error);
  /* 13 characters, so the whole name fits in comm (15 characters at most). */
  g_autofree char *name = g_strdup_printf ("labexec%06x", g_random_int_range (0, 0xffffff));
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  EventSearch search = { .kind = LAB_BPF_EVENT_EXEC };
  GPid pid = 0;
  int status = 0;
  gulong handler;

  g_assert_no_error (error);
  path = g_build_filename (directory, name, NULL);
  g_file_get_contents ("/bin/true", &contents, &length, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (path, contents, length, G_FILE_SET_CONTENTS_NONE, 0755, &error);
  g_assert_no_error (error);

  search.detail_substring = path;
  handler = g_signal_connect (events, "event", G_CALLBACK (on_event), &search);
  g_spawn_async (NULL, (char *[]){ path, "lab-test-argument", NULL }, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  lab_test_wait_for (&search.found);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  unlink (path);
  rmdir (directory);

  g_assert_cmpuint (search.event.pid, ==, (guint32) pid);
  g_assert_cmpuint (search.event.tid, ==, (guint32) pid);
  g_assert_cmpstr (search.event.comm, ==, name);
  g_assert_cmpstr (search.event.detail, ==, path);
  g_assert_cmpuint (search.event.netns_inode, ==, inode_of ("/proc/self/ns/net"));
  g_assert_cmpint (ABS (search.event.realtime_usec - g_get_real_time ()), <, 60 * G_USEC_PER_SEC);
  g_assert_cmpuint (lab_bpf_events_get_received (events), >=, 1);
  g_assert_cmpstr (lab_bpf_event_kind_to_string (search.event.kind), ==, "exec");

  g_signal_handler_disconnect (events, handler);
  lab_bpf_events_stop (events);
  g_free (search.detail);
}

/* Socket work inside a namespace, on a thread made for it, so setns() changes nothing else. */
typedef struct
{
  const char *netns;
  const char *address;
  guint16 port; /* 0 to listen on an ephemeral port, else the port to connect to */
  int fd;
  guint16 bound_port;
} SocketJob;

static gpointer
socket_in_netns_thread (gpointer data)
{
  SocketJob *job = data;
  g_autofree char *netns_path = g_build_filename ("/run/netns", job->netns, NULL);
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (job->port) };
  socklen_t address_length = sizeof address;
  int netns_fd = open (netns_path, O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (netns_fd, >=, 0);
  g_assert_cmpint (setns (netns_fd, CLONE_NEWNET), ==, 0);
  close (netns_fd);

  job->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (job->fd, >=, 0);
  g_assert_cmpint (inet_pton (AF_INET, job->address, &address.sin_addr), ==, 1);
  if (job->port == 0)
    {
      g_assert_cmpint (bind (job->fd, (struct sockaddr *) &address, sizeof address), ==, 0);
      g_assert_cmpint (listen (job->fd, 4), ==, 0);
      g_assert_cmpint (getsockname (job->fd, (struct sockaddr *) &address, &address_length), ==,
                       0);
      job->bound_port = ntohs (address.sin_port);
    }
  else
    {
      g_assert_cmpint (connect (job->fd, (struct sockaddr *) &address, sizeof address), ==, 0);
    }
  return NULL;
}

static void
run_socket_job (SocketJob *job)
{
  g_thread_join (g_thread_new ("lab-test-netns", socket_in_netns_thread, job));
}

/* Returns the IPv4 address of eth0 in @netns, without the prefix length. */
static char *
eth0_address (const char *netns)
{
  g_autofree char *output =
    lab_test_run ((const char *[]){ "ip", "-n", netns, "-o", "-4", "addr", "show", "dev", "eth0",
                                    NULL });
  const char *inet = strstr (output, "inet ");

  g_assert_nonnull (inet);
  return g_strndup (inet + 5, strcspn (inet + 5, "/"));
}

static void
test_tcp_retransmit (void)
{
  g_autoptr (LabBpfEvents) events = start_events ();
  g_autoptr (LabTestPair) pair = lab_test_pair_new ();
  g_autofree char *netns_a_path = g_build_filename ("/run/netns", pair->ns_a, NULL);
  g_autofree char *address_a = eth0_address (pair->ns_a);
  g_autofree char *address_b = eth0_address (pair->ns_b);
  g_autofree char *expected = NULL;
  SocketJob listener = { .netns = pair->ns_b, .address = address_b };
  SocketJob client = { .netns = pair->ns_a, .address = address_b };
  EventSearch search = { .kind = LAB_BPF_EVENT_TCP_RETRANSMIT };
  int accepted;
  gulong handler;

  run_socket_job (&listener);
  client.port = listener.bound_port;
  run_socket_job (&client);
  accepted = accept4 (listener.fd, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (accepted, >=, 0);

  /* With the peer down, veth drops what ns_a sends, and the retransmit timer fires. */
  expected = g_strdup_printf ("%s:", address_a);
  search.detail_substring = expected;
  search.netns_inode = inode_of (netns_a_path);
  handler = g_signal_connect (events, "event", G_CALLBACK (on_event), &search);
  g_free (lab_test_run ((const char *[]){ "ip", "-n", pair->ns_b, "link", "set", "eth0", "down",
                                          NULL }));
  g_assert_cmpint (send (client.fd, "lab", 3, MSG_NOSIGNAL), ==, 3);
  lab_test_wait_for (&search.found);

  g_test_message ("retransmit: %s", search.detail);
  g_assert_cmpuint (search.event.netns_inode, ==, inode_of (netns_a_path));
  g_assert_cmpuint (search.event.netns_inode, !=, inode_of ("/proc/self/ns/net"));
  g_free (expected);
  expected = g_strdup_printf ("-> %s:%u state ESTABLISHED", address_b, listener.bound_port);
  g_assert_nonnull (strstr (search.detail, expected));
  g_assert_cmpstr (lab_bpf_event_kind_to_string (search.event.kind), ==, "tcp-retransmit");

  g_signal_handler_disconnect (events, handler);
  lab_bpf_events_stop (events);
  close (accepted);
  close (client.fd);
  close (listener.fd);
  g_free (search.detail);
}

static void
on_lost (LabBpfEvents *events, guint64 count, gpointer user_data)
{
  guint64 *lost = user_data;

  *lost += count;
}

static void
pin_to_first_cpu (gpointer user_data)
{
  cpu_set_t cpus;

  CPU_ZERO (&cpus);
  CPU_SET (0, &cpus);
  sched_setaffinity (0, sizeof cpus, &cpus);
}

static void
test_lost_count (void)
{
  g_autoptr (LabBpfEvents) events = start_events ();
  g_autoptr (GError) error = NULL;
  /*
   * About 1,400 exec records of about 184 bytes fit in one 64-page buffer, so
   * 4,000 execs on one CPU while the main loop does not run must overflow it.
   */
  const char *argv[] = {
    "/bin/sh", "-c", "i=0; while [ $i -lt 4000 ]; do /bin/true; i=$((i+1)); done", NULL,
  };
  guint64 lost = 0;
  gboolean lost_seen = FALSE;
  int status = 0;
  gulong handler;

  handler = g_signal_connect (events, "lost", G_CALLBACK (on_lost), &lost);
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, pin_to_first_cpu, NULL, NULL, NULL,
                &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));

  while (!lost_seen)
    {
      g_main_context_iteration (NULL, TRUE);
      lost_seen = lost > 0;
    }

  g_test_message ("received %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT,
                  lab_bpf_events_get_received (events), lab_bpf_events_get_lost (events));
  g_assert_cmpuint (lab_bpf_events_get_lost (events), ==, lost);
  g_assert_cmpuint (lab_bpf_events_get_received (events), >, 0);
  g_assert_cmpuint (lab_bpf_events_get_received (events) + lost, >=, 4000);
  g_signal_handler_disconnect (events, handler);
  lab_bpf_events_stop (events);
}

/* Counts this process's open BPF program file descriptors. */
static guint
count_bpf_program_fds (void)
{
  g_autoptr (GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  const char *name;
  guint count = 0;

  g_assert_nonnull (fds);
  while ((name = g_dir_read_name (fds)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);

      if (g_strcmp0 (target, "anon_inode:bpf-prog") == 0)
        count++;
    }
  return count;
}

static gboolean
on_poll_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the main loop until this process holds no BPF program fd. */
static void
wait_for_programs_detached (void)
{
  guint tick = g_timeout_add (10, on_poll_tick, NULL);

  while (count_bpf_program_fds () > 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

/* Lists this process's epoll file descriptors. */
static GArray *
list_epoll_fds (void)
{
  g_autoptr (GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  GArray *found = g_array_new (FALSE, FALSE, sizeof (int));
  const char *name;

  g_assert_nonnull (fds);
  while ((name = g_dir_read_name (fds)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);
      int fd = atoi (name);

      if (g_strcmp0 (target, "anon_inode:[eventpoll]") == 0)
        g_array_append_val (found, fd);
    }
  return found;
}

/* Returns the one epoll fd in @after that is not in @before. */
static int
find_new_epoll_fd (GArray *before, GArray *after)
{
  int new_fd = -1;

  for (guint i = 0; i < after->len; i++)
    {
      int fd = g_array_index (after, int, i);
      gboolean known = FALSE;

      for (guint j = 0; j < before->len; j++)
        known = known || g_array_index (before, int, j) == fd;
      if (known)
        continue;
      g_assert_cmpint (new_fd, ==, -1);
      new_fd = fd;
    }
  g_assert_cmpint (new_fd, >=, 0);
  return new_fd;
}

typedef struct
{
  const char *path;
  guint64 received;    /* exec events of path */
  guint competing_dispatches;
  guint timer_ticks;
  gboolean burst_done;
  int burst_status;
} BurstCount;

static void
on_burst_event (LabBpfEvents *events, gpointer event_pointer, gpointer user_data)
{
  const LabBpfEvent *event = event_pointer;
  BurstCount *count = user_data;

  if (event->kind == LAB_BPF_EVENT_EXEC && strcmp (event->detail, count->path) == 0)
    count->received++;
}

static gboolean
on_competing_readable (int fd, GIOCondition condition, gpointer user_data)
{
  BurstCount *count = user_data;

  count->competing_dispatches++;
  return G_SOURCE_CONTINUE;
}

static gboolean
on_busy_tick (gpointer user_data)
{
  BurstCount *count = user_data;

  count->timer_ticks++;
  return G_SOURCE_CONTINUE;
}

static void
on_burst_exited (GPid pid, int status, gpointer user_data)
{
  BurstCount *count = user_data;

  count->burst_status = status;
  count->burst_done = TRUE;
  g_spawn_close_pid (pid);
}

/*
 * Main-loop iterations allowed after the last exec of a burst. The events are
 * in the perf buffers before the shell that ran them exits, so a reader that
 * was not left without a wakeup takes them in the first few iterations in
 * which no higher-priority source is ready. With the 1 ms timer running, this
 * is about one second.
 */
#define SETTLE_ITERATIONS 1000

/*
 * Runs @exec_count execs of a symlink to /bin/true, then checks that all of
 * them arrive with no later exec to wake the reader. A 1 ms timeout keeps
 * firing. A G_PRIORITY_HIGH watch on the perf buffer's own epoll fd is
 * dispatched in place of the reader whenever the perf buffer wakes the loop.
 * That is the worst case of a higher-priority source that becomes ready in the
 * same poll(). Polling a perf event fd clears its wakeup, so a reader that relies on
 * that wakeup alone never runs. When @all_at_once is set, the burst runs on
 * CPU 0 while the main loop waits for it, so the reader finds it all in one
 * per-CPU buffer.
 */
static void
run_exec_burst (guint exec_count, gboolean all_at_once)
{
  g_autoptr (GArray) epoll_before = NULL;
  g_autoptr (LabBpfEvents) events = NULL;
  g_autoptr (GArray) epoll_after = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *directory = g_dir_make_tmp ("lab-burst-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *loop = g_strdup_printf ("i=0; while [ $i -lt %u ]; do \"$0\"; i=$((i+1)); done",
                                           exec_count);
  g_autoptr (GSource) competing = NULL;
  BurstCount count = { 0 };
  guint timer;
  gulong handler;
  guint iterations = 0;
  guint64 lost;

  /*
   * An earlier test's perf buffer closes its epoll fd on a worker thread. If it
   * closed between the two listings, the new buffer could reuse its number.
   */
  wait_for_programs_detached ();
  epoll_before = list_epoll_fds ();
  events = start_events ();
  epoll_after = list_epoll_fds ();

  g_assert_no_error (error);
  path = g_build_filename (directory, "true", NULL);
  g_assert_cmpint (symlink ("/bin/true", path), ==, 0);
  count.path = path;

  handler = g_signal_connect (events, "event", G_CALLBACK (on_burst_event), &count);
  competing = g_unix_fd_source_new (find_new_epoll_fd (epoll_before, epoll_after), G_IO_IN);
  g_source_set_priority (competing, G_PRIORITY_HIGH);
  g_source_set_callback (competing, G_SOURCE_FUNC (on_competing_readable), &count, NULL);
  g_source_attach (competing, NULL);
  timer = g_timeout_add (1, on_busy_tick, &count);

  if (all_at_once)
    {
      g_spawn_sync (NULL, (char *[]){ "/bin/sh", "-c", loop, path, NULL }, NULL, G_SPAWN_DEFAULT,
                    pin_to_first_cpu, NULL, NULL, NULL, &count.burst_status, &error);
      g_assert_no_error (error);
      count.burst_done = TRUE;
    }
  else
    {
      GPid pid = 0;

      g_spawn_async (NULL, (char *[]){ "/bin/sh", "-c", loop, path, NULL }, NULL,
                     G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error);
      g_assert_no_error (error);
      g_child_watch_add (pid, on_burst_exited, &count);
      lab_test_wait_for (&count.burst_done);
    }
  g_assert_true (g_spawn_check_wait_status (count.burst_status, NULL));

  while (count.received < exec_count && iterations < SETTLE_ITERATIONS)
    {
      g_main_context_iteration (NULL, TRUE);
      iterations++;
    }

  lost = lab_bpf_events_get_lost (events);
  g_test_message ("received %" G_GUINT64_FORMAT " of %u execs after %u more iterations; "
                  "lost %" G_GUINT64_FORMAT "; competing watch dispatched %u times, timer %u "
                  "times",
                  count.received, exec_count, iterations, lost, count.competing_dispatches,
                  count.timer_ticks);
  g_assert_cmpuint (count.competing_dispatches, >, 0);
  /* Execs of other processes share the buffers, so the kernel may drop some of ours. */
  if (lost == 0)
    g_assert_cmpuint (count.received, ==, exec_count);
  else
    g_assert_cmpuint (count.received + lost, >=, exec_count);

  g_source_destroy (competing);
  g_source_remove (timer);
  g_signal_handler_disconnect (events, handler);
  lab_bpf_events_stop (events);
  unlink (path);
  rmdir (directory);
}

/* A burst read while it runs: the last events must not wait for a later exec. */
static void
test_burst_with_busy_loop (void)
{
  run_exec_burst (300, FALSE);
}

/*
 * More events in one per-CPU buffer than one dispatch decodes (1,024), found
 * all at once. The rest must follow without a new wakeup. A 64-page buffer
 * has room for about 1,400 exec records.
 */
static void
test_burst_over_budget (void)
{
  run_exec_burst (1100, TRUE);
}

static void
test_stop_detaches (void)
{
  g_autoptr (LabBpfEvents) events = start_events ();
  guint tick;

  g_assert_cmpuint (count_bpf_program_fds (), >=, 2);
  lab_bpf_events_stop (events);
  lab_bpf_events_stop (events);

  /* stop() detaches on a worker thread; wake the main loop now and then to look again. */
  tick = g_timeout_add (10, on_poll_tick, NULL);
  while (count_bpf_program_fds () > 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);

  g_assert_cmpuint (count_bpf_program_fds (), ==, 0);
  g_assert_cmpuint (lab_bpf_events_get_lost (events), ==, 0);
}

/* A stop while the programs load on their thread, then a start at once, which succeeds. */
static void
test_restart_after_stop (void)
{
  g_autoptr (LabBpfEvents) events = lab_bpf_events_new ();
  g_autoptr (GError) error = NULL;
  TraceTestWait first = { 0 };
  TraceTestWait second = { 0 };

  g_assert_cmpuint (count_bpf_program_fds (), ==, 0);
  lab_bpf_events_start_async (events, NULL, trace_test_on_ready, &first);
  lab_bpf_events_stop (events);
  lab_bpf_events_start_async (events, NULL, trace_test_on_ready, &second);
  lab_test_wait_for (&first.done);
  lab_test_wait_for (&second.done);

  g_assert_false (lab_bpf_events_start_finish (events, first.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  if (!lab_bpf_events_start_finish (events, second.result, &error)
      && g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED))
    lab_test_skip_all ("%s", error->message);
  g_assert_no_error (error);
  g_clear_object (&first.result);
  g_clear_object (&second.result);
  g_assert_cmpuint (count_bpf_program_fds (), >=, 2);

  /* The stopped start's programs and the running ones are all detached in the end. */
  lab_bpf_events_stop (events);
  wait_for_programs_detached ();
  g_assert_cmpuint (count_bpf_program_fds (), ==, 0);
}

/* Cancels the caller's cancellable mid-start, then checks the detach and a new start. */
static void
test_cancel_start (void)
{
  g_autoptr (LabBpfEvents) events = lab_bpf_events_new ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  TraceTestWait wait = { 0 };

  lab_bpf_events_start_async (events, cancellable, trace_test_on_ready, &wait);
  g_cancellable_cancel (cancellable);
  lab_test_wait_for (&wait.done);
  g_assert_false (lab_bpf_events_start_finish (events, wait.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_object (&wait.result);
  wait_for_programs_detached ();
  g_assert_cmpuint (count_bpf_program_fds (), ==, 0);

  wait.done = FALSE;
  lab_bpf_events_start_async (events, NULL, trace_test_on_ready, &wait);
  lab_test_wait_for (&wait.done);
  if (!lab_bpf_events_start_finish (events, wait.result, &error)
      && g_error_matches (error, LAB_ERROR, LAB_ERROR_NOT_SUPPORTED))
    lab_test_skip_all ("%s", error->message);
  g_assert_no_error (error);
  g_clear_object (&wait.result);
  g_assert_cmpuint (count_bpf_program_fds (), >=, 2);
  lab_bpf_events_stop (events);
  wait_for_programs_detached ();
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (geteuid () != 0)
    lab_test_skip_all ("needs root to load BPF programs and create namespaces");
  trace_test_record_tracefs ();

  g_test_add_func ("/lab/bpf/exec-event", test_exec_event);
  g_test_add_func ("/lab/bpf/tcp-retransmit", test_tcp_retransmit);
  g_test_add_func ("/lab/bpf/lost-count", test_lost_count);
  g_test_add_func ("/lab/bpf/burst-with-busy-loop", test_burst_with_busy_loop);
  g_test_add_func ("/lab/bpf/burst-over-budget", test_burst_over_budget);
  g_test_add_func ("/lab/bpf/stop-detaches", test_stop_detaches);
  g_test_add_func ("/lab/bpf/restart-after-stop", test_restart_after_stop);
  g_test_add_func ("/lab/bpf/cancel-start", test_cancel_start);

  status = g_test_run ();
  trace_test_restore_tracefs ();
  return status;
}
