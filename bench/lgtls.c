/* lgtls.c — loadgen's TLS client side (lgtls.h). Read-ahead is on, so one
 * read() takes every record the kernel holds and lg_pending says when
 * more wait inside OpenSSL; writes may be partial and may move (the
 * template slice is recomputed on every retry), as the plaintext path.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <unistd.h>

#include "lgtls.h"
#include "lgwire.h"

/* Every ticket the server sends: noted on the connection (the handshake
 * loop waits for it, so the server's work is finished when a cycle ends)
 * and, when resuming, kept as the session the next handshakes offer. */
static int on_ticket(SSL *ssl, SSL_SESSION *sess)
{
	struct lconn *c = SSL_get_app_data(ssl);
	struct lg *g = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (c)
		c->got_ticket = true;
	if (!g->o.tls_resume)
		return 0;
	SSL_SESSION_free(g->sess);
	g->sess = sess;
	return 1;
}

int lgtls_init(struct lg *g)
{
	SSL_CTX *x = SSL_CTX_new(TLS_client_method());

	if (!x)
		return -1;
	SSL_CTX_set_min_proto_version(x, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION);
	SSL_CTX_set_verify(x, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_read_ahead(x, 1);
	SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(x, on_ticket);
	SSL_CTX_set_app_data(x, g);
	if (SSL_CTX_set1_groups_list(x, "X25519") != 1) {
		SSL_CTX_free(x);
		return -1;
	}
	g->tls = x;
	return 0;
}

int lgtls_start(struct lg *g, struct lconn *c)
{
	c->ssl = SSL_new(g->tls);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	SSL_set_app_data(c->ssl, c);
	if (g->sess)
		SSL_set_session(c->ssl, g->sess);
	SSL_set_connect_state(c->ssl);
	return 0;
}

/* errno for an OpenSSL failure: EAGAIN when it waits (want_out set when
 * it waits to write), else EPROTO. */
static void map_error(struct lconn *c, int rc)
{
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return;
	case SSL_ERROR_WANT_WRITE:
		c->tls_want_out = true;
		errno = EAGAIN;
		return;
	case SSL_ERROR_ZERO_RETURN:
		errno = 0;
		return;
	case SSL_ERROR_SYSCALL:
		if (!errno)
			errno = ECONNRESET;
		break;
	default:
		errno = EPROTO;
	}
	ERR_clear_error();
}

int lgtls_step(struct lg *g, struct lconn *c)
{
	int rc = SSL_do_handshake(c->ssl);

	c->tls_want_out = false;
	if (rc == 1) {
		lgwire_want_out(g, c, false);
		return 1;
	}
	map_error(c, rc);
	if (errno != EAGAIN)
		return -1;
	lgwire_want_out(g, c, c->tls_want_out);
	return 0;
}

ssize_t lg_read(struct lconn *c, void *buf, size_t len)
{
	size_t n = 0;
	int rc;

	if (!c->ssl)
		return read(c->fd, buf, len);
	rc = SSL_read_ex(c->ssl, buf, len, &n);
	if (rc == 1)
		return (ssize_t)n;
	map_error(c, rc);
	return errno == 0 ? 0 : -1;
}

ssize_t lg_write(struct lconn *c, const void *buf, size_t len)
{
	size_t n = 0;
	int rc;

	if (!c->ssl)
		return write(c->fd, buf, len);
	rc = SSL_write_ex(c->ssl, buf, len, &n);
	if (rc == 1)
		return (ssize_t)n;
	map_error(c, rc);
	if (errno == 0)
		errno = EPIPE;
	return -1;
}

bool lg_pending(const struct lconn *c)
{
	return c->ssl && SSL_has_pending(c->ssl);
}

void lgtls_free(struct lconn *c)
{
	if (!c->ssl)
		return;
	/* Recorded as shut down, so OpenSSL keeps the session resumable
	 * (SSL_free would otherwise mark it bad). */
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	c->ssl = NULL;
}
