/* metrics.c — Prometheus text exposition format 0.0.4 from a snapshot
 * (metrics.h), and the pure helpers around it: close-code classes, backend
 * labels, /proc/self/stat parsing.
 *
 * Names follow Prometheus practice: a wsgw_ prefix, base units (_seconds,
 * _bytes), counters ending in _total; process_* are the names every client
 * library uses. A two-label family shows only the series that have moved
 * (a counter appears at its first increment, as client libraries do); one
 * whose labels are few and fixed shows them all, zeros included, so a rate
 * has a starting point. Never touches a socket, a file or the server.
 */
#include "metrics.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const metrics_code_class_names[METRICS_CODE_CLASSES] = {
    "1000", "1001", "1002", "1003", "1005", "1006", "1007", "1008",  "1009",
    "1010", "1011", "1012", "1013", "1014", "3xxx", "4xxx", "other",
};

unsigned metrics_code_class(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return code - 1000;
	if (code >= 1005 && code <= 1014)
		return code - 1005 + 4;
	if (code >= 3000 && code <= 3999)
		return 14;
	if (code >= 4000 && code <= 4999)
		return 15;
	return 16;
}

static const char *const refusal_names[METRICS_REFUSED_COUNT] = {
    "max_connections",     "fd_limit", "draining", "bad_request", "no_route", "timeout",
    "connect_integration", "internal",
};
static const char *const by_names[METRICS_BY_COUNT] = {"none", "client", "server", "timeout"};
static const char *const transport_names[METRICS_TRANSPORT_COUNT] = {"grpc", "rest"};
static const char *const method_names[METRICS_API_COUNT] = {"Get", "Send", "Disconnect", "Check",
                                                            "other"};
static const char *const event_names[METRICS_EV_COUNT] = {"connect", "message", "disconnect"};
static const char *const outcome_names[METRICS_OUT_COUNT] = {"2xx", "3xx", "4xx", "5xx", "error"};
/* gRPC status code names (grpc/doc/statuscodes.md), by number. */
static const char *const grpc_code_names[METRICS_GRPC_CODES] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* ---- the buffer ------------------------------------------------------------ */

static bool reserve(struct metrics_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->failed)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void put(struct metrics_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct metrics_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct metrics_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->failed = true; /* every format here is short: a bug, shown as a failure */
		return;
	}
	put(b, tmp, (size_t)n);
}

void metrics_buf_escaped(struct metrics_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '"')
			puts_(b, "\\\"");
		else if (*s == '\n')
			puts_(b, "\\n");
		else
			put(b, s, 1);
	}
}

/* ---- families --------------------------------------------------------------- */

static void family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	putf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct metrics_buf *b, const char *name, const char *type, const char *help,
                uint64_t v)
{
	family(b, name, type, help);
	putf(b, "%s %" PRIu64 "\n", name, v);
}

/* ns as seconds, exactly: 1500000 -> "0.001500000". */
static void put_seconds(struct metrics_buf *b, uint64_t ns)
{
	putf(b, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

/* One histogram series: labels is "" or `a="x",` (with its comma). */
static void histogram(struct metrics_buf *b, const char *name, const char *labels,
                      const struct hist *h)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < HIST_NUM_BOUNDS; i++) {
		cum += h->bucket[i];
		putf(b, "%s_bucket{%sle=\"%s\"} %" PRIu64 "\n", name, labels, hist_bounds_text[i],
		     cum);
	}
	cum += h->bucket[HIST_NUM_BOUNDS];
	putf(b, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, cum);
	/* _sum and _count take the labels without the trailing comma */
	putf(b, "%s_sum{%.*s} ", name, labels[0] ? (int)strlen(labels) - 1 : 0, labels);
	put_seconds(b, h->sum_ns);
	putf(b, "\n%s_count{%.*s} %" PRIu64 "\n", name, labels[0] ? (int)strlen(labels) - 1 : 0,
	     labels, cum);
}

static void render_ws(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	const struct metrics *m = s->m;

	one(b, "wsgw_connections_open", "gauge",
	    "WebSocket connections upgraded and not yet closing.", s->conns_open);
	one(b, "wsgw_connections_current", "gauge",
	    "WebSocket-port connections held in any state (handshake, open, closing); "
	    "--max-connections applies to these.",
	    s->conns_all);
	one(b, "wsgw_connections_max", "gauge", "The --max-connections setting.",
	    s->max_connections);
	one(b, "wsgw_connections_accepted_total", "counter",
	    "WebSocket-port connections accepted (taken in to read their upgrade request).",
	    s->accepted);
	one(b, "wsgw_connections_upgraded_total", "counter",
	    "WebSocket connections upgraded (101 sent).", s->upgraded);
	family(
	    b, "wsgw_connections_refused_total", "counter",
	    "WebSocket-port connections answered with an HTTP status instead of 101, by reason.");
	for (unsigned r = 0; r < METRICS_REFUSED_COUNT; r++)
		putf(b, "wsgw_connections_refused_total{reason=\"%s\"} %" PRIu64 "\n",
		     refusal_names[r], m->refused[r]);
	family(b, "wsgw_connections_closed_total", "counter",
	       "Upgraded WebSocket connections closed, by who closed first and close-code class "
	       "(1006: no close frame).");
	for (unsigned by = METRICS_BY_CLIENT; by < METRICS_BY_COUNT; by++)
		for (unsigned c = 0; c < METRICS_CODE_CLASSES; c++)
			if (m->closed[by][c])
				putf(b,
				     "wsgw_connections_closed_total{by=\"%s\",code=\"%s\"} %" PRIu64
				     "\n",
				     by_names[by], metrics_code_class_names[c], m->closed[by][c]);
	one(b, "wsgw_messages_received_total", "counter",
	    "WebSocket messages received from clients.", s->msgs_in);
	one(b, "wsgw_messages_sent_total", "counter", "WebSocket messages sent to clients.",
	    s->msgs_out);
	one(b, "wsgw_received_bytes_total", "counter",
	    "Bytes read on the WebSocket port (wire bytes: handshakes and frames).", s->bytes_in);
	one(b, "wsgw_sent_bytes_total", "counter",
	    "Bytes written on the WebSocket port (wire bytes: handshakes and frames).",
	    s->bytes_out);
	one(b, "wsgw_outbound_queued_bytes", "gauge",
	    "Bytes waiting in WebSocket connections' outbound queues (--max-out-queue each).",
	    m->out_queued);
	one(b, "wsgw_send_queue_full_total", "counter",
	    "Management Send calls refused with RESOURCE_EXHAUSTED: the connection's outbound "
	    "queue was full.",
	    m->send_queue_full);
}

static void render_api(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	const struct metrics *m = s->m;
	char labels[96];

	family(b, "wsgw_api_requests_total", "counter",
	       "Management API calls answered, by transport, method and gRPC status code "
	       "(REST answers carry the code of their JSON error body; OK for 200).");
	for (unsigned t = 0; t < METRICS_TRANSPORT_COUNT; t++)
		for (unsigned me = 0; me < METRICS_API_COUNT; me++)
			for (unsigned c = 0; c < METRICS_GRPC_CODES; c++)
				if (m->api_calls[t][me][c])
					putf(b,
					     "wsgw_api_requests_total{transport=\"%s\",method=\"%"
					     "s\","
					     "code=\"%s\"} %" PRIu64 "\n",
					     transport_names[t], method_names[me],
					     grpc_code_names[c], m->api_calls[t][me][c]);
	family(b, "wsgw_api_request_duration_seconds", "histogram",
	       "Management API calls: time from reading the complete request to queueing the "
	       "answer.");
	for (unsigned t = 0; t < METRICS_TRANSPORT_COUNT; t++)
		for (unsigned me = 0; me < METRICS_API_COUNT; me++) {
			if (!hist_count(&m->api_latency[t][me]))
				continue;
			snprintf(labels, sizeof labels, "transport=\"%s\",method=\"%s\",",
			         transport_names[t], method_names[me]);
			histogram(b, "wsgw_api_request_duration_seconds", labels,
			          &m->api_latency[t][me]);
		}
	one(b, "wsgw_mgmt_connections_open", "gauge", "Management-port connections open.",
	    s->mgmt_open);
	one(b, "wsgw_mgmt_buffered_bytes", "gauge",
	    "Request bytes held by management connections (--mgmt-max-buffer-total).",
	    s->mgmt_buffered);
}

static void backend_gauge(const struct metrics_snapshot *s, struct metrics_buf *b, const char *name,
                          const uint64_t *v)
{
	const struct metrics *m = s->m;

	for (unsigned i = 0; i < m->num_backends; i++) {
		putf(b, "%s{backend=\"", name);
		metrics_buf_escaped(b, m->backends[i]);
		putf(b, "\"} %" PRIu64 "\n", v[i]);
	}
	if (s->other_backend || m->num_backends == METRICS_MAX_BACKENDS)
		putf(b, "%s{backend=\"other\"} %" PRIu64 "\n", name, v[METRICS_MAX_BACKENDS]);
}

static void render_integ(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	const struct metrics *m = s->m;
	char labels[48];

	family(b, "wsgw_integration_calls_total", "counter",
	       "Backend calls of http integrations, by event and outcome (status class, or error: "
	       "no HTTP answer). Each disconnect attempt counts.");
	for (unsigned e = 0; e < METRICS_EV_COUNT; e++)
		for (unsigned o = 0; o < METRICS_OUT_COUNT; o++)
			if (m->integ_calls[e][o])
				putf(b,
				     "wsgw_integration_calls_total{event=\"%s\",outcome=\"%s\"} "
				     "%" PRIu64 "\n",
				     event_names[e], outcome_names[o], m->integ_calls[e][o]);
	family(b, "wsgw_integration_call_duration_seconds", "histogram",
	       "Backend calls of http integrations: time from the start of the call (waiting for a "
	       "backend connection included) to its result.");
	for (unsigned e = 0; e < METRICS_EV_COUNT; e++) {
		if (!hist_count(&m->integ_latency[e]))
			continue;
		snprintf(labels, sizeof labels, "event=\"%s\",", event_names[e]);
		histogram(b, "wsgw_integration_call_duration_seconds", labels,
		          &m->integ_latency[e]);
	}
	one(b, "wsgw_integration_failures_total", "counter",
	    "Integration failures logged: failed message and connect calls, disconnect events "
	    "refused, given up or dropped.",
	    s->integration_failures);
	one(b, "wsgw_messages_abandoned_total", "counter",
	    "Client messages whose backend call the exit cut off or never made.",
	    s->msgs_abandoned);
	family(b, "wsgw_backend_calls_in_flight", "gauge",
	       "Backend calls under way per backend (at most --backend-connections each).");
	backend_gauge(s, b, "wsgw_backend_calls_in_flight", s->in_flight);
	family(b, "wsgw_backend_calls_waiting", "gauge",
	       "Backend calls waiting for a free connection to their backend.");
	backend_gauge(s, b, "wsgw_backend_calls_waiting", s->waiting);
	one(b, "wsgw_disconnect_events_pending", "gauge",
	    "Disconnect events held: in a call or waiting to retry (--max-pending-disconnects).",
	    s->disc_pending);
	family(
	    b, "wsgw_disconnect_events_total", "counter",
	    "Disconnect events finished, by outcome: delivered, refused (4xx), given_up (retries "
	    "exhausted), dropped (over --max-pending-disconnects).");
	putf(b, "wsgw_disconnect_events_total{outcome=\"delivered\"} %" PRIu64 "\n",
	     s->disc_delivered);
	putf(b, "wsgw_disconnect_events_total{outcome=\"refused\"} %" PRIu64 "\n", s->disc_refused);
	putf(b, "wsgw_disconnect_events_total{outcome=\"given_up\"} %" PRIu64 "\n",
	     s->disc_given_up);
	putf(b, "wsgw_disconnect_events_total{outcome=\"dropped\"} %" PRIu64 "\n", s->disc_dropped);
	one(b, "wsgw_disconnect_retries_total", "counter",
	    "Disconnect calls retried after a failure.", s->disc_retries);
}

static const char *const cl_op_names[METRICS_CL_OP_COUNT] = {"get", "send", "disconnect"};
static const char *const cl_outcome_names[METRICS_CL_OUTCOME_COUNT] = {
    "ok",          "not_found", "invalid_argument", "resource_exhausted",
    "unavailable", "deadline",  "internal",         "cancelled",
};
static const char *const cl_link_names[METRICS_CL_LINKS] = {"commands", "subscriber"};
static const char *const cl_probe_names[METRICS_CL_PROBE_COUNT] = {"no_subscriber", "timeout"};

static void render_cluster(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	const struct metrics_cluster *c = &s->cluster;
	char labels[32];

	family(
	    b, "wsgw_cluster_link_up", "gauge",
	    "1 while the Redis connection (commands or subscriber) is up and its handshake done.");
	for (unsigned l = 0; l < METRICS_CL_LINKS; l++)
		putf(b, "wsgw_cluster_link_up{link=\"%s\"} %d\n", cl_link_names[l], c->link_up[l]);
	family(b, "wsgw_cluster_link_reconnects_total", "counter",
	       "Times a Redis connection came up again after having been up.");
	for (unsigned l = 0; l < METRICS_CL_LINKS; l++)
		putf(b, "wsgw_cluster_link_reconnects_total{link=\"%s\"} %" PRIu64 "\n",
		     cl_link_names[l], c->reconnects[l]);
	family(b, "wsgw_cluster_remote_calls_total", "counter",
	       "Calls for connections held by other nodes, by operation and outcome.");
	for (unsigned o = 0; o < METRICS_CL_OP_COUNT; o++)
		for (unsigned r = 0; r < METRICS_CL_OUTCOME_COUNT; r++)
			if (c->calls[o][r])
				putf(b,
				     "wsgw_cluster_remote_calls_total{op=\"%s\",outcome=\"%s\"} "
				     "%" PRIu64 "\n",
				     cl_op_names[o], cl_outcome_names[r], c->calls[o][r]);
	family(b, "wsgw_cluster_remote_call_duration_seconds", "histogram",
	       "Calls for connections held by other nodes: time from the call's start to its "
	       "answer.");
	for (unsigned o = 0; o < METRICS_CL_OP_COUNT; o++) {
		if (!hist_count(&c->latency[o]))
			continue;
		snprintf(labels, sizeof labels, "op=\"%s\",", cl_op_names[o]);
		histogram(b, "wsgw_cluster_remote_call_duration_seconds", labels, &c->latency[o]);
	}
	one(b, "wsgw_cluster_remote_calls_in_flight", "gauge",
	    "Calls for connections held by other nodes awaiting their answer.", c->in_flight);
	family(b, "wsgw_cluster_requests_served_total", "counter",
	       "Requests from other nodes run here for this node's connections, by operation.");
	for (unsigned o = 0; o < METRICS_CL_OP_COUNT; o++)
		putf(b, "wsgw_cluster_requests_served_total{op=\"%s\"} %" PRIu64 "\n",
		     cl_op_names[o], c->served[o]);
	one(b, "wsgw_cluster_requests_dropped_late_total", "counter",
	    "Requests from other nodes dropped unrun: they came past their deadline.",
	    c->dropped_late);
	family(b, "wsgw_cluster_probe_failures_total", "counter",
	       "Inbox probes that found the subscription dead (the subscriber was then re-made).");
	for (unsigned p = 0; p < METRICS_CL_PROBE_COUNT; p++)
		putf(b, "wsgw_cluster_probe_failures_total{reason=\"%s\"} %" PRIu64 "\n",
		     cl_probe_names[p], c->probe_failures[p]);
}

static void render_process(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	const struct metrics_process *p = &s->proc;

	if (p->ok) {
		family(b, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
		putf(b, "process_cpu_seconds_total %.2f\n", p->cpu_seconds);
		one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
		    p->resident_bytes);
		one(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
		    p->virtual_bytes);
		family(b, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.");
		putf(b, "process_start_time_seconds %.2f\n", p->start_time_seconds);
		one(b, "process_open_fds", "gauge", "Number of open file descriptors.",
		    p->open_fds);
	}
	one(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.", p->max_fds);
}

int metrics_render(const struct metrics_snapshot *s, struct metrics_buf *b)
{
	family(b, "wsgw_build_info", "gauge", "Always 1; the labels name the build.");
	puts_(b, "wsgw_build_info{version=\"");
	metrics_buf_escaped(b, s->version ? s->version : "");
	puts_(b, "\",commit=\"");
	metrics_buf_escaped(b, s->commit ? s->commit : "");
	puts_(b, "\"} 1\n");
	one(b, "wsgw_draining", "gauge", "1 from the moment SIGTERM/SIGINT starts the drain.",
	    s->draining);
	render_ws(s, b);
	render_api(s, b);
	render_integ(s, b);
	if (s->cluster_on)
		render_cluster(s, b);
	render_process(s, b);
	return b->failed ? -1 : 0;
}

/* ---- backend labels ------------------------------------------------------------ */

unsigned metrics_backend_index(struct metrics *m, const char *label)
{
	unsigned i;

	if (!label[0])
		return METRICS_MAX_BACKENDS;
	for (i = 0; i < m->num_backends; i++)
		if (strcmp(m->backends[i], label) == 0)
			return i;
	if (i == METRICS_MAX_BACKENDS || strlen(label) >= METRICS_BACKEND_LABEL_MAX)
		return METRICS_MAX_BACKENDS;
	strcpy(m->backends[i], label);
	m->num_backends++;
	return i;
}

/* Visible ASCII only: a label is for people and dashboards. */
static bool visible(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] > '~')
			return false;
	return true;
}

bool metrics_backend_label(const char *url, size_t len, char *out, size_t outlen)
{
	const char *sep, *auth, *end, *at, *host, *port = NULL, *host_end;
	size_t slen, hlen, o = 0;
	int n;

	if (outlen)
		out[0] = '\0';
	sep = memmem(url, len, "://", 3);
	if (!sep || sep == url)
		return false;
	slen = (size_t)(sep - url);
	auth = sep + 3;
	end = auth;
	while (end < url + len && !strchr("/?#", *end))
		end++;
	if (memchr(auth, '{', (size_t)(end - auth)))
		return false; /* a placeholder: one label per value would be unbounded */
	at = NULL;
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	host = at ? at + 1 : auth;
	if (host < end && *host == '[') { /* an IPv6 literal */
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (!close)
			return false;
		host_end = close + 1;
	} else {
		host_end = memchr(host, ':', (size_t)(end - host));
		if (!host_end)
			host_end = end;
	}
	if (host_end < end && *host_end == ':' && host_end + 1 < end)
		port = host_end + 1;
	hlen = (size_t)(host_end - host);
	if (!hlen || !visible(url, slen) || !visible(host, hlen) ||
	    (port && !visible(port, (size_t)(end - port))))
		return false;
	if (slen + 3 + hlen + 7 > outlen)
		return false;
	for (size_t i = 0; i < slen; i++)
		out[o++] = (char)tolower((unsigned char)url[i]);
	memcpy(out + o, "://", 3);
	o += 3;
	for (size_t i = 0; i < hlen; i++)
		out[o++] = (char)tolower((unsigned char)host[i]);
	if (port) {
		size_t pl = (size_t)(end - port);

		if (o + 1 + pl + 1 > outlen) {
			out[0] = '\0';
			return false;
		}
		out[o++] = ':';
		memcpy(out + o, port, pl);
		o += pl;
		out[o] = '\0';
		return true;
	}
	n = snprintf(out + o, outlen - o, ":%s",
	             slen == 5 && !strncasecmp(url, "https", 5)  ? "443"
	             : slen == 4 && !strncasecmp(url, "http", 4) ? "80"
	                                                         : "");
	if (n == 1)
		out[o] = '\0'; /* unknown scheme: no default port to add */
	return true;
}

/* ---- /proc/self/stat ------------------------------------------------------------- */

int metrics_parse_proc_stat(const char *text, size_t len, struct metrics_proc_stat *out)
{
	const char *p = NULL, *end = text + len;
	uint64_t f[25] = {0};
	int field = 3; /* the first field after "pid (comm) " is the state */

	for (const char *q = text; q < end; q++) /* the last ')': comm may hold one */
		if (*q == ')')
			p = q;
	if (!p)
		return -1;
	p++;
	while (field <= 24) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return -1;
		if (field > 3) {
			uint64_t v = 0;

			if (*p < '0' || *p > '9')
				if (*p != '-')
					return -1;
			if (*p == '-') /* a signed field we do not use */
				p++;
			while (p < end && *p >= '0' && *p <= '9')
				v = v * 10 + (uint64_t)(*p++ - '0');
			f[field] = v;
		} else {
			while (p < end && *p != ' ')
				p++;
		}
		if (p < end && *p != ' ' && *p != '\n')
			return -1;
		field++;
	}
	out->utime = f[14];
	out->stime = f[15];
	out->starttime = f[22];
	out->vsize = f[23];
	out->rss_pages = f[24];
	return 0;
}
