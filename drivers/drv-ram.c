/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * "ram": an in-memory, zero-filled disk for tests. PATH is its size
 * ("64M", "1G", "1048576" bytes; rounded down to whole sectors). Requests
 * are performed in submit and completed from a deferred loop call, like a
 * real asynchronous driver, so callers see the same ordering rules.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "image.h"
#include "td-log.h"

struct ram_priv {
	uint8_t *mem;
	size_t bytes;
	size_t page;
};

static int ram_open(struct td_image *img)
{
	struct ram_priv *p = img->priv;
	uint64_t bytes;
	void *mem;
	int rc;

	rc = td_image_parse_size(img->path, &bytes);
	if (rc)
		return rc;
	bytes &= ~(uint64_t)(TD_SECTOR_SIZE - 1);
	if (!bytes)
		return -EINVAL;
	if (bytes > SIZE_MAX)
		return -EFBIG;
	/*
	 * Anonymous memory reads as zeros and is only committed when
	 * written, so a large test disk costs what the test touches.
	 */
	mem = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	p->mem = mem;
	p->bytes = (size_t)bytes;
	p->page = (size_t)sysconf(_SC_PAGESIZE);
	img->size_sectors = bytes >> TD_SECTOR_SHIFT;
	return 0;
}

static void ram_close(struct td_image *img)
{
	struct ram_priv *p = img->priv;

	munmap(p->mem, p->bytes);
}

/* Zeroes [off, +len): whole pages are given back to the kernel. */
static void ram_zero(struct ram_priv *p, size_t off, size_t len)
{
	size_t start = (off + p->page - 1) & ~(p->page - 1);
	size_t end = (off + len) & ~(p->page - 1);

	if (start < end &&
	    madvise(p->mem + start, end - start, MADV_DONTNEED) == 0) {
		memset(p->mem + off, 0, start - off);
		memset(p->mem + end, 0, off + len - end);
		return;
	}
	memset(p->mem + off, 0, len);
}

static void ram_submit(struct td_image *img, struct td_req *req)
{
	struct ram_priv *p = img->priv;
	size_t off = (size_t)(req->sector << TD_SECTOR_SHIFT);
	size_t len = (size_t)td_req_bytes(req);
	int rc = 0;

	/* The core has bounded the range to the image and checked the iov. */
	switch (req->op) {
	case TD_OP_READ:
		rc = td_req_copy_to(req, 0, p->mem + off, len);
		break;
	case TD_OP_WRITE:
		rc = td_req_copy_from(req, 0, p->mem + off, len);
		break;
	case TD_OP_FLUSH:
		break;
	case TD_OP_DISCARD:
	case TD_OP_WRITE_ZEROES:
		ram_zero(p, off, len);
		break;
	default:
		rc = -EOPNOTSUPP;
		break;
	}
	td_image_complete_later(img, req, rc);
}

const struct td_driver_ops td_drv_ram = {
	.size = sizeof(struct td_driver_ops),
	.name = "ram",
	/* FLUSH is a no-op, declared so flush paths can be tested on ram. */
	.caps = TD_CAP_FLUSH | TD_CAP_DISCARD | TD_CAP_WRITE_ZEROES,
	.priv_size = sizeof(struct ram_priv),
	.open = ram_open,
	.close = ram_close,
	.submit = ram_submit,
};
