/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Images and the driver ops table. An image is one open file (or memory
 * area) handled by one driver; images stack as a chain leaf -> parent ->
 * ... and a read of a range the leaf does not own is forwarded to the
 * parent, past the last parent reading as zeros.
 *
 * Drivers are plain tables of function pointers: one .c file each, static
 * functions, one exported ops table listed in drivers/registry.c. Drivers
 * never call Xen, never log errors their caller will report, and never
 * allocate on the data path: whatever they need per request is allocated
 * in open, sized by td_image_ctx.depth.
 */
#ifndef TD_IMAGE_H
#define TD_IMAGE_H

#include <stdint.h>
#include <stdbool.h>
#include <limits.h>
#include "td-list.h"
#include "req.h"
#include "io.h"

struct td_loop;
struct td_image;

/* Capability bits a driver declares (static) or an image reports. */
#define TD_CAP_FLUSH (1u << 0)      /* has a volatile cache to flush */
#define TD_CAP_DISCARD (1u << 1)    /* implements TD_OP_DISCARD */
#define TD_CAP_WRITE_ZEROES (1u << 2)
#define TD_CAP_PARENT (1u << 3)     /* format can have a parent */
#define TD_CAP_SECURE_DISCARD (1u << 4)
#define TD_CAP_BLOCK_STATUS (1u << 5)

/* Open flags. */
#define TD_OPEN_RDONLY (1u << 0)
#define TD_OPEN_NO_O_DIRECT (1u << 1) /* force buffered I/O */
#define TD_OPEN_PARENT (1u << 2)      /* opened as someone's parent */

/* What an image may use: handed to open, valid until close. */
struct td_image_ctx {
	struct td_loop *loop;
	struct td_io *io;   /* the process's I/O backend */
	unsigned depth;     /* max requests in flight at this image */
	/*
	 * Read-only parents open in this process (the server's image list,
	 * td_image.link), so VBDs on children of one parent share it; NULL:
	 * every chain opens its own. Loop thread only.
	 */
	struct td_list *cache;
};

/* block_status extents. */
#define TD_EXTENT_HOLE (1u << 0)  /* not allocated in this chain */
#define TD_EXTENT_ZERO (1u << 1)  /* reads as zeros */

/* Sink for driver statistics, so drivers stay independent of JSON. */
struct td_stats_sink {
	void (*u64)(struct td_stats_sink *s, const char *key, uint64_t v);
	void (*str)(struct td_stats_sink *s, const char *key, const char *v);
};

struct td_driver_ops {
	unsigned size;      /* sizeof(struct td_driver_ops), for growth */
	const char *name;   /* the TYPE in TYPE:PATH, e.g. "aio" */
	unsigned caps;      /* TD_CAP_* the driver can have */
	size_t priv_size;   /* bytes for img->priv, zeroed, freed by core */

	/*
	 * Required. Opens @img->path with @img->flags; sets img->size_sectors
	 * and may narrow img->caps. Returns 0 or -errno; on failure the core
	 * calls nothing else. Runs synchronously at open time (control path).
	 */
	int (*open)(struct td_image *img);
	/* Required. Releases everything open acquired; no request in flight. */
	void (*close)(struct td_image *img);
	/*
	 * Required. Starts @req (already validated against the image size and
	 * flags by the core). Completes it with td_req_complete, possibly
	 * after forwarding parts with td_image_forward. Loop thread.
	 */
	void (*submit)(struct td_image *img, struct td_req *req);
	/*
	 * Optional. Names the parent as "TYPE:PATH" in @buf. Returns 0,
	 * -ENOENT if the image has no parent, or -errno.
	 */
	int (*get_parent)(struct td_image *img, char *buf, size_t len);
	/* Optional. Checks @parent is the image this one was made against. */
	int (*validate_parent)(struct td_image *img, struct td_image *parent);
	/*
	 * Optional. Describes [@sector, @sector+@nr): sets *@flags to
	 * TD_EXTENT_* of the first run and *@run to its length in sectors
	 * (>= 1). Absent means "all data". Returns 0 or -errno.
	 */
	int (*block_status)(struct td_image *img, uint64_t sector, uint64_t nr,
			    unsigned *flags, uint64_t *run);
	/* Optional. Reports driver-specific counters. */
	void (*stats)(struct td_image *img, struct td_stats_sink *sink);
	/*
	 * Optional. td_image_forward returned -EBUSY to this image and a
	 * forward sub-request has since returned to its pool: the driver may
	 * retry the ranges it kept. Loop thread, from a forward's completion
	 * (never from inside td_image_forward or submit).
	 */
	void (*forward_ready)(struct td_image *img);
};

struct td_image {
	const struct td_driver_ops *ops;
	void *priv;
	char path[PATH_MAX];
	unsigned flags;          /* TD_OPEN_* */
	unsigned caps;           /* TD_CAP_*: driver caps, narrowed by open */
	uint64_t size_sectors;
	struct td_image_ctx ctx;
	struct td_image *parent; /* NULL at the end of the chain */
	int refs;                /* parents may be shared by VBDs */

	/* Forwarding: preallocated sub-requests and requests waiting for one. */
	struct td_req *fwd_pool;
	struct td_list fwd_free;
	unsigned fwd_count;
	struct td_list link;     /* in the server's image cache */

	/* counters kept by the core */
	uint64_t st_reads, st_writes, st_rd_sectors, st_wr_sectors;
	uint64_t st_errors, st_forwarded;
};

/*
 * Looks a driver up by its TYPE name; NULL if unknown. The registry is a
 * const table in drivers/registry.c.
 */
const struct td_driver_ops *td_driver_lookup(const char *name);

/* NULL-terminated list of all registered drivers, for help and errors. */
extern const struct td_driver_ops *const td_drivers[];

/*
 * Splits "TYPE:PATH" into its parts (@type of size @tlen). Returns 0,
 * -EINVAL on a missing colon or empty part, -ENAMETOOLONG.
 */
int td_image_parse_spec(const char *spec, char *type, size_t tlen,
			const char **path);

/*
 * Parses a size such as "1048576", "64K", "64M", "1G" or "1T" (binary
 * units) into bytes, for drivers whose PATH is a size. Returns 0, -EINVAL
 * for anything else (empty, junk, zero) or -ERANGE on overflow.
 */
int td_image_parse_size(const char *s, uint64_t *bytes);

/*
 * Opens one image (not its parents) of driver @ops. Allocates the image
 * and its pools; *out is owned by the caller and released by
 * td_image_close. Returns 0 or -errno.
 */
int td_image_open(const struct td_driver_ops *ops, const char *path,
		  unsigned flags, const struct td_image_ctx *ctx,
		  struct td_image **out);

/*
 * Opens "TYPE:PATH" and every parent it names, parents read-only, checking
 * each link with validate_parent and refusing loops. *leaf owns the chain.
 * With @ctx->cache, a parent already open there (same driver, device,
 * inode and flags) is shared: it gains a reference and the walk stops,
 * its own chain being open already. On error, @err (if not NULL, @errlen
 * bytes) names the failing image.
 */
int td_image_open_chain(const char *spec, unsigned flags,
			const struct td_image_ctx *ctx, struct td_image **leaf,
			char *err, size_t errlen);

/*
 * Drops a reference to @img; the last one closes it (leaving the cache)
 * and drops its reference to its parent, and so on up the chain.
 */
void td_image_close(struct td_image *img);

/*
 * Entry point for a request at @img: bounds the request to the image
 * (reads past the end are zero-filled, writes past the end fail with
 * -ENOSPC), counts it, and calls the driver's submit.
 */
void td_image_submit(struct td_image *img, struct td_req *req);

/*
 * Called by a driver for a READ range it does not own: reads
 * [@sector, +@nr) of @req's buffer at byte @buf_off from @img's parent, or
 * zeros if there is none. Counts as one part of @req (the caller must not
 * call td_req_part_begin for it). Returns 0, or -EBUSY if the forward pool
 * is exhausted: the driver keeps the range and retries after one of its
 * own forwards completes (ops->forward_ready tells it when). Only READs
 * are forwarded (-EINVAL otherwise). The part ends from a later loop
 * callback, never inside this call, so @req cannot complete in here.
 */
int td_image_forward(struct td_image *img, struct td_req *req,
		     uint64_t sector, uint64_t nr, uint64_t buf_off);

/*
 * Completes @req with @err (0 or -errno) from a later callback of @img's
 * loop, never inside this call, so a submitter is not re-entered by its
 * own completion. For the core and for drivers that finish a request
 * inside submit (ram, null). @req must have no part outstanding; it stays
 * on @img's queue (through req->link) until then, in the order queued.
 * Nothing may be queued when @img closes. Loop thread; never allocates.
 */
void td_image_complete_later(struct td_image *img, struct td_req *req,
			     int err);

/* Emits the core counters and the driver's own stats for @img. */
void td_image_stats(struct td_image *img, struct td_stats_sink *sink);

#endif
