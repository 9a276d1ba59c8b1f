/* metrics.h — the Prometheus metrics: the counters the loop increments
 * (struct metrics, embedded in the server context: plain increments and
 * fixed-bucket histograms, nothing allocated on a hot path), the snapshot
 * a scrape is rendered from, and the renderer of the text exposition
 * format 0.0.4. Everything here but metrics_clock_ns is pure: no sockets,
 * no server, no files (metrics_collect.c fills the snapshot).
 *
 * Labels are bounded by construction: reasons, close-code classes, method
 * names, gRPC code names, events and outcomes are enums here; backends
 * are at most METRICS_MAX_BACKENDS labels, the rest folded into "other".
 * Never a connection id, a path or a User-Agent.
 */
#ifndef WSGW_METRICS_H
#define WSGW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hist.h"

/* Why a WebSocket-port connection got an HTTP answer instead of a 101. */
enum metrics_refusal {
	METRICS_REFUSED_MAX_CONNECTIONS, /* 503: --max-connections reached */
	METRICS_REFUSED_FD_LIMIT,        /* 503: no descriptor left (the spare one answered) */
	METRICS_REFUSED_DRAINING,        /* 503: shutting down */
	METRICS_REFUSED_BAD_REQUEST,     /* 400, 405, 426, 431: not a valid upgrade request */
	METRICS_REFUSED_NO_ROUTE,        /* 404: no WebSocket route for the path */
	METRICS_REFUSED_TIMEOUT,         /* 408: --handshake-timeout */
	METRICS_REFUSED_CONNECT,         /* the connect integration's answer (or its failure) */
	METRICS_REFUSED_INTERNAL,        /* 500: out of memory or randomness */
	METRICS_REFUSED_COUNT
};

/* Who ended an upgraded connection. NONE: it was never upgraded. */
enum metrics_by {
	METRICS_BY_NONE = 0,
	METRICS_BY_CLIENT,  /* the client's close frame came first, or the client vanished */
	METRICS_BY_SERVER,  /* the gateway's close frame came first */
	METRICS_BY_TIMEOUT, /* --idle-timeout or --max-lifetime */
	METRICS_BY_COUNT
};

/* Close codes by class: 1000-1003 and 1005-1014 each, 3xxx, 4xxx, other. */
#define METRICS_CODE_CLASSES 17
unsigned metrics_code_class(uint16_t code);
extern const char *const metrics_code_class_names[METRICS_CODE_CLASSES];

enum metrics_transport { METRICS_GRPC, METRICS_REST, METRICS_TRANSPORT_COUNT };

/* Management calls, by the method of the route table's row. */
enum metrics_api_method {
	METRICS_API_GET,
	METRICS_API_SEND,
	METRICS_API_DISCONNECT,
	METRICS_API_HEALTH, /* grpc.health.v1.Health/Check */
	METRICS_API_OTHER,  /* no such method or path */
	METRICS_API_COUNT,
	METRICS_API_NONE = METRICS_API_COUNT /* not counted: /healthz, /readyz, /metrics */
};

#define METRICS_GRPC_CODES 17 /* gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED) */

enum metrics_event {
	METRICS_EV_CONNECT,
	METRICS_EV_MESSAGE,
	METRICS_EV_DISCONNECT,
	METRICS_EV_COUNT
};

/* A backend call's outcome: its status class, or "error": no HTTP answer
 * (refused, reset, timeout, not HTTP, or a status outside 200..599). */
enum metrics_outcome {
	METRICS_OUT_2XX,
	METRICS_OUT_3XX,
	METRICS_OUT_4XX,
	METRICS_OUT_5XX,
	METRICS_OUT_ERROR,
	METRICS_OUT_COUNT
};

#define METRICS_MAX_BACKENDS 64
#define METRICS_BACKEND_LABEL_MAX 128

/* The counters, owned by the server context and touched only on the loop. */
struct metrics {
	uint64_t refused[METRICS_REFUSED_COUNT];
	uint64_t closed[METRICS_BY_COUNT][METRICS_CODE_CLASSES];
	uint64_t api_calls[METRICS_TRANSPORT_COUNT][METRICS_API_COUNT][METRICS_GRPC_CODES];
	struct hist api_latency[METRICS_TRANSPORT_COUNT][METRICS_API_COUNT];
	uint64_t integ_calls[METRICS_EV_COUNT][METRICS_OUT_COUNT];
	struct hist integ_latency[METRICS_EV_COUNT];
	uint64_t send_queue_full; /* API sends refused: the outbound queue was full */
	uint64_t out_queued;      /* gauge: bytes in WebSocket connections' outbound queues */
	/* Backend labels in order of first sight (the spec's first, then
	 * those of calls); once full, new ones count as "other". */
	unsigned num_backends;
	char backends[METRICS_MAX_BACKENDS][METRICS_BACKEND_LABEL_MAX];
};

/* Monotonic nanoseconds (not pure: the one clock read of a management
 * call's latency). */
static inline uint64_t metrics_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A management call answered with gRPC code `code` after ns nanoseconds. */
static inline void metrics_api_done(struct metrics *m, enum metrics_transport t, unsigned method,
                                    unsigned code, uint64_t ns)
{
	if (method >= METRICS_API_COUNT)
		return;
	m->api_calls[t][method][code < METRICS_GRPC_CODES ? code : 2 /* UNKNOWN */]++;
	hist_observe(&m->api_latency[t][method], ns);
}

static inline enum metrics_outcome metrics_outcome_of(long status)
{
	if (status < 200 || status > 599)
		return METRICS_OUT_ERROR;
	return (enum metrics_outcome)(status / 100 - 2);
}

/* A backend call of event ev ended with HTTP status (0: no answer) after
 * ns nanoseconds. */
static inline void metrics_integ_done(struct metrics *m, enum metrics_event ev, long status,
                                      uint64_t ns)
{
	m->integ_calls[ev][metrics_outcome_of(status)]++;
	hist_observe(&m->integ_latency[ev], ns);
}

/* Index of a backend's label in m->backends, adding it while there is
 * room; METRICS_MAX_BACKENDS ("other") when full or the label is empty. */
unsigned metrics_backend_index(struct metrics *m, const char *label);

/* The label of a backend: "scheme://host:port" from a URL or its
 * "scheme://authority" prefix — scheme and host lowercased, user
 * information dropped (never a password in a label), the scheme's default
 * port added. False (out empty) when it has no "scheme://" or host, holds a
 * '{' placeholder in its authority or a byte that is not visible ASCII, or
 * does not fit in outlen. */
bool metrics_backend_label(const char *url, size_t len, char *out, size_t outlen);

/* --cluster: remote calls (cluster.c) by operation and outcome. */
enum metrics_cluster_op {
	METRICS_CL_GET,
	METRICS_CL_SEND,
	METRICS_CL_CLOSE, /* Disconnect */
	METRICS_CL_OP_COUNT
};

enum metrics_cluster_outcome {
	METRICS_CL_OK,
	METRICS_CL_NOT_FOUND,
	METRICS_CL_INVALID_ARGUMENT,
	METRICS_CL_RESOURCE_EXHAUSTED, /* the owner's queue, or our caps */
	METRICS_CL_UNAVAILABLE,        /* link down, owner not listening, link failed mid-call */
	METRICS_CL_DEADLINE,           /* no answer by --cluster-call-timeout */
	METRICS_CL_INTERNAL,
	METRICS_CL_CANCELLED, /* the API caller went away first */
	METRICS_CL_OUTCOME_COUNT
};

enum metrics_cluster_link {
	METRICS_CL_LINK_COMMANDS,
	METRICS_CL_LINK_SUBSCRIBER,
	METRICS_CL_LINKS
};

enum metrics_cluster_probe {
	METRICS_CL_PROBE_NO_SUBSCRIBER, /* Redis counted nobody on our inbox */
	METRICS_CL_PROBE_TIMEOUT,       /* the probe did not come back in time */
	METRICS_CL_PROBE_COUNT
};

/* Counted by cluster.c (plain increments; one histogram observation per
 * remote call), read by a scrape. */
struct metrics_cluster {
	uint64_t calls[METRICS_CL_OP_COUNT][METRICS_CL_OUTCOME_COUNT];
	struct hist latency[METRICS_CL_OP_COUNT]; /* from the call's start to its answer */
	uint64_t served[METRICS_CL_OP_COUNT];     /* requests run for other nodes */
	uint64_t dropped_late;                    /* requests that came past their deadline */
	uint64_t probe_failures[METRICS_CL_PROBE_COUNT];
	/* Filled at a scrape: */
	uint64_t in_flight;
	bool link_up[METRICS_CL_LINKS];
	uint64_t reconnects[METRICS_CL_LINKS];
};

/* What /proc/self/stat says, in its own units (clock ticks, pages). */
struct metrics_proc_stat {
	uint64_t utime, stime, starttime, vsize, rss_pages;
};

/* Parses the text of /proc/<pid>/stat (proc(5)): the command may hold
 * spaces and ')'. Returns 0 or -1 when fields are missing. */
int metrics_parse_proc_stat(const char *text, size_t len, struct metrics_proc_stat *out);

struct metrics_process {
	bool ok; /* /proc could be read */
	double cpu_seconds, start_time_seconds;
	uint64_t resident_bytes, virtual_bytes, open_fds, max_fds;
};

/* Everything one scrape shows, gathered at once (metrics_collect.c). */
struct metrics_snapshot {
	const struct metrics *m;
	const char *version, *commit;
	uint64_t accepted, upgraded, msgs_in, msgs_out, bytes_in, bytes_out;
	uint64_t integration_failures, msgs_abandoned;
	uint64_t conns_open, conns_all, max_connections, mgmt_open, mgmt_buffered;
	bool draining;
	uint64_t disc_pending, disc_delivered, disc_refused, disc_given_up, disc_dropped;
	uint64_t disc_retries;
	/* Per backend label (m->backends), then [num_backends] = "other". */
	uint64_t in_flight[METRICS_MAX_BACKENDS + 1], waiting[METRICS_MAX_BACKENDS + 1];
	bool other_backend; /* a call's backend had no label of its own */
	struct metrics_process proc;
	bool cluster_on; /* --cluster: the wsgw_cluster_* families */
	struct metrics_cluster cluster;
};

/* A growable text buffer; failed once an allocation failed. */
struct metrics_buf {
	char *p; /* heap, NUL-terminated while non-NULL */
	size_t len, cap;
	bool failed;
};

/* Appends s's metrics in the text exposition format 0.0.4 (HELP and TYPE
 * before each family; histograms as _bucket with ascending `le` ending in
 * "+Inf", then _sum and _count). Returns 0, or -1 out of memory (b->p is
 * still the caller's to free). */
int metrics_render(const struct metrics_snapshot *s, struct metrics_buf *b);

/* Appends a label value escaped as the format wants: \ " and newline as
 * \\ \" \n. */
void metrics_buf_escaped(struct metrics_buf *b, const char *s);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
