// SPDX-License-Identifier: GPL-2.0-only
/*
 * Ring features through the shm transport, with the real loop, VBD and
 * drivers in-process: read/write across segment and page boundaries in
 * each ABI, flush, discard, indirect, multi-page rings, multi-queue,
 * persistent grants (with LRU eviction), flush durability and barrier
 * ordering (fake I/O holding completions), and the shm socket protocol.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "fake-io.h"
#include "xport.h"
#include "ring-front.h"
#include "../unit/td-check.h"

#define DISK "ram:16M"
#define DISK_SECTORS (16u * 1024 * 1024 / 512)

static struct rt T;

static void setup_ram(void)
{
	rt_setup(&T, false);
}

static void setup_fake(void)
{
	rt_setup(&T, true);
}

/*
 * The same with the loop polling (as tapdisk runs by default): the ring
 * then asks for no notifications while busy and must still see every
 * request, through the poll pass of each iteration.
 */
static void setup_ram_poll(void)
{
	rt_setup(&T, false);
	td_loop_set_poll(&T.srv.loop, 50 * 1000);
}

static void setup_fake_poll(void)
{
	rt_setup(&T, true);
	td_loop_set_poll(&T.srv.loop, 50 * 1000);
}

static void teardown(void)
{
	rt_teardown(&T);
}

static const enum td_bf_abi abis[] = { TD_BF_ABI_NATIVE, TD_BF_ABI_X86_32,
				       TD_BF_ABI_X86_64 };

/* Write then read back @nsect sectors at @sector and compare. */
static void roundtrip(struct rf *f, unsigned q, uint64_t sector,
		      unsigned nsect, uint32_t seed)
{
	uint8_t *w = malloc(nsect * 512), *r = malloc(nsect * 512);

	rf_pattern(w, nsect * 512, seed);
	ck_assert_int_eq(rf_write(&T, f, q, sector, w, nsect), BLKIF_RSP_OKAY);
	memset(r, 0, nsect * 512);
	ck_assert_int_eq(rf_read(&T, f, q, sector, r, nsect), BLKIF_RSP_OKAY);
	ck_assert_msg(memcmp(w, r, nsect * 512) == 0,
		      "data mismatch at sector %llu",
		      (unsigned long long)sector);
	free(w);
	free(r);
}

START_TEST(test_abi_rw)
{
	enum td_bf_abi abi = abis[_i];
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	uint8_t w[4 * 512], r[4 * 512];
	struct td_bf_req req;
	struct rf f;

	rf_init(&f, abi, 0, 1, false, 512);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	/* One page, several pages, the whole 11-segment direct maximum. */
	roundtrip(&f, 0, 0, 1, 1);
	roundtrip(&f, 0, 7, 9, 2);
	roundtrip(&f, 0, 100, 88, 3);
	roundtrip(&f, 0, DISK_SECTORS - 8, 8, 4);

	/* Segments inside pages: sectors 3..4 then 0..1 of the next page. */
	rf_pattern(w, sizeof(w), 5);
	memset(&req, 0, sizeof(req));
	req.op = BLKIF_OP_WRITE;
	req.sector = 2000;
	req.nr_segments = 2;
	req.seg[0].gref = rf_page_alloc(&f);
	req.seg[0].first_sect = 3;
	req.seg[0].last_sect = 4;
	req.seg[1].gref = rf_page_alloc(&f);
	req.seg[1].first_sect = 0;
	req.seg[1].last_sect = 1;
	memcpy(rf_page(&f, req.seg[0].gref) + 3 * 512, w, 1024);
	memcpy(rf_page(&f, req.seg[1].gref), w + 1024, 1024);
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
	ck_assert_int_eq(rf_read(&T, &f, 0, 2000, r, 4), BLKIF_RSP_OKAY);
	ck_assert_mem_eq(w, r, sizeof(w));

	/* FLUSH with no segments, and the response echoes the op. */
	memset(&req, 0, sizeof(req));
	req.op = BLKIF_OP_FLUSH_DISKCACHE;
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
	/* Linux's blkfront sends a data-less flush at sector (sector_t)-1. */
	memset(&req, 0, sizeof(req));
	req.op = BLKIF_OP_FLUSH_DISKCACHE;
	req.sector = UINT64_MAX;
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);

	/* DISCARD zeroes on ram. */
	memset(&req, 0, sizeof(req));
	req.op = BLKIF_OP_DISCARD;
	req.sector = 96;
	req.nr_sectors = 24;
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
	{
		uint8_t z[24 * 512], zero[24 * 512];

		memset(zero, 0, sizeof(zero));
		ck_assert_int_eq(rf_read(&T, &f, 0, 96, z, 24), BLKIF_RSP_OKAY);
		ck_assert_mem_eq(z, zero, sizeof(z));
	}
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* Responses carry the request's id and operation (indirect: inner op). */
START_TEST(test_response_fields)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	struct td_bf_req req;
	struct rf_rsp rsp[4];
	struct rf f;
	unsigned n = 0;

	rf_init(&f, abis[_i], 0, 1, false, 512);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	rf_build_rw(&f, &req, BLKIF_OP_WRITE, 0, NULL, 8, 8);
	req.id = 0x1122334455667788ull;
	rf_put(&f, 0, &req);
	rf_build_rw(&f, &req, BLKIF_OP_READ, 0, NULL, 200, 8); /* indirect */
	ck_assert_int_eq(req.op, BLKIF_OP_INDIRECT);
	req.id = 0xfedcba9876543210ull;
	rf_put(&f, 0, &req);
	rf_push(&f, 0);
	for (int i = 0; i < 500 && n < 2; i++) {
		rt_spin(&T);
		n += rf_reap(&f, 0, rsp + n, 2 - n);
		td_loop_run_once(&T.srv.loop, TD_NS_PER_MS);
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(rsp[0].id, 0x1122334455667788ull);
	ck_assert_uint_eq(rsp[0].op, BLKIF_OP_WRITE);
	ck_assert_int_eq(rsp[0].status, BLKIF_RSP_OKAY);
	ck_assert_uint_eq(rsp[1].id, 0xfedcba9876543210ull);
	ck_assert_uint_eq(rsp[1].op, BLKIF_OP_READ);
	ck_assert_int_eq(rsp[1].status, BLKIF_RSP_OKAY);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

START_TEST(test_indirect)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	struct rf f;

	rf_init(&f, abis[_i], 0, 1, false, 2048);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	ck_assert_uint_eq(
		td_blkif_advertised(f.b)->feature_max_indirect_segments, 256);
	roundtrip(&f, 0, 0, 12 * 8, 10);       /* 12 segments */
	roundtrip(&f, 0, 5000, 256 * 8, 11);   /* 256 segments, 1 MiB */
	roundtrip(&f, 0, 9001, 100 * 8 - 3, 12);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* Order-4 ring (16 pages, refs in reverse order), filled to capacity. */
START_TEST(test_multipage_full_ring)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	unsigned order = (unsigned)_i, size, n = 0;
	struct td_bf_req req;
	struct rf_rsp *rsp;
	struct rf f;
	uint8_t buf[512];

	rf_init(&f, TD_BF_ABI_NATIVE, order, 1, false, 1024);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	size = f.q[0].size;
	ck_assert_uint_eq(size, 32u << order);
	rsp = calloc(size, sizeof(*rsp));
	for (unsigned i = 0; i < size; i++) {
		rf_pattern(buf, sizeof(buf), 100 + i);
		rf_build_rw(&f, &req, BLKIF_OP_WRITE, i, buf, 1, 8);
		req.id = i;
		rf_put(&f, 0, &req);
	}
	rf_push(&f, 0);
	for (int i = 0; i < 2000 && n < size; i++) {
		rt_spin(&T);
		n += rf_reap(&f, 0, rsp + n, size - n);
		td_loop_run_once(&T.srv.loop, TD_NS_PER_MS);
	}
	ck_assert_uint_eq(n, size);
	for (unsigned i = 0; i < size; i++)
		ck_assert_int_eq(rsp[i].status, BLKIF_RSP_OKAY);
	for (unsigned i = 0; i < size; i += 37) {
		uint8_t exp[512];

		rf_pattern(exp, sizeof(exp), 100 + i);
		ck_assert_int_eq(rf_read(&T, &f, 0, i, buf, 1), BLKIF_RSP_OKAY);
		ck_assert_mem_eq(buf, exp, 512);
	}
	free(rsp);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

START_TEST(test_multiqueue)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	struct td_blkif_ring_stats st;
	struct rf f;

	rf_init(&f, TD_BF_ABI_NATIVE, 1, 4, false, 1024);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	ck_assert_uint_eq(td_blkif_nr_rings(f.b), 4);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned q = 0; q < 4; q++)
			roundtrip(&f, q, q * 1000 + round * 16, 16,
				  q * 10 + round);
	/* Data written on one queue is read on another. */
	{
		uint8_t w[8 * 512], r[8 * 512];

		rf_pattern(w, sizeof(w), 77);
		ck_assert_int_eq(rf_write(&T, &f, 3, 7777, w, 8), 0);
		ck_assert_int_eq(rf_read(&T, &f, 0, 7777, r, 8), 0);
		ck_assert_mem_eq(w, r, sizeof(w));
	}
	for (unsigned q = 0; q < 4; q++) {
		ck_assert_int_eq(td_blkif_ring_stats(f.b, q, &st), 0);
		ck_assert_uint_ge(st.requests, 6);
		ck_assert_uint_eq(st.rsp_error, 0);
	}
	/* Asking for more queues than advertised is refused. */
	{
		struct rf g;

		rf_init(&g, TD_BF_ABI_NATIVE, 0, 5, false, 16);
		ck_assert_int_eq(rf_connect(&g, vbd, NULL), -EINVAL);
		rf_fini(&g);
		rf_init(&g, TD_BF_ABI_NATIVE, 0, 1, false, 16);
		g.front.ring_page_order = 5;
		ck_assert_int_eq(rf_connect(&g, vbd, NULL), -EINVAL);
		rf_fini(&g);
	}
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

START_TEST(test_persistent_lru)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	struct td_blkif_config cfg = { .pgrants = 8 };
	struct td_blkif_ring_stats st;
	struct td_bf_req req;
	uint8_t buf[8 * 512], back[8 * 512];
	uint32_t grefs[16];
	struct rf f;

	rf_init(&f, TD_BF_ABI_X86_64, 0, 1, true, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, &cfg), 0);
	ck_assert(td_blkif_persistent(f.b));
	/* Single-page writes on 12 distinct grants: 8 fit, 4 evict. */
	for (unsigned i = 0; i < 12; i++) {
		rf_pattern(buf, 4096, 300 + i);
		rf_build_rw(&f, &req, BLKIF_OP_WRITE, i * 8, buf, 8, 8);
		grefs[i] = req.seg[0].gref;
		ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
	}
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_eq(st.pg_maps, 12);
	ck_assert_uint_eq(st.pg_evictions, 4);
	ck_assert_uint_eq(st.pg_mapped, 8);
	ck_assert_uint_eq(st.pg_hits, 0);
	/* The 8 most recent (grefs[4..11]) are still mapped: hits. */
	for (unsigned i = 4; i < 12; i++) {
		memset(&req, 0, sizeof(req));
		req.op = BLKIF_OP_READ;
		req.sector = i * 8;
		req.nr_segments = 1;
		req.seg[0].gref = grefs[i];
		req.seg[0].last_sect = 7;
		memset(rf_page(&f, grefs[i]), 0, 4096);
		ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
		rf_pattern(buf, 4096, 300 + i);
		ck_assert_mem_eq(rf_page(&f, grefs[i]), buf, 4096);
	}
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_eq(st.pg_hits, 8);
	ck_assert_uint_eq(st.pg_evictions, 4);
	/* grefs[0] was evicted: using it again maps it, evicting the LRU. */
	memset(&req, 0, sizeof(req));
	req.op = BLKIF_OP_READ;
	req.nr_segments = 1;
	req.seg[0].gref = grefs[0];
	req.seg[0].last_sect = 7;
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
	rf_pattern(buf, 4096, 300);
	ck_assert_mem_eq(rf_page(&f, grefs[0]), buf, 4096);
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_eq(st.pg_maps, 13);
	ck_assert_uint_eq(st.pg_evictions, 5);
	ck_assert_uint_eq(st.pg_mapped, 8);
	/* A request with more grants than the pool still works, by copy. */
	rf_pattern(back, sizeof(back), 9);
	roundtrip(&f, 0, 4096, 11 * 8, 55);
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_gt(st.pg_fallbacks, 0);
	ck_assert_uint_le(st.pg_mapped, 8);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* Persistent rings map indirect pages through the pool, too. */
START_TEST(test_persistent_indirect)
{
	struct td_vbd *vbd = rt_open(&T, 1, DISK, 0);
	struct td_blkif_ring_stats st;
	struct td_bf_req req;
	uint8_t w[12 * 4096], r[12 * 4096];
	struct rf f;

	rf_init(&f, TD_BF_ABI_X86_64, 0, 1, true, 256);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	rf_pattern(w, sizeof(w), 77);
	ck_assert_uint_eq(rf_build_rw(&f, &req, BLKIF_OP_WRITE, 64, w, 96, 8),
			  12);
	ck_assert_int_eq(req.op, BLKIF_OP_INDIRECT);
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	/* 12 data pages and the indirect page, all mapped, none copied. */
	ck_assert_uint_eq(st.pg_maps, 13);
	ck_assert_uint_eq(st.pg_hits, 0);
	ck_assert_uint_eq(st.pg_fallbacks, 0);
	/* The same grants again: all hits. */
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_OKAY);
	ck_assert_int_eq(td_blkif_ring_stats(f.b, 0, &st), 0);
	ck_assert_uint_eq(st.pg_maps, 13);
	ck_assert_uint_eq(st.pg_hits, 13);
	memset(r, 0, sizeof(r));
	ck_assert_int_eq(rf_read(&T, &f, 0, 64, r, 96), BLKIF_RSP_OKAY);
	ck_assert_mem_eq(r, w, sizeof(w));
	/* An indirect page that cannot be mapped fails only its request. */
	rf_build_rw(&f, &req, BLKIF_OP_WRITE, 0, w, 96, 8);
	req.indirect_grefs[0] = f.npages + 5;
	ck_assert_int_eq(rf_do(&T, &f, 0, &req), BLKIF_RSP_ERROR);
	roundtrip(&f, 0, 0, 96, 78);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* Flush answers only once the backend's flush completed. */
START_TEST(test_flush_durable)
{
	const char *path = rt_file(&T, "d.img", 1 << 20, 0);
	char spec[160];
	struct td_vbd *vbd;
	struct td_bf_req req;
	struct rf_rsp rsp;
	struct td_iocb *cb;
	struct rf f;

	snprintf(spec, sizeof(spec), "aio:%s", path);
	vbd = rt_open(&T, 1, spec, 0);
	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	roundtrip(&f, 0, 8, 8, 1);

	T.hold = true;
	memset(&req, 0, sizeof(req));
	req.op = BLKIF_OP_FLUSH_DISKCACHE;
	req.id = 42;
	rf_put(&f, 0, &req);
	rf_push(&f, 0);
	rt_spin(&T);
	ck_assert_uint_eq(rf_reap(&f, 0, &rsp, 1), 0);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 1);
	cb = td_fake_io_peek(T.srv.io, 0);
	ck_assert_int_eq(cb->op, TD_IO_FLUSH);
	ck_assert_int_eq(td_fake_io_complete(T.srv.io, 0), 0);
	rt_spin(&T);
	ck_assert_uint_eq(rf_reap(&f, 0, &rsp, 1), 1);
	ck_assert_uint_eq(rsp.id, 42);
	ck_assert_int_eq(rsp.status, BLKIF_RSP_OKAY);

	/* A failed flush is reported as an error. */
	td_fake_io_fail_next(T.srv.io, -EIO);
	req.id = 43;
	rf_put(&f, 0, &req);
	rf_push(&f, 0);
	rt_spin(&T);
	td_fake_io_complete_all(T.srv.io);
	rt_spin(&T);
	ck_assert_uint_eq(rf_reap(&f, 0, &rsp, 1), 1);
	ck_assert_int_eq(rsp.status, BLKIF_RSP_ERROR);
	T.hold = false;
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

static unsigned reap_all(struct rf *f, unsigned q, struct rf_rsp *out,
			 unsigned max)
{
	rt_spin(&T);
	return rf_reap(f, q, out, max);
}

/*
 * WRITE A (held), BARRIER B, WRITE C on queue 0, WRITE D on queue 1: B
 * waits for A, flushes, then writes; C is not consumed before B answered;
 * queue 1 is not held up by queue 0's barrier.
 */
START_TEST(test_barrier_order)
{
	const char *path = rt_file(&T, "b.img", 1 << 20, 0);
	char spec[160];
	struct td_vbd *vbd;
	struct td_bf_req a, b, c, d;
	struct rf_rsp rsp[4];
	uint8_t buf[4096], rd[4096];
	struct rf f;
	unsigned n;

	snprintf(spec, sizeof(spec), "aio:%s", path);
	vbd = rt_open(&T, 1, spec, 0);
	rf_init(&f, TD_BF_ABI_NATIVE, 0, 2, false, 64);
	ck_assert_int_eq(rf_connect(&f, vbd, NULL), 0);
	T.hold = true;

	rf_pattern(buf, 4096, 1);
	rf_build_rw(&f, &a, BLKIF_OP_WRITE, 0, buf, 8, 8);
	a.id = 1;
	rf_pattern(buf, 4096, 2);
	rf_build_rw(&f, &b, BLKIF_OP_WRITE, 8, buf, 8, 8);
	b.op = BLKIF_OP_WRITE_BARRIER;
	b.id = 2;
	rf_pattern(buf, 4096, 3);
	rf_build_rw(&f, &c, BLKIF_OP_WRITE, 0, buf, 8, 8);
	c.id = 3;
	rf_put(&f, 0, &a);
	rf_put(&f, 0, &b);
	rf_put(&f, 0, &c);
	rf_push(&f, 0);
	rt_spin(&T);
	/* Only A is issued. */
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 1);
	ck_assert_int_eq(td_fake_io_peek(T.srv.io, 0)->op, TD_IO_WRITE);

	/* Queue 1 keeps serving meanwhile. */
	rf_pattern(buf, 4096, 4);
	rf_build_rw(&f, &d, BLKIF_OP_WRITE, 64, buf, 8, 8);
	d.id = 4;
	rf_put(&f, 1, &d);
	rf_push(&f, 1);
	rt_spin(&T);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 2);
	ck_assert_int_eq(td_fake_io_complete(T.srv.io, 1), 0);
	ck_assert_uint_eq(reap_all(&f, 1, rsp, 1), 1);
	ck_assert_uint_eq(rsp[0].id, 4);

	/* A completes: then (and only then) B's flush is issued. */
	ck_assert_int_eq(td_fake_io_complete(T.srv.io, 0), 0);
	n = reap_all(&f, 0, rsp, 4);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(rsp[0].id, 1);
	ck_assert_uint_eq(td_fake_io_pending(T.srv.io), 1);
	ck_assert_int_eq(td_fake_io_peek(T.srv.io, 0)->op, TD_IO_FLUSH);
	/* Flush done: B's data is written (and made durable). */
	ck_assert_int_eq(td_fake_io_complete(T.srv.io, 0), 0);
	rt_spin(&T);
	ck_assert_uint_ge(td_fake_io_pending(T.srv.io), 1);
	ck_assert_int_eq(td_fake_io_peek(T.srv.io, 0)->op, TD_IO_WRITE);
	ck_assert_int_eq(td_fake_io_peek(T.srv.io, 0)->offset, 8 * 512);
	/* Still nothing from C until B answers. */
	for (int i = 0; i < 10 && td_fake_io_pending(T.srv.io); i++) {
		struct td_iocb *cb = td_fake_io_peek(T.srv.io, 0);

		ck_assert(cb->op != TD_IO_WRITE || cb->offset == 8 * 512);
		td_fake_io_complete(T.srv.io, 0);
		rt_spin(&T);
		n = rf_reap(&f, 0, rsp, 4);
		if (n)
			break;
	}
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(rsp[0].id, 2);
	ck_assert_int_eq(rsp[0].status, BLKIF_RSP_OKAY);
	T.hold = false;
	rt_spin(&T);
	ck_assert_uint_eq(rf_reap(&f, 0, rsp, 4), 1);
	ck_assert_uint_eq(rsp[0].id, 3);
	/* C (issued last) wins over A at sector 0. */
	ck_assert_int_eq(rf_read(&T, &f, 0, 0, rd, 8), 0);
	rf_pattern(buf, 4096, 3);
	ck_assert_mem_eq(rd, buf, 4096);
	ck_assert_int_eq(rf_read(&T, &f, 0, 8, rd, 8), 0);
	rf_pattern(buf, 4096, 2);
	ck_assert_mem_eq(rd, buf, 4096);
	rf_fini(&f);
	rt_close(&T, vbd);
}
END_TEST

/* Socket protocol --------------------------------------------------- */

static int sock_open(struct td_vbd *vbd)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), TD_SHM_SOCK_FMT, T.dir,
		 (int)getpid(), vbd->minor);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	rt_spin(&T);
	return fd;
}

static void sock_send(int fd, uint32_t type, const void *body, size_t len,
		      const int *fds, unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * TD_SHM_MAX_FDS)];
		struct cmsghdr a;
	} cbuf;
	struct td_shm_connect_msg m;
	struct iovec iov;
	struct msghdr mh;

	memset(&m, 0, sizeof(m));
	memset(&cbuf, 0, sizeof(cbuf));
	m.hdr.magic = TD_SHM_MAGIC;
	m.hdr.version = TD_SHM_VERSION;
	m.hdr.type = type;
	m.hdr.size = (uint32_t)len;
	if (len)
		memcpy(&m.front, body, len);
	iov.iov_base = &m;
	iov.iov_len = sizeof(m.hdr) + len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ck_assert_int_eq(sendmsg(fd, &mh, 0), (ssize_t)iov.iov_len);
}

/* Runs the loop until a reply arrives; returns its status. */
static int sock_reply(int fd, struct td_shm_reply *out)
{
	struct td_shm_reply_msg m;

	for (int i = 0; i < 500; i++) {
		ssize_t n;

		rt_spin(&T);
		n = recv(fd, &m, sizeof(m), MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(m)) {
			ck_assert_uint_eq(m.hdr.magic, TD_SHM_MAGIC);
			ck_assert_uint_eq(m.hdr.type, TD_SHM_REPLY);
			if (out)
				*out = m.reply;
			return m.reply.status;
		}
		ck_assert_int_lt(n, 0);
		td_loop_run_once(&T.srv.loop, TD_NS_PER_MS);
	}
	ck_abort_msg("no reply");
	return 0;
}

static bool peer_closed(int fd)
{
	char c;

	rt_spin(&T);
	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

START_TEST(test_socket_protocol)
{
	struct td_vbd *vbd = rt_open(&T, 5, DISK, 0);
	struct td_shm_reply rep;
	int fds[TD_SHM_MAX_FDS];
	uint8_t w[16 * 512], r[16 * 512];
	unsigned n;
	struct rf f;
	int s;

	/* QUERY: the advertisement, same keys as blkback. */
	s = sock_open(vbd);
	sock_send(s, TD_SHM_QUERY, NULL, 0, NULL, 0);
	ck_assert_int_eq(sock_reply(s, &rep), 0);
	ck_assert_uint_eq(rep.back.sectors, DISK_SECTORS);
	ck_assert_uint_eq(rep.back.sector_size, 512);
	ck_assert_uint_eq(rep.back.feature_flush_cache, 1);
	ck_assert_uint_eq(rep.back.feature_barrier, 1);
	ck_assert_uint_eq(rep.back.feature_discard, 1);
	ck_assert_uint_eq(rep.back.discard_secure, 0);
	ck_assert_uint_eq(rep.back.feature_persistent, 1);
	ck_assert_uint_eq(rep.back.feature_max_indirect_segments, 256);
	ck_assert_uint_eq(rep.back.max_ring_page_order, 4);
	ck_assert_uint_ge(rep.back.multi_queue_max_queues, 1);
	ck_assert_uint_eq(rep.back.info, 0);
	ck_assert_str_eq(rep.back.mode, "w");

	/* CONNECT, I/O, then closing the socket disconnects. */
	rf_init(&f, TD_BF_ABI_X86_32, 2, 2, true, 256);
	n = rf_fds(&f, fds);
	sock_send(s, TD_SHM_CONNECT, &f.front, sizeof(f.front), fds, n);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_int_eq(sock_reply(s, NULL), 0);
	ck_assert(!td_list_empty(&vbd->frontends));
	rf_pattern(w, sizeof(w), 8);
	ck_assert_int_eq(rf_write(&T, &f, 1, 10, w, 16), 0);
	ck_assert_int_eq(rf_read(&T, &f, 0, 10, r, 16), 0);
	ck_assert_mem_eq(w, r, sizeof(w));
	/* A second packet after CONNECT is a protocol error. */
	sock_send(s, TD_SHM_QUERY, NULL, 0, NULL, 0);
	ck_assert_int_eq(sock_reply(s, NULL), -EPROTO);
	ck_assert(peer_closed(s));
	ck_assert(td_list_empty(&vbd->frontends));
	close(s);
	rf_fini(&f);

	/* A memfd without F_SEAL_SHRINK is refused. */
	s = sock_open(vbd);
	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, false, 16);
	n = rf_fds(&f, fds);
	close(fds[0]);
	fds[0] = memfd_create("unsealed", MFD_CLOEXEC);
	ck_assert_int_eq(ftruncate(fds[0], 64 * 4096), 0);
	sock_send(s, TD_SHM_CONNECT, &f.front, sizeof(f.front), fds, n);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_int_eq(sock_reply(s, &rep), -EPERM);
	ck_assert(peer_closed(s));
	close(s);

	/* Wrong fd count, bad ring order, bad magic. */
	s = sock_open(vbd);
	n = rf_fds(&f, fds);
	sock_send(s, TD_SHM_CONNECT, &f.front, sizeof(f.front), fds, n - 1);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_int_eq(sock_reply(s, NULL), -EINVAL);
	close(s);
	s = sock_open(vbd);
	n = rf_fds(&f, fds);
	f.front.ring_page_order = 7;
	sock_send(s, TD_SHM_CONNECT, &f.front, sizeof(f.front), fds, n);
	f.front.ring_page_order = 0;
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_int_eq(sock_reply(s, &rep), -EINVAL);
	ck_assert(strstr(rep.message, "ring-page-order") != NULL);
	close(s);
	s = sock_open(vbd);
	ck_assert_int_eq(send(s, "garbage-garbage-garbage", 23, 0), 23);
	ck_assert_int_eq(sock_reply(s, NULL), -EPROTO);
	close(s);
	rf_fini(&f);

	/* Closing the VBD closes connected sockets. */
	rf_init(&f, TD_BF_ABI_NATIVE, 0, 1, false, 16);
	s = sock_open(vbd);
	n = rf_fds(&f, fds);
	sock_send(s, TD_SHM_CONNECT, &f.front, sizeof(f.front), fds, n);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_int_eq(sock_reply(s, NULL), 0);
	rt_close(&T, vbd);
	ck_assert(peer_closed(s));
	close(s);
	rf_fini(&f);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ring-basic");
	TCase *tc = tcase_create("ram");
	TCase *tf = tcase_create("fake-io");
	TCase *tp;

	tcase_add_checked_fixture(tc, setup_ram, teardown);
	tcase_add_loop_test(tc, test_abi_rw, 0, 3);
	tcase_add_loop_test(tc, test_response_fields, 0, 3);
	tcase_add_loop_test(tc, test_indirect, 0, 3);
	tcase_add_test(tc, test_persistent_indirect);
	tcase_add_loop_test(tc, test_multipage_full_ring, 0, 5);
	tcase_add_test(tc, test_multiqueue);
	tcase_add_test(tc, test_persistent_lru);
	tcase_add_test(tc, test_socket_protocol);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tf, setup_fake, teardown);
	tcase_add_test(tf, test_flush_durable);
	tcase_add_test(tf, test_barrier_order);
	suite_add_tcase(s, tf);

	tp = tcase_create("ram-polling");
	tcase_add_checked_fixture(tp, setup_ram_poll, teardown);
	tcase_add_loop_test(tp, test_abi_rw, 0, 3);
	tcase_add_loop_test(tp, test_multipage_full_ring, 0, 5);
	tcase_add_test(tp, test_multiqueue);
	tcase_add_test(tp, test_persistent_lru);
	suite_add_tcase(s, tp);

	tp = tcase_create("fake-io-polling");
	tcase_add_checked_fixture(tp, setup_fake_poll, teardown);
	tcase_add_test(tp, test_flush_durable);
	tcase_add_test(tp, test_barrier_order);
	suite_add_tcase(s, tp);
	return s;
}

int main(void)
{
	return td_check_run(suite());
}
