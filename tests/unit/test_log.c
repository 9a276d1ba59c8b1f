/* test_log — log lines with fields: JSON lines parse alone (jansson) with
 * each field a member, whatever bytes a value holds; text lines lead with
 * "conn ID: " and show the other fields as key=value, quoted when a value
 * holds a space, quote, '=', backslash or control byte; only the origin of
 * a backend URL; nothing below the threshold. stderr is captured in a
 * temporary file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static char out[32768];

/* Runs the logging done by fn with stderr going to a file; out gets it. */
static void capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof out - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static void log_some(void)
{
	log_warn_f(LOG_FIELDS(LF_STR("conn", "abc123"), LF_STR("route", "/chat/{room}"),
	                      LF_INT("status", 404), LF_INT("code", -1),
	                      LF_ORIGIN("backend", "https://u:p@h.example:8443/p/a?tok=SECRET"),
	                      LF_STR("request_id", NULL)),
	           "refused %s", "\"x\"");
	log_info_f(LOG_FIELDS(LF_STR("route", "a b\"c=d\\e\n\x01\xff")), "odd");
	log_debug_f(LOG_FIELDS(LF_STR("conn", "hidden")), "below the threshold");
	log_error("no fields");
}

static void test_json(void **state)
{
	json_error_t jerr;
	json_t *j;
	char *line, *save = NULL;
	int lines = 0;

	(void)state;
	log_init(LOG_INFO, LOG_FORMAT_JSON);
	capture(log_some);
	assert_null(strstr(out, "SECRET"));
	assert_null(strstr(out, "hidden"));
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		j = json_loads(line, 0, &jerr);
		if (!j)
			fail_msg("not one JSON object: %s (%s)", line, jerr.text);
		if (lines == 0) {
			assert_string_equal(json_string_value(json_object_get(j, "msg")),
			                    "refused \"x\"");
			assert_string_equal(json_string_value(json_object_get(j, "conn")),
			                    "abc123");
			assert_string_equal(json_string_value(json_object_get(j, "route")),
			                    "/chat/{room}");
			assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
			assert_int_equal(json_integer_value(json_object_get(j, "code")), -1);
			assert_string_equal(json_string_value(json_object_get(j, "backend")),
			                    "https://h.example:8443");
			assert_null(json_object_get(j, "request_id")); /* NULL: left out */
		} else if (lines == 1) {
			assert_string_equal(json_string_value(json_object_get(j, "route")),
			                    "a b\"c=d\\e\n\x01\xef\xbf\xbd");
		} else {
			assert_string_equal(json_string_value(json_object_get(j, "level")),
			                    "error");
			assert_int_equal(json_object_size(j), 3);
		}
		json_decref(j);
		lines++;
	}
	assert_int_equal(lines, 3);
}

static void test_text(void **state)
{
	char *l1, *l2, *l3, *save = NULL;

	(void)state;
	log_init(LOG_INFO, LOG_FORMAT_TEXT);
	capture(log_some);
	l1 = strtok_r(out, "\n", &save);
	l2 = strtok_r(NULL, "\n", &save);
	l3 = strtok_r(NULL, "\n", &save);
	assert_non_null(l3);
	assert_null(strtok_r(NULL, "\n", &save));
	assert_non_null(strstr(l1, " warn conn abc123: refused \"x\" route=/chat/{room} status=404 "
	                           "code=-1 backend=https://h.example:8443"));
	assert_null(strstr(l1, "request_id"));
	assert_non_null(strstr(l2, " info odd route=\"a b\\\"c=d\\\\e\\n\\u0001\\ufffd\""));
	assert_non_null(strstr(l3, " error no fields"));
	assert_int_equal(l3[strlen(l3) - 1], 's'); /* nothing after the message */
}

static void test_origin(void **state)
{
	char o[16];

	(void)state;
	assert_int_equal(log_url_origin("http://h:1/x?y", o, sizeof o), 10);
	assert_string_equal(o, "http://h:1");
	log_url_origin("http://h?q", o, sizeof o);
	assert_string_equal(o, "http://h");
	log_url_origin("http://h#f", o, sizeof o);
	assert_string_equal(o, "http://h");
	log_url_origin("no-scheme/x", o, sizeof o);
	assert_string_equal(o, "no-scheme/x");
	assert_int_equal(log_url_origin("http://a-very-long-host.example/", o, sizeof o), 15);
	log_url_origin("http://user:pw@h:2/x@y", o, sizeof o);
	assert_string_equal(o, "http://h:2"); /* credentials left out */
	log_url_origin("http://a@b@h/", o, sizeof o);
	assert_string_equal(o, "http://h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
