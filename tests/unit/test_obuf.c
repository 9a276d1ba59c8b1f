/* test_obuf — the output queue: append, consume in any pieces, compaction
 * before growth, freed (NULL) exactly when empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "obuf.h"

static void test_empty_is_null(void **state)
{
	struct obuf *b = NULL;

	(void)state;
	assert_int_equal(obuf_pending(b), 0);
	assert_null(obuf_data(b));
	assert_int_equal(obuf_append(&b, "", 0), 0);
	assert_null(b); /* appending nothing allocates nothing */
	obuf_consume(&b, 10);
	assert_null(b);
}

static void test_append_consume_frees(void **state)
{
	struct obuf *b = NULL;

	(void)state;
	assert_int_equal(obuf_append(&b, "hello", 5), 0);
	assert_non_null(b);
	assert_int_equal(obuf_pending(b), 5);
	assert_memory_equal(obuf_data(b), "hello", 5);
	obuf_consume(&b, 2);
	assert_int_equal(obuf_pending(b), 3);
	assert_memory_equal(obuf_data(b), "llo", 3);
	obuf_consume(&b, 3);
	assert_null(b);
}

static void test_over_consume_frees(void **state)
{
	struct obuf *b = NULL;

	(void)state;
	assert_int_equal(obuf_append(&b, "abc", 3), 0);
	obuf_consume(&b, 100);
	assert_null(b);
}

/* Streams 1 MiB through the queue in odd-sized appends and consumes and
 * checks every byte comes out once, in order. */
static void test_stream_order(void **state)
{
	struct obuf *b = NULL;
	uint8_t chunk[4099];
	size_t in = 0, out = 0, total = 1 << 20;

	(void)state;
	while (out < total) {
		size_t n = (in * 7 + 13) % sizeof chunk + 1;

		if (in < total) {
			if (n > total - in)
				n = total - in;
			for (size_t i = 0; i < n; i++)
				chunk[i] = (uint8_t)((in + i) * 31);
			assert_int_equal(obuf_append(&b, chunk, n), 0);
			in += n;
		}
		size_t take = obuf_pending(b) / 2 + 1;
		if (take > obuf_pending(b))
			take = obuf_pending(b);
		for (size_t i = 0; i < take; i++)
			assert_int_equal(obuf_data(b)[i], (uint8_t)((out + i) * 31));
		obuf_consume(&b, take);
		out += take;
		assert_int_equal(obuf_pending(b), in - out);
	}
	assert_null(b);
}

static void test_obuf_free(void **state)
{
	struct obuf *b = NULL;

	(void)state;
	assert_int_equal(obuf_append(&b, "x", 1), 0);
	obuf_free(&b);
	assert_null(b);
	obuf_free(&b); /* idempotent */
}

/* A shared frame lives while any holder has it. */
static void test_shared(void **state)
{
	struct obuf_shared *f = obuf_shared_new(3), *g;

	(void)state;
	assert_non_null(f);
	assert_int_equal(f->refs, 1);
	memcpy(f->data, "abc", 3);
	g = obuf_shared_get(f);
	assert_ptr_equal(f, g);
	assert_int_equal(f->refs, 2);
	obuf_shared_put(f);
	assert_memory_equal(g->data, "abc", 3); /* still alive (ASan would tell) */
	obuf_shared_put(g);
	obuf_shared_put(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_null),
		cmocka_unit_test(test_append_consume_frees),
		cmocka_unit_test(test_over_consume_frees),
		cmocka_unit_test(test_stream_order),
		cmocka_unit_test(test_obuf_free),
		cmocka_unit_test(test_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
