/* fuzz_utf8.c — libFuzzer target for utf8.c against slow references.
 *
 * ref_valid decodes code points arithmetically (RFC 3629 §3) and checks
 * the value; ref_first_bad finds the first byte after which no completion
 * can be valid, by asking whether the range of code points a partial
 * sequence can still reach meets the valid set. utf8.c must agree with
 * both: whole, at a split point taken from the input, and byte by byte.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "utf8.h"



static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};

/* Sequence length announced by a lead byte, 0 when it cannot lead. */
static size_t seq_len(uint8_t b)
{
	if (b < 0x80)
		return 1;
	if ((b & 0xE0) == 0xC0)
		return 2;
	if ((b & 0xF0) == 0xE0)
		return 3;
	if ((b & 0xF8) == 0xF0)
		return 4;
	return 0;
}

static bool cp_ok(uint32_t cp, size_t len)
{
	return cp >= min_cp[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

static bool ref_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t len = seq_len(p[i]);
		uint32_t cp;

		if (len == 0 || n - i < len)
			return false;
		cp = len == 1 ? p[i] : p[i] & (0xFFu >> (len + 1));
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		if (!cp_ok(cp, len))
			return false;
		i += len;
	}
	return true;
}

/* Can q[0..j), the first j bytes of a len-byte sequence, still complete to
 * a valid code point? The reachable values form [lo, hi]. */
static bool viable(const uint8_t *q, size_t j, size_t len)
{
	uint32_t lo, hi;

	if (len == 1)
		return true;
	lo = hi = q[0] & (0xFFu >> (len + 1));
	for (size_t k = 1; k < len; k++) {
		if (k < j && (q[k] & 0xC0) != 0x80)
			return false;
		lo = lo << 6 | (k < j ? q[k] & 0x3Fu : 0);
		hi = hi << 6 | (k < j ? q[k] & 0x3Fu : 0x3F);
	}
	if (lo < min_cp[len])
		lo = min_cp[len];
	if (hi > 0x10FFFF)
		hi = 0x10FFFF;
	if (lo > hi)
		return false;
	return !(lo >= 0xD800 && hi <= 0xDFFF);
}

/* Index of the first byte that makes the prefix unfixable, or n; sets
 * *complete when the input (if never unfixable) ends between code points. */
static size_t ref_first_bad(const uint8_t *p, size_t n, bool *complete)
{
	size_t i = 0;

	*complete = false;
	while (i < n) {
		size_t len = seq_len(p[i]);

		if (len == 0)
			return i;
		for (size_t j = 1; j <= len && i + j <= n; j++)
			if (!viable(p + i, j, len))
				return i + j - 1;
		if (n - i < len)
			return n; /* a viable but truncated sequence */
		i += len;
	}
	*complete = true;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct utf8_state st;
	bool complete, valid = ref_valid(data, size);
	size_t bad = ref_first_bad(data, size, &complete);
	size_t split = size ? (data[0] * 31u + data[size - 1]) % (size + 1) : 0;

	/* the two references agree with each other */
	CHECK(valid == (bad == size && complete));
	CHECK(utf8_is_valid(data, size) == valid);

	utf8_init(&st);
	CHECK(utf8_feed(&st, data, split) == (bad >= split));
	CHECK(utf8_feed(&st, data + split, size - split) == (bad == size));
	CHECK(utf8_is_complete(&st) == valid);

	utf8_init(&st);
	for (size_t i = 0; i < size; i++)
		CHECK(utf8_feed(&st, data + i, 1) == (i < bad));
	CHECK(utf8_is_complete(&st) == valid);
	return 0;
}
