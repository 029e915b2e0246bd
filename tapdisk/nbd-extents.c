/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * base:allocation for NBD_CMD_BLOCK_STATUS: walks the image chain with
 * each driver's block_status op. See td_nbd_extents in nbd.h.
 */
#include <stddef.h>
#include "image.h"
#include "nbd-proto.h"
#include "nbd.h"

/* Chains deeper than this are refused at open; bound the walk anyway. */
#define TD_NBD_CHAIN_MAX 64u
/* Driver calls per block status request, so one query stays cheap. */
#define TD_NBD_LOOKUP_BUDGET 1024u

static bool has_block_status(const struct td_image *img)
{
	const struct td_driver_ops *ops = img->ops;

	return (img->caps & TD_CAP_BLOCK_STATUS) &&
	       ops->size >= offsetof(struct td_driver_ops, block_status) +
				    sizeof(ops->block_status) &&
	       ops->block_status;
}

/*
 * Status of the first run of [@s, @s + @n) through the chain. A range an
 * image reports as a hole is what its parent holds there; the run found
 * in the parent may be shorter, never longer.
 */
static uint32_t first_run(struct td_image *img, uint64_t s, uint64_t n,
			  uint64_t *run, unsigned *budget)
{
	unsigned depth;

	for (depth = 0; depth < TD_NBD_CHAIN_MAX; depth++) {
		unsigned f = 0;
		uint64_t r = 0;

		/* Past the last parent, or past a short parent: zeros. */
		if (!img || s >= img->size_sectors) {
			*run = n;
			return NBD_STATE_HOLE | NBD_STATE_ZERO;
		}
		if (n > img->size_sectors - s)
			n = img->size_sectors - s;
		if (!has_block_status(img) || !*budget) {
			*run = n;
			return 0;
		}
		(*budget)--;
		/* A failing or nonsensical answer is reported as data. */
		if (img->ops->block_status(img, s, n, &f, &r) || !r) {
			*run = n;
			return 0;
		}
		if (r > n)
			r = n;
		if (!(f & TD_EXTENT_HOLE)) {
			*run = r;
			return (f & TD_EXTENT_ZERO) ? NBD_STATE_ZERO : 0;
		}
		if (!img->parent) {
			*run = r;
			return NBD_STATE_HOLE | NBD_STATE_ZERO;
		}
		img = img->parent;
		n = r;
	}
	*run = n;
	return 0;
}

unsigned td_nbd_extents(struct td_image *leaf, uint64_t sector, uint64_t nr,
			struct td_nbd_extent *out, unsigned max)
{
	unsigned count = 0, budget = TD_NBD_LOOKUP_BUDGET;
	uint64_t done = 0;

	while (done < nr && count <= max) {
		uint64_t run;
		uint32_t flags = first_run(leaf, sector + done, nr - done,
					   &run, &budget);

		if (count && out[count - 1].flags == flags) {
			out[count - 1].sectors += run;
		} else {
			if (count == max)
				break;
			out[count].sectors = run;
			out[count].flags = flags;
			count++;
		}
		done += run;
		if (!budget)
			break;
	}
	return count;
}
