// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the VHD file layer on crafted images: validation errors
 * (field and offset named), footer copies, poison, batmap, parent chains
 * (mismatch, loop, missing, relocation), tap 0.1 LSB-first bitmaps, the
 * 511-byte legacy footer, allocation helpers and data round trips; peeking
 * at an image inside a larger device (scan -l), moving the footer
 * (modify -s), and canonical parent paths.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhd-format.h"
#include "vhd-priv.h"
#include "td-check.h"

static char dir[PATH_MAX / 2];

static const char *p(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	if (strlen(dir) + strlen(name) + 2 > sizeof(buf[i]))
		abort();
	strcpy(buf[i], dir);
	strcat(buf[i], "/");
	strcat(buf[i], name);
	return buf[i];
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/vhdtest.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void create(const char *path, enum td_vhd_type t, uint64_t mb,
		   const char *parent)
{
	struct td_vhd_create_opts o = { .type = t, .size = mb << 20,
					.parent = parent };
	struct td_vhd_err e = { path, "" };

	ck_assert_msg(!td_vhd_create(path, &o, &e), "%s", e.msg);
}

static void put(const char *path, uint64_t off, const void *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void put32(const char *path, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

	put(path, off, b, 4);
}

static void get(const char *path, uint64_t off, void *b, size_t len)
{
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, b, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static uint64_t fsize(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* Re-encodes the footer copies (and the header) of @path after edits. */
static void fix_footers(const char *path, void (*edit)(struct td_vhd_footer *))
{
	uint8_t b[512];
	struct td_vhd_footer f;
	uint64_t tail = fsize(path) - 512;

	get(path, tail, b, 512);
	td_vhd_footer_decode(b, &f);
	edit(&f);
	td_vhd_footer_encode(&f, b);
	put(path, tail, b, 512);
	if (f.type != TD_VHD_TYPE_FIXED)
		put(path, 0, b, 512);
}

static void fix_header(const char *path, void (*edit)(struct td_vhd_header *))
{
	uint8_t b[1024];
	struct td_vhd_header h;

	get(path, 512, b, 1024);
	td_vhd_header_decode(b, &h);
	edit(&h);
	td_vhd_header_encode(&h, b);
	put(path, 512, b, 1024);
}

static void write_sectors(const char *path, uint64_t sec, uint32_t n,
			  uint8_t fill)
{
	struct td_vhd_err e = { path, "" };
	struct td_vhd *v;
	size_t len = ((size_t)n * 512 + 4095) & ~(size_t)4095;
	uint8_t *b = aligned_alloc(4096, len);

	memset(b, fill, (size_t)n * 512);
	ck_assert_msg(!td_vhd_open(path, 0, &v, &e), "%s", e.msg);
	ck_assert_msg(!td_vhd_write(v, sec, n, b, &e), "%s", e.msg);
	ck_assert_msg(!td_vhd_write_batmap(v, &e), "%s", e.msg);
	ck_assert_msg(!td_vhd_write_footer(v, &e), "%s", e.msg);
	td_vhd_close(v);
	free(b);
}

/* Opens @path with @flags expecting @rc and a message containing @text. */
static void expect_open(const char *path, unsigned flags, int rc,
			const char *text)
{
	struct td_vhd_err e = { path, "" };
	struct td_vhd *v = NULL;

	ck_assert_int_eq(td_vhd_open(path, flags, &v, &e), rc);
	if (rc) {
		ck_assert_ptr_null(v);
		ck_assert_msg(strstr(e.msg, text), "got: %s", e.msg);
	}
	td_vhd_close(v);
}

START_TEST(test_open_valid)
{
	struct td_vhd_err e = { 0 };
	struct td_vhd *v;
	uint32_t s;

	create(p("d.vhd"), TD_VHD_TYPE_DYNAMIC, 8, NULL);
	write_sectors(p("d.vhd"), 4096 + 7, 3, 0xab);
	e.name = p("d.vhd");
	ck_assert(!td_vhd_open(p("d.vhd"), TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert_uint_eq(v->footer.type, TD_VHD_TYPE_DYNAMIC);
	ck_assert_uint_eq(v->footer.crtr_app, TD_VHD_CREATOR_TAP);
	ck_assert_uint_eq(v->spb, 4096);
	ck_assert_uint_eq(v->bm_secs, 1);
	ck_assert_uint_eq(v->bat_used, 4);
	ck_assert(v->has_batmap && v->batmap_ok);
	ck_assert(v->tail_ok && v->head_ok);
	ck_assert_int_eq(v->footer_src, TD_VHD_FOOTER_TAIL);
	ck_assert_uint_eq(v->bat[0], TD_VHD_BAT_UNUSED);
	/* blktap alignment: the data area starts on 4 KiB */
	ck_assert_uint_eq((v->bat[1] + v->bm_secs) % 8, 0);
	ck_assert_uint_eq(td_vhd_sector_offset(v, 4096 + 7),
			  ((uint64_t)v->bat[1] + 1 + 7) * 512);
	ck_assert_uint_eq(td_vhd_sector_offset(v, 0), 0);
	/* allocation helpers: aligned, advancing, BAT sector encoding */
	ck_assert_int_eq(td_vhd_reserve_block(v, &s), 0);
	ck_assert_uint_eq((s + 1) % 8, 0);
	ck_assert_uint_ge((uint64_t)s * 512, td_vhd_block_offset(v, 1) +
						     512 + (2 << 20));
	{
		uint32_t s2;
		uint8_t sec[512];

		ck_assert_int_eq(td_vhd_reserve_block(v, &s2), 0);
		ck_assert_uint_eq(s2, s + 1 + 4096 + 7);
		td_vhd_bat_set(v, 2, s);
		ck_assert_uint_eq(td_vhd_bat_sector(v, 2, sec), 1536);
		ck_assert_uint_eq(sec[8], s >> 24);
		ck_assert_uint_eq(sec[11], s & 0xff);
		ck_assert_uint_eq(sec[12], 0xff); /* unused entry */
		ck_assert_uint_eq(sec[200], 0xff); /* padding past max_bat */
	}
	ck_assert(!td_vhd_batmap_test(v, 1));
	td_vhd_close(v);
}
END_TEST

static uint64_t data_limit(const char *path)
{
	return fsize(path) - 512;
}

START_TEST(test_bat_errors)
{
	const char *d = p("d.vhd");
	uint64_t lim;
	uint32_t b0;

	create(d, TD_VHD_TYPE_DYNAMIC, 8, NULL);
	write_sectors(d, 0, 8, 1);
	write_sectors(d, 4096, 8, 2);
	lim = data_limit(d);
	get(d, 1536, &b0, 4);
	b0 = __builtin_bswap32(b0);

	/* bitmap inside the file, data past its end */
	put32(d, 1536 + 4, (uint32_t)(lim / 512 - 2));
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "BAT entry 1 at offset 0x604 points past end of file");
	/* even the bitmap past the end */
	put32(d, 1536 + 4, (uint32_t)(lim / 512 + 10));
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "BAT entry 1 at offset 0x604: bitmap at");
	/* into the metadata */
	put32(d, 1536 + 4, 1);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "BAT entry 1 at offset 0x604: block at 0x200 overlaps "
		    "the dynamic header");
	/* two blocks sharing space */
	put32(d, 1536 + 4, b0 + 8);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "overlaps the block of BAT entry");
	/* FAST skips only the pairwise overlap scan */
	expect_open(d, TD_VHD_OPEN_RDONLY | TD_VHD_OPEN_FAST, 0, "");
	/* an unused entry far away is fine */
	put32(d, 1536 + 4, TD_VHD_BAT_UNUSED);
	expect_open(d, 0, 0, "");
}
END_TEST

static void huge_bat(struct td_vhd_header *h)
{
	h->max_bat = 1u << 25;
}

static void small_bat(struct td_vhd_header *h)
{
	h->max_bat = 3;
}

static void bad_block_size(struct td_vhd_header *h)
{
	h->block_size = 3 << 20;
}

START_TEST(test_header_errors)
{
	const char *d = p("d.vhd");
	uint8_t x = 0x55;

	create(d, TD_VHD_TYPE_DYNAMIC, 8, NULL);
	fix_header(d, huge_bat);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "max table entries 33554432 at offset 0x21c is absurd");
	fix_header(d, small_bat);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL, "(disk needs 4");
	fix_header(d, bad_block_size);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "bad block size 0x300000 at offset 0x220");
	put(d, 512 + 700, &x, 1);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EILSEQ,
		    "dynamic header at 0x200: bad checksum at offset 0x224");
}
END_TEST

static void to_tap_future(struct td_vhd_footer *f)
{
	f->crtr_ver = 0x00020000;
}

START_TEST(test_footer_copies)
{
	const char *d = p("d.vhd");
	uint8_t junk[512], c7[512];
	struct td_vhd_err e = { d, "" };
	struct td_vhd *v;
	uint64_t tail;

	create(d, TD_VHD_TYPE_DYNAMIC, 8, NULL);
	write_sectors(d, 0, 1, 9);
	tail = fsize(d) - 512;
	memset(c7, 0xc7, sizeof(c7));
	/* tapdisk "strict" open: tail overwritten, offset-0 copy rules */
	put(d, tail, c7, 512);
	ck_assert(!td_vhd_open(d, TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert_int_eq(v->footer_src, TD_VHD_FOOTER_HEAD);
	ck_assert(!v->tail_ok && v->head_ok);
	td_vhd_close(v);
	/* repair: write the footer back at the end of data */
	ck_assert(!td_vhd_open(d, 0, &v, &e));
	ck_assert(!td_vhd_write_footer(v, &e));
	td_vhd_close(v);
	ck_assert_uint_eq(fsize(d), tail + 512);
	ck_assert(!td_vhd_open(d, TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert(v->tail_ok && v->footer_src == TD_VHD_FOOTER_TAIL);
	td_vhd_close(v);
	/* both copies bad */
	memset(junk, 0, sizeof(junk));
	put(d, 0, junk, 512);
	put(d, tail, c7, 512);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "bad cookie at offset 0x");
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL,
		    "(and no valid footer copy at offset 0)");
	/* a file of odd size */
	put(d, tail + 512, junk, 100);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL, "is not a multiple of 512");
	/* too small */
	put(p("tiny"), 0, junk, 100);
	expect_open(p("tiny"), TD_VHD_OPEN_RDONLY, -EINVAL, "file too small");
}
END_TEST

START_TEST(test_poison_and_versions)
{
	const char *d = p("d.vhd");
	uint8_t hdr[512];
	uint64_t tail;

	create(d, TD_VHD_TYPE_DYNAMIC, 8, NULL);
	tail = fsize(d) - 512;
	put(d, 0, "v_poison", 8);
	put(d, tail, "v_poison", 8);
	expect_open(d, TD_VHD_OPEN_RDONLY, -ENOTSUP, "run revert");
	expect_open(d, TD_VHD_OPEN_RDONLY | TD_VHD_OPEN_IGNORE_DISABLED, 0,
		    "");
	put(d, 0, "conectix", 8);
	put(d, tail, "conectix", 8);
	expect_open(d, 0, 0, "");
	/* a tap image from a newer writer is read-only to us */
	fix_footers(d, to_tap_future);
	expect_open(d, 0, -ENOTSUP, "is newer than ours");
	expect_open(d, TD_VHD_OPEN_RDONLY, 0, "");

	/* a batmap with a bad checksum: read-write refuses it */
	create(p("b.vhd"), TD_VHD_TYPE_DYNAMIC, 8, NULL);
	get(p("b.vhd"), 2048, hdr, 512);
	hdr[27] ^= 1;
	put(p("b.vhd"), 2048, hdr, 512);
	expect_open(p("b.vhd"), 0, -EILSEQ,
		    "batmap header at 0x800: bad checksum at offset 0x818");
	expect_open(p("b.vhd"), TD_VHD_OPEN_RDONLY, 0, "");
	expect_open(p("b.vhd"), TD_VHD_OPEN_IGNORE_BATMAP, 0, "");
	hdr[0] = 'X';
	put(p("b.vhd"), 2048, hdr, 512);
	expect_open(p("b.vhd"), 0, -EINVAL,
		    "batmap header at 0x800: bad cookie");
}
END_TEST

static void to_tap01(struct td_vhd_footer *f)
{
	f->crtr_ver = TD_VHD_TAP_V0_1;
}

START_TEST(test_tap01_lsb_bitmaps)
{
	const char *d = p("d.vhd");
	struct td_vhd_err e = { d, "" };
	uint8_t bm[512] = { 0 }, buf[8 * 512];
	struct td_vhd *v;
	uint64_t run;
	uint32_t blk0;
	bool alloc;
	unsigned i;

	create(d, TD_VHD_TYPE_DYNAMIC, 4, NULL);
	write_sectors(d, 0, 8, 0x77);
	fix_footers(d, to_tap01);
	/* rewrite block 0's bitmap LSB-first: sectors 1 and 2 present */
	get(d, 1536, &blk0, 4);
	blk0 = __builtin_bswap32(blk0);
	bm[0] = 0x06;
	put(d, (uint64_t)blk0 * 512, bm, 512);
	ck_assert(!td_vhd_open(d, TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert(v->bm_le);
	ck_assert(!v->has_batmap); /* 0.1 predates the batmap */
	ck_assert(!td_vhd_read(v, 0, 8, buf, &e));
	for (i = 0; i < 8 * 512; i++)
		ck_assert_uint_eq(buf[i], (i / 512 == 1 || i / 512 == 2) ?
						  0x77 : 0);
	ck_assert(!td_vhd_sector_status(v, 0, 8, &alloc, &run, &e));
	ck_assert(!alloc && run == 1);
	ck_assert(!td_vhd_sector_status(v, 1, 8, &alloc, &run, &e));
	ck_assert(alloc && run == 2);
	td_vhd_close(v);
}
END_TEST

START_TEST(test_legacy_footer)
{
	const char *f = p("f.vhd"), *d = p("d.vhd");
	struct td_vhd_err e = { f, "" };
	struct td_vhd *v;

	create(f, TD_VHD_TYPE_FIXED, 2, NULL);
	ck_assert_int_eq(truncate(f, (off_t)fsize(f) - 1), 0);
	ck_assert(!td_vhd_open(f, TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert_int_eq(v->footer_src, TD_VHD_FOOTER_LEGACY);
	ck_assert_uint_eq(td_vhd_size(v), 2 << 20);
	td_vhd_close(v);
	/* writing the footer turns it into a normal 512-byte one */
	ck_assert(!td_vhd_open(f, 0, &v, &e));
	ck_assert(!td_vhd_write_footer(v, &e));
	td_vhd_close(v);
	ck_assert_uint_eq(fsize(f), (2 << 20) + 512);
	/* only fixed disks may have one */
	create(d, TD_VHD_TYPE_DYNAMIC, 2, NULL);
	ck_assert_int_eq(truncate(d, (off_t)fsize(d) - 1), 0);
	expect_open(d, TD_VHD_OPEN_RDONLY, -EINVAL, "only valid for fixed");
}
END_TEST

START_TEST(test_chain)
{
	struct td_vhd_err e = { 0 };
	uint8_t *buf = aligned_alloc(4096, 16 << 20);
	struct td_vhd *v;
	char path[PATH_MAX];
	uint64_t i;
	bool raw;

	create(p("base.vhd"), TD_VHD_TYPE_DYNAMIC, 4, NULL);
	write_sectors(p("base.vhd"), 0, 16, 0x11);
	write_sectors(p("base.vhd"), 8190, 2, 0x12);
	create(p("child.vhd"), TD_VHD_TYPE_DIFF, 0, p("base.vhd"));
	/* a grandchild larger than the chain: zeros past the parent */
	{
		struct td_vhd_create_opts o = { .type = TD_VHD_TYPE_DIFF,
						.size = 8 << 20,
						.parent = p("child.vhd") };

		e.name = "leaf";
		ck_assert_msg(!td_vhd_create(p("leaf.vhd"), &o, &e), "%s",
			      e.msg);
	}
	write_sectors(p("child.vhd"), 8, 4, 0x22);
	write_sectors(p("leaf.vhd"), 10, 1, 0x33);
	write_sectors(p("leaf.vhd"), 9000, 1, 0x34);
	e.name = p("leaf.vhd");
	ck_assert_msg(!td_vhd_open_chain(p("leaf.vhd"), TD_VHD_OPEN_RDONLY, &v,
					 &e), "%s", e.msg);
	ck_assert_ptr_nonnull(v->parent);
	ck_assert_ptr_nonnull(v->parent->parent);
	ck_assert_ptr_null(v->parent->parent->parent);
	ck_assert(!td_vhd_read(v, 0, 16384, buf, &e));
	for (i = 0; i < 16384; i++) {
		uint8_t want = 0;

		if (i < 16)
			want = 0x11;
		if (i >= 8 && i < 12)
			want = 0x22;
		if (i == 10)
			want = 0x33;
		if (i == 8190 || i == 8191)
			want = 0x12;
		if (i == 9000)
			want = 0x34;
		ck_assert_msg(buf[i * 512] == want &&
				      buf[i * 512 + 511] == want,
			      "sector %lu: %x != %x", (unsigned long)i,
			      buf[i * 512], want);
	}
	/* the parent path is absolute and canonical */
	ck_assert(!td_vhd_parent_path(v, path, sizeof(path), &raw, &e));
	ck_assert(!raw);
	ck_assert(strstr(path, "/child.vhd"));
	ck_assert_int_eq(path[0], '/');
	/* read-only images refuse writes */
	ck_assert_int_eq(td_vhd_write(v, 0, 1, buf, &e), -EROFS);
	td_vhd_close(v);
	free(buf);
}
END_TEST

START_TEST(test_chain_errors)
{
	struct td_vhd_err e = { 0 };
	struct td_vhd *v;
	char moved[PATH_MAX];

	create(p("base.vhd"), TD_VHD_TYPE_DYNAMIC, 4, NULL);
	create(p("a.vhd"), TD_VHD_TYPE_DIFF, 0, p("base.vhd"));
	create(p("b.vhd"), TD_VHD_TYPE_DIFF, 0, p("a.vhd"));
	/* a loop: a's parent becomes b (the UUIDs then match both ways) */
	e.name = p("a.vhd");
	ck_assert(!td_vhd_open(p("a.vhd"), 0, &v, &e));
	ck_assert_msg(!td_vhd_set_parent(v, p("b.vhd"), false, &e), "%s",
		      e.msg);
	td_vhd_close(v);
	e.name = p("b.vhd");
	ck_assert_int_eq(td_vhd_open_chain(p("b.vhd"), TD_VHD_OPEN_RDONLY, &v,
					   &e), -ELOOP);
	ck_assert_msg(strstr(e.msg, "parent chain loops"), "%s", e.msg);
	/* back to base, then a base with another UUID */
	ck_assert(!td_vhd_open(p("a.vhd"), 0, &v, &e));
	ck_assert(!td_vhd_set_parent(v, p("base.vhd"), false, &e));
	td_vhd_close(v);
	ck_assert(!td_vhd_open_chain(p("b.vhd"), TD_VHD_OPEN_RDONLY, &v, &e));
	td_vhd_close(v);
	ck_assert_int_eq(rename(p("base.vhd"), p("base.old")), 0);
	create(p("base.vhd"), TD_VHD_TYPE_DYNAMIC, 4, NULL);
	ck_assert_int_eq(td_vhd_open_chain(p("b.vhd"), TD_VHD_OPEN_RDONLY, &v,
					   &e), -EINVAL);
	ck_assert_msg(strstr(e.msg, "parent UUID mismatch: header at offset "
			     "0x228 wants"), "%s", e.msg);
	/* missing parent */
	unlink(p("base.vhd"));
	ck_assert_int_eq(td_vhd_open_chain(p("b.vhd"), TD_VHD_OPEN_RDONLY, &v,
					   &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, "parent not found"), "%s", e.msg);
	/* relative locators survive moving the whole directory */
	ck_assert_int_eq(rename(p("base.old"), p("base.vhd")), 0);
	snprintf(moved, sizeof(moved), "%s.moved", dir);
	ck_assert_int_eq(rename(dir, moved), 0);
	{
		char leaf[PATH_MAX + 16];

		snprintf(leaf, sizeof(leaf), "%s/b.vhd", moved);
		e.name = leaf;
		ck_assert_msg(!td_vhd_open_chain(leaf, TD_VHD_OPEN_RDONLY, &v,
						 &e), "%s", e.msg);
		ck_assert(strstr(v->parent->parent->path, ".moved/"));
		td_vhd_close(v);
	}
	ck_assert_int_eq(rename(moved, dir), 0);
}
END_TEST

START_TEST(test_raw_parent)
{
	struct td_vhd_err e = { 0 };
	struct td_vhd_create_opts o = { .type = TD_VHD_TYPE_DIFF,
					.parent_raw = true };
	uint8_t buf[4 * 512];
	struct td_vhd *v;
	int fd;

	fd = open(p("base.raw"), O_CREAT | O_WRONLY, 0644);
	memset(buf, 0x44, sizeof(buf));
	ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), 2 << 20), sizeof(buf));
	ck_assert_int_eq(ftruncate(fd, 4 << 20), 0);
	close(fd);
	o.parent = p("base.raw");
	e.name = "c";
	ck_assert_msg(!td_vhd_create(p("c.vhd"), &o, &e), "%s", e.msg);
	ck_assert(!td_vhd_open_chain(p("c.vhd"), TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert(v->parent && v->parent->raw);
	ck_assert_uint_eq(td_vhd_size(v), 4 << 20);
	ck_assert(!td_vhd_read(v, 4095, 4, buf, &e));
	ck_assert_uint_eq(buf[0], 0);
	ck_assert_uint_eq(buf[512], 0x44);
	td_vhd_close(v);
}
END_TEST

/* Copies @src into @dst at @off (a volume inside a physical volume). */
static void embed(const char *src, const char *dst, uint64_t off)
{
	uint64_t n = fsize(src);
	uint8_t *b = malloc(n);

	get(src, 0, b, n);
	put(dst, off, b, n);
	free(b);
}

START_TEST(test_peek)
{
	struct td_vhd_err e = { "vol", "" };
	struct td_vhd_footer f;
	struct td_vhd_header h;
	uint64_t base = 3 << 20, len = 8 << 20;
	char text[PATH_MAX];
	unsigned i, n = 0;
	bool rel;
	int fd;

	create(p("base.vhd"), TD_VHD_TYPE_DYNAMIC, 4, NULL);
	write_sectors(p("base.vhd"), 0, 8, 0x11);
	create(p("child.vhd"), TD_VHD_TYPE_DIFF, 0, p("base.vhd"));
	/* garbage around the image, as other volumes would be */
	put(p("pv"), 0, "junkjunk", 8);
	embed(p("child.vhd"), p("pv"), base);
	put(p("pv"), base + len, "junkjunk", 8);
	fd = open(p("pv"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(!td_vhd_peek(fd, base, len, &f, &h, &e), "%s", e.msg);
	ck_assert_int_eq(f.type, TD_VHD_TYPE_DIFF);
	ck_assert_uint_eq(f.curr_size, 4 << 20);
	ck_assert_uint_eq(h.block_size, 2 << 20);
	for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
		if (td_vhd_peek_locator(fd, base, &h, i, text, sizeof(text),
					&rel, &e))
			continue;
		n++;
		ck_assert_msg(strstr(text, "base.vhd"), "locator %u: %s", i,
			      text);
	}
	ck_assert_uint_eq(n, 3); /* MacX, W2ku, W2ru */
	ck_assert_int_eq(td_vhd_peek_locator(fd, base, &h, 8, text,
					     sizeof(text), &rel, &e),
			 -EINVAL);
	/* the wrong place: an error naming the field, offsets relative */
	ck_assert_int_eq(td_vhd_peek(fd, base + 512, len, &f, &h, &e),
			 -EINVAL);
	ck_assert_msg(strstr(e.msg, "footer at 0x0: bad cookie"), "%s",
		      e.msg);
	/* a volume too small for its header */
	ck_assert_int_eq(td_vhd_peek(fd, base, 1024, &f, &h, &e), -EINVAL);
	ck_assert_msg(strstr(e.msg, "header"), "%s", e.msg);
	close(fd);
}
END_TEST

START_TEST(test_set_phys_size)
{
	struct td_vhd_err e = { "img", "" };
	uint64_t sz, phys;
	struct td_vhd *v;
	uint8_t b[512];

	create(p("d.vhd"), TD_VHD_TYPE_DYNAMIC, 8, NULL);
	write_sectors(p("d.vhd"), 100, 8, 0x5a);
	sz = fsize(p("d.vhd"));
	ck_assert(!td_vhd_open(p("d.vhd"), 0, &v, &e));
	phys = td_vhd_phys_size(v);
	ck_assert_uint_eq(phys, sz);
	ck_assert_int_eq(td_vhd_set_phys_size(v, phys - 512, &e), -EINVAL);
	ck_assert_int_eq(td_vhd_set_phys_size(v, phys + 100, &e), -EINVAL);
	ck_assert_uint_eq(fsize(p("d.vhd")), sz);
	ck_assert_msg(!td_vhd_set_phys_size(v, sz + (1 << 20), &e), "%s",
		      e.msg);
	td_vhd_close(v);
	ck_assert_uint_eq(fsize(p("d.vhd")), sz + (1 << 20));
	get(p("d.vhd"), sz + (1 << 20) - 512, b, 512);
	ck_assert(!memcmp(b, "conectix", 8));
	/* still a valid image with its data, and it shrinks back */
	ck_assert(!td_vhd_open(p("d.vhd"), 0, &v, &e));
	ck_assert_uint_eq(td_vhd_phys_size(v), phys);
	ck_assert(!td_vhd_read(v, 100, 1, b, &e));
	ck_assert_uint_eq(b[0], 0x5a);
	ck_assert_msg(!td_vhd_set_phys_size(v, phys, &e), "%s", e.msg);
	td_vhd_close(v);
	ck_assert_uint_eq(fsize(p("d.vhd")), phys);
	expect_open(p("d.vhd"), 0, 0, "");
	/* read-only and fixed images are refused */
	ck_assert(!td_vhd_open(p("d.vhd"), TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert_int_eq(td_vhd_set_phys_size(v, phys, &e), -EROFS);
	td_vhd_close(v);
	create(p("f.vhd"), TD_VHD_TYPE_FIXED, 2, NULL);
	ck_assert(!td_vhd_open(p("f.vhd"), 0, &v, &e));
	ck_assert_int_eq(td_vhd_set_phys_size(v, 4 << 20, &e), -EINVAL);
	td_vhd_close(v);
}
END_TEST

START_TEST(test_canonpath)
{
	char out[PATH_MAX], want[PATH_MAX], rel[PATH_MAX], cwd[PATH_MAX];

	create(p("c.vhd"), TD_VHD_TYPE_DYNAMIC, 2, NULL);
	ck_assert_ptr_nonnull(realpath(p("c.vhd"), want));
	/* not a volume: realpath, whatever the spelling */
	snprintf(rel, sizeof(rel), "%s/./x/../c.vhd", dir);
	ck_assert_int_eq(mkdir(p("x"), 0755), 0);
	ck_assert_int_eq(vhd_canonpath(rel, out, sizeof(out)), 0);
	ck_assert_str_eq(out, want);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(vhd_canonpath("x/../c.vhd", out, sizeof(out)), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(vhd_canonpath(p("missing"), out, sizeof(out)),
			 -ENOENT);
	ck_assert_int_eq(vhd_canonpath(p("c.vhd"), out, 4), -ENAMETOOLONG);
	/* a /dev/A/B path with no device-mapper node keeps its name */
	if (access("/dev/pts/ptmx", F_OK) ||
	    !access("/dev/mapper/pts-ptmx", F_OK))
		return;
	ck_assert_int_eq(vhd_canonpath("/dev/pts/../pts/ptmx", out,
				       sizeof(out)), 0);
	ck_assert_str_eq(out, "/dev/pts/ptmx");
}
END_TEST

START_TEST(test_create_limits)
{
	struct td_vhd_create_opts o = { .type = TD_VHD_TYPE_DYNAMIC };
	struct td_vhd_err e = { "x", "" };
	struct td_vhd *v;

	o.size = (2040ull << 30) + 1;
	ck_assert_int_eq(td_vhd_create(p("x.vhd"), &o, &e), -EINVAL);
	ck_assert(strstr(e.msg, "2040 GiB"));
	ck_assert_int_eq(access(p("x.vhd"), F_OK), -1);
	o.size = 2040ull << 30;
	ck_assert(!td_vhd_create(p("x.vhd"), &o, &e));
	ck_assert(!td_vhd_open(p("x.vhd"), TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert_uint_eq(v->header.max_bat, 1044480);
	ck_assert_uint_eq(v->footer.cyls, 65535);
	td_vhd_close(v);
	/* exists already */
	ck_assert_int_eq(td_vhd_create(p("x.vhd"), &o, &e), -EEXIST);
	/* size rounded up to 2 MiB, BAT sized for -S */
	o.size = 3 << 20;
	o.max_size = 1ull << 30;
	ck_assert(!td_vhd_create(p("y.vhd"), &o, &e));
	ck_assert(!td_vhd_open(p("y.vhd"), TD_VHD_OPEN_RDONLY, &v, &e));
	ck_assert_uint_eq(td_vhd_size(v), 4 << 20);
	ck_assert_uint_eq(v->header.max_bat, 512);
	ck_assert_uint_eq(v->bat_used, 2);
	td_vhd_close(v);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vhd-file");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_valid);
	tcase_add_test(tc, test_bat_errors);
	tcase_add_test(tc, test_header_errors);
	tcase_add_test(tc, test_footer_copies);
	tcase_add_test(tc, test_poison_and_versions);
	tcase_add_test(tc, test_tap01_lsb_bitmaps);
	tcase_add_test(tc, test_legacy_footer);
	tcase_add_test(tc, test_chain);
	tcase_add_test(tc, test_chain_errors);
	tcase_add_test(tc, test_raw_parent);
	tcase_add_test(tc, test_create_limits);
	tcase_add_test(tc, test_peek);
	tcase_add_test(tc, test_set_phys_size);
	tcase_add_test(tc, test_canonpath);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(suite());
}
