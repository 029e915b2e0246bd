/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * VBD state machine: validation, pause/resume with requests in flight
 * (held by the fake I/O backend), unpause onto a new leaf, size change
 * refusal, close with and without force.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fake-io.h"
#include "server.h"
#include "vbd.h"
#include "td-check.h"

#define NREQ 8
#define BLK 4096

struct fix {
	struct td_server srv;
	char dir[64];
	char path[128], path2[128], path_small[128];
	char spec[160];
	struct td_req req[NREQ];
	struct iovec iov[NREQ];
	char *buf[NREQ];
	int done_count[NREQ];
	int done_err[NREQ];
	int order[NREQ * 4];
	int norder;
	bool in_submit;
	bool done_inside_submit;
};

static struct fix *F;

static void make_file(const char *path, size_t size, int fill)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	char *b = malloc(size);

	ck_assert_int_ge(fd, 0);
	memset(b, fill, size);
	ck_assert_int_eq(pwrite(fd, b, size, 0), (ssize_t)size);
	free(b);
	close(fd);
}

static void setup(void)
{
	F = calloc(1, sizeof(*F));
	snprintf(F->dir, sizeof(F->dir), "/tmp/test-vbd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(F->dir));
	snprintf(F->path, sizeof(F->path), "%s/a.img", F->dir);
	snprintf(F->path2, sizeof(F->path2), "%s/b.img", F->dir);
	snprintf(F->path_small, sizeof(F->path_small), "%s/c.img", F->dir);
	make_file(F->path, 1 << 20, 'a');
	make_file(F->path2, 1 << 20, 'b');
	make_file(F->path_small, 1 << 19, 'c');
	snprintf(F->spec, sizeof(F->spec), "aio:%s", F->path);

	/* A server without an RPC socket: only what the VBD layer uses. */
	td_list_init(&F->srv.vbds);
	td_list_init(&F->srv.images);
	F->srv.sigfd = -1;
	F->srv.pid = getpid();
	snprintf(F->srv.run_dir, sizeof(F->srv.run_dir), "%s", F->dir);
	ck_assert_int_eq(td_loop_init(&F->srv.loop, NULL, NULL), 0);
	ck_assert_int_eq(td_fake_io_create(&F->srv.loop, &F->srv.io), 0);
	for (int i = 0; i < NREQ; i++) {
		ck_assert_int_eq(posix_memalign((void **)&F->buf[i], 4096, BLK),
				 0);
	}
}

static void teardown(void)
{
	char cmd[128];

	td_io_destroy(F->srv.io);
	td_loop_fini(&F->srv.loop);
	for (int i = 0; i < NREQ; i++)
		free(F->buf[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", F->dir);
	ck_assert_int_eq(system(cmd), 0);
	free(F);
}

static void req_done(struct td_req *req, int err)
{
	int i = (int)(req - F->req);

	if (F->in_submit)
		F->done_inside_submit = true;
	F->done_count[i]++;
	F->done_err[i] = err;
	F->order[F->norder++] = i;
}

static void submit(struct td_vbd *vbd, int i, enum td_op op, uint64_t sector,
		   int fill)
{
	struct td_req *r = &F->req[i];

	memset(r, 0, sizeof(*r));
	memset(F->buf[i], fill, BLK);
	F->iov[i].iov_base = F->buf[i];
	F->iov[i].iov_len = BLK;
	r->op = op;
	r->sector = sector;
	r->nr_sectors = op == TD_OP_FLUSH ? 0 : BLK / 512;
	r->iov = op == TD_OP_FLUSH ? NULL : &F->iov[i];
	r->iovcnt = op == TD_OP_FLUSH ? 0 : 1;
	r->done = req_done;
	F->in_submit = true;
	td_vbd_submit(vbd, r);
	F->in_submit = false;
}

/* Runs the loop until nothing is left to dispatch right now. */
static void spin(void)
{
	for (int i = 0; i < 100; i++)
		if (td_loop_run_once(&F->srv.loop, 0) <= 0)
			break;
}

/* Releases every held I/O completion, then lets callbacks run. */
static void complete_io(void)
{
	for (int i = 0; i < 100 && td_fake_io_pending(F->srv.io); i++) {
		td_fake_io_complete_all(F->srv.io);
		spin();
	}
}

static struct td_vbd *open_vbd(int minor, unsigned flags)
{
	struct td_vbd *vbd;
	char err[256] = "";

	ck_assert_int_eq(td_vbd_create(&F->srv, minor, &vbd), 0);
	ck_assert_msg(td_vbd_open(vbd, F->spec, flags, NULL, err,
				  sizeof(err)) == 0, "open: %s", err);
	return vbd;
}

struct waiter {
	struct td_vbd_waiter w;
	int calls, err;
};

static void waiter_done(struct td_vbd_waiter *w, int err)
{
	struct waiter *x = (struct waiter *)w;

	x->calls++;
	x->err = err;
}

static void close_vbd(struct td_vbd *vbd)
{
	struct waiter w = { .w = { .done = waiter_done } };

	ck_assert_int_eq(td_vbd_close(vbd, false, &w.w), 0);
	complete_io();
	spin();
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(vbd->state, TD_VBD_ATTACHED);
	ck_assert_int_eq(td_vbd_destroy(vbd), 0);
}

START_TEST(attach_detach)
{
	struct td_vbd *a, *b;

	ck_assert_int_eq(td_vbd_create(&F->srv, 3, &a), 0);
	ck_assert_int_eq(td_vbd_create(&F->srv, 3, &b), -EEXIST);
	ck_assert_int_eq(td_vbd_create(&F->srv, -1, &b), -EINVAL);
	ck_assert_ptr_eq(td_vbd_find(&F->srv, 3), a);
	ck_assert_ptr_null(td_vbd_find(&F->srv, 4));
	ck_assert_int_eq(a->state, TD_VBD_ATTACHED);
	ck_assert_int_eq(td_vbd_destroy(a), 0);
	ck_assert_ptr_null(td_vbd_find(&F->srv, 3));
}
END_TEST

START_TEST(open_errors)
{
	struct td_vbd *vbd;
	char err[256] = "";

	ck_assert_int_eq(td_vbd_create(&F->srv, 1, &vbd), 0);
	ck_assert_int_eq(td_vbd_open(vbd, "aio:/nonexistent/x", 0, NULL, err,
				     sizeof(err)), -ENOENT);
	ck_assert_int_eq(td_vbd_open(vbd, "bogus:/x", 0, NULL, err,
				     sizeof(err)) < 0, 1);
	ck_assert_int_eq(vbd->state, TD_VBD_ATTACHED);
	ck_assert_int_eq(td_vbd_open(vbd, F->spec, 0, NULL, err, sizeof(err)),
			 0);
	ck_assert_int_eq(td_vbd_open(vbd, F->spec, 0, NULL, err, sizeof(err)),
			 -EBUSY);
	ck_assert_msg(strstr(err, "already") != NULL, "%s", err);
	ck_assert_int_eq(td_vbd_destroy(vbd), -EBUSY);
	close_vbd(vbd);
}
END_TEST

START_TEST(read_write)
{
	struct td_vbd *vbd = open_vbd(0, 0);

	submit(vbd, 0, TD_OP_WRITE, 8, 'x');
	complete_io();
	ck_assert_int_eq(F->done_count[0], 1);
	ck_assert_int_eq(F->done_err[0], 0);
	submit(vbd, 1, TD_OP_READ, 8, 0);
	complete_io();
	ck_assert_int_eq(F->done_err[1], 0);
	ck_assert_int_eq(F->buf[1][0], 'x');
	ck_assert_int_eq(F->buf[1][BLK - 1], 'x');
	submit(vbd, 2, TD_OP_READ, 0, 0);
	complete_io();
	ck_assert_int_eq(F->buf[2][0], 'a');
	submit(vbd, 3, TD_OP_FLUSH, 0, 0);
	complete_io();
	ck_assert_int_eq(F->done_err[3], 0);
	ck_assert_int_eq(vbd->stats.sectors_written, BLK / 512);
	ck_assert_int_eq(vbd->stats.sectors_read, 2 * BLK / 512);
	ck_assert(!F->done_inside_submit);
	close_vbd(vbd);
}
END_TEST

START_TEST(validation)
{
	struct td_vbd *ro = open_vbd(0, TD_OPEN_RDONLY);
	uint64_t end = ro->size_sectors;

	submit(ro, 0, TD_OP_WRITE, 0, 'w');
	submit(ro, 1, TD_OP_READ, end - 4, 0);       /* crosses the end */
	submit(ro, 2, TD_OP_READ, end, 0);           /* starts at the end */
	submit(ro, 3, TD_OP_READ, UINT64_MAX - 2, 0); /* overflow */
	F->req[4].op = (enum td_op)42;
	submit(ro, 4, (enum td_op)42, 0, 0);
	submit(ro, 5, TD_OP_DISCARD, 0, 0);
	/* iov shorter than the sector range */
	memset(&F->req[6], 0, sizeof(F->req[6]));
	F->iov[6].iov_base = F->buf[6];
	F->iov[6].iov_len = 512;
	F->req[6] = (struct td_req){ .op = TD_OP_READ, .sector = 0,
				     .nr_sectors = 8, .iov = &F->iov[6],
				     .iovcnt = 1, .done = req_done };
	F->in_submit = true;
	td_vbd_submit(ro, &F->req[6]);
	F->in_submit = false;
	ck_assert_int_eq(F->norder, 0); /* nothing completed inline */
	spin();
	ck_assert_int_eq(F->done_err[0], -EROFS);
	ck_assert_int_eq(F->done_err[1], -ENOSPC);
	ck_assert_int_eq(F->done_err[2], -ENOSPC);
	ck_assert_int_eq(F->done_err[3], -ENOSPC);
	ck_assert_int_eq(F->done_err[4], -EOPNOTSUPP);
	ck_assert_int_eq(F->done_err[5], -EROFS);
	ck_assert_int_eq(F->done_err[6], -EINVAL);
	for (int i = 0; i < 7; i++)
		ck_assert_int_eq(F->done_count[i], 1);
	ck_assert(!F->done_inside_submit);
	/* The VBD still serves after rejecting all of that. */
	submit(ro, 7, TD_OP_READ, 0, 0);
	complete_io();
	ck_assert_int_eq(F->done_err[7], 0);
	ck_assert_int_eq(F->buf[7][100], 'a');
	close_vbd(ro);
}
END_TEST

START_TEST(pause_with_inflight)
{
	struct td_vbd *vbd = open_vbd(0, 0);
	struct waiter w = { .w = { .done = waiter_done } };
	char err[256] = "";

	submit(vbd, 0, TD_OP_WRITE, 0, '1');
	submit(vbd, 1, TD_OP_WRITE, 8, '2');
	spin();
	ck_assert_int_eq(vbd->inflight, 2);
	ck_assert_int_eq(td_vbd_pause(vbd, &w.w), 0);
	ck_assert_int_eq(vbd->state, TD_VBD_PAUSING);
	spin();
	ck_assert_int_eq(w.calls, 0); /* still draining */

	/* Arrives while pausing: waits, is not lost and not failed. */
	submit(vbd, 2, TD_OP_WRITE, 16, '3');
	spin();
	ck_assert_int_eq(F->done_count[2], 0);

	complete_io();
	ck_assert_int_eq(F->done_count[0], 1);
	ck_assert_int_eq(F->done_count[1], 1);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(w.err, 0);
	ck_assert_int_eq(vbd->state, TD_VBD_PAUSED);
	ck_assert_ptr_null(vbd->leaf);

	/* Arrives while paused: waits too. */
	submit(vbd, 3, TD_OP_READ, 0, 0);
	spin();
	ck_assert_int_eq(F->done_count[2] + F->done_count[3], 0);
	ck_assert_int_eq(vbd->stats.queued_while_paused, 2);

	/* Pausing again when paused answers at once (deferred). */
	w.calls = 0;
	ck_assert_int_eq(td_vbd_pause(vbd, &w.w), 0);
	spin();
	ck_assert_int_eq(w.calls, 1);

	ck_assert_int_eq(td_vbd_resume(vbd, NULL, err, sizeof(err)), 0);
	complete_io();
	ck_assert_int_eq(F->done_count[2], 1);
	ck_assert_int_eq(F->done_err[2], 0);
	ck_assert_int_eq(F->done_count[3], 1);
	ck_assert_int_eq(F->buf[3][0], '1');
	/* Waiting requests ran in submission order. */
	ck_assert_int_eq(F->order[2], 2);
	ck_assert_int_eq(F->order[3], 3);
	close_vbd(vbd);
}
END_TEST

START_TEST(unpause_new_leaf_and_size_change)
{
	struct td_vbd *vbd = open_vbd(0, 0);
	struct waiter w = { .w = { .done = waiter_done } };
	char err[256] = "", spec[160];

	ck_assert_int_eq(td_vbd_pause(vbd, &w.w), 0);
	spin();
	ck_assert_int_eq(vbd->state, TD_VBD_PAUSED);

	snprintf(spec, sizeof(spec), "aio:%s", F->path_small);
	ck_assert_int_eq(td_vbd_resume(vbd, spec, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "size") != NULL, "%s", err);
	ck_assert_int_eq(vbd->state, TD_VBD_PAUSED);

	ck_assert_int_eq(td_vbd_resume(vbd, "aio:/nonexistent", err,
				       sizeof(err)), -ENOENT);
	ck_assert_int_eq(vbd->state, TD_VBD_PAUSED);

	snprintf(spec, sizeof(spec), "aio:%s", F->path2);
	ck_assert_int_eq(td_vbd_resume(vbd, spec, err, sizeof(err)), 0);
	ck_assert_str_eq(vbd->spec, spec);
	submit(vbd, 0, TD_OP_READ, 0, 0);
	complete_io();
	ck_assert_int_eq(F->buf[0][0], 'b');

	/* Resume of a VBD that is not paused is refused. */
	ck_assert_int_eq(td_vbd_resume(vbd, NULL, err, sizeof(err)), -EINVAL);
	close_vbd(vbd);
}
END_TEST

START_TEST(close_paused_fails_waiting)
{
	struct td_vbd *vbd = open_vbd(0, 0);
	struct waiter w = { .w = { .done = waiter_done } };
	struct waiter c = { .w = { .done = waiter_done } };

	ck_assert_int_eq(td_vbd_pause(vbd, &w.w), 0);
	spin();
	submit(vbd, 0, TD_OP_WRITE, 0, 'z');
	ck_assert_int_eq(td_vbd_close(vbd, false, &c.w), 0);
	spin();
	ck_assert_int_eq(F->done_count[0], 1);
	ck_assert_int_eq(F->done_err[0], -EIO);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(vbd->state, TD_VBD_ATTACHED);
	/* After close, submissions fail rather than vanish. */
	submit(vbd, 1, TD_OP_READ, 0, 0);
	spin();
	ck_assert_int_eq(F->done_err[1], -EIO);
	ck_assert_int_eq(td_vbd_destroy(vbd), 0);
}
END_TEST

START_TEST(close_drains_inflight)
{
	struct td_vbd *vbd = open_vbd(0, 0);
	struct waiter c = { .w = { .done = waiter_done } };
	struct waiter p = { .w = { .done = waiter_done } };

	submit(vbd, 0, TD_OP_WRITE, 0, 'q');
	spin();
	ck_assert_int_eq(td_vbd_close(vbd, true, &c.w), 0);
	ck_assert_int_eq(vbd->state, TD_VBD_CLOSING);
	ck_assert_int_eq(td_vbd_pause(vbd, &p.w), -EBUSY);
	spin();
	ck_assert_int_eq(c.calls, 0);
	complete_io();
	ck_assert_int_eq(F->done_err[0], 0); /* in flight: completed, not lost */
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(vbd->state, TD_VBD_ATTACHED);
	ck_assert_int_eq(td_vbd_destroy(vbd), 0);
}
END_TEST

START_TEST(pause_cancel_waiter)
{
	struct td_vbd *vbd = open_vbd(0, 0);
	struct waiter w = { .w = { .done = waiter_done } };
	struct waiter w2 = { .w = { .done = waiter_done } };
	char err[256];

	submit(vbd, 0, TD_OP_WRITE, 0, 'q');
	spin();
	ck_assert_int_eq(td_vbd_pause(vbd, &w.w), 0);
	td_vbd_waiter_cancel(&w.w);
	ck_assert_int_eq(td_vbd_pause(vbd, &w2.w), 0);
	ck_assert_int_eq(td_vbd_resume(vbd, NULL, err, sizeof(err)), -EBUSY);
	complete_io();
	ck_assert_int_eq(w.calls, 0);
	ck_assert_int_eq(w2.calls, 1);
	ck_assert_int_eq(td_vbd_resume(vbd, NULL, err, sizeof(err)), 0);
	close_vbd(vbd);
}
END_TEST

/* A close waiter that frees the VBD, as server shutdown does. */
static void destroy_on_close(struct td_vbd_waiter *w, int err)
{
	struct td_vbd *vbd = w->arg;

	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(td_vbd_destroy(vbd), 0);
}

START_TEST(waiter_destroys_vbd)
{
	struct td_vbd *vbd = open_vbd(0, 0);
	struct td_vbd_waiter first = { .done = destroy_on_close, .arg = vbd };
	struct waiter second = { .w = { .done = waiter_done } };

	submit(vbd, 0, TD_OP_WRITE, 0, 'q');
	spin();
	ck_assert_int_eq(td_vbd_close(vbd, false, &first), 0);
	ck_assert_int_eq(td_vbd_close(vbd, false, &second.w), 0);
	complete_io();
	/* The second waiter still ran, after the VBD was freed. */
	ck_assert_int_eq(second.calls, 1);
	ck_assert_ptr_null(td_vbd_find(&F->srv, 0));
	ck_assert_int_eq(F->done_count[0], 1);
}
END_TEST

static Suite *vbd_suite(void)
{
	Suite *s = suite_create("vbd");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, attach_detach);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, read_write);
	tcase_add_test(tc, validation);
	tcase_add_test(tc, pause_with_inflight);
	tcase_add_test(tc, unpause_new_leaf_and_size_change);
	tcase_add_test(tc, close_paused_fails_waiting);
	tcase_add_test(tc, close_drains_inflight);
	tcase_add_test(tc, pause_cancel_waiter);
	tcase_add_test(tc, waiter_destroys_vbd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(vbd_suite());
}
