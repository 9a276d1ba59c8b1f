/* tls.h — TLS as a transport over a non-blocking fd (OpenSSL's libssl).
 *
 * A struct tls wraps one connected socket; handshake, read and write never
 * block and say, through tls_events, what the fd must wait for next (TLS
 * may need to read in order to write and the other way round), so the
 * owner maps that onto its epoll interest. Nothing here knows HTTP, pools
 * or the loop: the upstream client uses it for https backends, and both
 * server ports (wss://, the management port) use the same calls; only the
 * context and the constructor differ.
 */
#ifndef WSGW_TLS_H
#define WSGW_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct tls_ctx;
struct tls;
struct tls_session; /* an SSL_SESSION: kept to resume the next handshake */

/* A client context: peer certificates verified against the system CA store
 * (SSL_CTX_set_default_verify_paths: Debian's /etc/ssl/certs) plus ca_file
 * when not NULL, TLS 1.2 at least. NULL on failure, *why says why. */
struct tls_ctx *tls_client_ctx_new(const char *ca_file, const char **why);
void tls_ctx_free(struct tls_ctx *c);

/* A server context from a PEM certificate chain (leaf first) and its PEM
 * private key, which must match: TLS 1.2 and 1.3 only, ECDHE only
 * (X25519, P-256, P-384), AEAD ciphers, no renegotiation, no server-side
 * session cache (TLS 1.3 tickets, stateless, keyed per context), and
 * OpenSSL's buffers released while a connection is idle. alpn: select h2,
 * else http/1.1 (the management port); a client offering neither goes on
 * without ALPN. client_ca (NULL or ""): a client must present a
 * certificate chaining to one of these PEM CAs. NULL on failure, *why
 * names the part and OpenSSL's reason (static text). Connections keep a
 * reference: freeing the context leaves them working. */
struct tls_ctx *tls_server_ctx_new(const char *cert_file, const char *key_file,
                                   const char *client_ca, bool alpn, const char **why);

/* Wraps an accepted fd (not taken) for a server handshake. NULL on ENOMEM. */
struct tls *tls_server_new(struct tls_ctx *c, int fd);

/* Wraps connected fd (not taken: the caller closes it after tls_free) for a
 * handshake with host: SNI (unless host is an IP literal) and certificate
 * host-name or IP check. resume: a session from an earlier connection to
 * the same backend, or NULL. keep: where each new session the server hands
 * out (a TLS 1.3 ticket, a TLS 1.2 session) is stored, replacing (and
 * dropping) the one there; it must outlive t; NULL: none kept. NULL on
 * ENOMEM. */
struct tls *tls_client_new(struct tls_ctx *c, int fd, const char *host,
                           const struct tls_session *resume, struct tls_session **keep);
void tls_free(struct tls *t);

/* Advances the handshake: 0 done, ERR_AGAIN (wait for tls_events), or
 * ERR_PROTO with *why (a verification failure names the reason). */
int tls_handshake(struct tls *t, const char **why);

/* Reads up to len bytes, as many records as fit: the count (> 0), 0 when
 * the peer closed (a TLS close_notify or a plain FIN), ERR_AGAIN, or
 * ERR_PROTO / ERR_SYS with *why. Server contexts read ahead: one call
 * makes at most one read() when it returns bytes. Bytes may remain
 * inside after a read that filled buf: see tls_pending. */
ssize_t tls_read(struct tls *t, void *buf, size_t len, const char **why);

/* Writes up to len bytes: the count (> 0), ERR_AGAIN, or ERR_PROTO /
 * ERR_SYS with *why. After ERR_AGAIN the next call must pass the same
 * bytes again (the start may move; OpenSSL is told so). */
ssize_t tls_write(struct tls *t, const void *buf, size_t len, const char **why);

/* Largest write tls_writev gathers into one record. */
#define TLS_GATHER_MAX 16384

/* tls_write over several pieces: up to TLS_GATHER_MAX bytes in all are
 * copied into one record (a frame's header and payload: one record, not
 * two), larger ones go piece by piece. The count written (> 0), or
 * ERR_AGAIN / ERR_PROTO / ERR_SYS before any byte; after ERR_AGAIN the
 * same bytes come first in the next call, as with tls_write. */
ssize_t tls_writev(struct tls *t, const struct iovec *iov, int iovcnt, const char **why);

/* Bytes may wait inside OpenSSL that the fd will not report (the last
 * tls_read filled its buffer with more left, or the handshake's last
 * read took the first records): read before waiting on the fd. A read
 * that finds only part of a record clears it. */
bool tls_pending(const struct tls *t);

/* EPOLLIN and/or EPOLLOUT: what the last ERR_AGAIN waits for. */
uint32_t tls_events(const struct tls *t);

/* After the handshake, for an owner that polls reading and writing
 * separately: EPOLLOUT when the last tls_read stopped because TLS must
 * write first into a full socket (read again once writable, and not on
 * readable alone: that would spin), EPOLLIN when the last tls_write
 * stopped because TLS must read first (write again once readable, even
 * while the owner reads nothing). 0: each direction waits on its own
 * event. (OpenSSL's contract; with renegotiation off, and a KeyUpdate
 * answered at the next write, neither is expected on a server.) */
uint32_t tls_cross_events(const struct tls *t);
bool tls_read_wants_write(const struct tls *t);
bool tls_write_wants_read(const struct tls *t);

/* Is the handshake over (tls_handshake returned 0)? */
bool tls_is_ready(const struct tls *t);

/* Did the last handshake fail because the peer spoke plain HTTP? (The port
 * answers that one with a plaintext 400.) */
bool tls_saw_http(const struct tls *t);

/* Did ALPN select h2? */
bool tls_alpn_h2(const struct tls *t);

/* One non-blocking attempt to send close_notify (RFC 8446 §6.1) after a
 * completed handshake; whatever the socket does not take is dropped. */
void tls_close_notify(struct tls *t);

/* Releases a session tls_client_new kept (NULL is fine). */
void tls_session_drop(struct tls_session *s);

/* Was the last handshake a resumption? (tests and logs) */
bool tls_resumed(const struct tls *t);

/* Session-ticket keys of a server port: a current key seals new tickets,
 * the previous one still opens them, anything older is a full handshake.
 * The owner rotates them on its timer; they outlive every context using
 * them (and the connections made from those). */
struct tls_tickets;
struct tls_tickets *tls_tickets_new(void);     /* one random key; NULL: ENOMEM or no entropy */
int tls_tickets_rotate(struct tls_tickets *k); /* 0, or ERR_SYS (the keys stay) */
void tls_tickets_free(struct tls_tickets *k);  /* wiped */

/* A server context seals and opens its tickets with k (not taken) instead
 * of OpenSSL's keys, which are random per context. */
void tls_ctx_use_tickets(struct tls_ctx *c, struct tls_tickets *k);

/* OCSP stapling: a DER OCSP response (as `openssl ocsp -respout` writes
 * it) sent to every client that asks (status_request). It is not checked
 * against the certificate or for freshness: the operator refreshes it. The
 * holder outlives every context using it, like the ticket keys; its
 * content is replaced in place on reload. */
#define TLS_OCSP_MAX 65536
struct tls_ocsp;
struct tls_ocsp_der {
	unsigned char *der;
	size_t len;
};
struct tls_ocsp *tls_ocsp_new(void); /* empty; NULL: ENOMEM */
void tls_ocsp_free(struct tls_ocsp *o);
/* Reads and checks path (a successful OCSP response, at most
 * TLS_OCSP_MAX bytes) into *out: 0, or ERR_INVAL with *why. */
int tls_ocsp_read(const char *path, struct tls_ocsp_der *out, const char **why);
void tls_ocsp_set(struct tls_ocsp *o, struct tls_ocsp_der *d); /* takes d's bytes */
void tls_ocsp_der_drop(struct tls_ocsp_der *d);
void tls_ctx_use_ocsp(struct tls_ctx *c, struct tls_ocsp *o);

#endif
