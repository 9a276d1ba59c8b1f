/* server.c — start-up and shutdown of the one server context: listeners,
 * signals (signalfd, so handlers run on the loop), the sweep timer, the
 * drain on SIGTERM/SIGINT, the reload on SIGHUP (reload.c), and the
 * randomness pool.
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "auth.h"
#include "cluster.h"
#include "conn.h"
#include "err.h"
#include "fanout.h"
#include "integ_disc.h"
#include "log.h"
#include "mgmt.h"
#include "net.h"
#include "fnmap.h"
#include "reload.h"
#include "tls_conf.h"
#include "registry.h"
#include "spec.h"
#include "upstream.h"
#include "ws.h"
#include "ws_conn.h"

#define READ_BUF_SIZE (64 * 1024)
#define LISTEN_BACKLOG 4096

#define SERVER_OF(ptr, member) ((struct server *)((char *)(ptr) - offsetof(struct server, member)))

int server_random(struct server *srv, uint8_t *out, size_t n)
{
	if (n > sizeof srv->rand_pool)
		return RAND_bytes(out, (int)n) == 1 ? 0 : ERR_SYS;
	if (srv->rand_left < n) {
		if (RAND_bytes(srv->rand_pool, sizeof srv->rand_pool) != 1)
			return ERR_SYS;
		srv->rand_left = sizeof srv->rand_pool;
	}
	srv->rand_left -= n;
	memcpy(out, srv->rand_pool + srv->rand_left, n);
	/* Never hand out the same bytes twice. */
	memset(srv->rand_pool + srv->rand_left, 0, n);
	return 0;
}

static struct conntab_key conn_key(const struct conntab_node *node)
{
	const struct conn *c = (const struct conn *)((const char *)node - offsetof(struct conn, node));

	return (struct conntab_key){c->id, CONN_ID_LEN};
}

static void after_batch(void *arg)
{
	struct server *srv = arg;

	/* The loop freed this batch's closed connections before this hook. */
	conntab_rehash_step(&srv->table, 16);
	/* Drain ends when every client is gone and every disconnect event
	 * has reached the backend. */
	if (srv->draining && srv->num_conns == 0 && upstream_pending(srv->up) == 0 &&
	    integ_disc_pending(srv) == 0)
		srv->loop.stop = true;
}

static void on_sweep(struct loop_timer *t)
{
	struct server *srv = SERVER_OF(t, sweep_timer);

	conn_sweep(srv);
	mgmt_sweep(srv);
	loop_timer_arm(&srv->loop, t, srv->loop.now_ms + srv->sweep_interval_ms);
}

static void on_drain_timeout(struct loop_timer *t)
{
	struct server *srv = SERVER_OF(t, drain_timer);
	struct list_node *n, *next;

	log_warn("drain timeout: closing %u connection(s) without their close handshake, "
		 "abandoning %u backend call(s); %u disconnect event(s) not yet delivered",
		 srv->num_conns, upstream_pending(srv->up), integ_disc_pending(srv));
	list_for_each_safe(n, next, &srv->all)
		conn_finish(list_entry(n, struct conn, link), false);
	srv->loop.stop = true;
}

void server_begin_drain(struct server *srv)
{
	struct list_node *n, *next;

	if (srv->draining)
		return;
	srv->draining = 1;
	log_info("shutting down: closing %u connection(s) with 1001", srv->num_conns);
	if (srv->ws_listener.fd >= 0) {
		loop_del(&srv->loop, &srv->ws_listener);
		close(srv->ws_listener.fd);
		srv->ws_listener.fd = -1;
	}
	list_for_each_safe(n, next, &srv->all) {
		struct conn *c = list_entry(n, struct conn, link);

		if (c->state == CONN_ST_OPEN)
			ws_conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
		else if (c->state == CONN_ST_HANDSHAKE)
			ws_conn_http_error(c, 503, "server is shutting down");
	}
	mgmt_drain(srv);
	loop_timer_arm(&srv->loop, &srv->drain_timer, srv->loop.now_ms + srv->cfg->drain_timeout_ms);
}

static void on_signal(struct loop_io *io, uint32_t events)
{
	struct server *srv = SERVER_OF(io, signal_io);
	struct signalfd_siginfo si;

	(void)events;
	while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			reload_on_sighup(srv);
			if (!srv->draining)
				tls_conf_reload(srv); /* certificates: their own all or nothing */
			continue;
		}
		if (srv->draining) {
			log_warn("second signal: exiting now");
			srv->loop.stop = true;
			return;
		}
		log_info("received %s", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		server_begin_drain(srv);
	}
}

/* SIGHUP's default action ends the process: block it from the start, so
 * a reload asked for during start-up is read from the signalfd later. */
static void block_sighup(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static int setup_signals(struct server *srv)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP); /* reload (reload.c), not the default exit */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return ERR_SYS;
	srv->signal_io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	srv->signal_io.on_event = on_signal;
	if (srv->signal_io.fd < 0 || loop_add(&srv->loop, &srv->signal_io, EPOLLIN) < 0)
		return ERR_SYS;
	return 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static uint64_t sweep_interval(const struct config *cfg)
{
	uint64_t t[] = {cfg->handshake_timeout_ms, cfg->idle_timeout_ms, cfg->ping_interval_ms,
			cfg->max_lifetime_ms, cfg->close_timeout_ms, cfg->request_timeout_ms};
	uint64_t best = 1000;

	/* Deadlines are checked by a coarse sweep; keep its error under a
	 * quarter of the shortest timeout. */
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i] && t[i] / 4 < best)
			best = t[i] / 4;
	return best < 10 ? 10 : best;
}

/* The backend client, reading into the loop's shared buffer. */
static int start_upstream(struct server *srv, const struct config *cfg)
{
	struct upstream_opts o = {
		.per_host = cfg->backend_connections,
		.idle_timeout_ms = cfg->backend_idle_timeout_ms,
		.ca_file = cfg->backend_ca_file,
		.rbuf = srv->rbuf,
		.rbuf_size = srv->rbuf_size,
	};
	const char *why;

	srv->up = upstream_new_opts(&srv->loop, &o, &why);
	if (!srv->up) {
		log_error("backend client: %s%s%s", why, *cfg->backend_ca_file ? ": " : "",
			  cfg->backend_ca_file);
		return ERR_INVAL;
	}
	return 0;
}

int server_init(struct server *srv, const struct config *cfg)
{
	uint64_t seed;
	int rc;

	memset(srv, 0, sizeof *srv);
	list_init(&srv->all);
	list_init(&srv->mgmt_all);
	list_init(&srv->fanouts);
	srv->cfg = cfg;
	srv->ws_listener.fd = srv->mgmt_listener.fd = srv->signal_io.fd = srv->spare_fd = -1;
	srv->loop.epfd = -1; /* server_fini is safe after any failure below */
	block_sighup(); /* one sent while the spec loads waits for the loop */
	rc = reload_start(srv);
	if (rc < 0)
		return rc;
	rc = tls_conf_start(srv);
	if (rc < 0)
		return rc;
	if (loop_init(&srv->loop) < 0) {
		log_error("epoll_create1: %s", strerror(errno));
		return ERR_SYS;
	}
	srv->loop.after_batch = after_batch;
	srv->loop.after_batch_arg = srv;
	if (auth_init(srv) < 0) {
		log_error("start-up: out of memory");
		return ERR_NOMEM;
	}
	srv->rbuf_size = READ_BUF_SIZE;
	srv->rbuf = malloc(srv->rbuf_size);
	if (!srv->rbuf || server_random(srv, (uint8_t *)&seed, sizeof seed) < 0 ||
	    conntab_init(&srv->table, 1024, seed, conn_key) < 0 ||
	    strpool_init(&srv->user_agents, seed ^ 0x9e3779b97f4a7c15u) < 0) {
		log_error("start-up: out of memory or randomness");
		return ERR_NOMEM;
	}
	if (registry_init(srv) < 0) {
		log_error("start-up: out of memory or randomness");
		return ERR_NOMEM;
	}
	rc = start_upstream(srv, cfg);
	if (rc < 0)
		return rc;
	raise_fd_limit();
	if (setup_signals(srv) < 0) {
		log_error("signals: %s", strerror(errno));
		return ERR_SYS;
	}
	/* Opened before the listeners so a descriptor is there to spend at
	 * EMFILE (conn_on_accept). */
	srv->spare_fd = net_spare_open();
	if (srv->spare_fd < 0) {
		log_error("spare descriptor (eventfd): %s", strerror(errno));
		return ERR_SYS;
	}
	srv->ws_listener.fd = net_listen(&cfg->listen, LISTEN_BACKLOG);
	if (srv->ws_listener.fd < 0) {
		log_error("--listen %s: %s", cfg->listen.text, strerror(errno));
		return ERR_SYS;
	}
	srv->ws_listener.on_event = conn_on_accept;
	if (loop_add(&srv->loop, &srv->ws_listener, EPOLLIN) < 0)
		return ERR_SYS;
	srv->mgmt_listener.fd = net_listen(&cfg->mgmt_listen, LISTEN_BACKLOG);
	if (srv->mgmt_listener.fd < 0) {
		log_error("--mgmt-listen %s: %s", cfg->mgmt_listen.text, strerror(errno));
		return ERR_SYS;
	}
	srv->mgmt_listener.on_event = mgmt_on_accept;
	if (loop_add(&srv->loop, &srv->mgmt_listener, EPOLLIN) < 0)
		return ERR_SYS;
	if (!srv->auth_token[0] && !net_addr_is_loopback(&cfg->mgmt_listen))
		log_warn("WARNING: the management API listens on %s, beyond loopback, WITHOUT a token: "
			 "anyone who can reach it can read, message and disconnect every client. "
			 "Set --auth-token (WSGW_AUTH_TOKEN).",
			 cfg->mgmt_listen.text);
	rc = cluster_start(srv);
	if (rc < 0)
		return rc;
	srv->sweep_timer.on_fire = on_sweep;
	srv->drain_timer.on_fire = on_drain_timeout;
	srv->sweep_interval_ms = sweep_interval(cfg);
	loop_timer_arm(&srv->loop, &srv->sweep_timer, srv->loop.now_ms + srv->sweep_interval_ms);
	tls_conf_arm(srv);
	return 0;
}

static void log_stats(const struct server *srv)
{
	const struct server_stats *s = &srv->stats;

	log_info("totals: %" PRIu64 " accepted, %" PRIu64 " upgraded, %" PRIu64
		 " refused, %" PRIu64 " over the connection cap, %" PRIu64
		 " at the descriptor limit, %" PRIu64 " messages in, %" PRIu64
		 " messages out, %" PRIu64 " protocol failures, %" PRIu64 " idle closes, %" PRIu64
		 " abnormal closes, %" PRIu64 " integration failures, %" PRIu64
		 " bytes in, %" PRIu64 " bytes out",
		 s->accepted, s->handshakes_ok, s->handshakes_failed, s->rejected_full,
		 s->rejected_fd_limit, s->msgs_in, s->msgs_out, s->closed_protocol, s->closed_idle,
		 s->closed_abnormal, s->integration_errors, s->bytes_in, s->bytes_out);
}

int server_run(struct server *srv)
{
	if (loop_run(&srv->loop) < 0) {
		log_error("epoll_wait: %s", strerror(errno));
		return 1;
	}
	log_stats(srv);
	return srv->exit_code;
}

void server_fini(struct server *srv)
{
	struct list_node *n, *next;

	srv->stopping = 1;
	list_for_each_safe(n, next, &srv->all)
		conn_finish(list_entry(n, struct conn, link), false);
	loop_reap(&srv->loop); /* before strpool_fini: a connection returns its User-Agent */
	mgmt_close_all(srv);
	fanout_fini_all(srv); /* after the calls waiting for them went */
	if (srv->ws_listener.fd >= 0)
		close(srv->ws_listener.fd);
	if (srv->mgmt_listener.fd >= 0)
		close(srv->mgmt_listener.fd);
	if (srv->signal_io.fd >= 0)
		close(srv->signal_io.fd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	cluster_fini(srv); /* after mgmt_close_all: no remote call has a caller left */
	upstream_free(srv->up);
	srv->up = NULL;
	integ_disc_fini(srv); /* after upstream_free: counts the calls it ended */
	spec_drop(srv->spec); /* the connections' references went with them */
	srv->spec = NULL;
	conntab_fini(&srv->table);
	strpool_fini(&srv->user_agents);
	registry_fini(srv); /* after loop_reap: connections return their strings */
	free(srv->rbuf);
	free(srv->cork_buf);
	tls_conf_fini(srv); /* after the connections: each held a reference anyway */
	loop_fini(&srv->loop);
}
