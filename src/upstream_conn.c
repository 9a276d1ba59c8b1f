/* upstream_conn.c — one backend connection's I/O, as a state machine
 * (enum upstream_conn_state): resolve (dns.c), connect (each address in
 * turn), TLS handshake (tls.c) for https, write the request, read and
 * parse the response (http1_resp.c), then idle until the pool hands it
 * another call or it closes.
 *
 * Reads go into the loop's shared buffer; only a response head (or chunk
 * framing) cut short between two reads is kept, in `carry`, bounded by the
 * parser's limits, so an idle connection holds no buffer. The socket stays
 * in epoll for its whole life with EPOLLIN|EPOLLRDHUP, so a backend that
 * closes an idle connection is seen at once (RFC 9112 §9.6).
 *
 * Must never: block, retry a call itself (upstream.c decides), or touch a
 * call after handing it to upstream_call_complete / upstream_call_failed.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "upstream_int.h"

#define IO_IN (EPOLLIN | EPOLLRDHUP)

static void on_event(struct loop_io *io, uint32_t events);
static void try_connect(struct upstream_conn *c, int last_err);

static void set_events(struct upstream_conn *c, uint32_t ev)
{
	if (c->io.fd >= 0)
		loop_mod(c->u->loop, &c->io, ev);
}

void upstream_conn_set_deadline(struct upstream_conn *c, uint64_t deadline_ms)
{
	struct loop_timer *t = &c->u->timeout_timer;

	c->deadline_ms = deadline_ms;
	if (deadline_ms && (!t->armed || deadline_ms < t->deadline_ms))
		loop_timer_arm(c->u->loop, t, deadline_ms);
}

static uint64_t earlier(uint64_t a, uint64_t b)
{
	return a && (!b || a < b) ? a : b;
}

/* The call on c failed: why goes into its buffer (printf-style). */
static void failf(struct upstream_conn *c, bool retry, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failf(struct upstream_conn *c, bool retry, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->req->error, sizeof c->req->error, fmt, ap);
	va_end(ap);
	upstream_call_failed(c, c->req->error, retry);
}

/* Nothing of a response came on a connection that served calls before:
 * the backend may have closed it while idle (upstream.c retries once). */
static bool may_retry(const struct upstream_conn *c)
{
	return c->uses > 0 && !c->got_bytes;
}

static void conn_free(struct loop_deferred *d)
{
	free((struct upstream_conn *)((char *)d - offsetof(struct upstream_conn, reap)));
}

void upstream_conn_close(struct upstream_conn *c)
{
	if (c->state == UC_ST_DEAD)
		return;
	dns_cancel(c->dq);
	c->dq = NULL;
	if (c->io.fd >= 0) {
		loop_del(c->u->loop, &c->io);
		close(c->io.fd);
		c->io.fd = -1;
	}
	tls_free(c->tls);
	c->tls = NULL;
	free(c->carry);
	free(c->addrs);
	c->carry = NULL;
	c->addrs = NULL;
	list_remove(&c->link);
	list_remove(&c->idle_link);
	c->pool->conns--;
	c->state = UC_ST_DEAD;
	/* an event of this epoll batch may still name c */
	loop_defer_free(c->u->loop, &c->reap, conn_free);
	upstream_pool_check(c->pool);
}

/* ---- sending ------------------------------------------------------------------ */

static void do_read(struct upstream_conn *c);

static void do_send(struct upstream_conn *c)
{
	struct upstream_req *r = c->req;
	const char *why = NULL;

	while (c->sent < r->out_len) {
		ssize_t n =
		    c->tls ? tls_write(c->tls, r->out + c->sent, r->out_len - c->sent, &why)
		           : send(c->io.fd, r->out + c->sent, r->out_len - c->sent, MSG_NOSIGNAL);

		if (n < 0 && !c->tls && (errno == EAGAIN || errno == EINTR))
			n = ERR_AGAIN;
		if (n == ERR_AGAIN) {
			set_events(c, IO_IN | (c->tls ? tls_events(c->tls) : EPOLLOUT));
			return;
		}
		if (n < 0) {
			failf(c, may_retry(c), "sending the request: %s",
			      why ? why : strerror(errno));
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = UC_ST_READING;
	set_events(c, IO_IN);
}

/* The call goes out on c (connected, TLS done). */
static void start_request(struct upstream_conn *c)
{
	struct upstream_req *r = c->req;
	struct http1_resp_limits lim = {
	    .max_head = c->u->rbuf_size / 4 < HTTP1_RESP_DEFAULT_MAX_HEAD
	                    ? c->u->rbuf_size / 4
	                    : HTTP1_RESP_DEFAULT_MAX_HEAD,
	    .max_body = r->max_response ? r->max_response : 1,
	};

	http1_resp_init(&c->parser, &lim, r->head_method);
	c->carry_len = 0;
	c->sent = 0;
	c->got_bytes = false;
	c->connect_deadline_ms = 0;
	c->state = UC_ST_SENDING;
	upstream_conn_set_deadline(c, r->deadline_ms);
	do_send(c);
}

void upstream_conn_send(struct upstream_conn *c, struct upstream_req *r)
{
	list_remove(&c->idle_link);
	c->req = r;
	r->conn = c;
	start_request(c);
}

/* ---- receiving ---------------------------------------------------------------- */

/* Copies what the final head says that outlives the read buffer. */
static int on_head(struct upstream_req *r, const struct http1_response *h)
{
	r->status = h->status;
	for (size_t i = 0; i < h->num_headers; i++) {
		const struct http1_header *f = &h->headers[i];

		if (!r->content_type && http1_str_eq_ci(f->name, "content-type")) {
			size_t n = f->value.len < UPSTREAM_MAX_HEADERS ? f->value.len
			                                               : UPSTREAM_MAX_HEADERS;

			if (!(r->content_type = malloc(n + 1)))
				return ERR_NOMEM;
			memcpy(r->content_type, f->value.p, n);
			r->content_type[n] = '\0';
		}
		if (r->want_headers) {
			size_t n = f->name.len + 2 + f->value.len + 2;

			if (r->hdrs_len + n > UPSTREAM_MAX_HEADERS)
				continue; /* whole lines only; a courtesy, never a failure */
			if (!r->hdrs && !(r->hdrs = malloc(UPSTREAM_MAX_HEADERS + 1)))
				return ERR_NOMEM;
			memcpy(r->hdrs + r->hdrs_len, f->name.p, f->name.len);
			memcpy(r->hdrs + r->hdrs_len + f->name.len, ": ", 2);
			memcpy(r->hdrs + r->hdrs_len + f->name.len + 2, f->value.p, f->value.len);
			memcpy(r->hdrs + r->hdrs_len + n - 2, "\r\n", 2);
			r->hdrs_len += n;
			r->hdrs[r->hdrs_len] = '\0';
		}
	}
	return 0;
}

static int on_body(struct upstream_req *r, const char *p, size_t n)
{
	if (r->resp_len + n > r->resp_cap) {
		size_t cap = r->resp_cap * 2;
		uint8_t *b;

		while (cap < r->resp_len + n)
			cap *= 2;
		b = r->resp == r->resp_inline ? malloc(cap) : realloc(r->resp, cap);
		if (!b)
			return ERR_NOMEM;
		if (r->resp == r->resp_inline)
			memcpy(b, r->resp_inline, r->resp_len);
		r->resp = b;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, n);
	r->resp_len += n;
	return 0;
}

/* Parses buf[0..len). Returns true when the call ended (complete or
 * failed; c may be closed), false when more bytes are needed (the rest is
 * kept in c->carry). */
static bool feed(struct upstream_conn *c, const char *buf, size_t len, bool eof)
{
	struct upstream_req *r = c->req;
	struct http1_resp_event ev;
	size_t pos = 0;
	bool http10 = false;
	char *keep;

	c->carry_len = 0; /* it is at the start of buf now */
	for (;;) {
		int rc = http1_resp_parse(&c->parser, buf + pos, len - pos, eof, &ev);

		if (rc == ERR_AGAIN)
			break;
		if (rc < 0) {
			failf(c, eof && may_retry(c), "%s: %s",
			      rc == ERR_LIMIT ? "response over a limit" : "bad response",
			      c->parser.reason);
			return true;
		}
		pos += (size_t)rc;
		if (ev.type == HTTP1_RESP_EV_HEAD) {
			http10 = ev.head.version_minor == 0;
			if (on_head(r, &ev.head) < 0)
				goto out_nomem;
		} else if (ev.type == HTTP1_RESP_EV_BODY) {
			if (on_body(r, ev.data.p, ev.data.len) < 0)
				goto out_nomem;
		} else if (ev.type == HTTP1_RESP_EV_DONE) {
			/* an idle connection holds no buffer */
			free(c->carry);
			c->carry = NULL;
			/* RFC 9112 §9.3: Connection: close ends it; an HTTP/1.0
			 * server, or bytes nobody asked for, end it too. */
			upstream_call_complete(c, ev.keep_alive && !http10 && pos == len &&
			                              c->state == UC_ST_READING);
			return true;
		}
	}
	if (len - pos >= c->u->rbuf_size / 2) { /* the parser's limits keep it below */
		failf(c, false, "response head too large");
		return true;
	}
	if (len > pos) {
		if (!(keep = realloc(c->carry, len - pos)))
			goto out_nomem;
		c->carry = keep;
		memcpy(c->carry, buf + pos, len - pos);
	}
	c->carry_len = len - pos;
	return false;
out_nomem:
	failf(c, false, "out of memory reading the response");
	return true;
}

static void do_read(struct upstream_conn *c)
{
	uint8_t *buf = c->u->rbuf;
	const char *why = NULL;

	do {
		size_t off = c->carry_len;
		ssize_t n;

		if (off)
			memcpy(buf, c->carry, off);
		n = c->tls ? tls_read(c->tls, buf + off, c->u->rbuf_size - off, &why)
		           : read(c->io.fd, buf + off, c->u->rbuf_size - off);
		if (n < 0 && !c->tls && (errno == EAGAIN || errno == EINTR))
			n = ERR_AGAIN;
		if (n == ERR_AGAIN) {
			if (c->tls)
				set_events(c, IO_IN | tls_events(c->tls));
			return;
		}
		if (n < 0) {
			failf(c, may_retry(c), "reading the response: %s",
			      why ? why : strerror(errno));
			return;
		}
		c->got_bytes |= n > 0;
		if (feed(c, (const char *)buf, off + (size_t)n, n == 0))
			return;
	} while (c->tls && tls_pending(c->tls));
}

/* An idle connection woke up: the backend closed it (or sent bytes
 * nobody asked for, just as fatal); over TLS it may be a session ticket. */
static void idle_event(struct upstream_conn *c)
{
	const char *why;

	if (c->tls) {
		ssize_t n = tls_read(c->tls, c->u->rbuf, c->u->rbuf_size, &why);

		if (n == ERR_AGAIN) {
			set_events(c, IO_IN | tls_events(c->tls));
			return;
		}
	}
	upstream_conn_close(c);
}

/* ---- setting up ------------------------------------------------------------------ */

static void do_handshake(struct upstream_conn *c)
{
	const char *why = NULL;
	int rc = tls_handshake(c->tls, &why);

	if (rc == ERR_AGAIN) {
		set_events(c, tls_events(c->tls));
		return;
	}
	if (rc < 0) {
		failf(c, false, "TLS with %s:%u: %s", c->pool->host, c->pool->port, why);
		return;
	}
	log_debug("backend %s:%u: TLS session %s", c->pool->host, c->pool->port,
	          tls_resumed(c->tls) ? "resumed"
	          : c->pool->session  ? "offered, not resumed"
	                              : "new");
	start_request(c);
}

static void connected(struct upstream_conn *c)
{
	const char *why = NULL;
	struct tls_ctx *ctx;

	free(c->addrs);
	c->addrs = NULL;
	if (!c->pool->https) {
		start_request(c);
		return;
	}
	if (!(ctx = upstream_tls(c->u, &why))) {
		failf(c, false, "TLS: %s", why);
		return;
	}
	if (!(c->tls = tls_client_new(ctx, c->io.fd, c->pool->host, c->pool->session,
	                              &c->pool->session))) {
		failf(c, false, "TLS: out of memory");
		return;
	}
	c->state = UC_ST_HANDSHAKE;
	do_handshake(c);
}

static void on_connect_ready(struct upstream_conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (!err) {
		connected(c);
		return;
	}
	loop_del(c->u->loop, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	try_connect(c, err);
}

/* Connects to the next address; after the last, fails with last_err. */
static void try_connect(struct upstream_conn *c, int last_err)
{
	while (c->addr_i < c->addrs->n) {
		const union dns_addr *a = &c->addrs->a[c->addr_i++];
		socklen_t alen = a->sa.sa_family == AF_INET ? sizeof a->in : sizeof a->in6;
		int one = 1,
		    fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			last_err = errno;
			break;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, &a->sa, alen) < 0 && errno != EINPROGRESS) {
			last_err = errno;
			close(fd);
			continue;
		}
		c->io.fd = fd;
		if (loop_add(c->u->loop, &c->io, EPOLLOUT | IO_IN) < 0) {
			last_err = errno;
			close(fd);
			c->io.fd = -1;
			break;
		}
		c->state = UC_ST_CONNECTING;
		return;
	}
	failf(c, false, "cannot connect to %s:%u: %s", c->pool->host, c->pool->port,
	      strerror(last_err ? last_err : ECONNREFUSED));
}

static void on_resolved(void *ctx, int status, const struct dns_addrs *addrs, const char *reason)
{
	struct upstream_conn *c = ctx;

	c->dq = NULL;
	if (status < 0) {
		failf(c, false, "cannot resolve %s: %s", c->pool->host, reason ? reason : "");
		return;
	}
	if (!(c->addrs = malloc(sizeof *c->addrs))) {
		failf(c, false, "out of memory connecting");
		return;
	}
	*c->addrs = *addrs;
	c->addr_i = 0;
	try_connect(c, 0);
}

struct upstream_conn *upstream_conn_open(struct upstream_pool *pool, struct upstream_req *r)
{
	struct upstream *u = r->u;
	struct upstream_conn *c = calloc(1, sizeof *c);
	struct dns_query *q = NULL;
	struct dns *d;
	const char *why;

	if (!c)
		return NULL;
	c->io.fd = -1;
	c->io.on_event = on_event;
	c->u = u;
	c->pool = pool;
	c->req = r;
	r->conn = c;
	list_init(&c->idle_link);
	list_insert_tail(&u->conns, &c->link);
	pool->conns++;
	c->state = UC_ST_RESOLVING;
	c->connect_deadline_ms = u->loop->now_ms + r->connect_timeout_ms;
	upstream_conn_set_deadline(c, earlier(c->connect_deadline_ms, r->deadline_ms));
	/* may answer at once (a literal, the cache): then c may be closed */
	if (!(d = upstream_dns(u, &why))) {
		failf(c, false, "DNS resolver: %s", why);
		return c;
	}
	if (dns_resolve(d, pool->host, pool->port, on_resolved, c, &q) < 0) {
		failf(c, false, "bad host name %s", pool->host);
		return c;
	}
	if (c->state == UC_ST_RESOLVING && q)
		c->dq = q;
	return c;
}

void upstream_conn_expired(struct upstream_conn *c)
{
	struct upstream_req *r = c->req;
	uint64_t now = c->u->loop->now_ms;

	if (c->state == UC_ST_IDLE) {
		upstream_conn_close(c);
		return;
	}
	if (c->connect_deadline_ms && now >= c->connect_deadline_ms)
		failf(c, false, "connecting to %s:%u timed out after %" PRIu64 " ms", c->pool->host,
		      c->pool->port, r->connect_timeout_ms);
	else
		failf(c, false, "no complete response within %" PRIu64 " ms", r->timeout_ms);
}

static void on_event(struct loop_io *io, uint32_t events)
{
	struct upstream_conn *c = (struct upstream_conn *)io;

	switch (c->state) {
	case UC_ST_CONNECTING:
		on_connect_ready(c);
		break;
	case UC_ST_HANDSHAKE:
		do_handshake(c);
		break;
	case UC_ST_SENDING:
		/* a plain socket reads an early answer (or the reset) too */
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP) || c->tls)
			do_send(c);
		if ((c->state == UC_ST_SENDING && !c->tls) || c->state == UC_ST_READING)
			if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				do_read(c);
		break;
	case UC_ST_READING:
		do_read(c);
		break;
	case UC_ST_IDLE:
		idle_event(c);
		break;
	default: /* resolving (not in epoll yet) or closed in this batch */
		break;
	}
}
