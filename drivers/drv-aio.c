/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * "aio": a raw image in a regular file or a block device, through the
 * process's I/O backend (libaio or io_uring, see tapdisk/io.h).
 *
 * O_DIRECT is used when the file system allows it. A request whose buffers
 * or offset do not meet the O_DIRECT alignment goes to a second, buffered
 * descriptor of the same file instead of through a bounce buffer: a bounce
 * buffer per slot would cost depth x 1 MiB of memory for a rare case, and
 * the kernel keeps the two descriptors coherent (direct I/O writes back
 * and invalidates the cached range around itself), while fdatasync on
 * either descriptor makes the whole inode durable.
 *
 * WRITE_ZEROES punches a hole unless TD_REQ_NO_HOLE asks to keep the
 * allocation; then it writes zeros from a preallocated zero buffer. The I/O
 * seam has no FALLOC_FL_ZERO_RANGE and calling fallocate synchronously
 * would block the loop thread for as long as the file system takes.
 *
 * block_status (NBD base:allocation) asks the file system with
 * lseek(SEEK_DATA/SEEK_HOLE): holes read as zeros and have no parent to
 * fall through to. A block device reports everything as data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include "image.h"
#include "td-log.h"

#define AIO_ZERO_BUF (64u * 1024)
#define AIO_ZERO_IOV 16u /* one zeroing command writes at most 1 MiB */

enum aio_stage {
	AIO_RW,         /* read, write, flush: done when the command is */
	AIO_WRITE_FUA,  /* write done, flush next */
	AIO_DISCARD,    /* a discard the file system may not support */
	AIO_PUNCH,      /* WRITE_ZEROES as a hole */
	AIO_ZEROING,    /* WRITE_ZEROES as writes of zeros, chunk by chunk */
};

struct aio_slot {
	struct td_iocb cb;
	struct aio_priv *p;
	struct td_req *req;
	enum aio_stage stage;
	uint64_t zoff, zend;  /* AIO_ZEROING: bytes left to write */
	struct td_list link;  /* on the free list */
	struct iovec iov[TD_REQ_MAX_IOV]; /* scratch for the backend */
};

struct aio_priv {
	struct td_image *img;
	int fd;               /* O_DIRECT if @direct */
	int fd_buf;           /* buffered; the same as @fd if !@direct */
	bool direct;
	bool can_punch;
	bool is_reg;          /* a regular file: SEEK_HOLE applies */
	unsigned mem_align, off_align; /* O_DIRECT requirements */
	void *zero;           /* AIO_ZERO_BUF bytes of zeros */
	struct aio_slot *slots;
	struct td_list free;
	struct td_list waitq; /* td_req.link: arrived while no slot was free */
	uint64_t st_buffered, st_punched, st_zero_writes;
};

/* Size and O_DIRECT alignment of what fd_buf refers to. */
static int aio_probe_size(struct td_image *img, struct aio_priv *p,
			  struct stat *st, uint64_t *bytes)
{
	int ssz;

	if (fstat(p->fd_buf, st))
		return -errno;
	p->mem_align = p->off_align = TD_SECTOR_SIZE;
	if (S_ISREG(st->st_mode)) {
		*bytes = (uint64_t)st->st_size;
		return 0;
	}
	if (!S_ISBLK(st->st_mode))
		return -EINVAL;
	if (ioctl(p->fd_buf, BLKGETSIZE64, bytes))
		return -errno;
	if (ioctl(p->fd_buf, BLKSSZGET, &ssz) == 0 && ssz > 0)
		p->mem_align = p->off_align = (unsigned)ssz;
	return 0;
}

#ifdef STATX_DIOALIGN
/* File systems may need more than 512-byte alignment (4Kn devices). */
static void aio_dio_align(struct aio_priv *p)
{
	struct statx stx;

	if (statx(p->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_mem_align &&
	    stx.stx_dio_offset_align) {
		p->mem_align = stx.stx_dio_mem_align;
		p->off_align = stx.stx_dio_offset_align;
	}
}
#else
static void aio_dio_align(struct aio_priv *p)
{
}
#endif

/* Opens the O_DIRECT descriptor, or settles for buffered I/O. */
static int aio_open_direct(struct td_image *img, struct aio_priv *p,
			   int acc, const struct stat *st)
{
	struct stat st2;

	p->fd = p->fd_buf;
	if (img->flags & TD_OPEN_NO_O_DIRECT)
		return 0;
	p->fd = open(img->path, acc | O_CLOEXEC | O_DIRECT);
	if (p->fd < 0) {
		p->fd = p->fd_buf;
		if (errno != EINVAL)
			return -errno;
		td_info(TD_SUB_DRV,
			"aio: %s: O_DIRECT unsupported, using buffered I/O",
			img->path);
		return 0;
	}
	/* The path must not have been replaced between the two opens. */
	if (fstat(p->fd, &st2) || st2.st_dev != st->st_dev ||
	    st2.st_ino != st->st_ino) {
		close(p->fd);
		p->fd = p->fd_buf;
		return -ESTALE;
	}
	p->direct = true;
	if (S_ISREG(st->st_mode))
		aio_dio_align(p);
	return 0;
}

/* Can the file punch holes? Probed past EOF, where it changes nothing. */
static bool aio_probe_punch(struct aio_priv *p, const struct stat *st,
			    uint64_t bytes)
{
	if (S_ISBLK(st->st_mode))
		return true;
	bytes = (bytes + 4095) & ~4095ull;
	return fallocate(p->fd_buf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)bytes, 4096) == 0;
}

static void aio_close(struct td_image *img)
{
	struct aio_priv *p = img->priv;

	if (p->fd >= 0 && p->fd != p->fd_buf)
		close(p->fd);
	if (p->fd_buf >= 0)
		close(p->fd_buf);
	free(p->zero);
	free(p->slots);
}

static void aio_cb_done(struct td_iocb *cb, int res);

static int aio_alloc(struct td_image *img, struct aio_priv *p)
{
	unsigned i;

	p->slots = calloc(img->ctx.depth, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	for (i = 0; i < img->ctx.depth; i++) {
		p->slots[i].p = p;
		p->slots[i].cb.done = aio_cb_done;
		p->slots[i].cb.arg = &p->slots[i];
		td_list_add_tail(&p->slots[i].link, &p->free);
	}
	if (img->flags & TD_OPEN_RDONLY)
		return 0;
	if (posix_memalign(&p->zero, 4096, AIO_ZERO_BUF))
		return -ENOMEM;
	memset(p->zero, 0, AIO_ZERO_BUF);
	return 0;
}

static int aio_open(struct td_image *img)
{
	struct aio_priv *p = img->priv;
	int acc = (img->flags & TD_OPEN_RDONLY) ? O_RDONLY : O_RDWR;
	uint64_t bytes;
	struct stat st;
	int rc;

	if (!img->ctx.io)
		return -EINVAL;
	p->img = img;
	p->fd = -1;
	td_list_init(&p->free);
	td_list_init(&p->waitq);
	p->fd_buf = open(img->path, acc | O_CLOEXEC);
	if (p->fd_buf < 0)
		return -errno;
	rc = aio_probe_size(img, p, &st, &bytes);
	if (!rc)
		rc = aio_open_direct(img, p, acc, &st);
	if (!rc)
		rc = aio_alloc(img, p);
	if (rc) {
		aio_close(img);
		return rc;
	}
	if (bytes & (TD_SECTOR_SIZE - 1))
		td_warn(TD_SUB_DRV,
			"aio: %s: size %llu is not a multiple of 512, ignoring the last %llu bytes",
			img->path, (unsigned long long)bytes,
			(unsigned long long)(bytes & (TD_SECTOR_SIZE - 1)));
	img->size_sectors = bytes >> TD_SECTOR_SHIFT;
	if (!(img->flags & TD_OPEN_RDONLY))
		p->can_punch = aio_probe_punch(p, &st, bytes);
	if (!p->can_punch)
		img->caps &= ~TD_CAP_DISCARD;
	p->is_reg = S_ISREG(st.st_mode);
	return 0;
}

/* True if O_DIRECT can take this command as it is. */
static bool aio_aligned(const struct aio_priv *p, uint64_t off,
			const struct iovec *iov, int cnt)
{
	int i;

	if (off % p->off_align)
		return false;
	for (i = 0; i < cnt; i++)
		if ((uintptr_t)iov[i].iov_base % p->mem_align ||
		    iov[i].iov_len % p->off_align)
			return false;
	return true;
}

static void aio_issue(struct aio_priv *p, struct aio_slot *s,
		      enum td_io_op op, uint64_t off, uint64_t len, int cnt)
{
	struct td_iocb *cb = &s->cb;

	cb->op = op;
	cb->fd = p->fd;
	cb->iov = s->iov;
	cb->iovcnt = cnt;
	cb->offset = (off_t)off;
	cb->len = len;
	cb->xferred = 0;
	cb->retries = 0;
	if ((op == TD_IO_READ || op == TD_IO_WRITE) && p->direct &&
	    !aio_aligned(p, off, s->iov, cnt)) {
		cb->fd = p->fd_buf;
		p->st_buffered++;
	}
	td_io_submit(p->img->ctx.io, cb);
}

/* Writes the next chunk of zeros of a WRITE_ZEROES kept allocated. */
static void aio_zero_next(struct aio_priv *p, struct aio_slot *s)
{
	uint64_t left = s->zend - s->zoff, off = s->zoff;
	int cnt = 0;

	while (left && cnt < (int)AIO_ZERO_IOV) {
		uint64_t n = left < AIO_ZERO_BUF ? left : AIO_ZERO_BUF;

		s->iov[cnt].iov_base = p->zero;
		s->iov[cnt].iov_len = (size_t)n;
		s->zoff += n;
		left -= n;
		cnt++;
	}
	s->stage = AIO_ZEROING;
	p->st_zero_writes++;
	aio_issue(p, s, TD_IO_WRITE, off, 0, cnt);
}

static void aio_start(struct aio_priv *p, struct aio_slot *s,
		      struct td_req *req)
{
	uint64_t off = req->sector << TD_SECTOR_SHIFT, len = td_req_bytes(req);

	s->req = req;
	req->drv_priv = s;
	s->stage = AIO_RW;
	switch (req->op) {
	case TD_OP_READ:
	case TD_OP_WRITE:
		memcpy(s->iov, req->iov, sizeof(*s->iov) * (size_t)req->iovcnt);
		if (req->op == TD_OP_WRITE && (req->flags & TD_REQ_FUA))
			s->stage = AIO_WRITE_FUA;
		aio_issue(p, s,
			  req->op == TD_OP_READ ? TD_IO_READ : TD_IO_WRITE, off,
			  0, req->iovcnt);
		break;
	case TD_OP_FLUSH:
		aio_issue(p, s, TD_IO_FLUSH, 0, 0, 0);
		break;
	case TD_OP_DISCARD:
		s->stage = AIO_DISCARD;
		p->st_punched++;
		aio_issue(p, s, TD_IO_DISCARD, off, len, 0);
		break;
	case TD_OP_WRITE_ZEROES:
		if (p->can_punch && !(req->flags & TD_REQ_NO_HOLE)) {
			s->stage = AIO_PUNCH;
			p->st_punched++;
			aio_issue(p, s, TD_IO_DISCARD, off, len, 0);
		} else {
			s->zoff = off;
			s->zend = off + len;
			aio_zero_next(p, s);
		}
		break;
	}
}

static void aio_cb_done(struct td_iocb *cb, int res)
{
	struct aio_slot *s = td_container_of(cb, struct aio_slot, cb);
	struct aio_priv *p = s->p;
	struct td_req *req = s->req;
	struct td_list *n;

	switch (s->stage) {
	case AIO_WRITE_FUA:
		if (!res) {
			s->stage = AIO_RW;
			aio_issue(p, s, TD_IO_FLUSH, 0, 0, 0);
			return;
		}
		break;
	case AIO_DISCARD:
		/* Leaving the data in place is a valid discard. */
		if (res == -EOPNOTSUPP) {
			p->can_punch = false;
			res = 0;
		}
		break;
	case AIO_PUNCH:
		if (res == -EOPNOTSUPP) {
			p->can_punch = false;
			s->zoff = req->sector << TD_SECTOR_SHIFT;
			s->zend = s->zoff + td_req_bytes(req);
			aio_zero_next(p, s);
			return;
		}
		break;
	case AIO_ZEROING:
		if (!res && s->zoff < s->zend) {
			aio_zero_next(p, s);
			return;
		}
		break;
	case AIO_RW:
		break;
	}

	/* Reuse the slot for a waiting request before completing this one. */
	s->req = NULL;
	req->drv_priv = NULL;
	n = td_list_pop(&p->waitq);
	if (n)
		aio_start(p, s, td_list_entry(n, struct td_req, link));
	else
		td_list_add(&s->link, &p->free);
	td_req_complete(req, res);
}

static void aio_submit(struct td_image *img, struct td_req *req)
{
	struct aio_priv *p = img->priv;
	struct td_list *n = td_list_pop(&p->free);
	struct aio_slot *s;

	/* More requests than ctx.depth: wait for a slot, never allocate. */
	if (!n) {
		td_list_add_tail(&req->link, &p->waitq);
		return;
	}
	s = td_list_entry(n, struct aio_slot, link);
	aio_start(p, s, req);
}

/*
 * The first run of [@sector, +@nr) as the file system sees it. Hole
 * edges inside a sector are rounded towards data: a sector holding any
 * data is data, so a hole is never claimed where bytes are stored. The
 * lseek calls are synchronous, but only read the file's extent map.
 */
static int aio_block_status(struct td_image *img, uint64_t sector,
			    uint64_t nr, unsigned *flags, uint64_t *run)
{
	struct aio_priv *p = img->priv;
	off_t off = (off_t)(sector << TD_SECTOR_SHIFT), data, hole;
	uint64_t n;

	*flags = 0;
	*run = nr;
	if (!p->is_reg || !nr)
		return 0;
	data = lseek(p->fd_buf, off, SEEK_DATA);
	if (data < 0) {
		/* ENXIO: no data at or after @off (all hole up to EOF). */
		if (errno != ENXIO)
			return -errno;
		*flags = TD_EXTENT_HOLE | TD_EXTENT_ZERO;
		return 0;
	}
	n = (uint64_t)(data - off) >> TD_SECTOR_SHIFT;
	if (n) {
		*flags = TD_EXTENT_HOLE | TD_EXTENT_ZERO;
		*run = n < nr ? n : nr;
		return 0;
	}
	/* Data starts within this sector: the run lasts to the next hole. */
	hole = lseek(p->fd_buf, data, SEEK_HOLE);
	if (hole < 0)
		return -errno;
	n = ((uint64_t)(hole - off) + TD_SECTOR_SIZE - 1) >> TD_SECTOR_SHIFT;
	*run = n && n < nr ? n : nr;
	return 0;
}

static void aio_stats(struct td_image *img, struct td_stats_sink *sink)
{
	struct aio_priv *p = img->priv;

	sink->u64(sink, "o_direct", p->direct);
	sink->u64(sink, "buffered_requests", p->st_buffered);
	sink->u64(sink, "holes_punched", p->st_punched);
	sink->u64(sink, "zero_writes", p->st_zero_writes);
}

const struct td_driver_ops td_drv_aio = {
	.size = sizeof(struct td_driver_ops),
	.name = "aio",
	.caps = TD_CAP_FLUSH | TD_CAP_DISCARD | TD_CAP_WRITE_ZEROES |
		TD_CAP_BLOCK_STATUS,
	.priv_size = sizeof(struct aio_priv),
	.open = aio_open,
	.close = aio_close,
	.submit = aio_submit,
	.block_status = aio_block_status,
	.stats = aio_stats,
};
