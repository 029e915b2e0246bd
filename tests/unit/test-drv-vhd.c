/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The vhd driver, in process with the real loop: reads and writes through
 * dynamic disks and 3-deep differencing chains (real aio backend), block
 * boundaries, concurrent allocations and waiting on a block (fake backend,
 * completions out of order), flush/FUA ordering, block status, and crash
 * safety: after every step of an allocation, every subset of the writes
 * in flight is applied to the previous file state, and the result must
 * validate with the VHD library and hold no lost acknowledged data and no
 * stale data. Footer placement on block devices (pure helpers; the real
 * device is tests/vhd/drv-blockdev.sh).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-io.h"
#include "image.h"
#include "loop.h"
#include "vhd-driver.h"
#include "vhd-format.h"
#include "td-check.h"

#define MiB (1u << 20)
#define DISK (8u * MiB)           /* 4 blocks of 2 MiB */
#define NSEC (DISK / 512)
#define SPB 4096u
#define DEPTH 32

struct treq {
	struct td_req req;
	struct iovec iov;
	uint8_t *buf;
	int done, err;
};

struct env {
	struct td_loop loop;
	struct td_io *io;
	struct td_image_ctx ctx;
	bool fake;
	char dir[64];
	char base[128], mid[128], leaf[128];
};

static struct env *E;

static void setup_common(bool fake)
{
	E = calloc(1, sizeof(*E));
	ck_assert_ptr_nonnull(E);
	E->fake = fake;
	snprintf(E->dir, sizeof(E->dir), "/tmp/test-drv-vhd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(E->dir));
	snprintf(E->base, sizeof(E->base), "%s/base.vhd", E->dir);
	snprintf(E->mid, sizeof(E->mid), "%s/mid.vhd", E->dir);
	snprintf(E->leaf, sizeof(E->leaf), "%s/leaf.vhd", E->dir);
	ck_assert_int_eq(td_loop_init(&E->loop, NULL, NULL), 0);
	if (fake)
		ck_assert_int_eq(td_fake_io_create(&E->loop, &E->io), 0);
	else
		ck_assert_int_eq(td_io_aio_ops.create(&E->loop, 256, &E->io),
				 0);
	E->ctx.loop = &E->loop;
	E->ctx.io = E->io;
	E->ctx.depth = DEPTH;
}

static void setup_aio(void)
{
	setup_common(false);
}

static void setup_fake(void)
{
	setup_common(true);
}

static void teardown(void)
{
	char cmd[128];

	td_io_destroy(E->io);
	td_loop_fini(&E->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", E->dir);
	ck_assert_int_eq(system(cmd), 0);
	free(E);
}

/* ---- helpers ------------------------------------------------------ */

static void pattern(uint8_t *b, size_t len, uint64_t sector, int seed)
{
	size_t i;

	/* every sector distinct per layer: catches misplaced reads */
	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((sector + i / 512) * 7 + seed * 31 + i % 251);
}

static void create(const char *path, const char *parent)
{
	struct td_vhd_create_opts o = { 0 };
	struct td_vhd_err err = { .name = path };

	o.size = DISK;
	o.type = parent ? TD_VHD_TYPE_DIFF : TD_VHD_TYPE_DYNAMIC;
	o.parent = parent;
	if (td_vhd_create(path, &o, &err))
		ck_abort_msg("create %s: %s", path, err.msg);
}

static void treq_init(struct treq *t, enum td_op op, uint64_t sector,
		      uint64_t nr)
{
	memset(&t->req, 0, sizeof(t->req));
	if (!t->buf)
		ck_assert_int_eq(posix_memalign((void **)&t->buf, 4096,
						DISK), 0);
	t->req.op = op;
	t->req.sector = sector;
	t->req.nr_sectors = nr;
	t->iov.iov_base = t->buf;
	t->iov.iov_len = nr * 512;
	t->req.iov = nr ? &t->iov : NULL;
	t->req.iovcnt = nr ? 1 : 0;
	t->done = 0;
	t->err = 1;
}

static void treq_done(struct td_req *req, int err)
{
	struct treq *t = td_container_of(req, struct treq, req);

	t->done++;
	t->err = err;
}

static void submit(struct td_image *img, struct treq *t)
{
	t->req.done = treq_done;
	td_image_submit(img, &t->req);
}

/* Runs the loop (completing every fake I/O) until @t is done. */
static void wait_done(struct treq *t)
{
	int i;

	for (i = 0; i < 100000 && !t->done; i++) {
		if (E->fake)
			td_fake_io_complete_all(E->io);
		ck_assert_int_ge(td_loop_run_once(&E->loop,
						  E->fake ? 0 : 10000000), 0);
	}
	ck_assert_int_eq(t->done, 1);
}

static int do_io(struct td_image *img, struct treq *t, enum td_op op,
		 uint64_t sector, uint64_t nr, const uint8_t *data)
{
	treq_init(t, op, sector, nr);
	if (data)
		memcpy(t->buf, data, nr * 512);
	submit(img, t);
	wait_done(t);
	return t->err;
}

static struct td_image *open_chain(const char *path, unsigned flags)
{
	char spec[160], err[256];
	struct td_image *img = NULL;
	int rc;

	snprintf(spec, sizeof(spec), "vhd:%s", path);
	rc = td_image_open_chain(spec, flags, &E->ctx, &img, err, sizeof(err));
	ck_assert_msg(rc == 0, "open %s: %d %s", spec, rc, err);
	return img;
}

/* Reads the whole virtual disk of @path through the library. */
static uint8_t *lib_read_all(const char *path, int *rc)
{
	struct td_vhd_err err = { .name = path };
	struct td_vhd *v;
	uint8_t *b = malloc(DISK);

	ck_assert_ptr_nonnull(b);
	*rc = td_vhd_open_chain(path, TD_VHD_OPEN_RDONLY, &v, &err);
	if (*rc) {
		fprintf(stderr, "validator: %s\n", err.msg);
		free(b);
		return NULL;
	}
	*rc = td_vhd_read(v, 0, NSEC, b, &err);
	if (*rc)
		fprintf(stderr, "read: %s\n", err.msg);
	td_vhd_close(v);
	return b;
}

/* Writes @nr sectors of @seed's pattern at @sector into @m and @img. */
static void write_model(struct td_image *img, uint8_t *m, uint64_t sector,
			uint64_t nr, int seed)
{
	struct treq t = { 0 };

	pattern(m + sector * 512, nr * 512, sector, seed);
	ck_assert_int_eq(do_io(img, &t, TD_OP_WRITE, sector, nr,
			       m + sector * 512), 0);
	free(t.buf);
}

static void check_read(struct td_image *img, const uint8_t *m,
		       uint64_t sector, uint64_t nr)
{
	struct treq t = { 0 };
	uint64_t i;

	ck_assert_int_eq(do_io(img, &t, TD_OP_READ, sector, nr, NULL), 0);
	for (i = 0; i < nr; i++)
		ck_assert_msg(!memcmp(t.buf + i * 512,
				      m + (sector + i) * 512, 512),
			      "sector %llu differs",
			      (unsigned long long)(sector + i));
	free(t.buf);
}

/* ---- tests -------------------------------------------------------- */

START_TEST(dynamic_rw_boundaries)
{
	uint8_t *m = calloc(1, DISK), *back;
	struct td_image *img;
	unsigned fl;
	uint64_t run;
	int rc;

	create(E->base, NULL);
	img = open_chain(E->base, 0);
	ck_assert_uint_eq(img->size_sectors, NSEC);
	/* untouched disk: zeros, one hole */
	check_read(img, m, 0, 2048);
	ck_assert_int_eq(img->ops->block_status(img, 0, NSEC, &fl, &run), 0);
	ck_assert_uint_eq(fl, TD_EXTENT_HOLE | TD_EXTENT_ZERO);
	ck_assert_uint_eq(run, NSEC);
	/* across the block 0/1 boundary, unaligned start and end */
	write_model(img, m, SPB - 3, 10, 1);
	/* a whole block, then a run spanning three blocks */
	write_model(img, m, 2 * SPB, SPB, 2);
	write_model(img, m, SPB + 100, 2 * SPB, 3);
	/* into an allocated block: new bits, then bits already set */
	write_model(img, m, 17, 5, 4);
	write_model(img, m, 17, 5, 5);
	check_read(img, m, 0, 2048);
	check_read(img, m, SPB - 8, 2 * SPB);
	check_read(img, m, 3 * SPB - 5, SPB + 5);
	/* block status: block 0 has data at 17..21 only */
	ck_assert_int_eq(img->ops->block_status(img, 0, NSEC, &fl, &run), 0);
	ck_assert_uint_eq(fl, TD_EXTENT_HOLE | TD_EXTENT_ZERO);
	ck_assert_uint_eq(run, 17);
	ck_assert_int_eq(img->ops->block_status(img, 17, NSEC - 17, &fl,
						&run), 0);
	ck_assert_uint_eq(fl, 0);
	ck_assert_uint_eq(run, 5);
	/* full block 2 (batmap) runs on into block 3's data */
	ck_assert_int_eq(img->ops->block_status(img, 2 * SPB, 2 * SPB, &fl,
						&run), 0);
	ck_assert_uint_eq(fl, 0);
	ck_assert_uint_eq(run, SPB + 100);
	td_image_close(img);

	/* the library validates the closed file and reads the same */
	back = lib_read_all(E->base, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);
	/* and the driver again, read-only */
	img = open_chain(E->base, TD_OPEN_RDONLY);
	check_read(img, m, 0, NSEC);
	td_image_close(img);
	free(m);
}
END_TEST

/* Buffers O_DIRECT refuses (8-byte aligned) still work, both ways. */
START_TEST(unaligned_buffers)
{
	uint8_t *m = calloc(1, DISK), *raw = malloc(64 * 512 + 8);
	struct td_image *img;
	struct treq t = { 0 };
	uint64_t secs[2] = { SPB + 5, 11 };
	int i;

	create(E->base, NULL);
	img = open_chain(E->base, 0);
	write_model(img, m, 0, 16, 1); /* block 0 exists: both paths */
	for (i = 0; i < 2; i++) {
		pattern(m + secs[i] * 512, 40 * 512, secs[i], 6 + i);
		memcpy(raw + 8, m + secs[i] * 512, 40 * 512);
		treq_init(&t, TD_OP_WRITE, secs[i], 40);
		t.iov.iov_base = raw + 8;
		submit(img, &t);
		wait_done(&t);
		ck_assert_int_eq(t.err, 0);
	}
	for (i = 0; i < 2; i++) {
		memset(raw, 0, 64 * 512 + 8);
		treq_init(&t, TD_OP_READ, secs[i] - 3, 46);
		t.iov.iov_base = raw + 8;
		submit(img, &t);
		wait_done(&t);
		ck_assert_int_eq(t.err, 0);
		ck_assert_int_eq(memcmp(raw + 8, m + (secs[i] - 3) * 512,
					46 * 512), 0);
	}
	check_read(img, m, 0, NSEC);
	td_image_close(img);
	free(t.buf);
	free(raw);
	free(m);
}
END_TEST

/* base (dynamic) <- mid <- leaf, each written through the driver. */
static uint8_t *make_chain3(void)
{
	uint8_t *m = calloc(1, DISK);
	struct td_image *img;

	create(E->base, NULL);
	img = open_chain(E->base, 0);
	write_model(img, m, 0, NSEC, 1);
	td_image_close(img);
	create(E->mid, E->base);
	img = open_chain(E->mid, 0);
	write_model(img, m, 8, 16, 2);        /* inside block 0 */
	write_model(img, m, SPB - 4, 8, 2);   /* across 0/1 */
	write_model(img, m, 3 * SPB, 64, 2);
	td_image_close(img);
	create(E->leaf, E->mid);
	img = open_chain(E->leaf, 0);
	write_model(img, m, 12, 4, 3);        /* inside mid's run */
	write_model(img, m, 2 * SPB + 1, 1, 3);
	td_image_close(img);
	return m;
}

START_TEST(chain3_reads_fall_through)
{
	uint8_t *m = make_chain3(), *back;
	struct td_image *img;
	unsigned fl;
	uint64_t run;
	int rc;

	img = open_chain(E->leaf, 0);
	ck_assert_ptr_nonnull(img->parent);
	ck_assert_ptr_nonnull(img->parent->parent);
	ck_assert_ptr_null(img->parent->parent->parent);
	/* one read covering all three layers and block boundaries */
	check_read(img, m, 0, NSEC);
	check_read(img, m, 5, 40);
	check_read(img, m, SPB - 6, 12);
	/* leaf status: hole up to 12, data 12..15, hole after */
	ck_assert_int_eq(img->ops->block_status(img, 0, 64, &fl, &run), 0);
	ck_assert_uint_eq(fl, TD_EXTENT_HOLE);
	ck_assert_uint_eq(run, 12);
	ck_assert_int_eq(img->ops->block_status(img, 12, 64, &fl, &run), 0);
	ck_assert_uint_eq(fl, 0);
	ck_assert_uint_eq(run, 4);
	/* writes into the leaf: partial blocks keep parent data around */
	write_model(img, m, 2 * SPB + 5, 3, 4);
	write_model(img, m, SPB + 7, 9, 4);
	check_read(img, m, 0, NSEC);
	td_image_close(img);

	back = lib_read_all(E->leaf, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);
	free(m);
}
END_TEST

START_TEST(parent_mismatch_refused)
{
	char spec[160], err[256];
	struct td_image *img = NULL;
	struct td_vhd_create_opts o = { 0 };
	struct td_vhd_err verr = { .name = E->base };

	create(E->base, NULL);
	create(E->leaf, E->base);
	/* replace the base by another disk of the same name */
	ck_assert_int_eq(unlink(E->base), 0);
	o.size = DISK;
	o.type = TD_VHD_TYPE_DYNAMIC;
	ck_assert_int_eq(td_vhd_create(E->base, &o, &verr), 0);
	snprintf(spec, sizeof(spec), "vhd:%s", E->leaf);
	ck_assert_int_eq(td_image_open_chain(spec, 0, &E->ctx, &img, err,
					     sizeof(err)), -EINVAL);
	ck_assert_ptr_null(img);
	ck_assert_ptr_nonnull(strstr(err, "does not match"));
}
END_TEST

/* Where the BAT of @path lies, to recognise its writes. */
static void bat_range(const char *path, uint64_t *b0, uint64_t *b1)
{
	struct td_vhd_err err = { .name = path };
	struct td_vhd *v;

	ck_assert_int_eq(td_vhd_open(path, TD_VHD_OPEN_RDONLY, &v, &err), 0);
	*b0 = v->header.table_offset;
	*b1 = *b0 + (uint64_t)v->header.max_bat * 4;
	td_vhd_close(v);
}

/* Held data writes at or beyond file offset @end (new blocks). */
static unsigned held_beyond(off_t end)
{
	unsigned i, k = 0, n = td_fake_io_pending(E->io);

	for (i = 0; i < n; i++) {
		struct td_iocb *cb = td_fake_io_peek(E->io, i);

		if (cb->op == TD_IO_WRITE && cb->offset >= end &&
		    td_iov_len(cb->iov, cb->iovcnt) >= 4096)
			k++;
	}
	return k;
}

START_TEST(concurrent_allocations)
{
	uint8_t *m = make_chain3();
	struct treq t[5];
	struct td_image *img;
	unsigned i, most = 0, h;
	struct stat st;
	int k;

	memset(t, 0, sizeof(t));
	ck_assert_int_eq(stat(E->leaf, &st), 0);
	img = open_chain(E->leaf, 0);
	/* four writes, three new blocks, the fourth into block 1 again */
	treq_init(&t[0], TD_OP_WRITE, 100, 8);
	treq_init(&t[1], TD_OP_WRITE, SPB + 200, 8);
	treq_init(&t[2], TD_OP_WRITE, 3 * SPB + 300, 8);
	treq_init(&t[3], TD_OP_WRITE, SPB + 400, 8);
	for (i = 0; i < 4; i++) {
		pattern(m + t[i].req.sector * 512, 4096, t[i].req.sector, 9);
		memcpy(t[i].buf, m + t[i].req.sector * 512, 4096);
		submit(img, &t[i]);
	}
	/* leaf had blocks 0 and 2: block 1 and 3 are allocated */
	for (k = 0; k < 20000; k++) {
		unsigned n = td_fake_io_pending(E->io);

		if (t[0].done && t[1].done && t[2].done && t[3].done)
			break;
		h = held_beyond(st.st_size - 512);
		most = h > most ? h : most;
		/* t[3] may not touch block 1 before t[1] was acknowledged */
		if (!t[1].done)
			ck_assert_int_eq(t[3].done, 0);
		/* complete newest first: the reverse of submission */
		if (n)
			td_fake_io_complete(E->io, n - 1);
		td_loop_run_once(&E->loop, 0);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(t[i].done, 1);
		ck_assert_int_eq(t[i].err, 0);
	}
	/* both new blocks had their data in flight at the same time */
	ck_assert_uint_ge(most, 2);
	check_read(img, m, 0, NSEC);
	td_image_close(img);
	for (i = 0; i < 4; i++)
		free(t[i].buf);
	free(m);
}
END_TEST

START_TEST(flush_and_fua_order)
{
	struct treq w = { 0 }, f = { 0 };
	struct td_image *img;
	struct td_iocb *cb;
	int k, saw_flush = 0;

	create(E->base, NULL);
	img = open_chain(E->base, 0);
	ck_assert(img->caps & TD_CAP_FLUSH);
	/* a regular file whose file system punches holes: discard works */
	ck_assert(img->caps & TD_CAP_DISCARD);
	/* FUA write allocating a block: the flush comes last, alone */
	treq_init(&w, TD_OP_WRITE, 8, 8);
	w.req.flags = TD_REQ_FUA;
	memset(w.buf, 0x5a, 4096);
	submit(img, &w);
	for (k = 0; k < 100 && !w.done; k++) {
		unsigned n = td_fake_io_pending(E->io), i;

		for (i = 0; i < n; i++) {
			cb = td_fake_io_peek(E->io, i);
			if (cb->op == TD_IO_FLUSH) {
				ck_assert_uint_eq(n, 1);
				saw_flush++;
			}
		}
		td_fake_io_complete_all(E->io);
		td_loop_run_once(&E->loop, 0);
	}
	ck_assert_int_eq(w.done, 1);
	ck_assert_int_eq(w.err, 0);
	ck_assert_int_eq(saw_flush, 1);
	/* a flush request is a flush of the file */
	treq_init(&f, TD_OP_FLUSH, 0, 0);
	submit(img, &f);
	td_loop_run_once(&E->loop, 0);
	ck_assert_uint_eq(td_fake_io_pending(E->io), 1);
	ck_assert_int_eq(td_fake_io_peek(E->io, 0)->op, TD_IO_FLUSH);
	wait_done(&f);
	ck_assert_int_eq(f.err, 0);
	td_image_close(img);
	free(w.buf);
	free(f.buf);
}
END_TEST

/* ---- crash points ------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	b = malloc(*len ? *len : 1);
	ck_assert_int_eq(pread(fd, b, *len, 0), (ssize_t)*len);
	close(fd);
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, b, len, 0), (ssize_t)len);
	close(fd);
}

struct wrec {
	off_t off;
	size_t len;
};

/*
 * Builds the file a crash would leave: @pre plus the writes of @subset
 * (bits of @w), their bytes taken from @cur, and checks it validates and
 * reads @old or @new sector by sector in [@s0, +@n) (any mix if @acked
 * is false, only @new if true) and @old everywhere else.
 */
static void check_crash(const uint8_t *pre, size_t prelen, const uint8_t *cur,
			size_t curlen, const struct wrec *w, unsigned nw,
			unsigned subset, const uint8_t *old,
			const uint8_t *new, uint64_t s0, uint64_t n,
			bool acked, unsigned *checked)
{
	char path[160];
	size_t len = prelen, i;
	uint8_t *img, *got;
	uint64_t sec;
	int rc;

	for (i = 0; i < nw; i++)
		if (subset & (1u << i) && w[i].off + w[i].len > len)
			len = w[i].off + w[i].len;
	img = calloc(1, len);
	memcpy(img, pre, prelen);
	for (i = 0; i < nw; i++) {
		if (!(subset & (1u << i)))
			continue;
		ck_assert_uint_le(w[i].off + w[i].len, curlen);
		memcpy(img + w[i].off, cur + w[i].off, w[i].len);
	}
	snprintf(path, sizeof(path), "%s/crash.vhd", E->dir);
	spit(path, img, len);
	got = lib_read_all(path, &rc);
	ck_assert_msg(rc == 0, "crash image (subset %u of %u) invalid: %d",
		      subset, nw, rc);
	for (sec = 0; sec < NSEC; sec++) {
		const uint8_t *g = got + sec * 512;
		bool in = sec >= s0 && sec < s0 + n;
		bool is_old = !memcmp(g, old + sec * 512, 512);
		bool is_new = !memcmp(g, new + sec * 512, 512);

		if (!in || !acked)
			ck_assert_msg(is_old || (in && is_new),
				      "crash: sector %llu is stale or lost",
				      (unsigned long long)sec);
		else
			ck_assert_msg(is_new, "crash: acked sector %llu lost",
				      (unsigned long long)sec);
	}
	free(got);
	free(img);
	(*checked)++;
}

/*
 * One write of [@s0, +@n) through the driver on the fake backend, one
 * completion step at a time; at every step the crash images of all
 * subsets of the writes then in flight are checked. Also checks the
 * allocation order: a BAT write is never in flight with other writes.
 */
static void crash_write(const char *path, uint8_t *m, uint64_t s0,
			uint64_t n, int seed, unsigned *checked)
{
	uint8_t *old = malloc(DISK), *pre, *cur;
	size_t prelen, curlen;
	struct treq t = { 0 };
	struct td_image *img;
	uint64_t bat0, bat1;
	/* one block: its BAT write must be alone (several may overlap) */
	bool strict = s0 / SPB == (s0 + n - 1) / SPB;
	int step;

	bat_range(path, &bat0, &bat1);

	memcpy(old, m, DISK);
	pattern(m + s0 * 512, n * 512, s0, seed);
	img = open_chain(path, 0);
	treq_init(&t, TD_OP_WRITE, s0, n);
	memcpy(t.buf, m + s0 * 512, n * 512);
	pre = slurp(path, &prelen);
	submit(img, &t);
	/* until acked and nothing of it is left in flight */
	for (step = 0; step < 50; step++) {
		struct wrec w[8];
		unsigned nw = 0, i, nbat = 0, sub;

		td_loop_run_once(&E->loop, 0);
		if (t.done && !td_fake_io_pending(E->io))
			break;
		for (i = 0; i < td_fake_io_pending(E->io); i++) {
			struct td_iocb *cb = td_fake_io_peek(E->io, i);

			if (cb->op != TD_IO_WRITE)
				continue;
			ck_assert_uint_lt(nw, 8);
			w[nw].off = cb->offset;
			w[nw].len = td_iov_len(cb->iov, cb->iovcnt);
			if ((uint64_t)cb->offset >= bat0 &&
			    (uint64_t)cb->offset < bat1)
				nbat++;
			nw++;
		}
		ck_assert_msg(!strict || !nbat || nw == 1,
			      "BAT written together with other writes");
		ck_assert_uint_le(nw, 3);
		cur = slurp(path, &curlen);
		/* an acked write must survive losing whatever is in flight */
		for (sub = 0; sub < (1u << nw); sub++)
			check_crash(pre, prelen, cur, curlen, w, nw, sub, old,
				    m, s0, n, t.done, checked);
		free(pre);
		pre = cur;
		prelen = curlen;
		td_fake_io_complete_all(E->io);
	}
	/* acknowledged: the file as it is must hold the new data */
	cur = slurp(path, &curlen);
	check_crash(cur, curlen, cur, curlen, NULL, 0, 0, old, m, s0, n, true,
		    checked);
	free(cur);
	free(pre);
	/* "crash": drop the image without close (no footer rewrite) */
	td_loop_run_once(&E->loop, 0);
	td_image_close(img);
	free(t.buf);
	free(old);
}

START_TEST(crash_points)
{
	uint8_t *m = make_chain3();
	unsigned checked = 0;

	/*
	 * Leaf blocks 0 and 2 exist. Block 0's new sectors and a new block 1
	 * from its start (footer move, then one bitmap + data write).
	 */
	crash_write(E->leaf, m, SPB - 4, 8, 7, &checked);
	/* new block, data in its middle: bitmap and data apart */
	crash_write(E->leaf, m, 3 * SPB + 33, 7, 8, &checked);
	/* allocated block, new sectors: data then bitmap */
	crash_write(E->leaf, m, SPB + 100, 20, 9, &checked);
	/* allocated block, sectors already present: data only */
	crash_write(E->leaf, m, SPB + 104, 4, 10, &checked);
	/* every step of every write was looked at */
	fprintf(stderr, "crash images checked: %u\n", checked);
	ck_assert_uint_ge(checked, 20);
	free(m);
}
END_TEST

/*
 * A crash after the data of a new block was written but before its BAT
 * entry: reopening read-write trims the leaked space, and a new block in
 * the same place shows no trace of the leaked data.
 */
START_TEST(crash_leak_reopen)
{
	uint8_t *m = make_chain3(), *pre, *back;
	struct treq t = { 0 };
	struct td_image *img;
	uint64_t bat0, bat1;
	size_t prelen;
	int rc, k;

	bat_range(E->leaf, &bat0, &bat1);
	img = open_chain(E->leaf, 0);
	treq_init(&t, TD_OP_WRITE, SPB, SPB);
	memset(t.buf, 0xee, SPB * 512);
	submit(img, &t);
	/* run until the BAT write is the only thing in flight */
	for (k = 0; k < 10; k++) {
		struct td_iocb *cb;

		td_loop_run_once(&E->loop, 0);
		cb = td_fake_io_peek(E->io, 0);
		if (cb && td_fake_io_pending(E->io) == 1 &&
		    (uint64_t)cb->offset >= bat0 && (uint64_t)cb->offset < bat1)
			break;
		td_fake_io_complete_all(E->io);
	}
	ck_assert_int_lt(k, 10);
	/* crash image = file now minus the BAT write: restore that sector */
	pre = slurp(E->leaf, &prelen);
	{
		struct td_iocb *cb = td_fake_io_peek(E->io, 0);
		struct td_vhd_err err = { .name = E->leaf };
		struct td_vhd *v;
		uint8_t sec[512];

		ck_assert_int_eq(td_vhd_open(E->leaf, TD_VHD_OPEN_RDONLY, &v,
					     &err), 0);
		memset(sec, 0, sizeof(sec));
		/* block 1 back to unused in that BAT sector */
		td_vhd_bat_set(v, 1, TD_VHD_BAT_UNUSED);
		ck_assert_uint_eq(td_vhd_bat_sector(v, 1, sec),
				  (uint64_t)cb->offset);
		memcpy(pre + cb->offset, sec, 512);
		td_vhd_close(v);
	}
	td_fake_io_complete_all(E->io);
	wait_done(&t);
	td_image_close(img);
	spit(E->leaf, pre, prelen);
	free(pre);

	back = lib_read_all(E->leaf, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);
	/* reopen read-write; a 1-sector write lands where the leak was */
	img = open_chain(E->leaf, 0);
	write_model(img, m, SPB + 9, 1, 12);
	check_read(img, m, 0, NSEC);
	td_image_close(img);
	back = lib_read_all(E->leaf, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);
	free(t.buf);
	free(m);
}
END_TEST

START_TEST(fixed_disk)
{
	struct td_vhd_create_opts o = { 0 };
	struct td_vhd_err err = { .name = E->base };
	uint8_t *m = calloc(1, DISK), *back;
	struct td_image *img;
	int rc;

	o.size = DISK;
	o.type = TD_VHD_TYPE_FIXED;
	ck_assert_int_eq(td_vhd_create(E->base, &o, &err), 0);
	img = open_chain(E->base, 0);
	ck_assert_uint_eq(img->size_sectors, NSEC);
	write_model(img, m, SPB - 1, 3, 1);
	check_read(img, m, 0, NSEC);
	td_image_close(img);
	back = lib_read_all(E->base, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);
	free(m);
}
END_TEST

static blkcnt_t file_blocks(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_blocks;
}

/* Discards [@s, +@n) through @img and zeroes the sectors @img stores. */
static void discard_model(struct td_image *img, uint8_t *m, uint64_t s,
			  uint64_t n)
{
	struct treq t = { 0 };
	uint64_t i, run;
	unsigned fl;

	for (i = s; i < s + n; i += run) {
		ck_assert_int_eq(img->ops->block_status(img, i, s + n - i, &fl,
							&run), 0);
		if (!(fl & TD_EXTENT_HOLE))
			memset(m + i * 512, 0, run * 512);
	}
	ck_assert_int_eq(do_io(img, &t, TD_OP_DISCARD, s, n, NULL), 0);
	free(t.buf);
}

/*
 * Discard punches the data this file stores: those sectors read zeros and
 * their space is freed; unallocated blocks and a differencing disk's
 * sectors shown from its parent stay as they read. No metadata changes:
 * the file validates and reads the same through the library.
 */
START_TEST(discard_punches_stored_data)
{
	uint8_t *m = make_chain3(), *back;
	struct td_image *img;
	struct treq t = { 0 };
	blkcnt_t before;
	int rc;

	/* dynamic base: whole block 1, parts of 0 and 2, block 3 */
	before = file_blocks(E->base);
	img = open_chain(E->base, 0);
	ck_assert(img->caps & TD_CAP_DISCARD);
	ck_assert_int_eq(do_io(img, &t, TD_OP_READ, 0, NSEC, NULL), 0);
	memcpy(m, t.buf, DISK);
	discard_model(img, m, SPB - 5, SPB + 9);
	discard_model(img, m, 3 * SPB, SPB);
	check_read(img, m, 0, NSEC);
	ck_assert_int_lt(file_blocks(E->base), before - 2 * (SPB - 64));
	td_image_close(img);
	back = lib_read_all(E->base, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);

	/* differencing leaf over mid: its own sectors zero, the rest not */
	img = open_chain(E->leaf, 0);
	ck_assert_int_eq(do_io(img, &t, TD_OP_READ, 0, NSEC, NULL), 0);
	memcpy(m, t.buf, DISK);
	discard_model(img, m, 0, 3 * SPB);
	ck_assert_int_eq(m[12 * 512], 0);          /* leaf's own run */
	ck_assert_int_ne(m[8 * 512 + 1], 0);       /* mid's, left */
	check_read(img, m, 0, NSEC);
	td_image_close(img);
	back = lib_read_all(E->leaf, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);

	/* read-only: not advertised, refused */
	img = open_chain(E->leaf, TD_OPEN_RDONLY);
	ck_assert(!(img->caps & TD_CAP_DISCARD));
	ck_assert_int_ne(do_io(img, &t, TD_OP_DISCARD, 0, 8, NULL), 0);
	td_image_close(img);
	free(t.buf);
	free(m);
}
END_TEST

START_TEST(discard_fixed_disk)
{
	struct td_vhd_create_opts o = { 0 };
	struct td_vhd_err err = { .name = E->base };
	uint8_t *m = calloc(1, DISK), *back;
	struct td_image *img;
	struct treq t = { 0 };
	int rc;

	o.size = DISK;
	o.type = TD_VHD_TYPE_FIXED;
	ck_assert_int_eq(td_vhd_create(E->base, &o, &err), 0);
	img = open_chain(E->base, 0);
	ck_assert(img->caps & TD_CAP_DISCARD);
	write_model(img, m, 0, NSEC, 5);
	ck_assert_int_eq(do_io(img, &t, TD_OP_DISCARD, 3, 9000, NULL), 0);
	memset(m + 3 * 512, 0, 9000 * 512);
	check_read(img, m, 0, NSEC);
	td_image_close(img);
	back = lib_read_all(E->base, &rc);  /* the footer is intact */
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(memcmp(back, m, DISK), 0);
	free(back);
	free(t.buf);
	free(m);
}
END_TEST

/*
 * Footer placement on a block device: its last whole sector, and a new
 * block fits only if it ends at or before it (a device of fake sizes).
 */
START_TEST(blkdev_footer_placement)
{
	uint64_t foot = vhd_blkdev_footer_pos(12ull * MiB), last;

	ck_assert_uint_eq(foot, 12ull * MiB - 512);
	ck_assert_uint_eq(vhd_blkdev_footer_pos(12ull * MiB + 100), foot);
	ck_assert_uint_eq(vhd_blkdev_footer_pos(1024), 512);
	ck_assert_uint_eq(vhd_blkdev_footer_pos(512), 0);
	ck_assert_uint_eq(vhd_blkdev_footer_pos(511), 0);
	ck_assert_uint_eq(vhd_blkdev_footer_pos(0), 0);
	/* the last bitmap sector whose block ends exactly at the footer */
	last = foot / 512 - 1 - SPB;
	ck_assert(vhd_block_fits(last, 1, SPB, foot));
	ck_assert(!vhd_block_fits(last + 1, 1, SPB, foot));
	ck_assert(!vhd_block_fits(last + 1, 1, SPB, foot - 512));
	ck_assert(vhd_block_fits(last + 1, 1, SPB, foot + 512));
	/* 2 TiB-scale offsets do not overflow */
	ck_assert(vhd_block_fits(0xfffff000u, 1, SPB,
				 vhd_blkdev_footer_pos(4ull << 40)));
}
END_TEST

static Suite *vhd_suite(void)
{
	Suite *s = suite_create("drv-vhd");
	TCase *a = tcase_create("aio"), *f = tcase_create("fake");

	tcase_add_checked_fixture(a, setup_aio, teardown);
	tcase_add_test(a, dynamic_rw_boundaries);
	tcase_add_test(a, chain3_reads_fall_through);
	tcase_add_test(a, parent_mismatch_refused);
	tcase_add_test(a, fixed_disk);
	tcase_add_test(a, unaligned_buffers);
	tcase_add_test(a, discard_punches_stored_data);
	tcase_add_test(a, discard_fixed_disk);
	tcase_add_test(a, blkdev_footer_placement);
	suite_add_tcase(s, a);
	tcase_add_checked_fixture(f, setup_fake, teardown);
	tcase_add_test(f, concurrent_allocations);
	tcase_add_test(f, flush_and_fua_order);
	tcase_add_test(f, crash_points);
	tcase_add_test(f, crash_leak_reopen);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	return td_check_run(vhd_suite());
}
