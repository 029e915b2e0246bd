/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The io_uring backend. SQEs prepared during one loop iteration go to the
 * kernel in one io_uring_submit (the core's deferred flush, see
 * io-internal.h). Completions signal an eventfd registered with the ring
 * and watched by the loop; each SQE's user_data is its td_iocb.
 *
 * The ring is single-issuer with deferred task work where the kernel has
 * it (Linux 6.1): completions that io-wq workers or interrupts produce are
 * queued for us without an IPI and run when we ask (io_uring_get_events),
 * which the loop does from its poller when the kernel flags pending work,
 * or from the eventfd when it sleeps. Completions the submit itself
 * produced (page-cache hits, ramdisks) are reaped right after it, in the
 * same syscall and without signalling the eventfd, not one loop iteration
 * and one eventfd round trip later.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "io.h"
#include "io-internal.h"
#include "td-log.h"

/* IORING_MAX_ENTRIES in the kernel. */
#define URING_MAX_DEPTH 32768

struct td_io_uring {
	struct td_io io; /* first: td_io_uring is a td_io */
	struct td_io_core core;
	struct io_uring ring;
	int efd;
	struct td_loop_fd watch;
	struct td_loop_poller poller;
	struct td_loop_defer reap_defer;
	bool has_fallocate; /* IORING_OP_FALLOCATE: Linux 5.6 */
	struct td_ratelimit rl; /* submit errors repeat every retry */
};

#define core_to_uring(c) td_container_of(c, struct td_io_uring, core)

/* Only regular files punch holes through the ring; see td_io_discard_sync. */
static bool discard_async(const struct td_io_uring *u, int fd)
{
	struct stat st;

	return u->has_fallocate && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* True if completions are waiting, posted or still as deferred work. */
static bool uring_pending(struct td_io_uring *u)
{
	return io_uring_cq_ready(&u->ring) ||
	       (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

static int uring_start(struct td_io_core *c, struct td_iocb *cb)
{
	struct td_io_uring *u = core_to_uring(c);
	struct io_uring_sqe *sqe;
	struct iovec *iov;
	int cnt;

	if (cb->op == TD_IO_DISCARD && !discard_async(u, cb->fd)) {
		td_io_core_done(c, cb, td_io_discard_sync(cb->fd, cb->offset,
							  cb->len));
		return TD_IO_SYNC;
	}
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return -EAGAIN;
	switch (cb->op) {
	case TD_IO_READ:
		iov = td_io_cur_iov(cb, &cnt);
		io_uring_prep_readv(sqe, cb->fd, iov, (unsigned)cnt,
				    (__u64)td_io_cur_offset(cb));
		break;
	case TD_IO_WRITE:
		iov = td_io_cur_iov(cb, &cnt);
		io_uring_prep_writev(sqe, cb->fd, iov, (unsigned)cnt,
				     (__u64)td_io_cur_offset(cb));
		break;
	case TD_IO_FLUSH:
		io_uring_prep_fsync(sqe, cb->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_fallocate(sqe, cb->fd,
					FALLOC_FL_PUNCH_HOLE |
						FALLOC_FL_KEEP_SIZE,
					cb->offset, (off_t)cb->len);
		break;
	}
	io_uring_sqe_set_data(sqe, cb);
	return 0;
}

static int uring_flush(struct td_io_core *c)
{
	struct td_io_uring *u = core_to_uring(c);
	int r;

	if (!io_uring_sq_ready(&u->ring))
		return 0;
	/*
	 * One syscall submits and runs the task work of what completed
	 * inline (ramdisks, page-cache hits), and the eventfd stays quiet
	 * meanwhile: those completions are reaped just below, so a wakeup
	 * would only cost an epoll_wait and a read later. Whatever completes
	 * after the eventfd is back on signals it; what completed just
	 * before is seen by uring_pending, after the fence.
	 */
	io_uring_cq_eventfd_toggle(&u->ring, false);
	r = io_uring_submit_and_get_events(&u->ring);
	io_uring_cq_eventfd_toggle(&u->ring, true);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR)
		td_log_ratelimited(&u->rl, TD_LOG_ERR, TD_SUB_IO,
				   "uring: submit: %s", strerror(-r));
	if (uring_pending(u))
		td_loop_defer(c->loop, &u->reap_defer);
	/* What the kernel did not take stays in the SQ for the next try. */
	return io_uring_sq_ready(&u->ring) ? -EAGAIN : 0;
}

static void uring_reap_cqes(struct td_io_uring *u)
{
	struct io_uring_cqe *cqe;

	/* Runs deferred task work, which posts its completions. */
	if (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN)
		io_uring_get_events(&u->ring);
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct td_iocb *cb = io_uring_cqe_get_data(cqe);
		long res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		td_io_core_result(&u->core, cb, res);
	}
	td_io_core_kick(&u->core);
}

static void uring_reap(struct td_loop_fd *f, uint32_t events)
{
	struct td_io_uring *u = f->arg;
	uint64_t count;

	(void)events;
	/* Drain the eventfd before reaping so no completion goes unnoticed. */
	if (read(u->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		td_warn(TD_SUB_IO, "uring: eventfd read: %s", strerror(errno));
	uring_reap_cqes(u);
}

static void uring_reap_cb(struct td_loop_defer *d)
{
	uring_reap_cqes(d->arg);
}

static bool uring_poll(struct td_loop_poller *p)
{
	struct td_io_uring *u = p->arg;

	if (!uring_pending(u))
		return false;
	uring_reap_cqes(u);
	return true;
}

static bool uring_arm(struct td_loop_poller *p)
{
	struct td_io_uring *u = p->arg;

	/* The eventfd wakes us for anything that completes from now on. */
	if (!uring_pending(u))
		return false;
	td_loop_defer(u->core.loop, &u->reap_defer);
	return true;
}

static const struct td_io_core_ops uring_core_ops = {
	.start = uring_start,
	.flush = uring_flush,
};

static bool probe_fallocate(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok;

	if (!p)
		return false;
	ok = io_uring_opcode_supported(p, IORING_OP_FALLOCATE);
	io_uring_free_probe(p);
	return ok;
}

static int uring_create(struct td_loop *loop, unsigned depth,
			struct td_io **out)
{
	struct td_io_uring *u;
	int r;

	if (depth == 0 || depth > URING_MAX_DEPTH)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->io.ops = &td_io_uring_ops;
	u->rl = (struct td_ratelimit)TD_RATELIMIT_INIT;
	td_io_core_init(&u->core, loop, depth, &uring_core_ops);
	/* -ENOSYS (no io_uring) and -EPERM (disabled by sysctl) go up. */
	r = io_uring_queue_init(depth, &u->ring, IORING_SETUP_SINGLE_ISSUER |
				IORING_SETUP_DEFER_TASKRUN |
				IORING_SETUP_TASKRUN_FLAG);
	if (r == -EINVAL) /* before Linux 6.1 */
		r = io_uring_queue_init(depth, &u->ring, 0);
	if (r < 0)
		goto err_free;
	u->has_fallocate = probe_fallocate(&u->ring);
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		r = -errno;
		goto err_ring;
	}
	r = io_uring_register_eventfd(&u->ring, u->efd);
	if (r < 0)
		goto err_efd;
	u->watch.fd = u->efd;
	u->watch.events = TD_EV_IN;
	u->watch.cb = uring_reap;
	u->watch.arg = u;
	r = td_loop_fd_add(loop, &u->watch);
	if (r < 0)
		goto err_efd;
	u->reap_defer.cb = uring_reap_cb;
	u->reap_defer.arg = u;
	td_list_init(&u->reap_defer.link);
	u->poller.poll = uring_poll;
	u->poller.arm = uring_arm;
	u->poller.arg = u;
	td_loop_poller_add(loop, &u->poller);
	*out = &u->io;
	return 0;

err_efd:
	close(u->efd);
err_ring:
	io_uring_queue_exit(&u->ring);
err_free:
	free(u);
	return r;
}

static void uring_destroy(struct td_io *io)
{
	struct td_io_uring *u = td_container_of(io, struct td_io_uring, io);

	td_io_core_fini(&u->core);
	td_loop_defer_cancel(u->core.loop, &u->reap_defer);
	td_loop_poller_del(u->core.loop, &u->poller);
	td_loop_fd_del(u->core.loop, &u->watch);
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
}

static void uring_submit(struct td_io *io, struct td_iocb *cb)
{
	struct td_io_uring *u = td_container_of(io, struct td_io_uring, io);

	td_io_core_submit(&u->core, cb);
}

static unsigned uring_inflight(const struct td_io *io)
{
	const struct td_io_uring *u =
		td_container_of(io, const struct td_io_uring, io);

	return u->core.inflight;
}

const struct td_io_ops td_io_uring_ops = {
	.size = sizeof(struct td_io_ops),
	.name = "uring",
	.create = uring_create,
	.destroy = uring_destroy,
	.submit = uring_submit,
	.inflight = uring_inflight,
};
