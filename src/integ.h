/* integ.h — the gateway events of shared/spec/INTEGRATIONS.md: each
 * WebSocket connection's connect, message and disconnect delivered to its
 * route's integrations (http through upstream.c, cloud functions and
 * serverless containers through integ_fn.c, dummy, echo). Messages of
 * one connection go to the backend strictly in order, one at a time; the
 * ones that wait sit in a bounded queue, and a full queue stops reading
 * from that client. Connections whose route only echoes hold no state here.
 */
#ifndef WSGW_INTEG_H
#define WSGW_INTEG_H

#include <stddef.h>
#include <stdint.h>

#include "http1.h"
#include "ws_handshake.h"

struct conn;
struct route;
struct route_match;

enum { INTEG_CONNECT_NOW = 0, INTEG_CONNECT_PENDING = 1 };

/* Runs the route's connect operation for an acceptable upgrade request
 * (c already has its id and passed the route's authorizer, whose context
 * auth_ctx, NULL if none, is copied and goes with every event). Returns INTEG_CONNECT_NOW: send 101 now;
 * INTEG_CONNECT_PENDING: the integration runs and later calls
 * ws_conn_upgrade or ws_conn_refuse; or ERR_CLOSED when c was refused
 * already (dummy connect with a non-2xx code, out of memory). */
int integ_connect(struct conn *c, const struct route *route, const struct route_match *m,
		  const struct http1_request *req, const char *accept, const char *auth_ctx);

/* The authorizer context of c's handshake (JSON, e.g. {"jwt":{"claims":
 * {...},"scopes":[...]}}: what the cloud puts in requestContext.authorizer),
 * kept for the connection's later events; NULL when its route has no
 * authorizer or sends no events (echo). Valid while c is. */
const char *integ_authorizer_context(const struct conn *c);

/* After the 101: sends a connect integration's response body as the
 * client's first message (kept from the connect call). */
void integ_after_upgrade(struct conn *c);

/* A complete message from the client. */
void integ_message(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n);

/* Remembers the close reason to report with the disconnect. */
void integ_set_close_reason(struct conn *c, const uint8_t *reason, size_t len);

/* c is closed: sends the disconnect event (once, if c had completed its
 * handshake) and frees the state. */
void integ_closed(struct conn *c);

#endif
