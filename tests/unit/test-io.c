/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the I/O backends. The "backend" case runs every test once
 * per entry of td_io_names against a real file; the "core" case drives the
 * shared retry/queue logic (io-internal.h) with a hand-played kernel that
 * returns fabricated short results; the "fake" case checks the test fake
 * backend (tests/unit/fake-io.h) that component tests rely on.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "fake-io.h"
#include "io.h"
#include "io-internal.h"
#include "loop.h"
#include "td-check.h"

#define BLK 4096

static struct td_loop loop;
static char dir[PATH_MAX];
static char path[PATH_MAX + 8];
static bool in_submit;

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/td-test-io.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/img", dir);
	ck_assert_int_eq(td_loop_init(&loop, NULL, NULL), 0);
}

static void teardown(void)
{
	td_loop_fini(&loop);
	unlink(path);
	rmdir(dir);
}

/* O_DIRECT where the filesystem allows it, so the kernel path is async. */
static int open_img(int flags, bool direct)
{
	int fd = -1;

	if (direct)
		fd = open(path, flags | O_CREAT | O_DIRECT, 0600);
	if (fd < 0)
		fd = open(path, flags | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static void *xbuf(size_t len, int fill)
{
	/* C11: the size must be a multiple of the alignment. */
	void *p = aligned_alloc(BLK, (len + BLK - 1) / BLK * BLK);

	ck_assert_ptr_nonnull(p);
	memset(p, fill, len);
	return p;
}

static void pattern(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 7 + i / 251);
}

static bool all_bytes(const unsigned char *p, size_t len, int v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

struct cmd {
	struct td_iocb cb;
	int calls;
	int res;
	int seq; /* completion order, from nfake */
};

static int nfake;

static void cmd_done(struct td_iocb *cb, int res)
{
	struct cmd *c = td_container_of(cb, struct cmd, cb);

	ck_assert_msg(!in_submit, "done called from inside submit");
	c->calls++;
	c->res = res;
	c->seq = nfake++;
}

static void cmd_init(struct cmd *c, enum td_io_op op, int fd,
		     struct iovec *iov, int iovcnt, off_t offset)
{
	memset(c, 0, sizeof(*c));
	c->cb.op = op;
	c->cb.fd = fd;
	c->cb.iov = iov;
	c->cb.iovcnt = iovcnt;
	c->cb.offset = offset;
	c->cb.done = cmd_done;
	c->res = 1;
}

static void submit(struct td_io *io, struct cmd *c)
{
	in_submit = true;
	td_io_submit(io, &c->cb);
	in_submit = false;
	ck_assert_int_eq(c->calls, 0);
}

/* Runs the loop until @c has completed, bounded to ~10 s. */
static void wait_cmds(struct cmd *c, int n)
{
	int i, left, rounds;

	for (rounds = 0; rounds < 1000; rounds++) {
		for (left = 0, i = 0; i < n; i++)
			left += c[i].calls == 0;
		if (!left)
			break;
		ck_assert_int_ge(td_loop_run_once(&loop, 10 * TD_NS_PER_MS),
				 0);
	}
	for (i = 0; i < n; i++)
		ck_assert_int_eq(c[i].calls, 1);
}

static struct td_io *create_io(int idx, unsigned depth)
{
	const struct td_io_ops *ops = td_io_lookup(td_io_names[idx]);
	struct td_io *io = NULL;
	int r;

	ck_assert_ptr_nonnull(ops);
	r = ops->create(&loop, depth, &io);
	ck_assert_msg(r == 0, "%s: create: %s", td_io_names[idx],
		      strerror(-r));
	ck_assert_ptr_eq(io->ops, ops);
	return io;
}

/* ---- the real backends ---- */

START_TEST(test_roundtrip)
{
	struct td_io *io = create_io(_i, 8);
	int fd = open_img(O_RDWR, true);
	unsigned char *w = xbuf(4 * BLK, 0), *r = xbuf(4 * BLK, 0xaa);
	struct iovec wv[3] = { { w, BLK }, { w + BLK, 2 * BLK },
			       { w + 3 * BLK, BLK } };
	struct iovec rv[2] = { { r, 3 * BLK }, { r + 3 * BLK, BLK } };
	struct cmd c;

	pattern(w, 4 * BLK, 11);
	cmd_init(&c, TD_IO_WRITE, fd, wv, 3, 2 * BLK);
	submit(io, &c);
	ck_assert_uint_eq(io->ops->inflight(io), 1);
	wait_cmds(&c, 1);
	ck_assert_int_eq(c.res, 0);
	ck_assert_uint_eq(c.cb.len, 4 * BLK);
	ck_assert_uint_eq(io->ops->inflight(io), 0);

	cmd_init(&c, TD_IO_READ, fd, rv, 2, 2 * BLK);
	submit(io, &c);
	wait_cmds(&c, 1);
	ck_assert_int_eq(c.res, 0);
	ck_assert_int_eq(memcmp(r, w, 4 * BLK), 0);
	/* The iovec comes back as submitted. */
	ck_assert_ptr_eq(rv[0].iov_base, r);
	ck_assert_uint_eq(rv[0].iov_len, 3 * BLK);
	close(fd);
	td_io_destroy(io);
	free(w);
	free(r);
}
END_TEST

START_TEST(test_eof_zero_fill)
{
	struct td_io *io = create_io(_i, 8);
	unsigned char *data = xbuf(6000, 0), *r = xbuf(4 * BLK, 0xaa);
	struct iovec v[2] = { { r, BLK }, { r + BLK, 3 * BLK } };
	int wfd = open_img(O_RDWR, false), fd;
	struct cmd c;

	pattern(data, 6000, 3);
	ck_assert_int_eq(pwrite(wfd, data, 6000, 0), 6000);
	fd = open_img(O_RDONLY, true);

	/* Spans EOF: data, then zeros up to the full length. */
	cmd_init(&c, TD_IO_READ, fd, v, 2, 0);
	submit(io, &c);
	wait_cmds(&c, 1);
	ck_assert_int_eq(c.res, 0);
	ck_assert_int_eq(memcmp(r, data, 6000), 0);
	ck_assert(all_bytes(r + 6000, 4 * BLK - 6000, 0));

	/* Entirely past EOF: all zeros. */
	memset(r, 0xaa, 4 * BLK);
	cmd_init(&c, TD_IO_READ, fd, v, 2, 256 * BLK);
	submit(io, &c);
	wait_cmds(&c, 1);
	ck_assert_int_eq(c.res, 0);
	ck_assert(all_bytes(r, 4 * BLK, 0));
	ck_assert_ptr_eq(v[1].iov_base, r + BLK);
	ck_assert_uint_eq(v[1].iov_len, 3 * BLK);
	close(fd);
	close(wfd);
	td_io_destroy(io);
	free(data);
	free(r);
}
END_TEST

/*
 * A genuine short read from the kernel: the read stops at EOF, then, before
 * the loop sees its result, the file grows. The backend must resubmit the
 * remainder (one entry trimmed mid-way) and deliver the new data.
 */
START_TEST(test_short_read_real)
{
	struct td_io *io = create_io(_i, 8);
	int fd = open_img(O_RDWR, false);
	unsigned char *a = xbuf(2 * BLK, 0), *r = xbuf(2 * BLK, 0xaa);
	struct iovec v = { r, 2 * BLK };
	struct pollfd pfd = { .fd = loop.epfd, .events = POLLIN };
	struct cmd c;

	pattern(a, 2 * BLK, 5);
	ck_assert_int_eq(pwrite(fd, a, BLK, 0), BLK);
	cmd_init(&c, TD_IO_READ, fd, &v, 1, 0);
	submit(io, &c);
	/*
	 * The loop's deferred flush hands it to the kernel. One generation
	 * of defers per iteration: the reap it queues waits for the next.
	 */
	td_loop_set_defer_gens(&loop, 1);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	/*
	 * Wait for the kernel's (short) completion without reaping it: it
	 * either completed inside the submit, and the backend has queued its
	 * reap for the next iteration, or it will signal the loop's fd.
	 */
	if (td_list_empty(&loop.deferred))
		ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(pwrite(fd, a + BLK, BLK, BLK), BLK);
	wait_cmds(&c, 1);
	td_loop_set_defer_gens(&loop, TD_LOOP_DEFER_GENS);
	ck_assert_int_eq(c.res, 0);
	ck_assert_int_eq(c.cb.retries, 1);
	ck_assert_int_eq(memcmp(r, a, 2 * BLK), 0);
	ck_assert_ptr_eq(v.iov_base, r);
	ck_assert_uint_eq(v.iov_len, 2 * BLK);
	close(fd);
	td_io_destroy(io);
	free(a);
	free(r);
}
END_TEST

/*
 * aio on a buffered file completes inside io_submit: the read is delivered
 * in the loop iteration that submitted it, and the eventfd the kernel
 * signalled is drained, so the next iteration finds nothing to do. Under
 * valgrind the backend reaps with io_getevents instead, one wakeup later.
 */
START_TEST(test_aio_inline_reap)
{
	struct td_io *io;
	int fd = open_img(O_RDWR, false);
	unsigned char *w = xbuf(2 * BLK, 0), *r = xbuf(2 * BLK, 0xaa);
	struct iovec v = { r, 2 * BLK };
	struct cmd c;
	int i;

	ck_assert_int_eq(td_io_aio_ops.create(&loop, 8, &io), 0);
	pattern(w, 2 * BLK, 21);
	ck_assert_int_eq(pwrite(fd, w, 2 * BLK, 0), 2 * BLK);
	for (i = 0; i < 3; i++) {
		cmd_init(&c, TD_IO_READ, fd, &v, 1, 0);
		memset(r, 0xaa, 2 * BLK);
		submit(io, &c);
		if (RUNNING_ON_VALGRIND) {
			wait_cmds(&c, 1);
		} else {
			ck_assert_int_gt(td_loop_run_once(&loop, 0), 0);
			ck_assert_int_eq(c.calls, 1);
			ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
		}
		ck_assert_int_eq(c.res, 0);
		ck_assert_int_eq(memcmp(r, w, 2 * BLK), 0);
	}
	close(fd);
	td_io_destroy(io);
	free(w);
	free(r);
}
END_TEST

#define NCMD 64

START_TEST(test_beyond_depth)
{
	struct td_io *io = create_io(_i, 4);
	int fd = open_img(O_RDWR, true);
	unsigned char *w = xbuf(NCMD * BLK, 0), *r = xbuf(NCMD * BLK, 0xaa);
	struct iovec wv[NCMD], rv[NCMD];
	struct cmd *c = calloc(NCMD, sizeof(*c));
	int i;

	ck_assert_ptr_nonnull(c);
	pattern(w, NCMD * BLK, 99);
	for (i = 0; i < NCMD; i++) {
		wv[i] = (struct iovec){ w + i * BLK, BLK };
		cmd_init(&c[i], TD_IO_WRITE, fd, &wv[i], 1, (off_t)i * BLK);
		submit(io, &c[i]);
	}
	ck_assert_uint_eq(io->ops->inflight(io), NCMD);
	wait_cmds(c, NCMD);
	for (i = 0; i < NCMD; i++)
		ck_assert_int_eq(c[i].res, 0);
	ck_assert_uint_eq(io->ops->inflight(io), 0);

	for (i = 0; i < NCMD; i++) {
		rv[i] = (struct iovec){ r + i * BLK, BLK };
		cmd_init(&c[i], TD_IO_READ, fd, &rv[i], 1, (off_t)i * BLK);
		submit(io, &c[i]);
	}
	wait_cmds(c, NCMD);
	/* Nothing completes twice, however long we keep going. */
	for (i = 0; i < 5; i++)
		td_loop_run_once(&loop, 0);
	for (i = 0; i < NCMD; i++) {
		ck_assert_int_eq(c[i].calls, 1);
		ck_assert_int_eq(c[i].res, 0);
	}
	ck_assert_int_eq(memcmp(r, w, NCMD * BLK), 0);
	ck_assert_uint_eq(io->ops->inflight(io), 0);
	close(fd);
	td_io_destroy(io);
	free(c);
	free(w);
	free(r);
}
END_TEST

START_TEST(test_flush)
{
	struct td_io *io = create_io(_i, 4);
	int fd = open_img(O_RDWR, false);
	unsigned char *w = xbuf(BLK, 0x5a);
	struct iovec v = { w, BLK };
	struct cmd c[2];
	int pfd[2];

	cmd_init(&c[0], TD_IO_WRITE, fd, &v, 1, 0);
	cmd_init(&c[1], TD_IO_FLUSH, fd, NULL, 0, 0);
	submit(io, &c[0]);
	wait_cmds(&c[0], 1);
	submit(io, &c[1]);
	wait_cmds(&c[1], 1);
	ck_assert_int_eq(c[0].res, 0);
	ck_assert_int_eq(c[1].res, 0);

	/* A pipe cannot be synced: aio's fdatasync fallback reports it. */
	ck_assert_int_eq(pipe(pfd), 0);
	cmd_init(&c[0], TD_IO_FLUSH, pfd[1], NULL, 0, 0);
	submit(io, &c[0]);
	wait_cmds(&c[0], 1);
	ck_assert_int_eq(c[0].res, -EINVAL);
	/* And a real file still flushes afterwards. */
	cmd_init(&c[1], TD_IO_FLUSH, fd, NULL, 0, 0);
	submit(io, &c[1]);
	wait_cmds(&c[1], 1);
	ck_assert_int_eq(c[1].res, 0);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
	td_io_destroy(io);
	free(w);
}
END_TEST

#define DSIZE (1024 * 1024)

START_TEST(test_discard)
{
	struct td_io *io = create_io(_i, 4);
	int fd = open_img(O_RDWR, false);
	unsigned char *w = xbuf(DSIZE, 0), *r = xbuf(DSIZE, 0xaa);
	struct stat before, after;
	struct cmd c;

	pattern(w, DSIZE, 1);
	ck_assert_int_eq(pwrite(fd, w, DSIZE, 0), DSIZE);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(fstat(fd, &before), 0);

	cmd_init(&c, TD_IO_DISCARD, fd, NULL, 0, DSIZE / 4);
	c.cb.len = DSIZE / 2;
	submit(io, &c);
	wait_cmds(&c, 1);
	ck_assert_int_eq(c.res, 0);
	ck_assert_int_eq(fstat(fd, &after), 0);
	ck_assert_int_eq(after.st_size, DSIZE);
	ck_assert_int_lt(after.st_blocks, before.st_blocks);
	ck_assert_int_eq(lseek(fd, 0, SEEK_HOLE), DSIZE / 4);
	ck_assert_int_eq(lseek(fd, DSIZE / 4, SEEK_DATA), 3 * DSIZE / 4);
	ck_assert_int_eq(pread(fd, r, DSIZE, 0), DSIZE);
	ck_assert_int_eq(memcmp(r, w, DSIZE / 4), 0);
	ck_assert(all_bytes(r + DSIZE / 4, DSIZE / 2, 0));
	ck_assert_int_eq(memcmp(r + 3 * DSIZE / 4, w + 3 * DSIZE / 4,
				DSIZE / 4), 0);

	/* An empty range is a successful no-op. */
	cmd_init(&c, TD_IO_DISCARD, fd, NULL, 0, 0);
	submit(io, &c);
	wait_cmds(&c, 1);
	ck_assert_int_eq(c.res, 0);
	close(fd);
	td_io_destroy(io);
	free(w);
	free(r);
}
END_TEST

START_TEST(test_errors)
{
	struct td_io *io = create_io(_i, 4);
	int wfd = open_img(O_WRONLY, false), rfd = open_img(O_RDONLY, false);
	unsigned char *b = xbuf(BLK, 0);
	struct iovec v = { b, BLK };
	struct cmd c[7];
	int pfd[2];

	ck_assert_int_eq(pipe(pfd), 0);
	cmd_init(&c[0], TD_IO_READ, wfd, &v, 1, 0);
	cmd_init(&c[1], TD_IO_WRITE, rfd, &v, 1, 0);
	cmd_init(&c[2], TD_IO_READ, rfd, &v, 0, 0);
	cmd_init(&c[3], TD_IO_READ, rfd, &v, IOV_MAX + 1, 0);
	cmd_init(&c[4], TD_IO_READ, rfd, &v, 1, -BLK);
	cmd_init(&c[5], (enum td_io_op)99, rfd, &v, 1, 0);
	cmd_init(&c[6], TD_IO_DISCARD, pfd[0], NULL, 0, 0);
	c[6].cb.len = BLK;
	for (int i = 0; i < 7; i++)
		submit(io, &c[i]);
	wait_cmds(c, 7);
	ck_assert_int_eq(c[0].res, -EBADF);
	ck_assert_int_eq(c[1].res, -EBADF);
	ck_assert_int_eq(c[2].res, -EINVAL);
	ck_assert_int_eq(c[3].res, -EINVAL);
	ck_assert_int_eq(c[4].res, -EINVAL);
	ck_assert_int_eq(c[5].res, -EINVAL);
	ck_assert_int_eq(c[6].res, -EOPNOTSUPP);
	ck_assert_uint_eq(io->ops->inflight(io), 0);
	close(pfd[0]);
	close(pfd[1]);
	close(wfd);
	close(rfd);
	td_io_destroy(io);
	free(b);
}
END_TEST

START_TEST(test_create_bad_depth)
{
	const struct td_io_ops *ops = td_io_lookup(td_io_names[_i]);
	struct td_io *io = NULL;

	ck_assert_int_eq(ops->create(&loop, 0, &io), -EINVAL);
	ck_assert_ptr_null(io);
}
END_TEST

/* ---- registry and iovec helpers ---- */

START_TEST(test_lookup)
{
	int n;

	ck_assert_ptr_eq(td_io_lookup("aio"), &td_io_aio_ops);
	ck_assert_ptr_eq(td_io_lookup("uring"), &td_io_uring_ops);
	ck_assert_ptr_null(td_io_lookup("sync"));
	ck_assert_ptr_null(td_io_lookup(""));
	ck_assert_ptr_null(td_io_lookup(NULL));
	for (n = 0; td_io_names[n]; n++) {
		const struct td_io_ops *ops = td_io_lookup(td_io_names[n]);

		ck_assert_ptr_nonnull(ops);
		ck_assert_str_eq(ops->name, td_io_names[n]);
		ck_assert_uint_eq(ops->size, sizeof(struct td_io_ops));
	}
	ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(test_iov_helpers)
{
	char b[100];
	struct iovec v[4] = {
		{ b, 10 }, { b + 10, 0 }, { b + 10, 30 }, { b + 40, 60 }
	};
	struct iovec *p;
	int cnt = 4;

	ck_assert_uint_eq(td_iov_len(v, 4), 100);
	ck_assert_uint_eq(td_iov_len(v, 0), 0);

	/* Mid-entry: the entry is trimmed in place. */
	p = td_iov_advance(v, &cnt, 25);
	ck_assert_ptr_eq(p, &v[2]);
	ck_assert_int_eq(cnt, 2);
	ck_assert_ptr_eq(p->iov_base, b + 25);
	ck_assert_uint_eq(p->iov_len, 15);
	ck_assert_uint_eq(td_iov_len(p, cnt), 75);

	/* Exactly on a boundary: nothing trimmed. */
	p = td_iov_advance(p, &cnt, 15);
	ck_assert_ptr_eq(p, &v[3]);
	ck_assert_int_eq(cnt, 1);
	ck_assert_uint_eq(p->iov_len, 60);

	/* Everything (and more): nothing left. */
	p = td_iov_advance(p, &cnt, 1000);
	ck_assert_int_eq(cnt, 0);
	ck_assert_ptr_eq(p, &v[4]);
}
END_TEST

/* ---- the shared core, with the test playing the kernel ---- */

struct shim {
	struct td_io_core core;
	struct td_iocb *started[32];
	struct iovec *iov[32]; /* what each start was given */
	int cnt[32];
	off_t off[32];
	int nstarted;
	int start_ret;  /* returned (once) instead of preparing */
	int flush_ret;  /* returned (once) by the next flush */
	int nflush;
};

static int shim_start(struct td_io_core *c, struct td_iocb *cb)
{
	struct shim *s = td_container_of(c, struct shim, core);
	int n = s->nstarted, r = s->start_ret;

	if (r) {
		s->start_ret = 0;
		return r;
	}
	ck_assert_int_lt(n, 32);
	s->started[n] = cb;
	if (cb->op == TD_IO_READ || cb->op == TD_IO_WRITE)
		s->iov[n] = td_io_cur_iov(cb, &s->cnt[n]);
	s->off[n] = td_io_cur_offset(cb);
	s->nstarted++;
	return 0;
}

static int shim_flush(struct td_io_core *c)
{
	struct shim *s = td_container_of(c, struct shim, core);
	int r = s->flush_ret;

	s->flush_ret = 0;
	s->nflush++;
	return r;
}

static const struct td_io_core_ops shim_ops = {
	.start = shim_start,
	.flush = shim_flush,
};

static struct shim *shim_new(unsigned depth)
{
	struct shim *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	td_io_core_init(&s->core, &loop, depth, &shim_ops);
	return s;
}

/* Feeds a fabricated result for start #n and lets the core react. */
static void shim_result(struct shim *s, int n, long res)
{
	td_io_core_result(&s->core, s->started[n], res);
	td_io_core_kick(&s->core);
}

START_TEST(test_core_short_read)
{
	struct shim *s = shim_new(4);
	int fd = open_img(O_RDWR, false);
	unsigned char *f = xbuf(3 * BLK, 0), *r = xbuf(3 * BLK, 0xaa);
	struct iovec v[3] = { { r, BLK }, { r + BLK, BLK },
			      { r + 2 * BLK, BLK } };
	struct cmd c;
	ssize_t n;

	pattern(f, 3 * BLK, 42);
	ck_assert_int_eq(pwrite(fd, f, 3 * BLK, 0), 3 * BLK);
	cmd_init(&c, TD_IO_READ, fd, v, 3, 0);
	in_submit = true;
	td_io_core_submit(&s->core, &c.cb);
	in_submit = false;
	ck_assert_int_eq(s->nstarted, 1);
	ck_assert_int_eq(s->cnt[0], 3);
	ck_assert_int_eq(s->off[0], 0);

	/* The "kernel" transfers only 5000 bytes. */
	ck_assert_int_eq(pread(fd, r, 5000, 0), 5000);
	shim_result(s, 0, 5000);
	ck_assert_int_eq(s->nstarted, 2);
	ck_assert_ptr_eq(s->started[1], &c.cb);
	ck_assert_int_eq(s->off[1], 5000);
	ck_assert_int_eq(s->cnt[1], 2);
	ck_assert_ptr_eq(s->iov[1]->iov_base, r + 5000);
	ck_assert_uint_eq(s->iov[1]->iov_len, 2 * BLK - 5000);
	ck_assert_uint_eq(td_iov_len(s->iov[1], s->cnt[1]), 3 * BLK - 5000);

	/* It does the rest for real, from exactly what it was given. */
	n = preadv(fd, s->iov[1], s->cnt[1], s->off[1]);
	ck_assert_int_eq(n, 3 * BLK - 5000);
	shim_result(s, 1, n);
	ck_assert_int_eq(c.calls, 0); /* done only from the loop */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.res, 0);
	ck_assert_int_eq(c.cb.retries, 1);
	ck_assert_uint_eq(c.cb.xferred, 3 * BLK);
	ck_assert_int_eq(memcmp(r, f, 3 * BLK), 0);
	ck_assert_ptr_eq(v[1].iov_base, r + BLK);
	ck_assert_uint_eq(v[1].iov_len, BLK);
	ck_assert_uint_eq(s->core.busy, 0);
	ck_assert_uint_eq(s->core.inflight, 0);
	td_io_core_fini(&s->core);
	close(fd);
	free(s);
	free(f);
	free(r);
}
END_TEST

START_TEST(test_core_short_write)
{
	struct shim *s = shim_new(4);
	int fd = open_img(O_RDWR, false);
	unsigned char *w = xbuf(2 * BLK, 0), *r = xbuf(2 * BLK, 0);
	struct iovec v[2] = { { w, BLK }, { w + BLK, BLK } };
	struct cmd c;
	ssize_t n;

	pattern(w, 2 * BLK, 77);
	cmd_init(&c, TD_IO_WRITE, fd, v, 2, BLK);
	td_io_core_submit(&s->core, &c.cb);
	/* Two short transfers, then the remainder. */
	ck_assert_int_eq(pwrite(fd, w, 100, BLK), 100);
	shim_result(s, 0, 100);
	ck_assert_int_eq(s->off[1], BLK + 100);
	ck_assert_ptr_eq(s->iov[1]->iov_base, w + 100);
	ck_assert_int_eq(pwrite(fd, w + 100, 5000, BLK + 100), 5000);
	shim_result(s, 1, 5000);
	ck_assert_int_eq(s->off[2], BLK + 5100);
	ck_assert_int_eq(s->cnt[2], 1);
	ck_assert_ptr_eq(s->iov[2]->iov_base, w + 5100);
	/* The first entry, trimmed last round, is already restored. */
	ck_assert_uint_eq(v[0].iov_len, BLK);
	n = pwritev(fd, s->iov[2], s->cnt[2], s->off[2]);
	ck_assert_int_eq(n, 2 * BLK - 5100);
	shim_result(s, 2, n);
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.res, 0);
	ck_assert_int_eq(c.cb.retries, 2);
	ck_assert_int_eq(pread(fd, r, 2 * BLK, BLK), 2 * BLK);
	ck_assert_int_eq(memcmp(r, w, 2 * BLK), 0);
	ck_assert_ptr_eq(v[1].iov_base, w + BLK);
	ck_assert_uint_eq(v[1].iov_len, BLK);

	/* A write making no progress fails instead of spinning. */
	cmd_init(&c, TD_IO_WRITE, fd, v, 2, 0);
	td_io_core_submit(&s->core, &c.cb);
	shim_result(s, 3, 0);
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(c.res, -EIO);
	ck_assert_int_eq(s->nstarted, 4);
	td_io_core_fini(&s->core);
	close(fd);
	free(s);
	free(w);
	free(r);
}
END_TEST

START_TEST(test_core_eof_and_bogus)
{
	struct shim *s = shim_new(4);
	int fd = open_img(O_RDWR, false);
	unsigned char *r = xbuf(2 * BLK, 0xaa);
	struct iovec v = { r, 2 * BLK };
	struct cmd c;

	/* Short, then 0 from the "kernel": the rest is zero-filled. */
	memset(r, 0x11, BLK); /* what the first transfer "read" */
	cmd_init(&c, TD_IO_READ, fd, &v, 1, 0);
	td_io_core_submit(&s->core, &c.cb);
	ck_assert_int_eq(ftruncate(fd, 64 * BLK), 0); /* not at EOF yet */
	shim_result(s, 0, BLK);
	ck_assert_int_eq(s->nstarted, 2);
	shim_result(s, 1, 0);
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(c.res, 0);
	ck_assert(all_bytes(r, BLK, 0x11));
	ck_assert(all_bytes(r + BLK, BLK, 0));
	ck_assert_ptr_eq(v.iov_base, r);
	ck_assert_uint_eq(v.iov_len, 2 * BLK);

	/* More bytes than asked is impossible: an error, not an overrun. */
	cmd_init(&c, TD_IO_READ, fd, &v, 1, 0);
	td_io_core_submit(&s->core, &c.cb);
	shim_result(s, 2, 2 * BLK + 1);
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(c.res, -EIO);

	/* A kernel error is passed through as is. */
	cmd_init(&c, TD_IO_READ, fd, &v, 1, 0);
	td_io_core_submit(&s->core, &c.cb);
	shim_result(s, 3, -EIO);
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.res, -EIO);
	td_io_core_fini(&s->core);
	close(fd);
	free(s);
	free(r);
}
END_TEST

START_TEST(test_core_eagain)
{
	struct shim *s = shim_new(2);
	unsigned char b[BLK];
	struct iovec v = { b, BLK };
	struct cmd c[3];
	int i, n;

	/* -EAGAIN results are retried, a bounded number of times. */
	cmd_init(&c[0], TD_IO_READ, 0, &v, 1, 0);
	td_io_core_submit(&s->core, &c[0].cb);
	for (i = 0; i < TD_IO_MAX_EAGAIN; i++) {
		shim_result(s, i, -EAGAIN);
		ck_assert_int_eq(s->nstarted, i + 2);
		ck_assert_int_eq(s->off[i + 1], 0);
	}
	shim_result(s, i, -EAGAIN);
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(c[0].calls, 1);
	ck_assert_int_eq(c[0].res, -EAGAIN);
	s->nstarted = 0;

	/* Refused by start: stays queued, retried from a timer. */
	s->start_ret = -EAGAIN;
	cmd_init(&c[0], TD_IO_FLUSH, 0, NULL, 0, 0);
	td_io_core_submit(&s->core, &c[0].cb);
	ck_assert_int_eq(s->nstarted, 0);
	ck_assert(s->core.retry.armed);
	for (i = 0; i < 100 && !s->nstarted; i++)
		td_loop_run_once(&loop, 10 * TD_NS_PER_MS);
	ck_assert_int_eq(s->nstarted, 1);

	/* The depth (2) holds the third command back until a slot frees. */
	cmd_init(&c[1], TD_IO_FLUSH, 0, NULL, 0, 0);
	cmd_init(&c[2], TD_IO_FLUSH, 0, NULL, 0, 0);
	td_io_core_submit(&s->core, &c[1].cb);
	td_io_core_submit(&s->core, &c[2].cb);
	ck_assert_int_eq(s->nstarted, 2);
	ck_assert_uint_eq(s->core.inflight, 3);
	shim_result(s, 1, 0);
	ck_assert_int_eq(s->nstarted, 3);
	ck_assert_ptr_eq(s->started[2], &c[2].cb);

	/* A flush the kernel refused is tried again later. */
	s->flush_ret = -EAGAIN;
	shim_result(s, 0, 0);
	ck_assert(s->core.retry.armed);
	n = s->nflush;
	for (i = 0; i < 100 && s->nflush == n; i++)
		td_loop_run_once(&loop, 10 * TD_NS_PER_MS);
	ck_assert_int_gt(s->nflush, n);
	shim_result(s, 2, 0);
	td_loop_run_once(&loop, 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(c[i].calls, 1);
		ck_assert_int_eq(c[i].res, 0);
	}
	ck_assert_uint_eq(s->core.inflight, 0);
	td_io_core_fini(&s->core);
	free(s);
}
END_TEST

/* Submits @d->arg's commands from a deferred call. */
static struct shim *defer_shim;
static void submit_deferred(struct td_loop_defer *d)
{
	struct cmd *c = d->arg;

	td_io_core_submit(&defer_shim->core, &c[0].cb);
	td_io_core_submit(&defer_shim->core, &c[1].cb);
}

/* One flush per loop iteration, whatever the number of submits. */
START_TEST(test_core_batches_submits)
{
	struct shim *s = shim_new(8);
	unsigned char b[BLK];
	struct iovec v = { b, BLK };
	struct td_loop_defer d = { .cb = submit_deferred };
	struct cmd c[6];
	int i;

	for (i = 0; i < 6; i++)
		cmd_init(&c[i], TD_IO_READ, 0, &v, 1, (off_t)i * BLK);
	/* Prepared at once, handed over only when the loop gets control. */
	for (i = 0; i < 3; i++)
		td_io_core_submit(&s->core, &c[i].cb);
	ck_assert_int_eq(s->nstarted, 3);
	ck_assert_int_eq(s->nflush, 0);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(s->nflush, 1);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(s->nflush, 1);

	/* From a deferred call: flushed in the same drain, once. */
	defer_shim = s;
	d.arg = &c[3];
	td_list_init(&d.link);
	td_loop_defer(&loop, &d);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 2);
	ck_assert_int_eq(s->nstarted, 5);
	ck_assert_int_eq(s->nflush, 2);
	ck_assert(!s->core.flush_defer.queued);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(s->nflush, 2);

	/* A completion flushes at once and takes the pending flush along. */
	td_io_core_submit(&s->core, &c[5].cb);
	ck_assert(s->core.flush_defer.queued);
	shim_result(s, 0, BLK);
	ck_assert_int_eq(s->nflush, 3);
	ck_assert(!s->core.flush_defer.queued);
	for (i = 1; i < 6; i++)
		shim_result(s, i, BLK);
	td_loop_run_once(&loop, 0);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(c[i].calls, 1);
		ck_assert_int_eq(c[i].res, 0);
	}
	ck_assert_uint_eq(s->core.inflight, 0);
	td_io_core_fini(&s->core);
	free(s);
}
END_TEST

/* ---- the fake backend used by component tests ---- */

START_TEST(test_fake_order)
{
	struct td_io *io = NULL;
	int fd = open_img(O_RDWR, false);
	unsigned char *w = xbuf(3 * BLK, 0), *r = xbuf(3 * BLK, 0xaa);
	struct iovec wv[3], rv = { r, 3 * BLK };
	struct cmd c[4];
	int i;

	ck_assert_int_eq(td_fake_io_create(&loop, &io), 0);
	ck_assert_str_eq(io->ops->name, "fake");
	pattern(w, 3 * BLK, 9);
	for (i = 0; i < 3; i++) {
		wv[i] = (struct iovec){ w + i * BLK, BLK };
		cmd_init(&c[i], TD_IO_WRITE, fd, &wv[i], 1, (off_t)i * BLK);
		submit(io, &c[i]);
	}
	/* Performed at once, but held. */
	ck_assert_int_eq(pread(fd, r, 3 * BLK, 0), 3 * BLK);
	ck_assert_int_eq(memcmp(r, w, 3 * BLK), 0);
	ck_assert_uint_eq(td_fake_io_pending(io), 3);
	ck_assert_uint_eq(io->ops->inflight(io), 3);
	ck_assert_ptr_eq(td_fake_io_peek(io, 1), &c[1].cb);
	ck_assert_ptr_null(td_fake_io_peek(io, 3));
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(c[0].calls + c[1].calls + c[2].calls, 0);

	/* Release the middle one: done runs from the loop, not before. */
	ck_assert_int_eq(td_fake_io_complete(io, 1), 0);
	ck_assert_int_eq(td_fake_io_complete(io, 2), -ENOENT);
	ck_assert_int_eq(c[1].calls, 0);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(c[1].calls, 1);
	ck_assert_int_eq(c[1].res, 0);
	ck_assert_uint_eq(td_fake_io_pending(io), 2);

	/* Reverse: c[2] then c[0]. */
	nfake = 0;
	ck_assert_uint_eq(td_fake_io_complete_reverse(io), 2);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(c[0].calls, 1);
	ck_assert_int_eq(c[2].calls, 1);
	ck_assert_int_lt(c[2].seq, c[0].seq);
	ck_assert_uint_eq(io->ops->inflight(io), 0);

	/* A failed command is not performed; a read spanning EOF zero-fills. */
	td_fake_io_fail_next(io, -EIO);
	cmd_init(&c[3], TD_IO_READ, fd, &rv, 1, 0);
	submit(io, &c[3]);
	cmd_init(&c[0], TD_IO_READ, fd, &rv, 1, 2 * BLK);
	memset(r, 0xaa, 3 * BLK);
	submit(io, &c[0]);
	ck_assert(all_bytes(r + BLK, 2 * BLK, 0));
	ck_assert_int_eq(memcmp(r, w + 2 * BLK, BLK), 0);
	ck_assert_uint_eq(td_fake_io_complete_all(io), 2);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(c[3].res, -EIO);
	ck_assert_int_eq(c[0].res, 0);
	ck_assert_int_lt(c[3].seq, c[0].seq);
	ck_assert_uint_eq(td_fake_io_pending(io), 0);
	td_io_destroy(io);
	close(fd);
	free(w);
	free(r);
}
END_TEST

START_TEST(test_fake_ops)
{
	struct td_io *io = NULL;
	int fd = open_img(O_RDWR, false);
	unsigned char *w = xbuf(4 * BLK, 0x77);
	struct iovec v = { w, 4 * BLK };
	struct cmd c[4];
	struct stat st;
	int i;

	ck_assert_int_eq(td_fake_io_ops.create(&loop, 1, &io), 0);
	cmd_init(&c[0], TD_IO_WRITE, fd, &v, 1, 0);
	cmd_init(&c[1], TD_IO_FLUSH, fd, NULL, 0, 0);
	cmd_init(&c[2], TD_IO_DISCARD, fd, NULL, 0, BLK);
	c[2].cb.len = 2 * BLK;
	cmd_init(&c[3], TD_IO_READ, fd, &v, 0, 0);
	for (i = 0; i < 4; i++)
		submit(io, &c[i]);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 4 * BLK);
	ck_assert_int_eq(lseek(fd, 0, SEEK_HOLE), BLK);
	ck_assert_uint_eq(td_fake_io_complete_all(io), 4);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(c[0].res, 0);
	ck_assert_int_eq(c[1].res, 0);
	ck_assert_int_eq(c[2].res, 0);
	ck_assert_int_eq(c[3].res, -EINVAL);
	td_io_destroy(io);
	close(fd);
	free(w);
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *be = tcase_create("backend");
	TCase *core = tcase_create("core");
	TCase *fake = tcase_create("fake");
	int n = 0;

	while (td_io_names[n])
		n++;
	tcase_add_checked_fixture(be, setup, teardown);
	tcase_add_loop_test(be, test_roundtrip, 0, n);
	tcase_add_loop_test(be, test_eof_zero_fill, 0, n);
	tcase_add_loop_test(be, test_short_read_real, 0, n);
	tcase_add_test(be, test_aio_inline_reap);
	tcase_add_loop_test(be, test_beyond_depth, 0, n);
	tcase_add_loop_test(be, test_flush, 0, n);
	tcase_add_loop_test(be, test_discard, 0, n);
	tcase_add_loop_test(be, test_errors, 0, n);
	tcase_add_loop_test(be, test_create_bad_depth, 0, n);
	suite_add_tcase(s, be);

	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, test_lookup);
	tcase_add_test(core, test_iov_helpers);
	tcase_add_test(core, test_core_short_read);
	tcase_add_test(core, test_core_short_write);
	tcase_add_test(core, test_core_eof_and_bogus);
	tcase_add_test(core, test_core_eagain);
	tcase_add_test(core, test_core_batches_submits);
	suite_add_tcase(s, core);

	tcase_add_checked_fixture(fake, setup, teardown);
	tcase_add_test(fake, test_fake_order);
	tcase_add_test(fake, test_fake_ops);
	suite_add_tcase(s, fake);
	return s;
}

int main(void)
{
	return td_check_run(io_suite());
}
