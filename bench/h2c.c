/* h2c.c — sendlat's HTTP/2 client (RFC 9113) by hand, one connection per
 * struct h2c: connection preface, SETTINGS (push off, stream window
 * 2^31-1), a connection WINDOW_UPDATE to 2^31-1 topped up as DATA arrives
 * (§6.9); requests are HEADERS + DATA with END_STREAM. Incoming frames are
 * cut from a per-connection buffer; HEADERS + CONTINUATION (§6.10) are
 * assembled into one block for hpack.c, which only reads grpc-status and
 * grpc-message. The connection send window and the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS are respected: h2c_call says "wait"
 * rather than break either. Streams live in a ring of slots indexed by
 * stream id, so a call's bookkeeping is one array access.
 * Never blocks: the owner's epoll loop calls in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "benchlib.h"
#include "h2c.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_MAX_WIN 0x7fffffffu

/* frame types (§6) and flags */
enum {
	F_DATA,
	F_HEADERS,
	F_PRIORITY,
	F_RST,
	F_SETTINGS,
	F_PUSH,
	F_PING,
	F_GOAWAY,
	F_WINUP,
	F_CONT
};
#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20

/* h2c_slot.flags */
#define SL_HEADERS 1
#define SL_DATA 2

static void reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 4096;
	uint8_t *p;

	if (need <= *cap)
		return;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c);
	if (!p)
		bench_die("out of memory");
	*buf = p;
	*cap = c;
}

static void frame_hdr(uint8_t *o, size_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
	o[0] = (uint8_t)(len >> 16);
	o[1] = (uint8_t)(len >> 8);
	o[2] = (uint8_t)len;
	o[3] = type;
	o[4] = flags;
	o[5] = (uint8_t)(sid >> 24 & 0x7f);
	o[6] = (uint8_t)(sid >> 16);
	o[7] = (uint8_t)(sid >> 8);
	o[8] = (uint8_t)sid;
}

/* Room for n more bytes at the end of the output; returns where. */
static uint8_t *queue(struct h2c *h, size_t n)
{
	uint8_t *p;

	if (h->out_off == h->out_len)
		h->out_off = h->out_len = 0;
	reserve(&h->out, &h->out_cap, h->out_len + n);
	p = h->out + h->out_len;
	h->out_len += n;
	return p;
}

static void put_frame(struct h2c *h, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
                      size_t len)
{
	uint8_t *o = queue(h, 9 + len);

	frame_hdr(o, len, type, flags, sid);
	if (len)
		memcpy(o + 9, payload, len);
}

static void put32(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)(v >> 24), o[1] = (uint8_t)(v >> 16), o[2] = (uint8_t)(v >> 8),
	o[3] = (uint8_t)v;
}

static void window_update(struct h2c *h, uint32_t sid, uint32_t inc)
{
	uint8_t p[4];

	put32(p, inc & 0x7fffffffu);
	put_frame(h, F_WINUP, 0, sid, p, 4);
}

int h2c_open(struct h2c *h, int ep, const struct sockaddr_in *dst, uint32_t max_streams,
             h2c_end_fn *on_end, void *arg)
{
	uint8_t s[12];

	h->ep = ep;
	h->max_streams = max_streams;
	h->on_end = on_end;
	h->arg = arg;
	h->fd = connect_to(dst, -1);
	if (h->fd < 0)
		return -1;
	h->next_stream = 1;
	h->send_window = 65535;
	h->peer_max_streams = 100; /* until the server's SETTINGS say otherwise */
	hpack_init(&h->hp);
	memcpy(queue(h, sizeof H2_PREFACE - 1), H2_PREFACE, sizeof H2_PREFACE - 1);
	s[0] = 0, s[1] = 2, put32(s + 2, 0);          /* ENABLE_PUSH 0 */
	s[6] = 0, s[7] = 4, put32(s + 8, H2_MAX_WIN); /* INITIAL_WINDOW_SIZE */
	put_frame(h, F_SETTINGS, 0, 0, s, 12);
	window_update(h, 0, H2_MAX_WIN - 65535);
	h->want_out = true;
	bench_ep_set(ep, h->fd, h, EPOLLIN | EPOLLOUT, true);
	return 0;
}

/* The connection is gone (why: for the log, NULL for none): closed, and
 * the streams still open counted as lost. */
static void lose(struct h2c *h, const char *why)
{
	if (h->dead)
		return;
	if (why)
		fprintf(stderr, "%s: h2 connection lost: %s (%u streams open)\n", bench_prog, why,
		        h->active);
	h->dead = true;
	close(h->fd);
	h->lost_streams += h->active;
	h->active = 0;
}

void h2c_flush(struct h2c *h)
{
	bool want;

	while (!h->dead && h->out_off < h->out_len) {
		ssize_t w = write(h->fd, h->out + h->out_off, h->out_len - h->out_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				lose(h, strerror(errno));
			break;
		}
		h->out_off += (size_t)w;
	}
	if (h->dead)
		return;
	want = h->out_off < h->out_len;
	if (want != h->want_out) {
		h->want_out = want;
		bench_ep_set(h->ep, h->fd, h, EPOLLIN | (want ? EPOLLOUT : 0), false);
	}
}

bool h2c_call(struct h2c *h, const uint8_t *hb, size_t hbl, const uint8_t *msg, size_t mlen,
              uint64_t t)
{
	uint32_t sid = h->next_stream;
	struct h2c_slot *s = &h->slots[(sid >> 1) & (H2C_SLOTS - 1)];
	uint8_t *o;

	if (h->dead || !h->ready || h->goaway || h->active >= h->peer_max_streams ||
	    h->active >= h->max_streams || h->send_window < (int64_t)mlen || s->id ||
	    sid > 0x7ffffff0u)
		return false;
	o = queue(h, 9 + hbl + 9 + mlen);
	frame_hdr(o, hbl, F_HEADERS, FL_END_HEADERS, sid);
	memcpy(o + 9, hb, hbl);
	frame_hdr(o + 9 + hbl, mlen, F_DATA, FL_END_STREAM, sid);
	memcpy(o + 18 + hbl, msg, mlen);
	h->send_window -= (int64_t)mlen;
	h->next_stream += 2;
	h->active++;
	s->id = (int32_t)sid;
	s->flags = 0;
	s->t = t;
	return true;
}

/* Frees the stream's slot and tells the owner how it ended. */
static void stream_end(struct h2c *h, uint32_t sid, int status, const char *msg, bool rst,
                       uint64_t now)
{
	struct h2c_slot *s = &h->slots[(sid >> 1) & (H2C_SLOTS - 1)];
	struct h2c_end e;

	if (s->id != (int32_t)sid) {
		h->unknown_stream++;
		return;
	}
	s->id = 0;
	h->active--;
	e = (struct h2c_end){.sid = sid,
	                     .t = s->t,
	                     .status = status,
	                     .rst = rst,
	                     .data = s->flags & SL_DATA,
	                     .msg = msg};
	h->on_end(h->arg, &e, now);
}

/* A whole header block of stream sid: the response headers, or the
 * trailers when it ends the stream. */
static void header_block(struct h2c *h, uint32_t sid, const uint8_t *p, size_t n, bool end_stream,
                         uint64_t now)
{
	char msg[200] = "";
	int status;
	struct h2c_slot *s = &h->slots[(sid >> 1) & (H2C_SLOTS - 1)];

	if (hpack_decode(&h->hp, p, n, &status, msg, sizeof msg) < 0) {
		h->hpack_err++;
		lose(h, "HPACK decoding error");
		return;
	}
	if (!end_stream) {
		if (s->id == (int32_t)sid)
			s->flags |= SL_HEADERS;
		return;
	}
	stream_end(h, sid, status < 0 ? 2 : status, msg, false, now);
}

/* One complete frame (§6) at p, len bytes of payload. */
static void on_frame(struct h2c *h, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p,
                     size_t len, uint64_t now)
{
	struct h2c_slot *s = &h->slots[(sid >> 1) & (H2C_SLOTS - 1)];
	size_t off = 0, pad = 0;

	if (h->in_cont && type != F_CONT) {
		lose(h, "expected CONTINUATION");
		return;
	}
	switch (type) {
	case F_DATA:
		h->consumed += len;
		if (s->id == (int32_t)sid && sid)
			s->flags |= SL_DATA;
		if (flags & FL_END_STREAM)
			stream_end(h, sid, H2C_NO_TRAILERS, "DATA ended the stream: no trailers",
			           false, now);
		break;
	case F_HEADERS:
		if (flags & FL_PADDED) {
			if (!len)
				goto bad;
			pad = p[0];
			off = 1;
		}
		if (flags & FL_PRIORITY)
			off += 5;
		if (off + pad > len)
			goto bad;
		if (flags & FL_END_HEADERS) {
			header_block(h, sid, p + off, len - off - pad, flags & FL_END_STREAM, now);
		} else {
			h->hb_len = 0;
			reserve(&h->hb, &h->hb_cap, len);
			memcpy(h->hb, p + off, len - off - pad);
			h->hb_len = len - off - pad;
			h->hb_stream = (int32_t)sid;
			h->hb_end_stream = flags & FL_END_STREAM;
			h->in_cont = true;
		}
		break;
	case F_CONT:
		if (!h->in_cont || (int32_t)sid != h->hb_stream)
			goto bad;
		reserve(&h->hb, &h->hb_cap, h->hb_len + len);
		memcpy(h->hb + h->hb_len, p, len);
		h->hb_len += len;
		if (flags & FL_END_HEADERS) {
			h->in_cont = false;
			header_block(h, sid, h->hb, h->hb_len, h->hb_end_stream, now);
		}
		break;
	case F_RST:
		stream_end(h, sid, H2C_RST, "RST_STREAM", true, now);
		break;
	case F_SETTINGS:
		if (flags & FL_ACK)
			break;
		for (size_t i = 0; i + 6 <= len; i += 6) {
			uint16_t id = (uint16_t)(p[i] << 8 | p[i + 1]);
			uint32_t v = (uint32_t)p[i + 2] << 24 | (uint32_t)p[i + 3] << 16 |
			             (uint32_t)p[i + 4] << 8 | p[i + 5];

			if (id == 3)
				h->peer_max_streams = v;
		}
		put_frame(h, F_SETTINGS, FL_ACK, 0, NULL, 0);
		h->ready = true;
		break;
	case F_PING:
		if (!(flags & FL_ACK) && len == 8)
			put_frame(h, F_PING, FL_ACK, 0, p, 8);
		break;
	case F_GOAWAY:
		h->goaway = true;
		if (len >= 8)
			fprintf(stderr, "%s: GOAWAY last-stream %u error %u %.*s\n", bench_prog,
			        (unsigned)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			                   (uint32_t)p[2] << 8 | p[3]) &
			            0x7fffffffu,
			        (unsigned)((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
			                   (uint32_t)p[6] << 8 | p[7]),
			        (int)(len - 8 < 200 ? len - 8 : 200), (const char *)p + 8);
		break;
	case F_WINUP:
		if (len == 4 && sid == 0)
			h->send_window += (int64_t)(((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			                             (uint32_t)p[2] << 8 | p[3]) &
			                            0x7fffffffu);
		break;
	case F_PUSH:
		goto bad;
	default:
		break;
	}
	return;
bad:
	lose(h, "malformed frame");
}

/* One read(); handles every complete frame, keeps the rest for the next. */
static void on_readable(struct h2c *h, uint8_t *buf, size_t cap)
{
	ssize_t r = read(h->fd, buf, cap);
	size_t off = 0;
	uint64_t now;

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		lose(h, r ? strerror(errno) : "EOF from the server");
		return;
	}
	now = now_ns();
	reserve(&h->in, &h->in_cap, h->in_len + (size_t)r);
	memcpy(h->in + h->in_len, buf, (size_t)r);
	h->in_len += (size_t)r;
	while (!h->dead && h->in_len - off >= 9) {
		const uint8_t *f = h->in + off;
		size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
		uint32_t sid =
		    ((uint32_t)f[5] << 24 | (uint32_t)f[6] << 16 | (uint32_t)f[7] << 8 | f[8]) &
		    0x7fffffffu;

		if (len > (1u << 20)) {
			lose(h, "frame too large");
			return;
		}
		if (h->in_len - off < 9 + len)
			break;
		on_frame(h, f[3], f[4], sid, f + 9, len, now);
		off += 9 + len;
	}
	if (h->dead)
		return;
	memmove(h->in, h->in + off, h->in_len - off);
	h->in_len -= off;
	if (h->consumed >= (1u << 30)) {
		window_update(h, 0, (uint32_t)h->consumed);
		h->consumed = 0;
	}
	h2c_flush(h);
}

void h2c_on_event(struct h2c *h, uint32_t events, uint8_t *buf, size_t cap)
{
	if (h->dead)
		return;
	if (events & EPOLLOUT)
		h2c_flush(h);
	if (!h->dead && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(h, buf, cap);
}
