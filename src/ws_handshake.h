/* ws_handshake.h — RFC 6455 §4.2 server handshake: validate an opening
 * request head and build the 101 response. Pure (libcrypto for SHA-1 and
 * base64, nothing else); no sockets, no logging.
 */
#ifndef WSGW_WS_HANDSHAKE_H
#define WSGW_WS_HANDSHAKE_H

#include <stddef.h>

#include "http1.h"

#define WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

struct ws_handshake {
	int status;               /* 101 when acceptable, else 400 / 405 / 426 */
	const char *reason;       /* short plain-text reason for an error status */
	struct http1_str key;     /* Sec-WebSocket-Key (view into the request) */
	struct http1_str path;    /* request target's path, without the query */
	struct http1_str user_agent;       /* empty when absent */
	struct http1_str forwarded_for;    /* first X-Forwarded-For item, or empty */
	int protocol;             /* index into the offered list, or -1 for none */
};

/* Checks req against RFC 6455 §4.2.1: method GET (else 405), HTTP/1.1 or
 * later, Host present exactly once, Upgrade containing the token "websocket",
 * Connection containing the token "Upgrade" (case-insensitive, comma lists),
 * Sec-WebSocket-Key present once and decoding to exactly 16 bytes (else
 * 400), Sec-WebSocket-Version: 13 (else 426). Selects the first protocol in
 * the client's Sec-WebSocket-Protocol lists that is among protocols[0..n).
 * Fills *hs and returns hs->status. */
int ws_handshake_check(const struct http1_request *req, const char *const *protocols,
		       size_t num_protocols, struct ws_handshake *hs);

/* Computes Sec-WebSocket-Accept for key into out[WS_ACCEPT_LEN + 1]
 * (NUL-terminated). */
void ws_handshake_accept(struct http1_str key, char *out);

#endif
