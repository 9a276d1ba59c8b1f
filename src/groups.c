/* groups.c — the group table (groups.h), on conntab (an intrusive table by
 * key, here the group's name). One allocation per group, one small array
 * per member that is in a group; both freed with their last use.
 */
#include "groups.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static struct conntab_key key_of(const struct conntab_node *n)
{
	const struct group *g = (const struct group *)n;

	return (struct conntab_key){g->name, g->len};
}

int groups_init(struct groups *gs, uint64_t seed)
{
	memset(gs, 0, sizeof *gs);
	gs->next_gid = 1;
	return conntab_init(&gs->table, 64, seed, key_of);
}

void groups_fini(struct groups *gs)
{
	conntab_fini(&gs->table);
}

bool groups_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > GROUPS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x21 || name[i] > 0x7E || name[i] == ',')
			return false;
	return true;
}

struct group *groups_find(struct groups *gs, const char *name, size_t len)
{
	return (struct group *)conntab_find(&gs->table, name, len);
}

static int index_of(const struct groups_member *m, const struct group *g)
{
	for (int i = 0; i < m->n; i++)
		if (m->l[i]->g == g)
			return i;
	return -1;
}

int groups_join(struct groups *gs, struct groups_member *m, const char *name, size_t len)
{
	struct group *g = groups_find(gs, name, len);
	struct group_link *link;

	if (g && index_of(m, g) >= 0)
		return 0;
	if (m->n >= GROUPS_PER_MEMBER_MAX)
		return ERR_LIMIT;
	if (m->n == m->cap) {
		uint8_t cap = m->cap ? (uint8_t)(m->cap * 2) : 4;
		struct group_link **a = realloc(m->l, cap * sizeof *a);

		if (!a)
			return ERR_NOMEM;
		m->l = a;
		m->cap = cap;
	}
	link = malloc(sizeof *link);
	if (!link)
		return ERR_NOMEM;
	if (!g) {
		g = malloc(sizeof *g + len + 1);
		if (!g) {
			free(link);
			return ERR_NOMEM;
		}
		memset(g, 0, sizeof *g);
		list_init(&g->links);
		memcpy(g->name, name, len);
		g->name[len] = '\0';
		g->len = (uint16_t)len;
		g->gid = gs->next_gid++;
		conntab_insert(&gs->table, &g->node); /* ERR_NOMEM: inserted, denser */
		gs->count++;
	}
	g->members++;
	gs->memberships++;
	link->g = g;
	link->owner = m;
	list_insert_tail(&g->links, &link->in_group);
	m->l[m->n++] = link;
	return 0;
}

static void drop(struct groups *gs, struct groups_member *m, int i)
{
	struct group_link *link = m->l[i];
	struct group *g = link->g;

	m->l[i] = m->l[--m->n];
	list_remove(&link->in_group);
	free(link);
	gs->memberships--;
	if (--g->members == 0) {
		conntab_remove(&gs->table, &g->node);
		gs->count--;
		free(g);
	}
	if (m->n == 0) {
		free(m->l);
		*m = (struct groups_member){0};
	}
}

int groups_leave(struct groups *gs, struct groups_member *m, const char *name, size_t len)
{
	struct group *g = groups_find(gs, name, len);
	int i = g ? index_of(m, g) : -1;

	if (i < 0)
		return ERR_INVAL;
	drop(gs, m, i);
	return 0;
}

void groups_leave_all(struct groups *gs, struct groups_member *m)
{
	while (m->n)
		drop(gs, m, m->n - 1);
}

bool groups_has(const struct groups_member *m, uint64_t gid)
{
	for (int i = 0; i < m->n; i++)
		if (m->l[i]->g->gid == gid)
			return true;
	return false;
}
