/* fanout.c — pacing of sends to many connections (fanout.h): each job's
 * slices run from a loop timer armed for "now", so the loop polls its
 * sockets (epoll_wait with a zero timeout) between two slices. The
 * longest slice is logged at debug level when a job ends.
 */
#include "fanout.h"

#include <time.h>

#include "api.h"
#include "ctx.h"
#include "log.h"

uint64_t fanout_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This thread's CPU time: what a slice itself cost, whatever the
 * scheduler did meanwhile (the log reports both). */
static uint64_t cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void finish(struct fanout *f)
{
	struct api_call *call = f->call;

	list_remove(&f->link);
	loop_timer_disarm(&f->srv->loop, &f->timer);
	log_debug("fanout: done in %u slice(s), longest %.2f ms (%.2f ms on the CPU)", f->slices,
	          (double)f->longest_slice_ns / 1e6, (double)f->longest_slice_cpu_ns / 1e6);
	f->call = NULL;
	if (call) {
		call->reg_data = NULL;
		f->result(f, call);
		api_call_complete(call);
	}
	f->free_fn(f);
}

/* One slice; true when the job is finished (and freed). */
static bool slice(struct fanout *f)
{
	uint64_t t0 = fanout_now_ns(), c0 = cpu_now_ns(), took, cpu;
	bool done = f->step(f, t0 + FANOUT_SLICE_NS);

	took = fanout_now_ns() - t0;
	cpu = cpu_now_ns() - c0;
	f->slices++;
	if (took > f->longest_slice_ns)
		f->longest_slice_ns = took;
	if (cpu > f->longest_slice_cpu_ns)
		f->longest_slice_cpu_ns = cpu;
	if (done)
		finish(f);
	return done;
}

static void on_timer(struct loop_timer *t)
{
	struct fanout *f = (struct fanout *)((char *)t - offsetof(struct fanout, timer));

	if (!slice(f))
		loop_timer_arm(&f->srv->loop, &f->timer, f->srv->loop.now_ms);
}

static void on_cancel(struct api_call *call)
{
	struct fanout *f = call->reg_data;

	if (f)
		f->call = NULL;
	call->reg_data = NULL;
}

void fanout_start(struct fanout *f, struct api_call *call)
{
	f->call = call;
	f->timer = (struct loop_timer){.on_fire = on_timer};
	list_insert_tail(&f->srv->fanouts, &f->link);
	call->reg_data = f;
	call->cancel = on_cancel;
	if (!slice(f))
		loop_timer_arm(&f->srv->loop, &f->timer, f->srv->loop.now_ms);
}

void fanout_fini_all(struct server *srv)
{
	struct list_node *n, *next;

	list_for_each_safe(n, next, &srv->fanouts)
	{
		struct fanout *f = list_entry(n, struct fanout, link);

		if (f->call) {
			f->call->reg_data = NULL;
			f->call->cancel = NULL;
		}
		f->call = NULL;
		list_remove(&f->link);
		loop_timer_disarm(&srv->loop, &f->timer);
		f->free_fn(f);
	}
}
