/* test_pagetok — the ListConnections page token: round trips, canonical
 * text only, every single-character change refused or decoded to another
 * position, the check value bound to the filters; and connidx, the seq
 * order the token points into: holes, compaction, lower bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connidx.h"
#include "err.h"
#include "pagetok.h"

static void test_round_trip(void **state)
{
	static const uint64_t seqs[] = {0, 1, 2, 255, 256, 1u << 31, UINT64_MAX - 1, UINT64_MAX};
	char t[PAGETOK_LEN + 1];
	uint64_t seq, check;

	(void)state;
	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
		uint64_t c = pagetok_check_init(42, seqs[i]);

		assert_int_equal(pagetok_encode(seqs[i], c, t), PAGETOK_LEN);
		assert_int_equal(strlen(t), PAGETOK_LEN);
		assert_int_equal(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                           "0123456789-_"),
		                 PAGETOK_LEN);
		assert_int_equal(pagetok_decode(t, strlen(t), &seq, &check), 0);
		assert_true(seq == seqs[i]);
		assert_true(check == c);
	}
}

static void test_refused(void **state)
{
	char t[PAGETOK_LEN + 2];
	uint64_t seq, check;

	(void)state;
	pagetok_encode(77, 99, t);
	/* every prefix (and the empty text) is refused */
	for (size_t n = 0; n < PAGETOK_LEN; n++)
		assert_int_equal(pagetok_decode(t, n, &seq, &check), ERR_INVAL);
	/* one more character */
	t[PAGETOK_LEN] = 'A';
	assert_int_equal(pagetok_decode(t, PAGETOK_LEN + 1, &seq, &check), ERR_INVAL);
	/* characters outside base64url */
	pagetok_encode(77, 99, t);
	for (size_t i = 0; i < PAGETOK_LEN; i++) {
		char keep = t[i];

		t[i] = '+';
		assert_int_equal(pagetok_decode(t, PAGETOK_LEN, &seq, &check), ERR_INVAL);
		t[i] = '=';
		assert_int_equal(pagetok_decode(t, PAGETOK_LEN, &seq, &check), ERR_INVAL);
		t[i] = keep;
	}
	/* another version byte */
	t[0] = 'B';
	assert_int_equal(pagetok_decode(t, PAGETOK_LEN, &seq, &check), ERR_INVAL);
	/* non-canonical last character: its unused low bits set */
	pagetok_encode(77, 98, t);
	t[PAGETOK_LEN - 1] = (char)(t[PAGETOK_LEN - 1] + 1);
	assert_int_equal(pagetok_decode(t, PAGETOK_LEN, &seq, &check), ERR_INVAL);
}

/* Any one-character change either is refused or no longer matches its
 * check value: a mangled token never lists from a wrong position. */
static void test_mangled(void **state)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char t[PAGETOK_LEN + 1];
	uint64_t seq, check, secret = 0x1234;

	(void)state;
	pagetok_encode(1000, pagetok_check_init(secret, 1000), t);
	for (size_t i = 0; i < PAGETOK_LEN; i++) {
		char keep = t[i];

		for (const char *a = alpha; *a; a++) {
			if (*a == keep)
				continue;
			t[i] = *a;
			if (pagetok_decode(t, PAGETOK_LEN, &seq, &check) == 0)
				assert_true(check != pagetok_check_init(secret, seq) ||
				            seq == 1000);
		}
		t[i] = keep;
	}
}

static void test_check_binds_filters(void **state)
{
	uint64_t a, b, c, d;

	(void)state;
	a = pagetok_check_add(pagetok_check_init(1, 5), "ab", 2);
	a = pagetok_check_add(a, "c", 1);
	b = pagetok_check_add(pagetok_check_init(1, 5), "a", 1);
	b = pagetok_check_add(b, "bc", 2);
	assert_true(a != b); /* field boundaries count */
	c = pagetok_check_add(pagetok_check_init(2, 5), "ab", 2);
	c = pagetok_check_add(c, "c", 1);
	assert_true(a != c); /* another process' secret */
	d = pagetok_check_add(pagetok_check_init(1, 6), "ab", 2);
	d = pagetok_check_add(d, "c", 1);
	assert_true(a != d); /* another position */
}

/* connidx's elements: the seq is read from the element itself. */
struct elem {
	uint64_t seq;
};

static uint64_t elem_seq(const void *p)
{
	return ((const struct elem *)p)->seq;
}

static void test_connidx(void **state)
{
	struct connidx x = {.seq_of = elem_seq};
	static struct elem dummy[3000];

	(void)state;
	for (int i = 0; i < 3000; i++) {
		dummy[i].seq = (uint64_t)(i * 2 + 1);
		assert_int_equal(connidx_append(&x, dummy[i].seq, &dummy[i]), 0);
	}
	assert_int_equal(connidx_lower_bound(&x, 0), 0);
	assert_int_equal(connidx_lower_bound(&x, 2), 1);
	assert_int_equal(connidx_lower_bound(&x, 5999), 2999);
	assert_int_equal(connidx_lower_bound(&x, 6000), 3000);
	/* remove every odd-indexed entry, and more: compaction keeps order */
	for (int i = 0; i < 3000; i += 2)
		connidx_remove(&x, (uint64_t)(i * 2 + 1));
	connidx_remove(&x, 5);     /* removed already: harmless */
	connidx_remove(&x, 12345); /* absent */
	assert_int_equal(x.live, 1500);
	for (size_t i = 1; i < x.len; i++)
		assert_true(connidx_seq(&x, i - 1) < connidx_seq(&x, i));
	for (int i = 1; i < 3000; i += 2) {
		size_t k = connidx_lower_bound(&x, (uint64_t)(i * 2 + 1));

		assert_true(k < x.len);
		assert_ptr_equal(connidx_at(&x, k), &dummy[i]);
	}
	/* a position between entries finds the next live one */
	{
		size_t k = connidx_lower_bound(&x, 2);

		while (k < x.len && !connidx_at(&x, k))
			k++;
		assert_ptr_equal(connidx_at(&x, k), &dummy[1]);
	}
	for (int i = 1; i < 3000; i += 2)
		connidx_remove(&x, (uint64_t)(i * 2 + 1));
	assert_int_equal(x.live, 0);
	assert_true(x.len < 100);
	connidx_fini(&x);
}

/* Version 2 (cluster mode): the node tag round-trips with seq and check;
 * each version refuses the other's text; every prefix, an extra
 * character, a non-canonical last character are refused; any one
 * character changed is refused or decodes to other values. */
static void test_node_token(void **state)
{
	static const uint64_t seqs[] = {0, 1, 1u << 31, UINT64_MAX - 1, UINT64_MAX};
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char t[PAGETOK_NODE_LEN + 2], tag[PAGETOK_TAG_LEN];
	uint64_t seq, check;

	(void)state;
	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
		assert_int_equal(pagetok_node_encode("abz267", seqs[i], ~seqs[i], t),
		                 PAGETOK_NODE_LEN);
		assert_int_equal(strlen(t), PAGETOK_NODE_LEN);
		assert_int_equal(strspn(t, alpha), PAGETOK_NODE_LEN);
		assert_int_equal(pagetok_node_decode(t, PAGETOK_NODE_LEN, tag, &seq, &check), 0);
		assert_memory_equal(tag, "abz267", PAGETOK_TAG_LEN);
		assert_true(seq == seqs[i] && check == ~seqs[i]);
		/* not a version-1 token, whatever its length */
		assert_int_equal(pagetok_decode(t, PAGETOK_NODE_LEN, &seq, &check), ERR_INVAL);
	}
	pagetok_encode(77, 99, t);
	assert_int_equal(pagetok_node_decode(t, PAGETOK_LEN, tag, &seq, &check), ERR_INVAL);
	pagetok_node_encode("qqqqqq", 77, 99, t);
	for (size_t n = 0; n < PAGETOK_NODE_LEN; n++)
		assert_int_equal(pagetok_node_decode(t, n, tag, &seq, &check), ERR_INVAL);
	t[PAGETOK_NODE_LEN] = 'A';
	assert_int_equal(pagetok_node_decode(t, PAGETOK_NODE_LEN + 1, tag, &seq, &check),
	                 ERR_INVAL);
	/* 23 bytes: the last character carries 4 unused bits */
	pagetok_node_encode("qqqqqq", 77, 98, t);
	t[PAGETOK_NODE_LEN - 1] = (char)(t[PAGETOK_NODE_LEN - 1] + 1);
	assert_int_equal(pagetok_node_decode(t, PAGETOK_NODE_LEN, tag, &seq, &check), ERR_INVAL);
	for (size_t i = 0; i < PAGETOK_NODE_LEN; i++)
		for (size_t k = 0; k < 64; k++) {
			char keep;

			pagetok_node_encode("qqqqqq", 77, 99, t);
			keep = t[i];
			if (alpha[k] == keep)
				continue;
			t[i] = alpha[k];
			if (pagetok_node_decode(t, PAGETOK_NODE_LEN, tag, &seq, &check) == 0)
				assert_true(memcmp(tag, "qqqqqq", PAGETOK_TAG_LEN) || seq != 77 ||
				            check != 99);
		}
}

/* A hole keeps its seq (in the entry itself, the element may be gone), so
 * the search still orders by it before any compaction. */
static void test_connidx_holes(void **state)
{
	struct connidx x = {.seq_of = elem_seq};
	static struct elem e[10];

	(void)state;
	for (int i = 0; i < 10; i++) {
		e[i].seq = (uint64_t)(i * 10 + 10);
		assert_int_equal(connidx_append(&x, e[i].seq, &e[i]), 0);
	}
	connidx_remove(&x, 20);
	connidx_remove(&x, 40);
	e[1].seq = e[3].seq = 999; /* the elements are gone: not read again */
	assert_int_equal(x.len, 10);
	assert_int_equal(x.live, 8);
	assert_null(connidx_at(&x, 1));
	assert_int_equal(connidx_seq(&x, 1), 20);
	assert_int_equal(connidx_seq(&x, 3), 40);
	assert_int_equal(connidx_lower_bound(&x, 20), 1);
	assert_int_equal(connidx_lower_bound(&x, 21), 2);
	assert_int_equal(connidx_lower_bound(&x, 40), 3);
	assert_int_equal(connidx_lower_bound(&x, 41), 4);
	assert_int_equal(connidx_lower_bound(&x, 100), 9);
	assert_ptr_equal(connidx_at(&x, 4), &e[4]);
	connidx_remove(&x, 20); /* a hole already */
	assert_int_equal(x.live, 8);
	connidx_remove(&x, 100); /* the newest: no hole left behind */
	assert_int_equal(x.len, 9);
	connidx_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip), cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_mangled),    cmocka_unit_test(test_check_binds_filters),
	    cmocka_unit_test(test_connidx),    cmocka_unit_test(test_node_token),
	    cmocka_unit_test(test_connidx_holes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
