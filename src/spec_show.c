/* spec_show.c — what fills a {placeholder} of an integration (the rule
 * integ_http.c applies at run time, stated once for --check-spec and the
 * load-time warnings), and the --check-spec listing of a parsed spec.
 *
 * The cloud substitutes {name} from the operation's path, query, header
 * and cookie parameters (extensions/index.md); its samples also use the
 * gateway's own event headers (X-Yc-Apigateway-Websocket-Connection-Id,
 * …) as placeholders, declared or not (shared/spec/YANDEX-FIDELITY.md §2.1).
 * Must never: log, or touch sockets; out is the caller's stream.
 */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "spec.h"

#define GW_PREFIX "X-Yc-Apigateway-Websocket-"
#define GW_PREFIX_LEN 26

size_t spec_placeholder_len(const char *p)
{
	size_t n = 0;

	if (*p != '{')
		return 0;
	for (p++; (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
	          *p == '_' || *p == '.' || *p == '-';
	     p++)
		n++;
	return *p == '}' ? n : 0;
}

static bool eq_ci(const char *a, size_t alen, const char *lit)
{
	return alen == strlen(lit) && !strncasecmp(a, lit, alen);
}

const char *spec_placeholder_source(const struct route *r, const struct integration *in,
                                    const char *name, size_t len)
{
	static const char *const from[] = {"path parameter", "query parameter", "header parameter",
	                                   "cookie parameter"};

	for (size_t i = 0; i < r->num_segs; i++)
		if (r->segs[i].kind != SEG_LITERAL && strlen(r->segs[i].text) == len &&
		    !memcmp(r->segs[i].text, name, len))
			return "path parameter";
	if (len > GW_PREFIX_LEN && !strncasecmp(name, GW_PREFIX, GW_PREFIX_LEN)) {
		const char *rest = name + GW_PREFIX_LEN;
		size_t rl = len - GW_PREFIX_LEN;

		if (eq_ci(rest, rl, "Connection-Id"))
			return "the connection's id";
		if (eq_ci(rest, rl, "Event-Type"))
			return "the event type";
		if (eq_ci(rest, rl, "Connected-At"))
			return "the connection time (epoch ms)";
		if (eq_ci(rest, rl, "Message-Id") && in == &r->message)
			return "the message id";
		return NULL; /* the gateway's own: never from the client */
	}
	for (size_t i = 0; i < in->num_params; i++)
		if (in->params[i].in != PARAM_PATH && strlen(in->params[i].name) == len &&
		    (in->params[i].in == PARAM_HEADER ? !strncasecmp(in->params[i].name, name, len)
		                                      : !memcmp(in->params[i].name, name, len)))
			return from[in->params[i].in];
	return NULL;
}

/* Prints each placeholder of str not yet in seen (up to 32 remembered). */
struct seen {
	const char *name[32];
	size_t len[32], n;
};

static void show_places(const struct route *r, const struct integration *in, const char *str,
                        struct seen *sn, FILE *out)
{
	for (const char *p = str ? strchr(str, '{') : NULL; p; p = strchr(p + 1, '{')) {
		size_t n = spec_placeholder_len(p);
		const char *src;
		bool dup = false;

		if (!n)
			continue;
		for (size_t i = 0; i < sn->n && !dup; i++)
			dup = sn->len[i] == n && !memcmp(sn->name[i], p + 1, n);
		if (dup)
			continue;
		if (sn->n < 32)
			sn->name[sn->n] = p + 1, sn->len[sn->n++] = n;
		src = spec_placeholder_source(r, in, p + 1, n);
		fprintf(out, "        {%.*s} <- %s\n", (int)n, p + 1,
		        src ? src
		        : (n > GW_PREFIX_LEN && !strncasecmp(p + 1, GW_PREFIX, GW_PREFIX_LEN))
		            ? "nothing: sent as written"
		            : "the client's handshake header of that name, if any; else as "
		              "written");
	}
}

/* A spec header the gateway sends itself on this operation's events
 * (integ_http_is_event_header): the spec's value is not sent. */
static bool gw_header(const struct route *r, const struct integration *in, const char *name)
{
	size_t n = strlen(name);

	if (n > GW_PREFIX_LEN && !strncasecmp(name, GW_PREFIX, GW_PREFIX_LEN)) {
		const char *rest = name + GW_PREFIX_LEN;

		if (!strcasecmp(rest, "Connection-Id") || !strcasecmp(rest, "Event-Type") ||
		    !strcasecmp(rest, "Connected-At"))
			return true;
		if (in == &r->message)
			return !strcasecmp(rest, "Message-Id");
		if (in == &r->disconnect)
			return !strcasecmp(rest, "Disconnect-Status-Code") ||
			       !strcasecmp(rest, "Disconnect-Reason");
		return false;
	}
	return in == &r->message && !strcasecmp(name, "Content-Type");
}

static const char *const types[] = {"-",    "echo",          "dummy",
                                    "http", "cloud_functions", "serverless_containers"};

static void show_integ(const struct route *r, const char *op, const struct integration *in,
                       FILE *out)
{
	struct seen sn = {.n = 0};

	if (in->type == INTEG_NONE) {
		if (in == &r->message)
			fprintf(out, "    message: none: a server-push path; a client message is "
			             "answered with close 1003\n");
		return;
	}
	fprintf(out, "    %s: %s", op, types[in->type]);
	if (in->type == INTEG_HTTP)
		fprintf(out, " %s %s",
		        in->method          ? in->method
		        : in == &r->connect ? "GET"
		                            : "POST",
		        in->url);
	if (in->type == INTEG_DUMMY)
		fprintf(out, " %d", in->http_code ? in->http_code : 200);
	if (in->type == INTEG_FUNCTION)
		fprintf(out, " %s tag %s, payload %s", in->target_id, in->tag ? in->tag : "$latest",
		        in->payload_v1 ? "1.0" : "0.1");
	if (in->type == INTEG_CONTAINER)
		fprintf(out, " %s", in->target_id);
	fprintf(out, " (line %d)\n", in->line);
	if (in->context)
		fprintf(out, "        context: %s\n", in->context);
	show_places(r, in, in->url, &sn, out);
	show_places(r, in, in->tag, &sn, out);
	show_places(r, in, in->context, &sn, out);
	for (size_t i = 0; i < in->num_headers; i++) {
		if (gw_header(r, in, in->headers[i].name))
			fprintf(out, "        header %s: sent once, with the gateway's own value\n",
			        in->headers[i].name);
		else
			show_places(r, in, in->headers[i].value, &sn, out);
	}
	for (size_t i = 0; i < in->num_query; i++)
		show_places(r, in, in->query[i].value, &sn, out);
	for (size_t i = 0; i < in->num_content; i++)
		show_places(r, in, in->content[i].value, &sn, out);
}

/* The route's authorizer: what it reads and checks (spec_auth.c). */
static void show_auth(const struct spec *s, const struct route *r, FILE *out)
{
	static const char *const ins[] = {"header", "query parameter", "cookie"};
	const struct spec_authorizer *a = spec_route_authorizer(s, r);

	if (!a)
		return;
	fprintf(out, "    authorizer: %s (line %d), %s, credential from %s \"%s\"", a->name,
	        a->line, a->type == AUTH_JWT ? "jwt" : "function", ins[a->in], a->source);
	if (a->prefix && *a->prefix)
		fprintf(out, " after \"%s\"", a->prefix);
	if (a->type == AUTH_FUNCTION) {
		fprintf(out, "\n        function %s%s%s", a->function_id, a->tag ? " tag " : "",
		        a->tag ? a->tag : "");
		if (a->result_ttl_ms)
			fprintf(out, ", results kept %" PRIu64 " s by %s", a->result_ttl_ms / 1000,
			        a->cache_by_uri ? "uri" : "path");
		fprintf(out, "\n");
		return;
	}
	fprintf(out, "\n        keys: %s, ", a->jwks_uri);
	if (a->jwk_ttl_ms)
		fprintf(out, "kept %" PRIu64 " s\n", a->jwk_ttl_ms / 1000);
	else
		fprintf(out, "fetched for every token (no jwkTtlInSeconds)\n");
	fprintf(out, "        checks: signature, exp/nbf/iat, %zu issuer(s), %zu audience(s), "
	             "%zu required claim(s), scopes:",
	        a->num_issuers, a->num_audiences, a->num_required_claims);
	for (size_t i = 0; i < r->security.num_scopes; i++)
		fprintf(out, " %s", r->security.scopes[i]);
	fprintf(out, "%s\n", r->security.num_scopes ? "" : " none");
	if (a->result_ttl_ms)
		fprintf(out, "        results cached %" PRIu64 " s by %s and token\n",
		        a->result_ttl_ms / 1000, a->cache_by_uri ? "URI" : "path template");
}

void spec_describe(const struct spec *s, FILE *out)
{
	for (size_t i = 0; i < s->num_routes; i++) {
		const struct route *r = &s->routes[i];

		fprintf(out, "  %s (line %d): connect %s, message %s, disconnect %s\n", r->path,
		        r->line, types[r->connect.type], types[r->message.type],
		        types[r->disconnect.type]);
		show_auth(s, r, out);
		show_integ(r, "connect", &r->connect, out);
		show_integ(r, "message", &r->message, out);
		show_integ(r, "disconnect", &r->disconnect, out);
	}
	fprintf(out, "trailing slashes: %s\n",
	        s->keep_trailing_slash ? "significant (ignoreTrailingSlashes: false)" : "ignored");
	for (size_t i = 0; i < s->num_warnings; i++)
		fprintf(out, "warning: %s\n", s->warnings[i]);
}
