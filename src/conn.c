/* conn.c — WebSocket-port connections: accept, the single read() and
 * write() paths, the bounded outbound queue, deferred close, the sweep.
 *
 * Parses nothing: bytes read go to ws_conn_on_data. Output produced while
 * handling one read is gathered in the loop-wide cork buffer and written
 * with one write() at the end, so a read holding 16 frames costs one
 * syscall each way; a batch (conn_batch_begin: the Sends one read from
 * Redis carries) corks the connection it writes, one at a time. Only what
 * the kernel refuses is copied into a
 * per-connection queue, so an idle connection holds no buffer.
 * On a wss:// port the same paths run over TLS (tls.c) through xread and
 * xwritev, which keep read()/writev()'s contract; the handshake runs first,
 * under --handshake-timeout.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ctx.h"
#include "err.h"
#include "log.h"
#include "obuf.h"
#include "registry.h"
#include "strpool.h"
#include "tls.h"
#include "ws.h"
#include "ws_conn.h"

#define ACCEPT_BATCH 64
#define HANDSHAKE_SLACK 1024 /* connections beyond the cap that may still get a 503 */
#define ACCEPT_PAUSE_MS 100      /* accept paused when no descriptor is to be had */
#define REFUSAL_REPORT_MS 10000  /* refusals are logged at most this often */
/* Output the kernel holds unsent per connection beyond what is in flight:
 * enough to keep a fast link busy between two wake-ups, small enough that
 * a client that stops reading fills --max-out-queue, not kernel memory
 * (the send buffer autotunes up to 4 MiB per socket). */
#define KERNEL_UNSENT_MAX (64 * 1024)
#define READ_MIN 1024 /* smallest read while output is queued */

static struct conn *conn_of(struct loop_io *io)
{
	return (struct conn *)((char *)io - offsetof(struct conn, io));
}

/* Queued in the connection itself: its obuf, then a shared frame's rest. */
static size_t pending_out(const struct conn *c)
{
	const struct conn_side *s = c->side;

	return s ? obuf_pending(s->out) + (s->shared ? s->shared->len - s->shared_off : 0) : 0;
}

static bool has_queue(const struct conn *c)
{
	return c->side && (c->side->out || c->side->shared);
}

struct conn_side *conn_side(struct conn *c)
{
	if (!c->side && (c->side = calloc(1, sizeof *c->side)) != NULL)
		c->side->conn = c;
	return c->side;
}

/* ---- transport: plain socket or TLS, with read()/writev()'s contract --- */

/* TLS result → read()/writev() style: -1 with errno (EAGAIN: try again). */
static ssize_t tls_errno(const struct conn *c, ssize_t rc, const char *why)
{
	if (rc == ERR_AGAIN) {
		errno = EAGAIN;
		return -1;
	}
	log_debug_f(LOG_FIELDS(LF_STR("conn", c->id)), "TLS: %s", why ? why : "error");
	errno = EPROTO;
	return -1;
}

static ssize_t xread(struct conn *c, uint8_t *buf, size_t len)
{
	const char *why = NULL;
	ssize_t n;

	if (!conn_tls(c))
		return read(c->io.fd, buf, len);
	n = tls_read(conn_tls(c), buf, len, &why);
	return n >= 0 ? n : tls_errno(c, n, why);
}

/* After ERR_AGAIN OpenSSL holds an encrypted record of these bytes; the
 * queue hands the same bytes back first (tls.h). */
static ssize_t xwritev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	const char *why = NULL;
	ssize_t n;

	if (!conn_tls(c))
		return writev(c->io.fd, iov, iovcnt);
	n = tls_writev(conn_tls(c), iov, iovcnt, &why);
	return n >= 0 ? n : tls_errno(c, n, why);
}

/* Decrypted bytes wait inside TLS while reading is allowed: epoll cannot
 * tell, so the connection asks for EPOLLOUT (writable at once) to come back. */
static bool tls_wants_wakeup(const struct conn *c)
{
	return conn_tls(c) && tls_pending(conn_tls(c)) && !(c->flags & (CONN_F_READ_PAUSED |
							       CONN_F_WAIT_CONNECT |
							       CONN_F_BACKLOG_FULL));
}

size_t conn_queued(const struct conn *c)
{
	size_t n = pending_out(c);

	if (c->srv->cork == c)
		n += c->srv->cork_len;
	return n;
}

#define CONN_F_NO_READ (CONN_F_READ_PAUSED | CONN_F_WAIT_CONNECT | CONN_F_BACKLOG_FULL)

void conn_update_events(struct conn *c)
{
	uint32_t ev = 0;

	/* While paused, leave out RDHUP too: level-triggered, it would wake
	 * the loop forever once the peer half-closes. */
	if (!(c->flags & CONN_F_NO_READ))
		ev |= EPOLLIN | EPOLLRDHUP;
	if (has_queue(c) || tls_wants_wakeup(c))
		ev |= EPOLLOUT;
	if (conn_tls(c)) /* a read waiting to write, a write waiting to read */
		ev |= tls_cross_events(conn_tls(c));
	/* A read that must write first cannot go on while only readable: the
	 * socket would stay readable (records behind the one that made it
	 * write) and the loop spin until the peer reads. */
	if (conn_tls(c) && tls_read_wants_write(conn_tls(c)))
		ev &= ~(uint32_t)(EPOLLIN | EPOLLRDHUP);
	if (loop_mod(&c->srv->loop, &c->io, ev) < 0)
		log_warn_f(LOG_FIELDS(LF_STR("conn", c->id)), "epoll_ctl: %s", strerror(errno));
}

/* The loop's free callback for a DEAD connection, after the batch. */
static void conn_free(struct loop_deferred *d)
{
	struct conn *c = (struct conn *)((char *)d - offsetof(struct conn, reap));

	ws_conn_rx_free(c->rx);
	if (c->side) { /* groups were left with the table (leave_open) */
		c->srv->metrics.out_queued -= obuf_pending(c->side->out);
		obuf_free(&c->side->out);
		obuf_shared_put(c->side->shared);
		tls_free(c->side->tls);
		free(c->side);
	}
	registry_on_free(c); /* its origin: the spec too */
	strpool_put(&c->srv->user_agents, c->user_agent);
	free(c);
}

/* c stops being OPEN: out of the table and the registry's order. */
static void leave_open(struct conn *c)
{
	conntab_remove(&c->srv->table, &c->node);
	registry_on_leave(c);
}

static void close_now(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->state == CONN_ST_DEAD)
		return;
	if (c->state == CONN_ST_OPEN)
		leave_open(c);
	ws_conn_on_closed(c);
	c->state = CONN_ST_DEAD;
	list_remove(&c->link);
	loop_defer_free(&srv->loop, &c->reap, conn_free);
	srv->num_conns--;
	loop_del(&srv->loop, &c->io);
	if (conn_tls(c))
		tls_close_notify(conn_tls(c));
	close(c->io.fd);
	c->io.fd = -1;
	if (srv->cork == c) {
		srv->cork = NULL;
		srv->cork_len = 0;
	}
}

/* Called whenever the queue may have changed size. */
static void after_output(struct conn *c)
{
	const struct config *cfg = c->srv->cfg;
	size_t queued = pending_out(c);
	uint16_t flags = c->flags;

	if (queued == 0 && (c->flags & CONN_F_CLOSE_AFTER_FLUSH)) {
		close_now(c);
		return;
	}
	if (queued == 0 && (c->flags & CONN_F_DISCARD) && !(c->flags & CONN_F_SHUT_WR)) {
		/* Lingering close: our last bytes are out; FIN tells the peer,
		 * and we keep draining its input so no RST destroys them. */
		c->flags |= CONN_F_SHUT_WR;
		if (conn_tls(c))
			tls_close_notify(conn_tls(c));
		shutdown(c->io.fd, SHUT_WR);
	}
	if (queued >= cfg->max_out_queue)
		c->flags |= CONN_F_READ_PAUSED;
	else if (queued <= cfg->max_out_queue / 2 && !(c->flags & CONN_F_CLOSE_AFTER_FLUSH))
		c->flags &= (uint16_t)~CONN_F_READ_PAUSED;
	if (flags != c->flags || !!(c->io.events & EPOLLOUT) != has_queue(c) || conn_tls(c))
		conn_update_events(c); /* TLS: a write may wait to read; no call when unchanged */
}

/* Writes iov to the socket, queues what the kernel did not take.
 * Returns 0 or ERR_CLOSED. */
static int send_or_queue(struct conn *c, struct iovec *iov, int iovcnt)
{
	size_t total = 0, done;
	ssize_t w;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	w = xwritev(c, iov, iovcnt);
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		log_debug_f(LOG_FIELDS(LF_STR("conn", c->id)), "write: %s", strerror(errno));
		c->close_code = WS_CLOSE_ABNORMAL;
		close_now(c);
		return ERR_CLOSED;
	}
	done = w < 0 ? 0 : (size_t)w;
	c->srv->stats.bytes_out += done;
	if (done == total)
		return 0;
	for (int i = 0; i < iovcnt; i++) {
		if (done >= iov[i].iov_len) {
			done -= iov[i].iov_len;
			continue;
		}
		if (!conn_side(c) || obuf_append(&c->side->out, (uint8_t *)iov[i].iov_base + done,
						 iov[i].iov_len - done) < 0) {
			log_error_f(LOG_FIELDS(LF_STR("conn", c->id)),
				    "out of memory queueing output");
			close_now(c);
			return ERR_CLOSED;
		}
		c->srv->metrics.out_queued += iov[i].iov_len - done;
		done = 0;
	}
	after_output(c);
	return 0;
}

/* Appends a frame header and its payload to the cork buffer, growing it. */
static int cork_append(struct server *srv, const uint8_t *hdr, size_t hdr_len,
		       const uint8_t *payload, size_t len)
{
	size_t n = hdr_len + len;

	if (n == 0)
		return 0;
	if (srv->cork_cap - srv->cork_len < n) {
		size_t cap = srv->cork_cap ? srv->cork_cap : 65536;
		uint8_t *b;

		while (cap < srv->cork_len + n)
			cap *= 2;
		b = realloc(srv->cork_buf, cap);
		if (!b)
			return ERR_NOMEM;
		srv->cork_buf = b;
		srv->cork_cap = cap;
	}
	if (hdr_len)
		memcpy(srv->cork_buf + srv->cork_len, hdr, hdr_len);
	if (len)
		memcpy(srv->cork_buf + srv->cork_len + hdr_len, payload, len);
	srv->cork_len += n;
	return 0;
}

/* A shared frame's rest becomes bytes of the queue, so more can follow it. */
static int unshare(struct conn *c)
{
	struct conn_side *s = c->side;
	struct obuf_shared *f = s ? s->shared : NULL;

	if (!f)
		return 0;
	if (obuf_append(&s->out, f->data + s->shared_off, f->len - s->shared_off) < 0)
		return ERR_NOMEM;
	s->shared = NULL;
	obuf_shared_put(f);
	return 0;
}

static void uncork(struct conn *c);

#define BATCH_CORK_MAX 65536 /* gathered for one connection during a batch */

/* During a batch, c is to be written n bytes: cork it (writing out the
 * connection corked before), or write out what c has gathered when n more
 * would pass the limit or the batch cap. Returns ERR_CLOSED when that write
 * closed c. */
static int batch_cork(struct conn *c, size_t n, bool enforce_limit)
{
	struct server *srv = c->srv;

	if (srv->cork == c &&
	    (srv->cork_len + n > BATCH_CORK_MAX ||
	     (enforce_limit && conn_queued(c) + n > srv->cfg->max_out_queue)))
		uncork(c);
	else if (srv->cork && srv->cork != c)
		uncork(srv->cork);
	if (c->state == CONN_ST_DEAD)
		return ERR_CLOSED;
	if (!srv->cork && !has_queue(c) && n <= BATCH_CORK_MAX)
		srv->cork = c;
	return 0;
}

void conn_batch_begin(struct server *srv)
{
	srv->cork_batch = true;
}

void conn_batch_end(struct server *srv)
{
	srv->cork_batch = false;
	if (srv->cork)
		uncork(srv->cork);
}

/* conn_write_frame's general case. Never inlined: inlined, its set-up
 * (saved registers, a stack frame) would run on the echo's fast path too,
 * ~15 instructions per message. */
__attribute__((noinline)) static int write_frame(struct conn *c, const uint8_t *hdr, size_t hdr_len, const uint8_t *payload,
		       size_t len, bool enforce_limit)
{
	struct server *srv = c->srv;
	struct iovec iov[2] = {{(void *)hdr, hdr_len}, {(void *)payload, len}};

	if (c->state == CONN_ST_DEAD)
		return ERR_CLOSED;
	if (srv->cork_batch && batch_cork(c, hdr_len + len, enforce_limit) < 0)
		return ERR_CLOSED;
	if (enforce_limit && conn_queued(c) + hdr_len + len > srv->cfg->max_out_queue)
		return ERR_LIMIT;
	if (unshare(c) < 0) {
		log_error("conn %s: out of memory queueing output", c->id);
		close_now(c);
		return ERR_CLOSED;
	}
	if (srv->cork == c) {
		if (cork_append(srv, hdr, hdr_len, payload, len) == 0)
			return 0;
		log_error_f(LOG_FIELDS(LF_STR("conn", c->id)), "out of memory gathering output");
		close_now(c);
		return ERR_CLOSED;
	}
	if (c->side && c->side->out) {
		struct obuf **out = &c->side->out;
		size_t before = obuf_pending(*out);

		if (obuf_append(out, hdr, hdr_len) < 0 || obuf_append(out, payload, len) < 0) {
			srv->metrics.out_queued += obuf_pending(*out) - before;
			log_error_f(LOG_FIELDS(LF_STR("conn", c->id)),
				    "out of memory queueing output");
			close_now(c);
			return ERR_CLOSED;
		}
		srv->metrics.out_queued += hdr_len + len;
		after_output(c);
		return 0;
	}
	return send_or_queue(c, iov, len ? 2 : 1);
}

int conn_write_frame(struct conn *c, const uint8_t *hdr, size_t hdr_len, const uint8_t *payload,
		     size_t len, bool enforce_limit)
{
	struct server *srv = c->srv;

	/* The echo's case, kept apart from the general one's set-up: output
	 * while c's read is handled (corked: c is live and queues nothing
	 * else, so there is no limit to check unless asked and nothing to
	 * unshare) with a 1..14-byte header that fits the cork buffer as it
	 * is (so never on a buffer not yet allocated). */
	if (srv->cork == c && !enforce_limit && hdr_len - 1 < WS_MAX_HEADER &&
	    srv->cork_cap - srv->cork_len >= hdr_len + len) {
		uint8_t *d = srv->cork_buf + srv->cork_len;

		for (size_t i = 0; i < hdr_len; i++) /* a few bytes: no call */
			d[i] = hdr[i];
		if (len)
			memcpy(d + hdr_len, payload, len);
		srv->cork_len += hdr_len + len;
		return 0;
	}
	return write_frame(c, hdr, hdr_len, payload, len, enforce_limit);
}

int conn_write_shared(struct conn *c, struct obuf_shared *f)
{
	ssize_t w;

	if (c->state == CONN_ST_DEAD)
		return ERR_CLOSED;
	if (has_queue(c) || c->srv->cork == c)
		return conn_write_frame(c, f->data, f->len, NULL, 0, true);
	if (f->len > c->srv->cfg->max_out_queue)
		return ERR_LIMIT;
	w = xwritev(c, &(struct iovec){f->data, f->len}, 1);
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		log_debug("conn %s: write: %s", c->id, strerror(errno));
		c->close_code = WS_CLOSE_ABNORMAL;
		close_now(c);
		return ERR_CLOSED;
	}
	if (w < 0)
		w = 0;
	c->srv->stats.bytes_out += (size_t)w;
	if ((size_t)w == f->len)
		return 0;
	if (!conn_side(c)) {
		log_error("conn %s: out of memory queueing output", c->id);
		close_now(c);
		return ERR_CLOSED;
	}
	c->side->shared = obuf_shared_get(f);
	c->side->shared_off = (uint32_t)w; /* w < f->len <= --max-out-queue */
	after_output(c);
	return 0;
}

static void uncork(struct conn *c)
{
	struct server *srv = c->srv;
	struct iovec iov;

	if (srv->cork != c)
		return;
	srv->cork = NULL;
	if (srv->cork_len == 0)
		return;
	iov = (struct iovec){srv->cork_buf, srv->cork_len};
	srv->cork_len = 0;
	if (send_or_queue(c, &iov, 1) == 0)
		after_output(c);
	if (srv->cork_cap > (4u << 20)) { /* a huge burst: give the memory back */
		free(srv->cork_buf);
		srv->cork_buf = NULL;
		srv->cork_cap = 0;
	}
}

static void flush_queue(struct conn *c)
{
	struct iovec iov[2];
	int n = 0;
	ssize_t w;
	size_t from_out;
	struct conn_side *s = c->side;

	if (!s)
		return;
	if (s->out)
		iov[n++] = (struct iovec){(void *)obuf_data(s->out), obuf_pending(s->out)};
	if (s->shared)
		iov[n++] = (struct iovec){s->shared->data + s->shared_off,
					  s->shared->len - s->shared_off};
	if (!n)
		return;
	w = xwritev(c, iov, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug_f(LOG_FIELDS(LF_STR("conn", c->id)), "write: %s", strerror(errno));
		c->close_code = WS_CLOSE_ABNORMAL;
		close_now(c);
		return;
	}
	c->srv->stats.bytes_out += (size_t)w;
	c->srv->metrics.out_queued -= (size_t)w;
	from_out = obuf_pending(s->out) < (size_t)w ? obuf_pending(s->out) : (size_t)w;
	obuf_consume(&s->out, from_out);
	if (s->shared && (s->shared_off += (uint32_t)((size_t)w - from_out)) == s->shared->len) {
		obuf_shared_put(s->shared);
		s->shared = NULL;
	}
	after_output(c);
}

/* What is read may come straight back as output (echo, pong, close): while
 * output is queued, read no more than the queue has room for, so one read
 * cannot carry the queue a whole read buffer past --max-out-queue. */
static size_t read_size(const struct conn *c)
{
	size_t queued = pending_out(c), cap = c->srv->cfg->max_out_queue, room;

	if (queued == 0)
		return c->srv->rbuf_size;
	room = queued < cap ? cap - queued : 0;
	if (room < READ_MIN)
		room = READ_MIN;
	return room < c->srv->rbuf_size ? room : c->srv->rbuf_size;
}

static void on_readable(struct conn *c)
{
	struct server *srv = c->srv;
	ssize_t n = xread(c, srv->rbuf, read_size(c));

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			log_debug_f(LOG_FIELDS(LF_STR("conn", c->id)), "read: %s", strerror(errno));
		/* RFC 6455 §7.1.5: no close frame seen → 1006 */
		if (!(c->flags & CONN_F_CLOSE_RECEIVED) && c->close_code == 0)
			c->close_code = WS_CLOSE_ABNORMAL;
		conn_finish(c, c->state == CONN_ST_CLOSING);
		return;
	}
	srv->stats.bytes_in += (size_t)n;
	if (c->flags & CONN_F_DISCARD)
		return;
	if (srv->cork && srv->cork != c) /* a batch left open: never mix two */
		uncork(srv->cork);
	if (!has_queue(c))
		srv->cork = c;
	ws_conn_on_data(c, srv->rbuf, (size_t)n);
	if (c->state != CONN_ST_DEAD)
		uncork(c);
}

/* The answer to plain HTTP on the wss:// port (as nginx answers it): the
 * client learns what went wrong rather than reading a TLS alert. */
#define PLAIN_BODY "this port speaks TLS: use wss://\n"
static const char plain_400[] = "HTTP/1.1 400 Bad Request\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n"
				"Content-Length: 33\r\n"
				"Connection: close\r\n\r\n" PLAIN_BODY;
_Static_assert(sizeof PLAIN_BODY - 1 == 33, "Content-Length of plain_400");

/* Advances the TLS handshake; once done, reading starts. */
static void tls_step(struct conn *c)
{
	const char *why = NULL;
	struct tls *tls = conn_tls(c);
	int rc = tls_handshake(tls, &why);

	if (rc == ERR_AGAIN) {
		if (loop_mod(&c->srv->loop, &c->io, tls_events(tls) | EPOLLRDHUP) < 0)
			close_now(c);
		return;
	}
	if (rc < 0) {
		log_debug_f(LOG_FIELDS(LF_STR("conn", c->id)), "TLS handshake: %s", why);
		c->srv->stats.handshakes_failed++;
		if (tls_saw_http(tls) && write(c->io.fd, plain_400, sizeof plain_400 - 1) < 0)
			log_debug("TLS port: cannot answer plain HTTP: %s", strerror(errno));
		/* The rest of what came, read so that close() sends FIN, not an
		 * RST that could destroy the answer or the alert; a few reads. */
		for (int i = 0; i < 4 && read(c->io.fd, c->srv->rbuf, c->srv->rbuf_size) > 0; i++)
			;
		close_now(c);
		return;
	}
	conn_update_events(c);
	on_readable(c); /* the request may have come with the handshake's end */
	if (c->state != CONN_ST_DEAD)
		conn_update_events(c);
}

static void on_event(struct loop_io *io, uint32_t events)
{
	struct conn *c = conn_of(io);

	if (c->state == CONN_ST_DEAD) /* closed earlier in this batch */
		return;
	if (conn_tls(c) && !tls_is_ready(conn_tls(c))) {
		tls_step(c);
		return;
	}
	/* TLS crosses the directions (tls_cross_events): a write that must
	 * read first goes on when readable, a read that must write first
	 * (a KeyUpdate answered into a full socket) when writable. */
	if ((events & EPOLLOUT) || (conn_tls(c) && (events & EPOLLIN) && tls_write_wants_read(conn_tls(c))))
		flush_queue(c);
	if (c->state != CONN_ST_DEAD &&
	    ((events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ||
	     (conn_tls(c) && (events & EPOLLOUT) && tls_read_wants_write(conn_tls(c)))) &&
	    !(c->flags & CONN_F_NO_READ))
		on_readable(c);
	else if (c->state != CONN_ST_DEAD && (events & (EPOLLHUP | EPOLLERR)))
		conn_finish(c, false); /* paused and the peer is gone */
	/* TLS may hold decrypted bytes the socket no longer shows: at most
	 * one record's worth, read now while reading is allowed. */
	while (c->state != CONN_ST_DEAD && tls_wants_wakeup(c))
		on_readable(c);
	if (c->state != CONN_ST_DEAD && conn_tls(c))
		conn_update_events(c); /* a spent wake-up, a new cross wait; no call if unchanged */
}

/* The answer to a connection refused at accept, before anything is
 * allocated for it: static, written once (net_refuse). */
#define REFUSAL_BODY "too many connections\n"
static const char refusal_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Length: 21\r\n"
				  "Connection: close\r\n\r\n" REFUSAL_BODY;
_Static_assert(sizeof REFUSAL_BODY - 1 == 21, "Content-Length of refusal_503");

/* The same refusal on the wss:// port, where a plaintext 503 would be
 * garbage to the client's TLS library: a fatal internal_error alert (RFC
 * 8446 §6.2: "an internal error unrelated to the peer ... such as a memory
 * allocation failure"), in the clear as every record before ServerHello
 * is (§5.1), so the client reports an alert at once instead of an EOF. */
static const char refusal_tls[] = {21 /* alert */, 3, 3 /* TLS 1.2 record */, 0, 2 /* length */,
				   2 /* fatal */, 80 /* internal_error */};

/* What a refusal at accept answers on this listener. */
static void refusal_of(const struct server *srv, const char **resp, size_t *len)
{
	*resp = srv->ws_tls ? refusal_tls : refusal_503;
	*len = srv->ws_tls ? sizeof refusal_tls : sizeof refusal_503 - 1;
}

void conn_report_refusals(struct server *srv)
{
	struct server_refusals *r = &srv->ws_refusals;

	if ((!r->over_cap && !r->at_fd_limit && !r->paused) || srv->loop.now_ms < r->next_report_ms)
		return;
	log_warn("WebSocket port: %llu connection(s) refused with 503 over --max-connections, "
		 "%llu at the descriptor limit, accept paused %llu time(s)%s%s "
		 "(reported at most every %d s)",
		 (unsigned long long)r->over_cap, (unsigned long long)r->at_fd_limit,
		 (unsigned long long)r->paused, r->paused ? ": " : "",
		 r->paused ? strerror(r->last_errno) : "", REFUSAL_REPORT_MS / 1000);
	r->over_cap = r->at_fd_limit = r->paused = 0;
	r->next_report_ms = srv->loop.now_ms + REFUSAL_REPORT_MS;
}

static void accept_one(struct server *srv, int fd, const struct net_ip *ip)
{
	struct conn *c;
	const char *resp;
	size_t len;

	if (srv->num_conns >= srv->cfg->max_connections + HANDSHAKE_SLACK) {
		/* Past the slack of full connections that read the request
		 * and answer it: answer before reading, from a constant. */
		srv->stats.rejected_full++;
		srv->metrics.refused[METRICS_REFUSED_MAX_CONNECTIONS]++;
		srv->ws_refusals.over_cap++;
		refusal_of(srv, &resp, &len);
		net_refuse(fd, resp, len);
		conn_report_refusals(srv);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		log_error("accept: out of memory");
		close(fd);
		return;
	}
	net_limit_unsent(fd, KERNEL_UNSENT_MAX);
	c->srv = srv;
	c->io = (struct loop_io){.fd = fd, .on_event = on_event};
	c->ip = *ip;
	c->protocol = -1;
	c->state = CONN_ST_HANDSHAKE;
	c->opened_ms = c->last_rx_ms = srv->loop.now_ms;
	c->deadline_ms = srv->loop.now_ms + srv->cfg->handshake_timeout_ms;
	c->connected_at_ns = c->last_active_ns = srv->loop.now_wall_ns;
	if (srv->num_conns >= srv->cfg->max_connections)
		c->flags |= CONN_F_REJECT_FULL;
	if (srv->ws_tls && (!conn_side(c) || !(c->side->tls = tls_server_new(srv->ws_tls, fd)))) {
		log_error("accept: out of memory for TLS");
		close(fd);
		free(c->side);
		free(c);
		return;
	}
	if (loop_add(&srv->loop, &c->io, EPOLLIN | EPOLLRDHUP) < 0) {
		log_error("accept: epoll_ctl: %s", strerror(errno));
		tls_free(conn_tls(c));
		close(fd);
		free(c->side);
		free(c);
		return;
	}
	list_insert_tail(&srv->all, &c->link);
	srv->num_conns++;
	srv->stats.accepted++;
}

static void on_accept_resume(struct loop_timer *t)
{
	struct server *srv = (struct server *)((char *)t - offsetof(struct server, accept_timer));

	if (srv->spare_fd < 0)
		srv->spare_fd = net_spare_open();
	if (!srv->draining && srv->ws_listener.fd >= 0)
		loop_mod(&srv->loop, &srv->ws_listener, EPOLLIN);
}

/* Stops polling the listener for ACCEPT_PAUSE_MS: a level-triggered
 * listener with a backlog we cannot take would wake the loop forever. */
static void pause_accept(struct server *srv, struct loop_io *listener, int err)
{
	loop_mod(&srv->loop, listener, 0);
	srv->accept_timer.on_fire = on_accept_resume;
	loop_timer_arm(&srv->loop, &srv->accept_timer, srv->loop.now_ms + ACCEPT_PAUSE_MS);
	srv->ws_refusals.paused++;
	srv->ws_refusals.last_errno = err;
	conn_report_refusals(srv);
}

/* accept4 failed with err. Returns true to go on accepting, false when
 * the listener is drained or paused. */
static bool on_accept_error(struct server *srv, struct loop_io *listener, int err)
{
	if (err == EMFILE) {
		/* Out of descriptors: answer the client with the spare one
		 * rather than leave it hanging in the backlog. */
		const char *resp;
		size_t len;
		int rc;

		refusal_of(srv, &resp, &len);
		rc = net_accept_refuse(listener->fd, &srv->spare_fd, resp, len);

		if (rc == 0) {
			srv->stats.rejected_fd_limit++;
			srv->metrics.refused[METRICS_REFUSED_FD_LIMIT]++;
			srv->ws_refusals.at_fd_limit++;
			conn_report_refusals(srv);
			return true;
		}
		if (rc == ERR_AGAIN)
			return false;
		err = errno;
	}
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		pause_accept(srv, listener, err);
		return false;
	}
	return true; /* ECONNABORTED and friends: that one is gone */
}

void conn_on_accept(struct loop_io *listener, uint32_t events)
{
	struct server *srv = (struct server *)((char *)listener - offsetof(struct server, ws_listener));

	(void)events;
	/* A bounded batch: a flood of connections must not starve the
	 * clients already served; the listener stays readable for the rest. */
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct net_ip ip;
		int fd = net_accept(listener->fd, &ip);

		if (fd == ERR_AGAIN)
			return;
		if (fd < 0) {
			if (!on_accept_error(srv, listener, errno))
				return;
			continue;
		}
		accept_one(srv, fd, &ip);
	}
}

void conn_set_open(struct conn *c)
{
	c->state = CONN_ST_OPEN;
	c->deadline_ms = c->srv->loop.now_ms; /* last ping time: none yet */
	c->last_rx_ms = c->srv->loop.now_ms;  /* idle time counts from the 101 */
	c->connected_at_ns = c->last_active_ns = c->srv->loop.now_wall_ns;
	conntab_insert(&c->srv->table, &c->node);
	registry_on_open(c);
}

void conn_set_closing(struct conn *c)
{
	if (c->state == CONN_ST_OPEN)
		leave_open(c);
	if (c->state == CONN_ST_DEAD)
		return;
	c->state = CONN_ST_CLOSING;
	c->deadline_ms = c->srv->loop.now_ms + c->srv->cfg->close_timeout_ms;
}

void conn_linger(struct conn *c)
{
	if (c->state == CONN_ST_DEAD)
		return;
	c->flags |= CONN_F_DISCARD;
	conn_set_closing(c);
	if (c->srv->cork != c)
		after_output(c);
}

void conn_finish(struct conn *c, bool flush)
{
	if (c->state == CONN_ST_DEAD)
		return;
	if (flush && conn_queued(c) > 0) {
		if (c->state == CONN_ST_OPEN)
			leave_open(c);
		if (c->state != CONN_ST_CLOSING)
			c->state = CONN_ST_CLOSING;
		c->flags |= CONN_F_CLOSE_AFTER_FLUSH | CONN_F_READ_PAUSED;
		c->deadline_ms = c->srv->loop.now_ms + c->srv->cfg->close_timeout_ms;
		if (c->srv->cork == c)
			uncork(c);
		else
			conn_update_events(c);
		return;
	}
	close_now(c);
}

static void sweep_one(struct conn *c, const struct config *cfg, uint64_t now)
{
	switch (c->state) {
	case CONN_ST_HANDSHAKE:
		if (now >= c->deadline_ms && conn_tls(c) && !tls_is_ready(conn_tls(c)))
			close_now(c); /* TLS unfinished: no way to answer */
		else if (now >= c->deadline_ms)
			ws_conn_http_error(c, 408, "handshake timeout");
		break;
	case CONN_ST_OPEN:
		if (cfg->max_lifetime_ms && now - c->opened_ms >= cfg->max_lifetime_ms) {
			c->close_by = METRICS_BY_TIMEOUT;
			ws_conn_close(c, WS_CLOSE_GOING_AWAY, "maximum connection lifetime reached");
		} else if (cfg->idle_timeout_ms && now - c->last_rx_ms >= cfg->idle_timeout_ms) {
			c->srv->stats.closed_idle++;
			c->close_by = METRICS_BY_TIMEOUT;
			ws_conn_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
		} else if (cfg->ping_interval_ms) {
			uint64_t quiet_since = c->last_rx_ms > c->deadline_ms ? c->last_rx_ms
									    : c->deadline_ms;

			if (now - quiet_since >= cfg->ping_interval_ms) {
				c->deadline_ms = now;
				ws_conn_ping(c);
			}
		}
		break;
	case CONN_ST_CLOSING:
		if (now >= c->deadline_ms) {
			/* The peer never completed the close handshake. */
			if (!(c->flags & CONN_F_CLOSE_RECEIVED) && c->close_code == 0)
				c->close_code = WS_CLOSE_ABNORMAL;
			conn_finish(c, false);
		}
		break;
	default:
		break;
	}
}

void conn_sweep(struct server *srv)
{
	struct list_node *n, *next;

	list_for_each_safe(n, next, &srv->all)
		sweep_one(list_entry(n, struct conn, link), srv->cfg, srv->loop.now_ms);
	conn_report_refusals(srv); /* the count since the last report, once due */
}


struct conn *conn_find(struct server *srv, const char *id, size_t len)
{
	struct conntab_node *n = conntab_find(&srv->table, id, len);

	return n ? (struct conn *)((char *)n - offsetof(struct conn, node)) : NULL;
}
