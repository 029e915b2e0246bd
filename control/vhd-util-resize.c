// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util resize and revert.
 *
 * Growing within the BAT's capacity (-f, or whenever it fits) only
 * rewrites the footers and the batmap checksum. Growing past it needs a
 * larger BAT, so the blocks in the way move to the end of the file. That
 * path is journaled: before anything changes, the journal file gets the
 * original file size, every byte of the metadata area about to be
 * rewritten and the tail footer, and the offset-0 footer is poisoned
 * ("v_poison") so no tapdisk opens the half-modified image. Moved blocks
 * are copies appended past the old end, so "revert" restores the image
 * exactly by writing the saved bytes back and truncating.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhd-util.h"

#define JOURNAL_MAGIC "tdvhdjr1"
#define MB (1ull << 20)

struct jhdr {
	char magic[8];
	uint64_t orig_size;   /* file size before the resize */
	uint64_t region_len;  /* bytes of [0, region_len) saved after hdr */
	uint64_t tail_off;    /* offset of the saved 512-byte tail */
};

static int full_write(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t w;
	size_t done = 0;

	while (done < len) {
		w = pwrite(fd, (const char *)buf + done, len - done,
			   off + (off_t)done);
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

static int full_read(int fd, void *buf, size_t len, off_t off)
{
	ssize_t r;
	size_t done = 0;

	while (done < len) {
		r = pread(fd, (char *)buf + done, len - done,
			  off + (off_t)done);
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Saves [0, @region) and the last 512 bytes of @v into @jpath. */
static int journal_write(struct td_vhd *v, const char *jpath, uint64_t region,
			 struct td_vhd_err *err)
{
	struct jhdr h = { .orig_size = v->file_size, .region_len = region };
	size_t len = sizeof(h) + region + TD_VHD_FOOTER_SIZE;
	uint8_t *buf;
	int fd, rc;

	memcpy(h.magic, JOURNAL_MAGIC, 8);
	h.tail_off = v->file_size - TD_VHD_FOOTER_SIZE;
	buf = calloc(1, len);
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	memcpy(buf, &h, sizeof(h));
	rc = full_read(v->fd, buf + sizeof(h), region, 0);
	if (!rc)
		rc = full_read(v->fd, buf + sizeof(h) + region,
			       TD_VHD_FOOTER_SIZE, (off_t)h.tail_off);
	if (rc) {
		free(buf);
		return td_vhd_error(err, rc, "reading metadata to journal");
	}
	fd = open(jpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(buf);
		return td_vhd_error(err, -errno, "creating journal %s: %s",
				    jpath, strerror(errno));
	}
	rc = full_write(fd, buf, len, 0);
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	free(buf);
	if (rc) {
		unlink(jpath);
		return td_vhd_error(err, rc, "writing journal %s", jpath);
	}
	return 0;
}

static int poison(struct td_vhd *v, struct td_vhd_err *err)
{
	struct td_vhd_footer f = v->footer;
	uint8_t buf[TD_VHD_FOOTER_SIZE];
	int rc;

	memcpy(f.cookie, TD_VHD_POISON_COOKIE, 8);
	td_vhd_footer_encode(&f, buf);
	rc = full_write(v->fd, buf, sizeof(buf), 0);
	if (!rc && fdatasync(v->fd))
		rc = -errno;
	return rc ? td_vhd_error(err, rc, "poisoning the footer") : 0;
}

static void set_size(struct td_vhd *v, uint64_t size)
{
	v->footer.curr_size = size;
	td_vhd_chs(size, &v->footer.cyls, &v->footer.heads, &v->footer.spt);
	v->bat_used = (uint32_t)((size + v->header.block_size - 1) /
				 v->header.block_size);
}

/* Moves block @i to the end of the file (a copy; the old place is left). */
static int move_block(struct td_vhd *v, uint32_t i, uint8_t *buf,
		      struct td_vhd_err *err)
{
	size_t len = v->bm_bytes + (size_t)v->header.block_size;
	uint32_t s;
	int rc;

	rc = td_vhd_reserve_block(v, &s);
	if (!rc)
		rc = full_read(v->fd, buf, len,
			       (off_t)td_vhd_block_offset(v, i));
	if (!rc)
		rc = full_write(v->fd, buf, len,
				(off_t)((uint64_t)s * TD_VHD_SECTOR));
	if (rc)
		return td_vhd_error(err, rc, "moving block %u", i);
	td_vhd_bat_set(v, i, s);
	return 0;
}

/* Grows the BAT (and batmap, locators) to @max entries. */
static int grow_bat(struct td_vhd *v, uint32_t max, struct td_vhd_err *err)
{
	struct td_vhd_header *h = &v->header;
	uint64_t bat = (max * (uint64_t)4 + 511) / 512 * 512;
	uint64_t boff = h->table_offset + bat, end;
	uint32_t bsecs = (max + 4095) / 4096, i;
	uint8_t *loc[TD_VHD_NR_LOCATORS] = { 0 }, *buf, *map;
	int rc = 0;

	end = boff + (v->has_batmap ? 512 + bsecs * 512ull : 0);
	/* keep the locator texts before their space is reused */
	for (i = 0; i < TD_VHD_NR_LOCATORS && !rc; i++) {
		uint64_t sp = td_vhd_locator_space(&h->loc[i]);

		if (h->loc[i].code == TD_VHD_PLAT_NONE)
			continue;
		loc[i] = calloc(1, sp);
		if (!loc[i] || full_read(v->fd, loc[i], sp,
					 (off_t)h->loc[i].data_offset))
			rc = td_vhd_error(err, -EIO, "reading locator %u", i);
		end += sp;
	}
	buf = malloc(v->bm_bytes + (size_t)h->block_size);
	uint32_t *nbat = realloc(v->bat, max * sizeof(uint32_t));
	if (nbat)
		v->bat = nbat;
	if (!rc && (!buf || !nbat))
		rc = td_vhd_error(err, -ENOMEM, "no memory");
	for (i = h->max_bat; !rc && i < max; i++)
		v->bat[i] = TD_VHD_BAT_UNUSED;
	for (i = 0; !rc && i < h->max_bat; i++) {
		uint64_t off = td_vhd_block_offset(v, i);

		if (off && off < end)
			rc = move_block(v, i, buf, err);
	}
	if (!rc && v->has_batmap) {
		map = calloc(bsecs, 512);
		if (!map)
			rc = td_vhd_error(err, -ENOMEM, "no memory");
		else {
			memcpy(map, v->batmap, (h->max_bat + 7) / 8);
			free(v->batmap);
			v->batmap = map;
			v->batmap_hdr.batmap_offset = boff + 512;
			v->batmap_hdr.batmap_size = bsecs;
		}
	}
	h->max_bat = max;
	end = boff + (v->has_batmap ? 512 + bsecs * 512ull : 0);
	for (i = 0; !rc && i < TD_VHD_NR_LOCATORS; i++) {
		if (!loc[i])
			continue;
		h->loc[i].data_offset = end;
		rc = full_write(v->fd, loc[i], td_vhd_locator_space(&h->loc[i]),
				(off_t)end);
		end += td_vhd_locator_space(&h->loc[i]);
	}
	if (end > v->meta_end)
		v->meta_end = end;
	if (!rc)
		rc = td_vhd_write_bat(v, err);
	if (!rc)
		rc = td_vhd_write_batmap(v, err);
	if (!rc)
		rc = td_vhd_write_header(v, err);
	for (i = 0; i < TD_VHD_NR_LOCATORS; i++)
		free(loc[i]);
	free(buf);
	return rc;
}

static int resize_dynamic(struct td_vhd *v, uint64_t size, bool fast,
			  const char *jpath, struct td_vhd_err *err)
{
	uint32_t need = (uint32_t)((size + v->header.block_size - 1) /
				   v->header.block_size);
	uint64_t region;
	int rc;

	if (need <= v->header.max_bat) {
		set_size(v, size);
		rc = td_vhd_write_batmap(v, err);
		return rc ? rc : td_vhd_write_footer(v, err);
	}
	if (fast)
		return td_vhd_error(err, -EINVAL, "-f: %" PRIu64 " MB is past "
				    "what the BAT covers (%" PRIu64 " MB, see "
				    "query -S)", size >> 20,
				    ((uint64_t)v->header.max_bat *
				     v->header.block_size) >> 20);
	if (!jpath)
		return td_vhd_error(err, -EINVAL, "growing the BAT needs a "
				    "journal (-j)");
	region = v->meta_end + (need * (uint64_t)4) + 4096 +
		 (need + 7) / 8;
	region = (region + 511) / 512 * 512;
	if (region > v->file_size - TD_VHD_FOOTER_SIZE)
		region = v->file_size - TD_VHD_FOOTER_SIZE;
	rc = journal_write(v, jpath, region, err);
	if (!rc)
		rc = poison(v, err);
	if (!rc)
		rc = grow_bat(v, need, err);
	if (!rc) {
		set_size(v, size);
		rc = td_vhd_write_batmap(v, err);
	}
	if (!rc)
		rc = td_vhd_write_footer(v, err);
	if (!rc)
		unlink(jpath);
	return rc;
}

static const char resize_usage[] =
	"vhd-util resize -n NAME -s SIZE_MB (-j JOURNAL | -f)";

int vu_resize(int argc, char **argv, const struct vu_opts *o)
{
	const char *name = NULL, *jpath = NULL;
	struct td_vhd_err err = { 0 };
	uint64_t mb = 0, size;
	bool fast = false, have = false;
	struct td_vhd *v;
	int c, rc;

	while ((c = getopt(argc, argv, "n:s:j:fh")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'j': jpath = optarg; break;
		case 'f': fast = true; break;
		case 's':
			if (vu_parse_u64(optarg, &mb) ||
			    mb > (TD_VHD_MAX_SIZE >> 20))
				return vu_fail("resize", -EINVAL, "bad size "
					       "'%s'", optarg);
			have = true;
			break;
		case 'h':
			printf("usage: %s\n  grows the image; -f only within "
			       "the BAT's capacity (query -S), -j journals a "
			       "BAT move (undo with revert)\n", resize_usage);
			return 0;
		default:
			return vu_fail("resize", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, resize_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", resize_usage) < 0;
	if (!name || !have || (!jpath && !fast) || optind != argc)
		return vu_fail("resize", -EINVAL, "usage: %s", resize_usage);
	err.name = name;
	rc = td_vhd_open(name, 0, &v, &err);
	if (rc)
		return vu_fail_err("resize", rc, &err);
	size = mb * MB;
	if (v->footer.type != TD_VHD_TYPE_FIXED)
		size = (size + TD_VHD_BLOCK_SIZE - 1) / TD_VHD_BLOCK_SIZE *
		       TD_VHD_BLOCK_SIZE;
	if (size < v->footer.curr_size)
		rc = td_vhd_error(&err, -EINVAL, "refusing to shrink from %"
				  PRIu64 " MB to %" PRIu64 " MB: a VHD only "
				  "grows (the guest's data past the new end "
				  "would be lost); nothing was changed",
				  v->footer.curr_size >> 20, mb);
	else if (size == v->footer.curr_size)
		rc = 0;
	else if (v->footer.type == TD_VHD_TYPE_FIXED) {
		v->footer.curr_size = size;
		td_vhd_chs(size, &v->footer.cyls, &v->footer.heads,
			   &v->footer.spt);
		rc = td_vhd_write_footer(v, &err);
	} else {
		rc = resize_dynamic(v, size, fast, jpath, &err);
	}
	td_vhd_close(v);
	return rc ? vu_fail_err("resize", rc, &err) : 0;
}

static const char revert_usage[] = "vhd-util revert -n NAME -j JOURNAL";

int vu_revert(int argc, char **argv, const struct vu_opts *o)
{
	const char *name = NULL, *jpath = NULL;
	uint8_t *buf = NULL;
	struct jhdr h;
	struct stat st;
	int c, fd = -1, jfd, rc;

	while ((c = getopt(argc, argv, "n:j:h")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'j': jpath = optarg; break;
		case 'h':
			printf("usage: %s\n  undoes an interrupted resize "
			       "from its journal, then deletes the journal\n",
			       revert_usage);
			return 0;
		default:
			return vu_fail("revert", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, revert_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", revert_usage) < 0;
	if (!name || !jpath || optind != argc)
		return vu_fail("revert", -EINVAL, "usage: %s", revert_usage);
	jfd = open(jpath, O_RDONLY | O_CLOEXEC);
	if (jfd < 0)
		return vu_fail("revert", -errno, "%s: %s", jpath,
			       strerror(errno));
	rc = full_read(jfd, &h, sizeof(h), 0);
	if (!rc && (memcmp(h.magic, JOURNAL_MAGIC, 8) || fstat(jfd, &st) ||
		    h.region_len > (uint64_t)st.st_size ||
		    (uint64_t)st.st_size != sizeof(h) + h.region_len + 512 ||
		    h.tail_off + 512 != h.orig_size))
		rc = -EINVAL;
	if (!rc) {
		buf = malloc(h.region_len + 512);
		rc = buf ? full_read(jfd, buf, h.region_len + 512, sizeof(h))
			 : -ENOMEM;
	}
	close(jfd);
	if (rc) {
		free(buf);
		return vu_fail("revert", rc, "%s: not a valid resize journal",
			       jpath);
	}
	fd = open(name, O_RDWR | O_CLOEXEC);
	rc = fd < 0 ? -errno : 0;
	if (!rc)
		rc = full_write(fd, buf, h.region_len, 0);
	if (!rc)
		rc = full_write(fd, buf + h.region_len, 512, (off_t)h.tail_off);
	if (!rc && ftruncate(fd, (off_t)h.orig_size))
		rc = -errno;
	if (!rc && fsync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(buf);
	if (rc)
		return vu_fail("revert", rc, "%s: %s", name, strerror(-rc));
	unlink(jpath);
	return 0;
}
