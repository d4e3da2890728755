// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/* Placeholder: process exec only. The full program set lands with the BPF events pane. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "lab-events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct lab_event event = {};
	__u64 id = bpf_get_current_pid_tgid();
	unsigned int offset = ctx->__data_loc_filename & 0xFFFF;

	event.timestamp_ns = bpf_ktime_get_ns();
	event.kind = LAB_EVENT_EXEC;
	event.pid = id >> 32;
	event.tid = (__u32)id;
	event.netns_ino = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	bpf_get_current_comm(event.comm, sizeof(event.comm));
	bpf_probe_read_kernel_str(event.exec.filename, sizeof(event.exec.filename),
				  (void *)ctx + offset);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event));
	return 0;
}
