/* wsupgrade.c — RFC 6455 §4.1 handshake values and checks for a client
 * (loadgen), and the accept value a server answers with (rawproxy). SHA-1
 * handles only the short input the accept value needs (key + GUID: at most
 * 64 + 36 bytes, two blocks).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "wsupgrade.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- SHA-1 (FIPS 180-4), only to check Sec-WebSocket-Accept ---------- */

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

/* len must be below 120 (enough for key + GUID). */
static void sha1_short(const uint8_t *msg, size_t len, uint8_t out[20])
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
	uint8_t blk[128] = {0};
	size_t nblk = len + 9 <= 64 ? 1 : 2;
	uint64_t bits = (uint64_t)len * 8;

	memcpy(blk, msg, len);
	blk[len] = 0x80;
	for (int i = 0; i < 8; i++)
		blk[nblk * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t i = 0; i < nblk; i++)
		sha1_block(h, blk + 64 * i);
	for (int i = 0; i < 20; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
		             (i + 2 < n ? in[i + 2] : 0);

		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

int wsupgrade_accept(const char *key, size_t n, char accept[29])
{
	uint8_t digest[20], kg[WSUPGRADE_KEY_MAX + sizeof WS_GUID];

	if (!n || n > WSUPGRADE_KEY_MAX)
		return -1;
	memcpy(kg, key, n);
	memcpy(kg + n, WS_GUID, sizeof WS_GUID - 1);
	sha1_short(kg, n + sizeof WS_GUID - 1, digest);
	base64(digest, 20, accept);
	return 0;
}

void wsupgrade_key(const uint8_t raw[16], char key[25], char accept[29])
{
	base64(raw, 16, key);
	wsupgrade_accept(key, 24, accept);
}

int wsupgrade_check(const char *p, size_t n, const char accept[29])
{
	const char *line = p, *end = p + n;
	bool accepted = false;

	if (n < 13 || memcmp(p, "HTTP/1.1 101", 12) != 0 || (p[12] != ' ' && p[12] != '\r'))
		return -1;
	while (line < end) {
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2), *v, *ve;

		if (!eol)
			break;
		if (eol - line > 21 && !strncasecmp(line, "Sec-WebSocket-Accept:", 21)) {
			for (v = line + 21; v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
				;
			accepted = ve - v == 28 && !memcmp(v, accept, 28);
		}
		line = eol + 2;
	}
	return accepted ? 0 : -1;
}
