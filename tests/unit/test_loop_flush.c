/* test_loop_flush.c — unit tests for loop.c's deferred flushes: a flush
 * queued many times in a batch runs once, in queue order; one cancelled
 * does not run; one queued from a flush (itself included) runs in the same
 * pass; a loop set up field by field (no loop_init) takes them too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "loop.h"

struct probe {
	struct loop_flush f;
	struct loop *loop;
	int runs;
	int requeue;          /* times it queues itself again from its fn */
	struct probe *queues; /* another one it queues from its fn */
};

static char order[16];
static size_t norder;

static void on_flush(struct loop_flush *f)
{
	struct probe *p = (struct probe *)((char *)f - offsetof(struct probe, f));

	p->runs++;
	if (norder < sizeof order - 1)
		order[norder++] = (char)('a' + p->runs - 1);
	if (p->requeue-- > 0)
		loop_flush_later(p->loop, &p->f);
	if (p->queues)
		loop_flush_later(p->loop, &p->queues->f);
}

static void probe_init(struct probe *p, struct loop *l)
{
	memset(p, 0, sizeof *p);
	p->loop = l;
	loop_flush_init(&p->f, on_flush);
}

static void test_once_in_order(void **state)
{
	struct loop l;
	struct probe a, b, c;

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	probe_init(&a, &l), probe_init(&b, &l), probe_init(&c, &l);
	loop_flush_later(&l, &b.f);
	loop_flush_later(&l, &a.f);
	loop_flush_later(&l, &b.f); /* already queued: no second run */
	loop_flush_later(&l, &c.f);
	loop_flush_cancel(&c.f); /* its owner flushed by itself */
	loop_flush_cancel(&c.f); /* twice is harmless */
	a.queues = &c;           /* ... and queued from a flush: runs this pass */
	loop_run_flushes(&l);
	assert_int_equal(a.runs, 1);
	assert_int_equal(b.runs, 1);
	assert_int_equal(c.runs, 1);
	loop_run_flushes(&l); /* nothing left */
	assert_int_equal(a.runs + b.runs + c.runs, 3);
	loop_fini(&l);
}

static void test_requeue_self(void **state)
{
	struct loop l;
	struct probe a;

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	probe_init(&a, &l);
	a.requeue = 2;
	norder = 0;
	loop_flush_later(&l, &a.f);
	loop_run_flushes(&l);
	assert_int_equal(a.runs, 3);
	assert_memory_equal(order, "abc", 3);
	loop_fini(&l);
}

static void test_loop_without_init(void **state)
{
	struct loop l;
	struct probe a;

	(void)state;
	memset(&l, 0, sizeof l);
	loop_run_flushes(&l); /* nothing queued, list never set up */
	probe_init(&a, &l);
	loop_flush_later(&l, &a.f);
	loop_run_flushes(&l);
	assert_int_equal(a.runs, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_once_in_order),
	    cmocka_unit_test(test_requeue_self),
	    cmocka_unit_test(test_loop_without_init),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
