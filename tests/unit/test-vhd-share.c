/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared read-only parents: two VBD chains on two children of one parent,
 * opened with an image cache as tapdisk's VBDs do, share the parent (and
 * its parents) instead of opening them twice. Checks the sharing itself
 * (one image, reference counts, the cache emptied by the last close), that
 * concurrent I/O through both leaves reads every layer right while their
 * forwards meet in the shared parent (a small depth makes the pools run
 * out, so requests wait in the parent and in its own forward pool), with
 * the real aio backend and with the fake one completing in reverse order,
 * and that what must not be shared is not (no cache, other flags, a
 * parent file changed since it was opened).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-io.h"
#include "image.h"
#include "loop.h"
#include "vhd-format.h"
#include "td-check.h"

#define MiB (1u << 20)
#define DISK (8u * MiB)         /* 4 blocks of 2 MiB */
#define NSEC (DISK / 512)
#define SPB 4096u
#define NREQ 24                 /* per leaf, in flight at once */

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
	struct td_list cache;
	bool fake;
	char dir[64];
	char base[128], mid[128], a[128], b[128];
	uint8_t *ma, *mb;       /* what leaf a and leaf b must read */
	struct treq t[2][NREQ];
};

static struct env *E;

static void pattern(uint8_t *b, size_t len, uint64_t sector, int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)((sector + i / 512) * 13 + seed * 37 + i % 241);
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

/* Writes @seed's pattern at [@s, +@n) into @path and the models given. */
static void lib_write(const char *path, uint64_t s, uint32_t n, int seed,
		      uint8_t *m1, uint8_t *m2)
{
	struct td_vhd_err err = { .name = path };
	uint8_t *buf = malloc((size_t)n * 512);
	struct td_vhd *v;

	ck_assert_ptr_nonnull(buf);
	pattern(buf, (size_t)n * 512, s, seed);
	ck_assert_int_eq(td_vhd_open(path, 0, &v, &err), 0);
	ck_assert_int_eq(td_vhd_write(v, s, n, buf, &err), 0);
	ck_assert_int_eq(td_vhd_write_footer(v, &err), 0);
	td_vhd_close(v);
	if (m1)
		memcpy(m1 + s * 512, buf, (size_t)n * 512);
	if (m2)
		memcpy(m2 + s * 512, buf, (size_t)n * 512);
	free(buf);
}

/* base <- mid <- {a, b}: every layer owns some ranges, across blocks. */
static void setup_common(bool fake)
{
	E = calloc(1, sizeof(*E));
	ck_assert_ptr_nonnull(E);
	E->fake = fake;
	snprintf(E->dir, sizeof(E->dir), "/tmp/test-vhd-share.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(E->dir));
	snprintf(E->base, sizeof(E->base), "%s/base.vhd", E->dir);
	snprintf(E->mid, sizeof(E->mid), "%s/mid.vhd", E->dir);
	snprintf(E->a, sizeof(E->a), "%s/a.vhd", E->dir);
	snprintf(E->b, sizeof(E->b), "%s/b.vhd", E->dir);
	E->ma = calloc(1, DISK);
	E->mb = calloc(1, DISK);
	ck_assert(E->ma && E->mb);

	create(E->base, NULL);
	lib_write(E->base, 0, 3 * SPB, 1, E->ma, E->mb);
	create(E->mid, E->base);
	lib_write(E->mid, 100, 300, 2, E->ma, E->mb);
	lib_write(E->mid, SPB - 8, 16, 2, E->ma, E->mb);
	lib_write(E->mid, 3 * SPB + 5, 50, 2, E->ma, E->mb);
	create(E->a, E->mid);
	create(E->b, E->mid);
	lib_write(E->a, 120, 8, 3, E->ma, NULL);
	lib_write(E->a, 2 * SPB, SPB, 3, E->ma, NULL);
	lib_write(E->b, 200, 64, 4, E->mb, NULL);
	lib_write(E->b, SPB + 1, 7, 4, E->mb, NULL);

	ck_assert_int_eq(td_loop_init(&E->loop, NULL, NULL), 0);
	if (fake)
		ck_assert_int_eq(td_fake_io_create(&E->loop, &E->io), 0);
	else
		ck_assert_int_eq(td_io_aio_ops.create(&E->loop, 256, &E->io),
				 0);
	td_list_init(&E->cache);
	E->ctx.loop = &E->loop;
	E->ctx.io = E->io;
	/* far below NREQ: pools and driver state run out and must wait */
	E->ctx.depth = 4;
	E->ctx.cache = &E->cache;
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
	int i, j;

	for (i = 0; i < 2; i++)
		for (j = 0; j < NREQ; j++)
			free(E->t[i][j].buf);
	td_io_destroy(E->io);
	td_loop_fini(&E->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", E->dir);
	ck_assert_int_eq(system(cmd), 0);
	free(E->ma);
	free(E->mb);
	free(E);
}

static struct td_image *open_chain(const char *path, unsigned flags,
				   const struct td_image_ctx *ctx)
{
	char spec[160], err[256];
	struct td_image *img = NULL;
	int rc;

	snprintf(spec, sizeof(spec), "vhd:%s", path);
	rc = td_image_open_chain(spec, flags, ctx, &img, err, sizeof(err));
	ck_assert_msg(rc == 0, "open %s: %d %s", spec, rc, err);
	return img;
}

static unsigned cache_len(void)
{
	struct td_list *pos;
	unsigned n = 0;

	td_list_for_each(pos, &E->cache)
		n++;
	return n;
}

static void treq_done(struct td_req *req, int err)
{
	struct treq *t = td_container_of(req, struct treq, req);

	t->done++;
	t->err = err;
}

static void treq_submit(struct td_image *img, struct treq *t, enum td_op op,
			uint64_t sector, uint64_t nr, const uint8_t *data)
{
	memset(&t->req, 0, sizeof(t->req));
	if (!t->buf)
		ck_assert_int_eq(posix_memalign((void **)&t->buf, 4096,
						SPB * 512 * 2), 0);
	if (data)
		memcpy(t->buf, data, nr * 512);
	t->req.op = op;
	t->req.sector = sector;
	t->req.nr_sectors = nr;
	t->iov.iov_base = t->buf;
	t->iov.iov_len = nr * 512;
	t->req.iov = &t->iov;
	t->req.iovcnt = 1;
	t->req.done = treq_done;
	t->done = 0;
	t->err = 1;
	td_image_submit(img, &t->req);
}

/* Runs the loop until all @n requests of both leaves are done. */
static void wait_all(unsigned n)
{
	unsigned i, k, left = 2 * n;

	for (k = 0; k < 200000 && left; k++) {
		if (E->fake)
			td_fake_io_complete_reverse(E->io);
		ck_assert_int_ge(td_loop_run_once(&E->loop,
						  E->fake ? 0 : 10000000), 0);
		left = 0;
		for (i = 0; i < n; i++)
			left += !E->t[0][i].done + !E->t[1][i].done;
	}
	ck_assert_msg(!left, "%u requests never completed", left);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(E->t[0][i].done, 1);
		ck_assert_int_eq(E->t[1][i].done, 1);
		ck_assert_int_eq(E->t[0][i].err, 0);
		ck_assert_int_eq(E->t[1][i].err, 0);
	}
}

/* The range read by request @i: spread over all layers and boundaries. */
static void range_of(unsigned i, uint64_t *s, uint64_t *n)
{
	*s = ((uint64_t)i * 1361 + 90) % (NSEC - 2 * SPB);
	*n = 1 + (i * 523) % (2 * SPB - 1);
}

static void check_buf(const struct treq *t, const uint8_t *m, const char *who)
{
	uint64_t i;

	for (i = 0; i < t->req.nr_sectors; i++)
		ck_assert_msg(!memcmp(t->buf + i * 512,
				      m + (t->req.sector + i) * 512, 512),
			      "%s: sector %llu differs", who,
			      (unsigned long long)(t->req.sector + i));
}

/* NREQ reads on each of @a and @b (models @ma, @mb) at once. */
static void read_both(struct td_image *a, const uint8_t *ma,
		      struct td_image *b, const uint8_t *mb)
{
	uint64_t s, n;
	unsigned i;

	for (i = 0; i < NREQ; i++) {
		range_of(i, &s, &n);
		treq_submit(a, &E->t[0][i], TD_OP_READ, s, n, NULL);
		range_of(NREQ - 1 - i, &s, &n);
		treq_submit(b, &E->t[1][i], TD_OP_READ, s, n, NULL);
	}
	wait_all(NREQ);
	for (i = 0; i < NREQ; i++) {
		check_buf(&E->t[0][i], ma, "first leaf");
		check_buf(&E->t[1][i], mb, "second leaf");
	}
}

struct sink {
	struct td_stats_sink s;
	uint64_t refs;
};

static void sink_u64(struct td_stats_sink *s, const char *key, uint64_t v)
{
	if (!strcmp(key, "refs"))
		td_container_of(s, struct sink, s)->refs = v;
}

static void sink_str(struct td_stats_sink *s, const char *key, const char *v)
{
	(void)s;
	(void)key;
	(void)v;
}

static uint64_t stat_refs(struct td_image *img)
{
	struct sink k = { { sink_u64, sink_str }, 0 };

	td_image_stats(img, &k.s);
	return k.refs;
}

START_TEST(two_leaves_share_parent_chain)
{
	struct td_image *a, *b, *mid;
	uint8_t *w;
	unsigned i;

	a = open_chain(E->a, 0, &E->ctx);
	ck_assert_uint_eq(cache_len(), 2); /* mid and base, not the leaf */
	b = open_chain(E->b, 0, &E->ctx);
	ck_assert_ptr_ne(a, b);
	mid = a->parent;
	ck_assert_ptr_eq(b->parent, mid);
	ck_assert_str_eq(mid->path, E->mid);
	ck_assert_int_eq(mid->refs, 2);
	ck_assert_int_eq(mid->parent->refs, 1); /* held once, by mid */
	ck_assert_uint_eq(stat_refs(mid), 2);
	ck_assert_uint_eq(stat_refs(a), 1);
	ck_assert_uint_eq(cache_len(), 2);

	read_both(a, E->ma, b, E->mb);
	ck_assert_uint_gt(mid->st_forwarded, 0);

	/* writes on both leaves while the other leaf reads the parent */
	w = malloc(SPB * 512);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < NREQ; i++) {
		uint64_t s = (uint64_t)i * 37 + 3 * SPB, n = 5 + i % 11;

		if (i % 2) {
			pattern(w, n * 512, s, 10 + (int)i);
			memcpy(E->ma + s * 512, w, n * 512);
			treq_submit(a, &E->t[0][i], TD_OP_WRITE, s, n, w);
			treq_submit(b, &E->t[1][i], TD_OP_READ, 0, 2 * SPB,
				    NULL);
		} else {
			pattern(w, n * 512, s, 50 + (int)i);
			memcpy(E->mb + s * 512, w, n * 512);
			treq_submit(b, &E->t[1][i], TD_OP_WRITE, s, n, w);
			treq_submit(a, &E->t[0][i], TD_OP_READ, 0, 2 * SPB,
				    NULL);
		}
	}
	free(w);
	wait_all(NREQ);
	for (i = 0; i < NREQ; i++)
		check_buf(&E->t[i % 2][i], i % 2 ? E->mb : E->ma,
			  "read during writes");
	read_both(a, E->ma, b, E->mb);

	/* the first close leaves the parent to the other leaf */
	td_image_close(a);
	ck_assert_int_eq(mid->refs, 1);
	ck_assert_uint_eq(cache_len(), 2);
	read_both(b, E->mb, b, E->mb);
	td_image_close(b);
	ck_assert_uint_eq(cache_len(), 0);

	/* reopened after the last close: a fresh, unshared chain */
	a = open_chain(E->a, 0, &E->ctx);
	ck_assert_int_eq(a->parent->refs, 1);
	td_image_close(a);
	ck_assert_uint_eq(cache_len(), 0);
}
END_TEST

START_TEST(not_shared_without_cache_or_same_flags)
{
	struct td_image_ctx nocache = E->ctx;
	struct td_image *a, *b, *c;

	nocache.cache = NULL;
	a = open_chain(E->a, 0, &nocache);
	b = open_chain(E->b, 0, &nocache);
	ck_assert_ptr_ne(a->parent, b->parent);
	ck_assert_int_eq(a->parent->refs, 1);
	ck_assert_uint_eq(cache_len(), 0);
	td_image_close(a);
	td_image_close(b);

	/* buffered and O_DIRECT parents are different opens of the file */
	a = open_chain(E->a, 0, &E->ctx);
	c = open_chain(E->b, TD_OPEN_NO_O_DIRECT, &E->ctx);
	ck_assert_ptr_ne(a->parent, c->parent);
	ck_assert_uint_eq(cache_len(), 4);
	/* a leaf is never taken from the cache, even one that is a parent */
	b = open_chain(E->mid, TD_OPEN_RDONLY, &E->ctx);
	ck_assert_ptr_ne(b, a->parent);
	ck_assert_ptr_eq(b->parent, a->parent->parent); /* but its parent */
	ck_assert_int_eq(a->parent->parent->refs, 2);
	td_image_close(b);
	td_image_close(c);
	td_image_close(a);
	ck_assert_uint_eq(cache_len(), 0);
}
END_TEST

START_TEST(changed_parent_opened_afresh)
{
	struct td_image *a, *b, *a2;
	struct treq *t = &E->t[0][0];

	a = open_chain(E->a, 0, &E->ctx);
	/* what vhd-util coalesce does to a parent: new data, a new block */
	lib_write(E->mid, 2 * SPB + 10, 20, 9, NULL, E->mb);
	b = open_chain(E->b, 0, &E->ctx);
	ck_assert_ptr_ne(b->parent, a->parent);
	ck_assert_int_eq(a->parent->refs, 1);
	ck_assert_int_eq(b->parent->refs, 1);
	/* the unchanged base is still shared */
	ck_assert_ptr_eq(b->parent->parent, a->parent->parent);
	ck_assert_int_eq(a->parent->parent->refs, 2);
	/* b sees the parent as it is now */
	treq_submit(b, t, TD_OP_READ, 2 * SPB, 64, NULL);
	while (!t->done) {
		if (E->fake)
			td_fake_io_complete_all(E->io);
		ck_assert_int_ge(td_loop_run_once(&E->loop, 10000000), 0);
	}
	ck_assert_int_eq(t->err, 0);
	check_buf(t, E->mb, "reopened parent");
	/* a later opener shares the current one, not the stale one */
	a2 = open_chain(E->a, 0, &E->ctx);
	ck_assert_ptr_eq(a2->parent, b->parent);
	ck_assert_int_eq(b->parent->refs, 2);
	td_image_close(a);
	td_image_close(a2);
	td_image_close(b);
	ck_assert_uint_eq(cache_len(), 0);
}
END_TEST

static Suite *share_suite(void)
{
	Suite *s = suite_create("vhd-share");
	TCase *a = tcase_create("aio"), *f = tcase_create("fake");

	tcase_add_checked_fixture(a, setup_aio, teardown);
	tcase_add_test(a, two_leaves_share_parent_chain);
	tcase_add_test(a, not_shared_without_cache_or_same_flags);
	tcase_add_test(a, changed_parent_opened_afresh);
	tcase_set_timeout(a, 60);
	suite_add_tcase(s, a);
	tcase_add_checked_fixture(f, setup_fake, teardown);
	tcase_add_test(f, two_leaves_share_parent_chain);
	tcase_set_timeout(f, 60);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	return td_check_run(share_suite());
}
