/* cluster_list.h — ListConnections across the cluster (cluster.c hands it
 * over): the page token names the node the listing is on and that node's
 * own position; nodes are walked in tag order over the live leases; a page
 * of another node is one request/reply through its inbox, answered by the
 * very same local page code. README, "Running several nodes".
 */
#ifndef WSGW_CLUSTER_LIST_H
#define WSGW_CLUSTER_LIST_H

#include <stdint.h>

struct cluster_list;
struct cluster_reply;
struct cluster_request;
struct gw_call;
struct gw_req;
struct redis_link;
struct server;

/* tag: this node's tag (NUL-terminated, outlives the list; cluster.c may
 * rewrite it in place before the first client). secret: the check value's
 * key, the same on every node of the cluster (a token is good on any). */
struct cluster_list *cluster_list_new(struct server *srv, struct redis_link *cmd,
                                      struct redis_link *sub, const char *tag, uint64_t secret);
/* Drops every call under way (their callers are gone). */
void cluster_list_free(struct cluster_list *cls);

/* The registry's list (registry.h), cluster-wide. */
void cluster_list_start(struct cluster_list *cls, const struct gw_req *req, struct gw_call *call);

/* From the subscriber: a LIST request for this node (caller, tag and
 * deadline already checked), and a LIST's answer. */
void cluster_list_on_request(struct cluster_list *cls, const struct cluster_request *q);
void cluster_list_on_reply(struct cluster_list *cls, const struct cluster_reply *a);

/* A Redis link went down: every call under way answers UNAVAILABLE. */
void cluster_list_fail_all(struct cluster_list *cls);

#endif
