/* test_groups — group names, join/leave, the per-member cap, groups that
 * vanish with their last member and come back as new ones (new gid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "groups.h"

static void test_names(void **state)
{
	char longest[GROUPS_NAME_MAX + 1];

	(void)state;
	memset(longest, 'x', sizeof longest);
	assert_true(groups_name_ok("room-1", 6));
	assert_true(groups_name_ok("a:b/c~", 6));
	assert_true(groups_name_ok(longest, GROUPS_NAME_MAX));
	assert_false(groups_name_ok(longest, GROUPS_NAME_MAX + 1));
	assert_false(groups_name_ok("", 0));
	assert_false(groups_name_ok("a b", 3));
	assert_false(groups_name_ok("a,b", 3));
	assert_false(groups_name_ok("a\tb", 3));
	assert_false(groups_name_ok("\xc3\xa9", 2));
	assert_false(groups_name_ok("a\0b", 3));
}

static void test_join_leave(void **state)
{
	struct groups gs;
	struct groups_member a = {0}, b = {0};
	struct group *g;
	uint64_t gid;

	(void)state;
	assert_int_equal(groups_init(&gs, 9), 0);
	assert_int_equal(groups_join(&gs, &a, "red", 3), 0);
	assert_int_equal(groups_join(&gs, &a, "red", 3), 0); /* twice: once */
	assert_int_equal(groups_join(&gs, &b, "red", 3), 0);
	g = groups_find(&gs, "red", 3);
	assert_non_null(g);
	assert_int_equal(g->members, 2);
	gid = g->gid;
	assert_true(groups_has(&a, gid));
	assert_int_equal(groups_leave(&gs, &a, "blue", 4), ERR_INVAL);
	assert_int_equal(groups_leave(&gs, &a, "red", 3), 0);
	assert_false(groups_has(&a, gid));
	assert_null(a.l); /* in no group: nothing held */
	assert_int_equal(groups_leave(&gs, &a, "red", 3), ERR_INVAL);
	groups_leave_all(&gs, &b);
	assert_null(groups_find(&gs, "red", 3)); /* gone with its last member */
	assert_int_equal(gs.count, 0);
	assert_int_equal(groups_join(&gs, &a, "red", 3), 0);
	assert_true(groups_find(&gs, "red", 3)->gid != gid); /* a new group */
	groups_leave_all(&gs, &a);
	groups_fini(&gs);
}

static void test_cap(void **state)
{
	struct groups gs;
	struct groups_member m = {0};
	char name[16];

	(void)state;
	assert_int_equal(groups_init(&gs, 1), 0);
	for (int i = 0; i < GROUPS_PER_MEMBER_MAX; i++) {
		snprintf(name, sizeof name, "g%d", i);
		assert_int_equal(groups_join(&gs, &m, name, strlen(name)), 0);
	}
	assert_int_equal(groups_join(&gs, &m, "one-more", 8), ERR_LIMIT);
	assert_int_equal(groups_join(&gs, &m, "g3", 2), 0); /* already in: fine */
	assert_int_equal(gs.count, GROUPS_PER_MEMBER_MAX);
	groups_leave_all(&gs, &m);
	assert_int_equal(gs.count, 0);
	groups_fini(&gs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_join_leave),
	    cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
