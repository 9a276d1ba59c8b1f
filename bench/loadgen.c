/* loadgen.c — load generator for bench/run.sh: one thread, one
 * level-triggered epoll set, many connections.
 *
 * Scenarios (first argument):
 *   echo       keep --inflight messages outstanding on each of --conns
 *              connections (a new one goes out as each echo comes back);
 *              reports messages/s and round-trip latency percentiles
 *   handshake  --conns concurrent loops of TCP connect → RFC 6455 upgrade
 *              → close; reports completed handshakes/s
 *   idle       open --conns WebSocket connections, print "ready", hold
 *              them until SIGTERM or --hold seconds
 * --mode ws (default) speaks RFC 6455 as a client (§4.1 handshake with
 * a random key and a verified Sec-WebSocket-Accept, masked frames, §5.3);
 * --mode raw sends the same payload bytes unframed, for bench/rawecho.
 *
 * Every run ends with one machine-readable line on stdout:
 *   RESULT scenario=echo target=ws conns=100 ... msgs_per_s=... p50_us=...
 *
 * Must not be the thing measured: output comes from one template buffer
 * (k messages = one write() of k frames, nothing copied per connection),
 * input goes through one loop-wide read buffer and an incremental frame
 * parser, and latency is taken from a per-connection FIFO of send times
 * (echo preserves order), so clock_gettime runs once per read or write.
 * Connections are spread over source addresses 127.0.0.1..127.0.0.K
 * (bind() with IP_BIND_ADDRESS_NO_PORT before connect), so tens of
 * thousands of them do not run out of ephemeral ports.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define HEAD_MAX 4096
#define MAX_INFLIGHT 4096
#define MAX_SIZE (16u << 20)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum scenario { SC_ECHO, SC_HANDSHAKE, SC_IDLE };
enum mode { MODE_WS, MODE_RAW };
enum lc_state { LC_FREE, LC_CONNECTING, LC_UPGRADING, LC_OPEN, LC_CLOSING };
enum phase { PH_RAMP, PH_WARMUP, PH_MEASURE, PH_HOLD, PH_DONE };

struct opts {
	enum scenario sc;
	enum mode mode;
	struct sockaddr_in dst;
	const char *target; /* host:port as given, also the Host header */
	const char *path, *user_agent;
	unsigned conns, inflight, size, src_addrs, max_pending;
	double duration, warmup, hold, ramp_timeout;
	int server_pid;
	bool binary, close_tcp;
};

/* One client connection (a slot, reused by the handshake loop). */
struct lconn {
	int fd;
	uint8_t state;   /* enum lc_state */
	bool want_out;   /* EPOLLOUT is in the interest set */
	bool in_frame;   /* ws: inside a frame's payload */
	bool close_rcvd; /* ws: the server's close frame arrived */
	uint8_t rxh_len; /* ws: bytes of a partial frame header in rxh */
	uint8_t rx_op;   /* ws: opcode of the current frame */
	uint8_t rxh[14];
	uint8_t ctl_len;              /* ws: bytes of the control payload in ctl */
	uint16_t head_len;            /* bytes in head (partial 101 response) */
	char *head;                   /* NULL unless the 101 response spans reads */
	uint64_t rx_left;             /* ws: payload bytes left in the current frame */
	uint64_t rx_got;              /* payload bytes seen of the current message */
	uint64_t out_pending;         /* template bytes not yet written */
	uint32_t out_off;             /* where in the template period the next byte is */
	uint32_t ring_head, ring_len; /* FIFO of send times: ring[] below */
	uint64_t *ring;
	uint64_t started_ns; /* connect() time */
	char accept[29];     /* expected Sec-WebSocket-Accept */
	uint8_t ctl[125];    /* ws: control frame payload */
};

struct counters {
	uint64_t msgs, handshakes, cycles; /* in the measurement window */
	uint64_t connect_err, hs_err, closed, proto_err, bad_payload; /* whole run */
};

struct lg {
	struct opts o;
	int ep;
	enum phase phase;
	struct lconn *c;
	uint64_t *rings;
	uint8_t *rbuf;
	uint8_t *tmpl; /* (inflight + 1) periods of the outgoing stream */
	size_t period; /* bytes per message on the wire */
	size_t tmpl_len;
	uint8_t *pattern; /* the payload, unmasked, as it comes back */
	uint8_t mask[4];
	uint64_t rng;
	unsigned pending, opened, next_src, next_slot;
	unsigned *free_slots, nfree; /* handshake: slots to reconnect */
	uint64_t start_ns, phase_end_ns, win_start_ns, win_end_ns;
	long long cpu0, cpu1;   /* server utime+stime ticks at window edges */
	long long busy0, busy1; /* whole machine's busy ticks at window edges */
	double self0, self1;    /* our own user + system seconds at window edges */
	long rss0_kb, rss1_kb;
	struct counters cnt;
	struct hist h;
};

static uint64_t rnd(struct lg *g)
{
	/* splitmix64: keys and masks need to differ, not to be secret */
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ---- SHA-1 (FIPS 180-4), only to check Sec-WebSocket-Accept ---------- */

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

/* len must be below 120 (enough for key + GUID). */
static void sha1_short(const uint8_t *msg, size_t len, uint8_t out[20])
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
	uint8_t blk[128] = {0};
	size_t nblk = len + 9 <= 64 ? 1 : 2;
	uint64_t bits = (uint64_t)len * 8;

	memcpy(blk, msg, len);
	blk[len] = 0x80;
	for (int i = 0; i < 8; i++)
		blk[nblk * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t i = 0; i < nblk; i++)
		sha1_block(h, blk + 64 * i);
	for (int i = 0; i < 20; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
		             (i + 2 < n ? in[i + 2] : 0);

		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

/* ---- latency histogram: log-linear, ~3% resolution ----------------- */

static double hist_pct(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return hist_value(i);
	}
	return (double)h->max;
}

/* ---- the server process, from /proc ------------------------------- */

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- outgoing stream ----------------------------------------------- */

/* The wire form of one message: a masked frame (ws) or the bare payload
 * (raw). The template repeats it inflight + 1 times, so any k <= inflight
 * messages starting anywhere in a period are one contiguous slice. */
static int build_template(struct lg *g)
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

static void set_out(struct lg *g, struct lconn *c, bool want)
{
	struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};

	if (c->want_out == want)
		return;
	c->want_out = want;
	epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Writes pending template bytes. Returns 0, or -1 if the socket failed. */
static int flush_out(struct lg *g, struct lconn *c)
{
	while (c->out_pending) {
		size_t len = g->tmpl_len - c->out_off;
		ssize_t w;

		if (len > c->out_pending)
			len = c->out_pending;
		w = write(c->fd, g->tmpl + c->out_off, len);
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
	set_out(g, c, c->out_pending > 0);
	return 0;
}

/* Queues k messages sent "now" and writes them in one go. */
static int send_msgs(struct lg *g, struct lconn *c, unsigned k, uint64_t now)
{
	unsigned cap = g->o.inflight;

	for (unsigned i = 0; i < k; i++)
		c->ring[(c->ring_head + c->ring_len++) % cap] = now;
	c->out_pending += (uint64_t)k * g->period;
	return flush_out(g, c);
}

/* A control frame (ping answer, close) written straight to the socket;
 * only legal when no message bytes are pending. Returns 0 or -1. */
static int send_control(struct lconn *c, uint8_t op, const uint8_t *p, size_t n)
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
	return write(c->fd, f, 6 + n) == (ssize_t)(6 + n) ? 0 : -1;
}

/* ---- connection lifecycle ------------------------------------------ */

static void conn_drop(struct lg *g, struct lconn *c)
{
	if (c->state == LC_FREE)
		return;
	if (c->state == LC_CONNECTING || c->state == LC_UPGRADING)
		g->pending--;
	if (c->state == LC_OPEN)
		g->opened--;
	epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->head);
	c->head = NULL;
	c->state = LC_FREE;
	if (g->free_slots)
		g->free_slots[g->nfree++] = (unsigned)(c - g->c);
}

/* Starts a non-blocking connect from the next source address. */
static int conn_start(struct lg *g, struct lconn *c, uint64_t now)
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
	if (g->o.sc == SC_ECHO && send_msgs(g, c, g->o.inflight, now) < 0) {
		g->cnt.closed++;
		conn_drop(g, c);
	}
}

/* Sends the RFC 6455 §4.1 upgrade request and remembers the expected
 * Sec-WebSocket-Accept. */
static int send_upgrade(struct lg *g, struct lconn *c)
{
	uint8_t raw[16], digest[20], kg[24 + sizeof WS_GUID];
	char key[25], req[1024];
	uint64_t r0 = rnd(g), r1 = rnd(g);
	int n;

	memcpy(raw, &r0, 8);
	memcpy(raw + 8, &r1, 8);
	base64(raw, 16, key);
	memcpy(kg, key, 24);
	memcpy(kg + 24, WS_GUID, sizeof WS_GUID - 1);
	sha1_short(kg, 24 + sizeof WS_GUID - 1, digest);
	base64(digest, 20, c->accept);
	n = snprintf(req, sizeof req,
	             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
	             g->o.path, g->o.target, key, g->o.user_agent ? "User-Agent: " : "",
	             g->o.user_agent ? g->o.user_agent : "", g->o.user_agent ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof req)
		return -1;
	return write(c->fd, req, (size_t)n) == n ? 0 : -1;
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
	set_out(g, c, false);
	if (g->o.mode == MODE_RAW) {
		conn_opened(g, c, now);
		return;
	}
	c->state = LC_UPGRADING;
	if (send_upgrade(g, c) < 0) {
		g->cnt.hs_err++;
		conn_drop(g, c);
	}
}

/* ---- incoming bytes ------------------------------------------------- */

/* Checks a complete response head: status 101 and the expected
 * Sec-WebSocket-Accept (RFC 6455 §4.1, client requirements 1 and 4). */
static int check_101(const struct lconn *c, const char *p, size_t n)
{
	const char *line = p, *end = p + n;
	bool accepted = false;

	if (n < 13 || memcmp(p, "HTTP/1.1 101", 12) != 0 || (p[12] != ' ' && p[12] != '\r'))
		return -1;
	while (line < end) {
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2), *v, *ve;

		if (!eol)
			break;
		if (eol - line > 21 && !strncasecmp(line, "Sec-WebSocket-Accept:", 21)) {
			for (v = line + 21; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
				;
			accepted = ve - v == 28 && !memcmp(v, c->accept, 28);
		}
		line = eol + 2;
	}
	return accepted ? 0 : -1;
}

static void upgraded(struct lg *g, struct lconn *c, uint64_t now)
{
	static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */

	free(c->head);
	c->head = NULL;
	if (g->phase == PH_MEASURE) {
		g->cnt.handshakes++;
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
	if (send_control(c, 0x8, normal, 2) < 0) {
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
	if (check_101(c, h, (size_t)(end + 4 - h)) < 0)
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
		return send_control(c, 0xa, c->ctl, c->ctl_len);
	if (op == 0x8)
		c->close_rcvd = true;
	return 0;
}

/* Parses server frames. Returns data messages completed, or -1 on a
 * protocol error. Stops after a close frame. */
static long ws_feed(struct lg *g, struct lconn *c, const uint8_t *p, size_t n)
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

/* Raw mode: the echo is byte-identical, so every --size bytes is one
 * message. */
static long raw_feed(struct lg *g, struct lconn *c, const uint8_t *p, size_t n)
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
	if (g->phase != PH_DONE && send_msgs(g, c, (unsigned)k, now) < 0) {
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
	} else if (c->state == LC_UPGRADING) {
		g->cnt.hs_err++;
	} else {
		g->cnt.closed++;
	}
	conn_drop(g, c);
}

static void on_readable(struct lg *g, struct lconn *c, uint64_t now)
{
	ssize_t n = read(c->fd, g->rbuf, RBUF_SIZE);
	const uint8_t *p = g->rbuf;
	long msgs;

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
	msgs = g->o.mode == MODE_WS ? ws_feed(g, c, p, (size_t)n) : raw_feed(g, c, p, (size_t)n);
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

static void on_event(struct lg *g, struct lconn *c, uint32_t ev, uint64_t now)
{
	if (c->state == LC_FREE) /* dropped earlier in this batch */
		return;
	if (c->state == LC_CONNECTING) {
		on_connected(g, c, now);
		return;
	}
	if ((ev & EPOLLOUT) && flush_out(g, c) < 0) {
		g->cnt.closed++;
		conn_drop(g, c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(g, c, now);
}

/* ---- phases and the loop --------------------------------------------- */

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static uint64_t ns_of(double s)
{
	return (uint64_t)(s * 1e9);
}

/* Our own user + system time, in seconds. */
static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void window_start(struct lg *g, uint64_t now)
{
	g->phase = PH_MEASURE;
	g->win_start_ns = now;
	g->phase_end_ns = now + ns_of(g->o.duration);
	g->cnt.msgs = g->cnt.handshakes = g->cnt.cycles = 0;
	memset(&g->h, 0, sizeof g->h);
	if (g->o.server_pid)
		g->cpu0 = proc_cpu_ticks(g->o.server_pid);
	g->busy0 = machine_busy_ticks();
	g->self0 = self_cpu();
}

static void window_end(struct lg *g, uint64_t now)
{
	g->phase = PH_DONE;
	g->win_end_ns = now;
	if (g->o.server_pid)
		g->cpu1 = proc_cpu_ticks(g->o.server_pid);
	g->busy1 = machine_busy_ticks();
	g->self1 = self_cpu();
}

/* Opens connections up to --max-pending at a time: all --conns of them
 * during the ramp, and again whatever slot the handshake loop freed. */
static void refill(struct lg *g, uint64_t now)
{
	while (g->pending < g->o.max_pending) {
		struct lconn *c;

		if (g->o.sc == SC_HANDSHAKE) {
			if (g->phase >= PH_DONE || g->nfree == 0)
				break;
			c = &g->c[g->free_slots[--g->nfree]];
		} else {
			if (g->next_slot >= g->o.conns)
				break;
			c = &g->c[g->next_slot++];
		}
		if (conn_start(g, c, now) < 0) {
			g->cnt.connect_err++;
			if (g->o.sc == SC_HANDSHAKE) {
				g->free_slots[g->nfree++] = (unsigned)(c - g->c);
				break; /* out of ports or fds: retry after the batch */
			}
		}
	}
}

static void print_ready(struct lg *g, uint64_t now)
{
	if (g->o.server_pid)
		g->rss1_kb = proc_rss_kb(g->o.server_pid);
	printf("ready conns=%u open=%u ramp_s=%.3f\n", g->o.conns, g->opened,
	       secs(now - g->start_ns));
	fflush(stdout);
}

/* Moves between phases when their time is up. */
static void advance(struct lg *g, uint64_t now)
{
	bool ramped = g->next_slot >= g->o.conns && g->pending == 0;
	bool ramp_late = now - g->start_ns >= ns_of(g->o.ramp_timeout);

	if (got_term && g->phase != PH_DONE) {
		if (g->phase == PH_MEASURE)
			window_end(g, now);
		else if (g->phase == PH_HOLD)
			g->win_end_ns = now;
		g->phase = PH_DONE;
		return;
	}
	switch (g->phase) {
	case PH_RAMP:
		if (!ramped && !ramp_late)
			break;
		if (g->o.sc == SC_IDLE) {
			g->win_start_ns = now;
			print_ready(g, now);
			g->phase = PH_HOLD;
			g->phase_end_ns = g->o.hold > 0 ? now + ns_of(g->o.hold) : UINT64_MAX;
		} else {
			g->phase = PH_WARMUP;
			g->phase_end_ns = now + ns_of(g->o.warmup);
		}
		break;
	case PH_WARMUP:
		if (now >= g->phase_end_ns)
			window_start(g, now);
		break;
	case PH_MEASURE:
		if (now >= g->phase_end_ns)
			window_end(g, now);
		break;
	case PH_HOLD:
		if (now >= g->phase_end_ns) {
			g->win_end_ns = now;
			g->phase = PH_DONE;
		}
		break;
	case PH_DONE:
		break;
	}
}

static int wait_ms(const struct lg *g, uint64_t now)
{
	uint64_t left;

	if (g->phase == PH_RAMP)
		return 10;
	if (g->phase_end_ns <= now)
		return 0;
	left = (g->phase_end_ns - now + 999999) / 1000000;
	return left > 100 ? 100 : (int)left;
}

static int run(struct lg *g)
{
	static struct epoll_event evs[MAX_EVENTS];

	g->start_ns = now_ns();
	if (g->o.server_pid)
		g->rss0_kb = proc_rss_kb(g->o.server_pid);
	g->phase = g->o.sc == SC_HANDSHAKE ? PH_WARMUP : PH_RAMP;
	g->phase_end_ns = g->start_ns + ns_of(g->o.warmup);
	while (g->phase != PH_DONE) {
		uint64_t now = now_ns();
		int n;

		advance(g, now);
		if (g->phase == PH_DONE)
			break;
		refill(g, now);
		n = epoll_wait(g->ep, evs, MAX_EVENTS, wait_ms(g, now));
		if (n < 0 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			return -1;
		}
		now = now_ns();
		for (int i = 0; i < n; i++)
			on_event(g, evs[i].data.ptr, evs[i].events, now);
	}
	return 0;
}

/* ---- report ------------------------------------------------------------ */

static uint64_t errors(const struct counters *k)
{
	return k->connect_err + k->hs_err + k->closed + k->proto_err + k->bad_payload;
}

static void print_latency(const struct lg *g)
{
	printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
	       hist_pct(&g->h, 0.50) / 1e3, hist_pct(&g->h, 0.90) / 1e3,
	       hist_pct(&g->h, 0.99) / 1e3, hist_pct(&g->h, 0.999) / 1e3, (double)g->h.max / 1e3);
}

/* Server core time over the window, per unit of work (message or
 * handshake), from /proc/PID/stat (sampled at the tick, so ±1 tick), our
 * own, and everything else the machine did meanwhile (other_cpu_pct: a
 * busy neighbour makes the run worthless). Percentages are of one core. */
static void print_cpu(const struct lg *g, double win, uint64_t work, const char *per)
{
	double tck = (double)sysconf(_SC_CLK_TCK), self = g->self1 - g->self0, cpu = 0;

	if (g->o.server_pid && g->cpu0 >= 0 && g->cpu1 >= 0) {
		cpu = (double)(g->cpu1 - g->cpu0) / tck;
		printf(" server_cpu_s=%.2f server_cpu_pct=%.1f server_busy_us_per_%s=%.3f", cpu,
		       100 * cpu / win, per, work ? cpu * 1e6 / (double)work : 0.0);
	}
	printf(" loadgen_cpu_pct=%.1f", 100 * self / win);
	if (g->o.server_pid && g->busy0 >= 0 && g->busy1 >= 0)
		printf(" other_cpu_pct=%.1f",
		       100 * ((double)(g->busy1 - g->busy0) / tck - cpu - self) / win);
}

static void print_errors(const struct lg *g)
{
	const struct counters *k = &g->cnt;

	printf(" errors=%llu connect_err=%llu hs_err=%llu closed=%llu proto_err=%llu "
	       "bad_payload=%llu\n",
	       (unsigned long long)errors(k), (unsigned long long)k->connect_err,
	       (unsigned long long)k->hs_err, (unsigned long long)k->closed,
	       (unsigned long long)k->proto_err, (unsigned long long)k->bad_payload);
}

static void report(const struct lg *g)
{
	const struct opts *o = &g->o;
	double win = secs(g->win_end_ns - g->win_start_ns);
	const char *target = o->mode == MODE_WS ? "ws" : "raw";

	if (win <= 0)
		win = 1e-9;
	if (o->sc == SC_ECHO) {
		printf("RESULT scenario=echo target=%s conns=%u open=%u inflight=%u size=%u "
		       "opcode=%s duration_s=%.3f msgs=%llu msgs_per_s=%.0f",
		       target, o->conns, g->opened, o->inflight, o->size,
		       o->mode == MODE_RAW ? "none"
		       : o->binary         ? "binary"
		                           : "text",
		       win, (unsigned long long)g->cnt.msgs, (double)g->cnt.msgs / win);
		print_latency(g);
		print_cpu(g, win, g->cnt.msgs, "msg");
	} else if (o->sc == SC_HANDSHAKE) {
		printf("RESULT scenario=handshake target=%s conns=%u close=%s duration_s=%.3f "
		       "handshakes=%llu handshakes_per_s=%.0f cycles_per_s=%.0f",
		       target, o->conns, o->close_tcp ? "tcp" : "ws", win,
		       (unsigned long long)g->cnt.handshakes, (double)g->cnt.handshakes / win,
		       (double)g->cnt.cycles / win);
		print_latency(g);
		print_cpu(g, win, g->cnt.handshakes, "handshake");
	} else {
		printf("RESULT scenario=idle target=%s conns=%u open=%u held_s=%.3f", target,
		       o->conns, g->opened, win);
		if (o->server_pid && g->rss0_kb >= 0 && g->rss1_kb >= 0)
			printf(" rss_before_kb=%ld rss_ready_kb=%ld bytes_per_conn=%.1f",
			       g->rss0_kb, g->rss1_kb,
			       g->opened ? (double)(g->rss1_kb - g->rss0_kb) * 1024 / g->opened
			                 : 0.0);
	}
	print_errors(g);
	fflush(stdout);
}

/* ---- options ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: loadgen echo|handshake|idle [flags]\n"
	        "  --mode ws|raw        WebSocket client (default) or unframed bytes (rawecho)\n"
	        "  --target IPv4:PORT   server address (default 127.0.0.1:8080)\n"
	        "  --conns N            connections (echo 100, handshake 50, idle 10000)\n"
	        "  --inflight N         echo: messages outstanding per connection (16)\n"
	        "  --size N             echo: payload bytes per message (32)\n"
	        "  --binary             echo: binary frames (default text, ASCII payload)\n"
	        "  --duration S         echo/handshake: measurement window (10)\n"
	        "  --warmup S           echo/handshake: traffic before the window (1)\n"
	        "  --hold S             idle: hold this long after \"ready\" (0: until SIGTERM)\n"
	        "  --server-pid PID     report the server's CPU (echo/handshake) or VmRSS (idle)\n"
	        "  --src-addrs K        spread over 127.0.0.1..127.0.0.K (1 + conns/5000;\n"
	        "                       handshake: at least 16)\n"
	        "  --max-pending N      connects + upgrades in progress at once (512)\n"
	        "  --ramp-timeout S     give up waiting for all connections to open (60)\n"
	        "  --close ws|tcp       handshake: close frame, or plain close() after 101 (ws)\n"
	        "  --path P             request target (/)\n"
	        "  --user-agent S       send a User-Agent header (default: none)\n");
}

static int num(const char *v, double lo, double hi, double *out)
{
	char *end;

	*out = strtod(v, &end);
	return *end || end == v || !(*out >= lo && *out <= hi) ? -1 : 0;
}

/* One --flag VALUE. Returns 0, or -1 for an unknown flag or bad value. */
static int parse_flag(struct opts *o, const char *k, const char *v)
{
	double d;

	if (!strcmp(k, "--mode") && (!strcmp(v, "ws") || !strcmp(v, "raw")))
		o->mode = !strcmp(v, "ws") ? MODE_WS : MODE_RAW;
	else if (!strcmp(k, "--close") && (!strcmp(v, "ws") || !strcmp(v, "tcp")))
		o->close_tcp = !strcmp(v, "tcp");
	else if (!strcmp(k, "--target"))
		o->target = v;
	else if (!strcmp(k, "--path"))
		o->path = v;
	else if (!strcmp(k, "--user-agent"))
		o->user_agent = v;
	else if (!strcmp(k, "--conns") && !num(v, 1, 1e6, &d))
		o->conns = (unsigned)d;
	else if (!strcmp(k, "--inflight") && !num(v, 1, MAX_INFLIGHT, &d))
		o->inflight = (unsigned)d;
	else if (!strcmp(k, "--size") && !num(v, 0, MAX_SIZE, &d))
		o->size = (unsigned)d;
	else if (!strcmp(k, "--duration") && !num(v, 0.01, 1e6, &d))
		o->duration = d;
	else if (!strcmp(k, "--warmup") && !num(v, 0, 1e6, &d))
		o->warmup = d;
	else if (!strcmp(k, "--hold") && !num(v, 0, 1e9, &d))
		o->hold = d;
	else if (!strcmp(k, "--ramp-timeout") && !num(v, 0.1, 1e6, &d))
		o->ramp_timeout = d;
	else if (!strcmp(k, "--server-pid") && !num(v, 1, 1e9, &d))
		o->server_pid = (int)d;
	else if (!strcmp(k, "--src-addrs") && !num(v, 1, 254, &d))
		o->src_addrs = (unsigned)d;
	else if (!strcmp(k, "--max-pending") && !num(v, 1, 1e6, &d))
		o->max_pending = (unsigned)d;
	else
		return -1;
	return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	static const char *const names[] = {"echo", "handshake", "idle"};
	unsigned def_conns[] = {100, 50, 10000};
	int sc = -1;

	*o = (struct opts){.target = "127.0.0.1:8080",
	                   .path = "/",
	                   .inflight = 16,
	                   .size = 32,
	                   .duration = 10,
	                   .warmup = 1,
	                   .ramp_timeout = 60,
	                   .max_pending = 512};
	for (int i = 0; i < 3 && argc > 1; i++)
		if (!strcmp(argv[1], names[i]))
			sc = i;
	if (sc < 0) {
		fprintf(stderr, "loadgen: first argument: echo, handshake or idle\n");
		return -1;
	}
	o->sc = (enum scenario)sc;
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!strcmp(argv[i], "--binary")) {
			o->binary = true;
		} else if (eq && !strncmp(argv[i], "--", 2)) {
			*eq = '\0';
			if (parse_flag(o, argv[i], eq + 1) < 0)
				goto bad;
		} else if (i + 1 >= argc || parse_flag(o, argv[i], argv[i + 1]) < 0) {
			goto bad;
		} else {
			i++;
		}
		continue;
	bad:
		fprintf(stderr, "loadgen: bad flag or value: %s%s%s\n", argv[i], eq ? "=" : " ",
		        eq             ? eq + 1
		        : i + 1 < argc ? argv[i + 1]
		                       : "");
		return -1;
	}
	if (!o->conns)
		o->conns = def_conns[sc];
	if (!o->src_addrs)
		o->src_addrs = 1 + o->conns / 5000;
	if (o->sc == SC_HANDSHAKE && o->src_addrs < 16)
		o->src_addrs = 16;
	if (o->mode == MODE_RAW && (o->sc != SC_ECHO || o->size == 0)) {
		fprintf(stderr, "loadgen: --mode raw is for echo with --size >= 1\n");
		return -1;
	}
	if (bench_parse_addr(o->target, &o->dst, 1) < 0) {
		fprintf(stderr, "loadgen: bad --target %s (want IPv4:PORT)\n", o->target);
		return -1;
	}
	return 0;
}

static int setup(struct lg *g)
{
	uint64_t seed;
	struct rlimit rl;

	if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
		seed = now_ns() ^ (uint64_t)getpid();
	g->rng = seed;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)g->o.conns + 16)
		fprintf(stderr, "loadgen: warning: open-file limit %llu < %u connections\n",
		        (unsigned long long)rl.rlim_cur, g->o.conns);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->c = calloc(g->o.conns, sizeof *g->c);
	g->rbuf = malloc(RBUF_SIZE);
	if (g->ep < 0 || !g->c || !g->rbuf || build_template(g) < 0)
		return -1;
	if (g->o.sc == SC_ECHO) {
		g->rings = calloc((size_t)g->o.conns * g->o.inflight, sizeof *g->rings);
		if (!g->rings)
			return -1;
		for (unsigned i = 0; i < g->o.conns; i++)
			g->c[i].ring = g->rings + (size_t)i * g->o.inflight;
	}
	if (g->o.sc == SC_HANDSHAKE) {
		g->free_slots = malloc(g->o.conns * sizeof *g->free_slots);
		if (!g->free_slots)
			return -1;
		for (unsigned i = 0; i < g->o.conns; i++)
			g->free_slots[g->nfree++] = g->o.conns - 1 - i;
		if (g->o.max_pending < g->o.conns)
			g->o.max_pending = g->o.conns;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct lg g;
	struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: wake epoll_wait */

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (parse_args(&g.o, argc, argv) < 0) {
		fprintf(stderr, "(loadgen --help lists the flags)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (setup(&g) < 0) {
		perror("loadgen: setup");
		return 1;
	}
	if (run(&g) < 0)
		return 1;
	report(&g);
	return 0;
}
