/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The I/O backend seam: asynchronous read, write, flush and discard on a
 * file descriptor. Implementations: libaio ("aio") and io_uring ("uring");
 * tests may provide their own ops (a fake completing in a chosen order).
 *
 * The backend, not the driver, retries short transfers and EAGAIN, and
 * queues commands that do not fit its submission depth, so a driver sees
 * exactly one completion per command carrying either the full length or a
 * real error. All calls and completions happen on the loop thread.
 *
 * A READ reaching end of file (the kernel returns 0 with bytes still
 * wanted, or a short read ending at or past the file size) succeeds with
 * the bytes beyond EOF zero-filled: an image file may be shorter than the
 * virtual size it describes.
 */
#ifndef TD_IO_H
#define TD_IO_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "td-list.h"

struct td_loop;
struct td_io;

enum td_io_op {
	TD_IO_READ,
	TD_IO_WRITE,
	TD_IO_FLUSH,   /* fdatasync: every completed write is durable after */
	/*
	 * Deallocate [offset, +len): fallocate(PUNCH_HOLE|KEEP_SIZE) on a
	 * regular file, ioctl(BLKDISCARD) on a block device (fstat tells);
	 * -EOPNOTSUPP on anything else. len 0 succeeds doing nothing.
	 */
	TD_IO_DISCARD,
};

/*
 * One I/O command, owned by the submitter (drivers embed these in their
 * preallocated per-request state, so submitting never allocates). While it
 * retries a short transfer the backend trims one @iov entry at a time in
 * place, and it restores the entry before calling @done; the submitter
 * must not touch @iov or the iocb until @done. Bad commands (iovcnt outside
 * 1..IOV_MAX, negative offset, unknown op) complete with -EINVAL.
 */
struct td_iocb {
	enum td_io_op op;
	int fd;
	struct iovec *iov;  /* READ/WRITE: buffers, O_DIRECT-aligned if the fd is */
	int iovcnt;
	off_t offset;       /* byte offset */
	uint64_t len;       /* DISCARD: bytes; READ/WRITE: filled in by submit */
	/*
	 * Called once, from the loop, never from inside td_io_submit.
	 * @res is 0 on full success or -errno.
	 */
	void (*done)(struct td_iocb *cb, int res);
	void *arg;

	/* backend-private */
	uint64_t xferred;
	struct td_list link;
	int retries;            /* resubmissions so far (short or -EAGAIN) */
	int trimmed;            /* index of the trimmed iov entry, or -1 */
	struct iovec saved_iov; /* that entry's original value */
	int status;             /* final result, held until done runs */
};

struct td_io_ops {
	unsigned size;     /* sizeof(struct td_io_ops), for growth */
	const char *name;  /* "aio", "uring" */
	/*
	 * Creates a backend able to keep @depth commands in flight on @loop.
	 * Returns 0 and sets *out, or -errno (e.g. -ENOSYS if the kernel lacks
	 * the interface). Called at start-up, not on the data path.
	 */
	int (*create)(struct td_loop *loop, unsigned depth, struct td_io **out);
	/* Frees the backend; no command may be in flight. */
	void (*destroy)(struct td_io *io);
	/*
	 * Queues @cb; never fails synchronously (errors arrive via done).
	 * @cb is the submitter's until done: it must not be submitted twice.
	 */
	void (*submit)(struct td_io *io, struct td_iocb *cb);
	/* Commands submitted and not yet completed. */
	unsigned (*inflight)(const struct td_io *io);
};

/* Every backend starts with this header so generic code can dispatch. */
struct td_io {
	const struct td_io_ops *ops;
};

extern const struct td_io_ops td_io_aio_ops;
extern const struct td_io_ops td_io_uring_ops;

/* Finds a backend by name ("aio", "uring"); NULL if unknown. */
const struct td_io_ops *td_io_lookup(const char *name);

/* Names of all backends, NULL-terminated, for --help and errors. */
extern const char *const td_io_names[];

static inline void td_io_submit(struct td_io *io, struct td_iocb *cb)
{
	io->ops->submit(io, cb);
}

static inline void td_io_destroy(struct td_io *io)
{
	io->ops->destroy(io);
}

/* Sum of iov lengths. */
uint64_t td_iov_len(const struct iovec *iov, int iovcnt);

/*
 * Advances an iovec array past @bytes already transferred, adjusting the
 * first remaining entry in place. Returns the new start (within @iov) and
 * sets *cnt to the remaining count. Used by backends on short transfers.
 */
struct iovec *td_iov_advance(struct iovec *iov, int *cnt, uint64_t bytes);

#endif
