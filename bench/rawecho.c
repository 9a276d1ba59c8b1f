/* rawecho.c — the machine's ceiling for bench/run.sh: a minimal
 * single-threaded, level-triggered epoll TCP echo server with no
 * WebSocket work at all.
 *
 * Per readable socket: one read() into a loop-wide buffer, one write() of
 * the same bytes. Only what the kernel refuses is copied into a
 * per-connection queue; while anything is queued the socket is not read
 * (backpressure), so a queue never holds more than one read's worth.
 * Must never do anything per byte: whatever it costs is the floor under
 * which no echo server on this machine can go.
 *
 *   rawecho [--listen ADDR:PORT]     (IPv4; port 0 picks a free port)
 *
 * Prints "rawecho: listening on ADDR (port N)" to stderr once listening;
 * exits on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_EVENTS 1024
#define ACCEPT_BATCH 64

struct rconn {
	int fd;
	size_t qoff, qlen; /* queued bytes: q[qoff..qlen) */
	uint8_t *q;        /* NULL unless a write was short */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void conn_close(int ep, struct rconn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->q);
	free(c);
}

static int set_events(int ep, struct rconn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Writes the queue; once empty, frees it and resumes reading. Returns 0
 * or -1 when the connection must close. */
static int flush_queue(int ep, struct rconn *c)
{
	ssize_t w = write(c->fd, c->q + c->qoff, c->qlen - c->qoff);

	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	c->qoff += (size_t)w;
	if (c->qoff < c->qlen)
		return 0;
	free(c->q);
	c->q = NULL;
	c->qoff = c->qlen = 0;
	return set_events(ep, c, EPOLLIN);
}

/* One read, one write of the same bytes; a short write queues the rest
 * and pauses reading. Returns 0 or -1 when the connection must close. */
static int echo_once(int ep, struct rconn *c, uint8_t *buf)
{
	ssize_t n = read(c->fd, buf, READ_BUF_SIZE), w;

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	w = write(c->fd, buf, (size_t)n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		w = 0;
	}
	if (w == n)
		return 0;
	c->q = malloc((size_t)(n - w));
	if (!c->q)
		return -1;
	memcpy(c->q, buf + w, (size_t)(n - w));
	c->qoff = 0;
	c->qlen = (size_t)(n - w);
	return set_events(ep, c, EPOLLOUT);
}

static void accept_all(int ep, int lfd)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct rconn *c;
		struct epoll_event e;

		if (fd < 0)
			return; /* EAGAIN, or EMFILE: level-triggered, retried */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		e = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(c);
		}
	}
}

static int serve(int ep, int lfd)
{
	static struct epoll_event evs[MAX_EVENTS];
	uint8_t *buf = malloc(READ_BUF_SIZE);
	int lfd_tag = 0; /* the listener's data.ptr: an address no conn has */

	if (!buf)
		return 1;
	evs[0] = (struct epoll_event){.events = EPOLLIN, .data.ptr = &lfd_tag};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &evs[0]) < 0)
		return 1;
	while (!stop) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			struct rconn *c = evs[i].data.ptr;
			int rc;

			if (evs[i].data.ptr == &lfd_tag) {
				accept_all(ep, lfd);
				continue;
			}
			/* Each fd appears once per batch, so freeing here is safe. */
			rc = c->q ? flush_queue(ep, c) : echo_once(ep, c, buf);
			if (rc < 0)
				conn_close(ep, c);
		}
		if (n < 0 && errno != EINTR)
			return 1;
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	const char *listen_text = "127.0.0.1:0";
	int lfd, ep;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			listen_text = argv[++i];
		} else if (!strncmp(argv[i], "--listen=", 9)) {
			listen_text = argv[i] + 9;
		} else {
			fprintf(stderr, "usage: rawecho [--listen IPv4:PORT]\n");
			return !!strcmp(argv[i], "--help") && !!strcmp(argv[i], "-h") ? 2 : 0;
		}
	}
	if (bench_parse_addr(listen_text, &sa, 0) < 0) {
		fprintf(stderr, "rawecho: bad --listen %s (want IPv4:PORT)\n", listen_text);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	raise_fd_limit();
	lfd = listen_on(&sa);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0 || getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "rawecho: --listen %s: %s\n", listen_text, strerror(errno));
		return 1;
	}
	fprintf(stderr, "rawecho: listening on %s (port %u)\n", listen_text, ntohs(sa.sin_port));
	return serve(ep, lfd);
}
