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

static int null_open(struct td_image *img)
{
	uint64_t bytes;
	int rc;

	rc = td_image_parse_size(img->path, &bytes);
	if (rc)
		return rc;
	if (bytes < TD_SECTOR_SIZE)
		return -EINVAL;
	img->size_sectors = bytes >> TD_SECTOR_SHIFT;
	return 0;
}

static void null_close(struct td_image *img)
{
	/* Nothing held: queued completions belong to the image core. */
	(void)img;
}

static void null_submit(struct td_image *img, struct td_req *req)
{
	int rc = 0;

	if (req->op == TD_OP_READ)
		rc = td_req_zero(req, 0, td_req_bytes(req));
	td_image_complete_later(img, req, rc);
}

const struct td_driver_ops td_drv_null = {
	.size = sizeof(struct td_driver_ops),
	.name = "null",
	.caps = TD_CAP_FLUSH | TD_CAP_DISCARD | TD_CAP_WRITE_ZEROES,
	.open = null_open,
	.close = null_close,
	.submit = null_submit,
};
