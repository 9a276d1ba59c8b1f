/* integ_disc.h — delivery of disconnect events to http integrations, with
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

#include <stddef.h>
#include <stdint.h>

#include "integ_http.h"

struct server;
struct integration;

struct integ_disc_event {
	const struct integration *in; /* the route's disconnect (lives as long as srv) */
	char *url;                    /* heap: taken over by integ_disc_send */
	struct integ_head headers;    /* heap: taken over by integ_disc_send */
	const char *id;               /* connection id (copied) */
	int64_t connected_at_ms;
	uint16_t close_code;
	const char *reason;           /* header-safe text (copied), at most 125 bytes */
	size_t reason_len;
};

/* Sends the event: now, and again after failures as described above.
 * Takes ownership of ev->url and ev->headers in every case. Once the loop
 * has stopped (srv->stopping) nothing is sent; the event is counted as
 * abandoned. */
void integ_disc_send(struct server *srv, const struct integ_disc_event *ev);

/* Events held: in a call or waiting for their next attempt. */
unsigned integ_disc_pending(const struct server *srv);

/* At exit, after upstream_free (which ends the calls under way): frees
 * the events still waiting, logs the totals (delivered, retried, refused,
 * given up, dropped, abandoned at exit) and frees srv's state. Also logs
 * srv->stats.msgs_abandoned, the client messages whose calls the exit cut
 * off or never made, so nothing the exit loses goes unmentioned. */
void integ_disc_fini(struct server *srv);

#endif
