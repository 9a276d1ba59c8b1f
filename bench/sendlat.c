/* sendlat.c — management-API load for bench/run-api.sh: WebSocket clients
 * on one side, a hand-written gRPC-over-h2c client on the other, one
 * thread, one level-triggered epoll set.
 *
 * Modes (first argument):
 *   send   open --conns WebSocket connections (real RFC 6455 upgrade) and
 *          collect their ids from X-Yc-Apigateway-Websocket-Connection-Id;
 *          then, over --h2-conns h2c connections, issue ConnectionService/
 *          Send calls at --rate per second (open loop, round-robin over the
 *          connections). Each Send carries its send time (16 hex digits of
 *          CLOCK_MONOTONIC ns, padded to --size bytes) as TEXT; the
 *          WebSocket side records receipt time − send time. Reports sends/s
 *          achieved, delivery latency percentiles, gRPC response latency,
 *          grpc-status counts.
 *   hold   open --conns WebSocket connections, print "id ID" per connection
 *          and "ready ...", then read and discard (answering pings) until
 *          SIGTERM or --hold seconds; the RESULT line counts the messages.
 *   call   one gRPC call (--method Get|Send|Disconnect --id ID) over h2c;
 *          prints grpc-status: checks what h2load is fed.
 *   body   write the gRPC request body (5-byte prefix + protobuf) for
 *          --method and --id to stdout, for `h2load -d FILE`.
 *
 * HTTP/2 (RFC 9113) by hand: connection preface, SETTINGS (push off,
 * stream window 2^31-1), a connection WINDOW_UPDATE to 2^31-1 topped up as
 * DATA arrives; requests are HEADERS (HPACK literals without indexing, no
 * Huffman: the header block is the same for every call) + DATA with
 * END_STREAM. Responses are decoded with a small HPACK decoder (static and
 * dynamic tables, Huffman via the canonical code lengths of RFC 7541
 * Appendix B) only to read grpc-status and grpc-message; a call is "ok"
 * when its stream carried a response message and trailers with
 * grpc-status 0. The connection send window and the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS are respected (a send that would break
 * either waits and is counted in `stalls`).
 *
 * Every run of send/hold ends with one line on stdout:
 *   RESULT scenario=send rate=... sends_per_s=... p50_us=... ...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define HEAD_MAX 4096
#define SLOTS 4096 /* stream slots per h2 connection (power of two) */
#define TS_LEN 16
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 §1.3's example */
#define ID_HDR "x-yc-apigateway-websocket-connection-id:"
#define SERVICE "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/"
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_MAX_WIN 0x7fffffffu
#define HP_STR_MAX 8192

enum mode { M_SEND, M_HOLD, M_CALL, M_BODY };
enum kind { K_WS = 1, K_H2 };
enum ws_state { WS_IDLE, WS_CONNECTING, WS_UPGRADING, WS_OPEN, WS_DEAD };
enum phase { PH_RAMP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD, PH_DONE };

/* h2 frame types and flags */
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

struct opts {
	enum mode mode;
	struct sockaddr_in ws, mgmt;
	const char *ws_str, *mgmt_str, *path, *method, *id, *token;
	unsigned conns, src_addrs, max_pending, h2conns, size, max_streams;
	double rate, duration, warmup, hold, drain, ramp_timeout;
	double slow_us; /* send: log deliveries slower than this (0: off) */
	int server_pid;
};

/* One WebSocket client connection. */
struct wsc {
	int kind; /* K_WS: first, epoll data points here */
	int fd;
	uint8_t state;
	bool in_payload; /* inside a frame's payload */
	bool fin;        /* current frame has FIN */
	uint8_t hdr_len, op, msg_op, pl_len;
	uint8_t hdr[14];
	uint16_t head_len;
	unsigned pos; /* index in open_idx while open */
	uint64_t rx_left;
	uint64_t msg_len; /* payload bytes of the message being read */
	char *head;       /* the 101 response while it arrives */
	char id[64];
	uint8_t pl[125]; /* first bytes of the current message / control payload */
};

struct slot {
	int32_t id; /* 0: free */
	uint8_t flags;
	uint64_t t; /* send time */
};
#define SL_HEADERS 1
#define SL_DATA 2

struct hent {
	char *name, *value;
	size_t nlen, vlen;
};

/* HPACK decoding context: the dynamic table, a ring, [first] is newest. */
struct hpack {
	struct hent e[128]; /* 4096 / 32 entries at most */
	unsigned first, count;
	size_t size, max;
};

/* One h2c connection to the management port. */
struct h2c {
	int kind; /* K_H2 */
	int fd;
	bool want_out, ready, dead, goaway;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	uint32_t next_stream, peer_max_streams, active;
	int64_t send_window;
	uint64_t consumed;
	uint8_t *hb; /* header block waiting for CONTINUATION */
	size_t hb_len, hb_cap;
	int32_t hb_stream;
	bool hb_end_stream, in_cont;
	struct hpack hp;
	struct slot slots[SLOTS];
};

struct g {
	struct opts o;
	int ep;
	enum phase phase;
	uint8_t *rbuf;
	struct wsc *ws;
	unsigned ws_next, ws_pending, ws_open, ws_rr;
	unsigned *open_idx; /* indexes of open connections, for round-robin */
	struct h2c *h2;
	unsigned h2_rr;
	uint64_t t0, win_start, win_end, drain_end, sent;
	long long cpu0, cpu1, busy0, busy1;
	double self0, self1;
	struct {
		uint64_t win_sent, win_delivered, win_ok;
		uint64_t ok, grpc_err, rst, unknown_stream, hpack_err, no_trailers, stalls;
		uint64_t delivered, msgs, bytes, connect_err, hs_err, closed, proto_err,
		    bad_payload;
		uint64_t codes[17];
	} c;
	int last_status;
	unsigned slow_logged;
	char first_err[256];
	struct hist lat, resp;
	uint8_t hblock_send[512], hblock_get[512], hblock_disc[512];
	size_t hblock_send_len, hblock_get_len, hblock_disc_len;
};

static void die(const char *msg)
{
	fprintf(stderr, "sendlat: %s\n", msg);
	exit(2);
}

/* ---- buffers ----------------------------------------------------------- */

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
		die("out of memory");
	*buf = p;
	*cap = c;
}

/* ---- HPACK decoding (RFC 7541) --------------------------------------- */

/* Code lengths of the HPACK Huffman code, symbols 0..256 (RFC 7541
 * Appendix B). The code is canonical: codes of one length are consecutive
 * in symbol order, so the lengths are all a decoder needs. */
static const uint8_t huff_len[257] = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6,  10, 10, 12, 13, 6,  8,  11, 10, 10, 8,  11, 8,  6,  6,  6,
    5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8,  15, 6,  12, 10, 13, 6,  7,  7,  7,  7,  7,  7,
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8,  13, 19, 13, 14, 6,
    15, 5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,  6,  7,  6,  5,  5,  6,  7,  7,
    7,  7,  7,  15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21,
    23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24,
    21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
};
static uint32_t huff_first[32], huff_count[32], huff_off[32];
static uint16_t huff_sym[257];

static void huff_init(void)
{
	uint32_t code = 0, off = 0;

	for (unsigned s = 0; s < 257; s++)
		huff_count[huff_len[s]]++;
	for (unsigned l = 1; l < 32; l++) {
		code = (code + huff_count[l - 1]) << 1;
		huff_first[l] = code;
		huff_off[l] = off;
		off += huff_count[l];
	}
	for (unsigned l = 1, k = 0; l < 32; l++)
		for (unsigned s = 0; s < 257; s++)
			if (huff_len[s] == l)
				huff_sym[k++] = (uint16_t)s;
}

/* Decodes n Huffman bytes; sets *olen to the decoded length (bytes past
 * cap are counted, not stored). Returns 0 or -1. */
static int huff_decode(const uint8_t *p, size_t n, char *out, size_t cap, size_t *olen)
{
	uint32_t code = 0, len = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		for (int b = 7; b >= 0; b--) {
			code = code << 1 | ((p[i] >> b) & 1u);
			if (++len > 30)
				return -1;
			if (code >= huff_first[len] && code - huff_first[len] < huff_count[len]) {
				uint16_t sym = huff_sym[huff_off[len] + code - huff_first[len]];

				if (sym == 256)
					return -1; /* EOS inside a string */
				if (o < cap)
					out[o] = (char)sym;
				o++;
				code = len = 0;
			}
		}
	}
	if (len > 7 || code != (1u << len) - 1) /* padding: most significant bits of EOS */
		return -1;
	*olen = o;
	return 0;
}

static const char *const hp_static[62] = {
    NULL,
    ":authority",
    ":method",
    ":method",
    ":path",
    ":path",
    ":scheme",
    ":scheme",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
};

static int hp_int(const uint8_t **pp, const uint8_t *end, unsigned prefix, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t max = (1u << prefix) - 1, v;
	unsigned m = 0;
	uint8_t b;

	if (p >= end)
		return -1;
	v = *p++ & max;
	if (v == max) {
		do {
			if (p >= end || m > 56)
				return -1;
			b = *p++;
			v += (uint64_t)(b & 0x7f) << m;
			m += 7;
		} while (b & 0x80);
	}
	*pp = p;
	*out = v;
	return 0;
}

static int hp_str(const uint8_t **pp, const uint8_t *end, char *out, size_t *olen)
{
	const uint8_t *p = *pp;
	bool huff;
	uint64_t len;

	if (p >= end)
		return -1;
	huff = *p & 0x80;
	if (hp_int(&p, end, 7, &len) < 0 || len > (uint64_t)(end - p))
		return -1;
	if (huff) {
		if (huff_decode(p, len, out, HP_STR_MAX, olen) < 0)
			return -1;
	} else {
		memcpy(out, p, len < HP_STR_MAX ? len : HP_STR_MAX);
		*olen = len;
	}
	*pp = p + len;
	return 0;
}

static struct hent *hp_dyn(struct hpack *h, uint64_t i) /* i: 1 = newest */
{
	if (i < 1 || i > h->count)
		return NULL;
	return &h->e[(h->first + i - 1) % 128];
}

static void hp_evict(struct hpack *h, size_t room)
{
	while (h->count && h->size + room > h->max) {
		struct hent *e = &h->e[(h->first + h->count - 1) % 128];

		h->size -= e->nlen + e->vlen + 32;
		free(e->name);
		free(e->value);
		e->name = e->value = NULL;
		h->count--;
	}
}

static void hp_insert(struct hpack *h, const char *n, size_t nl, const char *v, size_t vl)
{
	size_t sz = nl + vl + 32;
	struct hent *e;

	hp_evict(h, sz);
	if (sz > h->max || nl > HP_STR_MAX || vl > HP_STR_MAX)
		return; /* larger than the table: the table is now empty */
	h->first = (h->first + 127) % 128;
	h->count++;
	e = &h->e[h->first];
	e->name = malloc(nl + 1);
	e->value = malloc(vl + 1);
	if (!e->name || !e->value)
		die("out of memory");
	memcpy(e->name, n, nl);
	memcpy(e->value, v, vl);
	e->name[nl] = e->value[vl] = '\0';
	e->nlen = nl;
	e->vlen = vl;
	h->size += sz;
}

/* Decodes one header block; sets *status to grpc-status (-1 if absent)
 * and copies grpc-message into msg. Returns 0 or -1 (compression error). */
static int hp_block(struct hpack *h, const uint8_t *p, size_t n, int *status, char *msg,
                    size_t msgcap)
{
	static char name[HP_STR_MAX], value[HP_STR_MAX];
	const uint8_t *end = p + n;

	*status = -1;
	while (p < end) {
		uint64_t idx;
		size_t nl = 0, vl = 0;
		bool index = false;
		const char *nm;

		if (*p & 0x80) { /* indexed field */
			struct hent *e;

			if (hp_int(&p, end, 7, &idx) < 0 || idx == 0)
				return -1;
			if (idx <= 61)
				continue; /* no gRPC names in the static table */
			e = hp_dyn(h, idx - 61);
			if (!e)
				return -1;
			memcpy(name, e->name, e->nlen);
			memcpy(value, e->value, e->vlen);
			nl = e->nlen, vl = e->vlen;
		} else if ((*p & 0xe0) == 0x20) { /* dynamic table size update */
			if (hp_int(&p, end, 5, &idx) < 0 || idx > 4096)
				return -1;
			h->max = idx;
			hp_evict(h, 0);
			continue;
		} else {
			unsigned prefix = (*p & 0xc0) == 0x40 ? 6 : 4;

			index = prefix == 6;
			if (hp_int(&p, end, prefix, &idx) < 0)
				return -1;
			if (idx == 0) {
				if (hp_str(&p, end, name, &nl) < 0)
					return -1;
			} else if (idx <= 61) {
				nm = hp_static[idx];
				nl = strlen(nm);
				memcpy(name, nm, nl);
			} else {
				struct hent *e = hp_dyn(h, idx - 61);

				if (!e)
					return -1;
				memcpy(name, e->name, e->nlen);
				nl = e->nlen;
			}
			if (hp_str(&p, end, value, &vl) < 0)
				return -1;
			if (index)
				hp_insert(h, name, nl, value, vl);
		}
		if (nl == 11 && !memcmp(name, "grpc-status", 11)) {
			*status = 0;
			for (size_t i = 0; i < vl && i < 4; i++)
				*status = *status * 10 + (value[i] - '0');
		} else if (nl == 12 && !memcmp(name, "grpc-message", 12) && msgcap) {
			size_t k = vl < msgcap - 1 ? vl : msgcap - 1;

			memcpy(msg, value, k);
			msg[k] = '\0';
		}
	}
	return 0;
}

/* ---- HPACK encoding: literals without indexing, no Huffman ------------ */

static size_t hp_put_int(uint8_t *o, uint8_t first, unsigned prefix, uint64_t v)
{
	uint64_t max = (1u << prefix) - 1;
	size_t n = 0;

	if (v < max) {
		o[n++] = (uint8_t)(first | v);
		return n;
	}
	o[n++] = (uint8_t)(first | max);
	v -= max;
	while (v >= 128) {
		o[n++] = (uint8_t)(0x80 | (v & 0x7f));
		v >>= 7;
	}
	o[n++] = (uint8_t)v;
	return n;
}

/* A literal without indexing: static name index (or 0 with a new name). */
static size_t hp_put_lit(uint8_t *o, unsigned idx, const char *name, const char *value)
{
	size_t n = hp_put_int(o, 0x00, 4, idx), l;

	if (!idx) {
		l = strlen(name);
		n += hp_put_int(o + n, 0x00, 7, l);
		memcpy(o + n, name, l);
		n += l;
	}
	l = strlen(value);
	n += hp_put_int(o + n, 0x00, 7, l);
	memcpy(o + n, value, l);
	return n + l;
}

static size_t build_hblock(uint8_t *o, const struct opts *op, const char *method)
{
	char path[160], auth[600];
	size_t n = 0;

	snprintf(path, sizeof path, SERVICE "%s", method);
	o[n++] = 0x83;                                        /* :method POST (static 3) */
	o[n++] = 0x86;                                        /* :scheme http (static 6) */
	n += hp_put_lit(o + n, 4, NULL, path);                /* :path */
	n += hp_put_lit(o + n, 1, NULL, op->mgmt_str);        /* :authority */
	n += hp_put_lit(o + n, 31, NULL, "application/grpc"); /* content-type */
	n += hp_put_lit(o + n, 0, "te", "trailers");
	if (op->token) {
		snprintf(auth, sizeof auth, "Bearer %s", op->token);
		n += hp_put_lit(o + n, 23, NULL, auth); /* authorization */
	}
	return n;
}

/* ---- protobuf + gRPC framing ----------------------------------------- */

static size_t pb_varint(uint8_t *o, uint64_t v)
{
	size_t n = 0;

	while (v >= 128) {
		o[n++] = (uint8_t)(0x80 | (v & 0x7f));
		v >>= 7;
	}
	o[n++] = (uint8_t)v;
	return n;
}

/* gRPC message: 5-byte prefix, then {1: id} [+ {2: data} {3: TEXT}]. */
static size_t grpc_msg(uint8_t *o, const char *id, const uint8_t *data, size_t dlen, bool send)
{
	size_t n = 5, idl = strlen(id);

	o[n++] = 0x0a;
	n += pb_varint(o + n, idl);
	memcpy(o + n, id, idl);
	n += idl;
	if (send) {
		o[n++] = 0x12;
		n += pb_varint(o + n, dlen);
		memcpy(o + n, data, dlen);
		n += dlen;
		o[n++] = 0x18; /* type = TEXT (2) */
		o[n++] = 0x02;
	}
	o[0] = 0;
	o[1] = (uint8_t)((n - 5) >> 24);
	o[2] = (uint8_t)((n - 5) >> 16);
	o[3] = (uint8_t)((n - 5) >> 8);
	o[4] = (uint8_t)(n - 5);
	return n;
}

/* ---- sockets ----------------------------------------------------------- */

static void ep_set(struct g *g, int fd, void *ptr, uint32_t events, bool add)
{
	struct epoll_event e = {.events = events, .data.ptr = ptr};

	epoll_ctl(g->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e);
}

/* ---- WebSocket client side --------------------------------------------- */

static void ws_kill(struct g *g, struct wsc *c, bool counted_closed)
{
	if (c->state == WS_DEAD)
		return;
	if (c->state == WS_OPEN) {
		/* keep open_idx[0..ws_open) the open ones */
		unsigned last = g->open_idx[--g->ws_open];

		g->open_idx[c->pos] = last;
		g->ws[last].pos = c->pos;
		if (counted_closed)
			g->c.closed++;
	} else if (c->state == WS_CONNECTING || c->state == WS_UPGRADING) {
		g->ws_pending--;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->head);
	c->head = NULL;
	c->state = WS_DEAD;
}

static void ws_start(struct g *g, unsigned i)
{
	struct wsc *c = &g->ws[i];
	int src = g->o.src_addrs > 1 ? (int)(i % g->o.src_addrs) : -1;

	c->kind = K_WS;
	c->fd = connect_to(&g->o.ws, src);
	if (c->fd < 0) {
		g->c.connect_err++;
		c->state = WS_DEAD;
		return;
	}
	c->state = WS_CONNECTING;
	g->ws_pending++;
	ep_set(g, c->fd, c, EPOLLOUT, true);
}

static void ws_send_upgrade(struct g *g, struct wsc *c)
{
	char req[1024];
	int err = 0, n;
	socklen_t el = sizeof err;

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		g->c.connect_err++;
		ws_kill(g, c, false);
		return;
	}
	n = snprintf(req, sizeof req,
	             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	             "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
	             g->o.path, g->o.ws_str);
	if (write(c->fd, req, (size_t)n) != n) {
		g->c.connect_err++;
		ws_kill(g, c, false);
		return;
	}
	c->state = WS_UPGRADING;
	c->head = malloc(HEAD_MAX);
	if (!c->head)
		die("out of memory");
	ep_set(g, c->fd, c, EPOLLIN, false);
}

static void ws_pong(struct wsc *c)
{
	uint8_t f[6 + 125];
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};

	f[0] = 0x8a;
	f[1] = (uint8_t)(0x80 | c->pl_len);
	memcpy(f + 2, mask, 4);
	for (unsigned i = 0; i < c->pl_len; i++)
		f[6 + i] = c->pl[i] ^ mask[i % 4];
	if (write(c->fd, f, 6u + c->pl_len) < 0) { /* best effort */
	}
}

static void on_message(struct g *g, struct wsc *c, uint64_t len, uint64_t now)
{
	g->c.msgs++;
	g->c.bytes += len;
	if (g->o.mode == M_SEND) {
		bool ok = false;
		uint64_t t = 0;

		if (c->msg_op == 1 && c->pl_len >= TS_LEN)
			t = hex16(c->pl, &ok);

		if (!ok || t > now) {
			g->c.bad_payload++;
			return;
		}
		g->c.delivered++;
		if (t >= g->win_start && t < g->win_end) {
			g->c.win_delivered++;
			hist_add(&g->lat, now - t);
			if (g->o.slow_us > 0 && (double)(now - t) > g->o.slow_us * 1000 &&
			    g->slow_logged++ < 2000)
				fprintf(stderr, "slow sent_ms=%.3f lat_us=%.1f conn=%u\n",
				        (double)(t - g->t0) / 1e6, (double)(now - t) / 1e3,
				        (unsigned)(c - g->ws));
		}
	}
}

/* Feeds server→client frame bytes. Returns -1 if the connection must go. */
static int ws_feed(struct g *g, struct wsc *c, const uint8_t *p, size_t n, uint64_t now)
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
				g->c.proto_err++; /* masked server frame */
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
					g->c.proto_err++;
					return -1;
				}
				c->pl_len = 0;
			} else if (c->op != 0) {
				c->msg_op = c->op;
				c->pl_len = 0;
				c->msg_len = 0;
			}
		}
		if (c->rx_left) {
			size_t take = c->rx_left < n ? (size_t)c->rx_left : n;
			size_t keep = sizeof c->pl - c->pl_len;

			if (keep > take)
				keep = take;
			memcpy(c->pl + c->pl_len, p, keep);
			c->pl_len = (uint8_t)(c->pl_len + keep);
			if (c->op < 8)
				c->msg_len += take;
			c->rx_left -= take;
			p += take, n -= take;
			if (c->rx_left)
				return 0;
		}
		c->in_payload = false;
		if (c->op == 8) {
			g->c.closed++;
			return -2;
		} else if (c->op == 9) {
			ws_pong(c);
		} else if (c->op < 8 && c->fin) {
			on_message(g, c, c->msg_len, now);
		}
	}
	return 0;
}

static void ws_upgrading(struct g *g, struct wsc *c, const uint8_t *p, size_t n, uint64_t now)
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
			g->c.hs_err++;
			ws_kill(g, c, false);
		}
		return;
	}
	hl = (size_t)(eoh + 4 - c->head);
	*eoh = '\0';
	if (strncmp(c->head, "HTTP/1.1 101", 12) ||
	    !strcasestr(c->head, "\r\nsec-websocket-accept: " WS_ACCEPT)) {
		if (!g->c.hs_err)
			fprintf(stderr, "sendlat: upgrade refused: %.200s\n", c->head);
		g->c.hs_err++;
		ws_kill(g, c, false);
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
	if (!c->id[0]) {
		g->c.hs_err++;
		if (g->c.hs_err == 1)
			fprintf(stderr, "sendlat: no connection id header in the 101 response\n");
		ws_kill(g, c, false);
		return;
	}
	c->state = WS_OPEN;
	g->ws_pending--;
	c->pos = g->ws_open;
	g->open_idx[g->ws_open++] = (unsigned)(c - g->ws);
	/* whatever followed the head already is frames */
	{
		size_t rest = c->head_len - hl;
		uint8_t tmp[HEAD_MAX];
		int rc = 0;

		memcpy(tmp, c->head + hl, rest);
		free(c->head);
		c->head = NULL;
		if (rest)
			rc = ws_feed(g, c, tmp, rest, now);
		if (!rc && take < n)
			rc = ws_feed(g, c, p + take, n - take, now);
		if (rc < 0)
			ws_kill(g, c, rc == -1);
	}
}

static void ws_readable(struct g *g, struct wsc *c)
{
	ssize_t r = read(c->fd, g->rbuf, RBUF_SIZE);
	uint64_t now;
	int rc;

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (c->state == WS_UPGRADING)
			g->c.hs_err++;
		ws_kill(g, c, true);
		return;
	}
	now = now_ns();
	if (c->state == WS_UPGRADING) {
		ws_upgrading(g, c, g->rbuf, (size_t)r, now);
		return;
	}
	rc = ws_feed(g, c, g->rbuf, (size_t)r, now);
	if (rc < 0)
		ws_kill(g, c, rc == -1);
}

/* ---- h2 client side ------------------------------------------------------ */

static void h2_frame_hdr(uint8_t *o, size_t len, uint8_t type, uint8_t flags, uint32_t sid)
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

static uint8_t *h2_out(struct h2c *h, size_t n)
{
	uint8_t *p;

	if (h->out_off == h->out_len)
		h->out_off = h->out_len = 0;
	reserve(&h->out, &h->out_cap, h->out_len + n);
	p = h->out + h->out_len;
	h->out_len += n;
	return p;
}

static void h2_put_frame(struct h2c *h, uint8_t type, uint8_t flags, uint32_t sid,
                         const void *payload, size_t len)
{
	uint8_t *o = h2_out(h, 9 + len);

	h2_frame_hdr(o, len, type, flags, sid);
	if (len)
		memcpy(o + 9, payload, len);
}

static void put32(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)(v >> 24), o[1] = (uint8_t)(v >> 16), o[2] = (uint8_t)(v >> 8),
	o[3] = (uint8_t)v;
}

static void h2_window_update(struct h2c *h, uint32_t sid, uint32_t inc)
{
	uint8_t p[4];

	put32(p, inc & 0x7fffffffu);
	h2_put_frame(h, F_WINUP, 0, sid, p, 4);
}

static int h2_open(struct g *g, struct h2c *h)
{
	uint8_t s[12];

	h->kind = K_H2;
	h->fd = connect_to(&g->o.mgmt, -1);
	if (h->fd < 0)
		return -1;
	h->next_stream = 1;
	h->send_window = 65535;
	h->peer_max_streams = 100; /* until the server's SETTINGS say otherwise */
	h->hp.max = 4096;
	memcpy(h2_out(h, sizeof H2_PREFACE - 1), H2_PREFACE, sizeof H2_PREFACE - 1);
	s[0] = 0, s[1] = 2, put32(s + 2, 0);          /* ENABLE_PUSH 0 */
	s[6] = 0, s[7] = 4, put32(s + 8, H2_MAX_WIN); /* INITIAL_WINDOW_SIZE */
	h2_put_frame(h, F_SETTINGS, 0, 0, s, 12);
	h2_window_update(h, 0, H2_MAX_WIN - 65535);
	h->want_out = true;
	ep_set(g, h->fd, h, EPOLLIN | EPOLLOUT, true);
	return 0;
}

static void h2_kill(struct g *g, struct h2c *h, const char *why)
{
	if (h->dead)
		return;
	if (why)
		fprintf(stderr, "sendlat: h2 connection lost: %s (%u streams open)\n", why,
		        h->active);
	h->dead = true;
	close(h->fd);
	g->c.rst += h->active;
	h->active = 0;
}

static void h2_flush(struct g *g, struct h2c *h)
{
	bool want;

	while (!h->dead && h->out_off < h->out_len) {
		ssize_t w = write(h->fd, h->out + h->out_off, h->out_len - h->out_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				h2_kill(g, h, strerror(errno));
			break;
		}
		h->out_off += (size_t)w;
	}
	if (h->dead)
		return;
	want = h->out_off < h->out_len;
	if (want != h->want_out) {
		h->want_out = want;
		ep_set(g, h->fd, h, EPOLLIN | (want ? EPOLLOUT : 0), false);
	}
}

/* Queues one unary call. Returns false if a limit says wait. */
static bool h2_call(struct g *g, struct h2c *h, const uint8_t *hb, size_t hbl, const uint8_t *msg,
                    size_t mlen, uint64_t t)
{
	uint32_t sid = h->next_stream;
	struct slot *s = &h->slots[(sid >> 1) & (SLOTS - 1)];
	uint8_t *o;

	if (h->dead || !h->ready || h->goaway || h->active >= h->peer_max_streams ||
	    h->active >= g->o.max_streams || h->send_window < (int64_t)mlen || s->id ||
	    sid > 0x7ffffff0u)
		return false;
	o = h2_out(h, 9 + hbl + 9 + mlen);
	h2_frame_hdr(o, hbl, F_HEADERS, FL_END_HEADERS, sid);
	memcpy(o + 9, hb, hbl);
	h2_frame_hdr(o + 9 + hbl, mlen, F_DATA, FL_END_STREAM, sid);
	memcpy(o + 18 + hbl, msg, mlen);
	h->send_window -= (int64_t)mlen;
	h->next_stream += 2;
	h->active++;
	s->id = (int32_t)sid;
	s->flags = 0;
	s->t = t;
	return true;
}

static void stream_end(struct g *g, struct h2c *h, uint32_t sid, int status, const char *msg,
                       bool rst, uint64_t now)
{
	struct slot *s = &h->slots[(sid >> 1) & (SLOTS - 1)];

	if (s->id != (int32_t)sid) {
		g->c.unknown_stream++;
		return;
	}
	s->id = 0;
	h->active--;
	g->last_status = rst ? -3 : status;
	if (rst) {
		g->c.rst++;
	} else if (status == 0 && (s->flags & SL_DATA)) {
		g->c.ok++;
		if (s->t >= g->win_start && s->t < g->win_end) {
			g->c.win_ok++;
			hist_add(&g->resp, now - s->t);
		}
		return;
	} else if (status == -2) {
		g->c.no_trailers++;
	} else {
		g->c.grpc_err++;
		g->c.codes[status >= 0 && status < 17 ? status : 0]++;
	}
	if (!g->first_err[0])
		snprintf(g->first_err, sizeof g->first_err, "stream %u: %s grpc-status %d: %s", sid,
		         rst ? "RST_STREAM" : "", status, msg ? msg : "");
}

static void header_block(struct g *g, struct h2c *h, uint32_t sid, const uint8_t *p, size_t n,
                         bool end_stream, uint64_t now)
{
	char msg[200] = "";
	int status;
	struct slot *s = &h->slots[(sid >> 1) & (SLOTS - 1)];

	if (hp_block(&h->hp, p, n, &status, msg, sizeof msg) < 0) {
		g->c.hpack_err++;
		h2_kill(g, h, "HPACK decoding error");
		return;
	}
	if (!end_stream) {
		if (s->id == (int32_t)sid)
			s->flags |= SL_HEADERS;
		return;
	}
	stream_end(g, h, sid, status < 0 ? 2 : status, msg, false, now);
}

static void h2_frame(struct g *g, struct h2c *h, uint8_t type, uint8_t flags, uint32_t sid,
                     const uint8_t *p, size_t len, uint64_t now)
{
	struct slot *s = &h->slots[(sid >> 1) & (SLOTS - 1)];
	size_t off = 0, pad = 0;

	if (h->in_cont && type != F_CONT) {
		h2_kill(g, h, "expected CONTINUATION");
		return;
	}
	switch (type) {
	case F_DATA:
		h->consumed += len;
		if (s->id == (int32_t)sid && sid)
			s->flags |= SL_DATA;
		if (flags & FL_END_STREAM)
			stream_end(g, h, sid, -2, "DATA ended the stream: no trailers", false, now);
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
			header_block(g, h, sid, p + off, len - off - pad, flags & FL_END_STREAM,
			             now);
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
			header_block(g, h, sid, h->hb, h->hb_len, h->hb_end_stream, now);
		}
		break;
	case F_RST:
		stream_end(g, h, sid, -3, "RST_STREAM", true, now);
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
		h2_put_frame(h, F_SETTINGS, FL_ACK, 0, NULL, 0);
		h->ready = true;
		break;
	case F_PING:
		if (!(flags & FL_ACK) && len == 8)
			h2_put_frame(h, F_PING, FL_ACK, 0, p, 8);
		break;
	case F_GOAWAY:
		h->goaway = true;
		if (len >= 8)
			fprintf(stderr, "sendlat: GOAWAY last-stream %u error %u %.*s\n",
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
	h2_kill(g, h, "malformed frame");
}

static void h2_readable(struct g *g, struct h2c *h)
{
	ssize_t r = read(h->fd, g->rbuf, RBUF_SIZE);
	size_t off = 0;
	uint64_t now;

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		h2_kill(g, h, r ? strerror(errno) : "EOF from the server");
		return;
	}
	now = now_ns();
	reserve(&h->in, &h->in_cap, h->in_len + (size_t)r);
	memcpy(h->in + h->in_len, g->rbuf, (size_t)r);
	h->in_len += (size_t)r;
	while (!h->dead && h->in_len - off >= 9) {
		const uint8_t *f = h->in + off;
		size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
		uint32_t sid =
		    ((uint32_t)f[5] << 24 | (uint32_t)f[6] << 16 | (uint32_t)f[7] << 8 | f[8]) &
		    0x7fffffffu;

		if (len > (1u << 20)) {
			h2_kill(g, h, "frame too large");
			return;
		}
		if (h->in_len - off < 9 + len)
			break;
		h2_frame(g, h, f[3], f[4], sid, f + 9, len, now);
		off += 9 + len;
	}
	if (h->dead)
		return;
	memmove(h->in, h->in + off, h->in_len - off);
	h->in_len -= off;
	if (h->consumed >= (1u << 30)) {
		h2_window_update(h, 0, (uint32_t)h->consumed);
		h->consumed = 0;
	}
	h2_flush(g, h);
}

/* ---- the loop ------------------------------------------------------------ */

static void dispatch(struct g *g, struct epoll_event *ev)
{
	int kind = *(int *)ev->data.ptr;

	if (kind == K_WS) {
		struct wsc *c = ev->data.ptr;

		if (c->state == WS_CONNECTING) {
			if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				ws_send_upgrade(g, c);
		} else if (c->state != WS_DEAD) {
			ws_readable(g, c);
		}
	} else {
		struct h2c *h = ev->data.ptr;

		if (h->dead)
			return;
		if (ev->events & EPOLLOUT)
			h2_flush(g, h);
		if (!h->dead && ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			h2_readable(g, h);
	}
}

static void poll_once(struct g *g, uint64_t timeout_ns)
{
	struct epoll_event evs[MAX_EVENTS];
	struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
	int n = epoll_pwait2(g->ep, evs, MAX_EVENTS, &ts, NULL);

	for (int i = 0; i < n; i++)
		dispatch(g, &evs[i]);
}

/* Opens the WebSocket connections, at most max_pending at a time. */
static void ramp(struct g *g)
{
	uint64_t deadline = now_ns() + (uint64_t)(g->o.ramp_timeout * 1e9);

	while (!got_term) {
		while (g->ws_next < g->o.conns && g->ws_pending < g->o.max_pending)
			ws_start(g, g->ws_next++);
		if (g->ws_next == g->o.conns && !g->ws_pending)
			break;
		if (now_ns() > deadline) {
			fprintf(stderr, "sendlat: ramp timeout: %u open, %u pending\n", g->ws_open,
			        g->ws_pending);
			break;
		}
		poll_once(g, 50000000u);
	}
}

static bool h2_all_ready(struct g *g)
{
	for (unsigned i = 0; i < g->o.h2conns; i++)
		if (!g->h2[i].ready && !g->h2[i].dead)
			return false;
	return true;
}

static void h2_connect_all(struct g *g)
{
	uint64_t deadline = now_ns() + 5000000000u;

	g->h2 = calloc(g->o.h2conns, sizeof *g->h2);
	if (!g->h2)
		die("out of memory");
	for (unsigned i = 0; i < g->o.h2conns; i++)
		if (h2_open(g, &g->h2[i]) < 0)
			die("cannot connect to the management port");
	while (!got_term && !h2_all_ready(g) && now_ns() < deadline)
		poll_once(g, 10000000u);
	for (unsigned i = 0; i < g->o.h2conns; i++)
		if (!g->h2[i].ready)
			die("h2c connection to the management port did not come up (no SETTINGS)");
}

static void window_edge(struct g *g, bool start)
{
	if (start) {
		g->cpu0 = proc_cpu_ticks(g->o.server_pid);
		g->busy0 = machine_busy_ticks();
		g->self0 = self_cpu_s();
	} else {
		g->cpu1 = proc_cpu_ticks(g->o.server_pid);
		g->busy1 = machine_busy_ticks();
		g->self1 = self_cpu_s();
	}
}

static void flush_all(struct g *g)
{
	for (unsigned i = 0; i < g->o.h2conns; i++)
		if (!g->h2[i].dead && g->h2[i].out_len > g->h2[i].out_off)
			h2_flush(g, &g->h2[i]);
}

/* Issues the sends due by now; returns how many. */
static unsigned issue(struct g *g, uint64_t now)
{
	uint64_t due = (uint64_t)((double)(now - g->t0) * g->o.rate / 1e9);
	unsigned done = 0, tries = 0;
	uint8_t data[4096], msg[4096 + 128];

	if (due > g->sent + 100000)
		due = g->sent + 100000;
	/* one timestamp per batch: the batch is one write() per connection */
	for (int i = TS_LEN - 1; i >= 0; i--)
		data[TS_LEN - 1 - i] = (uint8_t) "0123456789abcdef"[(now >> (4 * i)) & 15];
	memset(data + TS_LEN, 'x', g->o.size - TS_LEN);
	while (g->sent < due && g->ws_open) {
		struct wsc *c = &g->ws[g->open_idx[g->ws_rr++ % g->ws_open]];
		size_t n = grpc_msg(msg, c->id, data, g->o.size, true);
		struct h2c *h = &g->h2[g->h2_rr % g->o.h2conns];

		if (!h2_call(g, h, g->hblock_send, g->hblock_send_len, msg, n, now)) {
			g->ws_rr--;
			if (++tries >= g->o.h2conns) {
				g->c.stalls++;
				break;
			}
			g->h2_rr++;
			continue;
		}
		tries = 0;
		g->h2_rr++;
		g->sent++;
		if (now >= g->win_start && now < g->win_end)
			g->c.win_sent++;
		done++;
	}
	return done;
}

static uint64_t in_flight(struct g *g)
{
	uint64_t a = 0;

	for (unsigned i = 0; i < g->o.h2conns; i++)
		a += g->h2[i].active;
	return a;
}

static int run_send(struct g *g)
{
	uint64_t now;
	double win;

	ramp(g);
	if (!g->ws_open)
		die("no WebSocket connection opened");
	h2_connect_all(g);
	prctl(PR_SET_TIMERSLACK, 1UL);
	g->t0 = now_ns();
	g->win_start = g->t0 + (uint64_t)(g->o.warmup * 1e9);
	g->win_end = g->win_start + (uint64_t)(g->o.duration * 1e9);
	g->phase = PH_WARMUP;
	while (!got_term) {
		uint64_t next, to;

		now = now_ns();
		if (g->phase == PH_WARMUP && now >= g->win_start) {
			window_edge(g, true);
			g->phase = PH_MEASURE;
		}
		if (g->phase == PH_MEASURE && now >= g->win_end) {
			window_edge(g, false);
			g->phase = PH_DRAIN;
			g->drain_end = now + (uint64_t)(g->o.drain * 1e9);
		}
		if (g->phase == PH_DRAIN &&
		    (now >= g->drain_end ||
		     (!in_flight(g) && g->c.delivered + g->c.bad_payload >= g->c.ok)))
			break;
		if (g->phase != PH_DRAIN) {
			issue(g, now);
			flush_all(g);
			next = g->t0 + (uint64_t)((double)(g->sent + 1) * 1e9 / g->o.rate);
			to = next > now ? next - now : 0;
			if (to > 10000000u)
				to = 10000000u;
		} else {
			to = 10000000u;
		}
		poll_once(g, to);
	}
	if (g->phase != PH_DRAIN && g->phase != PH_DONE)
		window_edge(g, false);
	win = (double)(g->win_end - g->win_start) / 1e9;
	{
		long tck = sysconf(_SC_CLK_TCK);
		double srv_s =
		    g->cpu0 >= 0 && g->cpu1 >= 0 ? (double)(g->cpu1 - g->cpu0) / (double)tck : -1;
		double busy_s = (double)(g->busy1 - g->busy0) / (double)tck;
		double self = g->self1 - g->self0;
		double other = busy_s - self - (srv_s > 0 ? srv_s : 0);
		uint64_t lost = g->sent > g->c.delivered ? g->sent - g->c.delivered : 0;
		uint64_t errors = g->c.grpc_err + g->c.rst + g->c.no_trailers + g->c.hpack_err +
		                  g->c.unknown_stream + lost + g->c.closed + g->c.proto_err +
		                  g->c.bad_payload + g->c.connect_err + g->c.hs_err;

		printf("RESULT scenario=send rate=%.0f conns=%u open=%u h2conns=%u size=%u "
		       "duration_s=%.3f sent=%llu sends_per_s=%.0f ok=%llu delivered=%llu "
		       "delivered_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
		       "max_us=%.1f resp_p50_us=%.1f resp_p99_us=%.1f server_cpu_s=%.2f "
		       "server_cpu_pct=%.1f server_busy_us_per_send=%.2f loadgen_cpu_pct=%.1f "
		       "other_cpu_pct=%.1f stalls=%llu errors=%llu grpc_err=%llu rst=%llu "
		       "no_trailers=%llu lost=%llu closed=%llu proto_err=%llu bad_payload=%llu "
		       "connect_err=%llu hs_err=%llu\n",
		       g->o.rate, g->o.conns, g->ws_open, g->o.h2conns, g->o.size, win,
		       (unsigned long long)g->c.win_sent, (double)g->c.win_sent / win,
		       (unsigned long long)g->c.win_ok, (unsigned long long)g->c.win_delivered,
		       (double)g->c.win_delivered / win, hist_us(&g->lat, 0.5),
		       hist_us(&g->lat, 0.9), hist_us(&g->lat, 0.99), hist_us(&g->lat, 0.999),
		       (double)g->lat.max / 1000.0, hist_us(&g->resp, 0.5), hist_us(&g->resp, 0.99),
		       srv_s, srv_s >= 0 ? 100.0 * srv_s / win : -1.0,
		       srv_s >= 0 && g->c.win_delivered ? srv_s * 1e6 / (double)g->c.win_delivered
		                                        : -1.0,
		       100.0 * self / win, 100.0 * (other > 0 ? other : 0) / win,
		       (unsigned long long)g->c.stalls, (unsigned long long)errors,
		       (unsigned long long)g->c.grpc_err, (unsigned long long)g->c.rst,
		       (unsigned long long)g->c.no_trailers, (unsigned long long)lost,
		       (unsigned long long)g->c.closed, (unsigned long long)g->c.proto_err,
		       (unsigned long long)g->c.bad_payload, (unsigned long long)g->c.connect_err,
		       (unsigned long long)g->c.hs_err);
		if (g->first_err[0])
			fprintf(stderr, "sendlat: first error: %s\n", g->first_err);
		return errors ? 1 : 0;
	}
}

static int run_hold(struct g *g)
{
	uint64_t end;

	ramp(g);
	if (g->ws_open < g->o.conns) {
		fprintf(stderr, "sendlat: only %u of %u connections opened\n", g->ws_open,
		        g->o.conns);
		return 1;
	}
	for (unsigned i = 0; i < g->ws_open; i++)
		printf("id %s\n", g->ws[g->open_idx[i]].id);
	printf("ready conns=%u open=%u\n", g->o.conns, g->ws_open);
	fflush(stdout);
	end = g->o.hold > 0 ? now_ns() + (uint64_t)(g->o.hold * 1e9) : UINT64_MAX;
	while (!got_term && now_ns() < end)
		poll_once(g, 100000000u);
	printf("RESULT scenario=hold conns=%u open=%u msgs=%llu bytes=%llu closed=%llu "
	       "proto_err=%llu connect_err=%llu hs_err=%llu\n",
	       g->o.conns, g->ws_open, (unsigned long long)g->c.msgs,
	       (unsigned long long)g->c.bytes, (unsigned long long)g->c.closed,
	       (unsigned long long)g->c.proto_err, (unsigned long long)g->c.connect_err,
	       (unsigned long long)g->c.hs_err);
	return g->ws_open == g->o.conns && !g->c.closed && !g->c.proto_err ? 0 : 1;
}

static size_t call_body(struct g *g, uint8_t *msg, const uint8_t **hb, size_t *hbl)
{
	uint8_t data[4096];
	bool send = !strcmp(g->o.method, "Send");

	memset(data, 'x', g->o.size);
	if (send) {
		*hb = g->hblock_send, *hbl = g->hblock_send_len;
	} else if (!strcmp(g->o.method, "Get")) {
		*hb = g->hblock_get, *hbl = g->hblock_get_len;
	} else {
		*hb = g->hblock_disc, *hbl = g->hblock_disc_len;
	}
	return grpc_msg(msg, g->o.id, data, g->o.size, send);
}

static int run_call(struct g *g)
{
	uint8_t msg[4096 + 128];
	const uint8_t *hb;
	size_t hbl, n = call_body(g, msg, &hb, &hbl);
	uint64_t deadline = now_ns() + 5000000000u;

	g->o.h2conns = 1;
	h2_connect_all(g);
	g->win_start = 0, g->win_end = UINT64_MAX;
	g->last_status = -100;
	if (!h2_call(g, &g->h2[0], hb, hbl, msg, n, now_ns()))
		die("cannot start the call");
	h2_flush(g, &g->h2[0]);
	while (!got_term && g->h2[0].active && !g->h2[0].dead && now_ns() < deadline)
		poll_once(g, 10000000u);
	printf("RESULT scenario=call method=%s id=%s grpc_status=%d ok=%llu %s\n", g->o.method,
	       g->o.id, g->last_status, (unsigned long long)g->c.ok, g->first_err);
	return g->c.ok == 1 ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: sendlat send|hold|call|body [flags]\n"
	        "  --ws IPv4:PORT        WebSocket address (send, hold)\n"
	        "  --mgmt IPv4:PORT      management address (send, call)\n"
	        "  --conns N             WebSocket connections (send 1000, hold 1)\n"
	        "  --path P              upgrade request target (/)\n"
	        "  --src-addrs K         spread connections over 127.0.0.1..K (1)\n"
	        "  --max-pending N       connects + upgrades in progress at once (256)\n"
	        "  --rate R              send: Send calls per second (10000)\n"
	        "  --duration S          send: measurement window (5)\n"
	        "  --warmup S            send: traffic before the window (1)\n"
	        "  --drain S             send: wait this long after the window (2)\n"
	        "  --h2-conns N          send: h2c connections (1)\n"
	        "  --max-streams N       send: streams open per h2c connection, at most (1000)\n"
	        "  --size N              Send data bytes, >= 16 (16)\n"
	        "  --server-pid PID      send: report the server's CPU time\n"
	        "  --hold S              hold: exit after S seconds (0: at SIGTERM)\n"
	        "  --method M            call/body: Get, Send or Disconnect (Get)\n"
	        "  --id ID               call/body: the connection id\n"
	        "  --token T             bearer token for the management API\n"
	        "  --slow-us U           send: log deliveries slower than U us to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct g G;
	struct g *g = &G;
	struct opts *o = &g->o;
	struct sigaction sa = {.sa_handler = on_term};
	struct rlimit rl;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "send"))
		o->mode = M_SEND;
	else if (!strcmp(argv[1], "hold"))
		o->mode = M_HOLD;
	else if (!strcmp(argv[1], "call"))
		o->mode = M_CALL;
	else if (!strcmp(argv[1], "body"))
		o->mode = M_BODY;
	else
		usage();
	o->ws_str = "127.0.0.1:8080";
	o->mgmt_str = "127.0.0.1:9090";
	o->path = "/";
	o->method = "Get";
	o->conns = o->mode == M_SEND ? 1000 : 1;
	o->src_addrs = 1;
	o->max_pending = 256;
	o->h2conns = 1;
	o->size = TS_LEN;
	o->max_streams = 1000;
	o->rate = 10000;
	o->duration = 5;
	o->warmup = 1;
	o->drain = 2;
	o->ramp_timeout = 60;
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(f, "--ws"))
			o->ws_str = v;
		else if (!strcmp(f, "--mgmt"))
			o->mgmt_str = v;
		else if (!strcmp(f, "--conns"))
			o->conns = (unsigned)atoi(v);
		else if (!strcmp(f, "--path"))
			o->path = v;
		else if (!strcmp(f, "--src-addrs"))
			o->src_addrs = (unsigned)atoi(v);
		else if (!strcmp(f, "--max-pending"))
			o->max_pending = (unsigned)atoi(v);
		else if (!strcmp(f, "--rate"))
			o->rate = atof(v);
		else if (!strcmp(f, "--duration"))
			o->duration = atof(v);
		else if (!strcmp(f, "--warmup"))
			o->warmup = atof(v);
		else if (!strcmp(f, "--drain"))
			o->drain = atof(v);
		else if (!strcmp(f, "--h2-conns"))
			o->h2conns = (unsigned)atoi(v);
		else if (!strcmp(f, "--max-streams"))
			o->max_streams = (unsigned)atoi(v);
		else if (!strcmp(f, "--size"))
			o->size = (unsigned)atoi(v);
		else if (!strcmp(f, "--server-pid"))
			o->server_pid = atoi(v);
		else if (!strcmp(f, "--hold"))
			o->hold = atof(v);
		else if (!strcmp(f, "--method"))
			o->method = v;
		else if (!strcmp(f, "--id"))
			o->id = v;
		else if (!strcmp(f, "--token"))
			o->token = v;
		else if (!strcmp(f, "--slow-us"))
			o->slow_us = atof(v);
		else
			usage();
	}
	if (o->size < TS_LEN || o->size > 4096 || !o->conns || !o->h2conns || o->rate <= 0 ||
	    o->max_streams < 1 || o->max_streams > SLOTS / 2 || !o->max_pending)
		die("bad flags (--size 16..4096, --max-streams 1..2048, counts > 0)");
	if (strcmp(o->method, "Get") && strcmp(o->method, "Send") &&
	    strcmp(o->method, "Disconnect"))
		die("--method must be Get, Send or Disconnect");
	if ((o->mode == M_CALL || o->mode == M_BODY) && (!o->id || strlen(o->id) > 200))
		die("call/body need --id");
	if (bench_parse_addr(o->ws_str, &o->ws, 1) < 0 ||
	    bench_parse_addr(o->mgmt_str, &o->mgmt, 1) < 0)
		die("bad --ws or --mgmt address (IPv4:PORT)");
	g->hblock_send_len = build_hblock(g->hblock_send, o, "Send");
	g->hblock_get_len = build_hblock(g->hblock_get, o, "Get");
	g->hblock_disc_len = build_hblock(g->hblock_disc, o, "Disconnect");
	if (o->mode == M_BODY) {
		uint8_t msg[4096 + 128];
		const uint8_t *hb;
		size_t hbl, n = call_body(g, msg, &hb, &hbl);

		return fwrite(msg, 1, n, stdout) == n ? 0 : 1;
	}
	huff_init();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	g->rbuf = malloc(RBUF_SIZE);
	g->ws = calloc(o->conns, sizeof *g->ws);
	g->open_idx = calloc(o->conns, sizeof *g->open_idx);
	if (g->ep < 0 || !g->rbuf || !g->ws || !g->open_idx)
		die("out of memory");
	if (o->mode == M_CALL)
		return run_call(g);
	if (o->mode == M_HOLD)
		return run_hold(g);
	return run_send(g);
}
