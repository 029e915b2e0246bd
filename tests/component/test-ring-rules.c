// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ring's rules against an untrusted frontend, with the real loop, VBD
 * and drivers in-process: every malformed request is answered with
 * BLKIF_RSP_ERROR or BLKIF_RSP_EOPNOTSUPP and the ring keeps serving
 * correct data; a producer index overrun breaks only that ring while
 * another VBD keeps serving; slot and buffer exhaustion stops consumption
 * without losing anything; completions out of order; pause and resume with
 * requests in flight.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fake-io.h"
#include "xport.h"
#include "ring-front.h"
#include "../unit/td-check.h"

#define DISK "ram:4M"
#define DISK_SECTORS (4u * 1024 * 1024 / 512)

static struct rt T;

static void setup_ram(void)
{
	rt_setup(&T, false);
}

static void setup_fake(void)
{
	rt_setup(&T, true);
}

static void teardown(void)
{
	rt_teardown(&T);
}

static const enum td_bf_abi abis[] = { TD_BF_ABI_NATIVE, TD_BF_ABI_X86_32,
				       TD_BF_ABI_X86_64 };

/* Checks the ring still serves: write and read back 8 sectors. */
static void still_serves(struct rf *f, unsigned q, uint32_t seed)
{
	uint8_t w[8 * 512], r[8 * 512];

	rf_pattern(w, sizeof(w), seed);
	ck_assert_int_eq(rf_write(&T, f, q, 64, w, 8), BLKIF_RSP_OKAY);
	ck_assert_int_eq(rf_read(&T, f, q, 64, r, 8), BLKIF_RSP_OKAY);
	ck_assert_mem_eq(w, r, sizeof(w));
}

static void one_seg(struct rf *f, struct td_bf_req *r, uint8_t op,
		    uint64_t sector, uint8_t first, uint8_t last)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->sector = sector;
	r->nr_segments = 1;
	r->seg[0].gref = rf_page_alloc(f);
	r->seg[0].first_sect = first;
	r->seg[0].last_sect = last;
}

static void expect(struct rf *f, struct td_bf_req *r, int16_t status,
		   const char *what)
{
	int16_t got = rf_do(&T, f, 0, r);

	ck_assert_msg(got == status, "%s: status %d, expected %d", what, got,
		      status);
	still_serves(f, 0, (uint32_t)r->id);
}

START_TEST(test_validation)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	struct td_blkif_config cfg = { .max_indirect = 32 };
	struct td_blkif_ring_stats st;
	struct td_bf_req r;
	struct rf f;

	rf_init(&f, abis[_i], 0, 1, false, 512);
	ck_assert_int_eq(rf_connect(&f, vbd, &cfg), 0);

	one_seg(&f, &r, BLKIF_OP_READ, 0, 0, 7);
	r.nr_segments = 0;
	expect(&f, &r, BLKIF_RSP_ERROR, "read with 0 segments");
	one_seg(&f, &r, BLKIF_OP_WRITE, 0, 0, 7);
	r.nr_segments = 0;
	expect(&f, &r, BLKIF_RSP_ERROR, "write with 0 segments");

	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 11 * 8, 8);
	r.nr_segments = 12; /* direct maximum is 11 */
	expect(&f, &r, BLKIF_RSP_ERROR, "12 direct segments");
	rf_build_rw(&f, &r, BLKIF_OP_READ, 0, NULL, 11 * 8, 8);
	r.nr_segments = 255;
	expect(&f, &r, BLKIF_RSP_ERROR, "255 direct segments");

	rf_build_rw(&f, &r, BLKIF_OP_READ, 0, NULL, 33 * 8, 8);
	ck_assert_int_eq(r.op, BLKIF_OP_INDIRECT);
	expect(&f, &r, BLKIF_RSP_ERROR, "33 indirect > negotiated 32");
	rf_build_rw(&f, &r, BLKIF_OP_READ, 0, NULL, 32 * 8, 8);
	expect(&f, &r, BLKIF_RSP_OKAY, "32 indirect segments");
	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 20 * 8, 8);
	r.nr_segments = 0;
	expect(&f, &r, BLKIF_RSP_ERROR, "indirect with 0 segments");
	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 20 * 8, 8);
	r.nr_segments = 4000; /* would need 8 indirect pages */
	expect(&f, &r, BLKIF_RSP_ERROR, "indirect with 4000 segments");
	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 20 * 8, 8);
	r.indirect_grefs[0] = f.npages + 5;
	expect(&f, &r, BLKIF_RSP_ERROR, "bad indirect page grant");
	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 20 * 8, 8);
	r.indirect_op = BLKIF_OP_DISCARD;
	expect(&f, &r, BLKIF_RSP_ERROR, "indirect_op not read/write");
	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 20 * 8, 8);
	((struct blkif_request_segment *)rf_page(&f, r.indirect_grefs[0]))[13]
		.last_sect = 9;
	expect(&f, &r, BLKIF_RSP_ERROR, "bad segment in an indirect page");

	one_seg(&f, &r, BLKIF_OP_READ, 0, 5, 4);
	expect(&f, &r, BLKIF_RSP_ERROR, "first_sect > last_sect");
	one_seg(&f, &r, BLKIF_OP_WRITE, 0, 0, 8);
	expect(&f, &r, BLKIF_RSP_ERROR, "last_sect 8");
	one_seg(&f, &r, BLKIF_OP_READ, 0, 200, 255);
	expect(&f, &r, BLKIF_RSP_ERROR, "sectors beyond the page");

	one_seg(&f, &r, BLKIF_OP_READ, DISK_SECTORS - 1, 0, 1);
	expect(&f, &r, BLKIF_RSP_ERROR, "read past the end");
	one_seg(&f, &r, BLKIF_OP_WRITE, DISK_SECTORS, 0, 0);
	expect(&f, &r, BLKIF_RSP_ERROR, "write at the end");
	one_seg(&f, &r, BLKIF_OP_WRITE, UINT64_MAX - 2, 0, 7);
	expect(&f, &r, BLKIF_RSP_ERROR, "sector wraps around");
	one_seg(&f, &r, BLKIF_OP_READ, DISK_SECTORS - 8, 0, 7);
	expect(&f, &r, BLKIF_RSP_OKAY, "last page of the disk");

	one_seg(&f, &r, BLKIF_OP_READ, 0, 0, 7);
	r.seg[0].gref = f.npages;
	expect(&f, &r, BLKIF_RSP_ERROR, "read into a bad grant");
	one_seg(&f, &r, BLKIF_OP_WRITE, 0, 0, 7);
	r.seg[0].gref = 0xffffffffu;
	expect(&f, &r, BLKIF_RSP_ERROR, "write from a bad grant");

	memset(&r, 0, sizeof(r));
	r.op = BLKIF_OP_RESERVED_1;
	expect(&f, &r, BLKIF_RSP_EOPNOTSUPP, "reserved op");
	r.op = 0x7f;
	expect(&f, &r, BLKIF_RSP_EOPNOTSUPP, "unknown op");

	memset(&r, 0, sizeof(r));
	r.op = BLKIF_OP_DISCARD;
	r.sector = 8;
	r.nr_sectors = 8;
	r.discard_flag = BLKIF_DISCARD_SECURE;
	expect(&f, &r, BLKIF_RSP_EOPNOTSUPP, "secure discard");
	r.discard_flag = 0;
	r.nr_sectors = DISK_SECTORS;
	expect(&f, &r, BLKIF_RSP_ERROR, "discard past the end");
	r.nr_sectors = 8;
	expect(&f, &r, BLKIF_RSP_OKAY, "discard");

	one_seg(&f, &r, BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 7);
	r.nr_segments = 12;
	expect(&f, &r, BLKIF_RSP_ERROR, "flush with 12 segments");

	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_eq(st.rsp_eopnotsupp, 3);
	ck_assert_uint_eq(st.rsp_error, 20);
	ck_assert(!st.broken);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

START_TEST(test_readonly)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, TD_OPEN_RDONLY);
	struct td_blkif_back adv;
	struct td_bf_req r;
	uint8_t buf[4096];
	struct rf f;

	td_blkif_advertise(vbd, NULL, &adv);
	ck_assert_uint_eq(adv.info & VDISK_READONLY, VDISK_READONLY);
	ck_assert_str_eq(adv.mode, "r");
	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	one_seg(&f, &r, BLKIF_OP_WRITE, 0, 0, 7);
	ck_assert_int_eq(rf_do(&T, &f, 0, &r), BLKIF_RSP_ERROR);
	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 20 * 8, 8);
	ck_assert_int_eq(rf_do(&T, &f, 0, &r), BLKIF_RSP_ERROR);
	one_seg(&f, &r, BLKIF_OP_WRITE_BARRIER, 0, 0, 7);
	ck_assert_int_eq(rf_do(&T, &f, 0, &r), BLKIF_RSP_ERROR);
	memset(&r, 0, sizeof(r));
	r.op = BLKIF_OP_DISCARD;
	r.nr_sectors = 8;
	/* Not offered on a read-only disk, or refused if it is. */
	ck_assert_int_eq(rf_do(&T, &f, 0, &r),
			 adv.feature_discard ? BLKIF_RSP_ERROR :
					       BLKIF_RSP_EOPNOTSUPP);
	/* Reads and flushes still work. */
	memset(&r, 0, sizeof(r));
	r.op = BLKIF_OP_FLUSH_DISKCACHE;
	ck_assert_int_eq(rf_do(&T, &f, 0, &r), BLKIF_RSP_OKAY);
	ck_assert_int_eq(rf_read(&T, &f, 0, 0, buf, 8), BLKIF_RSP_OKAY);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

START_TEST(test_no_indirect_offered)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	struct td_blkif_config cfg = { .no_indirect = true };
	struct td_bf_req r;
	struct rf f;

	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, &cfg), 0);
	ck_assert_uint_eq(
		td_blkif_advertised(f.b)->feature_max_indirect_segments, 0);
	rf_build_rw(&f, &r, BLKIF_OP_READ, 0, NULL, 12 * 8, 8);
	ck_assert_int_eq(rf_do(&T, &f, 0, &r), BLKIF_RSP_EOPNOTSUPP);
	still_serves(&f, 0, 1);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* A producer index beyond the ring breaks that ring only. */
START_TEST(test_overrun)
{
	struct td_vbd *v1 = rt_open(&T, 1, DISK, 0);
	struct td_vbd *v2 = rt_open(&T, 2, DISK, 0);
	struct td_blkif_ring_stats st;
	struct td_bf_req r;
	struct rf_rsp rsp;
	struct rf a, b;
	uint64_t one = 1;
	bool backwards = _i == 1;

	rf_init(&a, TD_BF_ABI_NATIVE, 0, 2, false, 64);
	rf_init(&b, TD_BF_ABI_NATIVE, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&a, v1, NULL), 0);
	ck_assert_int_eq(rf_connect(&b, v2, NULL), 0);
	still_serves(&a, 0, 1);
	still_serves(&b, 0, 2);
	if (backwards) {
		/* Two requests consumed, then the index goes back by one. */
		uint32_t prod = a.q[0].req_pvt;

		*(volatile uint32_t *)a.q[0].sring = prod - 1;
	} else {
		*(volatile uint32_t *)a.q[0].sring =
			a.q[0].req_pvt + a.q[0].size + 1;
	}
	ck_assert_int_eq(write(a.q[0].req_fd, &one, 8), 8);
	rt_spin(&T);
	ck_assert_int_eq(td_blkif_ring_stats(a.b, 0, &st), 0);
	ck_assert(st.broken);
	ck_assert_uint_eq(st.requests, 2);
	ck_assert_uint_eq(rf_reap(&a, 0, &rsp, 1), 0);
	/* A valid request on the broken ring is no longer consumed. */
	a.q[0].req_pvt = a.q[0].rsp_cons;
	one_seg(&a, &r, BLKIF_OP_READ, 0, 0, 7);
	rf_put(&a, 0, &r);
	a.always_notify = true;
	rf_push(&a, 0);
	rt_spin(&T);
	ck_assert_uint_eq(rf_reap(&a, 0, &rsp, 1), 0);
	ck_assert_int_eq(td_blkif_ring_stats(a.b, 0, &st), 0);
	ck_assert_uint_eq(st.requests, 2);
	/* The same connection's other ring and the other VBD serve on. */
	still_serves(&a, 1, 3);
	still_serves(&b, 0, 4);
	ck_assert_int_eq(td_blkif_ring_stats(b.b, 0, &st), 0);
	ck_assert(!st.broken);
	rf_fini(&a);
	rf_fini(&b);
	rt_close(&T, v1);
	rt_close(&T, v2);
}
END_TEST

static struct td_vbd *open_file(const char *name)
{
	const char *path = rt_file(&T, name, 1 << 20, 0);
	char spec[160];

	snprintf(spec, sizeof(spec), "aio:%s", path);
	return rt_open(&T, 1, spec, 0);
}

/* Out of slots: consumption stops, resumes on completion, loses nothing. */
START_TEST(test_backpressure_slots)
{
	struct td_vbd *vbd = open_file("s.img");
	struct td_blkif_config cfg = { .slots = 4 };
	struct td_blkif_ring_stats st;
	struct td_bf_req r;
	struct rf_rsp rsp[16];
	uint8_t buf[4096];
	unsigned n = 0;
	struct rf f;

	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, &cfg), 0);
	T.hold = true;
	for (unsigned i = 0; i < 10; i++) {
		rf_pattern(buf, sizeof(buf), 500 + i);
		rf_build_rw(&f, &r, BLKIF_OP_WRITE, i * 8, buf, 8, 8);
		r.id = i;
		rf_put(&f, 0, &r);
	}
	rf_push(&f, 0);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 4);
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_eq(st.requests, 4);
	ck_assert_uint_eq(st.inflight, 4);
	ck_assert_uint_gt(st.stalls, 0);
	/* One completion frees one slot: exactly one more is consumed. */
	ck_assert_int_eq(td_fake_io_complete(T.srv.io, 0), 0);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 4);
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_eq(st.requests, 5);
	T.hold = false;
	for (int i = 0; i < 100 && n < 10; i++) {
		rt_spin(&T);
		n += rf_reap(&f, 0, rsp + n, 16 - n);
	}
	ck_assert_uint_eq(n, 10);
	for (unsigned i = 0; i < 10; i++) {
		ck_assert_uint_eq(rsp[i].id, i);
		ck_assert_int_eq(rsp[i].status, BLKIF_RSP_OKAY);
	}
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_le(st.max_inflight, 4);
	for (unsigned i = 0; i < 10; i += 3) {
		uint8_t exp[4096];

		rf_pattern(exp, sizeof(exp), 500 + i);
		ck_assert_int_eq(rf_read(&T, &f, 0, i * 8, buf, 8), 0);
		ck_assert_mem_eq(buf, exp, sizeof(buf));
	}
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* Out of copy buffers: the request waits, nothing is lost. */
START_TEST(test_backpressure_buffers)
{
	struct td_vbd *vbd = open_file("bb.img");
	struct td_blkif_config cfg = { .no_indirect = true, .data_pages = 11 };
	struct td_bf_req r;
	struct rf_rsp rsp[4];
	unsigned n = 0;
	struct rf f;

	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, &cfg), 0);
	T.hold = true;
	for (unsigned i = 0; i < 3; i++) {
		rf_build_rw(&f, &r, BLKIF_OP_WRITE, i * 64, NULL, 64, 8);
		r.id = i;
		rf_put(&f, 0, &r);
	}
	rf_push(&f, 0);
	rt_spin(&T);
	/* 8 pages each, 11 in the pool: one at a time. */
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 1);
	td_fake_io_complete_all(T.srv.io);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 1);
	T.hold = false;
	for (int i = 0; i < 100 && n < 3; i++) {
		rt_spin(&T);
		n += rf_reap(&f, 0, rsp + n, 4 - n);
	}
	ck_assert_uint_eq(n, 3);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(rsp[i].status, BLKIF_RSP_OKAY);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

START_TEST(test_out_of_order)
{
	const char *path = rt_file(&T, "o.img", 1 << 20, 0x5a);
	struct td_bf_req r;
	struct rf_rsp rsp[8];
	uint8_t buf[4096], exp[4096];
	struct td_vbd *vbd;
	char spec[160];
	unsigned n;
	struct rf f;

	snprintf(spec, sizeof(spec), "aio:%s", path);
	vbd = rt_open(&T, 1, spec, 0);
	rf_init(&f, TD_BF_ABI_X86_32, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	T.hold = true;
	for (unsigned i = 0; i < 8; i++) {
		rf_pattern(buf, sizeof(buf), 700 + i);
		rf_build_rw(&f, &r, BLKIF_OP_WRITE, i * 8, buf, 8, 8);
		r.id = 100 + i;
		rf_put(&f, 0, &r);
	}
	rf_push(&f, 0);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 8);
	ck_assert_uint_eq(rf_reap(&f, 0, rsp, 8), 0);
	ck_assert_uint_eq(td_fake_io_complete_reverse(T.srv.io), 8);
	rt_spin(&T);
	n = rf_reap(&f, 0, rsp, 8);
	ck_assert_uint_eq(n, 8);
	for (unsigned i = 0; i < 8; i++) {
		ck_assert_uint_eq(rsp[i].id, 107 - i);
		ck_assert_int_eq(rsp[i].status, BLKIF_RSP_OKAY);
	}
	T.hold = false;
	for (unsigned i = 0; i < 8; i++) {
		rf_pattern(exp, sizeof(exp), 700 + i);
		ck_assert_int_eq(rf_read(&T, &f, 0, i * 8, buf, 8), 0);
		ck_assert_mem_eq(buf, exp, sizeof(buf));
	}
	/* An I/O error becomes BLKIF_RSP_ERROR for that request only. */
	td_fake_io_fail_next(T.srv.io, -EIO);
	ck_assert_int_eq(rf_read(&T, &f, 0, 0, buf, 8), BLKIF_RSP_ERROR);
	ck_assert_int_eq(rf_read(&T, &f, 0, 0, buf, 8), BLKIF_RSP_OKAY);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

static void paused_cb(struct td_vbd_waiter *w, int err)
{
	*(int *)w->arg = err ? err : 1;
}

START_TEST(test_pause_inflight)
{
	const char *path = rt_file(&T, "p.img", 1 << 20, 0);
	struct td_vbd_waiter w;
	struct td_bf_req r;
	struct rf_rsp rsp[8];
	uint8_t buf[4096], exp[4096];
	struct td_vbd *vbd;
	char spec[160], err[128];
	unsigned n = 0;
	int paused = 0;
	struct rf f;

	snprintf(spec, sizeof(spec), "aio:%s", path);
	vbd = rt_open(&T, 1, spec, 0);
	rf_init(&f, TD_BF_ABI_X86_64, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	T.hold = true;
	for (unsigned i = 0; i < 4; i++) {
		rf_pattern(buf, sizeof(buf), 900 + i);
		rf_build_rw(&f, &r, BLKIF_OP_WRITE, i * 8, buf, 8, 8);
		r.id = i;
		rf_put(&f, 0, &r);
	}
	rf_push(&f, 0);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 4);

	memset(&w, 0, sizeof(w));
	w.done = paused_cb;
	w.arg = &paused;
	ck_assert_int_eq(td_vbd_pause(vbd, &w), 0);
	/* Requests arriving while pausing are consumed and wait. */
	for (unsigned i = 4; i < 8; i++) {
		rf_pattern(buf, sizeof(buf), 900 + i);
		rf_build_rw(&f, &r, BLKIF_OP_WRITE, i * 8, buf, 8, 8);
		r.id = i;
		rf_put(&f, 0, &r);
	}
	rf_push(&f, 0);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 4);
	ck_assert_int_eq(paused, 0);
	td_fake_io_complete_all(T.srv.io);
	rt_spin(&T);
	ck_assert_int_eq(paused, 1);
	ck_assert_int_eq(vbd->state, TD_VBD_PAUSED);
	n = rf_reap(&f, 0, rsp, 8);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 0);

	ck_assert_int_eq(td_vbd_resume(vbd, NULL, err, sizeof(err)), 0);
	T.hold = false;
	for (int i = 0; i < 100 && n < 8; i++) {
		rt_spin(&T);
		n += rf_reap(&f, 0, rsp + n, 8 - n);
	}
	ck_assert_uint_eq(n, 8);
	for (unsigned i = 0; i < 8; i++) {
		ck_assert_uint_eq(rsp[i].id, i);
		ck_assert_int_eq(rsp[i].status, BLKIF_RSP_OKAY);
	}
	for (unsigned i = 0; i < 8; i++) {
		rf_pattern(exp, sizeof(exp), 900 + i);
		ck_assert_int_eq(rf_read(&T, &f, 0, i * 8, buf, 8), 0);
		ck_assert_mem_eq(buf, exp, sizeof(buf));
	}
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* Disconnecting with requests in flight frees everything afterwards. */
START_TEST(test_disconnect_inflight)
{
	const char *path = rt_file(&T, "x.img", 1 << 20, 0);
	struct td_bf_req r;
	struct td_vbd *vbd;
	char spec[160];
	struct rf f;

	snprintf(spec, sizeof(spec), "aio:%s", path);
	vbd = rt_open(&T, 1, spec, 0);
	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, true, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	T.hold = true;
	rf_build_rw(&f, &r, BLKIF_OP_WRITE, 0, NULL, 64, 8);
	rf_put(&f, 0, &r);
	rf_push(&f, 0);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 1);
	td_blkif_disconnect(f.b);
	f.b = NULL;
	ck_assert(td_list_empty(&vbd->frontends));
	T.hold = false;
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 0);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

static void gone_cb(void *arg)
{
	*(int *)arg += 1;
}

/*
 * Closing the VBD under a connected two-queue ring with requests in
 * flight: each ring unregisters, the requests answer, the connection
 * tells its owner and frees itself.
 */
START_TEST(test_vbd_close_connected)
{
	struct td_vbd *vbd = open_file("c.img");
	int fds[TD_SHM_MAX_FDS], req[2], rsp[2], gone = 0;
	struct td_xport *xp;
	struct td_bf_req r;
	struct rf_rsp out[2];
	char err[128];
	struct rf f;

	rf_init(&f, TD_BF_ABI_NATIVE, 0, 2, true, 64);
	rf_fds(&f, fds);
	for (unsigned q = 0; q < 2; q++) {
		req[q] = fds[TD_SHM_FD_REQ(q)];
		rsp[q] = fds[TD_SHM_FD_RSP(q)];
	}
	ck_assert_int_eq(td_xport_shm_create(fds[0], req, rsp, 2, &xp), 0);
	ck_assert_int_eq(td_blkif_connect(vbd, xp, &f.front, NULL, NULL,
					  gone_cb, &gone, &f.b, err,
					  sizeof(err)), 0);
	T.hold = true;
	for (unsigned q = 0; q < 2; q++) {
		rf_build_rw(&f, &r, BLKIF_OP_WRITE, q * 8, NULL, 8, 8);
		r.id = q;
		rf_put(&f, q, &r);
		rf_push(&f, q);
	}
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 2);
	T.hold = false;
	rt_close(&T, vbd);
	ck_assert_int_eq(gone, 1);
	f.b = NULL; /* gone: the connection freed itself */
	for (unsigned q = 0; q < 2; q++) {
		ck_assert_uint_eq(rf_reap(&f, q, out, 2), 1);
		ck_assert_int_eq(out[0].status, BLKIF_RSP_OKAY);
	}
	rf_fini(&f);
}
END_TEST

/*
 * A frontend shares the eventfds' open file descriptions and can clear
 * O_NONBLOCK on them: the backend's ack (read) and notify (write) must
 * still return at once, on an empty and on a saturated counter.
 */
START_TEST(test_eventfd_flags_hostile)
{
	int memfd = memfd_create("hostile", MFD_ALLOW_SEALING);
	int req = eventfd(0, 0), rsp = eventfd(0, 0);
	int fe_req = dup(req), fe_rsp = dup(rsp);
	uint64_t sat = 0xfffffffffffffffeull;
	struct td_xport *xp;

	ck_assert_int_ge(memfd, 0);
	ck_assert_int_eq(ftruncate(memfd, 4 * 4096), 0);
	ck_assert_int_eq(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	ck_assert_int_eq(td_xport_shm_create(memfd, &req, &rsp, 1, &xp), 0);
	ck_assert_int_eq(xp->ops->evtchn_bind(xp, 0, 0), 0);
	/* The frontend makes both descriptions blocking again. */
	ck_assert_int_eq(fcntl(fe_req, F_SETFL, 0), 0);
	ck_assert_int_eq(fcntl(fe_rsp, F_SETFL, 0), 0);
	alarm(10); /* a blocked call fails the test instead of hanging */
	ck_assert_int_eq(xp->ops->evtchn_ack(xp, 0), 0); /* empty counter */
	ck_assert_int_eq(write(fe_rsp, &sat, sizeof(sat)), sizeof(sat));
	ck_assert_int_eq(xp->ops->evtchn_notify(xp, 0), 0); /* saturated */
	alarm(0);
	xp->ops->evtchn_unbind(xp, 0);
	xp->ops->destroy(xp);
	close(fe_req);
	close(fe_rsp);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ring-rules");
	TCase *tc = tcase_create("ram");
	TCase *tf = tcase_create("fake-io");

	tcase_add_checked_fixture(tc, setup_ram, teardown);
	tcase_add_loop_test(tc, test_validation, 0, 3);
	tcase_add_test(tc, test_readonly);
	tcase_add_test(tc, test_no_indirect_offered);
	tcase_add_loop_test(tc, test_overrun, 0, 2);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tf, setup_fake, teardown);
	tcase_add_test(tf, test_backpressure_slots);
	tcase_add_test(tf, test_backpressure_buffers);
	tcase_add_test(tf, test_out_of_order);
	tcase_add_test(tf, test_pause_inflight);
	tcase_add_test(tf, test_disconnect_inflight);
	tcase_add_test(tf, test_vbd_close_connected);
	tcase_add_test(tf, test_eventfd_flags_hostile);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	return td_check_run(suite());
}
