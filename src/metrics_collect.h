/* metrics_collect.h — one scrape of GET /metrics: the snapshot of the
 * server's counters and gauges, the process figures from /proc/self, and
 * the rendered text (metrics.c).
 */
#ifndef WSGW_METRICS_COLLECT_H
#define WSGW_METRICS_COLLECT_H

#include <stddef.h>

struct server;
struct metrics_snapshot;

/* Fills s from srv now. Walks no connection: per-backend gauges come from
 * upstream_each_backend, process figures from /proc/self (a readdir of
 * /proc/self/fd, proportional to the descriptors open). */
void metrics_collect(struct server *srv, struct metrics_snapshot *s);

/* The metrics as text exposition format 0.0.4: *body on the heap (the
 * caller frees it), *len its length. Returns 0 or ERR_NOMEM. */
int metrics_collect_render(struct server *srv, char **body, size_t *len);

#endif
