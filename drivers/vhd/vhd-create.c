// SPDX-License-Identifier: GPL-2.0-only
/*
 * VHD format library: creating images and changing their metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "vhd-format.h"
#include "vhd-priv.h"

/* Absolute form of @path whose directory exists (the file may not). */
static int abs_path(const char *path, char *out, size_t outlen)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base;
	int n;

	if (slash) {
		n = snprintf(dir, sizeof(dir), "%.*s",
			     (int)(slash - path) ? (int)(slash - path) : 1,
			     path);
		if (n < 0 || (size_t)n >= sizeof(dir))
			return -ENAMETOOLONG;
		base = slash + 1;
	} else {
		strcpy(dir, ".");
		base = path;
	}
	if (!realpath(dir, real))
		return -errno;
	n = snprintf(out, outlen, "%s/%s", strcmp(real, "/") ? real : "",
		     base);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static void to_backslash(char *s)
{
	for (; *s; s++)
		if (*s == '/')
			*s = '\\';
}

/* Puts one locator's text at @buf + *@used (file offset @off + *@used). */
static int add_locator(struct td_vhd_header *h, unsigned slot, uint32_t code,
		       const char *text, uint64_t off, uint8_t *buf,
		       size_t buflen, size_t *used)
{
	size_t len, space;
	int rc = 0;

	if (code == TD_VHD_PLAT_MACX) {
		len = strlen(text);
		if (*used + len > buflen)
			return -ENAMETOOLONG;
		memcpy(buf + *used, text, len);
	} else {
		rc = td_vhd_utf8_to_utf16(text, buf + *used, buflen - *used,
					  false, &len);
		if (rc)
			return rc;
	}
	space = vhd_round_up(len ? len : 1, TD_VHD_SECTOR);
	if (*used + space > buflen)
		return -ENAMETOOLONG;
	memset(buf + *used + len, 0, space - len);
	h->loc[slot] = (struct td_vhd_locator){
		.code = code,
		.data_space = (uint32_t)space,
		.data_len = (uint32_t)len,
		.data_offset = off + *used,
	};
	*used += space;
	return 0;
}

int vhd_make_locators(const char *child, const char *parent,
		      struct td_vhd_header *h, uint64_t off, uint8_t *buf,
		      size_t buflen, size_t *used, struct td_vhd_err *err)
{
	char cabs[PATH_MAX], pabs[PATH_MAX], rel[PATH_MAX];
	char text[PATH_MAX + 16];
	const char *base;
	size_t n;
	int rc;

	*used = 0;
	rc = vhd_canonpath(parent, pabs, sizeof(pabs));
	if (rc)
		return td_vhd_error(err, rc, "parent %s: %s", parent,
				    strerror(-rc));
	rc = abs_path(child, cabs, sizeof(cabs));
	if (!rc)
		rc = td_vhd_relpath(cabs, pabs, rel, sizeof(rel));
	if (rc)
		return td_vhd_error(err, rc, "cannot make a relative path "
				    "to the parent: %s", strerror(-rc));
	base = strrchr(pabs, '/') + 1;
	memset(h->prt_name, 0, sizeof(h->prt_name));
	rc = td_vhd_utf8_to_utf16(base, h->prt_name, sizeof(h->prt_name),
				  true, &n);
	if (rc)
		return td_vhd_error(err, rc, "parent name %s does not fit "
				    "the header", base);
	memset(h->loc, 0, sizeof(h->loc));
	/* blktap's slots: MacX, W2ku, W2ru; ours also put the absolute
	 * path in W2ku, resolved only after the relative ones */
	snprintf(text, sizeof(text), "file://%s", rel);
	rc = add_locator(h, 0, TD_VHD_PLAT_MACX, text, off, buf, buflen, used);
	if (!rc) {
		snprintf(text, sizeof(text), "%s", pabs);
		to_backslash(text);
		rc = add_locator(h, 1, TD_VHD_PLAT_W2KU, text, off, buf,
				 buflen, used);
	}
	if (!rc) {
		snprintf(text, sizeof(text), "%s", rel);
		to_backslash(text);
		rc = add_locator(h, 2, TD_VHD_PLAT_W2RU, text, off, buf,
				 buflen, used);
	}
	if (rc)
		return td_vhd_error(err, rc, "parent path too long for a "
				    "locator");
	return 0;
}

struct parent_info {
	uint64_t size;
	uint8_t uuid[16];
	uint32_t ts;
};

static int parent_info(const char *path, bool raw, struct parent_info *pi,
		       struct td_vhd_err *err)
{
	struct td_vhd_err perr = { path, "" };
	struct td_vhd *p;
	struct stat st;
	int rc;

	rc = raw ? td_vhd_open_raw(path, 0, &p, &perr)
		 : td_vhd_open(path, TD_VHD_OPEN_RDONLY, &p, &perr);
	if (rc) {
		if (err)
			memcpy(err->msg, perr.msg, sizeof(err->msg));
		return rc;
	}
	pi->size = td_vhd_size(p);
	memset(pi->uuid, 0, 16);
	if (!raw)
		memcpy(pi->uuid, p->footer.uuid, 16);
	pi->ts = 0;
	if (!fstat(p->fd, &st))
		pi->ts = td_vhd_time(st.st_mtime);
	td_vhd_close(p);
	return 0;
}

static void init_footer(struct td_vhd_footer *f, uint64_t size,
			enum td_vhd_type type, const uint8_t *uuid)
{
	static const uint8_t zero[16];

	memset(f, 0, sizeof(*f));
	memcpy(f->cookie, TD_VHD_FOOTER_COOKIE, 8);
	f->features = TD_VHD_FEAT_RESERVED;
	f->ff_version = TD_VHD_FF_VERSION;
	f->data_offset = type == TD_VHD_TYPE_FIXED ? ~0ull : TD_VHD_SECTOR;
	f->timestamp = td_vhd_time(time(NULL));
	f->crtr_app = TD_VHD_CREATOR_TAP;
	f->crtr_ver = TD_VHD_TAP_VERSION;
	f->orig_size = size;
	f->curr_size = size;
	td_vhd_chs(size, &f->cyls, &f->heads, &f->spt);
	f->type = type;
	if (memcmp(uuid, zero, 16))
		memcpy(f->uuid, uuid, 16);
	else
		uuid_generate(f->uuid);
}

static int create_fixed(int fd, struct td_vhd_footer *f, bool prealloc,
			struct td_vhd_err *err)
{
	uint8_t buf[TD_VHD_FOOTER_SIZE];
	int rc;

	if (prealloc) {
		rc = posix_fallocate(fd, 0, (off_t)f->curr_size);
		if (rc)
			return td_vhd_error(err, -rc, "preallocating: %s",
					    strerror(rc));
	} else if (ftruncate(fd, (off_t)f->curr_size)) {
		return td_vhd_error(err, -errno, "sizing: %s",
				    strerror(errno));
	}
	td_vhd_footer_encode(f, buf);
	rc = vhd_pwrite(fd, buf, sizeof(buf), f->curr_size);
	return rc ? td_vhd_error(err, rc, "writing footer: %s", strerror(-rc))
		  : 0;
}

static int create_dynamic(int fd, const char *path,
			  const struct td_vhd_create_opts *o,
			  struct td_vhd_footer *f, uint64_t max_size,
			  const struct parent_info *pi,
			  struct td_vhd_err *err)
{
	struct td_vhd_header h = { .data_offset = ~0ull };
	struct td_vhd_batmap_hdr b = {
		.batmap_version = TD_VHD_BATMAP_VERSION,
	};
	uint32_t max_bat = (uint32_t)(max_size / TD_VHD_BLOCK_SIZE);
	uint64_t bat_bytes = vhd_round_up(max_bat * (uint64_t)4, TD_VHD_SECTOR);
	uint64_t boff = 3 * TD_VHD_SECTOR + bat_bytes, loff, eod;
	size_t used = 0, total;
	uint8_t *buf;
	int rc;

	memcpy(h.cookie, TD_VHD_HEADER_COOKIE, 8);
	h.table_offset = 3 * TD_VHD_SECTOR;
	h.hdr_version = TD_VHD_HDR_VERSION;
	h.max_bat = max_bat;
	h.block_size = TD_VHD_BLOCK_SIZE;
	memcpy(b.cookie, TD_VHD_BATMAP_COOKIE, 8);
	b.batmap_offset = boff + TD_VHD_BATMAP_HDR_SIZE;
	b.batmap_size = (max_bat + 4095) / 4096;
	loff = b.batmap_offset + (uint64_t)b.batmap_size * TD_VHD_SECTOR;
	total = loff + 3 * (PATH_MAX * 2 + 1024) + TD_VHD_FOOTER_SIZE;
	buf = vhd_alloc(total);
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	if (o->type == TD_VHD_TYPE_DIFF) {
		memcpy(h.prt_uuid, pi->uuid, 16);
		h.prt_ts = pi->ts;
		rc = vhd_make_locators(path, o->parent, &h, loff, buf + loff,
				       total - loff, &used, err);
		if (rc)
			goto out;
	}
	eod = loff + used;
	memset(buf + h.table_offset, 0xff, bat_bytes);
	b.checksum = td_vhd_batmap_checksum(buf + b.batmap_offset,
					    b.batmap_size * TD_VHD_SECTOR,
					    f->curr_size, b.batmap_version);
	td_vhd_batmap_hdr_encode(&b, buf + boff);
	td_vhd_header_encode(&h, buf + TD_VHD_SECTOR);
	td_vhd_footer_encode(f, buf);
	/* the tail copy goes right after the metadata */
	memcpy(buf + eod, buf, TD_VHD_FOOTER_SIZE);
	rc = vhd_pwrite(fd, buf, eod + TD_VHD_FOOTER_SIZE, 0);
	if (rc)
		td_vhd_error(err, rc, "writing metadata: %s", strerror(-rc));
out:
	free(buf);
	return rc;
}

/*
 * On a block device the footer belongs in the device's last sector (as
 * blktap keeps it), not at the end of the metadata create just wrote.
 */
static int footer_to_device_end(const char *path, struct td_vhd_err *err)
{
	struct td_vhd *v;
	int rc = td_vhd_open(path, 0, &v, err);

	if (rc)
		return rc;
	rc = td_vhd_write_footer(v, err);
	if (!rc && fsync(v->fd))
		rc = td_vhd_error(err, -errno, "fsync: %s", strerror(errno));
	td_vhd_close(v);
	return rc;
}

int td_vhd_create(const char *path, const struct td_vhd_create_opts *o,
		  struct td_vhd_err *err)
{
	struct parent_info pi = { 0 };
	struct td_vhd_footer f;
	uint64_t size = o->size, max_size;
	struct stat st;
	bool blk;
	int fd, rc;

	if (o->type != TD_VHD_TYPE_FIXED && o->type != TD_VHD_TYPE_DYNAMIC &&
	    o->type != TD_VHD_TYPE_DIFF)
		return td_vhd_error(err, -EINVAL, "bad disk type %d", o->type);
	if (o->type == TD_VHD_TYPE_DIFF) {
		if (!o->parent)
			return td_vhd_error(err, -EINVAL, "no parent given");
		rc = parent_info(o->parent, o->parent_raw, &pi, err);
		if (rc)
			return rc;
		if (!size)
			size = pi.size;
	}
	size = vhd_round_up(size, TD_VHD_BLOCK_SIZE);
	if (!size || size > TD_VHD_MAX_SIZE)
		return td_vhd_error(err, -EINVAL, "size %" PRIu64 " bytes is "
				    "zero or above the 2040 GiB limit", size);
	max_size = vhd_round_up(o->max_size, TD_VHD_BLOCK_SIZE);
	if (max_size < size)
		max_size = size;
	if (max_size / TD_VHD_BLOCK_SIZE > TD_VHD_MAX_BAT_ENTRIES)
		return td_vhd_error(err, -EINVAL, "maximum size %" PRIu64
				    " needs too large a BAT", max_size);
	init_footer(&f, size, o->type, o->uuid);
	/*
	 * LVHD creates images on logical volumes that already exist: a block
	 * device is written in place, a file must be new.
	 */
	blk = !stat(path, &st) && S_ISBLK(st.st_mode);
	if (blk && o->type == TD_VHD_TYPE_FIXED)
		return td_vhd_error(err, -EINVAL, "fixed VHDs are not created "
				    "on block devices (use a dynamic one)");
	fd = open(path, blk ? O_RDWR | O_CLOEXEC :
			      O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return td_vhd_error(err, -errno, "cannot create: %s",
				    strerror(errno));
	if (o->type == TD_VHD_TYPE_FIXED)
		rc = create_fixed(fd, &f, o->prealloc, err);
	else
		rc = create_dynamic(fd, path, o, &f, max_size, &pi, err);
	if (!rc && fsync(fd))
		rc = td_vhd_error(err, -errno, "fsync: %s", strerror(errno));
	close(fd);
	if (rc) {
		if (!blk)
			unlink(path);
		return rc;
	}
	return blk ? footer_to_device_end(path, err) : 0;
}

/* ---- metadata changes --------------------------------------------- */

int td_vhd_set_hidden(struct td_vhd *v, bool hidden, struct td_vhd_err *err)
{
	uint8_t old = v->footer.hidden;
	int rc;

	v->footer.hidden = hidden;
	rc = td_vhd_write_footer(v, err);
	if (rc)
		v->footer.hidden = old;
	return rc;
}

int td_vhd_set_marker(struct td_vhd *v, uint8_t marker,
		      struct td_vhd_err *err)
{
	if (!v->has_batmap)
		return td_vhd_error(err, -EINVAL, "no batmap to hold a marker");
	v->batmap_hdr.marker = marker;
	return td_vhd_write_batmap(v, err);
}

/* Where new locators of @len bytes can go: the old space if it is free
 * of blocks and big enough, else the end of data. */
static uint64_t locator_home(const struct td_vhd *v, size_t len)
{
	uint64_t lo = UINT64_MAX, hi = 0, s, e;
	unsigned i;
	uint32_t b;

	for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
		const struct td_vhd_locator *l = &v->header.loc[i];

		if (l->code == TD_VHD_PLAT_NONE)
			continue;
		if (l->data_offset < lo)
			lo = l->data_offset;
		if (l->data_offset + td_vhd_locator_space(l) > hi)
			hi = l->data_offset + td_vhd_locator_space(l);
	}
	if (lo == UINT64_MAX || hi - lo < len)
		return vhd_round_up(vhd_end_of_data(v), TD_VHD_SECTOR);
	for (b = 0; b < v->header.max_bat; b++) {
		if (v->bat[b] == TD_VHD_BAT_UNUSED)
			continue;
		s = (uint64_t)v->bat[b] * TD_VHD_SECTOR;
		e = s + v->bm_bytes + v->header.block_size;
		if (s < lo + len && lo < e)
			return vhd_round_up(vhd_end_of_data(v), TD_VHD_SECTOR);
	}
	return lo;
}

int td_vhd_set_parent(struct td_vhd *v, const char *parent_path,
		      bool parent_raw, struct td_vhd_err *err)
{
	struct td_vhd_header h = v->header;
	struct parent_info pi;
	size_t used, cap = 3 * (PATH_MAX * 2 + 1024);
	uint8_t *buf;
	uint64_t off;
	int rc;

	if (v->raw || v->footer.type != TD_VHD_TYPE_DIFF)
		return td_vhd_error(err, -EINVAL, "not a differencing disk");
	if (v->flags & TD_VHD_OPEN_RDONLY)
		return td_vhd_error(err, -EROFS, "opened read-only");
	rc = parent_info(parent_path, parent_raw, &pi, err);
	if (rc)
		return rc;
	buf = vhd_alloc(cap);
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	/* lay the locators out once to learn their size, then place them */
	rc = vhd_make_locators(v->path, parent_path, &h, 0, buf, cap, &used,
			       err);
	if (rc)
		goto out;
	off = locator_home(v, used);
	rc = vhd_make_locators(v->path, parent_path, &h, off, buf, cap, &used,
			       err);
	if (rc)
		goto out;
	rc = vhd_pwrite(v->fd, buf, used, off);
	if (rc) {
		td_vhd_error(err, rc, "writing locators: %s", strerror(-rc));
		goto out;
	}
	if (off + used > v->meta_end)
		v->meta_end = off + used;
	if (off + used > v->file_size)
		v->file_size = off + used;
	memcpy(h.prt_uuid, pi.uuid, 16);
	h.prt_ts = pi.ts;
	v->header = h;
	rc = td_vhd_write_header(v, err);
	if (!rc) {
		vhd_set_next_db(v);
		rc = td_vhd_write_footer(v, err);
	}
out:
	free(buf);
	return rc;
}
