/* ws.h — RFC 6455 frame codec: header parse/encode, unmasking, close
 * payloads. Pure: no sockets, no messages, no allocation.
 */
#ifndef WSGW_WS_H
#define WSGW_WS_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* RFC 6455 §7.4.1 close codes used by wsgw itself. */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,  /* never sent on the wire */
	WS_CLOSE_ABNORMAL = 1006,   /* never sent on the wire */
	WS_CLOSE_BAD_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

#define WS_MAX_HEADER 14       /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_MAX_CONTROL_PAYLOAD 125

struct ws_frame {
	bool fin;
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t payload_len;
	size_t header_len;
};

/* Parses one client->server frame header from buf[0..len).
 * Returns the header length (2..14) when complete, ERR_AGAIN when more bytes
 * are needed, or ERR_PROTO / ERR_LIMIT with *close_code set to the close
 * code to fail the connection with (1002 for protocol violations: RSV bits
 * set, reserved opcode, unmasked frame, fragmented or > 125-byte control
 * frame, 64-bit length with the MSB set; 1009 when payload_len > max_payload).
 * Control frames are checked against 125 before max_payload. */
int ws_parse_header(const uint8_t *buf, size_t len, uint64_t max_payload, struct ws_frame *f,
		    uint16_t *close_code);

/* XORs p[0..n) with mask, where p[0] is byte number `offset` of the
 * payload (so a payload can be unmasked in pieces). Returns true when
 * every byte of p[0..n) is ASCII (< 0x80) after unmasking: as a whole text
 * message, such a payload is valid UTF-8 with no further check. */
bool ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Writes an unmasked server->client frame header for a payload of
 * payload_len bytes into out (at least WS_MAX_HEADER bytes).
 * Returns the header length (2, 4 or 10). Inline: one per message sent. */
static inline size_t ws_encode_header(uint8_t *out, bool fin, uint8_t opcode,
				      uint64_t payload_len)
{
	assert(opcode <= 0x0F);
	/* RFC 6455 §5.2: the 64-bit length has its most significant bit 0. */
	assert(payload_len >> 63 == 0);

	/* RFC 6455 §5.1: server frames are never masked; §5.2: the minimal
	 * number of bytes MUST be used to encode the length. */
	out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (payload_len <= WS_MAX_CONTROL_PAYLOAD) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xFFFF) {
		out[1] = 126;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = 127;
	for (size_t i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
}

/* True for codes an endpoint may send in a close frame (RFC 6455 §7.4,
 * IANA registry): 1000-1003, 1007-1014, 3000-4999. */
bool ws_close_code_is_valid(uint16_t code);

/* Validates a received close payload. On success returns 0 and sets *code
 * (WS_CLOSE_NO_STATUS when the payload is empty) and *reason and *reason_len
 * (a view into p). On failure returns ERR_PROTO with *close_code = 1002
 * (1-byte payload, invalid code) or 1007 (reason not UTF-8). */
int ws_close_parse(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
		   size_t *reason_len, uint16_t *close_code);

/* Writes a close payload (2-byte code + reason, reason truncated so the
 * payload is <= 125 bytes) into out[125]. Returns its length. */
size_t ws_close_encode(uint8_t *out, uint16_t code, const char *reason, size_t reason_len);

#endif
