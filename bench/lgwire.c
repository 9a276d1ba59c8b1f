/* lgwire.c — loadgen's bytes on the wire. Outgoing: one template buffer
 * holds inflight + 1 copies of a message's wire form, so k messages are
 * one write() of a contiguous slice and nothing is copied per connection
 * (RFC 6455 §5.3: every client frame masked, here with one random key per
 * run). Incoming: an incremental parser that keeps a partial frame header
 * (≤ 14 bytes) per connection and compares payloads with the pattern in
 * place, without copying them; control frames (§5.5) are collected for
 * the pong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lgtls.h"
#include "lgwire.h"
#include "wsupgrade.h"

static uint64_t rnd(struct lg *g)
{
	/* splitmix64: keys and masks need to differ, not to be secret */
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ---- outgoing ------------------------------------------------------------ */

int lgwire_build_template(struct lg *g)
{
	const struct opts *o = &g->o;
	uint8_t hdr[14];
	size_t hl = 0, copies = o->inflight + 1u;
	uint64_t m = rnd(g);

	g->pattern = malloc(o->size ? o->size : 1);
	if (!g->pattern)
		return -1;
	for (unsigned i = 0; i < o->size; i++)
		g->pattern[i] = (uint8_t)('a' + i % 26);
	memcpy(g->mask, &m, 4);
	if (!g->mask[0]) /* make sure the server really unmasks something */
		g->mask[0] = 0x5a;
	if (o->mode == MODE_WS) {
		hdr[hl++] = (uint8_t)(0x80 | (o->binary ? 2 : 1));
		if (o->size < 126) {
			hdr[hl++] = (uint8_t)(0x80 | o->size);
		} else if (o->size < 65536) {
			hdr[hl++] = 0x80 | 126;
			hdr[hl++] = (uint8_t)(o->size >> 8);
			hdr[hl++] = (uint8_t)o->size;
		} else {
			hdr[hl++] = 0x80 | 127;
			for (int i = 7; i >= 0; i--)
				hdr[hl++] = (uint8_t)((uint64_t)o->size >> (8 * i));
		}
		memcpy(hdr + hl, g->mask, 4);
		hl += 4;
	}
	g->period = hl + o->size;
	g->tmpl_len = g->period * copies;
	g->tmpl = malloc(g->tmpl_len);
	if (!g->tmpl)
		return -1;
	memcpy(g->tmpl, hdr, hl);
	for (unsigned i = 0; i < o->size; i++)
		g->tmpl[hl + i] = g->pattern[i] ^ (o->mode == MODE_WS ? g->mask[i % 4] : 0);
	for (size_t i = 1; i < copies; i++)
		memcpy(g->tmpl + i * g->period, g->tmpl, g->period);
	return 0;
}

void lgwire_want_out(struct lg *g, struct lconn *c, bool want)
{
	struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};

	if (c->want_out == want)
		return;
	c->want_out = want;
	epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &e);
}

int lgwire_flush(struct lg *g, struct lconn *c)
{
	while (c->out_pending) {
		size_t len = g->tmpl_len - c->out_off;
		ssize_t w;

		if (len > c->out_pending)
			len = c->out_pending;
		w = lg_write(c, g->tmpl + c->out_off, len);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		c->out_pending -= (size_t)w;
		c->out_off = (uint32_t)((c->out_off + (size_t)w) % g->period);
		if ((size_t)w < len)
			break;
	}
	lgwire_want_out(g, c, c->out_pending > 0);
	return 0;
}

int lgwire_send_msgs(struct lg *g, struct lconn *c, unsigned k, uint64_t now)
{
	unsigned cap = g->o.inflight;

	for (unsigned i = 0; i < k; i++)
		c->ring[(c->ring_head + c->ring_len++) % cap] = now;
	c->out_pending += (uint64_t)k * g->period;
	return lgwire_flush(g, c);
}

int lgwire_send_control(struct lconn *c, uint8_t op, const uint8_t *p, size_t n)
{
	uint8_t f[2 + 4 + 125];
	uint8_t m[4] = {0x12, 0x34, 0x56, 0x78};

	if (c->out_pending || n > 125)
		return -1;
	f[0] = (uint8_t)(0x80 | op);
	f[1] = (uint8_t)(0x80 | n);
	memcpy(f + 2, m, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = p[i] ^ m[i % 4];
	return lg_write(c, f, 6 + n) == (ssize_t)(6 + n) ? 0 : -1;
}

int lgwire_send_upgrade(struct lg *g, struct lconn *c)
{
	uint8_t raw[16];
	char key[25], req[1024];
	uint64_t r0 = rnd(g), r1 = rnd(g);
	int n;

	memcpy(raw, &r0, 8);
	memcpy(raw + 8, &r1, 8);
	wsupgrade_key(raw, key, c->accept);
	n = snprintf(req, sizeof req,
	             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
	             g->o.path, g->o.target, key, g->o.user_agent ? "User-Agent: " : "",
	             g->o.user_agent ? g->o.user_agent : "", g->o.user_agent ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof req)
		return -1;
	return lg_write(c, req, (size_t)n) == n ? 0 : -1;
}

/* ---- incoming ------------------------------------------------------------ */

/* Takes header bytes into c->rxh. Returns 1 with a frame started, 0 for
 * more input, -1 on a protocol error. */
static int frame_header(struct lconn *c, const uint8_t **pp, size_t *np)
{
	size_t hl, len7;
	uint64_t len = 0;

	while (c->rxh_len < 2 && *np) {
		c->rxh[c->rxh_len++] = *(*pp)++;
		(*np)--;
	}
	if (c->rxh_len < 2)
		return 0;
	if (c->rxh[1] & 0x80) /* §5.1: a server must not mask */
		return -1;
	len7 = c->rxh[1] & 0x7f;
	hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	while (c->rxh_len < hl && *np) {
		c->rxh[c->rxh_len++] = *(*pp)++;
		(*np)--;
	}
	if (c->rxh_len < hl)
		return 0;
	if (len7 < 126)
		len = len7;
	for (size_t i = 2; i < hl; i++)
		len = len << 8 | c->rxh[i];
	c->rx_op = c->rxh[0];
	c->rxh_len = 0;
	c->rx_left = len;
	c->in_frame = true;
	if ((c->rx_op & 0x0f) >= 8) { /* §5.5: control frames are short, unfragmented */
		c->ctl_len = 0;
		return len <= 125 && (c->rx_op & 0x80) ? 1 : -1;
	}
	if ((c->rx_op & 0x0f) != 0)
		c->rx_got = 0;
	return 1;
}

/* A whole frame has arrived. Returns 1 for a complete data message, 0
 * otherwise, -1 when c must be dropped. */
static int frame_end(struct lg *g, struct lconn *c)
{
	uint8_t op = c->rx_op & 0x0f;

	c->in_frame = false;
	if (op < 8) {
		if (!(c->rx_op & 0x80))
			return 0;
		if (c->rx_got != g->o.size)
			g->cnt.bad_payload++;
		c->rx_got = 0;
		return 1;
	}
	if (op == 0x9) /* §5.5.3: pong with the ping's payload */
		return lgwire_send_control(c, 0xa, c->ctl, c->ctl_len);
	if (op == 0x8)
		c->close_rcvd = true;
	return 0;
}

long lgwire_ws_feed(struct lg *g, struct lconn *c, const uint8_t *p, size_t n)
{
	long msgs = 0;

	while (n && !c->close_rcvd) {
		size_t take;
		int rc;

		if (!c->in_frame) {
			rc = frame_header(c, &p, &n);
			if (rc <= 0)
				return rc < 0 ? -1 : msgs;
		}
		take = n < c->rx_left ? n : (size_t)c->rx_left;
		if ((c->rx_op & 0x0f) >= 8) {
			memcpy(c->ctl + c->ctl_len, p, take);
			c->ctl_len = (uint8_t)(c->ctl_len + take);
		} else if (c->rx_got + take > g->o.size ||
		           memcmp(p, g->pattern + c->rx_got, take) != 0) {
			g->cnt.bad_payload++;
		}
		if ((c->rx_op & 0x0f) < 8)
			c->rx_got += take;
		c->rx_left -= take;
		p += take;
		n -= take;
		if (c->rx_left == 0) {
			rc = frame_end(g, c);
			if (rc < 0)
				return -1;
			msgs += rc;
		}
	}
	return msgs;
}

long lgwire_raw_feed(struct lg *g, struct lconn *c, const uint8_t *p, size_t n)
{
	long msgs = 0;

	while (n) {
		size_t take = g->o.size - c->rx_got;

		if (take > n)
			take = n;
		if (memcmp(p, g->pattern + c->rx_got, take) != 0)
			g->cnt.bad_payload++;
		c->rx_got += take;
		p += take;
		n -= take;
		if (c->rx_got == g->o.size) {
			c->rx_got = 0;
			msgs++;
		}
	}
	return msgs;
}
