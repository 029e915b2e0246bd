/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The image layer: opening chains, the checks every request passes before a
 * driver sees it, and forwarding of unowned read ranges to the parent.
 *
 * Completions the core makes itself (errors, zero-filled reads) and those
 * of drivers that finish requests inside submit are queued and run from a
 * deferred loop call (td_image_complete_later), never inside
 * td_image_submit or td_image_forward, so no caller is re-entered by its
 * own completion.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "image.h"
#include "loop.h"
#include "td-log.h"

/* Longest chain accepted, leaf included; deeper means a bad or hostile file. */
#define TD_CHAIN_MAX 64

/* Sanity bound on ctx->depth, which sizes allocations. */
#define TD_IMAGE_MAX_DEPTH 65536u

/*
 * Core-private state, allocated around every image by td_image_open so the
 * public struct stays what drivers need to see.
 */
struct td_image_core {
	struct td_image img;
	struct td_loop_defer defer; /* runs done_q */
	struct td_list done_q;      /* td_req.link: td_image_complete_later */
	struct iovec *fwd_iov;      /* TD_REQ_MAX_IOV entries per pool entry */
	bool fwd_wanted;            /* -EBUSY given since the last free */
	bool cached;                /* on ctx.cache through img.link */
	bool has_id;                /* the file's identity and version: */
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime; /* as stat'ed just before the open */
	off_t size;
};

/* True if @ops is new enough to have @field and sets it. */
#define OPS_HAS(ops, field)                                           \
	((ops)->size >= offsetof(struct td_driver_ops, field) +       \
				sizeof((ops)->field) && (ops)->field)

static struct td_image_core *core_of(struct td_image *img)
{
	return td_container_of(img, struct td_image_core, img);
}

static void core_run_done(struct td_loop_defer *d)
{
	struct td_image_core *c = d->arg;
	struct td_list local, *n;

	/*
	 * Move the queue to the stack first: a done callback may queue new
	 * work (which re-arms the defer) or, after the last request, close
	 * the image, so @c must not be touched once the first one runs.
	 */
	if (td_list_empty(&c->done_q))
		return;
	td_list_move_all(&c->done_q, &local);

	while ((n = td_list_pop(&local))) {
		struct td_req *req = td_list_entry(n, struct td_req, link);

		td_req_complete(req, req->err);
	}
}

void td_image_complete_later(struct td_image *img, struct td_req *req,
			     int err)
{
	struct td_image_core *c = core_of(img);

	/* Every caller completes whole requests, never one with parts. */
	assert(req->pending == 0);
	req->err = err;
	td_list_add_tail(&req->link, &c->done_q);
	td_loop_defer(img->ctx.loop, &c->defer);
}

int td_image_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v = 0, mul = 1;

	if (!s || !bytes || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	switch (*s) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ull << 10;
		break;
	case 'm': case 'M':
		mul = 1ull << 20;
		break;
	case 'g': case 'G':
		mul = 1ull << 30;
		break;
	case 't': case 'T':
		mul = 1ull << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*s && s[1])
		return -EINVAL;
	if (!v)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*bytes = v * mul;
	return 0;
}

int td_image_parse_spec(const char *spec, char *type, size_t tlen,
			const char **path)
{
	const char *colon;
	size_t n;

	if (!spec || !type || !path)
		return -EINVAL;
	colon = strchr(spec, ':');
	if (!colon || colon == spec || colon[1] == '\0')
		return -EINVAL;
	n = (size_t)(colon - spec);
	if (n >= tlen || strlen(colon + 1) >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(type, spec, n);
	type[n] = '\0';
	*path = colon + 1;
	return 0;
}

static void image_free(struct td_image_core *c)
{
	free(c->img.priv);
	free(c->img.fwd_pool);
	free(c->fwd_iov);
	free(c);
}

/* Allocates the forward pool and its iovec storage, once, at open. */
static int pool_alloc(struct td_image_core *c, unsigned depth)
{
	struct td_image *img = &c->img;
	unsigned i;

	img->fwd_pool = calloc(depth, sizeof(*img->fwd_pool));
	c->fwd_iov = calloc((size_t)depth * TD_REQ_MAX_IOV,
			    sizeof(*c->fwd_iov));
	if (!img->fwd_pool || !c->fwd_iov)
		return -ENOMEM;
	for (i = 0; i < depth; i++) {
		struct td_req *sub = &img->fwd_pool[i];

		sub->iov = &c->fwd_iov[(size_t)i * TD_REQ_MAX_IOV];
		td_list_add_tail(&sub->link, &img->fwd_free);
	}
	img->fwd_count = depth;
	return 0;
}

int td_image_open(const struct td_driver_ops *ops, const char *path,
		  unsigned flags, const struct td_image_ctx *ctx,
		  struct td_image **out)
{
	struct td_image_core *c;
	struct td_image *img;
	int rc;

	if (!ops || ops->size < offsetof(struct td_driver_ops, forward_ready) ||
	    !ops->open || !ops->close || !ops->submit || !path || !ctx ||
	    !ctx->loop || !ctx->depth || ctx->depth > TD_IMAGE_MAX_DEPTH ||
	    !out)
		return -EINVAL;
	if (strlen(path) >= sizeof(img->path))
		return -ENAMETOOLONG;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	img = &c->img;
	img->ops = ops;
	snprintf(img->path, sizeof(img->path), "%s", path);
	img->flags = flags;
	img->caps = ops->caps;
	img->ctx = *ctx;
	img->refs = 1;
	td_list_init(&img->fwd_free);
	td_list_init(&img->link);
	td_list_init(&c->done_q);
	td_list_init(&c->defer.link);
	c->defer.cb = core_run_done;
	c->defer.arg = c;

	rc = pool_alloc(c, ctx->depth);
	if (!rc && ops->priv_size && !(img->priv = calloc(1, ops->priv_size)))
		rc = -ENOMEM;
	if (!rc)
		rc = ops->open(img);
	if (rc) {
		image_free(c);
		return rc;
	}
	/* A driver may narrow its caps, never widen them. */
	img->caps &= ops->caps;
	if (flags & TD_OPEN_RDONLY)
		img->caps &= ~(TD_CAP_DISCARD | TD_CAP_WRITE_ZEROES |
			       TD_CAP_SECURE_DISCARD);
	*out = img;
	return 0;
}

void td_image_close(struct td_image *img)
{
	/* Iterative, so a 64-deep chain does not recurse. */
	while (img) {
		struct td_image *parent = img->parent;
		struct td_image_core *c = core_of(img);

		assert(img->refs > 0);
		if (--img->refs > 0)
			return;
		if (c->cached)
			td_list_del(&img->link);
		assert(td_list_empty(&c->done_q));
		td_loop_defer_cancel(img->ctx.loop, &c->defer);
		img->ops->close(img);
#ifndef NDEBUG
		{
			unsigned nfree = 0;
			struct td_list *pos;

			td_list_for_each(pos, &img->fwd_free)
				nfree++;
			assert(nfree == img->fwd_count &&
			       "image closed with forwards in flight");
		}
#endif
		image_free(c);
		img = parent;
	}
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Identity of the files already in a chain, to refuse loops. */
struct chain_seen {
	unsigned n;
	dev_t dev[TD_CHAIN_MAX + 1];
	ino_t ino[TD_CHAIN_MAX + 1];
};

static void known_types(char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; td_drivers[i] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? ", " : "", td_drivers[i]->name);
}

static bool seen_has(const struct chain_seen *seen, dev_t dev, ino_t ino)
{
	unsigned i;

	for (i = 0; i < seen->n; i++)
		if (seen->dev[i] == dev && seen->ino[i] == ino)
			return true;
	return false;
}

/*
 * A parent of driver @ops already open read-only in @ctx->cache for the
 * file @st, with the same flags, or NULL. The file must not have changed
 * since that open: a parent written meanwhile (vhd-util coalesce of its
 * child into it, after which the storage manager re-points grandchildren
 * at it and unpauses their VBDs) would be seen through tables read before
 * the write, so a changed file is opened afresh instead.
 */
static struct td_image *cache_find(const struct td_image_ctx *ctx,
				   const struct td_driver_ops *ops,
				   unsigned flags, const struct stat *st)
{
	struct td_list *pos;

	if (!ctx->cache || !(flags & TD_OPEN_PARENT))
		return NULL;
	td_list_for_each(pos, ctx->cache) {
		struct td_image *img = td_list_entry(pos, struct td_image,
						     link);
		struct td_image_core *c = core_of(img);

		if (img->ops == ops && img->flags == flags &&
		    c->dev == st->st_dev && c->ino == st->st_ino &&
		    c->size == st->st_size &&
		    c->mtime.tv_sec == st->st_mtim.tv_sec &&
		    c->mtime.tv_nsec == st->st_mtim.tv_nsec &&
		    c->ctime.tv_sec == st->st_ctim.tv_sec &&
		    c->ctime.tv_nsec == st->st_ctim.tv_nsec)
			return img;
	}
	return NULL;
}

/*
 * Takes a reference to the cached parent @img for a chain that is @depth
 * images deep above it, after checking that @img's own chain (opened for
 * another VBD, perhaps from files changed since) neither loops back into
 * this one nor makes it too long.
 */
static int cache_share(struct td_image *img, unsigned depth,
		       const struct chain_seen *seen, const char *spec,
		       char *err, size_t errlen)
{
	struct td_image *p;

	for (p = img; p; p = p->parent, depth++) {
		struct td_image_core *c = core_of(p);

		if (depth >= TD_CHAIN_MAX) {
			seterr(err, errlen,
			       "%s: image chain longer than %d images", spec,
			       TD_CHAIN_MAX);
			return -ELOOP;
		}
		if (p != img && c->has_id && seen_has(seen, c->dev, c->ino)) {
			seterr(err, errlen,
			       "%s: image chain loops back to an image already in it",
			       spec);
			return -ELOOP;
		}
	}
	img->refs++;
	return 0;
}

/*
 * Opens one link of a chain named by @spec, the @depth'th image; fills
 * @err on failure. Returns 1 if *@out is a shared parent whose own chain
 * is already open.
 */
static int open_link(const char *spec, unsigned flags, unsigned depth,
		     const struct td_image_ctx *ctx, struct chain_seen *seen,
		     struct td_image **out, char *err, size_t errlen)
{
	const struct td_driver_ops *ops;
	char type[32], known[128];
	struct td_image *img;
	const char *path;
	struct stat st;
	bool has_id;
	int rc;

	rc = td_image_parse_spec(spec, type, sizeof(type), &path);
	if (rc) {
		seterr(err, errlen, "%s: invalid image spec, want TYPE:PATH",
		       spec);
		return rc;
	}
	ops = td_driver_lookup(type);
	if (!ops) {
		known_types(known, sizeof(known));
		seterr(err, errlen, "%s: unknown image type '%s' (known: %s)",
		       spec, type, known);
		return -EINVAL;
	}
	/*
	 * Paths that are not files (a ram size) cannot form a loop; a file
	 * that cannot be stat'ed is left for the driver's open to report.
	 */
	has_id = stat(path, &st) == 0;
	if (has_id) {
		if (seen_has(seen, st.st_dev, st.st_ino)) {
			seterr(err, errlen,
			       "%s: image chain loops back to an image already in it",
			       spec);
			return -ELOOP;
		}
		seen->dev[seen->n] = st.st_dev;
		seen->ino[seen->n] = st.st_ino;
		seen->n++;
		img = cache_find(ctx, ops, flags, &st);
		if (img) {
			rc = cache_share(img, depth, seen, spec, err, errlen);
			if (rc)
				return rc;
			*out = img;
			return 1;
		}
	}
	rc = td_image_open(ops, path, flags, ctx, out);
	if (rc) {
		seterr(err, errlen, "%s: %s", spec, strerror(-rc));
		return rc;
	}
	/*
	 * Identity from the path checked above: a file renamed over it in
	 * between is the driver's to notice (the vhd driver compares the
	 * inode it validated), and at worst this parent is not shared.
	 */
	if (has_id) {
		struct td_image_core *c = core_of(*out);

		c->has_id = true;
		c->dev = st.st_dev;
		c->ino = st.st_ino;
		c->size = st.st_size;
		c->mtime = st.st_mtim;
		c->ctime = st.st_ctim;
		if (ctx->cache && (flags & TD_OPEN_PARENT)) {
			td_list_add_tail(&(*out)->link, ctx->cache);
			c->cached = true;
		}
	}
	return 0;
}

/*
 * Opens the parent of @cur, if any, and links it. Returns 1 at chain end,
 * which a shared parent is too (its own parents are already open).
 */
static int open_parent(struct td_image *cur, unsigned depth, unsigned flags,
		       const struct td_image_ctx *ctx, struct chain_seen *seen,
		       char *err, size_t errlen)
{
	char pspec[PATH_MAX + 32];
	struct td_image *parent;
	int rc, shared;

	if (!cur->ops->get_parent)
		return 1;
	rc = cur->ops->get_parent(cur, pspec, sizeof(pspec));
	if (rc == -ENOENT)
		return 1;
	if (rc) {
		seterr(err, errlen, "%s:%s: cannot read its parent: %s",
		       cur->ops->name, cur->path, strerror(-rc));
		return rc;
	}
	if (depth >= TD_CHAIN_MAX) {
		seterr(err, errlen,
		       "%s:%s: image chain longer than %d images",
		       cur->ops->name, cur->path, TD_CHAIN_MAX);
		return -ELOOP;
	}
	shared = open_link(pspec,
			   TD_OPEN_RDONLY | TD_OPEN_PARENT |
				   (flags & TD_OPEN_NO_O_DIRECT),
			   depth, ctx, seen, &parent, err, errlen);
	if (shared < 0)
		return shared;
	cur->parent = parent; /* from here, closing cur closes parent */
	if (cur->ops->validate_parent) {
		rc = cur->ops->validate_parent(cur, parent);
		if (rc) {
			seterr(err, errlen,
			       "%s:%s: parent %s does not match it: %s",
			       cur->ops->name, cur->path, pspec,
			       strerror(-rc));
			return rc;
		}
	}
	return shared;
}

int td_image_open_chain(const char *spec, unsigned flags,
			const struct td_image_ctx *ctx, struct td_image **leaf,
			char *err, size_t errlen)
{
	struct chain_seen seen = { 0 };
	struct td_image *img, *cur;
	unsigned depth = 1;
	int rc;

	seterr(err, errlen, "%s", "");
	if (!spec || !leaf)
		return -EINVAL;
	/* the leaf is never shared: it is not opened as a parent */
	rc = open_link(spec, flags & ~TD_OPEN_PARENT, 0, ctx, &seen, &img,
		       err, errlen);
	if (rc)
		return rc;
	for (cur = img;; cur = cur->parent, depth++) {
		rc = open_parent(cur, depth, flags, ctx, &seen, err, errlen);
		if (rc == 1)
			break;
		if (rc) {
			td_image_close(img);
			return rc;
		}
	}
	*leaf = img;
	return 0;
}

static uint64_t iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* The checks every request passes before a driver sees it. */
static int check_req(const struct td_image *img, const struct td_req *req)
{
	uint64_t nr = req->nr_sectors;

	switch (req->op) {
	case TD_OP_READ:
	case TD_OP_WRITE:
		if (!nr || nr > (UINT64_MAX >> TD_SECTOR_SHIFT) || !req->iov ||
		    req->iovcnt <= 0 || req->iovcnt > TD_REQ_MAX_IOV ||
		    iov_total(req->iov, req->iovcnt) != td_req_bytes(req))
			return -EINVAL;
		break;
	case TD_OP_FLUSH:
		return 0;
	case TD_OP_DISCARD:
		if (!(img->caps & TD_CAP_DISCARD) ||
		    ((req->flags & TD_REQ_DISCARD_SECURE) &&
		     !(img->caps & TD_CAP_SECURE_DISCARD)))
			return -EOPNOTSUPP;
		if (!nr)
			return -EINVAL;
		break;
	case TD_OP_WRITE_ZEROES:
		if (!(img->caps & TD_CAP_WRITE_ZEROES))
			return -EOPNOTSUPP;
		if (!nr)
			return -EINVAL;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (req->sector > UINT64_MAX - nr)
		return -EINVAL;
	if (req->op != TD_OP_READ) {
		if (img->flags & TD_OPEN_RDONLY)
			return -EROFS;
		if (req->sector + nr > img->size_sectors)
			return -ENOSPC;
	}
	return 0;
}

static struct td_req *pool_get(struct td_image *img)
{
	struct td_list *n = td_list_pop(&img->fwd_free);

	return n ? td_list_entry(n, struct td_req, link) : NULL;
}

static void fwd_done(struct td_req *sub, int err)
{
	struct td_image *img = sub->owner;
	struct td_req *req = sub->parent_req;
	struct td_image_core *c = core_of(img);

	sub->parent_req = NULL;
	td_list_add(&sub->link, &img->fwd_free);
	/*
	 * Tell a waiting driver before ending the part: once the part ends
	 * @req may complete and its owner may close the chain. A driver that
	 * kept a range still holds its own request open, so @img is alive.
	 */
	if (c->fwd_wanted) {
		c->fwd_wanted = false;
		if (OPS_HAS(img->ops, forward_ready))
			img->ops->forward_ready(img);
	}
	td_req_part_end(req, err);
}

/* Prepares pool entry @sub to carry a part of @req, pool of @img. */
static void sub_init(struct td_image *img, struct td_req *sub,
		     struct td_req *req)
{
	struct td_image_core *c = core_of(img);

	sub->op = TD_OP_READ;
	sub->flags = 0;
	sub->iov = &c->fwd_iov[(size_t)(sub - img->fwd_pool) * TD_REQ_MAX_IOV];
	sub->iovcnt = 0;
	sub->done = fwd_done;
	sub->owner = img;
	sub->vbd = req->vbd;
	sub->parent_req = req;
	sub->pending = 0;
	sub->err = 0;
	sub->img = NULL;
	sub->drv_priv = NULL;
}

/* Fills @sub with [@off, +@nr sectors) of @req's buffer, at @sector. */
static int sub_slice(struct td_req *sub, const struct td_req *req,
		     uint64_t sector, uint64_t nr, uint64_t off)
{
	int n = td_req_slice_iov(req, off, nr << TD_SECTOR_SHIFT, sub->iov,
				 TD_REQ_MAX_IOV);

	if (n < 0)
		return n;
	sub->sector = sector;
	sub->nr_sectors = nr;
	sub->iovcnt = n;
	return 0;
}

/*
 * A read reaching past the end of @img: zero the tail and read the head
 * through a sub-request of @img's own pool. Only callers that do not bound
 * requests to the image get here (forwards are bounded by
 * td_image_forward, the VBD bounds to the leaf), so running out of pool
 * fails the read with -EBUSY rather than queueing.
 */
static void read_past_end(struct td_image *img, struct td_req *req)
{
	uint64_t in = req->sector < img->size_sectors ?
			      img->size_sectors - req->sector : 0;
	struct td_req *sub;

	td_req_zero(req, in << TD_SECTOR_SHIFT,
		    (req->nr_sectors - in) << TD_SECTOR_SHIFT);
	if (!in) {
		td_image_complete_later(img, req, 0);
		return;
	}
	sub = pool_get(img);
	if (!sub) {
		td_image_complete_later(img, req, -EBUSY);
		return;
	}
	sub_init(img, sub, req);
	/* Cannot fail: the range is inside a buffer already checked. */
	sub_slice(sub, req, req->sector, in, 0);
	td_req_part_begin(req);
	sub->img = img;
	img->ops->submit(img, sub);
}

void td_image_submit(struct td_image *img, struct td_req *req)
{
	int rc;

	req->img = img;
	req->err = 0;
	req->pending = 0;
	req->drv_priv = NULL;

	rc = check_req(img, req);
	if (rc) {
		td_image_complete_later(img, req, rc);
		return;
	}
	switch (req->op) {
	case TD_OP_READ:
		img->st_reads++;
		img->st_rd_sectors += req->nr_sectors;
		if (req->sector + req->nr_sectors > img->size_sectors) {
			read_past_end(img, req);
			return;
		}
		break;
	case TD_OP_WRITE:
		img->st_writes++;
		img->st_wr_sectors += req->nr_sectors;
		break;
	case TD_OP_FLUSH:
		/* Nothing volatile to flush. */
		if (!(img->caps & TD_CAP_FLUSH)) {
			td_image_complete_later(img, req, 0);
			return;
		}
		break;
	default:
		break;
	}
	img->ops->submit(img, req);
}

int td_image_forward(struct td_image *img, struct td_req *req,
		     uint64_t sector, uint64_t nr, uint64_t buf_off)
{
	struct td_image *parent = img->parent;
	struct td_req *sub;
	uint64_t in = 0, total;
	int rc;

	if (req->op != TD_OP_READ || !nr ||
	    nr > (UINT64_MAX >> TD_SECTOR_SHIFT) || sector > UINT64_MAX - nr)
		return -EINVAL;
	total = iov_total(req->iov, req->iovcnt);
	if (buf_off > total || (nr << TD_SECTOR_SHIFT) > total - buf_off)
		return -EINVAL;

	sub = pool_get(img);
	if (!sub) {
		core_of(img)->fwd_wanted = true;
		return -EBUSY;
	}
	sub_init(img, sub, req);
	if (parent && sector < parent->size_sectors)
		in = parent->size_sectors - sector < nr ?
			     parent->size_sectors - sector : nr;
	if (in) {
		rc = sub_slice(sub, req, sector, in, buf_off);
		if (rc) {
			td_list_add(&sub->link, &img->fwd_free);
			return rc;
		}
	}
	/* Past the end of the chain reads as zeros. */
	if (in < nr)
		td_req_zero(req, buf_off + (in << TD_SECTOR_SHIFT),
			    (nr - in) << TD_SECTOR_SHIFT);
	td_req_part_begin(req);
	img->st_forwarded++;
	if (!in) {
		/* The sub-request only carries the part's end to later. */
		sub->img = img;
		td_image_complete_later(img, sub, 0);
		return 0;
	}
	td_image_submit(parent, sub);
	return 0;
}

void td_image_stats(struct td_image *img, struct td_stats_sink *sink)
{
	sink->str(sink, "driver", img->ops->name);
	sink->str(sink, "path", img->path);
	sink->u64(sink, "size_sectors", img->size_sectors);
	sink->u64(sink, "reads", img->st_reads);
	sink->u64(sink, "writes", img->st_writes);
	sink->u64(sink, "read_sectors", img->st_rd_sectors);
	sink->u64(sink, "written_sectors", img->st_wr_sectors);
	sink->u64(sink, "errors", img->st_errors);
	sink->u64(sink, "forwarded", img->st_forwarded);
	/* above 1: a parent shared by that many children in this process */
	sink->u64(sink, "refs", (uint64_t)img->refs);
	if (img->ops->stats)
		img->ops->stats(img, sink);
}
