/* http1.c — push-fed HTTP/1.1 head parsers and header helpers.
 *
 * Owns the syntax of the request line (RFC 9112 §3), the status line (§4),
 * header field lines (RFC 9112 §5, RFC 9110 §5.5-§5.6) and line ends (RFC
 * 9112 §2.2), and the framing fields both directions share: Content-Length,
 * Transfer-Encoding, Connection (§6, §9.3). Pure: it never allocates,
 * copies or logs; every output is a view into the caller's buffer. It
 * re-parses from the first byte on every call, in one forward pass with a
 * byte-class table, and stops at the first byte that proves the head
 * malformed, so ERR_PROTO comes as early as the input allows.
 */
#include "http1.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

enum {
	C_TCHAR = 1, /* RFC 9110 §5.6.2 tchar */
	C_VCHAR = 2, /* RFC 5234 VCHAR: 0x21-0x7E */
	C_FIELD = 4, /* RFC 9110 §5.5 field-vchar / SP / HTAB (incl. obs-text) */
};

/* clang-format off */
static const unsigned char cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0,  /* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x10 */
	4, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,  /* 0x20 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,  /* 0x30 */
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,  /* 0x40 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,  /* 0x50 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,  /* 0x60 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,  /* 0x70 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0x80 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0x90 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xA0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xB0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xC0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xD0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xE0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xF0 */
};
/* clang-format on */

/* Read position over [p, end). */
struct cur {
	const unsigned char *p;
	const unsigned char *end;
};

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static struct http1_str view(const unsigned char *from, const unsigned char *to)
{
	return (struct http1_str){(const char *)from, (size_t)(to - from)};
}

/* At a CR or LF: consume one line end. RFC 9112 §2.2: a bare LF may be taken
 * as a line terminator; a CR not followed by LF must be rejected. */
static int eol(struct cur *c)
{
	if (*c->p == '\n') {
		c->p++;
		return 0;
	}
	if (c->p + 1 == c->end)
		return ERR_AGAIN;
	if (c->p[1] != '\n')
		return ERR_PROTO;
	c->p += 2;
	return 0;
}

/* Scans bytes of class `want` up to the single byte `stop`, which must follow
 * at least one of them; *out gets the run, c->p lands after `stop`. */
static int run_until(struct cur *c, unsigned char want, unsigned char stop, struct http1_str *out)
{
	const unsigned char *start = c->p;

	while (c->p < c->end && (cls[*c->p] & want))
		c->p++;
	if (c->p == c->end)
		return ERR_AGAIN;
	if (c->p == start || *c->p != stop)
		return ERR_PROTO;
	*out = view(start, c->p);
	c->p++;
	return 0;
}

/* RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive;
 * only major version 1 is ours, and the minor is exactly one digit. The
 * byte after it is the caller's to check (a line end, or SP in a response). */
static int version(struct cur *c, int *minor)
{
	static const char lit[] = "HTTP/1.";

	for (size_t i = 0; i < sizeof(lit) - 1; i++, c->p++) {
		if (c->p == c->end)
			return ERR_AGAIN;
		if (*c->p != (unsigned char)lit[i])
			return ERR_PROTO;
	}
	if (c->p == c->end)
		return ERR_AGAIN;
	if (*c->p < '0' || *c->p > '9')
		return ERR_PROTO;
	*minor = *c->p++ - '0';
	return c->p == c->end ? ERR_AGAIN : 0;
}

/* RFC 9112 §3: request-line = method SP request-target SP HTTP-version. */
static int request_line(struct cur *c, struct http1_request *req)
{
	int rc;

	/* RFC 9112 §2.2: a server should ignore empty lines received before
	 * the request line; any number are skipped (the caller caps the head). */
	while (c->p < c->end && (*c->p == '\r' || *c->p == '\n'))
		if ((rc = eol(c)) != 0)
			return rc;
	/* RFC 9110 §9.1: method = token; exactly one SP after it. */
	if ((rc = run_until(c, C_TCHAR, ' ', &req->method)) != 0)
		return rc;
	/* RFC 9112 §3.2: the target holds no whitespace or controls. */
	if ((rc = run_until(c, C_VCHAR, ' ', &req->target)) != 0)
		return rc;
	if ((rc = version(c, &req->version_minor)) != 0)
		return rc;
	if (*c->p != '\r' && *c->p != '\n')
		return ERR_PROTO;
	return eol(c);
}

/* RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
 * "HTTP/1.1 200" with no SP after the code is taken too (an empty reason),
 * as curl and picohttpparser take it: servers send it, and the reason
 * carries no meaning (a client SHOULD ignore it). */
static int status_line(struct cur *c, struct http1_response *resp)
{
	const unsigned char *start;
	int rc;

	if ((rc = version(c, &resp->version_minor)) != 0)
		return rc;
	if (*c->p++ != ' ')
		return ERR_PROTO;
	resp->status = 0;
	for (int i = 0; i < 3; i++, c->p++) {
		if (c->p == c->end)
			return ERR_AGAIN;
		if (*c->p < '0' || *c->p > '9')
			return ERR_PROTO;
		resp->status = resp->status * 10 + (*c->p - '0');
	}
	/* RFC 9110 §15: a status code outside 100..599 is invalid. */
	if (resp->status < 100 || resp->status > 599)
		return ERR_PROTO;
	if (c->p == c->end)
		return ERR_AGAIN;
	if (*c->p == ' ')
		c->p++;
	else if (*c->p != '\r' && *c->p != '\n')
		return ERR_PROTO;
	/* RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). */
	for (start = c->p; c->p < c->end && (cls[*c->p] & C_FIELD); c->p++)
		;
	if (c->p == c->end)
		return ERR_AGAIN;
	if (*c->p != '\r' && *c->p != '\n')
		return ERR_PROTO;
	resp->reason = view(start, c->p);
	return eol(c);
}

/* RFC 9112 §5: field-line = field-name ":" OWS field-value OWS. */
static int field_line(struct cur *c, struct http1_header *h)
{
	const unsigned char *vstart, *vend;
	int rc;

	/* RFC 9112 §5.1: no whitespace between name and colon; empty names and
	 * non-token bytes fall out of run_until as ERR_PROTO. */
	if ((rc = run_until(c, C_TCHAR, ':', &h->name)) != 0)
		return rc;
	while (c->p < c->end && is_ows(*c->p))
		c->p++;
	vstart = vend = c->p;
	/* RFC 9110 §5.5: field-vchar, SP, HTAB and obs-text only; CR, LF, NUL
	 * and other controls end the run. */
	while (c->p < c->end && (cls[*c->p] & C_FIELD)) {
		if (!is_ows(*c->p))
			vend = c->p + 1;
		c->p++;
	}
	if (c->p == c->end)
		return ERR_AGAIN;
	if (*c->p != '\r' && *c->p != '\n')
		return ERR_PROTO;
	h->value = view(vstart, vend);
	return eol(c);
}

/* Returns 1 at the empty line that ends the head, 0 after one field line. */
static int next_line(struct cur *c, struct http1_header *h, size_t max, size_t *num)
{
	int rc;

	if (c->p == c->end)
		return ERR_AGAIN;
	if (*c->p == '\r' || *c->p == '\n')
		return (rc = eol(c)) != 0 ? rc : 1;
	/* RFC 9112 §5.2 and §2.2: obs-fold, or whitespace after the start line,
	 * must be rejected by a server. A user agent may instead replace a fold
	 * with SP; doing so would mean copying the value, so a fold in a
	 * response is rejected too. */
	if (is_ows(*c->p))
		return ERR_PROTO;
	if (*num == max)
		return ERR_LIMIT;
	if ((rc = field_line(c, &h[*num])) != 0)
		return rc;
	(*num)++;
	return 0;
}

/* Field lines through the empty line; returns 1 or a negative ERR_*. */
static int field_section(struct cur *c, struct http1_header *h, size_t max, size_t *num)
{
	int rc;

	*num = 0;
	while ((rc = next_line(c, h, max, num)) == 0)
		;
	return rc;
}

static int used(const char *buf, const struct cur *c)
{
	size_t n = (size_t)(c->p - (const unsigned char *)buf);

	return n > INT_MAX ? ERR_LIMIT : (int)n;
}

int http1_parse_request(const char *buf, size_t len, struct http1_request *req)
{
	struct cur c = {(const unsigned char *)buf, (const unsigned char *)buf + len};
	int rc;

	req->num_headers = 0;
	if (len == 0)
		return ERR_AGAIN;
	if ((rc = request_line(&c, req)) != 0)
		return rc;
	if ((rc = field_section(&c, req->headers, HTTP1_MAX_HEADERS, &req->num_headers)) < 0)
		return rc;
	return used(buf, &c);
}

int http1_parse_response(const char *buf, size_t len, size_t max_headers,
                         struct http1_response *resp)
{
	struct cur c = {(const unsigned char *)buf, (const unsigned char *)buf + len};
	int rc;

	resp->num_headers = 0;
	if (max_headers > HTTP1_MAX_HEADERS)
		max_headers = HTTP1_MAX_HEADERS;
	if (len == 0)
		return ERR_AGAIN;
	if ((rc = status_line(&c, resp)) != 0)
		return rc;
	if ((rc = field_section(&c, resp->headers, max_headers, &resp->num_headers)) < 0)
		return rc;
	return used(buf, &c);
}

int http1_parse_fields(const char *buf, size_t len, struct http1_header *h, size_t max, size_t *num)
{
	struct cur c = {(const unsigned char *)buf, (const unsigned char *)buf + len};
	int rc;

	if ((rc = field_section(&c, h, max, num)) < 0)
		return rc;
	return used(buf, &c);
}

bool http1_str_eq_ci(struct http1_str s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if (lit[i] == '\0' || lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i]))
			return false;
	return lit[i] == '\0';
}

const struct http1_header *http1_find(const struct http1_request *req, const char *name)
{
	for (size_t i = 0; i < req->num_headers; i++)
		if (http1_str_eq_ci(req->headers[i].name, name))
			return &req->headers[i];
	return NULL;
}

size_t http1_count(const struct http1_request *req, const char *name)
{
	return http1_fields_count(req->headers, req->num_headers, name);
}

size_t http1_fields_count(const struct http1_header *h, size_t n, const char *name)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (http1_str_eq_ci(h[i].name, name))
			k++;
	return k;
}

/* RFC 9110 §5.6.1: #list with OWS around items; empty items are ignored. */
bool http1_has_token(struct http1_str value, const char *token)
{
	const char *p = value.p, *end;

	if (value.len == 0)
		return false;
	for (end = p + value.len; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *s = p, *e = comma ? comma : end;

		while (s < e && is_ows((unsigned char)*s))
			s++;
		while (e > s && is_ows((unsigned char)e[-1]))
			e--;
		if (e > s && http1_str_eq_ci((struct http1_str){s, (size_t)(e - s)}, token))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

/* Content-Length (RFC 9110 §8.6, RFC 9112 §6.3): 1*DIGIT; several fields
 * or a list are accepted only when every value is the same. Returns 0 and
 * *cl (saturated at UINT64_MAX), or ERR_PROTO. */
int http1_content_length(const struct http1_header *hdrs, size_t n, uint64_t *cl, bool *present)
{
	bool seen = false;

	for (size_t i = 0; i < n; i++) {
		const struct http1_header *h = &hdrs[i];
		const char *p = h->value.p, *end = p + h->value.len;

		if (!http1_str_eq_ci(h->name, "content-length"))
			continue;
		do {
			uint64_t v = 0;
			const char *d;

			while (p < end && is_ows((unsigned char)*p))
				p++;
			/* saturates: any huge value is over the cap anyway */
			for (d = p; p < end && *p >= '0' && *p <= '9'; p++)
				v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX
				                              : v * 10 + (uint64_t)(*p - '0');
			if (p == d || (seen && v != *cl))
				return ERR_PROTO;
			*cl = v;
			seen = true;
			while (p < end && is_ows((unsigned char)*p))
				p++;
		} while (p < end && *p++ == ',');
		if (p != end)
			return ERR_PROTO;
	}
	*present = seen;
	return 0;
}

/* Transfer-Encoding (RFC 9112 §6.1, §6.3): returns 1 for exactly
 * "chunked", 0 when absent, ERR_PROTO when chunked is not the final (or
 * is a repeated) coding, ERR_LIMIT for another coding before chunked. */
int http1_transfer_encoding(const struct http1_header *hdrs, size_t n)
{
	size_t items = 0, chunked = 0;
	bool last_chunked = false, present = false;

	for (size_t i = 0; i < n; i++) {
		const struct http1_header *h = &hdrs[i];
		const char *p = h->value.p, *end = p + h->value.len;

		if (!http1_str_eq_ci(h->name, "transfer-encoding"))
			continue;
		present = true;
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *e = comma ? comma : end;
			struct http1_str item = {p, (size_t)(e - p)};

			while (item.len && is_ows((unsigned char)item.p[0]))
				item.p++, item.len--;
			while (item.len && is_ows((unsigned char)item.p[item.len - 1]))
				item.len--;
			if (item.len) {
				items++;
				last_chunked = http1_str_eq_ci(item, "chunked");
				chunked += last_chunked;
			}
			p = comma ? comma + 1 : end;
		}
	}
	if (!present)
		return 0;
	if (!last_chunked || chunked > 1)
		return ERR_PROTO;
	return items == 1 ? 1 : ERR_LIMIT;
}

/* Persistence (RFC 9112 §9.3): HTTP/1.1 unless "close"; HTTP/1.0 only
 * with "keep-alive" (and no "close"). */
bool http1_keep_alive(const struct http1_header *hdrs, size_t n, int version_minor)
{
	bool close = false, ka = false;

	for (size_t i = 0; i < n; i++) {
		if (!http1_str_eq_ci(hdrs[i].name, "connection"))
			continue;
		close = close || http1_has_token(hdrs[i].value, "close");
		ka = ka || http1_has_token(hdrs[i].value, "keep-alive");
	}
	return !close && (version_minor >= 1 || ka);
}

int http1_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
