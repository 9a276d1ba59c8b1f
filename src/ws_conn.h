/* ws_conn.h — the WebSocket protocol on a connection: the opening
 * handshake, message assembly, ping/pong and the close handshake
 * (RFC 6455 §4, §5, §7). Does no I/O itself: conn.c reads and writes.
 */
#ifndef WSGW_WS_CONN_H
#define WSGW_WS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct ws_rx;
struct obuf_shared;

/* Handles n bytes read from c; data is writable (unmasked in place). May
 * close c: callers check c->state afterwards. */
void ws_conn_on_data(struct conn *c, uint8_t *data, size_t n);

/* Sends one message as a single frame (WS_OP_TEXT or WS_OP_BINARY).
 * Returns 0, ERR_LIMIT (queue full; nothing queued, only with
 * enforce_limit), or ERR_CLOSED. */
int ws_conn_send(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n, bool enforce_limit);

/* Sends one whole frame encoded by the caller (a broadcast encodes it once
 * for every connection and shares it: conn_write_shared), under the
 * --max-out-queue limit. Returns 0, ERR_LIMIT (nothing queued) or
 * ERR_CLOSED. */
int ws_conn_send_frame(struct conn *c, struct obuf_shared *frame);

/* Starts a server-initiated close handshake with code and reason. A
 * connection still in its handshake is simply dropped. */
void ws_conn_close(struct conn *c, uint16_t code, const char *reason);

/* Sends a ping (keep-alive). */
void ws_conn_ping(struct conn *c);

/* Answers a handshake-phase connection with an HTTP error and closes it. */
void ws_conn_http_error(struct conn *c, int status, const char *reason);

/* Answers a handshake-phase connection with status, content type, extra
 * header lines ("Name: value\r\n"..., or NULL) and body — a refused
 * connect integration's response — and closes it. */
void ws_conn_refuse(struct conn *c, int status, const char *content_type, const char *extra,
		    const uint8_t *body, size_t len);

/* The connect integration accepted: sends the 101 and starts the
 * WebSocket session (handles frames the client sent early). */
void ws_conn_upgrade(struct conn *c, const char *accept);

/* The authorizer that kept c waiting for keys (auth.c) is done: status 0
 * finishes the upgrade (the connect integration, with the authorizer
 * context auth_ctx, which this frees) from the request head[0..head_len)
 * kept meanwhile; 401, 403, 500 answer c with that status. */
void ws_conn_auth_done(struct conn *c, int status, char *auth_ctx, const char *head,
		       size_t head_len, const char *accept);

/* Called once when c is closed for good: reports the disconnect. */
void ws_conn_on_closed(struct conn *c);

void ws_conn_rx_free(struct ws_rx *rx);

#endif
