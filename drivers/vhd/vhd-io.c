// SPDX-License-Identifier: GPL-2.0-only
/*
 * VHD format library: block mapping, allocation, and synchronous
 * metadata and data I/O for the control path and vhd-util.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhd-format.h"
#include "vhd-priv.h"

static bool is_dynamic(const struct td_vhd *v)
{
	return !v->raw && v->footer.type != TD_VHD_TYPE_FIXED;
}

/* ---- mapping and allocation (pure) -------------------------------- */

uint64_t td_vhd_phys_size(const struct td_vhd *v)
{
	if (v->raw)
		return v->file_size;
	return vhd_round_up(vhd_end_of_data(v), TD_VHD_SECTOR) +
	       TD_VHD_FOOTER_SIZE;
}

uint64_t td_vhd_block_offset(const struct td_vhd *v, uint32_t blk)
{
	if (!is_dynamic(v) || blk >= v->header.max_bat ||
	    v->bat[blk] == TD_VHD_BAT_UNUSED)
		return 0;
	return (uint64_t)v->bat[blk] * TD_VHD_SECTOR;
}

uint64_t td_vhd_sector_offset(const struct td_vhd *v, uint64_t sector)
{
	uint64_t blk, off;

	if (!is_dynamic(v))
		return sector * TD_VHD_SECTOR;
	blk = sector / v->spb;
	if (blk >= v->bat_used)
		return 0;
	off = td_vhd_block_offset(v, (uint32_t)blk);
	if (!off)
		return 0;
	return off + v->bm_bytes + (sector % v->spb) * TD_VHD_SECTOR;
}

int td_vhd_reserve_block(struct td_vhd *v, uint32_t *sector)
{
	uint64_t s = v->next_db, spp = TD_VHD_DATA_ALIGN / TD_VHD_SECTOR;
	uint64_t next = s + v->bm_secs + v->spb;

	/* BAT entries are u32 sectors: the file cannot pass 2 TiB */
	if (next > UINT32_MAX)
		return -ENOSPC;
	*sector = (uint32_t)s;
	next += (spp - (next + v->bm_secs) % spp) % spp;
	v->next_db = next;
	return 0;
}

void td_vhd_bat_set(struct td_vhd *v, uint32_t blk, uint32_t sector)
{
	if (blk < v->header.max_bat)
		v->bat[blk] = sector;
}

uint64_t td_vhd_bat_sector(const struct td_vhd *v, uint32_t blk, void *buf)
{
	uint32_t first = blk & ~127u, n = 128;
	uint8_t *p = buf;

	memset(p, 0xff, TD_VHD_SECTOR);
	if (first + n > v->header.max_bat)
		n = v->header.max_bat - first;
	td_vhd_bat_encode(v->bat + first, p, n);
	return v->header.table_offset + (uint64_t)4 * first;
}

void td_vhd_batmap_mark(struct td_vhd *v, uint32_t blk, bool full)
{
	if (!v->has_batmap || blk >= v->header.max_bat)
		return;
	if (full)
		td_vhd_bitmap_set(v->batmap, blk, false);
	else
		td_vhd_bitmap_clear(v->batmap, blk, false);
}

bool td_vhd_batmap_test(const struct td_vhd *v, uint32_t blk)
{
	if (!v->has_batmap || blk >= v->header.max_bat ||
	    v->bat[blk] == TD_VHD_BAT_UNUSED)
		return false;
	return td_vhd_bitmap_test(v->batmap, blk, false);
}

/* ---- metadata writes ---------------------------------------------- */

static int check_rw(struct td_vhd *v, struct td_vhd_err *err)
{
	if (v->raw || (v->flags & TD_VHD_OPEN_RDONLY))
		return td_vhd_error(err, -EROFS, "opened read-only");
	return 0;
}

static int write_buf(struct td_vhd *v, const void *src, size_t len,
		     uint64_t off, const char *what, struct td_vhd_err *err)
{
	void *buf = vhd_alloc(len);
	int rc;

	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	memcpy(buf, src, len);
	rc = vhd_pwrite(v->fd, buf, vhd_round_up(len, TD_VHD_SECTOR), off);
	free(buf);
	if (rc)
		return td_vhd_error(err, rc, "writing %s at 0x%" PRIx64
				    ": %s", what, off, strerror(-rc));
	if (off + len > v->file_size)
		v->file_size = off + vhd_round_up(len, TD_VHD_SECTOR);
	return 0;
}

/* Where the data of a write comes from: memory, or a range of a file. */
struct vhd_src {
	const uint8_t *buf; /* NULL: copy from @fd at @off */
	int fd;
	uint64_t off;
};

/* The slow path of td_vhd_copy_file_range: through an aligned buffer. */
static int copy_through_buffer(int in, uint64_t in_off, int out,
			       uint64_t out_off, uint64_t len)
{
	size_t chunk = 1u << 20;
	uint8_t *buf = vhd_alloc(chunk);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (len && !rc) {
		size_t n = len < chunk ? (size_t)len : chunk;
		ssize_t r = pread(in, buf, n, (off_t)in_off);

		if (r != (ssize_t)n) {
			rc = r < 0 ? -errno : -EIO;
			break;
		}
		rc = vhd_pwrite(out, buf, n, out_off);
		in_off += n;
		out_off += n;
		len -= n;
	}
	free(buf);
	return rc;
}

int td_vhd_copy_file_range(int in, uint64_t in_off, int out,
			   uint64_t out_off, uint64_t len)
{
	while (len) {
		loff_t a = (loff_t)in_off, b = (loff_t)out_off;
		ssize_t n = copy_file_range(in, &a, out, &b, (size_t)len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL ||
			      errno == ENOSYS || errno == EOPNOTSUPP))
			return copy_through_buffer(in, in_off, out, out_off,
						   len);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the source ended early */
		in_off += (uint64_t)n;
		out_off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Writes @len bytes of @src at @off of @v's file. */
static int write_data(struct td_vhd *v, const struct vhd_src *src,
		      size_t len, uint64_t off, struct td_vhd_err *err)
{
	int rc;

	if (src->buf)
		return write_buf(v, src->buf, len, off, "data", err);
	rc = td_vhd_copy_file_range(src->fd, src->off, v->fd, off, len);
	if (rc)
		return td_vhd_error(err, rc, "copying data to 0x%" PRIx64
				    ": %s", off, strerror(-rc));
	if (off + len > v->file_size)
		v->file_size = off + len;
	return 0;
}

int td_vhd_read_bitmap(struct td_vhd *v, uint32_t blk, uint8_t *bm,
		       struct td_vhd_err *err)
{
	uint64_t off = td_vhd_block_offset(v, blk);
	void *buf;
	int rc;

	if (!off)
		return td_vhd_error(err, -EINVAL, "block %u is not allocated",
				    blk);
	buf = vhd_alloc(v->bm_bytes);
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	rc = vhd_pread(v->fd, buf, v->bm_bytes, off);
	if (rc)
		rc = td_vhd_error(err, rc, "reading bitmap of block %u at 0x%"
				  PRIx64 ": %s", blk, off, strerror(-rc));
	else
		memcpy(bm, buf, v->bm_bytes);
	free(buf);
	return rc;
}

int td_vhd_write_bitmap(struct td_vhd *v, uint32_t blk, const uint8_t *bm,
			struct td_vhd_err *err)
{
	uint64_t off = td_vhd_block_offset(v, blk);
	int rc = check_rw(v, err);

	if (rc)
		return rc;
	if (!off)
		return td_vhd_error(err, -EINVAL, "block %u is not allocated",
				    blk);
	return write_buf(v, bm, v->bm_bytes, off, "bitmap", err);
}

int td_vhd_write_footer(struct td_vhd *v, struct td_vhd_err *err)
{
	uint8_t buf[TD_VHD_FOOTER_SIZE];
	struct stat st;
	uint64_t off;
	int rc = check_rw(v, err);

	if (rc)
		return rc;
	memcpy(v->footer.cookie, TD_VHD_FOOTER_COOKIE, 8);
	td_vhd_footer_encode(&v->footer, buf);
	off = is_dynamic(v) ? vhd_round_up(vhd_end_of_data(v), TD_VHD_SECTOR)
			    : v->footer.curr_size;
	if (!fstat(v->fd, &st) && S_ISBLK(st.st_mode)) {
		if (off + TD_VHD_FOOTER_SIZE > v->file_size)
			return td_vhd_error(err, -ENOSPC, "data ends at 0x%"
					    PRIx64 ": no room for the footer "
					    "on a 0x%" PRIx64 "-byte device",
					    off, v->file_size);
		off = v->file_size / TD_VHD_SECTOR * TD_VHD_SECTOR -
		      TD_VHD_FOOTER_SIZE;
	}
	rc = write_buf(v, buf, sizeof(buf), off, "footer", err);
	if (rc)
		return rc;
	/* the footer marks the end of a file-backed image */
	if (!fstat(v->fd, &st) && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size != off + TD_VHD_FOOTER_SIZE) {
		if (ftruncate(v->fd, (off_t)(off + TD_VHD_FOOTER_SIZE)))
			return td_vhd_error(err, -errno, "truncating after "
					    "the footer: %s", strerror(errno));
		v->file_size = off + TD_VHD_FOOTER_SIZE;
	}
	if (fdatasync(v->fd))
		return td_vhd_error(err, -errno, "fdatasync: %s",
				    strerror(errno));
	if (is_dynamic(v)) {
		rc = write_buf(v, buf, sizeof(buf), 0, "footer copy", err);
		if (rc)
			return rc;
		if (fdatasync(v->fd))
			return td_vhd_error(err, -errno, "fdatasync: %s",
					    strerror(errno));
		v->head_ok = true;
	}
	v->tail_ok = true;
	v->poisoned = false;
	v->footer_src = TD_VHD_FOOTER_TAIL;
	return 0;
}

int td_vhd_set_phys_size(struct td_vhd *v, uint64_t size,
			 struct td_vhd_err *err)
{
	uint8_t buf[TD_VHD_FOOTER_SIZE];
	uint64_t phys;
	struct stat st;
	int rc = check_rw(v, err);

	if (rc)
		return rc;
	if (!is_dynamic(v))
		return td_vhd_error(err, -EINVAL, "a fixed image's footer "
				    "must follow its data");
	phys = td_vhd_phys_size(v);
	if (size % TD_VHD_SECTOR)
		return td_vhd_error(err, -EINVAL, "size %" PRIu64 " is not "
				    "a multiple of 512", size);
	if (size < phys)
		return td_vhd_error(err, -EINVAL, "size %" PRIu64 " is below "
				    "the physical size %" PRIu64 " (data would "
				    "be lost)", size, phys);
	if (fstat(v->fd, &st))
		return td_vhd_error(err, -errno, "stat: %s", strerror(errno));
	if (S_ISBLK(st.st_mode) && size > v->file_size)
		return td_vhd_error(err, -ENOSPC, "size %" PRIu64 " is past "
				    "the end of the device (%" PRIu64 ")", size,
				    v->file_size);
	memcpy(v->footer.cookie, TD_VHD_FOOTER_COOKIE, 8);
	td_vhd_footer_encode(&v->footer, buf);
	rc = write_buf(v, buf, sizeof(buf), size - TD_VHD_FOOTER_SIZE,
		       "footer", err);
	if (rc)
		return rc;
	if (fdatasync(v->fd))
		return td_vhd_error(err, -errno, "fdatasync: %s",
				    strerror(errno));
	/* only now may the old footer go: the file always ends in one */
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != size) {
		if (ftruncate(v->fd, (off_t)size) || fdatasync(v->fd))
			return td_vhd_error(err, -errno, "truncating to %"
					    PRIu64 ": %s", size,
					    strerror(errno));
		v->file_size = size;
	}
	v->tail_ok = true;
	v->footer_src = TD_VHD_FOOTER_TAIL;
	return 0;
}

int td_vhd_write_header(struct td_vhd *v, struct td_vhd_err *err)
{
	uint8_t buf[TD_VHD_HEADER_SIZE];
	int rc = check_rw(v, err);

	if (rc)
		return rc;
	if (!is_dynamic(v))
		return td_vhd_error(err, -EINVAL, "fixed disks have no header");
	td_vhd_header_encode(&v->header, buf);
	return write_buf(v, buf, sizeof(buf), v->footer.data_offset,
			 "dynamic header", err);
}

int td_vhd_write_bat(struct td_vhd *v, struct td_vhd_err *err)
{
	size_t len = vhd_round_up((uint64_t)v->header.max_bat * 4, 512);
	uint8_t *buf;
	int rc = check_rw(v, err);

	if (rc)
		return rc;
	if (!is_dynamic(v))
		return td_vhd_error(err, -EINVAL, "fixed disks have no BAT");
	buf = vhd_alloc(len);
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	memset(buf, 0xff, len);
	td_vhd_bat_encode(v->bat, buf, v->header.max_bat);
	rc = write_buf(v, buf, len, v->header.table_offset, "BAT", err);
	free(buf);
	return rc;
}

int td_vhd_write_batmap(struct td_vhd *v, struct td_vhd_err *err)
{
	struct td_vhd_batmap_hdr *b = &v->batmap_hdr;
	size_t len = (size_t)b->batmap_size * TD_VHD_SECTOR;
	uint8_t hdr[TD_VHD_BATMAP_HDR_SIZE];
	uint64_t hoff;
	int rc = check_rw(v, err);

	if (rc || !v->has_batmap)
		return rc;
	hoff = v->header.table_offset +
	       vhd_round_up((uint64_t)v->header.max_bat * 4, TD_VHD_SECTOR);
	b->checksum = td_vhd_batmap_checksum(v->batmap, len,
					     v->footer.curr_size,
					     b->batmap_version);
	rc = write_buf(v, v->batmap, len, b->batmap_offset, "batmap", err);
	if (rc)
		return rc;
	td_vhd_batmap_hdr_encode(b, hdr);
	rc = write_buf(v, hdr, sizeof(hdr), hoff, "batmap header", err);
	if (!rc)
		v->batmap_ok = true;
	return rc;
}

/* ---- data I/O ------------------------------------------------------ */

static int read_file(struct td_vhd *v, void *buf, uint64_t len, uint64_t off,
		     struct td_vhd_err *err)
{
	int rc = vhd_pread(v->fd, buf, len, off);

	if (rc)
		return td_vhd_error(err, rc, "%s: reading 0x%" PRIx64
				    " bytes at 0x%" PRIx64 ": %s", v->path,
				    len, off, strerror(-rc));
	return 0;
}

static int chain_read(struct td_vhd *v, uint64_t sector, uint64_t nr,
		      uint8_t *buf, struct td_vhd_err *err);

/* Sectors this layer does not own: the parent's, or zeros. */
static int fall_through(struct td_vhd *v, uint64_t sector, uint64_t nr,
			uint8_t *buf, struct td_vhd_err *err)
{
	if (v->footer.type != TD_VHD_TYPE_DIFF) {
		memset(buf, 0, nr * TD_VHD_SECTOR);
		return 0;
	}
	if (!v->parent)
		return td_vhd_error(err, -ENOLINK, "%s: parent not open",
				    v->path);
	return chain_read(v->parent, sector, nr, buf, err);
}

static int read_block(struct td_vhd *v, uint32_t blk, uint32_t sib,
		      uint32_t n, uint8_t *buf, uint8_t *bm,
		      struct td_vhd_err *err)
{
	uint64_t sector = (uint64_t)blk * v->spb + sib;
	uint64_t data = td_vhd_block_offset(v, blk) + v->bm_bytes;
	uint32_t done = 0, run;
	bool set;
	int rc;

	if (td_vhd_batmap_test(v, blk))
		return read_file(v, buf, (uint64_t)n * TD_VHD_SECTOR,
				 data + (uint64_t)sib * TD_VHD_SECTOR, err);
	rc = td_vhd_read_bitmap(v, blk, bm, err);
	if (rc)
		return rc;
	while (done < n) {
		run = td_vhd_bitmap_run(bm, sib + done, n - done, v->bm_le,
					&set);
		if (set)
			rc = read_file(v, buf + (uint64_t)done * 512,
				       (uint64_t)run * TD_VHD_SECTOR,
				       data + (uint64_t)(sib + done) * 512,
				       err);
		else
			rc = fall_through(v, sector + done, run,
					  buf + (uint64_t)done * 512, err);
		if (rc)
			return rc;
		done += run;
	}
	return 0;
}

static int chain_read(struct td_vhd *v, uint64_t sector, uint64_t nr,
		      uint8_t *buf, struct td_vhd_err *err)
{
	uint64_t size = td_vhd_size(v) / TD_VHD_SECTOR, n;
	uint8_t *bm = NULL;
	int rc = 0;

	if (sector >= size) {
		memset(buf, 0, nr * TD_VHD_SECTOR);
		return 0;
	}
	if (sector + nr > size) {
		n = size - sector;
		memset(buf + n * TD_VHD_SECTOR, 0, (nr - n) * TD_VHD_SECTOR);
		nr = n;
	}
	if (!is_dynamic(v))
		return read_file(v, buf, nr * TD_VHD_SECTOR,
				 sector * TD_VHD_SECTOR, err);
	while (nr && !rc) {
		uint32_t blk = (uint32_t)(sector / v->spb);
		uint32_t sib = (uint32_t)(sector % v->spb);

		n = v->spb - sib;
		if (n > nr)
			n = nr;
		if (v->bat[blk] == TD_VHD_BAT_UNUSED) {
			rc = fall_through(v, sector, n, buf, err);
		} else {
			if (!bm)
				bm = malloc(v->bm_bytes);
			if (!bm)
				return td_vhd_error(err, -ENOMEM, "no memory");
			rc = read_block(v, blk, sib, (uint32_t)n, buf, bm,
					err);
		}
		sector += n;
		nr -= n;
		buf += n * TD_VHD_SECTOR;
	}
	free(bm);
	return rc;
}

int td_vhd_read(struct td_vhd *v, uint64_t sector, uint32_t nr, void *buf,
		struct td_vhd_err *err)
{
	return chain_read(v, sector, nr, buf, err);
}

/*
 * New block: make sure every byte a reader may see is zero (only the part
 * of the block already inside the file can hold old bytes, e.g. on a
 * block device), then hand back the reserved sector. The BAT is written
 * last by the caller so it never points at a bitmap not yet on disk.
 */
static int new_block(struct td_vhd *v, uint32_t *sector,
		     struct td_vhd_err *err)
{
	uint64_t start, end, len;
	uint8_t *zero;
	int rc;

	rc = td_vhd_reserve_block(v, sector);
	if (rc)
		return td_vhd_error(err, rc, "no room for another block "
				    "(2 TiB file limit)");
	start = ((uint64_t)*sector + v->bm_secs) * TD_VHD_SECTOR;
	end = start + v->header.block_size;
	if (start >= v->file_size)
		return 0;
	if (end > v->file_size)
		end = v->file_size;
	zero = vhd_alloc(1 << 20);
	if (!zero)
		return td_vhd_error(err, -ENOMEM, "no memory");
	for (rc = 0; start < end && !rc; start += len) {
		len = end - start < (1 << 20) ? end - start : (1 << 20);
		rc = vhd_pwrite(v->fd, zero, len, start);
	}
	free(zero);
	if (rc)
		return td_vhd_error(err, rc, "zeroing a new block: %s",
				    strerror(-rc));
	return 0;
}

static int write_block(struct td_vhd *v, uint32_t blk, uint32_t sib,
		       uint32_t n, const struct vhd_src *src, uint8_t *bm,
		       struct td_vhd_err *err)
{
	bool fresh = v->bat[blk] == TD_VHD_BAT_UNUSED, full;
	uint8_t bat[TD_VHD_SECTOR];
	uint64_t data, boff, bend;
	uint32_t s = 0;
	int rc;

	if (fresh) {
		rc = new_block(v, &s, err);
		if (rc)
			return rc;
		memset(bm, 0, v->bm_bytes);
	} else {
		s = v->bat[blk];
		rc = td_vhd_read_bitmap(v, blk, bm, err);
		if (rc)
			return rc;
	}
	data = ((uint64_t)s + v->bm_secs + sib) * TD_VHD_SECTOR;
	rc = write_data(v, src, (size_t)n * TD_VHD_SECTOR, data, err);
	if (rc)
		return rc;
	bend = ((uint64_t)s + v->bm_secs + v->spb) * TD_VHD_SECTOR;
	if (fresh && v->file_size < bend) {
		/* the file must cover the whole block before the BAT
		 * points at it, or a crash leaves a block past EOF */
		if (ftruncate(v->fd, (off_t)bend))
			return td_vhd_error(err, -errno, "extending the file: "
					    "%s", strerror(errno));
		v->file_size = bend;
	}
	td_vhd_bitmap_set_range(bm, sib, n, v->bm_le);
	rc = write_buf(v, bm, v->bm_bytes, (uint64_t)s * TD_VHD_SECTOR,
		       "bitmap", err);
	if (rc)
		return rc;
	if (fresh) {
		td_vhd_bat_set(v, blk, s);
		boff = td_vhd_bat_sector(v, blk, bat);
		rc = write_buf(v, bat, sizeof(bat), boff, "BAT", err);
		if (rc)
			return rc;
	}
	full = td_vhd_bitmap_full(bm, v->spb, v->bm_le);
	td_vhd_batmap_mark(v, blk, full);
	return 0;
}

static int vhd_write_src(struct td_vhd *v, uint64_t sector, uint32_t nr,
			 struct vhd_src src, struct td_vhd_err *err)
{
	uint8_t *bm = NULL;
	uint64_t n;
	int rc = check_rw(v, err);

	if (rc)
		return rc;
	if (sector + nr > td_vhd_size(v) / TD_VHD_SECTOR)
		return td_vhd_error(err, -ERANGE, "write past end of disk");
	if (!is_dynamic(v))
		return write_data(v, &src, (size_t)nr * TD_VHD_SECTOR,
				  sector * TD_VHD_SECTOR, err);
	bm = malloc(v->bm_bytes);
	if (!bm)
		return td_vhd_error(err, -ENOMEM, "no memory");
	while (nr && !rc) {
		uint32_t blk = (uint32_t)(sector / v->spb);
		uint32_t sib = (uint32_t)(sector % v->spb);

		n = v->spb - sib;
		if (n > nr)
			n = nr;
		rc = write_block(v, blk, sib, (uint32_t)n, &src, bm, err);
		sector += n;
		nr -= (uint32_t)n;
		if (src.buf)
			src.buf += n * TD_VHD_SECTOR;
		else
			src.off += n * TD_VHD_SECTOR;
	}
	free(bm);
	return rc;
}

int td_vhd_write(struct td_vhd *v, uint64_t sector, uint32_t nr,
		 const void *buf, struct td_vhd_err *err)
{
	struct vhd_src src = { .buf = buf, .fd = -1 };

	return vhd_write_src(v, sector, nr, src, err);
}

int td_vhd_write_from_fd(struct td_vhd *v, uint64_t sector, uint32_t nr,
			 int fd, uint64_t off, struct td_vhd_err *err)
{
	struct vhd_src src = { .buf = NULL, .fd = fd, .off = off };

	return vhd_write_src(v, sector, nr, src, err);
}

int td_vhd_sector_status(struct td_vhd *v, uint64_t sector, uint64_t nr,
			 bool *alloc, uint64_t *run, struct td_vhd_err *err)
{
	uint64_t size = td_vhd_size(v) / TD_VHD_SECTOR, max;
	uint32_t blk, sib;
	uint8_t *bm;
	int rc;

	if (!nr || sector >= size)
		return td_vhd_error(err, -ERANGE, "sector past end of disk");
	if (nr > size - sector)
		nr = size - sector;
	if (!is_dynamic(v)) {
		*alloc = true;
		*run = nr;
		return 0;
	}
	blk = (uint32_t)(sector / v->spb);
	sib = (uint32_t)(sector % v->spb);
	max = v->spb - sib < nr ? v->spb - sib : nr;
	if (v->bat[blk] == TD_VHD_BAT_UNUSED || td_vhd_batmap_test(v, blk)) {
		*alloc = v->bat[blk] != TD_VHD_BAT_UNUSED;
		*run = max;
		return 0;
	}
	bm = malloc(v->bm_bytes);
	if (!bm)
		return td_vhd_error(err, -ENOMEM, "no memory");
	rc = td_vhd_read_bitmap(v, blk, bm, err);
	if (!rc)
		*run = td_vhd_bitmap_run(bm, sib, (uint32_t)max, v->bm_le,
					 alloc);
	free(bm);
	return rc;
}
