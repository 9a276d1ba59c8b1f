/* fnmap.h — where a spec's cloud functions and serverless containers run
 * locally: the --function FUNCTION_ID[:TAG]=URL and --container
 * CONTAINER_ID=URL maps of the config. Used by the function and container
 * integrations (integ_fn.c) and by function authorizers. Pure.
 */
#ifndef WSGW_FNMAP_H
#define WSGW_FNMAP_H

#include <stddef.h>

struct config;
struct spec;

/* The URL serving function id at tag (NULL or "" means $latest): the
 * mapping of exactly that id and tag, else the id's mapping without a
 * tag (which serves every tag). NULL when there is none. */
const char *fnmap_find(const struct config *cfg, const char *id, const char *tag);

/* The base URL of container id, or NULL. */
const char *fnmap_container(const struct config *cfg, const char *id);

/* Checks that every cloud_functions and serverless_containers
 * integration of s has a mapping (for a tag with placeholders, any
 * mapping of the id). Returns 0, or ERR_INVAL with err = "NAME:LINE: ..."
 * naming the first one without (name: the spec file, for the message). */
int fnmap_check_spec(const struct config *cfg, const struct spec *s, const char *name, char *err,
                     size_t errlen);

#endif
