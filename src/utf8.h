/* utf8.h — incremental UTF-8 validation (RFC 3629), fed in pieces.
 *
 * A message may arrive in any number of fragments and reads; the state
 * carries a partial code point across calls. Rejects overlongs, surrogates
 * (U+D800..U+DFFF) and code points above U+10FFFF on the first bad byte.
 */
#ifndef WSGW_UTF8_H
#define WSGW_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct utf8_state {
	uint32_t state; /* 0 = between code points (UTF8_ACCEPT) */
};

/* Starts a message: between code points. (Inline: once per message.) */
static inline void utf8_init(struct utf8_state *st)
{
	st->state = 0;
}

/* Feeds n bytes. Returns false as soon as the bytes so far cannot be a
 * prefix of valid UTF-8 (the state is then stuck in reject). */
bool utf8_feed(struct utf8_state *st, const uint8_t *p, size_t n);

/* True when the bytes fed so far end on a code point boundary, i.e. the
 * message may end here. (Inline: once per message.) */
static inline bool utf8_is_complete(const struct utf8_state *st)
{
	return st->state == 0;
}

/* Whole-buffer check: utf8_init + utf8_feed + utf8_is_complete. */
bool utf8_is_valid(const uint8_t *p, size_t n);

#endif
