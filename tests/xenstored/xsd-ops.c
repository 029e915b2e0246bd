/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-xenstored's request handlers, watches and transactions.
 *
 * Replies follow what libxenstore expects from xenstored: same type, req_id
 * and tx_id as the request; "OK\0" for requests without data; XS_ERROR
 * with an errno name from xs_wire.h's xsd_errors.
 *
 * A transaction works on a private copy of the tree (so it reads its own
 * writes and others' later writes stay invisible) and logs its changes;
 * committing replays the log on the live tree, firing watches then. There
 * is no conflict detection: a commit never fails with EAGAIN.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "xsd.h"

/* Relative paths are relative to the client's home: clients are dom0. */
#define XSD_HOME "/local/domain/0/"
#define XSD_MAX_ARGS 8

struct xsd_watch {
	struct td_list link;     /* on xsd_conn.watches */
	char *path;              /* as the client gave it */
	char *abs;               /* canonical absolute path, or "@..." */
	char *token;
};

/* One logged change of a transaction, replayed on commit. */
struct xsd_txop {
	struct td_list link;
	uint32_t type;           /* XS_WRITE, XS_MKDIR, XS_RM, XS_SET_PERMS */
	char *path;              /* canonical absolute */
	unsigned len;
	char data[];
};

struct xsd_tx {
	struct td_list link;     /* on xsd_conn.txs */
	uint32_t id;
	struct xsd_tree tree;
	struct td_list ops;
	unsigned nr_ops;
};

/* One request being handled. */
struct xsd_req {
	struct xsd_conn *c;
	const struct xsd_sockmsg *h;
	char *body;
	unsigned len;
	char *argv[XSD_MAX_ARGS];
	unsigned argc;           /* NUL-terminated strings at the start */
	bool tail;               /* bytes after the last NUL */
	struct xsd_tx *tx;       /* NULL outside a transaction */
	struct xsd_tree *tree;   /* tx's copy or the live tree */
};

static const char *errno_name(int err)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xsd_errors[i].errnum == err)
			return xsd_errors[i].errstring;
	return "EINVAL";
}

static void reply(struct xsd_req *r, const void *data, size_t len)
{
	xsd_conn_send(r->c, r->h->type, r->h->req_id, r->h->tx_id, data, len,
		      NULL, 0);
}

static void reply_ok(struct xsd_req *r)
{
	reply(r, "OK", 3);
}

/*
 * Resolves a client path into @out (XENSTORE_ABS_PATH_MAX + 1 bytes).
 * Returns 0 or -EINVAL.
 */
static int resolve(const char *in, char *out)
{
	size_t len = strlen(in);

	if (in[0] == '/') {
		if (len > XENSTORE_ABS_PATH_MAX)
			return -EINVAL;
		memcpy(out, in, len + 1);
	} else {
		if (len > XENSTORE_REL_PATH_MAX)
			return -EINVAL;
		memcpy(out, XSD_HOME, sizeof(XSD_HOME) - 1);
		memcpy(out + sizeof(XSD_HOME) - 1, in, len + 1);
	}
	return xsd_path_valid(out, XENSTORE_ABS_PATH_MAX) ? 0 : -EINVAL;
}

/* Requires exactly @n strings and nothing after them. */
static int want_args(const struct xsd_req *r, unsigned n)
{
	return r->argc == n && !r->tail ? 0 : -EINVAL;
}

static void send_event(struct xsd_conn *c, const struct xsd_watch *w,
		       const char *abs)
{
	const char *path = abs;

	/* A relative watch sees relative paths, as with xenstored. */
	if (w->path[0] != '/' && w->abs[0] == '/')
		path = abs + sizeof(XSD_HOME) - 1;
	xsd_conn_send(c, XS_WATCH_EVENT, 0, 0, path, strlen(path) + 1,
		      w->token, strlen(w->token) + 1);
}

/*
 * Fires every client's watches for a change at @path: watches at or above
 * it get @path; when a subtree was removed, watches inside it get their
 * own path. "@..." watches fire only for the same special name.
 */
static void fire(struct xsd_server *s, const char *path, bool removed)
{
	struct td_list *cp, *wp;

	td_list_for_each(cp, &s->conns) {
		struct xsd_conn *c = td_list_entry(cp, struct xsd_conn, link);

		if (c->dead)
			continue;
		td_list_for_each(wp, &c->watches) {
			struct xsd_watch *w = td_list_entry(wp,
							    struct xsd_watch,
							    link);

			if (path[0] == '@' || w->abs[0] == '@') {
				if (!strcmp(path, w->abs))
					send_event(c, w, path);
			} else if (xsd_path_below(w->abs, path)) {
				send_event(c, w, path);
			} else if (removed && xsd_path_below(path, w->abs)) {
				send_event(c, w, w->abs);
			}
		}
	}
}

/* Applies one change to @t, firing watches if @t is the live tree. */
static int apply(struct xsd_server *s, struct xsd_tree *t, uint32_t type,
		 const char *path, const char *data, unsigned len)
{
	bool changed = true;
	int rc;

	switch (type) {
	case XS_WRITE:
		rc = xsd_tree_write(t, path, data, len);
		break;
	case XS_MKDIR:
		rc = xsd_tree_mkdir(t, path, &changed);
		break;
	case XS_RM:
		rc = xsd_tree_rm(t, path, &changed);
		break;
	case XS_SET_PERMS:
		rc = xsd_tree_set_perms(t, path, data, len);
		break;
	default:
		return -EINVAL;
	}
	if (!rc && changed && t == &s->tree)
		fire(s, path, type == XS_RM);
	return rc;
}

/* A change: straight to the live tree, or to the transaction and its log. */
static int change(struct xsd_req *r, const char *path, const char *data,
		  unsigned len)
{
	struct xsd_server *s = r->c->srv;
	size_t plen = strlen(path) + 1;
	struct xsd_txop *op;
	int rc;

	if (!r->tx)
		return apply(s, &s->tree, r->h->type, path, data, len);
	if (r->tx->nr_ops >= XSD_MAX_TX_OPS)
		return -ENOSPC;
	op = malloc(sizeof(*op) + len + plen);
	if (!op)
		return -ENOMEM;
	rc = apply(s, r->tree, r->h->type, path, data, len);
	if (rc) {
		free(op);
		return rc;
	}
	op->type = r->h->type;
	op->len = len;
	memcpy(op->data, data, len);
	op->path = op->data + len;
	memcpy(op->path, path, plen);
	td_list_add_tail(&op->link, &r->tx->ops);
	r->tx->nr_ops++;
	return 0;
}

static int op_read(struct xsd_req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 1];
	struct xsd_node *n;
	int rc = want_args(r, 1) ?: resolve(r->argv[0], path);

	if (rc)
		return rc;
	n = xsd_tree_lookup(r->tree, path);
	if (!n)
		return -ENOENT;
	reply(r, n->value, n->value_len);
	return 0;
}

static int op_write(struct xsd_req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 1];
	size_t plen;
	int rc;

	/* path\0 then the value: raw bytes, not NUL-terminated. */
	if (r->argc < 1)
		return -EINVAL;
	rc = resolve(r->argv[0], path);
	if (rc)
		return rc;
	plen = strlen(r->argv[0]) + 1;
	rc = change(r, path, r->body + plen, r->len - (unsigned)plen);
	if (!rc)
		reply_ok(r);
	return rc;
}

/* XS_MKDIR and XS_RM: one path. */
static int op_path_change(struct xsd_req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 1];
	int rc = want_args(r, 1) ?: resolve(r->argv[0], path);

	if (!rc)
		rc = change(r, path, "", 0);
	if (!rc)
		reply_ok(r);
	return rc;
}

static int op_directory(struct xsd_req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 1];
	char buf[XENSTORE_PAYLOAD_MAX];
	struct xsd_node *n;
	int rc = want_args(r, 1) ?: resolve(r->argv[0], path);

	if (rc)
		return rc;
	n = xsd_tree_lookup(r->tree, path);
	if (!n)
		return -ENOENT;
	/* Too long: libxenstore then falls back to XS_DIRECTORY_PART. */
	rc = xsd_tree_list(n, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	reply(r, buf, (size_t)rc);
	return 0;
}

/*
 * Reply: the node's child-list generation, then the children from byte
 * offset argv[1] of the full list that fit, then an empty string if that
 * was the last of them. libxenstore restarts if the generation changes.
 */
static int op_directory_part(struct xsd_req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 1];
	char buf[XENSTORE_PAYLOAD_MAX];
	unsigned long off;
	size_t pos = 0, len;
	struct td_list *p;
	struct xsd_node *n;
	char *end;
	int rc = want_args(r, 2) ?: resolve(r->argv[0], path);

	if (rc)
		return rc;
	errno = 0;
	off = strtoul(r->argv[1], &end, 10);
	if (errno || *end || end == r->argv[1])
		return -EINVAL;
	n = xsd_tree_lookup(r->tree, path);
	if (!n)
		return -ENOENT;
	len = (size_t)snprintf(buf, sizeof(buf), "%" PRIu64, n->gen) + 1;
	td_list_for_each(p, &n->children) {
		const char *name = td_list_entry(p, struct xsd_node,
						 sibling)->name;
		size_t nlen = strlen(name) + 1;

		if (pos >= off) {
			/* Keep a byte for the final empty string. */
			if (len + nlen + 1 > sizeof(buf))
				break;
			memcpy(buf + len, name, nlen);
			len += nlen;
		}
		pos += nlen;
	}
	if (p == &n->children)
		buf[len++] = '\0';
	reply(r, buf, len);
	return 0;
}

static int op_get_perms(struct xsd_req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 1];
	struct xsd_node *n;
	int rc = want_args(r, 1) ?: resolve(r->argv[0], path);

	if (rc)
		return rc;
	n = xsd_tree_lookup(r->tree, path);
	if (!n)
		return -ENOENT;
	reply(r, n->perms, n->perms_len);
	return 0;
}

static int op_set_perms(struct xsd_req *r)
{
	char path[XENSTORE_ABS_PATH_MAX + 1];
	size_t plen;
	int rc;

	/* path\0 then one or more permission strings, each NUL-ended. */
	if (r->argc < 2 || r->tail)
		return -EINVAL;
	rc = resolve(r->argv[0], path);
	if (rc)
		return rc;
	plen = strlen(r->argv[0]) + 1;
	rc = change(r, path, r->body + plen, r->len - (unsigned)plen);
	if (!rc)
		reply_ok(r);
	return rc;
}

static void watch_free(struct xsd_conn *c, struct xsd_watch *w)
{
	td_list_del(&w->link);
	c->nr_watches--;
	free(w->path);
	free(w->abs);
	free(w->token);
	free(w);
}

/* Canonical form of a watch path: "@name" specials stay as they are. */
static int watch_path(const char *in, char *out)
{
	size_t len = strlen(in);
	bool ok;

	if (in[0] != '@')
		return resolve(in, out);
	if (len < 2 || len > XENSTORE_REL_PATH_MAX)
		return -EINVAL;
	/* Specials use the characters of a path component. */
	memcpy(out, in, len + 1);
	out[0] = '/';
	ok = xsd_path_valid(out, XENSTORE_ABS_PATH_MAX) && !strchr(in, '/');
	out[0] = '@';
	return ok ? 0 : -EINVAL;
}

static struct xsd_watch *watch_find(struct xsd_conn *c, const char *abs,
				    const char *token)
{
	struct td_list *p;

	td_list_for_each(p, &c->watches) {
		struct xsd_watch *w = td_list_entry(p, struct xsd_watch, link);

		if (!strcmp(w->abs, abs) && !strcmp(w->token, token))
			return w;
	}
	return NULL;
}

static int op_watch(struct xsd_req *r)
{
	char abs[XENSTORE_ABS_PATH_MAX + 1];
	struct xsd_conn *c = r->c;
	struct xsd_watch *w;
	int rc;

	/* Newer clients may append arguments (depth); ignore them. */
	if (r->argc < 2)
		return -EINVAL;
	rc = watch_path(r->argv[0], abs);
	if (rc)
		return rc;
	/* Every event (path up to the maximum, token) must fit a message. */
	if (strlen(r->argv[1]) + 1 + XENSTORE_ABS_PATH_MAX + 1 >
	    XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	if (watch_find(c, abs, r->argv[1]))
		return -EEXIST;
	if (c->nr_watches >= XSD_MAX_WATCHES)
		return -E2BIG;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->path = strdup(r->argv[0]);
	w->abs = strdup(abs);
	w->token = strdup(r->argv[1]);
	td_list_add_tail(&w->link, &c->watches);
	c->nr_watches++;
	if (!w->path || !w->abs || !w->token) {
		watch_free(c, w);
		return -ENOMEM;
	}
	reply_ok(r);
	/* xenstored fires every new watch once, with the path as given. */
	xsd_conn_send(c, XS_WATCH_EVENT, 0, 0, w->path, strlen(w->path) + 1,
		      w->token, strlen(w->token) + 1);
	return 0;
}

static int op_unwatch(struct xsd_req *r)
{
	char abs[XENSTORE_ABS_PATH_MAX + 1];
	struct xsd_watch *w;
	int rc = want_args(r, 2) ?: watch_path(r->argv[0], abs);

	if (rc)
		return rc;
	w = watch_find(r->c, abs, r->argv[1]);
	if (!w)
		return -ENOENT;
	watch_free(r->c, w);
	reply_ok(r);
	return 0;
}

static void tx_free(struct xsd_conn *c, struct xsd_tx *tx)
{
	struct td_list *p, *tmp;

	td_list_for_each_safe(p, tmp, &tx->ops) {
		td_list_del(p);
		free(td_list_entry(p, struct xsd_txop, link));
	}
	xsd_tree_destroy(&tx->tree);
	td_list_del(&tx->link);
	c->nr_txs--;
	c->srv->nr_txs--;
	free(tx);
}

static int op_tx_start(struct xsd_req *r)
{
	struct xsd_server *s = r->c->srv;
	char id[16];
	struct xsd_tx *tx;
	int rc = want_args(r, 1);

	if (rc)
		return rc;
	if (r->h->tx_id)
		return -EBUSY;
	if (r->c->nr_txs >= XSD_MAX_TXS || s->nr_txs >= XSD_MAX_TXS_TOTAL)
		return -ENOSPC;
	tx = calloc(1, sizeof(*tx));
	if (!tx)
		return -ENOMEM;
	if (xsd_tree_clone(&s->tree, &tx->tree)) {
		free(tx);
		return -ENOMEM;
	}
	td_list_init(&tx->ops);
	tx->id = s->next_tx_id++;
	if (!s->next_tx_id)
		s->next_tx_id = 1;
	td_list_add_tail(&tx->link, &r->c->txs);
	r->c->nr_txs++;
	s->nr_txs++;
	reply(r, id, (size_t)snprintf(id, sizeof(id), "%" PRIu32, tx->id) + 1);
	return 0;
}

static int op_tx_end(struct xsd_req *r)
{
	struct xsd_server *s = r->c->srv;
	struct td_list *p;
	bool commit;
	int rc = want_args(r, 1), err = 0;

	if (rc)
		return rc;
	if (!r->tx)
		return -ENOENT;
	if (!strcmp(r->argv[0], "T"))
		commit = true;
	else if (!strcmp(r->argv[0], "F"))
		commit = false;
	else
		return -EINVAL;
	if (commit) {
		/* Replay; the first failure (quota) is reported, no undo. */
		td_list_for_each(p, &r->tx->ops) {
			struct xsd_txop *op = td_list_entry(p, struct xsd_txop,
							    link);

			rc = apply(s, &s->tree, op->type, op->path, op->data,
				   op->len);
			if (rc && rc != -ENOENT && !err)
				err = rc;
		}
	}
	tx_free(r->c, r->tx);
	if (!err)
		reply_ok(r);
	return err;
}

static int parse_domid(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 0x7fff || s[0] == '-')
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int op_get_domain_path(struct xsd_req *r)
{
	char buf[32];
	unsigned domid;
	int rc = want_args(r, 1) ?: parse_domid(r->argv[0], &domid);

	if (rc)
		return rc;
	reply(r, buf, (size_t)snprintf(buf, sizeof(buf), "/local/domain/%u",
				       domid) + 1);
	return 0;
}

/* INTRODUCE, RELEASE, RESUME, SET_TARGET: domid first; nothing to do. */
static int op_domain(struct xsd_req *r)
{
	static const unsigned nargs[XS_TYPE_COUNT] = {
		[XS_INTRODUCE] = 3, [XS_RELEASE] = 1, [XS_RESUME] = 1,
		[XS_SET_TARGET] = 2,
	};
	unsigned domid;
	int rc;

	if (r->argc < nargs[r->h->type] || r->tail)
		return -EINVAL;
	rc = parse_domid(r->argv[0], &domid);
	if (rc)
		return rc;
	reply_ok(r);
	if (r->h->type == XS_INTRODUCE)
		fire(r->c->srv, "@introduceDomain", false);
	else if (r->h->type == XS_RELEASE)
		fire(r->c->srv, "@releaseDomain", false);
	return 0;
}

static int op_is_introduced(struct xsd_req *r)
{
	unsigned domid;
	int rc = want_args(r, 1) ?: parse_domid(r->argv[0], &domid);

	if (!rc)
		reply(r, "T", 2);
	return rc;
}

static void conn_reset(struct xsd_conn *c)
{
	struct td_list *p, *tmp;

	td_list_for_each_safe(p, tmp, &c->watches)
		watch_free(c, td_list_entry(p, struct xsd_watch, link));
	td_list_for_each_safe(p, tmp, &c->txs)
		tx_free(c, td_list_entry(p, struct xsd_tx, link));
}

static int op_reset_watches(struct xsd_req *r)
{
	conn_reset(r->c);
	reply_ok(r);
	return 0;
}

/* XS_CONTROL is accepted and ignored. */
static int op_control(struct xsd_req *r)
{
	reply_ok(r);
	return 0;
}

struct xsd_op {
	const char *name;
	int (*fn)(struct xsd_req *r);
	bool in_tx;              /* honours tx_id */
};

static const struct xsd_op ops[XS_TYPE_COUNT] = {
	[XS_CONTROL] = { "CONTROL", op_control, false },
	[XS_DIRECTORY] = { "DIRECTORY", op_directory, true },
	[XS_READ] = { "READ", op_read, true },
	[XS_GET_PERMS] = { "GET_PERMS", op_get_perms, true },
	[XS_WATCH] = { "WATCH", op_watch, false },
	[XS_UNWATCH] = { "UNWATCH", op_unwatch, false },
	[XS_TRANSACTION_START] = { "TRANSACTION_START", op_tx_start, false },
	[XS_TRANSACTION_END] = { "TRANSACTION_END", op_tx_end, true },
	[XS_INTRODUCE] = { "INTRODUCE", op_domain, false },
	[XS_RELEASE] = { "RELEASE", op_domain, false },
	[XS_GET_DOMAIN_PATH] = { "GET_DOMAIN_PATH", op_get_domain_path,
				 false },
	[XS_WRITE] = { "WRITE", op_write, true },
	[XS_MKDIR] = { "MKDIR", op_path_change, true },
	[XS_RM] = { "RM", op_path_change, true },
	[XS_SET_PERMS] = { "SET_PERMS", op_set_perms, true },
	[XS_IS_DOMAIN_INTRODUCED] = { "IS_DOMAIN_INTRODUCED", op_is_introduced,
				      false },
	[XS_RESUME] = { "RESUME", op_domain, false },
	[XS_SET_TARGET] = { "SET_TARGET", op_domain, false },
	[XS_RESET_WATCHES] = { "RESET_WATCHES", op_reset_watches, false },
	[XS_DIRECTORY_PART] = { "DIRECTORY_PART", op_directory_part, true },
};

/* Splits the leading NUL-terminated strings of the body. */
static void split_args(struct xsd_req *r)
{
	unsigned off = 0;

	while (off < r->len) {
		char *nul = memchr(r->body + off, '\0', r->len - off);

		if (!nul) {
			r->tail = true;
			return;
		}
		if (r->argc < XSD_MAX_ARGS)
			r->argv[r->argc++] = r->body + off;
		off = (unsigned)(nul - r->body) + 1;
	}
}

static int find_tx(struct xsd_req *r)
{
	struct td_list *p;

	r->tree = &r->c->srv->tree;
	if (!r->h->tx_id || !ops[r->h->type].in_tx)
		return 0;
	td_list_for_each(p, &r->c->txs) {
		struct xsd_tx *tx = td_list_entry(p, struct xsd_tx, link);

		if (tx->id == r->h->tx_id) {
			r->tx = tx;
			r->tree = &tx->tree;
			return 0;
		}
	}
	return -ENOENT;
}

void xsd_ops_handle(struct xsd_conn *c, const struct xsd_sockmsg *h,
		    char *body)
{
	struct xsd_req r = { .c = c, .h = h, .body = body, .len = h->len };
	const char *name = "?";
	int rc;

	if (h->type < XS_TYPE_COUNT && ops[h->type].fn) {
		name = ops[h->type].name;
		split_args(&r);
		rc = find_tx(&r) ?: ops[h->type].fn(&r);
	} else {
		/* Unknown, or a daemon-to-client type (WATCH_EVENT, ERROR). */
		rc = h->type == XS_WATCH_EVENT || h->type == XS_ERROR ?
			     -EINVAL : -ENOSYS;
	}
	if (rc) {
		const char *e = errno_name(-rc);

		xsd_conn_send(c, XS_ERROR, h->req_id, h->tx_id, e,
			      strlen(e) + 1, NULL, 0);
	}
	if (c->srv->cfg.verbose)
		xsd_log(c->srv, "conn %u: %s(%u) tx %u \"%.64s\" -> %s", c->id,
			name, h->type, h->tx_id, r.argc ? r.argv[0] : "",
			rc ? errno_name(-rc) : "OK");
}

void xsd_ops_conn_release(struct xsd_conn *c)
{
	conn_reset(c);
}
