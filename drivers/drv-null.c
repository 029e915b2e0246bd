/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * "null": reads return zeros, writes are dropped. PATH is the size, as for
 * "ram". Exists to measure the overhead of everything above the driver;
 * completions still go through a deferred loop call so the measured path
 * is the one real drivers take.
 */
#include <errno.h>
#include <stdint.h>
#include "image.h"
#include "loop.h"

struct null_priv {
	struct td_loop_defer defer;
	struct td_list done_q; /* td_req.link, completed by the defer */
};

static void null_run_done(struct td_loop_defer *d)
{
	struct null_priv *p = d->arg;
	struct td_list local, *n;

	/* Detach first: a done callback may submit again or close us. */
	if (td_list_empty(&p->done_q))
		return;
	local.next = p->done_q.next;
	local.prev = p->done_q.prev;
	local.next->prev = &local;
	local.prev->next = &local;
	td_list_init(&p->done_q);
	while ((n = td_list_pop(&local))) {
		struct td_req *req = td_list_entry(n, struct td_req, link);

		td_req_complete(req, req->err);
	}
}

static int null_open(struct td_image *img)
{
	struct null_priv *p = img->priv;
	uint64_t bytes;
	int rc;

	rc = td_image_parse_size(img->path, &bytes);
	if (rc)
		return rc;
	if (bytes < TD_SECTOR_SIZE)
		return -EINVAL;
	td_list_init(&p->done_q);
	td_list_init(&p->defer.link);
	p->defer.cb = null_run_done;
	p->defer.arg = p;
	img->size_sectors = bytes >> TD_SECTOR_SHIFT;
	return 0;
}

static void null_close(struct td_image *img)
{
	struct null_priv *p = img->priv;

	td_loop_defer_cancel(img->ctx.loop, &p->defer);
}

static void null_submit(struct td_image *img, struct td_req *req)
{
	struct null_priv *p = img->priv;

	req->err = 0;
	if (req->op == TD_OP_READ)
		req->err = td_req_zero(req, 0, td_req_bytes(req));
	td_list_add_tail(&req->link, &p->done_q);
	td_loop_defer(img->ctx.loop, &p->defer);
}

const struct td_driver_ops td_drv_null = {
	.size = sizeof(struct td_driver_ops),
	.name = "null",
	.caps = TD_CAP_FLUSH | TD_CAP_DISCARD | TD_CAP_WRITE_ZEROES,
	.priv_size = sizeof(struct null_priv),
	.open = null_open,
	.close = null_close,
	.submit = null_submit,
};
