/* jsonesc.c — JSON string escaping for log lines (jsonesc.h). Client
 * bytes (paths, headers, spec text) reach log messages, so the escaper
 * must keep every line one valid JSON object whatever the input: no raw
 * control byte, no unescaped quote, no invalid UTF-8 (RFC 8259 §7, §8.1).
 * Pure.
 */
#include "jsonesc.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (RFC 3629 §4), 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf; /* the second byte's range */

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

size_t jsonesc_encode(const char *in, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)in;
	size_t o = 0, i = 0;

	while (i < n) {
		char esc[8];
		const char *w = esc;
		size_t wl, used = 1;
		uint8_t c = p[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			wl = 2;
		} else if (c < 0x20 || c == 0x7f) {
			const char *named = c == '\n'   ? "\\n"
			                    : c == '\r' ? "\\r"
			                    : c == '\t' ? "\\t"
			                    : c == '\b' ? "\\b"
			                    : c == '\f' ? "\\f"
			                                : NULL;
			if (named) {
				w = named;
				wl = 2;
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				wl = 6;
			}
		} else if (c < 0x80) {
			w = (const char *)p + i;
			wl = 1;
		} else if ((used = utf8_len(p + i, n - i)) != 0) {
			w = (const char *)p + i;
			wl = used;
		} else {
			w = "\\ufffd";
			wl = 6;
			used = 1;
		}
		if (wl > cap - 1 - o)
			break;
		memcpy(out + o, w, wl);
		o += wl;
		i += used;
	}
	out[o] = '\0';
	return o;
}
