/* obuf.h — a growable output byte queue that exists only while it holds
 * bytes: a NULL pointer is the empty queue, so idle connections hold no
 * buffer. Pure: no I/O.
 */
#ifndef WSGW_OBUF_H
#define WSGW_OBUF_H

#include <stddef.h>
#include <stdint.h>

struct obuf;

/* Appends p[0..n) to *ob, allocating or growing it. Returns 0 or ERR_NOMEM
 * (the queue is unchanged). */
int obuf_append(struct obuf **ob, const void *p, size_t n);

/* Bytes queued (0 for NULL). */
size_t obuf_pending(const struct obuf *b);

/* The first queued byte; valid until the next append or consume. */
const uint8_t *obuf_data(const struct obuf *b);

/* Drops the first n queued bytes; frees the queue (*ob = NULL) once empty. */
void obuf_consume(struct obuf **ob, size_t n);

void obuf_free(struct obuf **ob);

#endif
