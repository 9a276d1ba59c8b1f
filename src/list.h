/* list.h — intrusive circular doubly-linked lists, the shape of libuv's
 * queue.h and the Linux kernel's list.h.
 *
 * An element embeds a struct list_node; its owner holds a head node. The
 * head links to itself when the list is empty, so insert and remove are
 * O(1) with no allocation and no special case for the first or the last
 * element. A removed node links to itself too, so removing it twice is
 * harmless. An element moves between lists (say, "all" to "dead") with
 * list_remove then list_insert_tail.
 */
#ifndef WSGW_LIST_H
#define WSGW_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *prev, *next;
};

static inline void list_init(struct list_node *n)
{
	n->prev = n->next = n;
}

static inline bool list_empty(const struct list_node *head)
{
	return head->next == head;
}

static inline void list_insert_tail(struct list_node *head, struct list_node *n)
{
	n->next = head;
	n->prev = head->prev;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_insert_head(struct list_node *head, struct list_node *n)
{
	n->prev = head;
	n->next = head->next;
	head->next->prev = n;
	head->next = n;
}

static inline void list_remove(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* The first node, or NULL when the list is empty. */
static inline struct list_node *list_first(const struct list_node *head)
{
	return list_empty(head) ? NULL : head->next;
}

/* The element that embeds node ptr as its member. */
#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Iterates over head's nodes; the body may remove (or free) pos, since
 * the next node is read before the body runs. */
#define list_for_each_safe(pos, tmp, head)                                     \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);       \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
