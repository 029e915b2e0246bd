// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the VHD format library's pure helpers: encode/decode,
 * checksums, CHS geometry, bitmaps in both bit orders, the batmap
 * checksum, UTF-16 names, relative paths, and every footer/header
 * validation error.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vhd-format.h"
#include "td-check.h"

static void make_footer(struct td_vhd_footer *f, uint32_t type,
			uint64_t size)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->cookie, "conectix", 8);
	f->features = TD_VHD_FEAT_RESERVED;
	f->ff_version = TD_VHD_FF_VERSION;
	f->data_offset = type == TD_VHD_TYPE_FIXED ? ~0ull : 512;
	f->crtr_app = TD_VHD_CREATOR_TAP;
	f->crtr_ver = TD_VHD_TAP_VERSION;
	f->curr_size = f->orig_size = size;
	td_vhd_chs(size, &f->cyls, &f->heads, &f->spt);
	f->type = type;
	f->uuid[0] = 1;
}

START_TEST(test_checksum)
{
	uint8_t b[512] = { 0 };

	/* all zeros: NOT of 0 */
	ck_assert_uint_eq(td_vhd_checksum(b, 512, 64), 0xffffffffu);
	b[0] = 1;
	b[511] = 2;
	b[64] = 0xff; /* inside the checksum field: ignored */
	ck_assert_uint_eq(td_vhd_checksum(b, 512, 64), ~3u);
}
END_TEST

START_TEST(test_footer_roundtrip)
{
	struct td_vhd_footer f, g;
	uint8_t b[512];

	make_footer(&f, TD_VHD_TYPE_DYNAMIC, 64ull << 20);
	f.hidden = 1;
	f.timestamp = 12345;
	td_vhd_footer_encode(&f, b);
	ck_assert(!memcmp(b, "conectix", 8));
	ck_assert_uint_eq(b[85], 1);
	ck_assert_uint_eq(b[60 + 3], 3);
	td_vhd_footer_decode(b, &g);
	ck_assert(!memcmp(&f, &g, sizeof(f)));
	ck_assert_uint_eq(td_vhd_checksum(b, 512, 64), g.checksum);
	ck_assert_int_eq(td_vhd_footer_validate(b, &g, 0, 1 << 20, NULL), 0);
}
END_TEST

START_TEST(test_header_roundtrip)
{
	struct td_vhd_header h = { 0 }, g;
	uint8_t b[1024];

	memcpy(h.cookie, "cxsparse", 8);
	h.data_offset = ~0ull;
	h.table_offset = 1536;
	h.hdr_version = TD_VHD_HDR_VERSION;
	h.max_bat = 32;
	h.block_size = 2 << 20;
	h.loc[2].code = TD_VHD_PLAT_W2RU;
	h.loc[2].data_offset = 0x1234;
	td_vhd_header_encode(&h, b);
	td_vhd_header_decode(b, &g);
	ck_assert(!memcmp(&h, &g, sizeof(h)));
	ck_assert_uint_eq(b[576 + 48 + 3], 0x75); /* 'u' of W2ru */
}
END_TEST

START_TEST(test_chs)
{
	static const struct {
		uint64_t size;
		uint16_t c;
		uint8_t h, s;
	} t[] = {
		{ 64ull << 20, 963, 8, 17 },
		{ 1ull << 30, 2080, 16, 63 },
		{ 10ull << 30, 20805, 16, 63 },
		{ 127ull << 30, 65278, 16, 255 },
		{ 2040ull << 30, 65535, 16, 255 },
	};
	unsigned i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint16_t c;
		uint8_t h, s;

		td_vhd_chs(t[i].size, &c, &h, &s);
		ck_assert_uint_eq(c, t[i].c);
		ck_assert_uint_eq(h, t[i].h);
		ck_assert_uint_eq(s, t[i].s);
		ck_assert(td_vhd_chs_bytes(c, h, s) <= t[i].size);
	}
	ck_assert_uint_eq(td_vhd_chs_bytes(963, 8, 17), 67055616ull);
}
END_TEST

START_TEST(test_time)
{
	ck_assert_uint_eq(td_vhd_time(946684800), 0);
	ck_assert_uint_eq(td_vhd_time(946684800 + 77), 77);
	ck_assert_uint_eq(td_vhd_time(0), 0);
	ck_assert_int_eq(td_vhd_unix_time(77), 946684877);
}
END_TEST

START_TEST(test_bitmap_orders)
{
	uint8_t m[64] = { 0 };
	bool set;

	td_vhd_bitmap_set(m, 0, false);
	ck_assert_uint_eq(m[0], 0x80);
	td_vhd_bitmap_set(m, 9, false);
	ck_assert_uint_eq(m[1], 0x40);
	ck_assert(td_vhd_bitmap_test(m, 9, false));
	ck_assert(!td_vhd_bitmap_test(m, 9, true)); /* LE bit 9 is 0x02 */
	memset(m, 0, sizeof(m));
	td_vhd_bitmap_set(m, 0, true);
	td_vhd_bitmap_set(m, 9, true);
	ck_assert_uint_eq(m[0], 0x01);
	ck_assert_uint_eq(m[1], 0x02);
	td_vhd_bitmap_clear(m, 9, true);
	ck_assert_uint_eq(m[1], 0);

	memset(m, 0, sizeof(m));
	td_vhd_bitmap_set_range(m, 3, 30, false);
	ck_assert_uint_eq(m[0], 0x1f);
	ck_assert_uint_eq(m[1], 0xff);
	ck_assert_uint_eq(m[4], 0x80); /* bit 32 */
	ck_assert_uint_eq(td_vhd_bitmap_run(m, 0, 512, false, &set), 3);
	ck_assert(!set);
	ck_assert_uint_eq(td_vhd_bitmap_run(m, 3, 512, false, &set), 30);
	ck_assert(set);
	ck_assert_uint_eq(td_vhd_bitmap_run(m, 33, 512 - 33, false, &set),
			  512 - 33);
	ck_assert(!set);
	ck_assert_uint_eq(td_vhd_bitmap_run(m, 3, 5, false, &set), 5);

	memset(m, 0, sizeof(m));
	td_vhd_bitmap_set_range(m, 3, 30, true);
	ck_assert_uint_eq(m[0], 0xf8);
	ck_assert_uint_eq(m[4], 0x01);
	ck_assert_uint_eq(td_vhd_bitmap_run(m, 3, 100, true, &set), 30);

	memset(m, 0xff, sizeof(m));
	ck_assert(td_vhd_bitmap_full(m, 512, false));
	td_vhd_bitmap_clear(m, 511, false);
	ck_assert(!td_vhd_bitmap_full(m, 512, false));
	ck_assert(td_vhd_bitmap_full(m, 511, false));
}
END_TEST

START_TEST(test_batmap_checksum)
{
	uint8_t map[1024] = { 0 };

	ck_assert_uint_eq(td_vhd_batmap_checksum(map, 1024, 64 << 20,
						 TD_VHD_BATMAP_VERSION), ~0u);
	map[0] = 0x80;
	map[600] = 0xff; /* outside the summed part for a small disk */
	ck_assert_uint_eq(td_vhd_batmap_checksum(map, 1024, 64 << 20,
						 TD_VHD_BATMAP_VERSION),
			  ~0x80u);
	/* version 1.1 summed signed chars */
	ck_assert_uint_eq(td_vhd_batmap_checksum(map, 1024, 64 << 20,
						 TD_VHD_BATMAP_VERSION_1_1),
			  ~(uint32_t)-128);
	/* 16 GiB: ceil_512(16G >> 24) = 1024 bytes count */
	ck_assert_uint_eq(td_vhd_batmap_checksum(map, 1024, 16ull << 30,
						 TD_VHD_BATMAP_VERSION),
			  ~(0x80u + 0xffu));
}
END_TEST

START_TEST(test_bat_codec)
{
	uint32_t bat[3] = { 0x12345678, TD_VHD_BAT_UNUSED, 7 }, out[3];
	uint8_t b[12];

	td_vhd_bat_encode(bat, b, 3);
	ck_assert_uint_eq(b[0], 0x12);
	ck_assert_uint_eq(b[11], 7);
	td_vhd_bat_decode(b, out, 3);
	ck_assert(!memcmp(bat, out, sizeof(bat)));
}
END_TEST

START_TEST(test_utf16)
{
	const char *s = "p\xc3\xa9re-\xf0\x9f\x98\x80.vhd"; /* père-😀.vhd */
	uint8_t be[64], le[64];
	char back[64];
	size_t n, m;

	ck_assert_int_eq(td_vhd_utf8_to_utf16(s, be, sizeof(be), true, &n), 0);
	ck_assert_uint_eq(n, 2 * 11); /* 10 BMP units + a surrogate pair */
	ck_assert_uint_eq(be[0], 0);
	ck_assert_uint_eq(be[1], 'p');
	ck_assert_uint_eq(be[2], 0);
	ck_assert_uint_eq(be[3], 0xe9);
	ck_assert_int_eq(td_vhd_utf8_to_utf16(s, le, sizeof(le), false, &m),
			 0);
	ck_assert_uint_eq(le[0], 'p');
	ck_assert_int_eq(td_vhd_utf16_to_utf8(be, n, true, back, sizeof(back)),
			 0);
	ck_assert_str_eq(back, s);
	ck_assert_int_eq(td_vhd_utf16_to_utf8(le, m, false, back,
					      sizeof(back)), 0);
	ck_assert_str_eq(back, s);
	/* too small, bad UTF-8, lone surrogate */
	ck_assert_int_eq(td_vhd_utf8_to_utf16(s, be, 8, true, &n),
			 -ENAMETOOLONG);
	ck_assert_int_eq(td_vhd_utf8_to_utf16("\xc3", be, 8, true, &n),
			 -EILSEQ);
	ck_assert_int_eq(td_vhd_utf8_to_utf16("\xc0\xaf", be, 8, true, &n),
			 -EILSEQ);
	be[0] = 0xdc;
	be[1] = 0x00;
	ck_assert_int_eq(td_vhd_utf16_to_utf8(be, 2, true, back, sizeof(back)),
			 -EILSEQ);
	ck_assert_int_eq(td_vhd_utf16_to_utf8(le, m, false, back, 4),
			 -ENAMETOOLONG);
}
END_TEST

START_TEST(test_relpath)
{
	char out[256];

	ck_assert_int_eq(td_vhd_relpath("/sr/a/c.vhd", "/sr/a/p.vhd", out,
					sizeof(out)), 0);
	ck_assert_str_eq(out, "./p.vhd");
	ck_assert_int_eq(td_vhd_relpath("/sr/a/c.vhd", "/sr/b/p.vhd", out,
					sizeof(out)), 0);
	ck_assert_str_eq(out, "../b/p.vhd");
	ck_assert_int_eq(td_vhd_relpath("/sr/a/b/c.vhd", "/p.vhd", out,
					sizeof(out)), 0);
	ck_assert_str_eq(out, "../../../p.vhd");
	ck_assert_int_eq(td_vhd_relpath("/c.vhd", "/x/y/p.vhd", out,
					sizeof(out)), 0);
	ck_assert_str_eq(out, "./x/y/p.vhd");
	ck_assert_int_eq(td_vhd_relpath("/sr/ab/c.vhd", "/sr/a/p.vhd", out,
					sizeof(out)), 0);
	ck_assert_str_eq(out, "../a/p.vhd");
	ck_assert_int_eq(td_vhd_relpath("rel/c.vhd", "/p.vhd", out,
					sizeof(out)), -EINVAL);
	ck_assert_int_eq(td_vhd_relpath("/a/c.vhd", "/a/p.vhd", out, 4),
			 -ENAMETOOLONG);
}
END_TEST

/* Runs footer validation on @f after encoding (checksum correct). */
static int vf(struct td_vhd_footer *f, uint64_t off, uint64_t fsize,
	      struct td_vhd_err *e)
{
	uint8_t b[512];

	td_vhd_footer_encode(f, b);
	return td_vhd_footer_validate(b, f, off, fsize, e);
}

#define EXPECT_FOOTER(mut, rc, text)                                        \
	do {                                                                \
		struct td_vhd_footer f_;                                    \
		struct td_vhd_err e_ = { "/x.vhd", "" };                    \
		make_footer(&f_, TD_VHD_TYPE_DYNAMIC, 64ull << 20);         \
		mut;                                                        \
		ck_assert_int_eq(vf(&f_, 0x1000, 0x1200, &e_), rc);         \
		ck_assert_msg(strstr(e_.msg, text), "%s", e_.msg);          \
		ck_assert(!strncmp(e_.msg, "vhd: /x.vhd: footer at 0x1000:", \
				   30));                                    \
	} while (0)

START_TEST(test_footer_errors)
{
	EXPECT_FOOTER(memcpy(f_.cookie, "conectiX", 8), -EINVAL,
		      "bad cookie at offset 0x1000");
	EXPECT_FOOTER(f_.features = 0, -EINVAL, "bad features 0x00000000 at "
		      "offset 0x1008");
	EXPECT_FOOTER(f_.features = 6, -EINVAL, "offset 0x1008");
	EXPECT_FOOTER(f_.ff_version = 0x20000, -EINVAL,
		      "format version 0x00020000 at offset 0x100c");
	EXPECT_FOOTER(f_.type = 5, -EINVAL, "bad disk type 5 at offset 0x103c");
	EXPECT_FOOTER(f_.curr_size = 513, -EINVAL, "at offset 0x1030");
	EXPECT_FOOTER(f_.curr_size = 2041ull << 30, -EINVAL, "2040 GiB");
	EXPECT_FOOTER(f_.hidden = 2, -EINVAL, "at offset 0x1055");
	EXPECT_FOOTER(f_.saved_state = 9, -EINVAL, "at offset 0x1054");
	EXPECT_FOOTER(f_.data_offset = 0x1100, -EINVAL,
		      "header offset 0x1100 at offset 0x1010");
	EXPECT_FOOTER(f_.data_offset = 700, -EINVAL, "misaligned");
	EXPECT_FOOTER(memcpy(f_.cookie, "v_poison", 8), -ENOTSUP, "v_poison");
	EXPECT_FOOTER((f_.type = TD_VHD_TYPE_FIXED, f_.data_offset = 512),
		      -EINVAL, "is not all-ones");
	EXPECT_FOOTER((f_.type = TD_VHD_TYPE_FIXED, f_.data_offset = ~0ull,
		       f_.curr_size = 0x2000), -EINVAL, "exceeds the file");
}
END_TEST

START_TEST(test_footer_checksum)
{
	struct td_vhd_err e = { "/x.vhd", "" };
	struct td_vhd_footer f;
	uint8_t b[512];

	make_footer(&f, TD_VHD_TYPE_DYNAMIC, 64ull << 20);
	td_vhd_footer_encode(&f, b);
	b[100] ^= 1;
	td_vhd_footer_decode(b, &f);
	ck_assert_int_eq(td_vhd_footer_validate(b, &f, 0, 1 << 20, &e),
			 -EILSEQ);
	ck_assert(strstr(e.msg, "bad checksum at offset 0x40"));

	/* tap 0.1 and 1.1 may carry an unsummed hidden flag; 1.3 may not */
	make_footer(&f, TD_VHD_TYPE_DYNAMIC, 64ull << 20);
	f.crtr_ver = TD_VHD_TAP_V1_1;
	td_vhd_footer_encode(&f, b);
	b[85] = 1;
	td_vhd_footer_decode(b, &f);
	ck_assert_int_eq(td_vhd_footer_validate(b, &f, 0, 1 << 20, NULL), 0);
	make_footer(&f, TD_VHD_TYPE_DYNAMIC, 64ull << 20);
	td_vhd_footer_encode(&f, b);
	b[85] = 1;
	td_vhd_footer_decode(b, &f);
	ck_assert_int_eq(td_vhd_footer_validate(b, &f, 0, 1 << 20, NULL),
			 -EILSEQ);
}
END_TEST

static void make_header(struct td_vhd_header *h, uint32_t max_bat)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->cookie, "cxsparse", 8);
	h->data_offset = ~0ull;
	h->table_offset = 1536;
	h->hdr_version = TD_VHD_HDR_VERSION;
	h->max_bat = max_bat;
	h->block_size = 2 << 20;
}

#define EXPECT_HEADER(type, mut, rc, text)                                 \
	do {                                                               \
		struct td_vhd_footer f_;                                   \
		struct td_vhd_header h_;                                   \
		struct td_vhd_err e_ = { "/x.vhd", "" };                   \
		uint8_t b_[1024];                                          \
		make_footer(&f_, type, 64ull << 20);                       \
		make_header(&h_, 32);                                      \
		mut;                                                       \
		td_vhd_header_encode(&h_, b_);                             \
		ck_assert_int_eq(td_vhd_header_validate(b_, &h_, &f_, 512, \
							0x4000, &e_),      \
				 rc);                                      \
		ck_assert_msg(strstr(e_.msg, text), "%s", e_.msg);         \
	} while (0)

START_TEST(test_header_errors)
{
	const uint32_t dyn = TD_VHD_TYPE_DYNAMIC, dif = TD_VHD_TYPE_DIFF;

	EXPECT_HEADER(dyn, (void)0, 0, "");
	EXPECT_HEADER(dyn, memcpy(h_.cookie, "cxsparsf", 8), -EINVAL,
		      "dynamic header at 0x200: bad cookie at offset 0x200");
	EXPECT_HEADER(dyn, h_.data_offset = 0, -EINVAL, "offset 0x208");
	EXPECT_HEADER(dyn, h_.hdr_version = 2, -EINVAL, "offset 0x218");
	EXPECT_HEADER(dyn, h_.block_size = 3 << 20, -EINVAL,
		      "bad block size 0x300000 at offset 0x220");
	EXPECT_HEADER(dyn, h_.block_size = 4 << 20, -EINVAL, "offset 0x220");
	EXPECT_HEADER(dyn, h_.block_size = 2048, -EINVAL, "offset 0x220");
	EXPECT_HEADER(dyn, h_.max_bat = 31, -EINVAL,
		      "max table entries 31 at offset 0x21c is absurd");
	EXPECT_HEADER(dyn, h_.max_bat = 1u << 25, -EINVAL, "absurd");
	EXPECT_HEADER(dyn, h_.max_bat = 0x1000, -EINVAL,
		      "BAT offset 0x600 at offset 0x210");
	EXPECT_HEADER(dyn, h_.table_offset = 1000, -EINVAL, "misaligned");
	EXPECT_HEADER(dyn, h_.table_offset = 512, -EINVAL, "overlaps");
	EXPECT_HEADER(dif, (h_.loc[1].code = 0x12345678), -EINVAL,
		      "parent locator 1 at offset 0x458: unknown platform");
	EXPECT_HEADER(dif, (h_.loc[0] = (struct td_vhd_locator){
				    TD_VHD_PLAT_W2RU, 700, 10, 0, 0x3000 }),
		      -EINVAL, "bad data space 700 at offset 0x444");
	EXPECT_HEADER(dif, (h_.loc[0] = (struct td_vhd_locator){
				    TD_VHD_PLAT_W2RU, 512, 600, 0, 0x3000 }),
		      -EINVAL, "bad data length 600 at offset 0x448");
	EXPECT_HEADER(dif, (h_.loc[0] = (struct td_vhd_locator){
				    TD_VHD_PLAT_W2RU, 512, 10, 0, 0x3f00 }),
		      -EINVAL, "is past end of file (0x4000)");
	EXPECT_HEADER(dif, (h_.loc[0] = (struct td_vhd_locator){
				    TD_VHD_PLAT_W2RU, 512, 10, 0, 1536 }),
		      -EINVAL, "overlaps the header or BAT");
	/* data space in sectors (below 512) is accepted */
	EXPECT_HEADER(dif, (h_.loc[0] = (struct td_vhd_locator){
				    TD_VHD_PLAT_MACX, 1, 10, 0, 0x3000 }),
		      0, "");
	/* checksum */
	{
		struct td_vhd_footer f;
		struct td_vhd_header h;
		struct td_vhd_err e = { "/x.vhd", "" };
		uint8_t b[1024];

		make_footer(&f, dyn, 64ull << 20);
		make_header(&h, 32);
		td_vhd_header_encode(&h, b);
		b[900] = 1;
		td_vhd_header_decode(b, &h);
		ck_assert_int_eq(td_vhd_header_validate(b, &h, &f, 512, 0x4000,
							&e), -EILSEQ);
		ck_assert(strstr(e.msg, "bad checksum at offset 0x224"));
	}
}
END_TEST

START_TEST(test_error_sink)
{
	struct td_vhd_err e = { "/a", "" };
	char big[2000];

	ck_assert_int_eq(td_vhd_error(NULL, -5, "x"), -5);
	ck_assert_int_eq(td_vhd_error(&e, -7, "n=%d", 3), -7);
	ck_assert_str_eq(e.msg, "vhd: /a: n=3");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	td_vhd_error(&e, -1, "%s", big);
	ck_assert_uint_eq(strlen(e.msg), sizeof(e.msg) - 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vhd-format");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_checksum);
	tcase_add_test(tc, test_footer_roundtrip);
	tcase_add_test(tc, test_header_roundtrip);
	tcase_add_test(tc, test_chs);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_bitmap_orders);
	tcase_add_test(tc, test_batmap_checksum);
	tcase_add_test(tc, test_bat_codec);
	tcase_add_test(tc, test_utf16);
	tcase_add_test(tc, test_relpath);
	tcase_add_test(tc, test_footer_errors);
	tcase_add_test(tc, test_footer_checksum);
	tcase_add_test(tc, test_header_errors);
	tcase_add_test(tc, test_error_sink);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(suite());
}
