/* loop.h — the event loop: the only caller of epoll_*, a small timer list,
 * a cached clock, the deferred-flush list (output produced during a batch
 * is written once, after the batch) and the deferred-close list: whatever
 * closes during a batch of events is freed after the batch, by the loop.
 * It knows no protocol.
 */
#ifndef WSGW_LOOP_H
#define WSGW_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "list.h"

struct loop_io;
typedef void (*loop_io_fn)(struct loop_io *io, uint32_t events);

/* Embedded in whatever owns an fd; epoll's data.ptr points here. */
struct loop_io {
	int fd;
	uint32_t events; /* the mask currently registered */
	loop_io_fn on_event;
};

struct loop_timer;
typedef void (*loop_timer_fn)(struct loop_timer *t);

/* Embedded one-shot timer; the few loop-wide timers live on a sorted list
 * (per-connection deadlines are handled by a coarse sweep, not here). */
struct loop_timer {
	uint64_t deadline_ms;
	loop_timer_fn on_fire;
	struct loop_timer *next;
	bool armed;
	uint64_t gen; /* loop.fire_gen when armed: one armed while timers fire waits a pass */
};

struct loop_deferred;
typedef void (*loop_free_fn)(struct loop_deferred *d);

/* Embedded in anything closed during a batch (a connection of either port,
 * a backend socket): queued by loop_defer_free, freed by its free_fn after
 * the batch, so no event or caller in the same batch holds a freed pointer. */
struct loop_deferred {
	struct loop_deferred *next;
	loop_free_fn free_fn;
};

struct loop_flush;
typedef void (*loop_flush_fn)(struct loop_flush *f);

/* Embedded in anything whose output may be produced many times in one batch
 * (a management session answering calls completed by a Redis read, a Redis
 * link queueing commands): queued once by loop_flush_later, its fn runs once
 * after the batch, so the batch's output leaves in one write. */
struct loop_flush {
	struct list_node node; /* in loop.flushes while queued; self-linked otherwise */
	loop_flush_fn fn;
};

struct loop {
	int epfd;
	bool stop;
	uint64_t now_ms;      /* monotonic, refreshed after every epoll_wait */
	int64_t now_wall_ns;  /* CLOCK_REALTIME, refreshed with now_ms */
	uint64_t now_ns;      /* monotonic ns, refreshed with now_ms (latency metrics) */
	struct loop_timer *timers;
	uint64_t fire_gen; /* counts fire_timers runs */
	struct loop_deferred *deferred, **deferred_tail; /* FIFO, freed after the batch */
	struct list_node flushes;       /* struct loop_flush, FIFO, run after the batch */
	void (*after_batch)(void *arg); /* runs after each batch, after the frees */
	void *after_batch_arg;
};

int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Register / change / remove io->fd. Return 0 or ERR_SYS. */
int loop_add(struct loop *l, struct loop_io *io, uint32_t events);
int loop_mod(struct loop *l, struct loop_io *io, uint32_t events);
void loop_del(struct loop *l, struct loop_io *io);

/* Arms t to fire at deadline_ms (monotonic ms); re-arming moves it. A
 * timer armed from a timer callback for "now" fires in the next loop pass,
 * after the loop has polled its sockets: work sliced that way (fanout.c)
 * lets other traffic through between slices. */
void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t deadline_ms);
void loop_timer_disarm(struct loop *l, struct loop_timer *t);

/* Queues d to be freed by fn(d) after the current batch of events (or at the
 * next loop_reap). d must not be queued twice; fn may queue more. */
void loop_defer_free(struct loop *l, struct loop_deferred *d, loop_free_fn fn);

/* Queues f (fn runs once after the current batch of events and timers,
 * before the frees); queuing it again before then does nothing. fn may
 * queue flushes, f included (they run in the same pass). f must be
 * initialised with loop_flush_init and cancelled before its owner is freed. */
void loop_flush_init(struct loop_flush *f, loop_flush_fn fn);
void loop_flush_later(struct loop *l, struct loop_flush *f);
/* Unqueues f (its owner flushed by itself, or is going away); harmless when
 * f is not queued. */
void loop_flush_cancel(struct loop_flush *f);
/* Runs every queued flush, the ones they queue included. Called by loop_run
 * after each batch; for anything that must see the output out now. */
void loop_run_flushes(struct loop *l);

/* Frees everything queued so far, in queue order. Called by loop_run after
 * each batch, and at shutdown outside the loop; never from a handler. */
void loop_reap(struct loop *l);

/* Refreshes the cached clocks. */
void loop_update_time(struct loop *l);

/* Runs until loop->stop is set. Returns 0, or ERR_SYS if epoll_wait fails. */
int loop_run(struct loop *l);

#endif
