/* test_strpool — interning: equal strings share one copy, counts drop to
 * zero and free, different lengths and bytes are different strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "strpool.h"

static void test_shared_copy(void **state)
{
	struct strpool p;
	const char *a, *b, *c;

	(void)state;
	assert_int_equal(strpool_init(&p, 42), 0);
	a = strpool_get(&p, "Mozilla/5.0 xyz", 11);
	b = strpool_get(&p, "Mozilla/5.0", 11);
	assert_non_null(a);
	assert_ptr_equal(a, b); /* one copy */
	assert_string_equal(a, "Mozilla/5.0");
	c = strpool_get(&p, "Mozilla/5.", 10);
	assert_ptr_not_equal(a, c); /* a prefix is another string */
	assert_int_equal(conntab_count(&p.table), 2);
	strpool_put(&p, a);
	assert_int_equal(conntab_count(&p.table), 2); /* b still holds it */
	strpool_put(&p, b);
	assert_int_equal(conntab_count(&p.table), 1);
	strpool_put(&p, c);
	strpool_put(&p, NULL);
	assert_int_equal(conntab_count(&p.table), 0);
	strpool_fini(&p);
}

static void test_many(void **state)
{
	struct strpool p;
	const char *s[2000];
	char buf[32];

	(void)state;
	assert_int_equal(strpool_init(&p, 7), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(buf, sizeof buf, "ua-%d", i % 500);
		s[i] = strpool_get(&p, buf, strlen(buf));
		assert_string_equal(s[i], buf);
		if (i >= 500)
			assert_ptr_equal(s[i], s[i - 500]);
	}
	assert_int_equal(conntab_count(&p.table), 500);
	for (int i = 0; i < 2000; i++)
		strpool_put(&p, s[i]);
	assert_int_equal(conntab_count(&p.table), 0);
	strpool_fini(&p);
}

static void test_empty_and_binary(void **state)
{
	struct strpool p;
	const char *e, *z, *a;

	(void)state;
	assert_int_equal(strpool_init(&p, 1), 0);
	e = strpool_get(&p, "", 0);
	z = strpool_get(&p, "a\0b", 3);
	a = strpool_get(&p, "a", 1);
	assert_string_equal(e, "");
	assert_memory_equal(z, "a\0b", 4);
	assert_ptr_not_equal(z, a); /* compared by length and bytes, not as C strings */
	assert_int_equal(conntab_count(&p.table), 3);
	strpool_put(&p, e);
	strpool_put(&p, z);
	strpool_put(&p, a);
	assert_int_equal(conntab_count(&p.table), 0);
	strpool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_copy),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_empty_and_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
