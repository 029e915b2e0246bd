// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util coalesce and fill: bulk data movement with a progress bar.
 *
 * Coalesce copies the sectors a differencing image owns into its parent
 * and is safe while tapdisks read the chain (XenServer's storage manager
 * coalesces a hidden, read-only node into its parent live, and only when
 * it is the parent's one child): it writes only sectors the child covers,
 * which every reader through the child resolves in the child; new parent
 * blocks are appended and referenced by BAT entries written after their
 * data, so a reader holding the parent's old tables never sees a torn
 * block; a tapdisk sharing an open parent notices the changed file and
 * opens it afresh for a VBD re-pointed at it (tapdisk/image.c). Before it
 * returns, everything is durable (the footer write syncs, a raw parent is
 * fsynced): the caller deletes the child next. Interrupted, it can simply
 * be run again. On success it prints "Coalesced N sectors", which newer
 * storage managers parse.
 *
 * -a ANCESTOR (blktap's coalesce onto an ancestor) writes NAME's sectors
 * into ANCESTOR further up the chain and then makes every image strictly
 * between them forget those sectors (bitmap bits cleared), so they read
 * them from ANCESTOR: NAME's parent then reads exactly as NAME does. The
 * same rule makes it safe live: each image from NAME's parent up to
 * ANCESTOR is read only through NAME (hidden nodes with one child each),
 * and NAME, never written, holds every sector that changes below it. The
 * order keeps every intermediate state valid: ANCESTOR's data, batmap and
 * footer first, synced; then per intermediate its batmap "full" bits for
 * the blocks to be edited are dropped and synced before any bitmap loses
 * a bit (a batmap must never call a block full whose bitmap is not), then
 * the bitmaps, synced. Interrupted, it is simply run again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhd-util.h"

/* Destination of a coalesce: a VHD opened read-write, or a raw file. */
struct dest {
	struct td_vhd *vhd;
	int raw_fd;
	uint64_t size;
	bool sparse;
};

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int dest_write(struct dest *d, uint64_t sector, uint32_t n,
		      const uint8_t *buf, struct td_vhd_err *err)
{
	ssize_t w;

	if (sector + n > d->size / TD_VHD_SECTOR)
		return td_vhd_error(err, -ERANGE, "sector %" PRIu64 " is past "
				    "the end of the parent (%" PRIu64
				    " bytes): resize the parent first",
				    sector + n, d->size);
	if (d->vhd) {
		/* -s: a dynamic parent reads zeros where it has no block */
		if (d->sparse && d->vhd->footer.type == TD_VHD_TYPE_DYNAMIC &&
		    !td_vhd_sector_offset(d->vhd, sector) &&
		    all_zero(buf, (size_t)n * TD_VHD_SECTOR))
			return 0;
		return td_vhd_write(d->vhd, sector, n, buf, err);
	}
	w = pwrite(d->raw_fd, buf, (size_t)n * TD_VHD_SECTOR,
		   (off_t)(sector * TD_VHD_SECTOR));
	if (w != (ssize_t)n * TD_VHD_SECTOR)
		return td_vhd_error(err, w < 0 ? -errno : -EIO, "writing raw "
				    "parent at sector %" PRIu64, sector);
	return 0;
}

/*
 * Copies @n sectors from @fd at byte @at to @d at @sector, in the kernel
 * where possible: without -s there is nothing to inspect on the way, so
 * the data need not pass through user space.
 */
static int dest_copy(struct dest *d, uint64_t sector, uint32_t n, int fd,
		     uint64_t at, struct td_vhd_err *err)
{
	int rc;

	if (sector + n > d->size / TD_VHD_SECTOR)
		return td_vhd_error(err, -ERANGE, "sector %" PRIu64 " is past "
				    "the end of the parent (%" PRIu64
				    " bytes): resize the parent first",
				    sector + n, d->size);
	if (d->vhd)
		return td_vhd_write_from_fd(d->vhd, sector, n, fd, at, err);
	rc = td_vhd_copy_file_range(fd, at, d->raw_fd,
				    sector * TD_VHD_SECTOR,
				    (uint64_t)n * TD_VHD_SECTOR);
	if (rc)
		return td_vhd_error(err, rc, "writing raw parent at sector %"
				    PRIu64 ": %s", sector, strerror(-rc));
	return 0;
}

/* Copies every sector @c owns in block @blk into @d, counting @done. */
static int coalesce_block(struct td_vhd *c, uint32_t blk, struct dest *d,
			  uint8_t *buf, uint8_t *bm, uint64_t *done,
			  struct td_vhd_err *err)
{
	uint64_t base = (uint64_t)blk * c->spb, data;
	uint32_t s = 0, run, n = c->spb;
	bool set;
	int rc;

	data = td_vhd_block_offset(c, blk);
	if (!data)
		return 0;
	data += c->bm_bytes;
	if (base + n > td_vhd_size(c) / TD_VHD_SECTOR)
		n = (uint32_t)(td_vhd_size(c) / TD_VHD_SECTOR - base);
	if (td_vhd_batmap_test(c, blk)) {
		memset(bm, 0xff, c->bm_bytes);
	} else {
		rc = td_vhd_read_bitmap(c, blk, bm, err);
		if (rc)
			return rc;
	}
	while (s < n) {
		run = td_vhd_bitmap_run(bm, s, n - s, c->bm_le, &set);
		if (set && !d->sparse) {
			rc = dest_copy(d, base + s, run, c->fd,
				       data + (uint64_t)s * 512, err);
			if (rc)
				return rc;
			*done += run;
		} else if (set) {
			off_t at = (off_t)(data + (uint64_t)s * 512);

			if (pread(c->fd, buf, (size_t)run * TD_VHD_SECTOR,
				  at) != (ssize_t)run * TD_VHD_SECTOR)
				return td_vhd_error(err, -EIO, "reading block "
						    "%u", blk);
			rc = dest_write(d, base + s, run, buf, err);
			if (rc)
				return rc;
			*done += run;
		}
		s += run;
	}
	return 0;
}

/*
 * Opens the parent of @c for writing: the one its locators name or, with
 * -x, @step (blktap's "custom parent", e.g. the same volume under another
 * path), which must still be the image @c was made against.
 */
static int open_dest(struct td_vhd *c, const char *step, struct dest *d,
		     struct td_vhd_err *e)
{
	char ppath[PATH_MAX];
	bool raw;
	int rc;

	if (step) {
		if (strlen(step) >= sizeof(ppath))
			return td_vhd_error(e, -ENAMETOOLONG, "-x: path too "
					    "long");
		snprintf(ppath, sizeof(ppath), "%s", step);
		raw = td_vhd_parent_is_raw(c);
	} else {
		rc = td_vhd_parent_path(c, ppath, sizeof(ppath), &raw, e);
		if (rc)
			return rc;
	}
	if (raw) {
		d->raw_fd = open(ppath, O_RDWR | O_CLOEXEC);
		if (d->raw_fd < 0)
			return td_vhd_error(e, -errno, "opening raw parent %s:"
					    " %s", ppath, strerror(errno));
		d->size = (uint64_t)lseek(d->raw_fd, 0, SEEK_END);
		return 0;
	}
	e->name = ppath;
	rc = td_vhd_open(ppath, 0, &d->vhd, e);
	e->name = c->path;
	if (!rc)
		rc = td_vhd_validate_parent(c, d->vhd, e);
	if (!rc)
		d->size = td_vhd_size(d->vhd);
	return rc;
}

static int finish_vhd(struct td_vhd *v, struct td_vhd_err *err)
{
	int rc = td_vhd_write_batmap(v, err);

	return rc ? rc : td_vhd_write_footer(v, err);
}

/* Copies every sector @c owns into @d and makes @d durable. */
static int copy_into(struct td_vhd *c, struct dest *d, uint8_t *buf,
		     uint8_t *bm, bool progress, uint64_t *done,
		     struct td_vhd_err *err)
{
	struct vu_progress pb;
	uint32_t i;
	int rc = 0;

	vu_progress_init(&pb, progress);
	for (i = 0; !rc && i < c->bat_used; i++) {
		vu_progress(&pb, i, c->bat_used);
		rc = coalesce_block(c, i, d, buf, bm, done, err);
	}
	if (!rc)
		vu_progress_done(&pb);
	if (!rc && d->vhd)
		rc = finish_vhd(d->vhd, err);
	if (!rc && d->raw_fd >= 0 && fsync(d->raw_fd))
		rc = td_vhd_error(err, -errno, "fsync: %s", strerror(errno));
	return rc;
}

static int coalesce_parent(const char *name, const char *step, bool sparse,
			   bool progress)
{
	struct td_vhd_err err = { name, "" };
	struct dest d = { .raw_fd = -1, .sparse = sparse };
	uint8_t *buf = NULL, *bm = NULL;
	uint64_t done = 0;
	struct td_vhd *c;
	int rc;

	rc = td_vhd_open(name, TD_VHD_OPEN_RDONLY, &c, &err);
	if (rc)
		return vu_fail_err("coalesce", rc, &err);
	if (c->footer.type != TD_VHD_TYPE_DIFF) {
		td_vhd_close(c);
		return vu_fail("coalesce", -EINVAL, "%s is not a differencing "
			       "image", name);
	}
	rc = open_dest(c, step, &d, &err);
	if (!rc) {
		buf = aligned_alloc(4096, c->header.block_size);
		bm = malloc(c->bm_bytes);
		if (!buf || !bm)
			rc = td_vhd_error(&err, -ENOMEM, "no memory");
	}
	if (!rc)
		rc = copy_into(c, &d, buf, bm, progress, &done, &err);
	free(buf);
	free(bm);
	td_vhd_close(d.vhd);
	if (d.raw_fd >= 0)
		close(d.raw_fd);
	td_vhd_close(c);
	if (rc)
		return vu_fail_err("coalesce", rc, &err);
	printf("Coalesced %" PRIu64 " sectors\n", done);
	return 0;
}

/* The chain from NAME up to ANCESTOR, for -a. */
struct anc_chain {
	struct td_vhd *child;
	struct td_vhd *mid[TD_VHD_MAX_CHAIN]; /* NAME's parent first */
	unsigned nmid;
	struct dest d;                        /* ANCESTOR */
};

static bool same_path(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Opens the intermediates read-write and ANCESTOR as the destination. */
static int load_chain(struct anc_chain *ch, const char *anc,
		      struct td_vhd_err *e)
{
	struct td_vhd *cur = ch->child, *m;
	char ppath[PATH_MAX];
	bool raw;
	int rc;

	if (same_path(cur->path, anc))
		return td_vhd_error(e, -EINVAL, "the ancestor is the image "
				    "itself");
	while (ch->nmid < TD_VHD_MAX_CHAIN) {
		if (cur->footer.type != TD_VHD_TYPE_DIFF)
			break;
		e->name = cur->path;
		rc = td_vhd_parent_path(cur, ppath, sizeof(ppath), &raw, e);
		if (rc)
			return rc;
		if (same_path(ppath, anc))
			return open_dest(cur, NULL, &ch->d, e);
		if (raw)
			break;
		e->name = ppath;
		rc = td_vhd_open(ppath, 0, &m, e);
		if (rc)
			return rc;
		ch->mid[ch->nmid++] = m;
		rc = td_vhd_validate_parent(cur, m, e);
		if (!rc && m->footer.type != TD_VHD_TYPE_DIFF)
			break;
		if (!rc && m->header.block_size !=
			   ch->child->header.block_size)
			rc = td_vhd_error(e, -EINVAL, "block size %u differs "
					  "from %s's (%u)",
					  m->header.block_size,
					  ch->child->path,
					  ch->child->header.block_size);
		if (rc)
			return rc;
		cur = m;
	}
	e->name = ch->child->path;
	return td_vhd_error(e, -ENOENT, "%s is not an ancestor", anc);
}

/* Clears in @m's block @blk the sectors child @c's bitmap @cbm holds. */
static int forget_block(struct td_vhd *m, const struct td_vhd *c,
			uint32_t blk, const uint8_t *cbm, uint8_t *mbm,
			struct td_vhd_err *err)
{
	bool dirty = false;
	uint32_t i;
	int rc;

	rc = td_vhd_read_bitmap(m, blk, mbm, err);
	for (i = 0; !rc && i < c->spb; i++) {
		if (td_vhd_bitmap_test(cbm, i, c->bm_le) &&
		    td_vhd_bitmap_test(mbm, i, m->bm_le)) {
			td_vhd_bitmap_clear(mbm, i, m->bm_le);
			dirty = true;
		}
	}
	if (!rc && dirty)
		rc = td_vhd_write_bitmap(m, blk, mbm, err);
	return rc;
}

static int forget_in(struct td_vhd *m, struct td_vhd *c, uint8_t *cbm,
		     uint8_t *mbm, struct td_vhd_err *err)
{
	uint32_t i;
	int rc = 0;

	err->name = m->path;
	/* first: no batmap bit may claim a block full that loses bits */
	for (i = 0; i < c->bat_used; i++)
		if (td_vhd_block_offset(c, i) && td_vhd_batmap_test(m, i))
			td_vhd_batmap_mark(m, i, false);
	rc = td_vhd_write_batmap(m, err);
	if (!rc && fdatasync(m->fd))
		rc = td_vhd_error(err, -errno, "fdatasync: %s",
				  strerror(errno));
	for (i = 0; !rc && i < c->bat_used; i++) {
		if (!td_vhd_block_offset(c, i) || !td_vhd_block_offset(m, i))
			continue;
		if (td_vhd_batmap_test(c, i))
			memset(cbm, 0xff, c->bm_bytes);
		else
			rc = td_vhd_read_bitmap(c, i, cbm, err);
		if (!rc)
			rc = forget_block(m, c, i, cbm, mbm, err);
	}
	if (!rc && fdatasync(m->fd))
		rc = td_vhd_error(err, -errno, "fdatasync: %s",
				  strerror(errno));
	return rc;
}

static int coalesce_ancestor(const char *name, const char *anc, bool sparse,
			     bool progress)
{
	struct anc_chain ch = { .d = { .raw_fd = -1, .sparse = sparse } };
	struct td_vhd_err err = { name, "" };
	uint8_t *buf = NULL, *bm = NULL, *mbm = NULL;
	uint64_t done = 0;
	unsigned k;
	int rc;

	rc = td_vhd_open(name, TD_VHD_OPEN_RDONLY, &ch.child, &err);
	if (!rc && ch.child->footer.type != TD_VHD_TYPE_DIFF)
		rc = td_vhd_error(&err, -EINVAL, "not a differencing image");
	if (!rc)
		rc = load_chain(&ch, anc, &err);
	if (!rc) {
		buf = aligned_alloc(4096, ch.child->header.block_size);
		bm = malloc(ch.child->bm_bytes);
		mbm = malloc(ch.child->bm_bytes);
		if (!buf || !bm || !mbm)
			rc = td_vhd_error(&err, -ENOMEM, "no memory");
	}
	err.name = name;
	if (!rc)
		rc = copy_into(ch.child, &ch.d, buf, bm, progress, &done,
			       &err);
	for (k = 0; !rc && k < ch.nmid; k++)
		rc = forget_in(ch.mid[k], ch.child, bm, mbm, &err);
	free(buf);
	free(bm);
	free(mbm);
	for (k = 0; k < ch.nmid; k++)
		td_vhd_close(ch.mid[k]);
	td_vhd_close(ch.d.vhd);
	if (ch.d.raw_fd >= 0)
		close(ch.d.raw_fd);
	td_vhd_close(ch.child);
	if (rc)
		return vu_fail_err("coalesce", rc, &err);
	printf("Coalesced %" PRIu64 " sectors\n", done);
	return 0;
}

/* -o: a new dynamic image holding the chain's data (zero blocks left out) */
static int coalesce_out(const char *name, const char *out, bool progress)
{
	struct td_vhd_create_opts co = { .type = TD_VHD_TYPE_DYNAMIC };
	struct td_vhd_err err = { name, "" };
	struct td_vhd *c, *o = NULL;
	struct vu_progress pb;
	uint64_t nsec, s;
	bool created;
	uint8_t *buf;
	uint32_t n;
	int rc;

	rc = td_vhd_open_chain(name, TD_VHD_OPEN_RDONLY, &c, &err);
	if (rc)
		return vu_fail_err("coalesce", rc, &err);
	co.size = td_vhd_size(c);
	err.name = out;
	rc = td_vhd_create(out, &co, &err);
	created = !rc;
	if (!rc)
		rc = td_vhd_open(out, 0, &o, &err);
	buf = aligned_alloc(4096, TD_VHD_BLOCK_SIZE);
	if (!rc && !buf)
		rc = td_vhd_error(&err, -ENOMEM, "no memory");
	nsec = td_vhd_size(c) / TD_VHD_SECTOR;
	vu_progress_init(&pb, progress);
	for (s = 0; !rc && s < nsec; s += n) {
		n = nsec - s < o->spb ? (uint32_t)(nsec - s) : o->spb;
		vu_progress(&pb, s, nsec);
		rc = td_vhd_read(c, s, n, buf, &err);
		if (!rc && !all_zero(buf, (size_t)n * TD_VHD_SECTOR))
			rc = td_vhd_write(o, s, n, buf, &err);
	}
	if (!rc) {
		vu_progress_done(&pb);
		rc = finish_vhd(o, &err);
	}
	free(buf);
	td_vhd_close(o);
	td_vhd_close(c);
	if (rc && created)
		unlink(out);
	return rc ? vu_fail_err("coalesce", rc, &err) : 0;
}

static const char coalesce_usage[] =
	"vhd-util coalesce -n NAME [-o OUTPUT | -x PARENT | -a ANCESTOR] [-s] "
	"[-p]";

int vu_coalesce(int argc, char **argv, const struct vu_opts *o)
{
	const char *name = NULL, *out = NULL, *step = NULL, *anc = NULL;
	bool sparse = false, progress = false;
	int c;

	while ((c = getopt(argc, argv, "n:o:a:x:sph")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'o': out = optarg; break;
		case 's': sparse = true; break;
		case 'p': progress = true; break;
		case 'x': step = optarg; break;
		case 'a': anc = optarg; break;
		case 'h':
			printf("usage: %s\n  merges NAME's data into its "
			       "parent (NAME is not changed)\n  -o  write the "
			       "whole chain to a new image instead\n  -x  "
			       "write into PARENT instead of the parent the "
			       "locators name (same UUID required)\n  -a  "
			       "write into ANCESTOR further up instead; the "
			       "images between forget NAME's sectors, so "
			       "NAME's parent then reads as NAME\n  -s  "
			       "sparse: skip zero runs a dynamic parent "
			       "lacks\n  -p  progress bar (default on a "
			       "terminal)\nSafe while tapdisks read the "
			       "chain; prints \"Coalesced N sectors\".\n",
			       coalesce_usage);
			return 0;
		default:
			return vu_fail("coalesce", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, coalesce_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", coalesce_usage) < 0;
	if (!name || optind != argc || (out && step) ||
	    (anc && (out || step)))
		return vu_fail("coalesce", -EINVAL, "usage: %s",
			       coalesce_usage);
	if (anc)
		return coalesce_ancestor(name, anc, sparse, progress);
	return out ? coalesce_out(name, out, progress)
		   : coalesce_parent(name, step, sparse, progress);
}

static const char fill_usage[] = "vhd-util fill -n NAME [-p]";

int vu_fill(int argc, char **argv, const struct vu_opts *o)
{
	struct td_vhd_err err = { 0 };
	const char *name = NULL;
	struct vu_progress pb;
	bool progress = false, alloc;
	struct td_vhd *v;
	uint8_t *buf;
	uint64_t nsec, s, run;
	uint32_t n;
	int c, rc;

	while ((c = getopt(argc, argv, "n:ph")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'p': progress = true; break;
		case 'h':
			printf("usage: %s\n  allocates every block, copying "
			       "what the parents hold\n", fill_usage);
			return 0;
		default:
			return vu_fail("fill", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, fill_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", fill_usage) < 0;
	if (!name || optind != argc)
		return vu_fail("fill", -EINVAL, "usage: %s", fill_usage);
	err.name = name;
	rc = td_vhd_open_chain(name, 0, &v, &err);
	if (rc)
		return vu_fail_err("fill", rc, &err);
	if (v->footer.type == TD_VHD_TYPE_FIXED) {
		td_vhd_close(v);
		return 0; /* nothing to allocate */
	}
	buf = aligned_alloc(4096, v->header.block_size);
	if (!buf)
		rc = td_vhd_error(&err, -ENOMEM, "no memory");
	nsec = td_vhd_size(v) / TD_VHD_SECTOR;
	vu_progress_init(&pb, progress);
	for (s = 0; !rc && s < nsec; s += n) {
		n = nsec - s < v->spb ? (uint32_t)(nsec - s) : v->spb;
		vu_progress(&pb, s, nsec);
		rc = td_vhd_sector_status(v, s, n, &alloc, &run, &err);
		if (rc || (alloc && run == n))
			continue;
		rc = td_vhd_read(v, s, n, buf, &err);
		if (!rc)
			rc = td_vhd_write(v, s, n, buf, &err);
	}
	if (!rc) {
		vu_progress_done(&pb);
		rc = finish_vhd(v, &err);
	}
	free(buf);
	td_vhd_close(v);
	return rc ? vu_fail_err("fill", rc, &err) : 0;
}
