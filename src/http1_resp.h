/* http1_resp.h — push-fed HTTP/1.1 response parser (RFC 9112 §4, §6, §7,
 * §9.3): the status line and fields through http1_parse_response, then the
 * body framing — Content-Length, chunked, close-delimited — with 1xx
 * interim responses reported and skipped. Pure: no sockets, no allocation,
 * no logging; every output is a view into the caller's bytes.
 *
 * The caller keeps a read buffer. Each call gets the bytes not yet consumed
 * (the same bytes again after ERR_AGAIN, followed by whatever arrived since)
 * and returns how many it consumed together with exactly one event:
 *
 *     for (;;) {
 *             n = http1_resp_parse(&p, buf + off, len - off, eof, &ev);
 *             if (n == ERR_AGAIN) break;          (read more, call again)
 *             if (n < 0) fail(p.reason);          (close the connection)
 *             off += n;
 *             handle(&ev);                        (HEAD, BODY, ..., DONE)
 *             if (ev.type == HTTP1_RESP_EV_DONE) break;
 *     }
 *
 * Bytes are consumed only together with an event, so after ERR_AGAIN the
 * unconsumed rest is at most one head (max_head), or a chunk's framing (its
 * CRLF, size line up to max_chunk_line, and trailer section up to
 * max_head): the caller's buffer stays bounded by the limits.
 *
 * Decisions where RFC 9112 leaves a choice (documented in the README too):
 *  - bare LF is accepted as a line end (§2.2), a bare CR is an error;
 *  - obs-fold is rejected (§5.2 allows replacing it by SP, which would need
 *    a copy): ERR_PROTO;
 *  - Transfer-Encoding together with Content-Length is rejected (§6.3 item
 *    3: "ought to be handled as an error"; it is how responses are split);
 *  - Transfer-Encoding other than exactly "chunked" is rejected (we never
 *    send TE, so a server must not use other codings: §6.1), and so is
 *    Transfer-Encoding in an HTTP/1.0 response (§6.1: faulty framing);
 *  - trailer fields are checked (syntax, count, max_head) and dropped
 *    (RFC 9110 §6.5.1 lets a recipient discard them);
 *  - 101 is a final response with no body after which the connection is no
 *    longer HTTP (keep_alive false); the caller decides what that means;
 *  - the response to a CONNECT is not special-cased (we never send one).
 */
#ifndef WSGW_HTTP1_RESP_H
#define WSGW_HTTP1_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"

/* Used for a limits field left 0. */
#define HTTP1_RESP_DEFAULT_MAX_HEAD 16384
#define HTTP1_RESP_DEFAULT_MAX_BODY (1u << 20)
#define HTTP1_RESP_DEFAULT_MAX_CHUNK_LINE 1024
#define HTTP1_RESP_DEFAULT_MAX_INTERIM 16
/* Smaller max_head / max_chunk_line values are raised to these. */
#define HTTP1_RESP_MIN_HEAD 32
#define HTTP1_RESP_MIN_CHUNK_LINE 8

struct http1_resp_limits {
	size_t max_head;       /* bytes of one head (each 1xx too), and of the trailer section */
	size_t max_headers;    /* fields per head or trailer section, <= HTTP1_MAX_HEADERS */
	uint64_t max_body;     /* decoded body bytes (chunk framing not counted) */
	size_t max_chunk_line; /* a chunk-size line with extensions and its line end */
	unsigned max_interim;  /* 1xx responses before the final one */
};

enum http1_resp_framing {
	HTTP1_RESP_NO_BODY, /* 1xx, 101, 204, 304, HEAD, Content-Length: 0 */
	HTTP1_RESP_LENGTH,  /* Content-Length > 0 */
	HTTP1_RESP_CHUNKED, /* Transfer-Encoding: chunked */
	HTTP1_RESP_CLOSE,   /* no length: the body ends when the server closes */
};

enum http1_resp_state {
	HTTP1_RESP_ST_HEAD,       /* before a (1xx or final) head */
	HTTP1_RESP_ST_LENGTH,     /* in a Content-Length body */
	HTTP1_RESP_ST_CLOSE,      /* in a close-delimited body */
	HTTP1_RESP_ST_CHUNK_SIZE, /* before the first chunk-size line */
	HTTP1_RESP_ST_CHUNK_DATA, /* in chunk-data */
	HTTP1_RESP_ST_CHUNK_END,  /* before the CRLF after chunk-data */
	HTTP1_RESP_ST_END,        /* the body is complete: DONE is next */
	HTTP1_RESP_ST_DONE,       /* DONE was returned */
	HTTP1_RESP_ST_ERROR,      /* an error was returned */
};

enum http1_resp_ev_type {
	HTTP1_RESP_EV_INTERIM, /* a 1xx head (not 101): skip it and go on */
	HTTP1_RESP_EV_HEAD,    /* the final head: ev.head, ev.framing, ... */
	HTTP1_RESP_EV_BODY,    /* body bytes: ev.data (never empty) */
	HTTP1_RESP_EV_DONE,    /* the response is complete: ev.keep_alive */
};

struct http1_resp_event {
	int type;                   /* enum http1_resp_ev_type */
	struct http1_response head; /* INTERIM, HEAD: views into the input */
	int framing;                /* HEAD: enum http1_resp_framing */
	uint64_t content_length;    /* HEAD with HTTP1_RESP_LENGTH */
	bool keep_alive;            /* HEAD, DONE: the connection may carry another request */
	struct http1_str data;      /* BODY: view into the input */
};

/* Parser state, embedded by the caller; http1_resp_init before each response. */
struct http1_resp {
	struct http1_resp_limits lim;
	uint8_t state;      /* enum http1_resp_state */
	bool head_request;  /* the request was HEAD: the response has no body */
	bool keep_alive;    /* as decided by the final head */
	unsigned interim;   /* 1xx heads seen */
	uint64_t remaining; /* bytes left of the Content-Length body or of this chunk */
	uint64_t body_len;  /* decoded body bytes handed out */
	size_t scanned;     /* where the search for the end of a head may resume */
	const char *reason; /* after an error: why (static text) */
};

/* Prepares r for one response; lim may be NULL (all defaults), a 0 field
 * takes its default. head_request: the request was HEAD (RFC 9110 §9.3.2),
 * so the final response has no body whatever its fields say. */
void http1_resp_init(struct http1_resp *r, const struct http1_resp_limits *lim, bool head_request);

/* Feeds buf[0..len): the bytes not yet consumed, from the first one not
 * consumed by the previous call. eof: the server has closed, no byte will
 * follow these. Returns bytes consumed (>= 0; 0 is possible, e.g. for DONE)
 * with one event in *ev, whose views are valid as long as buf is; or
 *   ERR_AGAIN  nothing consumed, no event: call again with more bytes
 *   ERR_PROTO  malformed response, or closed (eof) before it was complete
 *   ERR_LIMIT  a limit was exceeded (head, fields, body, chunk line, 1xx)
 *   ERR_INVAL  called after DONE or after an error
 * r->reason says why for every error. After an error the connection cannot
 * be reused; after DONE it can when ev->keep_alive (bytes left over belong
 * to a response nobody asked for: the caller decides). */
int http1_resp_parse(struct http1_resp *r, const char *buf, size_t len, bool eof,
                     struct http1_resp_event *ev);

#endif
