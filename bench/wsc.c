/* wsc.c — the WebSocket client side of sendlat and msgload, one struct wsc
 * per connection in a struct wsc_pool. The upgrade uses RFC 6455 §1.3's
 * example key, so the expected Sec-WebSocket-Accept is a constant and no
 * SHA-1 is needed here; with need_id the 101 must carry
 * X-Yc-Apigateway-Websocket-Connection-Id, the id sendlat's Send calls
 * address. Server frames go through an incremental parser that keeps a
 * partial header (≤ 14 bytes), the first 125 bytes of each message (enough
 * for sendlat's and msgload's timestamps) and, apart from them, a control
 * frame's payload; pings are answered with a masked pong (§5.5.3).
 * Never blocks: the owner's epoll loop calls in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "benchlib.h"
#include "wsc.h"

#define HEAD_MAX 4096
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 §1.3's example */
#define ID_HDR "x-yc-apigateway-websocket-connection-id:"

/* Closes c for good; counted_closed: count it in closed if it was open. */
static void kill_conn(struct wsc_pool *pool, struct wsc *c, bool counted_closed)
{
	if (c->state == WSC_DEAD)
		return;
	if (c->state == WSC_OPEN) {
		/* keep open_idx[0..open) the open ones */
		unsigned last = pool->open_idx[--pool->open];

		pool->open_idx[c->pos] = last;
		pool->c[last].pos = c->pos;
		if (counted_closed)
			pool->closed++;
	} else if (c->state == WSC_CONNECTING || c->state == WSC_UPGRADING) {
		pool->pending--;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->head);
	c->head = NULL;
	c->state = WSC_DEAD;
}

void wsc_start(struct wsc_pool *pool, unsigned i)
{
	struct wsc *c = &pool->c[i];
	int src = pool->src_addrs > 1 ? (int)(i % pool->src_addrs) : -1;

	c->fd = connect_to(pool->dst, src);
	if (c->fd < 0) {
		pool->connect_err++;
		c->state = WSC_DEAD;
		return;
	}
	c->state = WSC_CONNECTING;
	pool->pending++;
	bench_ep_set(pool->ep, c->fd, c, EPOLLOUT, true);
}

static void send_upgrade(struct wsc_pool *pool, struct wsc *c)
{
	char req[1024];
	int err = 0, n;
	socklen_t el = sizeof err;

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		pool->connect_err++;
		kill_conn(pool, c, false);
		return;
	}
	n = snprintf(req, sizeof req,
	             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	             "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
	             pool->path, pool->host);
	if (write(c->fd, req, (size_t)n) != n) {
		pool->connect_err++;
		kill_conn(pool, c, false);
		return;
	}
	c->state = WSC_UPGRADING;
	c->head = malloc(HEAD_MAX);
	if (!c->head)
		bench_die("out of memory");
	bench_ep_set(pool->ep, c->fd, c, EPOLLIN, false);
}

static void pong(struct wsc *c)
{
	uint8_t f[6 + 125];
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};

	f[0] = 0x8a;
	f[1] = (uint8_t)(0x80 | c->ctl_len);
	memcpy(f + 2, mask, 4);
	for (unsigned i = 0; i < c->ctl_len; i++)
		f[6 + i] = c->ctl[i] ^ mask[i % 4];
	if (write(c->fd, f, 6u + c->ctl_len) < 0) { /* best effort */
	}
}

/* Feeds server→client frame bytes. Returns 0; or, when the connection
 * must go, -1 after a protocol error, -2 after a close frame (counted). */
static int feed(struct wsc_pool *pool, struct wsc *c, const uint8_t *p, size_t n, uint64_t now)
{
	while (n) {
		if (!c->in_payload) {
			size_t need = 2, take;
			uint8_t l7;

			if (c->hdr_len < 2) {
				take = 2u - c->hdr_len < n ? 2u - c->hdr_len : n;
				memcpy(c->hdr + c->hdr_len, p, take);
				c->hdr_len = (uint8_t)(c->hdr_len + take);
				p += take, n -= take;
				if (c->hdr_len < 2)
					return 0;
			}
			if (c->hdr[1] & 0x80) {
				pool->proto_err++; /* masked server frame */
				return -1;
			}
			l7 = c->hdr[1] & 0x7f;
			need += l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
			if (c->hdr_len < need) {
				take = need - c->hdr_len < n ? need - c->hdr_len : n;
				memcpy(c->hdr + c->hdr_len, p, take);
				c->hdr_len = (uint8_t)(c->hdr_len + take);
				p += take, n -= take;
				if (c->hdr_len < need)
					return 0;
			}
			c->rx_left = l7;
			if (l7 == 126)
				c->rx_left = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
			else if (l7 == 127)
				for (int i = 0; i < 8; i++)
					c->rx_left = c->rx_left << 8 | c->hdr[2 + i];
			c->op = c->hdr[0] & 0x0f;
			c->fin = c->hdr[0] & 0x80;
			c->hdr_len = 0;
			c->in_payload = true;
			if (c->op >= 8) {
				if (c->rx_left > 125) {
					pool->proto_err++;
					return -1;
				}
				c->ctl_len = 0;
			} else if (c->op != 0) {
				c->msg_op = c->op;
				c->pl_len = 0;
				c->msg_len = 0;
			}
		}
		if (c->rx_left) {
			size_t take = c->rx_left < n ? (size_t)c->rx_left : n;

			if (c->op >= 8) {
				/* a ping between two fragments leaves c->pl alone */
				memcpy(c->ctl + c->ctl_len, p, take);
				c->ctl_len = (uint8_t)(c->ctl_len + take);
			} else {
				size_t keep = sizeof c->pl - c->pl_len;

				if (keep > take)
					keep = take;
				memcpy(c->pl + c->pl_len, p, keep);
				c->pl_len = (uint8_t)(c->pl_len + keep);
				c->msg_len += take;
			}
			c->rx_left -= take;
			p += take, n -= take;
			if (c->rx_left)
				return 0;
		}
		c->in_payload = false;
		if (c->op == 8) {
			pool->closed++;
			return -2;
		} else if (c->op == 9) {
			pong(c);
		} else if (c->op < 8 && c->fin) {
			pool->on_message(pool->arg, c, c->msg_len, now);
		}
	}
	return 0;
}

/* Bytes of the 101 response (and maybe the first frames after it). */
static void upgrading(struct wsc_pool *pool, struct wsc *c, const uint8_t *p, size_t n,
                      uint64_t now)
{
	size_t take = HEAD_MAX - 1u - c->head_len < n ? HEAD_MAX - 1u - c->head_len : n;
	char *eoh, *v;
	size_t hl;

	memcpy(c->head + c->head_len, p, take);
	c->head_len = (uint16_t)(c->head_len + take);
	c->head[c->head_len] = '\0';
	eoh = strstr(c->head, "\r\n\r\n");
	if (!eoh) {
		if (c->head_len >= HEAD_MAX - 1) {
			pool->hs_err++;
			kill_conn(pool, c, false);
		}
		return;
	}
	hl = (size_t)(eoh + 4 - c->head);
	*eoh = '\0';
	if (strncmp(c->head, "HTTP/1.1 101", 12) ||
	    !strcasestr(c->head, "\r\nsec-websocket-accept: " WS_ACCEPT)) {
		if (!pool->hs_err)
			fprintf(stderr, "%s: upgrade refused: %.200s\n", bench_prog, c->head);
		pool->hs_err++;
		kill_conn(pool, c, false);
		return;
	}
	v = strcasestr(c->head, "\r\n" ID_HDR);
	if (v) {
		size_t k = 0;

		v += 2 + strlen(ID_HDR);
		while (*v == ' ')
			v++;
		while (v[k] && v[k] != '\r' && k < sizeof c->id - 1)
			k++;
		memcpy(c->id, v, k);
		c->id[k] = '\0';
	}
	if (pool->need_id && !c->id[0]) {
		pool->hs_err++;
		if (pool->hs_err == 1)
			fprintf(stderr, "%s: no connection id header in the 101 response\n",
			        bench_prog);
		kill_conn(pool, c, false);
		return;
	}
	c->state = WSC_OPEN;
	pool->pending--;
	c->pos = pool->open;
	pool->open_idx[pool->open++] = (unsigned)(c - pool->c);
	/* whatever followed the head already is frames */
	{
		size_t rest = c->head_len - hl;
		uint8_t tmp[HEAD_MAX];
		int rc = 0;

		memcpy(tmp, c->head + hl, rest);
		free(c->head);
		c->head = NULL;
		if (rest)
			rc = feed(pool, c, tmp, rest, now);
		if (!rc && take < n)
			rc = feed(pool, c, p + take, n - take, now);
		if (rc < 0)
			kill_conn(pool, c, rc == -1);
		else if (pool->on_open)
			pool->on_open(pool->arg, c, now);
	}
}

static void readable(struct wsc_pool *pool, struct wsc *c)
{
	ssize_t r = read(c->fd, pool->rbuf, pool->rbuf_size);
	uint64_t now;
	int rc;

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (c->state == WSC_UPGRADING)
			pool->hs_err++;
		kill_conn(pool, c, true);
		return;
	}
	now = now_ns();
	if (c->state == WSC_UPGRADING) {
		upgrading(pool, c, pool->rbuf, (size_t)r, now);
		return;
	}
	rc = feed(pool, c, pool->rbuf, (size_t)r, now);
	if (rc < 0)
		kill_conn(pool, c, rc == -1);
}

void wsc_close(struct wsc_pool *pool, struct wsc *c)
{
	kill_conn(pool, c, true);
}

void wsc_on_event(struct wsc_pool *pool, struct wsc *c, uint32_t events)
{
	if (c->state == WSC_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			send_upgrade(pool, c);
	} else if (c->state != WSC_DEAD) {
		readable(pool, c);
	}
}
