/* pagetok.c — the page token codec (pagetok.h): RFC 4648 §5 base64url
 * without padding over 17 bytes, and an FNV-1a based keyed hash finished
 * with a 64-bit mixer (splitmix64's).
 */
#include "pagetok.h"

#include "err.h"

#define PAGETOK_VERSION 1

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t pagetok_encode(uint64_t seq, uint64_t check, char *out)
{
	uint8_t raw[PAGETOK_RAW + 1] = {PAGETOK_VERSION};
	size_t o = 0;

	for (int i = 0; i < 8; i++) {
		raw[1 + i] = (uint8_t)(seq >> (56 - 8 * i));
		raw[9 + i] = (uint8_t)(check >> (56 - 8 * i));
	}
	/* 17 bytes: five whole groups of 3, then 2 bytes as 3 characters. */
	for (size_t i = 0; i < PAGETOK_RAW; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
		             (i + 2 < PAGETOK_RAW ? raw[i + 2] : 0);
		size_t chars = i + 2 < PAGETOK_RAW ? 4 : 3;

		for (size_t k = 0; k < chars; k++)
			out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
	}
	out[o] = '\0';
	return o;
}

int pagetok_decode(const char *s, size_t n, uint64_t *seq, uint64_t *check)
{
	uint8_t raw[PAGETOK_RAW + 1];
	size_t o = 0;

	if (n != PAGETOK_LEN)
		return ERR_INVAL;
	for (size_t i = 0; i < n; i += 4) {
		size_t chars = n - i < 4 ? n - i : 4;
		uint32_t v = 0;

		for (size_t k = 0; k < 4; k++) {
			int d = k < chars ? b64val(s[i + k]) : 0;

			if (d < 0)
				return ERR_INVAL;
			v = v << 6 | (uint32_t)d;
		}
		raw[o++] = (uint8_t)(v >> 16);
		raw[o++] = (uint8_t)(v >> 8);
		if (chars == 4)
			raw[o++] = (uint8_t)v;
		else if (v & 0xFF) /* canonical: the unused low bits are zero */
			return ERR_INVAL;
	}
	if (o != PAGETOK_RAW || raw[0] != PAGETOK_VERSION)
		return ERR_INVAL;
	*seq = *check = 0;
	for (int i = 0; i < 8; i++) {
		*seq = *seq << 8 | raw[1 + i];
		*check = *check << 8 | raw[9 + i];
	}
	return 0;
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

uint64_t pagetok_check_init(uint64_t secret, uint64_t seq)
{
	return mix(secret ^ 0xcbf29ce484222325u) ^ mix(seq + 0x9e3779b97f4a7c15u);
}

uint64_t pagetok_check_add(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3u;
	}
	/* The length too, so ("ab","c") and ("a","bc") differ. */
	return mix(h ^ (uint64_t)n);
}
