/* tls.c — TLS over a non-blocking fd with OpenSSL: handshake, read and
 * write that never block and report what they wait for (tls_events).
 *
 * Owns one SSL per connection and the SSL_CTX it comes from; never owns
 * the fd, never touches epoll (the caller maps tls_events onto its
 * interest) and never logs. Verification is always on for a client
 * (RFC 9110 §4.3.4: the certificate must match the host the URL names;
 * RFC 6125 host-name rules through X509_VERIFY_PARAM), with SNI (RFC 6066
 * §3) only for names, never for IP literals. A server context (both
 * listening ports) selects ALPN (RFC 7301 §3.2) and may require client
 * certificates.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* Debian's CA bundle (package ca-certificates). OpenSSL's default file,
 * /usr/lib/ssl/cert.pem, is a link to it on a Debian host, but a minimal
 * root filesystem (the container image) may carry the bundle alone. */
#define TLS_DEBIAN_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct tls_ctx {
	SSL_CTX *ssl;
};

struct tls {
	SSL *ssl;
	uint32_t want;             /* what the last ERR_AGAIN waits for */
	struct tls_session **keep; /* where new sessions go */
	bool broken;               /* a TLS error: its session must not be resumed */
	bool ready;                /* handshake done */
	bool saw_http;             /* the handshake failed on a plain HTTP request */
	bool more;                 /* bytes may wait inside OpenSSL: tls_pending */
	bool read_wants_write;     /* the last read stopped on WANT_WRITE */
	bool write_wants_read;     /* the last write stopped on WANT_READ */
};

/* OpenSSL hands over each new session (TLS 1.3: one per ticket, which
 * may come after the handshake, with the first response). Returning 1
 * keeps its reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls *t = SSL_get_app_data(ssl);

	if (!t || !t->keep)
		return 0;
	SSL_SESSION_free((SSL_SESSION *)*t->keep);
	*t->keep = (struct tls_session *)sess;
	return 1;
}

struct tls_ctx *tls_client_ctx_new(const char *ca_file, const char **why)
{
	struct tls_ctx *c = calloc(1, sizeof *c);

	*why = "out of memory";
	if (!c || !(c->ssl = SSL_CTX_new(TLS_client_method())))
		goto out_free;
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	/* A write may return after part of the buffer, and the buffer handed
	 * back after ERR_AGAIN may have moved (the caller's pointer into its
	 * request): both are how a non-blocking writer works. */
	SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                             SSL_MODE_RELEASE_BUFFERS);
	/* A FIN without close_notify reads as the end of the stream; HTTP's
	 * own framing tells a cut-short response from a complete one. */
	SSL_CTX_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* As the server contexts: one read() per record batch (tls_read). */
	SSL_CTX_set_read_ahead(c->ssl, 1);
	/* Sessions are kept by the caller (per backend), not in a cache here. */
	SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(c->ssl, on_new_session);
	if (SSL_CTX_set_default_verify_paths(c->ssl) != 1 ||
	    (access(X509_get_default_cert_file(), R_OK) != 0 &&
	     access(TLS_DEBIAN_BUNDLE, R_OK) == 0 &&
	     SSL_CTX_load_verify_locations(c->ssl, TLS_DEBIAN_BUNDLE, NULL) != 1)) {
		*why = "cannot load the system CA store";
		goto out_free;
	}
	if (ca_file && *ca_file && SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL) != 1) {
		*why = "cannot load the CA file (PEM certificates expected)";
		goto out_free;
	}
	*why = NULL;
	return c;
out_free:
	if (c)
		SSL_CTX_free(c->ssl);
	free(c);
	ERR_clear_error();
	return NULL;
}

void tls_ctx_free(struct tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ssl);
	free(c);
}

/* Server preference (RFC 7301 §3.2): h2, then http/1.1. */
static const unsigned char alpn_protos[] = "\x02h2\x08http/1.1";

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, alpn_protos,
	                          sizeof alpn_protos - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* neither offered: go on without ALPN */
	return SSL_TLSEXT_ERR_OK;
}

/* *why = OpenSSL's reason for the last failure, else fallback. */
static void reason(const char **why, const char *fallback)
{
	unsigned long code = ERR_peek_last_error();
	const char *r = code ? ERR_reason_error_string(code) : NULL;

	*why = r ? r : fallback;
	ERR_clear_error();
}

static int server_ctx_setup(SSL_CTX *s, const char *cert, const char *key, const char *client_ca,
                            bool alpn, const char **why)
{
	STACK_OF(X509_NAME) * names;

	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                           SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
	/* Same partial and moving writes as the client; released buffers keep
	 * an idle connection to OpenSSL's state alone (README: TLS memory). */
	SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                        SSL_MODE_RELEASE_BUFFERS);
	/* One read() takes every record the kernel holds (up to OpenSSL's
	 * buffer), not a 5-byte header and then its body: a third of the
	 * read() calls of a small-message echo (bench/run-tls.sh). */
	SSL_CTX_set_read_ahead(s, 1);
	/* Resumption by stateless tickets only: a server cache would grow with
	 * the clients. One ticket per handshake is enough for a WebSocket. */
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(s, 1);
	SSL_CTX_set_session_id_context(s, (const unsigned char *)"wsgw", 4);
	/* TLS 1.2 suites: ECDHE and AEAD only; TLS 1.3's are all AEAD. */
	if (SSL_CTX_set_cipher_list(s, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1") != 1 ||
	    SSL_CTX_set1_groups_list(s, "X25519:P-256:P-384") != 1) {
		reason(why, "cannot set the cipher list");
		return ERR_INVAL;
	}
	if (SSL_CTX_use_certificate_chain_file(s, cert) != 1) {
		reason(why, "cannot load the certificate chain");
		return ERR_INVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1) {
		reason(why, "cannot load the private key");
		return ERR_INVAL;
	}
	if (SSL_CTX_check_private_key(s) != 1) {
		reason(why, "the private key does not match the certificate");
		return ERR_INVAL;
	}
	if (alpn)
		SSL_CTX_set_alpn_select_cb(s, on_alpn, NULL);
	if (client_ca && *client_ca) {
		if (SSL_CTX_load_verify_locations(s, client_ca, NULL) != 1 ||
		    !(names = SSL_load_client_CA_file(client_ca))) {
			reason(why, "cannot load the client CA file (PEM certificates expected)");
			return ERR_INVAL;
		}
		SSL_CTX_set_client_CA_list(s, names);
		SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return 0;
}

struct tls_ctx *tls_server_ctx_new(const char *cert_file, const char *key_file,
                                   const char *client_ca, bool alpn, const char **why)
{
	struct tls_ctx *c = calloc(1, sizeof *c);

	*why = "out of memory";
	ERR_clear_error();
	if (!c || !(c->ssl = SSL_CTX_new(TLS_server_method())))
		goto out_free;
	if (server_ctx_setup(c->ssl, cert_file, key_file, client_ca, alpn, why) < 0)
		goto out_free;
	*why = NULL;
	return c;
out_free:
	if (c)
		SSL_CTX_free(c->ssl);
	free(c);
	ERR_clear_error();
	return NULL;
}

struct tls *tls_server_new(struct tls_ctx *c, int fd)
{
	struct tls *t = calloc(1, sizeof *t);

	if (!t || !(t->ssl = SSL_new(c->ssl)) || SSL_set_fd(t->ssl, fd) != 1) {
		if (t)
			SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_app_data(t->ssl, t);
	SSL_set_accept_state(t->ssl);
	return t;
}

bool tls_is_ready(const struct tls *t)
{
	return t->ready;
}

bool tls_saw_http(const struct tls *t)
{
	return t->saw_http;
}

bool tls_alpn_h2(const struct tls *t)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;

	SSL_get0_alpn_selected(t->ssl, &p, &n);
	return n == 2 && memcmp(p, "h2", 2) == 0;
}

void tls_close_notify(struct tls *t)
{
	if (!t->ready || t->broken)
		return;
	ERR_clear_error();
	SSL_shutdown(t->ssl); /* 0 or -1 (WANT_WRITE): both fine, best effort */
	ERR_clear_error();
}

static bool is_ip_literal(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

struct tls *tls_client_new(struct tls_ctx *c, int fd, const char *host,
                           const struct tls_session *resume, struct tls_session **keep)
{
	struct tls *t = calloc(1, sizeof *t);
	bool ip = is_ip_literal(host);
	X509_VERIFY_PARAM *vp;

	if (!t || !(t->ssl = SSL_new(c->ssl)) || SSL_set_fd(t->ssl, fd) != 1)
		goto out_free;
	vp = SSL_get0_param(t->ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1
	       : (SSL_set1_host(t->ssl, host) != 1 || SSL_set_tlsext_host_name(t->ssl, host) != 1))
		goto out_free;
	t->keep = keep;
	SSL_set_app_data(t->ssl, t);
	if (resume)
		SSL_set_session(t->ssl, (SSL_SESSION *)resume);
	SSL_set_connect_state(t->ssl);
	return t;
out_free:
	if (t)
		SSL_free(t->ssl);
	free(t);
	ERR_clear_error();
	return NULL;
}

void tls_free(struct tls *t)
{
	if (!t)
		return;
	/* No close_notify goes out (the caller closes the socket anyway), but
	 * unless TLS itself failed the session stays resumable: SSL_free
	 * without a recorded shutdown would mark it not resumable. */
	if (!t->broken)
		SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(t->ssl);
	free(t);
}

/* Maps an OpenSSL result onto our vocabulary. */
static int result(struct tls *t, int rc, const char **why)
{
	int e = SSL_get_error(t->ssl, rc);
	unsigned long code;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		t->want = EPOLLIN;
		return ERR_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->want = EPOLLOUT;
		return ERR_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN) { /* cannot happen after WANT_*; be safe */
			t->want = EPOLLIN;
			return ERR_AGAIN;
		}
		*why = errno ? strerror(errno) : "connection closed during TLS";
		t->broken = true;
		ERR_clear_error();
		return ERR_SYS;
	default:
		t->broken = true;
		code = ERR_peek_last_error();
		if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST)
			t->saw_http = true;
		if (SSL_get_verify_result(t->ssl) != X509_V_OK)
			*why = X509_verify_cert_error_string(SSL_get_verify_result(t->ssl));
		else
			*why = code && ERR_reason_error_string(code) ? ERR_reason_error_string(code)
			                                             : "TLS error";
		ERR_clear_error();
		return ERR_PROTO;
	}
}

int tls_handshake(struct tls *t, const char **why)
{
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->ready = true;
		t->want = 0;
		/* read-ahead may have taken the first records with the last
		 * handshake message */
		t->more = SSL_has_pending(t->ssl) == 1;
		return 0;
	}
	rc = result(t, rc, why);
	if (rc == 0) {
		*why = "closed during the TLS handshake";
		return ERR_PROTO;
	}
	return rc;
}

ssize_t tls_read(struct tls *t, void *buf, size_t len, const char **why)
{
	size_t n = 0, got = 0;

	/* Several records per call, as one read() takes what the kernel has,
	 * but no read() more: once OpenSSL holds nothing (read-ahead took
	 * what there was), the next SSL_read would only meet EAGAIN, and a
	 * later record wakes epoll. A failure after some bytes shows again at
	 * the next call (OpenSSL's end and error states stay). */
	bool failed = false;

	t->more = false;
	while (got < len) {
		ERR_clear_error();
		if (SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n) != 1) {
			failed = true;
			break;
		}
		got += n;
		if (SSL_has_pending(t->ssl) != 1)
			break;
	}
	/* A read may have to write (SSL_get_error(3): a handshake message
	 * answered at once; OpenSSL 3.0 defers its KeyUpdate answer, RFC 8446
	 * §4.6.3, to the next write instead): remembered even when bytes came,
	 * so the owner waits for EPOLLOUT to read on (tls_cross_events). */
	t->read_wants_write = failed && SSL_get_error(t->ssl, 0) == SSL_ERROR_WANT_WRITE;
	if (got > 0) {
		/* buf is full: more records (or the rest of one) may wait */
		t->more = got == len && SSL_has_pending(t->ssl) == 1;
		return (ssize_t)got;
	}
	return result(t, 0, why);
}

ssize_t tls_write(struct tls *t, const void *buf, size_t len, const char **why)
{
	size_t n = 0;
	int rc;

	ERR_clear_error();
	t->write_wants_read = false;
	if (SSL_write_ex(t->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	t->write_wants_read = SSL_get_error(t->ssl, 0) == SSL_ERROR_WANT_READ;
	rc = result(t, 0, why);
	if (rc == 0) {
		*why = "the peer closed the TLS session";
		return ERR_PROTO;
	}
	return rc;
}

ssize_t tls_writev(struct tls *t, const struct iovec *iov, int iovcnt, const char **why)
{
	unsigned char gather[TLS_GATHER_MAX];
	size_t total = 0, done = 0;
	ssize_t n;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (iovcnt > 1 && total <= sizeof gather) {
		for (int i = 0; i < iovcnt; i++) {
			memcpy(gather + done, iov[i].iov_base, iov[i].iov_len);
			done += iov[i].iov_len;
		}
		return tls_write(t, gather, total, why);
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t off = 0;

		while (off < iov[i].iov_len) {
			n = tls_write(t, (char *)iov[i].iov_base + off, iov[i].iov_len - off, why);
			if (n < 0)
				return done > 0 ? (ssize_t)done : n;
			off += (size_t)n;
			done += (size_t)n;
		}
	}
	return (ssize_t)done;
}

bool tls_pending(const struct tls *t)
{
	/* Not SSL_has_pending alone: with read-ahead it is also true for
	 * part of a record, whose rest the socket will report; a caller
	 * looping on it would spin. */
	return t->more;
}

uint32_t tls_events(const struct tls *t)
{
	return t->want ? t->want : EPOLLIN;
}

uint32_t tls_cross_events(const struct tls *t)
{
	return (t->read_wants_write ? EPOLLOUT : 0u) | (t->write_wants_read ? EPOLLIN : 0u);
}

bool tls_read_wants_write(const struct tls *t)
{
	return t->read_wants_write;
}

bool tls_write_wants_read(const struct tls *t)
{
	return t->write_wants_read;
}

void tls_session_drop(struct tls_session *s)
{
	SSL_SESSION_free((SSL_SESSION *)s);
}

bool tls_resumed(const struct tls *t)
{
	return SSL_session_reused(t->ssl) == 1;
}

/* ---- session-ticket keys (RFC 5077 §4's recommended ticket format, as
 * OpenSSL lays it out: key name, IV, AES-256-CBC, HMAC-SHA256) -------- */

struct tls_ticket_key {
	unsigned char name[16]; /* random: tells which key sealed a ticket */
	unsigned char aes[32];
	unsigned char hmac[32];
};

struct tls_tickets {
	struct tls_ticket_key cur, prev;
	bool has_prev;
};

static int key_new(struct tls_ticket_key *k)
{
	return RAND_priv_bytes((unsigned char *)k, sizeof *k) == 1 ? 0 : ERR_SYS;
}

struct tls_tickets *tls_tickets_new(void)
{
	struct tls_tickets *k = calloc(1, sizeof *k);

	if (k && key_new(&k->cur) < 0) {
		free(k);
		return NULL;
	}
	return k;
}

int tls_tickets_rotate(struct tls_tickets *k)
{
	struct tls_ticket_key next;

	if (key_new(&next) < 0)
		return ERR_SYS; /* the current key stays: tickets keep working */
	k->prev = k->cur;
	k->cur = next;
	k->has_prev = true;
	OPENSSL_cleanse(&next, sizeof next);
	return 0;
}

void tls_tickets_free(struct tls_tickets *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof *k);
	free(k);
}

/* OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb): seal
 * with the current key; open with the current one (1) or the previous one
 * (2: resume, and the client gets a ticket under the current key); any
 * other name (a key rotated out, another port's, a restart's) is 0: a full
 * handshake. -1 only when the crypto calls fail. */
static int on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
	const struct tls_tickets *k = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const struct tls_ticket_key *key;
	OSSL_PARAM params[2] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};

	if (!k)
		return enc ? -1 : 0;
	if (enc) {
		key = &k->cur;
		if (RAND_bytes(iv, 16) != 1)
			return -1;
		memcpy(name, key->name, sizeof key->name);
	} else if (!memcmp(name, k->cur.name, sizeof k->cur.name)) {
		key = &k->cur;
	} else if (k->has_prev && !memcmp(name, k->prev.name, sizeof k->prev.name)) {
		key = &k->prev;
	} else {
		return 0;
	}
	if (EVP_MAC_init(hctx, key->hmac, sizeof key->hmac, params) != 1 ||
	    (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv)
	         : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv)) != 1)
		return -1;
	return key == &k->prev ? 2 : 1;
}

void tls_ctx_use_tickets(struct tls_ctx *c, struct tls_tickets *k)
{
	SSL_CTX_set_app_data(c->ssl, k);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(c->ssl, on_ticket_key);
}

/* ---- OCSP stapling (RFC 6066 §8, RFC 8446 §4.4.2.1) ---------------------- */

struct tls_ocsp {
	unsigned char *der; /* OPENSSL_malloc'd; NULL: nothing to staple */
	size_t len;
};

struct tls_ocsp *tls_ocsp_new(void)
{
	return calloc(1, sizeof(struct tls_ocsp));
}

void tls_ocsp_free(struct tls_ocsp *o)
{
	if (!o)
		return;
	OPENSSL_free(o->der);
	free(o);
}

int tls_ocsp_read(const char *path, struct tls_ocsp_der *out, const char **why)
{
	struct stat st;
	BIO *b = NULL;
	OCSP_RESPONSE *r = NULL;
	unsigned char *der = NULL;
	int n;

	*why = "cannot read the file";
	if (stat(path, &st) < 0)
		return ERR_INVAL;
	*why = "larger than 64 KiB: not an OCSP response";
	if (st.st_size > TLS_OCSP_MAX)
		return ERR_INVAL;
	*why = "not a DER OCSP response";
	if (!(b = BIO_new_file(path, "rb")) || !(r = d2i_OCSP_RESPONSE_bio(b, NULL)))
		goto out;
	*why = "the OCSP response status is not successful";
	if (OCSP_response_status(r) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
		goto out;
	*why = "out of memory";
	if ((n = i2d_OCSP_RESPONSE(r, &der)) <= 0)
		goto out;
	out->der = der;
	out->len = (size_t)n;
	*why = NULL;
out:
	OCSP_RESPONSE_free(r);
	BIO_free(b);
	ERR_clear_error();
	return *why ? ERR_INVAL : 0;
}

void tls_ocsp_set(struct tls_ocsp *o, struct tls_ocsp_der *d)
{
	OPENSSL_free(o->der);
	o->der = d->der;
	o->len = d->len;
	d->der = NULL;
	d->len = 0;
}

void tls_ocsp_der_drop(struct tls_ocsp_der *d)
{
	OPENSSL_free(d->der);
	d->der = NULL;
	d->len = 0;
}

/* The client asked for a status (status_request): a copy of the response,
 * which OpenSSL frees with the connection. */
static int on_status(SSL *ssl, void *arg)
{
	const struct tls_ocsp *o = arg;
	unsigned char *copy;

	if (!o || !o->der || !(copy = OPENSSL_memdup(o->der, o->len)))
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)o->len) != 1) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

void tls_ctx_use_ocsp(struct tls_ctx *c, struct tls_ocsp *o)
{
	SSL_CTX_set_tlsext_status_cb(c->ssl, on_status);
	SSL_CTX_set_tlsext_status_arg(c->ssl, o);
}
