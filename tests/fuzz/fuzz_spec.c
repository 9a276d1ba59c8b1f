/* fuzz_spec.c — libFuzzer target for spec.c, spec_yaml.c, spec_match.c,
 * spec_ref.c (variables, $ref) and spec_show.c (--check-spec).
 *
 * The input is a YAML spec, read with two outside variables ("v" and
 * "greet", as --var would give them). A refused spec must give one line
 * "fuzz.yaml:LINE: ..." and leak nothing (LeakSanitizer). An accepted spec
 * must match a path built from each of its own templates (to that route or
 * a more specific one), and every match must capture one parameter per
 * {param} segment, each a view into the path; paths cut from the input's
 * lines are matched too. Its --check-spec listing must not crash, and each
 * warning is one line. A route's authorizer (spec_auth.c) is there with
 * every field its type needs, or absent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "err.h"
#include "spec.h"



static void check_match(const struct spec *s, const char *path, size_t len)
{
	struct route_match m;
	const struct route *r = spec_match(s, path, len, &m);
	size_t params = 0;

	if (!r)
		return;
	CHECK(r >= s->routes && r < s->routes + s->num_routes);
	CHECK(r->message.type != INTEG_NONE || r->connect.type != INTEG_NONE ||
	      r->disconnect.type != INTEG_NONE);
	for (size_t i = 0; i < r->num_segs; i++)
		params += r->segs[i].kind != SEG_LITERAL;
	CHECK(m.num_params == params);
	for (size_t i = 0; i < m.num_params; i++) {
		CHECK(m.params[i].value >= path);
		CHECK(m.params[i].value + m.params[i].value_len <= path + len);
		CHECK(m.params[i].value_len > 0 || r->line == 0);
	}
	for (size_t i = 0, k = 0; i < r->num_segs; i++) /* only a greedy one spans '/' */
		if (r->segs[i].kind != SEG_LITERAL && k < m.num_params) {
			const struct route_param *p = &m.params[k++];

			CHECK(r->segs[i].kind == SEG_GREEDY ||
			      memchr(p->value, '/', p->value_len) == NULL);
		}
}

/* A path the route's own template describes: literals as written, a
 * {param} as "v", a {greedy+} as "g/h". */
static size_t path_for(const struct route *r, char *buf, size_t cap)
{
	size_t o = 0;

	if (!r->num_segs)
		return (size_t)snprintf(buf, cap, "/");
	for (size_t i = 0; i < r->num_segs && o < cap; i++) {
		const char *t = r->segs[i].kind == SEG_LITERAL ? r->segs[i].text
		                : r->segs[i].kind == SEG_PARAM ? "v"
		                                               : "g/h";
		o += (size_t)snprintf(buf + o, cap - o, "/%s", t);
	}
	return o < cap ? o : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec s;
	char err[512], path[4096];
	size_t n;
	static const struct spec_var vars[] = {{"v", "x", "--var v"}, {"greet", "hi", "--var greet"}};
	int rc = spec_parse_vars("fuzz.yaml", (const char *)data, size, vars, 2, &s, err,
	                         sizeof(err));
	static FILE *devnull;

	if (rc) {
		CHECK(rc == ERR_INVAL || rc == ERR_NOMEM);
		CHECK(!strncmp(err, "fuzz.yaml:", 10));
		CHECK(!strpbrk(err, "\r\n"));
		return 0;
	}
	CHECK(s.num_routes > 0);
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (devnull)
		spec_describe(&s, devnull);
	for (size_t i = 0; i < s.num_warnings; i++)
		CHECK(!strncmp(s.warnings[i], "fuzz.yaml:", 10) && !strpbrk(s.warnings[i], "\r\n"));
	for (size_t i = 0; i < s.num_routes; i++) { /* authorizers: whole, or none */
		const struct spec_authorizer *a = spec_route_authorizer(&s, &s.routes[i]);

		CHECK(!a == !s.routes[i].security.authorizer);
		CHECK(!a || (a->name && a->source && a->prefix &&
		             (a->type == AUTH_FUNCTION ? a->function_id != NULL : a->jwks_uri != NULL)));
	}
	for (size_t i = 0; i < s.num_routes; i++) {
		if (!(n = path_for(&s.routes[i], path, sizeof(path))))
			continue;
		CHECK(spec_match(&s, path, n, NULL) != NULL);
		check_match(&s, path, n);
	}
	/* paths cut from the input: each line, and the whole input */
	for (size_t i = 0; i < size;) {
		const uint8_t *e = memchr(data + i, '\n', size - i);
		size_t len = e ? (size_t)(e - (data + i)) : size - i;
		if (len < sizeof(path) - 1) {
			path[0] = '/';
			memcpy(path + 1, data + i, len);
			check_match(&s, path, len + 1);
			check_match(&s, path + 1, len);
		}
		if ((e = memchr(data + i, '/', len))) /* "# /chat/x" in a comment */
			check_match(&s, (const char *)e, len - (size_t)(e - (data + i)));
		i += len + 1;
	}
	check_match(&s, (const char *)data, size);
	spec_free(&s);
	return 0;
}
