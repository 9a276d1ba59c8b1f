/* lgconn.c — loadgen's connection lifecycle, driven by the loop in
 * loadgen.c: LC_CONNECTING → (--tls: LC_TLS, the TLS handshake, lgtls.c)
 * → (ws: LC_UPGRADING, the 101 checked by wsupgrade.c) → LC_OPEN, where echo keeps --inflight
 * messages out and takes each echo's round trip off the connection's FIFO of send times; or, for
 * the handshake loop, LC_CLOSING: a close frame (RFC 6455 §7.1.2) or a plain close() after the 101,
 * then the slot is reused (raw over TLS: the TLS handshake is the cycle; it ends once the server's
 * session ticket arrives, so the server's whole handshake is in it). Bytes in and out are
 * lgwire.c's; the counters and every drop are here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lgconn.h"
#include "lgtls.h"
#include "lgwire.h"
#include "wsupgrade.h"

#define HEAD_MAX 4096

static void conn_drop(struct lg *g, struct lconn *c)
{
	if (c->state == LC_FREE)
		return;
	if (c->state == LC_CONNECTING || c->state == LC_TLS || c->state == LC_UPGRADING)
		g->pending--;
	if (c->state == LC_OPEN)
		g->opened--;
	epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
	lgtls_free(c);
	close(c->fd);
	free(c->head);
	c->head = NULL;
	c->state = LC_FREE;
	if (g->free_slots)
		g->free_slots[g->nfree++] = (unsigned)(c - g->c);
}

int lgconn_start(struct lg *g, struct lconn *c, uint64_t now)
{
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
	int fd = connect_to(&g->o.dst, (int)(g->next_src++ % g->o.src_addrs));

	if (fd < 0)
		return -1;
	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
		close(fd);
		return -1;
	}
	memset(c, 0, offsetof(struct lconn, ring));
	c->fd = fd;
	c->state = LC_CONNECTING;
	c->want_out = true;
	c->started_ns = now;
	g->pending++;
	return 0;
}

static void conn_opened(struct lg *g, struct lconn *c, uint64_t now)
{
	c->state = LC_OPEN;
	g->pending--;
	g->opened++;
	if (g->o.sc == SC_ECHO && lgwire_send_msgs(g, c, g->o.inflight, now) < 0) {
		g->cnt.closed++;
		conn_drop(g, c);
	}
}

static void after_transport(struct lg *g, struct lconn *c, uint64_t now);

/* Raw over TLS in the handshake loop: the TLS handshake is done; the
 * cycle ends when the server's ticket has arrived (now or on a read). */
static void tls_only_done(struct lg *g, struct lconn *c)
{
	if (!c->got_ticket)
		return;
	if (g->phase == PH_MEASURE)
		g->cnt.cycles++;
	conn_drop(g, c);
}

static void tls_step(struct lg *g, struct lconn *c, uint64_t now)
{
	int rc = lgtls_step(g, c);

	if (rc < 0) {
		g->cnt.hs_err++;
		conn_drop(g, c);
		return;
	}
	if (rc == 0)
		return;
	if (g->o.sc != SC_HANDSHAKE || g->o.mode != MODE_RAW) {
		after_transport(g, c, now);
		return;
	}
	if (g->phase == PH_MEASURE) {
		g->cnt.handshakes++;
		g->cnt.resumed += SSL_session_reused(c->ssl) == 1;
		hist_add(&g->h, now - c->started_ns);
	}
	g->pending--;
	c->state = LC_CLOSING;
	tls_only_done(g, c);
}

static void on_connected(struct lg *g, struct lconn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		g->cnt.connect_err++;
		conn_drop(g, c);
		return;
	}
	lgwire_want_out(g, c, false);
	if (g->o.tls) {
		c->state = LC_TLS;
		if (lgtls_start(g, c) < 0) {
			g->cnt.hs_err++;
			conn_drop(g, c);
			return;
		}
		tls_step(g, c, now);
		return;
	}
	after_transport(g, c, now);
}

/* The transport is up (TCP, or TCP and TLS): upgrade, or for raw go
 * straight to messages. */
static void after_transport(struct lg *g, struct lconn *c, uint64_t now)
{
	if (g->o.mode == MODE_RAW) {
		conn_opened(g, c, now);
		return;
	}
	c->state = LC_UPGRADING;
	if (lgwire_send_upgrade(g, c) < 0) {
		g->cnt.hs_err++;
		conn_drop(g, c);
	}
}

static void upgraded(struct lg *g, struct lconn *c, uint64_t now)
{
	static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */

	free(c->head);
	c->head = NULL;
	if (g->phase == PH_MEASURE) {
		g->cnt.handshakes++;
		if (c->ssl)
			g->cnt.resumed += SSL_session_reused(c->ssl) == 1;
		if (g->o.sc == SC_HANDSHAKE)
			hist_add(&g->h, now - c->started_ns);
	}
	if (g->o.sc != SC_HANDSHAKE) {
		conn_opened(g, c, now);
		return;
	}
	g->pending--;
	if (g->o.close_tcp) { /* abrupt: close() right after the 101 */
		if (g->phase == PH_MEASURE)
			g->cnt.cycles++;
		c->state = LC_CLOSING;
		conn_drop(g, c);
		return;
	}
	c->state = LC_CLOSING; /* §7.1.2: start the close handshake */
	if (lgwire_send_control(c, 0x8, normal, 2) < 0) {
		g->cnt.closed++;
		conn_drop(g, c);
	}
}

/* Feeds response bytes to an upgrading connection. Returns how many bytes
 * of p belonged to the head (the rest are frames), or -1 after dropping c. */
static long upgrade_feed(struct lg *g, struct lconn *c, const uint8_t *p, size_t n, uint64_t now)
{
	const char *h = (const char *)p, *end;
	size_t hn = n, before = c->head_len, take;

	if (c->head) {
		take = n < HEAD_MAX - before ? n : HEAD_MAX - before;
		memcpy(c->head + before, p, take);
		c->head_len = (uint16_t)(before + take);
		h = c->head;
		hn = c->head_len;
	}
	end = memmem(h, hn, "\r\n\r\n", 4);
	if (!end) {
		if (hn >= HEAD_MAX || (!c->head && !(c->head = malloc(HEAD_MAX))))
			goto fail;
		if (h != c->head) {
			memcpy(c->head, p, n);
			c->head_len = (uint16_t)n;
		}
		return (long)n;
	}
	if (wsupgrade_check(h, (size_t)(end + 4 - h), c->accept) < 0)
		goto fail;
	take = (size_t)(end + 4 - h) - before;
	c->head_len = 0;
	upgraded(g, c, now);
	return (long)take;
fail:
	g->cnt.hs_err++;
	conn_drop(g, c);
	return -1;
}

/* k echoes came back: take their send times off the FIFO, send k more. */
static void on_echoes(struct lg *g, struct lconn *c, long k, uint64_t now)
{
	unsigned cap = g->o.inflight;
	bool measuring = g->phase == PH_MEASURE;

	if (g->o.sc != SC_ECHO || (uint64_t)k > c->ring_len) {
		g->cnt.proto_err++; /* more echoes than messages sent */
		conn_drop(g, c);
		return;
	}
	for (long i = 0; i < k; i++) {
		if (measuring)
			hist_add(&g->h, now - c->ring[c->ring_head]);
		c->ring_head = (c->ring_head + 1) % cap;
	}
	c->ring_len -= (uint32_t)k;
	if (measuring)
		g->cnt.msgs += (uint64_t)k;
	if (g->phase != PH_DONE && lgwire_send_msgs(g, c, (unsigned)k, now) < 0) {
		g->cnt.closed++;
		conn_drop(g, c);
	}
}

/* The peer ended the connection (EOF or error). */
static void on_eof(struct lg *g, struct lconn *c)
{
	if (c->state == LC_CLOSING && c->close_rcvd) { /* clean end of a handshake loop */
		if (g->phase == PH_MEASURE)
			g->cnt.cycles++;
	} else if (c->state == LC_UPGRADING || c->state == LC_TLS) {
		g->cnt.hs_err++;
	} else {
		g->cnt.closed++;
	}
	conn_drop(g, c);
}

/* One read (one TLS record, or what the socket holds) and its bytes. */
static void read_once(struct lg *g, struct lconn *c, uint64_t now)
{
	ssize_t n = lg_read(c, g->rbuf, RBUF_SIZE);
	const uint8_t *p = g->rbuf;
	long msgs;

	if (c->state == LC_CLOSING && g->o.mode == MODE_RAW) { /* TLS loop: the ticket */
		if (n > 0)
			g->cnt.proto_err++; /* bytes nobody sent for */
		if (n == 0 || (n < 0 && errno != EAGAIN))
			on_eof(g, c);
		else
			tls_only_done(g, c);
		return;
	}
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		on_eof(g, c);
		return;
	}
	if (c->state == LC_UPGRADING) {
		long used = upgrade_feed(g, c, p, (size_t)n, now);

		if (used < 0 || c->state == LC_FREE || c->state == LC_UPGRADING)
			return;
		p += used;
		n -= used;
	}
	msgs = g->o.mode == MODE_WS ? lgwire_ws_feed(g, c, p, (size_t)n)
	                            : lgwire_raw_feed(g, c, p, (size_t)n);
	if (msgs < 0) {
		g->cnt.proto_err++;
		conn_drop(g, c);
	} else if (c->close_rcvd && c->state != LC_CLOSING) {
		g->cnt.closed++; /* the server closed an open connection */
		conn_drop(g, c);
	} else if (msgs > 0) {
		on_echoes(g, c, msgs, now);
	}
}

/* Reads; over TLS again while OpenSSL holds bytes the socket no longer
 * reports. */
static void on_readable(struct lg *g, struct lconn *c, uint64_t now)
{
	do
		read_once(g, c, now);
	while (c->state != LC_FREE && lg_pending(c));
}

void lgconn_on_event(struct lg *g, struct lconn *c, uint32_t ev, uint64_t now)
{
	if (c->state == LC_FREE) /* dropped earlier in this batch */
		return;
	if (c->state == LC_CONNECTING) {
		on_connected(g, c, now);
		return;
	}
	if (c->state == LC_TLS) {
		tls_step(g, c, now);
		return;
	}
	if ((ev & EPOLLOUT) && lgwire_flush(g, c) < 0) {
		g->cnt.closed++;
		conn_drop(g, c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(g, c, now);
}
