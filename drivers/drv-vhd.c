// SPDX-License-Identifier: GPL-2.0-only
/*
 * The "vhd" image driver: fixed, dynamic and differencing VHD files, with
 * chains of parents (other vhd images, or a raw base opened by "aio").
 * An image may also be a block device (XenServer's LVHD keeps VHDs on
 * logical volumes): its size is fixed, the footer stays in its last
 * sector and allocations past it fail with -ENOSPC (vhd-driver-meta.c).
 *
 * The format itself (decoding, validation, BAT, batmap, locators) is the
 * VHD library's (drivers/vhd/vhd-format.h); this file is the request
 * engine and drivers/vhd/vhd-driver-meta.c the metadata writer (bitmap
 * cache, block allocation and its crash-safe order: read the comment at
 * its top).
 *
 * A request is walked from its first sector by a cursor, one run at a
 * time: a run is the longest range of one block that is either stored here
 * (read or written in this file) or not (a read forwarded to the parent).
 * When a run needs something not at hand (a bitmap not cached yet, a block
 * being allocated, a free I/O slot or forward), the request parks on that
 * resource and resumes at its cursor when it becomes available. Requests
 * only ever start and resume from a deferred loop call ("kick"), so no
 * caller is re-entered by a completion, and requests end their last part
 * from there too, after this image's state is no longer touched.
 *
 * Discard punches holes in the data this file stores for the range, and
 * touches no metadata: a punched sector under a set bitmap bit (or in a
 * fixed disk) reads as zeros, which a discard may return, while sectors
 * this file does not store (unallocated blocks, clear bits, blocks being
 * allocated) are left as they read: zeros in a dynamic disk, the parent's
 * data in a differencing one, which a discard may return too. Freeing a
 * whole block instead (BAT entry back to unused) would expose the parent
 * in a differencing disk and leave a VHD gap no writer reuses; clearing
 * bits would need the bitmap ordering of writes. A hole is as crash-safe
 * as a write of zeros: any prefix of the punch leaves a valid file. The
 * capability is advertised only for a writable regular file whose file
 * system punches holes (probed past EOF at open, where it changes
 * nothing); a block device's BLKDISCARD may read back as anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "td-log.h"
#include "vhd/vhd-driver.h"

extern const struct td_driver_ops td_drv_vhd;

/* Largest single I/O of a fixed image, in sectors (any size would do). */
#define VHD_MAX_IO (1u << 22)

static void vreq_run(struct vhd_state *s, struct vhd_vreq *vr);

/* ---- wait queues --------------------------------------------------- */

void vhd_wake(struct vhd_state *s, struct vhd_vreq *vr)
{
	td_list_del(&vr->link);
	td_list_add_tail(&vr->link, &s->runq);
	td_loop_defer(s->img->ctx.loop, &s->kick);
}

void vhd_wake_all(struct vhd_state *s, struct td_list *list)
{
	struct td_list *n;

	while ((n = td_list_pop(list)))
		vhd_wake(s, td_list_entry(n, struct vhd_vreq, link));
}

static void vreq_start(struct vhd_state *s, struct td_req *req)
{
	struct td_list *n = td_list_pop(&s->vreq_free);
	struct vhd_vreq *vr = td_list_entry(n, struct vhd_vreq, link);

	vr->req = req;
	vr->cur = req->sector;
	vr->ios = 0;
	vr->err = 0;
	vr->flushed = false;
	req->drv_priv = vr;
	/* held until every part of ours is issued and done */
	td_req_part_begin(req);
	vhd_wake(s, vr);
}

static void vhd_kick(struct td_loop_defer *d)
{
	struct vhd_state *s = d->arg;
	struct td_list local, *n;

	while ((n = td_list_pop(&s->runq)))
		vreq_run(s, td_list_entry(n, struct vhd_vreq, link));
	if (td_list_empty(&s->doneq))
		return;
	/*
	 * Ending a part may complete a request whose owner then closes this
	 * image: from the first one on, @s must not be touched.
	 */
	td_list_move_all(&s->doneq, &local);
	while ((n = td_list_pop(&local)))
		td_req_part_end(td_list_entry(n, struct td_req, link), 0);
}

/* ---- completion ---------------------------------------------------- */

static void flush_done(struct td_iocb *cb, int res)
{
	struct vhd_vreq *vr = cb->arg;

	vhd_vreq_io_done(vr->s, vr, res);
}

/*
 * A flush is one fdatasync. Nothing else needs waiting for: a write is
 * acknowledged only after its bitmap, BAT entry and footer move completed
 * (see vhd-driver-meta.c), so every acknowledged write's metadata is
 * already written and this makes it durable; metadata still in flight
 * belongs to writes not yet acknowledged, which a flush need not cover.
 * The batmap is a hint, written at close.
 */
static void issue_flush(struct vhd_state *s, struct vhd_vreq *vr)
{
	memset(&vr->fcb, 0, sizeof(vr->fcb));
	vr->fcb.op = TD_IO_FLUSH;
	vr->fcb.fd = s->fd;
	vr->fcb.done = flush_done;
	vr->fcb.arg = vr;
	vr->ios++;
	td_io_submit(s->img->ctx.io, &vr->fcb);
}

/* Ends @vr once everything it issued is done and nothing is left. */
static void vreq_maybe_done(struct vhd_state *s, struct vhd_vreq *vr)
{
	struct td_req *req = vr->req;
	struct td_list *n;

	if (vr->ios || !td_list_empty(&vr->link))
		return; /* I/O in flight, or parked */
	if (!vr->err && req->op != TD_OP_FLUSH &&
	    vr->cur < req->sector + req->nr_sectors)
		return; /* still issuing (called from a completion) */
	/* FUA: stable before the ack, bitmap and BAT included */
	if (!vr->err && req->op == TD_OP_WRITE &&
	    (req->flags & TD_REQ_FUA) && !vr->flushed) {
		vr->flushed = true;
		issue_flush(s, vr);
		return;
	}
	if (vr->err && !req->err)
		req->err = vr->err;
	vr->req = NULL;
	td_list_add(&vr->link, &s->vreq_free);
	td_list_add_tail(&req->link, &s->doneq);
	td_loop_defer(s->img->ctx.loop, &s->kick);
	n = td_list_pop(&s->wait_vreq);
	if (n)
		vreq_start(s, td_list_entry(n, struct td_req, link));
}

void vhd_vreq_io_done(struct vhd_state *s, struct vhd_vreq *vr, int err)
{
	if (err && !vr->err)
		vr->err = err;
	vr->ios--;
	vreq_maybe_done(s, vr);
}

void vhd_io_put(struct vhd_state *s, struct vhd_io *io)
{
	io->al = NULL;
	io->bm = NULL;
	io->vr = NULL;
	td_list_add(&io->link, &s->io_free);
	vhd_wake_all(s, &s->wait_io);
}

void vhd_io_done(struct td_iocb *cb, int res)
{
	struct vhd_io *io = cb->arg;
	struct vhd_state *s = io->s;
	struct vhd_vreq *vr = io->vr;

	if (io->al) {
		vhd_alloc_io_done(s, io->al, res);
		return;
	}
	if (io->bm) {
		vhd_bm_data_done(s, io, res);
		return;
	}
	vhd_io_put(s, io);
	vhd_vreq_io_done(s, vr, res);
}

/* ---- issuing runs -------------------------------------------------- */

int vhd_data_fd(const struct vhd_state *s, const struct iovec *iov, int cnt)
{
	int i;

	if (!s->direct)
		return s->fd;
	for (i = 0; i < cnt; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) &
		    (TD_VHD_SECTOR - 1))
			return s->v->fd;
	return s->fd;
}

/*
 * Reads or writes @n sectors of the request at the cursor to/from byte
 * @foff of this file. With @bm, the bits [@first, +@n) of that bitmap
 * are persisted before the write completes. 0, 1 (parked) or -errno.
 */
static int data_io(struct vhd_state *s, struct vhd_vreq *vr, uint64_t foff,
		   uint32_t n, struct vhd_bm *bm, uint32_t first)
{
	struct td_req *req = vr->req;
	struct td_list *l;
	struct vhd_io *io;
	int cnt;

	l = td_list_pop(&s->io_free);
	if (!l) {
		td_list_add_tail(&vr->link, &s->wait_io);
		s->st_waits++;
		return 1;
	}
	io = td_list_entry(l, struct vhd_io, link);
	cnt = td_req_slice_iov(req, (vr->cur - req->sector) << TD_SECTOR_SHIFT,
			       (uint64_t)n << TD_SECTOR_SHIFT, io->iov,
			       TD_REQ_MAX_IOV + 1);
	if (cnt < 0) {
		vhd_io_put(s, io);
		return cnt;
	}
	io->vr = vr;
	io->bm = bm;
	io->first = first;
	io->n = n;
	if (bm)
		vhd_bm_ref(s, bm);
	io->cb.op = req->op == TD_OP_READ ? TD_IO_READ : TD_IO_WRITE;
	io->cb.fd = vhd_data_fd(s, io->iov, cnt);
	io->cb.iov = io->iov;
	io->cb.iovcnt = cnt;
	io->cb.offset = (off_t)foff;
	io->cb.done = vhd_io_done;
	io->cb.arg = io;
	vr->ios++;
	vr->cur += n;
	td_io_submit(s->img->ctx.io, &io->cb);
	return 0;
}

/* Forwards @n sectors at the cursor to the parent (or zeros). */
static int forward(struct vhd_state *s, struct vhd_vreq *vr, uint32_t n)
{
	struct td_req *req = vr->req;
	int rc;

	rc = td_image_forward(s->img, req, vr->cur, n,
			      (vr->cur - req->sector) << TD_SECTOR_SHIFT);
	if (rc == -EBUSY) {
		td_list_add_tail(&vr->link, &s->wait_fwd);
		s->st_waits++;
		return 1;
	}
	if (!rc)
		vr->cur += n;
	return rc;
}

static uint64_t block_foff(const struct vhd_state *s, uint32_t blk,
			   uint32_t off)
{
	return ((uint64_t)s->v->bat[blk] + s->v->bm_secs + off) *
	       TD_VHD_SECTOR;
}

/* Punches [@foff, +@n sectors) of this file for a discard. 0, 1 or -errno. */
static int discard_io(struct vhd_state *s, struct vhd_vreq *vr,
		      uint64_t foff, uint32_t n)
{
	struct td_list *l = td_list_pop(&s->io_free);
	struct vhd_io *io;

	if (!l) {
		td_list_add_tail(&vr->link, &s->wait_io);
		s->st_waits++;
		return 1;
	}
	io = td_list_entry(l, struct vhd_io, link);
	io->vr = vr;
	io->cb.op = TD_IO_DISCARD;
	io->cb.fd = s->fd;
	io->cb.iov = NULL;
	io->cb.iovcnt = 0;
	io->cb.offset = (off_t)foff;
	io->cb.len = (uint64_t)n << TD_SECTOR_SHIFT;
	io->cb.done = vhd_io_done;
	io->cb.arg = io;
	vr->ios++;
	vr->cur += n;
	s->st_punches++;
	td_io_submit(s->img->ctx.io, &io->cb);
	return 0;
}

/* Discards the stored part of [@off, +@n) of block @blk (see the top). */
static int step_discard(struct vhd_state *s, struct vhd_vreq *vr,
			uint32_t blk, uint32_t off, uint32_t n)
{
	if (s->v->bat[blk] == TD_VHD_BAT_UNUSED) {
		vr->cur += n; /* nothing stored here, or being allocated */
		return 0;
	}
	return discard_io(s, vr, block_foff(s, blk, off), n);
}

/* True if the bitmap on disk already has every bit of [@off, +@n). */
static bool bits_stable(struct vhd_state *s, struct vhd_bm *bm, uint32_t off,
			uint32_t n)
{
	bool set;

	/* bits set in memory but not yet written do not count */
	if (bm->writing || bm->unsynced || !td_list_empty(&bm->next_ios))
		return false;
	return td_vhd_bitmap_run(bm->map, off, n, vhd_le(s), &set) == n && set;
}

static int step_read(struct vhd_state *s, struct vhd_vreq *vr, uint32_t blk,
		     uint32_t off, uint32_t n)
{
	struct vhd_bm *bm;
	uint32_t run;
	bool set;
	int rc;

	/* unallocated, or still being allocated: the parent has it all */
	if (s->v->bat[blk] == TD_VHD_BAT_UNUSED)
		return forward(s, vr, n);
	if (td_vhd_batmap_test(s->v, blk))
		return data_io(s, vr, block_foff(s, blk, off), n, NULL, 0);
	bm = vhd_bm_get(s, vr, blk, &rc);
	if (!bm)
		return rc ? rc : 1;
	run = td_vhd_bitmap_run(bm->map, off, n, vhd_le(s), &set);
	if (set)
		return data_io(s, vr, block_foff(s, blk, off), run, NULL, 0);
	return forward(s, vr, run);
}

static int step_write(struct vhd_state *s, struct vhd_vreq *vr, uint32_t blk,
		      uint32_t off, uint32_t n)
{
	struct td_req *req = vr->req;
	struct vhd_alloc *al;
	struct vhd_bm *bm;
	int rc;

	if (s->v->bat[blk] == TD_VHD_BAT_UNUSED) {
		al = vhd_alloc_find(s, blk);
		if (al) {
			td_list_add_tail(&vr->link, &al->waiters);
			s->st_waits++;
			return 1;
		}
		rc = vhd_alloc_start(s, vr, blk, off, n,
				     (vr->cur - req->sector)
					     << TD_SECTOR_SHIFT);
		if (!rc)
			vr->cur += n;
		return rc;
	}
	if (td_vhd_batmap_test(s->v, blk))
		return data_io(s, vr, block_foff(s, blk, off), n, NULL, 0);
	bm = vhd_bm_get(s, vr, blk, &rc);
	if (!bm)
		return rc ? rc : 1;
	if (bits_stable(s, bm, off, n))
		bm = NULL;
	return data_io(s, vr, block_foff(s, blk, off), n, bm, off);
}

static void vreq_run(struct vhd_state *s, struct vhd_vreq *vr)
{
	struct td_req *req = vr->req;
	uint64_t end = req->sector + req->nr_sectors;
	uint32_t spb = s->v->spb;
	int rc;

	if (req->op == TD_OP_FLUSH) {
		if (!vr->flushed) {
			vr->flushed = true;
			issue_flush(s, vr);
		}
		return;
	}
	while (!vr->err && vr->cur < end) {
		if (s->fixed) {
			uint32_t n = end - vr->cur < VHD_MAX_IO ?
					     (uint32_t)(end - vr->cur) :
					     VHD_MAX_IO;

			if (req->op == TD_OP_DISCARD)
				rc = discard_io(s, vr,
						vr->cur << TD_SECTOR_SHIFT, n);
			else
				rc = data_io(s, vr, vr->cur << TD_SECTOR_SHIFT,
					     n, NULL, 0);
		} else {
			uint32_t blk = (uint32_t)(vr->cur / spb);
			uint32_t off = (uint32_t)(vr->cur % spb);
			uint32_t n = end - vr->cur < spb - off ?
					     (uint32_t)(end - vr->cur) :
					     spb - off;

			if (req->op == TD_OP_READ)
				rc = step_read(s, vr, blk, off, n);
			else if (req->op == TD_OP_DISCARD)
				rc = step_discard(s, vr, blk, off, n);
			else
				rc = step_write(s, vr, blk, off, n);
		}
		if (rc > 0)
			return; /* parked: resumes from the kick */
		if (rc < 0)
			vr->err = rc;
	}
	vreq_maybe_done(s, vr);
}

/* ---- driver ops ---------------------------------------------------- */

static void vhd_submit(struct td_image *img, struct td_req *req)
{
	struct vhd_state *s = img->priv;

	switch (req->op) {
	case TD_OP_READ:
	case TD_OP_FLUSH:
		break;
	case TD_OP_WRITE:
		if (!s->rdonly)
			break;
		/* fall through */
	case TD_OP_DISCARD:
		if (!s->rdonly && (img->caps & TD_CAP_DISCARD))
			break;
		/* fall through */
	default:
		/* the core refuses these first; a direct caller gets an error */
		req->err = req->op == TD_OP_WRITE ? -EROFS : -EOPNOTSUPP;
		if (req->op == TD_OP_DISCARD && s->rdonly)
			req->err = -EROFS;
		td_req_part_begin(req);
		td_list_add_tail(&req->link, &s->doneq);
		td_loop_defer(img->ctx.loop, &s->kick);
		return;
	}
	if (td_list_empty(&s->vreq_free)) {
		/* more requests than the depth we were opened for */
		td_list_add_tail(&req->link, &s->wait_vreq);
		return;
	}
	vreq_start(s, req);
}

static void vhd_forward_ready(struct td_image *img)
{
	struct vhd_state *s = img->priv;

	vhd_wake_all(s, &s->wait_fwd);
}

static int pools_init(struct vhd_state *s, unsigned depth)
{
	unsigned i;

	s->vreqs = calloc(depth, sizeof(*s->vreqs));
	s->nio = depth + 16;
	s->ios = calloc(s->nio, sizeof(*s->ios));
	if (!s->vreqs || !s->ios)
		return -ENOMEM;
	for (i = 0; i < depth; i++) {
		s->vreqs[i].s = s;
		td_list_add_tail(&s->vreqs[i].link, &s->vreq_free);
	}
	for (i = 0; i < s->nio; i++) {
		s->ios[i].s = s;
		td_list_add_tail(&s->ios[i].link, &s->io_free);
	}
	return 0;
}

static void state_free(struct vhd_state *s)
{
	free(s->vreqs);
	free(s->ios);
	vhd_meta_free(s);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	td_vhd_close(s->v);
	s->v = NULL;
}

static int vhd_open_file(struct td_image *img, struct vhd_state *s,
			 struct td_vhd_err *err)
{
	/*
	 * The batmap is only a hint: a bad checksum (a crash while it was
	 * written) drops its bits instead of refusing the image, and it is
	 * rewritten at close.
	 */
	unsigned fl = TD_VHD_OPEN_IGNORE_BATMAP;
	bool rdonly = img->flags & TD_OPEN_RDONLY;
	struct stat st;
	int rc;

	if (rdonly)
		fl |= TD_VHD_OPEN_RDONLY;
	/*
	 * Two descriptors on the file: the library's, buffered, for its
	 * synchronous metadata I/O at open and close (locator text has no
	 * alignment), and ours for the data path, O_DIRECT where the file
	 * system has it (tmpfs refuses it with EINVAL).
	 */
	rc = td_vhd_open(img->path, fl, &s->v, err);
	if (rc)
		return rc;
	s->fd = -1;
	if (!(img->flags & TD_OPEN_NO_O_DIRECT)) {
		s->fd = open(img->path, (rdonly ? O_RDONLY : O_RDWR) |
					       O_DIRECT | O_CLOEXEC);
		if (s->fd < 0 && errno != EINVAL)
			return td_vhd_error(err, -errno, "cannot open: %s",
					    strerror(errno));
		s->direct = s->fd >= 0;
	}
	if (s->fd < 0)
		s->fd = fcntl(s->v->fd, F_DUPFD_CLOEXEC, 0);
	if (s->fd < 0)
		return td_vhd_error(err, -errno, "cannot dup: %s",
				    strerror(errno));
	/* the same file the library validated, not a replacement */
	if (fstat(s->fd, &st))
		return td_vhd_error(err, -errno, "cannot stat: %s",
				    strerror(errno));
	if (st.st_dev != s->v->dev || st.st_ino != s->v->ino)
		return td_vhd_error(err, -ESTALE, "file replaced while opening");
	s->blkdev = S_ISBLK(st.st_mode);
	if (!s->blkdev)
		return 0;
	if (ioctl(s->fd, BLKGETSIZE64, &s->dev_size))
		return td_vhd_error(err, -errno, "cannot size the device: %s",
				    strerror(errno));
	/* the library placed (and will write) the footer by its size */
	if (s->dev_size != s->v->file_size)
		return td_vhd_error(err, -ESTALE, "device resized while "
				    "opening (0x%llx, then 0x%llx bytes)",
				    (unsigned long long)s->v->file_size,
				    (unsigned long long)s->dev_size);
	return 0;
}

/*
 * Can discard punch holes here? Only in a writable regular file whose file
 * system does it, probed past EOF where a punch changes nothing.
 */
static bool probe_punch(const struct vhd_state *s)
{
	struct stat st;
	off_t end;

	if (s->rdonly || fstat(s->v->fd, &st) || !S_ISREG(st.st_mode))
		return false;
	end = (st.st_size + 4095) & ~(off_t)4095;
	return fallocate(s->v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 end, 4096) == 0;
}

static int vhd_open(struct td_image *img)
{
	struct vhd_state *s = img->priv;
	struct td_vhd_err err = { .name = img->path };
	int rc;

	s->img = img;
	s->fd = -1;
	td_list_init(&s->vreq_free);
	td_list_init(&s->io_free);
	td_list_init(&s->runq);
	td_list_init(&s->wait_io);
	td_list_init(&s->wait_bm);
	td_list_init(&s->wait_al);
	td_list_init(&s->wait_fwd);
	td_list_init(&s->wait_vreq);
	td_list_init(&s->doneq);
	td_list_init(&s->kick.link);
	s->kick.cb = vhd_kick;
	s->kick.arg = s;
	s->rdonly = img->flags & TD_OPEN_RDONLY;
	s->enospc_rl = (struct td_ratelimit)TD_RATELIMIT_INIT;

	rc = vhd_open_file(img, s, &err);
	if (rc) {
		/* the core reports strerror only: keep the precise reason */
		td_err(TD_SUB_DRV, "%s", err.msg);
		state_free(s);
		return rc;
	}
	s->fixed = s->v->footer.type == TD_VHD_TYPE_FIXED;
	img->size_sectors = td_vhd_size(s->v) / TD_VHD_SECTOR;
	if (s->v->footer.type != TD_VHD_TYPE_DIFF)
		img->caps &= ~TD_CAP_PARENT;
	if (s->fixed)
		img->caps &= ~TD_CAP_BLOCK_STATUS;
	if (!probe_punch(s))
		img->caps &= ~TD_CAP_DISCARD;
	rc = pools_init(s, img->ctx.depth);
	if (!rc && !s->fixed)
		rc = vhd_meta_init(s, img->ctx.depth);
	if (!rc && !s->fixed && !s->rdonly) {
		rc = vhd_meta_open_rw(s, &err);
		if (rc)
			td_err(TD_SUB_DRV, "%s", err.msg);
	}
	if (rc)
		state_free(s);
	return rc;
}

static void vhd_close(struct td_image *img)
{
	struct vhd_state *s = img->priv;
	struct td_vhd_err err = { .name = img->path };
	int rc = 0;

	td_loop_defer_cancel(img->ctx.loop, &s->kick);
	if (!s->rdonly && !s->fixed) {
		/*
		 * The batmap first: in a file, the footer truncates after
		 * next_db; on a block device it goes to the last sector.
		 */
		if (s->v->has_batmap)
			rc = td_vhd_write_batmap(s->v, &err);
		if (!rc)
			rc = td_vhd_write_footer(s->v, &err);
		if (!rc && fdatasync(s->v->fd))
			rc = td_vhd_error(&err, -errno, "fdatasync failed");
		if (rc)
			td_err(TD_SUB_DRV, "%s", err.msg);
	}
	state_free(s);
}

static int vhd_get_parent(struct td_image *img, char *buf, size_t len)
{
	struct vhd_state *s = img->priv;
	struct td_vhd_err err = { .name = img->path };
	char path[PATH_MAX];
	bool raw = false;
	int rc, n;

	if (s->v->footer.type != TD_VHD_TYPE_DIFF)
		return -ENOENT;
	rc = td_vhd_parent_path(s->v, path, sizeof(path), &raw, &err);
	if (rc) {
		td_err(TD_SUB_DRV, "%s", err.msg);
		return rc == -ENOENT ? -ENOLINK : rc;
	}
	/* a raw base (all-zero parent UUID) is read by the plain driver */
	n = snprintf(buf, len, "%s:%s", raw ? "aio" : "vhd", path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int vhd_validate_parent(struct td_image *img, struct td_image *parent)
{
	struct vhd_state *s = img->priv;
	struct td_vhd_err err = { .name = img->path };
	struct td_vhd raw = { .fd = -1, .raw = true, .path = parent->path };
	const struct td_vhd *p = &raw;
	int rc;

	if (parent->ops == &td_drv_vhd)
		p = ((struct vhd_state *)parent->priv)->v;
	rc = td_vhd_validate_parent(s->v, p, &err);
	if (rc)
		td_err(TD_SUB_DRV, "%s", err.msg);
	return rc;
}

/*
 * Allocation state of one block's range [@off, +@n): sets *@data and
 * returns the run length. Bitmaps not cached are read synchronously into
 * a scratch buffer (one sector; block status is a rare control query).
 */
static int bs_block(struct vhd_state *s, uint32_t blk, uint32_t off,
		    uint32_t n, bool *data, uint32_t *run)
{
	struct td_vhd *v = s->v;
	struct vhd_bm *bm;
	const uint8_t *map;
	ssize_t r;

	if (v->bat[blk] == TD_VHD_BAT_UNUSED || td_vhd_batmap_test(v, blk)) {
		*data = v->bat[blk] != TD_VHD_BAT_UNUSED;
		*run = n;
		return 0;
	}
	bm = vhd_bm_peek(s, blk);
	if (bm && bm->state == BM_READY) {
		map = bm->map;
	} else {
		r = pread(v->fd, s->scratch, v->bm_bytes,
			  (off_t)v->bat[blk] * TD_VHD_SECTOR);
		if (r != (ssize_t)v->bm_bytes)
			return r < 0 ? -errno : -EIO;
		map = s->scratch;
	}
	*run = td_vhd_bitmap_run(map, off, n, vhd_le(s), data);
	return 0;
}

static int vhd_block_status(struct td_image *img, uint64_t sector,
			    uint64_t nr, unsigned *flags, uint64_t *run)
{
	struct vhd_state *s = img->priv;
	uint32_t spb, blk, off, n, r = 0, blocks = 0;
	uint64_t done = 0;
	bool data = false, first_data = false;
	int rc;

	if (!nr || sector >= img->size_sectors)
		return -EINVAL;
	if (nr > img->size_sectors - sector)
		nr = img->size_sectors - sector;
	if (s->fixed) {
		*flags = 0;
		*run = nr;
		return 0;
	}
	spb = s->v->spb;
	/* merge runs across blocks, bounded so one query stays cheap */
	while (done < nr && blocks++ < 64) {
		blk = (uint32_t)((sector + done) / spb);
		off = (uint32_t)((sector + done) % spb);
		n = nr - done < spb - off ? (uint32_t)(nr - done) : spb - off;
		rc = bs_block(s, blk, off, n, &data, &r);
		if (rc)
			return rc;
		if (!done)
			first_data = data;
		else if (data != first_data)
			break;
		done += r;
		if (r < n)
			break;
	}
	*flags = first_data ? 0 :
		 TD_EXTENT_HOLE | (img->parent ? 0 : TD_EXTENT_ZERO);
	*run = done;
	return 0;
}

static void vhd_stats(struct td_image *img, struct td_stats_sink *sink)
{
	struct vhd_state *s = img->priv;
	char creator[5];

	sink->str(sink, "vhd_type", td_vhd_type_str(s->v->footer.type));
	td_vhd_creator_str(s->v->footer.crtr_app, creator);
	sink->str(sink, "vhd_creator", creator);
	sink->u64(sink, "vhd_allocations", s->st_allocs);
	sink->u64(sink, "vhd_bitmap_hits", s->st_bm_hits);
	sink->u64(sink, "vhd_bitmap_misses", s->st_bm_misses);
	sink->u64(sink, "vhd_bitmap_writes", s->st_bm_writes);
	sink->u64(sink, "vhd_bat_writes", s->st_bat_writes);
	sink->u64(sink, "vhd_footer_moves", s->st_footer_moves);
	sink->u64(sink, "vhd_waits", s->st_waits);
	sink->u64(sink, "vhd_discard_punches", s->st_punches);
	sink->str(sink, "vhd_storage", s->blkdev ? "block-device" : "file");
	if (!s->fixed && !s->rdonly) /* where new blocks must end by */
		sink->u64(sink, "vhd_footer_offset", s->foot_pos);
	sink->u64(sink, "vhd_enospc", s->st_enospc);
}

const struct td_driver_ops td_drv_vhd = {
	.size = sizeof(struct td_driver_ops),
	.name = "vhd",
	.caps = TD_CAP_FLUSH | TD_CAP_PARENT | TD_CAP_BLOCK_STATUS |
		TD_CAP_DISCARD,
	.priv_size = sizeof(struct vhd_state),
	.open = vhd_open,
	.close = vhd_close,
	.submit = vhd_submit,
	.get_parent = vhd_get_parent,
	.validate_parent = vhd_validate_parent,
	.block_status = vhd_block_status,
	.stats = vhd_stats,
	.forward_ready = vhd_forward_ready,
};
