// SPDX-License-Identifier: GPL-2.0-only
/*
 * VHD format library: opening and validating a VHD file, parent chains.
 * Synchronous I/O only; runs on the control path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhd-format.h"
#include "vhd-priv.h"

void *vhd_alloc(size_t len)
{
	size_t n = vhd_round_up(len ? len : 1, TD_VHD_SECTOR);
	void *p;

	if (posix_memalign(&p, 4096, n))
		return NULL;
	memset(p, 0, n);
	return p;
}

/* Reads up to @len bytes; returns the count (short only at EOF). */
static ssize_t pread_upto(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pread(fd, (char *)buf + done, len - done,
			  (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!r)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int vhd_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t r = pread_upto(fd, buf, len, off);

	if (r < 0)
		return (int)r;
	return (size_t)r == len ? 0 : -EIO;
}

int vhd_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pwrite(fd, (const char *)buf + done, len - done,
			   (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!r)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Reads @len bytes at @off of the image into an aligned bounce buffer. */
static int read_meta(struct td_vhd *v, void **out, size_t len, uint64_t off,
		     const char *what, struct td_vhd_err *err)
{
	void *buf = vhd_alloc(len);
	int rc;

	*out = NULL;
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory for %s", what);
	rc = vhd_pread(v->fd, buf, vhd_round_up(len, TD_VHD_SECTOR), off);
	if (rc) {
		free(buf);
		return td_vhd_error(err, rc, "reading %s at 0x%" PRIx64
				    ": %s", what, off, strerror(-rc));
	}
	*out = buf;
	return 0;
}

static int open_fd(struct td_vhd *v, bool rdonly, struct td_vhd_err *err)
{
	int oflags = (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	uint64_t size;

	if (v->flags & TD_VHD_OPEN_DIRECT)
		oflags |= O_DIRECT;
	v->fd = open(v->path, oflags);
	if (v->fd < 0)
		return td_vhd_error(err, -errno, "cannot open: %s",
				    strerror(errno));
	if (fstat(v->fd, &st))
		return td_vhd_error(err, -errno, "cannot stat: %s",
				    strerror(errno));
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(v->fd, BLKGETSIZE64, &size))
			return td_vhd_error(err, -errno, "cannot size "
					    "block device: %s",
					    strerror(errno));
	} else {
		return td_vhd_error(err, -EINVAL, "not a regular file or "
				    "block device");
	}
	v->file_size = size;
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	return 0;
}

static struct td_vhd *vhd_new(const char *path, unsigned flags)
{
	struct td_vhd *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->fd = -1;
	v->flags = flags;
	v->path = strdup(path);
	if (!v->path) {
		free(v);
		return NULL;
	}
	return v;
}

void td_vhd_close(struct td_vhd *v)
{
	while (v) {
		struct td_vhd *p = v->parent;

		if (v->fd >= 0)
			close(v->fd);
		free(v->bat);
		free(v->batmap);
		free(v->path);
		free(v);
		v = p;
	}
}

uint64_t td_vhd_size(const struct td_vhd *v)
{
	return v->raw ? v->file_size & ~(uint64_t)(TD_VHD_SECTOR - 1)
		      : v->footer.curr_size;
}

/* ---- footers ------------------------------------------------------- */

static int read_footer_at(struct td_vhd *v, uint64_t off, size_t len,
			  struct td_vhd_footer *f, struct td_vhd_err *e)
{
	uint8_t *buf = vhd_alloc(TD_VHD_FOOTER_SIZE);
	ssize_t r;
	int rc;

	if (!buf)
		return td_vhd_error(e, -ENOMEM, "no memory");
	/* a 511-byte legacy footer is read as a short sector read */
	r = pread_upto(v->fd, buf, TD_VHD_FOOTER_SIZE, off);
	if (r < 0 || (size_t)r < len) {
		free(buf);
		return td_vhd_error(e, r < 0 ? (int)r : -EIO,
				    "reading footer at 0x%" PRIx64 " failed",
				    off);
	}
	if (len < TD_VHD_FOOTER_SIZE)
		buf[TD_VHD_FOOTER_SIZE - 1] = 0;
	td_vhd_footer_decode(buf, f);
	rc = td_vhd_footer_validate(buf, f, off, v->file_size, e);
	free(buf);
	return rc;
}

static int read_footers(struct td_vhd *v, struct td_vhd_err *err)
{
	struct td_vhd_err terr = { v->path, "" }, herr = { v->path, "" };
	struct td_vhd_footer tail, head;
	bool legacy = v->file_size % TD_VHD_SECTOR == 511;
	uint64_t toff;
	int trc, hrc = -EINVAL;

	if (v->file_size < TD_VHD_FOOTER_SIZE)
		return td_vhd_error(err, -EINVAL, "file too small (%" PRIu64
				    " bytes) to hold a VHD footer",
				    v->file_size);
	if (v->file_size % TD_VHD_SECTOR && !legacy)
		return td_vhd_error(err, -EINVAL, "file size 0x%" PRIx64
				    " is not a multiple of 512",
				    v->file_size);
	toff = v->file_size - (legacy ? 511 : TD_VHD_FOOTER_SIZE);
	trc = read_footer_at(v, toff, legacy ? 511 : 512, &tail, &terr);
	if (!trc && legacy && tail.type != TD_VHD_TYPE_FIXED)
		trc = td_vhd_error(&terr, -EINVAL, "511-byte footer at 0x%"
				   PRIx64 " is only valid for fixed disks",
				   toff);
	if (!legacy && v->file_size >= 2 * TD_VHD_FOOTER_SIZE) {
		hrc = read_footer_at(v, 0, 512, &head, &herr);
		if ((!hrc || hrc == -ENOTSUP) &&
		    head.type == TD_VHD_TYPE_FIXED)
			hrc = -EINVAL;
	}
	v->tail_ok = !trc;
	v->head_ok = !hrc;
	if (!trc || trc == -ENOTSUP) {
		v->footer = tail;
		v->footer_src = legacy ? TD_VHD_FOOTER_LEGACY
				       : TD_VHD_FOOTER_TAIL;
	} else if (!hrc || hrc == -ENOTSUP) {
		/* blktap leaves only the offset-0 copy valid while open
		 * and after a crash: it is authoritative then */
		v->footer = head;
		v->footer_src = TD_VHD_FOOTER_HEAD;
	} else {
		if (err)
			snprintf(err->msg, sizeof(err->msg),
				 "%s (and no valid footer copy at offset 0)",
				 terr.msg);
		return trc;
	}
	v->poisoned = trc == -ENOTSUP || hrc == -ENOTSUP;
	if (v->poisoned && !(v->flags & TD_VHD_OPEN_IGNORE_DISABLED)) {
		if (err)
			memcpy(err->msg, trc == -ENOTSUP ? terr.msg : herr.msg,
			       sizeof(err->msg));
		return -ENOTSUP;
	}
	return 0;
}

/* ---- metadata ranges and BAT validation --------------------------- */

struct range {
	uint64_t start, len;
	const char *what;
};

/* Fills @r with every metadata range; returns the count. */
static unsigned meta_ranges(const struct td_vhd *v, struct range *r)
{
	const struct td_vhd_header *h = &v->header;
	unsigned n = 0, i;

	r[n++] = (struct range){ 0, TD_VHD_FOOTER_SIZE, "footer copy" };
	r[n++] = (struct range){ v->footer.data_offset, TD_VHD_HEADER_SIZE,
				 "dynamic header" };
	r[n++] = (struct range){ h->table_offset,
				 vhd_round_up((uint64_t)h->max_bat * 4, 512),
				 "BAT" };
	if (v->has_batmap) {
		r[n++] = (struct range){ h->table_offset + r[2].len,
					 TD_VHD_BATMAP_HDR_SIZE,
					 "batmap header" };
		r[n++] = (struct range){ v->batmap_hdr.batmap_offset,
					 (uint64_t)v->batmap_hdr.batmap_size *
						 TD_VHD_SECTOR,
					 "batmap" };
	}
	if (v->footer.type != TD_VHD_TYPE_DIFF)
		return n;
	for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
		if (h->loc[i].code == TD_VHD_PLAT_NONE)
			continue;
		r[n++] = (struct range){ h->loc[i].data_offset,
					 td_vhd_locator_space(&h->loc[i]),
					 "parent locator" };
	}
	return n;
}

struct blkpos {
	uint32_t sector, idx;
};

static int cmp_blkpos(const void *a, const void *b)
{
	const struct blkpos *x = a, *y = b;

	return x->sector < y->sector ? -1 : x->sector > y->sector;
}

static int check_overlaps(struct td_vhd *v, struct td_vhd_err *err)
{
	uint64_t bsecs = v->bm_secs + (uint64_t)v->spb;
	struct blkpos *p;
	uint32_t i, n = 0;
	int rc = 0;

	p = malloc(sizeof(*p) * (size_t)v->header.max_bat);
	if (!p)
		return td_vhd_error(err, -ENOMEM, "no memory");
	for (i = 0; i < v->header.max_bat; i++)
		if (v->bat[i] != TD_VHD_BAT_UNUSED)
			p[n++] = (struct blkpos){ v->bat[i], i };
	qsort(p, n, sizeof(*p), cmp_blkpos);
	for (i = 1; i < n && !rc; i++) {
		if ((uint64_t)p[i - 1].sector + bsecs <= p[i].sector)
			continue;
		rc = td_vhd_error(err, -EINVAL,
				  "BAT entry %u at offset 0x%" PRIx64
				  " (sector 0x%x) overlaps the block of BAT "
				  "entry %u (sector 0x%x)", p[i].idx,
				  v->header.table_offset +
					  (uint64_t)4 * p[i].idx,
				  p[i].sector, p[i - 1].idx, p[i - 1].sector);
	}
	free(p);
	return rc;
}

static int check_bat(struct td_vhd *v, uint64_t limit, struct td_vhd_err *err)
{
	struct range r[5 + TD_VHD_NR_LOCATORS];
	unsigned nr = meta_ranges(v, r), k;
	uint64_t off, eoff, end;
	uint32_t i;

	for (i = 0; i < v->header.max_bat; i++) {
		if (v->bat[i] == TD_VHD_BAT_UNUSED)
			continue;
		eoff = v->header.table_offset + (uint64_t)4 * i;
		off = (uint64_t)v->bat[i] * TD_VHD_SECTOR;
		if (off + v->bm_bytes > limit)
			return td_vhd_error(err, -EINVAL,
					    "BAT entry %u at offset 0x%" PRIx64
					    ": bitmap at 0x%" PRIx64 " is past "
					    "end of file (0x%" PRIx64 ")", i,
					    eoff, off, limit);
		end = off + v->bm_bytes + v->header.block_size;
		if (end > limit)
			return td_vhd_error(err, -EINVAL,
					    "BAT entry %u at offset 0x%" PRIx64
					    " points past end of file (block "
					    "0x%" PRIx64 "-0x%" PRIx64
					    " > 0x%" PRIx64 ")", i, eoff, off,
					    end, limit);
		for (k = 0; k < nr; k++) {
			if (off < r[k].start + r[k].len &&
			    r[k].start < end)
				return td_vhd_error(err, -EINVAL,
						    "BAT entry %u at offset "
						    "0x%" PRIx64 ": block at "
						    "0x%" PRIx64 " overlaps "
						    "the %s at "
						    "0x%" PRIx64, i, eoff, off,
						    r[k].what, r[k].start);
		}
	}
	if (v->flags & TD_VHD_OPEN_FAST)
		return 0;
	return check_overlaps(v, err);
}

/* ---- batmap -------------------------------------------------------- */

static int batmap_fail(struct td_vhd *v, int rc)
{
	/* read-only users may ignore a broken batmap, as blktap does */
	if ((v->flags & (TD_VHD_OPEN_RDONLY | TD_VHD_OPEN_IGNORE_BATMAP))) {
		v->has_batmap = false;
		return 0;
	}
	return rc;
}

static int read_batmap(struct td_vhd *v, uint64_t limit,
		       struct td_vhd_err *err)
{
	struct td_vhd_batmap_hdr *b = &v->batmap_hdr;
	uint64_t hoff, need, len;
	uint8_t *buf;
	uint32_t i;
	int rc;

	if (v->footer.crtr_app != TD_VHD_CREATOR_TAP ||
	    v->footer.crtr_ver < TD_VHD_TAP_V1_1)
		return 0;
	hoff = v->header.table_offset +
	       vhd_round_up((uint64_t)v->header.max_bat * 4, TD_VHD_SECTOR);
	if (hoff + TD_VHD_BATMAP_HDR_SIZE > limit)
		return 0;
	rc = read_meta(v, (void **)&buf, TD_VHD_BATMAP_HDR_SIZE, hoff,
		       "batmap header", err);
	if (rc)
		return rc;
	td_vhd_batmap_hdr_decode(buf, b);
	free(buf);
	if (memcmp(b->cookie, TD_VHD_BATMAP_COOKIE, 8)) {
		/* version 1.1 "probably" has one: only the cookie says */
		if (v->footer.crtr_ver < TD_VHD_TAP_V1_2)
			return 0;
		return batmap_fail(v, td_vhd_error(err, -EINVAL,
			"batmap header at 0x%" PRIx64 ": bad cookie", hoff));
	}
	v->has_batmap = true;
	need = ((uint64_t)v->header.max_bat + 4095) / 4096;
	len = (uint64_t)b->batmap_size * TD_VHD_SECTOR;
	if (b->batmap_version > TD_VHD_BATMAP_VERSION ||
	    b->batmap_offset % TD_VHD_SECTOR ||
	    b->batmap_offset < hoff + TD_VHD_BATMAP_HDR_SIZE ||
	    b->batmap_size < need || b->batmap_size > need + 64 ||
	    b->batmap_offset + len > limit)
		return batmap_fail(v, td_vhd_error(err, -EINVAL,
			"batmap header at 0x%" PRIx64 ": bad version 0x%x, "
			"offset 0x%" PRIx64 " or size %u sectors (needs %"
			PRIu64 ", end of file 0x%" PRIx64 ")", hoff,
			b->batmap_version, b->batmap_offset, b->batmap_size,
			need, limit));
	rc = read_meta(v, (void **)&v->batmap, len, b->batmap_offset,
		       "batmap", err);
	if (rc)
		return rc;
	v->batmap_ok = td_vhd_batmap_checksum(v->batmap, len,
					      v->footer.curr_size,
					      b->batmap_version) == b->checksum;
	if (!v->batmap_ok) {
		/* never trust the bits of a map whose checksum failed */
		memset(v->batmap, 0, len);
		if (!(v->flags & (TD_VHD_OPEN_RDONLY |
				  TD_VHD_OPEN_IGNORE_BATMAP)))
			return td_vhd_error(err, -EILSEQ,
					    "batmap header at 0x%" PRIx64
					    ": bad checksum at offset 0x%"
					    PRIx64, hoff, hoff + 24);
	}
	/* a full-bit for an unallocated block means nothing: drop it */
	for (i = 0; i < v->header.max_bat; i++)
		if (v->bat[i] == TD_VHD_BAT_UNUSED)
			td_vhd_bitmap_clear(v->batmap, i, false);
	return 0;
}

int td_vhd_restore_batmap(struct td_vhd *v, struct td_vhd_err *err)
{
	struct range r[5 + TD_VHD_NR_LOCATORS];
	struct td_vhd_batmap_hdr *b = &v->batmap_hdr;
	uint64_t hoff, end, need;
	unsigned n, k;
	uint32_t i;

	if (v->has_batmap || v->raw || v->footer.type == TD_VHD_TYPE_FIXED ||
	    v->footer.crtr_app != TD_VHD_CREATOR_TAP ||
	    v->footer.crtr_ver < TD_VHD_TAP_V1_2)
		return 0;
	hoff = v->header.table_offset +
	       vhd_round_up((uint64_t)v->header.max_bat * 4, TD_VHD_SECTOR);
	need = ((uint64_t)v->header.max_bat + 4095) / 4096;
	end = hoff + TD_VHD_BATMAP_HDR_SIZE + need * TD_VHD_SECTOR;
	/* only where it was: the space must still be free */
	n = meta_ranges(v, r);
	for (k = 0; k < n; k++)
		if (r[k].start < end && r[k].start + r[k].len > hoff)
			return td_vhd_error(err, -ENOSPC, "cannot restore the "
					    "batmap at 0x%" PRIx64 ": %s at 0x%"
					    PRIx64 " is in the way", hoff,
					    r[k].what, r[k].start);
	for (i = 0; i < v->header.max_bat; i++)
		if (v->bat[i] != TD_VHD_BAT_UNUSED &&
		    (uint64_t)v->bat[i] * TD_VHD_SECTOR < end)
			return td_vhd_error(err, -ENOSPC, "cannot restore the "
					    "batmap at 0x%" PRIx64 ": block %u "
					    "is in the way", hoff, i);
	free(v->batmap);
	v->batmap = calloc(need, TD_VHD_SECTOR);
	if (!v->batmap)
		return td_vhd_error(err, -ENOMEM, "no memory");
	memset(b, 0, sizeof(*b));
	memcpy(b->cookie, TD_VHD_BATMAP_COOKIE, 8);
	b->batmap_offset = hoff + TD_VHD_BATMAP_HDR_SIZE;
	b->batmap_size = (uint32_t)need;
	b->batmap_version = TD_VHD_BATMAP_VERSION;
	v->has_batmap = true;
	v->batmap_ok = true;
	if (end > v->meta_end)
		v->meta_end = end;
	vhd_set_next_db(v);
	return 0;
}

/* ---- open ---------------------------------------------------------- */

uint64_t vhd_end_of_data(const struct td_vhd *v)
{
	uint64_t end = v->meta_end, e;
	uint32_t i;

	if (v->footer.type == TD_VHD_TYPE_FIXED)
		return v->footer.curr_size;
	for (i = 0; i < v->header.max_bat; i++) {
		if (v->bat[i] == TD_VHD_BAT_UNUSED)
			continue;
		e = ((uint64_t)v->bat[i] + v->bm_secs + v->spb) *
		    TD_VHD_SECTOR;
		if (e > end)
			end = e;
	}
	return end;
}

void vhd_set_next_db(struct td_vhd *v)
{
	uint64_t s = vhd_round_up(vhd_end_of_data(v), TD_VHD_SECTOR) /
		     TD_VHD_SECTOR;
	uint64_t spp = TD_VHD_DATA_ALIGN / TD_VHD_SECTOR;

	/* blktap places data areas on 4 KiB boundaries: keep doing so */
	s += (spp - (s + v->bm_secs) % spp) % spp;
	v->next_db = s;
}

static int open_dynamic(struct td_vhd *v, struct td_vhd_err *err)
{
	struct td_vhd_header *h = &v->header;
	struct range r[5 + TD_VHD_NR_LOCATORS];
	uint64_t limit, bat_bytes;
	unsigned n, k;
	void *buf;
	int rc;

	rc = read_meta(v, &buf, TD_VHD_HEADER_SIZE, v->footer.data_offset,
		       "dynamic header", err);
	if (rc)
		return rc;
	td_vhd_header_decode(buf, h);
	rc = td_vhd_header_validate(buf, h, &v->footer, v->footer.data_offset,
				    v->file_size, err);
	free(buf);
	if (rc)
		return rc;
	v->spb = h->block_size / TD_VHD_SECTOR;
	v->bm_bytes = (uint32_t)vhd_round_up(v->spb / 8, TD_VHD_SECTOR);
	v->bm_secs = v->bm_bytes / TD_VHD_SECTOR;
	v->bm_le = v->footer.crtr_app == TD_VHD_CREATOR_TAP &&
		   v->footer.crtr_ver == TD_VHD_TAP_V0_1;
	v->bat_used = (uint32_t)((v->footer.curr_size + h->block_size - 1) /
				 h->block_size);
	bat_bytes = vhd_round_up((uint64_t)h->max_bat * 4, TD_VHD_SECTOR);
	rc = read_meta(v, &buf, bat_bytes, h->table_offset, "BAT", err);
	if (rc)
		return rc;
	v->bat = malloc(sizeof(uint32_t) * (size_t)h->max_bat);
	if (!v->bat) {
		free(buf);
		return td_vhd_error(err, -ENOMEM, "no memory for the BAT");
	}
	td_vhd_bat_decode(buf, v->bat, h->max_bat);
	free(buf);
	/* with a valid tail footer, data must end before it */
	limit = v->file_size;
	if (v->footer_src != TD_VHD_FOOTER_HEAD)
		limit -= TD_VHD_FOOTER_SIZE;
	rc = read_batmap(v, limit, err);
	if (rc)
		return rc;
	rc = check_bat(v, limit, err);
	if (rc)
		return rc;
	n = meta_ranges(v, r);
	for (k = 0; k < n; k++)
		if (r[k].start + r[k].len > v->meta_end)
			v->meta_end = r[k].start + r[k].len;
	vhd_set_next_db(v);
	return 0;
}

int td_vhd_open(const char *path, unsigned flags, struct td_vhd **out,
		struct td_vhd_err *err)
{
	bool rdonly = flags & TD_VHD_OPEN_RDONLY;
	struct td_vhd *v;
	int rc;

	*out = NULL;
	v = vhd_new(path, flags);
	if (!v)
		return td_vhd_error(err, -ENOMEM, "no memory");
	rc = open_fd(v, rdonly, err);
	if (!rc)
		rc = read_footers(v, err);
	if (!rc && v->footer.type != TD_VHD_TYPE_FIXED)
		rc = open_dynamic(v, err);
	if (!rc && !rdonly && v->footer.crtr_app == TD_VHD_CREATOR_TAP &&
	    v->footer.crtr_ver > TD_VHD_TAP_VERSION)
		rc = td_vhd_error(err, -ENOTSUP, "footer: tap creator "
				  "version 0x%08x at offset 0x%" PRIx64
				  " is newer than ours (0x%08x); refusing to "
				  "write", v->footer.crtr_ver,
				  (v->footer_src == TD_VHD_FOOTER_HEAD ? 0 :
				   v->file_size - 512) + 32,
				  TD_VHD_TAP_VERSION);
	if (rc) {
		td_vhd_close(v);
		return rc;
	}
	*out = v;
	return 0;
}

int td_vhd_open_raw(const char *path, unsigned flags, struct td_vhd **out,
		    struct td_vhd_err *err)
{
	struct td_vhd *v;
	int rc;

	*out = NULL;
	v = vhd_new(path, flags | TD_VHD_OPEN_RDONLY);
	if (!v)
		return td_vhd_error(err, -ENOMEM, "no memory");
	v->raw = true;
	rc = open_fd(v, true, err);
	if (rc) {
		td_vhd_close(v);
		return rc;
	}
	v->footer.curr_size = td_vhd_size(v);
	*out = v;
	return 0;
}

int td_vhd_peek(int fd, uint64_t base, uint64_t len, struct td_vhd_footer *f,
		struct td_vhd_header *h, struct td_vhd_err *err)
{
	uint8_t *buf;
	int rc;

	memset(h, 0, sizeof(*h));
	if (len < 2 * TD_VHD_FOOTER_SIZE)
		return td_vhd_error(err, -EINVAL, "too small (%" PRIu64
				    " bytes) to hold a VHD", len);
	buf = vhd_alloc(TD_VHD_HEADER_SIZE);
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	rc = vhd_pread(fd, buf, TD_VHD_FOOTER_SIZE, base);
	if (rc) {
		rc = td_vhd_error(err, rc, "reading footer copy at 0x0: %s",
				  strerror(-rc));
		goto out;
	}
	td_vhd_footer_decode(buf, f);
	rc = td_vhd_footer_validate(buf, f, 0, len, err);
	if (rc == -ENOTSUP)
		rc = 0; /* disabled (v_poison) images are still listed */
	if (rc || f->type == TD_VHD_TYPE_FIXED)
		goto out;
	rc = vhd_pread(fd, buf, TD_VHD_HEADER_SIZE, base + f->data_offset);
	if (rc) {
		rc = td_vhd_error(err, rc, "reading dynamic header at 0x%"
				  PRIx64 ": %s", f->data_offset,
				  strerror(-rc));
		goto out;
	}
	td_vhd_header_decode(buf, h);
	rc = td_vhd_header_validate(buf, h, f, f->data_offset, len, err);
out:
	free(buf);
	return rc;
}
