/* fuzz_integ_http.c — libFuzzer target for what integ_http.c makes of
 * hostile text: a backend's refusal headers (integ_http_refusal_headers)
 * and client path parameters substituted into a template
 * (integ_http_substitute).
 *
 * Input: byte 0 picks the output size; the rest is split at the first
 * NUL into raw header bytes and a parameter value. Checked: the output
 * fits and is NUL-terminated; it is whole "Name: value\r\n" lines with a
 * token name, no control character but tab, and no framing header; the
 * substitution never writes past its buffer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "integ_http.h"

static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_lines(const char *out, size_t n)
{
	static const char *const framing[] = {"content-length:", "content-type:", "connection:",
					      "transfer-encoding:", "upgrade:", "keep-alive:",
					      "te:", "trailer:", "proxy-", "sec-websocket-"};
	size_t i = 0;

	CHECK(strlen(out) == n);
	while (i < n) {
		const char *line = out + i, *end = strstr(line, "\r\n");
		size_t name = 0;

		CHECK(end != NULL);
		while (line + name < end && tchar((unsigned char)line[name]))
			name++;
		CHECK(name > 0 && line[name] == ':');
		for (const char *p = line + name + 1; p < end; p++)
			CHECK((unsigned char)*p >= 0x20 ? *p != 0x7f : *p == '\t');
		for (size_t k = 0; k < sizeof framing / sizeof framing[0]; k++)
			CHECK(strncasecmp(line, framing[k], strlen(framing[k])) != 0);
		i = (size_t)(end - out) + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[300], sub[64];
	size_t outlen, n, hlen;
	const uint8_t *nul;
	struct route_match m = {.num_params = 1};

	if (size < 1)
		return 0;
	outlen = (size_t)data[0] + 1 < sizeof out ? (size_t)data[0] + 1 : sizeof out;
	data++;
	size--;
	nul = memchr(data, 0, size);
	hlen = nul ? (size_t)(nul - data) : size;

	memset(out, 'Z', sizeof out);
	n = integ_http_refusal_headers((const char *)data, hlen, out, outlen);
	CHECK(n < outlen);
	for (size_t i = outlen; i < sizeof out; i++)
		CHECK(out[i] == 'Z');
	check_lines(out, n);

	m.params[0] = (struct route_param){"p", nul ? (const char *)nul + 1 : "",
					   nul ? size - hlen - 1 : 0};
	memset(sub, 'Z', sizeof sub);
	n = integ_http_substitute("/a/{p}/b/{p}{q}", &m, sub, sizeof sub - 8);
	CHECK(n < sizeof sub - 8 && sub[n] == '\0');
	for (size_t i = sizeof sub - 8; i < sizeof sub; i++)
		CHECK(sub[i] == 'Z');
	return 0;
}
