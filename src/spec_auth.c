/* spec_auth.c — authorizers of WebSocket operations: OpenAPI `security`
 * (top level and per operation; `security: []` opts out; an operation's
 * own list replaces the top level's) naming a components.securitySchemes
 * entry with x-yc-apigateway-authorizer (jwt-authorizer.md,
 * function-authorizer.md; YANDEX-FIDELITY.md §1.1).
 *
 * wsgw authorizes once, at the handshake, so one route has one
 * requirement: its connect operation's, or its message operation's, and
 * the two must agree when both have one. A scheme is read only when a
 * WebSocket operation names it (schemes of plain HTTP paths are the
 * cloud's business). Unknown keys and types are errors: an authorizer
 * that silently checks less than written is an open door.
 * Must never: log, or touch sockets (pure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "spec_int.h"

#define AUTH_KEY "x-yc-apigateway-authorizer"
#define MAX_LIST 64
#define MAX_TTL_S (7u * 24 * 3600)

static void strs_free(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

/* A list of strings (a lone scalar reads as a list of one). */
static int str_list(struct spec_ctx *c, uint32_t v, const char *what, char ***out, size_t *num)
{
	size_t n = N(c, v)->kind == Y_SEQ ? N(c, v)->count : 1;
	int rc;

	if (spec_is_null(c, v))
		return 0;
	if (N(c, v)->kind == Y_MAP)
		return spec_fail(c, N(c, v)->line, "%s must be a list of strings", what);
	if (n > MAX_LIST)
		return spec_fail(c, N(c, v)->line, "%s: more than %d items", what, MAX_LIST);
	if (!(*out = calloc(n ? n : 1, sizeof **out)))
		return spec_nomem(c);
	if (N(c, v)->kind != Y_SEQ)
		return (rc = spec_dup_scalar(c, v, what, &(*out)[0])) ? rc : (*num = 1, 0);
	for (uint32_t i = N(c, v)->first; i; i = N(c, i)->next) {
		if ((rc = spec_dup_scalar(c, spec_deref(c, i), what, &(*out)[*num])))
			return rc;
		++*num;
	}
	return 0;
}

static int seconds(struct spec_ctx *c, uint32_t v, const char *what, uint64_t *ms)
{
	const char *s = S(c, v);
	uint64_t n = 0;

	if (N(c, v)->kind != Y_SCALAR || !N(c, v)->len || N(c, v)->len > 10 ||
	    strspn(s, "0123456789") != N(c, v)->len || (n = strtoull(s, NULL, 10)) > MAX_TTL_S)
		return spec_fail(c, N(c, v)->line,
		                 "%s must be a whole number of seconds from 0 to %u", what,
		                 MAX_TTL_S);
	*ms = n * 1000;
	return 0;
}

static int caching_mode(struct spec_ctx *c, uint32_t v, struct spec_authorizer *a)
{
	if (N(c, v)->kind == Y_SCALAR && !strcasecmp(S(c, v), "uri"))
		return a->cache_by_uri = true, 0;
	if (N(c, v)->kind == Y_SCALAR && !strcasecmp(S(c, v), "path"))
		return 0;
	return spec_fail(c, N(c, v)->line, "authorizer_result_caching_mode must be path or uri");
}

static int where_in(struct spec_ctx *c, uint32_t v, const char *what, enum auth_in *in)
{
	static const char *const ins[] = {"header", "query", "cookie"};

	for (int i = 0; i < 3; i++)
		if (spec_key_is(c, v, ins[i]))
			return *in = (enum auth_in)i, 0;
	return spec_fail(c, N(c, v)->line, "%s must be header, query or cookie", what);
}

static int identity_source(struct spec_ctx *c, uint32_t m, struct spec_authorizer *a)
{
	int rc = 0;

	if (N(c, m)->kind != Y_MAP)
		return spec_fail(c, N(c, m)->line,
		                 "identitySource must be a mapping {in, name, prefix}");
	EACH_KEY(c, m, k)
	{
		uint32_t v = VAL(c, k);

		if (spec_key_is(c, k, "in"))
			rc = where_in(c, v, "identitySource.in", &a->in);
		else if (spec_key_is(c, k, "name"))
			rc = spec_dup_scalar(c, v, "identitySource.name", &a->source);
		else if (spec_key_is(c, k, "prefix"))
			rc = (free(a->prefix),
			      spec_dup_scalar(c, v, "identitySource.prefix", &a->prefix));
		else
			rc = spec_fail(c, N(c, k)->line,
			               "identitySource: unknown key %s (known: in, name, prefix)",
			               spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
		if (rc)
			return rc;
	}
	if (!a->source || !*a->source)
		return spec_fail(c, N(c, m)->line, "identitySource needs \"in\" and \"name\"");
	return 0;
}

/* A key both authorizer types take. Returns 1 when k is not one. */
static int common_field(struct spec_ctx *c, uint32_t k, uint32_t v, struct spec_authorizer *a)
{
	if (spec_key_is(c, k, "type") || spec_key_is(c, k, "service_account_id") ||
	    spec_key_is(c, k, "serviceAccountId"))
		return 0;
	if (spec_key_is(c, k, "authorizer_result_ttl_in_seconds"))
		return seconds(c, v, "authorizer_result_ttl_in_seconds", &a->result_ttl_ms);
	if (spec_key_is(c, k, "authorizer_result_caching_mode"))
		return caching_mode(c, v, a);
	return 1;
}

static int jwt_field(struct spec_ctx *c, uint32_t k, struct spec_authorizer *a)
{
	uint32_t v = VAL(c, k);
	int rc = common_field(c, k, v, a);

	if (rc <= 0)
		return rc;
	if (spec_key_is(c, k, "jwksUri")) {
		if ((rc = spec_dup_scalar(c, v, "jwksUri", &a->jwks_uri)))
			return rc;
		if (strncasecmp(a->jwks_uri, "http://", 7) &&
		    strncasecmp(a->jwks_uri, "https://", 8))
			return spec_fail(c, N(c, v)->line,
			                 "jwksUri must start with http:// or https://");
		if (strpbrk(a->jwks_uri, " \t\r\n"))
			return spec_fail(c, N(c, v)->line, "jwksUri contains a blank");
		return 0;
	}
	if (spec_key_is(c, k, "identitySource") || spec_key_is(c, k, "IdentitySource"))
		return identity_source(c, v, a);
	if (spec_key_is(c, k, "issuers"))
		return str_list(c, v, "issuers", &a->issuers, &a->num_issuers);
	if (spec_key_is(c, k, "audiences"))
		return str_list(c, v, "audiences", &a->audiences, &a->num_audiences);
	if (spec_key_is(c, k, "requiredClaims"))
		return str_list(c, v, "requiredClaims", &a->required_claims,
		                &a->num_required_claims);
	if (spec_key_is(c, k, "jwkTtlInSeconds"))
		return seconds(c, v, "jwkTtlInSeconds", &a->jwk_ttl_ms);
	return spec_fail(c, N(c, k)->line,
	                 "unknown key %s in a jwt authorizer (known: jwksUri, identitySource, "
	                 "issuers, audiences, requiredClaims, jwkTtlInSeconds, "
	                 "authorizer_result_ttl_in_seconds, authorizer_result_caching_mode)",
	                 spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
}

static int function_field(struct spec_ctx *c, uint32_t k, struct spec_authorizer *a)
{
	uint32_t v = VAL(c, k);
	int rc = common_field(c, k, v, a);

	if (rc <= 0)
		return rc;
	if (spec_key_is(c, k, "function_id"))
		return spec_dup_scalar(c, v, "function_id", &a->function_id);
	if (spec_key_is(c, k, "tag"))
		return spec_dup_scalar(c, v, "tag", &a->tag);
	return spec_fail(c, N(c, k)->line,
	                 "unknown key %s in a function authorizer (known: function_id, tag, "
	                 "service_account_id, authorizer_result_ttl_in_seconds, "
	                 "authorizer_result_caching_mode)",
	                 spec_q(c, spec_kname(c, k), strlen(spec_kname(c, k))));
}

/* A function authorizer's credential is the scheme's: http basic / bearer
 * (the Authorization header) or apiKey (in, name). */
static int function_scheme(struct spec_ctx *c, uint32_t sch, struct spec_authorizer *a)
{
	uint32_t t = spec_get(c, sch, "type", NULL), x;
	int rc;

	if (t && spec_key_is(c, t, "http")) {
		x = spec_get(c, sch, "scheme", NULL);
		if (!x || !(spec_key_is(c, x, "basic") || spec_key_is(c, x, "bearer")))
			return spec_fail(c, N(c, sch)->line,
			                 "a function authorizer's http scheme must be basic or "
			                 "bearer");
		if ((rc = spec_dup_scalar(c, x, "scheme", &a->scheme)))
			return rc;
		a->in = AUTH_IN_HEADER;
		return (a->source = strdup("Authorization")) ? 0 : spec_nomem(c);
	}
	if (t && spec_key_is(c, t, "apiKey")) {
		if (!(x = spec_get(c, sch, "in", NULL)) || (rc = where_in(c, x, "in", &a->in)))
			return x ? rc
			         : spec_fail(c, N(c, sch)->line, "an apiKey scheme needs \"in\"");
		if (!(x = spec_get(c, sch, "name", NULL)))
			return spec_fail(c, N(c, sch)->line, "an apiKey scheme needs \"name\"");
		return spec_dup_scalar(c, x, "name", &a->source);
	}
	return spec_fail(c, N(c, sch)->line,
	                 "a function authorizer's scheme must be type http (basic, bearer) "
	                 "or apiKey");
}

static int parse_authorizer(struct spec_ctx *c, uint32_t sch, uint32_t m, struct spec_authorizer *a)
{
	uint32_t t = spec_get(c, m, "type", NULL);
	int rc = 0;

	if (N(c, m)->kind != Y_MAP || !t)
		return spec_fail(c, a->line, AUTH_KEY " must be a mapping with a \"type\"");
	if (spec_key_is(c, t, "jwt"))
		a->type = AUTH_JWT;
	else if (spec_key_is(c, t, "function"))
		a->type = AUTH_FUNCTION;
	else
		return spec_fail(
		    c, N(c, t)->line,
		    "authorizer type %s is not supported (wsgw knows jwt and function)",
		    N(c, t)->kind == Y_SCALAR ? spec_q(c, S(c, t), N(c, t)->len) : "a collection");
	if (!(a->prefix = strdup("")))
		return spec_nomem(c);
	EACH_KEY(c, m, k)
	{
		if ((rc = a->type == AUTH_JWT ? jwt_field(c, k, a) : function_field(c, k, a)))
			return rc;
	}
	if (a->type == AUTH_FUNCTION) {
		if (!a->function_id)
			return spec_fail(c, a->line, "a function authorizer needs \"function_id\"");
		if ((rc = function_scheme(c, sch, a)))
			return rc;
		return 0;
	}
	if (!a->jwks_uri)
		return spec_fail(c, a->line,
		                 spec_get(c, sch, "openIdConnectUrl", NULL)
		                     ? "a jwt authorizer needs \"jwksUri\" (wsgw does not read "
		                       "the openIdConnectUrl discovery document)"
		                     : "a jwt authorizer needs \"jwksUri\"");
	if (!a->source)
		return spec_fail(c, a->line, "a jwt authorizer needs \"identitySource\"");
	return 0;
}

/* The index (1-based) of scheme name k's authorizer, read on first use. */
static int scheme_index(struct spec_ctx *c, uint32_t k, unsigned *idx)
{
	struct spec *sp = c->sp;
	uint32_t comp = spec_get(c, c->root, "components", NULL), schemes, sch, m, mk = 0;
	struct spec_authorizer *a;
	const char *name = S(c, k), *path, *op;
	void *p;
	int rc;

	if (N(c, k)->kind != Y_SCALAR)
		return spec_fail(c, N(c, k)->line, "a security scheme name must be a string");
	for (size_t i = 0; i < sp->num_authorizers; i++)
		if (!strcmp(sp->authorizers[i].name, name))
			return *idx = (unsigned)i + 1, 0;
	schemes = comp ? spec_get(c, comp, "securitySchemes", NULL) : 0;
	if (!(sch = schemes ? spec_get(c, schemes, name, NULL) : 0))
		return spec_fail(c, N(c, k)->line,
		                 "security names %s, which components.securitySchemes does not "
		                 "define",
		                 spec_q(c, name, N(c, k)->len));
	if (!(m = spec_get(c, sch, AUTH_KEY, &mk)))
		return spec_fail(c, N(c, k)->line,
		                 "security scheme %s has no " AUTH_KEY
		                 ", so neither the cloud nor wsgw can enforce it",
		                 spec_q(c, name, N(c, k)->len));
	if (!(p = realloc(sp->authorizers, (sp->num_authorizers + 1) * sizeof *a)))
		return spec_nomem(c);
	sp->authorizers = p;
	a = &sp->authorizers[sp->num_authorizers++];
	memset(a, 0, sizeof *a);
	a->line = N(c, mk)->line;
	if (!(a->name = strdup(name)))
		return spec_nomem(c);
	*idx = (unsigned)sp->num_authorizers;
	/* the scheme's own lines say where: no path or operation prefix */
	path = c->path, op = c->op;
	c->path = c->op = NULL;
	rc = parse_authorizer(c, sch, m, a);
	c->path = path, c->op = op;
	return rc;
}

/* A `security` value: [] or one requirement {NAME: [scopes]}. */
static int requirement(struct spec_ctx *c, uint32_t sec, struct spec_security *out)
{
	uint32_t item, k;
	int rc;

	if (spec_is_null(c, sec))
		return 0;
	if (N(c, sec)->kind != Y_SEQ)
		return spec_fail(c, N(c, sec)->line, "security must be a list");
	if (N(c, sec)->count == 0)
		return 0;
	if (N(c, sec)->count > 1)
		return spec_fail(c, N(c, sec)->line,
		                 "security lists alternatives; wsgw supports one requirement "
		                 "(one scheme) per WebSocket operation");
	item = spec_deref(c, N(c, sec)->first);
	if (N(c, item)->kind != Y_MAP)
		return spec_fail(c, N(c, item)->line, "a security requirement must be a mapping");
	if (N(c, item)->count == 0)
		return 0; /* `- {}`: anonymous access */
	if (N(c, item)->count > 2)
		return spec_fail(c, N(c, item)->line,
		                 "a security requirement with several schemes is not supported "
		                 "by wsgw (one scheme per WebSocket operation)");
	k = N(c, item)->first;
	if ((rc = scheme_index(c, k, &out->authorizer)))
		return rc;
	return str_list(c, VAL(c, k), "security scopes", &out->scopes, &out->num_scopes);
}

static bool same(const struct spec_security *a, const struct spec_security *b)
{
	if (a->authorizer != b->authorizer || a->num_scopes != b->num_scopes)
		return false;
	for (size_t i = 0; i < a->num_scopes; i++)
		if (strcmp(a->scopes[i], b->scopes[i]))
			return false;
	return true;
}

int spec_auth_op(struct spec_ctx *c, uint32_t v, struct route *r, bool connect_or_message)
{
	uint32_t k = 0, sec = spec_get(c, v, "security", &k);
	struct spec_security s = {0, NULL, 0};
	int rc, line = k ? N(c, k)->line : c->security_line;

	if (!k)
		sec = c->top_security;
	if (!sec)
		return 0;
	if ((rc = requirement(c, sec, &s)))
		goto out;
	if (!connect_or_message || !s.authorizer)
		goto out;
	if (!r->security.authorizer) {
		r->security = s;
		return 0;
	}
	if (!same(&r->security, &s))
		rc = spec_fail(c, line,
		               "the connect and message operations name different authorizers "
		               "or scopes; wsgw authorizes once, at the handshake, so they must "
		               "agree (or one of them say \"security: []\")");
out:
	strs_free(s.scopes, s.num_scopes);
	return rc;
}

const struct spec_authorizer *spec_route_authorizer(const struct spec *s, const struct route *r)
{
	unsigned i = r->security.authorizer;

	return i && i <= s->num_authorizers ? &s->authorizers[i - 1] : NULL;
}

void spec_auth_free(struct spec *s)
{
	for (size_t i = 0; i < s->num_routes; i++)
		strs_free(s->routes[i].security.scopes, s->routes[i].security.num_scopes);
	for (size_t i = 0; i < s->num_authorizers; i++) {
		struct spec_authorizer *a = &s->authorizers[i];

		free(a->name);
		free(a->source);
		free(a->prefix);
		free(a->jwks_uri);
		strs_free(a->issuers, a->num_issuers);
		strs_free(a->audiences, a->num_audiences);
		strs_free(a->required_claims, a->num_required_claims);
		free(a->function_id);
		free(a->tag);
		free(a->scheme);
	}
	free(s->authorizers);
	s->authorizers = NULL;
	s->num_authorizers = 0;
}
