/* pagetok.c — the page token codec (pagetok.h): RFC 4648 §5 base64url
 * without padding over 17 bytes (23 with a node tag), and an FNV-1a based keyed hash finished
 * with a 64-bit mixer (splitmix64's).
 */
#include "pagetok.h"

#include <string.h>

#include "err.h"

#define PAGETOK_VERSION 1
#define PAGETOK_NODE_VERSION 2

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

/* raw[0..n) as base64url without padding into out, NUL-terminated. */
static size_t b64_encode(const uint8_t *raw, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0) |
		             (i + 2 < n ? raw[i + 2] : 0);
		size_t chars = n - i >= 3 ? 4 : n - i + 1;

		for (size_t k = 0; k < chars; k++)
			out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
	}
	out[o] = '\0';
	return o;
}

/* s[0..n) into raw[0..cap); returns the bytes decoded, or -1 for any text
 * b64_encode cannot have produced (a bad character, a lone character at
 * the end, nonzero unused bits). */
static long b64_decode(const char *s, size_t n, uint8_t *raw, size_t cap)
{
	size_t o = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		size_t chars = n - i < 4 ? n - i : 4, bytes = chars - 1;
		uint32_t v = 0;

		for (size_t k = 0; k < 4; k++) {
			int d = k < chars ? b64val(s[i + k]) : 0;

			if (d < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		if (bytes > cap - o)
			return -1;
		/* canonical: the unused low bits are zero */
		if ((bytes == 2 && (v & 0xFF)) || (bytes == 1 && (v & 0xFFFF)))
			return -1;
		for (size_t k = 0; k < bytes; k++)
			raw[o++] = (uint8_t)(v >> (16 - 8 * k));
	}
	return (long)o;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t pagetok_encode(uint64_t seq, uint64_t check, char *out)
{
	uint8_t raw[PAGETOK_RAW] = {PAGETOK_VERSION};

	put64(raw + 1, seq);
	put64(raw + 9, check);
	return b64_encode(raw, sizeof raw, out);
}

int pagetok_decode(const char *s, size_t n, uint64_t *seq, uint64_t *check)
{
	uint8_t raw[PAGETOK_RAW];

	if (n != PAGETOK_LEN || b64_decode(s, n, raw, sizeof raw) != PAGETOK_RAW ||
	    raw[0] != PAGETOK_VERSION)
		return ERR_INVAL;
	*seq = get64(raw + 1);
	*check = get64(raw + 9);
	return 0;
}

size_t pagetok_node_encode(const char *tag, uint64_t seq, uint64_t check, char *out)
{
	uint8_t raw[PAGETOK_NODE_RAW] = {PAGETOK_NODE_VERSION};

	memcpy(raw + 1, tag, PAGETOK_TAG_LEN);
	put64(raw + 1 + PAGETOK_TAG_LEN, seq);
	put64(raw + 9 + PAGETOK_TAG_LEN, check);
	return b64_encode(raw, sizeof raw, out);
}

int pagetok_node_decode(const char *s, size_t n, char *tag, uint64_t *seq, uint64_t *check)
{
	uint8_t raw[PAGETOK_NODE_RAW];

	if (n != PAGETOK_NODE_LEN || b64_decode(s, n, raw, sizeof raw) != PAGETOK_NODE_RAW ||
	    raw[0] != PAGETOK_NODE_VERSION)
		return ERR_INVAL;
	memcpy(tag, raw + 1, PAGETOK_TAG_LEN);
	*seq = get64(raw + 1 + PAGETOK_TAG_LEN);
	*check = get64(raw + 9 + PAGETOK_TAG_LEN);
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
