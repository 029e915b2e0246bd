// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util read: dump headers, BAT entries, bitmaps and data.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vhd-util.h"

static const char read_usage[] =
	"vhd-util read -n NAME [-p] [-t SEC] [-b BLK] [-m BLK] [-i SEC] [-a] "
	"[-j BLK] [-d BLK] [-r SEC] [-B] [-c COUNT] [-x]";

static bool hex;

static const char *num(uint64_t v, char *buf)
{
	snprintf(buf, 24, hex ? "0x%" PRIx64 : "%" PRIu64, v);
	return buf;
}

static void time_str(uint32_t t, char *out, size_t len)
{
	time_t u = (time_t)td_vhd_unix_time(t);
	struct tm tm;

	if (!gmtime_r(&u, &tm) || !strftime(out, len, "%a %b %e %T %Y", &tm))
		snprintf(out, len, "%u", t);
}

static void uuid_str(const uint8_t *u, char *out)
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
		 u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}

static void print_footer(const struct td_vhd *v)
{
	static const char *const types[] = {
		"None", "Reserved (deprecated)", "Fixed hard disk",
		"Dynamic hard disk", "Differencing hard disk",
	};
	const struct td_vhd_footer *f = &v->footer;
	char a[24], b[24], c[24], ts[64], cr[5], uuid[37];
	uint64_t chs = td_vhd_chs_bytes(f->cyls, f->heads, f->spt);

	time_str(f->timestamp, ts, sizeof(ts));
	td_vhd_creator_str(f->crtr_app, cr);
	uuid_str(f->uuid, uuid);
	printf("VHD Footer Summary:\n-------------------\n");
	printf("Cookie              : %.8s\n", f->cookie);
	printf("Features            : (0x%08x) %s%s\n", f->features,
	       f->features & TD_VHD_FEAT_TEMPORARY ? "<TEMP>" : "",
	       f->features & TD_VHD_FEAT_RESERVED ? "<RESV>" : "");
	printf("File format version : Major: %u, Minor: %u\n",
	       f->ff_version >> 16, f->ff_version & 0xffff);
	printf("Data offset         : %s\n", num(f->data_offset, a));
	printf("Timestamp           : %s\n", ts);
	printf("Creator Application : '%s'\n", cr);
	printf("Creator version     : Major: %u, Minor: %u\n",
	       f->crtr_ver >> 16, f->crtr_ver & 0xffff);
	printf("Creator OS          : %s\n",
	       f->crtr_os == 0x5769326B ? "Windows" :
	       f->crtr_os == 0x4D616320 ? "Macintosh" : "Unknown!");
	printf("Original disk size  : %s MB (%s Bytes)\n",
	       num(f->orig_size >> 20, a), num(f->orig_size, b));
	printf("Current disk size   : %s MB (%s Bytes)\n",
	       num(f->curr_size >> 20, a), num(f->curr_size, b));
	printf("Geometry            : Cyl: %s, Hds: %s, Sctrs: %s\n",
	       num(f->cyls, a), num(f->heads, b), num(f->spt, c));
	printf("                    : = %s MB (%s Bytes)\n", num(chs >> 20, a),
	       num(chs, b));
	printf("Disk type           : %s\n",
	       f->type < 5 ? types[f->type] : "Unknown type!");
	printf("Checksum            : 0x%x\n", f->checksum);
	printf("UUID                : %s\n", uuid);
	printf("Saved state         : %s\n", f->saved_state ? "Yes" : "No");
	printf("Hidden              : %u\n", f->hidden);
	printf("Footer source       : %s\n",
	       v->footer_src == TD_VHD_FOOTER_HEAD ? "copy at offset 0" :
	       v->footer_src == TD_VHD_FOOTER_LEGACY ? "511-byte legacy" :
						       "end of file");
	printf("\n");
}

static const char *code_name(uint32_t code)
{
	switch (code) {
	case TD_VHD_PLAT_NONE: return "PLAT_CODE_NONE";
	case TD_VHD_PLAT_WI2R: return "PLAT_CODE_WI2R";
	case TD_VHD_PLAT_WI2K: return "PLAT_CODE_WI2K";
	case TD_VHD_PLAT_W2RU: return "PLAT_CODE_W2RU";
	case TD_VHD_PLAT_W2KU: return "PLAT_CODE_W2KU";
	case TD_VHD_PLAT_MAC: return "PLAT_CODE_MAC";
	case TD_VHD_PLAT_MACX: return "PLAT_CODE_MACX";
	}
	return "UNKNOWN";
}

static void print_header(const struct td_vhd *v)
{
	const struct td_vhd_header *h = &v->header;
	char a[24], b[24], ts[64], uuid[37], name[PATH_MAX];
	struct td_vhd_err err = { v->path, "" };
	unsigned i;
	bool rel;

	printf("VHD Header Summary:\n-------------------\n");
	printf("Cookie              : %.8s\n", h->cookie);
	printf("Data offset (unusd) : %s\n", num(h->data_offset, a));
	printf("Table offset        : %s\n", num(h->table_offset, a));
	printf("Header version      : 0x%08x\n", h->hdr_version);
	printf("Max BAT size        : %s\n", num(h->max_bat, a));
	printf("Block size          : %s (%s MB)\n", num(h->block_size, a),
	       num(h->block_size >> 20, b));
	if (td_vhd_utf16_to_utf8(h->prt_name, sizeof(h->prt_name), true, name,
				 sizeof(name)))
		snprintf(name, sizeof(name), "failed to read name");
	printf("Parent name         : %s\n", name);
	uuid_str(h->prt_uuid, uuid);
	printf("Parent UUID         : %s\n", uuid);
	time_str(h->prt_ts, ts, sizeof(ts));
	printf("Parent timestamp    : %s\n", ts);
	printf("Checksum            : 0x%x\n\n", h->checksum);
	if (v->footer.type != TD_VHD_TYPE_DIFF)
		return;
	printf("VHD Parent Locators:\n--------------------\n");
	for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
		const struct td_vhd_locator *l = &h->loc[i];

		if (l->code == TD_VHD_PLAT_NONE)
			continue;
		printf("locator:            : %u\n", i);
		printf("       code         : %s\n", code_name(l->code));
		printf("       data_space   : %s\n", num(l->data_space, a));
		printf("       data_length  : %s\n", num(l->data_len, a));
		printf("       data_offset  : %s\n", num(l->data_offset, a));
		if (td_vhd_parent_locator_text(v, i, name, sizeof(name),
					       &rel, &err))
			printf("failed to read parent name\n");
		else
			printf("       decoded name : %s\n", name);
		printf("\n");
	}
}

static void print_batmap_header(const struct td_vhd *v)
{
	char a[24];

	printf("VHD Batmap Summary:\n-------------------\n");
	printf("Batmap offset       : %s\n",
	       num(v->batmap_hdr.batmap_offset, a));
	printf("Batmap size (secs)  : %s\n", num(v->batmap_hdr.batmap_size, a));
	printf("Batmap version      : 0x%08x\n", v->batmap_hdr.batmap_version);
	printf("Checksum            : 0x%x (%s)\n", v->batmap_hdr.checksum,
	       v->batmap_ok ? "Good!" : "Bad!");
	printf("Marker              : %u\n\n", v->batmap_hdr.marker);
}

static int write_out(const void *buf, size_t len)
{
	return fwrite(buf, 1, len, stdout) == len ? 0 : -EIO;
}

struct read_req {
	uint64_t t, b, m, i, j, d, r, count;
	bool headers, batmap, blockmap;
};

#define UNSET UINT64_MAX

static bool is_dyn(const struct td_vhd *v)
{
	return v->footer.type != TD_VHD_TYPE_FIXED;
}

static int blk_range(const struct td_vhd *v, uint64_t blk, uint64_t n)
{
	if (!is_dyn(v))
		return vu_fail("read", -EINVAL, "%s: fixed images have no "
			       "blocks", v->path);
	if (blk + n > v->header.max_bat || blk + n < blk)
		return vu_fail("read", -ERANGE, "block %" PRIu64 " past the "
			       "BAT (%u entries)", blk + n, v->header.max_bat);
	return 0;
}

static int sec_range(const struct td_vhd *v, uint64_t sec, uint64_t n)
{
	if (sec + n > td_vhd_size(v) / TD_VHD_SECTOR || sec + n < sec)
		return vu_fail("read", -ERANGE, "sector %" PRIu64 " past end "
			       "of disk", sec + n);
	return 0;
}

static int do_translate(struct td_vhd *v, const struct read_req *q)
{
	char a[24], b[24], c[24], d[24];
	uint64_t i, s, off;
	int rc = sec_range(v, q->t, q->count);

	for (i = 0; !rc && i < q->count; i++) {
		s = q->t + i;
		off = td_vhd_sector_offset(v, s);
		printf("logical sector %s: block number: %s, sector offset: "
		       "%s, file offset: %s\n", num(s, a),
		       num(is_dyn(v) ? s / v->spb : 0, b),
		       num(is_dyn(v) ? s % v->spb : s, c),
		       off ? num(off, d) : "not allocated");
	}
	return rc;
}

static int do_bat(struct td_vhd *v, const struct read_req *q)
{
	char a[24], b[24];
	uint64_t i, off;
	int rc = blk_range(v, q->b, q->count);

	for (i = 0; !rc && i < q->count; i++) {
		off = td_vhd_block_offset(v, (uint32_t)(q->b + i));
		printf("block: %s: offset: %s\n", num(q->b + i, a),
		       off ? num(off, b) : "not allocated");
	}
	return rc;
}

static int do_bitmaps(struct td_vhd *v, uint64_t blk, uint64_t n, bool data)
{
	struct td_vhd_err err = { v->path, "" };
	uint8_t *buf;
	uint64_t i;
	char a[24];
	int rc = blk_range(v, blk, n);

	if (rc)
		return rc;
	buf = malloc(data ? v->header.block_size : v->bm_bytes);
	if (!buf)
		return vu_fail("read", -ENOMEM, "no memory");
	for (i = 0; !rc && i < n; i++) {
		uint32_t b = (uint32_t)(blk + i);

		if (!td_vhd_block_offset(v, b)) {
			printf("block %s not allocated\n", num(b, a));
			continue;
		}
		if (data) {
			rc = pread(v->fd, buf, v->header.block_size,
				   (off_t)(td_vhd_block_offset(v, b) +
					   v->bm_bytes));
			rc = rc == (int)v->header.block_size ? 0 : -EIO;
		} else
			rc = td_vhd_read_bitmap(v, b, buf, &err);
		if (!rc)
			rc = write_out(buf, data ? v->header.block_size
						 : v->bm_bytes);
		if (rc)
			rc = vu_fail_err("read", rc, &err);
	}
	free(buf);
	return rc;
}

static int do_test_bitmap(struct td_vhd *v, const struct read_req *q)
{
	struct td_vhd_err err = { v->path, "" };
	char a[24], b[24];
	uint64_t i, s, run;
	bool alloc;
	int rc = sec_range(v, q->i, q->count);

	for (i = 0; !rc && i < q->count; i++) {
		s = q->i + i;
		rc = td_vhd_sector_status(v, s, 1, &alloc, &run, &err);
		if (rc)
			return vu_fail_err("read", rc, &err);
		printf("block %s: sec: %s: %d\n",
		       num(is_dyn(v) ? s / v->spb : 0, a),
		       num(is_dyn(v) ? s % v->spb : s, b), alloc);
	}
	return rc;
}

static int do_batmap(struct td_vhd *v, const struct read_req *q)
{
	char a[24];
	uint64_t i;
	int rc;

	if (!v->has_batmap)
		return vu_fail("read", -EINVAL, "%s has no batmap", v->path);
	if (q->batmap) {
		rc = write_out(v->batmap, (size_t)v->batmap_hdr.batmap_size *
					  TD_VHD_SECTOR);
		if (rc)
			return vu_fail("read", rc, "writing output");
	}
	if (q->j == UNSET)
		return 0;
	rc = blk_range(v, q->j, q->count);
	for (i = 0; !rc && i < q->count; i++)
		printf("batmap for block %s: %d\n", num(q->j + i, a),
		       td_vhd_batmap_test(v, (uint32_t)(q->j + i)));
	return rc;
}

/* The allocation bitmap of blocks, one bit each, MSB first (read -B). */
static int do_blockmap(struct td_vhd *v)
{
	uint32_t n = is_dyn(v) ? v->bat_used : 0, i;
	uint8_t *map = calloc(1, n / 8 + 1);
	int rc;

	if (!map)
		return vu_fail("read", -ENOMEM, "no memory");
	for (i = 0; i < n; i++)
		if (v->bat[i] != TD_VHD_BAT_UNUSED)
			td_vhd_bitmap_set(map, i, false);
	rc = write_out(map, (n + 7) / 8);
	free(map);
	return rc ? vu_fail("read", rc, "writing output") : 0;
}

static int do_data(struct td_vhd *v, const struct read_req *q)
{
	struct td_vhd_err err = { v->path, "" };
	uint64_t left = q->count, s = q->r;
	size_t chunk = 2048; /* sectors per read: 1 MiB */
	uint8_t *buf;
	int rc = sec_range(v, q->r, q->count);

	if (rc)
		return rc;
	buf = aligned_alloc(4096, chunk * TD_VHD_SECTOR);
	if (!buf)
		return vu_fail("read", -ENOMEM, "no memory");
	while (left && !rc) {
		uint32_t n = left < chunk ? (uint32_t)left : (uint32_t)chunk;

		rc = td_vhd_read(v, s, n, buf, &err);
		if (rc) {
			rc = vu_fail_err("read", rc, &err);
			break;
		}
		rc = write_out(buf, (size_t)n * TD_VHD_SECTOR);
		if (rc)
			rc = vu_fail("read", rc, "writing output");
		s += n;
		left -= n;
	}
	free(buf);
	return rc;
}

static int parse_num(char opt, const char *arg, uint64_t *out)
{
	if (vu_parse_u64(arg, out))
		return vu_fail("read", -EINVAL, "bad number '%s' for -%c", arg,
			       opt);
	return 0;
}

static int read_run(struct td_vhd *v, const struct read_req *q)
{
	int rc = 0;

	if (q->headers) {
		print_footer(v);
		if (is_dyn(v)) {
			print_header(v);
			if (v->has_batmap)
				print_batmap_header(v);
		}
	}
	if (!rc && q->t != UNSET)
		rc = do_translate(v, q);
	if (!rc && q->b != UNSET)
		rc = do_bat(v, q);
	if (!rc && q->m != UNSET)
		rc = do_bitmaps(v, q->m, q->count, false);
	if (!rc && q->i != UNSET)
		rc = do_test_bitmap(v, q);
	if (!rc && (q->batmap || q->j != UNSET))
		rc = do_batmap(v, q);
	if (!rc && q->d != UNSET)
		rc = do_bitmaps(v, q->d, q->count, true);
	if (!rc && q->blockmap)
		rc = do_blockmap(v);
	if (!rc && q->r != UNSET)
		rc = do_data(v, q);
	return rc;
}

int vu_read(int argc, char **argv, const struct vu_opts *o)
{
	struct read_req q = { UNSET, UNSET, UNSET, UNSET, UNSET, UNSET, UNSET,
			      1, false, false, false };
	struct td_vhd_err err = { 0 };
	const char *name = NULL;
	struct td_vhd *v;
	int c, rc = 0;

	hex = false;
	while (!rc &&
	       (c = getopt(argc, argv, "n:pt:b:m:i:aj:d:r:c:xBh")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'p': q.headers = true; break;
		case 'a': q.batmap = true; break;
		case 'B': q.blockmap = true; break;
		case 'x': hex = true; break;
		case 't': rc = parse_num('t', optarg, &q.t); break;
		case 'b': rc = parse_num('b', optarg, &q.b); break;
		case 'm': rc = parse_num('m', optarg, &q.m); break;
		case 'i': rc = parse_num('i', optarg, &q.i); break;
		case 'j': rc = parse_num('j', optarg, &q.j); break;
		case 'd': rc = parse_num('d', optarg, &q.d); break;
		case 'r': rc = parse_num('r', optarg, &q.r); break;
		case 'c': rc = parse_num('c', optarg, &q.count); break;
		case 'h':
			printf("usage: %s\n"
			       "  -p  print headers      -t SEC translate a "
			       "sector\n  -b  print BAT entries  -m BLK dump "
			       "bitmaps\n  -i SEC test bitmap bits  -a dump "
			       "the batmap\n  -j BLK test batmap bits  -d BLK "
			       "dump block data\n  -r SEC read COUNT sectors "
			       "through the chain\n  -B  dump the block "
			       "allocation bitmap\n  -c COUNT (default 1)  -x "
			       "hex numbers\n", read_usage);
			return 0;
		default:
			return vu_fail("read", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, read_usage);
		}
	}
	if (rc)
		return rc;
	if (o->help)
		return printf("usage: %s\n", read_usage) < 0;
	if (!name || optind != argc)
		return vu_fail("read", -EINVAL, "usage: %s", read_usage);
	err.name = name;
	/* data reads go through the chain; everything else is this file */
	if (q.r != UNSET)
		rc = td_vhd_open_chain(name, TD_VHD_OPEN_RDONLY, &v, &err);
	else
		rc = td_vhd_open(name, TD_VHD_OPEN_RDONLY |
				 TD_VHD_OPEN_IGNORE_DISABLED, &v, &err);
	if (rc)
		return vu_fail_err("read", rc, &err);
	rc = read_run(v, &q);
	td_vhd_close(v);
	return rc;
}
