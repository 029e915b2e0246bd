/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private state of the "vhd" image driver (drivers/drv-vhd.c and
 * drivers/vhd/vhd-driver-meta.c). Not a library contract: only the two
 * driver files include it. Everything here lives on the loop thread and is
 * allocated once, in open, sized from td_image_ctx.depth.
 */
#ifndef TD_VHD_DRIVER_H
#define TD_VHD_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include "image.h"
#include "io.h"
#include "loop.h"
#include "req.h"
#include "td-list.h"
#include "td-log.h"
#include "vhd-format.h"

struct vhd_state;
struct vhd_alloc;
struct vhd_bm;

/* Per-request state: one per request inside this image. */
struct vhd_vreq {
	struct vhd_state *s;
	struct td_req *req;
	uint64_t cur;         /* next sector to issue */
	unsigned ios;         /* own I/O (and allocations) not yet done */
	int err;              /* first error */
	bool flushed;         /* FUA: the trailing flush has been issued */
	struct td_list link;  /* free list, or the one list it waits on */
	struct td_iocb fcb;   /* FLUSH request, or FUA's trailing flush */
};

/* A data read/write of part of a request. */
struct vhd_io {
	struct td_iocb cb;
	struct vhd_state *s;
	struct vhd_vreq *vr;
	struct vhd_alloc *al; /* set: this I/O is part of an allocation */
	struct vhd_bm *bm;    /* set: bits [first, +n) to persist after it */
	uint32_t first, n;
	struct td_list link;  /* free list, or bitmap write waiters */
	struct iovec iov[TD_REQ_MAX_IOV + 1];
};

enum vhd_bm_state { BM_FREE, BM_LOADING, BM_READY };

/* One cached sector bitmap. */
struct vhd_bm {
	struct vhd_state *s;
	uint32_t blk;
	enum vhd_bm_state state;
	unsigned refs;        /* pins; evictable at 0 (then on the LRU) */
	bool writing;
	bool unsynced;        /* a bitmap write failed: map may differ */
	uint8_t *map;         /* current bits: set once their data is written */
	uint8_t *wbuf;        /* stable copy handed to the disk write */
	struct td_list waiters;  /* vreqs waiting for the load */
	struct td_list next_ios; /* vhd_io whose bits await the next write */
	struct td_list cur_ios;  /* vhd_io acknowledged by the current write */
	struct td_list hash;
	struct td_list lru;
	struct td_iocb cb;
	struct iovec iov;
};

enum vhd_al_state { AL_FOOTER, AL_DATA, AL_BAT_WAIT, AL_BAT };

/* One block allocation in flight. */
struct vhd_alloc {
	struct vhd_state *s;
	enum vhd_al_state state;
	uint32_t blk;
	uint32_t sector;      /* of the block's bitmap */
	uint32_t off, n;      /* the initial write's sectors in the block */
	unsigned pending;     /* data/bitmap writes outstanding */
	int err;
	struct vhd_vreq *vr;  /* the request that started it */
	struct vhd_io *io;    /* its data write */
	struct vhd_bm *bm;    /* the new block's bitmap (pinned) */
	struct td_list waiters; /* vreqs waiting for the block */
	struct td_list link;  /* free list / active list */
	struct td_list wlink; /* footer wait / BAT wait / BAT write */
};

/* One BAT sector write, committing the allocations attached to it. */
struct vhd_batw {
	uint32_t bsec;        /* BAT sector index */
	uint8_t *buf;         /* 512 bytes, aligned */
	struct td_list allocs;
	struct td_list link;  /* free list / busy list */
	struct td_iocb cb;
	struct iovec iov;
	struct vhd_state *s;
};

struct vhd_state {
	struct td_image *img;
	struct td_vhd *v;
	int fd;               /* data path: O_DIRECT unless refused */
	bool direct;          /* fd is O_DIRECT (v->fd is buffered) */
	bool fixed, rdonly;
	/*
	 * A block device (a logical volume): its size is fixed, so the tail
	 * footer stays in its last sector and new blocks must end before it
	 * (-ENOSPC otherwise); nothing is ever truncated or moved.
	 */
	bool blkdev;
	uint64_t dev_size;    /* blkdev: bytes, from BLKGETSIZE64 at open */

	struct vhd_vreq *vreqs;
	struct td_list vreq_free;
	struct vhd_io *ios;
	unsigned nio;
	struct td_list io_free;
	struct vhd_alloc *allocs;
	unsigned nalloc;
	struct td_list al_free, al_active;
	struct vhd_batw *batws;
	struct td_list batw_free, batw_busy;
	struct vhd_bm *bms;
	unsigned nbm, nhash;
	struct td_list *bm_hash;
	struct td_list bm_lru;
	uint8_t *bm_mem, *batw_mem;

	/* vreqs ready to run from the kick, and the resources they wait on */
	struct td_list runq, wait_io, wait_bm, wait_al, wait_fwd;
	struct td_list wait_vreq; /* td_req.link: no vreq was free */
	struct td_list doneq;     /* td_req.link: parts to end from the kick */
	struct td_loop_defer kick;

	/* tail footer: a file's moves ahead of new blocks, a block
	 * device's stays in its last sector (see vhd-driver-meta.c) */
	uint8_t *foot_buf;
	struct td_iocb foot_cb;
	struct iovec foot_iov;
	bool foot_busy;
	uint64_t foot_pos;    /* byte offset of the valid tail footer:
			       * new blocks must end at or before it */
	uint64_t foot_target; /* of the footer write in flight */
	struct td_list foot_wait;
	uint32_t unreserved;  /* blocks never allocated nor reserved */

	uint8_t *scratch;     /* block_status bitmap reads */

	uint64_t st_allocs, st_bm_hits, st_bm_misses, st_bm_writes;
	uint64_t st_bat_writes, st_footer_moves, st_waits, st_punches;
	uint64_t st_enospc;   /* allocations refused: device full */
	struct td_ratelimit enospc_rl; /* guest writes trigger its log */
};

/* Sector bitmap bit order of this image. */
static inline bool vhd_le(const struct vhd_state *s)
{
	return s->v->bm_le;
}

/* ---- drv-vhd.c: the request engine --------------------------------- */

/* Puts @vr on the run queue; it resumes from the kick. */
void vhd_wake(struct vhd_state *s, struct vhd_vreq *vr);
/* Moves every vreq on @list to the run queue. */
void vhd_wake_all(struct vhd_state *s, struct td_list *list);
/* One of @vr's own I/Os finished with @err: may finish the request. */
void vhd_vreq_io_done(struct vhd_state *s, struct vhd_vreq *vr, int err);
/* Completion of every vhd_io (data reads/writes, allocation data). */
void vhd_io_done(struct td_iocb *cb, int res);
/*
 * The descriptor for a data command on @iov: the O_DIRECT one, or the
 * buffered one when a buffer is not sector-aligned (frontends may hand
 * such buffers; O_DIRECT would refuse them with EINVAL).
 */
int vhd_data_fd(const struct vhd_state *s, const struct iovec *iov, int cnt);
/* Returns a data I/O to the pool and wakes waiters. */
void vhd_io_put(struct vhd_state *s, struct vhd_io *io);

/* ---- vhd-driver-meta.c: bitmaps, allocation, BAT, footer ------------ */

/* Allocates the bitmap cache, allocation and BAT-write pools. 0/-errno. */
int vhd_meta_init(struct vhd_state *s, unsigned depth);
void vhd_meta_free(struct vhd_state *s);

/*
 * Returns the READY bitmap of committed block @blk, or NULL with @vr
 * parked (on the load, or on the cache) or, with *@err set, failed.
 */
struct vhd_bm *vhd_bm_get(struct vhd_state *s, struct vhd_vreq *vr,
			  uint32_t blk, int *err);
/* The cached bitmap of @blk if present and READY (no side effects). */
struct vhd_bm *vhd_bm_peek(struct vhd_state *s, uint32_t blk);
void vhd_bm_ref(struct vhd_state *s, struct vhd_bm *bm);
void vhd_bm_unref(struct vhd_state *s, struct vhd_bm *bm);
/*
 * The data write @io (io->bm set) finished with @res: sets its bits and
 * queues them for the next bitmap write; the I/O completes after it.
 */
void vhd_bm_data_done(struct vhd_state *s, struct vhd_io *io, int res);

/* The allocation of @blk in flight, or NULL. */
struct vhd_alloc *vhd_alloc_find(struct vhd_state *s, uint32_t blk);
/*
 * Starts allocating @blk for the write of sectors [@off, +@n) of it at
 * request byte @buf_off. Returns 0 (issued: counts as one of @vr's I/Os),
 * 1 (@vr parked for a resource) or -errno.
 */
int vhd_alloc_start(struct vhd_state *s, struct vhd_vreq *vr, uint32_t blk,
		    uint32_t off, uint32_t n, uint64_t buf_off);
/* The data write of an allocation finished. */
void vhd_alloc_io_done(struct vhd_state *s, struct vhd_alloc *al, int res);

/*
 * Read-write open of a dynamic/differencing image, after vhd_meta_init:
 * places the tail footer where allocations will keep it valid (a file:
 * at the end of data, trimming leaked space; a block device: in its last
 * sector) and sets foot_pos. Sync I/O, control path. 0 or -errno with
 * @err filled.
 */
int vhd_meta_open_rw(struct vhd_state *s, struct td_vhd_err *err);

/*
 * Byte offset of a block device's tail footer: its last whole sector, or
 * 0 when @dev_size cannot hold one. Pure.
 */
uint64_t vhd_blkdev_footer_pos(uint64_t dev_size);
/*
 * Whether a block whose bitmap starts at sector @sector fits before a
 * tail footer at byte @foot_pos (@bm_secs + @spb sectors long). Pure.
 */
bool vhd_block_fits(uint64_t sector, uint32_t bm_secs, uint32_t spb,
		    uint64_t foot_pos);

#endif /* TD_VHD_DRIVER_H */
