/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include "fake-io.h"
#include "io-internal.h"

struct td_fake_io {
	struct td_io io; /* first */
	struct td_loop *loop;
	struct td_list held;     /* td_iocb.link, submission order */
	struct td_list released; /* td_iocb.link, release order */
	struct td_loop_defer defer;
	unsigned nheld, inflight;
	int fail_next;
};

#define to_fake(io) td_container_of(io, struct td_fake_io, io)

/* Reads or writes all of @cb like a real backend would report it. */
static int fake_rw(struct td_iocb *cb)
{
	struct iovec tmp[IOV_MAX], *iov = tmp;
	int cnt = cb->iovcnt, i;
	uint64_t done = 0;
	ssize_t n;

	/* A private copy: the submitter's iov must come back untouched. */
	memcpy(tmp, cb->iov, sizeof(*tmp) * (size_t)cnt);
	while (done < cb->len) {
		if (cb->op == TD_IO_READ)
			n = preadv(cb->fd, iov, cnt, cb->offset + (off_t)done);
		else
			n = pwritev(cb->fd, iov, cnt, cb->offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 && cb->op == TD_IO_WRITE)
			return -EIO;
		if (n == 0) {
			for (i = 0; i < cnt; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			return 0;
		}
		done += (uint64_t)n;
		iov = td_iov_advance(iov, &cnt, (uint64_t)n);
	}
	return 0;
}

static int fake_perform(struct td_iocb *cb)
{
	if (cb->offset < 0)
		return -EINVAL;
	switch (cb->op) {
	case TD_IO_READ:
	case TD_IO_WRITE:
		if (cb->iovcnt < 1 || cb->iovcnt > IOV_MAX || !cb->iov)
			return -EINVAL;
		cb->len = td_iov_len(cb->iov, cb->iovcnt);
		return fake_rw(cb);
	case TD_IO_FLUSH:
		return td_io_flush_sync(cb->fd);
	case TD_IO_DISCARD:
		return cb->len ? td_io_discard_sync(cb->fd, cb->offset, cb->len)
			       : 0;
	}
	return -EINVAL;
}

static void fake_run_released(struct td_loop_defer *d)
{
	struct td_fake_io *f = d->arg;
	struct td_list *pos;

	while ((pos = td_list_pop(&f->released))) {
		struct td_iocb *cb = td_list_entry(pos, struct td_iocb, link);

		f->inflight--;
		cb->done(cb, cb->status);
	}
}

static int fake_create(struct td_loop *loop, unsigned depth,
		       struct td_io **out)
{
	struct td_fake_io *f = calloc(1, sizeof(*f));

	(void)depth;
	if (!f)
		return -ENOMEM;
	f->io.ops = &td_fake_io_ops;
	f->loop = loop;
	td_list_init(&f->held);
	td_list_init(&f->released);
	td_list_init(&f->defer.link);
	f->defer.cb = fake_run_released;
	f->defer.arg = f;
	*out = &f->io;
	return 0;
}

int td_fake_io_create(struct td_loop *loop, struct td_io **out)
{
	return fake_create(loop, 0, out);
}

static void fake_destroy(struct td_io *io)
{
	struct td_fake_io *f = to_fake(io);

	td_loop_defer_cancel(f->loop, &f->defer);
	free(f);
}

static void fake_submit(struct td_io *io, struct td_iocb *cb)
{
	struct td_fake_io *f = to_fake(io);

	cb->xferred = 0;
	cb->retries = 0;
	cb->trimmed = -1;
	if (f->fail_next) {
		cb->status = f->fail_next;
		f->fail_next = 0;
	} else {
		cb->status = fake_perform(cb);
	}
	if (!cb->status)
		cb->xferred = cb->len;
	td_list_add_tail(&cb->link, &f->held);
	f->nheld++;
	f->inflight++;
}

static unsigned fake_inflight(const struct td_io *io)
{
	return to_fake(io)->inflight;
}

const struct td_io_ops td_fake_io_ops = {
	.size = sizeof(struct td_io_ops),
	.name = "fake",
	.create = fake_create,
	.destroy = fake_destroy,
	.submit = fake_submit,
	.inflight = fake_inflight,
};

unsigned td_fake_io_pending(const struct td_io *io)
{
	return td_container_of(io, const struct td_fake_io, io)->nheld;
}

struct td_iocb *td_fake_io_peek(const struct td_io *io, unsigned index)
{
	const struct td_fake_io *f =
		td_container_of(io, const struct td_fake_io, io);
	struct td_list *pos;

	td_list_for_each(pos, &f->held)
		if (index-- == 0)
			return td_list_entry(pos, struct td_iocb, link);
	return NULL;
}

static void fake_release(struct td_fake_io *f, struct td_iocb *cb)
{
	td_list_del(&cb->link);
	f->nheld--;
	td_list_add_tail(&cb->link, &f->released);
	td_loop_defer(f->loop, &f->defer);
}

int td_fake_io_complete(struct td_io *io, unsigned index)
{
	struct td_iocb *cb = td_fake_io_peek(io, index);

	if (!cb)
		return -ENOENT;
	fake_release(to_fake(io), cb);
	return 0;
}

unsigned td_fake_io_complete_all(struct td_io *io)
{
	struct td_fake_io *f = to_fake(io);
	unsigned n = 0;

	while (!td_list_empty(&f->held)) {
		fake_release(f, td_list_entry(f->held.next, struct td_iocb,
					      link));
		n++;
	}
	return n;
}

unsigned td_fake_io_complete_reverse(struct td_io *io)
{
	struct td_fake_io *f = to_fake(io);
	unsigned n = 0;

	while (!td_list_empty(&f->held)) {
		fake_release(f, td_list_entry(f->held.prev, struct td_iocb,
					      link));
		n++;
	}
	return n;
}

void td_fake_io_fail_next(struct td_io *io, int err)
{
	to_fake(io)->fail_next = err;
}
