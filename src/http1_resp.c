/* http1_resp.c — push-fed HTTP/1.1 response parser: heads through
 * http1_parse_response, then the message body length (RFC 9112 §6.3),
 * Content-Length (§6.2), chunked (§7.1) and close-delimited bodies, 1xx
 * interim responses (RFC 9110 §15.2) and persistence (§9.3).
 *
 * Owns the framing state of one response. Pure: it never allocates, copies,
 * logs or touches a socket; every output is a view into the caller's bytes.
 * Bytes are consumed only together with an event, so a line that is not
 * complete yet (a head, a chunk-size line, a trailer section) stays in the
 * caller's buffer, bounded by the limits. The search for the end of a head
 * resumes where the last call left it, so a head trickled in byte by byte
 * costs linear time; the head itself is parsed once, when complete.
 */
#include "http1_resp.h"

#include <string.h>

#include "err.h"

static int fail(struct http1_resp *r, int err, const char *why)
{
	r->state = HTTP1_RESP_ST_ERROR;
	r->reason = why;
	return err;
}

void http1_resp_init(struct http1_resp *r, const struct http1_resp_limits *lim, bool head_request)
{
	memset(r, 0, sizeof *r);
	if (lim)
		r->lim = *lim;
	if (!r->lim.max_head)
		r->lim.max_head = HTTP1_RESP_DEFAULT_MAX_HEAD;
	if (r->lim.max_head < HTTP1_RESP_MIN_HEAD)
		r->lim.max_head = HTTP1_RESP_MIN_HEAD;
	if (!r->lim.max_headers || r->lim.max_headers > HTTP1_MAX_HEADERS)
		r->lim.max_headers = HTTP1_MAX_HEADERS;
	if (!r->lim.max_body)
		r->lim.max_body = HTTP1_RESP_DEFAULT_MAX_BODY;
	if (!r->lim.max_chunk_line)
		r->lim.max_chunk_line = HTTP1_RESP_DEFAULT_MAX_CHUNK_LINE;
	if (r->lim.max_chunk_line < HTTP1_RESP_MIN_CHUNK_LINE)
		r->lim.max_chunk_line = HTTP1_RESP_MIN_CHUNK_LINE;
	if (!r->lim.max_interim)
		r->lim.max_interim = HTTP1_RESP_DEFAULT_MAX_INTERIM;
	r->head_request = head_request;
	r->state = HTTP1_RESP_ST_HEAD;
	r->reason = "";
}

/* ---- finding the end of a field section ------------------------------------ */

/* The end of the first empty line after an LF at or after `from`: "\n\n" or
 * "\n\r\n" (RFC 9112 §2.2: bare LF taken as a line end). Returns the offset
 * just past it, or 0 when not there yet; *resume gets where a later search
 * over more bytes may start (every LF before it has been decided). */
static size_t section_end(const char *buf, size_t len, size_t from, size_t *resume)
{
	const char *p = buf + from, *end = buf + len, *lf;

	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		size_t i = (size_t)(lf - buf);

		if (i + 1 >= len) {
			*resume = i;
			return 0;
		}
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r') {
			if (i + 2 >= len) {
				*resume = i;
				return 0;
			}
			if (buf[i + 2] == '\n')
				return i + 3;
		}
		p = lf + 1;
	}
	*resume = len;
	return 0;
}

/* ---- heads -------------------------------------------------------------------- */

/* RFC 9112 §6.3: how long the body of this final response is. Sets the
 * event's framing and r's state; returns 0 or an error. */
static int framing(struct http1_resp *r, struct http1_resp_event *ev)
{
	const struct http1_response *h = &ev->head;
	uint64_t cl = 0;
	bool has_cl = false;
	int te;

	ev->framing = HTTP1_RESP_NO_BODY;
	r->state = HTTP1_RESP_ST_END;
	r->keep_alive = http1_keep_alive(h->headers, h->num_headers, h->version_minor);
	/* RFC 9110 §15.2.2: after 101 the connection speaks another protocol. */
	if (h->status == 101)
		r->keep_alive = false;
	/* §6.3 item 1: HEAD, 1xx, 204 and 304 end at the head, whatever the
	 * fields say. */
	if (r->head_request || h->status == 101 || h->status == 204 || h->status == 304)
		return 0;
	te = http1_transfer_encoding(h->headers, h->num_headers);
	if (te != 0 && h->version_minor == 0)
		return fail(r, ERR_PROTO, "Transfer-Encoding in an HTTP/1.0 response");
	if (te != 0 && http1_fields_count(h->headers, h->num_headers, "content-length"))
		return fail(r, ERR_PROTO, "both Transfer-Encoding and Content-Length");
	if (te == ERR_PROTO)
		return fail(r, ERR_PROTO,
		            "chunked is not the final (or only once) transfer coding");
	if (te == ERR_LIMIT)
		return fail(r, ERR_PROTO, "a transfer coding other than chunked");
	if (te == 1) {
		ev->framing = HTTP1_RESP_CHUNKED;
		r->state = HTTP1_RESP_ST_CHUNK_SIZE;
		return 0;
	}
	/* §6.3 item 5: an invalid Content-Length makes the response unusable. */
	if (http1_content_length(h->headers, h->num_headers, &cl, &has_cl) < 0)
		return fail(r, ERR_PROTO, "invalid Content-Length");
	if (has_cl && cl > r->lim.max_body) /* a saturated (overflowing) value too */
		return fail(r, ERR_LIMIT, "Content-Length over the body limit");
	if (has_cl) {
		ev->content_length = cl;
		ev->framing = cl ? HTTP1_RESP_LENGTH : HTTP1_RESP_NO_BODY;
		r->state = cl ? HTTP1_RESP_ST_LENGTH : HTTP1_RESP_ST_END;
		r->remaining = cl;
		return 0;
	}
	/* §6.3 item 8: no length: the body runs until the server closes. */
	ev->framing = HTTP1_RESP_CLOSE;
	r->state = HTTP1_RESP_ST_CLOSE;
	r->keep_alive = false;
	return 0;
}

static int head(struct http1_resp *r, const char *buf, size_t len, bool eof,
                struct http1_resp_event *ev)
{
	static const char prefix[] = "HTTP/1.";
	size_t n = len < sizeof(prefix) - 1 ? len : sizeof(prefix) - 1;
	size_t end, resume = 0;
	int rc;

	/* A response that does not start like one is refused at once, not
	 * after max_head bytes of it (http1_parse_response would refuse the
	 * same bytes the same way, so the verdict does not depend on splits). */
	if (memcmp(buf, prefix, n) != 0)
		return fail(r, ERR_PROTO, "not an HTTP/1.x status line");
	end = section_end(buf, len, r->scanned, &resume);
	if (end == 0) {
		r->scanned = resume;
		if (len >= r->lim.max_head)
			return fail(r, ERR_LIMIT, "response head over the head limit");
		if (eof)
			return fail(r, ERR_PROTO,
			            len ? "closed in the middle of a response head"
			                : "closed before any response byte");
		return ERR_AGAIN;
	}
	if (end > r->lim.max_head)
		return fail(r, ERR_LIMIT, "response head over the head limit");
	rc = http1_parse_response(buf, end, r->lim.max_headers, &ev->head);
	if (rc == ERR_LIMIT)
		return fail(r, ERR_LIMIT, "more response fields than the limit");
	if (rc != (int)end)
		return fail(r, ERR_PROTO, "malformed response head");
	r->scanned = 0;
	if (ev->head.status < 200 && ev->head.status != 101) {
		/* RFC 9110 §15.2: interim; the final response follows. */
		if (++r->interim > r->lim.max_interim)
			return fail(r, ERR_LIMIT, "more 1xx responses than the limit");
		ev->type = HTTP1_RESP_EV_INTERIM;
		return rc;
	}
	if ((rc = framing(r, ev)) < 0)
		return rc;
	ev->type = HTTP1_RESP_EV_HEAD;
	ev->keep_alive = r->keep_alive;
	return (int)end;
}

/* ---- chunked ------------------------------------------------------------------- */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, where chunk-ext is
 * *( BWS ";" BWS name [ BWS "=" BWS value ] ). Extensions are skipped, but
 * only over visible bytes, SP and HTAB (no NUL, no bare CR). Returns the
 * line's length with *size, ERR_AGAIN, or an error through fail(). */
static int size_line(struct http1_resp *r, const char *buf, size_t len, uint64_t *size)
{
	size_t i = 0, cap = len < r->lim.max_chunk_line ? len : r->lim.max_chunk_line;
	uint64_t v = 0;
	int d;

	for (; i < cap && (d = http1_hex_digit((unsigned char)buf[i])) >= 0; i++) {
		if (v > (UINT64_MAX >> 4))
			return fail(r, ERR_LIMIT, "chunk size overflows 64 bits");
		v = v << 4 | (uint64_t)d;
	}
	if (i == 0 && cap > 0)
		return fail(r, ERR_PROTO, "chunk-size is not hexadecimal");
	while (i < cap && is_ows(buf[i]))
		i++;
	if (i < cap && buf[i] != ';' && buf[i] != '\r' && buf[i] != '\n')
		return fail(r, ERR_PROTO, "bad byte after chunk-size");
	for (; i < cap && buf[i] != '\r' && buf[i] != '\n'; i++)
		if ((unsigned char)buf[i] < 0x20 ? buf[i] != '\t' : buf[i] == 0x7f)
			return fail(r, ERR_PROTO, "control byte in a chunk extension");
	if (i + 1 < cap && buf[i] == '\r' && buf[i + 1] != '\n')
		return fail(r, ERR_PROTO, "bare CR in a chunk-size line");
	if (i < cap && buf[i] == '\n') {
		*size = v;
		return (int)i + 1;
	}
	if (i + 1 < cap) {
		*size = v;
		return (int)i + 2;
	}
	if (cap == r->lim.max_chunk_line)
		return fail(r, ERR_LIMIT, "chunk-size line over the limit");
	return ERR_AGAIN;
}

/* After the last chunk: trailer-section CRLF (RFC 9112 §7.1.2); buf starts
 * right after the last-chunk line, whose LF is buf[-1]. */
static int trailers(struct http1_resp *r, const char *buf, size_t len, size_t *used)
{
	struct http1_header t[HTTP1_MAX_HEADERS];
	size_t n, end, resume = 0;
	int rc;

	if (len >= 1 && buf[0] == '\n')
		end = 1;
	else if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		end = 2;
	else if (len >= 2 && buf[0] == '\r')
		return fail(r, ERR_PROTO, "bare CR in the trailer section");
	else
		end = section_end(buf, len, r->scanned, &resume);
	if (end == 0 && len >= r->lim.max_head)
		return fail(r, ERR_LIMIT, "trailer section over the head limit");
	if (end == 0) {
		/* The next call starts at the same framing bytes, so the
		 * trailer section starts at the same offset: resume there. */
		r->scanned = resume;
		return ERR_AGAIN;
	}
	if (end > r->lim.max_head)
		return fail(r, ERR_LIMIT, "trailer section over the head limit");
	rc = http1_parse_fields(buf, end, t, r->lim.max_headers, &n);
	if (rc == ERR_LIMIT)
		return fail(r, ERR_LIMIT, "more trailer fields than the limit");
	if (rc != (int)end)
		return fail(r, ERR_PROTO, "malformed trailer section");
	*used = end;
	return 0;
}

/* The CRLF that ends chunk-data (RFC 9112 §7.1; a bare LF is taken).
 * Returns its length, ERR_AGAIN, or an error through fail(). */
static int data_end(struct http1_resp *r, const char *buf, size_t len)
{
	if (len == 0)
		return ERR_AGAIN;
	if (buf[0] == '\n')
		return 1;
	if (buf[0] != '\r')
		return fail(r, ERR_PROTO, "chunk-data not followed by CRLF");
	if (len == 1)
		return ERR_AGAIN;
	return buf[1] == '\n' ? 2 : fail(r, ERR_PROTO, "chunk-data not followed by CRLF");
}

/* From CHUNK_SIZE or CHUNK_END: the framing up to the next data byte or
 * through the trailer section, consumed only with the event it leads to. */
static int chunk_head(struct http1_resp *r, const char *buf, size_t len,
                      struct http1_resp_event *ev)
{
	size_t off = 0, tl;
	uint64_t size;
	int rc;

	if (r->state == HTTP1_RESP_ST_CHUNK_END) {
		if ((rc = data_end(r, buf, len)) < 0)
			return rc;
		off = (size_t)rc;
	}
	if ((rc = size_line(r, buf + off, len - off, &size)) < 0)
		return rc;
	off += (size_t)rc;
	if (size == 0) { /* last-chunk */
		if ((rc = trailers(r, buf + off, len - off, &tl)) < 0)
			return rc;
		r->state = HTTP1_RESP_ST_DONE;
		ev->type = HTTP1_RESP_EV_DONE;
		ev->keep_alive = r->keep_alive;
		return (int)(off + tl);
	}
	if (size > r->lim.max_body - r->body_len)
		return fail(r, ERR_LIMIT, "chunked body over the body limit");
	if (off == len)
		return ERR_AGAIN; /* no data byte yet: keep the framing unconsumed */
	r->remaining = size;
	r->state = HTTP1_RESP_ST_CHUNK_DATA;
	return (int)off;
}

/* ---- bodies -------------------------------------------------------------------- */

static int body(struct http1_resp *r, const char *buf, size_t len, size_t off,
                struct http1_resp_event *ev)
{
	size_t k = len - off;

	if (r->state != HTTP1_RESP_ST_CLOSE && k > r->remaining)
		k = (size_t)r->remaining;
	if (r->state == HTTP1_RESP_ST_CLOSE && k > r->lim.max_body - r->body_len)
		return fail(r, ERR_LIMIT, "close-delimited body over the body limit");
	ev->type = HTTP1_RESP_EV_BODY;
	ev->data = (struct http1_str){buf + off, k};
	r->body_len += k;
	if (r->state != HTTP1_RESP_ST_CLOSE) {
		r->remaining -= k;
		if (r->remaining == 0)
			r->state = r->state == HTTP1_RESP_ST_LENGTH ? HTTP1_RESP_ST_END
			                                            : HTTP1_RESP_ST_CHUNK_END;
	}
	return (int)(off + k);
}

/* Input ran out in a body: more is needed, or the close came too early. */
static int starved(struct http1_resp *r, bool eof)
{
	if (!eof)
		return ERR_AGAIN;
	return fail(r, ERR_PROTO, "closed before the response body was complete");
}

int http1_resp_parse(struct http1_resp *r, const char *buf, size_t len, bool eof,
                     struct http1_resp_event *ev)
{
	int rc;

	ev->framing = HTTP1_RESP_NO_BODY;
	ev->content_length = 0;
	ev->keep_alive = false;
	if (!buf)
		buf = ""; /* (NULL, 0) at EOF: no arithmetic on a null pointer */
	ev->data = (struct http1_str){buf, 0};
	/* Consumed counts are ints: keep every call's input below INT_MAX. */
	if (len > (size_t)1 << 30)
		len = (size_t)1 << 30;
	switch (r->state) {
	case HTTP1_RESP_ST_HEAD:
		return head(r, buf, len, eof, ev);
	case HTTP1_RESP_ST_LENGTH:
	case HTTP1_RESP_ST_CHUNK_DATA:
		return len ? body(r, buf, len, 0, ev) : starved(r, eof);
	case HTTP1_RESP_ST_CLOSE:
		if (len)
			return body(r, buf, len, 0, ev);
		if (!eof)
			return ERR_AGAIN;
		r->state = HTTP1_RESP_ST_END;
		return http1_resp_parse(r, buf, len, eof, ev);
	case HTTP1_RESP_ST_CHUNK_SIZE:
	case HTTP1_RESP_ST_CHUNK_END:
		rc = chunk_head(r, buf, len, ev);
		if (rc == ERR_AGAIN)
			return starved(r, eof);
		if (rc < 0 || r->state == HTTP1_RESP_ST_DONE)
			return rc;
		return body(r, buf, len, (size_t)rc, ev);
	case HTTP1_RESP_ST_END:
		r->state = HTTP1_RESP_ST_DONE;
		ev->type = HTTP1_RESP_EV_DONE;
		ev->keep_alive = r->keep_alive;
		return 0;
	default:
		r->reason = "called after the response was complete or failed";
		return ERR_INVAL;
	}
}
