/* reload.c — loading the spec and the token file at start-up and again on
 * SIGHUP (reload.h).
 *
 * A reload is all or nothing: both are read into new storage first, and
 * only when both are good do they replace the running ones, so a typo in
 * either leaves the gateway exactly as it was. The spec is shared by
 * reference (spec_hold.c): the server drops its reference to the old one,
 * and connections still open on it keep it alive until they end.
 *
 * Reading the files blocks the loop for the time of a local read and a
 * parse, as at start-up; a reload is an operator's rare act.
 * Must never: leave srv->spec NULL after start-up, or log the token.
 */
#include "reload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "ctx.h"
#include "err.h"
#include "fnmap.h"
#include "log.h"
#include "spec.h"

/* A token file larger than this is not a token. */
#define TOKEN_FILE_MAX 4096

/* Reads the token file into out[outlen]: its content less one trailing
 * newline ("\n" or "\r\n"). Refuses an empty token, one that does not fit
 * and one with spaces or control characters (it could never match an
 * `authorization: Bearer` value). Returns 0 or ERR_INVAL with why. */
static int read_token(const char *path, char *out, size_t outlen, char *why, size_t whylen)
{
	char buf[TOKEN_FILE_MAX + 1];
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return ERR_INVAL;
	}
	while (n < sizeof buf) {
		ssize_t r = read(fd, buf + n, sizeof buf - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "%s: %s", path, strerror(errno));
			close(fd);
			return ERR_INVAL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0) {
		snprintf(why, whylen, "%s: empty (a token is required)", path);
		return ERR_INVAL;
	}
	if (n >= outlen) {
		snprintf(why, whylen, "%s: the token is longer than %zu bytes", path, outlen - 1);
		return ERR_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c <= 0x20 || c == 0x7f) {
			snprintf(why, whylen,
			         "%s: byte %zu is a space or control character (one line, one "
			         "token)",
			         path, i + 1);
			return ERR_INVAL;
		}
	}
	memcpy(out, buf, n);
	out[n] = '\0';
	return 0;
}

static int load_spec(const struct config *cfg, struct spec **out, char *why, size_t whylen)
{
	struct spec_var vars[CONFIG_MAX_VARS];
	int rc;

	for (size_t i = 0; i < cfg->num_vars; i++)
		vars[i] =
		    (struct spec_var){cfg->vars[i].name, cfg->vars[i].value, cfg->vars[i].label};
	rc = spec_new(cfg->spec_path, vars, cfg->num_vars, out, why, whylen);
	if (rc == 0 && (rc = fnmap_check_spec(cfg, *out, cfg->spec_path, why, whylen)) < 0) {
		spec_drop(*out);
		*out = NULL;
	}
	if (rc == ERR_NOMEM)
		snprintf(why, whylen, "out of memory");
	return rc;
}

static void log_warnings(const struct spec *s)
{
	for (size_t i = 0; i < s->num_warnings; i++)
		log_warn("--spec: %s", s->warnings[i]);
}

int reload_start(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	char why[512];
	int rc = load_spec(cfg, &srv->spec, why, sizeof why);

	if (rc < 0) {
		log_error("--spec: %s", why);
		return rc;
	}
	log_warnings(srv->spec);
	if (cfg->spec_path[0])
		log_info("spec %s: %zu WebSocket route(s)", cfg->spec_path, srv->spec->num_routes);
	if (!cfg->auth_token_file[0]) {
		memcpy(srv->auth_token, cfg->auth_token, sizeof srv->auth_token);
		return 0;
	}
	rc = read_token(cfg->auth_token_file, srv->auth_token, sizeof srv->auth_token, why,
	                sizeof why);
	if (rc < 0)
		log_error("--auth-token-file %s", why);
	return rc;
}

void reload_on_sighup(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct spec *spec = NULL;
	char token[sizeof srv->auth_token], why[512];

	if (srv->draining) {
		log_warn("SIGHUP ignored: the gateway is shutting down");
		return;
	}
	if (!cfg->spec_path[0] && !cfg->auth_token_file[0]) {
		log_info("SIGHUP: nothing to reload (no --spec, no --auth-token-file)");
		return;
	}
	if (cfg->spec_path[0] && load_spec(cfg, &spec, why, sizeof why) < 0) {
		log_error("SIGHUP: reload refused, the running spec and token stay: --spec %s",
		          why);
		return;
	}
	if (cfg->auth_token_file[0] &&
	    read_token(cfg->auth_token_file, token, sizeof token, why, sizeof why) < 0) {
		spec_drop(spec);
		log_error("SIGHUP: reload refused, the running spec and token stay: "
		          "--auth-token-file %s",
		          why);
		return;
	}
	/* The new spec's authorizers get their own key rings and caches;
	 * handshakes waiting on the old spec finish against the old ones. */
	if (spec && auth_attach(srv, spec) < 0) {
		spec_drop(spec);
		log_error("SIGHUP: reload refused, the running spec and token stay: out of memory");
		return;
	}
	if (spec) {
		log_warnings(spec);
		spec_drop(srv->spec); /* freed now, or by its last connection */
		srv->spec = spec;
	}
	if (cfg->auth_token_file[0])
		snprintf(srv->auth_token, sizeof srv->auth_token, "%s", token);
	if (spec && cfg->auth_token_file[0])
		log_info("SIGHUP: reloaded spec %s (%zu WebSocket route(s)) and the token from %s",
		         cfg->spec_path, spec->num_routes, cfg->auth_token_file);
	else if (spec)
		log_info("SIGHUP: reloaded spec %s: %zu WebSocket route(s)", cfg->spec_path,
		         spec->num_routes);
	else
		log_info("SIGHUP: reloaded the token from %s (no --spec: the echo route stays)",
		         cfg->auth_token_file);
}
