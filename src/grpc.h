/* grpc.h — gRPC over HTTP/2 on one management connection: an nghttp2
 * server session fed from memory (nghttp2_session_mem_recv / mem_send), so
 * the socket stays ours. Routes ConnectionService and grpc.health.v1 calls
 * to api.c. No sockets here: the caller feeds bytes and drains output.
 */
#ifndef WSGW_GRPC_H
#define WSGW_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct obuf;
struct grpc_session;

/* Creates a session and queues the server's SETTINGS. NULL on ENOMEM. */
struct grpc_session *grpc_session_new(struct server *srv);
void grpc_session_free(struct grpc_session *s);

/* A call answered after the feed that started it (a registry that
 * completes later) queues output outside any feed: on_output(arg) is then
 * called so the connection flushes. Unset: nobody is told. */
void grpc_session_set_notify(struct grpc_session *s, void (*on_output)(void *arg), void *arg);

/* Feeds bytes received from the client. Returns 0, or ERR_PROTO when the
 * HTTP/2 connection failed (a GOAWAY is queued: flush, then close). */
int grpc_session_feed(struct grpc_session *s, const uint8_t *p, size_t n);

/* Appends pending output to *out while it holds less than max_pending
 * bytes. Returns 0 or ERR_PROTO / ERR_NOMEM. */
int grpc_session_flush(struct grpc_session *s, struct obuf **out, size_t max_pending);

/* True when the session neither wants to read nor to write: close it. */
bool grpc_session_is_done(const struct grpc_session *s);

/* Queues GOAWAY: a notice when draining starts (final=false, streams still
 * served), the last one (final=true) before the socket closes. */
void grpc_session_goaway(struct grpc_session *s, bool final);

/* Fails streams whose grpc-timeout passed with DEADLINE_EXCEEDED, and
 * streams whose request is not complete --request-timeout after their
 * HEADERS (DEADLINE_EXCEEDED, or 408 for REST); resets streams whose
 * answer is still unread twice that long after their HEADERS. */
void grpc_session_sweep(struct grpc_session *s, uint64_t now_ms);

/* When the session last had no stream open (loop time), or 0 while a
 * stream is open: the caller closes sessions idle too long. */
uint64_t grpc_session_idle_since(const struct grpc_session *s);

#endif
