/* rpws.c — rawproxy's WebSocket clients (RFC 6455): the upgrade request
 * head is buffered and answered 101 (§4.2.2; the accept value from
 * wsupgrade.c); then masked, unfragmented text or binary frames with
 * 7/16/64-bit lengths (§5.2), each unmasked in place (§5.3) and sent to
 * the backend (rphttp.c) from where it was read. A close frame, EOF or a
 * frame it does not take (unmasked, fragmented, reserved bits or opcodes,
 * over 16 MiB) hangs up; pings and pongs are ignored. Only what must wait
 * (a partial frame, a message behind a call in flight) is copied into the
 * client's input buffer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rphttp.h"
#include "rpio.h"
#include "rpws.h"
#include "wsupgrade.h"

/* Queued output stops reading (backpressure, as in rawecho); so does a
 * full input buffer while a call is out — it drains as calls complete. */
void rpws_events(struct client *c)
{
	uint32_t ev = EPOLLIN;

	if (buf_used(&c->it.out))
		ev = EPOLLOUT;
	else if (c->busy && buf_used(&c->it.in) >= IN_PAUSE)
		ev = 0;
	rpio_set_events(&c->it, ev);
}

/* ---- frames ----------------------------------------------------------------- */

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

void rpws_close(struct client *c)
{
	if (c->it.dead)
		return;
	if (c->waiting)
		rphttp_unwait(c);
	if (c->call)
		c->call->owner = NULL; /* the reply, when it comes, is dropped */
	c->call = NULL;
	rpio_kill(&c->it);
}

/* The response body as one unmasked text frame: header and body in one
 * writev, the body straight from where the response was read. */
void rpws_reply(struct client *c, const uint8_t *body, size_t len)
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
	if (rpio_send(&c->it, iov, 2) < 0)
		rpws_close(c);
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
		b = rphttp_get();
		if (!b) {
			rphttp_wait(c);
			break;
		}
		unmask(p + off + hl, pl, p + off + hl - 4);
		if (rphttp_call(b, c, p + off + hl, pl) < 0)
			return -1;
		off += hl + pl;
	}
	return (long)off;
}

/* client_advance over the client's input buffer. 0, or -1 to close. */
int rpws_advance_buffered(struct client *c)
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
	char resp[sizeof pre + 32];
	struct iovec iov;

	eoh = memmem(h, n, "\r\n\r\n", 4);
	if (!eoh)
		return n > HEAD_MAX ? -1 : 0;
	line_end = memchr(h, '\n', (size_t)(eoh - h));
	if (!line_end)
		return -1;
	key = rphttp_header(line_end + 1, (size_t)(eoh + 2 - (line_end + 1)), "Sec-WebSocket-Key",
	                    &klen);
	memcpy(resp, pre, sizeof pre - 1);
	if (!key || wsupgrade_accept(key, klen, resp + sizeof pre - 1) < 0)
		return -1;
	memcpy(resp + sizeof pre - 1 + 28, "\r\n\r\n", 4);
	iov = (struct iovec){.iov_base = resp, .iov_len = sizeof pre - 1 + 28 + 4};
	if (rpio_send(&c->it, &iov, 1) < 0)
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
	ssize_t n = read(c->it.fd, rp.rbuf, READ_BUF_SIZE);
	long used;

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (!c->upgraded || buf_used(&c->it.in)) {
		if (rpio_append(&c->it.in, rp.rbuf, (size_t)n) < 0)
			return -1;
		if (!c->upgraded) {
			int r = handshake(c);

			if (r <= 0)
				return r;
		}
		return rpws_advance_buffered(c);
	}
	used = client_advance(c, rp.rbuf, (size_t)n);
	if (used < 0)
		return -1;
	if ((size_t)used < (size_t)n &&
	    rpio_append(&c->it.in, rp.rbuf + used, (size_t)n - (size_t)used) < 0)
		return -1;
	return 0;
}

void rpws_on_event(struct client *c, uint32_t ev)
{
	if ((ev & EPOLLOUT && rpio_flush(&c->it) < 0) ||
	    (ev & (EPOLLIN | EPOLLHUP | EPOLLERR) && client_read(c) < 0)) {
		rpws_close(c);
		return;
	}
	if (!c->it.dead)
		rpws_events(c);
}
