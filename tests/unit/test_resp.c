/* test_resp.c — unit tests for resp.c: known encodings (no argument, an
 * empty argument, binary bytes holding CR LF, lengths at each power of ten)
 * and, as an oracle, byte-for-byte equality with hiredis'
 * redisFormatCommandArgv (what the link sent before) for random commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis.h>

#include "resp.h"

static void check(int argc, const char *const *argv, const size_t *lens, const char *want,
                  size_t want_len)
{
	size_t n = resp_cmd_size(argc, lens);
	uint8_t *out = malloc(n + 1);

	assert_non_null(out);
	out[n] = 0xAA; /* not written past the size */
	assert_int_equal(n, want_len);
	assert_int_equal(resp_cmd_encode(out, argc, argv, lens), n);
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], 0xAA);
	free(out);
}

static void test_known(void **state)
{
	const char *get[] = {"GET", "k"};
	size_t get_l[] = {3, 1};
	const char *bin[] = {"PUBLISH", "c", "a\r\nb\0c", ""};
	size_t bin_l[] = {7, 1, 6, 0};

	(void)state;
#define WANT(s) s, sizeof s - 1
	check(0, NULL, NULL, WANT("*0\r\n"));
	check(2, get, get_l, WANT("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
	check(4, bin, bin_l,
	      WANT("*4\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$6\r\na\r\nb\0c\r\n$0\r\n\r\n"));
}

/* Lengths 9, 10, 99, 100, ... 100 000: every change of digit count. */
static void test_lengths(void **state)
{
	static char big[100001];
	size_t lens[1];
	const char *argv[1] = {big};

	(void)state;
	memset(big, 'x', sizeof big);
	for (size_t p = 1; p <= 100000; p *= 10) {
		for (size_t d = 0; d < 2; d++) {
			size_t len = p - 1 + d;
			char *want;
			int wn;

			lens[0] = len;
			wn = redisFormatCommandArgv(&want, 1, argv, lens);
			assert_true(wn > 0);
			check(1, argv, lens, want, (size_t)wn);
			redisFreeCommand(want);
		}
	}
}

/* Random commands: the same bytes hiredis' formatter produces. */
static void test_like_hiredis(void **state)
{
	char pool[4096];
	const char *argv[40];
	size_t lens[40];

	(void)state;
	srand(12345);
	for (size_t i = 0; i < sizeof pool; i++)
		pool[i] = (char)(rand() & 0xFF);
	for (int round = 0; round < 2000; round++) {
		int argc = 1 + rand() % 40;
		char *want;
		int wn;

		for (int i = 0; i < argc; i++) {
			size_t off = (size_t)rand() % sizeof pool;

			argv[i] = pool + off;
			lens[i] = (size_t)rand() % (sizeof pool - off + 1);
		}
		wn = redisFormatCommandArgv(&want, argc, argv, lens);
		assert_true(wn > 0);
		check(argc, argv, lens, want, (size_t)wn);
		redisFreeCommand(want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_like_hiredis),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
