/* benchlib.h — helpers shared by the standalone benchmark programs in
 * bench/ (loadgen, msgload, sendlat, fastbackend, rawecho, rawproxy).
 * Everything here is `static inline` (or marked unused), so a file that
 * does not call a helper gets no -Wunused-function / -Wunused-variable
 * warning, and a program needs no extra object for it.
 *
 *   got_term, on_term       SIGTERM/SIGINT flag and handler
 *   bench_prog, bench_die   the program's name; "NAME: msg" and exit 2
 *   now_ns                  CLOCK_MONOTONIC in ns
 *   struct hist, hist_*     log-linear (~3%) latency histogram, ns
 *   proc_cpu_ticks          utime + stime of a pid from /proc/PID/stat
 *   proc_cpu_ns             CPU time of all a pid's threads, ns (schedstat)
 *   machine_busy_ticks      busy ticks of the "cpu" line of /proc/stat
 *   self_cpu_s              our own user + system seconds
 *   hex16                   16 lowercase hex digits → uint64_t
 *   bench_parse_addr        "IPv4:PORT" → sockaddr_in
 *   connect_to              non-blocking connect from 127.0.0.(1 + src)
 *   bench_ep_set            add a socket to an epoll set, or change its events
 *
 * A program built from several files (a bench/NAME.c with a main() plus
 * modules, see the Makefile): got_term is static, one flag per file, so
 * only the file that installs on_term (the one with main()) may read it.
 */
#ifndef BENCH_BENCHLIB_H
#define BENCH_BENCHLIB_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (64 * HIST_SUB)

struct hist {
	uint64_t n, max, b[HIST_BUCKETS];
};

static volatile sig_atomic_t got_term __attribute__((unused));

static inline void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* The program's name in messages on stderr. A program whose modules call
 * bench_die (or print with it) defines it once, in the file with main(). */
extern const char bench_prog[];

/* "NAME: msg" on stderr and exit status 2: something a benchmark cannot go
 * on without (memory, a server, a sane flag). */
static inline void bench_die(const char *msg)
{
	fprintf(stderr, "%s: %s\n", bench_prog, msg);
	exit(2);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- histogram (log-linear, ~3%), values in ns ------------------------ */

static inline unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

static inline double hist_value(unsigned i)
{
	unsigned shift;

	if (i < 2 * HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	return ((double)(HIST_SUB + i % HIST_SUB) + 0.5) * (double)(1ull << shift);
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	unsigned i = hist_index(v);

	h->b[i < HIST_BUCKETS ? i : HIST_BUCKETS - 1]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* Percentile q in µs (bucket midpoint, capped at the maximum seen). */
static inline double hist_us(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return fmin(hist_value(i), (double)h->max) / 1000.0;
	}
	return (double)h->max / 1000.0;
}

/* ---- /proc ------------------------------------------------------------- */

/* utime + stime of pid in clock ticks, or -1 (also for pid <= 0). */
static inline long long proc_cpu_ticks(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces */
	/* after ")": state(3) ... utime(14) stime(15) */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

/* CPU time of every thread of pid in ns: the sum of the first field
 * (sum_exec_runtime) of /proc/PID/task/TID/schedstat — exact, where
 * /proc/PID/stat counts clock ticks (10 ms), too coarse for a broadcast
 * that lasts tens of milliseconds. -1 if pid <= 0 or schedstat is missing
 * (a kernel without CONFIG_SCHED_INFO). */
static inline long long proc_cpu_ns(int pid)
{
	char path[64], buf[128];
	long long sum = 0;
	struct dirent *d;
	DIR *dir;
	int seen = 0;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		unsigned long long ns;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat", pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread just ended */
		if (fgets(buf, sizeof buf, f) && sscanf(buf, "%llu", &ns) == 1) {
			sum += (long long)ns;
			seen++;
		}
		fclose(f);
	}
	closedir(dir);
	return seen ? sum : -1;
}

/* Busy time of the whole machine (user, nice, system, irq, softirq,
 * steal of the "cpu" line of /proc/stat) in clock ticks, or -1. */
static inline long long machine_busy_ticks(void)
{
	unsigned long long v[8];
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	return (long long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]); /* not idle, iowait */
}

/* Our own user + system time, in seconds. */
static inline double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- timestamps ---------------------------------------------------------- */

/* The 16 lowercase hex digits at p as a number; *ok says whether they were. */
static inline uint64_t hex16(const uint8_t *p, bool *ok)
{
	uint64_t v = 0;

	*ok = false;
	for (int i = 0; i < 16; i++) {
		uint8_t ch = p[i];
		unsigned d;

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10u;
		else
			return 0;
		v = v << 4 | d;
	}
	*ok = true;
	return v;
}

/* ---- sockets ----------------------------------------------------------- */

/* "IPv4:PORT" with min_port <= PORT <= 65535 (min_port 0 lets a listener
 * take an ephemeral port). */
static inline int bench_parse_addr(const char *s, struct sockaddr_in *sa, long min_port)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < min_port || port > 65535)
		return -1;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Non-blocking connect (TCP_NODELAY) from 127.0.0.(1 + src) when src >= 0,
 * bound with IP_BIND_ADDRESS_NO_PORT so that many connections do not run
 * out of ephemeral ports. The fd, or -1. */
static inline int connect_to(const struct sockaddr_in *dst, int src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (src >= 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET};

		sa.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)src);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Adds fd to the epoll set ep (add) or changes its events, data.ptr = ptr. */
static inline void bench_ep_set(int ep, int fd, void *ptr, uint32_t events, bool add)
{
	struct epoll_event e = {.events = events, .data.ptr = ptr};

	epoll_ctl(ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e);
}

/* Raises the open-file limit to its hard maximum: load tools and servers
 * here hold thousands of sockets. Returns the limit now in force. */
static inline unsigned long long raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (unsigned long long)rl.rlim_cur;
}

/* A non-blocking IPv4 listener on sa (port 0: the kernel picks one, read
 * it back with getsockname), backlog 4096. -1 on failure, errno set. */
static inline int listen_on(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 || listen(fd, 4096) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

#endif
