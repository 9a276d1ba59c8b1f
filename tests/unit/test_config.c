/* test_config.c — unit tests for defaults, flags, environment and --help.
 *
 * Flag and variable names are spelled out here rather than derived, so a
 * renamed flag or a wrong variable name fails a test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "config.h"
#include "err.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *const no_args[] = {NULL};

static struct config cfg;
static char err[256];

/* Runs config_load with argv = "wsgw" + args and env (either may be empty). */
static int load(const char *const *env, const char *const *args)
{
	const char *argv[64] = {"wsgw"};
	int argc = 1;

	while (args[argc - 1]) {
		argv[argc] = args[argc - 1];
		argc++;
	}
	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	return config_load(&cfg, argc, (char *const *)argv, (char *const *)env, err, sizeof(err));
}

static uint16_t port_of(const struct config_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

static void assert_ipv4(const struct config_addr *a, const char *ip, uint16_t port)
{
	struct in_addr want;

	assert_int_equal(inet_pton(AF_INET, ip, &want), 1);
	assert_int_equal(a->sa.ss_family, AF_INET);
	assert_int_equal(a->len, sizeof(struct sockaddr_in));
	assert_memory_equal(&((const struct sockaddr_in *)&a->sa)->sin_addr, &want, sizeof(want));
	assert_int_equal(port_of(a), port);
}

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(load(NULL, no_args), CONFIG_OK);
	assert_string_equal(err, "");
	assert_string_equal(cfg.listen.text, "127.0.0.1:8080");
	assert_ipv4(&cfg.listen, "127.0.0.1", 8080);
	assert_string_equal(cfg.mgmt_listen.text, "127.0.0.1:9090");
	assert_ipv4(&cfg.mgmt_listen, "127.0.0.1", 9090);
	assert_string_equal(cfg.gateway_id, "d5dwsgw0000000000001");
	assert_int_equal(cfg.max_message, 131072);
	assert_int_equal(cfg.max_frame, 131072);
	assert_int_equal(cfg.max_head, 8192);
	assert_int_equal(cfg.max_out_queue, 1048576);
	assert_int_equal(cfg.max_user_agent, 512);
	assert_int_equal(cfg.max_connections, 100000);
	assert_int_equal(cfg.handshake_timeout_ms, 10000);
	assert_int_equal(cfg.idle_timeout_ms, 600000);
	assert_int_equal(cfg.ping_interval_ms, 30000);
	assert_int_equal(cfg.max_lifetime_ms, 0);
	assert_int_equal(cfg.close_timeout_ms, 5000);
	assert_int_equal(cfg.drain_timeout_ms, 5000);
	assert_int_equal(cfg.num_protocols, 0);
	assert_false(cfg.trust_proxy);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
	assert_string_equal(cfg.auth_token, "");
	assert_int_equal(cfg.grpc_max_body, 4 * 1048576);
	assert_int_equal(cfg.max_streams, 1024);
	assert_int_equal(cfg.rest_max_body, 1048576);
	assert_int_equal(cfg.request_timeout_ms, 30000);
	assert_string_equal(cfg.spec_path, "");
	assert_string_equal(cfg.check_spec_path, "");
	assert_int_equal(cfg.max_inbound_queue, 1048576);
	assert_int_equal(cfg.backend_connections, 256);
	assert_false(cfg.integration_error_message);

	/* no argv at all, no env */
	assert_int_equal(config_load(&cfg, 0, NULL, NULL, NULL, 0), CONFIG_OK);
	assert_int_equal(cfg.max_frame, 131072);
}

enum type { T_SIZE, T_UINT, T_MS, T_BOOL, T_LEVEL, T_STR, T_ADDR, T_PROTOS, T_VAR, T_FORMAT, T_FN, T_CT };

struct flag_case {
	const char *flag, *env, *value;
	size_t off;
	enum type type;
	uint64_t num; /* numbers; the port for T_ADDR; the count for T_PROTOS */
	const char *str;
};

#define AT(m) offsetof(struct config, m)

static const struct flag_case flag_cases[] = {
    {"--listen", "WSGW_LISTEN", "[::1]:0", AT(listen), T_ADDR, 0, "[::1]:0"},
    {"--mgmt-listen", "WSGW_MGMT_LISTEN", "0.0.0.0:19090", AT(mgmt_listen), T_ADDR, 19090,
     "0.0.0.0:19090"},
    {"--gateway-id", "WSGW_GATEWAY_ID", "gw-2.b_c", AT(gateway_id), T_STR, 0, "gw-2.b_c"},
    {"--max-message", "WSGW_MAX_MESSAGE", "1M", AT(max_message), T_SIZE, 1048576, NULL},
    {"--max-frame", "WSGW_MAX_FRAME", "4K", AT(max_frame), T_SIZE, 4096, NULL},
    {"--max-head", "WSGW_MAX_HEAD", "16KiB", AT(max_head), T_SIZE, 16384, NULL},
    {"--max-out-queue", "WSGW_MAX_OUT_QUEUE", "2M", AT(max_out_queue), T_SIZE, 2097152, NULL},
    {"--max-user-agent", "WSGW_MAX_USER_AGENT", "100", AT(max_user_agent), T_SIZE, 100, NULL},
    {"--max-connections", "WSGW_MAX_CONNECTIONS", "7", AT(max_connections), T_UINT, 7, NULL},
    {"--handshake-timeout", "WSGW_HANDSHAKE_TIMEOUT", "250ms", AT(handshake_timeout_ms), T_MS, 250,
     NULL},
    {"--idle-timeout", "WSGW_IDLE_TIMEOUT", "off", AT(idle_timeout_ms), T_MS, 0, NULL},
    {"--ping-interval", "WSGW_PING_INTERVAL", "2m", AT(ping_interval_ms), T_MS, 120000, NULL},
    {"--max-lifetime", "WSGW_MAX_LIFETIME", "1h", AT(max_lifetime_ms), T_MS, 3600000, NULL},
    {"--close-timeout", "WSGW_CLOSE_TIMEOUT", "3", AT(close_timeout_ms), T_MS, 3000, NULL},
    {"--drain-timeout", "WSGW_DRAIN_TIMEOUT", "45s", AT(drain_timeout_ms), T_MS, 45000, NULL},
    {"--trust-proxy", "WSGW_TRUST_PROXY", "yes", AT(trust_proxy), T_BOOL, 1, NULL},
    {"--log-level", "WSGW_LOG_LEVEL", "debug", AT(log_level), T_LEVEL, LOG_DEBUG, NULL},
    {"--log-format", "WSGW_LOG_FORMAT", "JSON", AT(log_format), T_FORMAT, LOG_FORMAT_JSON, NULL},
    {"--auth-token", "WSGW_AUTH_TOKEN", "s3cr3t!", AT(auth_token), T_STR, 0, "s3cr3t!"},
    {"--auth-token-file", "WSGW_AUTH_TOKEN_FILE", "/run/secrets/tok", AT(auth_token_file), T_STR, 0,
     "/run/secrets/tok"},
    {"--metrics-token", "WSGW_METRICS_TOKEN", "m3tr!cs", AT(metrics_token), T_STR, 0, "m3tr!cs"},
    {"--grpc-max-body", "WSGW_GRPC_MAX_BODY", "64K", AT(grpc_max_body), T_SIZE, 65536, NULL},
    {"--max-streams", "WSGW_MAX_STREAMS", "2147483647", AT(max_streams), T_UINT, 2147483647, NULL},
    {"--rest-max-body", "WSGW_REST_MAX_BODY", "1K", AT(rest_max_body), T_SIZE, 1024, NULL},
    {"--request-timeout", "WSGW_REQUEST_TIMEOUT", "1500ms", AT(request_timeout_ms), T_MS, 1500,
     NULL},
    {"--subprotocols", "WSGW_SUBPROTOCOLS", "chat", AT(num_protocols), T_PROTOS, 1, "chat"},
    {"--spec", "WSGW_SPEC", "/etc/wsgw/api.yaml", AT(spec_path), T_STR, 0, "/etc/wsgw/api.yaml"},
    {"--check-spec", "WSGW_CHECK_SPEC", "x.yaml", AT(check_spec_path), T_STR, 0, "x.yaml"},
    {"--max-inbound-queue", "WSGW_MAX_INBOUND_QUEUE", "64K", AT(max_inbound_queue), T_SIZE, 65536,
     NULL},
    {"--backend-connections", "WSGW_BACKEND_CONNECTIONS", "3", AT(backend_connections), T_UINT, 3,
     NULL},
    {"--backend-idle-timeout", "WSGW_BACKEND_IDLE_TIMEOUT", "1500ms", AT(backend_idle_timeout_ms),
     T_MS, 1500, NULL},
    {"--backend-ca-file", "WSGW_BACKEND_CA_FILE", "/etc/wsgw/ca.pem", AT(backend_ca_file), T_STR, 0,
     "/etc/wsgw/ca.pem"},
    {"--tls-cert", "WSGW_TLS_CERT", "/etc/wsgw/c.pem", AT(tls_cert), T_STR, 0, "/etc/wsgw/c.pem"},
    {"--tls-key", "WSGW_TLS_KEY", "/etc/wsgw/k.pem", AT(tls_key), T_STR, 0, "/etc/wsgw/k.pem"},
    {"--tls-ticket-rotation", "WSGW_TLS_TICKET_ROTATION", "90m", AT(tls_ticket_rotation_ms), T_MS,
     5400000, NULL},
    {"--tls-ocsp-file", "WSGW_TLS_OCSP_FILE", "/etc/wsgw/ocsp.der", AT(tls_ocsp_file), T_STR, 0,
     "/etc/wsgw/ocsp.der"},
    {"--mgmt-tls-cert", "WSGW_MGMT_TLS_CERT", "/etc/wsgw/mc.pem", AT(mgmt_tls_cert), T_STR, 0,
     "/etc/wsgw/mc.pem"},
    {"--mgmt-tls-key", "WSGW_MGMT_TLS_KEY", "/etc/wsgw/mk.pem", AT(mgmt_tls_key), T_STR, 0,
     "/etc/wsgw/mk.pem"},
    {"--mgmt-tls-client-ca", "WSGW_MGMT_TLS_CLIENT_CA", "/etc/wsgw/cca.pem", AT(mgmt_tls_client_ca),
     T_STR, 0, "/etc/wsgw/cca.pem"},
    {"--integration-error-message", "WSGW_INTEGRATION_ERROR_MESSAGE", "yes",
     AT(integration_error_message), T_BOOL, 1, NULL},
    {"--mgmt-max-connections", "WSGW_MGMT_MAX_CONNECTIONS", "7", AT(mgmt_max_connections), T_UINT,
     7, NULL},
    {"--mgmt-max-buffer", "WSGW_MGMT_MAX_BUFFER", "2M", AT(mgmt_max_buffer), T_SIZE, 2097152, NULL},
    {"--mgmt-max-buffer-total", "WSGW_MGMT_MAX_BUFFER_TOTAL", "3G", AT(mgmt_max_buffer_total),
     T_SIZE, 3221225472ull, NULL},
    {"--disconnect-retry", "WSGW_DISCONNECT_RETRY", "45s", AT(disconnect_retry_ms), T_MS, 45000,
     NULL},
    {"--max-pending-disconnects", "WSGW_MAX_PENDING_DISCONNECTS", "9", AT(max_pending_disconnects),
     T_UINT, 9, NULL},
    /* repeatable, one variable per WSGW_VAR_NAME: checked for the variable's
     * name here (the env form names it twice), values in test_var_flag */
    {"--var", "WSGW_VAR_NAME", "NAME=v", AT(vars), T_VAR, 1, "NAME"},
    /* repeatable: any WSGW_FUNCTION_<suffix>, WSGW_CONTAINER_<suffix>;
     * details in test_target_flags */
    {"--function", "WSGW_FUNCTION_N", "f1:prod=http://127.0.0.1:1/x", AT(functions), T_FN, 1, "f1"},
    {"--container", "WSGW_CONTAINER_N", "c1=http://127.0.0.1:2", AT(containers), T_CT, 1, "c1"},
    {"--cluster", "WSGW_CLUSTER", "redis://127.0.0.1:6379/0", AT(cluster_url), T_STR, 0,
     "redis://127.0.0.1:6379/0"},
    {"--cluster-call-timeout", "WSGW_CLUSTER_CALL_TIMEOUT", "250ms", AT(cluster_call_timeout_ms),
     T_MS, 250, NULL},
    {"--cluster-max-calls", "WSGW_CLUSTER_MAX_CALLS", "20", AT(cluster_max_calls), T_UINT, 20,
     NULL},
    {"--cluster-max-queued", "WSGW_CLUSTER_MAX_QUEUED", "1M", AT(cluster_max_queued), T_SIZE,
     1048576, NULL},
};

static void check_case(const struct flag_case *c, const char *how)
{
	const char *p = (const char *)&cfg + c->off;
	const struct config_addr *a = (const struct config_addr *)p;
	bool ok = false;

	switch (c->type) {
	case T_SIZE:
		ok = *(const size_t *)p == c->num;
		break;
	case T_UINT:
		ok = *(const unsigned *)p == c->num;
		break;
	case T_MS:
		ok = *(const uint64_t *)p == c->num;
		break;
	case T_BOOL:
		ok = *(const bool *)p == (c->num != 0);
		break;
	case T_LEVEL:
		ok = *(const enum log_level *)p == (enum log_level)c->num;
		break;
	case T_FORMAT:
		ok = *(const enum log_format *)p == (enum log_format)c->num;
		break;
	case T_STR:
		ok = strcmp(p, c->str) == 0;
		break;
	case T_ADDR:
		ok = strcmp(a->text, c->str) == 0 && port_of(a) == c->num;
		break;
	case T_PROTOS:
		ok = cfg.num_protocols == c->num && strcmp(cfg.protocols[0], c->str) == 0;
		break;
	case T_VAR:
		ok = cfg.num_vars == c->num && strcmp(cfg.vars[0].name, c->str) == 0;
		break;
	case T_FN:
		ok = cfg.num_functions == c->num && strcmp(cfg.functions[0].id, c->str) == 0;
		break;
	case T_CT:
		ok = cfg.num_containers == c->num && strcmp(cfg.containers[0].id, c->str) == 0;
		break;
	}
	if (!ok)
		fail_msg("%s \"%s\" via %s: not applied", c->flag, c->value, how);
}

static void test_each_flag(void **state)
{
	(void)state;
	char joined[128], envvar[128];
	struct config defaults;

	assert_int_equal(load(NULL, no_args), CONFIG_OK);
	defaults = cfg;
	for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]); i++) {
		const struct flag_case *c = &flag_cases[i];
		/* a boolean flag takes no separate value: bare means true */
		if (c->type == T_BOOL)
			assert_int_equal(load(NULL, ARGS(c->flag)), CONFIG_OK);
		else
			assert_int_equal(load(NULL, ARGS(c->flag, c->value)), CONFIG_OK);
		check_case(c, "--flag value");
		/* the case must change something, or it proves nothing */
		assert_int_not_equal(memcmp(&cfg, &defaults, sizeof(cfg)), 0);
		snprintf(joined, sizeof(joined), "%s=%s", c->flag, c->value);
		assert_int_equal(load(NULL, ARGS(joined)), CONFIG_OK);
		check_case(c, "--flag=value");
		snprintf(envvar, sizeof(envvar), "%s=%s", c->env, c->value);
		assert_int_equal(load(ENV("HOME=/root", envvar, "PATH=/bin"), no_args), CONFIG_OK);
		check_case(c, "environment");
	}
}

/* --var NAME=VALUE repeats; WSGW_VAR_NAME=VALUE gives one each; a flag
 * beats the variable of the same name; malformed ones are refused by name. */
static void test_var_flag(void **state)
{
	(void)state;
	assert_int_equal(load(ENV("WSGW_VAR_env=e1", "WSGW_VAR_both=from-env", "HOME=/"),
	                      ARGS("--var", "a=1", "--var=b=x=y", "--var", "both=flag", "--var",
	                           "a=2", "--var", "empty=")),
	                 CONFIG_OK);
	assert_int_equal(cfg.num_vars, 5);
	assert_string_equal(cfg.vars[0].name, "env");
	assert_string_equal(cfg.vars[0].value, "e1");
	assert_string_equal(cfg.vars[0].label, "WSGW_VAR_env");
	assert_string_equal(cfg.vars[1].name, "both");
	assert_string_equal(cfg.vars[1].value, "flag");
	assert_string_equal(cfg.vars[1].label, "--var both");
	assert_string_equal(cfg.vars[2].name, "a");
	assert_string_equal(cfg.vars[2].value, "2"); /* the last one given wins */
	assert_string_equal(cfg.vars[3].name, "b");
	assert_string_equal(cfg.vars[3].value, "x=y");
	assert_string_equal(cfg.vars[4].value, "");
	assert_int_equal(load(NULL, ARGS("--var", "noequals")), ERR_INVAL);
	assert_string_equal(err, "--var: \"noequals\" is not NAME=VALUE");
	assert_int_equal(load(NULL, ARGS("--var", "=v")), ERR_INVAL);
	assert_int_equal(load(NULL, ARGS("--var", "a b=v")), ERR_INVAL);
	assert_non_null(strstr(err, "not [A-Za-z0-9_.-]"));
	assert_int_equal(load(ENV("WSGW_VAR_x=a\tb"), no_args), ERR_INVAL);
	assert_non_null(strstr(err, "WSGW_VAR_"));
}

/* --function ID[:TAG]=URL and --container ID=URL repeat; every
 * WSGW_FUNCTION_<any> / WSGW_CONTAINER_<any> adds one; the same id and tag
 * again replaces; malformed ones are refused naming the flag or variable. */
static void test_target_flags(void **state)
{
	(void)state;
	assert_int_equal(load(ENV("WSGW_FUNCTION_1=fa=http://e/1", "WSGW_CONTAINER_X=cb=http://e/c",
	                          "HOME=/"),
	                      ARGS("--function", "fa:prod=http://f/p", "--function=fb:$latest=http://f/b",
	                           "--function", "fa=http://f/2", "--container", "ca=https://c/a/")),
	                 CONFIG_OK);
	assert_int_equal(cfg.num_functions, 3);
	assert_string_equal(cfg.functions[0].id, "fa");
	assert_string_equal(cfg.functions[0].tag, "");
	assert_string_equal(cfg.functions[0].url, "http://f/2"); /* the flag beat the variable */
	assert_string_equal(cfg.functions[0].label, "--function fa");
	assert_string_equal(cfg.functions[1].tag, "prod");
	assert_string_equal(cfg.functions[1].label, "--function fa:prod");
	assert_string_equal(cfg.functions[2].tag, "$latest");
	assert_int_equal(cfg.num_containers, 2);
	assert_string_equal(cfg.containers[0].id, "cb");
	assert_string_equal(cfg.containers[0].label, "WSGW_CONTAINER_X");
	assert_string_equal(cfg.containers[1].url, "https://c/a/");
	assert_int_equal(load(NULL, ARGS("--function", "fa")), ERR_INVAL);
	assert_string_equal(err, "--function: \"fa\" is not FUNCTION_ID[:TAG]=URL");
	assert_int_equal(load(NULL, ARGS("--function", "f/a=http://x")), ERR_INVAL);
	assert_non_null(strstr(err, "not [A-Za-z0-9_.-]"));
	assert_int_equal(load(NULL, ARGS("--function", "f:t!=http://x")), ERR_INVAL);
	assert_non_null(strstr(err, "a tag that is not"));
	assert_int_equal(load(NULL, ARGS("--function", "f=ftp://x")), ERR_INVAL);
	assert_non_null(strstr(err, "http:// or https://"));
	assert_int_equal(load(NULL, ARGS("--container", "c:t=http://x")), ERR_INVAL);
	assert_int_equal(load(ENV("WSGW_CONTAINER_2=c=http://a b"), no_args), ERR_INVAL);
	assert_non_null(strstr(err, "WSGW_CONTAINER_2"));
}

static void test_bool_flag(void **state)
{
	(void)state;
	static const char *const yes[] = {"1", "true", "yes", "TRUE", "Yes"};
	static const char *const no[] = {"0", "false", "no", "FALSE", "No"};
	char var[64];

	assert_int_equal(load(NULL, ARGS("--trust-proxy")), CONFIG_OK);
	assert_true(cfg.trust_proxy);
	/* a bare boolean flag does not swallow the next flag */
	assert_int_equal(load(NULL, ARGS("--trust-proxy", "--max-head", "1K")), CONFIG_OK);
	assert_true(cfg.trust_proxy);
	assert_int_equal(cfg.max_head, 1024);
	assert_int_equal(load(ENV("WSGW_TRUST_PROXY=1"), ARGS("--trust-proxy=false")), CONFIG_OK);
	assert_false(cfg.trust_proxy);
	for (int i = 0; i < 5; i++) {
		snprintf(var, sizeof(var), "WSGW_TRUST_PROXY=%s", yes[i]);
		assert_int_equal(load(ENV(var), no_args), CONFIG_OK);
		assert_true(cfg.trust_proxy);
		snprintf(var, sizeof(var), "WSGW_TRUST_PROXY=%s", no[i]);
		assert_int_equal(load(ENV(var), no_args), CONFIG_OK);
		assert_false(cfg.trust_proxy);
	}
	/* "--trust-proxy false" is a flag and a stray argument */
	assert_int_equal(load(NULL, ARGS("--trust-proxy", "false")), ERR_INVAL);
	assert_non_null(strstr(err, "false"));
}

static void test_flag_beats_env(void **state)
{
	(void)state;
	const char *const *env =
	    ENV("WSGW_MAX_MESSAGE=1M", "WSGW_LOG_LEVEL=warn", "WSGW_LISTEN=0.0.0.0:1");
	assert_int_equal(load(env, no_args), CONFIG_OK);
	assert_int_equal(cfg.max_message, 1048576);
	assert_int_equal(cfg.log_level, LOG_WARN);
	assert_string_equal(cfg.listen.text, "0.0.0.0:1");

	assert_int_equal(load(env, ARGS("--max-message", "2M", "--listen=127.0.0.1:2")), CONFIG_OK);
	assert_int_equal(cfg.max_message, 2097152);
	assert_int_equal(cfg.log_level, LOG_WARN);
	assert_string_equal(cfg.listen.text, "127.0.0.1:2");
	assert_ipv4(&cfg.listen, "127.0.0.1", 2);

	/* the last flag given wins among flags */
	assert_int_equal(load(NULL, ARGS("--max-head", "1K", "--max-head", "2K")), CONFIG_OK);
	assert_int_equal(cfg.max_head, 2048);
	/* unknown WSGW_* variables belong to others (scripts, tests): ignored */
	assert_int_equal(load(ENV("WSGW_BIN=/x", "WSGW_=1", "WSGW_LISTENX=1"), no_args), CONFIG_OK);
	/* the first of duplicate variables wins, as with getenv */
	assert_int_equal(load(ENV("WSGW_MAX_HEAD=1K", "WSGW_MAX_HEAD=2K"), no_args), CONFIG_OK);
	assert_int_equal(cfg.max_head, 1024);
	/* a prefix of a variable name is not the variable */
	assert_int_equal(load(ENV("WSGW_MAX=1K", "WSGW_MAX_HEADX=2K"), no_args), CONFIG_OK);
	assert_int_equal(cfg.max_head, 8192);
}

static void test_max_frame(void **state)
{
	(void)state;
	assert_int_equal(load(NULL, ARGS("--max-message", "1M")), CONFIG_OK);
	assert_int_equal(cfg.max_frame, 1048576);
	assert_int_equal(load(ENV("WSGW_MAX_MESSAGE=64K"), no_args), CONFIG_OK);
	assert_int_equal(cfg.max_frame, 65536);
	assert_int_equal(load(NULL, ARGS("--max-frame", "16K")), CONFIG_OK);
	assert_int_equal(cfg.max_frame, 16384);
	assert_int_equal(cfg.max_message, 131072);
	/* order of the flags does not matter: checked after all sources */
	assert_int_equal(load(NULL, ARGS("--max-frame=1M", "--max-message=2M")), CONFIG_OK);
	assert_int_equal(cfg.max_frame, 1048576);
	assert_int_equal(load(NULL, ARGS("--max-frame=1M", "--max-message=1M")), CONFIG_OK);
	assert_int_equal(cfg.max_frame, 1048576);

	assert_int_equal(load(NULL, ARGS("--max-frame", "256K")), ERR_INVAL);
	assert_string_equal(err, "--max-frame: 262144 is larger than --max-message (131072)");
	assert_int_equal(load(ENV("WSGW_MAX_FRAME=256K"), no_args), ERR_INVAL);
	assert_string_equal(err, "WSGW_MAX_FRAME: 262144 is larger than --max-message (131072)");
	assert_int_equal(load(ENV("WSGW_MAX_MESSAGE=1K"), ARGS("--max-frame=2K")), ERR_INVAL);
	assert_non_null(strstr(err, "--max-frame"));
}

struct err_case {
	const char *args[4];
	const char *names; /* the flag or variable the message must start with */
};

static const struct err_case err_cases[] = {
    {{"--max-message", "12x"}, "--max-message"},
    {{"--max-message", "0"}, "--max-message"},
    {{"--max-message", "2G"}, "--max-message"},
    {{"--max-message", "-1"}, "--max-message"},
    {{"--max-message="}, "--max-message"},
    {{"--max-message", "99999999999999999999999"}, "--max-message"},
    {{"--max-message", "17179869184G"}, "--max-message"},
    {{"--max-frame", "0"}, "--max-frame"},
    {{"--max-head", "255"}, "--max-head"},
    {{"--max-head", "2M"}, "--max-head"},
    {{"--max-out-queue", "1023"}, "--max-out-queue"},
    {{"--max-user-agent", "65537"}, "--max-user-agent"},
    {{"--grpc-max-body", "2G"}, "--grpc-max-body"},
    {{"--max-connections", "0"}, "--max-connections"},
    {{"--max-connections", "1K"}, "--max-connections"},
    {{"--max-connections", "-5"}, "--max-connections"},
    {{"--max-streams", "0"}, "--max-streams"},
    {{"--max-streams", "2147483648"}, "--max-streams"},
    {{"--rest-max-body", "1023"}, "--rest-max-body"},
    {{"--rest-max-body", "2G"}, "--rest-max-body"},
    {{"--rest-max-body", "1KB"}, "--rest-max-body"},
    {{"--request-timeout", "0"}, "--request-timeout"},
    {{"--request-timeout", "off"}, "--request-timeout"},
    {{"--request-timeout", "9000h"}, "--request-timeout"},
    {{"--idle-timeout", "5x"}, "--idle-timeout"},
    {{"--ping-interval", "1.5s"}, "--ping-interval"},
    {{"--handshake-timeout", "0"}, "--handshake-timeout"},
    {{"--handshake-timeout", "off"}, "--handshake-timeout"},
    {{"--close-timeout", "0ms"}, "--close-timeout"},
    {{"--tls-ticket-rotation", "999ms"}, "--tls-ticket-rotation"},
    {{"--drain-timeout", "off"}, "--drain-timeout"},
    {{"--max-lifetime", "9000h"}, "--max-lifetime"},
    {{"--listen", "localhost:99999"}, "--listen"},
    {{"--listen", "1.2.3.4"}, "--listen"},
    {{"--listen", "example.com:80"}, "--listen"},
    {{"--mgmt-listen", "[::1]"}, "--mgmt-listen"},
    {{"--mgmt-listen=::1:80"}, "--mgmt-listen"},
    {{"--log-level", "verbose"}, "--log-level"},
    {{"--log-format", "logfmt"}, "--log-format"},
    {{"--trust-proxy=maybe"}, "--trust-proxy"},
    {{"--subprotocols", "a,,b"}, "--subprotocols"},
    {{"--subprotocols", "a b"}, "--subprotocols"},
    {{"--subprotocols", ",a"}, "--subprotocols"},
    {{"--subprotocols", "a,"}, "--subprotocols"},
    {{"--subprotocols", "chat,chat"}, "--subprotocols"},
    {{"--subprotocols", "x/y"}, "--subprotocols"},
    {{"--gateway-id="}, "--gateway-id"},
    {{"--gateway-id", "a b"}, "--gateway-id"},
    {{"--gateway-id", "0123456789012345678901234567890123456789012345678901234567890123"},
     "--gateway-id"},
    {{"--auth-token", "two words"}, "--auth-token"},
    {{"--bogus"}, "--bogus"},
    {{"--bogus=1"}, "--bogus"},
    {{"--listen-x", "1"}, "--listen-x"},
    {{"-x"}, "-x"},
    {{"--"}, "--"},
    {{"--listen"}, "--listen"},
    {{"--listen", "--max-message", "1K"}, "--listen"},
    {{"--max-message", "1K", "--idle-timeout"}, "--idle-timeout"},
    {{"stray"}, "stray"},
    {{"--max-head", "1K", "stray"}, "stray"},
    {{"-"}, "-"},
};

static void test_errors_name_the_flag(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		size_t n = strlen(c->names);
		if (load(NULL, c->args) != ERR_INVAL || strncmp(err, c->names, n) != 0 ||
		    err[n] != ':' || strchr(err, '\n') || strlen(err) < n + 5)
			fail_msg("case %zu (%s %s): \"%s\"", i, c->args[0],
			         c->args[1] ? c->args[1] : "", err);
	}
}

static void test_error_messages(void **state)
{
	(void)state;
	assert_int_equal(load(NULL, ARGS("--max-message", "12x")), ERR_INVAL);
	assert_string_equal(err,
	                    "--max-message: \"12x\" is not a size (bytes, or a number with K/M/G)");
	assert_int_equal(load(NULL, ARGS("--max-message", "2G")), ERR_INVAL);
	assert_string_equal(err, "--max-message: \"2G\" is out of range (1..1G)");
	assert_int_equal(load(NULL, ARGS("--handshake-timeout=0")), ERR_INVAL);
	assert_string_equal(err, "--handshake-timeout: \"0\" must be more than 0");
	assert_int_equal(load(NULL, ARGS("--bogus")), ERR_INVAL);
	assert_string_equal(err, "--bogus: unknown flag"); /* main adds "(see --help)" */
	assert_int_equal(load(NULL, ARGS("--listen")), ERR_INVAL);
	assert_string_equal(err, "--listen: missing value");
	assert_int_equal(load(NULL, ARGS("stray")), ERR_INVAL);
	assert_string_equal(err, "stray: unexpected argument (flags start with --)");

	/* from the environment, the message names the variable */
	assert_int_equal(load(ENV("WSGW_MAX_MESSAGE=12x"), no_args), ERR_INVAL);
	assert_string_equal(
	    err, "WSGW_MAX_MESSAGE: \"12x\" is not a size (bytes, or a number with K/M/G)");
	assert_int_equal(load(ENV("WSGW_TRUST_PROXY=maybe"), no_args), ERR_INVAL);
	assert_memory_equal(err, "WSGW_TRUST_PROXY: ", 18);
	assert_int_equal(load(ENV("WSGW_IDLE_TIMEOUT="), no_args), ERR_INVAL);
	assert_memory_equal(err, "WSGW_IDLE_TIMEOUT: ", 19);
	/* a bad variable is an error even when a flag would override it */
	assert_int_equal(load(ENV("WSGW_MAX_HEAD=x"), ARGS("--max-head=1K")), ERR_INVAL);
	assert_memory_equal(err, "WSGW_MAX_HEAD: ", 15);

	/* no room for a message: still the code, no overflow */
	assert_int_equal(config_load(&cfg, 2, (char *const *)ARGS("wsgw", "--x"), NULL, NULL, 0),
	                 ERR_INVAL);
	char tiny[8];
	assert_int_equal(
	    config_load(&cfg, 2, (char *const *)ARGS("wsgw", "--x"), NULL, tiny, sizeof(tiny)),
	    ERR_INVAL);
	assert_string_equal(tiny, "--x: un");
}

/* The REST limits: both edges of each range, and the error texts. */
static void test_rest_limits(void **state)
{
	(void)state;
	assert_int_equal(load(NULL, ARGS("--rest-max-body", "1024")), CONFIG_OK);
	assert_int_equal(cfg.rest_max_body, 1024);
	assert_int_equal(load(NULL, ARGS("--rest-max-body=1G")), CONFIG_OK);
	assert_int_equal(cfg.rest_max_body, 1073741824);
	assert_int_equal(load(NULL, ARGS("--rest-max-body", "1023")), ERR_INVAL);
	assert_string_equal(err, "--rest-max-body: \"1023\" is out of range (1K..1G)");
	assert_int_equal(load(ENV("WSGW_REST_MAX_BODY=1073741825"), no_args), ERR_INVAL);
	assert_string_equal(err, "WSGW_REST_MAX_BODY: \"1073741825\" is out of range (1K..1G)");

	assert_int_equal(load(NULL, ARGS("--request-timeout", "1ms")), CONFIG_OK);
	assert_int_equal(cfg.request_timeout_ms, 1);
	assert_int_equal(load(ENV("WSGW_REQUEST_TIMEOUT=2m"), no_args), CONFIG_OK);
	assert_int_equal(cfg.request_timeout_ms, 120000);
	assert_int_equal(load(ENV("WSGW_REQUEST_TIMEOUT=2m"), ARGS("--request-timeout=5")), CONFIG_OK);
	assert_int_equal(cfg.request_timeout_ms, 5000);
	assert_int_equal(load(NULL, ARGS("--request-timeout", "0s")), ERR_INVAL);
	assert_string_equal(err, "--request-timeout: \"0s\" must be more than 0");
	assert_int_equal(load(NULL, ARGS("--request-timeout", "off")), ERR_INVAL);
	assert_string_equal(err, "--request-timeout: \"off\" must be more than 0");
}

static void test_help_version(void **state)
{
	(void)state;
	assert_int_equal(load(NULL, ARGS("--help")), CONFIG_HELP);
	assert_int_equal(load(NULL, ARGS("-h")), CONFIG_HELP);
	assert_int_equal(load(NULL, ARGS("--version")), CONFIG_VERSION);
	assert_int_equal(load(NULL, ARGS("--max-head", "1K", "--help")), CONFIG_HELP);
	/* help wins over mistakes anywhere, so a broken setup can still ask */
	assert_int_equal(load(NULL, ARGS("--bogus", "--help")), CONFIG_HELP);
	assert_int_equal(load(NULL, ARGS("--max-message", "12x", "-h")), CONFIG_HELP);
	assert_int_equal(load(ENV("WSGW_MAX_MESSAGE=12x"), ARGS("--help")), CONFIG_HELP);
	assert_int_equal(load(ENV("WSGW_LISTEN=nope"), ARGS("--version")), CONFIG_VERSION);
	/* a flag's value is not a flag */
	assert_int_equal(load(NULL, ARGS("--auth-token", "-h")), CONFIG_OK);
	assert_string_equal(cfg.auth_token, "-h");
	assert_int_equal(load(NULL, ARGS("--auth-token=--help")), CONFIG_OK);
	assert_string_equal(cfg.auth_token, "--help");
}

static void test_subprotocols(void **state)
{
	(void)state;
	char many[17 * 4 + 1] = "", name[8], longp[80];

	assert_int_equal(load(NULL, ARGS("--subprotocols", "chat, superchat")), CONFIG_OK);
	assert_int_equal(cfg.num_protocols, 2);
	assert_string_equal(cfg.protocols[0], "chat");
	assert_string_equal(cfg.protocols[1], "superchat");
	assert_int_equal(load(ENV("WSGW_SUBPROTOCOLS=v1.json!#$%&'*+-.^_`|~"), no_args), CONFIG_OK);
	assert_int_equal(cfg.num_protocols, 1);
	assert_string_equal(cfg.protocols[0], "v1.json!#$%&'*+-.^_`|~");
	assert_int_equal(load(ENV("WSGW_SUBPROTOCOLS=a,b"), ARGS("--subprotocols=")), CONFIG_OK);
	assert_int_equal(cfg.num_protocols, 0);

	for (int i = 0; i < 17; i++) {
		snprintf(name, sizeof(name), "%sp%02d", i ? "," : "", i);
		strcat(many, name);
	}
	assert_int_equal(load(NULL, ARGS("--subprotocols", many)), ERR_INVAL);
	many[strlen(many) - 4] = '\0'; /* 16 */
	assert_int_equal(load(NULL, ARGS("--subprotocols", many)), CONFIG_OK);
	assert_int_equal(cfg.num_protocols, CONFIG_MAX_PROTOCOLS);
	assert_string_equal(cfg.protocols[15], "p15");

	memset(longp, 'a', 63);
	longp[63] = '\0';
	assert_int_equal(load(NULL, ARGS("--subprotocols", longp)), CONFIG_OK);
	assert_string_equal(cfg.protocols[0], longp);
	longp[63] = 'a';
	longp[64] = '\0';
	assert_int_equal(load(NULL, ARGS("--subprotocols", longp)), ERR_INVAL);
}

static void test_string_limits(void **state)
{
	(void)state;
	char tok[300];

	memset(tok, 'T', 255);
	tok[255] = '\0';
	assert_int_equal(load(NULL, ARGS("--auth-token", tok)), CONFIG_OK);
	assert_string_equal(cfg.auth_token, tok);
	tok[255] = 'T';
	tok[256] = '\0';
	assert_int_equal(load(NULL, ARGS("--auth-token", tok)), ERR_INVAL);
	memset(tok, 'g', 63);
	tok[63] = '\0';
	assert_int_equal(load(NULL, ARGS("--gateway-id", tok)), CONFIG_OK);
	assert_string_equal(cfg.gateway_id, tok);
	assert_int_equal(load(ENV("WSGW_AUTH_TOKEN=abc"), ARGS("--auth-token=")), CONFIG_OK);
	assert_string_equal(cfg.auth_token, "");
	/* one token source: the value or the file, from flags or environment */
	assert_int_equal(load(NULL, ARGS("--auth-token", "a", "--auth-token-file", "/f")), ERR_INVAL);
	assert_non_null(strstr(err, "--auth-token-file"));
	assert_int_equal(load(ENV("WSGW_AUTH_TOKEN=abc"), ARGS("--auth-token-file", "/f")), ERR_INVAL);
	assert_int_equal(load(ENV("WSGW_AUTH_TOKEN_FILE=/f"), ARGS("--auth-token", "a")), ERR_INVAL);
	assert_int_equal(load(ENV("WSGW_AUTH_TOKEN=abc"), ARGS("--auth-token=", "--auth-token-file",
	                                                       "/f")),
	                 CONFIG_OK);
	assert_string_equal(cfg.auth_token_file, "/f");
}

static void test_parse_size(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t want;
	} good[] = {
	    {"0", 0},
	    {"1", 1},
	    {"128K", 131072},
	    {"128k", 131072},
	    {"1M", 1048576},
	    {"1m", 1048576},
	    {"1G", 1073741824},
	    {"1KiB", 1024},
	    {"2MiB", 2097152},
	    {"1GiB", 1073741824},
	    {"1kib", 1024},
	    {"007", 7},
	    {"18446744073709551615", UINT64_MAX},
	    {"17179869183G", UINT64_MAX - 1073741823},
	};
	static const char *const bad[] = {
	    "",
	    "K",
	    "12x",
	    "-1",
	    "+1",
	    " 1",
	    "1 ",
	    "1.5K",
	    "1KB",
	    "1Ki",
	    "0x10",
	    "1B",
	    "1e3",
	    "1T",
	    "1KK",
	    "18446744073709551616",
	    "17179869184G",
	    "99999999999999999999999",
	};
	size_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (config_parse_size(good[i].text, &v) != 0 || v != good[i].want)
			fail_msg("size \"%s\" -> %llu", good[i].text, (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (config_parse_size(bad[i], &v) != ERR_INVAL || v != 12345)
			fail_msg("size \"%s\" accepted", bad[i]);
	}
}

static void test_parse_duration(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t want;
	} good[] = {
	    {"10s", 10000}, {"500ms", 500},     {"2m", 120000}, {"1h", 3600000},
	    {"off", 0},     {"0", 0},           {"0ms", 0},     {"7", 7000},
	    {"1ms", 1},     {"48h", 172800000}, {"90s", 90000},
	};
	static const char *const bad[] = {"",
	                                  "s",
	                                  "10x",
	                                  "1.5s",
	                                  "-1",
	                                  "10 s",
	                                  "OFF",
	                                  "10S",
	                                  "1d",
	                                  "ms",
	                                  "off1",
	                                  " 1s",
	                                  "1s ",
	                                  "1hh",
	                                  "10sec",
	                                  "18446744073709551615h",
	                                  "18446744073709551616"};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (config_parse_duration(good[i].text, &v) != 0 || v != good[i].want)
			fail_msg("duration \"%s\" -> %llu", good[i].text, (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (config_parse_duration(bad[i], &v) != ERR_INVAL || v != 12345)
			fail_msg("duration \"%s\" accepted", bad[i]);
	}
}

static void test_parse_addr(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "1.2.3.4:65536",
	    "[::1]",
	    "::1:80",
	    "1.2.3.4",
	    "1.2.3.4:",
	    ":80",
	    "1.2.3:80",
	    "[::1]80",
	    "[::1]:",
	    "[1.2.3.4]:80",
	    "example.com:80",
	    "1.2.3.4:+80",
	    "1.2.3.4:000080",
	    "1.2.3.4:-1",
	    "[fe80::1%lo]:80",
	    "[::1]:80x",
	    " 1.2.3.4:80",
	    "1.2.3.4:80 ",
	    "[]:80",
	    "256.1.1.1:80",
	    "",
	    "localhost",
	    "[::1:80",
	    "::1]:80",
	    "1.2.3.4:8:80",
	    "[0000:0000:0000:0000:0000:0000:0000:0000:0000]:80",
	    "[0000:0000:0000:0000:0000:0000:0000:0000]:8080000000000000000000000000000000",
	};
	struct config_addr a;
	struct in6_addr any6 = IN6ADDR_ANY_INIT;

	assert_int_equal(config_parse_addr("[::1]:8080", &a), 0);
	assert_int_equal(a.sa.ss_family, AF_INET6);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_memory_equal(&((struct sockaddr_in6 *)&a.sa)->sin6_addr, &in6addr_loopback, 16);
	assert_int_equal(port_of(&a), 8080);
	assert_string_equal(a.text, "[::1]:8080");

	assert_int_equal(config_parse_addr("[::]:8080", &a), 0);
	assert_memory_equal(&((struct sockaddr_in6 *)&a.sa)->sin6_addr, &any6, 16);
	assert_int_equal(port_of(&a), 8080);

	assert_int_equal(config_parse_addr("0.0.0.0:0", &a), 0);
	assert_ipv4(&a, "0.0.0.0", 0);
	assert_string_equal(a.text, "0.0.0.0:0");
	assert_int_equal(config_parse_addr("0.0.0.0:8080", &a), 0);
	assert_ipv4(&a, "0.0.0.0", 8080);
	assert_int_equal(config_parse_addr("255.255.255.255:65535", &a), 0);
	assert_ipv4(&a, "255.255.255.255", 65535);
	assert_int_equal(config_parse_addr("localhost:8080", &a), 0);
	assert_ipv4(&a, "127.0.0.1", 8080);
	assert_string_equal(a.text, "localhost:8080");
	assert_int_equal(config_parse_addr("1.2.3.4:080", &a), 0);
	assert_ipv4(&a, "1.2.3.4", 80);
	assert_int_equal(config_parse_addr("[::ffff:1.2.3.4]:1", &a), 0);
	assert_int_equal(a.sa.ss_family, AF_INET6);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_addr(bad[i], &a) != ERR_INVAL)
			fail_msg("addr \"%s\" accepted", bad[i]);
	}
}

/* Every flag: its variable and the default --help prints. A flag added to
 * config.c needs a row here and one in flag_cases[] (test_usage says which
 * is missing). */
static const char *const all_flags[][3] = {
    {"--listen", "WSGW_LISTEN", "127.0.0.1:8080"},
    {"--mgmt-listen", "WSGW_MGMT_LISTEN", "127.0.0.1:9090"},
    {"--gateway-id", "WSGW_GATEWAY_ID", "d5dwsgw0000000000001"},
    {"--max-message", "WSGW_MAX_MESSAGE", "128K"},
    {"--max-frame", "WSGW_MAX_FRAME", "=max-message"},
    {"--max-head", "WSGW_MAX_HEAD", "8K"},
    {"--max-out-queue", "WSGW_MAX_OUT_QUEUE", "1M"},
    {"--max-user-agent", "WSGW_MAX_USER_AGENT", "512"},
    {"--max-connections", "WSGW_MAX_CONNECTIONS", "100000"},
    {"--handshake-timeout", "WSGW_HANDSHAKE_TIMEOUT", "10s"},
    {"--idle-timeout", "WSGW_IDLE_TIMEOUT", "600s"},
    {"--ping-interval", "WSGW_PING_INTERVAL", "30s"},
    {"--max-lifetime", "WSGW_MAX_LIFETIME", "off"},
    {"--close-timeout", "WSGW_CLOSE_TIMEOUT", "5s"},
    {"--drain-timeout", "WSGW_DRAIN_TIMEOUT", "5s"},
    {"--subprotocols", "WSGW_SUBPROTOCOLS", "\"\""},
    {"--trust-proxy", "WSGW_TRUST_PROXY", "false"},
    {"--log-level", "WSGW_LOG_LEVEL", "info"},
    {"--log-format", "WSGW_LOG_FORMAT", "text"},
    {"--auth-token", "WSGW_AUTH_TOKEN", "\"\""},
    {"--auth-token-file", "WSGW_AUTH_TOKEN_FILE", "\"\""},
    {"--metrics-token", "WSGW_METRICS_TOKEN", "\"\""},
    {"--grpc-max-body", "WSGW_GRPC_MAX_BODY", "4M"},
    {"--max-streams", "WSGW_MAX_STREAMS", "1024"},
    {"--rest-max-body", "WSGW_REST_MAX_BODY", "1M"},
    {"--request-timeout", "WSGW_REQUEST_TIMEOUT", "30s"},
    {"--spec", "WSGW_SPEC", "\"\""},
    {"--check-spec", "WSGW_CHECK_SPEC", "\"\""},
    {"--max-inbound-queue", "WSGW_MAX_INBOUND_QUEUE", "1M"},
    {"--backend-connections", "WSGW_BACKEND_CONNECTIONS", "256"},
    {"--backend-idle-timeout", "WSGW_BACKEND_IDLE_TIMEOUT", "4s"},
    {"--backend-ca-file", "WSGW_BACKEND_CA_FILE", "\"\""},
    {"--tls-cert", "WSGW_TLS_CERT", "\"\""},
    {"--tls-key", "WSGW_TLS_KEY", "\"\""},
    {"--tls-ticket-rotation", "WSGW_TLS_TICKET_ROTATION", "1h"},
    {"--tls-ocsp-file", "WSGW_TLS_OCSP_FILE", "\"\""},
    {"--mgmt-tls-cert", "WSGW_MGMT_TLS_CERT", "\"\""},
    {"--mgmt-tls-key", "WSGW_MGMT_TLS_KEY", "\"\""},
    {"--mgmt-tls-client-ca", "WSGW_MGMT_TLS_CLIENT_CA", "\"\""},
    {"--integration-error-message", "WSGW_INTEGRATION_ERROR_MESSAGE", "false"},
    {"--mgmt-max-connections", "WSGW_MGMT_MAX_CONNECTIONS", "1024"},
    {"--mgmt-max-buffer", "WSGW_MGMT_MAX_BUFFER", "16M"},
    {"--mgmt-max-buffer-total", "WSGW_MGMT_MAX_BUFFER_TOTAL", "256M"},
    {"--disconnect-retry", "WSGW_DISCONNECT_RETRY", "30s"},
    {"--max-pending-disconnects", "WSGW_MAX_PENDING_DISCONNECTS", "100000"},
    {"--var", "WSGW_VAR_NAME", "\"\""},
    {"--function", "WSGW_FUNCTION_N", "\"\""},
    {"--container", "WSGW_CONTAINER_N", "\"\""},
    {"--cluster", "WSGW_CLUSTER", "\"\""},
    {"--cluster-call-timeout", "WSGW_CLUSTER_CALL_TIMEOUT", "1s"},
    {"--cluster-max-calls", "WSGW_CLUSTER_MAX_CALLS", "16384"},
    {"--cluster-max-queued", "WSGW_CLUSTER_MAX_QUEUED", "64M"},
};

enum { NFLAGS = sizeof(all_flags) / sizeof(all_flags[0]) };

/* Index of flag in all_flags, or NFLAGS. */
static size_t flag_row(const char *flag)
{
	size_t i = 0;

	while (i < NFLAGS && strcmp(all_flags[i][0], flag))
		i++;
	return i;
}

static bool has_case(const char *flag)
{
	for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]); i++)
		if (!strcmp(flag_cases[i].flag, flag))
			return true;
	return false;
}

/* Each option line of the usage ("  --flag [META]  VARIABLE  DEFAULT") is
 * a row of all_flags with that variable and default, and every row has a
 * line and a flag_cases[] entry. Returns the number of option lines. */
static size_t check_flag_lines(const char *text)
{
	size_t lines = 0;
	bool seen[NFLAGS] = {false};

	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		char flag[64], env[64], def[64], meta[64];
		size_t i;

		assert_non_null(end);
		if (!strncmp(line, "  --", 4) && strncmp(line, "  --version", 11)) {
			int n = sscanf(line, " %63s %63s %63s %63s", flag, meta, env, def);

			if (n == 3 ||
			    (n == 4 && !strncmp(meta, "WSGW_", 5))) { /* boolean: no META */
				memmove(def, env, sizeof def);
				memmove(env, meta, sizeof env);
			}
			i = flag_row(flag);
			if (i == NFLAGS)
				fail_msg("%s is in --help but has no row in all_flags[] of "
				         "tests/unit/test_config.c (flag, variable, default)",
				         flag);
			if (strcmp(all_flags[i][1], env))
				fail_msg("%s: --help names %s, all_flags[] says %s", flag, env,
				         all_flags[i][1]);
			if (strcmp(all_flags[i][2], def))
				fail_msg("%s: --help default %s, all_flags[] says %s", flag, def,
				         all_flags[i][2]);
			seen[i] = true;
			lines++;
		}
		line = end + 1;
	}
	for (size_t i = 0; i < NFLAGS; i++) {
		if (!seen[i])
			fail_msg("%s is in all_flags[] but --help does not list it",
			         all_flags[i][0]);
		if (!has_case(all_flags[i][0]))
			fail_msg("%s has no row in flag_cases[] of tests/unit/test_config.c "
			         "(flag, variable, value, field, type, expected)",
			         all_flags[i][0]);
	}
	return lines;
}

/* Every line of a group puts its variable in the same column. */
static void check_env_column(const char *text)
{
	long col = -1;

	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n'), *env = strstr(line, "WSGW_");
		assert_non_null(end);
		if (env && env < end) {
			if (col < 0)
				col = env - line;
			assert_int_equal(env - line, col);
		}
		line = end + 1;
	}
	assert_true(col > 0);
}

static void test_usage(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	config_usage(f);
	assert_int_equal(fclose(f), 0);
	assert_true(len > 500);
	assert_int_equal(check_flag_lines(text), NFLAGS);
	static const char *const also[] = {"-h, --help",   "  --version ", "WebSocket port",
	                                   "Limits",       "Timeouts",     "Management API",
	                                   "Integrations", "Logging"};
	for (size_t i = 0; i < sizeof(also) / sizeof(also[0]); i++)
		assert_non_null(strstr(text, also[i]));
	check_env_column(text);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),       cmocka_unit_test(test_each_flag),
	    cmocka_unit_test(test_bool_flag),
	    cmocka_unit_test(test_var_flag), cmocka_unit_test(test_target_flags),      cmocka_unit_test(test_flag_beats_env),
	    cmocka_unit_test(test_max_frame),      cmocka_unit_test(test_errors_name_the_flag),
	    cmocka_unit_test(test_error_messages), cmocka_unit_test(test_help_version),
	    cmocka_unit_test(test_subprotocols),   cmocka_unit_test(test_string_limits),
	    cmocka_unit_test(test_parse_size),     cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_addr),     cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_rest_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
