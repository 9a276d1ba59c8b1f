/* router.h — the management port's one route table: (transport, method,
 * path or gRPC method) → handler, for HTTP/1.1 and HTTP/2 alike, and the
 * one bearer-token check. Pure: no sockets, no allocation; the views it
 * hands out point into the caller's target.
 */
#ifndef WSGW_ROUTER_H
#define WSGW_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct config;

/* Transports, as bits of a route's mask. */
enum router_transport {
	ROUTER_HTTP1 = 1 << 0, /* REST over HTTP/1.1 */
	ROUTER_HTTP2 = 1 << 1, /* gRPC, and REST over h2 */
};

enum router_handler {
	ROUTER_REST_SEND = 1, /* POST .../connections/{id}:send (or {id}/:send) */
	ROUTER_REST_CONN,     /* GET, HEAD, DELETE .../connections/{id} */
	ROUTER_REST_UNKNOWN,  /* h2: other /apigateways/ paths, REST's 404 */
	ROUTER_HEALTHZ,       /* GET, HEAD /healthz: alive (rest.c) */
	ROUTER_READYZ,        /* GET, HEAD /readyz: 503 once draining (rest.c) */
	ROUTER_METRICS,       /* GET, HEAD /metrics: --metrics-token, not --auth-token (rest.c) */
	ROUTER_GRPC_GET,
	ROUTER_GRPC_SEND,
	ROUTER_GRPC_DISCONNECT,
	ROUTER_GRPC_HEALTH,
	/* wsgw.v1.GatewayService, gRPC and REST alike (route.rest tells); in
	 * gw_api.h's enum gw_kind order (gw_kind = handler - ROUTER_GW_LIST + 1) */
	ROUTER_GW_LIST,
	ROUTER_GW_COUNT,
	ROUTER_GW_SEND_MANY,
	ROUTER_GW_CLOSE,
	ROUTER_GW_JOIN,
	ROUTER_GW_LEAVE,
	ROUTER_GW_SEND_GROUP,
	ROUTER_GW_BROADCAST,
	ROUTER_GW_GROUPS, /* REST POST /wsgw/v1/groups/...: join, leave, send (gw_json.c) */
};

struct router_route {
	unsigned transports; /* enum router_transport bits */
	const char *path;    /* exact path, or what comes before {id} / any rest */
	const char *suffix;  /* after {id}; NULL: exact path; "*": any rest (prefix) */
	const char *allow;   /* methods allowed, as the Allow header lists them */
	enum router_handler handler;
	bool rest;   /* JSON over HTTP (else gRPC) */
	bool public; /* answered without the bearer token (health probes) */
};

struct router_match {
	const struct router_route *route; /* NULL: no route for this path */
	bool method_ok;                   /* the method is in route->allow */
	const char *id; /* {id}, still percent-encoded (REST); for "*": the rest */
	size_t id_len;
};

/* Finds the route of a request. target is a path or, for HTTP/1.1, the
 * absolute form (RFC 9112 §3.2); a query is ignored. Returns m->route. */
const struct router_route *router_find(unsigned transport, const char *method, size_t method_len,
                                       const char *target, size_t target_len,
                                       struct router_match *m);

/* The bearer-token check, the only one: true when no token is configured
 * (token NULL or ""), or authorization (NULL: absent) is "Bearer <token>"
 * (RFC 6750 §2.1, scheme case-insensitive), compared in constant time in
 * the token's bytes. token is the live management one (srv->auth_token: a
 * SIGHUP may replace it) or --metrics-token for /metrics. */
bool router_token_ok(const char *token, const char *authorization, size_t len);

/* The table, for tests and the README's list. */
extern const struct router_route router_routes[];
extern const size_t router_num_routes;

#endif
