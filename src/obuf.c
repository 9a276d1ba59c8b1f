/* obuf.c — output byte queue: one allocation, data compacted to the front
 * before it grows, freed as soon as it is empty.
 */
#include "obuf.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

#define OBUF_MIN 4096

struct obuf {
	size_t off, len, cap;
	uint8_t data[];
};

int obuf_append(struct obuf **ob, const void *p, size_t n)
{
	struct obuf *b = *ob;

	if (n == 0)
		return 0;
	if (b && b->off && b->len + n > b->cap) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (!b || b->len + n > b->cap) {
		size_t cap = b ? b->cap : OBUF_MIN, used = b ? b->len : 0;
		struct obuf *nb;

		while (cap < used + n)
			cap *= 2;
		nb = realloc(b, sizeof *nb + cap);
		if (!nb)
			return ERR_NOMEM;
		if (!b)
			nb->off = nb->len = 0;
		nb->cap = cap;
		*ob = b = nb;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

size_t obuf_pending(const struct obuf *b)
{
	return b ? b->len - b->off : 0;
}

const uint8_t *obuf_data(const struct obuf *b)
{
	return b ? b->data + b->off : NULL;
}

void obuf_consume(struct obuf **ob, size_t n)
{
	struct obuf *b = *ob;

	if (!b)
		return;
	b->off += n < b->len - b->off ? n : b->len - b->off;
	if (b->off == b->len)
		obuf_free(ob);
}

void obuf_free(struct obuf **ob)
{
	free(*ob);
	*ob = NULL;
}

struct obuf_shared *obuf_shared_new(size_t len)
{
	struct obuf_shared *f = malloc(sizeof *f + (len ? len : 1));

	if (f) {
		f->refs = 1;
		f->len = len;
	}
	return f;
}

void obuf_shared_put(struct obuf_shared *f)
{
	if (f && --f->refs == 0)
		free(f);
}
