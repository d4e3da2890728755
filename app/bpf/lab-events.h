/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/* Event records shared by lab-events.bpf.c and user space: fixed-width fields only. */
#pragma once

#define LAB_EVENT_COMM_LEN 16
#define LAB_EVENT_FILENAME_LEN 128

enum lab_event_kind {
	LAB_EVENT_EXEC = 1,
	LAB_EVENT_TCP_RETRANSMIT = 2,
};

struct lab_event_exec {
	char filename[LAB_EVENT_FILENAME_LEN];
};

struct lab_event_tcp {
	__u16 family;		/* AF_INET or AF_INET6 */
	__u16 sport;		/* host byte order */
	__u16 dport;		/* host byte order */
	__u16 state;		/* TCP_ESTABLISHED and so on */
	__u8 saddr[16];		/* IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

struct lab_event {
	__u64 timestamp_ns;	/* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	__u32 kind;		/* enum lab_event_kind */
	__u32 pid;		/* thread group id as user space sees it */
	__u32 tid;
	__u32 netns_ino;	/* inode of the network namespace the event came from */
	char comm[LAB_EVENT_COMM_LEN];
	union {
		struct lab_event_exec exec;
		struct lab_event_tcp tcp;
	};
};
