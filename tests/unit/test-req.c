/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of tapdisk/req.c: completion (exactly once, split completion
 * with the first error winning) and the iovec copy/zero/slice helpers,
 * compared byte for byte with a flat reference buffer.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include "req.h"
#include "image.h"
#include "td-check.h"

struct done_rec {
	int calls;
	int err;
};

static void rec_done(struct td_req *req, int err)
{
	struct done_rec *r = req->owner;

	r->calls++;
	r->err = err;
}

static void init_req(struct td_req *req, struct done_rec *r)
{
	memset(req, 0, sizeof(*req));
	memset(r, 0, sizeof(*r));
	req->done = rec_done;
	req->owner = r;
}

START_TEST(test_op_name)
{
	ck_assert_str_eq(td_op_name(TD_OP_READ), "read");
	ck_assert_str_eq(td_op_name(TD_OP_WRITE), "write");
	ck_assert_str_eq(td_op_name(TD_OP_FLUSH), "flush");
	ck_assert_str_eq(td_op_name(TD_OP_DISCARD), "discard");
	ck_assert_str_eq(td_op_name(TD_OP_WRITE_ZEROES), "write-zeroes");
	ck_assert_str_eq(td_op_name((enum td_op)77), "unknown");
}
END_TEST

START_TEST(test_complete_once)
{
	struct td_req req;
	struct done_rec r;
	struct td_image img;

	init_req(&req, &r);
	memset(&img, 0, sizeof(img));
	req.img = &img;
	td_req_complete(&req, -EIO);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, -EIO);
	ck_assert_ptr_null(req.img);
	ck_assert_uint_eq(img.st_errors, 1);

	/* Success is not an error; a reused request completes again. */
	init_req(&req, &r);
	req.img = &img;
	td_req_complete(&req, 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(img.st_errors, 1);
}
END_TEST

START_TEST(test_parts_first_error_wins)
{
	struct td_req req;
	struct done_rec r;

	init_req(&req, &r);
	td_req_part_begin(&req);
	td_req_part_begin(&req);
	td_req_part_begin(&req);
	ck_assert_uint_eq(req.pending, 3);
	td_req_part_end(&req, 0);
	td_req_part_end(&req, -EIO);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(req.err, -EIO);
	td_req_part_end(&req, -ENOSPC);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, -EIO);
}
END_TEST

START_TEST(test_parts_all_ok)
{
	struct td_req req;
	struct done_rec r;
	int i;

	init_req(&req, &r);
	/* The issuing loop holds one extra part. */
	td_req_part_begin(&req);
	for (i = 0; i < 5; i++) {
		td_req_part_begin(&req);
		td_req_part_end(&req, 0); /* an early completion */
		ck_assert_int_eq(r.calls, 0);
	}
	td_req_part_end(&req, 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, 0);
}
END_TEST

#ifndef NDEBUG
START_TEST(test_double_complete_asserts)
{
	struct td_req req;
	struct done_rec r;

	init_req(&req, &r);
	td_req_complete(&req, 0);
	ck_assert_int_eq(r.calls, 1);
	td_req_complete(&req, 0); /* must abort */
}
END_TEST

START_TEST(test_part_end_after_complete_asserts)
{
	struct td_req req;
	struct done_rec r;

	init_req(&req, &r);
	td_req_part_begin(&req);
	td_req_part_end(&req, 0);
	ck_assert_int_eq(r.calls, 1);
	td_req_part_end(&req, 0); /* must abort */
}
END_TEST

START_TEST(test_complete_with_parts_pending_asserts)
{
	struct td_req req;
	struct done_rec r;

	init_req(&req, &r);
	td_req_part_begin(&req);
	td_req_complete(&req, 0); /* must abort */
}
END_TEST
#endif

/*
 * A 64-byte buffer split unevenly, with empty entries, so every boundary
 * case (start/end inside, at, or across entries) is covered by iterating
 * over all (off, len).
 */
#define BUF_LEN 64
static const size_t piece_len[] = { 1, 7, 0, 13, 0, 32, 11 };
#define NPIECES ((int)(sizeof(piece_len) / sizeof(piece_len[0])))

struct split {
	unsigned char mem[BUF_LEN];
	struct iovec iov[NPIECES];
	struct td_req req;
};

static void split_init(struct split *s)
{
	size_t off = 0;
	int i;

	memset(&s->req, 0, sizeof(s->req));
	for (i = 0; i < BUF_LEN; i++)
		s->mem[i] = (unsigned char)(i + 1);
	for (i = 0; i < NPIECES; i++) {
		s->iov[i].iov_base = s->mem + off;
		s->iov[i].iov_len = piece_len[i];
		off += piece_len[i];
	}
	ck_assert_uint_eq(off, BUF_LEN);
	s->req.iov = s->iov;
	s->req.iovcnt = NPIECES;
}

START_TEST(test_copy_from_all_ranges)
{
	struct split s;
	unsigned char out[BUF_LEN + 1];
	size_t off, len;

	split_init(&s);
	for (off = 0; off <= BUF_LEN; off++) {
		for (len = 0; off + len <= BUF_LEN; len++) {
			memset(out, 0xee, sizeof(out));
			ck_assert_int_eq(td_req_copy_from(&s.req, off, out,
							  len), 0);
			ck_assert_mem_eq(out, s.mem + off, len);
			ck_assert_uint_eq(out[len], 0xee);
		}
	}
}
END_TEST

START_TEST(test_copy_to_all_ranges)
{
	struct split s;
	unsigned char src[BUF_LEN], ref[BUF_LEN];
	size_t off, len, i;

	for (i = 0; i < BUF_LEN; i++)
		src[i] = (unsigned char)(0x80 + i);
	for (off = 0; off <= BUF_LEN; off++) {
		for (len = 0; off + len <= BUF_LEN; len++) {
			split_init(&s);
			memcpy(ref, s.mem, BUF_LEN);
			memcpy(ref + off, src, len);
			ck_assert_int_eq(td_req_copy_to(&s.req, off, src, len),
					 0);
			ck_assert_mem_eq(s.mem, ref, BUF_LEN);
		}
	}
}
END_TEST

START_TEST(test_zero_all_ranges)
{
	struct split s;
	unsigned char ref[BUF_LEN];
	size_t off, len;

	for (off = 0; off <= BUF_LEN; off++) {
		for (len = 0; off + len <= BUF_LEN; len++) {
			split_init(&s);
			memcpy(ref, s.mem, BUF_LEN);
			memset(ref + off, 0, len);
			ck_assert_int_eq(td_req_zero(&s.req, off, len), 0);
			ck_assert_mem_eq(s.mem, ref, BUF_LEN);
		}
	}
}
END_TEST

START_TEST(test_slice_all_ranges)
{
	struct split s;
	struct iovec out[NPIECES];
	size_t off, len, got;
	int n, i;

	split_init(&s);
	for (off = 0; off <= BUF_LEN; off++) {
		for (len = 0; off + len <= BUF_LEN; len++) {
			n = td_req_slice_iov(&s.req, off, len, out, NPIECES);
			ck_assert_int_ge(n, 0);
			/* Contiguous pieces of the original, no empty ones. */
			got = 0;
			for (i = 0; i < n; i++) {
				ck_assert_uint_gt(out[i].iov_len, 0);
				ck_assert_ptr_eq(out[i].iov_base,
						 s.mem + off + got);
				got += out[i].iov_len;
			}
			ck_assert_uint_eq(got, len);
		}
	}
	/* [0, 64) crosses the five non-empty pieces. */
	ck_assert_int_eq(td_req_slice_iov(&s.req, 0, BUF_LEN, out, NPIECES), 5);
	ck_assert_int_eq(td_req_slice_iov(&s.req, 0, BUF_LEN, out, 4), -E2BIG);
	/* Starting exactly at a boundary skips the empty entries after it. */
	n = td_req_slice_iov(&s.req, 8, 13, out, NPIECES);
	ck_assert_int_eq(n, 1);
	ck_assert_ptr_eq(out[0].iov_base, s.mem + 8);
	ck_assert_uint_eq(out[0].iov_len, 13);
}
END_TEST

START_TEST(test_bad_ranges)
{
	struct split s;
	unsigned char buf[BUF_LEN * 2];
	struct iovec out[NPIECES];
	struct td_req empty;

	split_init(&s);
	memcpy(buf, s.mem, BUF_LEN);
	ck_assert_int_eq(td_req_copy_from(&s.req, 0, buf, BUF_LEN + 1),
			 -EINVAL);
	ck_assert_int_eq(td_req_copy_from(&s.req, BUF_LEN + 1, buf, 0),
			 -EINVAL);
	ck_assert_int_eq(td_req_copy_to(&s.req, 60, buf, 5), -EINVAL);
	ck_assert_int_eq(td_req_zero(&s.req, 1, BUF_LEN), -EINVAL);
	/* off + len wrapping around must not pass. */
	ck_assert_int_eq(td_req_copy_from(&s.req, 8, buf, UINT64_MAX - 4),
			 -EINVAL);
	ck_assert_int_eq(td_req_zero(&s.req, UINT64_MAX, 2), -EINVAL);
	ck_assert_int_eq(td_req_slice_iov(&s.req, 32, 33, out, NPIECES),
			 -EINVAL);
	ck_assert_int_eq(td_req_slice_iov(&s.req, 0, 1, out, -1), -EINVAL);
	/* Nothing was touched by the rejected calls. */
	ck_assert_mem_eq(buf, s.mem, BUF_LEN);

	/* A request with no buffer has only the empty range. */
	memset(&empty, 0, sizeof(empty));
	ck_assert_int_eq(td_req_copy_from(&empty, 0, buf, 0), 0);
	ck_assert_int_eq(td_req_copy_from(&empty, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(td_req_zero(&empty, 1, 0), -EINVAL);
	ck_assert_int_eq(td_req_slice_iov(&empty, 0, 0, out, NPIECES), 0);
}
END_TEST

START_TEST(test_req_bytes)
{
	struct td_req req;

	memset(&req, 0, sizeof(req));
	req.nr_sectors = 8;
	ck_assert_uint_eq(td_req_bytes(&req), 4096);
}
END_TEST

static Suite *req_suite(void)
{
	Suite *s = suite_create("req");
	TCase *tc = tcase_create("completion");

	tcase_add_test(tc, test_op_name);
	tcase_add_test(tc, test_complete_once);
	tcase_add_test(tc, test_parts_first_error_wins);
	tcase_add_test(tc, test_parts_all_ok);
#ifndef NDEBUG
	tcase_add_test_raise_signal(tc, test_double_complete_asserts, SIGABRT);
	tcase_add_test_raise_signal(tc, test_part_end_after_complete_asserts,
				    SIGABRT);
	tcase_add_test_raise_signal(tc,
				    test_complete_with_parts_pending_asserts,
				    SIGABRT);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("buffers");
	tcase_add_test(tc, test_copy_from_all_ranges);
	tcase_add_test(tc, test_copy_to_all_ranges);
	tcase_add_test(tc, test_zero_all_ranges);
	tcase_add_test(tc, test_slice_all_ranges);
	tcase_add_test(tc, test_bad_ranges);
	tcase_add_test(tc, test_req_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(req_suite());
}
