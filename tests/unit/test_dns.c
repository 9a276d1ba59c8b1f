/* test_dns.c — the c-ares resolver on the real loop, against a DNS server
 * in this process: a UDP socket on 127.0.0.1 (registered in the same loop)
 * that answers A queries for *.wsgw.test with 127.0.0.7 and a TTL taken
 * from the name ("ttl1.wsgw.test": 1 s, "ttl0...": 0 s, others 60 s),
 * NXDOMAIN for "missing.wsgw.test", nothing at all for "drop.wsgw.test",
 * and an empty answer to every AAAA query. Not pure (sockets, the loop),
 * but loopback only and bounded: every wait ends within 5 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "dns.h"
#include "err.h"
#include "loop.h"

struct server {
	struct loop_io io;
	uint16_t port;
	unsigned queries; /* every query received */
	char servers[64]; /* "127.0.0.1:port" for dns_config.servers */
};

struct outcome {
	bool called;
	int status;
	struct dns_addrs addrs;
	char reason[128];
};

static struct loop loop;
static struct server srv;

/* The question's name as dotted text; returns the offset after QTYPE/QCLASS. */
static size_t question(const unsigned char *m, size_t n, char *name, size_t cap, int *qtype)
{
	size_t i = 12, o = 0;

	while (i < n && m[i] != 0) {
		size_t l = m[i++];

		if (l > 63 || i + l > n || o + l + 2 > cap)
			return 0;
		if (o)
			name[o++] = '.';
		memcpy(name + o, m + i, l);
		o += l;
		i += l;
	}
	name[o] = '\0';
	if (i + 5 > n)
		return 0;
	*qtype = m[i + 1] << 8 | m[i + 2];
	return i + 5;
}

static void on_query(struct loop_io *io, uint32_t events)
{
	unsigned char m[512], out[600];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	ssize_t n;
	char name[256];
	int qtype = 0;
	size_t qend, o;
	uint32_t ttl;

	(void)events;
	while ((n = recvfrom(io->fd, m, sizeof m, MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) >=
	       12) {
		srv.queries++;
		ttl = 60;
		if (!(qend = question(m, (size_t)n, name, sizeof name, &qtype)))
			continue;
		if (strcmp(name, "drop.wsgw.test") == 0)
			continue;
		if (strncmp(name, "ttl1.", 5) == 0)
			ttl = 1;
		else if (strncmp(name, "ttl0.", 5) == 0)
			ttl = 0;
		memcpy(out, m, qend);
		out[2] = 0x80 | (m[2] & 0x01); /* QR, RD echoed */
		out[3] = 0x80;                 /* RA, NOERROR */
		out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
		o = qend;
		if (strcmp(name, "missing.wsgw.test") == 0) {
			out[3] = 0x83; /* NXDOMAIN */
		} else if (qtype == 1) {
			static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1};

			out[7] = 1;
			memcpy(out + o, rr, sizeof rr);
			o += sizeof rr;
			out[o++] = (unsigned char)(ttl >> 24);
			out[o++] = (unsigned char)(ttl >> 16);
			out[o++] = (unsigned char)(ttl >> 8);
			out[o++] = (unsigned char)ttl;
			out[o++] = 0;
			out[o++] = 4;
			out[o++] = 127, out[o++] = 0, out[o++] = 0, out[o++] = 7;
		}
		sendto(io->fd, out, o, 0, (struct sockaddr *)&from, fl);
		fl = sizeof from;
	}
}

static int setup(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;

	(void)state;
	if (loop_init(&loop) != 0)
		return -1;
	loop_update_time(&loop);
	srv.io.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	srv.io.on_event = on_query;
	if (srv.io.fd < 0 || bind(srv.io.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(srv.io.fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	snprintf(srv.servers, sizeof srv.servers, "127.0.0.1:%u", srv.port);
	return loop_add(&loop, &srv.io, EPOLLIN);
}

static int teardown(void **state)
{
	(void)state;
	loop_del(&loop, &srv.io);
	close(srv.io.fd);
	loop_fini(&loop);
	return 0;
}

static void on_done(void *ctx, int status, const struct dns_addrs *addrs, const char *reason)
{
	struct outcome *o = ctx;

	assert_false(o->called);
	o->called = true;
	o->status = status;
	if (addrs)
		o->addrs = *addrs;
	snprintf(o->reason, sizeof o->reason, "%s", reason ? reason : "");
	loop.stop = true;
}

static void on_deadline(struct loop_timer *t)
{
	(void)t;
	loop.stop = true;
}

/* Runs the loop until a done callback or ms have passed. */
static void run_for(unsigned ms)
{
	struct loop_timer t = {.on_fire = on_deadline};

	loop_update_time(&loop);
	loop_timer_arm(&loop, &t, loop.now_ms + ms);
	loop.stop = false;
	loop_run(&loop);
	loop_timer_disarm(&loop, &t);
}

static struct dns *resolver(size_t cache, unsigned timeout_ms)
{
	struct dns_config cfg = {.servers = srv.servers,
	                         .cache_entries = cache,
	                         .max_ttl_s = 300,
	                         .timeout_ms = timeout_ms,
	                         .tries = 1};
	const char *why;
	struct dns *d = dns_new(&loop, &cfg, &why);

	if (!d)
		fail_msg("dns_new: %s", why);
	return d;
}

/* Resolves host; *inline_done says whether done ran before dns_resolve returned. */
static void resolve(struct dns *d, const char *host, struct outcome *o, bool *inline_done)
{
	struct dns_query *q;

	memset(o, 0, sizeof *o);
	assert_int_equal(dns_resolve(d, host, 8080, on_done, o, &q), 0);
	*inline_done = o->called;
	assert_true(o->called == (q == NULL));
	if (!o->called)
		run_for(5000);
	assert_true(o->called);
}

static void assert_v4(const struct outcome *o, const char *ip)
{
	char buf[INET_ADDRSTRLEN];

	assert_int_equal(o->status, 0);
	assert_true(o->addrs.n >= 1);
	assert_int_equal(o->addrs.a[0].sa.sa_family, AF_INET);
	assert_int_equal(ntohs(o->addrs.a[0].in.sin_port), 8080);
	inet_ntop(AF_INET, &o->addrs.a[0].in.sin_addr, buf, sizeof buf);
	assert_string_equal(buf, ip);
}

static void test_literals(void **state)
{
	struct dns *d = resolver(8, 0);
	struct outcome o;
	bool inl;

	(void)state;
	resolve(d, "192.0.2.1", &o, &inl);
	assert_true(inl);
	assert_v4(&o, "192.0.2.1");
	resolve(d, "::1", &o, &inl);
	assert_true(inl);
	assert_int_equal(o.addrs.a[0].sa.sa_family, AF_INET6);
	assert_int_equal(ntohs(o.addrs.a[0].in6.sin6_port), 8080);
	assert_int_equal(dns_lookups(d), 0);
	assert_int_equal(srv.queries, 0);
	dns_free(d);
}

static void test_hosts_file(void **state)
{
	struct dns *d = resolver(8, 0);
	unsigned before = srv.queries;
	struct outcome o;
	bool inl;

	(void)state;
	/* /etc/hosts has "127.0.0.1 localhost" here; "fb" reads it first. */
	resolve(d, "localhost", &o, &inl);
	assert_v4(&o, "127.0.0.1");
	assert_int_equal(dns_lookups(d), 1);
	assert_int_equal(srv.queries, before);
	dns_free(d);
}

static void test_ttl_honoured(void **state)
{
	struct dns *d = resolver(8, 0);
	struct outcome o;
	unsigned q1, q2;
	bool inl;

	(void)state;
	resolve(d, "ttl1.wsgw.test", &o, &inl);
	assert_false(inl);
	assert_v4(&o, "127.0.0.7");
	q1 = srv.queries;
	assert_true(q1 >= 1);
	/* within the TTL: from the cache, inline, no query */
	resolve(d, "TTL1.wsgw.test", &o, &inl);
	assert_true(inl);
	assert_v4(&o, "127.0.0.7");
	assert_int_equal(srv.queries, q1);
	/* after it: asked again */
	run_for(1100);
	resolve(d, "ttl1.wsgw.test", &o, &inl);
	assert_false(inl);
	assert_v4(&o, "127.0.0.7");
	q2 = srv.queries;
	assert_true(q2 > q1);
	/* TTL 0: never cached */
	resolve(d, "ttl0.wsgw.test", &o, &inl);
	assert_false(inl);
	resolve(d, "ttl0.wsgw.test", &o, &inl);
	assert_false(inl);
	assert_int_equal(dns_lookups(d), 4);
	dns_free(d);
}

static void test_cache_bounded(void **state)
{
	struct dns *d = resolver(2, 0);
	struct outcome o;
	bool inl;

	(void)state;
	resolve(d, "a.wsgw.test", &o, &inl);
	resolve(d, "b.wsgw.test", &o, &inl);
	resolve(d, "b.wsgw.test", &o, &inl);
	assert_true(inl);
	resolve(d, "c.wsgw.test", &o, &inl); /* evicts a (expires first) */
	resolve(d, "c.wsgw.test", &o, &inl);
	assert_true(inl);
	resolve(d, "a.wsgw.test", &o, &inl);
	assert_false(inl);
	assert_int_equal(dns_lookups(d), 4);
	dns_free(d);
	/* no cache at all */
	d = resolver(0, 0);
	resolve(d, "a.wsgw.test", &o, &inl);
	resolve(d, "a.wsgw.test", &o, &inl);
	assert_false(inl);
	dns_free(d);
}

static void test_failures(void **state)
{
	struct dns *d = resolver(8, 300);
	struct outcome o;
	bool inl;

	(void)state;
	resolve(d, "missing.wsgw.test", &o, &inl);
	assert_int_equal(o.status, ERR_INVAL);
	assert_true(o.reason[0] != '\0');
	/* not cached */
	resolve(d, "missing.wsgw.test", &o, &inl);
	assert_false(inl);
	assert_int_equal(o.status, ERR_INVAL);
	/* no answer: c-ares' timeout, on our timer, ends it */
	resolve(d, "drop.wsgw.test", &o, &inl);
	assert_int_equal(o.status, ERR_INVAL);
	assert_non_null(strstr(o.reason, "imeout"));
	assert_int_equal(dns_resolve(d, "", 1, on_done, &o, &(struct dns_query *){NULL}),
	                 ERR_INVAL);
	dns_free(d);
}

static void test_cancel_and_free(void **state)
{
	struct dns *d = resolver(8, 300);
	struct outcome o1 = {0}, o2 = {0};
	struct dns_query *q1, *q2;

	(void)state;
	assert_int_equal(dns_resolve(d, "drop.wsgw.test", 1, on_done, &o1, &q1), 0);
	assert_non_null(q1);
	dns_cancel(q1);
	run_for(800); /* past the timeout: the lookup ended, done not called */
	assert_false(o1.called);
	assert_int_equal(dns_resolve(d, "drop.wsgw.test", 1, on_done, &o2, &q2), 0);
	assert_non_null(q2);
	dns_free(d); /* pending: done with ERR_CLOSED */
	assert_true(o2.called);
	assert_int_equal(o2.status, ERR_CLOSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_literals),     cmocka_unit_test(test_hosts_file),
	    cmocka_unit_test(test_ttl_honoured), cmocka_unit_test(test_cache_bounded),
	    cmocka_unit_test(test_failures),     cmocka_unit_test(test_cancel_and_free),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
