/* fuzz_integ_http.c — libFuzzer target for what integ_http.c makes of
 * hostile text: a backend's refusal headers (integ_http_refusal_headers),
 * client path parameters substituted into a template
 * (integ_http_substitute), and the rest of the input parsed as a client's
 * upgrade request whose query, headers and cookies fill placeholders
 * (integ_subst): the header mode never leaves a control character but
 * tab, the URL mode only URL-safe bytes, and none writes past its buffer.
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

static void subst_request(const char *head, size_t len, size_t outlen)
{
	static const char tmpl[] = "{q}|{h}|{c}|{X-A}|{X-Yc-Apigateway-Websocket-Connection-Id}|{p}";
	struct spec_param params[] = {{"q", PARAM_QUERY}, {"h", PARAM_HEADER}, {"c", PARAM_COOKIE}};
	struct integration in = {.type = INTEG_DUMMY, .params = params, .num_params = 3};
	struct route_match m = {.num_params = 1};
	struct http1_request req;
	struct integ_subst s = {NULL, &in, &m, &req, "cid", "MESSAGE", 1, NULL, NULL, NULL};
	char out[300];
	size_t n;

	if (http1_parse_request(head, len, &req) <= 0)
		return;
	m.params[0] = (struct route_param){"p", "v%2F", 4};
	for (int mode = SUBST_TEXT; mode <= SUBST_URL; mode++) {
		memset(out, 'Z', sizeof out);
		n = integ_subst(tmpl, &s, (enum integ_subst_mode)mode, out, outlen);
		CHECK(integ_subst(tmpl, &s, (enum integ_subst_mode)mode, NULL, 0) == n);
		/* text mode keeps a decoded %00: the length says where it ends */
		CHECK(out[n < outlen ? n : outlen - 1] == '\0');
		CHECK(mode == SUBST_TEXT || strlen(out) == (n < outlen ? n : outlen - 1));
		for (size_t i = outlen; i < sizeof out; i++)
			CHECK(out[i] == 'Z');
		for (const char *p = out; *p; p++) {
			unsigned char ch = (unsigned char)*p;

			if (mode == SUBST_HEADER)
				CHECK(ch >= 0x20 ? ch != 0x7f : ch == '\t');
			if (mode == SUBST_URL)
				CHECK(ch > 0x20 && ch < 0x7f);
		}
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
	subst_request(nul ? (const char *)nul + 1 : "", nul ? size - hlen - 1 : 0, outlen);
	return 0;
}
