// SPDX-License-Identifier: GPL-2.0-only
/*
 * Metadata side of the "vhd" driver: the sector-bitmap cache, block
 * allocation, BAT sector writes and the tail footer (of a file, or of a
 * block device: see below).
 *
 * Block allocation, and why it is crash-safe
 * ------------------------------------------
 * A new block (bitmap + data) is placed at the end of data (next_db), which
 * is where the tail footer of a freshly opened file sits. The order is:
 *
 *  1. Footer move (only if the block would reach the current tail footer):
 *     write the footer at a new end F' beyond the block, and wait for it.
 *     F' is next_db after the block *plus up to VHD_FOOTER_LEAD more
 *     blocks*, so one footer write serves many allocations. Until step 2
 *     nothing has been written between the old end and F', and nothing
 *     will be referenced there until step 3, so the file is valid with the
 *     old footer (still intact) or with the new one at EOF.
 *  2. Write the block's bitmap (bits set exactly for the sectors of the
 *     initial write, all others 0) and the write's data, in parallel (one
 *     combined write when the data starts at the block's first sector).
 *     This overwrites the old footer copy, but the new tail footer is
 *     already at EOF, so the file ends with a valid footer at every
 *     instant: libvhdi (which reads only the tail copy) and the spec are
 *     satisfied after a crash, not just blktap's head-copy readers.
 *  3. When both completed, write the one 512-byte BAT sector holding the
 *     entry. Only now does the file reference the block: its bitmap and
 *     data are complete, so the entry can never expose a stale bitmap or
 *     unwritten sectors. A crash before this leaves leaked, unreferenced
 *     space (trimmed at the next read-write open).
 *  4. When the BAT write completed, the block is committed in memory
 *     (visible to other writers, which waited on the allocation) and the
 *     guest write is acknowledged.
 *
 * Why the footer moves *before* the BAT entry, unlike the "BAT, then
 * footer" of the spec's prose and unlike blktap (which leaves no tail
 * footer while open): the data of step 2 lands on the old footer, so the
 * only order that never leaves EOF without a footer is footer first. The
 * BAT entry needs nothing from the footer (it only needs its block
 * written), so writing it after the footer costs nothing in safety.
 *
 * On a block device (a logical volume, as XenServer's LVHD stores VHDs)
 * the size is fixed: the storage manager sizes the volume ahead of the
 * data. The tail footer lives in the device's last sector, as blktap
 * keeps it, and never moves: open writes it there if it is missing (see
 * open_rw_blkdev), and a new block that would reach it is refused with
 * -ENOSPC before anything is written (the storage manager then grows the
 * volume and pauses/unpauses the VBD, whose reopen writes the footer at
 * the new end). So step 1 never happens there, and the argument above
 * holds unchanged: steps 2-4 write only below the footer, which stays
 * valid at the end of the device at every instant, and nothing is ever
 * truncated.
 *
 * No zero-fill is needed anywhere: a new block's unwritten sectors have
 * clear bitmap bits, and this driver never reads image bytes behind a
 * clear bit (they are forwarded to the parent, or read as zeros for a
 * dynamic disk). In a file those bytes are holes anyway, since blocks are
 * only ever placed in space never written before (open trims leaked
 * space). On a block device they are whatever the volume held (leaked
 * blocks of a crash are reused, not trimmed), which nothing exposes for
 * the same reason; blktap does not zero them either.
 *
 * Later writes into a committed block whose sectors are new go: data,
 * then the bitmap (coalesced: one write in flight per block; bits of data
 * writes that finish meanwhile ride on the next one), then the ack, so a
 * bit never claims a sector whose data is not on disk. Writes whose bits
 * are set (or whose block the batmap marks full) are a single data write.
 *
 * Several allocations run at once (one per block); requests for a block
 * being allocated wait on its allocation and resume when it commits.
 * Allocations of one BAT sector are committed by one write at a time: a
 * BAT write copies the sector into its own buffer, so entries committed
 * meanwhile wait for the next write of that sector.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhd-driver.h"

/* Blocks of address space the tail footer is moved ahead of next_db. */
#define VHD_FOOTER_LEAD 16u

static void *vhd_zalloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len ? len : 1))
		return NULL;
	memset(p, 0, len);
	return p;
}

/* ---- bitmap cache ------------------------------------------------- */

static struct td_list *bm_bucket(struct vhd_state *s, uint32_t blk)
{
	return &s->bm_hash[blk & (s->nhash - 1)];
}

struct vhd_bm *vhd_bm_peek(struct vhd_state *s, uint32_t blk)
{
	struct td_list *b = bm_bucket(s, blk), *pos;

	td_list_for_each(pos, b) {
		struct vhd_bm *bm = td_list_entry(pos, struct vhd_bm, hash);

		if (bm->blk == blk && bm->state != BM_FREE)
			return bm;
	}
	return NULL;
}

void vhd_bm_ref(struct vhd_state *s, struct vhd_bm *bm)
{
	(void)s;
	if (bm->refs++ == 0)
		td_list_del(&bm->lru);
}

void vhd_bm_unref(struct vhd_state *s, struct vhd_bm *bm)
{
	if (--bm->refs)
		return;
	if (bm->state == BM_FREE)
		td_list_add(&bm->lru, &s->bm_lru); /* reuse first */
	else
		td_list_add_tail(&bm->lru, &s->bm_lru);
	vhd_wake_all(s, &s->wait_bm);
}

/* Drops @bm's contents (an allocation failed, or a load). */
static void bm_invalidate(struct vhd_bm *bm)
{
	bm->state = BM_FREE;
	td_list_del(&bm->hash);
}

/* Takes the least recently used unpinned entry, pinned, or NULL. */
static struct vhd_bm *bm_take(struct vhd_state *s, uint32_t blk)
{
	struct td_list *n = s->bm_lru.next;
	struct vhd_bm *bm;

	if (n == &s->bm_lru)
		return NULL;
	bm = td_list_entry(n, struct vhd_bm, lru);
	if (bm->state != BM_FREE)
		bm_invalidate(bm);
	bm->unsynced = false;
	vhd_bm_ref(s, bm);
	bm->blk = blk;
	td_list_add(&bm->hash, bm_bucket(s, blk));
	return bm;
}

static void bm_load_done(struct td_iocb *cb, int res)
{
	struct vhd_bm *bm = cb->arg;
	struct vhd_state *s = bm->s;
	struct td_list *pos, *tmp;

	if (res < 0) {
		/* waiters fail their request; the entry is forgotten */
		td_list_for_each_safe(pos, tmp, &bm->waiters) {
			struct vhd_vreq *vr =
				td_list_entry(pos, struct vhd_vreq, link);

			if (!vr->err)
				vr->err = res;
		}
		bm_invalidate(bm);
	} else {
		bm->state = BM_READY;
	}
	vhd_wake_all(s, &bm->waiters);
	vhd_bm_unref(s, bm);
}

struct vhd_bm *vhd_bm_get(struct vhd_state *s, struct vhd_vreq *vr,
			  uint32_t blk, int *err)
{
	struct vhd_bm *bm = vhd_bm_peek(s, blk);

	*err = 0;
	if (bm && bm->state == BM_READY) {
		s->st_bm_hits++;
		if (!bm->refs) { /* most recently used */
			td_list_del(&bm->lru);
			td_list_add_tail(&bm->lru, &s->bm_lru);
		}
		return bm;
	}
	if (bm) { /* loading: the load's waiters pin nothing */
		td_list_add_tail(&vr->link, &bm->waiters);
		s->st_waits++;
		return NULL;
	}
	bm = bm_take(s, blk);
	if (!bm) {
		td_list_add_tail(&vr->link, &s->wait_bm);
		s->st_waits++;
		return NULL;
	}
	s->st_bm_misses++;
	bm->state = BM_LOADING;
	td_list_add_tail(&vr->link, &bm->waiters);
	bm->iov.iov_base = bm->map;
	bm->iov.iov_len = s->v->bm_bytes;
	bm->cb.op = TD_IO_READ;
	bm->cb.fd = s->fd;
	bm->cb.iov = &bm->iov;
	bm->cb.iovcnt = 1;
	bm->cb.offset = (off_t)s->v->bat[blk] * TD_VHD_SECTOR;
	bm->cb.done = bm_load_done;
	bm->cb.arg = bm;
	td_io_submit(s->img->ctx.io, &bm->cb);
	return NULL;
}

static void bm_write_done(struct td_iocb *cb, int res);

/* Starts a bitmap write if bits wait for one and none is in flight. */
static void bm_flush(struct vhd_state *s, struct vhd_bm *bm)
{
	struct td_list *pos, *tmp;

	if (bm->writing || td_list_empty(&bm->next_ios))
		return;
	td_list_for_each_safe(pos, tmp, &bm->next_ios) {
		td_list_del(pos);
		td_list_add_tail(pos, &bm->cur_ios);
	}
	memcpy(bm->wbuf, bm->map, s->v->bm_bytes);
	bm->writing = true;
	bm->iov.iov_base = bm->wbuf;
	bm->iov.iov_len = s->v->bm_bytes;
	bm->cb.op = TD_IO_WRITE;
	bm->cb.fd = s->fd;
	bm->cb.iov = &bm->iov;
	bm->cb.iovcnt = 1;
	bm->cb.offset = (off_t)s->v->bat[bm->blk] * TD_VHD_SECTOR;
	bm->cb.done = bm_write_done;
	bm->cb.arg = bm;
	s->st_bm_writes++;
	td_io_submit(s->img->ctx.io, &bm->cb);
}

static void bm_write_done(struct td_iocb *cb, int res)
{
	struct vhd_bm *bm = cb->arg;
	struct vhd_state *s = bm->s;
	struct td_list *pos;

	bm->writing = false;
	bm->unsynced = res != 0;
	/* a full bitmap on disk lets reads and writes skip it from now on */
	if (!res && td_vhd_bitmap_full(bm->wbuf, s->v->spb, vhd_le(s)))
		td_vhd_batmap_mark(s->v, bm->blk, true);
	/* pinned by the ios below until they are released */
	vhd_bm_ref(s, bm);
	while ((pos = td_list_pop(&bm->cur_ios))) {
		struct vhd_io *io = td_list_entry(pos, struct vhd_io, link);
		struct vhd_vreq *vr = io->vr;

		io->bm = NULL;
		vhd_bm_unref(s, bm);
		vhd_io_put(s, io);
		vhd_vreq_io_done(s, vr, res);
	}
	bm_flush(s, bm);
	vhd_bm_unref(s, bm);
}

void vhd_bm_data_done(struct vhd_state *s, struct vhd_io *io, int res)
{
	struct vhd_bm *bm = io->bm;
	struct vhd_vreq *vr = io->vr;

	if (res < 0) {
		io->bm = NULL;
		vhd_bm_unref(s, bm);
		vhd_io_put(s, io);
		vhd_vreq_io_done(s, vr, res);
		return;
	}
	/* the data is on disk: the bits may now say so */
	td_vhd_bitmap_set_range(bm->map, io->first, io->n, vhd_le(s));
	td_list_add_tail(&io->link, &bm->next_ios);
	bm_flush(s, bm);
}

/* ---- tail footer -------------------------------------------------- */

uint64_t vhd_blkdev_footer_pos(uint64_t dev_size)
{
	uint64_t whole = dev_size / TD_VHD_SECTOR * TD_VHD_SECTOR;

	return whole >= TD_VHD_FOOTER_SIZE ? whole - TD_VHD_FOOTER_SIZE : 0;
}

bool vhd_block_fits(uint64_t sector, uint32_t bm_secs, uint32_t spb,
		    uint64_t foot_pos)
{
	return (sector + bm_secs + spb) * TD_VHD_SECTOR <= foot_pos;
}

/* next_db after reserving @k more blocks, without reserving them. */
static uint64_t next_db_after(struct vhd_state *s, uint32_t k)
{
	struct td_vhd *v = s->v;
	uint64_t save = v->next_db, end;
	uint32_t sec;

	while (k-- && !td_vhd_reserve_block(v, &sec))
		;
	end = v->next_db;
	v->next_db = save;
	return end;
}

static uint64_t slot_end(const struct vhd_state *s,
			 const struct vhd_alloc *al)
{
	return ((uint64_t)al->sector + s->v->bm_secs + s->v->spb) *
	       TD_VHD_SECTOR;
}

static void alloc_issue(struct vhd_state *s, struct vhd_alloc *al);
static void alloc_finish(struct vhd_state *s, struct vhd_alloc *al,
			 int err);
static void foot_done(struct td_iocb *cb, int res);

/* Moves the footer ahead if an allocation waits for it and none is. */
static void foot_kick(struct vhd_state *s)
{
	uint32_t lead = s->unreserved < VHD_FOOTER_LEAD ? s->unreserved :
							 VHD_FOOTER_LEAD;

	if (s->foot_busy || td_list_empty(&s->foot_wait))
		return;
	s->foot_target = next_db_after(s, lead) * TD_VHD_SECTOR;
	s->foot_busy = true;
	s->foot_iov.iov_base = s->foot_buf;
	s->foot_iov.iov_len = TD_VHD_FOOTER_SIZE;
	s->foot_cb.op = TD_IO_WRITE;
	s->foot_cb.fd = s->fd;
	s->foot_cb.iov = &s->foot_iov;
	s->foot_cb.iovcnt = 1;
	s->foot_cb.offset = (off_t)s->foot_target;
	s->foot_cb.done = foot_done;
	s->foot_cb.arg = s;
	s->st_footer_moves++;
	td_io_submit(s->img->ctx.io, &s->foot_cb);
}

static void foot_done(struct td_iocb *cb, int res)
{
	struct vhd_state *s = cb->arg;
	struct td_list *pos, *tmp;

	s->foot_busy = false;
	if (!res)
		s->foot_pos = s->foot_target;
	td_list_for_each_safe(pos, tmp, &s->foot_wait) {
		struct vhd_alloc *al =
			td_list_entry(pos, struct vhd_alloc, wlink);

		if (res) {
			td_list_del(&al->wlink);
			alloc_finish(s, al, res);
		} else if (slot_end(s, al) <= s->foot_pos) {
			td_list_del(&al->wlink);
			alloc_issue(s, al);
		}
	}
	foot_kick(s);
}

/* ---- allocation --------------------------------------------------- */

struct vhd_alloc *vhd_alloc_find(struct vhd_state *s, uint32_t blk)
{
	struct td_list *pos;

	td_list_for_each(pos, &s->al_active) {
		struct vhd_alloc *al =
			td_list_entry(pos, struct vhd_alloc, link);

		if (al->blk == blk)
			return al;
	}
	return NULL;
}

static void alloc_part_done(struct vhd_state *s, struct vhd_alloc *al,
			    int res);

static void alloc_bm_done(struct td_iocb *cb, int res)
{
	struct vhd_alloc *al = cb->arg;

	alloc_part_done(al->s, al, res);
}

void vhd_alloc_io_done(struct vhd_state *s, struct vhd_alloc *al, int res)
{
	alloc_part_done(s, al, res);
}

/* Step 2: bitmap and data, in one write when they are contiguous. */
static void alloc_issue(struct vhd_state *s, struct vhd_alloc *al)
{
	struct td_vhd *v = s->v;
	struct vhd_io *io = al->io;
	struct vhd_bm *bm = al->bm;
	uint64_t bm_off = (uint64_t)al->sector * TD_VHD_SECTOR;

	al->state = AL_DATA;
	memcpy(bm->wbuf, bm->map, v->bm_bytes);
	if (al->off == 0) {
		/* iov[0] was left free for the bitmap by vhd_alloc_start */
		io->iov[0].iov_base = bm->wbuf;
		io->iov[0].iov_len = v->bm_bytes;
		io->cb.iov = io->iov;
		io->cb.iovcnt++;
		io->cb.fd = vhd_data_fd(s, io->iov, io->cb.iovcnt);
		io->cb.offset = (off_t)bm_off;
		al->pending = 1;
	} else {
		io->cb.offset = (off_t)(bm_off + ((uint64_t)v->bm_secs +
						  al->off) * TD_VHD_SECTOR);
		al->pending = 2;
		bm->iov.iov_base = bm->wbuf;
		bm->iov.iov_len = v->bm_bytes;
		bm->cb.op = TD_IO_WRITE;
		bm->cb.fd = s->fd;
		bm->cb.iov = &bm->iov;
		bm->cb.iovcnt = 1;
		bm->cb.offset = (off_t)bm_off;
		bm->cb.done = alloc_bm_done;
		bm->cb.arg = al;
		td_io_submit(s->img->ctx.io, &bm->cb);
	}
	td_io_submit(s->img->ctx.io, &io->cb);
}

static struct vhd_batw *batw_busy_for(struct vhd_state *s, uint32_t bsec)
{
	struct td_list *pos;

	td_list_for_each(pos, &s->batw_busy) {
		struct vhd_batw *w = td_list_entry(pos, struct vhd_batw, link);

		if (w->bsec == bsec)
			return w;
	}
	return NULL;
}

static void bat_done(struct td_iocb *cb, int res);

/* Step 3: one BAT sector write committing every ready entry in it. */
static void bat_issue(struct vhd_state *s, uint32_t bsec)
{
	struct td_list *n = td_list_pop(&s->batw_free), *pos;
	struct vhd_batw *w;
	uint64_t off = 0;

	/* there are as many BAT writers as allocations: never NULL */
	w = td_list_entry(n, struct vhd_batw, link);
	w->bsec = bsec;
	td_list_add_tail(&w->link, &s->batw_busy);
	for (pos = s->al_active.next; pos != &s->al_active; pos = pos->next) {
		struct vhd_alloc *al =
			td_list_entry(pos, struct vhd_alloc, link);

		if (al->state != AL_BAT_WAIT || al->blk / 128 != bsec)
			continue;
		if (td_list_empty(&w->allocs))
			off = td_vhd_bat_sector(s->v, al->blk, w->buf);
		al->state = AL_BAT;
		td_list_add_tail(&al->wlink, &w->allocs);
	}
	/* entries not committed in memory yet: patch them into the copy */
	td_list_for_each(pos, &w->allocs) {
		struct vhd_alloc *al =
			td_list_entry(pos, struct vhd_alloc, wlink);
		uint8_t *p = w->buf + (al->blk % 128) * 4;

		p[0] = (uint8_t)(al->sector >> 24);
		p[1] = (uint8_t)(al->sector >> 16);
		p[2] = (uint8_t)(al->sector >> 8);
		p[3] = (uint8_t)al->sector;
	}
	w->iov.iov_base = w->buf;
	w->iov.iov_len = TD_VHD_SECTOR;
	w->cb.op = TD_IO_WRITE;
	w->cb.fd = s->fd;
	w->cb.iov = &w->iov;
	w->cb.iovcnt = 1;
	w->cb.offset = (off_t)off;
	w->cb.done = bat_done;
	w->cb.arg = w;
	s->st_bat_writes++;
	td_io_submit(s->img->ctx.io, &w->cb);
}

static void bat_done(struct td_iocb *cb, int res)
{
	struct vhd_batw *w = cb->arg;
	struct vhd_state *s = w->s;
	struct td_list *pos;
	uint32_t bsec = w->bsec;

	td_list_del(&w->link);
	td_list_add(&w->link, &s->batw_free);
	while ((pos = td_list_pop(&w->allocs))) {
		struct vhd_alloc *al =
			td_list_entry(pos, struct vhd_alloc, wlink);

		if (!res)
			td_vhd_bat_set(s->v, al->blk, al->sector);
		alloc_finish(s, al, res);
	}
	/* entries that became ready while this write was in flight */
	td_list_for_each(pos, &s->al_active) {
		struct vhd_alloc *al =
			td_list_entry(pos, struct vhd_alloc, link);

		if (al->state == AL_BAT_WAIT && al->blk / 128 == bsec) {
			bat_issue(s, bsec);
			break;
		}
	}
}

static void alloc_part_done(struct vhd_state *s, struct vhd_alloc *al,
			    int res)
{
	if (res && !al->err)
		al->err = res;
	if (--al->pending)
		return;
	if (al->err) {
		alloc_finish(s, al, al->err);
		return;
	}
	al->state = AL_BAT_WAIT;
	if (!batw_busy_for(s, al->blk / 128))
		bat_issue(s, al->blk / 128);
}

/* Step 4 (or failure): wakes the block's waiters and acks the write. */
static void alloc_finish(struct vhd_state *s, struct vhd_alloc *al,
			 int err)
{
	struct vhd_vreq *vr = al->vr;
	struct vhd_bm *bm = al->bm;

	td_list_del(&al->link);
	if (al->io) {
		vhd_io_put(s, al->io);
		al->io = NULL;
	}
	if (err) {
		/* the block stays unallocated; its reserved space is leaked */
		bm_invalidate(bm);
	} else {
		s->st_allocs++;
		if (td_vhd_bitmap_full(bm->map, s->v->spb, vhd_le(s)))
			td_vhd_batmap_mark(s->v, al->blk, true);
	}
	vhd_bm_unref(s, bm);
	vhd_wake_all(s, &al->waiters);
	td_list_add(&al->link, &s->al_free);
	vhd_wake_all(s, &s->wait_al);
	vhd_vreq_io_done(s, vr, err);
}

/*
 * A new block would run into a block device's footer: the write fails
 * with -ENOSPC and nothing is written, so the image stays valid and
 * reads go on. The storage manager grows the logical volume and pauses
 * and unpauses the VBD, whose reopen moves the footer to the new end.
 */
static int alloc_enospc(struct vhd_state *s, uint32_t blk, uint32_t sector)
{
	s->st_enospc++;
	td_log_ratelimited(&s->enospc_rl, TD_LOG_WARN, TD_SUB_DRV,
			   "%s: device full: block %u would end at 0x%llx, "
			   "past the footer at 0x%llx (%llu refused)",
			   s->img->path, blk,
			   (unsigned long long)((uint64_t)sector +
						s->v->bm_secs + s->v->spb) *
				   TD_VHD_SECTOR,
			   (unsigned long long)s->foot_pos,
			   (unsigned long long)s->st_enospc);
	return -ENOSPC;
}

int vhd_alloc_start(struct vhd_state *s, struct vhd_vreq *vr, uint32_t blk,
		    uint32_t off, uint32_t n, uint64_t buf_off)
{
	struct td_req *req = vr->req;
	struct vhd_alloc *al;
	struct vhd_io *io;
	struct vhd_bm *bm;
	struct td_list *l;
	uint64_t save_db;
	uint32_t sector;
	int cnt, rc;

	if (td_list_empty(&s->al_free)) {
		td_list_add_tail(&vr->link, &s->wait_al);
		return 1;
	}
	if (td_list_empty(&s->io_free)) {
		td_list_add_tail(&vr->link, &s->wait_io);
		return 1;
	}
	bm = bm_take(s, blk);
	if (!bm) {
		td_list_add_tail(&vr->link, &s->wait_bm);
		return 1;
	}
	save_db = s->v->next_db;
	rc = td_vhd_reserve_block(s->v, &sector);
	if (!rc && s->blkdev &&
	    !vhd_block_fits(sector, s->v->bm_secs, s->v->spb, s->foot_pos)) {
		/* nothing was written there: give the reservation back */
		s->v->next_db = save_db;
		rc = alloc_enospc(s, blk, sector);
	}
	if (rc) {
		bm_invalidate(bm);
		vhd_bm_unref(s, bm);
		return rc;
	}
	s->unreserved--;
	l = td_list_pop(&s->io_free);
	io = td_list_entry(l, struct vhd_io, link);
	/* iov[0] stays free for a combined bitmap + data write */
	cnt = td_req_slice_iov(req, buf_off, (uint64_t)n << TD_SECTOR_SHIFT,
			       io->iov + 1, TD_REQ_MAX_IOV);
	if (cnt < 0) {
		/* cannot happen for a request the core checked */
		vhd_io_put(s, io);
		bm_invalidate(bm);
		vhd_bm_unref(s, bm);
		return cnt;
	}
	io->vr = vr;
	io->bm = NULL;
	io->cb.op = TD_IO_WRITE;
	io->cb.fd = vhd_data_fd(s, io->iov + 1, cnt);
	io->cb.iov = io->iov + 1;
	io->cb.iovcnt = cnt;
	io->cb.done = vhd_io_done;
	io->cb.arg = io;

	l = td_list_pop(&s->al_free);
	al = td_list_entry(l, struct vhd_alloc, link);
	al->blk = blk;
	al->sector = sector;
	al->off = off;
	al->n = n;
	al->err = 0;
	al->vr = vr;
	al->io = io;
	al->bm = bm;
	io->al = al;
	td_list_init(&al->waiters);
	td_list_add_tail(&al->link, &s->al_active);

	bm->state = BM_READY;
	memset(bm->map, 0, s->v->bm_bytes);
	td_vhd_bitmap_set_range(bm->map, off, n, vhd_le(s));
	/* a stale "full" bit must not outlive the block it described */
	td_vhd_batmap_mark(s->v, blk, false);

	vr->ios++;
	if (slot_end(s, al) <= s->foot_pos) {
		alloc_issue(s, al);
	} else {
		al->state = AL_FOOTER;
		td_list_add_tail(&al->wlink, &s->foot_wait);
		foot_kick(s);
	}
	return 0;
}

/* ---- open / close ------------------------------------------------- */

/*
 * A regular file: make it end exactly with a footer at next_db. After a
 * crash there may be leaked space (blocks written but never referenced)
 * between the end of data and the tail footer, or no tail footer at all
 * (a blktap file open at the crash): new blocks must go to space that
 * reads as holes, so rewrite the tail at next_db, make it durable, then
 * truncate what lies beyond. Every step leaves a valid file: the old tail
 * stays until the truncate, and the new one is durable before it.
 */
static int open_rw_file(struct vhd_state *s, struct td_vhd_err *err)
{
	struct td_vhd *v = s->v;
	uint64_t end = v->next_db * TD_VHD_SECTOR;
	ssize_t n;

	if (v->tail_ok && v->file_size == end + TD_VHD_FOOTER_SIZE) {
		s->foot_pos = end;
		return 0;
	}
	n = pwrite(v->fd, s->foot_buf, TD_VHD_FOOTER_SIZE, (off_t)end);
	if (n != (ssize_t)TD_VHD_FOOTER_SIZE)
		return td_vhd_error(err, n < 0 ? -errno : -EIO,
				    "writing the tail footer at 0x%llx failed",
				    (unsigned long long)end);
	if (fdatasync(v->fd) ||
	    ftruncate(v->fd, (off_t)(end + TD_VHD_FOOTER_SIZE)) ||
	    fdatasync(v->fd))
		return td_vhd_error(err, -errno,
				    "trimming the file after 0x%llx failed",
				    (unsigned long long)end);
	v->file_size = end + TD_VHD_FOOTER_SIZE;
	v->tail_ok = true;
	s->foot_pos = end;
	return 0;
}

/*
 * A block device: its size is fixed (the storage manager sizes the
 * logical volume ahead of the data), so the tail footer belongs in its
 * last sector, as blktap keeps it, and never moves while open. It is
 * missing there after the volume was grown (the old one now lies in free
 * space past the data) or after a crash of a writer that kept none: write
 * it from the trusted copy (the head one then), which stays valid
 * meanwhile. Nothing is truncated; leaked space is simply reused.
 */
static int open_rw_blkdev(struct vhd_state *s, struct td_vhd_err *err)
{
	struct td_vhd *v = s->v;
	uint64_t foot = vhd_blkdev_footer_pos(s->dev_size);
	uint64_t phys = td_vhd_phys_size(v);
	ssize_t n;

	if (!foot || phys > foot + TD_VHD_FOOTER_SIZE)
		return td_vhd_error(err, -ENOSPC, "data ends at 0x%llx: no "
				    "room for the footer in the last sector "
				    "of a 0x%llx-byte device",
				    (unsigned long long)(phys -
							 TD_VHD_FOOTER_SIZE),
				    (unsigned long long)s->dev_size);
	s->foot_pos = foot;
	if (v->tail_ok)
		return 0; /* the library read it at the device's end */
	n = pwrite(v->fd, s->foot_buf, TD_VHD_FOOTER_SIZE, (off_t)foot);
	if (n != (ssize_t)TD_VHD_FOOTER_SIZE)
		return td_vhd_error(err, n < 0 ? -errno : -EIO,
				    "writing the footer at 0x%llx failed",
				    (unsigned long long)foot);
	if (fdatasync(v->fd))
		return td_vhd_error(err, -errno, "fdatasync failed: %s",
				    strerror(errno));
	v->tail_ok = true;
	return 0;
}

int vhd_meta_open_rw(struct vhd_state *s, struct td_vhd_err *err)
{
	struct td_vhd *v = s->v;
	struct td_vhd_footer f = v->footer;
	uint32_t i;

	td_vhd_footer_encode(&f, s->foot_buf);
	s->unreserved = 0;
	for (i = 0; i < v->bat_used; i++)
		if (v->bat[i] == TD_VHD_BAT_UNUSED)
			s->unreserved++;
	return s->blkdev ? open_rw_blkdev(s, err) : open_rw_file(s, err);
}

int vhd_meta_init(struct vhd_state *s, unsigned depth)
{
	uint32_t bmb = s->v->bm_bytes;
	unsigned i;

	s->nbm = depth + 32;
	s->nalloc = depth < 64 ? depth : 64;
	for (s->nhash = 16; s->nhash < s->nbm; s->nhash <<= 1)
		;
	s->bms = calloc(s->nbm, sizeof(*s->bms));
	s->bm_hash = calloc(s->nhash, sizeof(*s->bm_hash));
	s->bm_mem = vhd_zalloc((size_t)s->nbm * 2 * bmb);
	s->allocs = calloc(s->nalloc, sizeof(*s->allocs));
	s->batws = calloc(s->nalloc, sizeof(*s->batws));
	s->batw_mem = vhd_zalloc((size_t)s->nalloc * TD_VHD_SECTOR);
	s->foot_buf = vhd_zalloc(TD_VHD_FOOTER_SIZE);
	s->scratch = vhd_zalloc(bmb);
	if (!s->bms || !s->bm_hash || !s->bm_mem || !s->allocs ||
	    !s->batws || !s->batw_mem || !s->foot_buf || !s->scratch)
		return -ENOMEM;
	td_list_init(&s->bm_lru);
	for (i = 0; i < s->nhash; i++)
		td_list_init(&s->bm_hash[i]);
	for (i = 0; i < s->nbm; i++) {
		struct vhd_bm *bm = &s->bms[i];

		bm->s = s;
		bm->map = s->bm_mem + (size_t)i * 2 * bmb;
		bm->wbuf = bm->map + bmb;
		td_list_init(&bm->waiters);
		td_list_init(&bm->next_ios);
		td_list_init(&bm->cur_ios);
		td_list_init(&bm->hash);
		td_list_add_tail(&bm->lru, &s->bm_lru);
	}
	td_list_init(&s->al_free);
	td_list_init(&s->al_active);
	td_list_init(&s->batw_free);
	td_list_init(&s->batw_busy);
	td_list_init(&s->foot_wait);
	for (i = 0; i < s->nalloc; i++) {
		s->allocs[i].s = s;
		td_list_init(&s->allocs[i].waiters);
		td_list_init(&s->allocs[i].wlink);
		td_list_add_tail(&s->allocs[i].link, &s->al_free);
		s->batws[i].s = s;
		s->batws[i].buf = s->batw_mem + (size_t)i * TD_VHD_SECTOR;
		td_list_init(&s->batws[i].allocs);
		td_list_add_tail(&s->batws[i].link, &s->batw_free);
	}
	return 0;
}

void vhd_meta_free(struct vhd_state *s)
{
	free(s->bms);
	free(s->bm_hash);
	free(s->bm_mem);
	free(s->allocs);
	free(s->batws);
	free(s->batw_mem);
	free(s->foot_buf);
	free(s->scratch);
}
