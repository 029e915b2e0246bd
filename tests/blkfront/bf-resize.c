// SPDX-License-Identifier: GPL-2.0-only
/*
 * td-blkfront's resize-wait verb (xenstore mode only): connect, report
 * the size, wait until the backend publishes a new "sectors" (online
 * resize, as blkback signals it), then write and read back the last
 * sector of the new size, which was beyond the old end: the ring must
 * accept it now.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "bf-verbs.h"
#include "bf-xenbus.h"

struct one {
	bool done;
	int16_t status;
};

static void one_done(struct td_bf_io *io, void *arg)
{
	struct one *o = arg;

	o->done = true;
	o->status = io->status;
}

/* One 512-byte request at @sector; @buf in (write) or out (read). */
static int one_io(struct td_bf_front *f, uint8_t op, uint64_t sector,
		  unsigned char *buf)
{
	struct td_bf_io *io = td_bf_io_get(f);
	struct one o = { false, 0 };
	unsigned char *page;
	int rc;

	if (!io)
		return -EBUSY;
	page = td_bf_io_add_seg(io, 0, 0);
	if (op == BLKIF_OP_WRITE)
		memcpy(page, buf, 512);
	io->done = one_done;
	io->arg = &o;
	rc = td_bf_io_prep_rw(io, op, sector);
	if (!rc)
		rc = td_bf_front_submit(f, io, 0);
	if (rc) {
		td_bf_io_put(io);
		return rc;
	}
	td_bf_front_kick(f);
	while (!o.done) {
		rc = td_bf_front_poll(f, -1);
		if (rc < 0)
			return rc;
	}
	if (op == BLKIF_OP_READ)
		memcpy(buf, page, 512);
	td_bf_io_put(io);
	return o.status == BLKIF_RSP_OKAY ? 0 : -EIO;
}

int td_bf_resize_wait(const struct td_bf_cmd *c)
{
	unsigned char wbuf[512], rbuf[512];
	struct td_bf_opts fo = c->fo;
	struct td_bf_front *f;
	uint64_t old, now;
	char err[256];
	int rc;

	if (!c->xs) {
		fprintf(stderr, "resize-wait: needs --xenstore\n");
		return 1;
	}
	fo.nr_ios = 1;
	rc = td_bf_front_connect(&fo, &f, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "resize-wait: %s\n", err);
		return 1;
	}
	old = td_bf_front_back(f)->sectors;
	printf("connected sectors=%llu\n", (unsigned long long)old);
	fflush(stdout);
	/* Beyond the end: refused before the resize. */
	memset(wbuf, 0xa5, sizeof(wbuf));
	if (!one_io(f, BLKIF_OP_READ, old, rbuf)) {
		fprintf(stderr, "resize-wait: read past the end succeeded\n");
		goto fail;
	}
	rc = td_bf_xs_wait_sectors(c->xs, old, fo.timeout_ms, &now);
	if (rc) {
		fprintf(stderr, "resize-wait: no new size: %s\n",
			strerror(-rc));
		goto fail;
	}
	printf("resized sectors=%llu\n", (unsigned long long)now);
	if (now <= old || one_io(f, BLKIF_OP_WRITE, now - 1, wbuf) ||
	    one_io(f, BLKIF_OP_READ, now - 1, rbuf) ||
	    memcmp(wbuf, rbuf, sizeof(wbuf))) {
		fprintf(stderr, "resize-wait: I/O at the new end failed\n");
		goto fail;
	}
	printf("new end ok\n");
	td_bf_front_close(f);
	return 0;
fail:
	td_bf_front_close(f);
	return 1;
}
