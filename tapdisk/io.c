/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Backend registry, iovec helpers, and the queueing/retry core shared by
 * the aio and uring backends (see io-internal.h).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "io.h"
#include "io-internal.h"

static const struct td_io_ops *const backends[] = {
	&td_io_aio_ops,
	&td_io_uring_ops,
};

const char *const td_io_names[] = { "aio", "uring", NULL };

const struct td_io_ops *td_io_lookup(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

uint64_t td_iov_len(const struct iovec *iov, int iovcnt)
{
	uint64_t len = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return len;
}

struct iovec *td_iov_advance(struct iovec *iov, int *cnt, uint64_t bytes)
{
	while (*cnt > 0 && bytes >= iov->iov_len) {
		bytes -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt > 0 && bytes) {
		iov->iov_base = (char *)iov->iov_base + bytes;
		iov->iov_len -= bytes;
	}
	return iov;
}

static void iov_restore(struct td_iocb *cb)
{
	if (cb->trimmed < 0)
		return;
	cb->iov[cb->trimmed] = cb->saved_iov;
	cb->trimmed = -1;
}

struct iovec *td_io_cur_iov(struct td_iocb *cb, int *cnt)
{
	uint64_t skip = cb->xferred;
	int i = 0;

	iov_restore(cb);
	/* Same walk as td_iov_advance, to learn which entry it trims. */
	while (i < cb->iovcnt && skip >= cb->iov[i].iov_len)
		skip -= cb->iov[i++].iov_len;
	if (skip) {
		cb->trimmed = i;
		cb->saved_iov = cb->iov[i];
	}
	*cnt = cb->iovcnt;
	return td_iov_advance(cb->iov, cnt, cb->xferred);
}

int td_io_discard_sync(int fd, off_t offset, uint64_t len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t range[2] = { (uint64_t)offset, len };

		return ioctl(fd, BLKDISCARD, range) < 0 ? -errno : 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EOPNOTSUPP;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
		      (off_t)len) < 0)
		return -errno;
	return 0;
}

int td_io_flush_sync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

static void core_run_completed(struct td_loop_defer *d)
{
	struct td_io_core *c = d->arg;
	struct td_list *pos;

	/* done may submit more; its synchronous failures join this drain. */
	while ((pos = td_list_pop(&c->completed))) {
		struct td_iocb *cb = td_list_entry(pos, struct td_iocb, link);

		assert(c->inflight > 0);
		c->inflight--;
		cb->done(cb, cb->status);
	}
}

static void core_retry(struct td_loop_timer *t)
{
	td_io_core_kick(t->arg);
}

/* Prepares waiting commands while the depth allows. */
static void core_start_waiting(struct td_io_core *c)
{
	while (c->busy < c->depth && !td_list_empty(&c->waiting)) {
		struct td_iocb *cb = td_list_entry(td_list_pop(&c->waiting),
						   struct td_iocb, link);
		/* Off the queue first: start may complete it (TD_IO_SYNC). */
		int r = c->ops->start(c, cb);

		if (r == -EAGAIN) {
			td_list_add(&cb->link, &c->waiting);
			td_loop_timer_arm(c->loop, &c->retry, TD_IO_RETRY_NS);
			break;
		}
		if (r == 0)
			c->busy++;
		else if (r != TD_IO_SYNC)
			td_io_core_done(c, cb, r);
	}
}

/* Hands everything prepared to the kernel, with one syscall at most. */
static void core_flush(struct td_io_core *c)
{
	td_loop_defer_cancel(c->loop, &c->flush_defer);
	if (c->ops->flush(c) == -EAGAIN)
		td_loop_timer_arm(c->loop, &c->retry, TD_IO_RETRY_NS);
}

static void core_flush_cb(struct td_loop_defer *d)
{
	core_flush(d->arg);
}

void td_io_core_init(struct td_io_core *c, struct td_loop *loop,
		     unsigned depth, const struct td_io_core_ops *ops)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->ops = ops;
	c->depth = depth;
	td_list_init(&c->waiting);
	td_list_init(&c->completed);
	c->defer.cb = core_run_completed;
	c->defer.arg = c;
	td_list_init(&c->defer.link);
	c->retry.cb = core_retry;
	c->retry.arg = c;
	td_list_init(&c->retry.link);
	c->flush_defer.cb = core_flush_cb;
	c->flush_defer.arg = c;
	td_list_init(&c->flush_defer.link);
}

void td_io_core_fini(struct td_io_core *c)
{
	assert(c->inflight == 0);
	td_loop_defer_cancel(c->loop, &c->defer);
	td_loop_defer_cancel(c->loop, &c->flush_defer);
	td_loop_timer_cancel(c->loop, &c->retry);
}

void td_io_core_done(struct td_io_core *c, struct td_iocb *cb, int status)
{
	iov_restore(cb);
	cb->status = status;
	td_list_add_tail(&cb->link, &c->completed);
	td_loop_defer(c->loop, &c->defer);
}

static int core_validate(struct td_iocb *cb)
{
	uint64_t len;

	if (cb->offset < 0)
		return -EINVAL;
	switch (cb->op) {
	case TD_IO_READ:
	case TD_IO_WRITE:
		if (cb->iovcnt < 1 || cb->iovcnt > IOV_MAX || !cb->iov)
			return -EINVAL;
		cb->len = td_iov_len(cb->iov, cb->iovcnt);
		break;
	case TD_IO_FLUSH:
		return 0;
	case TD_IO_DISCARD:
		break;
	default:
		return -EINVAL;
	}
	len = cb->len;
	if (len > (uint64_t)INT64_MAX - (uint64_t)cb->offset)
		return -EINVAL;
	return 0;
}

void td_io_core_submit(struct td_io_core *c, struct td_iocb *cb)
{
	int r;

	c->inflight++;
	cb->xferred = 0;
	cb->retries = 0;
	cb->trimmed = -1;
	cb->status = 0;
	td_list_init(&cb->link);
	r = core_validate(cb);
	if (r < 0 || (cb->op != TD_IO_FLUSH && cb->len == 0)) {
		td_io_core_done(c, cb, r);
		return;
	}
	td_list_add_tail(&cb->link, &c->waiting);
	/*
	 * Prepared now, handed to the kernel from a deferred call: every
	 * command submitted in this loop iteration (all the requests one
	 * socket read or one ring kick produced) goes in one syscall.
	 */
	core_start_waiting(c);
	td_loop_defer(c->loop, &c->flush_defer);
}

void td_io_core_requeue(struct td_io_core *c, struct td_iocb *cb)
{
	assert(c->busy > 0);
	c->busy--;
	td_list_add(&cb->link, &c->waiting);
}

void td_io_core_kick(struct td_io_core *c)
{
	core_start_waiting(c);
	core_flush(c);
}

/* True if a short read of @cb stopped at or past the end of its file. */
static bool at_eof(const struct td_iocb *cb)
{
	struct stat st;

	if (fstat(cb->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return td_io_cur_offset(cb) >= st.st_size;
}

static void zero_fill(struct td_iocb *cb)
{
	struct iovec *iov;
	int i, cnt;

	iov = td_io_cur_iov(cb, &cnt);
	for (i = 0; i < cnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	cb->xferred = cb->len;
}

/* Returns the final status, or 1 if @cb must go round again. */
static int account_rw(struct td_iocb *cb, long res)
{
	uint64_t left = cb->len - cb->xferred;

	if (res == -EAGAIN && cb->retries < TD_IO_MAX_EAGAIN)
		return 1;
	if (res < 0)
		return (int)res;
	if ((uint64_t)res > left)
		return -EIO; /* the kernel never does this */
	cb->xferred += (uint64_t)res;
	if ((uint64_t)res == left)
		return 0;
	if (cb->op == TD_IO_WRITE)
		return res ? 1 : -EIO; /* no progress: do not spin */
	if (res == 0 || at_eof(cb)) {
		zero_fill(cb);
		return 0;
	}
	return 1;
}

void td_io_core_result(struct td_io_core *c, struct td_iocb *cb, long res)
{
	int status;

	assert(c->busy > 0);
	c->busy--;
	if (cb->op == TD_IO_READ || cb->op == TD_IO_WRITE)
		status = account_rw(cb, res);
	else
		status = res < 0 ? (int)res : 0;
	if (status == 1) {
		cb->retries++;
		/* Head of the queue: it was started before anything waiting. */
		td_list_add(&cb->link, &c->waiting);
		return;
	}
	td_io_core_done(c, cb, status);
}
