/* config.c — defaults, WSGW_* environment variables and flags into one
 * struct config, and --help.
 *
 * Owns: the single option table below. Defaults are applied by parsing the
 * table's default text, flags and variables are looked up in it, and
 * config_usage prints it, so parsing, defaults and help cannot drift apart.
 * Must never: log, touch sockets, or keep state between calls (pure).
 * Order: defaults, then environment, then argv (a flag beats its variable).
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "err.h"

enum kind {
	K_ADDR,
	K_STR,
	K_SIZE,
	K_UINT,
	K_DUR,
	K_PROTOS,
	K_BOOL,
	K_LEVEL,
	K_VAR,
	K_FORMAT,
	K_TARGET
};
enum group { G_WS, G_LIMITS, G_TIMEOUTS, G_MGMT, G_INTEG, G_LOG, G_COUNT };
enum { DUR_OFF_OK = 1, STR_ID = 2, TGT_CONTAINER = 4 }; /* opt.flags */

struct opt {
	const char *name; /* flag without "--"; env is WSGW_ + upper snake */
	enum kind kind;
	enum group group;
	size_t off, size; /* field in struct config */
	uint64_t min, max;
	unsigned flags;
	const char *def; /* parsed like user input; NULL: derived (max-frame) */
	const char *help;
};

#define F(m) offsetof(struct config, m), sizeof(((struct config *)0)->m)
#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define SEC UINT64_C(1000)
#define DAY (86400 * SEC)
#define STR_(x) #x
#define STR(x) STR_(x)

static const struct opt opts[] = {
    {"listen", K_ADDR, G_WS, F(listen), 0, 0, 0, "127.0.0.1:8080",
     "WebSocket address, IPv4:port or [IPv6]:port"},
    {"gateway-id", K_STR, G_WS, F(gateway_id), 0, 0, STR_ID, "d5dwsgw0000000000001",
     "id of this gateway, [A-Za-z0-9._-]"},
    {"subprotocols", K_PROTOS, G_WS, F(protocols), 0, 0, 0, "",
     "Sec-WebSocket-Protocol values offered, comma-separated"},
    {"trust-proxy", K_BOOL, G_WS, F(trust_proxy), 0, 0, 0, "false",
     "take the client address from X-Forwarded-For"},
    {"tls-cert", K_STR, G_WS, F(tls_cert), 0, 0, 0, "",
     "PEM certificate chain: the WebSocket port speaks wss:// (with --tls-key); re-read on SIGHUP"},
    {"tls-key", K_STR, G_WS, F(tls_key), 0, 0, 0, "", "PEM private key of --tls-cert"},
    {"tls-ocsp-file", K_STR, G_WS, F(tls_ocsp_file), 0, 0, 0, "",
     "DER OCSP response stapled for --tls-cert when a client asks; re-read on SIGHUP"},
    {"tls-ticket-rotation", K_DUR, G_WS, F(tls_ticket_rotation_ms), SEC, 365 * DAY, 0, "1h",
     "new TLS session-ticket key this often (both TLS ports); the previous one still resumes"},
    {"max-message", K_SIZE, G_LIMITS, F(max_message), 1, GIB, 0, "128K",
     "largest WebSocket message"},
    {"max-frame", K_SIZE, G_LIMITS, F(max_frame), 1, GIB, 0, NULL,
     "largest WebSocket frame, at most --max-message"},
    {"max-head", K_SIZE, G_LIMITS, F(max_head), 256, MIB, 0, "8K", "largest HTTP request head"},
    {"max-out-queue", K_SIZE, G_LIMITS, F(max_out_queue), KIB, GIB, 0, "1M",
     "outbound bytes queued per connection"},
    {"max-user-agent", K_SIZE, G_LIMITS, F(max_user_agent), 0, 64 * KIB, 0, "512",
     "User-Agent bytes kept per connection"},
    {"max-connections", K_UINT, G_LIMITS, F(max_connections), 1, 10000000, 0, "100000",
     "WebSocket connections open at once"},
    {"handshake-timeout", K_DUR, G_TIMEOUTS, F(handshake_timeout_ms), 1, 365 * DAY, 0, "10s",
     "time allowed for the HTTP upgrade"},
    {"idle-timeout", K_DUR, G_TIMEOUTS, F(idle_timeout_ms), 0, 365 * DAY, DUR_OFF_OK, "600s",
     "close after this long without traffic"},
    {"ping-interval", K_DUR, G_TIMEOUTS, F(ping_interval_ms), 0, 365 * DAY, DUR_OFF_OK, "30s",
     "send a ping after this long without traffic"},
    {"max-lifetime", K_DUR, G_TIMEOUTS, F(max_lifetime_ms), 0, 365 * DAY, DUR_OFF_OK, "off",
     "close any connection this old"},
    {"close-timeout", K_DUR, G_TIMEOUTS, F(close_timeout_ms), 1, 365 * DAY, 0, "5s",
     "wait this long for the peer's close frame"},
    {"drain-timeout", K_DUR, G_TIMEOUTS, F(drain_timeout_ms), 1, 365 * DAY, 0, "5s",
     "on SIGTERM/SIGINT, wait this long for connections to close and disconnect events to go"},
    {"mgmt-listen", K_ADDR, G_MGMT, F(mgmt_listen), 0, 0, 0, "127.0.0.1:9090",
     "management address (gRPC over h2c and REST)"},
    {"auth-token", K_STR, G_MGMT, F(auth_token), 0, 0, 0, "",
     "bearer token required by the management API (empty: none)"},
    {"auth-token-file", K_STR, G_MGMT, F(auth_token_file), 0, 0, 0, "",
     "read the bearer token from this file (one trailing newline dropped), again on SIGHUP; "
     "not with --auth-token"},
    {"mgmt-tls-cert", K_STR, G_MGMT, F(mgmt_tls_cert), 0, 0, 0, "",
     "PEM certificate chain: the management port speaks TLS, ALPN h2 and http/1.1 (with "
     "--mgmt-tls-key); re-read on SIGHUP"},
    {"mgmt-tls-key", K_STR, G_MGMT, F(mgmt_tls_key), 0, 0, 0, "", "PEM private key of --mgmt-tls-cert"},
    {"mgmt-tls-client-ca", K_STR, G_MGMT, F(mgmt_tls_client_ca), 0, 0, 0, "",
     "PEM CA certificates: management clients must present a certificate they issued (mutual TLS)"},
    {"metrics-token", K_STR, G_MGMT, F(metrics_token), 0, 0, 0, "",
     "bearer token GET /metrics requires (empty: none; --auth-token is never asked there)"},
    {"grpc-max-body", K_SIZE, G_MGMT, F(grpc_max_body), KIB, GIB, 0, "4M",
     "largest gRPC request message"},
    {"max-streams", K_UINT, G_MGMT, F(max_streams), 1, INT32_MAX, 0, "1024",
     "concurrent HTTP/2 streams per management connection"},
    {"rest-max-body", K_SIZE, G_MGMT, F(rest_max_body), KIB, GIB, 0, "1M",
     "largest REST request body"},
    {"request-timeout", K_DUR, G_MGMT, F(request_timeout_ms), 1, 365 * DAY, 0, "30s",
     "time to receive one request (REST, HTTP/2 stream); idle limit of every management connection"},
    {"mgmt-max-connections", K_UINT, G_MGMT, F(mgmt_max_connections), 1, 10000000, 0, "1024",
     "management connections open at once; more are closed at accept"},
    {"mgmt-max-buffer", K_SIZE, G_MGMT, F(mgmt_max_buffer), KIB, GIB, 0, "16M",
     "request bytes buffered per management connection"},
    {"mgmt-max-buffer-total", K_SIZE, G_MGMT, F(mgmt_max_buffer_total), KIB, 64 * GIB, 0, "256M",
     "request bytes buffered across all management connections"},
    {"spec", K_STR, G_INTEG, F(spec_path), 0, 0, 0, "",
     "OpenAPI 3 YAML with the WebSocket routes (empty: echo on every path)"},
    {"check-spec", K_STR, G_INTEG, F(check_spec_path), 0, 0, 0, "",
     "validate this spec file, print the routes, exit (0 good, 2 bad)"},
    {"max-inbound-queue", K_SIZE, G_INTEG, F(max_inbound_queue), KIB, GIB, 0, "1M",
     "client messages waiting for the backend per connection; full: stop reading"},
    {"backend-connections", K_UINT, G_INTEG, F(backend_connections), 1, 65536, 0, "256",
     "calls in flight to one backend (scheme://host:port), each on a kept-alive connection; more wait in order"},
    {"backend-idle-timeout", K_DUR, G_INTEG, F(backend_idle_timeout_ms), 1, 365 * DAY, 0, "4s",
     "close a kept-alive backend connection unused this long"},
    {"backend-ca-file", K_STR, G_INTEG, F(backend_ca_file), 0, 0, 0, "",
     "PEM file of CA certificates trusted for https backends, besides the system's"},
    {"disconnect-retry", K_DUR, G_INTEG, F(disconnect_retry_ms), 0, 365 * DAY, DUR_OFF_OK, "30s",
     "retry a failed disconnect call (no answer, 5xx) with backoff for this long; off: try once"},
    {"max-pending-disconnects", K_UINT, G_INTEG, F(max_pending_disconnects), 1, 10000000, 0, "100000",
     "disconnect events held at once (in a call or waiting to retry); more are dropped"},
    {"var", K_VAR, G_INTEG, F(vars), 0, 0, 0, "",
     "value of the spec's variable ${var.NAME}, beating its default; repeatable (and one "
     "environment variable per NAME)"},
    {"function", K_TARGET, G_INTEG, F(functions), 0, 0, 0, "",
     "serve cloud_functions (and function authorizers') FUNCTION_ID (optionally only its TAG) "
     "at this URL: FUNCTION_ID[:TAG]=URL; "
     "repeatable (environment: one variable per mapping, any suffix in place of N)"},
    {"container", K_TARGET, G_INTEG, F(containers), 0, 0, TGT_CONTAINER, "",
     "serve serverless_containers CONTAINER_ID at this base URL: CONTAINER_ID=URL; repeatable "
     "(environment: one variable per mapping, any suffix in place of N)"},
    {"integration-error-message", K_BOOL, G_INTEG, F(integration_error_message), 0, 0, 0, "false",
     "on a failed message integration send an error message, not close 1011"},
    {"cluster", K_STR, G_MGMT, F(cluster_url), 0, 0, 0, "",
     "cluster mode: redis://[:password@]host:port[/db] shared by every node (empty: off)"},
    {"cluster-call-timeout", K_DUR, G_MGMT, F(cluster_call_timeout_ms), 1, 365 * DAY, 0, "1s",
     "deadline of a call answered by another node of the cluster"},
    {"cluster-max-calls", K_UINT, G_MGMT, F(cluster_max_calls), 1, 1048576, 0, "16384",
     "remote calls waiting for another node's answer here; more: RESOURCE_EXHAUSTED"},
    {"cluster-max-queued", K_SIZE, G_MGMT, F(cluster_max_queued), MIB, 4 * GIB, 0, "64M",
     "bytes queued for Redis on each link; more: RESOURCE_EXHAUSTED"},
    {"log-level", K_LEVEL, G_LOG, F(log_level), 0, 0, 0, "info", "error, warn, info or debug"},
    {"log-format", K_FORMAT, G_LOG, F(log_format), 0, 0, 0, "text",
     "text (time level message) or json (one object per line: time, level, msg and fields)"},
};

enum { NOPTS = sizeof(opts) / sizeof(opts[0]) };

static const char *const group_title[G_COUNT] = {"WebSocket port", "Limits", "Timeouts",
                                                 "Management API", "Integrations", "Logging"};
static const char *const kind_meta[] = {"ADDR",     "STR",  "SIZE",  "N",         "DURATION",
                                        "LIST",     "BOOL", "LEVEL", "NAME=VALUE", "FORMAT",
                                        "ID=URL"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};

enum src { SRC_DEFAULT, SRC_ENV, SRC_ARGV };

struct load {
	struct config *cfg;
	enum src src[NOPTS];
	char *err;
	size_t errlen;
};

/* ---- small parsers -------------------------------------------------------- */

/* Decimal digits only (no sign, no space), overflow-checked. Returns the
 * first byte after the digits, or NULL if there were none or it overflowed. */
static const char *parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return p == s ? NULL : p;
}

static int scale(uint64_t v, uint64_t unit, uint64_t *out)
{
	if (v > UINT64_MAX / unit)
		return ERR_INVAL;
	*out = v * unit;
	return 0;
}

struct unit {
	uint64_t n;
	const char *sfx;
};

/* Largest first: fmt_num picks the first that divides. */
static const struct unit size_units[] = {{GIB, "G"}, {MIB, "M"}, {KIB, "K"}, {1, ""}};
static const struct unit dur_units[] = {{3600 * SEC, "h"}, {60 * SEC, "m"}, {SEC, "s"}, {1, "ms"}};

/* K, M, G or KiB, MiB, GiB, any case; none: bytes. */
static int parse_size64(const char *text, uint64_t *out)
{
	uint64_t v;
	const char *p = parse_u64(text, &v);

	for (const struct unit *u = size_units; p && u < size_units + 4; u++)
		if (strcasecmp(p, u->sfx) == 0 ||
		    (u->n > 1 && strncasecmp(p, u->sfx, 1) == 0 && strcasecmp(p + 1, "ib") == 0))
			return scale(v, u->n, out);
	return ERR_INVAL;
}

int config_parse_size(const char *text, size_t *out)
{
	uint64_t v;

	if (parse_size64(text, &v) < 0 || v > SIZE_MAX)
		return ERR_INVAL;
	*out = (size_t)v;
	return 0;
}

int config_parse_duration(const char *text, uint64_t *out_ms)
{
	uint64_t v;
	const char *p = parse_u64(text, &v);

	if (strcmp(text, "off") == 0) {
		*out_ms = 0;
		return 0;
	}
	if (p && *p == '\0')
		return scale(v, SEC, out_ms);
	for (const struct unit *u = dur_units; p && u < dur_units + 4; u++)
		if (strcmp(p, u->sfx) == 0)
			return scale(v, u->n, out_ms);
	return ERR_INVAL;
}

static int parse_port(const char *s, uint16_t *out)
{
	uint64_t v;
	const char *end = parse_u64(s, &v);

	if (!end || *end || end - s > 5 || v > 65535)
		return ERR_INVAL;
	*out = (uint16_t)v;
	return 0;
}

int config_parse_addr(const char *text, struct config_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = text;
	size_t hlen;
	uint16_t port;

	if (strlen(text) >= sizeof(out->text))
		return ERR_INVAL;
	if (*text == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return ERR_INVAL;
		h = text + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return ERR_INVAL;
		hlen = (size_t)(colon - text);
	}
	if (hlen == 0 || hlen >= sizeof(host) || parse_port(colon + 1, &port) < 0)
		return ERR_INVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	memset(out, 0, sizeof(*out));
	if (*text == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return ERR_INVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		out->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->sa;
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return ERR_INVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		out->len = sizeof(*s4);
	}
	strcpy(out->text, text);
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const words[] = {"0", "false", "no", "1", "true", "yes"};

	for (int i = 0; i < 6; i++) {
		if (strcasecmp(s, words[i]) == 0) {
			*out = i >= 3;
			return 0;
		}
	}
	return ERR_INVAL;
}

/* ASCII only, whatever the locale. */
static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 7230 §3.2.6: tchar */
static bool is_tchar(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int fail(const char **why, const char *msg)
{
	*why = msg;
	return ERR_INVAL;
}

/* Comma list of tokens, optional spaces around each (RFC 7230 §7). */
static int parse_protocols(const char *s, struct config *cfg, const char **why)
{
	size_t n = 0;

	while (*s) {
		const char *p = s + strspn(s, " \t"), *e = p;
		while (is_tchar((unsigned char)*e))
			e++;
		size_t len = (size_t)(e - p);
		e += strspn(e, " \t");
		if (len == 0 || (*e && *e != ','))
			return fail(why, "is not a comma-separated list of tokens");
		if (len >= sizeof(cfg->protocols[0]))
			return fail(why, "has a protocol of 64 bytes or more");
		if (n == CONFIG_MAX_PROTOCOLS)
			return fail(why, "has more than " STR(CONFIG_MAX_PROTOCOLS) " protocols");
		for (size_t i = 0; i < n; i++)
			if (strlen(cfg->protocols[i]) == len && !memcmp(cfg->protocols[i], p, len))
				return fail(why, "lists a protocol twice");
		memcpy(cfg->protocols[n], p, len);
		cfg->protocols[n++][len] = '\0';
		s = *e ? e + 1 : e;
		if (*e && !*s)
			return fail(why, "ends with a comma");
	}
	cfg->num_protocols = n;
	return 0;
}

/* ---- one option ------------------------------------------------------------ */

static void env_name(const struct opt *o, char *buf, size_t n)
{
	snprintf(buf, n,
	         o->kind == K_VAR      ? "WSGW_%s_NAME"
	         : o->kind == K_TARGET ? "WSGW_%s_N"
	                               : "WSGW_%s",
	         o->name);
	for (char *p = buf; *p; p++)
		*p = *p == '-' ? '_' : (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
}

/* "--name" or "WSGW_NAME", whichever the value came from. */
static void label_of(const struct opt *o, enum src src, char *buf, size_t n)
{
	if (src == SRC_ENV)
		env_name(o, buf, n);
	else
		snprintf(buf, n, "--%s", o->name);
}

/* Largest unit that divides v exactly, e.g. 131072 -> "128K", 90000 ms -> "90s". */
static void fmt_num(uint64_t v, bool ms, char *buf, size_t n)
{
	const struct unit *u = ms ? dur_units : size_units;

	while (v == 0 ? u->n != 1 : v % u->n != 0)
		u++;
	snprintf(buf, n, "%llu%s", (unsigned long long)(v / u->n), u->sfx);
}

__attribute__((format(printf, 2, 3))) static int errf(struct load *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err && ld->errlen) {
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errlen, fmt, ap);
		va_end(ap);
	}
	return ERR_INVAL;
}

static int bad(struct load *ld, const char *label, const char *val, const char *why)
{
	return errf(ld, "%s: \"%.80s\" %s", label, val, why);
}

static int set_number(struct load *ld, const struct opt *o, const char *label, const char *val)
{
	void *field = (char *)ld->cfg + o->off;
	const char *end;
	char lo[32], hi[32];
	uint64_t v = 0;

	if (o->kind == K_SIZE && parse_size64(val, &v) < 0)
		return bad(ld, label, val, "is not a size (bytes, or a number with K/M/G)");
	if (o->kind == K_UINT && (!(end = parse_u64(val, &v)) || *end))
		return bad(ld, label, val, "is not a whole number");
	if (o->kind == K_DUR && config_parse_duration(val, &v) < 0)
		return bad(ld, label, val,
		           o->flags & DUR_OFF_OK
		               ? "is not a duration (a number with ms/s/m/h, or off)"
		               : "is not a duration (a number with ms/s/m/h)");
	if (o->kind == K_DUR && v == 0 && !(o->flags & DUR_OFF_OK))
		return bad(ld, label, val, "must be more than 0");
	if ((v < o->min || v > o->max) && !(o->kind == K_DUR && v == 0)) {
		fmt_num(o->min, o->kind == K_DUR, lo, sizeof(lo));
		fmt_num(o->max, o->kind == K_DUR, hi, sizeof(hi));
		return errf(ld, "%s: \"%.80s\" is out of range (%s..%s)", label, val, lo, hi);
	}
	if (o->kind == K_SIZE)
		*(size_t *)field = (size_t)v;
	else if (o->kind == K_UINT)
		*(unsigned *)field = (unsigned)v;
	else
		*(uint64_t *)field = v;
	return 0;
}

static int set_string(struct load *ld, const struct opt *o, const char *label, const char *val)
{
	size_t len = strlen(val);

	if (len >= o->size)
		return errf(ld, "%s: \"%.80s\" is too long (at most %zu bytes)", label, val,
		            o->size - 1);
	for (const char *p = val; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((o->flags & STR_ID) ? !(is_alnum(c) || strchr("._-", c))
		                        : (c <= ' ' || c > '~'))
			return bad(ld, label, val,
			           o->flags & STR_ID ? "may hold only A-Z a-z 0-9 . _ -"
			                             : "may hold only visible ASCII");
	}
	if ((o->flags & STR_ID) && len == 0)
		return bad(ld, label, val, "must not be empty");
	memcpy((char *)ld->cfg + o->off, val, len + 1);
	return 0;
}

static int set_level(struct load *ld, const char *label, const char *val)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(val, level_names[i]) == 0) {
			ld->cfg->log_level = (enum log_level)i;
			return 0;
		}
	}
	return bad(ld, label, val, "is not a log level (error, warn, info or debug)");
}

static int set_format(struct load *ld, const char *label, const char *val)
{
	if (strcasecmp(val, "text") == 0)
		ld->cfg->log_format = LOG_FORMAT_TEXT;
	else if (strcasecmp(val, "json") == 0)
		ld->cfg->log_format = LOG_FORMAT_JSON;
	else
		return bad(ld, label, val, "is not a log format (text or json)");
	return 0;
}

/* --var NAME=VALUE (label "--var") or WSGW_VAR_NAME=VALUE (label
 * "WSGW_VAR_", val "NAME=VALUE"): a later one for the same NAME replaces. */
static int set_var(struct load *ld, const char *label, const char *val)
{
	struct config *cfg = ld->cfg;
	const char *eq = strchr(val, '=');
	size_t nlen = eq ? (size_t)(eq - val) : 0, i;

	if (!eq || !nlen)
		return bad(ld, label, val, "is not NAME=VALUE");
	if (nlen >= sizeof cfg->vars[0].name || strlen(eq + 1) >= sizeof cfg->vars[0].value)
		return bad(ld, label, val, "is too long (name < 64, value < 1024 bytes)");
	for (const char *p = val; p < eq; p++)
		if (!is_alnum((unsigned char)*p) && !strchr("_.-", *p))
			return bad(ld, label, val, "has a name that is not [A-Za-z0-9_.-]");
	for (const char *p = eq + 1; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return bad(ld, label, val, "has a control character in its value");
	for (i = 0; i < cfg->num_vars; i++)
		if (strlen(cfg->vars[i].name) == nlen && !memcmp(cfg->vars[i].name, val, nlen))
			break;
	if (i == CONFIG_MAX_VARS)
		return errf(ld, "%s: more than %d variables", label, CONFIG_MAX_VARS);
	if (i == cfg->num_vars)
		cfg->num_vars++;
	memcpy(cfg->vars[i].name, val, nlen);
	cfg->vars[i].name[nlen] = '\0';
	strcpy(cfg->vars[i].value, eq + 1);
	snprintf(cfg->vars[i].label, sizeof cfg->vars[i].label, "%s%s%.*s", label,
	         strcmp(label, "--var") ? "" : " ", (int)nlen, val);
	return 0;
}

static bool is_id(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && !strchr(extra, s[i]))
			return false;
	return n > 0;
}

/* --function ID[:TAG]=URL, --container ID=URL (label names the flag or
 * the variable): a later one for the same ID and TAG replaces. */
static int set_target(struct load *ld, const struct opt *o, const char *label, const char *val)
{
	bool fn = !(o->flags & TGT_CONTAINER);
	struct config_target *t = fn ? ld->cfg->functions : ld->cfg->containers;
	size_t *num = fn ? &ld->cfg->num_functions : &ld->cfg->num_containers, i;
	const char *eq = strchr(val, '='), *colon = fn ? memchr(val, ':', eq ? (size_t)(eq - val) : 0)
	                                                : NULL;
	const char *url = eq ? eq + 1 : "";
	size_t idlen = colon ? (size_t)(colon - val) : eq ? (size_t)(eq - val) : 0;
	size_t taglen = colon ? (size_t)(eq - colon - 1) : 0;

	if (!eq)
		return bad(ld, label, val, fn ? "is not FUNCTION_ID[:TAG]=URL" : "is not CONTAINER_ID=URL");
	if (!is_id(val, idlen, "_.-") || idlen >= sizeof t->id)
		return bad(ld, label, val, "has an id that is not [A-Za-z0-9_.-] (1 to 63 bytes)");
	if (colon && (!is_id(colon + 1, taglen, "_.-$") || taglen >= sizeof t->tag))
		return bad(ld, label, val, "has a tag that is not [A-Za-z0-9_.$-] (1 to 63 bytes)");
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		return bad(ld, label, val, "has a URL that does not start with http:// or https://");
	if (strlen(url) >= sizeof t->url)
		return bad(ld, label, val, "has a URL of 1024 bytes or more");
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return bad(ld, label, val, "has a blank or a control character in its URL");
	for (i = 0; i < *num; i++)
		if (strlen(t[i].id) == idlen && !memcmp(t[i].id, val, idlen) &&
		    strlen(t[i].tag) == taglen && (!taglen || !memcmp(t[i].tag, colon + 1, taglen)))
			break;
	if (i == CONFIG_MAX_TARGETS)
		return errf(ld, "%s: more than %d mappings", label, CONFIG_MAX_TARGETS);
	if (i == *num)
		(*num)++;
	snprintf(t[i].id, sizeof t[i].id, "%.*s", (int)idlen, val);
	snprintf(t[i].tag, sizeof t[i].tag, "%.*s", (int)taglen, colon ? colon + 1 : "");
	snprintf(t[i].url, sizeof t[i].url, "%s", url);
	snprintf(t[i].label, sizeof t[i].label, "%s%s%.*s", label, strncmp(label, "--", 2) ? "" : " ",
	         strncmp(label, "--", 2) ? 0 : (int)(eq - val), val);
	return 0;
}

static int apply(struct load *ld, const struct opt *o, const char *label, const char *val)
{
	const char *why = NULL;

	switch (o->kind) {
	case K_ADDR:
		if (config_parse_addr(val, (struct config_addr *)((char *)ld->cfg + o->off)) < 0)
			return bad(ld, label, val, "is not an address (IPv4:port or [IPv6]:port)");
		return 0;
	case K_STR:
		return set_string(ld, o, label, val);
	case K_SIZE:
	case K_UINT:
	case K_DUR:
		return set_number(ld, o, label, val);
	case K_PROTOS:
		if (parse_protocols(val, ld->cfg, &why) < 0)
			return bad(ld, label, val, why);
		return 0;
	case K_BOOL:
		if (parse_bool(val, (bool *)((char *)ld->cfg + o->off)) < 0)
			return bad(ld, label, val, "is not a boolean (1/true/yes or 0/false/no)");
		return 0;
	case K_LEVEL:
		return set_level(ld, label, val);
	case K_FORMAT:
		return set_format(ld, label, val);
	case K_VAR:
		return *val ? set_var(ld, label, val) : 0; /* the default "": none */
	case K_TARGET:
		return *val ? set_target(ld, o, label, val) : 0;
	}
	assert(!"unknown option kind");
	return ERR_INVAL;
}

/* ---- sources --------------------------------------------------------------- */

static const struct opt *lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int apply_from(struct load *ld, const struct opt *o, enum src src, const char *val)
{
	char label[48];

	label_of(o, src, label, sizeof(label));
	ld->src[o - opts] = src;
	return apply(ld, o, label, val);
}

static int apply_env(struct load *ld, char *const *env)
{
	char name[48];

	for (size_t i = 0; env && i < NOPTS; i++) {
		if (opts[i].kind == K_VAR) { /* every WSGW_VAR_NAME=VALUE */
			for (char *const *e = env; *e; e++) {
				int rc = strncmp(*e, "WSGW_VAR_", 9) ? 0
				                                     : set_var(ld, "WSGW_VAR_", *e + 9);
				if (rc < 0)
					return rc;
			}
			continue;
		}
		if (opts[i].kind == K_TARGET) { /* every WSGW_FUNCTION_<any>=... */
			char prefix[32];

			snprintf(prefix, sizeof prefix, "WSGW_%s_",
			         opts[i].flags & TGT_CONTAINER ? "CONTAINER" : "FUNCTION");
			for (char *const *e = env; *e; e++) {
				const char *eq = strchr(*e, '=');
				char label[64];
				int rc = 0;

				if (!strncmp(*e, prefix, strlen(prefix)) && eq &&
				    eq - *e < (ptrdiff_t)sizeof label) {
					snprintf(label, sizeof label, "%.*s", (int)(eq - *e), *e);
					rc = set_target(ld, &opts[i], label, eq + 1);
				}
				if (rc < 0)
					return rc;
			}
			continue;
		}
		env_name(&opts[i], name, sizeof(name));
		size_t len = strlen(name);
		for (char *const *e = env; *e; e++) {
			if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') {
				int rc = apply_from(ld, &opts[i], SRC_ENV, *e + len + 1);
				if (rc < 0)
					return rc;
				break; /* the first one wins, as with getenv */
			}
		}
	}
	return 0;
}

/* One argv entry at *i (and its value, which moves *i). With apply false,
 * only the shape is checked: known flag, value present, no positional. */
static int one_arg(struct load *ld, int argc, char *const *argv, int *i, bool do_apply)
{
	const char *a = argv[*i], *eq, *val;
	const struct opt *o;

	if (a[0] != '-' || a[1] == '\0')
		return errf(ld, "%.80s: unexpected argument (flags start with --)", a);
	eq = strchr(a, '=');
	o = a[1] == '-' ? lookup(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2)) : NULL;
	if (!o)
		return errf(ld, "%.*s: unknown flag", eq ? (int)(eq - a) : 80, a);
	if (eq)
		val = eq + 1;
	else if (o->kind == K_BOOL)
		val = "true";
	else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
		val = argv[++*i];
	else
		return errf(ld, "%.80s: missing value", a);
	return do_apply ? apply_from(ld, o, SRC_ARGV, val) : 0;
}

/* --help and --version win over any error, wherever they appear. */
static int walk_argv(struct load *ld, int argc, char *const *argv, bool do_apply)
{
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return CONFIG_HELP;
		if (strcmp(argv[i], "--version") == 0)
			return CONFIG_VERSION;
		if (rc == 0)
			rc = one_arg(ld, argc, argv, &i, do_apply);
	}
	return rc;
}

/* After all sources: --max-frame defaults to, and may not exceed, --max-message. */
static int finish(struct load *ld)
{
	const struct opt *o = lookup("max-frame", strlen("max-frame"));
	struct config *cfg = ld->cfg;
	char label[48];

	if (ld->src[o - opts] == SRC_DEFAULT) {
		cfg->max_frame = cfg->max_message;
		return 0;
	}
	if (cfg->max_frame <= cfg->max_message)
		return 0;
	label_of(o, ld->src[o - opts], label, sizeof(label));
	return errf(ld, "%s: %zu is larger than --max-message (%zu)", label, cfg->max_frame,
	            cfg->max_message);
}

/* One token source: the value and the file would disagree on SIGHUP. */
static int one_token(struct load *ld)
{
	if (ld->cfg->auth_token[0] && ld->cfg->auth_token_file[0])
		return errf(ld, "--auth-token and --auth-token-file (or WSGW_AUTH_TOKEN and "
		                "WSGW_AUTH_TOKEN_FILE) are both set: give one");
	return 0;
}

int config_load(struct config *cfg, int argc, char *const *argv, char *const *env, char *err,
                size_t errlen)
{
	struct load ld = {.cfg = cfg, .err = err, .errlen = errlen};
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen)
		err[0] = '\0';
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].def) {
			rc = apply(&ld, &opts[i], "default", opts[i].def);
			assert(rc == 0 && "a built-in default does not parse");
		}
	}
	rc = walk_argv(&ld, argc, argv, false);
	if (rc == 0)
		rc = apply_env(&ld, env);
	if (rc == 0)
		rc = walk_argv(&ld, argc, argv, true);
	if (rc == 0)
		rc = finish(&ld);
	if (rc == 0)
		rc = one_token(&ld);
	return rc;
}

/* ---- --help ---------------------------------------------------------------- */

static void flag_text(const struct opt *o, char *buf, size_t n)
{
	if (o->kind == K_BOOL)
		snprintf(buf, n, "--%s", o->name);
	else
		snprintf(buf, n, "--%s %s", o->name, kind_meta[o->kind]);
}

/* One option: flag, variable and default aligned, the meaning below. */
static void print_opt(FILE *out, const struct opt *o, int w1, int w2)
{
	char flag[48], env[48], lo[32], hi[32];
	const char *def = !o->def ? "=max-message" : *o->def ? o->def : "\"\"";

	flag_text(o, flag, sizeof(flag));
	env_name(o, env, sizeof(env));
	fprintf(out, "  %-*s  %-*s  %s\n      %s", w1, flag, w2, env, def, o->help);
	if (o->kind == K_SIZE || o->kind == K_UINT || o->kind == K_DUR) {
		fmt_num(o->min ? o->min : o->kind == K_DUR, o->kind == K_DUR, lo, sizeof(lo));
		fmt_num(o->max, o->kind == K_DUR, hi, sizeof(hi));
		fprintf(out, " [%s%s..%s]", o->flags & DUR_OFF_OK ? "off or " : "", lo, hi);
	}
	fputc('\n', out);
}

void config_usage(FILE *out)
{
	int w1 = (int)strlen("-h, --help"), w2 = (int)strlen("ENVIRONMENT");
	char buf[48];

	for (size_t i = 0; i < NOPTS; i++) {
		flag_text(&opts[i], buf, sizeof(buf));
		w1 = (int)strlen(buf) > w1 ? (int)strlen(buf) : w1;
		env_name(&opts[i], buf, sizeof(buf));
		w2 = (int)strlen(buf) > w2 ? (int)strlen(buf) : w2;
	}
	fputs("Usage: wsgw [flags]\n\n"
	      "Every flag can also be set by its environment variable; a flag beats the\n"
	      "variable. Flags take their value as --flag VALUE or --flag=VALUE.\n"
	      "SIZE: bytes, or a number with K/M/G (1024-based).\n"
	      "DURATION: a number with ms/s/m/h (no suffix: seconds), or off where allowed.\n"
	      "ADDR: IPv4:port or [IPv6]:port; port 0 picks a free port.\n\n",
	      out);
	fprintf(out, "  %-*s  %-*s  %s\n", w1, "FLAG", w2, "ENVIRONMENT", "DEFAULT");
	for (int g = 0; g < G_COUNT; g++) {
		fprintf(out, "\n%s:\n", group_title[g]);
		for (size_t i = 0; i < NOPTS; i++)
			if (opts[i].group == (enum group)g)
				print_opt(out, &opts[i], w1, w2);
	}
	fprintf(out, "\nGeneral:\n  %-*s  print this help and exit\n", w1, "-h, --help");
	fprintf(out, "  %-*s  print the version and commit, and exit\n", w1, "--version");
}
