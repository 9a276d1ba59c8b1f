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
#include "gw_api.h"

struct conn;
struct server;
struct spec;

/* True when id names an OPEN connection of this node (one still in its
 * handshake or already closing is not found, as API.md asks). */
bool registry_has(struct server *srv, const char *id, size_t id_len);

/* The calls that may complete later, each through an api_call (api.h):
 * the result goes to call->st (and call->conn for get), then
 * api_call_complete. A registry that answers later sets call->cancel and
 * copies id, data and reason (valid only during the call).
 * - get: a snapshot of the connection; API_OK or API_NOT_FOUND.
 * - send: one message (WS_OP_TEXT or WS_OP_BINARY, already validated);
 *   API_OK, API_NOT_FOUND, or API_RESOURCE_EXHAUSTED when its outbound
 *   queue is full (nothing sent).
 * - close: the close handshake with code and reason (≤ 123 bytes of
 *   UTF-8); API_OK or API_NOT_FOUND.
 * Cluster mode supplies a second table; unit tests, a double. */
struct registry_ops {
	void (*get)(struct server *srv, const char *id, size_t id_len, struct api_call *call);
	void (*send)(struct server *srv, const char *id, size_t id_len, uint8_t opcode,
	             const uint8_t *data, size_t len, struct api_call *call);
	void (*close)(struct server *srv, const char *id, size_t id_len, uint16_t code,
	              const char *reason, struct api_call *call);
	/* wsgw.v1 (gw_api.c validated req; results go to call's fields):
	 * - list: one page in a stable order (req->token: where the previous
	 *   page ended); INVALID_ARGUMENT for a token this listing never gave.
	 * - count: total and per route template.
	 * - send_many: one result per id (OK, NOT_FOUND, RESOURCE_EXHAUSTED).
	 * - join / leave: group membership (RESOURCE_EXHAUSTED over the
	 *   per-connection cap; NOT_FOUND for an unknown connection, or on
	 *   leave for a group it is not in).
	 * - fanout: SendToGroup or Broadcast, paced (fanout.h): counts. */
	void (*list)(struct server *srv, const struct gw_req *req, struct gw_call *call);
	void (*count)(struct server *srv, struct gw_call *call);
	void (*send_many)(struct server *srv, const struct gw_req *req, uint8_t opcode,
	                  struct gw_call *call);
	void (*join)(struct server *srv, const struct gw_req *req, struct gw_call *call);
	void (*leave)(struct server *srv, const struct gw_req *req, struct gw_call *call);
	void (*fanout)(struct server *srv, const struct gw_req *req, uint8_t opcode,
	               struct gw_call *call);
};

/* The connections this node holds; completes every call inline. */
extern const struct registry_ops registry_local;

/* The registry the API uses: srv->registry, or registry_local when unset. */
static inline const struct registry_ops *registry_of(const struct registry_ops *set)
{
	return set ? set : &registry_local;
}

/* Calls fn once for every OPEN connection with its id (a view valid during
 * the call). fn must not close connections; it returns false to stop. */
void registry_each(struct server *srv, bool (*fn)(void *arg, const char *id, size_t id_len),
                   void *arg);

/* The local registry's own state (srv->reg): the connection order, the
 * per-route counts, the groups. Returns 0 or ERR_NOMEM. */
int registry_init(struct server *srv);
void registry_fini(struct server *srv);

/* Hooks from the connection's life (conn.c, ws_conn.c):
 * - on_upgrade: the request path, the route template it matched and the
 *   spec it is in (held; the strings copied: interned, shared by
 *   connections with the same three); 0 or ERR_NOMEM (c has no origin);
 * - on_open: c became OPEN: it gets the next seq and is counted;
 * - on_leave: c stopped being OPEN: uncounted, out of its groups;
 * - on_free: c is freed: drops its origin (strings and spec). */
int registry_on_upgrade(struct conn *c, const char *path, size_t path_len, const char *route,
                        struct spec *spec);
void registry_on_open(struct conn *c);
void registry_on_leave(struct conn *c);
void registry_on_free(struct conn *c);

/* The connect integration's answer (header lines, each ending "\r\n")
 * may name groups for the new OPEN connection c: every X-Wsgw-Groups
 * field, a comma-separated list (optional whitespace around names). Each
 * valid name is joined; an invalid one, or one past the per-connection
 * cap, is skipped with a warning. */
void registry_join_listed(struct conn *c, const char *headers, size_t len);

/* ListConnections on this node, for the local registry and for cluster
 * mode (which keeps its own token): one page of req's filters (its token
 * ignored) after position *pos (0: from the start), into call->conns;
 * *pos becomes the position of the last connection examined. Returns true
 * when more connections remain after it. Sets call->api.st (OK, or
 * RESOURCE_EXHAUSTED out of memory) and does not complete the call. */
bool registry_list_page(struct server *srv, const struct gw_req *req, uint64_t *pos,
                        struct gw_call *call);

/* The page token's check value of position seq under req's filters (a
 * keyed hash, pagetok.h). */
uint64_t registry_list_check(uint64_t secret, uint64_t seq, const struct gw_req *req);

/* For /metrics: the groups that exist on this node and the sum of their
 * members (kept as members join and leave: no walk). Zeros before
 * registry_init. */
void registry_group_totals(const struct server *srv, uint64_t *groups, uint64_t *memberships);

#endif
