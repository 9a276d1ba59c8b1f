/* tlsecho.c — the TLS ceiling for bench/run-tls.sh: rawecho with TLS, a
 * minimal single-threaded, level-triggered epoll echo server over
 * OpenSSL with no WebSocket work at all.
 *
 * The same TLS as wsgw's wss:// port (src/tls.c, server_ctx_setup): TLS
 * 1.2 and 1.3, groups X25519:P-256:P-384, the same TLS 1.2 suites and
 * TLS 1.3 defaults with the server's preference, no renegotiation, no
 * server-side session cache, one stateless ticket per handshake; the
 * certificate is whatever --cert names (run-tls.sh: ECDSA P-256). What a
 * bare OpenSSL server written for speed does on top: read-ahead (one
 * read() takes every record the kernel holds) and OpenSSL's buffers kept
 * for the connection's life (--release-buffers: released when idle, as
 * wsgw does, to see what that costs).
 *
 * Per readable socket: SSL_read until OpenSSL holds nothing more (records
 * already read count, the socket is not read again), then one SSL_write of
 * all of it. What SSL_write cannot send now is copied into a
 * per-connection queue and retried on EPOLLOUT; reading waits meanwhile.
 *
 *   tlsecho --cert PEM --key PEM [--listen ADDR:PORT] [--release-buffers]
 *
 * Prints "tlsecho: listening on ADDR (port N)" to stderr once listening;
 * exits on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_EVENTS 1024
#define ACCEPT_BATCH 64

const char bench_prog[] = "tlsecho";

struct tconn {
	int fd;
	SSL *ssl;
	bool ready;  /* handshake done */
	uint32_t ev; /* the epoll interest now */
	size_t qlen; /* queued bytes q[0..qlen): one SSL_write to retry */
	uint8_t *q;  /* NULL unless a write had to wait */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void conn_close(int ep, struct tconn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	SSL_free(c->ssl);
	close(c->fd);
	free(c->q);
	free(c);
}

static int set_events(int ep, struct tconn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	if (c->ev == ev)
		return 0;
	c->ev = ev;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* An OpenSSL failure: the events to wait for, or 0 when the connection
 * must close. */
static uint32_t wait_for(struct tconn *c, int rc)
{
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return EPOLLIN;
	case SSL_ERROR_WANT_WRITE:
		return EPOLLOUT;
	default:
		ERR_clear_error();
		return 0;
	}
}

/* Sends n bytes at p (from the loop buffer or the queue). Returns 0, or -1
 * when the connection must close; bytes that must wait go into the queue
 * and reading pauses. */
static int send_all(int ep, struct tconn *c, const uint8_t *p, size_t n)
{
	size_t w = 0;
	int rc = SSL_write_ex(c->ssl, p, n, &w);
	uint32_t ev;

	if (rc == 1) {
		free(c->q);
		c->q = NULL;
		c->qlen = 0;
		return set_events(ep, c, EPOLLIN);
	}
	if (!(ev = wait_for(c, rc)))
		return -1;
	if (p != c->q) { /* OpenSSL wants the same bytes again: keep them */
		c->q = malloc(n);
		if (!c->q)
			return -1;
		memcpy(c->q, p, n);
		c->qlen = n;
	}
	return set_events(ep, c, ev);
}

/* Every record the peer sent that OpenSSL can give now, then one write of
 * the lot. Returns 0, or -1 when the connection must close. */
static int echo_once(int ep, struct tconn *c, uint8_t *buf)
{
	size_t got = 0, n = 0;
	uint32_t ev = EPOLLIN;
	int rc;

	do {
		rc = SSL_read_ex(c->ssl, buf + got, READ_BUF_SIZE - got, &n);
		if (rc != 1) {
			if (!(ev = wait_for(c, rc)))
				return -1;
			break;
		}
		got += n;
	} while (got < READ_BUF_SIZE && SSL_has_pending(c->ssl));
	if (got)
		return send_all(ep, c, buf, got);
	return set_events(ep, c, ev);
}

static int step(int ep, struct tconn *c, uint8_t *buf)
{
	int rc;
	uint32_t ev;

	if (c->q)
		return send_all(ep, c, c->q, c->qlen);
	if (c->ready)
		return echo_once(ep, c, buf);
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		c->ready = true;
		return echo_once(ep, c, buf); /* read-ahead may hold data already */
	}
	if (!(ev = wait_for(c, rc)))
		return -1;
	return set_events(ep, c, ev);
}

static void accept_all(int ep, int lfd, SSL_CTX *ctx)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct tconn *c;
		struct epoll_event e;

		if (fd < 0)
			return; /* EAGAIN, or EMFILE: level-triggered, retried */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (!c || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, fd) != 1) {
			if (c)
				SSL_free(c->ssl);
			free(c);
			close(fd);
			ERR_clear_error();
			continue;
		}
		SSL_set_accept_state(c->ssl);
		c->fd = fd;
		c->ev = EPOLLIN;
		e = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			SSL_free(c->ssl);
			close(fd);
			free(c);
		}
	}
}

static int serve(int ep, int lfd, SSL_CTX *ctx)
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
			struct tconn *c = evs[i].data.ptr;

			if (evs[i].data.ptr == &lfd_tag) {
				accept_all(ep, lfd, ctx);
				continue;
			}
			/* Each fd appears once per batch, so freeing here is safe. */
			if (step(ep, c, buf) < 0)
				conn_close(ep, c);
		}
		if (n < 0 && errno != EINTR)
			return 1;
	}
	free(buf);
	return 0;
}

/* wsgw's server context (src/tls.c) without ALPN and client certificates. */
static SSL_CTX *ctx_new(const char *cert, const char *key, bool release)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());

	if (!s)
		return NULL;
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                           SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(s, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                        (release ? SSL_MODE_RELEASE_BUFFERS : 0));
	SSL_CTX_set_read_ahead(s, 1);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(s, 1);
	SSL_CTX_set_session_id_context(s, (const unsigned char *)"tlsecho", 7);
	if (SSL_CTX_set_cipher_list(s, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1") != 1 ||
	    SSL_CTX_set1_groups_list(s, "X25519:P-256:P-384") != 1 ||
	    SSL_CTX_use_certificate_chain_file(s, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(s);
		return NULL;
	}
	return s;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	const char *listen_text = "127.0.0.1:0", *cert = NULL, *key = NULL;
	bool release = false;
	SSL_CTX *ctx;
	int lfd, ep;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			listen_text = argv[++i];
		} else if (!strcmp(argv[i], "--cert") && i + 1 < argc) {
			cert = argv[++i];
		} else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
			key = argv[++i];
		} else if (!strcmp(argv[i], "--release-buffers")) {
			release = true;
		} else {
			fprintf(stderr, "usage: tlsecho --cert PEM --key PEM [--listen IPv4:PORT] "
			                "[--release-buffers]\n");
			return !!strcmp(argv[i], "--help") && !!strcmp(argv[i], "-h") ? 2 : 0;
		}
	}
	if (!cert || !key) {
		fprintf(stderr, "tlsecho: --cert and --key are required\n");
		return 2;
	}
	if (bench_parse_addr(listen_text, &sa, 0) < 0) {
		fprintf(stderr, "tlsecho: bad --listen %s (want IPv4:PORT)\n", listen_text);
		return 2;
	}
	if (!(ctx = ctx_new(cert, key, release))) {
		fprintf(stderr, "tlsecho: cannot load --cert %s / --key %s\n", cert, key);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	raise_fd_limit();
	lfd = listen_on(&sa);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0 || getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "tlsecho: --listen %s: %s\n", listen_text, strerror(errno));
		return 1;
	}
	fprintf(stderr, "tlsecho: listening on %s (port %u)\n", listen_text, ntohs(sa.sin_port));
	return serve(ep, lfd, ctx);
}
