/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tests of the image layer and the aio, ram and null drivers, run on the
 * real loop and the real I/O backends (libaio and io_uring). Forwarding
 * to parents is tested in test-drivers-fwd.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "nbd-proto.h"
#include "nbd.h"
#include "test-drivers.h"
#include "td-check.h"

/* --- environment: loop, backend, temporary directory --------------- */

const char *const tdt_backends[] = { "aio", "uring" };

void tdt_env_init(struct tdt_env *e, const char *backend, unsigned depth)
{
	const struct td_io_ops *ops = td_io_lookup(backend);

	memset(e, 0, sizeof(*e));
	ck_assert_int_eq(td_loop_init(&e->loop, NULL, NULL), 0);
	ck_assert_ptr_nonnull(ops);
	ck_assert_int_eq(ops->create(&e->loop, 64, &e->io), 0);
	e->ctx.loop = &e->loop;
	e->ctx.io = e->io;
	e->ctx.depth = depth;
	snprintf(e->dir, sizeof(e->dir), "/tmp/td-drivers-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
}

void tdt_env_fini(struct tdt_env *e)
{
	char cmd[128];

	td_io_destroy(e->io);
	td_loop_fini(&e->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Creates @name in the env's directory, @size bytes, returns its path. */
void tdt_make_file(struct tdt_env *e, const char *name, uint64_t size,
		   char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", e->dir, name);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* --- running requests ----------------------------------------------- */

static void wait_done(struct td_req *req, int err)
{
	struct tdt_waiter *w = req->owner;

	w->calls++;
	w->err = err;
}

void tdt_req_init(struct td_req *req, struct tdt_waiter *w, enum td_op op,
		  uint64_t sector, uint64_t nr, struct iovec *iov, int cnt)
{
	memset(req, 0, sizeof(*req));
	memset(w, 0, sizeof(*w));
	req->op = op;
	req->sector = sector;
	req->nr_sectors = nr;
	req->iov = iov;
	req->iovcnt = cnt;
	req->done = wait_done;
	req->owner = w;
}

/* Runs the loop until *@count reaches @target; bounded to ~20 s. */
void tdt_run_until(struct tdt_env *e, const int *count, int target)
{
	int i;

	for (i = 0; i < 2000 && *count < target; i++)
		ck_assert_int_ge(td_loop_run_once(&e->loop, 10 * 1000000), 0);
	ck_assert_int_eq(*count, target);
}

/*
 * Submits @req, checks it does not complete inside submit, waits for its
 * completion, checks it completes once, and returns its status.
 */
int tdt_submit_wait(struct tdt_env *e, struct td_image *img,
		    struct td_req *req)
{
	struct tdt_waiter *w = req->owner;

	td_image_submit(img, req);
	ck_assert_int_eq(w->calls, 0);
	tdt_run_until(e, &w->calls, 1);
	td_loop_run_once(&e->loop, 0);
	td_loop_run_once(&e->loop, 0);
	ck_assert_int_eq(w->calls, 1);
	return w->err;
}

/* One op on a single buffer. */
int tdt_io(struct tdt_env *e, struct td_image *img, enum td_op op,
	   unsigned flags, uint64_t sector, uint64_t nr, void *buf)
{
	struct iovec iov = { buf, (size_t)(nr << TD_SECTOR_SHIFT) };
	struct td_req req;
	struct tdt_waiter w;

	tdt_req_init(&req, &w, op, sector, nr, buf ? &iov : NULL, buf ? 1 : 0);
	req.flags = flags;
	return tdt_submit_wait(e, img, &req);
}

/*
 * The same, but the buffer is cut into iovecs at odd byte positions
 * (still whole sectors in total), to cross entry boundaries.
 */
int tdt_io_split(struct tdt_env *e, struct td_image *img, enum td_op op,
		 uint64_t sector, uint64_t nr, unsigned char *buf)
{
	static const size_t cuts[] = { 1, 511, 700, 4096, 3, 9000 };
	struct iovec iov[16];
	uint64_t left = nr << TD_SECTOR_SHIFT, off = 0;
	struct td_req req;
	struct tdt_waiter w;
	int n = 0;

	while (left) {
		size_t c = n < 6 ? cuts[n] : left;

		if (c > left)
			c = left;
		iov[n].iov_base = buf + off;
		iov[n].iov_len = c;
		off += c;
		left -= c;
		n++;
	}
	tdt_req_init(&req, &w, op, sector, nr, iov, n);
	return tdt_submit_wait(e, img, &req);
}

void tdt_fill(unsigned char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 131 + seed * 7 + (i >> 9));
}

bool tdt_all_bytes(const unsigned char *buf, size_t len, unsigned char v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != v)
			return false;
	return true;
}

/* --- stats capture ------------------------------------------------- */

struct cap_sink {
	struct td_stats_sink s;
	const char *want;
	uint64_t val;
	bool found;
};

static void cap_u64(struct td_stats_sink *s, const char *key, uint64_t v)
{
	struct cap_sink *c = (struct cap_sink *)s;

	if (!strcmp(key, c->want)) {
		c->val = v;
		c->found = true;
	}
}

static void cap_str(struct td_stats_sink *s, const char *key, const char *v)
{
}

uint64_t tdt_stat_of(struct td_image *img, const char *key)
{
	struct cap_sink c = { { cap_u64, cap_str }, key, 0, false };

	td_image_stats(img, &c.s);
	ck_assert_msg(c.found, "no stat %s", key);
	return c.val;
}

/* --- registry and parsing -------------------------------------------- */

START_TEST(test_registry)
{
	static const char *const names[] = { "aio", "ram", "null" };
	unsigned i, n = 0;

	for (i = 0; i < 3; i++) {
		const struct td_driver_ops *ops = td_driver_lookup(names[i]);

		ck_assert_ptr_nonnull(ops);
		ck_assert_str_eq(ops->name, names[i]);
		ck_assert_uint_eq(ops->size, sizeof(struct td_driver_ops));
		ck_assert(ops->open && ops->close && ops->submit);
	}
	ck_assert_ptr_null(td_driver_lookup("nope"));
	ck_assert_ptr_null(td_driver_lookup(""));
	ck_assert_ptr_null(td_driver_lookup("AIO"));
	ck_assert_ptr_null(td_driver_lookup(NULL));
	for (i = 0; td_drivers[i]; i++) {
		ck_assert_ptr_eq(td_driver_lookup(td_drivers[i]->name),
				 td_drivers[i]);
		n++;
	}
	ck_assert_uint_ge(n, 3);
}
END_TEST

START_TEST(test_parse_spec)
{
	char type[8], longpath[PATH_MAX + 8];
	const char *path;

	ck_assert_int_eq(td_image_parse_spec("aio:/x/y", type, sizeof(type),
					     &path), 0);
	ck_assert_str_eq(type, "aio");
	ck_assert_str_eq(path, "/x/y");
	/* Only the first colon separates: paths may hold colons. */
	ck_assert_int_eq(td_image_parse_spec("vhd:/a:b::c:", type,
					     sizeof(type), &path), 0);
	ck_assert_str_eq(type, "vhd");
	ck_assert_str_eq(path, "/a:b::c:");
	ck_assert_int_eq(td_image_parse_spec("noColon", type, sizeof(type),
					     &path), -EINVAL);
	ck_assert_int_eq(td_image_parse_spec(":/x", type, sizeof(type),
					     &path), -EINVAL);
	ck_assert_int_eq(td_image_parse_spec("aio:", type, sizeof(type),
					     &path), -EINVAL);
	ck_assert_int_eq(td_image_parse_spec("", type, sizeof(type), &path),
			 -EINVAL);
	ck_assert_int_eq(td_image_parse_spec(NULL, type, sizeof(type), &path),
			 -EINVAL);
	/* "12345678" needs 9 bytes with its NUL. */
	ck_assert_int_eq(td_image_parse_spec("12345678:/x", type, sizeof(type),
					     &path), -ENAMETOOLONG);
	ck_assert_int_eq(td_image_parse_spec("1234567:/x", type, sizeof(type),
					     &path), 0);
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "aio:", 4);
	longpath[4 + PATH_MAX] = '\0';
	ck_assert_int_eq(td_image_parse_spec(longpath, type, sizeof(type),
					     &path), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_parse_size)
{
	uint64_t b;

	ck_assert_int_eq(td_image_parse_size("1048576", &b), 0);
	ck_assert_uint_eq(b, MIB);
	ck_assert_int_eq(td_image_parse_size("64M", &b), 0);
	ck_assert_uint_eq(b, 64 * MIB);
	ck_assert_int_eq(td_image_parse_size("4k", &b), 0);
	ck_assert_uint_eq(b, 4 * KIB);
	ck_assert_int_eq(td_image_parse_size("1G", &b), 0);
	ck_assert_uint_eq(b, 1024 * MIB);
	ck_assert_int_eq(td_image_parse_size("2T", &b), 0);
	ck_assert_uint_eq(b, 2ull << 40);
	ck_assert_int_eq(td_image_parse_size("", &b), -EINVAL);
	ck_assert_int_eq(td_image_parse_size("M", &b), -EINVAL);
	ck_assert_int_eq(td_image_parse_size("0", &b), -EINVAL);
	ck_assert_int_eq(td_image_parse_size("12X", &b), -EINVAL);
	ck_assert_int_eq(td_image_parse_size("1MB", &b), -EINVAL);
	ck_assert_int_eq(td_image_parse_size("-1", &b), -EINVAL);
	ck_assert_int_eq(td_image_parse_size(" 1", &b), -EINVAL);
	ck_assert_int_eq(td_image_parse_size("99999999999999999999", &b),
			 -ERANGE);
	ck_assert_int_eq(td_image_parse_size("17179869184G", &b), -ERANGE);
}
END_TEST

START_TEST(test_open_chain_errors)
{
	struct tdt_env e;
	struct td_image *img = (struct td_image *)0x1;
	char err[256], path[128];

	tdt_env_init(&e, "aio", 8);
	ck_assert_int_eq(td_image_open_chain("bogus:/x", 0, &e.ctx, &img, err,
					     sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "bogus:/x"));
	ck_assert_ptr_nonnull(strstr(err, "aio"));
	ck_assert_int_eq(td_image_open_chain("nocolon", 0, &e.ctx, &img, err,
					     sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "nocolon"));
	ck_assert_int_eq(td_image_open_chain("ram:12Q", 0, &e.ctx, &img, err,
					     sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ram:12Q"));
	ck_assert_int_eq(td_image_open_chain("null:100", 0, &e.ctx, &img, err,
					     sizeof(err)), -EINVAL);
	/* A missing file: -ENOENT, and the message names the image. */
	snprintf(path, sizeof(path), "aio:%s/missing", e.dir);
	ck_assert_int_eq(td_image_open_chain(path, 0, &e.ctx, &img, err,
					     sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
	/* Directories are neither files nor block devices. */
	snprintf(path, sizeof(path), "aio:%s", e.dir);
	ck_assert_int_eq(td_image_open_chain(path, TD_OPEN_RDONLY, &e.ctx,
					     &img, err, sizeof(err)), -EINVAL);
	/* *leaf untouched on failure. */
	ck_assert_ptr_eq(img, (struct td_image *)0x1);
	tdt_env_fini(&e);
}
END_TEST

/* --- ram and null ---------------------------------------------------- */

START_TEST(test_ram_rw)
{
	struct tdt_env e;
	struct td_image *img;
	unsigned char *wbuf = malloc(64 * KIB), *rbuf = malloc(64 * KIB);
	char err[128];

	tdt_env_init(&e, "aio", 8);
	ck_assert_int_eq(td_image_open_chain("ram:1M", 0, &e.ctx, &img, err,
					     sizeof(err)), 0);
	ck_assert_uint_eq(img->size_sectors, 2048);
	ck_assert_str_eq(img->ops->name, "ram");

	/* Fresh memory reads as zeros. */
	memset(rbuf, 0xaa, 64 * KIB);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 100, 128, rbuf), 0);
	ck_assert(tdt_all_bytes(rbuf, 64 * KIB, 0));

	tdt_fill(wbuf, 64 * KIB, 1);
	ck_assert_int_eq(tdt_io_split(&e, img, TD_OP_WRITE, 5, 128, wbuf), 0);
	memset(rbuf, 0, 64 * KIB);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 5, 128, rbuf), 0);
	ck_assert_mem_eq(rbuf, wbuf, 64 * KIB);
	memset(rbuf, 0, 64 * KIB);
	ck_assert_int_eq(tdt_io_split(&e, img, TD_OP_READ, 5, 128, rbuf), 0);
	ck_assert_mem_eq(rbuf, wbuf, 64 * KIB);

	ck_assert_int_eq(tdt_io(&e, img, TD_OP_FLUSH, 0, 0, 0, NULL), 0);

	/* Discard and write-zeroes zero the range and only it. */
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_DISCARD, 0, 13, 20, NULL), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE_ZEROES, TD_REQ_NO_HOLE,
			       100, 30, NULL), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 5, 128, rbuf), 0);
	ck_assert_mem_eq(rbuf, wbuf, 8 * 512);
	ck_assert(tdt_all_bytes(rbuf + 8 * 512, 20 * 512, 0));
	ck_assert_mem_eq(rbuf + 28 * 512, wbuf + 28 * 512, 67 * 512);
	ck_assert(tdt_all_bytes(rbuf + 95 * 512, 30 * 512, 0));
	ck_assert_mem_eq(rbuf + 125 * 512, wbuf + 125 * 512, 3 * 512);

	ck_assert_uint_eq(tdt_stat_of(img, "reads"), 4);
	ck_assert_uint_eq(tdt_stat_of(img, "writes"), 1);
	ck_assert_uint_eq(tdt_stat_of(img, "written_sectors"), 128);
	td_image_close(img);
	tdt_env_fini(&e);
	free(wbuf);
	free(rbuf);
}
END_TEST

START_TEST(test_bounds_and_checks)
{
	struct tdt_env e;
	struct td_image *img;
	unsigned char buf[16 * 512], pat[16 * 512];
	struct iovec iov = { buf, 512 };
	struct td_req req;
	struct tdt_waiter w;
	char err[128];

	tdt_env_init(&e, "aio", 4);
	ck_assert_int_eq(td_image_open_chain("ram:1M", 0, &e.ctx, &img, err,
					     sizeof(err)), 0);
	tdt_fill(pat, sizeof(pat), 3);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 2040, 8, pat), 0);

	/* Straddling the end: the head is data, the tail zeros. */
	memset(buf, 0xaa, sizeof(buf));
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 2040, 16, buf), 0);
	ck_assert_mem_eq(buf, pat, 8 * 512);
	ck_assert(tdt_all_bytes(buf + 8 * 512, 8 * 512, 0));
	/* Wholly past the end: zeros. */
	memset(buf, 0xaa, sizeof(buf));
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 5000, 16, buf), 0);
	ck_assert(tdt_all_bytes(buf, sizeof(buf), 0));

	/* Writes past the end fail whole and change nothing. */
	tdt_fill(buf, sizeof(buf), 9);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 2040, 16, buf),
			 -ENOSPC);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 2048, 1, buf),
			 -ENOSPC);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_DISCARD, 0, 2047, 2, NULL),
			 -ENOSPC);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE_ZEROES, 0, 4000, 2, NULL),
			 -ENOSPC);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 2040, 8, buf), 0);
	ck_assert_mem_eq(buf, pat, 8 * 512);

	/* Malformed requests. */
	tdt_req_init(&req, &w, TD_OP_READ, 0, 2, &iov, 1); /* iov too short */
	ck_assert_int_eq(tdt_submit_wait(&e, img, &req), -EINVAL);
	tdt_req_init(&req, &w, TD_OP_READ, 0, 0, &iov, 1);
	ck_assert_int_eq(tdt_submit_wait(&e, img, &req), -EINVAL);
	tdt_req_init(&req, &w, TD_OP_WRITE, 0, 1, NULL, 0);
	ck_assert_int_eq(tdt_submit_wait(&e, img, &req), -EINVAL);
	tdt_req_init(&req, &w, TD_OP_READ, 0, 1, &iov, TD_REQ_MAX_IOV + 1);
	ck_assert_int_eq(tdt_submit_wait(&e, img, &req), -EINVAL);
	tdt_req_init(&req, &w, (enum td_op)42, 0, 1, &iov, 1);
	ck_assert_int_eq(tdt_submit_wait(&e, img, &req), -EOPNOTSUPP);
	tdt_req_init(&req, &w, TD_OP_DISCARD, 0, 1, NULL, 0);
	req.flags = TD_REQ_DISCARD_SECURE; /* ram cannot erase securely */
	ck_assert_int_eq(tdt_submit_wait(&e, img, &req), -EOPNOTSUPP);
	tdt_req_init(&req, &w, TD_OP_READ, UINT64_MAX - 1, 4, &iov, 1);
	iov.iov_len = 4 * 512;
	ck_assert_int_eq(tdt_submit_wait(&e, img, &req), -EINVAL);
	ck_assert_uint_eq(tdt_stat_of(img, "errors"), 11);
	td_image_close(img);

	/* A read-only image refuses every kind of write. */
	ck_assert_int_eq(td_image_open_chain("ram:1M", TD_OPEN_RDONLY, &e.ctx,
					     &img, err, sizeof(err)), 0);
	ck_assert_uint_eq(img->caps & (TD_CAP_DISCARD | TD_CAP_WRITE_ZEROES),
			  0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 0, 1, buf), -EROFS);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE_ZEROES, 0, 0, 1, NULL),
			 -EOPNOTSUPP);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 0, 1, buf), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_FLUSH, 0, 0, 0, NULL), 0);
	td_image_close(img);
	tdt_env_fini(&e);
}
END_TEST

START_TEST(test_null)
{
	struct tdt_env e;
	struct td_image *img;
	unsigned char buf[8 * 512];
	char err[128];

	tdt_env_init(&e, "aio", 4);
	ck_assert_int_eq(td_image_open_chain("null:1G", 0, &e.ctx, &img, err,
					     sizeof(err)), 0);
	ck_assert_uint_eq(img->size_sectors, 2 * 1024 * 1024);
	tdt_fill(buf, sizeof(buf), 5);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, TD_REQ_FUA, 77, 8, buf),
			 0);
	memset(buf, 0xaa, sizeof(buf));
	ck_assert_int_eq(tdt_io_split(&e, img, TD_OP_READ, 77, 8, buf), 0);
	ck_assert(tdt_all_bytes(buf, sizeof(buf), 0));
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_FLUSH, 0, 0, 0, NULL), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_DISCARD, 0, 0, 8, NULL), 0);
	td_image_close(img);
	tdt_env_fini(&e);
}
END_TEST

/* --- aio --------------------------------------------------------------- */

static void *aligned_buf(size_t len)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, 4096, len + 4096), 0);
	return p;
}

/* Reads @len bytes at @off of @path without going through tapdisk. */
static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	size_t done = 0;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	/* sysfs hands out a page per call: loop like the backends do. */
	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done,
			  (off_t)(off + done));
		ck_assert_int_gt(n, 0);
		done += (size_t)n;
	}
	close(fd);
}

static void open_aio(struct tdt_env *e, const char *path, unsigned flags,
		     struct td_image **img)
{
	char spec[256], err[256];
	int rc;

	snprintf(spec, sizeof(spec), "aio:%s", path);
	rc = td_image_open_chain(spec, flags, &e->ctx, img, err, sizeof(err));
	ck_assert_msg(rc == 0, "open %s: %s", spec, err);
}

START_TEST(test_aio_rw)
{
	struct tdt_env e;
	struct td_image *img;
	char path[128];
	size_t len = 256 * KIB;
	unsigned char *wbuf = aligned_buf(len), *rbuf = aligned_buf(len);
	unsigned char *chk = malloc(len);

	tdt_env_init(&e, tdt_backends[_i], 16);
	tdt_make_file(&e, "disk", 4 * MIB, path, sizeof(path));
	open_aio(&e, path, 0, &img);
	ck_assert_uint_eq(img->size_sectors, 8192);
	ck_assert(img->caps & TD_CAP_FLUSH);

	/* Aligned: the O_DIRECT descriptor. */
	tdt_fill(wbuf, len, 11);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 1000, len / 512, wbuf),
			 0);
	file_read(path, 1000 * 512, chk, len);
	ck_assert_mem_eq(chk, wbuf, len);
	memset(rbuf, 0, len);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 1000, len / 512, rbuf),
			 0);
	ck_assert_mem_eq(rbuf, wbuf, len);
	ck_assert_uint_eq(tdt_stat_of(img, "buffered_requests"), 0);

	/* FUA write and flush. */
	tdt_fill(wbuf, 4096, 12);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, TD_REQ_FUA, 8191, 1,
				wbuf), 0);
	file_read(path, 8191 * 512, chk, 512);
	ck_assert_mem_eq(chk, wbuf, 512);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_FLUSH, 0, 0, 0, NULL), 0);

	/* Past the end of the file. */
	memset(rbuf, 0xaa, 8192);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 8191, 16, rbuf), 0);
	ck_assert_mem_eq(rbuf, wbuf, 512);
	ck_assert(tdt_all_bytes(rbuf + 512, 15 * 512, 0));
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 8191, 2, wbuf),
			 -ENOSPC);
	td_image_close(img);
	tdt_env_fini(&e);
	free(wbuf);
	free(rbuf);
	free(chk);
}
END_TEST

START_TEST(test_aio_unaligned)
{
	struct tdt_env e;
	struct td_image *img;
	char path[128];
	size_t len = 64 * KIB;
	unsigned char *wraw = aligned_buf(len), *rraw = aligned_buf(len);
	unsigned char *wbuf = wraw + 1, *rbuf = rraw + 3, *chk = malloc(len);

	tdt_env_init(&e, tdt_backends[_i], 16);
	tdt_make_file(&e, "disk", 1 * MIB, path, sizeof(path));
	open_aio(&e, path, 0, &img);
	tdt_fill(wbuf, len, 21);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 7, len / 512, wbuf),
				0);
	file_read(path, 7 * 512, chk, len);
	ck_assert_mem_eq(chk, wbuf, len);
	memset(rbuf, 0, len);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 7, len / 512, rbuf), 0);
	ck_assert_mem_eq(rbuf, wbuf, len);
	/* Odd-sized iovecs are not O_DIRECT-able either. */
	memset(rbuf, 0, len);
	ck_assert_int_eq(tdt_io_split(&e, img, TD_OP_READ, 7, len / 512, rbuf),
			 0);
	ck_assert_mem_eq(rbuf, wbuf, len);
	/* Where O_DIRECT is in use, these took the buffered descriptor. */
	if (tdt_stat_of(img, "o_direct"))
		ck_assert_uint_eq(tdt_stat_of(img, "buffered_requests"), 3);
	td_image_close(img);
	tdt_env_fini(&e);
	free(wraw);
	free(rraw);
	free(chk);
}
END_TEST

/* Is [off, off+len) of @path a hole? */
static bool is_hole(const char *path, off_t off, off_t len)
{
	int fd = open(path, O_RDONLY);
	off_t data;

	ck_assert_int_ge(fd, 0);
	data = lseek(fd, off, SEEK_DATA);
	close(fd);
	return data < 0 || data >= off + len;
}

START_TEST(test_aio_discard_zeroes)
{
	struct tdt_env e;
	struct td_image *img;
	char path[128];
	size_t len = 4 * MIB;
	unsigned char *buf = aligned_buf(len), *chk = malloc(len);

	tdt_env_init(&e, tdt_backends[_i], 16);
	tdt_make_file(&e, "disk", 8 * MIB, path, sizeof(path));
	open_aio(&e, path, 0, &img);
	ck_assert(img->caps & TD_CAP_DISCARD);
	ck_assert(img->caps & TD_CAP_WRITE_ZEROES);
	tdt_fill(buf, len, 31);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 0, len / 512, buf), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_FLUSH, 0, 0, 0, NULL), 0);
	ck_assert(!is_hole(path, 0, 64 * KIB));

	/* DISCARD punches a hole. */
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_DISCARD, 0, 128, 256, NULL), 0);
	ck_assert(is_hole(path, 64 * KIB, 128 * KIB));
	file_read(path, 64 * KIB, chk, 128 * KIB);
	ck_assert(tdt_all_bytes(chk, 128 * KIB, 0));
	file_read(path, 0, chk, 64 * KIB);
	ck_assert_mem_eq(chk, buf, 64 * KIB);

	/* WRITE_ZEROES without NO_HOLE: a hole as well. */
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE_ZEROES, 0, 1024, 128,
			       NULL), 0);
	ck_assert(is_hole(path, 512 * KIB, 64 * KIB));

	/*
	 * NO_HOLE: zeros written (2.5 MiB, so several chunks), allocation
	 * kept, neighbours untouched.
	 */
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE_ZEROES, TD_REQ_NO_HOLE,
			       2048, 5120, NULL), 0);
	file_read(path, 0, chk, len);
	ck_assert(tdt_all_bytes(chk + MIB, 2560 * KIB, 0));
	ck_assert_mem_eq(chk + 512 * KIB + 64 * KIB, buf + 576 * KIB,
			 MIB - 576 * KIB);
	ck_assert_mem_eq(chk + 3584 * KIB, buf + 3584 * KIB, len - 3584 * KIB);
	ck_assert(!is_hole(path, (off_t)MIB, (off_t)(2560 * KIB)));
	ck_assert_uint_ge(tdt_stat_of(img, "zero_writes"), 3);
	ck_assert_uint_eq(tdt_stat_of(img, "holes_punched"), 2);
	td_image_close(img);
	tdt_env_fini(&e);
	free(buf);
	free(chk);
}
END_TEST

START_TEST(test_aio_readonly_and_size)
{
	struct tdt_env e;
	struct td_image *img;
	char path[128];
	unsigned char buf[4096];
	int fd;

	tdt_env_init(&e, tdt_backends[_i], 4);
	/* 8 sectors and 100 bytes: the partial sector is not used. */
	tdt_make_file(&e, "odd", 4096 + 100, path, sizeof(path));
	fd = open(path, O_WRONLY);
	tdt_fill(buf, sizeof(buf), 41);
	ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), 0), 4096);
	close(fd);
	open_aio(&e, path, TD_OPEN_RDONLY, &img);
	ck_assert_uint_eq(img->size_sectors, 8);
	ck_assert_uint_eq(img->caps & (TD_CAP_DISCARD | TD_CAP_WRITE_ZEROES),
			  0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 0, 1, buf), -EROFS);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_DISCARD, 0, 0, 1, NULL),
			 -EOPNOTSUPP);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(tdt_io_split(&e, img, TD_OP_READ, 0, 8, buf), 0);
	{
		unsigned char ref[4096];

		tdt_fill(ref, sizeof(ref), 41);
		ck_assert_mem_eq(buf, ref, sizeof(ref));
	}
	td_image_close(img);
	tdt_env_fini(&e);
}
END_TEST

/*
 * A file whose file system refuses O_DIRECT with EINVAL: one on /dev/shm
 * where tmpfs lacks O_DIRECT (kernels before 6.6), else the kernel's BTF
 * blob in sysfs, which also refuses to be opened for writing, proving a
 * read-only image is opened O_RDONLY.
 */
static bool pick_no_direct(struct tdt_env *e, char *path, size_t len,
			   bool *writable)
{
	int fd;

	snprintf(path, len, "/dev/shm/td-drivers-%d", (int)getpid());
	fd = open(path, O_CREAT | O_RDWR | O_DIRECT, 0600);
	if (fd < 0 && errno == EINVAL) {
		fd = open(path, O_CREAT | O_RDWR, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, (off_t)MIB), 0);
		close(fd);
		*writable = true;
		return true;
	}
	if (fd >= 0)
		close(fd);
	unlink(path);
	snprintf(path, len, "/sys/kernel/btf/vmlinux");
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0 && errno == EINVAL) {
		*writable = false;
		return true;
	}
	if (fd >= 0)
		close(fd);
	return false;
}

START_TEST(test_aio_no_o_direct)
{
	struct tdt_env e;
	struct td_image *img;
	char path[128], spec[160], err[256];
	size_t len = 64 * KIB;
	unsigned char *buf = aligned_buf(len), *chk = aligned_buf(len);
	bool writable;

	tdt_env_init(&e, tdt_backends[_i], 8);
	ck_assert_msg(pick_no_direct(&e, path, sizeof(path), &writable),
		      "no file system refusing O_DIRECT found");
	if (writable) {
		open_aio(&e, path, 0, &img);
		tdt_fill(buf, len, 51);
		ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 3, len / 512,
				       buf), 0);
	} else {
		snprintf(spec, sizeof(spec), "aio:%s", path);
		ck_assert_int_eq(td_image_open_chain(spec, 0, &e.ctx, &img, err,
						     sizeof(err)), -EACCES);
		open_aio(&e, path, TD_OPEN_RDONLY, &img);
		file_read(path, 3 * 512, buf, len);
	}
	ck_assert_uint_eq(tdt_stat_of(img, "o_direct"), 0);
	memset(chk, 0, len);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 3, len / 512, chk), 0);
	ck_assert_mem_eq(chk, buf, len);
	td_image_close(img);

	/* TD_OPEN_NO_O_DIRECT forces buffered I/O anywhere. */
	tdt_make_file(&e, "disk", MIB, path, sizeof(path));
	open_aio(&e, path, TD_OPEN_NO_O_DIRECT, &img);
	ck_assert_uint_eq(tdt_stat_of(img, "o_direct"), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 0, 8, buf), 0);
	td_image_close(img);
	if (writable) {
		snprintf(path, sizeof(path), "/dev/shm/td-drivers-%d",
			 (int)getpid());
		unlink(path);
	}
	tdt_env_fini(&e);
	free(buf);
	free(chk);
}
END_TEST

/* Expects block_status at @sector (asking for @nr) to give @flags, @run. */
static void expect_status(struct td_image *img, uint64_t sector, uint64_t nr,
			  unsigned flags, uint64_t run)
{
	unsigned f = 0xdead;
	uint64_t r = 0;

	ck_assert_int_eq(img->ops->block_status(img, sector, nr, &f, &r), 0);
	ck_assert_msg(f == flags && r == run,
		      "status at %llu+%llu: flags %u run %llu, want %u %llu",
		      (unsigned long long)sector, (unsigned long long)nr, f,
		      (unsigned long long)r, flags, (unsigned long long)run);
}

/* base:allocation of a sparse raw file: SEEK_DATA/SEEK_HOLE. */
START_TEST(test_aio_block_status)
{
	const unsigned hz = TD_EXTENT_HOLE | TD_EXTENT_ZERO;
	struct tdt_env e;
	struct td_image *img;
	struct td_nbd_extent ext[8];
	char path[128];
	unsigned char *buf = aligned_buf(64 * KIB);

	tdt_env_init(&e, tdt_backends[_i], 8);
	tdt_make_file(&e, "sparse", 8 * MIB, path, sizeof(path));
	open_aio(&e, path, 0, &img);
	ck_assert(img->caps & TD_CAP_BLOCK_STATUS);
	/* Nothing written yet: one hole to the end of the file. */
	expect_status(img, 0, 16384, hz, 16384);
	expect_status(img, 16000, 384, hz, 384);

	/* Data at [1 MiB, +64 KiB) and [6 MiB, +4 KiB). */
	tdt_fill(buf, 64 * KIB, 71);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 2048, 128, buf), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_WRITE, 0, 12288, 8, buf), 0);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_FLUSH, 0, 0, 0, NULL), 0);
	expect_status(img, 0, 16384, hz, 2048);
	expect_status(img, 100, 16284, hz, 1948);
	expect_status(img, 0, 10, hz, 10);
	expect_status(img, 2048, 16384 - 2048, 0, 128);
	expect_status(img, 2100, 16384 - 2100, 0, 76);
	expect_status(img, 2048, 50, 0, 50);
	expect_status(img, 2176, 16384 - 2176, hz, 12288 - 2176);
	expect_status(img, 12288, 16384 - 12288, 0, 8);
	/* Past the last data: SEEK_DATA fails with ENXIO, a hole. */
	expect_status(img, 12296, 16384 - 12296, hz, 16384 - 12296);

	/* Through the NBD extent walk: the map nbdinfo --map shows. */
	ck_assert_uint_eq(td_nbd_extents(img, 0, 16384, ext, 8), 5);
	ck_assert_uint_eq(ext[0].sectors, 2048);
	ck_assert_uint_eq(ext[1].sectors, 128);
	ck_assert_uint_eq(ext[1].flags, 0);
	ck_assert_uint_eq(ext[2].sectors, 12288 - 2176);
	ck_assert_uint_eq(ext[3].sectors, 8);
	ck_assert_uint_eq(ext[3].flags, 0);
	ck_assert_uint_eq(ext[4].sectors, 16384 - 12296);
	ck_assert_uint_eq(ext[0].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	ck_assert_uint_eq(ext[2].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	ck_assert_uint_eq(ext[4].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);

	/* A discard makes a hole again; the rest keeps its data. */
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_DISCARD, 0, 2048, 64, NULL), 0);
	expect_status(img, 0, 16384, hz, 2112);
	expect_status(img, 2112, 16384 - 2112, 0, 64);
	td_image_close(img);

	/* Read-only opens report the same. */
	open_aio(&e, path, TD_OPEN_RDONLY, &img);
	expect_status(img, 2112, 1000, 0, 64);
	expect_status(img, 12288, 8, 0, 8);
	td_image_close(img);
	tdt_env_fini(&e);
	free(buf);
}
END_TEST

/* More requests in flight than ctx.depth: they wait for a slot. */
START_TEST(test_aio_depth_overflow)
{
	enum { N = 9 };
	struct tdt_env e;
	struct td_image *img;
	char path[128];
	unsigned char *buf = aligned_buf(N * 4096), *ref = malloc(N * 4096);
	struct iovec iov[N];
	struct td_req req[N];
	struct tdt_waiter w[N];
	int i, done = 0;

	tdt_env_init(&e, tdt_backends[_i], 2);
	tdt_make_file(&e, "disk", MIB, path, sizeof(path));
	open_aio(&e, path, 0, &img);
	tdt_fill(ref, N * 4096, 61);
	for (i = 0; i < N; i++) {
		iov[i].iov_base = ref + i * 4096;
		iov[i].iov_len = 4096;
		tdt_req_init(&req[i], &w[i], TD_OP_WRITE, (uint64_t)i * 8, 8,
			 &iov[i], 1);
		td_image_submit(img, &req[i]);
	}
	for (i = 0; i < 2000 && done < N; i++) {
		int j;

		ck_assert_int_ge(td_loop_run_once(&e.loop, 10 * 1000000), 0);
		for (done = 0, j = 0; j < N; j++)
			done += w[j].calls;
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(w[i].calls, 1);
		ck_assert_int_eq(w[i].err, 0);
	}
	/* Valgrind cannot see the kernel filling a buffer by aio. */
	memset(buf, 0, N * 4096);
	ck_assert_int_eq(tdt_io(&e, img, TD_OP_READ, 0, 0, N * 8, buf), 0);
	ck_assert_mem_eq(buf, ref, N * 4096);
	td_image_close(img);
	tdt_env_fini(&e);
	free(buf);
	free(ref);
}
END_TEST

static Suite *drivers_suite(void)
{
	Suite *s = suite_create("drivers");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_parse_spec);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_open_chain_errors);
	tcase_add_test(tc, test_ram_rw);
	tcase_add_test(tc, test_bounds_and_checks);
	tcase_add_test(tc, test_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("aio");
	tcase_add_loop_test(tc, test_aio_rw, 0, 2);
	tcase_add_loop_test(tc, test_aio_unaligned, 0, 2);
	tcase_add_loop_test(tc, test_aio_discard_zeroes, 0, 2);
	tcase_add_loop_test(tc, test_aio_readonly_and_size, 0, 2);
	tcase_add_loop_test(tc, test_aio_no_o_direct, 0, 2);
	tcase_add_loop_test(tc, test_aio_depth_overflow, 0, 2);
	tcase_add_loop_test(tc, test_aio_block_status, 0, 2);
	suite_add_tcase(s, tc);

	suite_add_tcase(s, tdt_forward_tcase());
	return s;
}

int main(void)
{
	return td_check_run(drivers_suite());
}
