/* cluster.h — cluster mode (--cluster redis://...): this node's tag, its
 * lease in Redis, its inbox, and the registry that answers Get / Send /
 * Disconnect for connections held by other nodes (registry.h) by
 * request/reply over Redis pub/sub. Without --cluster none of it runs.
 */
#ifndef WSGW_CLUSTER_H
#define WSGW_CLUSTER_H

#include <stddef.h>

struct server;
struct metrics_cluster;

/* Characters of a node tag at the front of every connection id it issues
 * (lowercase base32, like the rest of the id). */
#define CLUSTER_TAG_LEN 6

/* With cfg->cluster_url set: parses it, picks a tag (srv->node_tag),
 * starts both Redis links and sets srv->registry. Returns 0 (also when
 * Redis is down: the links keep retrying) or ERR_INVAL / ERR_NOMEM. */
int cluster_start(struct server *srv);

/* Graceful stop: deletes the lease (best effort), closes the links. Pending
 * remote calls are dropped without completion (their callers are gone). */
void cluster_fini(struct server *srv);

/* The readiness probe's view as a JSON object into out[cap]:
 * {"node":"<tag>","link":"up"} or "link":"down: <why>". */
void cluster_state_json(struct server *srv, char *out, size_t cap);

/* The cluster's counters and gauges for a scrape (only with --cluster). */
void cluster_metrics(struct server *srv, struct metrics_cluster *out);

#endif
