/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Machinery shared by the kernel I/O backends (aio, uring), not for
 * drivers: the queue of commands waiting for a slot, the handling of short
 * transfers, EOF and -EAGAIN, and the deferred completion list. A backend
 * supplies two hooks that talk to the kernel and feeds every kernel result
 * to td_io_core_result; a test may supply its own hooks to play the kernel
 * and feed fabricated results. Everything runs on the loop thread.
 *
 * Submission is batched per loop iteration: td_io_core_submit prepares a
 * command at once (start) but calls flush from a deferred loop call, so
 * the commands submitted by all callbacks of one iteration reach the
 * kernel in one syscall. The loop runs that deferred call before it
 * sleeps: in the same iteration when the submit came from an fd, timer or
 * first-level deferred callback, or at the start of the next (which then
 * polls without sleeping) when it came from a deferred call itself.
 */
#ifndef TD_IO_INTERNAL_H
#define TD_IO_INTERNAL_H

#include <stdbool.h>
#include "io.h"
#include "loop.h"

struct td_io_core;

/* Returned by td_io_core_ops.start for a command it finished by itself. */
#define TD_IO_SYNC 1

/*
 * A kernel result of -EAGAIN is retried while the command has been
 * resubmitted (for any reason) fewer times than this.
 */
#define TD_IO_MAX_EAGAIN 16

/* Delay before retrying after the kernel refused work with -EAGAIN. */
#define TD_IO_RETRY_NS (1 * TD_NS_PER_MS)

struct td_io_core_ops {
	/*
	 * Prepares the remainder of @cb (td_io_cur_iov, td_io_cur_offset)
	 * for the kernel. Returns 0 once prepared: it then counts against the
	 * depth until its result is fed to td_io_core_result or it is handed
	 * back with td_io_core_requeue. Returns -EAGAIN to leave @cb waiting
	 * (no resources now), TD_IO_SYNC after finishing @cb itself with
	 * td_io_core_done, or another -errno to fail @cb with it. Called only
	 * while fewer than depth commands are in the kernel.
	 */
	int (*start)(struct td_io_core *c, struct td_iocb *cb);
	/*
	 * Hands everything prepared to the kernel; called once per loop
	 * iteration in which commands were submitted, and after each round of
	 * start calls made on completions (td_io_core_kick), possibly with
	 * nothing new. Returns 0, or -EAGAIN if
	 * something is still not accepted: the core calls flush again after
	 * TD_IO_RETRY_NS (or sooner, on the next kick).
	 */
	int (*flush)(struct td_io_core *c);
};

struct td_io_core {
	struct td_loop *loop;
	const struct td_io_core_ops *ops;
	unsigned depth;
	unsigned busy;            /* prepared or in the kernel */
	unsigned inflight;        /* submitted, done not yet called */
	struct td_list waiting;   /* td_iocb.link: accepted, not started */
	struct td_list completed; /* td_iocb.link: done pending in @defer */
	struct td_loop_defer defer;
	struct td_loop_defer flush_defer; /* flushes this iteration's submits */
	struct td_loop_timer retry;
};

/* Sets up @c (embedded in the backend) on @loop. Cannot fail. */
void td_io_core_init(struct td_io_core *c, struct td_loop *loop,
		     unsigned depth, const struct td_io_core_ops *ops);

/* Drops @c's defer and timer from the loop; nothing may be in flight. */
void td_io_core_fini(struct td_io_core *c);

/*
 * The body of td_io_ops.submit: validates @cb, fills @cb->len, queues it
 * and starts what fits; the flush follows from a deferred call (see
 * above). Bad commands complete with -EINVAL via the defer.
 */
void td_io_core_submit(struct td_io_core *c, struct td_iocb *cb);

/*
 * Feeds the kernel's result for one started @cb: bytes transferred or
 * -errno. A short READ/WRITE goes back to the head of the queue for its
 * remainder; a READ at EOF is zero-filled; -EAGAIN is retried a bounded
 * number of times; anything else completes @cb (done runs from the
 * defer). The caller runs td_io_core_kick after a batch of results.
 */
void td_io_core_result(struct td_io_core *c, struct td_iocb *cb, long res);

/* Gives back a prepared @cb the kernel did not accept; LIFO, so hand back
 * a batch in reverse to keep its order. */
void td_io_core_requeue(struct td_io_core *c, struct td_iocb *cb);

/*
 * Starts waiting commands while the depth allows, then flushes at once
 * (also whatever submit left for the deferred flush). Backends call it
 * after reaping a batch of completions.
 */
void td_io_core_kick(struct td_io_core *c);

/*
 * Completes @cb with @status (0 or -errno) from the defer, restoring its
 * iov. For a command that is not counted in busy (finished by start with
 * TD_IO_SYNC, or never started).
 */
void td_io_core_done(struct td_io_core *c, struct td_iocb *cb, int status);

/*
 * The iovec and file offset of what is left of @cb after @cb->xferred
 * bytes: points into @cb->iov, trimming one entry in place (recorded in
 * @cb->trimmed and restored by the next call or by completion).
 */
struct iovec *td_io_cur_iov(struct td_iocb *cb, int *cnt);

static inline off_t td_io_cur_offset(const struct td_iocb *cb)
{
	return cb->offset + (off_t)cb->xferred;
}

/*
 * Deallocates [@offset, +@len) of @fd synchronously: BLKDISCARD on a block
 * device, fallocate(PUNCH_HOLE|KEEP_SIZE) on a regular file, else
 * -EOPNOTSUPP. Returns 0 or -errno. Shared by backends and test fakes.
 */
int td_io_discard_sync(int fd, off_t offset, uint64_t len);

/* fdatasync(@fd); returns 0 or -errno. */
int td_io_flush_sync(int fd);

#endif
