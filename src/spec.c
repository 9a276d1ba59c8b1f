/* spec.c — the gateway's OpenAPI 3 specification: the rules of spec.h
 * applied to the YAML tree that spec_yaml.c builds, into a struct spec of
 * WebSocket routes and their connect / message / disconnect operations.
 * An integration is read by spec_integ.c, the reading context (errors,
 * warnings, tree access) is spec_read.c's; templates and matching are in
 * spec_match.c.
 *
 * Owns: every "NAME:LINE: what is wrong" message about a spec's meaning.
 * Must never: log, touch sockets, or leak on an error path (pure).
 * Beyond spec.h: two templates that differ only in parameter names are
 * refused (one could never match); `security` (authorizers) is read by
 * spec_auth.c; a spec with no WebSocket path is refused; header names must be
 * RFC 9110 tokens and header values one line; a {placeholder} that no
 * parameter or gateway header fills is warned about (integ_http.c fills
 * them at run time; spec_show.c states the rule once). Variables and
 * $ref are resolved by spec_ref.c before and while the tree is read.
 */
#include "spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "spec_int.h"

#define OP_PREFIX "x-yc-apigateway-websocket-"
#define INTEG_KEY "x-yc-apigateway-integration"

#define MAX_OP_PARAMS 64

/* One `parameters` list (OpenAPI: items {name, in, ...}, or $refs to
 * them) merged into in->params; a later (name, in) replaces an earlier. */
static int parse_params(struct spec_ctx *c, uint32_t seq, struct integration *in)
{
	static const char *const ins[] = {"path", "query", "header", "cookie"};

	if (!seq || spec_is_null(c, seq))
		return 0;
	if (N(c, seq)->kind != Y_SEQ)
		return spec_fail(c, N(c, seq)->line, "parameters must be a list");
	for (uint32_t i = N(c, seq)->first; i; i = N(c, i)->next) {
		uint32_t it = spec_deref(c, i), nm = spec_get(c, it, "name", NULL),
		         wh = spec_get(c, it, "in", NULL);
		int w = -1, rc;
		size_t j;
		char *name = NULL;

		if (c->failed)
			return ERR_INVAL;
		if (N(c, it)->kind != Y_MAP || !nm || !wh)
			return spec_fail(c, N(c, it)->line,
			                 "a parameter needs \"name\" and \"in\"");
		for (int x = 0; x < 4; x++)
			if (spec_key_is(c, wh, ins[x]))
				w = x;
		if (w < 0)
			return spec_fail(c, N(c, wh)->line,
			                 "parameter in: %s is not path, query, header or cookie",
			                 spec_q(c, S(c, wh), N(c, wh)->len));
		if ((rc = spec_dup_scalar(c, nm, "parameter name", &name)))
			return rc;
		for (j = 0; j < in->num_params; j++)
			if (in->params[j].in == (enum param_in)w &&
			    !strcmp(in->params[j].name, name))
				break;
		if (j == MAX_OP_PARAMS) {
			free(name);
			return spec_fail(c, N(c, it)->line, "more than %d parameters",
			                 MAX_OP_PARAMS);
		}
		if (j == in->num_params) {
			void *p = realloc(in->params, (j + 1) * sizeof(*in->params));
			if (!p) {
				free(name);
				return spec_nomem(c);
			}
			in->params = p;
			in->num_params++;
		} else {
			free(in->params[j].name);
		}
		in->params[j] = (struct spec_param){name, (enum param_in)w};
	}
	return 0;
}

/* x-yc-* keys of a mapping that wsgw does not read: one warning each. */
static void warn_extensions(struct spec_ctx *c, uint32_t m, const char *where)
{
	EACH_KEY(c, m, k)
	{
		if (N(c, k)->kind != Y_SCALAR || strncmp(S(c, k), "x-yc-", 5) ||
		    !strncmp(S(c, k), OP_PREFIX, sizeof(OP_PREFIX) - 1) ||
		    spec_key_is(c, k, INTEG_KEY) || spec_key_is(c, k, "x-yc-apigateway") ||
		    spec_key_is(c, k, "x-yc-apigateway-integrations"))
			continue;
		spec_warn(c, N(c, k)->line,
		          "%s%s is ignored by wsgw (it implements only the WebSocket "
		          "operations and their integrations)",
		          where, spec_q(c, S(c, k), N(c, k)->len));
	}
}

/* One x-yc-apigateway-websocket-* operation: k its key, v its value,
 * pparams the path item's `parameters` (0: none). */
static int parse_op(struct spec_ctx *c, uint32_t k, uint32_t v, struct route *r,
                    struct integration *in, uint32_t pparams)
{
	uint32_t ik = 0, m;
	int rc;

	c->op = S(c, k);
	if (N(c, v)->kind != Y_MAP)
		return spec_fail(c, N(c, v)->line, "must be a mapping holding " INTEG_KEY);
	if ((rc = parse_params(c, pparams, in)) ||
	    (rc = parse_params(c, spec_get(c, v, "parameters", NULL), in)))
		return rc;
	warn_extensions(c, v, "");
	/* authorizers: checked once, at the handshake (spec_auth.c) */
	if ((rc = spec_auth_op(c, v, r, in != &r->disconnect)))
		return rc;
	if (!(m = spec_get(c, v, INTEG_KEY, &ik)))
		return spec_fail(c, N(c, k)->line, "missing \"" INTEG_KEY "\"");
	if ((rc = spec_integ_parse(c, ik, m, r, in)) || (rc = spec_fn_opid(c, v, in)))
		return rc;
	spec_integ_check(c, r, in);
	c->op = NULL;
	return 0;
}

/* ---- paths and the document ------------------------------------------------------- */

/* Appends the route for template key pk to sp, its segments parsed. */
static int add_route(struct spec_ctx *c, struct spec *sp, uint32_t pk, struct route **out)
{
	int rc, line = N(c, pk)->line;
	char why[128];
	struct route *r;

	if (memchr(S(c, pk), '\0', N(c, pk)->len))
		return spec_fail(c, line, "a path may not contain a NUL byte");
	if (!(sp->num_routes & (sp->num_routes + 1))) { /* 0, 1, 3, 7, ...: grow */
		void *p = realloc(sp->routes, (sp->num_routes * 2 + 1) * sizeof(*sp->routes));
		if (!p)
			return spec_nomem(c);
		sp->routes = p;
	}
	r = *out = &sp->routes[sp->num_routes++];
	memset(r, 0, sizeof(*r));
	r->line = line;
	if (!(r->path = strdup(S(c, pk))))
		return spec_nomem(c);
	if ((rc = spec_tmpl_parse(r, why, sizeof(why))))
		return rc == ERR_NOMEM ? spec_nomem(c) : spec_fail(c, line, "%s", why);
	for (size_t i = 0; i + 1 < sp->num_routes; i++)
		if (spec_tmpl_same(&sp->routes[i], r))
			return spec_fail(
			    c, line,
			    "same as %s (line %d) but for parameter names; one of them "
			    "could never match",
			    spec_q(c, sp->routes[i].path, strlen(sp->routes[i].path)),
			    sp->routes[i].line);
	return 0;
}

/* One entry of `paths`: pk the template key, pv the path item. */
static int parse_path(struct spec_ctx *c, struct spec *sp, uint32_t pk, uint32_t pv)
{
	static const char *const names[3] = {OP_PREFIX "connect", OP_PREFIX "message",
	                                     OP_PREFIX "disconnect"};
	uint32_t ops[3] = {0, 0, 0}, keys[3] = {0, 0, 0}, pparams;
	struct route *r = NULL;
	int rc;

	if (N(c, pk)->kind != Y_SCALAR)
		return spec_fail(c, N(c, pk)->line, "path templates must be strings");
	snprintf(c->pathq, sizeof(c->pathq), "%s", spec_q(c, S(c, pk), N(c, pk)->len));
	c->path = c->pathq;
	if (spec_is_null(c, pv))
		goto out; /* an empty path item: nothing for wsgw */
	if (N(c, pv)->kind != Y_MAP)
		return spec_fail(c, N(c, pv)->line, "a path item must be a mapping");
	EACH_KEY(c, pv, k)
	{
		bool known = false;
		for (int i = 0; i < 3; i++)
			if (spec_key_is(c, k, names[i]))
				ops[i] = VAL(c, k), keys[i] = k, known = true;
		if (c->failed)
			return ERR_INVAL;
		if (!known && N(c, k)->kind == Y_SCALAR &&
		    !strncmp(S(c, k), OP_PREFIX, sizeof(OP_PREFIX) - 1))
			return spec_fail(c, N(c, k)->line,
			                 "unknown WebSocket operation %s (use " OP_PREFIX
			                 "connect, -message or -disconnect)",
			                 spec_q(c, S(c, k), N(c, k)->len));
	}
	warn_extensions(c, pv, "");
	if (!ops[0] && !ops[1] && !ops[2])
		goto out; /* plain HTTP operations: not wsgw's */
	/* No message operation: a server-push path (the cloud's own live-debug
	 * tool deploys such); integ.c answers a client message with close 1003. */
	pparams = spec_get(c, pv, "parameters", NULL);
	if ((rc = add_route(c, sp, pk, &r)) ||
	    (ops[0] && (rc = parse_op(c, keys[0], ops[0], r, &r->connect, pparams))) ||
	    (ops[1] && (rc = parse_op(c, keys[1], ops[1], r, &r->message, pparams))) ||
	    (ops[2] && (rc = parse_op(c, keys[2], ops[2], r, &r->disconnect, pparams))))
		return rc;
out:
	c->path = NULL;
	return 0;
}

/* The top-level x-yc-apigateway: variables were applied already;
 * ignoreTrailingSlashes is honoured; the rest is the cloud's business. */
static int parse_xyc(struct spec_ctx *c, uint32_t m, struct spec *sp)
{
	if (spec_is_null(c, m))
		return 0;
	if (N(c, m)->kind != Y_MAP)
		return spec_fail(c, N(c, m)->line, "x-yc-apigateway must be a mapping");
	EACH_KEY(c, m, k)
	{
		if (spec_key_is(c, k, "ignoreTrailingSlashes")) {
			bool ignore = true;
			int rc = spec_parse_bool(c, VAL(c, k), "ignoreTrailingSlashes", &ignore);

			if (rc)
				return rc;
			sp->keep_trailing_slash = !ignore;
		} else if (!spec_key_is(c, k, "variables") &&
		           !spec_key_is(c, k, "service_account_id") &&
		           !spec_key_is(c, k, "serviceAccountId")) {
			spec_warn(c, N(c, k)->line,
			          "x-yc-apigateway: %s is ignored by wsgw (it implements only the "
			          "WebSocket operations and their integrations)",
			          spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
		}
	}
	return 0;
}

static int parse_doc(struct spec_ctx *c, uint32_t root, struct spec *sp)
{
	uint32_t v, k = 0;
	int rc;

	if (!root || spec_is_null(c, root))
		return spec_fail(c, 1, "empty document (expected an OpenAPI 3 mapping)");
	if (N(c, root)->kind != Y_MAP)
		return spec_fail(c, N(c, root)->line,
		                 "the document must be a mapping with \"openapi\" and \"paths\"");
	if (spec_get(c, root, "swagger", &k))
		return spec_fail(
		    c, N(c, k)->line,
		    "this is a Swagger 2.0 document; wsgw reads OpenAPI 3 (openapi: 3.0.0)");
	if (!(v = spec_get(c, root, "openapi", NULL)))
		return spec_fail(c, N(c, root)->line, "missing \"openapi\" (e.g. openapi: 3.0.0)");
	if (N(c, v)->kind != Y_SCALAR || strncmp(S(c, v), "3.", 2))
		return spec_fail(c, N(c, v)->line, "openapi: %s is not supported (wsgw reads 3.x)",
		                 N(c, v)->kind == Y_SCALAR ? spec_q(c, S(c, v), N(c, v)->len)
		                                           : "a collection");
	v = spec_get(c, root, "security", &k);
	if (v) {
		c->security_line = N(c, k)->line;
		c->top_security = v;
	}
	warn_extensions(c, root, "top-level ");
	if ((v = spec_get(c, root, "x-yc-apigateway", NULL)) && (rc = parse_xyc(c, v, sp)))
		return rc;
	if (!(v = spec_get(c, root, "paths", &k)))
		return spec_fail(c, N(c, root)->line, "missing \"paths\"");
	if (N(c, v)->kind != Y_MAP && !spec_is_null(c, v))
		return spec_fail(c, N(c, v)->line, "\"paths\" must be a mapping of path templates");
	if (!spec_is_null(c, v))
		EACH_KEY(c, v, pk)
		{
			if ((rc = parse_path(c, sp, pk, VAL(c, pk))))
				return rc;
		}
	if (!sp->num_routes)
		return spec_fail(c, N(c, k)->line,
		                 "no path has an " OP_PREFIX "* operation, so wsgw would accept no "
		                 "WebSocket connection");
	return c->failed ? ERR_INVAL : 0;
}

int spec_parse(const char *name, const char *text, size_t len, struct spec *out, char *err,
               size_t errlen)
{
	return spec_parse_vars(name, text, len, NULL, 0, out, err, errlen);
}

int spec_parse_vars(const char *name, const char *text, size_t len, const struct spec_var *vars,
                    size_t num_vars, struct spec *out, char *err, size_t errlen)
{
	struct spec sp = {0};
	struct spec_ctx c = {.name = name ? name : "spec", .err = err, .errlen = errlen, .sp = &sp};
	char why[300];
	uint32_t root;
	int rc, line = 1;

	if (err && errlen)
		err[0] = '\0';
	if (len > SPEC_MAX_SIZE)
		return spec_fail(&c, 1, "larger than %u bytes", SPEC_MAX_SIZE);
	rc = spec_yaml_load(&c.t, text ? text : "", text ? len : 0, &root, &line, why, sizeof(why));
	if (rc == 0 && root)
		rc = spec_vars_apply(&c.t, root, vars, num_vars, &line, why, sizeof why);
	c.root = root;
	if (rc == ERR_INVAL)
		rc = spec_fail(&c, line, "%s", why);
	else if (rc == 0)
		rc = parse_doc(&c, root, &sp);
	if (rc == 0 && c.failed)
		rc = ERR_INVAL;
	if (rc == ERR_NOMEM)
		spec_nomem(&c);
	if (rc == 0) {
		*out = sp;
		sp = (struct spec){0};
	}
	spec_free(&sp);
	spec_yaml_free(&c.t);
	return rc;
}

int spec_load_file(const char *path, const struct spec_var *vars, size_t num_vars, struct spec *out,
                   char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len;
	int rc;

	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return ERR_INVAL;
	}
	if (!(buf = malloc(SPEC_MAX_SIZE + 1))) {
		fclose(f);
		return ERR_NOMEM;
	}
	len = fread(buf, 1, SPEC_MAX_SIZE + 1, f);
	if (ferror(f)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		rc = ERR_INVAL;
	} else if (len > SPEC_MAX_SIZE) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than 1 MiB; not a spec?", path);
		rc = ERR_INVAL;
	} else {
		rc = spec_parse_vars(path, buf, len, vars, num_vars, out, err, errlen);
	}
	free(buf);
	fclose(f);
	return rc;
}

static void kvs_free(struct spec_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

static void integ_free(struct integration *in)
{
	free(in->url);
	free(in->method);
	kvs_free(in->headers, in->num_headers);
	kvs_free(in->query, in->num_query);
	kvs_free(in->http_headers, in->num_http_headers);
	kvs_free(in->content, in->num_content);
	free(in->target_id);
	free(in->tag);
	free(in->context);
	free(in->operation_id);
	for (size_t i = 0; i < in->num_params; i++)
		free(in->params[i].name);
	free(in->params);
}

void spec_free(struct spec *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->num_routes; i++) {
		struct route *r = &s->routes[i];
		for (size_t j = 0; j < r->num_segs; j++)
			free(r->segs[j].text);
		free(r->segs);
		free(r->path);
		integ_free(&r->connect);
		integ_free(&r->message);
		integ_free(&r->disconnect);
	}
	spec_auth_free(s);
	free(s->routes);
	s->routes = NULL;
	s->num_routes = 0;
	for (size_t i = 0; i < s->num_warnings; i++)
		free(s->warnings[i]);
	free(s->warnings);
	s->warnings = NULL;
	s->num_warnings = 0;
}
