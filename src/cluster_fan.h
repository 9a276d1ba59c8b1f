/* cluster_fan.h — the extension API across the cluster (cluster.c hands
 * these over): Broadcast, SendToGroup and CountConnections as one PUBLISH
 * to wsgw:all that every node answers with its counts, and the owner's side
 * of JoinGroup / LeaveGroup for a connection another node was asked about.
 * README, "Running several nodes".
 */
#ifndef WSGW_CLUSTER_FAN_H
#define WSGW_CLUSTER_FAN_H

#include <stdint.h>

struct cluster_fan;
struct cluster_reply;
struct cluster_request;
struct gw_call;
struct gw_req;
struct redis_link;
struct server;

/* tag: this node's tag, a NUL-terminated array that outlives the fan
 * (cluster.c may rewrite it in place before the first client). */
struct cluster_fan *cluster_fan_new(struct server *srv, struct redis_link *cmd,
                                    struct redis_link *sub, const char *tag);
/* Drops every call (their callers are gone) and every job run for another
 * node (their paced sends go on without a reply). */
void cluster_fan_free(struct cluster_fan *cf);

/* The registry's count and fanout (registry.h), cluster-wide. */
void cluster_fan_count(struct cluster_fan *cf, struct gw_call *call);
void cluster_fan_fanout(struct cluster_fan *cf, const struct gw_req *req, uint8_t opcode,
                        struct gw_call *call);

/* SendToConnections: the ids grouped by owner, one request per owner node
 * (the payload once), the results merged back in the request's order. */
void cluster_fan_send_many(struct cluster_fan *cf, const struct gw_req *req, uint8_t opcode,
                           struct gw_call *call);

/* From the subscriber: a FAN / JOIN / LEAVE / SEND_MANY request (caller and deadline
 * already checked), and a FAN's answer. */
void cluster_fan_on_request(struct cluster_fan *cf, const struct cluster_request *q);
void cluster_fan_on_reply(struct cluster_fan *cf, const struct cluster_reply *a);

/* A Redis link went down: every call under way answers UNAVAILABLE. */
void cluster_fan_fail_all(struct cluster_fan *cf, const char *why);

#endif
