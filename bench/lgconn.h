/* lgconn.h — one loadgen connection's lifecycle: connect from the next
 * source address, upgrade (ws) or not (raw), keep messages in flight
 * (echo) or close again (handshake), count what goes wrong, drop it.
 */
#ifndef BENCH_LGCONN_H
#define BENCH_LGCONN_H

#include <stdint.h>

#include "lgstate.h"

/* Starts a non-blocking connect on slot c from the next source address
 * and watches it in g->ep (data.ptr = c). Returns 0, or -1 when there is
 * no socket (out of ports or descriptors): c stays free. */
int lgconn_start(struct lg *g, struct lconn *c, uint64_t now);

/* Handles epoll events ev on c at now (nothing if c was dropped earlier in
 * the same batch): finishes the connect, writes pending messages, reads
 * (into g->rbuf) the 101 response or echoes, and sends more as echoes
 * return. A connection that fails or ends is counted and dropped: its
 * slot is free again (and queued in g->free_slots for the handshake
 * loop). */
void lgconn_on_event(struct lg *g, struct lconn *c, uint32_t ev, uint64_t now);

#endif
