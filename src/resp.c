/* resp.c — the RESP2 encoding of a command (resp.h). Pure: writes into the
 * caller's buffer, allocates nothing, touches no socket.
 */
#include "resp.h"

#include <string.h>

/* Decimal digits of v (at least one). */
static size_t digits(size_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Writes "<c><v>\r\n" at out; returns the bytes written. */
static size_t put_header(uint8_t *out, char c, size_t v)
{
	size_t n = digits(v);

	out[0] = (uint8_t)c;
	for (size_t i = n; i > 0; i--) {
		out[i] = (uint8_t)('0' + v % 10);
		v /= 10;
	}
	out[n + 1] = '\r';
	out[n + 2] = '\n';
	return n + 3;
}

size_t resp_cmd_size(int argc, const size_t *lens)
{
	size_t n = 3 + digits((size_t)argc);

	for (int i = 0; i < argc; i++)
		n += 3 + digits(lens[i]) + lens[i] + 2;
	return n;
}

size_t resp_cmd_encode(uint8_t *out, int argc, const char *const *argv, const size_t *lens)
{
	size_t off = put_header(out, '*', (size_t)argc);

	for (int i = 0; i < argc; i++) {
		off += put_header(out + off, '$', lens[i]);
		if (lens[i])
			memcpy(out + off, argv[i], lens[i]);
		off += lens[i];
		out[off++] = '\r';
		out[off++] = '\n';
	}
	return off;
}
