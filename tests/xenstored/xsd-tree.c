/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-xenstored's node tree. Child lists are unsorted linked lists: test
 * trees are small, and creation order is what "directory" returns.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xsd-tree.h"

static size_t node_bytes(const struct xsd_node *n)
{
	return strlen(n->name) + 1 + n->value_len + 1 + n->perms_len;
}

static void node_free(struct xsd_node *n)
{
	free(n->name);
	free(n->value);
	free(n->perms);
	free(n);
}

/* Allocates an unlinked node; counts nothing. */
static struct xsd_node *node_new(const char *name, size_t name_len,
				 const char *perms, unsigned perms_len)
{
	struct xsd_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	td_list_init(&n->sibling);
	td_list_init(&n->children);
	n->name = strndup(name, name_len);
	n->value = calloc(1, 1);
	n->perms = malloc(perms_len ? perms_len : 1);
	if (!n->name || !n->value || !n->perms) {
		node_free(n);
		return NULL;
	}
	memcpy(n->perms, perms, perms_len);
	n->perms_len = perms_len;
	return n;
}

/* Frees @n and its subtree, uncounting them from @t. @n must be unlinked. */
static void subtree_free(struct xsd_tree *t, struct xsd_node *n)
{
	struct td_list *pos, *tmp;

	td_list_for_each_safe(pos, tmp, &n->children) {
		struct xsd_node *c = td_list_entry(pos, struct xsd_node,
						   sibling);

		td_list_del(&c->sibling);
		subtree_free(t, c);
	}
	t->nr_nodes--;
	t->bytes -= node_bytes(n);
	node_free(n);
}

static void child_link(struct xsd_tree *t, struct xsd_node *parent,
		       struct xsd_node *c)
{
	c->parent = parent;
	td_list_add_tail(&c->sibling, &parent->children);
	parent->nr_children++;
	parent->gen = ++t->gen_counter;
}

static void child_unlink(struct xsd_tree *t, struct xsd_node *c)
{
	td_list_del(&c->sibling);
	c->parent->nr_children--;
	c->parent->gen = ++t->gen_counter;
	c->parent = NULL;
}

static struct xsd_node *child_find(const struct xsd_node *n,
				   const char *name, size_t len)
{
	struct td_list *pos;

	td_list_for_each(pos, &n->children) {
		struct xsd_node *c = td_list_entry(pos, struct xsd_node,
						   sibling);

		if (strlen(c->name) == len && !memcmp(c->name, name, len))
			return c;
	}
	return NULL;
}

int xsd_tree_init(struct xsd_tree *t, unsigned max_nodes, size_t max_bytes)
{
	static const char dom0_only[] = "n0";

	memset(t, 0, sizeof(*t));
	t->max_nodes = max_nodes;
	t->max_bytes = max_bytes;
	t->root = node_new("", 0, dom0_only, sizeof(dom0_only));
	if (!t->root)
		return -ENOMEM;
	t->nr_nodes = 1;
	t->bytes = node_bytes(t->root);
	return 0;
}

void xsd_tree_destroy(struct xsd_tree *t)
{
	if (t->root)
		subtree_free(t, t->root);
	t->root = NULL;
}

static struct xsd_node *node_copy(const struct xsd_node *src)
{
	struct xsd_node *n = node_new(src->name, strlen(src->name),
				      src->perms, src->perms_len);
	char *v;

	if (!n)
		return NULL;
	v = malloc(src->value_len + 1);
	if (!v) {
		node_free(n);
		return NULL;
	}
	memcpy(v, src->value, src->value_len + 1);
	free(n->value);
	n->value = v;
	n->value_len = src->value_len;
	n->gen = src->gen;
	return n;
}

/* Copies @src's children under @dst, counting them in @t. */
static int children_copy(struct xsd_tree *t, struct xsd_node *dst,
			 const struct xsd_node *src)
{
	struct td_list *pos;

	td_list_for_each(pos, &src->children) {
		const struct xsd_node *sc = td_list_entry(pos, struct xsd_node,
							  sibling);
		struct xsd_node *c = node_copy(sc);

		if (!c)
			return -ENOMEM;
		c->parent = dst;
		td_list_add_tail(&c->sibling, &dst->children);
		dst->nr_children++;
		t->nr_nodes++;
		t->bytes += node_bytes(c);
		if (children_copy(t, c, sc))
			return -ENOMEM;
	}
	return 0;
}

int xsd_tree_clone(const struct xsd_tree *src, struct xsd_tree *dst)
{
	*dst = *src;
	dst->root = node_copy(src->root);
	if (!dst->root)
		return -ENOMEM;
	dst->nr_nodes = 1;
	dst->bytes = node_bytes(dst->root);
	if (children_copy(dst, dst->root, src->root)) {
		xsd_tree_destroy(dst);
		return -ENOMEM;
	}
	return 0;
}

struct xsd_node *xsd_tree_lookup(const struct xsd_tree *t, const char *path)
{
	struct xsd_node *n = t->root;
	const char *p = path + 1;

	while (n && *p) {
		size_t len = strcspn(p, "/");

		n = child_find(n, p, len);
		p += len;
		if (*p == '/')
			p++;
	}
	return n;
}

static void undo_create(struct xsd_tree *t, struct xsd_node *first)
{
	if (first) {
		child_unlink(t, first);
		subtree_free(t, first);
	}
}

/*
 * Finds @path, creating it and missing ancestors. *@first is the topmost
 * node created (NULL if none), so a caller can undo the lot. A node created
 * here inherits its parent's permissions, as in xenstored.
 */
static int tree_ensure(struct xsd_tree *t, const char *path,
		       struct xsd_node **out, struct xsd_node **first)
{
	struct xsd_node *n = t->root, *c;
	const char *p = path + 1;

	*first = NULL;
	while (*p) {
		size_t len = strcspn(p, "/");

		c = child_find(n, p, len);
		if (!c) {
			if (t->nr_nodes >= t->max_nodes ||
			    t->bytes + len + 2 + n->perms_len > t->max_bytes)
				goto fail_nospc;
			c = node_new(p, len, n->perms, n->perms_len);
			if (!c)
				goto fail_nomem;
			child_link(t, n, c);
			t->nr_nodes++;
			t->bytes += node_bytes(c);
			if (!*first)
				*first = c;
		}
		n = c;
		p += len;
		if (*p == '/')
			p++;
	}
	*out = n;
	return 0;

fail_nospc:
	undo_create(t, *first);
	*first = NULL;
	return -ENOSPC;
fail_nomem:
	undo_create(t, *first);
	*first = NULL;
	return -ENOMEM;
}

int xsd_tree_write(struct xsd_tree *t, const char *path, const void *val,
		   unsigned len)
{
	struct xsd_node *n, *first;
	char *v;
	int rc;

	rc = tree_ensure(t, path, &n, &first);
	if (rc)
		return rc;
	if (len > n->value_len && t->bytes + (len - n->value_len) >
	    t->max_bytes) {
		undo_create(t, first);
		return -ENOSPC;
	}
	v = malloc((size_t)len + 1);
	if (!v) {
		undo_create(t, first);
		return -ENOMEM;
	}
	memcpy(v, val, len);
	v[len] = '\0';
	t->bytes = t->bytes - n->value_len + len;
	free(n->value);
	n->value = v;
	n->value_len = len;
	return 0;
}

int xsd_tree_mkdir(struct xsd_tree *t, const char *path, bool *created)
{
	struct xsd_node *n, *first;
	int rc = tree_ensure(t, path, &n, &first);

	*created = first != NULL;
	return rc;
}

int xsd_tree_rm(struct xsd_tree *t, const char *path, bool *removed)
{
	struct xsd_node *n, *parent;
	const char *slash;
	size_t plen;
	char *ppath;

	*removed = false;
	if (!strcmp(path, "/"))
		return -EINVAL;
	n = xsd_tree_lookup(t, path);
	if (!n) {
		slash = strrchr(path, '/');
		plen = slash == path ? 1 : (size_t)(slash - path);
		ppath = strndup(path, plen);
		if (!ppath)
			return -ENOMEM;
		parent = xsd_tree_lookup(t, ppath);
		free(ppath);
		return parent ? 0 : -ENOENT;
	}
	child_unlink(t, n);
	subtree_free(t, n);
	*removed = true;
	return 0;
}

/* One entry: a letter from "rwbn" and a decimal domain id. */
static bool perm_valid(const char *s)
{
	if (!*s || !strchr("rwbn", *s))
		return false;
	s++;
	if (!*s || strlen(s) > 5)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int xsd_tree_set_perms(struct xsd_tree *t, const char *path,
		       const char *perms, unsigned len)
{
	struct xsd_node *n = xsd_tree_lookup(t, path);
	unsigned off;
	char *p;

	if (!n)
		return -ENOENT;
	if (!len || perms[len - 1] != '\0')
		return -EINVAL;
	for (off = 0; off < len; off += strlen(perms + off) + 1)
		if (!perm_valid(perms + off))
			return -EINVAL;
	if (len > n->perms_len && t->bytes + (len - n->perms_len) >
	    t->max_bytes)
		return -ENOSPC;
	p = malloc(len);
	if (!p)
		return -ENOMEM;
	memcpy(p, perms, len);
	t->bytes = t->bytes - n->perms_len + len;
	free(n->perms);
	n->perms = p;
	n->perms_len = len;
	return 0;
}

int xsd_tree_list(const struct xsd_node *n, char *buf, size_t cap)
{
	struct td_list *pos;
	size_t off = 0;

	td_list_for_each(pos, &n->children) {
		const struct xsd_node *c = td_list_entry(pos, struct xsd_node,
							 sibling);
		size_t len = strlen(c->name) + 1;

		if (len > cap - off)
			return -E2BIG;
		memcpy(buf + off, c->name, len);
		off += len;
	}
	return (int)off;
}

static void dump_escaped(FILE *f, const char *s, unsigned len)
{
	unsigned i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (isprint(c))
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

/* @path holds @n's parent's path (len bytes) and has room for any path. */
static void dump_node(const struct xsd_node *n, FILE *f, char *path,
		      size_t len, size_t cap)
{
	struct td_list *pos;
	unsigned off;
	int w;

	w = snprintf(path + len, cap - len, "%s%s",
		     len > 1 ? "/" : (len ? "" : "/"), n->name);
	if (w < 0 || (size_t)w >= cap - len)
		return;
	len += (size_t)w;
	fprintf(f, "%s = \"", path);
	dump_escaped(f, n->value, n->value_len);
	fputs("\" (", f);
	for (off = 0; off < n->perms_len; off += strlen(n->perms + off) + 1)
		fprintf(f, "%s%s", off ? "," : "", n->perms + off);
	fputs(")\n", f);
	td_list_for_each(pos, &n->children)
		dump_node(td_list_entry(pos, struct xsd_node, sibling), f,
			  path, len, cap);
}

void xsd_tree_dump(const struct xsd_tree *t, FILE *f)
{
	/* Paths are bounded by XENSTORE_ABS_PATH_MAX (3072). */
	char path[4096];

	path[0] = '\0';
	fprintf(f, "--- xenstore: %u nodes, %zu bytes ---\n", t->nr_nodes,
		t->bytes);
	if (t->root)
		dump_node(t->root, f, path, 0, sizeof(path));
	fflush(f);
}

bool xsd_path_valid(const char *path, size_t max_len)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789-/_@";
	size_t len = strlen(path);

	if (path[0] != '/' || len > max_len)
		return false;
	if (strspn(path, ok) != len || strstr(path, "//"))
		return false;
	return len == 1 || path[len - 1] != '/';
}

bool xsd_path_below(const char *top, const char *path)
{
	size_t len = strlen(top);

	if (!strcmp(top, "/"))
		return path[0] == '/';
	return !strncmp(top, path, len) &&
	       (path[len] == '\0' || path[len] == '/');
}
