/* groups.h — named groups of connections (wsgw.v1 JoinGroup / LeaveGroup):
 * a table of groups by name, each with its member count, and per member a
 * small array of the groups it is in. A group exists while it has a
 * member: the last one leaving frees it, nothing is remembered. Knows no
 * connection type: a member is whatever owns a struct groups_member.
 */
#ifndef WSGW_GROUPS_H
#define WSGW_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conntab.h"
#include "list.h"

#define GROUPS_NAME_MAX 128 /* bytes */
#define GROUPS_PER_MEMBER_MAX 64

struct group {
	struct conntab_node node; /* in groups.table, by name */
	struct list_node links;   /* its members' group_link.in_group */
	uint64_t gid;             /* unique for the process' lifetime */
	uint32_t members;
	uint16_t len;
	char name[]; /* NUL-terminated */
};

struct groups {
	struct conntab table;
	uint64_t next_gid;
	size_t count; /* groups that exist */
	/* the sum of every group's members (a metric) */
	size_t memberships;
};

struct groups_member;

/* One membership: in the group's list, pointing at both ends. */
struct group_link {
	struct list_node in_group;
	struct group *g;
	struct groups_member *owner;
};

/* What a member holds: NULL while it is in no group. */
struct groups_member {
	struct group_link **l;
	uint8_t n, cap;
};

int groups_init(struct groups *gs, uint64_t seed);
/* Every member must have left. */
void groups_fini(struct groups *gs);

/* True when name[0..len) is a valid group name: 1..GROUPS_NAME_MAX bytes
 * of printable ASCII (0x21..0x7E): no space, no control byte, nothing a
 * URL path segment or a header list (',') would need to quote, except ','
 * which X-Wsgw-Groups uses as its separator and so is refused too. */
bool groups_name_ok(const char *name, size_t len);

/* The group named so, or NULL. */
struct group *groups_find(struct groups *gs, const char *name, size_t len);

/* Puts m in the group (created if new). Returns 0 (also when already a
 * member), ERR_LIMIT at GROUPS_PER_MEMBER_MAX groups, or ERR_NOMEM. */
int groups_join(struct groups *gs, struct groups_member *m, const char *name, size_t len);

/* Takes m out of the group. Returns 0, or ERR_INVAL when m was not in it. */
int groups_leave(struct groups *gs, struct groups_member *m, const char *name, size_t len);

/* Takes m out of every group (a connection that closes). */
void groups_leave_all(struct groups *gs, struct groups_member *m);

/* True when m is in the group with this gid. */
bool groups_has(const struct groups_member *m, uint64_t gid);

#endif
