/* rpio.h — rawproxy: what every connection (item) does with its bytes:
 * input and output buffers that grow to the largest size seen and are
 * then reused, one writev() with whatever the kernel refuses queued, one
 * write() of the queue when the socket is writable, the epoll mask, and
 * closing now but freeing after the epoll batch.
 */
#ifndef BENCH_RPIO_H
#define BENCH_RPIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "rpstate.h"

static inline size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static inline uint8_t *buf_data(const struct buf *b)
{
	return b->p + b->off;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* Appends n bytes; grows only past the largest size seen so far, so the
 * steady state allocates nothing. 0, or -1 when out of memory. */
int rpio_append(struct buf *b, const void *p, size_t n);

/* Sets the epoll mask of it to ev (one epoll_ctl, only if it changes). */
void rpio_set_events(struct item *it, uint32_t ev);

/* Closes now (close() also takes the fd out of the epoll set) and frees
 * after the batch (rpio_free_dead): a later event of the same batch may
 * still point here, and sees it->dead. */
void rpio_kill(struct item *it);

/* Frees the items closed since the last call, with their buffers. */
void rpio_free_dead(void);

/* Writes iov[0..n) — or, if output is already queued, queues it behind
 * that, keeping the order — and copies whatever the kernel refuses into
 * the queue. 0, or -1 when the connection failed. */
int rpio_send(struct item *it, const struct iovec *iov, int n);

/* One write of the queue. 0, or -1 when the connection failed. */
int rpio_flush(struct item *it);

#endif
