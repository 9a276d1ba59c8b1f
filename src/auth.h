/* auth.h — authorizers at the WebSocket handshake (YANDEX-FIDELITY.md
 * §1): a route's `security` is checked before its connect integration
 * runs. type: jwt checks the token from identitySource against the keys
 * of its jwksUri, fetched through the integration client and kept for
 * jwkTtlInSeconds; a handshake that needs keys not yet fetched waits on
 * the loop (never blocks). type: function calls the --function-mapped
 * function with the authorizer request, the handshake waiting likewise.
 */
#ifndef WSGW_AUTH_H
#define WSGW_AUTH_H

#include <stddef.h>

struct conn;
struct route;
struct server;
struct http1_request;

/* The most an authorizer context (JSON) may take; a token whose claims
 * make a longer one is refused 401. */
#define AUTH_CTX_MAX 4096
/* Handshakes waiting for one authorizer's keys; more are answered 503. */
#define AUTH_MAX_WAITERS 1024
/* An unknown kid refetches the keys at most this often. */
#define AUTH_REFETCH_MS 10000
/* The JWKS call's whole time. */
#define AUTH_FETCH_TIMEOUT_MS 5000
/* A function authorizer's call, whole time: past it, 500. */
#define AUTH_CALL_TIMEOUT_MS 5000

enum { AUTH_PASS = 0, AUTH_WAIT = 1 };

struct spec;

/* Gives spec the runtime state of its authorizers (key rings, verdict
 * caches, waiting handshakes), owned by the spec and freed by its last
 * spec_drop (a JWKS call still in flight is detached). Call for every
 * spec before connections match against it. Returns 0 or ERR_NOMEM. */
int auth_attach(struct server *srv, struct spec *spec);
/* auth_attach for srv->spec at start-up. */
int auth_init(struct server *srv);

/* Checks c's upgrade request (req; head[0..head_len) its raw bytes) for
 * route r. Returns AUTH_PASS with *ctx the authorizer context (heap
 * JSON, the caller's; NULL when r has no authorizer); AUTH_WAIT: the keys
 * are being fetched, c waits (CONN_F_WAIT_CONNECT) and ws_conn_auth_done
 * is called later; or ERR_CLOSED: c was answered 401 (no or a bad token),
 * 403 (scopes), 500 (the authorizer cannot work) or 503. */
int auth_check(struct conn *c, const struct route *r, const struct http1_request *req,
               const char *head, size_t head_len, const char *accept, char **ctx);

/* c is closing: it no longer waits for keys. */
void auth_forget(struct conn *c);

#endif
