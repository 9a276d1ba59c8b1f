/* gw_api.h — wsgw.v1.GatewayService semantics (README, "Extension API
 * (wsgw.v1)"): the rules of each call once, for the gRPC (gw_pb.c) and
 * REST (gw_json.c) faces, on top of the registry. Knows nothing of
 * HTTP/2, JSON or protobuf; uses api.h's status codes and completions.
 */
#ifndef WSGW_GW_API_H
#define WSGW_GW_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "pagetok.h"

#define GW_MAX_PAGE 1000
#define GW_DEFAULT_PAGE 100
#define GW_MAX_IDS 1000    /* SendToConnections ids, Broadcast exclude_ids */
#define GW_MAX_FILTER 1024 /* bytes of a route, path prefix */
#define GW_MAX_REASON 123  /* RFC 6455 §5.5: 125-byte payload less the code */

enum gw_kind {
	GW_LIST = 1,
	GW_COUNT,
	GW_SEND_MANY,
	GW_CLOSE,
	GW_JOIN,
	GW_LEAVE,
	GW_SEND_GROUP,
	GW_BROADCAST,
};

struct gw_str {
	const char *p;
	size_t n;
};

/* One request, decoded by a transport; views valid during gw_start. */
struct gw_req {
	enum gw_kind kind;
	struct gw_str id, group, reason;
	struct gw_str route;  /* List: route; Broadcast: path (template) */
	struct gw_str prefix; /* path_prefix */
	struct gw_str token;  /* page_token */
	struct gw_str *ids;   /* SendToConnections ids, Broadcast exclude_ids */
	size_t nids;
	const uint8_t *data;
	size_t len;
	int type;          /* enum api_data_type as sent */
	int64_t page_size; /* as sent (0: default) */
	int64_t code;      /* CloseConnection code as sent (0: 1000) */
	bool has_after, has_before;
	int64_t after_ns, before_ns;
};

/* A connection in a listing; strings are views valid during done. */
struct gw_conn_info {
	struct api_connection base;
	const char *path, *route, *subprotocol;
	const char *const *groups; /* names */
	unsigned ngroups;
};

struct gw_route_count {
	const char *route; /* view, valid during done */
	uint32_t count;
};

struct gw_send_result {
	struct gw_str id; /* view into the request (inline) */
	enum api_code code;
	const char *message; /* static */
};

/* One call in flight, embedded (or held) by its transport: api.st and
 * api.done as for api_call; the result fields below by kind. gw_call_fini
 * frees what the result holds (after done). */
struct gw_call {
	struct api_call api;
	enum gw_kind kind;
	/* List */
	struct gw_conn_info *conns;
	size_t nconns;
	const char **names; /* storage of every conns[i].groups */
	char next_token[PAGETOK_MAX_LEN + 1];
	/* Count */
	uint32_t total;
	struct gw_route_count *routes;
	size_t nroutes;
	/* SendToConnections */
	struct gw_send_result *results;
	size_t nresults;
	/* SendToGroup, Broadcast */
	uint32_t delivered, skipped;
	/* Count, SendToGroup, Broadcast in cluster mode: the tags of the nodes
	 * that did not answer (views valid during done, owned by the registry) */
	const char *const *missing;
	size_t nmissing;
};

/* Checks req against the rules and starts it; call->api.done runs
 * exactly once (inline or later), as api_call's. */
void gw_start(struct server *srv, const struct gw_req *req, struct gw_call *call);
void gw_call_cancel(struct gw_call *call);
void gw_call_fini(struct gw_call *call);

/* True for the close codes CloseConnection takes: 1000, 1001, 1008,
 * 1011, 3000-4999. Pure. */
bool gw_close_code_ok(int64_t code);

#endif
