/* test_conntab.c — unit tests for the intrusive connection table.
 *
 * Every lookup is checked against the exact node pointer, and check_table()
 * walks both arrays to verify the links (pprev of each node points at the
 * slot that points at it), the bucket of each node, that moved buckets are
 * empty, and that the count is true.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conntab.h"
#include "err.h"

struct item {
	char id[34];
	struct conntab_node node;
};

#define ITEM_OF(n) ((struct item *)((char *)(n)-offsetof(struct item, node)))

static struct conntab_key key_of(const struct conntab_node *n)
{
	const struct item *it =
	    (const struct item *)((const char *)n - offsetof(struct item, node));
	struct conntab_key k = {it->id, strlen(it->id)};
	return k;
}

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	/* xorshift64* — deterministic, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void random_id(char *id)
{
	static const char alphabet[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	for (int i = 0; i < 33; i++)
		id[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
	id[33] = '\0';
}

static struct conntab_node *find_id(struct conntab *t, const char *id)
{
	return conntab_find(t, id, strlen(id));
}

static size_t check_array(const struct conntab *t, int a)
{
	size_t total = 0;

	for (size_t b = 0; b < t->size[a]; b++) {
		struct conntab_node *const *slot = &t->buckets[a][b];
		if (a == 0 && t->buckets[1] && b < t->rehash_pos)
			assert_null(*slot); /* already moved */
		for (struct conntab_node *n = *slot; n; n = n->next) {
			assert_ptr_equal(n->pprev, slot);
			assert_int_equal(conntab_hash(t, n) & (t->size[a] - 1), b);
			slot = &n->next;
			total++;
		}
	}
	return total;
}

/* Verifies every link of the table; returns the number of nodes. */
static size_t check_table(const struct conntab *t)
{
	size_t total = check_array(t, 0);

	if (t->buckets[1]) {
		assert_int_equal(t->size[1], 2 * t->size[0]);
		assert_true(t->rehash_pos < t->size[0]);
		total += check_array(t, 1);
	} else {
		assert_int_equal(t->size[1], 0);
	}
	assert_int_equal(total, conntab_count(t));
	return total;
}

static int insert_id(struct conntab *t, struct item *it, const char *id)
{
	strcpy(it->id, id);
	return conntab_insert(t, &it->node);
}

static void test_basic(void **state)
{
	(void)state;
	struct conntab t;
	struct item a, b, c;

	assert_int_equal(conntab_init(&t, 16, 42, key_of), 0);
	assert_int_equal(conntab_count(&t), 0);
	assert_int_equal(insert_id(&t, &a, "alpha"), 0);
	assert_int_equal(insert_id(&t, &b, "bravo"), 0);
	assert_int_equal(insert_id(&t, &c, "charlie"), 0);
	assert_int_equal(conntab_count(&t), 3);
	assert_ptr_equal(find_id(&t, "alpha"), &a.node);
	assert_ptr_equal(find_id(&t, "bravo"), &b.node);
	assert_ptr_equal(find_id(&t, "charlie"), &c.node);
	assert_ptr_equal(ITEM_OF(find_id(&t, "bravo")), &b);
	check_table(&t);

	conntab_remove(&t, &b.node);
	assert_int_equal(conntab_count(&t), 2);
	assert_null(find_id(&t, "bravo"));
	assert_ptr_equal(find_id(&t, "alpha"), &a.node);
	assert_ptr_equal(find_id(&t, "charlie"), &c.node);
	check_table(&t);

	/* re-insert after remove */
	assert_int_equal(conntab_insert(&t, &b.node), 0);
	assert_ptr_equal(find_id(&t, "bravo"), &b.node);
	conntab_remove(&t, &a.node);
	conntab_remove(&t, &b.node);
	conntab_remove(&t, &c.node);
	assert_int_equal(conntab_count(&t), 0);
	assert_null(find_id(&t, "alpha"));
	check_table(&t);
	conntab_fini(&t);
}

static void test_find_missing(void **state)
{
	(void)state;
	struct conntab t;
	struct item a;

	assert_int_equal(conntab_init(&t, 0, 7, key_of), 0);
	assert_null(find_id(&t, "nothing"));
	assert_null(conntab_find(&t, "", 0));
	assert_int_equal(insert_id(&t, &a, "present"), 0);
	assert_null(find_id(&t, "absent"));
	assert_null(find_id(&t, "Present"));
	assert_null(find_id(&t, "presenT"));
	assert_null(conntab_find(&t, "", 0));
	assert_ptr_equal(find_id(&t, "present"), &a.node);
	conntab_fini(&t);
}

static void test_prefix_lengths(void **state)
{
	(void)state;
	/* lengths around the 8-byte word boundary of the hash */
	static const char *ids[] = {"a",         "abcdefg",          "abcdefgh",
	                            "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq"};
	enum { N = sizeof(ids) / sizeof(ids[0]) };
	struct item items[N];
	struct conntab t;

	assert_int_equal(conntab_init(&t, 4, 99, key_of), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(insert_id(&t, &items[i], ids[i]), 0);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(find_id(&t, ids[i]), &items[i].node);
	/* same bytes, other lengths: only exact lengths match */
	const char *longest = ids[N - 1];
	assert_ptr_equal(conntab_find(&t, longest, 1), &items[0].node);
	assert_ptr_equal(conntab_find(&t, longest, 8), &items[2].node);
	assert_ptr_equal(conntab_find(&t, longest, 9), &items[3].node);
	assert_null(conntab_find(&t, longest, 0));
	assert_null(conntab_find(&t, longest, 2));
	assert_null(conntab_find(&t, longest, 10));
	assert_null(conntab_find(&t, "abcdefghijklmnopqr", 18));
	conntab_remove(&t, &items[2].node);
	assert_null(conntab_find(&t, longest, 8));
	assert_ptr_equal(conntab_find(&t, longest, 9), &items[3].node);
	assert_ptr_equal(conntab_find(&t, longest, 7), &items[1].node);
	check_table(&t);
	conntab_fini(&t);
}

static void test_arbitrary_bytes(void **state)
{
	(void)state;
	struct conntab t;
	struct item a, b;
	char key[34];

	for (int i = 0; i < 33; i++)
		key[i] = (char)(0xff - i * 7); /* 0xff, 0xf8, ... 0x1f: no NUL */
	key[33] = '\0';
	assert_int_equal(conntab_init(&t, 8, 1234, key_of), 0);
	assert_int_equal(insert_id(&t, &a, key), 0);
	key[32] = (char)0x80;
	assert_null(find_id(&t, key));
	assert_int_equal(insert_id(&t, &b, key), 0);
	assert_ptr_equal(find_id(&t, key), &b.node);
	key[32] = (char)(0xff - 32 * 7);
	assert_ptr_equal(find_id(&t, key), &a.node);
	key[0] = 0x01;
	assert_null(find_id(&t, key));
	conntab_fini(&t);
}

static void test_seed_changes_hash(void **state)
{
	(void)state;
	struct conntab t1, t2;
	struct item a, b;
	int same_bucket = 0;

	assert_int_equal(conntab_init(&t1, 1024, 1, key_of), 0);
	assert_int_equal(conntab_init(&t2, 1024, 2, key_of), 0);
	for (int i = 0; i < 64; i++) {
		random_id(a.id);
		memcpy(b.id, a.id, sizeof(a.id));
		assert_int_equal(conntab_insert(&t1, &a.node), 0);
		assert_int_equal(conntab_insert(&t2, &b.node), 0);
		uint64_t ha = conntab_hash(&t1, &a.node), hb = conntab_hash(&t2, &b.node);

		assert_int_not_equal(ha, hb);
		same_bucket += (ha & 1023) == (hb & 1023);
		conntab_remove(&t1, &a.node);
		conntab_remove(&t2, &b.node);
	}
	assert_true(same_bucket < 4);
	conntab_fini(&t1);
	conntab_fini(&t2);
}

enum { CHAIN_ITEMS = 512 };

/* Fills a settled table and returns the first chain of at least 3 nodes. */
static struct conntab_node **fill_for_chains(struct conntab *t, struct item *items)
{
	assert_int_equal(conntab_init(t, 8, 5, key_of), 0);
	for (int i = 0; i < CHAIN_ITEMS; i++) {
		random_id(items[i].id);
		assert_int_equal(conntab_insert(t, &items[i].node), 0);
	}
	conntab_rehash_step(t, SIZE_MAX);
	assert_null(t->buckets[1]);
	for (size_t b = 0; b < t->size[0]; b++) {
		struct conntab_node *n = t->buckets[0][b];
		if (n && n->next && n->next->next)
			return &t->buckets[0][b];
	}
	fail_msg("no chain of 3 among %d items", CHAIN_ITEMS);
	return NULL;
}

static void check_all_but(struct conntab *t, struct item *items, struct conntab_node *gone)
{
	for (int i = 0; i < CHAIN_ITEMS; i++) {
		struct conntab_node *want = &items[i].node == gone ? NULL : &items[i].node;
		assert_ptr_equal(find_id(t, items[i].id), want);
	}
	check_table(t);
}

static void test_remove_chain_head(void **state)
{
	(void)state;
	static struct item items[CHAIN_ITEMS];
	struct conntab t;
	struct conntab_node **slot = fill_for_chains(&t, items);
	struct conntab_node *head = *slot, *second = head->next;

	conntab_remove(&t, head);
	assert_ptr_equal(*slot, second);
	assert_ptr_equal(second->pprev, slot);
	assert_null(head->pprev);
	assert_int_equal(conntab_count(&t), CHAIN_ITEMS - 1);
	check_all_but(&t, items, head);
	conntab_fini(&t);
}

static void test_remove_chain_middle(void **state)
{
	(void)state;
	static struct item items[CHAIN_ITEMS];
	struct conntab t;
	struct conntab_node **slot = fill_for_chains(&t, items);
	struct conntab_node *head = *slot, *mid = head->next, *third = mid->next;

	conntab_remove(&t, mid);
	assert_ptr_equal(*slot, head);
	assert_ptr_equal(head->next, third);
	assert_ptr_equal(third->pprev, &head->next);
	check_all_but(&t, items, mid);
	conntab_fini(&t);
}

static void test_remove_chain_tail(void **state)
{
	(void)state;
	static struct item items[CHAIN_ITEMS];
	struct conntab t;
	struct conntab_node **slot = fill_for_chains(&t, items);
	struct conntab_node *head = *slot, *prev = head, *tail;

	while (prev->next->next)
		prev = prev->next;
	tail = prev->next;
	conntab_remove(&t, tail);
	assert_null(prev->next);
	assert_ptr_equal(*slot, head);
	assert_ptr_equal(head->next->pprev, &head->next);
	check_all_but(&t, items, tail);
	conntab_fini(&t);
}

/* Growth starts when count exceeds twice the size; the nodes wait in the
 * old array until moved, and can be removed from there. */
static void test_growth_steps(void **state)
{
	(void)state;
	struct item items[17];
	struct conntab t;

	assert_int_equal(conntab_init(&t, 8, 77, key_of), 0);
	for (int i = 0; i < 16; i++) {
		random_id(items[i].id);
		assert_int_equal(conntab_insert(&t, &items[i].node), 0);
	}
	assert_null(t.buckets[1]);
	random_id(items[16].id);
	assert_int_equal(conntab_insert(&t, &items[16].node), 0);
	assert_non_null(t.buckets[1]);
	assert_int_equal(t.size[1], 16);
	assert_int_equal(t.rehash_pos, 0);
	check_table(&t);

	conntab_rehash_step(&t, 0);
	assert_int_equal(t.rehash_pos, 0);
	conntab_rehash_step(&t, 1);
	assert_int_equal(t.rehash_pos, 1);
	check_table(&t);

	/* remove a node still in the old array, by pprev */
	int victim = -1;
	for (int i = 0; i < 17 && victim < 0; i++)
		if ((conntab_hash(&t, &items[i].node) & 7) >= t.rehash_pos)
			victim = i;
	assert_true(victim >= 0);
	conntab_remove(&t, &items[victim].node); /* also moves 4 buckets */
	assert_int_equal(t.rehash_pos, 5);
	check_table(&t);
	for (int i = 0; i < 17; i++)
		assert_ptr_equal(find_id(&t, items[i].id), i == victim ? NULL : &items[i].node);

	conntab_rehash_step(&t, SIZE_MAX);
	assert_null(t.buckets[1]);
	assert_int_equal(t.size[0], 16);
	assert_int_equal(t.rehash_pos, 0);
	assert_int_equal(check_table(&t), 16);
	conntab_fini(&t);
}

enum { BIG = 100000 };

static void check_all_present(struct conntab *t, struct item *items, const char *present, int n)
{
	for (int i = 0; i < n; i++) {
		struct conntab_node *want = present[i] ? &items[i].node : NULL;
		assert_ptr_equal(find_id(t, items[i].id), want);
	}
}

static void test_growth_100k(void **state)
{
	(void)state;
	struct item *items = calloc(BIG, sizeof(*items));
	char *present = calloc(BIG, 1);
	struct conntab t;
	bool was_growing = false;
	int growths = 0;

	assert_non_null(items);
	assert_non_null(present);
	assert_int_equal(conntab_init(&t, 16, 0xfeedULL, key_of), 0);
	for (int i = 0; i < BIG; i++) {
		random_id(items[i].id);
		assert_int_equal(conntab_insert(&t, &items[i].node), 0);
		present[i] = 1;
		assert_ptr_equal(find_id(&t, items[i].id), &items[i].node);
		int j = (int)(rnd() % (uint64_t)(i + 1));
		assert_ptr_equal(find_id(&t, items[j].id), &items[j].node);
		bool growing = t.buckets[1] != NULL;
		if (growing && !was_growing) {
			/* links only: a full find sweep would finish the growth */
			growths++;
			check_table(&t);
		} else if (!growing && was_growing) {
			check_table(&t);
			check_all_present(&t, items, present, i + 1);
		} else if (growing && i % 1009 == 0) {
			check_table(&t);
		}
		was_growing = t.buckets[1] != NULL;
	}
	assert_int_equal(conntab_count(&t), BIG);
	assert_int_equal(growths, 12); /* 16 -> 65536: at most 2 nodes per bucket */
	conntab_rehash_step(&t, SIZE_MAX);
	assert_null(t.buckets[1]);
	assert_int_equal(t.size[0], 65536);
	assert_int_equal(check_table(&t), BIG);
	check_all_present(&t, items, present, BIG);
	assert_null(find_id(&t, "not-an-id-000000000000000000000000"));
	conntab_fini(&t);
	free(items);
	free(present);
}

/* Inserts with interleaved removes and explicit rehash steps; every removed
 * id must vanish and every present one stay, wherever growth stands. */
static void test_growth_interleaved(void **state)
{
	(void)state;
	enum { N = 60000 };
	struct item *items = calloc(N, sizeof(*items));
	char *present = calloc(N, 1);
	struct conntab t;
	size_t live = 0, removed_during_growth = 0;

	assert_non_null(items);
	assert_non_null(present);
	assert_int_equal(conntab_init(&t, 8, 0xabcdefULL, key_of), 0);
	for (int i = 0; i < N; i++) {
		random_id(items[i].id);
		assert_int_equal(conntab_insert(&t, &items[i].node), 0);
		present[i] = 1;
		live++;
		if (i % 3 == 2) {
			int j = (int)(rnd() % (uint64_t)(i + 1));
			if (present[j]) {
				removed_during_growth += t.buckets[1] != NULL;
				conntab_remove(&t, &items[j].node);
				present[j] = 0;
				live--;
				assert_null(find_id(&t, items[j].id));
			}
		}
		if (i % 7 == 0)
			conntab_rehash_step(&t, 1 + rnd() % 3);
		if (i % 4999 == 0) {
			check_table(&t);
			check_all_present(&t, items, present, i + 1);
		}
		assert_int_equal(conntab_count(&t), live);
	}
	assert_true(removed_during_growth > 100);
	check_table(&t);
	check_all_present(&t, items, present, N);
	/* empty the table while a growth may still be pending */
	for (int i = 0; i < N; i++)
		if (present[i])
			conntab_remove(&t, &items[i].node);
	assert_int_equal(conntab_count(&t), 0);
	assert_int_equal(check_table(&t), 0);
	for (int i = 0; i < N; i += 97)
		assert_null(find_id(&t, items[i].id));
	conntab_fini(&t);
	free(items);
	free(present);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_find_missing),
	    cmocka_unit_test(test_prefix_lengths),
	    cmocka_unit_test(test_arbitrary_bytes),
	    cmocka_unit_test(test_seed_changes_hash),
	    cmocka_unit_test(test_remove_chain_head),
	    cmocka_unit_test(test_remove_chain_middle),
	    cmocka_unit_test(test_remove_chain_tail),
	    cmocka_unit_test(test_growth_steps),
	    cmocka_unit_test(test_growth_100k),
	    cmocka_unit_test(test_growth_interleaved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
