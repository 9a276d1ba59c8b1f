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

/* A frame shared by many queues (a broadcast encodes one): reference
 * counted, freed with its last reference. */
struct obuf_shared {
	uint32_t refs;
	size_t len;
	uint8_t data[];
};

/* A frame of len bytes (to be filled), one reference; NULL when out of
 * memory. */
struct obuf_shared *obuf_shared_new(size_t len);

static inline struct obuf_shared *obuf_shared_get(struct obuf_shared *f)
{
	f->refs++;
	return f;
}

/* Drops one reference (NULL is ignored). */
void obuf_shared_put(struct obuf_shared *f);

#endif
