/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The libaio backend. Commands prepared during one loop iteration go to the
 * kernel in one io_submit (the core's deferred flush, see io-internal.h).
 * Completions signal an eventfd watched by the loop. They are reaped from
 * the completion ring the kernel maps into our address space, without
 * io_getevents, and right after io_submit when it completed some inline
 * (ramdisks, page-cache hits): on a Xen PV dom0 every syscall is dear, and
 * this saves an epoll_wait and an io_getevents per request. Kernel aio has
 * no discard, so DISCARD runs synchronously, as does FLUSH on filesystems
 * refusing IOCB_CMD_FDSYNC.
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

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/*
 * The head of the completion ring io_setup maps at the address it returns
 * as the context (the kernel's struct aio_ring, fs/aio.c). The kernel
 * produces at tail; whoever reaps advances head.
 */
struct aio_kring {
	unsigned id;
	unsigned nr;
	unsigned head;
	unsigned tail;
	unsigned magic;
	unsigned compat_features;
	unsigned incompat_features;
	unsigned header_length;
	struct io_event events[];
};

#define AIO_RING_MAGIC 0xa10a10a1u
#define AIO_RING_INCOMPAT_FEATURES 0u

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
	/* The kernel's completion ring; NULL: reap with io_getevents. */
	struct aio_kring *kring;
	struct td_loop_defer reap_defer;
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

static bool kring_pending(const struct td_io_aio *a);

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
	/* What completed inside io_submit is reaped in this same drain. */
	if (kring_pending(a))
		td_loop_defer(c->loop, &a->reap_defer);
	return 0;
}

/* True if the kernel's ring holds completions we have not reaped. */
static bool kring_pending(const struct td_io_aio *a)
{
	return a->kring &&
	       __atomic_load_n(&a->kring->tail, __ATOMIC_ACQUIRE) !=
		       a->kring->head;
}

/*
 * Takes up to @max events off the kernel's ring into a->events. Copies
 * them before giving the slots back: the kernel may reuse a slot as soon
 * as head passes it.
 */
static int kring_take(struct td_io_aio *a, unsigned max)
{
	struct aio_kring *r = a->kring;
	unsigned head = r->head, tail, nr = r->nr, n = 0;

	tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (head >= nr || tail >= nr)
		return -EIO; /* not the ring we know: never index past it */
	while (head != tail && n < max) {
		a->events[n++] = r->events[head];
		head = head + 1 == nr ? 0 : head + 1;
	}
	__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
	return (int)n;
}

/* Collects a batch of completions: from the mapped ring, or the syscall. */
static int aio_take(struct td_io_aio *a)
{
	struct timespec zero = { 0, 0 };
	int n;

	if (a->kring) {
		n = kring_take(a, a->core.depth);
		if (n >= 0)
			return n;
		/* Indices we cannot trust: leave the ring to the kernel. */
		td_err(TD_SUB_IO, "aio: completion ring head %u tail %u of %u, "
				  "using io_getevents", a->kring->head,
		       a->kring->tail, a->kring->nr);
		a->kring = NULL;
	}
	do
		n = io_getevents(a->ctx, 0, (long)a->core.depth, a->events,
				 &zero);
	while (n == -EINTR);
	return n;
}

/* Drains the eventfd, then everything completed; restarts what waits. */
static void aio_reap_all(struct td_io_aio *a)
{
	uint64_t count;
	int i, n;

	/* Drain the eventfd before reaping so no completion goes unnoticed. */
	if (read(a->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		td_warn(TD_SUB_IO, "aio: eventfd read: %s", strerror(errno));
	do {
		n = aio_take(a);
		if (n < 0) {
			td_err(TD_SUB_IO, "aio: reaping completions: %s",
			       strerror(-n));
			break;
		}
		for (i = 0; i < n; i++)
			aio_result(a, td_container_of(a->events[i].obj,
						      struct aio_slot, iocb),
				   (long)a->events[i].res);
	} while (n == (int)a->core.depth);
	td_io_core_kick(&a->core);
}

static void aio_reap(struct td_loop_fd *f, uint32_t events)
{
	(void)events;
	aio_reap_all(f->arg);
}

static void aio_reap_cb(struct td_loop_defer *d)
{
	aio_reap_all(d->arg);
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
	/*
	 * Valgrind learns what the kernel wrote into our read buffers only
	 * from io_getevents; it cannot see completions taken off the ring.
	 */
	a->kring = RUNNING_ON_VALGRIND ? NULL : (struct aio_kring *)a->ctx;
	if (a->kring && (a->kring->magic != AIO_RING_MAGIC ||
	    a->kring->incompat_features != AIO_RING_INCOMPAT_FEATURES ||
	    a->kring->header_length != sizeof(*a->kring)))
		a->kring = NULL;
	a->reap_defer.cb = aio_reap_cb;
	a->reap_defer.arg = a;
	td_list_init(&a->reap_defer.link);
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
	td_loop_defer_cancel(a->core.loop, &a->reap_defer);
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
