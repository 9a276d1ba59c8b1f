/* router.c — the management port's route table and bearer-token check
 * (router.h). Every path the port answers is a row here; the transports
 * (mgmt_h1.c, grpc.c) and rest.c ask, none keeps its own list. Pure.
 */
#include "router.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "rest.h"

#define GRPC_SERVICE "/yandex.cloud.serverless.apigateway.websocket.v1.ConnectionService/"
#define H12 (ROUTER_HTTP1 | ROUTER_HTTP2)
#define GW_SERVICE "/wsgw.v1.GatewayService/"
#define GW_REST "/wsgw/v1/"

/* First match wins: the :send row before the plain {id} row. */
const struct router_route router_routes[] = {
    {H12, REST_PREFIX, ":send", "POST", ROUTER_REST_SEND, true, false},
    {H12, REST_PREFIX, "", "GET, HEAD, DELETE", ROUTER_REST_CONN, true, false},
    {ROUTER_HTTP2, "/apigateways/", "*", "", ROUTER_REST_UNKNOWN, true, false},
    /* Load-balancer and kubelet probes carry no credentials. */
    {H12, "/healthz", NULL, "GET, HEAD", ROUTER_HEALTHZ, true, true},
    {H12, "/readyz", NULL, "GET, HEAD", ROUTER_READYZ, true, true},
    /* Scrapers carry --metrics-token if any, never the API's token. */
    {H12, "/metrics", NULL, "GET, HEAD", ROUTER_METRICS, true, true},
    {ROUTER_HTTP2, GRPC_SERVICE "Get", NULL, "POST", ROUTER_GRPC_GET, false, false},
    {ROUTER_HTTP2, GRPC_SERVICE "Send", NULL, "POST", ROUTER_GRPC_SEND, false, false},
    {ROUTER_HTTP2, GRPC_SERVICE "Disconnect", NULL, "POST", ROUTER_GRPC_DISCONNECT, false, false},
    /* Health probes carry no credentials (as with Kubernetes' gRPC probe). */
    {ROUTER_HTTP2, "/grpc.health.v1.Health/Check", NULL, "POST", ROUTER_GRPC_HEALTH, false, true},
    /* wsgw.v1 (README, "Extension API (wsgw.v1)") */
    {ROUTER_HTTP2, GW_SERVICE "ListConnections", NULL, "POST", ROUTER_GW_LIST, false, false},
    {ROUTER_HTTP2, GW_SERVICE "CountConnections", NULL, "POST", ROUTER_GW_COUNT, false, false},
    {ROUTER_HTTP2, GW_SERVICE "SendToConnections", NULL, "POST", ROUTER_GW_SEND_MANY, false, false},
    {ROUTER_HTTP2, GW_SERVICE "CloseConnection", NULL, "POST", ROUTER_GW_CLOSE, false, false},
    {ROUTER_HTTP2, GW_SERVICE "JoinGroup", NULL, "POST", ROUTER_GW_JOIN, false, false},
    {ROUTER_HTTP2, GW_SERVICE "LeaveGroup", NULL, "POST", ROUTER_GW_LEAVE, false, false},
    {ROUTER_HTTP2, GW_SERVICE "SendToGroup", NULL, "POST", ROUTER_GW_SEND_GROUP, false, false},
    {ROUTER_HTTP2, GW_SERVICE "Broadcast", NULL, "POST", ROUTER_GW_BROADCAST, false, false},
    {H12, GW_REST "connections", NULL, "GET, HEAD", ROUTER_GW_LIST, true, false},
    {H12, GW_REST "connections:count", NULL, "GET, HEAD", ROUTER_GW_COUNT, true, false},
    {H12, GW_REST "connections:send", NULL, "POST", ROUTER_GW_SEND_MANY, true, false},
    {H12, GW_REST "connections/", ":close", "POST", ROUTER_GW_CLOSE, true, false},
    {H12, GW_REST "broadcast", NULL, "POST", ROUTER_GW_BROADCAST, true, false},
    /* {group}:send, {group}/connections/{id}:join and :leave (gw_json.c) */
    {H12, GW_REST "groups/", "*", "POST", ROUTER_GW_GROUPS, true, false},
    {H12, GW_REST, "*", "", ROUTER_REST_UNKNOWN, true, false},
};
const size_t router_num_routes = sizeof router_routes / sizeof router_routes[0];

/* The path of a target: origin-form or absolute-form, query cut. False
 * for an absolute form without a path. */
static bool path_of(const char **t, size_t *n)
{
	const char *q;

	if (*n > 8 && (strncasecmp(*t, "http://", 7) == 0 || strncasecmp(*t, "https://", 8) == 0)) {
		const char *host = *t + ((*t)[4] == ':' ? 7 : 8);
		const char *slash = memchr(host, '/', *n - (size_t)(host - *t));

		if (!slash)
			return false;
		*n -= (size_t)(slash - *t);
		*t = slash;
	}
	if ((q = memchr(*t, '?', *n)) != NULL)
		*n = (size_t)(q - *t);
	return true;
}

/* {id}<suffix> after the prefix: no '/' in the id; "{id}/:send" is how
 * some clients write a custom method (google.api.http), taken too. */
static bool match_id(const struct router_route *r, const char *t, size_t n, struct router_match *m)
{
	size_t sl = strlen(r->suffix);

	if (n < sl || memcmp(t + n - sl, r->suffix, sl) != 0)
		return false;
	n -= sl;
	if (sl && n && t[n - 1] == '/')
		n--;
	if (memchr(t, '/', n))
		return false;
	m->id = t;
	m->id_len = n;
	return true;
}

static bool match(const struct router_route *r, const char *t, size_t n, struct router_match *m)
{
	size_t pl = strlen(r->path);

	if (!r->suffix)
		return n == pl && memcmp(t, r->path, n) == 0;
	if (n < pl || memcmp(t, r->path, pl) != 0)
		return false;
	if (strcmp(r->suffix, "*") == 0) {
		m->id = t + pl; /* the rest, for the handler to take apart */
		m->id_len = n - pl;
		return true;
	}
	return match_id(r, t + pl, n - pl, m);
}

/* Is method one of the comma-separated names of allow? Case-sensitive
 * (RFC 9110 §9.1). */
static bool allowed(const char *allow, const char *method, size_t len)
{
	const char *p = allow;

	while (*p) {
		size_t k = strcspn(p, ",");

		if (k == len && memcmp(p, method, len) == 0)
			return true;
		p += k;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return false;
}

const struct router_route *router_find(unsigned transport, const char *method, size_t method_len,
                                       const char *target, size_t target_len,
                                       struct router_match *m)
{
	*m = (struct router_match){0};
	if (!path_of(&target, &target_len))
		return NULL;
	for (size_t i = 0; i < router_num_routes; i++) {
		const struct router_route *r = &router_routes[i];

		if ((r->transports & transport) && match(r, target, target_len, m)) {
			m->route = r;
			m->method_ok = allowed(r->allow, method, method_len);
			return r;
		}
	}
	return NULL;
}

bool router_token_ok(const char *token, const char *v, size_t n)
{
	size_t tl = token ? strlen(token) : 0;

	if (!tl)
		return true;
	if (!v || n < 7 || strncasecmp(v, "bearer ", 7) != 0)
		return false;
	/* Constant time in the token's bytes; only the length can leak. */
	return n - 7 == tl && CRYPTO_memcmp(v + 7, token, tl) == 0;
}
