/* test_spec_hold — the shared spec: the last reference frees it (ASan's
 * leak check and use-after-free check run this under make unit-asan), a
 * failed load leaves *out alone, no path means the default echo spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "spec.h"

static void test_default_and_refs(void **state)
{
	struct spec *s = NULL;
	struct route_match m;

	(void)state;
	assert_int_equal(spec_new(NULL, NULL, 0, &s, NULL, 0), 0);
	assert_non_null(s);
	assert_int_equal(s->refs, 1);
	assert_ptr_equal(spec_hold(s), s);
	assert_ptr_equal(spec_hold(s), s);
	assert_int_equal(s->refs, 3);
	spec_drop(s);
	spec_drop(s);
	/* one holder left: the spec is still whole */
	assert_non_null(spec_match(s, "/x", 2, &m));
	spec_drop(s); /* freed: ASan reports a leak otherwise */
	assert_null(spec_hold(NULL));
	spec_drop(NULL);
}

static int rt_freed;
static struct spec *rt_spec;

/* The runtime is freed first, while the spec is still whole. */
static void rt_free(void *rt)
{
	struct route_match m;

	assert_ptr_equal(rt, &rt_freed);
	assert_non_null(spec_match(rt_spec, "/x", 2, &m));
	rt_freed++;
}

/* The server's runtime state (auth.c) goes with the spec's last reference,
 * exactly once. */
static void test_runtime_freed_with_the_spec(void **state)
{
	struct spec *s = NULL;

	(void)state;
	assert_int_equal(spec_new(NULL, NULL, 0, &s, NULL, 0), 0);
	assert_null(s->rt);
	s->rt = &rt_freed;
	s->rt_free = rt_free;
	rt_spec = s;
	spec_hold(s);
	spec_drop(s);
	assert_int_equal(rt_freed, 0);
	spec_drop(s);
	assert_int_equal(rt_freed, 1);
}

static void test_load_file(void **state)
{
	static const char good[] = "openapi: 3.0.0\n"
	                           "paths:\n"
	                           "  /a:\n"
	                           "    x-yc-apigateway-websocket-message:\n"
	                           "      x-yc-apigateway-integration: {type: echo}\n";
	char path[] = "/tmp/test_spec_hold_XXXXXX", err[256];
	struct spec *s = NULL, *keep = (struct spec *)&path; /* a marker: must stay */
	struct route_match m;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
	close(fd);
	assert_int_equal(spec_new(path, NULL, 0, &s, err, sizeof err), 0);
	assert_int_equal(s->num_routes, 1);
	assert_non_null(spec_match(s, "/a", 2, &m));
	assert_null(spec_match(s, "/b", 2, &m));
	spec_drop(s);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "paths: [", 8), 8);
	close(fd);
	s = keep;
	assert_int_equal(spec_new(path, NULL, 0, &s, err, sizeof err), ERR_INVAL);
	assert_ptr_equal(s, keep);
	assert_non_null(strstr(err, path));
	unlink(path);
	assert_int_equal(spec_new(path, NULL, 0, &s, err, sizeof err), ERR_INVAL);
	assert_ptr_equal(s, keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_and_refs),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_runtime_freed_with_the_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
