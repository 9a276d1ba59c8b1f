/* test_http1_resp.c — unit tests for the push-fed HTTP/1.1 response parser.
 *
 * A simulated caller keeps a connection buffer, appends each piece, and
 * calls the parser with the unconsumed rest until ERR_AGAIN, an error or
 * DONE; when the input is all in, it calls once more with eof if asked.
 * Every parse sees an exact-size heap copy, so ASan flags any read past
 * len, and every view is checked to lie inside it. Each case is fed whole,
 * one byte at a time, and split in two at every point: the outcome (events,
 * head, body bytes, verdict and reason) must be the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "http1_resp.h"

#define S(lit) (lit), (sizeof(lit) - 1)
#define BODY_MAX 4096

struct result {
	int rc;             /* 0: DONE; ERR_AGAIN: waiting for more; else the error */
	const char *reason; /* the parser's reason after an error */
	int interim;        /* INTERIM events */
	int interim_status; /* of the last one */
	bool head;          /* a HEAD event came */
	int status, minor;
	char phrase[64];
	char fields[1024]; /* "name=value\n" per field of the final head */
	size_t nfields;
	int framing;
	uint64_t cl;
	bool head_ka, done_ka;
	char body[BODY_MAX];
	size_t body_len; /* all body bytes, even past BODY_MAX */
	size_t consumed;
};

struct opts {
	bool eof; /* the server closes after the last byte */
	bool head_request;
	const struct http1_resp_limits *lim;
};

static void in_copy(struct http1_str s, const char *copy, size_t n)
{
	if (s.len == 0)
		return;
	assert_true(s.p >= copy && s.p <= copy + n && s.len <= (size_t)(copy + n - s.p));
}

static void put(char *dst, size_t cap, struct http1_str s)
{
	size_t used = strlen(dst);

	if (used + s.len + 1 <= cap) {
		memcpy(dst + used, s.p, s.len);
		dst[used + s.len] = '\0';
	}
}

static void record_head(struct result *res, const struct http1_resp_event *ev, const char *copy,
                        size_t n)
{
	const struct http1_response *h = &ev->head;

	in_copy(h->reason, copy, n);
	res->head = true;
	res->status = h->status;
	res->minor = h->version_minor;
	res->phrase[0] = res->fields[0] = '\0';
	put(res->phrase, sizeof res->phrase, h->reason);
	res->nfields = h->num_headers;
	for (size_t i = 0; i < h->num_headers; i++) {
		in_copy(h->headers[i].name, copy, n);
		in_copy(h->headers[i].value, copy, n);
		put(res->fields, sizeof res->fields, h->headers[i].name);
		put(res->fields, sizeof res->fields, (struct http1_str){"=", 1});
		put(res->fields, sizeof res->fields, h->headers[i].value);
		put(res->fields, sizeof res->fields, (struct http1_str){"\n", 1});
	}
	res->framing = ev->framing;
	res->cl = ev->content_length;
	res->head_ka = ev->keep_alive;
}

/* Parses conn[*off..have) until ERR_AGAIN, an error or DONE. */
static bool drain(struct http1_resp *p, struct result *res, const char *conn, size_t have,
                  size_t *off, bool eof)
{
	for (int guard = 0; guard < 100000; guard++) {
		size_t n = have - *off;
		char *copy = malloc(n ? n : 1);
		struct http1_resp_event ev;
		int rc;

		assert_non_null(copy);
		memcpy(copy, conn + *off, n);
		rc = http1_resp_parse(p, copy, n, eof, &ev);
		if (rc < 0) {
			free(copy);
			res->rc = rc;
			res->reason = rc == ERR_AGAIN ? NULL : p->reason;
			return rc != ERR_AGAIN;
		}
		assert_true((size_t)rc <= n);
		/* Only DONE may come without consuming: no endless loops. */
		assert_true(rc > 0 || ev.type == HTTP1_RESP_EV_DONE);
		switch (ev.type) {
		case HTTP1_RESP_EV_INTERIM:
			res->interim++;
			res->interim_status = ev.head.status;
			assert_true(ev.head.status >= 100 && ev.head.status < 200);
			break;
		case HTTP1_RESP_EV_HEAD:
			assert_false(res->head);
			record_head(res, &ev, copy, n);
			break;
		case HTTP1_RESP_EV_BODY:
			assert_true(res->head);
			assert_true(ev.data.len > 0);
			in_copy(ev.data, copy, n);
			if (res->body_len + ev.data.len <= BODY_MAX)
				memcpy(res->body + res->body_len, ev.data.p, ev.data.len);
			res->body_len += ev.data.len;
			break;
		case HTTP1_RESP_EV_DONE:
			assert_true(res->head);
			res->done_ka = ev.keep_alive;
			break;
		default:
			fail_msg("unknown event %d", ev.type);
		}
		*off += (size_t)rc;
		free(copy);
		if (ev.type == HTTP1_RESP_EV_DONE) {
			res->rc = 0;
			res->consumed = *off;
			return true;
		}
	}
	fail_msg("no progress");
	return true;
}

/* Feeds in[0..len) cut at cuts[0..ncuts) (ascending). */
static void run(const char *in, size_t len, const size_t *cuts, size_t ncuts, const struct opts *o,
                struct result *res)
{
	struct http1_resp p;
	char *conn = malloc(len ? len : 1);
	size_t have = 0, off = 0;
	bool stop = false;

	assert_non_null(conn);
	memset(res, 0, sizeof *res);
	http1_resp_init(&p, o->lim, o->head_request);
	for (size_t i = 0; i <= ncuts && !stop; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		memcpy(conn + have, in + have, to - have);
		have = to;
		stop = drain(&p, res, conn, have, &off, false);
	}
	if (!stop && o->eof)
		stop = drain(&p, res, conn, have, &off, true);
	if (!stop)
		res->consumed = off;
	if (res->rc == 0 || res->rc == ERR_AGAIN) {
		struct http1_resp_event ev;

		/* After DONE (or while waiting) nothing more is produced. */
		if (res->rc == 0)
			assert_int_equal(http1_resp_parse(&p, conn + off, have - off, o->eof, &ev),
			                 ERR_INVAL);
	}
	free(conn);
}

static void assert_same(const struct result *a, const struct result *b)
{
	assert_int_equal(a->rc, b->rc);
	if (a->rc != 0 && a->rc != ERR_AGAIN) {
		assert_string_equal(a->reason, b->reason);
		return; /* body bytes handed out before an error may differ */
	}
	assert_int_equal(a->interim, b->interim);
	assert_int_equal(a->head, b->head);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->minor, b->minor);
	assert_string_equal(a->phrase, b->phrase);
	assert_string_equal(a->fields, b->fields);
	assert_int_equal(a->framing, b->framing);
	assert_int_equal(a->cl, b->cl);
	assert_int_equal(a->head_ka, b->head_ka);
	assert_int_equal(a->done_ka, b->done_ka);
	assert_int_equal(a->body_len, b->body_len);
	assert_memory_equal(a->body, b->body, a->body_len < BODY_MAX ? a->body_len : BODY_MAX);
	assert_int_equal(a->consumed, b->consumed);
}

/* Whole, byte by byte, and at every split point: the same result, in *res. */
static void feed_all(const char *in, size_t len, const struct opts *o, struct result *res)
{
	struct result *other = malloc(sizeof *other);
	size_t *cuts = malloc((len ? len : 1) * sizeof *cuts);

	assert_non_null(other);
	assert_non_null(cuts);
	run(in, len, NULL, 0, o, res);
	for (size_t i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	run(in, len, cuts, len ? len - 1 : 0, o, other);
	assert_same(res, other);
	for (size_t k = 1; k < len; k++) {
		run(in, len, &k, 1, o, other);
		assert_same(res, other);
	}
	free(cuts);
	free(other);
}

static const struct opts EOF_ = {.eof = true};
static const struct opts NO_EOF = {.eof = false};

static void expect_err(const char *in, size_t len, const struct opts *o, int err,
                       const char *reason)
{
	struct result res;

	feed_all(in, len, o, &res);
	if (res.rc != err)
		fail_msg("want %d, got %d (%s) for %.*s", err, res.rc, res.reason ? res.reason : "",
		         (int)len, in);
	if (reason && !strstr(res.reason, reason))
		fail_msg("reason \"%s\" lacks \"%s\"", res.reason, reason);
}

static void assert_body(const struct result *r, const char *want)
{
	assert_int_equal(r->body_len, strlen(want));
	assert_memory_equal(r->body, want, r->body_len);
}

/* ---- good responses ------------------------------------------------------- */

static void test_content_length(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b c \r\n\r\nhello"
	                         "HTTP/1.1 200 OK\r\n"; /* the next response: not consumed */
	struct result r;

	(void)state;
	feed_all(S(in), &EOF_, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.minor, 1);
	assert_string_equal(r.phrase, "OK");
	assert_string_equal(r.fields, "Content-Length=5\nX-A=b c\n");
	assert_int_equal(r.framing, HTTP1_RESP_LENGTH);
	assert_int_equal(r.cl, 5);
	assert_true(r.head_ka);
	assert_true(r.done_ka);
	assert_body(&r, "hello");
	assert_int_equal(r.consumed, sizeof(in) - 1 - 17);
}

static void test_views_into_input(void **state)
{
	static const char in[] =
	    "HTTP/1.1 404 Not Found\r\nServer: x\r\nContent-Length: 2\r\n\r\nab";
	struct http1_resp p;
	struct http1_resp_event ev;
	int n;

	(void)state;
	http1_resp_init(&p, NULL, false);
	n = http1_resp_parse(&p, S(in), false, &ev);
	assert_int_equal(n, (int)sizeof(in) - 3);
	assert_int_equal(ev.type, HTTP1_RESP_EV_HEAD);
	assert_ptr_equal(ev.head.reason.p, in + 13);
	assert_int_equal(ev.head.reason.len, 9);
	assert_ptr_equal(ev.head.headers[0].name.p, in + 24);
	assert_ptr_equal(ev.head.headers[0].value.p, in + 32);
	assert_int_equal(http1_resp_parse(&p, in + n, 2, false, &ev), 2);
	assert_int_equal(ev.type, HTTP1_RESP_EV_BODY);
	assert_ptr_equal(ev.data.p, in + n);
	assert_int_equal(http1_resp_parse(&p, in + n + 2, 0, false, &ev), 0);
	assert_int_equal(ev.type, HTTP1_RESP_EV_DONE);
	assert_int_equal(http1_resp_parse(&p, in + n + 2, 0, false, &ev), ERR_INVAL);
}

static void test_content_length_zero_and_lists(void **state)
{
	static const char zero[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char same[] = "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n"
	                           "Content-Length:3\r\n\r\nabc";
	struct result r;

	(void)state;
	feed_all(S(zero), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.framing, HTTP1_RESP_NO_BODY);
	assert_true(r.done_ka);
	assert_int_equal(r.body_len, 0);
	feed_all(S(same), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_body(&r, "abc");
}

static void test_chunked(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                         "5;name=val\r\nhello\r\n"
	                         "6 ; a=\"b c\" ;x\r\n world\r\n"
	                         "000A\r\n0123456789\r\n"
	                         "0\r\nX-Trailer: t\r\nY: u\r\n\r\n"
	                         "junk after";
	struct result r;

	(void)state;
	feed_all(S(in), &EOF_, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.framing, HTTP1_RESP_CHUNKED);
	assert_body(&r, "hello world0123456789");
	assert_true(r.done_ka);
	assert_int_equal(r.consumed, sizeof(in) - 1 - 10);
}

static void test_chunked_no_trailer_and_bare_lf(void **state)
{
	static const char crlf[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
	                           "1\r\na\r\n0\r\n\r\n";
	static const char lf[] = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
	                         "2\nab\nff\n" /* 255 bytes follow */
	                         "................................................................"
	                         "................................................................"
	                         "................................................................"
	                         "...............................................................\n"
	                         "0\nT: 1\n\n";
	struct result r;

	(void)state;
	feed_all(S(crlf), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_body(&r, "a");
	feed_all(S(lf), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.body_len, 257);
	assert_int_equal(r.consumed, sizeof(lf) - 1);
}

static void test_close_delimited(void **state)
{
	static const char v10[] =
	    "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of it\r\n\r\nuntil close";
	static const char v11[] = "HTTP/1.1 200 OK\r\n\r\nbody";
	struct result r;

	(void)state;
	feed_all(S(v10), &EOF_, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.minor, 0);
	assert_int_equal(r.framing, HTTP1_RESP_CLOSE);
	assert_false(r.head_ka);
	assert_false(r.done_ka);
	assert_body(&r, "all of it\r\n\r\nuntil close");
	/* Without the close the body is never complete. */
	feed_all(S(v10), &NO_EOF, &r);
	assert_int_equal(r.rc, ERR_AGAIN);
	assert_body(&r, "all of it\r\n\r\nuntil close");
	feed_all(S(v11), &EOF_, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.framing, HTTP1_RESP_CLOSE);
	assert_false(r.done_ka);
	assert_body(&r, "body");
	/* Even "keep-alive" cannot keep a close-delimited response's connection. */
	feed_all(S("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nx"), &EOF_, &r);
	assert_int_equal(r.rc, 0);
	assert_false(r.done_ka);
}

static void test_keep_alive(void **state)
{
	static const struct {
		const char *in;
		bool ka;
	} cases[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false},
	    {"HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
	     false},
	    {"HTTP/1.1 200 OK\r\nConnection: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	     false},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	    {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\n"
	     "Content-Length: 0\r\n\r\n",
	     false},
	    /* a higher minor version is taken as 1.1 (RFC 9110 §6.2) */
	    {"HTTP/1.7 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	};
	struct result r;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		feed_all(cases[i].in, strlen(cases[i].in), &NO_EOF, &r);
		assert_int_equal(r.rc, 0);
		if (r.done_ka != cases[i].ka || r.head_ka != cases[i].ka)
			fail_msg("case %zu: keep-alive %d", i, r.done_ka);
	}
}

static void test_interim(void **state)
{
	static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
	                         "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
	                         "HTTP/1.1 102 Processing\n\n"
	                         "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
	struct result r;

	(void)state;
	feed_all(S(in), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.interim, 3);
	assert_int_equal(r.interim_status, 102);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.phrase, "Created");
	assert_body(&r, "ok");
}

static void test_switching_protocols(void **state)
{
	static const char in[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                         "Connection: Upgrade\r\nContent-Length: 5\r\n\r\n\x81\x05hello";
	struct result r;

	(void)state;
	feed_all(S(in), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.interim, 0);
	assert_int_equal(r.status, 101);
	assert_int_equal(r.framing, HTTP1_RESP_NO_BODY);
	assert_false(r.done_ka);
	assert_int_equal(r.body_len, 0);
	assert_int_equal(r.consumed, sizeof(in) - 1 - 7);
}

static void test_no_body_statuses(void **state)
{
	static const char s204[] = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/";
	static const char s304[] =
	    "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	static const char head_nolen[] = "HTTP/1.1 200 OK\r\n\r\n";
	static const struct opts head_req = {.head_request = true};
	struct result r;

	(void)state;
	feed_all(S(s204), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.framing, HTTP1_RESP_NO_BODY);
	assert_true(r.done_ka);
	assert_int_equal(r.consumed, sizeof(s204) - 1 - 5);
	feed_all(S(s304), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.done_ka);
	feed_all(S(head), &head_req, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.framing, HTTP1_RESP_NO_BODY);
	assert_true(r.done_ka);
	feed_all(S(head_nolen), &head_req, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.done_ka);
	/* The same heads to a GET. */
	feed_all(S(head), &NO_EOF, &r);
	assert_int_equal(r.rc, ERR_AGAIN);
	assert_int_equal(r.framing, HTTP1_RESP_LENGTH);
}

static void test_status_line_forms(void **state)
{
	struct result r;

	(void)state;
	feed_all(S("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.phrase, "");
	feed_all(S("HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.status, 599);
	assert_string_equal(r.phrase, "");
	feed_all(S("HTTP/1.1 500 Caf\xc3\xa9 \t ok\r\nContent-Length: 0\r\n\r\n"), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.phrase, "Caf\xc3\xa9 \t ok");
}

/* ---- limits ----------------------------------------------------------------- */

static void test_limits(void **state)
{
	static const struct http1_resp_limits lim = {.max_head = 64,
	                                             .max_headers = 2,
	                                             .max_body = 10,
	                                             .max_chunk_line = 16,
	                                             .max_interim = 2};
	static const struct opts o = {.eof = true, .lim = &lim};
	struct result r;

	(void)state;
	/* exactly at each limit: fine */
	feed_all(S("HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 10\r\n\r\n0123456789"), &o, &r);
	assert_int_equal(r.rc, 0);
	feed_all(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "5\r\n01234\r\n000000000005\r\n56789\r\n0\r\n\r\n"),
	         &o, &r);
	assert_int_equal(r.rc, 0);
	assert_body(&r, "0123456789");
	feed_all(S("HTTP/1.1 200 OK\r\n\r\n0123456789"), &o, &r);
	assert_int_equal(r.rc, 0);
	feed_all(S("HTTP/1.1 100 A\r\n\r\nHTTP/1.1 100 B\r\n\r\nHTTP/1.1 204 C\r\n\r\n"), &o, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.interim, 2);
	/* one past */
	expect_err(S("HTTP/1.1 200 OK\r\nX-Long-Name: 0123456789012345678901234567890123\r\n\r\n"),
	           &o, ERR_LIMIT, "head");
	expect_err(S("HTTP/1.1 200 OK\r\nX-Long-Name: 0123456789012345678901234567890123456"), &o,
	           ERR_LIMIT, "head");
	expect_err(S("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &o, ERR_LIMIT, "fields");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789x"), &o, ERR_LIMIT,
	           "Content-Length over");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "5\r\n01234\r\n6\r\n567890\r\n0\r\n\r\n"),
	           &o, ERR_LIMIT, "chunked body over");
	expect_err(S("HTTP/1.1 200 OK\r\n\r\n0123456789x"), &o, ERR_LIMIT, "close-delimited");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "0000000000000005\r\n01234\r\n0\r\n\r\n"),
	           &o, ERR_LIMIT, "chunk-size line");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "5;a=bbbbbbbbbbbbbb\r\n01234\r\n0\r\n\r\n"),
	           &o, ERR_LIMIT, "chunk-size line");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
	           &o, ERR_LIMIT, "trailer fields");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "0\r\nA: 0123456789012345678901234567890123456789012345678901234567\r\n\r\n"),
	           &o, ERR_LIMIT, "trailer section");
	expect_err(S("HTTP/1.1 100 A\r\n\r\nHTTP/1.1 100 B\r\n\r\nHTTP/1.1 100 C\r\n\r\n"), &o,
	           ERR_LIMIT, "1xx");
}

/* A 20-digit Content-Length and 64-bit chunk sizes under the default limits. */
static void test_huge_lengths(void **state)
{
	(void)state;
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"), &EOF_,
	           ERR_LIMIT, "Content-Length over");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"), &EOF_,
	           ERR_LIMIT, "Content-Length over");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 00000000000000000000000000001\r\n\r\nx"),
	           &EOF_, 0, NULL);
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nx"),
	           &EOF_, ERR_LIMIT, "chunked body over");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n"),
	           &EOF_, ERR_LIMIT, "overflows");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n"), &EOF_,
	           ERR_LIMIT, "chunked body over");
}

/* ---- hostile and malformed responses ------------------------------------------ */

static void test_framing_conflicts(void **state)
{
	(void)state;
	/* RFC 9112 §6.3 item 3: both is an error here, in either order. */
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
	             "0\r\n\r\n"),
	           &EOF_, ERR_PROTO, "both");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	           &EOF_, ERR_PROTO, "both");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), &EOF_,
	           ERR_PROTO, "invalid Content-Length");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"), &EOF_, ERR_PROTO,
	           "invalid Content-Length");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), &EOF_, ERR_PROTO,
	           "invalid Content-Length");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n"), &EOF_, ERR_PROTO,
	           "invalid Content-Length");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"), &EOF_, ERR_PROTO,
	           "invalid Content-Length");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"), &EOF_, ERR_PROTO,
	           "invalid Content-Length");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), &EOF_, ERR_PROTO,
	           "transfer coding");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), &EOF_,
	           ERR_PROTO, "other than chunked");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), &EOF_,
	           ERR_PROTO, "final");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
	             "\r\n\r\n"),
	           &EOF_, ERR_PROTO, "final");
	expect_err(S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), &EOF_,
	           ERR_PROTO, "HTTP/1.0");
}

static void test_malformed_heads(void **state)
{
	static const char *const bad[] = {
	    "HTTP/2 200 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n\r\n" + 1, /* "TTP/1.1 ..." */
	    "http/1.1 200 OK\r\n\r\n",
	    "\r\nHTTP/1.1 200 OK\r\n\r\n",
	    "HTTP/1.1  200 OK\r\n\r\n",
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "HTTP/1.1 2000 OK\r\n\r\n",
	    "HTTP/1.1 099 Low\r\n\r\n",
	    "HTTP/1.1 600 High\r\n\r\n",
	    "HTTP/1.1 2x0 OK\r\n\r\n",
	    "HTTP/1.1 200 O\rK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n: b\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nA\r\n\r\n",
	    /* obs-fold (RFC 9112 §5.2): rejected, see http1_resp.h */
	    "HTTP/1.1 200 OK\r\nA: b\r\n c\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n",
	};
	static const char nul_value[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\nContent-Length: 0\r\n\r\n";
	static const char nul_name[] = "HTTP/1.1 200 OK\r\nA\0: b\r\nContent-Length: 0\r\n\r\n";
	static const char nul_reason[] = "HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_err(bad[i], strlen(bad[i]), &EOF_, ERR_PROTO, NULL);
	expect_err(S(nul_value), &EOF_, ERR_PROTO, "malformed response head");
	expect_err(S(nul_name), &EOF_, ERR_PROTO, "malformed response head");
	expect_err(S(nul_reason), &EOF_, ERR_PROTO, "malformed response head");
	/* A non-HTTP reply is refused from its first bytes, without eof. */
	expect_err(S("SSH-2.0-OpenSSH_9.2"), &NO_EOF, ERR_PROTO, "not an HTTP/1.x");
}

static void test_bare_lf_head(void **state)
{
	struct result r;

	(void)state;
	/* RFC 9112 §2.2: bare LF accepted as a line end, as in requests. */
	feed_all(S("HTTP/1.1 200 OK\nContent-Length: 2\r\nA: b\n\nhi"), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.fields, "Content-Length=2\nA=b\n");
	assert_body(&r, "hi");
	feed_all(S("HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nhi"), &NO_EOF, &r);
	assert_int_equal(r.rc, 0);
	assert_body(&r, "hi");
}

static void test_malformed_chunks(void **state)
{
#define TE "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	(void)state;
	expect_err(S(TE "x\r\n"), &EOF_, ERR_PROTO, "not hexadecimal");
	expect_err(S(TE "\r\n"), &EOF_, ERR_PROTO, "not hexadecimal");
	expect_err(S(TE ";a\r\n"), &EOF_, ERR_PROTO, "not hexadecimal");
	expect_err(S(TE "-1\r\n"), &EOF_, ERR_PROTO, "not hexadecimal");
	expect_err(S(TE "5x\r\n"), &EOF_, ERR_PROTO, "after chunk-size");
	expect_err(S(TE "5 5\r\n"), &EOF_, ERR_PROTO, "after chunk-size");
	expect_err(S(TE "5\rhello\r\n"), &EOF_, ERR_PROTO, "bare CR");
	expect_err(S(TE "5;a=\0\r\nhello\r\n0\r\n\r\n"), &EOF_, ERR_PROTO, "control byte");
	expect_err(S(TE "5;a=\x7f\r\nhello\r\n0\r\n\r\n"), &EOF_, ERR_PROTO, "control byte");
	expect_err(S(TE "5\r\nhelloX\r\n0\r\n\r\n"), &EOF_, ERR_PROTO, "not followed by CRLF");
	expect_err(S(TE "5\r\nhello\rX0\r\n\r\n"), &EOF_, ERR_PROTO, "not followed by CRLF");
	expect_err(S(TE "0\r\nA: b\r\n c\r\n\r\n"), &EOF_, ERR_PROTO, "malformed trailer");
	expect_err(S(TE "0\r\nA: \0\r\n\r\n"), &EOF_, ERR_PROTO, "malformed trailer");
	expect_err(S(TE "0\r\n\rX"), &EOF_, ERR_PROTO, "bare CR");
#undef TE
}

static void test_truncated(void **state)
{
	(void)state;
	expect_err("", 0, &EOF_, ERR_PROTO, "before any response byte");
	{
		struct http1_resp p;
		struct http1_resp_event ev;

		/* (NULL, 0) is how a caller with an empty buffer says EOF. */
		http1_resp_init(&p, NULL, false);
		assert_int_equal(http1_resp_parse(&p, NULL, 0, false, &ev), ERR_AGAIN);
		assert_int_equal(http1_resp_parse(&p, NULL, 0, true, &ev), ERR_PROTO);
		assert_string_equal(p.reason, "closed before any response byte");
	}
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Len"), &EOF_, ERR_PROTO,
	           "middle of a response head");
	expect_err(S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell"), &EOF_, ERR_PROTO,
	           "body was complete");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"), &EOF_,
	           ERR_PROTO, "body was complete");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"),
	           &EOF_, ERR_PROTO, "body was complete");
	expect_err(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello"), &EOF_,
	           ERR_PROTO, "body was complete");
}

/* Every byte value in every position of a small response: no crash, no
 * read past the input (ASan), and split-invariance holds. */
static void test_every_byte(void **state)
{
	static const unsigned char bytes[] = {0,   '\t', '\n', '\r', ' ', '0',  '9',  ':',
	                                      ';', 'A',  'F',  'z',  '1', 0x7f, 0x80, 0xff};
	char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\n\r\n";
	struct result r;

	(void)state;
	for (size_t i = 0; i < sizeof(in) - 1; i++) {
		char keep = in[i];

		for (size_t k = 0; k < sizeof(bytes); k++) {
			in[i] = (char)bytes[k];
			feed_all(in, sizeof(in) - 1, &EOF_, &r);
		}
		in[i] = keep;
	}
}

/* A long head trickled in one byte at a time is parsed in linear time:
 * the search for its end resumes where the last call stopped (at most the
 * two bytes that could still start an "\n\r\n" are looked at again), and
 * the head is parsed once, when complete. */
static void test_long_head_trickled(void **state)
{
	static const struct http1_resp_limits lim = {.max_head = 1 << 20};
	size_t cap = 600000, n;
	char *in = malloc(cap);
	struct http1_resp p;
	struct http1_resp_event ev;
	size_t fed;
	int rc = ERR_AGAIN;

	(void)state;
	assert_non_null(in);
	n = (size_t)snprintf(in, cap, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 60; i++) {
		n += (size_t)snprintf(in + n, cap - n, "X-Filler-%d: ", i);
		memset(in + n, 'v', 9000);
		n += 9000;
		n += (size_t)snprintf(in + n, cap - n, "\r\n");
	}
	n += (size_t)snprintf(in + n, cap - n, "Content-Length: 0\r\n\r\n");
	http1_resp_init(&p, &lim, false);
	for (fed = 1; fed <= n && rc == ERR_AGAIN; fed++) {
		rc = http1_resp_parse(&p, in, fed, false, &ev);
		if (rc == ERR_AGAIN && p.scanned + 2 < fed)
			fail_msg("after %zu bytes the search resumes at %zu", fed, p.scanned);
	}
	assert_int_equal(rc, (int)n);
	assert_int_equal(fed - 1, n);
	assert_int_equal(ev.type, HTTP1_RESP_EV_HEAD);
	assert_int_equal(ev.head.num_headers, 61);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_content_length),
	    cmocka_unit_test(test_views_into_input),
	    cmocka_unit_test(test_content_length_zero_and_lists),
	    cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_chunked_no_trailer_and_bare_lf),
	    cmocka_unit_test(test_close_delimited),
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_interim),
	    cmocka_unit_test(test_switching_protocols),
	    cmocka_unit_test(test_no_body_statuses),
	    cmocka_unit_test(test_status_line_forms),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_huge_lengths),
	    cmocka_unit_test(test_framing_conflicts),
	    cmocka_unit_test(test_malformed_heads),
	    cmocka_unit_test(test_bare_lf_head),
	    cmocka_unit_test(test_malformed_chunks),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_every_byte),
	    cmocka_unit_test(test_long_head_trickled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
