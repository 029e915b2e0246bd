// SPDX-License-Identifier: GPL-2.0-only
/*
 * The production xenstore seam: libxenstore. Its watch fd (xs_fileno)
 * sits in our loop; when it is readable, xs_check_watch is drained (it
 * never blocks, unlike xs_read_watch). libxenstore reads replies and
 * events with its own reader thread once a watch exists; that thread only
 * queues events, so every callback still runs on the loop thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>
#include "td-log.h"
#include "loop.h"
#include "xs.h"

/* Bounds one loop callback, so a flood of events cannot starve the loop. */
#define XS_EVENTS_PER_CALL 256

struct libxs {
	struct td_xs xs;
	struct xs_handle *h;
	struct td_loop *loop;
	struct td_loop_fd watch;
};

static struct libxs *to_libxs(struct td_xs *xs)
{
	return (struct libxs *)xs;
}

static int err_or(int dflt)
{
	return errno ? -errno : dflt;
}

static int lx_read(struct td_xs *xs, td_xs_tx t, const char *path,
		   char **val)
{
	unsigned len = 0;
	char *v;

	errno = 0;
	v = xs_read(to_libxs(xs)->h, t, path, &len);
	if (!v)
		return err_or(-EIO);
	/* libxenstore NUL-terminates; a value with a NUL inside is cut. */
	*val = v;
	return 0;
}

static int lx_write(struct td_xs *xs, td_xs_tx t, const char *path,
		    const char *val)
{
	errno = 0;
	if (!xs_write(to_libxs(xs)->h, t, path, val, (unsigned)strlen(val)))
		return err_or(-EIO);
	return 0;
}

static int lx_mkdir(struct td_xs *xs, td_xs_tx t, const char *path)
{
	errno = 0;
	return xs_mkdir(to_libxs(xs)->h, t, path) ? 0 : err_or(-EIO);
}

static int lx_rm(struct td_xs *xs, td_xs_tx t, const char *path)
{
	errno = 0;
	if (xs_rm(to_libxs(xs)->h, t, path) || errno == ENOENT)
		return 0;
	return err_or(-EIO);
}

static int lx_directory(struct td_xs *xs, td_xs_tx t, const char *path,
			char ***names, unsigned *n)
{
	char **d;

	errno = 0;
	*n = 0;
	d = xs_directory(to_libxs(xs)->h, t, path, n);
	if (!d) {
		/* An empty directory may come back as NULL with no error. */
		if (!errno) {
			*names = calloc(1, sizeof(char *));
			return *names ? 0 : -ENOMEM;
		}
		return -errno;
	}
	*names = d;
	return 0;
}

static int lx_watch(struct td_xs *xs, const char *path, const char *token)
{
	errno = 0;
	return xs_watch(to_libxs(xs)->h, path, token) ? 0 : err_or(-EIO);
}

static int lx_unwatch(struct td_xs *xs, const char *path, const char *token)
{
	errno = 0;
	return xs_unwatch(to_libxs(xs)->h, path, token) ? 0 : err_or(-EIO);
}

static int lx_tx_start(struct td_xs *xs, td_xs_tx *t)
{
	xs_transaction_t x;

	errno = 0;
	x = xs_transaction_start(to_libxs(xs)->h);
	if (x == XBT_NULL)
		return err_or(-EIO);
	*t = x;
	return 0;
}

static int lx_tx_end(struct td_xs *xs, td_xs_tx t, bool abort)
{
	errno = 0;
	return xs_transaction_end(to_libxs(xs)->h, t, abort) ? 0 :
							       err_or(-EIO);
}

static void lx_close(struct td_xs *xs)
{
	struct libxs *x = to_libxs(xs);

	char **ev;

	if (x->watch.registered)
		td_loop_fd_del(x->loop, &x->watch);
	/* Events still queued are ours to free, not xs_close's. */
	while ((ev = xs_check_watch(x->h)))
		free(ev);
	xs_close(x->h);
	free(x);
}

static void lx_watch_cb(struct td_loop_fd *f, uint32_t events)
{
	struct libxs *x = f->arg;
	unsigned i;

	(void)events;
	for (i = 0; i < XS_EVENTS_PER_CALL; i++) {
		char **ev = xs_check_watch(x->h);

		if (!ev) {
			if (errno != EAGAIN)
				td_warn(TD_SUB_XS, "xenstore watch: %s",
					strerror(errno));
			return;
		}
		x->xs.event(x->xs.event_arg, ev[XS_WATCH_PATH],
			    ev[XS_WATCH_TOKEN]);
		free(ev);
	}
}

static const struct td_xs_ops libxs_ops = {
	.name = "libxenstore",
	.read = lx_read,
	.write = lx_write,
	.mkdir = lx_mkdir,
	.rm = lx_rm,
	.directory = lx_directory,
	.watch = lx_watch,
	.unwatch = lx_unwatch,
	.tx_start = lx_tx_start,
	.tx_end = lx_tx_end,
	.close = lx_close,
};

int td_xs_libxs_open(struct td_loop *loop, td_xs_event_fn event, void *arg,
		     struct td_xs **out)
{
	struct libxs *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return -ENOMEM;
	x->xs.ops = &libxs_ops;
	x->xs.event = event;
	x->xs.event_arg = arg;
	x->loop = loop;
	errno = 0;
	/*
	 * No XS_UNWATCH_FILTER: libxenstore 4.17 leaks the events it filters
	 * out. A stale event after unwatch is harmless here: tokens carry
	 * ids that are never reused, and the owner ignores unknown ones.
	 */
	x->h = xs_open(0);
	if (!x->h) {
		rc = err_or(-ECONNREFUSED);
		free(x);
		return rc;
	}
	x->watch.fd = xs_fileno(x->h);
	if (x->watch.fd < 0) {
		rc = err_or(-EIO);
		goto fail;
	}
	x->watch.events = TD_EV_IN;
	x->watch.cb = lx_watch_cb;
	x->watch.arg = x;
	rc = td_loop_fd_add(loop, &x->watch);
	if (rc)
		goto fail;
	*out = &x->xs;
	return 0;
fail:
	xs_close(x->h);
	free(x);
	return rc;
}
