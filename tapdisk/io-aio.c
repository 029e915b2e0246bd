/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The libaio backend. Commands prepared during one loop iteration go to the
 * kernel in one io_submit (the core's deferred flush, see io-internal.h).
 * Completions signal an eventfd watched by the loop and are reaped without
 * blocking. Kernel aio has no discard, so DISCARD runs synchronously, as
 * does FLUSH on filesystems refusing IOCB_CMD_FDSYNC.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libaio.h>
#include <sys/eventfd.h>

#include "io.h"
#include "io-internal.h"
#include "td-log.h"

struct aio_slot {
	struct iocb iocb;
	struct td_iocb *cb;
	struct aio_slot *next_free;
};

struct td_io_aio {
	struct td_io io; /* first: td_io_aio is a td_io */
	struct td_io_core core;
	io_context_t ctx;
	int efd;
	struct td_loop_fd watch;
	struct aio_slot *slots;
	struct aio_slot *free_slots;
	struct iocb **batch; /* prepared, not yet io_submit'ted */
	unsigned nbatch;
	struct io_event *events;
	bool fdsync_unsupported;
};

#define core_to_aio(c) td_container_of(c, struct td_io_aio, core)

static void slot_put(struct td_io_aio *a, struct aio_slot *s)
{
	s->cb = NULL;
	s->next_free = a->free_slots;
	a->free_slots = s;
}

/*
 * Not every filesystem implements IOCB_CMD_FDSYNC: after the first -EINVAL
 * all flushes of this backend use fdatasync() instead.
 */
static long flush_fallback(struct td_io_aio *a, struct td_iocb *cb)
{
	if (!a->fdsync_unsupported)
		td_dbg(TD_SUB_IO, "aio: IOCB_CMD_FDSYNC refused, "
				  "using fdatasync");
	a->fdsync_unsupported = true;
	return td_io_flush_sync(cb->fd);
}

static int aio_start(struct td_io_core *c, struct td_iocb *cb)
{
	struct td_io_aio *a = core_to_aio(c);
	struct aio_slot *s;
	struct iovec *iov;
	int cnt;

	if (cb->op == TD_IO_DISCARD) {
		td_io_core_done(c, cb, td_io_discard_sync(cb->fd, cb->offset,
							  cb->len));
		return TD_IO_SYNC;
	}
	if (cb->op == TD_IO_FLUSH && a->fdsync_unsupported) {
		td_io_core_done(c, cb, td_io_flush_sync(cb->fd));
		return TD_IO_SYNC;
	}
	s = a->free_slots;
	if (!s)
		return -EAGAIN;
	a->free_slots = s->next_free;
	switch (cb->op) {
	case TD_IO_READ:
		iov = td_io_cur_iov(cb, &cnt);
		io_prep_preadv(&s->iocb, cb->fd, iov, cnt,
			       td_io_cur_offset(cb));
		break;
	case TD_IO_WRITE:
		iov = td_io_cur_iov(cb, &cnt);
		io_prep_pwritev(&s->iocb, cb->fd, iov, cnt,
				td_io_cur_offset(cb));
		break;
	default:
		io_prep_fdsync(&s->iocb, cb->fd);
		break;
	}
	io_set_eventfd(&s->iocb, a->efd);
	s->cb = cb;
	a->batch[a->nbatch++] = &s->iocb;
	return 0;
}

/* Feeds one result to the core, giving the slot back first. */
static void aio_result(struct td_io_aio *a, struct aio_slot *s, long res)
{
	struct td_iocb *cb = s->cb;

	slot_put(a, s);
	if (cb->op == TD_IO_FLUSH && res == -EINVAL)
		res = flush_fallback(a, cb);
	td_io_core_result(&a->core, cb, res);
}

static int aio_flush(struct td_io_core *c)
{
	struct td_io_aio *a = core_to_aio(c);
	unsigned i = 0, j;
	int r;

	while (i < a->nbatch) {
		r = io_submit(a->ctx, a->nbatch - i, a->batch + i);
		if (r > 0) {
			i += (unsigned)r;
			continue;
		}
		if (r == 0 || r == -EAGAIN || r == -EINTR) {
			/* Out of kernel resources: retry once some complete. */
			for (j = a->nbatch; j > i; j--) {
				struct aio_slot *s = td_container_of(
					a->batch[j - 1], struct aio_slot, iocb);

				td_io_core_requeue(c, s->cb);
				slot_put(a, s);
			}
			a->nbatch = 0;
			return -EAGAIN;
		}
		/* io_submit refused batch[i] itself (e.g. -EBADF): fail it. */
		aio_result(a, td_container_of(a->batch[i], struct aio_slot,
					      iocb), r);
		i++;
	}
	a->nbatch = 0;
	return 0;
}

static void aio_reap(struct td_loop_fd *f, uint32_t events)
{
	struct td_io_aio *a = f->arg;
	struct timespec zero = { 0, 0 };
	uint64_t count;
	int i, n;

	/* Drain the eventfd before reaping so no completion goes unnoticed. */
	if (read(a->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		td_warn(TD_SUB_IO, "aio: eventfd read: %s", strerror(errno));
	do {
		n = io_getevents(a->ctx, 0, (long)a->core.depth, a->events,
				 &zero);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			td_err(TD_SUB_IO, "aio: io_getevents: %s",
			       strerror(-n));
			break;
		}
		for (i = 0; i < n; i++)
			aio_result(a, td_container_of(a->events[i].obj,
						      struct aio_slot, iocb),
				   (long)a->events[i].res);
	} while (n == (int)a->core.depth || n == -EINTR);
	td_io_core_kick(&a->core);
}

static const struct td_io_core_ops aio_core_ops = {
	.start = aio_start,
	.flush = aio_flush,
};

static void aio_free(struct td_io_aio *a)
{
	free(a->slots);
	free(a->batch);
	free(a->events);
	free(a);
}

static int aio_create(struct td_loop *loop, unsigned depth, struct td_io **out)
{
	struct td_io_aio *a;
	unsigned i;
	int r;

	if (depth == 0 || depth > 65536)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->slots = calloc(depth, sizeof(*a->slots));
	a->batch = calloc(depth, sizeof(*a->batch));
	a->events = calloc(depth, sizeof(*a->events));
	if (!a->slots || !a->batch || !a->events) {
		aio_free(a);
		return -ENOMEM;
	}
	for (i = 0; i < depth; i++)
		slot_put(a, &a->slots[i]);
	a->io.ops = &td_io_aio_ops;
	td_io_core_init(&a->core, loop, depth, &aio_core_ops);

	r = io_setup((int)depth, &a->ctx);
	if (r < 0)
		goto err_free;
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0) {
		r = -errno;
		goto err_ctx;
	}
	a->watch.fd = a->efd;
	a->watch.events = TD_EV_IN;
	a->watch.cb = aio_reap;
	a->watch.arg = a;
	r = td_loop_fd_add(loop, &a->watch);
	if (r < 0)
		goto err_efd;
	*out = &a->io;
	return 0;

err_efd:
	close(a->efd);
err_ctx:
	io_destroy(a->ctx);
err_free:
	aio_free(a);
	return r;
}

static void aio_destroy(struct td_io *io)
{
	struct td_io_aio *a = td_container_of(io, struct td_io_aio, io);

	td_io_core_fini(&a->core);
	td_loop_fd_del(a->core.loop, &a->watch);
	close(a->efd);
	io_destroy(a->ctx);
	aio_free(a);
}

static void aio_submit(struct td_io *io, struct td_iocb *cb)
{
	struct td_io_aio *a = td_container_of(io, struct td_io_aio, io);

	td_io_core_submit(&a->core, cb);
}

static unsigned aio_inflight(const struct td_io *io)
{
	const struct td_io_aio *a =
		td_container_of(io, const struct td_io_aio, io);

	return a->core.inflight;
}

const struct td_io_ops td_io_aio_ops = {
	.size = sizeof(struct td_io_ops),
	.name = "aio",
	.create = aio_create,
	.destroy = aio_destroy,
	.submit = aio_submit,
	.inflight = aio_inflight,
};
