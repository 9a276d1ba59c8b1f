/* rpio.c — rawproxy's buffers and writes, shared by its clients (rpws.c)
 * and backend connections (rphttp.c). Knows no protocol. Allocates only
 * when a buffer must grow past what it held before, never per message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rpio.h"

int rpio_append(struct buf *b, const void *p, size_t n)
{
	if (b->off && b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		uint8_t *q;

		while (cap < b->len + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void rpio_set_events(struct item *it, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = it};

	if (ev != it->events && epoll_ctl(rp.ep, EPOLL_CTL_MOD, it->fd, &e) == 0)
		it->events = ev;
}

void rpio_kill(struct item *it)
{
	close(it->fd);
	it->dead = true;
	it->next_dead = rp.dead;
	rp.dead = it;
}

void rpio_free_dead(void)
{
	while (rp.dead) {
		struct item *it = rp.dead;

		rp.dead = it->next_dead;
		free(it->in.p);
		free(it->out.p);
		free(it);
	}
}

int rpio_send(struct item *it, const struct iovec *iov, int n)
{
	size_t done = 0;

	if (!buf_used(&it->out)) {
		ssize_t w = writev(it->fd, iov, n);

		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		done = w < 0 ? 0 : (size_t)w;
	}
	for (int i = 0; i < n; i++) {
		size_t skip = done < iov[i].iov_len ? done : iov[i].iov_len;

		done -= skip;
		if (skip < iov[i].iov_len &&
		    rpio_append(&it->out, (const uint8_t *)iov[i].iov_base + skip,
		                iov[i].iov_len - skip) < 0)
			return -1;
	}
	return 0;
}

int rpio_flush(struct item *it)
{
	ssize_t w;

	if (!buf_used(&it->out))
		return 0;
	w = write(it->fd, buf_data(&it->out), buf_used(&it->out));
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	buf_consume(&it->out, (size_t)w);
	return 0;
}
