// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * Lab's own tracepoint programs. Each one fills a struct lab_event and sends
 * it through the one perf event array map "events".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lab-events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define LAB_AF_INET 2
#define LAB_AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/*
 * Kernel-version variants of the tcp/tcp_retransmit_skb record, all in one
 * place. Recent kernels (6.18 among them) give the tracepoint its own class,
 * trace_event_raw_tcp_retransmit_skb, which adds an err field. Older ones use
 * the shared class trace_event_raw_tcp_event_sk_skb. libbpf drops the "___lab"
 * suffix when it matches these against kernel BTF, so the fields named here
 * may sit at any offset.
 */
struct trace_event_raw_tcp_retransmit_skb___lab {
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_event_sk_skb___lab {
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

/* Reads the record's own field size, 4 or 16 bytes, into the 16-byte event field. */
#define LAB_READ_ADDRESS(destination, record, field) \
	bpf_core_read(&(destination), sizeof((record)->field), &(record)->field)

/*
 * Copies the fields both variants share and stores the socket in sk. It is a
 * macro because the two record types differ. Kernels without the state field leave it 0.
 */
#define LAB_READ_TCP_RECORD(event, record, sk)                                        \
	do {                                                                          \
		if (bpf_core_field_exists((record)->state))                          \
			(event)->tcp.state = BPF_CORE_READ((record), state);         \
		(event)->tcp.sport = BPF_CORE_READ((record), sport);                 \
		(event)->tcp.dport = BPF_CORE_READ((record), dport);                 \
		(event)->tcp.family = BPF_CORE_READ((record), family);               \
		if ((event)->tcp.family == LAB_AF_INET6) {                            \
			LAB_READ_ADDRESS((event)->tcp.saddr, (record), saddr_v6);    \
			LAB_READ_ADDRESS((event)->tcp.daddr, (record), daddr_v6);    \
		} else {                                                              \
			LAB_READ_ADDRESS((event)->tcp.saddr, (record), saddr);       \
			LAB_READ_ADDRESS((event)->tcp.daddr, (record), daddr);       \
		}                                                                     \
		(sk) = (const struct sock *)BPF_CORE_READ((record), skaddr);         \
	} while (0)

static __always_inline void fill_common(struct lab_event *event, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();

	event->timestamp_ns = bpf_ktime_get_ns();
	event->kind = kind;
	event->pid = id >> 32;
	event->tid = (__u32)id;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
}

SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct lab_event event = {};
	unsigned int offset = ctx->__data_loc_filename & 0xFFFF;

	fill_common(&event, LAB_EVENT_EXEC);
	event.netns_ino = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	bpf_probe_read_kernel_str(event.exec.filename, sizeof(event.exec.filename),
				  (void *)ctx + offset);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event));
	return 0;
}

/*
 * Retransmits mostly fire from the retransmit timer in softirq context, where
 * the current task is the one that was interrupted. So the namespace comes from
 * the socket, and pid and comm describe the interrupted task.
 */
SEC("tp/tcp/tcp_retransmit_skb")
int handle_tcp_retransmit(void *ctx)
{
	struct lab_event event = {};
	const struct sock *sk = NULL;

	fill_common(&event, LAB_EVENT_TCP_RETRANSMIT);
	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb___lab)) {
		struct trace_event_raw_tcp_retransmit_skb___lab *record = ctx;

		LAB_READ_TCP_RECORD(&event, record, sk);
	} else {
		struct trace_event_raw_tcp_event_sk_skb___lab *record = ctx;

		LAB_READ_TCP_RECORD(&event, record, sk);
	}
	if (sk)
		event.netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event));
	return 0;
}
