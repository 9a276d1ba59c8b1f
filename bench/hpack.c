/* hpack.c — HPACK (RFC 7541) for sendlat's gRPC client. Decoding keeps
 * the dynamic table (§2.3.2, §4) and undoes Huffman coding with the
 * canonical code lengths of Appendix B, but reports only grpc-status and
 * grpc-message; encoding writes literals without indexing and without
 * Huffman (§6.2.2), so one header block serves every call.
 * Pure: no sockets, no logging (out of memory ends the program).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"
#include "hpack.h"

/* ---- Huffman (Appendix B) ------------------------------------------------ */

/* Code lengths of the HPACK Huffman code, symbols 0..256 (RFC 7541
 * Appendix B). The code is canonical: codes of one length are consecutive
 * in symbol order, so the lengths are all a decoder needs. */
static const uint8_t huff_len[257] = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6,  10, 10, 12, 13, 6,  8,  11, 10, 10, 8,  11, 8,  6,  6,  6,
    5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8,  15, 6,  12, 10, 13, 6,  7,  7,  7,  7,  7,  7,
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8,  13, 19, 13, 14, 6,
    15, 5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,  6,  7,  6,  5,  5,  6,  7,  7,
    7,  7,  7,  15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21,
    23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24,
    21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
};
static uint32_t huff_first[32], huff_count[32], huff_off[32];
static uint16_t huff_sym[257];

void hpack_tables_init(void)
{
	uint32_t code = 0, off = 0;

	for (unsigned s = 0; s < 257; s++)
		huff_count[huff_len[s]]++;
	for (unsigned l = 1; l < 32; l++) {
		code = (code + huff_count[l - 1]) << 1;
		huff_first[l] = code;
		huff_off[l] = off;
		off += huff_count[l];
	}
	for (unsigned l = 1, k = 0; l < 32; l++)
		for (unsigned s = 0; s < 257; s++)
			if (huff_len[s] == l)
				huff_sym[k++] = (uint16_t)s;
}

/* Decodes n Huffman bytes; sets *olen to the decoded length (bytes past
 * cap are counted, not stored). Returns 0 or -1. */
static int huff_decode(const uint8_t *p, size_t n, char *out, size_t cap, size_t *olen)
{
	uint32_t code = 0, len = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		for (int b = 7; b >= 0; b--) {
			code = code << 1 | ((p[i] >> b) & 1u);
			if (++len > 30)
				return -1;
			if (code >= huff_first[len] && code - huff_first[len] < huff_count[len]) {
				uint16_t sym = huff_sym[huff_off[len] + code - huff_first[len]];

				if (sym == 256)
					return -1; /* EOS inside a string */
				if (o < cap)
					out[o] = (char)sym;
				o++;
				code = len = 0;
			}
		}
	}
	if (len > 7 || code != (1u << len) - 1) /* padding: most significant bits of EOS */
		return -1;
	*olen = o;
	return 0;
}

/* ---- decoding ------------------------------------------------------------ */

/* Names of the static table (Appendix A); index 0 is unused. */
static const char *const hp_static[62] = {
    NULL,
    ":authority",
    ":method",
    ":method",
    ":path",
    ":path",
    ":scheme",
    ":scheme",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
};

void hpack_init(struct hpack *h)
{
	h->max = 4096;
}

static int hp_int(const uint8_t **pp, const uint8_t *end, unsigned prefix, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t max = (1u << prefix) - 1, v;
	unsigned m = 0;
	uint8_t b;

	if (p >= end)
		return -1;
	v = *p++ & max;
	if (v == max) {
		do {
			if (p >= end || m > 56)
				return -1;
			b = *p++;
			v += (uint64_t)(b & 0x7f) << m;
			m += 7;
		} while (b & 0x80);
	}
	*pp = p;
	*out = v;
	return 0;
}

static int hp_str(const uint8_t **pp, const uint8_t *end, char *out, size_t *olen)
{
	const uint8_t *p = *pp;
	bool huff;
	uint64_t len;

	if (p >= end)
		return -1;
	huff = *p & 0x80;
	if (hp_int(&p, end, 7, &len) < 0 || len > (uint64_t)(end - p))
		return -1;
	if (huff) {
		if (huff_decode(p, len, out, HPACK_STR_MAX, olen) < 0)
			return -1;
	} else {
		memcpy(out, p, len < HPACK_STR_MAX ? len : HPACK_STR_MAX);
		*olen = len;
	}
	*pp = p + len;
	return 0;
}

static struct hpack_ent *hp_dyn(struct hpack *h, uint64_t i) /* i: 1 = newest */
{
	if (i < 1 || i > h->count)
		return NULL;
	return &h->e[(h->first + i - 1) % 128];
}

static void hp_evict(struct hpack *h, size_t room)
{
	while (h->count && h->size + room > h->max) {
		struct hpack_ent *e = &h->e[(h->first + h->count - 1) % 128];

		h->size -= e->nlen + e->vlen + 32;
		free(e->name);
		free(e->value);
		e->name = e->value = NULL;
		h->count--;
	}
}

static void hp_insert(struct hpack *h, const char *n, size_t nl, const char *v, size_t vl)
{
	size_t sz = nl + vl + 32;
	struct hpack_ent *e;

	hp_evict(h, sz);
	if (sz > h->max || nl > HPACK_STR_MAX || vl > HPACK_STR_MAX)
		return; /* larger than the table: the table is now empty */
	h->first = (h->first + 127) % 128;
	h->count++;
	e = &h->e[h->first];
	e->name = malloc(nl + 1);
	e->value = malloc(vl + 1);
	if (!e->name || !e->value)
		bench_die("out of memory");
	memcpy(e->name, n, nl);
	memcpy(e->value, v, vl);
	e->name[nl] = e->value[vl] = '\0';
	e->nlen = nl;
	e->vlen = vl;
	h->size += sz;
}

/* Decodes one header block; sets *status to grpc-status (-1 if absent)
 * and copies grpc-message into msg. Returns 0 or -1 (compression error). */
int hpack_decode(struct hpack *h, const uint8_t *p, size_t n, int *status, char *msg, size_t msgcap)
{
	static char name[HPACK_STR_MAX], value[HPACK_STR_MAX];
	const uint8_t *end = p + n;

	*status = -1;
	while (p < end) {
		uint64_t idx;
		size_t nl = 0, vl = 0;
		bool index = false;
		const char *nm;

		if (*p & 0x80) { /* indexed field */
			struct hpack_ent *e;

			if (hp_int(&p, end, 7, &idx) < 0 || idx == 0)
				return -1;
			if (idx <= 61)
				continue; /* no gRPC names in the static table */
			e = hp_dyn(h, idx - 61);
			if (!e)
				return -1;
			memcpy(name, e->name, e->nlen);
			memcpy(value, e->value, e->vlen);
			nl = e->nlen, vl = e->vlen;
		} else if ((*p & 0xe0) == 0x20) { /* dynamic table size update */
			if (hp_int(&p, end, 5, &idx) < 0 || idx > 4096)
				return -1;
			h->max = idx;
			hp_evict(h, 0);
			continue;
		} else {
			unsigned prefix = (*p & 0xc0) == 0x40 ? 6 : 4;

			index = prefix == 6;
			if (hp_int(&p, end, prefix, &idx) < 0)
				return -1;
			if (idx == 0) {
				if (hp_str(&p, end, name, &nl) < 0)
					return -1;
			} else if (idx <= 61) {
				nm = hp_static[idx];
				nl = strlen(nm);
				memcpy(name, nm, nl);
			} else {
				struct hpack_ent *e = hp_dyn(h, idx - 61);

				if (!e)
					return -1;
				memcpy(name, e->name, e->nlen);
				nl = e->nlen;
			}
			if (hp_str(&p, end, value, &vl) < 0)
				return -1;
			if (index)
				hp_insert(h, name, nl, value, vl);
		}
		if (nl == 11 && !memcmp(name, "grpc-status", 11)) {
			*status = 0;
			for (size_t i = 0; i < vl && i < 4; i++)
				*status = *status * 10 + (value[i] - '0');
		} else if (nl == 12 && !memcmp(name, "grpc-message", 12) && msgcap) {
			size_t k = vl < msgcap - 1 ? vl : msgcap - 1;

			memcpy(msg, value, k);
			msg[k] = '\0';
		}
	}
	return 0;
}

/* ---- HPACK encoding: literals without indexing, no Huffman ------------ */

size_t hpack_put_int(uint8_t *o, uint8_t first, unsigned prefix, uint64_t v)
{
	uint64_t max = (1u << prefix) - 1;
	size_t n = 0;

	if (v < max) {
		o[n++] = (uint8_t)(first | v);
		return n;
	}
	o[n++] = (uint8_t)(first | max);
	v -= max;
	while (v >= 128) {
		o[n++] = (uint8_t)(0x80 | (v & 0x7f));
		v >>= 7;
	}
	o[n++] = (uint8_t)v;
	return n;
}

/* A literal without indexing: static name index (or 0 with a new name). */
size_t hpack_put_lit(uint8_t *o, unsigned idx, const char *name, const char *value)
{
	size_t n = hpack_put_int(o, 0x00, 4, idx), l;

	if (!idx) {
		l = strlen(name);
		n += hpack_put_int(o + n, 0x00, 7, l);
		memcpy(o + n, name, l);
		n += l;
	}
	l = strlen(value);
	n += hpack_put_int(o + n, 0x00, 7, l);
	memcpy(o + n, value, l);
	return n + l;
}
