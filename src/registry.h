/* registry.h — the connections this node holds, as the management API sees
 * them: find, get (a snapshot), send, close and iterate, by connection id.
 * api.c talks only to this, never to conn.c or ws_conn.c; cluster mode adds
 * a second implementation (connections held by other nodes) behind the same
 * calls. Ids are validated by the caller (api.c); the registry only looks
 * them up.
 */
#ifndef WSGW_REGISTRY_H
#define WSGW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct server;

/* True when id names an OPEN connection of this node (one still in its
 * handshake or already closing is not found, as API.md asks). */
bool registry_has(struct server *srv, const char *id, size_t id_len);

/* Fills out with a snapshot of the connection; its strings are views valid
 * until the next call into the loop. Returns API_OK or API_NOT_FOUND (st
 * filled either way). */
enum api_code registry_get(struct server *srv, const char *id, size_t id_len,
			   struct api_connection *out, struct api_status *st);

/* Queues one message (WS_OP_TEXT or WS_OP_BINARY, already validated) on
 * the connection. Returns API_OK, API_NOT_FOUND, or API_RESOURCE_EXHAUSTED
 * when its outbound queue is full (nothing sent). */
enum api_code registry_send(struct server *srv, const char *id, size_t id_len, uint8_t opcode,
			    const uint8_t *data, size_t len, struct api_status *st);

/* Starts the close handshake with code and reason (≤ 123 bytes of UTF-8).
 * Returns API_OK or API_NOT_FOUND. */
enum api_code registry_close(struct server *srv, const char *id, size_t id_len, uint16_t code,
			     const char *reason, struct api_status *st);

/* Calls fn once for every OPEN connection with its id (a view valid during
 * the call). fn must not close connections; it returns false to stop. */
void registry_each(struct server *srv, bool (*fn)(void *arg, const char *id, size_t id_len),
		   void *arg);

#endif
