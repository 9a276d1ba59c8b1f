/* spec_hold.c — the spec on the heap, shared by reference (spec.h).
 *
 * The server holds the current spec; each connection, its integration
 * state and each disconnect event still to deliver hold the spec they
 * were matched against. A reload swaps the server's reference, so the
 * old spec lives exactly as long as something still points into it.
 * One thread: the count needs no atomics. Pure: no logging, no sockets.
 */
#include <assert.h>
#include <stdlib.h>

#include "err.h"
#include "spec.h"

int spec_new(const char *path, const struct spec_var *vars, size_t num_vars, struct spec **out,
             char *err, size_t errlen)
{
	struct spec *s = calloc(1, sizeof *s);
	int rc;

	if (!s)
		return ERR_NOMEM;
	if (!path || !path[0])
		rc = spec_default(s);
	else
		rc = spec_load_file(path, vars, num_vars, s, err, errlen);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->refs = 1;
	*out = s;
	return 0;
}

struct spec *spec_hold(struct spec *s)
{
	if (s) {
		assert(s->refs > 0); /* only a shared spec is counted */
		s->refs++;
	}
	return s;
}

void spec_drop(struct spec *s)
{
	if (!s)
		return;
	assert(s->refs > 0);
	if (--s->refs)
		return;
	if (s->rt_free)
		s->rt_free(s->rt); /* first: it may point into the spec */
	spec_free(s);
	free(s);
}
