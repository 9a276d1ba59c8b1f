/* test_auth_cache.c — unit tests for auth_cache.c: keys separate path,
 * method and credential; entries expire; a slot holds one entry (the
 * newer wins), so the table never grows; contexts are copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth_cache.h"

static void key(struct auth_cache_key *k, const char *where, const char *cred)
{
	auth_cache_key(k, where, strlen(where), "GET", cred, strlen(cred));
}

static void test_put_get_expire(void **state)
{
	struct auth_cache *c = auth_cache_new();
	struct auth_cache_key k, k2;
	char *ctx, src[] = "{\"jwt\":{}}";
	int st = -1;

	(void)state;
	key(&k, "/chat/{room}", "tok");
	assert_false(auth_cache_get(c, &k, 1, &st, &ctx));
	auth_cache_put(c, &k, 100, 0, src);
	src[0] = 'X'; /* the cache keeps its own copy */
	assert_true(auth_cache_get(c, &k, 99, &st, &ctx));
	assert_int_equal(st, 0);
	assert_string_equal(ctx, "{\"jwt\":{}}");
	free(ctx);
	assert_false(auth_cache_get(c, &k, 100, &st, &ctx)); /* expired */
	assert_false(auth_cache_get(c, &k, 1, &st, &ctx));   /* and gone */
	auth_cache_put(c, &k, 50, 403, NULL);
	assert_true(auth_cache_get(c, &k, 1, &st, &ctx));
	assert_int_equal(st, 403);
	assert_null(ctx);
	/* separators: ("/a", "bc") is not ("/ab", "c"); method counts */
	key(&k, "/a", "bc");
	key(&k2, "/ab", "c");
	assert_memory_not_equal(k.b, k2.b, sizeof k.b);
	auth_cache_key(&k2, "/a", 2, "POST", "bc", 2);
	assert_memory_not_equal(k.b, k2.b, sizeof k.b);
	auth_cache_free(c);
}

/* More keys than slots: memory stays the table's; every get is either a
 * miss or the right entry. */
static void test_bounded(void **state)
{
	struct auth_cache *c = auth_cache_new();
	struct auth_cache_key k;
	char cred[32], want[32], *ctx;
	int st, hits = 0;

	(void)state;
	for (int i = 0; i < 4 * AUTH_CACHE_SLOTS; i++) {
		snprintf(cred, sizeof cred, "t%d", i);
		key(&k, "/p", cred);
		auth_cache_put(c, &k, 1000, i % 500, cred);
	}
	for (int i = 0; i < 4 * AUTH_CACHE_SLOTS; i++) {
		snprintf(cred, sizeof cred, "t%d", i);
		key(&k, "/p", cred);
		if (!auth_cache_get(c, &k, 1, &st, &ctx))
			continue;
		hits++;
		snprintf(want, sizeof want, "t%d", i);
		assert_string_equal(ctx, want);
		assert_int_equal(st, i % 500);
		free(ctx);
	}
	assert_true(hits > 0 && hits <= AUTH_CACHE_SLOTS);
	auth_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get_expire),
	    cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
