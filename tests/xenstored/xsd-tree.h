/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The node tree of td-xenstored, the test xenstore daemon: a plain in-memory
 * tree of named nodes, each with a value (arbitrary bytes) and a permission
 * list (stored and returned, never enforced). No protocol, no watches: the
 * caller (xsd-ops.c) turns wire requests into these calls and fires watches
 * after a change succeeds.
 *
 * Paths given to these functions are canonical absolute paths that passed
 * xsd_path_valid(): "/" or "/a/b" (no trailing or doubled '/').
 *
 * Memory is bounded per tree: at most max_nodes nodes and max_bytes bytes of
 * names, values and permissions; an operation that would exceed either fails
 * with -ENOSPC and changes nothing. Single-threaded; a tree is owned by
 * whoever called xsd_tree_init (the server for the live tree, a transaction
 * for its private copy).
 */
#ifndef TD_XSD_TREE_H
#define TD_XSD_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "td-list.h"

struct xsd_node {
	struct xsd_node *parent;   /* NULL for the root */
	struct td_list sibling;    /* on parent->children, creation order */
	struct td_list children;
	unsigned nr_children;
	uint64_t gen;              /* changes whenever the child list does */
	char *name;                /* last component; "" for the root */
	char *value;               /* value_len bytes plus a NUL, never NULL */
	unsigned value_len;
	char *perms;               /* perms_len bytes: NUL-terminated strings */
	unsigned perms_len;
};

struct xsd_tree {
	struct xsd_node *root;
	unsigned nr_nodes;
	size_t bytes;              /* accounted names + values + perms */
	unsigned max_nodes;
	size_t max_bytes;
	uint64_t gen_counter;      /* source of xsd_node.gen */
};

/*
 * Makes an empty tree holding only "/" with value "" and permissions "n0"
 * (dom0 owns it, nobody else may read or write: what xenstored starts with).
 * Returns 0 or -ENOMEM.
 */
int xsd_tree_init(struct xsd_tree *t, unsigned max_nodes, size_t max_bytes);

/* Frees every node. Safe on a tree whose init failed (root NULL). */
void xsd_tree_destroy(struct xsd_tree *t);

/*
 * Deep-copies @src into @dst (uninitialised), with @src's limits. Used for
 * a transaction's private view. Returns 0 or -ENOMEM; on failure @dst holds
 * nothing to free.
 */
int xsd_tree_clone(const struct xsd_tree *src, struct xsd_tree *dst);

/* Returns the node at @path, or NULL. The node belongs to the tree. */
struct xsd_node *xsd_tree_lookup(const struct xsd_tree *t, const char *path);

/*
 * Sets @path's value to @len bytes at @val, creating it and any missing
 * ancestors (with empty values and the permissions of their parent).
 * Returns 0, -ENOSPC (limits) or -ENOMEM.
 */
int xsd_tree_write(struct xsd_tree *t, const char *path, const void *val,
		   unsigned len);

/*
 * Creates @path (and missing ancestors) with an empty value unless it
 * exists. *@created says whether anything changed. Returns 0, -ENOSPC or
 * -ENOMEM.
 */
int xsd_tree_mkdir(struct xsd_tree *t, const char *path, bool *created);

/*
 * Removes @path and everything below it. A missing node whose parent exists
 * is success with *@removed false (xenstored's rule); a missing parent is
 * -ENOENT; "/" is -EINVAL.
 */
int xsd_tree_rm(struct xsd_tree *t, const char *path, bool *removed);

/*
 * Replaces @path's permission list with @len bytes at @perms, which must
 * be one or more NUL-terminated entries of a letter from "rwbn" followed
 * by a decimal domain id (xenstored's text form, e.g. "n0\0r5\0").
 * Returns 0, -ENOENT, -EINVAL (bad list), -ENOSPC or -ENOMEM.
 */
int xsd_tree_set_perms(struct xsd_tree *t, const char *path,
		       const char *perms, unsigned len);

/*
 * Packs the names of @n's children, each NUL-terminated, into @buf.
 * Returns the byte count, or -E2BIG if it would exceed @cap.
 */
int xsd_tree_list(const struct xsd_node *n, char *buf, size_t cap);

/*
 * Writes one line per node to @f, depth first: the path, the value (C-style
 * escaped) and the permissions. For debugging (SIGUSR1); never fails.
 */
void xsd_tree_dump(const struct xsd_tree *t, FILE *f);

/*
 * True if @path is a canonical absolute path xenstored would accept: starts
 * with '/', only [A-Za-z0-9_@/-], no "//", no trailing '/' (except "/"),
 * at most @max_len bytes.
 */
bool xsd_path_valid(const char *path, size_t max_len);

/* True if @path is @top or lies below it ("/a/b" is below "/a", "/ab" is
 * not; everything is below "/"). */
bool xsd_path_below(const char *top, const char *path);

#endif
