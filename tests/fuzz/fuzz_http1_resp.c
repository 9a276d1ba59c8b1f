/* fuzz_http1_resp.c — libFuzzer target for the push-fed response parser.
 *
 * Input: byte 0 holds flags (bit 0: the request was HEAD; bit 1: the
 * server closes after the last byte; bit 2: small limits), byte 1 picks a
 * split point, the rest is the response. It is fed as a caller would —
 * the unconsumed rest plus each new piece, every parse on an exact-size
 * heap copy so ASan sees over-reads — three ways: whole, in two pieces
 * cut at the split point, and one byte at a time (short inputs).
 *
 * Checked: all three agree (verdict and reason; and, unless it is an
 * error, events, head, framing, keep-alive, body bytes and bytes
 * consumed); every view lies in its input; only DONE consumes nothing;
 * the body never exceeds max_body and a Content-Length body is exactly
 * that long; what a waiting caller must keep stays under the limits;
 * a close-delimited or 101 response never keeps the connection; after
 * DONE the parser refuses more input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "http1_resp.h"

struct outcome {
	int rc;
	const char *reason;
	unsigned interim, heads;
	int status, minor, framing;
	uint64_t cl, fields_hash, body_hash, body_len;
	bool head_ka, done_ka;
	size_t consumed;
};

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211u;
	return h;
}

static void inside(struct http1_str s, const char *copy, size_t n)
{
	if (s.len)
		CHECK(s.p >= copy && s.p <= copy + n && s.len <= (size_t)(copy + n - s.p));
}

static void on_head(struct outcome *o, const struct http1_resp_event *ev, const char *copy,
                    size_t n)
{
	const struct http1_response *h = &ev->head;
	uint64_t fh = 14695981039346656037u;

	inside(h->reason, copy, n);
	CHECK(h->status >= 100 && h->status <= 599 && h->version_minor >= 0 &&
	      h->version_minor <= 9 && h->num_headers <= HTTP1_MAX_HEADERS);
	fh = fnv(fh, h->reason.p, h->reason.len);
	for (size_t i = 0; i < h->num_headers; i++) {
		inside(h->headers[i].name, copy, n);
		inside(h->headers[i].value, copy, n);
		CHECK(h->headers[i].name.len > 0);
		fh = fnv(fh, h->headers[i].name.p, h->headers[i].name.len);
		fh = fnv(fh, ":", 1);
		fh = fnv(fh, h->headers[i].value.p, h->headers[i].value.len);
		fh = fnv(fh, "\n", 1);
	}
	if (ev->type == HTTP1_RESP_EV_INTERIM) {
		CHECK(h->status < 200 && h->status != 101);
		o->interim++;
		return;
	}
	o->heads++;
	CHECK(o->heads == 1);
	o->status = h->status;
	o->minor = h->version_minor;
	o->framing = ev->framing;
	o->cl = ev->content_length;
	o->head_ka = ev->keep_alive;
	o->fields_hash = fh;
	if (ev->framing == HTTP1_RESP_CLOSE || h->status == 101)
		CHECK(!ev->keep_alive);
}

/* Parses conn[*off..have) until ERR_AGAIN, an error or DONE; true when done. */
static bool drain(struct http1_resp *p, struct outcome *o, const char *conn, size_t have,
                  size_t *off, bool eof)
{
	for (;;) {
		size_t n = have - *off;
		char *copy = malloc(n ? n : 1);
		struct http1_resp_event ev;
		int rc;

		if (!copy)
			abort();
		memcpy(copy, conn + *off, n);
		rc = http1_resp_parse(p, copy, n, eof, &ev);
		if (rc < 0) {
			free(copy);
			CHECK(rc == ERR_AGAIN || rc == ERR_PROTO || rc == ERR_LIMIT);
			o->rc = rc;
			o->reason = rc == ERR_AGAIN ? NULL : p->reason;
			CHECK(rc == ERR_AGAIN || (o->reason && o->reason[0]));
			/* What a waiting caller keeps is bounded by the limits. */
			if (rc == ERR_AGAIN)
				CHECK(n < p->lim.max_head + p->lim.max_chunk_line + 2);
			return rc != ERR_AGAIN;
		}
		CHECK((size_t)rc <= n);
		CHECK(rc > 0 || ev.type == HTTP1_RESP_EV_DONE);
		switch (ev.type) {
		case HTTP1_RESP_EV_INTERIM:
		case HTTP1_RESP_EV_HEAD:
			on_head(o, &ev, copy, n);
			break;
		case HTTP1_RESP_EV_BODY:
			CHECK(o->heads == 1 && ev.data.len > 0 && ev.data.len <= (size_t)rc);
			inside(ev.data, copy, n);
			o->body_hash = fnv(o->body_hash, ev.data.p, ev.data.len);
			o->body_len += ev.data.len;
			CHECK(o->body_len <= p->lim.max_body);
			break;
		case HTTP1_RESP_EV_DONE:
			CHECK(o->heads == 1);
			o->done_ka = ev.keep_alive;
			if (o->framing == HTTP1_RESP_LENGTH)
				CHECK(o->body_len == o->cl);
			if (o->framing == HTTP1_RESP_NO_BODY)
				CHECK(o->body_len == 0);
			break;
		default:
			abort();
		}
		*off += (size_t)rc;
		free(copy);
		if (ev.type == HTTP1_RESP_EV_DONE) {
			o->rc = 0;
			/* A finished parser takes nothing more. */
			CHECK(http1_resp_parse(p, conn + *off, have - *off, eof, &ev) == ERR_INVAL);
			return true;
		}
	}
}

static const struct http1_resp_limits small = {
    .max_head = 96, .max_headers = 3, .max_body = 40, .max_chunk_line = 12, .max_interim = 2};

/* Feeds in[0..len) in pieces ending at cuts[0..ncuts), then the rest. */
static void run(const char *in, size_t len, const size_t *cuts, size_t ncuts, uint8_t flags,
                struct outcome *o)
{
	struct http1_resp p;
	char *conn = malloc(len ? len : 1);
	size_t have = 0, off = 0;
	bool done = false;

	if (!conn)
		abort();
	memset(o, 0, sizeof *o);
	http1_resp_init(&p, flags & 4 ? &small : NULL, flags & 1);
	for (size_t i = 0; i <= ncuts && !done; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		memcpy(conn + have, in + have, to - have);
		have = to;
		done = drain(&p, o, conn, have, &off, false);
	}
	if (!done && (flags & 2))
		drain(&p, o, conn, have, &off, true);
	o->consumed = off;
	free(conn);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	CHECK(a->rc == b->rc);
	if (a->rc != 0 && a->rc != ERR_AGAIN) {
		CHECK(strcmp(a->reason, b->reason) == 0);
		return;
	}
	CHECK(a->interim == b->interim && a->heads == b->heads && a->status == b->status);
	CHECK(a->minor == b->minor && a->framing == b->framing && a->cl == b->cl);
	CHECK(a->fields_hash == b->fields_hash && a->head_ka == b->head_ka);
	CHECK(a->done_ka == b->done_ka && a->consumed == b->consumed);
	CHECK(a->body_len == b->body_len && a->body_hash == b->body_hash);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, split, bytes;
	const char *in = (const char *)data + 2;
	size_t len, cut;

	if (size < 2)
		return 0;
	len = size - 2;
	run(in, len, NULL, 0, data[0], &whole);
	cut = len ? (size_t)data[1] * len / 256 : 0;
	run(in, len, &cut, 1, data[0], &split);
	same(&whole, &split);
	if (len > 1 && len <= 512) {
		size_t cuts[511];

		for (size_t i = 0; i + 1 < len; i++)
			cuts[i] = i + 1;
		run(in, len, cuts, len - 1, data[0], &bytes);
		same(&whole, &bytes);
	}
	return 0;
}
