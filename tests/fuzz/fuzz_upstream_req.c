/* fuzz_upstream_req.c — libFuzzer target for backend URL splitting and
 * request-head layout.
 *
 * Input: up to the first NUL, a URL; after it, NUL-separated extra header
 * lines (the last one is the method). Checked: a URL that parses yields
 * views inside it with a host of 1..DNS_MAX_NAME bytes and a port; a head
 * that lays out writes exactly the length announced, never past the buffer
 * given (an exact-size heap copy, so ASan sees it), starts with the method
 * and ends with the empty line, and holds no CR or LF but the line ends.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dns.h"
#include "err.h"
#include "fuzz.h"
#include "upstream.h"
#include "upstream_req.h"

#define MAX_EXTRA 8

static bool inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p + n <= base + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *out;
	const char *extra[MAX_EXTRA], *why = NULL, *method = "POST";
	struct upstream_call call = {0};
	struct upstream_url u;
	size_t n = 0, len;
	long need;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	len = strlen(buf);
	for (char *p = buf + len; p < buf + size && n < MAX_EXTRA;) {
		p++;
		extra[n++] = p;
		p += strlen(p);
	}
	if (n) /* the last piece names the method */
		method = extra[--n];
	if (upstream_url_parse(buf, &u, &why) < 0) {
		CHECK(why != NULL);
		free(buf);
		return 0;
	}
	CHECK(u.host_len >= 1 && u.host_len <= DNS_MAX_NAME && u.port >= 1);
	CHECK(inside(u.host, u.host_len, buf, len) &&
	      inside(u.authority, u.authority_len, buf, len));
	CHECK(inside(u.target, u.target_len, buf, len) && u.key_len <= len);
	call = (struct upstream_call){
	    .method = method, .extra = extra, .num_extra = n, .body_len = size};
	need = upstream_req_head(&u, &call, NULL, 0);
	if (need < 0) {
		free(buf);
		return 0;
	}
	out = malloc((size_t)need ? (size_t)need : 1);
	CHECK(out != NULL);
	CHECK(upstream_req_head(&u, &call, out, (size_t)need) == need);
	CHECK(need >= 4 && !memcmp(out + need - 4, "\r\n\r\n", 4));
	CHECK(!memcmp(out, method, strlen(method)));
	for (long i = 0; i < need; i++) {
		if (out[i] == '\r')
			CHECK(i + 1 < need && out[i + 1] == '\n');
		if (out[i] == '\n')
			CHECK(i > 0 && out[i - 1] == '\r');
	}
	free(out);
	free(buf);
	return 0;
}
