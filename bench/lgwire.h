/* lgwire.h — the bytes a loadgen connection sends and parses: the
 * template of outgoing messages and its writes, masked control frames,
 * the upgrade request, and the incremental parsers of what comes back
 * (RFC 6455 server frames, or raw echoed bytes). Counts bad payloads;
 * every other consequence is the caller's (lgconn.c).
 */
#ifndef BENCH_LGWIRE_H
#define BENCH_LGWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lgstate.h"

/* Builds g->pattern, g->mask and the template g->tmpl: the wire form of
 * one message (a frame masked with a random key whose first byte is never
 * 0, or the bare payload in raw mode) inflight + 1 times, so any
 * k <= inflight messages starting anywhere in a period are one slice.
 * Returns 0, or -1 when out of memory. */
int lgwire_build_template(struct lg *g);

/* Puts EPOLLOUT in c's interest set or takes it out (EPOLLIN stays). */
void lgwire_want_out(struct lg *g, struct lconn *c, bool want);

/* Writes pending template bytes as far as the socket takes them, watching
 * EPOLLOUT while some are left. Returns 0, or -1 if the socket failed. */
int lgwire_flush(struct lg *g, struct lconn *c);

/* Queues k messages sent at now (their times go on c's FIFO) and writes
 * them in one go. Returns 0 or -1 as lgwire_flush. */
int lgwire_send_msgs(struct lg *g, struct lconn *c, unsigned k, uint64_t now);

/* Writes a masked control frame (ping answer, close) straight to the
 * socket; only legal when no message bytes are pending. Returns 0 or -1. */
int lgwire_send_control(struct lconn *c, uint8_t op, const uint8_t *p, size_t n);

/* Sends the RFC 6455 §4.1 upgrade request with a random key and keeps the
 * expected Sec-WebSocket-Accept in c->accept. Returns 0 or -1. */
int lgwire_send_upgrade(struct lg *g, struct lconn *c);

/* Parses server frames, comparing data payloads with g->pattern and
 * answering pings. Returns data messages completed, or -1 on a protocol
 * error (or a pong that could not go). Stops after a close frame
 * (c->close_rcvd). */
long lgwire_ws_feed(struct lg *g, struct lconn *c, const uint8_t *p, size_t n);

/* Raw mode: the echo is byte-identical, so every --size bytes is one
 * message. Returns messages completed. */
long lgwire_raw_feed(struct lg *g, struct lconn *c, const uint8_t *p, size_t n);

#endif
