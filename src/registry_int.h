/* registry_int.h — the local registry's state, shared by registry.c (the
 * connection hooks, Get / Send / Close) and registry_gw.c (wsgw.v1's
 * calls). Internal to those two.
 */
#ifndef WSGW_REGISTRY_INT_H
#define WSGW_REGISTRY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "connidx.h"
#include "groups.h"
#include "strpool.h"

struct route_count {
	const char *route; /* interned in registry_state.routes */
	uint32_t count;
};

struct registry_state {
	struct connidx order; /* OPEN connections by seq */
	uint64_t last_seq;
	uint64_t secret; /* page token check values */
	struct strpool routes;
	struct conntab origins; /* struct conn_origin, by spec, route and path */
	struct groups groups;
	struct route_count *counts; /* one per route with OPEN connections */
	size_t ncounts, cap_counts;
};

struct gw_call;
struct gw_req;
struct server;

/* registry_gw.c: the local registry_ops of wsgw.v1 (registry.h). */
void registry_gw_list(struct server *srv, const struct gw_req *req, struct gw_call *call);
void registry_gw_count(struct server *srv, struct gw_call *call);
void registry_gw_send_many(struct server *srv, const struct gw_req *req, uint8_t opcode,
                           struct gw_call *call);
void registry_gw_join(struct server *srv, const struct gw_req *req, struct gw_call *call);
void registry_gw_leave(struct server *srv, const struct gw_req *req, struct gw_call *call);
void registry_gw_fanout(struct server *srv, const struct gw_req *req, uint8_t opcode,
                        struct gw_call *call);

#endif
