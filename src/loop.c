/* loop.c — owns the epoll instance, the loop-wide timers and the clocks.
 *
 * Never knows a protocol. Handlers run from loop_run; after each batch of
 * events the deferred list is freed (STYLE.md: deferred close: one list for
 * every kind of connection, so no pointer in the same batch can dangle),
 * then the after_batch hook runs. Before the frees, the deferred flushes
 * run: what a batch produced for one socket (say, 100 answers completed by
 * one read from Redis) leaves in one write, not in one write each. Level-triggered epoll: a handler reads once per wake-up.
 */
#include "loop.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#define LOOP_MAX_EVENTS 256

int loop_init(struct loop *l)
{
	*l = (struct loop){.epfd = epoll_create1(EPOLL_CLOEXEC)};
	l->deferred_tail = &l->deferred;
	list_init(&l->flushes);
	if (l->epfd < 0)
		return ERR_SYS;
	loop_update_time(l);
	return 0;
}

void loop_fini(struct loop *l)
{
	loop_reap(l);
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int loop_add(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return ERR_SYS;
	io->events = events;
	return 0;
}

int loop_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (io->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return ERR_SYS;
	io->events = events;
	return 0;
}

void loop_del(struct loop *l, struct loop_io *io)
{
	/* Closing the fd also removes it, but only once every dup is closed;
	 * be explicit so no event can arrive for a freed owner. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->events = 0;
}

void loop_defer_free(struct loop *l, struct loop_deferred *d, loop_free_fn fn)
{
	if (!l->deferred_tail) /* a loop set up field by field (unit tests) */
		l->deferred_tail = &l->deferred;
	d->next = NULL;
	d->free_fn = fn;
	*l->deferred_tail = d;
	l->deferred_tail = &d->next;
}

void loop_flush_init(struct loop_flush *f, loop_flush_fn fn)
{
	list_init(&f->node);
	f->fn = fn;
}

void loop_flush_later(struct loop *l, struct loop_flush *f)
{
	if (!l->flushes.next) /* a loop set up field by field (unit tests) */
		list_init(&l->flushes);
	if (f->node.next == &f->node)
		list_insert_tail(&l->flushes, &f->node);
}

void loop_flush_cancel(struct loop_flush *f)
{
	list_remove(&f->node);
}

void loop_run_flushes(struct loop *l)
{
	struct list_node *n;

	if (!l->flushes.next)
		return;
	/* Unqueued before its fn runs: fn may queue it again (say, a flush
	 * that completed calls whose answers go to the same socket). */
	while ((n = list_first(&l->flushes))) {
		struct loop_flush *f = list_entry(n, struct loop_flush, node);

		list_remove(n);
		f->fn(f);
	}
}

void loop_reap(struct loop *l)
{
	/* A free function may queue more (say, a session's last stream): the
	 * list is re-read after each one. */
	while (l->deferred) {
		struct loop_deferred *d = l->deferred;

		l->deferred = d->next;
		if (!l->deferred)
			l->deferred_tail = &l->deferred;
		d->free_fn(d);
	}
}

void loop_update_time(struct loop *l)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	l->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	l->now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	clock_gettime(CLOCK_REALTIME, &ts);
	l->now_wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **pp;

	if (!t->armed)
		return;
	for (pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = false;
	t->next = NULL;
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t deadline_ms)
{
	struct loop_timer **pp;

	loop_timer_disarm(l, t);
	t->deadline_ms = deadline_ms;
	t->gen = l->fire_gen;
	for (pp = &l->timers; *pp && (*pp)->deadline_ms <= deadline_ms; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

static int next_timeout(const struct loop *l)
{
	uint64_t d;

	if (!l->timers)
		return -1;
	d = l->timers->deadline_ms;
	if (d <= l->now_ms)
		return 0;
	d -= l->now_ms;
	return d > 60000 ? 60000 : (int)d;
}

static void fire_timers(struct loop *l)
{
	struct loop_timer **pp = &l->timers;
	uint64_t gen = ++l->fire_gen;

	/* A callback may re-arm itself or others: take one at a time, from
	 * the head again after each. One armed during this run (gen) waits
	 * for the next pass, so a timer re-armed for "now" cannot spin here. */
	while (*pp && (*pp)->deadline_ms <= l->now_ms) {
		struct loop_timer *t = *pp;

		if (t->gen == gen) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		t->next = NULL;
		t->armed = false;
		t->on_fire(t);
		pp = &l->timers;
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];

	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, next_timeout(l));

		if (n < 0 && errno != EINTR)
			return ERR_SYS;
		loop_update_time(l);
		for (int i = 0; i < n; i++) {
			struct loop_io *io = evs[i].data.ptr;

			io->on_event(io, evs[i].events);
		}
		fire_timers(l);
		loop_run_flushes(l);
		loop_reap(l);
		if (l->after_batch)
			l->after_batch(l->after_batch_arg);
	}
	return 0;
}
