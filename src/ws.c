/* ws.c — RFC 6455 frame codec: client frame header parsing (§5.2, §5.5),
 * unmasking (§5.3), server frame header encoding (§5.2) and close frame
 * payloads (§5.5.1, §7.4).
 *
 * Owns bytes in, fields and close codes out. Must never know about
 * messages, fragments being assembled, sockets or allocation; the caller
 * decides what a returned close code means for the connection.
 */
#include "ws.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "err.h"
#include "utf8.h"

#define WS_FIN 0x80
#define WS_RSV 0x70 /* RSV1 | RSV2 | RSV3 */
#define WS_OPCODE 0x0F
#define WS_MASK 0x80
#define WS_LEN7 0x7F
#define WS_LEN16 126
#define WS_LEN64 127
#define WS_CLOSE_REASON_MAX (WS_MAX_CONTROL_PAYLOAD - 2)

static int fail(uint16_t *close_code, uint16_t code)
{
	*close_code = code;
	return code == WS_CLOSE_TOO_BIG ? ERR_LIMIT : ERR_PROTO;
}

static bool is_control(uint8_t opcode)
{
	return opcode >= 0x8;
}

/* Checks everything byte 0 alone can prove. Returns 0 or ERR_PROTO. */
static int check_byte0(uint8_t b0, uint16_t *close_code)
{
	uint8_t op = b0 & WS_OPCODE;

	/* RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension defines them;
	 * wsgw negotiates no extension. */
	if (b0 & WS_RSV)
		return fail(close_code, WS_CLOSE_PROTOCOL);
	/* RFC 6455 §5.2: opcodes 3-7 and B-F are reserved. */
	if ((op >= 0x3 && op <= 0x7) || op >= 0xB)
		return fail(close_code, WS_CLOSE_PROTOCOL);
	/* RFC 6455 §5.5: control frames MUST NOT be fragmented. */
	if (is_control(op) && !(b0 & WS_FIN))
		return fail(close_code, WS_CLOSE_PROTOCOL);
	return 0;
}

/* Checks everything byte 1 can add. Returns 0 or ERR_PROTO. */
static int check_byte1(uint8_t b0, uint8_t b1, uint16_t *close_code)
{
	/* RFC 6455 §5.1: a server MUST close on an unmasked client frame. */
	if (!(b1 & WS_MASK))
		return fail(close_code, WS_CLOSE_PROTOCOL);
	/* RFC 6455 §5.5: control frame payloads are at most 125 bytes, so
	 * the 16- and 64-bit length encodings are never valid for them. */
	if (is_control(b0 & WS_OPCODE) && (b1 & WS_LEN7) > WS_MAX_CONTROL_PAYLOAD)
		return fail(close_code, WS_CLOSE_PROTOCOL);
	return 0;
}

int ws_parse_header(const uint8_t *buf, size_t len, uint64_t max_payload, struct ws_frame *f,
                    uint16_t *close_code)
{
	size_t ext_len, avail, hlen;
	uint64_t plen;
	uint8_t len7;
	int rc;

	/* The usual shape first: a data frame (continuation, text, binary)
	 * with RSV 0, masked, a 7- or 16-bit length, the whole header in buf.
	 * It passes every check below but the limit, which is made here;
	 * anything else takes the general path. */
	if (len >= 8 || (len >= 6 && (buf[1] & WS_LEN7) < WS_LEN16)) {
		uint8_t b0 = buf[0], b1 = buf[1];

		if (!(b0 & WS_RSV) && (b0 & WS_OPCODE) <= WS_OP_BINARY && (b1 & WS_MASK) &&
		    (b1 & WS_LEN7) <= WS_LEN16) {
			ext_len = (b1 & WS_LEN7) == WS_LEN16 ? 2 : 0;
			plen = ext_len ? (uint64_t)(buf[2] << 8 | buf[3])
				       : (uint64_t)(b1 & WS_LEN7);
			if (plen > max_payload)
				return fail(close_code, WS_CLOSE_TOO_BIG);
			f->fin = b0 & WS_FIN;
			f->opcode = b0 & WS_OPCODE;
			f->masked = true;
			memcpy(f->mask, buf + 2 + ext_len, 4);
			f->payload_len = plen;
			f->header_len = 6 + ext_len;
			return (int)f->header_len;
		}
	}
	if (len < 1)
		return ERR_AGAIN;
	rc = check_byte0(buf[0], close_code);
	if (rc < 0 || len < 2)
		return rc < 0 ? rc : ERR_AGAIN;
	rc = check_byte1(buf[0], buf[1], close_code);
	if (rc < 0)
		return rc;

	len7 = buf[1] & WS_LEN7;
	ext_len = len7 == WS_LEN64 ? 8 : len7 == WS_LEN16 ? 2 : 0;
	/* RFC 6455 §5.2: the most significant bit of a 64-bit length MUST
	 * be 0. Non-minimal length encodings are legal and accepted. */
	if (ext_len == 8 && len > 2 && (buf[2] & 0x80))
		return fail(close_code, WS_CLOSE_PROTOCOL);

	/* Missing length bytes count as zero: plen is then a lower bound of
	 * the length, so an over-limit frame fails as soon as it is certain. */
	plen = ext_len ? 0 : len7;
	avail = len - 2 < ext_len ? len - 2 : ext_len;
	for (size_t i = 0; i < ext_len; i++)
		plen = plen << 8 | (i < avail ? buf[2 + i] : 0);
	if (plen > max_payload)
		return fail(close_code, WS_CLOSE_TOO_BIG);

	hlen = 2 + ext_len + 4;
	if (len < hlen)
		return ERR_AGAIN;
	f->fin = buf[0] & WS_FIN;
	f->opcode = buf[0] & WS_OPCODE;
	f->masked = true;
	memcpy(f->mask, buf + 2 + ext_len, 4);
	f->payload_len = plen;
	f->header_len = hlen;
	return (int)hlen;
}

/* The 4 mask bytes as one word whose first byte in memory is
 * mask[offset % 4], so payload byte j of a word-aligned step is XORed with
 * mask[(offset + j) % 4]. */
static uint32_t rotated_mask(const uint8_t mask[4], uint64_t offset)
{
	unsigned sh = (unsigned)(offset & 3) * 8;
	uint32_t m;

	memcpy(&m, mask, sizeof(m));
	if (!sh)
		return m;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return m << sh | m >> (32 - sh);
#else
	return m >> sh | m << (32 - sh);
#endif
}

bool ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
	uint32_t m32 = rotated_mask(mask, offset), w32;
	uint64_t m = (uint64_t)m32 << 32 | m32, w, seen = 0;
	uint8_t rot[4];
	size_t i = 0;

	/* RFC 6455 §5.3: payload byte j is XORed with mask[j % 4]. A step of
	 * a multiple of 4 bytes keeps the phase, so one rotated mask serves
	 * every word; loads and stores are unaligned-safe (memcpy, loadu).
	 * `seen` gathers the unmasked bits, so the caller learns for one OR
	 * per word whether a text payload is plain ASCII. */
#if defined(__SSE2__)
	{
		__m128i vm = _mm_set1_epi64x((long long)m), vseen = _mm_setzero_si128();

		for (; n - i >= 16; i += 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));

			v = _mm_xor_si128(v, vm);
			_mm_storeu_si128((__m128i *)(void *)(p + i), v);
			vseen = _mm_or_si128(vseen, v);
		}
		if (_mm_movemask_epi8(vseen)) /* bit 7 of any byte */
			seen = 0x80;
	}
#endif
	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, sizeof(w));
		w ^= m;
		seen |= w;
		memcpy(p + i, &w, sizeof(w));
	}
	if (n - i >= 4) {
		memcpy(&w32, p + i, sizeof(w32));
		w32 ^= m32;
		seen |= w32;
		memcpy(p + i, &w32, sizeof(w32));
		i += 4;
	}
	memcpy(rot, &m32, sizeof(rot));
	for (size_t k = 0; i < n; i++, k++) {
		p[i] ^= rot[k];
		seen |= p[i];
	}
	/* Bit 7 of every byte lane: words, the 4-byte piece and the last
	 * bytes (all in lane 0) each land on lanes this tests. */
	return !(seen & UINT64_C(0x8080808080808080));
}

bool ws_close_code_is_valid(uint16_t code)
{
	/* RFC 6455 §7.4.1-§7.4.2 and the IANA registry: 1004 is reserved,
	 * 1005/1006/1015 must never be sent, 1016-2999 are unassigned
	 * protocol codes, 3000-4999 belong to libraries and applications. */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

int ws_close_parse(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
                   size_t *reason_len, uint16_t *close_code)
{
	uint16_t c;

	/* RFC 6455 §5.5.1: the body is optional; none means no status. */
	if (n == 0) {
		*code = WS_CLOSE_NO_STATUS;
		*reason = p;
		*reason_len = 0;
		return 0;
	}
	/* RFC 6455 §5.5.1: a body starts with a 2-byte code. */
	if (n < 2)
		return fail(close_code, WS_CLOSE_PROTOCOL);
	c = (uint16_t)(p[0] << 8 | p[1]);
	/* RFC 6455 §7.4: codes outside the sendable set are a violation. */
	if (!ws_close_code_is_valid(c))
		return fail(close_code, WS_CLOSE_PROTOCOL);
	/* RFC 6455 §5.5.1, §8.1: the reason is UTF-8. */
	if (!utf8_is_valid(p + 2, n - 2))
		return fail(close_code, WS_CLOSE_BAD_DATA);
	*code = c;
	*reason = p + 2;
	*reason_len = n - 2;
	return 0;
}

size_t ws_close_encode(uint8_t *out, uint16_t code, const char *reason, size_t reason_len)
{
	const uint8_t *r = (const uint8_t *)reason;

	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	/* RFC 6455 §5.5: the whole control payload is at most 125 bytes.
	 * Cut before the code point that would straddle the limit (back over
	 * continuation bytes 10xxxxxx) so the reason stays valid UTF-8. */
	if (reason_len > WS_CLOSE_REASON_MAX) {
		reason_len = WS_CLOSE_REASON_MAX;
		while (reason_len > 0 && (r[reason_len] & 0xC0) == 0x80)
			reason_len--;
	}
	if (reason_len > 0)
		memcpy(out + 2, r, reason_len);
	return 2 + reason_len;
}
