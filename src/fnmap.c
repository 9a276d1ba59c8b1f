/* fnmap.c — the --function and --container maps (fnmap.h). A handful of
 * entries, looked up once per connection: a linear scan.
 * Must never: log, or touch sockets (pure).
 */
#include "fnmap.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "spec.h"

#define LATEST "$latest"

const char *fnmap_find(const struct config *cfg, const char *id, const char *tag)
{
	const char *any = NULL;

	if (!tag || !*tag)
		tag = LATEST;
	for (size_t i = 0; i < cfg->num_functions; i++) {
		const struct config_target *t = &cfg->functions[i];

		if (strcmp(t->id, id))
			continue;
		if (!strcmp(t->tag, tag))
			return t->url;
		if (!t->tag[0])
			any = t->url;
	}
	return any;
}

const char *fnmap_container(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->num_containers; i++)
		if (!strcmp(cfg->containers[i].id, id))
			return cfg->containers[i].url;
	return NULL;
}

/* Does any mapping serve id (whatever the tag)? */
static bool has_function(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->num_functions; i++)
		if (!strcmp(cfg->functions[i].id, id))
			return true;
	return false;
}

static int check(const struct config *cfg, const struct route *r, const char *op,
                 const struct integration *in, const char *name, char *err, size_t errlen)
{
	if (in->type == INTEG_FUNCTION) {
		bool templated = in->tag && strchr(in->tag, '{');

		if (templated ? has_function(cfg, in->target_id)
		              : fnmap_find(cfg, in->target_id, in->tag) != NULL)
			return 0;
		snprintf(
		    err, errlen,
		    "%s:%d: path \"%s\": %s: function %s%s%s has no local URL: run it (e.g. "
		    "with tests/functions/runner.js or runner.py) and pass --function %s%s%s=URL",
		    name, in->target_line, r->path, op, in->target_id, in->tag ? " tag " : "",
		    in->tag ? in->tag : "", in->target_id, in->tag && !templated ? ":" : "",
		    in->tag && !templated ? in->tag : "");
		return ERR_INVAL;
	}
	if (in->type == INTEG_CONTAINER && !fnmap_container(cfg, in->target_id)) {
		snprintf(err, errlen,
		         "%s:%d: path \"%s\": %s: container %s has no local URL: pass --container "
		         "%s=http://HOST:PORT",
		         name, in->target_line, r->path, op, in->target_id, in->target_id);
		return ERR_INVAL;
	}
	return 0;
}

int fnmap_check_spec(const struct config *cfg, const struct spec *s, const char *name, char *err,
                     size_t errlen)
{
	/* a function authorizer is called through the same map; a tag with
	 * placeholders is not substituted there: the id's untagged mapping */
	for (size_t i = 0; i < s->num_authorizers; i++) {
		const struct spec_authorizer *a = &s->authorizers[i];

		if (a->type != AUTH_FUNCTION || fnmap_find(cfg, a->function_id, a->tag))
			continue;
		snprintf(
		    err, errlen,
		    "%s:%d: authorizer %s: function %s%s%s has no local URL: run it (e.g. "
		    "with tests/functions/runner.js or runner.py) and pass --function %s%s%s=URL",
		    name, a->line, a->name, a->function_id, a->tag ? " tag " : "",
		    a->tag ? a->tag : "", a->function_id, a->tag ? ":" : "", a->tag ? a->tag : "");
		return ERR_INVAL;
	}
	for (size_t i = 0; i < s->num_routes; i++) {
		const struct route *r = &s->routes[i];
		int rc;

		if ((rc = check(cfg, r, "x-yc-apigateway-websocket-connect", &r->connect, name, err,
		                errlen)) ||
		    (rc = check(cfg, r, "x-yc-apigateway-websocket-message", &r->message, name, err,
		                errlen)) ||
		    (rc = check(cfg, r, "x-yc-apigateway-websocket-disconnect", &r->disconnect,
		                name, err, errlen)))
			return rc;
	}
	return 0;
}
