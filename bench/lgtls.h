/* lgtls.h — loadgen's TLS (--tls): a client context (TLS 1.3 only, X25519
 * key share, no verification: the benchmark measures the server's work,
 * not trust), one SSL per connection, non-blocking handshake, and read and
 * write with read()/write()'s contract so lgconn.c and lgwire.c stay the
 * same for both transports. With --tls-resume every handshake offers the
 * last session ticket the server handed out (TLS 1.3 resumption, PSK with
 * (EC)DHE).
 */
#ifndef BENCH_LGTLS_H
#define BENCH_LGTLS_H

#include <stddef.h>
#include <sys/types.h>

#include "lgstate.h"

/* The client context into g->tls. Returns 0, or -1 (OpenSSL failed). */
int lgtls_init(struct lg *g);

/* A new SSL on c->fd in connect state (with the kept session when
 * resuming). Returns 0, or -1 when out of memory. */
int lgtls_start(struct lg *g, struct lconn *c);

/* Advances the handshake: 1 done, 0 waiting (EPOLLOUT watched as
 * needed), -1 failed. */
int lgtls_step(struct lg *g, struct lconn *c);

/* read()/write() over c's transport: TLS when c->ssl, else the socket.
 * -1 with errno EAGAIN when nothing can move now, 0 (read) at the end. */
ssize_t lg_read(struct lconn *c, void *buf, size_t len);
ssize_t lg_write(struct lconn *c, const void *buf, size_t len);

/* Decrypted or undecrypted bytes buffered inside OpenSSL: read them
 * before waiting on the socket (level-triggered epoll does not see them). */
bool lg_pending(const struct lconn *c);

/* Frees c's SSL (no close_notify: the socket is closed right after). */
void lgtls_free(struct lconn *c);

#endif
