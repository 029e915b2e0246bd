/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Forwarding tests. A test-only driver, "half", owns the even 8-sector
 * chunks of its disk and forwards the odd ones to its parent with
 * td_image_forward, to prove data comes from the right layer, that an
 * exhausted forward pool (-EBUSY, then forward_ready) loses nothing, and
 * that reads past a smaller parent's end, or with no parent, are zeros.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test-drivers.h"

#define HALF_CHUNK 8u
#define HALF_KEPT 64

struct half_kept {
	struct td_req *req;
	uint64_t sector, nr, off;
};

struct half_priv {
	unsigned char *mem;
	struct td_loop_defer defer;
	struct td_list release; /* td_req.link: issuing part to drop */
	struct half_kept kept[HALF_KEPT];
	unsigned nkept;
	unsigned busy;          /* -EBUSY seen */
	unsigned ready_calls;
};

/* Byte pattern of the half driver's own data. */
static unsigned char half_byte(uint64_t pos)
{
	return (unsigned char)(0x40 + (pos * 7) % 61);
}

static void half_release(struct td_loop_defer *d)
{
	struct half_priv *p = d->arg;
	struct td_list *n;

	while ((n = td_list_pop(&p->release)))
		td_req_part_end(td_list_entry(n, struct td_req, link), 0);
}

static int half_open(struct td_image *img)
{
	struct half_priv *p = img->priv;
	uint64_t bytes, i;
	int rc = td_image_parse_size(img->path, &bytes);

	if (rc)
		return rc;
	p->mem = malloc(bytes);
	if (!p->mem)
		return -ENOMEM;
	for (i = 0; i < bytes; i++)
		p->mem[i] = half_byte(i);
	td_list_init(&p->release);
	td_list_init(&p->defer.link);
	p->defer.cb = half_release;
	p->defer.arg = p;
	img->size_sectors = bytes >> TD_SECTOR_SHIFT;
	return 0;
}

static void half_close(struct td_image *img)
{
	struct half_priv *p = img->priv;

	ck_assert_uint_eq(p->nkept, 0);
	td_loop_defer_cancel(img->ctx.loop, &p->defer);
	free(p->mem);
}

/* Forwards a range or keeps it, holding a part of @req, until retried. */
static void half_forward(struct td_image *img, struct half_priv *p,
			 struct td_req *req, uint64_t s, uint64_t n,
			 uint64_t off)
{
	int rc = td_image_forward(img, req, s, n, off);

	if (rc == -EBUSY) {
		ck_assert_uint_lt(p->nkept, HALF_KEPT);
		p->busy++;
		td_req_part_begin(req);
		p->kept[p->nkept++] = (struct half_kept){ req, s, n, off };
		return;
	}
	ck_assert_int_eq(rc, 0);
}

static void half_submit(struct td_image *img, struct td_req *req)
{
	struct half_priv *p = img->priv;
	uint64_t s = req->sector, end = s + req->nr_sectors, off = 0;

	ck_assert_int_eq(req->op, TD_OP_READ);
	td_req_part_begin(req); /* the issuing part, dropped later */
	while (s < end) {
		uint64_t chunk_end = (s / HALF_CHUNK + 1) * HALF_CHUNK;
		uint64_t n = (chunk_end < end ? chunk_end : end) - s;

		if ((s / HALF_CHUNK) % 2 == 0)
			ck_assert_int_eq(td_req_copy_to(req, off,
					 p->mem + (s << TD_SECTOR_SHIFT),
					 n << TD_SECTOR_SHIFT), 0);
		else
			half_forward(img, p, req, s, n, off);
		s += n;
		off += n << TD_SECTOR_SHIFT;
	}
	td_list_add_tail(&req->link, &p->release);
	td_loop_defer(img->ctx.loop, &p->defer);
}

static void half_forward_ready(struct td_image *img)
{
	struct half_priv *p = img->priv;
	struct half_kept k;
	int rc;

	p->ready_calls++;
	while (p->nkept) {
		k = p->kept[0];
		rc = td_image_forward(img, k.req, k.sector, k.nr, k.off);
		if (rc == -EBUSY)
			return;
		ck_assert_int_eq(rc, 0);
		memmove(&p->kept[0], &p->kept[1],
			--p->nkept * sizeof(p->kept[0]));
		td_req_part_end(k.req, 0); /* the forward holds it now */
	}
}

static const struct td_driver_ops half_ops = {
	.size = sizeof(struct td_driver_ops),
	.name = "half",
	.caps = TD_CAP_PARENT,
	.priv_size = sizeof(struct half_priv),
	.open = half_open,
	.close = half_close,
	.submit = half_submit,
	.forward_ready = half_forward_ready,
};

/* Expected byte at @pos of a half image over a parent of @psize bytes. */
static unsigned char half_expect(uint64_t pos, const unsigned char *pmem,
				 uint64_t psize)
{
	uint64_t sector = pos >> TD_SECTOR_SHIFT;

	if ((sector / HALF_CHUNK) % 2 == 0)
		return half_byte(pos);
	return pos < psize ? pmem[pos] : 0;
}

static void check_half_read(struct tdt_env *e, struct td_image *img,
			    uint64_t sector, uint64_t nr,
			    const unsigned char *pmem, uint64_t psize,
			    bool split)
{
	size_t len = (size_t)(nr << TD_SECTOR_SHIFT), i;
	unsigned char *buf = malloc(len);
	uint64_t base = sector << TD_SECTOR_SHIFT;

	memset(buf, 0xaa, len);
	if (split)
		ck_assert_int_eq(tdt_io_split(e, img, TD_OP_READ, sector, nr,
					     buf), 0);
	else
		ck_assert_int_eq(tdt_io(e, img, TD_OP_READ, 0, sector, nr, buf),
				 0);
	for (i = 0; i < len; i++)
		ck_assert_msg(buf[i] == half_expect(base + i, pmem, psize),
			      "byte %zu of read at %llu: %#x != %#x", i,
			      (unsigned long long)sector, buf[i],
			      half_expect(base + i, pmem, psize));
	free(buf);
}

/*
 * Opens "half" of @hsize over @parent_spec (NULL: no parent), with the
 * parent's content set to a pattern of @psize bytes, returned in *@pmem.
 */
static struct td_image *open_half(struct tdt_env *e, const char *hsize,
				  const char *parent_spec, uint64_t psize,
				  unsigned char **pmem)
{
	struct td_image *img, *parent;
	char err[256];

	*pmem = NULL;
	ck_assert_int_eq(td_image_open(&half_ops, hsize, TD_OPEN_RDONLY,
				       &e->ctx, &img), 0);
	if (!parent_spec)
		return img;
	ck_assert_int_eq(td_image_open_chain(parent_spec, 0, &e->ctx, &parent,
					     err, sizeof(err)), 0);
	ck_assert_uint_eq(parent->size_sectors << TD_SECTOR_SHIFT, psize);
	*pmem = malloc(psize);
	tdt_fill(*pmem, psize, 77);
	ck_assert_int_eq(tdt_io(e, parent, TD_OP_WRITE, 0, 0,
			       psize >> TD_SECTOR_SHIFT, *pmem), 0);
	/* As open_chain does it: the parent is read-only from now on. */
	parent->flags |= TD_OPEN_RDONLY | TD_OPEN_PARENT;
	img->parent = parent;
	return img;
}

START_TEST(test_forward_ram)
{
	struct tdt_env e;
	struct td_image *img;
	unsigned char *pmem;

	tdt_env_init(&e, "aio", 8);
	img = open_half(&e, "1M", "ram:1M", MIB, &pmem);
	check_half_read(&e, img, 0, 64, pmem, MIB, false);
	check_half_read(&e, img, 5, 30, pmem, MIB, true);
	check_half_read(&e, img, 9, 3, pmem, MIB, false); /* one odd chunk */
	check_half_read(&e, img, 2040, 8, pmem, MIB, false);
	ck_assert_uint_eq(((struct half_priv *)img->priv)->busy, 0);
	ck_assert_uint_eq(tdt_stat_of(img, "forwarded"), 4 + 2 + 1 + 1);
	ck_assert_uint_eq(tdt_stat_of(img->parent, "reads"), 4 + 2 + 1 + 1);
	td_image_close(img);
	tdt_env_fini(&e);
	free(pmem);
}
END_TEST

START_TEST(test_forward_pool_exhausted)
{
	struct tdt_env e;
	struct td_image *img;
	struct half_priv *p;
	unsigned char *pmem;

	tdt_env_init(&e, "aio", 1);
	img = open_half(&e, "1M", "ram:1M", MIB, &pmem);
	p = img->priv;
	ck_assert_uint_eq(img->fwd_count, 1);
	/* 128 sectors: 8 odd chunks through a pool of one. */
	check_half_read(&e, img, 0, 128, pmem, MIB, true);
	ck_assert_uint_eq(p->busy, 7);
	ck_assert_uint_ge(p->ready_calls, 7);
	ck_assert_uint_eq(tdt_stat_of(img, "forwarded"), 8);
	check_half_read(&e, img, 3, 60, pmem, MIB, false);
	td_image_close(img);
	tdt_env_fini(&e);
	free(pmem);
}
END_TEST

START_TEST(test_forward_past_parent_end)
{
	struct tdt_env e;
	struct td_image *img;
	unsigned char *pmem;

	tdt_env_init(&e, "aio", 8);
	/* Parent of 64 KiB = 128 sectors under a 1 MiB image. */
	img = open_half(&e, "1M", "ram:64K", 64 * KIB, &pmem);
	check_half_read(&e, img, 100, 120, pmem, 64 * KIB, false);
	check_half_read(&e, img, 124, 2, pmem, 64 * KIB, false);
	check_half_read(&e, img, 1000, 48, pmem, 64 * KIB, true);
	td_image_close(img);
	free(pmem);

	/* No parent at all: the odd chunks read as zeros. */
	img = open_half(&e, "64K", NULL, 0, &pmem);
	check_half_read(&e, img, 0, 128, NULL, 0, true);
	td_image_close(img);
	tdt_env_fini(&e);
	free(pmem);
}
END_TEST

START_TEST(test_forward_aio_parent)
{
	struct tdt_env e;
	struct td_image *img;
	unsigned char *pmem;
	char spec[160];

	tdt_env_init(&e, tdt_backends[_i], 4);
	snprintf(spec, sizeof(spec), "aio:%s/parent", e.dir);
	{
		char path[128];

		tdt_make_file(&e, "parent", 256 * KIB, path, sizeof(path));
	}
	img = open_half(&e, "1M", spec, 256 * KIB, &pmem);
	check_half_read(&e, img, 0, 256, pmem, 256 * KIB, true);
	check_half_read(&e, img, 500, 100, pmem, 256 * KIB, false);
	td_image_close(img);
	tdt_env_fini(&e);
	free(pmem);
}
END_TEST

START_TEST(test_forward_bad_args)
{
	struct tdt_env e;
	struct td_image *img;
	unsigned char *pmem, buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct td_req req;
	struct tdt_waiter w;

	tdt_env_init(&e, "aio", 2);
	img = open_half(&e, "1M", "ram:1M", MIB, &pmem);
	tdt_req_init(&req, &w, TD_OP_WRITE, 0, 8, &iov, 1);
	ck_assert_int_eq(td_image_forward(img, &req, 0, 8, 0), -EINVAL);
	req.op = TD_OP_READ;
	ck_assert_int_eq(td_image_forward(img, &req, 0, 9, 0), -EINVAL);
	ck_assert_int_eq(td_image_forward(img, &req, 0, 1, 3585), -EINVAL);
	ck_assert_int_eq(td_image_forward(img, &req, 0, 0, 0), -EINVAL);
	ck_assert_int_eq(req.pending, 0);
	ck_assert_int_eq(w.calls, 0);
	td_image_close(img);
	tdt_env_fini(&e);
	free(pmem);
}
END_TEST

TCase *tdt_forward_tcase(void)
{
	TCase *tc = tcase_create("forward");

	tcase_add_test(tc, test_forward_ram);
	tcase_add_test(tc, test_forward_pool_exhausted);
	tcase_add_test(tc, test_forward_past_parent_end);
	tcase_add_loop_test(tc, test_forward_aio_parent, 0, 2);
	tcase_add_test(tc, test_forward_bad_args);
	return tc;
}
