/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Pure NBD protocol code: request decoding and validation, error mapping,
 * transmission flags, INFO/GO and META_CONTEXT payload parsing from
 * crafted byte strings, and the base:allocation chain walk over fake
 * images whose block_status answers from a table.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "image.h"
#include "nbd-proto.h"
#include "nbd.h"
#include "td-check.h"

#define MiB (1024ull * 1024ull)

static struct td_nbd_limits rw_limits(void)
{
	struct td_nbd_limits l = {
		.size = 64 * MiB,
		.read_only = false,
		.structured = true,
		.meta_allocation = true,
		.trim = true,
		.native_zeroes = false,
		.max_block = TD_NBD_MAX_BLOCK,
	};
	return l;
}

static uint32_t check(uint16_t type, uint16_t flags, uint64_t off,
		      uint32_t len, const struct td_nbd_limits *l)
{
	struct td_nbd_request r = {
		.magic = NBD_REQUEST_MAGIC, .flags = flags, .type = type,
		.handle = 7, .offset = off, .length = len,
	};
	const char *why = NULL;
	uint32_t e = td_nbd_check_request(&r, l, &why);

	ck_assert_ptr_nonnull(why);
	if (e)
		ck_assert_int_gt(strlen(why), 0);
	return e;
}

START_TEST(decode_request)
{
	const uint8_t b[NBD_REQUEST_SIZE] = {
		0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x01,
		1, 2, 3, 4, 5, 6, 7, 8,
		0, 0, 0, 0, 0, 0, 0x10, 0x00,
		0, 0, 0x02, 0x00,
	};
	struct td_nbd_request r;

	td_nbd_decode_request(b, &r);
	ck_assert_uint_eq(r.magic, NBD_REQUEST_MAGIC);
	ck_assert_uint_eq(r.flags, NBD_CMD_FLAG_FUA);
	ck_assert_uint_eq(r.type, NBD_CMD_WRITE);
	ck_assert_uint_eq(r.handle, 0x0102030405060708ull);
	ck_assert_uint_eq(r.offset, 4096);
	ck_assert_uint_eq(r.length, 512);
}
END_TEST

START_TEST(valid_requests_pass)
{
	struct td_nbd_limits l = rw_limits();

	ck_assert_uint_eq(check(NBD_CMD_READ, 0, 0, 4096, &l), 0);
	ck_assert_uint_eq(check(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 4096, &l),
			  0);
	ck_assert_uint_eq(check(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA,
				64 * MiB - 512, 512, &l), 0);
	ck_assert_uint_eq(check(NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0, &l), 0);
	ck_assert_uint_eq(check(NBD_CMD_TRIM, 0, 0, 64 * MiB, &l), 0);
	ck_assert_uint_eq(check(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE,
				0, 1 * MiB, &l), 0);
	ck_assert_uint_eq(check(NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE,
				0, 64 * MiB, &l), 0);
	/* Zero-length data commands are harmless no-ops. */
	ck_assert_uint_eq(check(NBD_CMD_READ, 0, 0, 0, &l), 0);
	ck_assert_uint_eq(check(NBD_CMD_WRITE, 0, 4096, 0, &l), 0);
	/* DISC passes whatever it carries. */
	ck_assert_uint_eq(check(NBD_CMD_DISC, 0xffff, 1, 3, &l), 0);
	/* The largest request we advertise. */
	l.size = 1ull << 40;
	ck_assert_uint_eq(check(NBD_CMD_READ, 0, 0, TD_NBD_MAX_BLOCK, &l), 0);
}
END_TEST

START_TEST(bad_commands_and_flags)
{
	struct td_nbd_limits l = rw_limits();

	ck_assert_uint_eq(check(NBD_CMD_CACHE, 0, 0, 4096, &l), NBD_EINVAL);
	ck_assert_uint_eq(check(99, 0, 0, 4096, &l), NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_READ, NBD_CMD_FLAG_NO_HOLE, 0, 512,
				&l), NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_WRITE, NBD_CMD_FLAG_DF, 0, 512, &l),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO,
				0, 512, &l), NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_READ, 1u << 15, 0, 512, &l),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_FLUSH, 0, 512, 0, &l), NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_FLUSH, 0, 0, 512, &l), NBD_EINVAL);
	/* DF is only valid once structured replies are negotiated. */
	l.structured = false;
	ck_assert_uint_eq(check(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512, &l),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_BLOCK_STATUS, 0, 0, 512, &l),
			  NBD_EINVAL);
	l = rw_limits();
	l.meta_allocation = false;
	ck_assert_uint_eq(check(NBD_CMD_BLOCK_STATUS, 0, 0, 512, &l),
			  NBD_EINVAL);
	l = rw_limits();
	ck_assert_uint_eq(check(NBD_CMD_BLOCK_STATUS, 0, 0, 0, &l),
			  NBD_EINVAL);
	l.trim = false;
	ck_assert_uint_eq(check(NBD_CMD_TRIM, 0, 0, 512, &l), NBD_EINVAL);
}
END_TEST

START_TEST(ranges_and_sizes)
{
	struct td_nbd_limits l = rw_limits();

	ck_assert_uint_eq(check(NBD_CMD_READ, 0, 1, 512, &l), NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_WRITE, 0, 0, 100, &l), NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_READ, 0, 64 * MiB, 512, &l),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_TRIM, 0, 64 * MiB - 512, 1024, &l),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_BLOCK_STATUS, 0, 64 * MiB, 512, &l),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_WRITE, 0, 64 * MiB - 512, 1024, &l),
			  NBD_ENOSPC);
	ck_assert_uint_eq(check(NBD_CMD_WRITE_ZEROES, 0, 64 * MiB, 512, &l),
			  NBD_ENOSPC);
	/* offset + length must not wrap around. */
	ck_assert_uint_eq(check(NBD_CMD_READ, 0, UINT64_MAX - 511, 1024, &l),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_WRITE, 0, UINT64_MAX - 511, 1024, &l),
			  NBD_ENOSPC);
	/* Above the advertised maximum. */
	l.size = 1ull << 40;
	ck_assert_uint_eq(check(NBD_CMD_READ, 0, 0, TD_NBD_MAX_BLOCK + 512,
				&l), NBD_EINVAL);
	ck_assert_uint_eq(check(NBD_CMD_WRITE, 0, 0, TD_NBD_MAX_BLOCK + 512,
				&l), NBD_EINVAL);
	/* Zeroes only need the data limit when emulated by a write. */
	ck_assert_uint_eq(check(NBD_CMD_WRITE_ZEROES, 0, 0,
				TD_NBD_MAX_BLOCK + 512, &l), NBD_EINVAL);
	l.native_zeroes = true;
	ck_assert_uint_eq(check(NBD_CMD_WRITE_ZEROES, 0, 0,
				TD_NBD_MAX_BLOCK + 512, &l), 0);
	/* Trim has no payload, so no maximum. */
	ck_assert_uint_eq(check(NBD_CMD_TRIM, 0, 0, 0xfffffe00u, &l), 0);
}
END_TEST

START_TEST(read_only_export)
{
	struct td_nbd_limits l = rw_limits();

	l.read_only = true;
	l.trim = false;
	ck_assert_uint_eq(check(NBD_CMD_WRITE, 0, 0, 512, &l), NBD_EPERM);
	ck_assert_uint_eq(check(NBD_CMD_TRIM, 0, 0, 512, &l), NBD_EPERM);
	ck_assert_uint_eq(check(NBD_CMD_WRITE_ZEROES, 0, 0, 512, &l),
			  NBD_EPERM);
	ck_assert_uint_eq(check(NBD_CMD_READ, 0, 0, 512, &l), 0);
	ck_assert_uint_eq(check(NBD_CMD_FLUSH, 0, 0, 0, &l), 0);
}
END_TEST

START_TEST(errors_and_flags)
{
	struct td_nbd_limits l = rw_limits();
	uint16_t f;

	ck_assert_uint_eq(td_nbd_wire_error(0), 0);
	ck_assert_uint_eq(td_nbd_wire_error(-EROFS), NBD_EPERM);
	ck_assert_uint_eq(td_nbd_wire_error(-EPERM), NBD_EPERM);
	ck_assert_uint_eq(td_nbd_wire_error(-EDQUOT), NBD_ENOSPC);
	ck_assert_uint_eq(td_nbd_wire_error(-EFBIG), NBD_ENOSPC);
	ck_assert_uint_eq(td_nbd_wire_error(-ENOSPC), NBD_ENOSPC);
	ck_assert_uint_eq(td_nbd_wire_error(-EINVAL), NBD_EINVAL);
	ck_assert_uint_eq(td_nbd_wire_error(-EOPNOTSUPP), NBD_ENOTSUP);
	ck_assert_uint_eq(td_nbd_wire_error(-ESHUTDOWN), NBD_ESHUTDOWN);
	ck_assert_uint_eq(td_nbd_wire_error(-ENOENT), NBD_EIO);
	ck_assert_uint_eq(td_nbd_wire_error(-EIO), NBD_EIO);

	f = td_nbd_transmission_flags(&l);
	ck_assert(f & NBD_FLAG_HAS_FLAGS);
	ck_assert(f & NBD_FLAG_SEND_FLUSH);
	ck_assert(f & NBD_FLAG_SEND_FUA);
	ck_assert(f & NBD_FLAG_SEND_TRIM);
	ck_assert(f & NBD_FLAG_SEND_WRITE_ZEROES);
	ck_assert(f & NBD_FLAG_SEND_DF);
	ck_assert(f & NBD_FLAG_CAN_MULTI_CONN);
	ck_assert(!(f & NBD_FLAG_READ_ONLY));
	l.structured = false;
	l.trim = false;
	f = td_nbd_transmission_flags(&l);
	ck_assert(!(f & NBD_FLAG_SEND_DF));
	ck_assert(!(f & NBD_FLAG_SEND_TRIM));
	l.read_only = true;
	f = td_nbd_transmission_flags(&l);
	ck_assert(f & NBD_FLAG_READ_ONLY);
	ck_assert(!(f & NBD_FLAG_SEND_WRITE_ZEROES));
	ck_assert(!(f & NBD_FLAG_SEND_TRIM));
}
END_TEST

/* Builds a 32-bit-length-prefixed string at @p; returns bytes written. */
static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	td_nbd_put32(p, (uint32_t)n);
	memcpy(p + 4, s, n);
	return 4 + n;
}

START_TEST(info_option)
{
	uint8_t b[64];
	struct td_nbd_info_opt io;
	size_t n = put_str(b, "3");

	td_nbd_put16(b + n, 3);
	td_nbd_put16(b + n + 2, NBD_INFO_BLOCK_SIZE);
	td_nbd_put16(b + n + 4, 77); /* unknown: ignored */
	td_nbd_put16(b + n + 6, NBD_INFO_NAME);
	ck_assert_int_eq(td_nbd_parse_info_opt(b, (uint32_t)n + 8, &io), 0);
	ck_assert_uint_eq(io.name_len, 1);
	ck_assert_int_eq(io.name[0], '3');
	ck_assert_uint_eq(io.nreqs, 3);
	ck_assert(io.want_block_size && io.want_name && !io.want_description);

	/* Count and length disagree, both ways. */
	ck_assert_int_eq(td_nbd_parse_info_opt(b, (uint32_t)n + 6, &io),
			 -EINVAL);
	ck_assert_int_eq(td_nbd_parse_info_opt(b, (uint32_t)n + 10, &io),
			 -EINVAL);
	/* Missing the count, or the name runs past the payload. */
	ck_assert_int_eq(td_nbd_parse_info_opt(b, (uint32_t)n, &io), -EINVAL);
	td_nbd_put32(b, 1000);
	ck_assert_int_eq(td_nbd_parse_info_opt(b, (uint32_t)n + 8, &io),
			 -EINVAL);
	ck_assert_int_eq(td_nbd_parse_info_opt(b, 3, &io), -EINVAL);
	/* An empty name and no requests is the minimal valid payload. */
	memset(b, 0, 6);
	ck_assert_int_eq(td_nbd_parse_info_opt(b, 6, &io), 0);
	ck_assert_uint_eq(io.name_len, 0);
}
END_TEST

START_TEST(info_option_long_name)
{
	uint32_t len = 4 + NBD_MAX_STRING + 1 + 2;
	uint8_t *b = calloc(1, len);

	td_nbd_put32(b, NBD_MAX_STRING + 1);
	memset(b + 4, 'x', NBD_MAX_STRING + 1);
	struct td_nbd_info_opt io;

	ck_assert_int_eq(td_nbd_parse_info_opt(b, len, &io), -EINVAL);
	free(b);
}
END_TEST

static int meta(const char *name, const char *const *q, unsigned nq,
		bool list, struct td_nbd_meta_opt *mo)
{
	uint8_t b[512];
	size_t n = put_str(b, name);
	unsigned i;

	td_nbd_put32(b + n, nq);
	n += 4;
	for (i = 0; i < nq; i++)
		n += put_str(b + n, q[i]);
	return td_nbd_parse_meta_opt(b, (uint32_t)n, list, mo);
}

START_TEST(meta_option)
{
	static const char *const alloc[] = { "base:allocation" };
	static const char *const wild[] = { "base:" };
	static const char *const other[] = { "qemu:dirty-bitmap:x",
					     "x-foo:bar" };
	static const char *const nocolon[] = { "allocation" };
	static const char *const mixed[] = { "x-foo:", "base:allocation" };
	struct td_nbd_meta_opt mo;

	ck_assert_int_eq(meta("", NULL, 0, true, &mo), 0);
	ck_assert(mo.allocation);
	ck_assert_int_eq(meta("", NULL, 0, false, &mo), 0);
	ck_assert(!mo.allocation);
	ck_assert_int_eq(meta("5", alloc, 1, false, &mo), 0);
	ck_assert(mo.allocation);
	ck_assert_uint_eq(mo.name_len, 1);
	ck_assert_int_eq(meta("", wild, 1, true, &mo), 0);
	ck_assert(mo.allocation);
	/* "base:" selects nothing in SET. */
	ck_assert_int_eq(meta("", wild, 1, false, &mo), 0);
	ck_assert(!mo.allocation);
	/* Unknown namespaces are ignored, not errors. */
	ck_assert_int_eq(meta("", other, 2, false, &mo), 0);
	ck_assert(!mo.allocation);
	ck_assert_int_eq(meta("", mixed, 2, false, &mo), 0);
	ck_assert(mo.allocation);
	ck_assert_int_eq(meta("", nocolon, 1, false, &mo), -EINVAL);
}
END_TEST

START_TEST(meta_option_malformed)
{
	uint8_t b[64];
	struct td_nbd_meta_opt mo;
	size_t n = put_str(b, "");

	/* A query count far beyond the payload. */
	td_nbd_put32(b + n, 0x10000000u);
	ck_assert_int_eq(td_nbd_parse_meta_opt(b, (uint32_t)n + 4, false, &mo),
			 -EINVAL);
	/* A query whose length runs past the payload. */
	td_nbd_put32(b + n, 1);
	td_nbd_put32(b + n + 4, 40);
	memcpy(b + n + 8, "base:allocation", 15);
	ck_assert_int_eq(td_nbd_parse_meta_opt(b, (uint32_t)n + 23, false,
					       &mo), -EINVAL);
	/* Trailing bytes after the last query. */
	td_nbd_put32(b + n + 4, 15);
	ck_assert_int_eq(td_nbd_parse_meta_opt(b, (uint32_t)n + 24, false,
					       &mo), -EINVAL);
	ck_assert_int_eq(td_nbd_parse_meta_opt(b, (uint32_t)n + 23, false,
					       &mo), 0);
	ck_assert(mo.allocation);
	/* Truncated before the count. */
	ck_assert_int_eq(td_nbd_parse_meta_opt(b, 2, false, &mo), -EINVAL);
}
END_TEST

START_TEST(reply_encoding)
{
	uint8_t b[20];

	td_nbd_put_opt_reply(b, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, 9);
	ck_assert_uint_eq(td_nbd_get64(b), 0x3e889045565a9ull);
	ck_assert_uint_eq(td_nbd_get32(b + 8), 7);
	ck_assert_uint_eq(td_nbd_get32(b + 12), 0x80000006u);
	ck_assert_uint_eq(td_nbd_get32(b + 16), 9);
	td_nbd_put_simple_reply(b, NBD_EPERM, 0xabcdef);
	ck_assert_uint_eq(td_nbd_get32(b), 0x67446698u);
	ck_assert_uint_eq(td_nbd_get32(b + 4), 1);
	ck_assert_uint_eq(td_nbd_get64(b + 8), 0xabcdef);
	td_nbd_put_chunk(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, 5, 6);
	ck_assert_uint_eq(td_nbd_get32(b), 0x668e33efu);
	ck_assert_uint_eq(td_nbd_get16(b + 4), 1);
	ck_assert_uint_eq(td_nbd_get16(b + 6), 0x8001);
	ck_assert_uint_eq(td_nbd_get64(b + 8), 5);
	ck_assert_uint_eq(td_nbd_get32(b + 16), 6);
	ck_assert_str_eq(td_nbd_cmd_name(NBD_CMD_BLOCK_STATUS), "block_status");
	ck_assert_str_eq(td_nbd_cmd_name(1000), "unknown");
}
END_TEST

/*
 * Fake images for the extents walk: each sector's state comes from a
 * string, 'D' data, 'H' hole (not here), 'Z' allocated zeros, 'E' error.
 */
struct fake {
	struct td_image img;
	const char *map;
	unsigned calls;
};

static int fake_bs(struct td_image *img, uint64_t s, uint64_t nr,
		   unsigned *flags, uint64_t *run)
{
	struct fake *f = td_container_of(img, struct fake, img);
	char c = f->map[s];
	uint64_t n = 1;

	f->calls++;
	if (c == 'E')
		return -EIO;
	while (n < nr && f->map[s + n] == c)
		n++;
	*flags = c == 'H' ? TD_EXTENT_HOLE : c == 'Z' ? TD_EXTENT_ZERO : 0;
	*run = n;
	return 0;
}

static const struct td_driver_ops fake_ops = {
	.size = sizeof(struct td_driver_ops),
	.name = "fake",
	.caps = TD_CAP_BLOCK_STATUS,
	.block_status = fake_bs,
};

static const struct td_driver_ops plain_ops = {
	.size = sizeof(struct td_driver_ops),
	.name = "plain",
};

static void fake_init(struct fake *f, const char *map, struct fake *parent)
{
	memset(f, 0, sizeof(*f));
	f->map = map;
	f->img.ops = &fake_ops;
	f->img.caps = TD_CAP_BLOCK_STATUS;
	f->img.size_sectors = strlen(map);
	f->img.parent = parent ? &parent->img : NULL;
}

START_TEST(extents_chain)
{
	struct fake leaf, base;
	struct td_nbd_extent e[8];
	unsigned n;

	/* Parent shorter than the leaf: its tail reads as zeros. */
	fake_init(&base, "DDHHDD", NULL);
	fake_init(&leaf, "HHHHDDHHHH", &base);
	n = td_nbd_extents(&leaf.img, 0, 10, e, 8);
	/* base data, base hole, leaf data, past the end of base */
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(e[0].sectors, 2);
	ck_assert_uint_eq(e[0].flags, 0);
	ck_assert_uint_eq(e[1].sectors, 2);
	ck_assert_uint_eq(e[1].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	ck_assert_uint_eq(e[2].sectors, 2);
	ck_assert_uint_eq(e[2].flags, 0);
	ck_assert_uint_eq(e[3].sectors, 4);
	ck_assert_uint_eq(e[3].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	/* Where the parent holds data under a leaf hole, it is data. */
	fake_init(&base, "DDDDDD", NULL);
	n = td_nbd_extents(&leaf.img, 0, 6, e, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(e[0].sectors, 6);
	ck_assert_uint_eq(e[0].flags, 0);
}
END_TEST

START_TEST(extents_tail_past_parent)
{
	struct fake leaf, base;
	struct td_nbd_extent e[8];
	unsigned n;

	fake_init(&base, "DD", NULL);
	fake_init(&leaf, "HHHHZZ", &base);
	n = td_nbd_extents(&leaf.img, 0, 6, e, 8);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(e[0].sectors, 2);
	ck_assert_uint_eq(e[0].flags, 0);
	ck_assert_uint_eq(e[1].sectors, 2);
	ck_assert_uint_eq(e[1].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	ck_assert_uint_eq(e[2].sectors, 2);
	ck_assert_uint_eq(e[2].flags, NBD_STATE_ZERO);
	/* Offset into the range, and a limit of one extent. */
	n = td_nbd_extents(&leaf.img, 3, 3, e, 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(e[0].sectors, 1);
	ck_assert_uint_eq(e[0].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
}
END_TEST

START_TEST(extents_fallbacks)
{
	struct fake a, b;
	struct td_nbd_extent e[8];
	unsigned n;

	/* No block_status at all: everything is data. */
	fake_init(&a, "HHHH", NULL);
	a.img.ops = &plain_ops;
	n = td_nbd_extents(&a.img, 0, 4, e, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(e[0].sectors, 4);
	ck_assert_uint_eq(e[0].flags, 0);
	/* The op exists but the image dropped the capability. */
	fake_init(&a, "HHHH", NULL);
	a.img.caps = 0;
	n = td_nbd_extents(&a.img, 0, 4, e, 8);
	ck_assert_uint_eq(e[0].flags, 0);
	ck_assert_uint_eq(a.calls, 0);
	/* A failing lookup reports data for the rest, never an error. */
	fake_init(&a, "HHEHH", NULL);
	n = td_nbd_extents(&a.img, 0, 5, e, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(e[0].sectors, 2);
	ck_assert_uint_eq(e[0].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	ck_assert_uint_eq(e[1].sectors, 3);
	ck_assert_uint_eq(e[1].flags, 0);
	/* Hole without a parent reads as zeros. */
	fake_init(&b, "HH", NULL);
	n = td_nbd_extents(&b.img, 0, 2, e, 8);
	ck_assert_uint_eq(e[0].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
}
END_TEST

START_TEST(extents_cap_and_budget)
{
	static char map[4097];
	struct fake a;
	struct td_nbd_extent e[600];
	unsigned n, i;
	uint64_t total = 0;

	for (i = 0; i < 4096; i++)
		map[i] = (i & 1) ? 'D' : 'H';
	fake_init(&a, map, NULL);
	n = td_nbd_extents(&a.img, 0, 4096, e, 600);
	/* The lookup budget stops the walk early, with at least one. */
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, 600);
	ck_assert_uint_le(a.calls, 1024);
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(e[i].sectors, 1);
		uint32_t hz = NBD_STATE_HOLE | NBD_STATE_ZERO;

		ck_assert_uint_eq(e[i].flags, (i & 1) ? 0 : hz);
		total += e[i].sectors;
	}
	ck_assert_uint_le(total, 4096);
	n = td_nbd_extents(&a.img, 0, 4096, e, 16);
	ck_assert_uint_eq(n, 16);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nbd-proto");
	TCase *t = tcase_create("proto");

	tcase_add_test(t, decode_request);
	tcase_add_test(t, valid_requests_pass);
	tcase_add_test(t, bad_commands_and_flags);
	tcase_add_test(t, ranges_and_sizes);
	tcase_add_test(t, read_only_export);
	tcase_add_test(t, errors_and_flags);
	tcase_add_test(t, info_option);
	tcase_add_test(t, info_option_long_name);
	tcase_add_test(t, meta_option);
	tcase_add_test(t, meta_option_malformed);
	tcase_add_test(t, reply_encoding);
	tcase_add_test(t, extents_chain);
	tcase_add_test(t, extents_tail_past_parent);
	tcase_add_test(t, extents_fallbacks);
	tcase_add_test(t, extents_cap_and_budget);
	suite_add_tcase(s, t);
	return td_check_run(s);
}
