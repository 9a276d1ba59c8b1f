/* test_list — the intrusive list: order of insertion at either end,
 * removal from the middle and the ends, removal while iterating, moving an
 * element between lists, and removing a node twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "list.h"

struct item {
	int value;
	struct list_node link;
};

/* Writes head's values, in order, into out; returns how many. */
static int values(const struct list_node *head, int *out, int max)
{
	int n = 0;

	for (const struct list_node *p = head->next; p != head && n < max; p = p->next)
		out[n++] = list_entry(p, struct item, link)->value;
	return n;
}

static void assert_values(const struct list_node *head, const int *want, int n)
{
	int got[16];

	assert_int_equal(values(head, got, 16), n);
	for (int i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
	/* and backwards, so prev links agree with next links */
	const struct list_node *p = head->prev;
	for (int i = n - 1; i >= 0; i--, p = p->prev)
		assert_int_equal(list_entry(p, struct item, link)->value, want[i]);
	assert_ptr_equal(p, head);
}

static void test_empty(void **state)
{
	struct list_node head;

	(void)state;
	list_init(&head);
	assert_true(list_empty(&head));
	assert_null(list_first(&head));
	assert_values(&head, NULL, 0);
}

static void test_insert_both_ends(void **state)
{
	struct list_node head;
	struct item it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};

	(void)state;
	list_init(&head);
	list_insert_tail(&head, &it[1].link);
	list_insert_tail(&head, &it[2].link);
	list_insert_head(&head, &it[0].link);
	list_insert_tail(&head, &it[3].link);
	assert_false(list_empty(&head));
	assert_ptr_equal(list_first(&head), &it[0].link);
	assert_values(&head, (int[]){1, 2, 3, 4}, 4);
}

static void test_remove_middle_and_ends_twice(void **state)
{
	struct list_node head;
	struct item it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};

	(void)state;
	list_init(&head);
	for (int i = 0; i < 4; i++)
		list_insert_tail(&head, &it[i].link);
	list_remove(&it[1].link);
	assert_values(&head, (int[]){1, 3, 4}, 3);
	list_remove(&it[1].link); /* already out: harmless */
	assert_values(&head, (int[]){1, 3, 4}, 3);
	list_remove(&it[0].link);
	list_remove(&it[3].link);
	assert_values(&head, (int[]){3}, 1);
	list_remove(&it[2].link);
	assert_true(list_empty(&head));
}

static void test_remove_while_iterating_and_move(void **state)
{
	struct list_node all, dead, *n, *next;
	struct item it[6];

	(void)state;
	list_init(&all);
	list_init(&dead);
	for (int i = 0; i < 6; i++) {
		it[i].value = i;
		list_insert_tail(&all, &it[i].link);
	}
	/* move the odd ones to dead while walking all */
	list_for_each_safe(n, next, &all) {
		struct item *x = list_entry(n, struct item, link);

		if (x->value % 2) {
			list_remove(n);
			list_insert_tail(&dead, n);
		}
	}
	assert_values(&all, (int[]){0, 2, 4}, 3);
	assert_values(&dead, (int[]){1, 3, 5}, 3);
	/* drain dead the way the reapers do */
	int drained = 0;
	while ((n = list_first(&dead))) {
		list_remove(n);
		drained++;
	}
	assert_int_equal(drained, 3);
	assert_true(list_empty(&dead));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_insert_both_ends),
		cmocka_unit_test(test_remove_middle_and_ends_twice),
		cmocka_unit_test(test_remove_while_iterating_and_move),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
