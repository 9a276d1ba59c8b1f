/* test_redis_url.c — unit tests for redis_url.c: the --cluster URL forms
 * (password, IPv4, IPv6, localhost, database) and every refusal, including
 * each prefix of a good URL (none but the whole one may parse to it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "err.h"
#include "redis_url.h"

static void test_good(void **state)
{
	struct redis_url u;
	const char *why = NULL;

	(void)state;
	assert_int_equal(redis_url_parse("redis://127.0.0.1:6379", &u, &why), 0);
	assert_int_equal(u.ip.family, AF_INET);
	assert_int_equal(u.ip.addr[0], 127);
	assert_int_equal(u.ip.addr[3], 1);
	assert_int_equal(u.port, 6379);
	assert_string_equal(u.password, "");
	assert_false(u.has_db);

	assert_int_equal(redis_url_parse("redis://:s3cr%40t@10.0.0.2:7000/15", &u, &why), 0);
	assert_string_equal(u.password, "s3cr@t");
	assert_int_equal(u.ip.addr[0], 10);
	assert_int_equal(u.port, 7000);
	assert_true(u.has_db);
	assert_int_equal(u.db, 15);

	assert_int_equal(redis_url_parse("redis://[::1]:1/0", &u, &why), 0);
	assert_int_equal(u.ip.family, AF_INET6);
	assert_int_equal(u.ip.addr[15], 1);
	assert_int_equal(u.port, 1);
	assert_true(u.has_db);
	assert_int_equal(u.db, 0);

	assert_int_equal(redis_url_parse("redis://localhost:65535/1023", &u, &why), 0);
	assert_int_equal(u.ip.family, AF_INET);
	assert_int_equal(u.port, 65535);
	assert_int_equal(u.db, 1023);

	/* '@' in a password: the last one before the path ends it */
	assert_int_equal(redis_url_parse("redis://:a@b@127.0.0.1:1", &u, &why), 0);
	assert_string_equal(u.password, "a@b");
}

static void test_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "http://127.0.0.1:6379",
	    "redis://",
	    "redis://127.0.0.1",
	    "redis://127.0.0.1:",
	    "redis://127.0.0.1:0",
	    "redis://127.0.0.1:65536",
	    "redis://127.0.0.1:-1",
	    "redis://127.0.0.1:63 79",
	    "redis://127.0.0.1:6379/",
	    "redis://127.0.0.1:6379/1024",
	    "redis://127.0.0.1:6379/x",
	    "redis://127.0.0.1:6379/1/2",
	    "redis://redis.example:6379",
	    "redis://user:pw@127.0.0.1:6379",
	    "redis://:p%4@127.0.0.1:6379",
	    "redis://:p%zz@127.0.0.1:6379",
	    "redis://:p%00@127.0.0.1:6379",
	    "redis://[::1:6379",
	    "redis://[::1]6379",
	    "redis://[::1]",
	    "redis://999.0.0.1:6379",
	};
	struct redis_url u;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = NULL;

		if (redis_url_parse(bad[i], &u, &why) != ERR_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(why);
	}
}

static void test_long_password(void **state)
{
	char url[600];
	struct redis_url u;
	const char *why = NULL;
	int n;

	(void)state;
	n = snprintf(url, sizeof url, "redis://:");
	memset(url + n, 'p', 255);
	snprintf(url + n + 255, sizeof url - (size_t)n - 255, "@127.0.0.1:1");
	assert_int_equal(redis_url_parse(url, &u, &why), 0);
	assert_int_equal(strlen(u.password), 255);
	memset(url + n, 'p', 256);
	snprintf(url + n + 256, sizeof url - (size_t)n - 256, "@127.0.0.1:1");
	assert_int_equal(redis_url_parse(url, &u, &why), ERR_INVAL);
}

/* Every proper prefix of a good URL is refused or parses to something
 * else: the parser reads to the end of the string. */
static void test_prefixes(void **state)
{
	static const char good[] = "redis://:pw@127.0.0.1:6379/12";
	struct redis_url u;
	char buf[sizeof good];

	(void)state;
	for (size_t n = 0; n < sizeof good - 1; n++) {
		const char *why = NULL;

		memcpy(buf, good, n);
		buf[n] = '\0';
		if (redis_url_parse(buf, &u, &why) == 0)
			assert_false(u.port == 6379 && u.db == 12 && !strcmp(u.password, "pw"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_long_password),
	    cmocka_unit_test(test_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
