/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the frontend simulator's pure parts: the blkif encoding
 * of each ABI against independently written layouts, ring sizing, the
 * data pattern and shadow map, and the latency histogram.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bf-abi.h"
#include "bf-pattern.h"
#include "bf-stats.h"
#include "td-check.h"

/* The 32-bit x86 guest layout: 64-bit fields only 4-byte aligned. */
struct x32_rw {
	uint8_t op, nseg;
	uint16_t handle;
	uint64_t id;
	uint64_t sector;
	struct blkif_request_segment seg[11];
} __attribute__((packed));

struct x32_indirect {
	uint8_t op, iop;
	uint16_t nseg;
	uint64_t id;
	uint64_t sector;
	uint16_t handle, pad1;
	uint32_t grefs[8];
	uint64_t pad2;
} __attribute__((packed));

struct x32_discard {
	uint8_t op, flag;
	uint16_t handle;
	uint64_t id;
	uint64_t sector;
	uint64_t nr;
} __attribute__((packed));

struct x32_rsp {
	uint64_t id;
	uint8_t op, pad;
	int16_t status;
} __attribute__((packed));

/* The 64-bit layout, padding spelled out. */
struct x64_rw {
	uint8_t op, nseg;
	uint16_t handle;
	uint32_t pad;
	uint64_t id;
	uint64_t sector;
	struct blkif_request_segment seg[11];
} __attribute__((packed));

struct x64_indirect {
	uint8_t op, iop;
	uint16_t nseg;
	uint32_t pad1;
	uint64_t id;
	uint64_t sector;
	uint16_t handle, pad2;
	uint32_t grefs[8];
	uint32_t pad3;
} __attribute__((packed));

static void sample_rw(struct td_bf_req *r, uint8_t op)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->nr_segments = 3;
	r->handle = 0x1234;
	r->id = 0x0102030405060708ull;
	r->sector = 0x1122334455667788ull;
	for (unsigned i = 0; i < 3; i++) {
		r->seg[i].gref = 100 + i;
		r->seg[i].first_sect = (uint8_t)i;
		r->seg[i].last_sect = (uint8_t)(7 - i);
	}
}

static void sample_indirect(struct td_bf_req *r)
{
	memset(r, 0, sizeof(*r));
	r->op = BLKIF_OP_INDIRECT;
	r->indirect_op = BLKIF_OP_WRITE;
	r->nr_segments = 300;
	r->handle = 7;
	r->id = 0xdeadbeefcafef00dull;
	r->sector = 4096;
	r->indirect_grefs[0] = 55;
	r->indirect_grefs[1] = 56;
}

START_TEST(test_x86_32_layout)
{
	unsigned char slot[128];
	struct td_bf_req r, back;
	struct x32_rw rw;
	struct x32_indirect ind;
	struct x32_discard d;

	ck_assert_uint_eq(sizeof(struct x32_rw), 108);
	ck_assert_uint_eq(sizeof(struct x32_indirect), 64);
	ck_assert_uint_eq(td_bf_abi_slot_size(TD_BF_ABI_X86_32), 108);

	sample_rw(&r, BLKIF_OP_WRITE);
	td_bf_abi_encode_req(TD_BF_ABI_X86_32, &r, slot);
	memcpy(&rw, slot, sizeof(rw));
	ck_assert_uint_eq(rw.op, BLKIF_OP_WRITE);
	ck_assert_uint_eq(rw.nseg, 3);
	ck_assert_uint_eq(rw.handle, 0x1234);
	ck_assert_uint_eq(rw.id, r.id);
	ck_assert_uint_eq(rw.sector, r.sector);
	ck_assert_uint_eq(rw.seg[2].gref, 102);
	ck_assert_uint_eq(rw.seg[2].first_sect, 2);
	ck_assert_uint_eq(rw.seg[2].last_sect, 5);
	td_bf_abi_decode_req(TD_BF_ABI_X86_32, slot, &back);
	ck_assert_mem_eq(&back, &r, sizeof(r));

	sample_indirect(&r);
	td_bf_abi_encode_req(TD_BF_ABI_X86_32, &r, slot);
	memcpy(&ind, slot, sizeof(ind));
	ck_assert_uint_eq(ind.iop, BLKIF_OP_WRITE);
	ck_assert_uint_eq(ind.nseg, 300);
	ck_assert_uint_eq(ind.id, r.id);
	ck_assert_uint_eq(ind.sector, 4096);
	ck_assert_uint_eq(ind.handle, 7);
	ck_assert_uint_eq(ind.grefs[0], 55);
	ck_assert_uint_eq(ind.grefs[1], 56);
	ck_assert_uint_eq(ind.grefs[2], 0);

	memset(&r, 0, sizeof(r));
	r.op = BLKIF_OP_DISCARD;
	r.discard_flag = BLKIF_DISCARD_SECURE;
	r.id = 9;
	r.sector = 77;
	r.nr_sectors = 1ull << 33;
	td_bf_abi_encode_req(TD_BF_ABI_X86_32, &r, slot);
	memcpy(&d, slot, sizeof(d));
	ck_assert_uint_eq(d.flag, BLKIF_DISCARD_SECURE);
	ck_assert_uint_eq(d.id, 9);
	ck_assert_uint_eq(d.sector, 77);
	ck_assert_uint_eq(d.nr, 1ull << 33);
}
END_TEST

START_TEST(test_x86_64_layout)
{
	unsigned char slot[128];
	struct td_bf_req r;
	struct x64_rw rw;
	struct x64_indirect ind;

	ck_assert_uint_eq(sizeof(struct x64_rw), 112);
	ck_assert_uint_eq(sizeof(struct x64_indirect), 64);
	ck_assert_uint_eq(td_bf_abi_slot_size(TD_BF_ABI_X86_64), 112);

	sample_rw(&r, BLKIF_OP_READ);
	td_bf_abi_encode_req(TD_BF_ABI_X86_64, &r, slot);
	memcpy(&rw, slot, sizeof(rw));
	ck_assert_uint_eq(rw.nseg, 3);
	ck_assert_uint_eq(rw.pad, 0);
	ck_assert_uint_eq(rw.id, r.id);
	ck_assert_uint_eq(rw.sector, r.sector);
	ck_assert_uint_eq(rw.seg[1].gref, 101);
	ck_assert_uint_eq(rw.seg[1].first_sect, 1);
	ck_assert_uint_eq(rw.seg[1].last_sect, 6);

	sample_indirect(&r);
	td_bf_abi_encode_req(TD_BF_ABI_X86_64, &r, slot);
	memcpy(&ind, slot, sizeof(ind));
	ck_assert_uint_eq(ind.iop, BLKIF_OP_WRITE);
	ck_assert_uint_eq(ind.nseg, 300);
	ck_assert_uint_eq(ind.id, r.id);
	ck_assert_uint_eq(ind.handle, 7);
	ck_assert_uint_eq(ind.grefs[1], 56);
}
END_TEST

/* Native must be the compiler's own layout of the public header. */
START_TEST(test_native_layout)
{
	union blkif_sring_entry e;
	struct td_bf_req r;

	sample_rw(&r, BLKIF_OP_WRITE);
	td_bf_abi_encode_req(TD_BF_ABI_NATIVE, &r, &e);
	ck_assert_uint_eq(e.req.operation, BLKIF_OP_WRITE);
	ck_assert_uint_eq(e.req.nr_segments, 3);
	ck_assert_uint_eq(e.req.handle, 0x1234);
	ck_assert_uint_eq(e.req.id, r.id);
	ck_assert_uint_eq(e.req.sector_number, r.sector);
	ck_assert_uint_eq(e.req.seg[0].gref, 100);

	sample_indirect(&r);
	td_bf_abi_encode_req(TD_BF_ABI_NATIVE, &r, &e);
	struct blkif_request_indirect *ind = (void *)&e.req;
	ck_assert_uint_eq(ind->nr_segments, 300);
	ck_assert_uint_eq(ind->id, r.id);
	ck_assert_uint_eq(ind->indirect_grefs[0], 55);
#if defined(__x86_64__)
	unsigned char a[128], b[128];

	td_bf_abi_encode_req(TD_BF_ABI_NATIVE, &r, a);
	td_bf_abi_encode_req(TD_BF_ABI_X86_64, &r, b);
	ck_assert_mem_eq(a, b, 112);
#endif
}
END_TEST

START_TEST(test_response)
{
	unsigned char slot[128];
	struct td_bf_rsp in = { .id = 0xabcdef0123ull, .op = 3,
				.status = BLKIF_RSP_EOPNOTSUPP };
	struct td_bf_rsp out;
	struct x32_rsp x;

	for (int abi = 0; abi <= TD_BF_ABI_X86_64; abi++) {
		memset(&out, 0, sizeof(out));
		td_bf_abi_encode_rsp(abi, &in, slot);
		td_bf_abi_decode_rsp(abi, slot, &out);
		ck_assert_uint_eq(out.id, in.id);
		ck_assert_uint_eq(out.op, 3);
		ck_assert_int_eq(out.status, BLKIF_RSP_EOPNOTSUPP);
	}
	td_bf_abi_encode_rsp(TD_BF_ABI_X86_32, &in, slot);
	memcpy(&x, slot, sizeof(x));
	ck_assert_int_eq(x.status, -2);
	ck_assert_uint_eq(x.id, in.id);
}
END_TEST

START_TEST(test_ring_slots)
{
	/* (4096 - 64) / 112 = 36 -> 32; 16 pages: 584 -> 512. */
	ck_assert_uint_eq(td_bf_abi_ring_slots(TD_BF_ABI_X86_64, 0), 32);
	ck_assert_uint_eq(td_bf_abi_ring_slots(TD_BF_ABI_X86_64, 4), 512);
	ck_assert_uint_eq(td_bf_abi_ring_slots(TD_BF_ABI_X86_32, 0), 32);
	ck_assert_uint_eq(td_bf_abi_ring_slots(TD_BF_ABI_X86_32, 1), 64);
	ck_assert_uint_eq(td_bf_abi_ring_slots(TD_BF_ABI_NATIVE, 0),
			  __CONST_RING_SIZE(blkif, 4096));
	ck_assert_uint_eq(td_bf_abi_ring_slots(TD_BF_ABI_NATIVE, 4),
			  __CONST_RING_SIZE(blkif, 65536));
}
END_TEST

START_TEST(test_abi_parse)
{
	enum td_bf_abi a;

	ck_assert_int_eq(td_bf_abi_parse("x86_32", &a), 0);
	ck_assert_int_eq(a, TD_BF_ABI_X86_32);
	ck_assert_str_eq(td_bf_abi_name(a), "x86_32");
	ck_assert_int_eq(td_bf_abi_parse("x86-64", &a), -EINVAL);
	ck_assert_int_eq(td_bf_abi_parse("", &a), -EINVAL);
}
END_TEST

START_TEST(test_pattern)
{
	unsigned char buf[4096], buf2[4096];
	uint64_t bad = 0;

	td_bf_pattern_fill(buf, sizeof(buf), 42, 1, 8192);
	ck_assert_uint_eq(td_bf_pattern_check(buf, sizeof(buf), 42, 1, 8192,
					      &bad), 0);
	/* Another offset, generation or seed gives different data. */
	td_bf_pattern_fill(buf2, sizeof(buf2), 42, 1, 8192 + 512);
	ck_assert(memcmp(buf, buf2, 512) != 0);
	td_bf_pattern_fill(buf2, sizeof(buf2), 42, 2, 8192);
	ck_assert(memcmp(buf, buf2, 512) != 0);
	td_bf_pattern_fill(buf2, sizeof(buf2), 43, 1, 8192);
	ck_assert(memcmp(buf, buf2, 512) != 0);
	/* A sub-range fill equals the same bytes of the large one. */
	td_bf_pattern_fill(buf2, 512, 42, 1, 8192 + 1024);
	ck_assert_mem_eq(buf2, buf + 1024, 512);

	buf[1000] ^= 0x10;
	buf[3001] ^= 0x01;
	ck_assert_uint_eq(td_bf_pattern_check(buf, sizeof(buf), 42, 1, 8192,
					      &bad), 2);
	ck_assert_uint_eq(bad, 8192 + 1000);

	td_bf_pattern_fill(buf, 64, 1, TD_BF_GEN_ZERO, 0);
	for (unsigned i = 0; i < 64; i++)
		ck_assert_uint_eq(buf[i], 0);
}
END_TEST

START_TEST(test_shadow)
{
	struct td_bf_shadow s;
	unsigned char buf[8 * 512];
	uint64_t bad = 0;

	ck_assert_int_eq(td_bf_shadow_init(&s, 7, 0, 16), 0);
	td_bf_shadow_set(&s, 2, 3, 5);              /* 2,3,4 gen 5 */
	td_bf_shadow_set(&s, 5, 1, TD_BF_GEN_ZERO); /* 5 zero */
	memset(buf, 0xee, sizeof(buf));             /* 0,1,6,7 unknown */
	td_bf_pattern_fill(buf + 2 * 512, 3 * 512, 7, 5, 2 * 512);
	memset(buf + 5 * 512, 0, 512);
	ck_assert_uint_eq(td_bf_shadow_check(&s, buf, 0, 8, &bad), 0);
	buf[5 * 512 + 17] = 1;
	ck_assert_uint_eq(td_bf_shadow_check(&s, buf, 0, 8, &bad), 1);
	ck_assert_uint_eq(bad, 5 * 512 + 17);
	/* Checked at another sector, generation-5 data is wrong. */
	buf[5 * 512 + 17] = 0;
	ck_assert_uint_gt(td_bf_shadow_check(&s, buf, 1, 7, &bad), 0);
	ck_assert_uint_eq(bad, 2 * 512);
	/* Setting past the end is clipped, not a write out of bounds. */
	td_bf_shadow_set(&s, 14, 10, 9);
	ck_assert_uint_eq(s.gen[15], 9);
	td_bf_shadow_fini(&s);

	/* A shadow of sectors 100..103 ignores everything outside. */
	ck_assert_int_eq(td_bf_shadow_init(&s, 7, 100, 4), 0);
	td_bf_shadow_set(&s, 98, 4, 3);  /* 100, 101 */
	ck_assert_uint_eq(s.gen[0], 3);
	ck_assert_uint_eq(s.gen[1], 3);
	ck_assert_uint_eq(s.gen[2], TD_BF_GEN_UNKNOWN);
	td_bf_pattern_fill(buf, 2 * 512, 7, 3, 100 * 512);
	memset(buf + 2 * 512, 0x5a, 512);
	ck_assert_uint_eq(td_bf_shadow_check(&s, buf, 100, 3, &bad), 0);
	/* Sectors 100, 101 hold wrong data (a byte may match by chance). */
	ck_assert_uint_gt(td_bf_shadow_check(&s, buf, 99, 3, &bad), 1000);
	ck_assert_uint_eq(bad, 100 * 512);
	td_bf_shadow_fini(&s);
}
END_TEST

START_TEST(test_hist)
{
	struct td_bf_hist *h = malloc(sizeof(*h));
	uint64_t p;

	ck_assert_ptr_nonnull(h);
	td_bf_hist_init(h);
	ck_assert_uint_eq(td_bf_hist_percentile(h, 50), 0);
	/* 1..100000: p50 ~ 50000, p99 ~ 99000, within bucket precision. */
	for (uint64_t v = 1; v <= 100000; v++)
		td_bf_hist_add(h, v);
	ck_assert_uint_eq(h->count, 100000);
	ck_assert_uint_eq(h->min, 1);
	ck_assert_uint_eq(h->max, 100000);
	ck_assert_uint_eq(td_bf_hist_mean(h), 50000);
	p = td_bf_hist_percentile(h, 50);
	ck_assert_uint_ge(p, 50000 - 800);
	ck_assert_uint_le(p, 50000 + 800);
	p = td_bf_hist_percentile(h, 99);
	ck_assert_uint_ge(p, 99000 - 1600);
	ck_assert_uint_le(p, 99000 + 1600);
	ck_assert_uint_eq(td_bf_hist_percentile(h, 100), 100000);

	/* Small values are exact; huge ones do not overflow the table. */
	td_bf_hist_init(h);
	for (unsigned i = 0; i < 99; i++)
		td_bf_hist_add(h, 100);
	td_bf_hist_add(h, UINT64_MAX);
	ck_assert_uint_eq(td_bf_hist_percentile(h, 50), 100);
	ck_assert_uint_eq(td_bf_hist_percentile(h, 99), 100);
	ck_assert_uint_eq(td_bf_hist_percentile(h, 99.9), UINT64_MAX);
	free(h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("blkfront-enc");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_x86_32_layout);
	tcase_add_test(tc, test_x86_64_layout);
	tcase_add_test(tc, test_native_layout);
	tcase_add_test(tc, test_response);
	tcase_add_test(tc, test_ring_slots);
	tcase_add_test(tc, test_abi_parse);
	tcase_add_test(tc, test_pattern);
	tcase_add_test(tc, test_shadow);
	tcase_add_test(tc, test_hist);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(suite());
}
