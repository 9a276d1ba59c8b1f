/* fuzz_grpc_session — bytes from a management-port client, fed to an
 * HTTP/2 gRPC session exactly as mgmt.c feeds what it reads from the
 * socket (grpc_session_feed, then grpc_session_flush into the output
 * queue), in chunks whose sizes come from the input's last byte. The
 * registry is empty, so calls end in NOT_FOUND and friends; every path
 * through nghttp2 callbacks, deframing, decoding and replying is live.
 * The loop clock moves 7 s per chunk and the sweep runs after each, so
 * grpc-timeout and --request-timeout answers happen mid-stream; after the
 * session is freed every byte charged to the port's budget must be back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conntab.h"
#include "ctx.h"
#include "grpc.h"
#include "obuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conntab_key no_key(const struct conntab_node *n)
{
	(void)n;
	return (struct conntab_key){"", 0};
}

static struct server *fuzz_server(void)
{
	static struct config cfg;
	static struct server srv;
	static int ready;

	if (!ready) {
		char err[256];
		char *argv[] = {"wsgw", "--auth-token", "tok", "--grpc-max-body", "4K", NULL};
		char *env[] = {NULL};

		if (config_load(&cfg, 5, argv, env, err, sizeof err) != 0)
			__builtin_trap();
		srv.cfg = &cfg;
		memcpy(srv.auth_token, cfg.auth_token, sizeof srv.auth_token); /* as reload_start */
		if (conntab_init(&srv.table, 8, 1, no_key) != 0)
			__builtin_trap();
		ready = 1;
	}
	return &srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server *srv = fuzz_server();
	struct grpc_session *s = grpc_session_new(srv);
	struct obuf *out = NULL;
	size_t chunk = size ? (size_t)data[size - 1] % 97 + 1 : 1;

	if (!s)
		return 0;
	srv->draining = size && (data[0] & 1) && data[0] != 'P';
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (grpc_session_feed(s, data + off, n) < 0)
			break;
		srv->loop.now_ms += 7000;
		grpc_session_sweep(s, srv->loop.now_ms);
		if (grpc_session_flush(s, &out, 1 << 20) < 0)
			break;
		obuf_free(&out); /* "written" */
	}
	grpc_session_flush(s, &out, 1 << 20);
	obuf_free(&out);
	grpc_session_free(s);
	if (srv->mgmt_buffered != 0)
		abort(); /* a stream's bytes never given back */
	return 0;
}
