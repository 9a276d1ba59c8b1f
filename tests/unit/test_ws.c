/* test_ws.c — unit tests for ws.c (RFC 6455 §5, §7.4).
 *
 * Every header is parsed whole, then at every prefix (each must return
 * ERR_AGAIN until the bytes seen prove the final error, then that exact
 * error), then with payload bytes after it (which must not matter).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "utf8.h"
#include "ws.h"

#define NO_LIMIT UINT64_MAX
#define FIN 0x80
#define MASK_BIT 0x80

static const uint8_t test_mask[4] = {0x37, 0xFA, 0x21, 0x3D};

/* Builds a client frame header: b0, then the length in `ext` extra bytes
 * (0: 7-bit, 2: 126 + 16-bit, 8: 127 + 64-bit; non-minimal on purpose when
 * asked), then test_mask when masked. Returns the header length. */
static size_t mk(uint8_t *out, uint8_t b0, bool masked, size_t ext, uint64_t len)
{
	size_t n = 2;

	out[0] = b0;
	out[1] = masked ? MASK_BIT : 0;
	if (ext == 0) {
		assert_true(len <= 127);
		out[1] |= (uint8_t)len;
	} else {
		out[1] |= ext == 2 ? 126 : 127;
		for (size_t i = 0; i < ext; i++)
			out[n++] = (uint8_t)(len >> (8 * (ext - 1 - i)));
	}
	if (masked) {
		memcpy(out + n, test_mask, 4);
		n += 4;
	}
	return n;
}

/* A header that must parse: every proper prefix is ERR_AGAIN, the whole
 * header (with or without payload bytes after it) gives these fields. */
static void expect_ok(const uint8_t *h, size_t n, uint64_t max, bool fin, uint8_t op, uint64_t plen)
{
	uint8_t buf[WS_MAX_HEADER + 8];
	struct ws_frame f;
	uint16_t cc = 0xBEEF;

	for (size_t k = 0; k < n; k++)
		assert_int_equal(ws_parse_header(h, k, max, &f, &cc), ERR_AGAIN);
	memcpy(buf, h, n);
	memset(buf + n, 0xA5, 8);
	for (size_t extra = 0; extra <= 8; extra++) {
		memset(&f, 0xCC, sizeof(f));
		assert_int_equal(ws_parse_header(buf, n + extra, max, &f, &cc), (int)n);
		assert_int_equal(f.fin, fin);
		assert_int_equal(f.opcode, op);
		assert_true(f.masked);
		assert_memory_equal(f.mask, test_mask, 4);
		assert_true(f.payload_len == plen);
		assert_int_equal(f.header_len, n);
	}
	assert_int_equal(cc, 0xBEEF); /* untouched on success */
}

/* A header that must fail with rc/close_code: prefixes shorter than
 * fail_at bytes are ERR_AGAIN, longer ones already fail. */
static void expect_fail(const uint8_t *h, size_t n, uint64_t max, size_t fail_at, int rc,
                        uint16_t close_code)
{
	struct ws_frame f;
	uint16_t cc;

	assert_true(fail_at >= 1 && fail_at <= n);
	for (size_t k = 0; k <= n; k++) {
		cc = 0;
		if (k < fail_at) {
			assert_int_equal(ws_parse_header(h, k, max, &f, &cc), ERR_AGAIN);
			assert_int_equal(cc, 0);
		} else {
			assert_int_equal(ws_parse_header(h, k, max, &f, &cc), rc);
			assert_int_equal(cc, close_code);
		}
	}
}

static void test_length_encodings(void **state)
{
	static const struct {
		size_t ext;
		uint64_t len;
	} c[] = {
	    {0, 0},
	    {0, 1},
	    {0, 125},
	    {2, 126},
	    {2, 127},
	    {2, 65535},
	    {8, 65536},
	    {8, UINT64_C(0xFFFFFFFF)},
	    {8, UINT64_C(0x100000001)},
	    {8, UINT64_C(0x7FFFFFFFFFFFFFFF)},
	    /* RFC 6455 §5.2 requires minimal encoding of senders only;
	     * a receiver accepts longer forms */
	    {2, 0},
	    {2, 5},
	    {2, 125},
	    {8, 0},
	    {8, 100},
	    {8, 65535},
	};
	uint8_t h[WS_MAX_HEADER];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t n = mk(h, FIN | WS_OP_BINARY, true, c[i].ext, c[i].len);

		assert_int_equal(n, 2 + c[i].ext + 4);
		expect_ok(h, n, NO_LIMIT, true, WS_OP_BINARY, c[i].len);
		expect_ok(h, n, c[i].len, true, WS_OP_BINARY, c[i].len); /* limit is inclusive */
	}
}

static void test_length_msb_set(void **state)
{
	uint8_t h[WS_MAX_HEADER];
	size_t n = mk(h, FIN | WS_OP_BINARY, true, 8, UINT64_C(0x8000000000000000));

	(void)state;
	/* RFC 6455 §5.2: the MSB of a 64-bit length is 0; visible at byte 3 */
	expect_fail(h, n, NO_LIMIT, 3, ERR_PROTO, WS_CLOSE_PROTOCOL);
	n = mk(h, FIN | WS_OP_BINARY, true, 8, UINT64_MAX);
	expect_fail(h, n, NO_LIMIT, 3, ERR_PROTO, WS_CLOSE_PROTOCOL);
	/* 1002 for the MSB wins over 1009 for the size */
	expect_fail(h, n, 10, 3, ERR_PROTO, WS_CLOSE_PROTOCOL);
}

static void test_opcodes(void **state)
{
	uint8_t h[WS_MAX_HEADER];

	(void)state;
	for (unsigned op = 0; op < 16; op++) {
		bool reserved = (op >= 3 && op <= 7) || op >= 0xB;
		size_t n = mk(h, (uint8_t)(FIN | op), true, 0, 3);

		if (reserved) {
			/* RFC 6455 §5.2: fails on byte 0 alone */
			expect_fail(h, n, NO_LIMIT, 1, ERR_PROTO, WS_CLOSE_PROTOCOL);
			n = mk(h, (uint8_t)op, false, 2, 1000); /* and whatever follows */
			expect_fail(h, n, NO_LIMIT, 1, ERR_PROTO, WS_CLOSE_PROTOCOL);
		} else {
			expect_ok(h, n, NO_LIMIT, true, (uint8_t)op, 3);
		}
	}
}

static void test_fin_and_fragments(void **state)
{
	static const uint8_t data_ops[] = {WS_OP_CONT, WS_OP_TEXT, WS_OP_BINARY};
	uint8_t h[WS_MAX_HEADER];

	(void)state;
	for (size_t i = 0; i < sizeof(data_ops); i++) {
		size_t n = mk(h, data_ops[i], true, 2, 300);

		expect_ok(h, n, NO_LIMIT, false, data_ops[i], 300);
		n = mk(h, FIN | data_ops[i], true, 2, 300);
		expect_ok(h, n, NO_LIMIT, true, data_ops[i], 300);
	}
}

static void test_rsv_bits(void **state)
{
	static const uint8_t rsv[] = {0x40, 0x20, 0x10, 0x70, 0x60};
	uint8_t h[WS_MAX_HEADER];

	(void)state;
	for (size_t i = 0; i < sizeof(rsv); i++) {
		size_t n = mk(h, FIN | rsv[i] | WS_OP_TEXT, true, 0, 5);

		/* RFC 6455 §5.2: no extension negotiated, so fail on byte 0 */
		expect_fail(h, n, NO_LIMIT, 1, ERR_PROTO, WS_CLOSE_PROTOCOL);
		n = mk(h, rsv[i] | WS_OP_PING, false, 8, UINT64_MAX); /* everything wrong */
		expect_fail(h, n, 0, 1, ERR_PROTO, WS_CLOSE_PROTOCOL);
	}
}

static void test_unmasked(void **state)
{
	uint8_t h[WS_MAX_HEADER];
	size_t n;

	(void)state;
	/* RFC 6455 §5.1: client frames must be masked; visible at byte 1 */
	n = mk(h, FIN | WS_OP_TEXT, false, 0, 5);
	expect_fail(h, n, NO_LIMIT, 2, ERR_PROTO, WS_CLOSE_PROTOCOL);
	n = mk(h, FIN | WS_OP_BINARY, false, 8, 1 << 20);
	expect_fail(h, n, 16, 2, ERR_PROTO, WS_CLOSE_PROTOCOL); /* 1002 before 1009 */
	n = mk(h, FIN | WS_OP_CLOSE, false, 0, 0);
	expect_fail(h, n, NO_LIMIT, 2, ERR_PROTO, WS_CLOSE_PROTOCOL);
}

static void test_control_frames(void **state)
{
	static const uint8_t ctl[] = {WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
	uint8_t h[WS_MAX_HEADER];

	(void)state;
	for (size_t i = 0; i < sizeof(ctl); i++) {
		uint8_t op = ctl[i];
		size_t n;

		n = mk(h, FIN | op, true, 0, 0);
		expect_ok(h, n, NO_LIMIT, true, op, 0);
		n = mk(h, FIN | op, true, 0, 125);
		expect_ok(h, n, NO_LIMIT, true, op, 125);
		/* RFC 6455 §5.5: not fragmented, at most 125 bytes */
		n = mk(h, op, true, 0, 5);
		expect_fail(h, n, NO_LIMIT, 1, ERR_PROTO, WS_CLOSE_PROTOCOL);
		n = mk(h, FIN | op, true, 0, 126); /* 16-bit form marker */
		expect_fail(h, n, NO_LIMIT, 2, ERR_PROTO, WS_CLOSE_PROTOCOL);
		n = mk(h, FIN | op, true, 0, 127); /* 64-bit form marker */
		expect_fail(h, n, NO_LIMIT, 2, ERR_PROTO, WS_CLOSE_PROTOCOL);
		n = mk(h, FIN | op, true, 2, 5); /* even when the value is small */
		expect_fail(h, n, NO_LIMIT, 2, ERR_PROTO, WS_CLOSE_PROTOCOL);
		n = mk(h, FIN | op, true, 8, 126);
		expect_fail(h, n, 10, 2, ERR_PROTO, WS_CLOSE_PROTOCOL); /* 1002 before 1009 */
		/* within 125 but over the configured limit */
		n = mk(h, FIN | op, true, 0, 100);
		expect_fail(h, n, 99, 2, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	}
}

static void test_max_payload(void **state)
{
	uint8_t h[WS_MAX_HEADER];
	size_t n;

	(void)state;
	n = mk(h, FIN | WS_OP_TEXT, true, 0, 0);
	expect_ok(h, n, 0, true, WS_OP_TEXT, 0);
	n = mk(h, FIN | WS_OP_TEXT, true, 0, 1);
	expect_fail(h, n, 0, 2, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	n = mk(h, FIN | WS_OP_TEXT, true, 0, 125);
	expect_fail(h, n, 124, 2, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	/* 16-bit: 0x007E can only be known over 125 once both bytes are in */
	n = mk(h, FIN | WS_OP_TEXT, true, 2, 126);
	expect_fail(h, n, 125, 4, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	/* 0x0100 > 255 is certain from the high byte alone */
	n = mk(h, FIN | WS_OP_BINARY, true, 2, 256);
	expect_fail(h, n, 255, 3, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	n = mk(h, FIN | WS_OP_BINARY, true, 2, 65535);
	expect_fail(h, n, 65534, 4, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	/* 64-bit: fails on the first length byte that proves the excess */
	n = mk(h, FIN | WS_OP_BINARY, true, 8, 65536);
	expect_fail(h, n, 65535, 8, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	n = mk(h, FIN | WS_OP_BINARY, true, 8, 65537);
	expect_fail(h, n, 65536, 10, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	n = mk(h, FIN | WS_OP_BINARY, true, 8, UINT64_C(0x100000000));
	expect_fail(h, n, UINT64_C(0xFFFFFFFF), 6, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	n = mk(h, FIN | WS_OP_BINARY, true, 8, UINT64_C(0x7FFFFFFFFFFFFFFF));
	expect_fail(h, n, 1 << 20, 3, ERR_LIMIT, WS_CLOSE_TOO_BIG);
	n = mk(h, FIN | WS_OP_BINARY, true, 8, 1 << 20);
	expect_ok(h, n, 1 << 20, true, WS_OP_BINARY, 1 << 20);
	/* a non-minimal form is judged by its value */
	n = mk(h, FIN | WS_OP_BINARY, true, 8, 10);
	expect_ok(h, n, 10, true, WS_OP_BINARY, 10);
	expect_fail(h, n, 9, 10, ERR_LIMIT, WS_CLOSE_TOO_BIG);
}

static void expect_encoded(bool fin, uint8_t op, uint64_t len, const uint8_t *want, size_t want_n)
{
	uint8_t out[WS_MAX_HEADER];

	memset(out, 0xEE, sizeof(out));
	assert_int_equal(ws_encode_header(out, fin, op, len), want_n);
	assert_memory_equal(out, want, want_n);
}

static void test_encode_bytes(void **state)
{
	(void)state;
	expect_encoded(true, WS_OP_TEXT, 0, (const uint8_t *)"\x81\x00", 2);
	expect_encoded(false, WS_OP_BINARY, 125, (const uint8_t *)"\x02\x7D", 2);
	expect_encoded(true, WS_OP_CLOSE, 2, (const uint8_t *)"\x88\x02", 2);
	expect_encoded(true, WS_OP_TEXT, 126, (const uint8_t *)"\x81\x7E\x00\x7E", 4);
	expect_encoded(false, WS_OP_CONT, 65535, (const uint8_t *)"\x00\x7E\xFF\xFF", 4);
	expect_encoded(true, WS_OP_BINARY, 65536,
	               (const uint8_t *)"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	expect_encoded(true, WS_OP_BINARY, UINT64_C(0x0123456789ABCDEF),
	               (const uint8_t *)"\x82\x7F\x01\x23\x45\x67\x89\xAB\xCD\xEF", 10);
	expect_encoded(true, WS_OP_BINARY, UINT64_C(0x7FFFFFFFFFFFFFFF),
	               (const uint8_t *)"\x82\x7F\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 10);
}

/* encode -> add a mask as a client would -> parse gives the same fields */
static void test_encode_parse_round_trip(void **state)
{
	static const uint64_t lens[] = {0,
	                                1,
	                                124,
	                                125,
	                                126,
	                                127,
	                                255,
	                                256,
	                                65534,
	                                65535,
	                                65536,
	                                65537,
	                                UINT64_C(0xFFFFFFFF),
	                                UINT64_C(0x100000000),
	                                UINT64_C(0x7FFFFFFFFFFFFFFF)};
	static const uint8_t ops[] = {WS_OP_CONT,  WS_OP_TEXT, WS_OP_BINARY,
	                              WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
	uint8_t h[WS_MAX_HEADER];

	(void)state;
	for (size_t o = 0; o < sizeof(ops); o++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (int fin = 0; fin <= 1; fin++) {
				bool ctl = ops[o] >= 0x8;
				size_t n = ws_encode_header(h, fin, ops[o], lens[i]);
				size_t want = lens[i] < 126 ? 2 : lens[i] < 65536 ? 4 : 10;

				assert_int_equal(n, want);
				assert_int_equal(h[1] & MASK_BIT, 0);
				h[1] |= MASK_BIT;
				memcpy(h + n, test_mask, 4);
				if (ctl && (!fin || lens[i] > 125))
					continue; /* not a legal frame */
				expect_ok(h, n + 4, NO_LIMIT, fin, ops[o], lens[i]);
			}
		}
	}
}

static void ref_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= mask[(offset + i) % 4];
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void test_unmask_whole(void **state)
{
	uint8_t orig[70], ref[70], got[72];

	(void)state;
	for (size_t n = 0; n <= sizeof(orig); n++) {
		for (uint64_t off = 0; off < 8; off++) {
			fill(orig, n, (uint32_t)(n * 8 + off));
			memcpy(ref, orig, n);
			ref_unmask(ref, n, test_mask, off);
			/* unaligned start, and a guard byte each side */
			got[0] = got[n + 1] = 0x5A;
			memcpy(got + 1, orig, n);
			ws_unmask(got + 1, n, test_mask, off);
			assert_memory_equal(got + 1, ref, n);
			assert_int_equal(got[0], 0x5A);
			assert_int_equal(got[n + 1], 0x5A);
			ws_unmask(got + 1, n, test_mask, off); /* XOR twice is identity */
			assert_memory_equal(got + 1, orig, n);
		}
	}
	/* a huge offset only matters modulo 4 */
	fill(orig, 40, 7);
	memcpy(ref, orig, 40);
	ref_unmask(ref, 40, test_mask, 3);
	ws_unmask(orig, 40, test_mask, UINT64_C(0xFFFFFFFFFFFFFFFF));
	assert_memory_equal(orig, ref, 40);
}

static void test_unmask_splits(void **state)
{
	enum { N = 53 };
	uint8_t orig[N], ref[N], got[N];

	(void)state;
	fill(orig, N, 42);
	memcpy(ref, orig, N);
	ref_unmask(ref, N, test_mask, 0);
	for (size_t i = 0; i <= N; i++) {
		for (size_t j = i; j <= N; j++) {
			memcpy(got, orig, N);
			ws_unmask(got, i, test_mask, 0);
			ws_unmask(got + i, j - i, test_mask, i);
			ws_unmask(got + j, N - j, test_mask, j);
			assert_memory_equal(got, ref, N);
		}
	}
	memcpy(got, orig, N); /* byte by byte */
	for (size_t k = 0; k < N; k++)
		ws_unmask(got + k, 1, test_mask, k);
	assert_memory_equal(got, ref, N);
}

/* ws_unmask's word paths (16-, 8-, 4-byte steps, byte tail) and its
 * ASCII report: every length 0..64 and a little beyond, every start
 * alignment 0..15, every offset phase, several masks (including ones that
 * set or clear bit 7 of every lane), with a non-ASCII byte at every
 * position of the unmasked payload or at none. */
static void test_unmask_ascii(void **state)
{
	static const uint8_t masks[][4] = {
	    {0x37, 0xFA, 0x21, 0x3D}, {0, 0, 0, 0}, {0xFF, 0xFF, 0xFF, 0xFF},
	    {0x80, 0x80, 0x80, 0x80}, {0x7F, 0x00, 0x80, 0x01},
	};
	uint8_t plain[72], wire[72], buf[72 + 16 + 1];

	(void)state;
	for (size_t mi = 0; mi < sizeof(masks) / sizeof(masks[0]); mi++)
		for (size_t n = 0; n <= 70; n++)
			for (size_t bad = 0; bad <= n; bad++) /* bad == n: all ASCII */
				for (uint64_t off = 0; off < 4; off++)
					for (size_t al = 0; al < 16; al++) {
						fill(plain, n, (uint32_t)(n * 131 + bad));
						for (size_t i = 0; i < n; i++)
							plain[i] &= 0x7F;
						if (bad < n)
							plain[bad] |= 0x80;
						memcpy(wire, plain, n);
						ref_unmask(wire, n, masks[mi], off);
						memset(buf, 0x5A, sizeof(buf));
						memcpy(buf + al, wire, n);
						assert_int_equal(ws_unmask(buf + al, n, masks[mi], off),
								 bad == n);
						assert_memory_equal(buf + al, plain, n);
						for (size_t i = 0; i < al; i++)
							assert_int_equal(buf[i], 0x5A);
						assert_int_equal(buf[al + n], 0x5A);
					}
}

/* The header parser as RFC 6455 §5.2 reads, byte by byte, with no fast
 * path: what ws_parse_header must answer for every input. */
static int ref_parse(const uint8_t *b, size_t len, uint64_t max, struct ws_frame *f, uint16_t *cc)
{
	uint8_t op, l7;
	size_t ext;
	uint64_t plen = 0;

	if (len < 1)
		return ERR_AGAIN;
	op = b[0] & 0x0F;
	if ((b[0] & 0x70) || (op >= 3 && op <= 7) || op >= 0xB || (op >= 8 && !(b[0] & FIN)))
		return *cc = WS_CLOSE_PROTOCOL, ERR_PROTO;
	if (len < 2)
		return ERR_AGAIN;
	l7 = b[1] & 0x7F;
	if (!(b[1] & MASK_BIT) || (op >= 8 && l7 > 125))
		return *cc = WS_CLOSE_PROTOCOL, ERR_PROTO;
	ext = l7 == 127 ? 8 : l7 == 126 ? 2 : 0;
	if (ext == 8 && len > 2 && (b[2] & 0x80))
		return *cc = WS_CLOSE_PROTOCOL, ERR_PROTO;
	for (size_t i = 0; i < ext; i++)
		plen = plen << 8 | (2 + i < len ? b[2 + i] : 0);
	if (!ext)
		plen = l7;
	if (plen > max)
		return *cc = WS_CLOSE_TOO_BIG, ERR_LIMIT;
	if (len < 2 + ext + 4)
		return ERR_AGAIN;
	f->fin = b[0] & FIN;
	f->opcode = op;
	f->masked = true;
	memcpy(f->mask, b + 2 + ext, 4);
	f->payload_len = plen;
	f->header_len = 2 + ext + 4;
	return (int)f->header_len;
}

/* Every first byte and every second byte, with a few extended lengths and
 * limits, at every prefix and with bytes after the header: ws_parse_header
 * (fast path included) gives ref_parse's result, fields and close code. */
static void test_parse_matches_reference(void **state)
{
	static const uint8_t exts[][8] = {
	    {0x00, 0x7D, 1, 2, 3, 4, 5, 6},    {0x01, 0x00, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0},
	    {0xFF, 0xFF, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60},
	    {0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
	    {0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
	};
	static const uint64_t maxes[] = {0, 1, 125, 126, 65535, 65536, NO_LIMIT};
	uint8_t buf[WS_MAX_HEADER + 4];

	(void)state;
	for (unsigned b0 = 0; b0 < 256; b0++)
		for (unsigned b1 = 0; b1 < 256; b1++)
			for (size_t e = 0; e < sizeof(exts) / sizeof(exts[0]); e++) {
				if ((b1 & 0x7F) < 126 && e > 0)
					continue; /* the bytes after a 7-bit length are the mask */
				buf[0] = (uint8_t)b0;
				buf[1] = (uint8_t)b1;
				memcpy(buf + 2, exts[e], 8);
				memcpy(buf + 10, test_mask, 4);
				memset(buf + 14, 0xA5, 4);
				for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
					for (size_t k = 0; k <= sizeof(buf); k++) {
						struct ws_frame got, want;
						uint16_t cg = 0, cw = 0;
						int rg = ws_parse_header(buf, k, maxes[m], &got, &cg);
						int rw = ref_parse(buf, k, maxes[m], &want, &cw);

						assert_int_equal(rg, rw);
						assert_int_equal(cg, cw);
						if (rw <= 0)
							continue;
						assert_int_equal(got.fin, want.fin);
						assert_int_equal(got.opcode, want.opcode);
						assert_true(got.masked);
						assert_memory_equal(got.mask, want.mask, 4);
						assert_int_equal(got.payload_len, want.payload_len);
						assert_int_equal(got.header_len, want.header_len);
					}
			}
}

static bool ref_code_valid(unsigned c)
{
	if (c < 1000 || c >= 5000)
		return false;
	if (c == 1004 || c == 1005 || c == 1006)
		return false;
	if (c >= 1015 && c < 3000)
		return false;
	return true;
}

static void test_close_code_table(void **state)
{
	unsigned count = 0;

	(void)state;
	for (unsigned c = 0; c <= 0xFFFF; c++) {
		assert_int_equal(ws_close_code_is_valid((uint16_t)c), ref_code_valid(c));
		count += ref_code_valid(c);
	}
	assert_int_equal(count, 4 + 8 + 2000);
	assert_true(ws_close_code_is_valid(1000));
	assert_true(ws_close_code_is_valid(1003));
	assert_false(ws_close_code_is_valid(1004));
	assert_false(ws_close_code_is_valid(1005));
	assert_false(ws_close_code_is_valid(1006));
	assert_true(ws_close_code_is_valid(1007));
	assert_true(ws_close_code_is_valid(1014));
	assert_false(ws_close_code_is_valid(1015));
	assert_false(ws_close_code_is_valid(2999));
	assert_true(ws_close_code_is_valid(3000));
	assert_true(ws_close_code_is_valid(4999));
	assert_false(ws_close_code_is_valid(5000));
	assert_false(ws_close_code_is_valid(999));
	assert_false(ws_close_code_is_valid(0));
	assert_false(ws_close_code_is_valid(65535));
}

static void expect_close_ok(const char *p, size_t n, uint16_t code)
{
	const uint8_t *reason = NULL;
	size_t reason_len = 999;
	uint16_t got = 0, cc = 0xBEEF;

	assert_int_equal(ws_close_parse((const uint8_t *)p, n, &got, &reason, &reason_len, &cc), 0);
	assert_int_equal(got, code);
	assert_int_equal(reason_len, n < 2 ? 0 : n - 2);
	if (n >= 2)
		assert_ptr_equal(reason, (const uint8_t *)p + 2);
	assert_int_equal(cc, 0xBEEF);
}

static void expect_close_fail(const char *p, size_t n, uint16_t close_code)
{
	const uint8_t *reason;
	size_t reason_len;
	uint16_t got, cc = 0;

	assert_int_equal(ws_close_parse((const uint8_t *)p, n, &got, &reason, &reason_len, &cc),
	                 ERR_PROTO);
	assert_int_equal(cc, close_code);
}

static void test_close_parse(void **state)
{
	(void)state;
	expect_close_ok("", 0, WS_CLOSE_NO_STATUS);
	expect_close_ok("\x03\xE8", 2, 1000);
	expect_close_ok("\x03\xE8"
	                "bye",
	                5, 1000);
	expect_close_ok("\x03\xF3\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", 13, 1011);
	expect_close_ok("\x0B\xB8", 2, 3000);
	expect_close_ok("\x13\x87x", 3, 4999);
	/* RFC 6455 §5.5.1: a 1-byte body cannot hold a code */
	expect_close_fail("\x03", 1, WS_CLOSE_PROTOCOL);
	/* RFC 6455 §7.4: codes that must not appear on the wire */
	expect_close_fail("\x03\xED", 2, WS_CLOSE_PROTOCOL); /* 1005 */
	expect_close_fail("\x03\xEE", 2, WS_CLOSE_PROTOCOL); /* 1006 */
	expect_close_fail("\x03\xEC", 2, WS_CLOSE_PROTOCOL); /* 1004 */
	expect_close_fail("\x03\xF7", 2, WS_CLOSE_PROTOCOL); /* 1015 */
	expect_close_fail("\x03\xE7", 2, WS_CLOSE_PROTOCOL); /* 999 */
	expect_close_fail("\x00\x00", 2, WS_CLOSE_PROTOCOL);
	expect_close_fail("\x0B\xB7", 2, WS_CLOSE_PROTOCOL); /* 2999 */
	expect_close_fail("\x13\x88", 2, WS_CLOSE_PROTOCOL); /* 5000 */
	expect_close_fail("\xFF\xFF", 2, WS_CLOSE_PROTOCOL);
	/* RFC 6455 §8.1: reason must be UTF-8 */
	expect_close_fail("\x03\xE8\xFF", 3, WS_CLOSE_BAD_DATA);
	expect_close_fail("\x03\xE8"
	                  "ok\xC3",
	                  5, WS_CLOSE_BAD_DATA); /* truncated at the end */
	expect_close_fail("\x03\xE8\xED\xA0\x80", 5, WS_CLOSE_BAD_DATA);
	expect_close_fail("\x03\xE8\xC0\xAF", 4, WS_CLOSE_BAD_DATA);
	/* the code is judged before the reason */
	expect_close_fail("\x03\xED\xFF", 3, WS_CLOSE_PROTOCOL);
}

/* Encodes, checks the exact bytes and that the result parses back. */
static void expect_close_encoded(uint16_t code, const char *reason, size_t len, size_t want_len)
{
	uint8_t out[WS_MAX_CONTROL_PAYLOAD + 8];
	const uint8_t *r;
	size_t rlen;
	uint16_t got, cc;

	memset(out, 0xEE, sizeof(out));
	assert_int_equal(ws_close_encode(out, code, reason, len), 2 + want_len);
	assert_int_equal(out[0], code >> 8);
	assert_int_equal(out[1], code & 0xFF);
	if (want_len > 0)
		assert_memory_equal(out + 2, reason, want_len);
	assert_int_equal(out[2 + want_len], 0xEE); /* nothing written past it */
	assert_true(utf8_is_valid(out + 2, want_len));
	assert_int_equal(ws_close_parse(out, 2 + want_len, &got, &r, &rlen, &cc), 0);
	assert_int_equal(got, code);
	assert_int_equal(rlen, want_len);
}

static void test_close_encode(void **state)
{
	static const char *const wide[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
	char reason[200];

	(void)state;
	expect_close_encoded(1000, NULL, 0, 0);
	expect_close_encoded(1001, "", 0, 0);
	expect_close_encoded(1011, "oops", 4, 4);
	memset(reason, 'r', sizeof(reason));
	expect_close_encoded(4000, reason, 123, 123);
	expect_close_encoded(4000, reason, 124, 123);
	expect_close_encoded(4000, reason, sizeof(reason), 123);
	/* a w-byte code point starting at byte `at` of the reason: kept when
	 * it ends by byte 123, dropped whole otherwise */
	for (size_t k = 0; k < 3; k++) {
		size_t w = strlen(wide[k]);

		for (size_t at = 115; at <= 123; at++) {
			size_t end = at + w;

			memset(reason, 'r', sizeof(reason));
			memcpy(reason + at, wide[k], w);
			expect_close_encoded(4000, reason, sizeof(reason), end <= 123 ? 123 : at);
			expect_close_encoded(4000, reason, end, end <= 123 ? end : at);
		}
	}
	/* all 4-byte code points */
	for (size_t i = 0; i + 4 <= sizeof(reason); i += 4)
		memcpy(reason + i, wide[2], 4);
	expect_close_encoded(1000, reason, sizeof(reason), 120);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_length_encodings), cmocka_unit_test(test_length_msb_set),
	    cmocka_unit_test(test_opcodes),          cmocka_unit_test(test_fin_and_fragments),
	    cmocka_unit_test(test_rsv_bits),         cmocka_unit_test(test_unmasked),
	    cmocka_unit_test(test_control_frames),   cmocka_unit_test(test_max_payload),
	    cmocka_unit_test(test_encode_bytes),     cmocka_unit_test(test_encode_parse_round_trip),
	    cmocka_unit_test(test_unmask_whole),     cmocka_unit_test(test_unmask_splits),
	    cmocka_unit_test(test_close_code_table), cmocka_unit_test(test_close_parse),
	    cmocka_unit_test(test_close_encode),     cmocka_unit_test(test_unmask_ascii),
	    cmocka_unit_test(test_parse_matches_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
