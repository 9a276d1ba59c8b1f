/* mgmt.c — management-port connections: accept4, the read()/write() path,
 * protocol detection by the HTTP/2 client preface (RFC 9113 §3.4), output
 * backpressure, deferred free, and the limits of the port as a whole: at
 * most --mgmt-max-connections (more are closed at accept, so the WebSocket
 * port keeps its descriptors), a deadline in every state (detection,
 * HTTP/2 without streams, output the client does not read), and a paused
 * listener at EMFILE. The protocols themselves live in grpc.c (HTTP/2) and
 * mgmt_h1.c (HTTP/1.1, anything without the preface).
 * With --mgmt-tls-cert the same path runs over TLS (tls.c) after a
 * handshake; ALPN selects h2 or http/1.1, and the preface check still
 * decides (a client with ALPN h2 sends it), so both meet the same sessions.
 */
#include "mgmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "err.h"
#include "grpc.h"
#include "log.h"
#include "mgmt_h1.h"
#include "net.h"
#include "obuf.h"
#include "tls.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN (sizeof H2_PREFACE - 1)
#define MAX_PENDING (1u << 20) /* output queued before we stop reading */
#define ACCEPT_PAUSE_MS 100     /* listener off after EMFILE */
#define WARN_EVERY_MS 10000     /* at most one EMFILE warning per this */

enum mconn_state {
	MCONN_ST_DETECT,
	MCONN_ST_H2,
	MCONN_ST_H1,
	MCONN_ST_CLOSING, /* last response queued: flush it */
	MCONN_ST_LINGER,  /* flushed and FIN sent: drain input until EOF or deadline */
	MCONN_ST_DEAD,
};

struct mconn {
	struct loop_io io;
	struct server *srv;
	struct list_node link; /* in server.mgmt_all until DEAD */
	struct loop_deferred reap; /* queued on the loop once DEAD */
	struct loop_flush flush_later; /* answers completed after their read */
	uint8_t state;
	bool waiting; /* output pending since since_ms */
	uint8_t head_len;
	uint8_t head[H2_PREFACE_LEN]; /* first bytes, until the protocol is known */
	struct grpc_session *h2;
	struct h1_session *h1;
	struct obuf *out;
	struct tls *tls; /* --mgmt-tls-cert: the TLS session; NULL: plain */
	uint64_t linger_until;
	uint64_t since_ms; /* accepted (DETECT); output pending or last written */
};

static struct mconn *mconn_of(struct loop_io *io)
{
	return (struct mconn *)((char *)io - offsetof(struct mconn, io));
}

/* The loop's free callback for a DEAD connection, after the batch. */
static void mconn_free(struct loop_deferred *d)
{
	struct mconn *m = (struct mconn *)((char *)d - offsetof(struct mconn, reap));

	grpc_session_free(m->h2);
	h1_session_free(m->h1);
	obuf_free(&m->out);
	tls_free(m->tls);
	free(m);
}

static void close_now(struct mconn *m)
{
	struct server *srv = m->srv;

	if (m->state == MCONN_ST_DEAD)
		return;
	m->state = MCONN_ST_DEAD;
	srv->mgmt_num--;
	list_remove(&m->link);
	loop_flush_cancel(&m->flush_later);
	loop_defer_free(&srv->loop, &m->reap, mconn_free);
	loop_del(&srv->loop, &m->io);
	if (m->tls)
		tls_close_notify(m->tls);
	close(m->io.fd);
	m->io.fd = -1;
}

/* The transport, plain or TLS, with read()/write()'s contract: -1 with
 * errno EAGAIN to try again, EPROTO for a TLS failure. */
static ssize_t xread(struct mconn *m, uint8_t *buf, size_t len)
{
	const char *why = NULL;
	ssize_t n;

	if (!m->tls)
		return read(m->io.fd, buf, len);
	n = tls_read(m->tls, buf, len, &why);
	if (n >= 0)
		return n;
	errno = n == ERR_AGAIN ? EAGAIN : EPROTO;
	return -1;
}

static ssize_t xwrite(struct mconn *m, const uint8_t *buf, size_t len)
{
	const char *why = NULL;
	ssize_t n;

	if (!m->tls)
		return write(m->io.fd, buf, len);
	n = tls_write(m->tls, buf, len, &why);
	if (n >= 0)
		return n;
	errno = n == ERR_AGAIN ? EAGAIN : EPROTO;
	return -1;
}

/* Decrypted bytes waiting inside TLS: epoll cannot tell. */
static bool has_pending(const struct mconn *m)
{
	return m->tls && tls_is_ready(m->tls) && tls_pending(m->tls);
}

/* Moves session output to the socket until either is exhausted, then sets
 * the epoll interest: no EPOLLIN while MAX_PENDING bytes wait. */
static void flush(struct mconn *m)
{
	uint32_t ev;

	loop_flush_cancel(&m->flush_later); /* this pass writes it all */
	for (;;) {
		ssize_t w;

		if (m->h2 && grpc_session_flush(m->h2, &m->out, MAX_PENDING) < 0) {
			close_now(m);
			return;
		}
		if (!obuf_pending(m->out))
			break;
		w = xwrite(m, obuf_data(m->out), obuf_pending(m->out));
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w < 0) {
			close_now(m);
			return;
		}
		obuf_consume(&m->out, (size_t)w);
		m->since_ms = m->srv->loop.now_ms;
	}
	/* The stall clock starts when output starts waiting. */
	if (obuf_pending(m->out) && !m->waiting)
		m->since_ms = m->srv->loop.now_ms;
	m->waiting = obuf_pending(m->out) > 0;
	if (!obuf_pending(m->out) &&
	    (m->state == MCONN_ST_CLOSING || (m->h2 && grpc_session_is_done(m->h2)))) {
		/* Lingering close: a client still sending (a refused upload)
		 * would otherwise get an RST that can destroy our response. */
		if (m->tls)
			tls_close_notify(m->tls);
		shutdown(m->io.fd, SHUT_WR);
		m->state = MCONN_ST_LINGER;
		m->linger_until = m->srv->loop.now_ms + m->srv->cfg->close_timeout_ms;
		loop_mod(&m->srv->loop, &m->io, EPOLLIN);
		return;
	}
	ev = obuf_pending(m->out) ? EPOLLOUT : 0;
	/* An HTTP/1.1 request waiting for its call holds the next ones:
	 * read no more until it is answered (mgmt_h1.h). */
	if (obuf_pending(m->out) < MAX_PENDING && m->state != MCONN_ST_CLOSING &&
	    !(m->h1 && h1_session_is_waiting(m->h1)))
		ev |= EPOLLIN | (has_pending(m) ? EPOLLOUT : 0); /* writable: back at once */
	/* A read that must write first into a full socket goes on once
	 * writable (tls_cross_events). (A write never waits to read here: no
	 * renegotiation, and TLS 1.3 post-handshake messages come in through
	 * reads.) */
	if (m->tls && tls_read_wants_write(m->tls))
		ev = (ev & ~(uint32_t)EPOLLIN) | EPOLLOUT; /* readable alone: a spin */
	loop_mod(&m->srv->loop, &m->io, ev);
}

static void on_flush_later(struct loop_flush *f)
{
	struct mconn *m = (struct mconn *)((char *)f - offsetof(struct mconn, flush_later));

	if (m->state != MCONN_ST_DEAD)
		flush(m);
}

/* A call answered after the read that started it (a remote call's reply,
 * an upstream's answer): write the answer after the batch, so that the
 * answers one batch completes (a read from Redis carries hundreds) leave
 * in one write, not one write (and one TCP segment) each. */
static void on_h1_output(void *arg, int rc)
{
	struct mconn *m = arg;

	if (m->state == MCONN_ST_DEAD)
		return;
	if (rc < 0)
		m->state = MCONN_ST_CLOSING;
	loop_flush_later(&m->srv->loop, &m->flush_later);
}

static void on_h2_output(void *arg)
{
	on_h1_output(arg, 0);
}

/* Not the HTTP/2 preface: HTTP/1.1 (REST). The bytes kept for detection
 * come first, then the rest of this read. */
static void start_http1(struct mconn *m, const uint8_t *p, size_t n)
{
	m->h1 = h1_session_new(m->srv);
	if (!m->h1) {
		log_error("mgmt: out of memory for an HTTP/1.1 session");
		close_now(m);
		return;
	}
	m->state = MCONN_ST_H1;
	h1_session_set_notify(m->h1, on_h1_output, m);
	if (h1_session_feed(m->h1, m->head, m->head_len, &m->out) < 0 ||
	    (n && h1_session_feed(m->h1, p, n, &m->out) < 0))
		m->state = MCONN_ST_CLOSING; /* flush the last response, then close */
}

/* Collects the first bytes until they prove HTTP/2 or not. Returns bytes of
 * p consumed into the head, or ERR_AGAIN while undecided. */
static void detect(struct mconn *m, const uint8_t *p, size_t n)
{
	size_t take = H2_PREFACE_LEN - m->head_len < n ? H2_PREFACE_LEN - m->head_len : n;

	memcpy(m->head + m->head_len, p, take);
	m->head_len += (uint8_t)take;
	if (memcmp(m->head, H2_PREFACE, m->head_len) != 0) {
		start_http1(m, p + take, n - take);
		return;
	}
	if (m->head_len < H2_PREFACE_LEN)
		return;
	m->h2 = grpc_session_new(m->srv);
	if (!m->h2) {
		log_error("mgmt: out of memory for an HTTP/2 session");
		close_now(m);
		return;
	}
	m->state = MCONN_ST_H2;
	grpc_session_set_notify(m->h2, on_h2_output, m);
	if (grpc_session_feed(m->h2, m->head, m->head_len) < 0 ||
	    (n > take && grpc_session_feed(m->h2, p + take, n - take) < 0))
		m->state = MCONN_ST_CLOSING; /* GOAWAY queued: flush, then close */
}

/* Advances the TLS handshake. Returns true once it is done (read on). */
static bool tls_step(struct mconn *m)
{
	const char *why = NULL;
	int rc = tls_handshake(m->tls, &why);

	if (rc == 0) {
		loop_mod(&m->srv->loop, &m->io, EPOLLIN);
		return true;
	}
	if (rc == ERR_AGAIN) {
		loop_mod(&m->srv->loop, &m->io, tls_events(m->tls));
		return false;
	}
	/* A refused client certificate names why in the log. */
	log_debug("mgmt: TLS handshake: %s", why ? why : "failed");
	/* what came, read so close() sends FIN and the alert is not lost */
	for (int i = 0; i < 4 && read(m->io.fd, m->srv->rbuf, m->srv->rbuf_size) > 0; i++)
		;
	close_now(m);
	return false;
}

static void on_event(struct loop_io *io, uint32_t events)
{
	struct mconn *m = mconn_of(io);
	struct server *srv = m->srv;
	ssize_t n;

	if (m->state == MCONN_ST_DEAD)
		return;
	if (m->tls && !tls_is_ready(m->tls)) {
		if (!tls_step(m))
			return;
		events |= EPOLLIN; /* the first request may have come with the handshake */
	}
	if (m->state == MCONN_ST_LINGER) {
		n = xread(m, srv->rbuf, srv->rbuf_size);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			close_now(m);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR) || has_pending(m) ||
	     (m->tls && (events & EPOLLOUT) && tls_read_wants_write(m->tls))) &&
	    m->state != MCONN_ST_CLOSING) {
		n = xread(m, srv->rbuf, srv->rbuf_size);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			close_now(m);
			return;
		}
		if (n > 0) {
			if (m->state == MCONN_ST_DETECT)
				detect(m, srv->rbuf, (size_t)n);
			else if (m->state == MCONN_ST_H1 ?
					 h1_session_feed(m->h1, srv->rbuf, (size_t)n, &m->out) < 0 :
					 grpc_session_feed(m->h2, srv->rbuf, (size_t)n) < 0)
				m->state = MCONN_ST_CLOSING;
		}
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		close_now(m);
		return;
	}
	if (m->state != MCONN_ST_DEAD)
		flush(m);
}

static void on_accept_resume(struct loop_timer *t)
{
	struct server *srv = (struct server *)((char *)t - offsetof(struct server, mgmt_accept_timer));

	if (srv->mgmt_listener.fd >= 0)
		loop_mod(&srv->loop, &srv->mgmt_listener, EPOLLIN);
}

/* Out of descriptors with clients in the backlog: a level-triggered
 * listener would wake the loop at once, forever. Stop listening for a
 * moment; warn at most every WARN_EVERY_MS. */
static void pause_accept(struct server *srv, int err)
{
	if (!srv->mgmt_warned_ms || srv->loop.now_ms - srv->mgmt_warned_ms >= WARN_EVERY_MS) {
		srv->mgmt_warned_ms = srv->loop.now_ms;
		log_warn("mgmt accept: %s; pausing the management listener %d ms at a time "
			 "(next warning in %d s at the earliest)",
			 strerror(err), ACCEPT_PAUSE_MS, WARN_EVERY_MS / 1000);
	}
	loop_mod(&srv->loop, &srv->mgmt_listener, 0);
	srv->mgmt_accept_timer.on_fire = on_accept_resume;
	loop_timer_arm(&srv->loop, &srv->mgmt_accept_timer, srv->loop.now_ms + ACCEPT_PAUSE_MS);
}

void mgmt_on_accept(struct loop_io *listener, uint32_t events)
{
	struct server *srv = (struct server *)((char *)listener - offsetof(struct server, mgmt_listener));

	(void)events;
	for (int i = 0; i < 64; i++) {
		struct net_ip ip;
		struct mconn *m;
		int fd = net_accept(listener->fd, &ip);

		if (fd == ERR_AGAIN)
			return;
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				pause_accept(srv, errno);
				return;
			}
			continue; /* ECONNABORTED and friends: that one is gone */
		}
		/* Over the cap: closed at once, which costs no buffer and no
		 * descriptor beyond this instant. */
		if (srv->mgmt_num >= srv->cfg->mgmt_max_connections) {
			close(fd);
			continue;
		}
		m = calloc(1, sizeof *m);
		if (!m) {
			close(fd);
			continue;
		}
		m->srv = srv;
		m->since_ms = srv->loop.now_ms;
		m->io = (struct loop_io){.fd = fd, .on_event = on_event};
		loop_flush_init(&m->flush_later, on_flush_later);
		if ((srv->mgmt_tls && !(m->tls = tls_server_new(srv->mgmt_tls, fd))) ||
		    loop_add(&srv->loop, &m->io, EPOLLIN) < 0) {
			tls_free(m->tls);
			close(fd);
			free(m);
			continue;
		}
		srv->mgmt_num++;
		list_insert_tail(&srv->mgmt_all, &m->link);
	}
}

void mgmt_drain(struct server *srv)
{
	struct list_node *n, *next;

	list_for_each_safe(n, next, &srv->mgmt_all) {
		struct mconn *m = list_entry(n, struct mconn, link);

		if (m->h2) {
			grpc_session_goaway(m->h2, false);
			flush(m);
		}
	}
}

/* The deadlines of one connection, whatever its state; --request-timeout
 * for each. The HTTP/1.1 session times its own requests and idle time. */
static void sweep_one(struct mconn *m, uint64_t now, uint64_t limit)
{
	uint64_t idle;

	if (m->state == MCONN_ST_LINGER) {
		if (now >= m->linger_until)
			close_now(m);
		return;
	}
	/* Output the client has not read for that long: it is not reading. */
	if (obuf_pending(m->out) && now - m->since_ms >= limit) {
		close_now(m);
		return;
	}
	if (m->state == MCONN_ST_DETECT) {
		if (now - m->since_ms >= limit) /* silent, or a preface that never ends */
			close_now(m);
		return;
	}
	if (m->h2) {
		grpc_session_sweep(m->h2, now);
		idle = grpc_session_idle_since(m->h2);
		if (m->state == MCONN_ST_H2 && idle && now - idle >= limit) {
			grpc_session_goaway(m->h2, true); /* idle: NO_ERROR, nothing lost */
			m->state = MCONN_ST_CLOSING;
		}
		flush(m);
	} else if (m->state == MCONN_ST_H1) {
		if (h1_session_sweep(m->h1, now, &m->out) < 0)
			m->state = MCONN_ST_CLOSING; /* 408 (or nothing), then close */
		flush(m);
	}
}

void mgmt_sweep(struct server *srv)
{
	struct list_node *n, *next;

	list_for_each_safe(n, next, &srv->mgmt_all)
		sweep_one(list_entry(n, struct mconn, link), srv->loop.now_ms,
			  srv->cfg->request_timeout_ms);
}

void mgmt_close_all(struct server *srv)
{
	struct list_node *n;

	while ((n = list_first(&srv->mgmt_all))) {
		struct mconn *m = list_entry(n, struct mconn, link);

		if (m->h2) {
			grpc_session_goaway(m->h2, true);
			m->state = MCONN_ST_CLOSING;
			flush(m); /* one best-effort pass; the socket is closed next */
		}
		close_now(m);
	}
	loop_reap(&srv->loop);
}
