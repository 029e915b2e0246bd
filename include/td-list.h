/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Intrusive doubly linked list. Nodes live inside the objects they link,
 * so putting an object on a list never allocates: the data path relies
 * on this.
 */
#ifndef TD_LIST_H
#define TD_LIST_H

#include <stddef.h>
#include <stdbool.h>

struct td_list {
	struct td_list *next, *prev;
};

#define TD_LIST_INIT(name) { &(name), &(name) }

#define td_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Makes @l an empty list (or an unlinked node). */
static inline void td_list_init(struct td_list *l)
{
	l->next = l->prev = l;
}

/* True if @l is empty, or is a node that is on no list. */
static inline bool td_list_empty(const struct td_list *l)
{
	return l->next == l;
}

static inline void td_list__insert(struct td_list *n, struct td_list *prev,
				   struct td_list *next)
{
	n->next = next;
	n->prev = prev;
	prev->next = n;
	next->prev = n;
}

/* Appends node @n (not on any list) at the tail of @head. */
static inline void td_list_add_tail(struct td_list *n, struct td_list *head)
{
	td_list__insert(n, head->prev, head);
}

/* Inserts node @n (not on any list) at the front of @head. */
static inline void td_list_add(struct td_list *n, struct td_list *head)
{
	td_list__insert(n, head, head->next);
}

/* Unlinks @n and leaves it as an empty node, so a second del is harmless. */
static inline void td_list_del(struct td_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	td_list_init(n);
}

/* Removes and returns the first node, or NULL if @head is empty. */
static inline struct td_list *td_list_pop(struct td_list *head)
{
	struct td_list *n = head->next;

	if (n == head)
		return NULL;
	td_list_del(n);
	return n;
}

/*
 * Moves every node of @from onto @to (which must be empty) and leaves @from
 * empty: lets a caller run a batch while new nodes queue up for later.
 */
static inline void td_list_move_all(struct td_list *from, struct td_list *to)
{
	if (td_list_empty(from)) {
		td_list_init(to);
		return;
	}
	*to = *from;
	to->next->prev = to;
	to->prev->next = to;
	td_list_init(from);
}

#define td_list_entry(ptr, type, member) td_container_of(ptr, type, member)

#define td_list_for_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Safe against removal of @pos inside the loop body. */
#define td_list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
