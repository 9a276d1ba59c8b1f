/* mgmt_h1.c — HTTP/1.1 on the management port (RFC 9112): request heads
 * through http1.c, bodies framed by Content-Length or chunked (§6, §7.1),
 * Expect: 100-continue (RFC 9110 §10.1.1), persistence and pipelining
 * (§9.3), the head and body caps and the request timeout. Every complete
 * request goes to rest_handle; responses are appended in request order.
 *
 * Owns: the per-connection buffers, at most --max-head bytes of head and
 * --rest-max-body bytes of body, both freed between requests, so an idle
 * connection holds none. Body bytes also count against the port's
 * --mgmt-max-buffer-total; without the token a request is answered before
 * its body is read. Must never: touch a socket (mgmt.c does), know a
 * route or a JSON field (rest.c does), or read past a request it cannot
 * frame — a framing error answers and closes.
 */
#include "mgmt_h1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctx.h"
#include "err.h"
#include "http1.h"
#include "obuf.h"
#include "rest.h"
#include "router.h"

#define CONTINUE_100 "HTTP/1.1 100 Continue\r\n\r\n"
#define MAX_CHUNK_LINE 4096 /* chunk-size line with its extensions */
#define HEAD_START 1024     /* first head allocation; doubles up to --max-head */
#define BODY_START 16384

enum h1_state {
	H1_ST_HEAD,          /* idle, or collecting a request head */
	H1_ST_BODY,          /* Content-Length body */
	H1_ST_CHUNK_SIZE,    /* chunk-size hex digits */
	H1_ST_CHUNK_EXT,     /* chunk extensions: skipped up to the line end */
	H1_ST_CHUNK_SIZE_LF, /* CR seen at the end of the size line */
	H1_ST_CHUNK_DATA,
	H1_ST_CHUNK_DATA_CR, /* CRLF after chunk-data */
	H1_ST_CHUNK_DATA_LF,
	H1_ST_TRAILER,       /* at the start of a trailer line (or the last CRLF) */
	H1_ST_TRAILER_LINE,  /* inside a trailer field line: skipped */
	H1_ST_TRAILER_LF,    /* CR seen inside a trailer line */
	H1_ST_END_LF,        /* CR of the final CRLF seen */
	H1_ST_CLOSED,        /* ERR_CLOSED returned: input is ignored */
};

/* Where the end of the head is: after an LF, an empty line (CRLF or LF). */
enum eoh { EOH_START, EOH_TEXT, EOH_LF, EOH_LF_CR };

struct h1_session {
	struct server *srv;
	uint8_t state;         /* enum h1_state */
	uint8_t eoh;           /* enum eoh */
	bool begun;            /* a byte of the current request has arrived */
	bool keep_alive;       /* after this request */
	bool http10;           /* HTTP/1.0 keep-alive: say so in the response */
	bool head_only;        /* HEAD: no body in the response */
	uint64_t begun_ms;     /* first byte of the current request */
	uint64_t idle_ms;      /* the session last became idle */
	char *head;            /* the request head, through its empty line */
	size_t head_len, head_cap;
	uint8_t *body;         /* decoded request body */
	size_t body_len, body_cap;
	uint64_t remaining;    /* bytes left of the Content-Length body or chunk */
	size_t line_len;       /* bytes of the current chunk-size or trailer lines */
	/* A call that completes later (rest_call pending): responses stay in
	 * request order, so input after the request waits in stash (at most
	 * one read: mgmt.c stops reading while paused) until it is answered. */
	bool waiting;
	bool feeding;          /* inside h1_session_feed */
	int answered_rc;       /* respond()'s result for the call just answered */
	struct obuf **out;     /* where responses go (the connection's queue) */
	uint8_t *stash;
	size_t stash_len;
	void (*on_output)(void *arg, int rc); /* answered later: flush (rc ERR_CLOSED: then close) */
	void *output_arg;
	struct rest_call rc;
};

struct h1_session *h1_session_new(struct server *srv)
{
	struct h1_session *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->srv = srv;
	s->idle_ms = srv->loop.now_ms;
	return s;
}

static void drop_request(struct h1_session *s)
{
	s->srv->mgmt_buffered -= s->body_len; /* given back to the port's budget */
	free(s->head);
	free(s->body);
	s->head = NULL;
	s->body = NULL;
	s->head_len = s->head_cap = s->body_len = s->body_cap = 0;
	s->eoh = EOH_START;
	s->begun = false;
	s->head_only = false;
	s->remaining = 0;
	s->line_len = 0;
}

static void drop_stash(struct h1_session *s)
{
	s->srv->mgmt_buffered -= s->stash_len;
	free(s->stash);
	s->stash = NULL;
	s->stash_len = 0;
}

void h1_session_free(struct h1_session *s)
{
	if (!s)
		return;
	if (s->waiting)
		rest_cancel(&s->rc); /* its completion never comes */
	drop_stash(s);
	drop_request(s);
	free(s);
}

/* ---- responses --------------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return "";
}

/* Appends one response; the session closes after it unless keep_alive.
 * Returns 0, or ERR_CLOSED (closing after it, or out of memory). */
static int respond(struct h1_session *s, const struct rest_response *r, struct obuf **out)
{
	char hdr[512];
	int n;

	n = snprintf(hdr, sizeof hdr,
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "%s%s%s%s%s%s%s%s%s%s%s\r\n",
		     r->status, reason(r->status),
		     r->content_type ? r->content_type : "application/json", r->body_len,
		     r->ids.request[0] ? "X-Server-Request-Id: " : "", r->ids.request,
		     r->ids.request[0] ? "\r\n" : "", r->ids.trace[0] ? "X-Server-Trace-Id: " : "",
		     r->ids.trace, r->ids.trace[0] ? "\r\n" : "", r->allow ? "Allow: " : "",
		     r->allow ? r->allow : "", r->allow ? "\r\n" : "",
		     r->www_authenticate ? "WWW-Authenticate: Bearer\r\n" : "",
		     !s->keep_alive ? "Connection: close\r\n"
		     : s->http10    ? "Connection: keep-alive\r\n"
				    : "");
	if (n < 0 || (size_t)n >= sizeof hdr || obuf_append(out, hdr, (size_t)n) < 0 ||
	    (!s->head_only && r->body_len && obuf_append(out, r->body, r->body_len) < 0))
		s->keep_alive = false;
	drop_request(s);
	s->idle_ms = s->srv->loop.now_ms;
	if (s->keep_alive)
		return 0;
	s->state = H1_ST_CLOSED;
	return ERR_CLOSED;
}

/* A framing or limit error: its JSON answer, then the connection closes
 * unless keep is set (the request was framed, only refused). */
static int refuse(struct h1_session *s, int status, enum api_code code, const char *msg, bool keep,
		  struct obuf **out)
{
	struct rest_response r;
	int rc;

	rest_response_init(s->srv, &r);
	rest_error(&r, status, code, msg);
	s->keep_alive = s->keep_alive && keep;
	rc = respond(s, &r, out);
	rest_response_fini(&r);
	return rc;
}

static int bad_request(struct h1_session *s, const char *msg, struct obuf **out)
{
	return refuse(s, 400, API_INVALID_ARGUMENT, msg, false, out);
}

static int too_large(struct h1_session *s, struct obuf **out)
{
	return refuse(s, 413, API_RESOURCE_EXHAUSTED, "request body is larger than --rest-max-body",
		      false, out);
}

static void on_rest_done(struct rest_call *rc)
{
	struct h1_session *s = (struct h1_session *)((char *)rc - offsetof(struct h1_session, rc));
	bool later = !s->feeding;

	s->waiting = false;
	if (s->srv->draining)
		s->keep_alive = false; /* let the client reconnect elsewhere */
	s->answered_rc = respond(s, &rc->resp, s->out);
	rest_response_fini(&rc->resp);
	if (!later)
		return; /* dispatch returns answered_rc; the feed goes on */
	/* Answered after its feed: the input held meanwhile comes next. */
	if (s->answered_rc == 0 && s->stash_len) {
		uint8_t *p = s->stash;
		size_t n = s->stash_len;

		s->srv->mgmt_buffered -= n;
		s->stash = NULL;
		s->stash_len = 0;
		s->answered_rc = h1_session_feed(s, p, n, s->out);
		free(p);
	}
	if (s->on_output)
		s->on_output(s->output_arg, s->answered_rc);
}

/* The complete request to rest.c; its response out now, or once the call
 * completes (s->waiting meanwhile). */
static int dispatch(struct h1_session *s, struct obuf **out)
{
	struct http1_request req;
	struct rest_request rr = {0};
	const struct http1_header *auth;

	/* parsed once already (take_head): this only renews the views */
	if (http1_parse_request(s->head, s->head_len, &req) != (int)s->head_len)
		return bad_request(s, "malformed request head", out);
	auth = http1_count(&req, "authorization") == 1 ? http1_find(&req, "authorization") : NULL;
	rr.method = req.method.p;
	rr.method_len = req.method.len;
	rr.target = req.target.p;
	rr.target_len = req.target.len;
	rr.authorization = auth ? auth->value.p : NULL;
	rr.authorization_len = auth ? auth->value.len : 0;
	rr.body = s->body ? s->body : (const uint8_t *)"";
	rr.body_len = s->body_len;
	s->out = out;
	s->waiting = true;
	s->answered_rc = 0;
	s->rc = (struct rest_call){.done = on_rest_done};
	rest_start(s->srv, &rr, &s->rc); /* on_rest_done responds */
	return s->waiting ? 0 : s->answered_rc;
}

/* ---- the body ---------------------------------------------------------------- */

/* Appends decoded body bytes; the caller has checked --rest-max-body.
 * ERR_LIMIT: the port's --mgmt-max-buffer-total would overflow. */
static int body_append(struct h1_session *s, const uint8_t *p, size_t n)
{
	const struct config *cfg = s->srv->cfg;

	if (n > cfg->mgmt_max_buffer_total - s->srv->mgmt_buffered)
		return ERR_LIMIT;
	if (s->body_len + n > s->body_cap) {
		size_t cap = s->body_cap ? s->body_cap : BODY_START;
		uint8_t *nb;

		while (cap < s->body_len + n)
			cap *= 2;
		if (cap > s->srv->cfg->rest_max_body)
			cap = s->srv->cfg->rest_max_body;
		nb = realloc(s->body, cap);
		if (!nb)
			return ERR_NOMEM;
		s->body = nb;
		s->body_cap = cap;
	}
	memcpy(s->body + s->body_len, p, n);
	s->body_len += n;
	s->srv->mgmt_buffered += n;
	return 0;
}

/* The size line ended: data next, or the trailer section after the
 * last chunk (size 0). */
static int size_line_done(struct h1_session *s)
{
	s->line_len = 0;
	s->state = s->remaining ? H1_ST_CHUNK_DATA : H1_ST_TRAILER;
	return 0;
}

/* chunk-size [chunk-ext] CRLF (RFC 9112 §7.1); extensions are ignored. */
static int size_line_byte(struct h1_session *s, uint8_t c, struct obuf **out)
{
	int h;

	if (s->line_len > MAX_CHUNK_LINE)
		return bad_request(s, "chunk-size line too long", out);
	if (s->state == H1_ST_CHUNK_SIZE && (h = http1_hex_digit(c)) >= 0) {
		s->remaining = s->remaining * 16 + (uint64_t)h;
		if (s->remaining > s->srv->cfg->rest_max_body - s->body_len)
			return too_large(s, out);
		return 0;
	}
	if (s->state == H1_ST_CHUNK_SIZE && s->line_len == 1)
		return bad_request(s, "chunk-size is not hexadecimal", out);
	if (s->state == H1_ST_CHUNK_SIZE_LF)
		return c == '\n' ? size_line_done(s)
				 : bad_request(s, "bare CR in a chunk-size line", out);
	if (c == '\r') {
		s->state = H1_ST_CHUNK_SIZE_LF;
		return 0;
	}
	if (c == '\n')
		return size_line_done(s);
	if (s->state == H1_ST_CHUNK_SIZE && c != ';' && c != ' ' && c != '\t')
		return bad_request(s, "bad byte after chunk-size", out);
	s->state = H1_ST_CHUNK_EXT;
	return 0;
}

/* trailer-section CRLF: field lines are skipped, their total bounded by
 * --max-head. Returns 1 after the final empty line. */
static int trailer_byte(struct h1_session *s, uint8_t c, struct obuf **out)
{
	if (s->line_len > s->srv->cfg->max_head)
		return refuse(s, 431, API_RESOURCE_EXHAUSTED, "trailer section too large", false,
			      out);
	switch (s->state) {
	case H1_ST_TRAILER: /* at a line start: the empty line ends the body */
		if (c == '\n')
			return 1;
		s->state = c == '\r' ? H1_ST_END_LF : H1_ST_TRAILER_LINE;
		return 0;
	case H1_ST_TRAILER_LINE:
		if (c == '\r')
			s->state = H1_ST_TRAILER_LF;
		else if (c == '\n')
			s->state = H1_ST_TRAILER;
		return 0;
	default: /* H1_ST_TRAILER_LF, H1_ST_END_LF */
		if (c != '\n')
			return bad_request(s, "bare CR in the trailer section", out);
		if (s->state == H1_ST_END_LF)
			return 1;
		s->state = H1_ST_TRAILER;
		return 0;
	}
}

/* One framing byte of a chunked body (everything but chunk-data). Bare LF
 * is taken as a line end, as in the head (RFC 9112 §2.2); a bare CR is an
 * error. Returns 0, 1 when the body is complete, or ERR_CLOSED. */
static int chunk_byte(struct h1_session *s, uint8_t c, struct obuf **out)
{
	s->line_len++;
	switch (s->state) {
	case H1_ST_CHUNK_SIZE:
	case H1_ST_CHUNK_EXT:
	case H1_ST_CHUNK_SIZE_LF:
		return size_line_byte(s, c, out);
	case H1_ST_CHUNK_DATA_CR:
		if (c == '\r') {
			s->state = H1_ST_CHUNK_DATA_LF;
			return 0;
		}
		if (c != '\n')
			return bad_request(s, "chunk-data not followed by CRLF", out);
		break;
	case H1_ST_CHUNK_DATA_LF:
		if (c != '\n')
			return bad_request(s, "chunk-data not followed by CRLF", out);
		break;
	default:
		return trailer_byte(s, c, out);
	}
	s->line_len = 0;
	s->state = H1_ST_CHUNK_SIZE;
	return 0;
}

/* Consumes body bytes from p (Content-Length or chunked) and dispatches
 * the request once the body is complete. Returns bytes used, or
 * ERR_CLOSED. */
static ptrdiff_t take_body(struct h1_session *s, const uint8_t *p, size_t n, struct obuf **out)
{
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		if (s->state == H1_ST_BODY || s->state == H1_ST_CHUNK_DATA) {
			size_t k = n - i < s->remaining ? n - i : (size_t)s->remaining;

			int rc2 = body_append(s, p + i, k);

			if (rc2 == ERR_LIMIT)
				return refuse(s, 503, API_RESOURCE_EXHAUSTED,
					      "the management port holds too many request bytes "
					      "(--mgmt-max-buffer-total); retry later",
					      false, out);
			if (rc2 < 0)
				return refuse(s, 500, API_INTERNAL, "out of memory", false, out);
			i += k;
			s->remaining -= k;
			if (s->remaining == 0 && s->state == H1_ST_BODY)
				rc = 1;
			else if (s->remaining == 0)
				s->state = H1_ST_CHUNK_DATA_CR;
			continue;
		}
		rc = chunk_byte(s, p[i++], out);
		if (rc < 0)
			return rc;
	}
	if (rc == 1) {
		s->state = H1_ST_HEAD;
		rc = dispatch(s, out);
		if (rc < 0)
			return rc;
	}
	return (ptrdiff_t)i;
}

/* ---- the head ---------------------------------------------------------------- */

/* Persistence (RFC 9112 §9.3), decided by http1_keep_alive. */
static void persistence(struct h1_session *s, const struct http1_request *req)
{
	s->keep_alive = http1_keep_alive(req->headers, req->num_headers, req->version_minor);
	s->http10 = req->version_minor == 0;
}

/* True when the token is configured and this request does not carry it:
 * such a request is answered before its body is read. */
static bool lacks_token(const struct h1_session *s, const struct http1_request *req)
{
	const struct http1_header *a =
	    http1_count(req, "authorization") == 1 ? http1_find(req, "authorization") : NULL;

	return !router_token_ok(s->srv->auth_token, a ? a->value.p : NULL, a ? a->value.len : 0);
}

/* The head is complete: decides the framing of the body. rest is the
 * number of bytes already received after the head (for 100-continue).
 * Returns 0, or ERR_CLOSED after a refusal that ends the connection. */
static int start_body(struct h1_session *s, const struct http1_request *req, size_t rest,
		      struct obuf **out)
{
	const struct http1_header *expect = http1_find(req, "expect");
	uint64_t cl = 0;
	bool has_cl = false;
	int te = http1_transfer_encoding(req->headers, req->num_headers);

	persistence(s, req);
	/* RFC 9110 §9.1: method names are case-sensitive */
	s->head_only = req->method.len == 4 && memcmp(req->method.p, "HEAD", 4) == 0;
	if (te != 0 && req->version_minor == 0) /* RFC 9112 §6.1 */
		return bad_request(s, "Transfer-Encoding in an HTTP/1.0 request", out);
	if (te != 0 && http1_count(req, "content-length"))
		return bad_request(s, "both Transfer-Encoding and Content-Length", out);
	if (te == ERR_PROTO)
		return bad_request(s, "chunked is not the final transfer coding", out);
	if (te == ERR_LIMIT)
		return refuse(s, 501, API_UNIMPLEMENTED,
			      "only the chunked transfer coding is supported", false, out);
	if (te == 0 && http1_content_length(req->headers, req->num_headers, &cl, &has_cl) < 0)
		return bad_request(s, "invalid Content-Length", out);
	if (cl > s->srv->cfg->rest_max_body)
		return too_large(s, out);
	/* RFC 9112 §3.2: exactly one Host in HTTP/1.1. Refused before the
	 * body: the connection then closes if a body was announced. */
	if (req->version_minor >= 1 && http1_count(req, "host") != 1)
		return refuse(s, 400, API_INVALID_ARGUMENT, "HTTP/1.1 needs exactly one Host",
			      te == 0 && cl == 0, out);
	if (te == 0 && cl == 0)
		return dispatch(s, out);
	/* A body without the token is never collected: rest_handle answers
	 * (401, or the 404/405 it finds first) and the connection closes, its
	 * body unread. */
	if (lacks_token(s, req)) {
		s->keep_alive = false;
		dispatch(s, out);
		return ERR_CLOSED;
	}
	s->state = te ? H1_ST_CHUNK_SIZE : H1_ST_BODY;
	s->remaining = te ? 0 : cl;
	/* RFC 9110 §10.1.1: not to HTTP/1.0 clients, and only while the body
	 * has not started to arrive. */
	if (expect && req->version_minor >= 1 && rest == 0 &&
	    http1_has_token(expect->value, "100-continue") &&
	    obuf_append(out, CONTINUE_100, sizeof CONTINUE_100 - 1) < 0)
		return refuse(s, 500, API_INTERNAL, "out of memory", false, out);
	return 0;
}

/* Tracks the end of the head one byte at a time; true on its last byte. */
static bool eoh_step(struct h1_session *s, uint8_t c)
{
	switch (s->eoh) {
	case EOH_START: /* RFC 9112 §2.2: empty lines before the request line */
		if (c != '\r' && c != '\n')
			s->eoh = EOH_TEXT;
		return false;
	case EOH_TEXT:
		if (c == '\n')
			s->eoh = EOH_LF;
		return false;
	case EOH_LF:
		if (c == '\n')
			return true;
		s->eoh = c == '\r' ? EOH_LF_CR : EOH_TEXT;
		return false;
	default: /* EOH_LF_CR */
		if (c == '\n')
			return true;
		s->eoh = EOH_TEXT;
		return false;
	}
}

static int head_reserve(struct h1_session *s, size_t need)
{
	size_t cap = s->head_cap ? s->head_cap : HEAD_START;
	char *nh;

	if (need <= s->head_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > s->srv->cfg->max_head)
		cap = s->srv->cfg->max_head;
	nh = realloc(s->head, cap);
	if (!nh)
		return ERR_NOMEM;
	s->head = nh;
	s->head_cap = cap;
	return 0;
}

/* Collects head bytes up to the empty line (at most --max-head in all),
 * then parses the head and starts the body. Returns bytes used, or
 * ERR_CLOSED. */
static ptrdiff_t take_head(struct h1_session *s, const uint8_t *p, size_t n, struct obuf **out)
{
	size_t room = s->srv->cfg->max_head - s->head_len, k = 0;
	struct http1_request req;
	bool end = false;
	int rc;

	while (k < n && k < room && !end)
		end = eoh_step(s, p[k++]);
	if (head_reserve(s, s->head_len + k) < 0)
		return refuse(s, 500, API_INTERNAL, "out of memory", false, out);
	memcpy(s->head + s->head_len, p, k);
	s->head_len += k;
	if (!end && s->head_len < s->srv->cfg->max_head)
		return (ptrdiff_t)k;
	rc = http1_parse_request(s->head, s->head_len, &req);
	if (rc == ERR_LIMIT || (!end && rc != ERR_PROTO))
		return refuse(s, 431, API_RESOURCE_EXHAUSTED,
			      rc == ERR_LIMIT ? "too many header fields"
					      : "request head is larger than --max-head",
			      false, out);
	if (rc != (int)s->head_len)
		return bad_request(s, "malformed request head", out);
	rc = start_body(s, &req, n - k, out);
	return rc < 0 ? rc : (ptrdiff_t)k;
}

/* ---- the session ------------------------------------------------------------- */

/* Keeps input that arrived while a call is under way. */
static int stash(struct h1_session *s, const uint8_t *p, size_t n)
{
	uint8_t *ns = realloc(s->stash, s->stash_len + n);

	if (!ns)
		return ERR_NOMEM;
	memcpy(ns + s->stash_len, p, n);
	s->stash = ns;
	s->stash_len += n;
	s->srv->mgmt_buffered += n;
	return 0;
}

void h1_session_set_notify(struct h1_session *s, void (*on_output)(void *arg, int rc), void *arg)
{
	s->on_output = on_output;
	s->output_arg = arg;
}

bool h1_session_is_waiting(const struct h1_session *s)
{
	return s->waiting;
}

int h1_session_feed(struct h1_session *s, const uint8_t *p, size_t n, struct obuf **out)
{
	bool outer = !s->feeding;
	int rc = 0;

	s->feeding = true;
	s->out = out;
	while (n > 0) {
		ptrdiff_t used;

		if (s->state == H1_ST_CLOSED) {
			rc = ERR_CLOSED;
			break;
		}
		if (s->waiting) {
			/* Bounded: mgmt.c reads no more while waiting, so this is
			 * at most the rest of one read. */
			if (stash(s, p, n) < 0) {
				rest_cancel(&s->rc);
				s->waiting = false;
				s->state = H1_ST_CLOSED;
				rc = ERR_CLOSED;
			}
			break;
		}
		if (!s->begun) {
			s->begun = true;
			s->begun_ms = s->srv->loop.now_ms;
		}
		used = s->state == H1_ST_HEAD ? take_head(s, p, n, out) : take_body(s, p, n, out);
		if (used < 0) {
			rc = ERR_CLOSED;
			break;
		}
		p += used;
		n -= (size_t)used;
	}
	if (outer)
		s->feeding = false;
	return rc < 0 || s->state == H1_ST_CLOSED ? ERR_CLOSED : 0;
}

int h1_session_sweep(struct h1_session *s, uint64_t now_ms, struct obuf **out)
{
	uint64_t limit = s->srv->cfg->request_timeout_ms;

	if (s->state == H1_ST_CLOSED)
		return ERR_CLOSED;
	if (s->waiting && now_ms - s->begun_ms >= limit) {
		/* The call outlived --request-timeout: dropped, answered here. */
		rest_cancel(&s->rc);
		s->waiting = false;
		return refuse(s, 504, API_DEADLINE_EXCEEDED,
			      "the call did not complete within --request-timeout", false, out);
	}
	if (s->begun && now_ms - s->begun_ms >= limit)
		return refuse(s, 408, API_DEADLINE_EXCEEDED,
			      "the request did not arrive within --request-timeout", false, out);
	if (!s->begun && now_ms - s->idle_ms >= limit) {
		s->state = H1_ST_CLOSED; /* idle keep-alive: close silently */
		return ERR_CLOSED;
	}
	return 0;
}
