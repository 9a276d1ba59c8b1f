/* utf8.c — incremental UTF-8 validation (RFC 3629 §3, §4), used by the
 * WebSocket layer for text messages and close reasons (RFC 6455 §5.6, §8.1).
 *
 * Owns: an explicit state machine that carries a partial code point across
 * calls, and an ASCII fast path that skips 16 bytes per step between code
 * points. Must never allocate, log or look past p[n-1].
 *
 * The states below are derived from the RFC 3629 §4 syntax: after a lead
 * byte, each state names the range the next byte must fall in. Only the
 * first continuation byte ever has a range narrower than 80..BF; that is
 * where overlongs, surrogates and code points above U+10FFFF are cut off.
 */
#include "utf8.h"

#include <string.h>

enum {
	UTF8_ST_ACCEPT = 0, /* between code points (utf8.h's inline helpers test 0) */
	UTF8_ST_TAIL1,      /* 1 more byte, 80..BF */
	UTF8_ST_TAIL2,      /* 2 more bytes, 80..BF */
	UTF8_ST_TAIL3,      /* 3 more bytes, 80..BF */
	UTF8_ST_E0,         /* after E0: A0..BF, then TAIL1 */
	UTF8_ST_ED,         /* after ED: 80..9F, then TAIL1 */
	UTF8_ST_F0,         /* after F0: 90..BF, then TAIL2 */
	UTF8_ST_F4,         /* after F4: 80..8F, then TAIL2 */
	UTF8_ST_REJECT,     /* stuck: the input can no longer be valid */
	UTF8_ST_COUNT
};

/* Allowed range of the next byte and the state after it, per state.
 * Entries for ACCEPT and REJECT are never read. */
static const uint8_t cont_lo[UTF8_ST_COUNT] = {
    [UTF8_ST_TAIL1] = 0x80, [UTF8_ST_TAIL2] = 0x80, [UTF8_ST_TAIL3] = 0x80, [UTF8_ST_E0] = 0xA0,
    [UTF8_ST_ED] = 0x80,    [UTF8_ST_F0] = 0x90,    [UTF8_ST_F4] = 0x80,
};
static const uint8_t cont_hi[UTF8_ST_COUNT] = {
    [UTF8_ST_TAIL1] = 0xBF, [UTF8_ST_TAIL2] = 0xBF, [UTF8_ST_TAIL3] = 0xBF, [UTF8_ST_E0] = 0xBF,
    [UTF8_ST_ED] = 0x9F,    [UTF8_ST_F0] = 0xBF,    [UTF8_ST_F4] = 0x8F,
};
static const uint8_t cont_next[UTF8_ST_COUNT] = {
    [UTF8_ST_TAIL1] = UTF8_ST_ACCEPT, [UTF8_ST_TAIL2] = UTF8_ST_TAIL1,
    [UTF8_ST_TAIL3] = UTF8_ST_TAIL2,  [UTF8_ST_E0] = UTF8_ST_TAIL1,
    [UTF8_ST_ED] = UTF8_ST_TAIL1,     [UTF8_ST_F0] = UTF8_ST_TAIL2,
    [UTF8_ST_F4] = UTF8_ST_TAIL2,
};

/* State after a non-ASCII byte seen between code points. */
static uint32_t lead(uint8_t b)
{
	/* RFC 3629 §4: C0, C1 only start overlong 2-byte forms; 80..BF are
	 * continuation bytes; F5..FF would encode beyond U+10FFFF. */
	if (b < 0xC2)
		return UTF8_ST_REJECT;
	if (b < 0xE0)
		return UTF8_ST_TAIL1;
	if (b == 0xE0)
		return UTF8_ST_E0; /* E0 80..9F would be overlong */
	if (b == 0xED)
		return UTF8_ST_ED; /* ED A0..BF would be U+D800..U+DFFF */
	if (b < 0xF0)
		return UTF8_ST_TAIL2;
	if (b == 0xF0)
		return UTF8_ST_F0; /* F0 80..8F would be overlong */
	if (b < 0xF4)
		return UTF8_ST_TAIL3;
	if (b == 0xF4)
		return UTF8_ST_F4; /* F4 90..BF would be above U+10FFFF */
	return UTF8_ST_REJECT;
}

#define HIGH64 UINT64_C(0x8080808080808080)
#define HIGH32 UINT32_C(0x80808080)

/* Index of the first non-ASCII byte in p[i..n), or n. Whole runs are
 * tested 16 bytes per step; the last 4..15 bytes of a run by two words
 * that may overlap (so no byte loop for them). A high bit anywhere sends
 * the byte loop to find exactly where. Loads use memcpy: any alignment. */
static size_t skip_ascii(const uint8_t *p, size_t i, size_t n)
{
	uint64_t a, b;
	uint32_t x, y;

	if (i < n && p[i] >= 0x80)
		return i; /* non-ASCII text: lead bytes come one after another */
	while (n - i >= 16) {
		memcpy(&a, p + i, sizeof(a));
		memcpy(&b, p + i + 8, sizeof(b));
		if ((a | b) & HIGH64)
			goto bytes;
		i += 16;
	}
	if (n - i >= 8) {
		memcpy(&a, p + i, sizeof(a));
		memcpy(&b, p + n - 8, sizeof(b));
		if (!((a | b) & HIGH64))
			return n;
	} else if (n - i >= 4) {
		memcpy(&x, p + i, sizeof(x));
		memcpy(&y, p + n - 4, sizeof(y));
		if (!((x | y) & HIGH32))
			return n;
	}
bytes:
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

bool utf8_feed(struct utf8_state *st, const uint8_t *p, size_t n)
{
	uint32_t s = st->state;
	size_t i = 0;

	if (s == UTF8_ST_REJECT)
		return false;
	while (i < n) {
		if (s == UTF8_ST_ACCEPT) {
			i = skip_ascii(p, i, n);
			if (i == n)
				break;
			s = lead(p[i++]);
			if (s == UTF8_ST_REJECT)
				goto fail;
			continue;
		}
		if (p[i] < cont_lo[s] || p[i] > cont_hi[s])
			goto fail;
		s = cont_next[s];
		i++;
	}
	st->state = s;
	return true;
fail:
	st->state = UTF8_ST_REJECT;
	return false;
}

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	struct utf8_state st;

	utf8_init(&st);
	return utf8_feed(&st, p, n) && utf8_is_complete(&st);
}
