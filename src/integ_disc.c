/* integ_disc.c — disconnect events to http integrations, delivered with
 * retries (integ_disc.h has the policy).
 *
 * A backend restart of a few seconds must not lose the events of clients
 * that closed meanwhile, and a backend that stays down must not make the
 * gateway hold events, or retry them, without bound. So: each event is
 * one small allocation that owns its URL and header list; failed events
 * wait in a min-heap ordered by their next attempt, under one loop timer
 * (the loop's timer list is meant for a few timers, not one per event);
 * the delay doubles from BACKOFF_FIRST_MS up to BACKOFF_MAX_MS, drawn
 * uniformly from [delay/2, delay] so that events closed together do not
 * retry in lockstep against a recovering backend.
 *
 * What counts as failed: status 0 (the call could not be made or was not
 * answered: refused, reset, timeout, not HTTP) and 5xx (a proxy or server
 * that is restarting). A 4xx answer is the backend's refusal of that
 * event: retrying would get the same answer, so it is counted and logged
 * once. A retried event may reach a backend twice if an earlier attempt
 * got there but its answer did not come back (at-least-once delivery).
 *
 * Must never: block, or retry an event after --disconnect-retry has passed
 * since its first attempt.
 */
#include "integ_disc.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "ctx.h"
#include "integ_http.h"
#include "log.h"
#include "spec.h"
#include "upstream.h"
#include "ws.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define DROP_LOG_INTERVAL_MS 1000
/* After FAIL_STREAK failed attempts in a row and until an attempt gets an
 * answer, at most PROBE_RATE retries start per second; the others take
 * their next backoff step without a call. A backend that is down then
 * costs a few calls a second instead of one per held event every few
 * seconds (5 000 held events: 1 000 calls/s, 13% CPU). The limit is
 * global, not per backend: while one backend is down, another's retries
 * wait for a slot too (their first attempts never do). */
#define FAIL_STREAK 32
#define PROBE_RATE 50

struct disc {
	struct integ_disc *ctx;
	const struct integration *in;
	struct spec *spec; /* reference: in points into it */
	char *url;
	struct integ_head headers;
	uint8_t *body;
	size_t body_len;
	char *lines;
	size_t num_lines;
	bool no_event_headers;
	int64_t connected_at_ms;
	uint64_t give_up_ms; /* no attempt starts later than this */
	uint64_t due_ms;     /* next attempt, while in the heap */
	unsigned tries;      /* attempts that failed */
	uint64_t t0_ns;      /* the attempt in a call started (loop.now_ns): its latency */
	uint16_t close_code;
	uint8_t reason_len;
	char id[CONN_ID_LEN + 1];
	char reason[WS_MAX_CONTROL_PAYLOAD];
};

struct integ_disc {
	struct server *srv;
	struct loop_timer timer; /* the heap's first due time */
	struct disc **heap;      /* events waiting to retry, min-heap by due_ms */
	size_t n, cap;
	unsigned pending; /* held: in a call or in the heap */
	uint64_t delivered, refused, retries, given_up, dropped;
	uint64_t abandoned_calls, abandoned_waiting, abandoned_unsent;
	uint64_t last_drop_log_ms;
	unsigned fail_streak;     /* failed attempts since the last answer below 500 */
	uint64_t probe_window_ms; /* start of the current second of held-down retries */
	unsigned probes;          /* retries started in that second */
};

static void on_timer(struct loop_timer *t);

static struct integ_disc *ctx_of(struct server *srv)
{
	struct integ_disc *x = srv->disc;

	if (x)
		return x;
	x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->srv = srv;
	x->timer.on_fire = on_timer;
	srv->disc = x;
	return x;
}

static void disc_free(struct disc *d)
{
	free(d->url);
	integ_head_free(&d->headers);
	free(d->body);
	free(d->lines);
	spec_drop(d->spec);
	free(d);
}

/* The event is finished one way or another. */
static void done(struct disc *d)
{
	d->ctx->pending--;
	disc_free(d);
}

/* ---- the heap of events waiting to retry -------------------------------- */

static void heap_swap(struct disc **h, size_t a, size_t b)
{
	struct disc *t = h[a];

	h[a] = h[b];
	h[b] = t;
}

static void heap_up(struct disc **h, size_t i)
{
	while (i > 0 && h[(i - 1) / 2]->due_ms > h[i]->due_ms) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct disc **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < n && h[l]->due_ms < h[m]->due_ms)
			m = l;
		if (l + 1 < n && h[l + 1]->due_ms < h[m]->due_ms)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

static bool heap_push(struct integ_disc *x, struct disc *d)
{
	if (x->n == x->cap) {
		/* Never more than --max-pending-disconnects entries: every
		 * entry is a held event. */
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct disc **h = realloc(x->heap, cap * sizeof *h);

		if (!h)
			return false;
		x->heap = h;
		x->cap = cap;
	}
	x->heap[x->n] = d;
	heap_up(x->heap, x->n++);
	return true;
}

static struct disc *heap_pop(struct integ_disc *x)
{
	struct disc *d = x->heap[0];

	x->heap[0] = x->heap[--x->n];
	heap_down(x->heap, x->n, 0);
	return d;
}

/* ---- attempts ------------------------------------------------------------- */

static void attempt(struct disc *d);

static uint64_t backoff_ms(struct server *srv, unsigned tries)
{
	uint64_t d = BACKOFF_FIRST_MS;
	uint32_t r = 0;

	while (--tries > 0 && d < BACKOFF_MAX_MS)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	server_random(srv, (uint8_t *)&r, sizeof r);
	return d / 2 + r % (d / 2 + 1);
}

static void reschedule(struct disc *d, const char *why);

/* May a retry start now? Always, unless attempts keep failing. */
static bool may_retry(struct integ_disc *x, uint64_t now)
{
	if (x->fail_streak < FAIL_STREAK)
		return true;
	if (now - x->probe_window_ms >= 1000) {
		x->probe_window_ms = now;
		x->probes = 0;
	}
	return x->probes++ < PROBE_RATE;
}

static void on_timer(struct loop_timer *t)
{
	struct integ_disc *x = (struct integ_disc *)((char *)t - offsetof(struct integ_disc, timer));
	uint64_t now = x->srv->loop.now_ms;

	while (x->n && x->heap[0]->due_ms <= now) {
		struct disc *d = heap_pop(x);

		if (may_retry(x, now)) {
			x->retries++;
			attempt(d);
		} else
			reschedule(d, "held back: the backend keeps failing");
	}
	if (x->n)
		loop_timer_arm(&x->srv->loop, &x->timer, x->heap[0]->due_ms);
}

static void failed(struct disc *d, const char *why)
{
	d->ctx->fail_streak++;
	reschedule(d, why);
}

/* The attempt failed or was held back (why): wait and retry, or give up. */
static void reschedule(struct disc *d, const char *why)
{
	struct integ_disc *x = d->ctx;
	struct server *srv = x->srv;
	uint64_t now = srv->loop.now_ms, delay;

	d->tries++;
	delay = backoff_ms(srv, d->tries);
	if (srv->cfg->disconnect_retry_ms && now + delay <= d->give_up_ms) {
		d->due_ms = now + delay;
		if (heap_push(x, d)) {
			log_debug_f(LOG_FIELDS(LF_STR("conn", d->id), LF_ORIGIN("backend", d->url)),
				    "disconnect call failed (%s); retry %u in %" PRIu64 " ms", why,
				    d->tries, delay);
			if (!x->timer.armed || x->timer.deadline_ms > x->heap[0]->due_ms)
				loop_timer_arm(&srv->loop, &x->timer, x->heap[0]->due_ms);
			return;
		}
		why = "out of memory waiting to retry";
	}
	x->given_up++;
	srv->stats.integration_errors++;
	log_warn_f(LOG_FIELDS(LF_STR("conn", d->id), LF_ORIGIN("backend", d->url)),
		   "disconnect integration failed: %s; given up after %u attempt(s) "
		   "(%" PRIu64 " integration failures so far)",
		   why, d->tries, srv->stats.integration_errors);
	done(d);
}

static void on_done(void *arg, const struct upstream_result *res)
{
	struct disc *d = arg;
	struct integ_disc *x = d->ctx;
	struct server *srv = x->srv;
	char why[48];

	if (srv->stopping) { /* upstream_free: the gateway exits */
		x->abandoned_calls++;
		done(d);
		return;
	}
	metrics_integ_done(&srv->metrics, METRICS_EV_DISCONNECT, res->status,
			   srv->loop.now_ns - d->t0_ns);
	if (res->status && res->status < 500)
		x->fail_streak = 0; /* the backend answers: retries go freely again */
	if (res->status == 0) {
		failed(d, res->error);
	} else if (res->status >= 500) {
		snprintf(why, sizeof why, "the backend answered %ld", res->status);
		failed(d, why);
	} else if (res->status >= 400) {
		x->refused++;
		srv->stats.integration_errors++;
		log_warn_f(LOG_FIELDS(LF_STR("conn", d->id), LF_ORIGIN("backend", d->url),
				      LF_INT("status", res->status)),
			   "disconnect integration failed: the backend answered %ld "
			   "(a refusal: not retried)",
			   res->status);
		done(d);
	} else {
		x->delivered++;
		done(d);
	}
}

static const char *method_of(const struct integration *in)
{
	return in->method ? in->method : "POST";
}

static void attempt(struct disc *d)
{
	const struct integration *in = d->in;
	char code[8];
	struct integ_lines h;
	struct upstream_call call = {
		.url = d->url,
		.lines = d->headers.p,
		.lines_len = d->headers.len,
		.method = method_of(in),
		.connect_timeout_ms = in->connect_timeout_ms ? in->connect_timeout_ms
							     : INTEG_CONNECT_TIMEOUT_MS,
		.timeout_ms = in->read_timeout_ms ? in->read_timeout_ms : INTEG_READ_TIMEOUT_MS,
		.max_response = 64 * 1024,
	};

	const char *extra[INTEG_LINES_MAX + 200];
	size_t n = 0;

	snprintf(code, sizeof code, "%u", d->close_code);
	integ_lines_init(&h);
	if (!d->no_event_headers) {
		integ_lines_event(&h, d->id, "DISCONNECT", d->connected_at_ms);
		integ_lines_add(&h, INTEG_HDR "Disconnect-Status-Code", code, strlen(code));
		integ_lines_add(&h, INTEG_HDR "Disconnect-Reason", d->reason, d->reason_len);
	}
	for (size_t i = 0; i < h.n; i++)
		extra[n++] = h.line[i];
	const char *p = d->lines;
	for (size_t i = 0; i < d->num_lines && n < sizeof extra / sizeof *extra; i++)
		extra[n++] = p, p += strlen(p) + 1;
	call.extra = extra;
	call.num_extra = n;
	call.body = d->body;
	call.body_len = d->body_len;
	d->t0_ns = d->ctx->srv->loop.now_ns;
	if (h.ok && upstream_start(d->ctx->srv->up, &call, on_done, d))
		return;
	failed(d, "cannot start the call");
}

/* ---- the API -------------------------------------------------------------- */

static void drop(struct integ_disc *x, struct server *srv, const char *id)
{
	uint64_t now = srv->loop.now_ms;

	srv->stats.integration_errors++;
	if (!x) {
		log_warn_f(LOG_FIELDS(LF_STR("conn", id)),
			   "disconnect event dropped: out of memory");
		return;
	}
	x->dropped++;
	/* One line a second at most: a flood of closes must not flood the log. */
	if (x->last_drop_log_ms && now - x->last_drop_log_ms < DROP_LOG_INTERVAL_MS)
		return;
	log_warn_f(LOG_FIELDS(LF_STR("conn", id)),
		   "disconnect event dropped: %u held already (--max-pending-disconnects); "
		   "%" PRIu64 " dropped so far",
		   x->pending, x->dropped);
	x->last_drop_log_ms = now ? now : 1;
}

void integ_disc_send(struct server *srv, const struct integ_disc_event *ev)
{
	struct integ_disc *x = ctx_of(srv);
	struct disc *d = NULL;
	size_t rlen = ev->reason_len < WS_MAX_CONTROL_PAYLOAD ? ev->reason_len
							       : WS_MAX_CONTROL_PAYLOAD;

	if (x && srv->stopping) {
		x->abandoned_unsent++;
	} else if (!x || x->pending >= srv->cfg->max_pending_disconnects ||
		   !(d = malloc(sizeof *d))) {
		drop(x, srv, ev->id);
	} else {
		*d = (struct disc){.ctx = x,
				   .in = ev->in,
				   .spec = spec_hold(ev->spec),
				   .url = ev->url,
				   .headers = ev->headers,
				   .body = ev->body,
				   .body_len = ev->body_len,
				   .lines = ev->lines,
				   .num_lines = ev->num_lines,
				   .no_event_headers = ev->no_event_headers,
				   .connected_at_ms = ev->connected_at_ms,
				   .give_up_ms = srv->loop.now_ms + srv->cfg->disconnect_retry_ms,
				   .close_code = ev->close_code,
				   .reason_len = (uint8_t)rlen};
		snprintf(d->id, sizeof d->id, "%s", ev->id);
		memcpy(d->reason, ev->reason, rlen);
		x->pending++;
		attempt(d);
		return;
	}
	free(ev->url);
	free(ev->headers.p);
	free(ev->body);
	free(ev->lines);
}

unsigned integ_disc_pending(const struct server *srv)
{
	return srv->disc ? srv->disc->pending : 0;
}

void integ_disc_totals(const struct server *srv, struct integ_disc_totals *out)
{
	const struct integ_disc *x = srv->disc;

	*out = (struct integ_disc_totals){0};
	if (x)
		*out = (struct integ_disc_totals){x->pending, x->delivered, x->refused,
						  x->given_up,  x->dropped,   x->retries};
}

void integ_disc_fini(struct server *srv)
{
	struct integ_disc *x = srv->disc;

	if (srv->stats.msgs_abandoned)
		log_warn("at exit: %" PRIu64 " client message(s) not delivered to the backend "
			 "(their calls cut off or never made)",
			 srv->stats.msgs_abandoned);
	if (!x)
		return;
	while (x->n) {
		x->abandoned_waiting++;
		done(heap_pop(x));
	}
	loop_timer_disarm(&srv->loop, &x->timer);
	log_info("disconnect events: %" PRIu64 " delivered, %" PRIu64 " retries, %" PRIu64
		 " refused (4xx), %" PRIu64 " given up, %" PRIu64
		 " dropped (--max-pending-disconnects), abandoned at exit: %" PRIu64
		 " in a call or waiting for a backend connection, %" PRIu64
		 " waiting to retry, %" PRIu64 " never started",
		 x->delivered, x->retries, x->refused, x->given_up, x->dropped, x->abandoned_calls,
		 x->abandoned_waiting, x->abandoned_unsent);
	free(x->heap);
	free(x);
	srv->disc = NULL;
}
