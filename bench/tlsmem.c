/* tlsmem.c — where the memory of an idle wss:// connection goes: the live
 * OpenSSL allocations of N idle server-side connections made by wsgw's
 * own TLS layer (src/tls.c, linked in), summed by OpenSSL's file:line.
 *
 * CRYPTO_set_mem_functions is installed before any other OpenSSL call, so
 * every allocation carries the file and line that made it and which side
 * made it (our server connections, or the in-process client that talks to
 * them over a socketpair). Each connection does a full TLS 1.3 handshake
 * (X25519, the certificate given), one 32-byte echo and one read that
 * finds nothing, as an idle wss:// connection has; then the server side's
 * live allocations are printed per connection, largest first. One
 * connection made and freed first keeps lazily built tables out of the
 * figure. Malloc's own overhead (~8-16 B per block) and wsgw's struct
 * conn are not in it; bench/tls-idle-mem.py measures the whole RSS.
 *
 *   tlsmem CERT.pem KEY.pem [N]     (N: 200)
 */
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

#define MAX_CONNS 5000
#define MAX_SITES 1024

/* Every live block, in a list; side 1: our server connections. */
struct blk {
	size_t n;
	const char *file;
	int line, side;
	struct blk *prev, *next;
	size_t pad; /* keeps the payload 16-byte aligned */
};

static struct blk live = {.prev = &live, .next = &live};
static int side;

static void *track_malloc(size_t n, const char *file, int line)
{
	struct blk *b = malloc(sizeof *b + n);

	if (!b)
		return NULL;
	*b = (struct blk){.n = n, .file = file, .line = line, .side = side};
	b->next = live.next;
	b->prev = &live;
	live.next->prev = b;
	live.next = b;
	return b + 1;
}

static void track_free(void *p, const char *file, int line)
{
	struct blk *b = (struct blk *)p - 1;

	(void)file;
	(void)line;
	if (!p)
		return;
	b->prev->next = b->next;
	b->next->prev = b->prev;
	free(b);
}

static void *track_realloc(void *p, size_t n, const char *file, int line)
{
	struct blk *old = (struct blk *)p - 1;
	void *q;

	if (!p)
		return track_malloc(n, file, line);
	q = track_malloc(n, file, line);
	if (!q)
		return NULL;
	memcpy(q, p, old->n < n ? old->n : n);
	((struct blk *)q - 1)->side = old->side;
	track_free(p, file, line);
	return q;
}

struct site {
	const char *file;
	int line;
	size_t bytes, blocks;
};

static int by_bytes(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static void report(int n)
{
	static struct site s[MAX_SITES];
	size_t ns = 0, bytes = 0, blocks = 0;

	for (struct blk *b = live.next; b != &live; b = b->next) {
		size_t i;

		if (b->side != 1)
			continue;
		for (i = 0; i < ns; i++)
			if (s[i].line == b->line && !strcmp(s[i].file, b->file))
				break;
		if (i == ns && ns == MAX_SITES)
			continue;
		if (i == ns)
			s[ns++] = (struct site){.file = b->file, .line = b->line};
		s[i].bytes += b->n;
		s[i].blocks++;
		bytes += b->n;
		blocks++;
	}
	qsort(s, ns, sizeof *s, by_bytes);
	printf("idle server-side TLS connection (src/tls.c): %.1f B in %.1f blocks per "
	       "connection (N=%d)\n",
	       (double)bytes / n, (double)blocks / n, n);
	for (size_t i = 0; i < ns && s[i].bytes * 100 >= (size_t)n; i++)
		printf("%9.1f B %6.2f blocks  %s:%d\n", (double)s[i].bytes / n,
		       (double)s[i].blocks / n, s[i].file, s[i].line);
}

/* One connection through handshake, echo and an empty read. 0 or -1. */
static int open_one(struct tls_ctx *sc, SSL_CTX *cc, int fds[2], struct tls **s, SSL **c)
{
	char buf[256];
	const char *why;
	bool sdone = false, cdone = false;
	size_t n = 0;
	ssize_t r;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		return -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	side = 1;
	*s = tls_server_new(sc, fds[0]);
	side = 2;
	*c = SSL_new(cc);
	if (!*s || !*c || SSL_set_fd(*c, fds[1]) != 1)
		return -1;
	SSL_set_connect_state(*c);
	for (int k = 0; k < 20 && !(sdone && cdone); k++) {
		side = 2;
		cdone = cdone || SSL_do_handshake(*c) == 1;
		side = 1;
		sdone = sdone || tls_handshake(*s, &why) == 0;
	}
	if (!sdone || !cdone)
		return -1;
	side = 2;
	SSL_write_ex(*c, "0123456789abcdef0123456789abcdef", 32, &n);
	side = 1;
	r = tls_read(*s, buf, sizeof buf, &why);
	if (r != 32 || tls_write(*s, buf, 32, &why) != 32)
		return -1;
	side = 2;
	SSL_read_ex(*c, buf, sizeof buf, &n);
	side = 1;
	tls_read(*s, buf, sizeof buf, &why); /* the idle wake-up: nothing */
	side = 0;
	return 0;
}

int main(int argc, char **argv)
{
	static int fds[MAX_CONNS][2];
	static struct tls *s[MAX_CONNS];
	static SSL *c[MAX_CONNS];
	int n = argc > 3 ? atoi(argv[3]) : 200;
	struct tls_ctx *sc;
	const char *why;
	SSL_CTX *cc;

	if (argc < 3 || n < 1 || n > MAX_CONNS) {
		fprintf(stderr, "usage: tlsmem CERT.pem KEY.pem [N (1..%d)]\n", MAX_CONNS);
		return 2;
	}
	CRYPTO_set_mem_functions(track_malloc, track_realloc, track_free);
	if (!(sc = tls_server_ctx_new(argv[1], argv[2], NULL, false, &why))) {
		fprintf(stderr, "tlsmem: %s\n", why);
		return 1;
	}
	cc = SSL_CTX_new(TLS_client_method());
	if (!cc || SSL_CTX_set_min_proto_version(cc, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set1_groups_list(cc, "X25519") != 1)
		return 1;
	if (open_one(sc, cc, fds[0], &s[0], &c[0]) < 0) {
		fprintf(stderr, "tlsmem: the first connection failed\n");
		return 1;
	}
	side = 1;
	tls_free(s[0]);
	side = 2;
	SSL_free(c[0]);
	close(fds[0][0]);
	close(fds[0][1]);
	for (int i = 0; i < n; i++) {
		if (open_one(sc, cc, fds[i], &s[i], &c[i]) < 0) {
			fprintf(stderr, "tlsmem: connection %d failed\n", i);
			return 1;
		}
	}
	report(n);
	return 0;
}
