/* fanout.h — paced work for sends to many connections (broadcast, group
 * send): a job runs in slices of at most FANOUT_SLICE_NS, one per loop
 * pass, so a send to 100 000 connections never holds the loop for long;
 * other traffic is served between slices. Knows no connection: the job's
 * step does the sending and says when it is finished.
 *
 * The API call that started a job waits for it (api_call, completed after
 * the last slice). A caller that goes away cancels the call: the job
 * finishes its work anyway (a broadcast that was accepted goes out), and
 * nobody is told.
 */
#ifndef WSGW_FANOUT_H
#define WSGW_FANOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"
#include "loop.h"

#define FANOUT_SLICE_NS 2000000 /* 2 ms of sending per loop pass */

struct api_call;
struct server;
struct fanout;

/* Does work until now_ns() >= until_ns (checking the clock every few
 * items through fanout_over). Returns true once all is done. */
typedef bool (*fanout_step_fn)(struct fanout *f, uint64_t until_ns);
/* Fills the call's result (f->call is set) just before it completes. */
typedef void (*fanout_result_fn)(struct fanout *f, struct api_call *call);
/* Frees the job (after its completion, or at shutdown). */
typedef void (*fanout_free_fn)(struct fanout *f);

struct fanout {
	struct server *srv;
	struct list_node link; /* in srv->fanouts while under way */
	struct loop_timer timer;
	struct api_call *call; /* NULL once cancelled */
	fanout_step_fn step;
	fanout_result_fn result;
	fanout_free_fn free_fn;
	uint32_t slices;
	uint64_t longest_slice_ns;
	uint64_t longest_slice_cpu_ns; /* the same slices' thread CPU time */
};

/* Runs the first slice now; if that finishes the job, completes call and
 * frees the job before returning, else arms the next slice and makes the
 * call pending-later (call->cancel). f's fields srv, step, result,
 * free_fn must be set; call must be pending. */
void fanout_start(struct fanout *f, struct api_call *call);

/* Monotonic nanoseconds. */
uint64_t fanout_now_ns(void);

/* Frees every job under way (server shutdown; their calls were cancelled
 * with their clients). */
void fanout_fini_all(struct server *srv);

#endif
