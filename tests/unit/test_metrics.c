/* test_metrics.c — unit tests for hist.c and metrics.c: bucket edges,
 * close-code classes, backend labels, /proc/self/stat parsing, and the
 * text exposition format of a rendered snapshot (HELP and TYPE before
 * each family, label escaping, histograms' ascending `le` ending in +Inf
 * with cumulative counts equal to _count, _sum in seconds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"
#include "metrics.h"

static void test_hist_edges(void **state)
{
	struct hist h = {0};

	(void)state;
	hist_observe(&h, 0);
	hist_observe(&h, hist_bounds_ns[0]); /* le: the bound itself is inside */
	hist_observe(&h, hist_bounds_ns[0] + 1);
	hist_observe(&h, hist_bounds_ns[HIST_NUM_BOUNDS - 1]);
	hist_observe(&h, hist_bounds_ns[HIST_NUM_BOUNDS - 1] + 1);
	hist_observe(&h, UINT64_MAX / 2);
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 1);
	assert_int_equal(h.bucket[HIST_NUM_BOUNDS - 1], 1);
	assert_int_equal(h.bucket[HIST_NUM_BOUNDS], 2);
	assert_int_equal(hist_count(&h), 6);
	for (size_t i = 1; i < HIST_NUM_BOUNDS; i++) {
		struct hist one = {0};

		assert_true(hist_bounds_ns[i - 1] < hist_bounds_ns[i]);
		/* the text is the same number in seconds */
		assert_true(strtod(hist_bounds_text[i], NULL) * 1e9 >
		            (double)hist_bounds_ns[i] - 1);
		assert_true(strtod(hist_bounds_text[i], NULL) * 1e9 <
		            (double)hist_bounds_ns[i] + 1);
		hist_observe(&one, hist_bounds_ns[i - 1] + 1);
		assert_int_equal(one.bucket[i], 1);
		assert_int_equal(one.sum_ns, hist_bounds_ns[i - 1] + 1);
	}
}

static void test_code_class(void **state)
{
	static const struct {
		uint16_t code;
		const char *name;
	} cases[] = {
	    {1000, "1000"},  {1001, "1001"},  {1003, "1003"},  {1004, "other"},
	    {1005, "1005"},  {1006, "1006"},  {1011, "1011"},  {1014, "1014"},
	    {1015, "other"}, {2999, "other"}, {3000, "3xxx"},  {3999, "3xxx"},
	    {4000, "4xxx"},  {4999, "4xxx"},  {5000, "other"}, {0, "other"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned c = metrics_code_class(cases[i].code);

		assert_true(c < METRICS_CODE_CLASSES);
		assert_string_equal(metrics_code_class_names[c], cases[i].name);
	}
}

static void test_backend_label(void **state)
{
	static const struct {
		const char *url, *want; /* want NULL: no label */
	} cases[] = {
	    {"http://127.0.0.1:3000/connect/{room}", "http://127.0.0.1:3000"},
	    {"HTTP://Backend.Example:8080", "http://backend.example:8080"},
	    {"https://example.com/x?y#z", "https://example.com:443"},
	    {"http://example.com?q", "http://example.com:80"},
	    {"http://user:pa%40ss@host:81/p", "http://host:81"}, /* never the password */
	    {"http://[::1]:9000/a", "http://[::1]:9000"},
	    {"http://[::1]/a", "http://[::1]:80"},
	    {"ftp://h/x", "ftp://h"},
	    {"http://{host}:80/x", NULL},
	    {"http://h:{port}/x", NULL},
	    {"http:///x", NULL},
	    {"nohost", NULL},
	    {"://h", NULL},
	    {"http://[::1/x", NULL},
	    {"http://a b:1/", NULL},
	    {"http://h\x7f:1/", NULL},
	    {"htt\xc3\xa9p://h/", NULL},
	    {"http://h:8\n0/", NULL},
	};
	char out[METRICS_BACKEND_LABEL_MAX], big[300];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool ok =
		    metrics_backend_label(cases[i].url, strlen(cases[i].url), out, sizeof out);

		if (ok != (cases[i].want != NULL) || (ok && strcmp(out, cases[i].want)))
			fail_msg("%s: %d '%s'", cases[i].url, ok, out);
		if (!ok)
			assert_string_equal(out, "");
	}
	/* a key, not NUL-terminated where it ends */
	assert_true(metrics_backend_label("http://a:1/zzz", 10, out, sizeof out));
	assert_string_equal(out, "http://a:1");
	/* too long for a label */
	memcpy(big, "http://", 7);
	memset(big + 7, 'h', 250);
	big[257] = '\0';
	assert_false(metrics_backend_label(big, strlen(big), out, sizeof out));
	assert_false(metrics_backend_label("http://abc:1", 12, out, 12));
	/* the port is what does not fit: nothing half-written is left */
	assert_false(metrics_backend_label("http://a:12345678", 17, out, 12));
	assert_string_equal(out, "");
}

static void test_backend_index(void **state)
{
	static struct metrics m;
	char label[32];

	(void)state;
	assert_int_equal(metrics_backend_index(&m, ""), METRICS_MAX_BACKENDS);
	for (unsigned i = 0; i < METRICS_MAX_BACKENDS; i++) {
		snprintf(label, sizeof label, "http://h%u:80", i);
		assert_int_equal(metrics_backend_index(&m, label), i);
		assert_int_equal(metrics_backend_index(&m, label), i); /* found, not added twice */
	}
	assert_int_equal(metrics_backend_index(&m, "http://late:80"), METRICS_MAX_BACKENDS);
	assert_int_equal(metrics_backend_index(&m, "http://h3:80"), 3);
	assert_int_equal(m.num_backends, METRICS_MAX_BACKENDS);
}

static void test_proc_stat(void **state)
{
	static const char ok[] =
	    "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 1 0 "
	    "98765 20426752 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n";
	struct metrics_proc_stat st;

	(void)state;
	assert_int_equal(metrics_parse_proc_stat(ok, strlen(ok), &st), 0);
	assert_int_equal(st.utime, 123);
	assert_int_equal(st.stime, 45);
	assert_int_equal(st.starttime, 98765);
	assert_int_equal(st.vsize, 20426752);
	assert_int_equal(st.rss_pages, 2560);
	/* cut anywhere before the rss field: refused, never read past len */
	for (size_t n = 0; n < (size_t)(strstr(ok, " 2560 ") - ok) + 1; n++) {
		char *copy = malloc(n ? n : 1);

		memcpy(copy, ok, n);
		assert_int_equal(metrics_parse_proc_stat(copy, n, &st), -1);
		free(copy);
	}
	assert_int_equal(metrics_parse_proc_stat("1 (x) S 1 2 x 4", 15, &st), -1);
}

static void test_escape(void **state)
{
	struct metrics_buf b = {0};

	(void)state;
	metrics_buf_escaped(&b, "a\"b\\c\nd\te");
	assert_string_equal(b.p, "a\\\"b\\\\c\\nd\te");
	free(b.p);
}

/* ---- a rendered snapshot ------------------------------------------------------ */

#define MAX_FAMILIES 128

struct family {
	char name[96], type[16];
	bool help;
	unsigned samples;
};

static struct family *find(struct family *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(f[i].name, name))
			return &f[i];
	return NULL;
}

/* The family a sample belongs to: histograms' series carry a suffix. */
static struct family *owner(struct family *f, size_t n, const char *sample)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	char base[96];
	struct family *fam = find(f, n, sample);

	if (fam)
		return fam;
	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(sample), xl = strlen(sfx[i]);

		if (sl > xl && !strcmp(sample + sl - xl, sfx[i])) {
			snprintf(base, sizeof base, "%.*s", (int)(sl - xl), sample);
			fam = find(f, n, base);
			if (fam && !strcmp(fam->type, "histogram"))
				return fam;
		}
	}
	return NULL;
}

/* Checks the whole text: every line is a HELP, a TYPE or a sample; HELP
 * then TYPE open each family once; every sample follows its family's
 * TYPE, with a number for a value. Returns the families. */
static size_t check_format(const char *text, struct family *f)
{
	size_t n = 0;
	struct family *cur = NULL;
	const char *p = text;

	assert_true(text[strlen(text) - 1] == '\n');
	while (*p) {
		const char *eol = strchr(p, '\n');
		char line[512], name[96], type[16];

		assert_non_null(eol);
		assert_true((size_t)(eol - p) < sizeof line);
		snprintf(line, sizeof line, "%.*s", (int)(eol - p), p);
		p = eol + 1;
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(sscanf(line + 7, "%95s", name), 1);
			if (find(f, n, name))
				fail_msg("family %s twice", name);
			assert_true(n < MAX_FAMILIES);
			cur = &f[n++];
			memset(cur, 0, sizeof *cur);
			strcpy(cur->name, name);
			cur->help = true;
			assert_true(strlen(line) > 8 + strlen(name)); /* some help text */
		} else if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(sscanf(line + 7, "%95s %15s", name, type), 2);
			assert_non_null(cur);
			assert_string_equal(cur->name, name);
			assert_true(!cur->type[0]);
			strcpy(cur->type, type);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
			            !strcmp(type, "histogram"));
			if (!strcmp(type, "counter"))
				assert_non_null(strstr(name, "_total"));
		} else {
			size_t nl = strcspn(line, "{ ");
			const char *val = strrchr(line, ' ');
			char *end;
			struct family *fam;

			assert_true(line[0] != '#' && nl > 0 && nl < sizeof name);
			snprintf(name, sizeof name, "%.*s", (int)nl, line);
			fam = owner(f, n, name);
			if (!fam || fam != cur || !cur->type[0])
				fail_msg("sample outside its family: %s", line);
			fam->samples++;
			assert_non_null(val);
			strtod(val + 1, &end);
			assert_true(*end == '\0' && end > val + 1);
			if (line[nl] == '{')
				assert_true(strstr(line, "} ") != NULL);
		}
	}
	return n;
}

/* The series name{labels,le="..."}: checks ascending le, cumulative
 * counts, +Inf last and equal to _count; returns _count. */
static uint64_t check_histogram(const char *text, const char *name, const char *labels,
                                uint64_t want_sum_ns)
{
	char bucket[160], sum[160], count[160];
	const char *p;
	double last_le = -1;
	uint64_t last = 0, inf = UINT64_MAX, cnt;
	unsigned seen = 0;
	double s;

	snprintf(bucket, sizeof bucket, "%s_bucket{%s", name, labels);
	for (p = strstr(text, bucket); p; p = strstr(p + 1, bucket)) {
		const char *le = strstr(p, "le=\"");
		uint64_t v;

		assert_non_null(le);
		v = strtoull(strstr(le, "} ") + 2, NULL, 10);
		assert_true(v >= last);
		last = v;
		seen++;
		if (!strncmp(le + 4, "+Inf\"", 5)) {
			inf = v;
			break;
		}
		assert_true(strtod(le + 4, NULL) > last_le);
		last_le = strtod(le + 4, NULL);
	}
	assert_int_equal(seen, HIST_NUM_BOUNDS + 1);
	snprintf(sum, sizeof sum, "%s_sum{%.*s} ", name, (int)strlen(labels) - 1, labels);
	snprintf(count, sizeof count, "%s_count{%.*s} ", name, (int)strlen(labels) - 1, labels);
	p = strstr(text, sum);
	assert_non_null(p);
	s = strtod(strchr(p, ' ') + 1, NULL);
	assert_true(s * 1e9 > (double)want_sum_ns - 1 && s * 1e9 < (double)want_sum_ns + 1);
	p = strstr(text, count);
	assert_non_null(p);
	cnt = strtoull(strchr(p, ' ') + 1, NULL, 10);
	assert_int_equal(cnt, inf);
	return cnt;
}

static void test_render(void **state)
{
	static struct metrics m;
	static struct metrics_snapshot s;
	struct family fams[MAX_FAMILIES];
	struct metrics_buf b = {0};
	size_t n;

	(void)state;
	m.refused[METRICS_REFUSED_NO_ROUTE] = 3;
	m.closed[METRICS_BY_CLIENT][metrics_code_class(1000)] = 2;
	m.closed[METRICS_BY_SERVER][metrics_code_class(4001)] = 1;
	metrics_api_done(&m, METRICS_GRPC, METRICS_API_SEND, 0, 150000);  /* 150 µs */
	metrics_api_done(&m, METRICS_GRPC, METRICS_API_SEND, 8, 2000000); /* 2 ms */
	metrics_api_done(&m, METRICS_REST, METRICS_API_GET, 5, 50);
	metrics_api_done(&m, METRICS_REST, METRICS_API_NONE, 0, 50); /* not counted */
	metrics_integ_done(&m, METRICS_EV_MESSAGE, 200, 1000000);
	metrics_integ_done(&m, METRICS_EV_MESSAGE, 0, 40000000000ull); /* past the last bound */
	metrics_integ_done(&m, METRICS_EV_DISCONNECT, 503, 7);
	metrics_backend_index(&m, "http://a\"b\\c:80");
	s.m = &m;
	s.version = "0.1.0";
	s.commit = "abc\"d\\e\nf";
	s.accepted = 7;
	s.conns_open = 4;
	s.in_flight[0] = 2;
	s.waiting[0] = 5;
	s.in_flight[METRICS_MAX_BACKENDS] = 1;
	s.other_backend = true;
	s.proc = (struct metrics_process){true, 1.5, 1700000000.25, 4096, 8192, 9, 1024};
	assert_int_equal(metrics_render(&s, &b), 0);
	assert_int_equal(strlen(b.p), b.len);
	n = check_format(b.p, fams);
	assert_true(n > 30);
	assert_non_null(
	    strstr(b.p, "wsgw_build_info{version=\"0.1.0\",commit=\"abc\\\"d\\\\e\\nf\"} 1\n"));
	assert_non_null(strstr(b.p, "\nwsgw_connections_accepted_total 7\n"));
	assert_non_null(strstr(b.p, "\nwsgw_connections_open 4\n"));
	assert_non_null(strstr(b.p, "\nwsgw_connections_refused_total{reason=\"no_route\"} 3\n"));
	assert_non_null(strstr(b.p, "\nwsgw_connections_refused_total{reason=\"fd_limit\"} 0\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_connections_closed_total{by=\"client\",code=\"1000\"} 2\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_connections_closed_total{by=\"server\",code=\"4xxx\"} 1\n"));
	assert_null(strstr(b.p, "by=\"timeout\""));
	assert_non_null(strstr(b.p, "\nwsgw_api_requests_total{transport=\"grpc\",method=\"Send\","
	                            "code=\"OK\"} 1\n"));
	assert_non_null(strstr(b.p, "\nwsgw_api_requests_total{transport=\"grpc\",method=\"Send\","
	                            "code=\"RESOURCE_EXHAUSTED\"} 1\n"));
	assert_non_null(strstr(b.p, "\nwsgw_api_requests_total{transport=\"rest\",method=\"Get\","
	                            "code=\"NOT_FOUND\"} 1\n"));
	assert_int_equal(check_histogram(b.p, "wsgw_api_request_duration_seconds",
	                                 "transport=\"grpc\",method=\"Send\",", 2150000),
	                 2);
	assert_non_null(strstr(b.p, "wsgw_api_request_duration_seconds_bucket{transport=\"grpc\","
	                            "method=\"Send\",le=\"0.00025\"} 1\n"));
	assert_non_null(strstr(b.p, "wsgw_api_request_duration_seconds_sum{transport=\"grpc\","
	                            "method=\"Send\"} 0.002150000\n"));
	assert_null(strstr(b.p, "method=\"Check\""));
	assert_int_equal(check_histogram(b.p, "wsgw_integration_call_duration_seconds",
	                                 "event=\"message\",", 40001000000ull),
	                 2);
	assert_non_null(strstr(b.p,
	                       "wsgw_integration_call_duration_seconds_bucket{event=\"message\","
	                       "le=\"30\"} 1\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_integration_calls_total{event=\"message\",outcome=\"error\"} 1\n"));
	assert_non_null(strstr(
	    b.p, "\nwsgw_integration_calls_total{event=\"disconnect\",outcome=\"5xx\"} 1\n"));
	assert_non_null(strstr(b.p,
	                       "\nwsgw_backend_calls_in_flight{backend=\"http://a\\\"b\\\\c:80\"} "
	                       "2\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_backend_calls_waiting{backend=\"http://a\\\"b\\\\c:80\"} 5\n"));
	assert_non_null(strstr(b.p, "\nwsgw_backend_calls_in_flight{backend=\"other\"} 1\n"));
	assert_non_null(strstr(b.p, "\nprocess_cpu_seconds_total 1.50\n"));
	assert_non_null(strstr(b.p, "\nprocess_start_time_seconds 1700000000.25\n"));
	assert_non_null(strstr(b.p, "\nprocess_open_fds 9\n"));
	assert_non_null(strstr(b.p, "\nprocess_max_fds 1024\n"));
	assert_string_equal(find(fams, n, "wsgw_api_request_duration_seconds")->type, "histogram");
	assert_int_equal(find(fams, n, "wsgw_api_request_duration_seconds")->samples,
	                 2 * (HIST_NUM_BOUNDS + 3));
	free(b.p);

	/* /proc unreadable: the process_ families that need it are left out */
	memset(&b, 0, sizeof b);
	s.proc.ok = false;
	assert_int_equal(metrics_render(&s, &b), 0);
	check_format(b.p, fams);
	assert_null(strstr(b.p, "process_cpu_seconds_total"));
	assert_non_null(strstr(b.p, "\nprocess_max_fds 1024\n"));
	free(b.p);
}

/* --cluster: the wsgw_cluster_* families appear only with cluster_on,
 * every fixed label from the start, remote calls from their first count. */
static void test_render_cluster(void **state)
{
	static struct metrics m;
	static struct metrics_snapshot s;
	struct family fams[MAX_FAMILIES];
	struct metrics_buf b = {0};
	struct metrics_cluster *c = &s.cluster;
	size_t n;

	(void)state;
	s.m = &m;
	assert_int_equal(metrics_render(&s, &b), 0);
	assert_null(strstr(b.p, "wsgw_cluster_"));
	free(b.p);

	memset(&b, 0, sizeof b);
	s.cluster_on = true;
	c->link_up[METRICS_CL_LINK_COMMANDS] = true;
	c->reconnects[METRICS_CL_LINK_SUBSCRIBER] = 2;
	c->calls[METRICS_CL_SEND][METRICS_CL_OK] = 3;
	c->calls[METRICS_CL_GET][METRICS_CL_DEADLINE] = 1;
	hist_observe(&c->latency[METRICS_CL_SEND], 300000); /* 300 µs */
	hist_observe(&c->latency[METRICS_CL_SEND], 100);
	c->served[METRICS_CL_CLOSE] = 4;
	c->dropped_late = 5;
	c->in_flight = 6;
	c->probe_failures[METRICS_CL_PROBE_TIMEOUT] = 7;
	assert_int_equal(metrics_render(&s, &b), 0);
	n = check_format(b.p, fams);
	assert_non_null(strstr(b.p, "\nwsgw_cluster_link_up{link=\"commands\"} 1\n"));
	assert_non_null(strstr(b.p, "\nwsgw_cluster_link_up{link=\"subscriber\"} 0\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_cluster_link_reconnects_total{link=\"subscriber\"} 2\n"));
	assert_non_null(strstr(b.p, "\nwsgw_cluster_link_reconnects_total{link=\"commands\"} 0\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_cluster_remote_calls_total{op=\"send\",outcome=\"ok\"} 3\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_cluster_remote_calls_total{op=\"get\",outcome=\"deadline\"} 1\n"));
	assert_null(strstr(b.p, "outcome=\"cancelled\""));
	assert_int_equal(check_histogram(b.p, "wsgw_cluster_remote_call_duration_seconds",
	                                 "op=\"send\",", 300100),
	                 2);
	assert_null(strstr(b.p, "wsgw_cluster_remote_call_duration_seconds_count{op=\"get\"}"));
	assert_non_null(strstr(b.p, "\nwsgw_cluster_remote_calls_in_flight 6\n"));
	assert_non_null(strstr(b.p, "\nwsgw_cluster_requests_served_total{op=\"disconnect\"} 4\n"));
	assert_non_null(strstr(b.p, "\nwsgw_cluster_requests_served_total{op=\"get\"} 0\n"));
	assert_non_null(strstr(b.p, "\nwsgw_cluster_requests_dropped_late_total 5\n"));
	assert_non_null(strstr(b.p, "\nwsgw_cluster_probe_failures_total{reason=\"timeout\"} 7\n"));
	assert_non_null(
	    strstr(b.p, "\nwsgw_cluster_probe_failures_total{reason=\"no_subscriber\"} 0\n"));
	assert_string_equal(find(fams, n, "wsgw_cluster_remote_call_duration_seconds")->type,
	                    "histogram");
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist_edges),    cmocka_unit_test(test_code_class),
	    cmocka_unit_test(test_backend_label), cmocka_unit_test(test_backend_index),
	    cmocka_unit_test(test_proc_stat),     cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_render),        cmocka_unit_test(test_render_cluster),
	};

	return cmocka_run_group_tests_name("test_metrics", tests, NULL, NULL);
}
