/* config.h — every setting of wsgw in one immutable struct, filled from
 * defaults, then WSGW_* environment variables, then flags (flag wins).
 * Pure: no sockets, no logging; errors come back as one-line messages.
 */
#ifndef WSGW_CONFIG_H
#define WSGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_MAX_PROTOCOLS 16
#define CONFIG_MAX_VARS 64

/* One spec variable from --var NAME=VALUE or WSGW_VAR_NAME=VALUE. */
struct config_var {
	char name[64];
	char value[1024];
	char label[80]; /* "--var NAME" or "WSGW_VAR_NAME", for messages */
};

#define CONFIG_MAX_TARGETS 32

/* One --function FUNCTION_ID[:TAG]=URL or --container CONTAINER_ID=URL
 * (or WSGW_FUNCTION_<any>, WSGW_CONTAINER_<any>). */
struct config_target {
	char id[64];
	char tag[64]; /* empty: every tag not mapped on its own */
	char url[1024];
	char label[96]; /* "--function ID:TAG" or "WSGW_FUNCTION_1", for messages */
};

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

struct config_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	char text[64]; /* as given, e.g. "127.0.0.1:8080" or "[::1]:8080" */
};

struct config {
	struct config_addr listen;      /* --listen, WSGW_LISTEN */
	struct config_addr mgmt_listen; /* --mgmt-listen, WSGW_MGMT_LISTEN */
	char gateway_id[64];            /* --gateway-id, WSGW_GATEWAY_ID */
	size_t max_message;             /* --max-message (bytes) */
	size_t max_frame;               /* --max-frame (bytes; default = max_message) */
	size_t max_head;                /* --max-head (HTTP request head cap) */
	size_t max_out_queue;           /* --max-out-queue (per-connection outbound bytes) */
	size_t max_user_agent;          /* --max-user-agent (bytes kept) */
	unsigned max_connections;       /* --max-connections */
	uint64_t handshake_timeout_ms;  /* --handshake-timeout */
	uint64_t idle_timeout_ms;       /* --idle-timeout (0 = off) */
	uint64_t ping_interval_ms;      /* --ping-interval (0 = off) */
	uint64_t max_lifetime_ms;       /* --max-lifetime (0 = off) */
	uint64_t close_timeout_ms;      /* --close-timeout: wait for the peer's close */
	uint64_t drain_timeout_ms;      /* --drain-timeout on SIGTERM/SIGINT */
	size_t num_protocols;           /* --subprotocols a,b,c */
	char protocols[CONFIG_MAX_PROTOCOLS][64];
	char tls_cert[1024];            /* --tls-cert: wss:// (empty: plain ws://) */
	char tls_key[1024];             /* --tls-key */
	uint64_t tls_ticket_rotation_ms; /* --tls-ticket-rotation */
	char tls_ocsp_file[1024];       /* --tls-ocsp-file (empty: no stapling) */
	bool trust_proxy;               /* --trust-proxy: identity from X-Forwarded-For */
	enum log_level log_level;       /* --log-level error|warn|info|debug */
	enum log_format log_format;     /* --log-format text|json */
	/* integrations */
	char spec_path[1024];           /* --spec FILE (empty: default echo route) */
	char check_spec_path[1024];     /* --check-spec FILE: validate and exit */
	size_t max_inbound_queue;       /* --max-inbound-queue (bytes waiting per connection) */
	unsigned backend_connections;   /* --backend-connections (per backend host) */
	uint64_t backend_idle_timeout_ms; /* --backend-idle-timeout */
	char backend_ca_file[1024];     /* --backend-ca-file (empty: system CAs only) */
	bool integration_error_message; /* --integration-error-message */
	uint64_t disconnect_retry_ms;   /* --disconnect-retry (0 = one attempt) */
	unsigned max_pending_disconnects; /* --max-pending-disconnects */
	size_t num_vars;                /* --var NAME=VALUE (repeatable), WSGW_VAR_NAME */
	struct config_var vars[CONFIG_MAX_VARS];
	size_t num_functions;           /* --function ID[:TAG]=URL (repeatable), WSGW_FUNCTION_<n> */
	struct config_target functions[CONFIG_MAX_TARGETS];
	size_t num_containers;          /* --container ID=URL (repeatable), WSGW_CONTAINER_<n> */
	struct config_target containers[CONFIG_MAX_TARGETS];
	/* management API (gRPC + REST) */
	char auth_token[256];           /* --auth-token, WSGW_AUTH_TOKEN (empty = off) */
	char auth_token_file[1024];     /* --auth-token-file: token read at start and on SIGHUP */
	char mgmt_tls_cert[1024];       /* --mgmt-tls-cert: TLS on the management port */
	char mgmt_tls_key[1024];        /* --mgmt-tls-key */
	char mgmt_tls_client_ca[1024];  /* --mgmt-tls-client-ca: mutual TLS (empty: off) */
	char metrics_token[256];        /* --metrics-token, WSGW_METRICS_TOKEN (empty = public) */
	size_t grpc_max_body;           /* --grpc-max-body */
	unsigned max_streams;           /* --max-streams (SETTINGS_MAX_CONCURRENT_STREAMS) */
	size_t rest_max_body;           /* --rest-max-body (REST request body cap) */
	uint64_t request_timeout_ms;    /* --request-timeout (HTTP/1.1 request, keep-alive idle) */
	unsigned mgmt_max_connections;  /* --mgmt-max-connections */
	size_t mgmt_max_buffer;         /* --mgmt-max-buffer (request bytes per connection) */
	size_t mgmt_max_buffer_total;   /* --mgmt-max-buffer-total (all management connections) */
	/* cluster mode */
	char cluster_url[512];          /* --cluster redis://... (empty = off) */
	uint64_t cluster_call_timeout_ms; /* --cluster-call-timeout */
	unsigned cluster_max_calls;       /* --cluster-max-calls (remote calls in flight) */
	size_t cluster_max_queued;        /* --cluster-max-queued (bytes queued for Redis) */
};

enum { CONFIG_OK = 0, CONFIG_HELP = 1, CONFIG_VERSION = 2 };

/* Fills *cfg from the built-in defaults, then from env (a NULL-terminated
 * "NAME=value" array, normally environ), then from argv. Returns CONFIG_OK,
 * CONFIG_HELP (--help/-h seen), CONFIG_VERSION (--version), or ERR_INVAL
 * with a one-line message naming the flag written into err[errlen]. */
int config_load(struct config *cfg, int argc, char *const *argv, char *const *env, char *err,
		size_t errlen);

/* Writes --help: every flag, its environment variable and its default. */
void config_usage(FILE *out);

/* Parsers shared with the flags (exposed for unit tests). Each returns 0 or
 * ERR_INVAL. Sizes accept a K/M/G suffix (binary units); durations accept
 * ms, s, m, h suffixes (no suffix = seconds) and "off" = 0. */
int config_parse_addr(const char *text, struct config_addr *out);
int config_parse_size(const char *text, size_t *out);
int config_parse_duration(const char *text, uint64_t *out_ms);

#endif
