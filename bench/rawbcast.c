/* rawbcast.c — the raw epoll ceiling of bench/run-bcast.sh's broadcast: a
 * minimal single-threaded, level-triggered epoll server that upgrades
 * WebSocket clients and, when triggered, writes one pre-encoded frame to
 * every one of them — one write() per socket, nothing else, what no
 * server on this machine can beat.
 *
 *   rawbcast [--listen ADDR:PORT]     (IPv4; port 0 picks a free port)
 *
 * On the one port:
 *   GET … with Sec-WebSocket-Key   answered 101 (RFC 6455 §4.2.2, the
 *       accept value from wsupgrade.c); then small frames the client sends
 *       are echoed (bcastload's echo probe), a close frame or EOF closes.
 *   POST … with a Content-Length body {"data":"<base64>","type":"TEXT"|
 *       "BINARY"} (wsgw's broadcast body; other fields ignored) — the
 *       frame (2- or 4-byte header, ≤ 64 KiB payload) is built once, then
 *       written with one write() to every open WebSocket in a plain loop,
 *       and the request answered 200 {"delivered":D,"skipped":S,"total":T}
 *       (S: a write the kernel refused or cut short — a ceiling does not
 *       queue; never seen with 32 bytes to an idle socket) and closed.
 * Heads are capped at 4 KiB and bodies at 128 KiB; anything else is
 * closed. Prints "rawbcast: listening on ADDR (port N)" to stderr once
 * listening; exits on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"
#include "wsupgrade.h"

#define HEAD_MAX 4096
#define BODY_MAX (128 * 1024)
#define PAYLOAD_MAX (64 * 1024)
#define MAX_EVENTS 1024
#define RBUF_SIZE (64 * 1024)

enum rstate { R_HEAD, R_BODY, R_WS };

struct rconn {
	int fd;
	uint8_t state; /* enum rstate */
	unsigned pos;  /* index in ws[] while R_WS */
	size_t len, need;
	char *buf; /* head (and body) while not R_WS */
};

const char bench_prog[] = "rawbcast";

static int ep;
static struct rconn **ws; /* the open WebSockets */
static unsigned nws, cap;
static uint8_t rbuf[RBUF_SIZE];
static uint8_t frame[4 + PAYLOAD_MAX];

static void conn_close(struct rconn *c)
{
	if (c->state == R_WS) {
		ws[c->pos] = ws[--nws];
		ws[c->pos]->pos = c->pos;
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
}

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes base64 from s up to the closing quote into out; its length, or
 * -1 if malformed or longer than max. */
static long b64dec(const char *s, uint8_t *out, size_t max)
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0, v;

	for (; *s && *s != '"' && *s != '='; s++) {
		if ((v = b64val((unsigned char)*s)) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return (long)n;
}

/* The broadcast: frame built once, one write() per socket. */
static void broadcast(struct rconn *t)
{
	const char *d = strstr(t->buf, "\"data\"");
	bool bin = strstr(t->buf, "\"BINARY\"") != NULL;
	unsigned delivered = 0, skipped = 0, total = nws;
	char resp[256];
	long n = -1;
	size_t hl, fl;
	int rl;

	if (d && (d = strchr(d + 6, '"')))
		n = b64dec(d + 1, frame + 4, PAYLOAD_MAX);
	if (n < 0) {
		static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		                          "Connection: close\r\n\r\n";
		if (write(t->fd, bad, sizeof bad - 1) < 0) { /* closing anyway */
		}
		conn_close(t);
		return;
	}
	hl = n < 126 ? 2 : 4;
	frame[4 - hl] = bin ? 0x82 : 0x81;
	if (hl == 2) {
		frame[3] = (uint8_t)n;
	} else {
		frame[1] = 126;
		frame[2] = (uint8_t)(n >> 8), frame[3] = (uint8_t)n;
	}
	fl = hl + (size_t)n;
	/* no close here: another socket's event may still be in this batch */
	for (unsigned i = 0; i < nws; i++) {
		if (write(ws[i]->fd, frame + 4 - hl, fl) == (ssize_t)fl)
			delivered++;
		else
			skipped++;
	}
	rl = snprintf(resp, sizeof resp, "{\"delivered\":%u,\"skipped\":%u,\"total\":%u}",
	              delivered, skipped, total);
	{
		char out[512];
		int ol = snprintf(out, sizeof out,
		                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		                  "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
		                  rl, resp);

		if (write(t->fd, out, (size_t)ol) < 0) { /* the caller went away */
		}
	}
	conn_close(t);
}

/* A complete request head in c->buf: upgrade, or wait for a POST body. */
static void on_head(struct rconn *c, size_t hl)
{
	char *key, *cl, resp[256], accept[29];
	size_t kl = 0;
	int n;

	c->buf[hl - 2] = '\0'; /* the head's searches stop at its end */
	if (!strncmp(c->buf, "POST ", 5)) {
		cl = strcasestr(c->buf, "\r\ncontent-length:");
		c->need = cl ? strtoul(cl + 17, NULL, 10) : 0;
		c->buf[hl - 2] = '\r';
		if (!cl || c->need > BODY_MAX) {
			conn_close(c);
			return;
		}
		memmove(c->buf, c->buf + hl, c->len - hl);
		c->len -= hl;
		if (c->need + 2 > HEAD_MAX) {
			char *b = realloc(c->buf, BODY_MAX + 2);

			if (!b)
				bench_die("out of memory");
			c->buf = b;
		}
		c->state = R_BODY;
		if (c->len >= c->need) {
			c->buf[c->need] = '\0';
			broadcast(c);
		}
		return;
	}
	key = strcasestr(c->buf, "\r\nsec-websocket-key:");
	if (strncmp(c->buf, "GET ", 4) || !key) {
		conn_close(c);
		return;
	}
	key += 20;
	while (*key == ' ')
		key++;
	while (key[kl] && key[kl] != '\r' && key[kl] != ' ')
		kl++;
	if (wsupgrade_accept(key, kl, accept) < 0) {
		conn_close(c);
		return;
	}
	n = snprintf(resp, sizeof resp,
	             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	             accept);
	if (write(c->fd, resp, (size_t)n) != n) {
		conn_close(c);
		return;
	}
	free(c->buf);
	c->buf = NULL;
	if (nws == cap) {
		struct rconn **p = realloc(ws, (cap ? 2 * cap : 1024) * sizeof *ws);

		if (!p)
			bench_die("out of memory");
		ws = p;
		cap = cap ? 2 * cap : 1024;
	}
	c->state = R_WS;
	c->pos = nws;
	ws[nws++] = c;
}

/* bcastload's echo probe: small masked text frames, echoed unmasked in one
 * write(). A ceiling takes only whole frames of < 126 bytes per read (the
 * probe sends one 32-byte message at a time); anything else, or a close
 * frame, hangs up (-1). */
static int echo(struct rconn *c, size_t n)
{
	static uint8_t out[RBUF_SIZE];
	size_t off = 0, o = 0;

	while (off + 6 <= n) {
		uint8_t *f = rbuf + off, op = f[0] & 0x0f, len = f[1] & 0x7f;

		if (op == 8 || !(f[1] & 0x80) || len >= 126 || off + 6u + len > n)
			return -1;
		out[o++] = f[0];
		out[o++] = len;
		for (unsigned i = 0; i < len; i++)
			out[o++] = f[6 + i] ^ f[2 + i % 4];
		off += 6u + len;
	}
	if (off != n)
		return -1;
	return write(c->fd, out, o) == (ssize_t)o ? 0 : -1;
}

static void on_readable(struct rconn *c)
{
	size_t room = c->state == R_HEAD ? HEAD_MAX - 1 - c->len : c->need - c->len;
	ssize_t r;
	char *eoh;

	if (c->state == R_WS) {
		r = read(c->fd, rbuf, sizeof rbuf);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) ||
		    (r > 0 && echo(c, (size_t)r) < 0))
			conn_close(c);
		return;
	}
	r = read(c->fd, c->buf + c->len, room);
	if (r <= 0) {
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	if (c->state == R_BODY) {
		if (c->len >= c->need) {
			c->buf[c->need] = '\0';
			broadcast(c);
		}
		return;
	}
	eoh = strstr(c->buf, "\r\n\r\n");
	if (eoh)
		on_head(c, (size_t)(eoh + 4 - c->buf));
	else if (c->len >= HEAD_MAX - 1)
		conn_close(c);
}

static void on_accept(int lfd)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct rconn *c;

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (!c || !(c->buf = malloc(HEAD_MAX)))
			bench_die("out of memory");
		c->fd = fd;
		bench_ep_set(ep, fd, c, EPOLLIN, true);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct sigaction sig = {.sa_handler = on_term};
	struct epoll_event evs[MAX_EVENTS];
	socklen_t sl = sizeof sa;
	const char *listen_at = "127.0.0.1:0";
	int lfd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			listen_at = argv[++i];
		} else {
			fprintf(stderr, "usage: rawbcast [--listen IPv4:PORT]\n");
			return 2;
		}
	}
	if (bench_parse_addr(listen_at, &sa, 0) < 0)
		bench_die("bad --listen (IPv4:PORT)");
	raise_fd_limit();
	sigaction(SIGTERM, &sig, NULL);
	sigaction(SIGINT, &sig, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(&sa);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0)
		bench_die("cannot listen");
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	fprintf(stderr, "rawbcast: listening on %s (port %u)\n", listen_at, ntohs(sa.sin_port));
	bench_ep_set(ep, lfd, NULL, EPOLLIN, true);
	while (!got_term) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, 200);

		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				on_accept(lfd);
			else
				on_readable(evs[i].data.ptr);
		}
	}
	return 0;
}
