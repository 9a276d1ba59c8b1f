/* test_mgmt_h1.c — the HTTP/1.1 session of the management port: pipelined
 * requests fed whole, byte by byte and split at every point give the same
 * bytes out; chunked bodies; Expect: 100-continue; the head and body caps;
 * bad framing; HEAD; persistence; the request timeout. The registry is
 * empty, so Get/Send/Disconnect answer NOT_FOUND (or api.c's 400s, which
 * show that the decoded body reached it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "conntab.h"
#include "ctx.h"
#include "err.h"
#include "mgmt_h1.h"
#include "obuf.h"
#include "rest.h"

#define P REST_PREFIX
#define OUT_MAX 65536

static struct config cfg;
static struct server srv;

static struct conntab_key no_key(const struct conntab_node *n)
{
	(void)n;
	return (struct conntab_key){"", 0};
}

static int setup(void **state)
{
	char *argv[] = {"wsgw", "--max-head", "256", "--rest-max-body", "1K", "--request-timeout",
			"5s", NULL};
	char *env[] = {NULL};
	char err[256];

	(void)state;
	memset(&srv, 0, sizeof srv);
	if (config_load(&cfg, 7, argv, env, err, sizeof err) != CONFIG_OK)
		return -1;
	srv.cfg = &cfg;
	srv.loop.now_ms = 1000;
	return conntab_init(&srv.table, 8, 1, no_key);
}

static int teardown(void **state)
{
	(void)state;
	conntab_fini(&srv.table);
	return 0;
}

/* ---- feeding ------------------------------------------------------------------- */

struct result {
	char out[OUT_MAX];
	size_t len;
	int rc;      /* last return of h1_session_feed */
	size_t used; /* input bytes fed before ERR_CLOSED (or all) */
};

static void drain(struct obuf **ob, struct result *r)
{
	size_t n = obuf_pending(*ob);

	if (n == 0)
		return;
	assert_true(r->len + n <= OUT_MAX);
	memcpy(r->out + r->len, obuf_data(*ob), n);
	r->len += n;
	obuf_consume(ob, n);
	assert_null(*ob);
}

/* Feeds in[0..n) in pieces: step bytes at a time (0: whole), or, with
 * cut > 0, as [0..cut) and [cut..n). Stops at ERR_CLOSED. */
static void feed(const char *in, size_t n, size_t step, size_t cut, struct result *r)
{
	struct h1_session *s = h1_session_new(&srv);
	struct obuf *ob = NULL;
	size_t off = 0;

	assert_non_null(s);
	memset(r, 0, sizeof *r);
	/* A pool of zeros: every request id is ZERO_ID, so the same input
	 * gives the same bytes out however it is split. */
	memset(srv.rand_pool, 0, sizeof srv.rand_pool);
	srv.rand_left = sizeof srv.rand_pool;
	while (off < n && r->rc == 0) {
		size_t k = cut ? (off ? n - off : cut) : step ? step : n;

		k = k > n - off ? n - off : k;
		r->rc = h1_session_feed(s, (const uint8_t *)in + off, k, &ob);
		off += k;
		drain(&ob, r);
	}
	r->used = off;
	h1_session_free(s);
}

static void feed_whole(const char *in, struct result *r)
{
	feed(in, strlen(in), 0, 0, r);
}

/* The output of in, fed whole, must be want (and rc want_rc); fed byte by
 * byte and split at every point it must be the same bytes. */
static void check_all_splits(const char *in, const char *want, int want_rc)
{
	static struct result whole, other;
	size_t n = strlen(in);

	feed(in, n, 0, 0, &whole);
	if (whole.len != strlen(want) || memcmp(whole.out, want, whole.len) != 0)
		fail_msg("whole feed gave:\n%.*s\nwant:\n%s", (int)whole.len, whole.out, want);
	assert_int_equal(whole.rc, want_rc);
	feed(in, n, 1, 0, &other);
	if (other.len != whole.len || memcmp(other.out, whole.out, whole.len) != 0)
		fail_msg("byte by byte gave:\n%.*s", (int)other.len, other.out);
	assert_int_equal(other.rc, want_rc);
	for (size_t cut = 1; cut < n; cut++) {
		feed(in, n, 0, cut, &other);
		if (other.len != whole.len || memcmp(other.out, whole.out, whole.len) != 0 ||
		    other.rc != want_rc)
			fail_msg("split at %zu gave (rc %d):\n%.*s", cut, other.rc, (int)other.len,
				 other.out);
	}
}

/* ---- expected responses ---------------------------------------------------------- */

#define ZERO_ID "00000000-0000-4000-8000-000000000000" /* from 16 zero bytes */
#define DETAILS                                                                                    \
	"\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RequestInfo\",\"requestId\":\"" ZERO_ID \
	"\"}]}"

static char *cat(char *dst, const char *src)
{
	return strcat(dst, src);
}

/* Appends one response as the session must write it. */
static void resp(char *dst, const char *status, const char *headers, const char *body,
		 bool head_only)
{
	char buf[1024];

	snprintf(buf, sizeof buf,
		 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "X-Server-Request-Id: " ZERO_ID "\r\nX-Server-Trace-Id: " ZERO_ID "\r\n%s\r\n%s",
		 status, strlen(body), headers, head_only ? "" : body);
	cat(dst, buf);
}

static const char nf_abc[] = "{\"code\":5,\"message\":\"connection abc not found\"," DETAILS;
static const char not_utf8[] =
    "{\"code\":3,\"message\":\"TEXT data is not valid UTF-8 (send it as BINARY)\"," DETAILS;
static const char no_path[] = "{\"code\":5,\"message\":\"no such path (see " P
			      "{id})\"," DETAILS;
static const char put_405[] = "{\"code\":12,\"message\":\"method PUT is not allowed here; "
			      "allowed: GET, HEAD, DELETE\"," DETAILS;

static void test_pipeline_splits(void **state)
{
	static const char in[] =
	    "GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n"
	    "HEAD " P "abc?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST " P "abc:send HTTP/1.1\r\nHost: x\r\nContent-Length: 29\r\n\r\n"
	    "{\"data\":\"aGk=\",\"type\":\"TEXT\"}"
	    "POST " P "abc/:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5;ext=\"q;x\"\r\n{\"dat\r\n"
	    "18\r\na\":\"/w==\",\"type\":\"TEXT\"}\r\n"
	    "0\r\nX-Trailer: 1\r\n\r\n"
	    "DELETE " P "abc HTTP/1.1\nHost: x\n\n"
	    "\r\nPUT " P "abc HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
	    "GET /nope HTTP/1.1\r\nhost: x\r\nConnection: keep-alive, Close\r\n\r\n"
	    "GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n";
	static char want[4096];

	(void)state;
	want[0] = '\0';
	resp(want, "404 Not Found", "", nf_abc, false);
	resp(want, "404 Not Found", "", nf_abc, true);
	resp(want, "404 Not Found", "", nf_abc, false);
	resp(want, "400 Bad Request", "", not_utf8, false);
	resp(want, "404 Not Found", "", nf_abc, false);
	resp(want, "405 Method Not Allowed", "Allow: GET, HEAD, DELETE\r\n", put_405, false);
	resp(want, "404 Not Found", "Connection: close\r\n", no_path, false);
	check_all_splits(in, want, ERR_CLOSED);
}

/* Chunked bodies: sizes in either case, leading zeros, extensions, bare
 * LF, trailers; the decoded JSON decides 404 (valid, TEXT "hi") or 400. */
static void test_chunked(void **state)
{
	static const char *const bodies[] = {
	    "1d\r\n{\"data\":\"aGk=\",\"type\":\"TEXT\"}\r\n0\r\n\r\n",
	    "1D\r\n{\"data\":\"aGk=\",\"type\":\"TEXT\"}\r\n00000\r\n\r\n",
	    "001d ; a=b ; c\r\n{\"data\":\"aGk=\",\"type\":\"TEXT\"}\r\n0;last\r\n\r\n",
	    "1\n{\n1c\n\"data\":\"aGk=\",\"type\":\"TEXT\"}\n0\n\n",
	    "1\r\n{\r\n1\r\n\"\r\n1b\r\ndata\":\"aGk=\",\"type\":\"TEXT\"}\r\n0\r\nA: 1\r\nB: 2\r\n\r\n",
	    "1d\r\n{\"data\":\"aGk=\",\"type\":\"TEXT\"}\r\n0\r\nA: 1\n\n",
	};
	char in[512], want[1024];

	(void)state;
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		snprintf(in, sizeof in,
			 "POST " P "abc:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n%s"
			 "GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n",
			 bodies[i]);
		want[0] = '\0';
		resp(want, "404 Not Found", "", nf_abc, false);
		resp(want, "404 Not Found", "", nf_abc, false);
		check_all_splits(in, want, 0);
	}
	/* an empty chunked body is an empty body: malformed JSON */
	struct result r;
	feed_whole("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "0\r\n\r\n",
		   &r);
	assert_int_equal(r.rc, 0);
	assert_memory_equal(r.out, "HTTP/1.1 400 Bad Request\r\n", 26);
	assert_non_null(strstr(r.out, "malformed JSON"));
}

static void test_continue(void **state)
{
	static const char head[] = "POST " P "abc:send HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
				   "Content-Length: 29\r\n\r\n";
	static const char body[] = "{\"data\":\"aGk=\",\"type\":\"TEXT\"}";
	struct h1_session *s = h1_session_new(&srv);
	struct obuf *ob = NULL;
	struct result r = {0};
	char want[1024] = "HTTP/1.1 100 Continue\r\n\r\n", in[1024];

	(void)state;
	/* head alone: 100 Continue, then the answer once the body arrives */
	assert_int_equal(h1_session_feed(s, (const uint8_t *)head, sizeof head - 1, &ob), 0);
	drain(&ob, &r);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.out, want, r.len);
	assert_int_equal(h1_session_feed(s, (const uint8_t *)body, sizeof body - 1, &ob), 0);
	drain(&ob, &r);
	resp(want, "404 Not Found", "", nf_abc, false);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.out, want, r.len);
	h1_session_free(s);

	/* head and (part of) the body together: no 100 */
	snprintf(in, sizeof in, "%s%s", head, body);
	want[0] = '\0';
	resp(want, "404 Not Found", "", nf_abc, false);
	feed_whole(in, &r);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.out, want, r.len);
	feed(in, strlen(in), 0, sizeof head, &r);
	assert_memory_equal(r.out, want, r.len);

	/* chunked, too */
	feed_whole("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n",
		   &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.len, 25);
	assert_memory_equal(r.out, "HTTP/1.1 100 Continue\r\n\r\n", 25);

	/* no 100: HTTP/1.0, no body, or a body refused anyway (413, then close) */
	feed_whole("POST " P "abc:send HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 29\r\n\r\n",
		   &r);
	assert_int_equal(r.len, 0);
	feed_whole("DELETE " P "abc HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", &r);
	assert_memory_equal(r.out, "HTTP/1.1 404 Not Found\r\n", 24);
	feed_whole("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
		   "Content-Length: 1025\r\n\r\n",
		   &r);
	assert_int_equal(r.rc, ERR_CLOSED);
	assert_memory_equal(r.out, "HTTP/1.1 413 Content Too Large\r\n", 32);
	assert_non_null(strstr(r.out, "\r\nConnection: close\r\n"));
	assert_null(strstr(r.out, "100 Continue"));
}

/* A refused request: the status line, then the connection closes. */
static void check_refused(const char *in, const char *status_line)
{
	static struct result r, other;
	char line[128];

	feed_whole(in, &r);
	snprintf(line, sizeof line, "HTTP/1.1 %s\r\n", status_line);
	if (r.len < strlen(line) || memcmp(r.out, line, strlen(line)) != 0)
		fail_msg("for:\n%s\ngot:\n%.*s\nwant %s", in, (int)r.len, r.out, status_line);
	if (r.rc != ERR_CLOSED || !strstr(r.out, "\r\nConnection: close\r\n\r\n{\"code\":"))
		fail_msg("for:\n%s\nnot closed (rc %d):\n%.*s", in, r.rc, (int)r.len, r.out);
	/* byte by byte: the same answer */
	feed(in, strlen(in), 1, 0, &other);
	if (other.len != r.len || memcmp(other.out, r.out, r.len) != 0)
		fail_msg("byte by byte differs for:\n%s\n%.*s", in, (int)other.len, other.out);
}

static void test_caps(void **state)
{
	char in[2048], big[1100];

	(void)state;
	/* --max-head 256 */
	memset(big, 'a', 300);
	big[300] = '\0';
	snprintf(in, sizeof in, "GET " P "abc HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big);
	check_refused(in, "431 Request Header Fields Too Large");
	snprintf(in, sizeof in, "GET /%s HTTP/1.1\r\n", big);
	check_refused(in, "431 Request Header Fields Too Large");
	/* an unterminated head is refused as soon as it cannot fit */
	memset(in, 'a', 256);
	in[256] = '\0';
	check_refused(in, "431 Request Header Fields Too Large");
	/* exactly 256 bytes is fine */
	{
		const char *pre = "GET " P "abc HTTP/1.1\r\nHost: x\r\nX: ";
		struct result r;
		size_t fill = 256 - strlen(pre) - 4;

		memset(big, 'b', fill);
		big[fill] = '\0';
		snprintf(in, sizeof in, "%s%s\r\n\r\n", pre, big);
		assert_int_equal(strlen(in), 256);
		feed_whole(in, &r);
		assert_int_equal(r.rc, 0);
		assert_memory_equal(r.out, "HTTP/1.1 404 Not Found\r\n", 24);
	}
	/* too many header fields for the parser */
	strcpy(in, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 65; i++)
		cat(in, "a:\r\n");
	cat(in, "\r\n");
	{
		/* this needs a bigger head cap than the 256 of the fixture */
		struct config small = cfg;
		cfg.max_head = 1024;
		check_refused(in, "431 Request Header Fields Too Large");
		cfg = small;
	}
	/* --rest-max-body 1K: Content-Length, at once, without the body */
	check_refused("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n",
		      "413 Content Too Large");
	check_refused("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nContent-Length: "
		      "99999999999999999999999\r\n\r\n",
		      "413 Content Too Large");
	/* chunked: over the cap in one chunk, or in total, or in the digits */
	check_refused("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "401\r\n",
		      "413 Content Too Large");
	check_refused("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "ffffffffffffffffffffffff\r\n",
		      "413 Content Too Large");
	memset(big, 'x', 1024);
	snprintf(in, sizeof in,
		 "POST " P "abc:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "200\r\n%.512s\r\n200\r\n%.512s\r\n1\r\n",
		 big, big);
	check_refused(in, "413 Content Too Large");
	/* exactly the cap is fine */
	{
		struct result r;

		snprintf(in, sizeof in,
			 "POST " P "abc:send HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n%.1024s",
			 big);
		feed_whole(in, &r);
		assert_int_equal(r.rc, 0);
		assert_memory_equal(r.out, "HTTP/1.1 400 Bad Request\r\n", 26); /* not JSON */
		assert_non_null(strstr(r.out, "malformed JSON"));
	}
}

static void test_bad_framing(void **state)
{
	static const struct {
		const char *in, *status;
	} cases[] = {
	    {"GET  / HTTP/1.1\r\n\r\n", "400 Bad Request"},
	    {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400 Bad Request"},
	    {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "400 Bad Request"},
	    {"GET / HTTP/1.1\rHost: x\r\n\r\n", "400 Bad Request"},
	    {"GET / HTTP/2.0\r\n\r\n", "400 Bad Request"},
	    {"\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\n\n", "400 Bad Request"}, /* TLS */
	    {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	     "501 Not Implemented"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
	     "501 Not Implemented"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1x\r\n", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\rx", "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\rb",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\rx",
	     "400 Bad Request"},
	    {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rx",
	     "400 Bad Request"},
	    /* a Host problem with a body announced: refused before the body */
	    {"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", "400 Bad Request"},
	};
	char line[5000];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_refused(cases[i].in, cases[i].status);
	/* a chunk-size line longer than 4096 bytes (extensions) */
	strcpy(line, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	n = strlen(line);
	memset(line + n, 'e', sizeof line - 1 - n);
	line[sizeof line - 1] = '\0';
	check_refused(line, "400 Bad Request");
	/* a trailer section longer than --max-head */
	strcpy(line, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ");
	n = strlen(line);
	memset(line + n, 't', 300);
	line[n + 300] = '\0';
	check_refused(line, "431 Request Header Fields Too Large");
}

/* Framed requests that are refused keep the connection. */
static void test_refused_keeps(void **state)
{
	struct result r;

	(void)state;
	/* RFC 9112 §3.2: HTTP/1.1 needs exactly one Host */
	feed_whole("GET " P "abc HTTP/1.1\r\n\r\nGET " P "abc HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
		   "GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n",
		   &r);
	assert_int_equal(r.rc, 0);
	assert_memory_equal(r.out, "HTTP/1.1 400 Bad Request\r\n", 26);
	assert_non_null(strstr(r.out, "exactly one Host"));
	assert_null(strstr(r.out, "Connection: close"));
	assert_non_null(strstr(strstr(r.out + 1, "HTTP/1.1 400 Bad Request\r\n") + 1,
			       "HTTP/1.1 404 Not Found\r\n"));
	/* duplicate but equal Content-Length values are one value */
	feed_whole("POST " P "abc:send HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n"
		   "Content-Length: 15, 15\r\n\r\n{\"data\":\"aA==\"}",
		   &r);
	assert_int_equal(r.rc, 0);
	assert_memory_equal(r.out, "HTTP/1.1 404 Not Found\r\n", 24);
	/* a GET may carry a body: read and ignored */
	feed_whole("GET " P "abc HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
		   "GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n",
		   &r);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(strstr(r.out, nf_abc) + 1, nf_abc));
}

static void test_head(void **state)
{
	struct result get, head;
	char want[1024] = "";

	(void)state;
	feed_whole("GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n", &get);
	feed_whole("HEAD " P "abc HTTP/1.1\r\nHost: x\r\n\r\n", &head);
	resp(want, "404 Not Found", "", nf_abc, true);
	assert_int_equal(head.len, strlen(want));
	assert_memory_equal(head.out, want, head.len);
	assert_true(get.len == head.len + strlen(nf_abc));
	assert_memory_equal(get.out, head.out, head.len);
	/* errors for a HEAD come without their body too */
	feed_whole("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n", &head);
	assert_null(strstr(head.out, "{"));
	snprintf(want, sizeof want, "Content-Length: %zu\r\n", strlen(no_path));
	assert_non_null(strstr(head.out, want));
	feed_whole("HEAD /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", &head);
	assert_int_equal(head.rc, ERR_CLOSED);
	assert_memory_equal(head.out, "HTTP/1.1 413 Content Too Large\r\n", 32);
	assert_null(strstr(head.out, "{"));
	/* the next request is not a HEAD */
	feed_whole("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\n\r\n", &head);
	assert_non_null(strstr(head.out, "\r\n\r\n{\"code\":3,"));
}

static void test_persistence(void **state)
{
	struct result r;
	char want[2048] = "";

	(void)state;
	/* HTTP/1.0: closes unless keep-alive is asked for, and says so */
	feed_whole("GET " P "abc HTTP/1.0\r\n\r\nGET " P "abc HTTP/1.0\r\n\r\n", &r);
	resp(want, "404 Not Found", "Connection: close\r\n", nf_abc, false);
	assert_int_equal(r.rc, ERR_CLOSED);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.out, want, r.len);
	want[0] = '\0';
	feed_whole("GET " P "abc HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
		   "GET " P "abc HTTP/1.0\r\n\r\n",
		   &r);
	resp(want, "404 Not Found", "Connection: keep-alive\r\n", nf_abc, false);
	resp(want, "404 Not Found", "Connection: close\r\n", nf_abc, false);
	assert_int_equal(r.rc, ERR_CLOSED);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.out, want, r.len);
	/* HTTP/1.1: open until close, also among other tokens and fields */
	want[0] = '\0';
	feed_whole("GET " P "abc HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
		   "Connection: foo ,close\r\n\r\n",
		   &r);
	resp(want, "404 Not Found", "Connection: close\r\n", nf_abc, false);
	assert_int_equal(r.rc, ERR_CLOSED);
	assert_memory_equal(r.out, want, r.len);
	feed_whole("GET " P "abc HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", &r);
	assert_int_equal(r.rc, 0);
	/* after ERR_CLOSED nothing more is read or written */
	{
		struct h1_session *s = h1_session_new(&srv);
		struct obuf *ob = NULL;
		const char *in = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

		assert_int_equal(h1_session_feed(s, (const uint8_t *)in, strlen(in), &ob), ERR_CLOSED);
		obuf_free(&ob);
		assert_int_equal(h1_session_feed(s, (const uint8_t *)in, strlen(in), &ob), ERR_CLOSED);
		assert_null(ob);
		assert_int_equal(h1_session_sweep(s, 1000000, &ob), ERR_CLOSED);
		assert_null(ob);
		h1_session_free(s);
	}
	/* draining: answered, then closed */
	srv.draining = 1;
	feed_whole("GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	srv.draining = 0;
	assert_int_equal(r.rc, ERR_CLOSED);
	assert_memory_equal(r.out, "HTTP/1.1 503 Service Unavailable\r\n", 34);
	assert_non_null(strstr(r.out, "Connection: close\r\n"));
}

static void test_timeout(void **state)
{
	struct h1_session *s;
	struct obuf *ob = NULL;
	struct result r = {0};
	const char *part = "GET " P "abc HTTP/1.1\r\nHo";

	(void)state;
	/* idle keep-alive connection: closed silently after --request-timeout */
	srv.loop.now_ms = 1000;
	s = h1_session_new(&srv);
	assert_int_equal(h1_session_sweep(s, 5999, &ob), 0);
	assert_int_equal(h1_session_sweep(s, 6000, &ob), ERR_CLOSED);
	assert_null(ob);
	h1_session_free(s);

	/* a request begun but incomplete: 408, then close */
	s = h1_session_new(&srv);
	srv.loop.now_ms = 2000;
	assert_int_equal(h1_session_feed(s, (const uint8_t *)part, strlen(part), &ob), 0);
	assert_null(ob);
	srv.loop.now_ms = 6000;
	assert_int_equal(h1_session_feed(s, (const uint8_t *)"s", 1, &ob), 0);
	assert_int_equal(h1_session_sweep(s, 6999, &ob), 0); /* counted from the first byte */
	assert_int_equal(h1_session_sweep(s, 7000, &ob), ERR_CLOSED);
	drain(&ob, &r);
	assert_memory_equal(r.out, "HTTP/1.1 408 Request Timeout\r\n", 30);
	assert_non_null(strstr(r.out, "Connection: close\r\n\r\n{\"code\":4,"));
	h1_session_free(s);

	/* after a response the idle clock restarts */
	s = h1_session_new(&srv);
	srv.loop.now_ms = 10000;
	part = "GET " P "abc HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(h1_session_feed(s, (const uint8_t *)part, strlen(part), &ob), 0);
	obuf_free(&ob);
	assert_int_equal(h1_session_sweep(s, 14999, &ob), 0);
	assert_int_equal(h1_session_sweep(s, 15000, &ob), ERR_CLOSED);
	assert_null(ob);
	h1_session_free(s);
	srv.loop.now_ms = 1000;
}

/* An idle session holds no buffers: freeing one mid-request leaks
 * nothing either (ASan checks). */
static void test_free_midway(void **state)
{
	static const char *const parts[] = {
	    "GET / HTTP/1.1\r\n",
	    "POST " P "a:send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"da",
	    "POST " P "a:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"da",
	    "POST " P "a:send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		struct h1_session *s = h1_session_new(&srv);
		struct obuf *ob = NULL;

		assert_int_equal(h1_session_feed(s, (const uint8_t *)parts[i], strlen(parts[i]), &ob),
				 0);
		assert_null(ob);
		h1_session_free(s);
	}
	h1_session_free(NULL);
}

/* Body bytes count against the port's budget while held, and come back
 * when the request ends or the session goes; past the budget: 503. */
static void test_port_budget(void **state)
{
	static const char head[] = "POST /apigateways/websocket/v1/connections/x:send HTTP/1.1\r\n"
				   "Host: h\r\nContent-Length: 500\r\n\r\n";
	char body[200];
	struct h1_session *s = h1_session_new(&srv), *t;
	struct obuf *ob = NULL;
	struct result r = {0};

	(void)state;
	memset(body, 'x', sizeof body);
	assert_int_equal(h1_session_feed(s, (const uint8_t *)head, sizeof head - 1, &ob), 0);
	assert_int_equal(h1_session_feed(s, (const uint8_t *)body, sizeof body, &ob), 0);
	assert_int_equal(srv.mgmt_buffered, sizeof body);
	cfg.mgmt_max_buffer_total = 300;
	t = h1_session_new(&srv);
	assert_int_equal(h1_session_feed(t, (const uint8_t *)head, sizeof head - 1, &ob), 0);
	assert_int_equal(h1_session_feed(t, (const uint8_t *)body, sizeof body, &ob), ERR_CLOSED);
	drain(&ob, &r);
	assert_true(strncmp(r.out, "HTTP/1.1 503 ", 13) == 0);
	assert_int_equal(srv.mgmt_buffered, sizeof body);
	h1_session_free(t);
	h1_session_free(s);
	assert_int_equal(srv.mgmt_buffered, 0);
	cfg.mgmt_max_buffer_total = 256u << 20;
}

/* With a token configured, a request with a body but without the token is
 * answered 401 on its head and the connection closes, its body unread. */
static void test_token_before_body(void **state)
{
	static const char *const heads[] = {
	    "POST /apigateways/websocket/v1/connections/x:send HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 1000\r\n\r\n",
	    "POST /apigateways/websocket/v1/connections/x:send HTTP/1.1\r\nHost: h\r\n"
	    "Authorization: Bearer \r\nTransfer-Encoding: chunked\r\n\r\n",
	    "POST /apigateways/websocket/v1/connections/x:send HTTP/1.1\r\nHost: h\r\n"
	    "Authorization: Bearer tok\r\nAuthorization: Bearer tok\r\nContent-Length: 9\r\n\r\n",
	};

	(void)state;
	strcpy(srv.auth_token, "tok");
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		struct h1_session *s = h1_session_new(&srv);
		struct obuf *ob = NULL;
		struct result r = {0};

		assert_int_equal(h1_session_feed(s, (const uint8_t *)heads[i], strlen(heads[i]), &ob),
				 ERR_CLOSED);
		drain(&ob, &r);
		assert_true(strncmp(r.out, "HTTP/1.1 401 ", 13) == 0);
		assert_non_null(strstr(r.out, "WWW-Authenticate: Bearer\r\n"));
		assert_non_null(strstr(r.out, "Connection: close\r\n"));
		h1_session_free(s);
	}
	/* With the token the body is read as before. */
	{
		static const char ok[] = "POST /apigateways/websocket/v1/connections/x:send HTTP/1.1\r\n"
					 "Host: h\r\nAuthorization: Bearer tok\r\nContent-Length: 2\r\n\r\n";
		struct h1_session *s = h1_session_new(&srv);
		struct obuf *ob = NULL;

		assert_int_equal(h1_session_feed(s, (const uint8_t *)ok, sizeof ok - 1, &ob), 0);
		assert_int_equal(obuf_pending(ob), 0);
		h1_session_free(s);
		obuf_free(&ob);
	}
	srv.auth_token[0] = '\0';
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipeline_splits), cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_continue),        cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_bad_framing),     cmocka_unit_test(test_refused_keeps),
	    cmocka_unit_test(test_head),            cmocka_unit_test(test_persistence),
	    cmocka_unit_test(test_timeout),         cmocka_unit_test(test_free_midway),
	    cmocka_unit_test(test_port_budget),     cmocka_unit_test(test_token_before_body),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
