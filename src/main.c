/* main.c — argv and environment into the config, start-up order, exit
 * codes: 0 after a clean shutdown, 1 when start-up fails, 2 for a bad
 * flag or value. Holds no protocol logic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "fnmap.h"
#include "log.h"
#include "net.h"
#include "server.h"
#include "spec.h"

#include "version.h"
/* The Makefile passes `git describe` of the tree (build/commit). */
#ifndef WSGW_COMMIT
#define WSGW_COMMIT "unknown"
#endif

extern char **environ;

/* --check-spec FILE: validate, list the routes, exit 0 (good) or 2. */
static int check_spec(const char *path, const struct config *cfg)
{
	struct spec_var vars[CONFIG_MAX_VARS];
	struct spec spec;
	char err[512];

	for (size_t i = 0; i < cfg->num_vars; i++)
		vars[i] = (struct spec_var){cfg->vars[i].name, cfg->vars[i].value, cfg->vars[i].label};
	if (spec_load_file(path, vars, cfg->num_vars, &spec, err, sizeof err) < 0) {
		fprintf(stderr, "wsgw: %s\n", err);
		return 2;
	}
	if (fnmap_check_spec(cfg, &spec, path, err, sizeof err) < 0) {
		fprintf(stderr, "wsgw: %s\n", err);
		spec_free(&spec);
		return 2;
	}
	printf("%s: valid, %zu WebSocket route(s)\n", path, spec.num_routes);
	spec_describe(&spec, stdout);
	for (size_t i = 0; i < cfg->num_functions; i++)
		printf("function %s%s%s -> %s\n", cfg->functions[i].id,
		       cfg->functions[i].tag[0] ? ":" : "", cfg->functions[i].tag, cfg->functions[i].url);
	for (size_t i = 0; i < cfg->num_containers; i++)
		printf("container %s -> %s\n", cfg->containers[i].id, cfg->containers[i].url);
	spec_free(&spec);
	return 0;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	static struct server srv;
	char err[256];
	int rc = config_load(&cfg, argc, argv, environ, err, sizeof err);

	if (rc == CONFIG_HELP) {
		config_usage(stdout);
		return 0;
	}
	if (rc == CONFIG_VERSION) {
		printf("wsgw %s (commit %s)\n", WSGW_VERSION, WSGW_COMMIT);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "wsgw: %s (see --help)\n", err);
		return 2;
	}
	log_init(cfg.log_level, cfg.log_format);
	if (cfg.check_spec_path[0])
		return check_spec(cfg.check_spec_path, &cfg);
	rc = server_init(&srv, &cfg);
	if (rc < 0) {
		server_fini(&srv);
		return rc == ERR_INVAL ? 2 : 1;
	}
	log_info("wsgw %s: WebSocket on %s (port %d), management on %s (port %d), gateway id %s, "
		 "%s",
		 WSGW_VERSION, cfg.listen.text, net_local_port(srv.ws_listener.fd),
		 cfg.mgmt_listen.text, net_local_port(srv.mgmt_listener.fd), cfg.gateway_id,
		 cfg.spec_path[0] ? "routes from --spec" : "echo route on every path");
	rc = server_run(&srv);
	server_fini(&srv);
	log_info("wsgw: stopped");
	return rc;
}
