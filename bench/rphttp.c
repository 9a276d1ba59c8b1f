/* rphttp.c — rawproxy's backend side: keep-alive HTTP/1.1 connections
 * (RFC 9112), one request in flight on each, as many as
 * --backend-connections allows; clients whose message finds none free
 * wait in a FIFO, the longest-waiting served first. Responses must be
 * framed by Content-Length (§6.3; no chunked), and a connection that
 * speaks unasked, or answers with more than one response, is closed.
 * Per call: one writev() of the request, one read() of the response
 * (more only if it arrives in pieces), no allocation.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "benchlib.h"
#include "rphttp.h"
#include "rpio.h"
#include "rpws.h"

static void backend_events(struct backend *b)
{
	rpio_set_events(&b->it, EPOLLIN | (buf_used(&b->it.out) ? EPOLLOUT : 0));
}

/* ---- the FIFO of clients whose next message waits for a connection ------ */

void rphttp_wait(struct client *c)
{
	c->busy = c->waiting = true;
	c->next = NULL;
	c->prev = rp.fifo_tail;
	if (rp.fifo_tail)
		rp.fifo_tail->next = c;
	else
		rp.fifo_head = c;
	rp.fifo_tail = c;
}

void rphttp_unwait(struct client *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		rp.fifo_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		rp.fifo_tail = c->prev;
	c->prev = c->next = NULL;
	c->busy = c->waiting = false;
}

static bool backend_available(void)
{
	return rp.idle || rp.n_backends < rp.max_backends;
}

void rphttp_serve_fifo(void)
{
	while (rp.fifo_head && backend_available()) {
		struct client *w = rp.fifo_head;

		rphttp_unwait(w);
		if (rpws_advance_buffered(w) < 0) {
			rpws_close(w);
			continue;
		}
		rpws_events(w);
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
	b->it.fd = connect_to(&rp.backend, -1); /* non-blocking, TCP_NODELAY */
	if (b->it.fd < 0) {
		free(b);
		return NULL;
	}
	b->it.kind = K_BACKEND;
	b->it.events = EPOLLIN;
	e = (struct epoll_event){.events = EPOLLIN, .data.ptr = b};
	if (epoll_ctl(rp.ep, EPOLL_CTL_ADD, b->it.fd, &e) < 0) {
		close(b->it.fd);
		free(b);
		return NULL;
	}
	rp.n_backends++;
	return b;
}

struct backend *rphttp_get(void)
{
	struct backend *b = rp.idle;

	if (b) {
		rp.idle = b->next_idle;
		return b;
	}
	return rp.n_backends < rp.max_backends ? backend_open() : NULL;
}

/* The connection is gone; so is the client whose call it carried. */
static void backend_fail(struct backend *b)
{
	struct client *c = b->owner;

	if (b->it.dead)
		return;
	if (!b->busy) {
		struct backend **pp = &rp.idle;

		while (*pp && *pp != b)
			pp = &(*pp)->next_idle;
		if (*pp)
			*pp = b->next_idle;
	}
	rp.n_backends--;
	b->owner = NULL;
	rpio_kill(&b->it);
	if (c) {
		c->call = NULL;
		rpws_close(c);
	}
}

/* Back to the pool; the longest-waiting message gets it first. */
static void backend_release(struct backend *b)
{
	b->busy = false;
	b->owner = NULL;
	b->next_idle = rp.idle;
	rp.idle = b;
	rphttp_serve_fifo();
}

int rphttp_call(struct backend *b, struct client *c, const uint8_t *body, size_t len)
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
	memcpy(rp.req + rp.req_prefix, d, dl);
	iov[0] = (struct iovec){.iov_base = rp.req, .iov_len = rp.req_prefix + dl};
	iov[1] = (struct iovec){.iov_base = (void *)body, .iov_len = len};
	b->busy = true;
	b->owner = c;
	c->call = b;
	c->busy = true;
	if (rpio_send(&b->it, iov, 2) < 0) {
		backend_fail(b);
		return -1;
	}
	backend_events(b);
	return 0;
}

/* ---- parsing --------------------------------------------------------------- */

const char *rphttp_header(const char *h, size_t n, const char *name, size_t *vlen)
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
	v = rphttp_header(line_end + 1, (size_t)(eoh + 2 - (line_end + 1)), "Content-Length",
	                  &vlen);
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

/* ---- backend responses -------------------------------------------------------- */

/* One read; a complete response goes to its client, the connection back
 * to the pool, and the client's next message (if any) on its way. 0, or
 * -1 when the connection must close. */
static int backend_read(struct backend *b)
{
	ssize_t n = read(b->it.fd, rp.rbuf, READ_BUF_SIZE);
	uint8_t *p = rp.rbuf;
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
		if (rpio_append(&b->it.in, rp.rbuf, len) < 0)
			return -1;
		p = buf_data(&b->it.in);
		len = buf_used(&b->it.in);
	}
	r = http_response(p, len, &bo, &bl);
	if (r < 0 || (r > 0 && (size_t)r != len))
		return -1; /* unusable, or more than one response to one request */
	if (r == 0)
		return p == rp.rbuf ? rpio_append(&b->it.in, p, len) : 0;
	c = b->owner;
	if (c)
		rpws_reply(c, p + bo, bl);
	b->it.in.off = b->it.in.len = 0;
	backend_release(b);
	if (c && !c->it.dead) {
		if (rpws_advance_buffered(c) < 0)
			rpws_close(c);
		else
			rpws_events(c);
	}
	return 0;
}

void rphttp_on_event(struct backend *b, uint32_t ev)
{
	if ((ev & EPOLLOUT && rpio_flush(&b->it) < 0) ||
	    (ev & (EPOLLIN | EPOLLHUP | EPOLLERR) && backend_read(b) < 0)) {
		backend_fail(b);
		return;
	}
	if (!b->it.dead)
		backend_events(b);
}
