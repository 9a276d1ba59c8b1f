/* integ_disc.h — delivery of disconnect events to http, function and
 * container integrations, with
 * retries: a call that fails (no answer, a transport error, a 5xx status)
 * is tried again with exponential backoff and jitter for up to
 * --disconnect-retry after the first attempt; a 4xx answer means the
 * backend refused the event and is not retried. At most
 * --max-pending-disconnects events are held at once (in a call or waiting
 * to retry); beyond that a new event is dropped, counted and logged.
 * While attempts keep failing, retries are held to a few a second.
 * The drain waits for held events (integ_disc_pending).
 */
#ifndef WSGW_INTEG_DISC_H
#define WSGW_INTEG_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "integ_http.h"

struct server;
struct integration;
struct spec;

struct integ_disc_event {
	const struct integration *in; /* the route's disconnect, in spec */
	struct spec *spec;            /* the spec in is in (integ_disc_send takes a reference) */
	char *url;                    /* heap: taken over by integ_disc_send */
	struct integ_head headers;    /* heap: taken over by integ_disc_send */
	const char *id;               /* connection id (copied) */
	int64_t connected_at_ms;
	uint16_t close_code;
	const char *reason;           /* header-safe text (copied), at most 125 bytes */
	size_t reason_len;
	/* function and container integrations (integ_fn.c): */
	uint8_t *body;                /* heap or NULL: taken over (a function's event JSON) */
	size_t body_len;
	char *lines;                  /* heap or NULL: header lines, each NUL-terminated, taken over */
	size_t num_lines;
	bool no_event_headers;        /* a function: the event travels in the body */
};

/* Sends the event: now, and again after failures as described above.
 * Takes ownership of ev->url, ev->headers, ev->body and ev->lines in every
 * case. Once the loop
 * has stopped (srv->stopping) nothing is sent; the event is counted as
 * abandoned. */
void integ_disc_send(struct server *srv, const struct integ_disc_event *ev);

/* Events held: in a call or waiting for their next attempt. */
unsigned integ_disc_pending(const struct server *srv);

/* Totals since start, for the metrics: events held now, and those
 * delivered, refused (4xx), given up, dropped; retries started. */
struct integ_disc_totals {
	uint64_t pending, delivered, refused, given_up, dropped, retries;
};
void integ_disc_totals(const struct server *srv, struct integ_disc_totals *out);

/* At exit, after upstream_free (which ends the calls under way): frees
 * the events still waiting, logs the totals (delivered, retried, refused,
 * given up, dropped, abandoned at exit) and frees srv's state. Also logs
 * srv->stats.msgs_abandoned, the client messages whose calls the exit cut
 * off or never made, so nothing the exit loses goes unmentioned. */
void integ_disc_fini(struct server *srv);

#endif
