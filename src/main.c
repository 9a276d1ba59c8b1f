/* main.c — argv and environment into the config, start-up order, exit
 * codes: 0 after a clean shutdown, 1 when start-up fails, 2 for a bad
 * flag or value. Holds no protocol logic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "server.h"

#define WSGW_VERSION "0.1.0"

extern char **environ;

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
		printf("wsgw %s\n", WSGW_VERSION);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "wsgw: %s (see --help)\n", err);
		return 2;
	}
	log_init(cfg.log_level);
	if (server_init(&srv, &cfg) < 0) {
		server_fini(&srv);
		return 1;
	}
	log_info("wsgw %s: WebSocket on %s (port %d), management on %s (port %d), gateway id %s, "
		 "echo route on every path",
		 WSGW_VERSION, cfg.listen.text, net_local_port(srv.ws_listener.fd),
		 cfg.mgmt_listen.text, net_local_port(srv.mgmt_listener.fd), cfg.gateway_id);
	rc = server_run(&srv);
	server_fini(&srv);
	log_info("wsgw: stopped");
	return rc;
}
