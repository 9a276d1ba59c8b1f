/* fuzz_metrics.c — libFuzzer target for metrics.c's parsers and escaping:
 * metrics_parse_proc_stat (the text of /proc/self/stat), metrics_backend_label
 * (a backend URL or pool key) and metrics_buf_escaped. Invariants: nothing
 * is read past the input; a label, when made, is "scheme://host[:port]" with
 * no '@', '{' or '/' after the scheme; an escaped value holds no raw '"',
 * '\n' or lone '\'.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "metrics.h"

static void check_label(const uint8_t *data, size_t size)
{
	char out[METRICS_BACKEND_LABEL_MAX];
	const char *rest;

	if (!metrics_backend_label((const char *)data, size, out, sizeof out)) {
		CHECK(out[0] == '\0');
		return;
	}
	CHECK(strlen(out) < sizeof out);
	rest = strstr(out, "://");
	CHECK(rest && rest != out);
	rest += 3;
	CHECK(*rest && !strchr(rest, '@') && !strchr(rest, '{') && !strchr(rest, '/'));
}

static void check_escape(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct metrics_buf b = {0};

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	metrics_buf_escaped(&b, s);
	for (size_t i = 0; b.p && i < b.len; i++) {
		CHECK(b.p[i] != '\n' && b.p[i] != '"');
		if (b.p[i] == '\\') {
			CHECK(i + 1 < b.len && strchr("\\\"n", b.p[i + 1]));
			i++;
		}
	}
	CHECK(!b.failed);
	free(b.p);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	uint8_t *copy = malloc(size ? size : 1);
	struct metrics_proc_stat st;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	metrics_parse_proc_stat((const char *)copy, size, &st);
	check_label(copy, size);
	free(copy);
	check_escape(data, size);
	return 0;
}
