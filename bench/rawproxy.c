/* rawproxy.c — the machine's ceiling for bench/run-api.sh's message round
 * trip (scenario msg): a minimal single-threaded, level-triggered epoll
 * WebSocket → HTTP/1.1 proxy. For every client message it POSTs the
 * payload to the backend and sends the response body back to that client
 * as one text frame — what wsgw does with an http message integration,
 * and nothing else.
 *
 * Per message that is the work no such gateway can avoid: one read() of
 * the client's frame, one writev() of the request on a keep-alive backend
 * connection, one read() of the response, one writev() of the reply frame
 * (four socket operations, plus the epoll_wait()s that report them), and
 * just enough parsing to find the frame, unmask it and find the
 * Content-Length. No routing, no spec, no UTF-8 validation, no extra
 * headers, no timeouts, no liveness checks of reused connections, no
 * malloc per message: buffers belong to connections and are reused, and a
 * message waiting for a backend connection waits where it was read, in
 * its client's input buffer. Whatever this costs per message is the floor
 * under which no gateway doing this round trip on this machine can go, so
 * wsgw is reported as a fraction of it.
 *
 * It keeps wsgw's model where that model is forced by HTTP/1.1: at most
 * --backend-connections keep-alive connections, opened on demand, each
 * with one request in flight (no multiplexing); a message that finds none
 * free waits in a FIFO. Each client has one call in flight at a time, so
 * its replies come back in the order of its messages.
 *
 *   rawproxy --listen ADDR:PORT --backend ADDR:PORT
 *            [--backend-connections N]   (256, as wsgw's default)
 *            [--path P]                  (request target, /bench)
 *
 * IPv4 only; --listen port 0 picks a free port. Prints "rawproxy:
 * listening on ADDR (port N)" to stderr once listening; exits on SIGTERM
 * or SIGINT. The upgrade checks only what it needs (a Sec-WebSocket-Key);
 * a close frame, a fragmented or unmasked frame, a malformed backend
 * response (no Content-Length: chunked is not spoken) or a backend
 * connection lost mid-call hang the client up. Pings are ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "benchlib.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_EVENTS 1024
#define ACCEPT_BATCH 64
#define HEAD_MAX 8192           /* upgrade request or response head, at most */
#define MAX_PAYLOAD (16u << 20) /* client message or response body, at most */
#define IN_PAUSE (64 * 1024)    /* waiting input at which a client is not read */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum kind { K_LISTEN, K_CLIENT, K_BACKEND };

struct buf {
	uint8_t *p;
	size_t off, len, cap; /* data: p[off..len); capacity is kept once grown */
};

/* First member of clients and backends: what epoll_event.data.ptr is. */
struct item {
	int fd;
	uint8_t kind;
	bool dead;       /* closed during this batch; freed after it */
	uint32_t events; /* the epoll mask now set */
	struct item *next_dead;
	struct buf in;  /* input not yet used */
	struct buf out; /* output the kernel refused */
};

struct backend;

struct client {
	struct item it;
	bool upgraded;
	bool busy;                  /* a call in flight, or waiting in the FIFO */
	bool waiting;               /* in the FIFO */
	struct backend *call;       /* the connection carrying our call */
	struct client *prev, *next; /* FIFO links */
};

struct backend {
	struct item it;
	bool busy;            /* a request in flight */
	struct client *owner; /* gets the reply; NULL once it hung up */
	struct backend *next_idle;
};

static struct {
	int ep;
	uint8_t *rbuf; /* every read() lands here first */
	struct sockaddr_in backend;
	unsigned max_backends, n_backends;
	struct backend *idle;                 /* connections with nothing in flight */
	struct client *fifo_head, *fifo_tail; /* clients whose next message waits */
	struct item *dead;
	char req[1024]; /* "POST … Content-Length: " then each call's length */
	size_t req_prefix;
} G;

/* ---- buffers ------------------------------------------------------------- */

static inline size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static inline uint8_t *buf_data(const struct buf *b)
{
	return b->p + b->off;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* Appends n bytes; grows only past the largest size seen so far, so the
 * steady state allocates nothing. 0, or -1 when out of memory. */
static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->off && b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		uint8_t *q;

		while (cap < b->len + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* ---- connections ---------------------------------------------------------- */

static void set_events(struct item *it, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = it};

	if (ev != it->events && epoll_ctl(G.ep, EPOLL_CTL_MOD, it->fd, &e) == 0)
		it->events = ev;
}

/* Closes now (close() also takes the fd out of the epoll set) and frees
 * after the batch: a later event of the same batch may still point here. */
static void item_kill(struct item *it)
{
	close(it->fd);
	it->dead = true;
	it->next_dead = G.dead;
	G.dead = it;
}

static void free_dead(void)
{
	while (G.dead) {
		struct item *it = G.dead;

		G.dead = it->next_dead;
		free(it->in.p);
		free(it->out.p);
		free(it);
	}
}

/* Writes iov[0..n) — or, if output is already queued, queues it behind
 * that, keeping the order — and copies whatever the kernel refuses into
 * the queue. 0, or -1 when the connection failed. */
static int send_iov(struct item *it, const struct iovec *iov, int n)
{
	size_t done = 0;

	if (!buf_used(&it->out)) {
		ssize_t w = writev(it->fd, iov, n);

		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		done = w < 0 ? 0 : (size_t)w;
	}
	for (int i = 0; i < n; i++) {
		size_t skip = done < iov[i].iov_len ? done : iov[i].iov_len;

		done -= skip;
		if (skip < iov[i].iov_len &&
		    buf_append(&it->out, (const uint8_t *)iov[i].iov_base + skip,
		               iov[i].iov_len - skip) < 0)
			return -1;
	}
	return 0;
}

/* One write of the queue. 0, or -1 when the connection failed. */
static int flush_out(struct item *it)
{
	ssize_t w;

	if (!buf_used(&it->out))
		return 0;
	w = write(it->fd, buf_data(&it->out), buf_used(&it->out));
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	buf_consume(&it->out, (size_t)w);
	return 0;
}

static void client_close(struct client *c);
static int client_advance_buffered(struct client *c);

/* Queued output stops reading (backpressure, as in rawecho); so does a
 * full input buffer while a call is out — it drains as calls complete. */
static void client_events(struct client *c)
{
	uint32_t ev = EPOLLIN;

	if (buf_used(&c->it.out))
		ev = EPOLLOUT;
	else if (c->busy && buf_used(&c->it.in) >= IN_PAUSE)
		ev = 0;
	set_events(&c->it, ev);
}

static void backend_events(struct backend *b)
{
	set_events(&b->it, EPOLLIN | (buf_used(&b->it.out) ? EPOLLOUT : 0));
}

/* ---- the FIFO of clients whose next message waits for a connection ------ */

static void fifo_push(struct client *c)
{
	c->busy = c->waiting = true;
	c->next = NULL;
	c->prev = G.fifo_tail;
	if (G.fifo_tail)
		G.fifo_tail->next = c;
	else
		G.fifo_head = c;
	G.fifo_tail = c;
}

static void fifo_remove(struct client *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		G.fifo_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		G.fifo_tail = c->prev;
	c->prev = c->next = NULL;
	c->busy = c->waiting = false;
}

static bool backend_available(void)
{
	return G.idle || G.n_backends < G.max_backends;
}

/* Serves waiting clients in order while connections are free. */
static void serve_fifo(void)
{
	while (G.fifo_head && backend_available()) {
		struct client *w = G.fifo_head;

		fifo_remove(w);
		if (client_advance_buffered(w) < 0) {
			client_close(w);
			continue;
		}
		client_events(w);
		if (w->waiting)
			break; /* a connection could not be opened */
	}
}

/* ---- backend connections ------------------------------------------------- */

static struct backend *backend_open(void)
{
	struct backend *b = calloc(1, sizeof *b);
	struct epoll_event e;

	if (!b)
		return NULL;
	b->it.fd = connect_to(&G.backend, -1); /* non-blocking, TCP_NODELAY */
	if (b->it.fd < 0) {
		free(b);
		return NULL;
	}
	b->it.kind = K_BACKEND;
	b->it.events = EPOLLIN;
	e = (struct epoll_event){.events = EPOLLIN, .data.ptr = b};
	if (epoll_ctl(G.ep, EPOLL_CTL_ADD, b->it.fd, &e) < 0) {
		close(b->it.fd);
		free(b);
		return NULL;
	}
	G.n_backends++;
	return b;
}

/* A free connection, opened if there is none and the pool has room; NULL
 * if the message must wait. */
static struct backend *backend_get(void)
{
	struct backend *b = G.idle;

	if (b) {
		G.idle = b->next_idle;
		return b;
	}
	return G.n_backends < G.max_backends ? backend_open() : NULL;
}

/* The connection is gone; so is the client whose call it carried. */
static void backend_fail(struct backend *b)
{
	struct client *c = b->owner;

	if (b->it.dead)
		return;
	if (!b->busy) {
		struct backend **pp = &G.idle;

		while (*pp && *pp != b)
			pp = &(*pp)->next_idle;
		if (*pp)
			*pp = b->next_idle;
	}
	G.n_backends--;
	b->owner = NULL;
	item_kill(&b->it);
	if (c) {
		c->call = NULL;
		client_close(c);
	}
}

/* Back to the pool; the longest-waiting message gets it first. */
static void backend_release(struct backend *b)
{
	b->busy = false;
	b->owner = NULL;
	b->next_idle = G.idle;
	G.idle = b;
	serve_fifo();
}

/* The request: a fixed head (built once) but for the length, then the
 * payload where it was read — one writev, no copy. 0, or -1 when b failed
 * (and with it c). */
static int send_call(struct backend *b, struct client *c, const uint8_t *body, size_t len)
{
	char tmp[24], *d = tmp + sizeof tmp;
	size_t v = len, dl;
	struct iovec iov[2];

	*--d = '\n';
	*--d = '\r';
	*--d = '\n';
	*--d = '\r';
	do
		*--d = (char)('0' + v % 10);
	while (v /= 10);
	dl = (size_t)(tmp + sizeof tmp - d);
	memcpy(G.req + G.req_prefix, d, dl);
	iov[0] = (struct iovec){.iov_base = G.req, .iov_len = G.req_prefix + dl};
	iov[1] = (struct iovec){.iov_base = (void *)body, .iov_len = len};
	b->busy = true;
	b->owner = c;
	c->call = b;
	c->busy = true;
	if (send_iov(&b->it, iov, 2) < 0) {
		backend_fail(b);
		return -1;
	}
	backend_events(b);
	return 0;
}

/* ---- parsing --------------------------------------------------------------- */

/* The value of header NAME (case-insensitive) in the head lines
 * h[0..n), which start after the first line; its length in *vlen. */
static const char *header(const char *h, size_t n, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *end = h + n;

	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h)), *le = eol ? eol : end;

		if ((size_t)(le - h) > nl && h[nl] == ':' && !strncasecmp(h, name, nl)) {
			const char *v = h + nl + 1;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			while (le > v && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
				le--;
			*vlen = (size_t)(le - v);
			return v;
		}
		if (!eol)
			break;
		h = eol + 1;
	}
	return NULL;
}

/* A complete response at p[0..n): its length, with the body at
 * p[*body_off..+*body_len); 0 if incomplete; -1 if unusable (no
 * Content-Length: only bodies framed by it are spoken here). */
static long long http_response(const uint8_t *p, size_t n, size_t *body_off, size_t *body_len)
{
	const char *h = (const char *)p, *eoh, *line_end, *v;
	size_t vlen, len = 0;

	eoh = memmem(h, n < HEAD_MAX ? n : HEAD_MAX, "\r\n\r\n", 4);
	if (!eoh)
		return n >= HEAD_MAX ? -1 : 0;
	if ((size_t)(eoh - h) < 12 || memcmp(h, "HTTP/1.", 7) || h[9] == '1')
		return -1; /* not a final HTTP/1.x response */
	line_end = memchr(h, '\n', (size_t)(eoh - h));
	if (!line_end)
		return -1;
	v = header(line_end + 1, (size_t)(eoh + 2 - (line_end + 1)), "Content-Length", &vlen);
	if (!v || !vlen || vlen > 9)
		return -1;
	for (size_t i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		len = len * 10 + (size_t)(v[i] - '0');
	}
	if (len > MAX_PAYLOAD)
		return -1;
	*body_off = (size_t)(eoh + 4 - h);
	*body_len = len;
	return n >= *body_off + len ? (long long)(*body_off + len) : 0;
}

/* The client frame at p[0..n): 1 once complete, with its header length,
 * payload length and opcode; 0 if incomplete; -1 if not acceptable
 * (unmasked, fragmented, reserved bits or opcodes, too long). */
static int ws_frame(const uint8_t *p, size_t n, size_t *hl, size_t *pl, uint8_t *op)
{
	uint64_t len;
	size_t h = 2;

	if (n < 2)
		return 0;
	*op = p[0] & 0x0f;
	if ((p[0] & 0xf0) != 0x80 || !(p[1] & 0x80) || !*op || (*op > 2 && *op < 8) || *op > 10)
		return -1;
	len = p[1] & 0x7f;
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		h = 4;
	} else if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		h = 10;
	}
	if (len > MAX_PAYLOAD || (*op >= 8 && len > 125))
		return -1;
	h += 4; /* the masking key */
	if (n < h + len)
		return 0;
	*hl = h;
	*pl = (size_t)len;
	return 1;
}

/* In place, 8 bytes at a time. */
static void unmask(uint8_t *p, size_t n, const uint8_t key[4])
{
	uint32_t k4;
	uint64_t k8, v;
	size_t i = 0;

	memcpy(&k4, key, 4);
	k8 = (uint64_t)k4 << 32 | k4; /* the key twice, in memory order */
	for (; i + 8 <= n; i += 8) {
		memcpy(&v, p + i, 8);
		v ^= k8;
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] ^= key[i % 4];
}

/* ---- clients ---------------------------------------------------------------- */

static void client_close(struct client *c)
{
	if (c->it.dead)
		return;
	if (c->waiting)
		fifo_remove(c);
	if (c->call)
		c->call->owner = NULL; /* the reply, when it comes, is dropped */
	c->call = NULL;
	item_kill(&c->it);
}

/* The response body as one unmasked text frame: header and body in one
 * writev, the body straight from where the response was read. */
static void reply(struct client *c, const uint8_t *body, size_t len)
{
	uint8_t h[10];
	struct iovec iov[2];
	size_t hl = 2;

	h[0] = 0x81; /* FIN + text */
	if (len < 126) {
		h[1] = (uint8_t)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	iov[0] = (struct iovec){.iov_base = h, .iov_len = hl};
	iov[1] = (struct iovec){.iov_base = (void *)body, .iov_len = len};
	c->call = NULL;
	c->busy = false;
	if (send_iov(&c->it, iov, 2) < 0)
		client_close(c);
}

/* Sends complete messages at p[0..n) while the client has no call out:
 * unmasked in place, straight to a free backend connection; the first
 * that finds none stays where it is and the client joins the FIFO.
 * Returns the bytes used (the rest must be kept), or -1 to close. */
static long client_advance(struct client *c, uint8_t *p, size_t n)
{
	size_t off = 0, hl, pl;
	uint8_t op;

	while (!c->busy) {
		struct backend *b;
		int r = ws_frame(p + off, n - off, &hl, &pl, &op);

		if (r < 0)
			return -1;
		if (r == 0)
			break;
		if (op == 8)
			return -1; /* close frame: hang up */
		if (op >= 9) {
			/* ping, pong: not answered */
			off += hl + pl;
			continue;
		}
		b = backend_get();
		if (!b) {
			fifo_push(c);
			break;
		}
		unmask(p + off + hl, pl, p + off + hl - 4);
		if (send_call(b, c, p + off + hl, pl) < 0)
			return -1;
		off += hl + pl;
	}
	return (long)off;
}

/* client_advance over the client's input buffer. 0, or -1 to close. */
static int client_advance_buffered(struct client *c)
{
	long used;

	if (!buf_used(&c->it.in))
		return 0;
	used = client_advance(c, buf_data(&c->it.in), buf_used(&c->it.in));
	if (used < 0)
		return -1;
	buf_consume(&c->it.in, (size_t)used);
	return 0;
}

/* The upgrade request head in c->it.in: once complete, answers 101 with
 * Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
 * 1 when upgraded, 0 if incomplete, -1 to close. */
static int handshake(struct client *c)
{
	static const char pre[] = "HTTP/1.1 101 Switching Protocols\r\n"
	                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                          "Sec-WebSocket-Accept: ";
	const char *h = (const char *)buf_data(&c->it.in), *eoh, *line_end, *key;
	size_t n = buf_used(&c->it.in), klen;
	char cat[64 + sizeof WS_GUID], resp[sizeof pre + 32];
	unsigned char md[SHA_DIGEST_LENGTH];
	struct iovec iov;
	int al;

	eoh = memmem(h, n, "\r\n\r\n", 4);
	if (!eoh)
		return n > HEAD_MAX ? -1 : 0;
	line_end = memchr(h, '\n', (size_t)(eoh - h));
	if (!line_end)
		return -1;
	key = header(line_end + 1, (size_t)(eoh + 2 - (line_end + 1)), "Sec-WebSocket-Key", &klen);
	if (!key || !klen || klen > 64)
		return -1;
	memcpy(cat, key, klen);
	memcpy(cat + klen, WS_GUID, sizeof WS_GUID - 1);
	SHA1((const unsigned char *)cat, klen + sizeof WS_GUID - 1, md);
	memcpy(resp, pre, sizeof pre - 1);
	al = EVP_EncodeBlock((unsigned char *)resp + sizeof pre - 1, md, SHA_DIGEST_LENGTH);
	memcpy(resp + sizeof pre - 1 + al, "\r\n\r\n", 4);
	iov = (struct iovec){.iov_base = resp, .iov_len = sizeof pre - 1 + (size_t)al + 4};
	if (send_iov(&c->it, &iov, 1) < 0)
		return -1;
	buf_consume(&c->it.in, (size_t)(eoh + 4 - h));
	c->upgraded = true;
	return 1;
}

/* One read. In the common case nothing is buffered and the frames are
 * used where they were read; only what must wait is copied. 0, or -1 to
 * close. */
static int client_read(struct client *c)
{
	ssize_t n = read(c->it.fd, G.rbuf, READ_BUF_SIZE);
	long used;

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (!c->upgraded || buf_used(&c->it.in)) {
		if (buf_append(&c->it.in, G.rbuf, (size_t)n) < 0)
			return -1;
		if (!c->upgraded) {
			int r = handshake(c);

			if (r <= 0)
				return r;
		}
		return client_advance_buffered(c);
	}
	used = client_advance(c, G.rbuf, (size_t)n);
	if (used < 0)
		return -1;
	if ((size_t)used < (size_t)n &&
	    buf_append(&c->it.in, G.rbuf + used, (size_t)n - (size_t)used) < 0)
		return -1;
	return 0;
}

static void on_client(struct client *c, uint32_t ev)
{
	if ((ev & EPOLLOUT && flush_out(&c->it) < 0) ||
	    (ev & (EPOLLIN | EPOLLHUP | EPOLLERR) && client_read(c) < 0)) {
		client_close(c);
		return;
	}
	if (!c->it.dead)
		client_events(c);
}

/* ---- backend responses -------------------------------------------------------- */

/* One read; a complete response goes to its client, the connection back
 * to the pool, and the client's next message (if any) on its way. 0, or
 * -1 when the connection must close. */
static int backend_read(struct backend *b)
{
	ssize_t n = read(b->it.fd, G.rbuf, READ_BUF_SIZE);
	uint8_t *p = G.rbuf;
	size_t len = (size_t)n, bo, bl;
	struct client *c;
	long long r;

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (!b->busy)
		return -1; /* a keep-alive backend speaks only when spoken to */
	if (buf_used(&b->it.in)) {
		if (buf_append(&b->it.in, G.rbuf, len) < 0)
			return -1;
		p = buf_data(&b->it.in);
		len = buf_used(&b->it.in);
	}
	r = http_response(p, len, &bo, &bl);
	if (r < 0 || (r > 0 && (size_t)r != len))
		return -1; /* unusable, or more than one response to one request */
	if (r == 0)
		return p == G.rbuf ? buf_append(&b->it.in, p, len) : 0;
	c = b->owner;
	if (c)
		reply(c, p + bo, bl);
	b->it.in.off = b->it.in.len = 0;
	backend_release(b);
	if (c && !c->it.dead) {
		if (client_advance_buffered(c) < 0)
			client_close(c);
		else
			client_events(c);
	}
	return 0;
}

static void on_backend(struct backend *b, uint32_t ev)
{
	if ((ev & EPOLLOUT && flush_out(&b->it) < 0) ||
	    (ev & (EPOLLIN | EPOLLHUP | EPOLLERR) && backend_read(b) < 0)) {
		backend_fail(b);
		return;
	}
	if (!b->it.dead)
		backend_events(b);
}

/* ---- the loop ------------------------------------------------------------------ */

static void accept_all(int lfd)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct client *c;
		struct epoll_event e;

		if (fd < 0)
			return; /* EAGAIN, or EMFILE: level-triggered, retried */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->it.fd = fd;
		c->it.kind = K_CLIENT;
		c->it.events = EPOLLIN;
		e = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(c);
		}
	}
}

static int listen_on(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 || listen(fd, 4096) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int serve(int lfd)
{
	static struct epoll_event evs[MAX_EVENTS];
	struct item listener = {.fd = lfd, .kind = K_LISTEN};

	evs[0] = (struct epoll_event){.events = EPOLLIN, .data.ptr = &listener};
	if (epoll_ctl(G.ep, EPOLL_CTL_ADD, lfd, &evs[0]) < 0)
		return 1;
	while (!got_term) {
		int n = epoll_wait(G.ep, evs, MAX_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			struct item *it = evs[i].data.ptr;

			if (it->dead)
				continue; /* closed earlier in this batch */
			if (it->kind == K_LISTEN)
				accept_all(lfd);
			else if (it->kind == K_CLIENT)
				on_client((struct client *)it, evs[i].events);
			else
				on_backend((struct backend *)it, evs[i].events);
		}
		/* a lost backend connection leaves room for a waiting message */
		if (G.fifo_head && backend_available())
			serve_fifo();
		free_dead();
		if (n < 0 && errno != EINTR)
			return 1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: rawproxy [--listen IPv4:PORT] --backend IPv4:PORT\n"
	                "                [--backend-connections N] [--path /bench]\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	const char *listen_text = "127.0.0.1:0", *backend_text = NULL, *path = "/bench";
	long conns = 256;
	int lfd, n;

	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *eq = strchr(f, '='), *v;
		size_t fl = eq ? (size_t)(eq - f) : strlen(f);

		if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
			usage();
			return 0;
		}
		v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (fl == 8 && !strncmp(f, "--listen", fl)) {
			listen_text = v;
		} else if (fl == 9 && !strncmp(f, "--backend", fl)) {
			backend_text = v;
		} else if (fl == 21 && !strncmp(f, "--backend-connections", fl)) {
			char *end;

			conns = strtol(v, &end, 10);
			if (*end || conns < 1 || conns > 65536) {
				fprintf(stderr, "rawproxy: bad --backend-connections %s\n", v);
				return 2;
			}
		} else if (fl == 6 && !strncmp(f, "--path", fl)) {
			path = v;
		} else {
			usage();
			return 2;
		}
	}
	if (!backend_text || bench_parse_addr(backend_text, &G.backend, 1) < 0) {
		fprintf(stderr, "rawproxy: need --backend IPv4:PORT\n");
		return 2;
	}
	if (bench_parse_addr(listen_text, &sa, 0) < 0) {
		fprintf(stderr, "rawproxy: bad --listen %s (want IPv4:PORT)\n", listen_text);
		return 2;
	}
	/* the request head, but for the length and the blank line */
	n = snprintf(G.req, sizeof G.req,
	             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	             "Content-Length: ",
	             path, backend_text);
	if (n < 0 || (size_t)n + 32 > sizeof G.req) {
		fprintf(stderr, "rawproxy: --path too long\n");
		return 2;
	}
	G.req_prefix = (size_t)n;
	G.max_backends = (unsigned)conns;
	G.rbuf = malloc(READ_BUF_SIZE);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	raise_fd_limit();
	lfd = listen_on(&sa);
	G.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!G.rbuf || lfd < 0 || G.ep < 0 || getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "rawproxy: --listen %s: %s\n", listen_text, strerror(errno));
		return 1;
	}
	fprintf(stderr, "rawproxy: listening on %s (port %u)\n", listen_text, ntohs(sa.sin_port));
	return serve(lfd);
}
