/* fastbackend.c — the backend for bench/run-api.sh's message round trip:
 * a minimal single-threaded, level-triggered epoll HTTP/1.1 server that
 * answers every request "200 OK", Content-Type application/json, with the
 * request body echoed.
 *
 * Keep-alive and pipelining: every complete request in a read is answered,
 * in order, and all answers go out in one write(). Bodies are framed by
 * Content-Length only (no chunked; a request with Transfer-Encoding is
 * answered 411 and the connection closed). "Expect: 100-continue" gets its
 * interim response. "Connection: close" closes after the answer. Must cost
 * far less per request than the gateway, so it is never what is measured.
 *
 *   fastbackend [--listen ADDR:PORT]   (IPv4; default 127.0.0.1:0 = free port)
 *
 * Prints "fastbackend: listening on ADDR (port N)" to stderr once
 * listening. SIGUSR1 prints "STATS scenario=fastbackend requests=N
 * conns=N open=N bad=N" to stdout (conns: accepted so far, open: now);
 * SIGTERM or SIGINT prints the same with RESULT and exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <unistd.h>

#include "benchlib.h"

#define READ_BUF (64 * 1024)
#define MAX_EVENTS 1024
#define MAX_HEAD (64 * 1024)
#define MAX_BODY (16u << 20)

struct bconn {
	int fd;
	bool want_out, close_after, continued;
	uint8_t *in; /* unparsed input */
	size_t in_len, in_cap;
	uint8_t *out; /* unwritten output */
	size_t out_off, out_len, out_cap;
};

static volatile sig_atomic_t stop, dump;
static uint64_t n_requests, n_conns, n_open, n_bad;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else
		stop = 1;
}

static void print_stats(const char *tag)
{
	printf("%s scenario=fastbackend requests=%llu conns=%llu open=%llu bad=%llu\n", tag,
	       (unsigned long long)n_requests, (unsigned long long)n_conns,
	       (unsigned long long)n_open, (unsigned long long)n_bad);
	fflush(stdout);
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 4096;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c);
	if (!p)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

static int out_append(struct bconn *c, const void *p, size_t n)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (reserve(&c->out, &c->out_cap, c->out_len + n) < 0)
		return -1;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

static void conn_close(struct bconn *c)
{
	n_open--;
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Finds header NAME in head[0..len) (which starts after the request
 * line); returns a pointer to its value (leading blanks skipped) and sets
 * *vlen, or NULL. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;

		if ((size_t)(le - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(le - v);
			while (*vlen && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
				(*vlen)--;
			return v;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return NULL;
}

/* Answers every complete request in c->in. Returns 0, or -1 to close. */
static int serve(struct bconn *c)
{
	size_t off = 0;
	int rc = 0;

	while (off < c->in_len && !c->close_after) {
		const char *head = (const char *)c->in + off;
		size_t avail = c->in_len - off, hlen, vlen, body_len = 0;
		const char *eoh = memmem(head, avail, "\r\n\r\n", 4), *v, *line_end;
		char resp[160];
		int n;

		if (!eoh) {
			if (avail > MAX_HEAD)
				rc = -1;
			break;
		}
		hlen = (size_t)(eoh - head) + 4;
		line_end = memchr(head, '\n', hlen);
		v = header(line_end + 1, hlen - (size_t)(line_end + 1 - head), "Transfer-Encoding",
		           &vlen);
		if (v) {
			static const char r411[] = "HTTP/1.1 411 Length Required\r\n"
			                           "Content-Length: 0\r\nConnection: close\r\n\r\n";
			n_bad++;
			out_append(c, r411, sizeof r411 - 1);
			c->close_after = true;
			break;
		}
		v = header(line_end + 1, hlen - (size_t)(line_end + 1 - head), "Content-Length",
		           &vlen);
		if (v) {
			char num[24];

			if (!vlen || vlen >= sizeof num) {
				rc = -1;
				break;
			}
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			body_len = strtoul(num, NULL, 10);
			if (body_len > MAX_BODY) {
				rc = -1;
				break;
			}
		}
		if (avail < hlen + body_len) {
			if (!c->continued &&
			    header(line_end + 1, hlen - (size_t)(line_end + 1 - head), "Expect",
			           &vlen)) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				out_append(c, cont, sizeof cont - 1);
				c->continued = true;
			}
			break;
		}
		c->continued = false;
		v = header(line_end + 1, hlen - (size_t)(line_end + 1 - head), "Connection", &vlen);
		if (v && vlen == 5 && !strncasecmp(v, "close", 5))
			c->close_after = true;
		n = snprintf(resp, sizeof resp,
		             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		             "Content-Length: %zu\r\n%s\r\n",
		             body_len, c->close_after ? "Connection: close\r\n" : "");
		if (out_append(c, resp, (size_t)n) < 0 ||
		    out_append(c, head + hlen, body_len) < 0) {
			rc = -1;
			break;
		}
		n_requests++;
		off += hlen + body_len;
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	return rc;
}

/* Writes queued output. Returns 0, or -1 to close. */
static int flush(int ep, struct bconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		c->out_off += (size_t)w;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->close_after)
			return -1;
	}
	bool want = c->out_len > 0;
	if (want != c->want_out) {
		struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};

		c->want_out = want;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
	}
	return 0;
}

static int on_readable(int ep, struct bconn *c, uint8_t *buf)
{
	ssize_t r = read(c->fd, buf, READ_BUF);

	if (r == 0)
		return -1;
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (reserve(&c->in, &c->in_cap, c->in_len + (size_t)r) < 0)
		return -1;
	memcpy(c->in + c->in_len, buf, (size_t)r);
	c->in_len += (size_t)r;
	if (serve(c) < 0) {
		n_bad++;
		return -1;
	}
	return flush(ep, c);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	const char *listen_addr = "127.0.0.1:0";
	struct epoll_event evs[MAX_EVENTS], e;
	struct sigaction act = {.sa_handler = on_signal};
	uint8_t *buf = malloc(READ_BUF);
	int lfd, ep, one = 1;
	char ip[INET_ADDRSTRLEN];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			listen_addr = argv[++i];
		} else if (!strncmp(argv[i], "--listen=", 9)) {
			listen_addr = argv[i] + 9;
		} else {
			fprintf(stderr, "usage: fastbackend [--listen IPv4:PORT]\n");
			return 2;
		}
	}
	if (!buf || bench_parse_addr(listen_addr, &sa, 0) < 0) {
		fprintf(stderr, "fastbackend: bad --listen %s\n", listen_addr);
		return 2;
	}
	raise_fd_limit();
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGUSR1, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(&sa);
	if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("fastbackend: bind/listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	e.events = EPOLLIN;
	e.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
	fprintf(stderr, "fastbackend: listening on %s:%u (port %u)\n", ip, ntohs(sa.sin_port),
	        ntohs(sa.sin_port));
	while (!stop) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, 200);

		if (dump) {
			dump = 0;
			print_stats("STATS");
		}
		for (int i = 0; i < n; i++) {
			struct bconn *c = evs[i].data.ptr;

			if (!c) {
				for (int k = 0; k < 64; k++) {
					int fd =
					    accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (fd < 0)
						break;
					c = calloc(1, sizeof *c);
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					e.events = EPOLLIN;
					e.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
					n_conns++;
					n_open++;
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT && flush(ep, c) < 0) {
				conn_close(c);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) &&
			    on_readable(ep, c, buf) < 0)
				conn_close(c);
		}
	}
	print_stats("RESULT");
	return 0;
}
