/* fuzz_ws.c — libFuzzer target for ws.c, fed as a client byte stream.
 *
 * Input: byte 0 picks max_payload, byte 1 a split point; the rest is a
 * stream of frames. Each header is parsed, checked against its every
 * prefix and re-encoded; each payload is unmasked whole and in two pieces;
 * unmasking's ASCII report is checked against the bytes; close payloads go
 * through ws_close_parse, text through utf8. Any broken
 * invariant aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "err.h"
#include "utf8.h"
#include "ws.h"



/* Small limits (0..127) around the 125 control boundary, or 2^k - 1. */
static uint64_t pick_max(uint8_t b)
{
	return b & 0x80 ? (uint64_t)(b & 0x7F) : UINT64_MAX >> (b & 0x3F);
}

/* A buffer shorter than the header never gives a different verdict, only
 * ERR_AGAIN. */
static void check_prefixes(const uint8_t *p, size_t n, uint64_t max, int rc, uint16_t cc)
{
	struct ws_frame f;
	uint16_t c;

	if (rc > 0)
		n = (size_t)rc;
	for (size_t k = 0; k < n && k < WS_MAX_HEADER; k++) {
		int r = ws_parse_header(p, k, max, &f, &c);

		if (rc == ERR_PROTO || rc == ERR_LIMIT)
			CHECK(r == ERR_AGAIN || (r == rc && c == cc));
		else
			CHECK(r == ERR_AGAIN);
	}
}

static void check_header(const uint8_t *p, const struct ws_frame *f, uint64_t max)
{
	uint8_t out[WS_MAX_HEADER];
	size_t n;

	CHECK(f->header_len == 6 || f->header_len == 8 || f->header_len == 14);
	CHECK(f->masked && f->payload_len <= max && f->payload_len >> 63 == 0);
	CHECK(f->opcode <= WS_OP_BINARY || (f->opcode >= WS_OP_CLOSE && f->opcode <= WS_OP_PONG &&
	                                    f->fin && f->payload_len <= WS_MAX_CONTROL_PAYLOAD));
	CHECK(memcmp(f->mask, p + f->header_len - 4, 4) == 0);
	n = ws_encode_header(out, f->fin, f->opcode, f->payload_len);
	CHECK(n >= 2 && n <= f->header_len - 4);
	CHECK(out[0] == p[0] && !(out[1] & 0x80));
}

/* Text fed whole and in two pieces agrees; a failure is sticky. */
static void check_text(const uint8_t *p, size_t n, size_t split, bool whole)
{
	struct utf8_state one, two;
	bool ok, ok1, ok2;

	utf8_init(&one);
	utf8_init(&two);
	ok = utf8_feed(&one, p, n);
	ok1 = utf8_feed(&two, p, split);
	ok2 = utf8_feed(&two, p + split, n - split);
	CHECK(ok1 || !ok2);
	CHECK(ok == ok2);
	CHECK(utf8_is_complete(&one) == utf8_is_complete(&two));
	if (whole)
		CHECK(utf8_is_valid(p, n) == (ok && utf8_is_complete(&one)));
}

static void check_payload(const struct ws_frame *f, const uint8_t *p, size_t n, size_t split,
                          uint8_t *a, uint8_t *b)
{
	const uint8_t *reason;
	size_t reason_len;
	uint16_t code, cc;

	bool ascii, ascii1, ascii2, all = true;

	memcpy(a, p, n);
	memcpy(b, p, n);
	ascii = ws_unmask(a, n, f->mask, 0);
	split = n ? split % (n + 1) : 0;
	ascii1 = ws_unmask(b, split, f->mask, 0);
	ascii2 = ws_unmask(b + split, n - split, f->mask, split);
	CHECK(memcmp(a, b, n) == 0);
	for (size_t i = 0; i < n; i++) {
		CHECK(a[i] == (p[i] ^ f->mask[i & 3]));
		all = all && a[i] < 0x80;
	}
	/* the ASCII report: exact, whole or in pieces */
	CHECK(ascii == all && (ascii1 && ascii2) == all);

	if (f->opcode == WS_OP_CLOSE && n == f->payload_len) {
		int rc = ws_close_parse(a, n, &code, &reason, &reason_len, &cc);

		if (rc == 0) {
			CHECK(n == 0 ? code == WS_CLOSE_NO_STATUS : ws_close_code_is_valid(code));
			CHECK(reason == a + (n ? 2 : 0) && reason_len == (n ? n - 2 : 0));
			CHECK(utf8_is_valid(reason, reason_len));
		} else {
			CHECK(rc == ERR_PROTO);
			CHECK(cc == WS_CLOSE_PROTOCOL || cc == WS_CLOSE_BAD_DATA);
		}
	}
	if (f->opcode == WS_OP_TEXT)
		check_text(a, n, split, n == f->payload_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *a, *b;
	uint64_t max;
	size_t split, off = 0;

	if (size < 2)
		return 0;
	max = pick_max(data[0]);
	split = data[1];
	data += 2;
	size -= 2;
	a = malloc(size + 1);
	b = malloc(size + 1);
	CHECK(a && b);
	while (off < size) {
		struct ws_frame f;
		uint16_t cc = 0;
		int rc = ws_parse_header(data + off, size - off, max, &f, &cc);
		size_t avail;

		check_prefixes(data + off, size - off, max, rc, cc);
		if (rc <= 0) {
			CHECK(rc == ERR_AGAIN || (rc == ERR_PROTO && cc == WS_CLOSE_PROTOCOL) ||
			      (rc == ERR_LIMIT && cc == WS_CLOSE_TOO_BIG));
			break;
		}
		CHECK((size_t)rc == f.header_len);
		check_header(data + off, &f, max);
		off += (size_t)rc;
		avail = size - off < f.payload_len ? size - off : (size_t)f.payload_len;
		check_payload(&f, data + off, avail, split, a, b);
		off += avail;
	}
	free(a);
	free(b);
	return 0;
}
