/* bcecho.h — bcastload's echo probe: a few extra WebSocket connections
 * (wsc.c) that each keep one small text message in flight to the server's
 * echo, so the round trip of other traffic is measured while a broadcast
 * is under way (issue 9: the loop must not be held for the whole
 * fan-out) and between broadcasts, for comparison.
 *
 * A probe sends a message when the echo of the last one is back and the
 * interval since that one was sent has passed: a client talking at a
 * steady pace, not a flood that would keep the server busy between
 * broadcasts. Each message is "echo-<16 hex digits of CLOCK_MONOTONIC ns>-xxx…",
 * masked, --size bytes; its echo gives the round trip. The probe's
 * connections get the broadcast too: a message equal to the broadcast
 * payload under way is counted in bcast_got, not as an echo.
 */
#ifndef BENCH_BCECHO_H
#define BENCH_BCECHO_H

#include <stdbool.h>
#include <stdint.h>

#include "benchlib.h"
#include "wsc.h"

#define BCECHO_SIZE 32

struct bcecho {
	struct wsc_pool pool; /* the owner sets ep, dst, host, path, src_addrs, rbuf */
	unsigned next;        /* connections started */
	unsigned conns;
	/* set by the owner while a broadcast is under way, else NULL */
	const uint8_t *bcast;
	unsigned bcast_len;
	uint64_t bcast_got;          /* broadcast messages received (owner resets) */
	uint64_t bcast_last;         /* when the latest of them was read */
	uint64_t bad_payload;        /* neither an echo of ours nor the broadcast */
	uint64_t write_err;          /* a message that could not be written whole */
	struct hist during, between; /* round trips received during / between broadcasts */
	unsigned due;                /* messages to send on the connection being handled */
	uint64_t due_now;
	uint64_t interval_ns; /* a probe sends at most one message per interval */
	uint64_t *next_at;    /* per connection: when its next message is due, 0: none */
};

/* Prepares conns connections (calloc'ed slots, kind set on each), each
 * sending one message per interval_us at most (its echo must be back
 * first); the owner has filled e->pool's ep, dst, host, path, src_addrs,
 * rbuf and rbuf_size. Returns 0, or -1 without memory. */
int bcecho_init(struct bcecho *e, unsigned conns, int kind, unsigned interval_us);

/* Sends the messages due by now; the owner calls it after every
 * epoll_wait, which it makes wait 1 ms at most while there are probes. */
void bcecho_tick(struct bcecho *e, uint64_t now);

/* Starts connects while fewer than max_pending are in progress. */
void bcecho_start(struct bcecho *e, unsigned max_pending);

/* Hands c's events to wsc.c, then sends the message an echo released. */
void bcecho_on_event(struct bcecho *e, struct wsc *c, uint32_t events);

#endif
