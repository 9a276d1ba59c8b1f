/* rphttp.h — rawproxy's HTTP/1.1 side: the pool of keep-alive backend
 * connections (at most --backend-connections, opened on demand, one
 * request in flight on each), the FIFO of clients whose next message
 * waits for one, the POST of a message and the response sent back to its
 * client; and the header lookup the upgrade request (rpws.c) uses too.
 */
#ifndef BENCH_RPHTTP_H
#define BENCH_RPHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "rpstate.h"

/* A free connection, opened if there is none and the pool has room; NULL
 * if the message must wait (rphttp_wait). */
struct backend *rphttp_get(void);

/* Sends body[0..len) as the request on b for c: a fixed head (built once)
 * but for the length, then the body where it is — one writev, no copy.
 * 0, or -1 when b failed (and with it c, closed). */
int rphttp_call(struct backend *b, struct client *c, const uint8_t *body, size_t len);

/* c's next message waits for a connection: c joins the FIFO's tail. */
void rphttp_wait(struct client *c);

/* Takes c out of the FIFO (it is closing). */
void rphttp_unwait(struct client *c);

/* Serves waiting clients in order while connections are free (or can be
 * opened): each client's buffered messages go out until it has a call in
 * flight or must wait again. */
void rphttp_serve_fifo(void);

/* Handles epoll events on b: flushes queued output, reads (one read()) the
 * response and, once complete, sends its body to the client, returns b to
 * the pool and sends the client's next message. A connection that fails
 * closes, and with it the client whose call it carried. */
void rphttp_on_event(struct backend *b, uint32_t ev);

/* The value of header NAME (case-insensitive) in the head lines h[0..n),
 * which start after the first line, with its length in *vlen (blanks and
 * CR trimmed); NULL if absent. A view into h. */
const char *rphttp_header(const char *h, size_t n, const char *name, size_t *vlen);

#endif
