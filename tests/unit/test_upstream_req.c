/* test_upstream_req — backend URLs split for the pool and the request line,
 * and request heads laid out from a call (Host, pre-built lines, curl's
 * spellings of extra lines, Content-Length). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "upstream.h"
#include "upstream_req.h"

static void url_ok(const char *url, bool https, const char *host, unsigned port,
                   const char *authority, const char *key, const char *target)
{
	struct upstream_url u;
	const char *why = NULL;

	assert_int_equal(upstream_url_parse(url, &u, &why), 0);
	assert_int_equal(u.https, https);
	assert_int_equal(u.host_len, strlen(host));
	assert_memory_equal(u.host, host, u.host_len);
	assert_int_equal(u.port, port);
	assert_int_equal(u.authority_len, strlen(authority));
	assert_memory_equal(u.authority, authority, u.authority_len);
	assert_int_equal(u.key_len, strlen(key));
	assert_memory_equal(url, key, u.key_len);
	assert_int_equal(u.target_len, strlen(target));
	assert_memory_equal(u.target, target, u.target_len);
}

static void test_url(void **state)
{
	(void)state;
	url_ok("http://127.0.0.1:8080/a/b?x=1", false, "127.0.0.1", 8080, "127.0.0.1:8080",
	       "http://127.0.0.1:8080", "/a/b?x=1");
	url_ok("HTTPS://example.com/p#frag", true, "example.com", 443, "example.com",
	       "HTTPS://example.com", "/p");
	url_ok("http://[::1]:9/", false, "::1", 9, "[::1]:9", "http://[::1]:9", "/");
	url_ok("http://h?q", false, "h", 80, "h", "http://h", "?q");
	url_ok("http://h", false, "h", 80, "h", "http://h", "");
	url_ok("http://h:/x", false, "h", 80, "h:", "http://h:", "/x");
}

static void test_url_refused(void **state)
{
	static const char *const bad[] = {
	    "ftp://h/",       "h/",
	    "http://u:p@h/",  "http:///x",
	    "http://h:0/",    "http://h:65536/",
	    "http://h:8a/",   "http://[::1/",
	    "http://[::1]x/", "http://h/a b",
	    "http://h/\r\n",  "http://h/\xc3\xa9",
	};
	struct upstream_url u;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = NULL;

		assert_int_equal(upstream_url_parse(bad[i], &u, &why), ERR_INVAL);
		assert_non_null(why);
	}
}

/* Lays out call for url; the result is NUL-terminated in out. */
static long head(const char *url, const struct upstream_call *call, char *out, size_t cap)
{
	struct upstream_url u;
	const char *why;
	long n;

	assert_int_equal(upstream_url_parse(url, &u, &why), 0);
	n = upstream_req_head(&u, call, NULL, 0);
	if (n < 0)
		return n;
	assert_true((size_t)n < cap);
	assert_int_equal(upstream_req_head(&u, call, out, cap), n);
	out[n] = '\0';
	return n;
}

static void test_head(void **state)
{
	const char *extra[] = {"X-A: 1", "X-Empty;", "Expect:", "X-B:  2"};
	const char lines[] = "User-Agent: ua\r\nX-Pre:\r\n";
	struct upstream_call call = {.method = "POST",
	                             .lines = lines,
	                             .lines_len = sizeof lines - 1,
	                             .extra = extra,
	                             .num_extra = 4,
	                             .body_len = 12};
	char out[512];

	(void)state;
	head("http://b:81/m?x=1", &call, out, sizeof out);
	assert_string_equal(out, "POST /m?x=1 HTTP/1.1\r\nHost: b:81\r\nUser-Agent: ua\r\n"
	                         "X-Pre:\r\nX-A: 1\r\nX-Empty:\r\nX-B:  2\r\n"
	                         "Content-Length: 12\r\n\r\n");
	/* GET and HEAD without a body carry no Content-Length; others say 0 */
	call = (struct upstream_call){.method = "GET"};
	head("http://b", &call, out, sizeof out);
	assert_string_equal(out, "GET / HTTP/1.1\r\nHost: b\r\n\r\n");
	call.method = "HEAD";
	head("http://b?q", &call, out, sizeof out);
	assert_string_equal(out, "HEAD /?q HTTP/1.1\r\nHost: b\r\n\r\n");
	call.method = "DELETE";
	head("http://b/", &call, out, sizeof out);
	assert_string_equal(out, "DELETE / HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n");
	call.method = "GET";
	call.body_len = 3;
	head("http://b/", &call, out, sizeof out);
	assert_string_equal(out, "GET / HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\n");
}

/* A caller's Host line (a container call keeps the client's Host) is the
 * one Host, first; an empty one leaves the authority. */
static void test_head_host_override(void **state)
{
	const char *extra[] = {"X-A: 1", "host:  client.example:8443", "X-B: 2"};
	const char *empty[] = {"Host:", "X-A: 1"};
	struct upstream_call call = {.method = "GET", .extra = extra, .num_extra = 3};
	char out[512];

	(void)state;
	head("http://b:81/m", &call, out, sizeof out);
	assert_string_equal(out, "GET /m HTTP/1.1\r\nHost: client.example:8443\r\nX-A: 1\r\n"
	                         "X-B: 2\r\n\r\n");
	call.extra = empty;
	call.num_extra = 2;
	head("http://b:81/m", &call, out, sizeof out);
	assert_string_equal(out, "GET /m HTTP/1.1\r\nHost: b:81\r\nX-A: 1\r\n\r\n");
}

/* A line that would split the head, or a nameless one, refuses the call. */
static void test_head_refused(void **state)
{
	const char *bad[] = {"X-A: 1\r\nX-Injected: 1", "NoColon", ": v", "X\n: v"};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct upstream_call call = {.method = "GET", .extra = &bad[i], .num_extra = 1};

		assert_int_equal(head("http://b/", &call, out, sizeof out), ERR_INVAL);
	}
	{
		struct upstream_call call = {.method = "G T"};

		assert_int_equal(head("http://b/", &call, out, sizeof out), ERR_INVAL);
	}
}

/* A buffer too small gets no overrun, and the length needed. */
static void test_head_small_buffer(void **state)
{
	struct upstream_call call = {.method = "GET"};
	struct upstream_url u;
	const char *why;
	char out[8];

	(void)state;
	assert_int_equal(upstream_url_parse("http://host/path", &u, &why), 0);
	memset(out, 'z', sizeof out);
	assert_int_equal(upstream_req_head(&u, &call, out, 4),
	                 34); /* "GET /path HTTP/1.1", Host, end */
	assert_memory_equal(out, "GET zzzz", 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url),
	    cmocka_unit_test(test_url_refused),
	    cmocka_unit_test(test_head),
	    cmocka_unit_test(test_head_host_override),
	    cmocka_unit_test(test_head_refused),
	    cmocka_unit_test(test_head_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
