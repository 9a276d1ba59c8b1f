/* fuzz_http1.c — libFuzzer target for http1_parse_request and the WebSocket
 * handshake check built on it.
 *
 * Checks: the result is a known code or a length within the input; every
 * view lies inside the head; a strict prefix never yields more than its
 * length, and agrees with the whole input once it has decided (the parser
 * is re-fed from the start, so a verdict must never change with more bytes).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "http1.h"
#include "ws_handshake.h"

static const char *lo, *hi;

static void in_head(struct http1_str s)
{
	if (s.len == 0)
		return;
	if (s.p < lo || s.p > hi || s.len > (size_t)(hi - s.p))
		abort();
}

/* http1_find and http1_count must agree with a linear scan by name. */
static void check_lookup(const struct http1_request *req, const struct http1_header *h)
{
	const struct http1_header *f;
	char name[128];

	if (h->name.len >= sizeof(name))
		return;
	memcpy(name, h->name.p, h->name.len);
	name[h->name.len] = '\0';
	f = http1_find(req, name);
	if (!f || f > h || !http1_str_eq_ci(f->name, name) || http1_count(req, name) == 0)
		abort();
}

static void check_request(const struct http1_request *req)
{
	in_head(req->method);
	in_head(req->target);
	if (req->method.len == 0 || req->target.len == 0 || req->num_headers > HTTP1_MAX_HEADERS)
		abort();
	if (req->version_minor < 0 || req->version_minor > 9)
		abort();
	for (size_t i = 0; i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];

		in_head(h->name);
		in_head(h->value);
		if (h->name.len == 0)
			abort();
		check_lookup(req, h);
		(void)http1_has_token(h->value, "upgrade");
		if (http1_has_token(h->value, ""))
			abort();
	}
}

static void check_handshake(const struct http1_request *req)
{
	static const char *const protos[] = {"chat", "superchat", "v1.json"};
	struct ws_handshake hs;
	char accept[WS_ACCEPT_LEN + 1];
	int st = ws_handshake_check(req, protos, 3, &hs);

	if (st != hs.status || hs.reason == NULL)
		abort();
	in_head(hs.user_agent);
	in_head(hs.forwarded_for);
	if (st == 405 || st == 400 || st == 426)
		return;
	if (st != 101 || hs.key.len != 24 || hs.protocol < -1 || hs.protocol > 2)
		abort();
	in_head(hs.key);
	/* An empty absolute-form path is reported as a static "/". */
	if (!(hs.path.len == 1 && hs.path.p[0] == '/'))
		in_head(hs.path);
	if (hs.path.len == 0 || hs.path.p[0] != '/')
		abort();
	ws_handshake_accept(hs.key, accept);
	if (strlen(accept) != WS_ACCEPT_LEN)
		abort();
}

/* A prefix of n bytes, copied to its own allocation so ASan sees over-reads. */
static void check_prefix(const uint8_t *data, size_t n, int whole)
{
	struct http1_request req;
	char *copy = malloc(n ? n : 1);
	int rc;

	if (!copy)
		return;
	memcpy(copy, data, n);
	rc = http1_parse_request(copy, n, &req);
	free(copy);
	if (rc > 0 && (size_t)rc > n)
		abort();
	if (rc != ERR_AGAIN && rc != whole)
		abort();
	if (whole > 0 && n >= (size_t)whole && rc != whole)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_request req;
	int rc = http1_parse_request((const char *)data, size, &req);

	if (rc != ERR_AGAIN && rc != ERR_PROTO && rc != ERR_LIMIT && (rc <= 0 || (size_t)rc > size))
		abort();
	if (size > 0) {
		check_prefix(data, size - 1, rc);
		check_prefix(data, size / 2, rc);
		check_prefix(data, data[0] % size, rc);
	}
	if (rc <= 0)
		return 0;
	lo = (const char *)data;
	hi = lo + rc;
	check_request(&req);
	check_handshake(&req);
	return 0;
}
