/* strpool.h — interned, reference-counted strings, so thousands of
 * connections from the same kind of client share one copy of their
 * User-Agent. Built on conntab; pure (no I/O).
 */
#ifndef WSGW_STRPOOL_H
#define WSGW_STRPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "conntab.h"

struct strpool {
	struct conntab table;
};

int strpool_init(struct strpool *p, uint64_t seed);

/* Frees the table; every string must have been put back. */
void strpool_fini(struct strpool *p);

/* Returns the shared NUL-terminated copy of s[0..len) with one more
 * reference, or NULL when out of memory. */
const char *strpool_get(struct strpool *p, const char *s, size_t len);

/* Drops one reference to a string from strpool_get (NULL is ignored). */
void strpool_put(struct strpool *p, const char *s);

#endif
