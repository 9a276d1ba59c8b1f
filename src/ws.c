/* ws.c — RFC 6455 frame codec: client frame header parsing (§5.2, §5.5),
 * unmasking (§5.3), server frame header encoding (§5.2) and close frame
 * payloads (§5.5.1, §7.4).
 *
 * Owns bytes in, fields and close codes out. Must never know about
 * messages, fragments being assembled, sockets or allocation; the caller
 * decides what a returned close code means for the connection.
 */
#include "ws.h"

#include <assert.h>
#include <string.h>

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

void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
	uint8_t rot[8];
	uint64_t m, w;
	size_t i = 0;

	/* RFC 6455 §5.3: payload byte j is XORed with mask[j % 4]. A step of
	 * 8 bytes keeps the phase, so one rotated 64-bit mask serves all. */
	for (size_t k = 0; k < sizeof(rot); k++)
		rot[k] = mask[(offset + k) & 3];
	memcpy(&m, rot, sizeof(m));
	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, sizeof(w));
		w ^= m;
		memcpy(p + i, &w, sizeof(w));
	}
	for (; i < n; i++)
		p[i] ^= rot[i & 7];
}

size_t ws_encode_header(uint8_t *out, bool fin, uint8_t opcode, uint64_t payload_len)
{
	assert(opcode <= WS_OPCODE);
	/* RFC 6455 §5.2: the 64-bit length has its most significant bit 0. */
	assert(payload_len >> 63 == 0);

	/* RFC 6455 §5.1: server frames are never masked; §5.2: the minimal
	 * number of bytes MUST be used to encode the length. */
	out[0] = (uint8_t)((fin ? WS_FIN : 0) | opcode);
	if (payload_len <= WS_MAX_CONTROL_PAYLOAD) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xFFFF) {
		out[1] = WS_LEN16;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = WS_LEN64;
	for (size_t i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
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
