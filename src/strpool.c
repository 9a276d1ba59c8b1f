/* strpool.c — string interning: a conntab keyed by the string itself,
 * each entry one allocation (node, count, bytes).
 */
#include "strpool.h"

#include <stdlib.h>
#include <string.h>

struct pooled {
	struct conntab_node node;
	uint32_t refs;
	uint32_t len;
	char s[];
};

static struct pooled *pooled_of(const char *s)
{
	return (struct pooled *)(s - offsetof(struct pooled, s));
}

static struct conntab_key key_of(const struct conntab_node *n)
{
	const struct pooled *e = (const struct pooled *)n;

	return (struct conntab_key){e->s, e->len};
}

int strpool_init(struct strpool *p, uint64_t seed)
{
	return conntab_init(&p->table, 64, seed, key_of);
}

void strpool_fini(struct strpool *p)
{
	conntab_fini(&p->table);
}

const char *strpool_get(struct strpool *p, const char *s, size_t len)
{
	struct conntab_node *n = conntab_find(&p->table, s, len);
	struct pooled *e;

	if (n) {
		e = (struct pooled *)n;
		e->refs++;
		return e->s;
	}
	if (len > UINT32_MAX - 1)
		return NULL;
	e = malloc(sizeof *e + len + 1);
	if (!e)
		return NULL;
	e->refs = 1;
	e->len = (uint32_t)len;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	conntab_insert(&p->table, &e->node);
	return e->s;
}

void strpool_put(struct strpool *p, const char *s)
{
	struct pooled *e;

	if (!s)
		return;
	e = pooled_of(s);
	if (--e->refs == 0) {
		conntab_remove(&p->table, &e->node);
		free(e);
	}
}
