// SPDX-License-Identifier: GPL-2.0-only
/*
 * VHD format library: pure encode/decode/validate helpers (no I/O).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vhd-format.h"
#include "vhd-priv.h"

int td_vhd_error(struct td_vhd_err *err, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return rc;
	n = snprintf(err->msg, sizeof(err->msg), "vhd: %s: ",
		     err->name ? err->name : "(image)");
	if (n < 0 || (size_t)n >= sizeof(err->msg))
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

uint32_t td_vhd_checksum(const void *buf, size_t len, size_t csum_off)
{
	const uint8_t *p = buf;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i >= csum_off && i < csum_off + 4)
			continue;
		sum += p[i];
	}
	return ~sum;
}

/* ---- footer -------------------------------------------------------- */

void td_vhd_footer_decode(const void *buf, struct td_vhd_footer *f)
{
	const uint8_t *p = buf;

	memset(f, 0, sizeof(*f));
	memcpy(f->cookie, p, 8);
	f->features = vhd_get32(p + 8);
	f->ff_version = vhd_get32(p + 12);
	f->data_offset = vhd_get64(p + 16);
	f->timestamp = vhd_get32(p + 24);
	f->crtr_app = vhd_get32(p + 28);
	f->crtr_ver = vhd_get32(p + 32);
	f->crtr_os = vhd_get32(p + 36);
	f->orig_size = vhd_get64(p + 40);
	f->curr_size = vhd_get64(p + 48);
	f->cyls = vhd_get16(p + 56);
	f->heads = p[58];
	f->spt = p[59];
	f->type = vhd_get32(p + 60);
	f->checksum = vhd_get32(p + 64);
	memcpy(f->uuid, p + 68, 16);
	f->saved_state = p[84];
	f->hidden = p[85];
}

void td_vhd_footer_encode(struct td_vhd_footer *f, void *buf)
{
	uint8_t *p = buf;

	memset(p, 0, TD_VHD_FOOTER_SIZE);
	memcpy(p, f->cookie, 8);
	vhd_put32(p + 8, f->features);
	vhd_put32(p + 12, f->ff_version);
	vhd_put64(p + 16, f->data_offset);
	vhd_put32(p + 24, f->timestamp);
	vhd_put32(p + 28, f->crtr_app);
	vhd_put32(p + 32, f->crtr_ver);
	vhd_put32(p + 36, f->crtr_os);
	vhd_put64(p + 40, f->orig_size);
	vhd_put64(p + 48, f->curr_size);
	vhd_put16(p + 56, f->cyls);
	p[58] = f->heads;
	p[59] = f->spt;
	vhd_put32(p + 60, f->type);
	memcpy(p + 68, f->uuid, 16);
	p[84] = f->saved_state;
	p[85] = f->hidden;
	f->checksum = td_vhd_checksum(p, TD_VHD_FOOTER_SIZE, 64);
	vhd_put32(p + 64, f->checksum);
}

static bool footer_is_tap(const struct td_vhd_footer *f)
{
	return f->crtr_app == TD_VHD_CREATOR_TAP;
}

/*
 * Early td-util set the hidden flag without updating the checksum; blktap
 * tolerates that for tap 0.1 and 1.1 images, and so do we.
 */
static bool footer_csum_ok(const uint8_t *raw, const struct td_vhd_footer *f)
{
	uint8_t tmp[TD_VHD_FOOTER_SIZE];

	if (td_vhd_checksum(raw, TD_VHD_FOOTER_SIZE, 64) == f->checksum)
		return true;
	/* a poisoned cookie may have been written without re-summing */
	if (!memcmp(f->cookie, TD_VHD_POISON_COOKIE, 8)) {
		memcpy(tmp, raw, sizeof(tmp));
		memcpy(tmp, TD_VHD_FOOTER_COOKIE, 8);
		if (td_vhd_checksum(tmp, sizeof(tmp), 64) == f->checksum)
			return true;
	}
	if (!f->hidden || !footer_is_tap(f) ||
	    (f->crtr_ver != TD_VHD_TAP_V0_1 && f->crtr_ver != TD_VHD_TAP_V1_1))
		return false;
	memcpy(tmp, raw, sizeof(tmp));
	tmp[85] = 0;
	return td_vhd_checksum(tmp, sizeof(tmp), 64) == f->checksum;
}

/* Where the data (fixed) or the dynamic header (others) must lie. */
static int footer_check_layout(const struct td_vhd_footer *f, uint64_t off,
			       uint64_t file_size, struct td_vhd_err *err)
{
	uint64_t end;

	if (f->type == TD_VHD_TYPE_FIXED) {
		if (f->data_offset != ~0ull)
			return td_vhd_error(err, -EINVAL,
					    "footer at 0x%" PRIx64 ": fixed "
					    "disk data offset 0x%" PRIx64
					    " at offset 0x%" PRIx64
					    " is not all-ones", off,
					    f->data_offset, off + 16);
		if (f->curr_size > off)
			return td_vhd_error(err, -EINVAL,
					    "footer at 0x%" PRIx64 ": fixed "
					    "disk size 0x%" PRIx64 " at offset "
					    "0x%" PRIx64 " exceeds the file",
					    off, f->curr_size, off + 48);
	} else {
		end = f->data_offset + TD_VHD_HEADER_SIZE;
		if (f->data_offset % TD_VHD_SECTOR ||
		    f->data_offset < TD_VHD_FOOTER_SIZE ||
		    end < f->data_offset || end > file_size)
			return td_vhd_error(err, -EINVAL,
					    "footer at 0x%" PRIx64 ": header "
					    "offset 0x%" PRIx64 " at offset "
					    "0x%" PRIx64 " is misaligned or "
					    "past end of file (0x%" PRIx64 ")",
					    off, f->data_offset, off + 16,
					    file_size);
	}
	return 0;
}

int td_vhd_footer_validate(const void *raw, const struct td_vhd_footer *f,
			   uint64_t off, uint64_t file_size,
			   struct td_vhd_err *err)
{
	bool poisoned = !memcmp(f->cookie, TD_VHD_POISON_COOKIE, 8);
	int rc;

	if (!poisoned && memcmp(f->cookie, TD_VHD_FOOTER_COOKIE, 8))
		return td_vhd_error(err, -EINVAL,
				    "footer at 0x%" PRIx64 ": bad cookie at "
				    "offset 0x%" PRIx64 " (not \"conectix\")",
				    off, off);
	if (!footer_csum_ok(raw, f))
		return td_vhd_error(err, -EILSEQ,
				    "footer at 0x%" PRIx64 ": bad checksum at "
				    "offset 0x%" PRIx64 " (stored 0x%08x, "
				    "computed 0x%08x)", off, off + 64,
				    f->checksum,
				    td_vhd_checksum(raw, 512, 64));
	if (!(f->features & TD_VHD_FEAT_RESERVED) ||
	    (f->features & ~(TD_VHD_FEAT_RESERVED | TD_VHD_FEAT_TEMPORARY)))
		return td_vhd_error(err, -EINVAL,
				    "footer at 0x%" PRIx64 ": bad features "
				    "0x%08x at offset 0x%" PRIx64,
				    off, f->features, off + 8);
	if (f->ff_version != TD_VHD_FF_VERSION)
		return td_vhd_error(err, -EINVAL,
				    "footer at 0x%" PRIx64 ": unsupported file "
				    "format version 0x%08x at offset 0x%"
				    PRIx64,
				    off, f->ff_version, off + 12);
	if (f->type != TD_VHD_TYPE_FIXED && f->type != TD_VHD_TYPE_DYNAMIC &&
	    f->type != TD_VHD_TYPE_DIFF)
		return td_vhd_error(err, -EINVAL,
				    "footer at 0x%" PRIx64 ": bad disk type %u "
				    "at offset 0x%" PRIx64, off, f->type,
				    off + 60);
	if (f->curr_size % TD_VHD_SECTOR || f->curr_size > TD_VHD_MAX_SIZE)
		return td_vhd_error(err, -EINVAL,
				    "footer at 0x%" PRIx64 ": bad current size "
				    "0x%" PRIx64 " at offset 0x%" PRIx64
				    " (not a sector multiple or above 2040 "
				    "GiB)",
				    off, f->curr_size, off + 48);
	if (f->saved_state > 1 || f->hidden > 1)
		return td_vhd_error(err, -EINVAL,
				    "footer at 0x%" PRIx64 ": bad saved-state/"
				    "hidden byte at offset 0x%" PRIx64, off,
				    off + (f->saved_state > 1 ? 84 : 85));
	rc = footer_check_layout(f, off, file_size, err);
	if (rc)
		return rc;
	if (poisoned)
		return td_vhd_error(err, -ENOTSUP,
				    "footer at 0x%" PRIx64 ": image is "
				    "disabled by an interrupted journaled "
				    "operation (cookie v_poison); run revert",
				    off);
	return 0;
}

/* ---- dynamic header ------------------------------------------------ */

void td_vhd_header_decode(const void *buf, struct td_vhd_header *h)
{
	const uint8_t *p = buf;
	unsigned i;

	memset(h, 0, sizeof(*h));
	memcpy(h->cookie, p, 8);
	h->data_offset = vhd_get64(p + 8);
	h->table_offset = vhd_get64(p + 16);
	h->hdr_version = vhd_get32(p + 24);
	h->max_bat = vhd_get32(p + 28);
	h->block_size = vhd_get32(p + 32);
	h->checksum = vhd_get32(p + 36);
	memcpy(h->prt_uuid, p + 40, 16);
	h->prt_ts = vhd_get32(p + 56);
	h->reserved = vhd_get32(p + 60);
	memcpy(h->prt_name, p + 64, TD_VHD_PARENT_NAME_SIZE);
	for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
		const uint8_t *l = p + 576 + 24 * i;

		h->loc[i].code = vhd_get32(l);
		h->loc[i].data_space = vhd_get32(l + 4);
		h->loc[i].data_len = vhd_get32(l + 8);
		h->loc[i].reserved = vhd_get32(l + 12);
		h->loc[i].data_offset = vhd_get64(l + 16);
	}
}

void td_vhd_header_encode(struct td_vhd_header *h, void *buf)
{
	uint8_t *p = buf;
	unsigned i;

	memset(p, 0, TD_VHD_HEADER_SIZE);
	memcpy(p, h->cookie, 8);
	vhd_put64(p + 8, h->data_offset);
	vhd_put64(p + 16, h->table_offset);
	vhd_put32(p + 24, h->hdr_version);
	vhd_put32(p + 28, h->max_bat);
	vhd_put32(p + 32, h->block_size);
	memcpy(p + 40, h->prt_uuid, 16);
	vhd_put32(p + 56, h->prt_ts);
	vhd_put32(p + 60, h->reserved);
	memcpy(p + 64, h->prt_name, TD_VHD_PARENT_NAME_SIZE);
	for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
		uint8_t *l = p + 576 + 24 * i;

		vhd_put32(l, h->loc[i].code);
		vhd_put32(l + 4, h->loc[i].data_space);
		vhd_put32(l + 8, h->loc[i].data_len);
		vhd_put32(l + 12, h->loc[i].reserved);
		vhd_put64(l + 16, h->loc[i].data_offset);
	}
	h->checksum = td_vhd_checksum(p, TD_VHD_HEADER_SIZE, 36);
	vhd_put32(p + 36, h->checksum);
}

uint64_t td_vhd_locator_space(const struct td_vhd_locator *l)
{
	/* The spec says sectors; Virtual PC, Hyper-V and blktap write bytes.
	 * Like blktap: below 512 means sectors, a multiple of 512 bytes. */
	if (l->data_space < TD_VHD_SECTOR)
		return (uint64_t)l->data_space * TD_VHD_SECTOR;
	if (l->data_space % TD_VHD_SECTOR)
		return 0;
	return l->data_space;
}

static bool known_plat(uint32_t code)
{
	switch (code) {
	case TD_VHD_PLAT_NONE:
	case TD_VHD_PLAT_WI2R:
	case TD_VHD_PLAT_WI2K:
	case TD_VHD_PLAT_W2RU:
	case TD_VHD_PLAT_W2KU:
	case TD_VHD_PLAT_MAC:
	case TD_VHD_PLAT_MACX:
		return true;
	}
	return false;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int validate_locator(const struct td_vhd_header *h, unsigned i,
			    uint64_t off, uint64_t file_size,
			    struct td_vhd_err *err)
{
	const struct td_vhd_locator *l = &h->loc[i];
	uint64_t loff = off + 576 + 24 * i, space, bat_bytes;

	if (l->code == TD_VHD_PLAT_NONE)
		return 0;
	if (!known_plat(l->code))
		return td_vhd_error(err, -EINVAL,
				    "parent locator %u at offset 0x%" PRIx64
				    ": unknown platform code 0x%08x", i, loff,
				    l->code);
	space = td_vhd_locator_space(l);
	if (!space)
		return td_vhd_error(err, -EINVAL,
				    "parent locator %u at offset 0x%" PRIx64
				    ": bad data space %u at offset 0x%" PRIx64,
				    i, loff, l->data_space, loff + 4);
	if (!l->data_len || l->data_len > space || l->data_len > 65536)
		return td_vhd_error(err, -EINVAL,
				    "parent locator %u at offset 0x%" PRIx64
				    ": bad data length %u at offset 0x%" PRIx64
				    " (space %" PRIu64 ")", i, loff,
				    l->data_len,
				    loff + 8, space);
	if (l->data_offset < TD_VHD_FOOTER_SIZE ||
	    l->data_offset + space < l->data_offset ||
	    l->data_offset + space > file_size)
		return td_vhd_error(err, -EINVAL,
				    "parent locator %u at offset 0x%" PRIx64
				    ": data at 0x%" PRIx64 " (+%" PRIu64
				    ") at offset 0x%" PRIx64
				    " is past end of file (0x%" PRIx64 ")",
				    i, loff, l->data_offset, space, loff + 16,
				    file_size);
	bat_bytes = vhd_round_up((uint64_t)h->max_bat * 4, TD_VHD_SECTOR);
	if (ranges_overlap(l->data_offset, space, h->table_offset,
			   bat_bytes) ||
	    ranges_overlap(l->data_offset, space, off, TD_VHD_HEADER_SIZE))
		return td_vhd_error(err, -EINVAL,
				    "parent locator %u at offset 0x%" PRIx64
				    ": data at 0x%" PRIx64
				    " overlaps the header or BAT", i, loff,
				    l->data_offset);
	return 0;
}

int td_vhd_header_validate(const void *raw, const struct td_vhd_header *h,
			   const struct td_vhd_footer *f, uint64_t off,
			   uint64_t file_size, struct td_vhd_err *err)
{
	uint64_t need, bat_bytes, bs = h->block_size;
	uint32_t csum = td_vhd_checksum(raw, TD_VHD_HEADER_SIZE, 36);
	unsigned i;
	int rc;

	if (memcmp(h->cookie, TD_VHD_HEADER_COOKIE, 8))
		return td_vhd_error(err, -EINVAL,
				    "dynamic header at 0x%" PRIx64 ": bad "
				    "cookie at offset 0x%" PRIx64
				    " (not \"cxsparse\")", off, off);
	if (csum != h->checksum)
		return td_vhd_error(err, -EILSEQ,
				    "dynamic header at 0x%" PRIx64 ": bad "
				    "checksum at offset 0x%" PRIx64 " (stored "
				    "0x%08x, computed 0x%08x)", off, off + 36,
				    h->checksum, csum);
	if (h->data_offset != ~0ull)
		return td_vhd_error(err, -EINVAL,
				    "dynamic header at 0x%" PRIx64 ": data "
				    "offset 0x%" PRIx64 " at offset 0x%" PRIx64
				    " is not all-ones", off, h->data_offset,
				    off + 8);
	if (h->hdr_version != TD_VHD_HDR_VERSION)
		return td_vhd_error(err, -EINVAL,
				    "dynamic header at 0x%" PRIx64 ": "
				    "unsupported version 0x%08x at offset 0x%"
				    PRIx64, off, h->hdr_version, off + 24);
	if (bs < TD_VHD_MIN_BLOCK_SIZE || bs > TD_VHD_MAX_BLOCK_SIZE ||
	    (bs & (bs - 1)))
		return td_vhd_error(err, -EINVAL,
				    "dynamic header at 0x%" PRIx64 ": bad "
				    "block size 0x%" PRIx64 " at offset 0x%"
				    PRIx64 " (power of two, 4 KiB..2 MiB)",
				    off, bs, off + 32);
	need = (f->curr_size + bs - 1) / bs;
	if (h->max_bat < need || h->max_bat > TD_VHD_MAX_BAT_ENTRIES)
		return td_vhd_error(err, -EINVAL,
				    "dynamic header at 0x%" PRIx64 ": max "
				    "table entries %u at offset 0x%" PRIx64
				    " is absurd (disk needs %" PRIu64
				    ", limit %u)", off, h->max_bat, off + 28,
				    need, TD_VHD_MAX_BAT_ENTRIES);
	bat_bytes = vhd_round_up((uint64_t)h->max_bat * 4, TD_VHD_SECTOR);
	if (h->table_offset % TD_VHD_SECTOR ||
	    h->table_offset < TD_VHD_FOOTER_SIZE ||
	    h->table_offset + bat_bytes > file_size ||
	    ranges_overlap(h->table_offset, bat_bytes, off,
			   TD_VHD_HEADER_SIZE))
		return td_vhd_error(err, -EINVAL,
				    "dynamic header at 0x%" PRIx64 ": BAT "
				    "offset 0x%" PRIx64 " at offset 0x%" PRIx64
				    " (%" PRIu64 " bytes) is misaligned, "
				    "overlaps the header or passes end of "
				    "file (0x%" PRIx64 ")", off,
				    h->table_offset, off + 16, bat_bytes,
				    file_size);
	if (f->type != TD_VHD_TYPE_DIFF)
		return 0;
	for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
		rc = validate_locator(h, i, off, file_size, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- batmap -------------------------------------------------------- */

void td_vhd_batmap_hdr_decode(const void *buf, struct td_vhd_batmap_hdr *b)
{
	const uint8_t *p = buf;

	memset(b, 0, sizeof(*b));
	memcpy(b->cookie, p, 8);
	b->batmap_offset = vhd_get64(p + 8);
	b->batmap_size = vhd_get32(p + 16);
	b->batmap_version = vhd_get32(p + 20);
	b->checksum = vhd_get32(p + 24);
	b->marker = p[28];
	b->keyhash_set = p[29];
	memcpy(b->keyhash_nonce, p + 30, 32);
	memcpy(b->keyhash_hash, p + 62, 32);
}

void td_vhd_batmap_hdr_encode(const struct td_vhd_batmap_hdr *b, void *buf)
{
	uint8_t *p = buf;

	memset(p, 0, TD_VHD_BATMAP_HDR_SIZE);
	memcpy(p, b->cookie, 8);
	vhd_put64(p + 8, b->batmap_offset);
	vhd_put32(p + 16, b->batmap_size);
	vhd_put32(p + 20, b->batmap_version);
	vhd_put32(p + 24, b->checksum);
	p[28] = b->marker;
	p[29] = b->keyhash_set;
	memcpy(p + 30, b->keyhash_nonce, 32);
	memcpy(p + 62, b->keyhash_hash, 32);
}

uint32_t td_vhd_batmap_checksum(const uint8_t *map, size_t map_len,
				uint64_t curr_size, uint32_t version)
{
	size_t n = vhd_round_up(curr_size >> 24, TD_VHD_SECTOR), i;
	uint32_t sum = 0;

	if (n < TD_VHD_SECTOR)
		n = TD_VHD_SECTOR;
	if (n > map_len)
		n = map_len;
	for (i = 0; i < n; i++) {
		if (version == TD_VHD_BATMAP_VERSION_1_1)
			sum += (uint32_t)(int32_t)(int8_t)map[i];
		else
			sum += map[i];
	}
	return ~sum;
}

void td_vhd_bat_decode(const void *buf, uint32_t *bat, uint32_t n)
{
	const uint8_t *p = buf;
	uint32_t i;

	for (i = 0; i < n; i++)
		bat[i] = vhd_get32(p + 4 * (size_t)i);
}

void td_vhd_bat_encode(const uint32_t *bat, void *buf, uint32_t n)
{
	uint8_t *p = buf;
	uint32_t i;

	for (i = 0; i < n; i++)
		vhd_put32(p + 4 * (size_t)i, bat[i]);
}

/* ---- geometry, time, names ---------------------------------------- */

void td_vhd_chs(uint64_t size, uint16_t *cyls, uint8_t *heads, uint8_t *spt)
{
	uint64_t ts = size / TD_VHD_SECTOR, cth;
	unsigned h, s;

	if (ts > 65535ull * 16 * 255)
		ts = 65535ull * 16 * 255;
	if (ts >= 65535ull * 16 * 63) {
		s = 255;
		h = 16;
		cth = ts / s;
	} else {
		s = 17;
		cth = ts / s;
		h = (unsigned)((cth + 1023) / 1024);
		if (h < 4)
			h = 4;
		if (cth >= h * 1024ull || h > 16) {
			s = 31;
			h = 16;
			cth = ts / s;
		}
		if (cth >= h * 1024ull) {
			s = 63;
			h = 16;
			cth = ts / s;
		}
	}
	*cyls = (uint16_t)(cth / h);
	*heads = (uint8_t)h;
	*spt = (uint8_t)s;
}

uint64_t td_vhd_chs_bytes(uint16_t cyls, uint8_t heads, uint8_t spt)
{
	return (uint64_t)cyls * heads * spt * TD_VHD_SECTOR;
}

uint32_t td_vhd_time(int64_t unix_time)
{
	int64_t t = unix_time - TD_VHD_EPOCH_OFFSET;

	if (t < 0)
		return 0;
	if (t > UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)t;
}

int64_t td_vhd_unix_time(uint32_t vhd_time)
{
	return (int64_t)vhd_time + TD_VHD_EPOCH_OFFSET;
}

void td_vhd_creator_str(uint32_t crtr_app, char out[5])
{
	int i;

	for (i = 0; i < 4; i++) {
		char c = (char)(crtr_app >> (24 - 8 * i));

		out[i] = (c >= 0x20 && c < 0x7f) ? c : '\0';
	}
	out[4] = '\0';
	/* "tap\0" prints as "tap"; other NULs end the string too. */
}

const char *td_vhd_type_str(uint32_t type)
{
	switch (type) {
	case TD_VHD_TYPE_FIXED:
		return "fixed";
	case TD_VHD_TYPE_DYNAMIC:
		return "dynamic";
	case TD_VHD_TYPE_DIFF:
		return "differencing";
	}
	return "unknown";
}

/* ---- bitmaps ------------------------------------------------------- */

static inline uint8_t bm_mask(uint32_t i, bool le)
{
	return le ? (uint8_t)(1u << (i & 7)) : (uint8_t)(0x80u >> (i & 7));
}

bool td_vhd_bitmap_test(const uint8_t *map, uint32_t i, bool le)
{
	return map[i >> 3] & bm_mask(i, le);
}

void td_vhd_bitmap_set(uint8_t *map, uint32_t i, bool le)
{
	map[i >> 3] |= bm_mask(i, le);
}

void td_vhd_bitmap_clear(uint8_t *map, uint32_t i, bool le)
{
	map[i >> 3] &= (uint8_t)~bm_mask(i, le);
}

void td_vhd_bitmap_set_range(uint8_t *map, uint32_t first, uint32_t n,
			     bool le)
{
	uint32_t i = first, end = first + n;

	while (i < end && (i & 7))
		td_vhd_bitmap_set(map, i++, le);
	if (end - i >= 8) {
		memset(map + (i >> 3), 0xff, (end - i) >> 3);
		i += (end - i) & ~7u;
	}
	while (i < end)
		td_vhd_bitmap_set(map, i++, le);
}

uint32_t td_vhd_bitmap_run(const uint8_t *map, uint32_t first, uint32_t max,
			   bool le, bool *set)
{
	bool v = td_vhd_bitmap_test(map, first, le);
	uint8_t whole = v ? 0xff : 0x00;
	uint32_t n = 1;

	*set = v;
	while (n < max) {
		uint32_t i = first + n;

		/* whole bytes at a time once aligned: runs are long */
		if (!(i & 7) && max - n >= 8 && map[i >> 3] == whole) {
			n += 8;
			continue;
		}
		if (td_vhd_bitmap_test(map, i, le) != v)
			break;
		n++;
	}
	return n;
}

bool td_vhd_bitmap_full(const uint8_t *map, uint32_t nbits, bool le)
{
	bool set;

	if (!nbits)
		return true;
	return td_vhd_bitmap_run(map, 0, nbits, le, &set) == nbits && set;
}
