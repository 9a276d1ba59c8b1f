/* auth.c — the authorizer of a route, run at the WebSocket handshake
 * before its connect integration (jwt-authorizer.md; YANDEX-FIDELITY.md
 * §1.1-1.2). The credential comes from identitySource (header, query
 * parameter or cookie, after its prefix); jwt.c and jwk.c judge the token.
 *
 * Keys: each jwt authorizer keeps the JWKS of its jwksUri, fetched with
 * one GET through upstream.c and kept for jwkTtlInSeconds (without it,
 * fetched for each handshake, as the cloud's doc says). Handshakes that
 * need keys not yet there wait in the authorizer's bounded list, their
 * raw request head copied (at most --max-head bytes), reading paused; all
 * of them are judged when the one call in flight ends. A token that does
 * not decode is refused before any fetch, and a kid the fresh keys lack
 * refetches at most every AUTH_REFETCH_MS, so tokens cannot make wsgw
 * hammer the issuer.
 *
 * Statuses (the doc's "Possible errors"): 401 no credential, a token that
 * does not decode, verify or pass exp/nbf/iat/iss/aud/requiredClaims;
 * 403 scopes; 500 the keys cannot be fetched or parsed.
 *
 * Function authorizers: each handshake not answered from the cache calls
 * the function (fnmap) with fn_event_authorizer_json and waits in the
 * authorizer's list with its own call; isAuthorized true passes with the
 * context, false is 403, a failed call or a malformed answer 500.
 *
 * Must never: block the loop, or keep a conn pointer past auth_forget.
 */
#include "auth.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth_cache.h"
#include "conn.h"
#include "ctx.h"
#include "err.h"
#include "fn_event.h"
#include "fn_resp.h"
#include "fnmap.h"
#include "net.h"
#include "http1.h"
#include "jwk.h"
#include "jwt.h"
#include "list.h"
#include "log.h"
#include "spec.h"
#include "upstream.h"
#include "ws_conn.h"
#include "ws_handshake.h"

#define NEED_KEYS 1 /* judge(): the keys lack the token's kid */
#define WARN_EVERY_MS 10000

/* A handshake waiting for keys: its head (to finish the upgrade with)
 * and its token, copied. */
struct auth_wait {
	struct list_node link;
	struct auth_rt *rt;
	struct upstream_req *call; /* a function authorizer's own call */
	struct conn *c;
	const struct route *route;
	char accept[WS_ACCEPT_LEN + 1];
	bool cache; /* keep the verdict under key */
	struct auth_cache_key key;
	size_t head_len, tok_len;
	char data[]; /* head, then token */
};

/* The keys of one jwksUri, shared by the authorizers that name it (the
 * cloud keys its cache by URI and kid). */
struct auth_rt {
	struct auth *au;
	const char *uri;
	struct jwk_set keys;
	bool have_keys;
	uint64_t fetched_ms;        /* monotonic; fresh for each authorizer's jwkTtlInSeconds */
	struct upstream_req *fetch; /* the JWKS call in flight */
	struct list_node waiters;
	unsigned num_waiters;
	uint64_t warned_ms;
};

/* The runtime of one spec's authorizers, owned by the spec (spec->rt):
 * made when the spec is loaded, freed when its last reference drops, so
 * a reload (SIGHUP) gives the new spec its own rings and caches while
 * handshakes on the old one (each holding it through its origin) finish
 * against theirs. */
struct auth {
	struct server *srv;
	const struct spec *spec;
	size_t n;                  /* key rings */
	unsigned *ring_of;         /* authorizer index -> key ring */
	struct auth_cache **cache; /* authorizer index -> results, made on first use */
	size_t num_authorizers;
	struct auth_rt rt[];
};

/* spec->rt_free: the spec's last reference dropped. A waiting handshake
 * holds its spec, so no waiter is left but at shutdown. */
static void auth_free(void *arg)
{
	struct auth *au = arg;

	for (size_t i = 0; i < au->n; i++) {
		struct list_node *n, *next;

		if (au->rt[i].fetch) /* the call runs on, its answer unheard */
			upstream_detach(au->rt[i].fetch);
		list_for_each_safe(n, next, &au->rt[i].waiters)
		{
			struct auth_wait *w = list_entry(n, struct auth_wait, link);

			if (w->call)
				upstream_detach(w->call);
			free(w);
		}
		jwk_set_free(&au->rt[i].keys);
	}
	for (size_t i = 0; i < au->num_authorizers; i++)
		auth_cache_free(au->cache[i]);
	free(au->cache);
	free(au->ring_of);
	free(au);
}

int auth_attach(struct server *srv, struct spec *spec)
{
	size_t n = spec->num_authorizers;
	struct auth *au;

	if (!n || spec->rt)
		return 0; /* nothing to keep: auth_check never looks */
	au = calloc(1, sizeof *au + n * sizeof au->rt[0]);
	if (!au || !(au->ring_of = calloc(n + 1, sizeof *au->ring_of)) ||
	    !(au->cache = calloc(n + 1, sizeof *au->cache))) {
		if (au)
			free(au->ring_of);
		free(au);
		return ERR_NOMEM;
	}
	au->srv = srv;
	au->spec = spec;
	au->num_authorizers = n;
	for (size_t i = 0; i < n; i++) {
		const char *uri = spec->authorizers[i].jwks_uri;
		size_t r;

		for (r = 0; r < au->n && uri && strcmp(au->rt[r].uri, uri); r++)
			;
		if (!uri || r == au->n) { /* a function authorizer gets an unused ring */
			r = au->n++;
			au->rt[r].au = au;
			au->rt[r].uri = uri ? uri : "";
			list_init(&au->rt[r].waiters);
		}
		au->ring_of[i] = (unsigned)r;
	}
	spec->rt = au;
	spec->rt_free = auth_free;
	return 0;
}

int auth_init(struct server *srv)
{
	return auth_attach(srv, srv->spec);
}

/* ---- the credential ----------------------------------------------------------- */

/* The value of name in "k=v<sep>k=v" (first match), undecoded. */
static bool find_pair(const char *q, size_t qlen, char sep, const char *name, const char **v,
                      size_t *vlen)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < qlen;) {
		const char *item = q + i, *end = memchr(item, sep, qlen - i);
		size_t ilen = end ? (size_t)(end - item) : qlen - i;

		i += ilen + 1;
		while (ilen && *item == ' ')
			item++, ilen--;
		if (ilen > n && item[n] == '=' && !memcmp(item, name, n)) {
			*v = item + n + 1;
			*vlen = ilen - n - 1;
			return true;
		}
	}
	return false;
}

/* Percent-decodes v[0..n) into out (at least n bytes); returns the length. */
static size_t pct_decode(const char *v, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int h1, h2;

		if (v[i] == '%' && i + 2 < n && (h1 = http1_hex_digit(v[i + 1])) >= 0 &&
		    (h2 = http1_hex_digit(v[i + 2])) >= 0) {
			out[o++] = (char)(h1 * 16 + h2);
			i += 2;
		} else {
			out[o++] = v[i] == '+' ? ' ' : v[i];
		}
	}
	return o;
}

/* The credential of a's identity source in req, prefix removed, into
 * buf[cap]. Returns its length, or -1 when it is missing (or does not
 * start with the prefix), -2 when longer than cap. */
static long credential(const struct spec_authorizer *a, const struct http1_request *req, char *buf,
                       size_t cap)
{
	const char *v = NULL, *q;
	size_t vlen = 0, plen = strlen(a->prefix);

	for (size_t i = 0; i < req->num_headers && !v; i++) {
		const struct http1_header *h = &req->headers[i];

		if (a->in == AUTH_IN_HEADER && http1_str_eq_ci(h->name, a->source))
			v = h->value.p, vlen = h->value.len;
		else if (a->in == AUTH_IN_COOKIE && http1_str_eq_ci(h->name, "cookie"))
			find_pair(h->value.p, h->value.len, ';', a->source, &v, &vlen);
	}
	if (a->in == AUTH_IN_QUERY && (q = memchr(req->target.p, '?', req->target.len)) &&
	    find_pair(q + 1, req->target.len - (size_t)(q + 1 - req->target.p), '&', a->source, &v,
	              &vlen)) {
		if (vlen > cap)
			return -2;
		vlen = pct_decode(v, vlen, buf);
		v = buf;
	}
	if (!v || vlen < plen || strncasecmp(v, a->prefix, plen) || vlen == plen)
		return -1;
	if (vlen - plen > cap)
		return -2;
	memmove(buf, v + plen, vlen - plen);
	return (long)(vlen - plen);
}

/* ---- the verdict --------------------------------------------------------------- */

/* Judges decoded token t with rt's keys: 0 with *ctx, 401, 403, 500
 * (out of memory), or NEED_KEYS when no key has its kid. */
static int judge(struct auth_rt *rt, const struct route *r, const struct jwt *t, char **ctx,
                 char *why, size_t whylen)
{
	const struct spec_authorizer *a = spec_route_authorizer(rt->au->spec, r);
	const struct jwt_policy p = {
	    (const char *const *)a->issuers,         a->num_issuers,
	    (const char *const *)a->audiences,       a->num_audiences,
	    (const char *const *)a->required_claims, a->num_required_claims,
	    (const char *const *)r->security.scopes, r->security.num_scopes,
	};
	const struct jwk_key *k = rt->have_keys ? jwk_set_find(&rt->keys, t) : NULL;
	bool too_long = false;

	if (!k) {
		snprintf(why, whylen, "no key for kid \"%.40s\"", t->kid);
		return NEED_KEYS;
	}
	if (jwt_verify(t, k, why, whylen) ||
	    jwt_check_claims(t, &p, rt->au->srv->loop.now_wall_ns / 1000000000, why, whylen))
		return 401;
	if (jwt_check_scopes(t, &p, why, whylen))
		return 403;
	if ((*ctx = jwt_context(t, AUTH_CTX_MAX, &too_long)))
		return 0;
	snprintf(why, whylen, "%s",
	         too_long ? "claims over the 4 KiB context cap" : "out of memory");
	return too_long ? 401 : 500;
}

/* The token's exp (epoch seconds), or NAN when it has none. */
static double exp_of(const struct jwt *t)
{
	json_t *e = json_object_get(t->claims, "exp");

	return json_is_number(e) ? json_number_value(e) : NAN;
}

/* judge() on the token text; *exp gets its exp. */
static int judge_text(struct auth_rt *rt, const struct route *r, const char *tok, size_t len,
                      char **ctx, double *exp, char *why, size_t whylen)
{
	struct jwt t;
	int st;

	*exp = NAN;
	if (jwt_decode(tok, len, &t, why, whylen))
		return 401;
	st = judge(rt, r, &t, ctx, why, whylen);
	*exp = exp_of(&t);
	jwt_free(&t);
	return st;
}

/* Keeps a verdict for authorizer_result_ttl_in_seconds; a pass no longer
 * than its token's exp allows (a cached pass must not outlive the token). */
static void remember(struct auth *au, const struct route *r, const struct auth_cache_key *k, int st,
                     const char *ctx, double exp)
{
	struct server *srv = au->srv;
	const struct spec_authorizer *a = spec_route_authorizer(au->spec, r);
	struct auth_cache **c = &au->cache[r->security.authorizer - 1];
	uint64_t now = srv->loop.now_ms, until = now + a->result_ttl_ms;
	double left = exp + JWT_LEEWAY_S - (double)(srv->loop.now_wall_ns / 1000000000);

	if (st != 0 && st != 401 && st != 403)
		return; /* 500: the authorizer is broken, not the token */
	if (st == 0 && !isnan(exp)) {
		if (left <= 0)
			return;
		if (left * 1000 < (double)a->result_ttl_ms)
			until = now + (uint64_t)(left * 1000);
	}
	if (!*c)
		*c = auth_cache_new();
	if (*c)
		auth_cache_put(*c, k, until, st, ctx);
}

static void refuse(struct conn *c, const struct spec_authorizer *a, int status, const char *why)
{
	log_debug("conn %s: authorizer %s: %d: %s", c->id, a->name, status, why);
	ws_conn_http_error(c, status,
	                   status == 401   ? "Unauthorized"
	                   : status == 403 ? "Forbidden"
	                   : status == 503 ? "too many handshakes waiting for the authorizer"
	                                   : "authorizer failed");
}

/* ---- keys ---------------------------------------------------------------------- */

static void on_fetched(void *arg, const struct upstream_result *res);

static void start_fetch(struct auth_rt *rt)
{
	static const char *const accept[] = {"Accept: application/json"};
	struct upstream_call call = {
	    .url = rt->uri,
	    .method = "GET",
	    .extra = accept,
	    .num_extra = 1,
	    .connect_timeout_ms = AUTH_FETCH_TIMEOUT_MS,
	    .timeout_ms = AUTH_FETCH_TIMEOUT_MS,
	    .max_response = JWK_MAX_JSON,
	};

	rt->fetch = upstream_start(rt->au->srv->up, &call, on_fetched, rt);
}

/* Finishes one waiting handshake with status (0: pass, with ctx). */
static void resume(struct auth_wait *w, int status, const char *why, char *ctx)
{
	struct conn *c = w->c;

	/* answered meanwhile by one finished earlier in this batch: it is
	 * freed only after the loop pass, so the flag can still be read */
	if (!(c->flags & CONN_F_WAIT_AUTH)) {
		free(ctx);
		return;
	}
	c->flags &= (uint16_t)~CONN_F_WAIT_AUTH;
	if (status)
		log_debug("conn %s: authorizer: %d: %s", c->id, status, why);
	ws_conn_auth_done(c, status, ctx, w->data, w->head_len, w->accept);
}

static void on_fetched(void *arg, const struct upstream_result *res)
{
	struct auth_rt *rt = arg;
	struct server *srv = rt->au->srv;
	struct list_node batch, *n, *next;
	struct jwk_set ks;
	char why[160] = "";
	bool ok = false;

	rt->fetch = NULL;
	if (srv->stopping)
		return; /* auth_free frees the waiters */
	if (res->status < 200 || res->status > 299)
		snprintf(why, sizeof why, "%s",
		         res->status ? "the JWKS server answered non-2xx" : res->error);
	else
		ok = !jwk_set_parse((const char *)res->body, res->body_len, &ks, why, sizeof why);
	if (ok) {
		jwk_set_free(&rt->keys);
		rt->keys = ks;
		rt->have_keys = true;
		rt->fetched_ms = srv->loop.now_ms;
	} else if (srv->loop.now_ms >= rt->warned_ms + WARN_EVERY_MS || !rt->warned_ms) {
		rt->warned_ms = srv->loop.now_ms;
		log_warn("authorizer keys: cannot get %s: %s (handshakes answered 500)", rt->uri,
		         why);
	}
	/* Detach the waiters first: finishing one may start another handshake. */
	list_init(&batch);
	list_for_each_safe(n, next, &rt->waiters)
	{
		list_remove(n);
		list_insert_tail(&batch, n);
	}
	rt->num_waiters = 0;
	list_for_each_safe(n, next, &batch)
	{
		struct auth_wait *w = list_entry(n, struct auth_wait, link);
		char *ctx = NULL, wwhy[160];
		int st = 500;

		list_remove(n);
		snprintf(wwhy, sizeof wwhy, "%s", why);
		if (ok) {
			double exp;

			st = judge_text(rt, w->route, w->data + w->head_len, w->tok_len, &ctx, &exp,
			                wwhy, sizeof wwhy);
			if (st == NEED_KEYS)
				st = 401;
			if (w->cache)
				remember(rt->au, w->route, &w->key, st, ctx, exp);
		}
		resume(w, st, wwhy, ctx);
		free(w);
	}
}

/* c waits for rt's keys. Returns AUTH_WAIT or ERR_CLOSED. */
static int wait_keys(struct auth_rt *rt, struct conn *c, const struct route *r, const char *head,
                     size_t head_len, const char *tok, size_t tok_len, const char *accept,
                     const struct auth_cache_key *key)
{
	const struct spec_authorizer *a = spec_route_authorizer(conn_spec(c), r);
	struct auth_wait *w;

	if (rt->num_waiters >= AUTH_MAX_WAITERS) {
		refuse(c, a, 503, "too many handshakes waiting for keys");
		return ERR_CLOSED;
	}
	if (!(w = malloc(sizeof *w + head_len + tok_len))) {
		refuse(c, a, 500, "out of memory");
		return ERR_CLOSED;
	}
	w->rt = rt;
	w->call = NULL;
	w->c = c;
	w->route = r;
	memcpy(w->accept, accept, sizeof w->accept);
	w->cache = key != NULL;
	if (key)
		w->key = *key;
	w->head_len = head_len;
	w->tok_len = tok_len;
	memcpy(w->data, head, head_len);
	memcpy(w->data + head_len, tok, tok_len);
	if (!rt->fetch)
		start_fetch(rt);
	if (!rt->fetch) {
		free(w);
		refuse(c, a, 500, "cannot start the JWKS call");
		return ERR_CLOSED;
	}
	list_insert_tail(&rt->waiters, &w->link);
	rt->num_waiters++;
	c->flags |= CONN_F_WAIT_AUTH;
	return AUTH_WAIT;
}

/* ---- function authorizers ---------------------------------------------------- */

static void request_id(struct server *srv, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	size_t o = 0;

	server_random(srv, b, sizeof b);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* The authorizer request (fn_event_authorizer_json) for c's handshake. */
static char *authz_request(struct conn *c, const struct route *r, const struct http1_request *req,
                           const char *fid, const char *rid, size_t *len)
{
	struct fn_kv hdr[HTTP1_MAX_HEADERS], pp[SPEC_MAX_PARAMS];
	struct route_match m = {0};
	const char *t = req->target.p, *q = memchr(t, '?', req->target.len);
	size_t plen = q ? (size_t)(q - t) : req->target.len, nh = 0;
	char ip[64];

	for (size_t i = 0; i < req->num_headers && nh < HTTP1_MAX_HEADERS; i++, nh++)
		hdr[nh] = (struct fn_kv){req->headers[i].name.p, req->headers[i].name.len,
		                         req->headers[i].value.p, req->headers[i].value.len};
	if (spec_match(conn_spec(c), t, plen, &m) != r)
		m.num_params = 0; /* cannot be: the route was matched on this path */
	for (size_t i = 0; i < m.num_params; i++)
		pp[i] = (struct fn_kv){m.params[i].name, strlen(m.params[i].name),
		                       m.params[i].value, m.params[i].value_len};
	net_ip_format(&c->ip, ip, sizeof ip);
	const struct fn_event ev = {
	    .kind = FN_CONNECT,
	    .v1 = true,
	    .resource = r->path,
	    .path = t,
	    .path_len = plen,
	    .query = q ? q + 1 : NULL,
	    .query_len = q ? req->target.len - plen - 1 : 0,
	    .headers = hdr,
	    .num_headers = nh,
	    .path_params = pp,
	    .num_path_params = m.num_params,
	    .function_id = fid,
	    .gateway_id = c->srv->cfg->gateway_id,
	    .conn_id = c->id,
	    .now_ms = (int64_t)(c->srv->loop.now_wall_ns / 1000000),
	    .request_id = rid,
	    .source_ip = ip,
	};
	return fn_event_authorizer_json(&ev, len);
}

static void on_answer(void *arg, const struct upstream_result *res)
{
	struct auth_wait *w = arg;
	struct auth_rt *rt = w->rt;
	const struct spec_authorizer *a = spec_route_authorizer(rt->au->spec, w->route);
	char why[200] = "", *ctx = NULL;
	bool yes = false;
	int st = 500;

	w->call = NULL;
	list_remove(&w->link);
	rt->num_waiters--;
	if (rt->au->srv->stopping) {
		free(w);
		return;
	}
	if (res->status < 200 || res->status > 299)
		snprintf(why, sizeof why, "function %s: %s", a->function_id,
		         res->status ? "answered non-2xx" : res->error);
	else if (fn_resp_authorizer(res->body, res->body_len, AUTH_CTX_MAX, &yes, &ctx, why,
	                            sizeof why) == 0)
		st = yes ? 0 : 403;
	if (st == 500)
		log_warn("authorizer %s: function %s is broken: %s (handshake answered 500)",
		         a->name, a->function_id, why);
	else if (w->cache)
		remember(rt->au, w->route, &w->key, st, ctx, NAN);
	resume(w, st, st == 403 ? "isAuthorized: false" : why, ctx);
	free(w);
}

/* Calls a's function for c: the handshake waits for its answer. Returns
 * AUTH_WAIT or ERR_CLOSED. */
static int call_function(struct auth_rt *rt, struct conn *c, const struct route *r,
                         const struct http1_request *req, const char *head, size_t head_len,
                         const char *accept, const struct auth_cache_key *key)
{
	const struct spec_authorizer *a = spec_route_authorizer(conn_spec(c), r);
	const struct config *cfg = c->srv->cfg;
	const char *url = fnmap_find(cfg, a->function_id, a->tag);
	const char *tag = a->tag && *a->tag ? a->tag : "$latest";
	char rid[37], lines[5][200];
	const char *extra[5] = {lines[0], lines[1], lines[2], lines[3], lines[4]};
	struct auth_wait *w;
	size_t jlen = 0;
	char *json;

	if (!url) { /* fnmap_check_spec refused it at load: cannot be */
		refuse(c, a, 500, "the function has no --function mapping");
		return ERR_CLOSED;
	}
	if (rt->num_waiters >= AUTH_MAX_WAITERS) {
		refuse(c, a, 503, "too many handshakes waiting for the authorizer");
		return ERR_CLOSED;
	}
	request_id(c->srv, rid);
	if (!(w = malloc(sizeof *w + head_len)) ||
	    !(json = authz_request(c, r, req, a->function_id, rid, &jlen))) {
		free(w);
		refuse(c, a, 500, "out of memory");
		return ERR_CLOSED;
	}
	snprintf(lines[0], sizeof lines[0], "Content-Type: application/json");
	snprintf(lines[1], sizeof lines[1], "X-Request-Id: %s", rid);
	snprintf(lines[2], sizeof lines[2], "X-Serverless-Gateway-Id: %s", cfg->gateway_id);
	snprintf(lines[3], sizeof lines[3], "X-Function-Id: %.150s", a->function_id);
	snprintf(lines[4], sizeof lines[4], "X-Function-Tag: %.150s", tag);
	struct upstream_call call = {
	    .url = url,
	    .method = "POST",
	    .extra = extra,
	    .num_extra = 5,
	    .body = (const uint8_t *)json,
	    .body_len = jlen,
	    .connect_timeout_ms = AUTH_CALL_TIMEOUT_MS,
	    .timeout_ms = AUTH_CALL_TIMEOUT_MS,
	    .max_response = AUTH_CTX_MAX + 65536,
	};
	*w = (struct auth_wait){
	    .rt = rt, .c = c, .route = r, .cache = key != NULL, .head_len = head_len};
	memcpy(w->accept, accept, sizeof w->accept);
	if (key)
		w->key = *key;
	memcpy(w->data, head, head_len);
	w->call = upstream_start(c->srv->up, &call, on_answer, w);
	free(json);
	if (!w->call) {
		free(w);
		refuse(c, a, 500, "cannot start the authorizer call");
		return ERR_CLOSED;
	}
	list_insert_tail(&rt->waiters, &w->link);
	rt->num_waiters++;
	c->flags |= CONN_F_WAIT_AUTH;
	return AUTH_WAIT;
}

int auth_check(struct conn *c, const struct route *r, const struct http1_request *req,
               const char *head, size_t head_len, const char *accept, char **ctx)
{
	const struct spec_authorizer *a = spec_route_authorizer(conn_spec(c), r);
	struct auth *au = conn_spec(c) ? conn_spec(c)->rt : NULL; /* the connection's spec, not srv's */
	struct auth_rt *rt;
	char tok[JWT_MAX_TOKEN], why[160];
	struct auth_cache_key key, *kp = NULL;
	struct jwt t;
	uint64_t now;
	double exp;
	long len;
	int st;

	*ctx = NULL;
	if (!a)
		return AUTH_PASS;
	if (!au) { /* auth_attach failed for this spec: out of memory */
		refuse(c, a, 500, "no authorizer state");
		return ERR_CLOSED;
	}
	rt = &au->rt[au->ring_of[r->security.authorizer - 1]];
	if ((len = credential(a, req, tok, sizeof tok)) < 0) {
		refuse(c, a, 401, len == -1 ? "no credential" : "credential too long");
		return ERR_CLOSED;
	}
	if (a->result_ttl_ms) {
		const char *where = r->path, *q;
		size_t wlen = strlen(r->path);
		struct auth_cache *cache = au->cache[r->security.authorizer - 1];

		if (a->cache_by_uri) { /* the request's path, not its template */
			q = memchr(req->target.p, '?', req->target.len);
			where = req->target.p;
			wlen = q ? (size_t)(q - where) : req->target.len;
		}
		/* the handshake is a GET: the cloud's key is path, method, token */
		auth_cache_key(&key, where, wlen, "GET", tok, (size_t)len);
		kp = &key;
		if (cache && auth_cache_get(cache, &key, c->srv->loop.now_ms, &st, ctx)) {
			if (st == 0)
				return AUTH_PASS;
			refuse(c, a, st, "the cached result");
			return ERR_CLOSED;
		}
	}
	if (a->type == AUTH_FUNCTION)
		return call_function(rt, c, r, req, head, head_len, accept, kp);
	/* A token that does not even decode never costs a JWKS call. */
	if (jwt_decode(tok, (size_t)len, &t, why, sizeof why)) {
		refuse(c, a, 401, why);
		return ERR_CLOSED;
	}
	now = c->srv->loop.now_ms;
	if (!(rt->have_keys && now < rt->fetched_ms + a->jwk_ttl_ms)) /* none, or past the TTL */
		st = NEED_KEYS;
	else if ((st = judge(rt, r, &t, ctx, why, sizeof why)) == NEED_KEYS &&
	         now < rt->fetched_ms + AUTH_REFETCH_MS)
		st = 401; /* the fresh keys lack its kid, and they were just fetched */
	exp = exp_of(&t);
	jwt_free(&t);
	if (st == NEED_KEYS)
		return wait_keys(rt, c, r, head, head_len, tok, (size_t)len, accept, kp);
	if (kp)
		remember(au, r, kp, st, *ctx, exp);
	if (st == 0)
		return AUTH_PASS;
	refuse(c, a, st, why);
	return ERR_CLOSED;
}

void auth_forget(struct conn *c)
{
	struct auth *au = conn_spec(c) ? conn_spec(c)->rt : NULL;

	if (!(c->flags & CONN_F_WAIT_AUTH) || !au)
		return;
	c->flags &= (uint16_t)~CONN_F_WAIT_AUTH;
	for (size_t i = 0; i < au->n; i++) {
		struct list_node *n, *next;

		list_for_each_safe(n, next, &au->rt[i].waiters)
		{
			struct auth_wait *w = list_entry(n, struct auth_wait, link);

			if (w->c == c) {
				list_remove(n);
				au->rt[i].num_waiters--;
				if (w->call)
					upstream_detach(w->call);
				free(w);
				return;
			}
		}
	}
}
