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
 *
 * Its files: this one (flags, listening, accepting, the loop), rpws.c (the
 * WebSocket clients), rphttp.c (the backend pool, its FIFO and HTTP/1.1),
 * rpio.c (every connection's buffers and writes), rpstate.h (the state
 * they share).
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"
#include "rphttp.h"
#include "rpio.h"
#include "rpstate.h"
#include "rpws.h"

#define MAX_EVENTS 1024
#define ACCEPT_BATCH 64

struct rp rp; /* the one mutable global (rpstate.h) */

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
		if (epoll_ctl(rp.ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(c);
		}
	}
}

static int serve(int lfd)
{
	static struct epoll_event evs[MAX_EVENTS];
	struct item listener = {.fd = lfd, .kind = K_LISTEN};

	evs[0] = (struct epoll_event){.events = EPOLLIN, .data.ptr = &listener};
	if (epoll_ctl(rp.ep, EPOLL_CTL_ADD, lfd, &evs[0]) < 0)
		return 1;
	while (!got_term) {
		int n = epoll_wait(rp.ep, evs, MAX_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			struct item *it = evs[i].data.ptr;

			if (it->dead)
				continue; /* closed earlier in this batch */
			if (it->kind == K_LISTEN)
				accept_all(lfd);
			else if (it->kind == K_CLIENT)
				rpws_on_event((struct client *)it, evs[i].events);
			else
				rphttp_on_event((struct backend *)it, evs[i].events);
		}
		/* a lost backend connection leaves room for a waiting message */
		rphttp_serve_fifo();
		rpio_free_dead();
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
	if (!backend_text || bench_parse_addr(backend_text, &rp.backend, 1) < 0) {
		fprintf(stderr, "rawproxy: need --backend IPv4:PORT\n");
		return 2;
	}
	if (bench_parse_addr(listen_text, &sa, 0) < 0) {
		fprintf(stderr, "rawproxy: bad --listen %s (want IPv4:PORT)\n", listen_text);
		return 2;
	}
	/* the request head, but for the length and the blank line */
	n = snprintf(rp.req, sizeof rp.req,
	             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	             "Content-Length: ",
	             path, backend_text);
	if (n < 0 || (size_t)n + 32 > sizeof rp.req) {
		fprintf(stderr, "rawproxy: --path too long\n");
		return 2;
	}
	rp.req_prefix = (size_t)n;
	rp.max_backends = (unsigned)conns;
	rp.rbuf = malloc(READ_BUF_SIZE);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	raise_fd_limit();
	lfd = listen_on(&sa);
	rp.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!rp.rbuf || lfd < 0 || rp.ep < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "rawproxy: --listen %s: %s\n", listen_text, strerror(errno));
		return 1;
	}
	fprintf(stderr, "rawproxy: listening on %s (port %u)\n", listen_text, ntohs(sa.sin_port));
	return serve(lfd);
}
