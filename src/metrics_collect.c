/* metrics_collect.c — a scrape of GET /metrics: reads the server context
 * (counters, gauges, the backends' calls through upstream_each_backend,
 * the disconnect events' totals) and /proc/self into a metrics_snapshot,
 * then renders it with metrics.c. Runs on the loop, on demand only; reads
 * nothing per connection. /proc reads never block on the network.
 */
#include "metrics_collect.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "conntab.h"
#include "ctx.h"
#include "err.h"
#include "integ_disc.h"
#include "metrics.h"
#include "spec.h"
#include "upstream.h"
#include "version.h"

struct backend_walk {
	struct metrics_snapshot *s;
	struct metrics *m;
};

static void on_backend(void *arg, const char *key, unsigned in_flight, unsigned waiting)
{
	struct backend_walk *w = arg;
	char label[METRICS_BACKEND_LABEL_MAX];
	unsigned i;

	metrics_backend_label(key, strlen(key), label, sizeof label);
	i = metrics_backend_index(w->m, label);
	if (i == METRICS_MAX_BACKENDS)
		w->s->other_backend = true;
	w->s->in_flight[i] += in_flight;
	w->s->waiting[i] += waiting;
}

/* The spec's backends get their labels before their first call, so their
 * gauges read 0 rather than being absent. */
static void seed_backends(struct server *srv)
{
	char label[METRICS_BACKEND_LABEL_MAX];

	for (size_t i = 0; i < srv->spec->num_routes; i++) {
		const struct route *r = &srv->spec->routes[i];
		const struct integration *in[] = {&r->connect, &r->message, &r->disconnect};

		for (size_t k = 0; k < 3; k++)
			if (in[k]->type == INTEG_HTTP && in[k]->url &&
			    metrics_backend_label(in[k]->url, strlen(in[k]->url), label,
			                          sizeof label))
				metrics_backend_index(&srv->metrics, label);
	}
}

static ssize_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static uint64_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0; /* the directory's own descriptor */
}

static double seconds_of(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static void collect_process(struct metrics_process *p)
{
	struct metrics_proc_stat st;
	struct timespec real, boot;
	struct rlimit rl;
	char buf[1024];
	ssize_t n = read_file("/proc/self/stat", buf, sizeof buf);
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		p->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	if (n <= 0 || hz <= 0 || page <= 0 || metrics_parse_proc_stat(buf, (size_t)n, &st) < 0)
		return;
	/* starttime is in ticks since boot: the wall clock now, minus the
	 * time since boot, plus that. */
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	p->ok = true;
	p->cpu_seconds = (double)(st.utime + st.stime) / (double)hz;
	p->start_time_seconds =
	    seconds_of(&real) - seconds_of(&boot) + (double)st.starttime / (double)hz;
	p->resident_bytes = st.rss_pages * (uint64_t)page;
	p->virtual_bytes = st.vsize;
	p->open_fds = count_fds();
}

void metrics_collect(struct server *srv, struct metrics_snapshot *s)
{
	const struct server_stats *st = &srv->stats;
	struct integ_disc_totals dt;
	struct backend_walk w = {s, &srv->metrics};

	memset(s, 0, sizeof *s);
	s->m = &srv->metrics;
	s->version = WSGW_VERSION;
	s->commit = WSGW_COMMIT;
	s->accepted = st->accepted;
	s->upgraded = st->handshakes_ok;
	s->msgs_in = st->msgs_in;
	s->msgs_out = st->msgs_out;
	s->bytes_in = st->bytes_in;
	s->bytes_out = st->bytes_out;
	s->integration_failures = st->integration_errors;
	s->msgs_abandoned = st->msgs_abandoned;
	s->conns_open = conntab_count(&srv->table);
	s->conns_all = srv->num_conns;
	s->max_connections = srv->cfg->max_connections;
	s->mgmt_open = srv->mgmt_num;
	s->mgmt_buffered = srv->mgmt_buffered;
	s->draining = srv->draining;
	integ_disc_totals(srv, &dt);
	s->disc_pending = dt.pending;
	s->disc_delivered = dt.delivered;
	s->disc_refused = dt.refused;
	s->disc_given_up = dt.given_up;
	s->disc_dropped = dt.dropped;
	s->disc_retries = dt.retries;
	seed_backends(srv);
	if (srv->up)
		upstream_each_backend(srv->up, on_backend, &w);
	collect_process(&s->proc);
	if (srv->cluster) {
		s->cluster_on = true;
		cluster_metrics(srv, &s->cluster);
	}
}

int metrics_collect_render(struct server *srv, char **body, size_t *len)
{
	struct metrics_snapshot snap; /* ~1.3 KiB */
	struct metrics_buf b = {0};

	metrics_collect(srv, &snap);
	if (metrics_render(&snap, &b) < 0) {
		free(b.p);
		return ERR_NOMEM;
	}
	*body = b.p;
	*len = b.len;
	return 0;
}
