/* rpws.h — rawproxy's WebSocket side: its clients' upgrade, their frames
 * turned into calls (rphttp.c), the replies sent back as text frames, and
 * closing a client.
 */
#ifndef BENCH_RPWS_H
#define BENCH_RPWS_H

#include <stddef.h>
#include <stdint.h>

#include "rpstate.h"

/* Handles epoll events on c: flushes queued output, reads (one read()),
 * answers the upgrade, and sends each complete message to a backend
 * connection (or queues c in the FIFO when none is free). A client that
 * fails or hangs up is closed. */
void rpws_on_event(struct client *c, uint32_t ev);

/* Sends body[0..len) to c as one unmasked text frame (one writev, the body
 * from where it is): c's call is over. Closes c if the write fails. */
void rpws_reply(struct client *c, const uint8_t *body, size_t len);

/* Sends c's buffered messages while it has no call out (after a reply, or
 * when it leaves the FIFO). 0, or -1 when c must close. */
int rpws_advance_buffered(struct client *c);

/* Sets c's epoll mask from its state: queued output waits for EPOLLOUT
 * and stops reading; so does a full input buffer while a call is out. */
void rpws_events(struct client *c);

/* Closes c (unless closed already): out of the FIFO; a call in flight
 * stays on its connection and its reply is dropped. */
void rpws_close(struct client *c);

#endif
