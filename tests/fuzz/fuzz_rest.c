/* fuzz_rest — bytes from a management-port HTTP/1.1 client, fed to an
 * h1_session exactly as mgmt.c feeds what it reads (h1_session_feed into
 * the output queue, which is then "written"), in chunks whose sizes come
 * from the input's last byte, with a sweep between chunks on a clock that
 * advances. The registry is empty, so every path through framing, routing,
 * auth, JSON and base64 runs and ends in api.c's answers. The first byte
 * picks a server with or without a bearer token, and draining.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "conntab.h"
#include "ctx.h"
#include "err.h"
#include "mgmt_h1.h"
#include "obuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conntab_key no_key(const struct conntab_node *n)
{
	(void)n;
	return (struct conntab_key){"", 0};
}

static void make(struct server *srv, struct config *cfg, int argc, char **argv)
{
	char err[256];
	char *env[] = {NULL};

	if (config_load(cfg, argc, argv, env, err, sizeof err) != 0)
		__builtin_trap();
	srv->cfg = cfg;
	memcpy(srv->auth_token, cfg->auth_token, sizeof srv->auth_token); /* as reload_start */
	if (conntab_init(&srv->table, 8, 1, no_key) != 0)
		__builtin_trap();
}

static struct server *fuzz_server(int with_token)
{
	static struct config cfg[2];
	static struct server srv[2];
	static int ready;

	if (!ready) {
		char *open_argv[] = {"wsgw", "--max-head", "1K", "--rest-max-body", "4K", NULL};
		char *tok_argv[] = {"wsgw", "--max-head", "1K", "--rest-max-body", "4K",
				    "--auth-token", "tok", NULL};

		make(&srv[0], &cfg[0], 5, open_argv);
		make(&srv[1], &cfg[1], 7, tok_argv);
		ready = 1;
	}
	return &srv[with_token];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server *srv = fuzz_server(size && (data[0] & 2));
	struct h1_session *s;
	struct obuf *out = NULL;
	size_t chunk = size ? (size_t)data[size - 1] % 97 + 1 : 1;
	int rc = 0;

	srv->draining = size && (data[0] & 4) && data[0] != 'P';
	srv->loop.now_ms = 1000;
	s = h1_session_new(srv);
	if (!s)
		return 0;
	for (size_t off = 0; off < size && rc == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		rc = h1_session_feed(s, data + off, n, &out);
		obuf_free(&out); /* "written" */
		srv->loop.now_ms += 1000;
		if (rc == 0)
			rc = h1_session_sweep(s, srv->loop.now_ms, &out);
		obuf_free(&out);
	}
	h1_session_free(s);
	return 0;
}
