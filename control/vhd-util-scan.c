// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util scan: one line per image in blktap's "vhd=... capacity=..."
 * format that XenServer's storage manager parses, or a JSON array.
 *
 * With -l VG the images are logical volumes matched by name, and, as in
 * blktap, each is read through its physical volume at the offset of its
 * first segment (vhd-util-lvm.c), so inactive volumes are scanned too:
 * only the footer copy at offset 0, the header and a parent locator are
 * read, with O_DIRECT so nothing cached from an earlier state of the
 * volume is seen. The size reported is the volume's size and the parent
 * the volume name its locator (or, with -f, its parent name) gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhd-util.h"

static const char scan_usage[] =
	"vhd-util scan [-f] [-c] [-m PATTERN] [-l VG] [-a] [-p] [-v] [-M] "
	"[--json] [FILE...]";

struct scan_img {
	char *name, *parent;
	const struct vu_lv *lv;  /* -l: the volume */
	bool rawvol;             /* -l -a: raw parent volume, not read */
	bool rawparent;          /* -l: the parent is a raw volume */
	uint64_t capacity, size;
	unsigned hidden, marker, depth;
	int error;
	char msg[640];
};

struct scan {
	bool fast, nofail, parents, pretty, verbose, markers, json;
	struct scan_img *img;
	size_t n, cap;
	const char *vg;          /* -l */
	struct vu_lv *lvs;
	size_t nlv;
};

static struct scan_img *scan_add(struct scan *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->img[i].name, name))
			return NULL;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct scan_img *p = realloc(s->img, cap * sizeof(*p));

		if (!p)
			return NULL;
		s->img = p;
		s->cap = cap;
	}
	memset(&s->img[s->n], 0, sizeof(s->img[0]));
	s->img[s->n].name = strdup(name);
	if (!s->img[s->n].name)
		return NULL;
	return &s->img[s->n++];
}

static void scan_one(struct scan *s, struct scan_img *im)
{
	struct td_vhd_err err = { im->name, "" };
	unsigned flags = TD_VHD_OPEN_RDONLY | TD_VHD_OPEN_IGNORE_DISABLED;
	char ppath[PATH_MAX];
	struct td_vhd *v;
	struct stat st;
	bool raw;
	int rc;

	if (s->fast)
		flags |= TD_VHD_OPEN_FAST;
	rc = td_vhd_open(im->name, flags, &v, &err);
	if (rc) {
		im->error = rc;
		snprintf(im->msg, sizeof(im->msg), "%s", err.msg);
		return;
	}
	im->capacity = v->footer.curr_size;
	im->size = !stat(im->name, &st) && S_ISREG(st.st_mode) ?
			   (uint64_t)st.st_size : v->file_size;
	im->hidden = v->footer.hidden;
	im->marker = v->has_batmap ? v->batmap_hdr.marker : 0;
	if (v->footer.type == TD_VHD_TYPE_DIFF) {
		rc = td_vhd_parent_path(v, ppath, sizeof(ppath), &raw, &err);
		if (rc && s->fast) {
			/* -f: the header's parent name is enough */
			rc = td_vhd_utf16_to_utf8(v->header.prt_name,
						  TD_VHD_PARENT_NAME_SIZE,
						  true, ppath, sizeof(ppath));
		}
		if (rc) {
			im->error = rc;
			snprintf(im->msg, sizeof(im->msg), "getting parent: "
				 "%s", err.msg);
		} else {
			im->parent = strdup(ppath);
		}
	}
	td_vhd_close(v);
}

/* blktap's choice: MacX, else the last W2ru, else the first locator. */
static int pick_locator(const struct td_vhd_header *h)
{
	int i, pick = -1;

	for (i = 0; i < (int)TD_VHD_NR_LOCATORS; i++) {
		if (h->loc[i].code == TD_VHD_PLAT_MACX)
			return i;
		if (h->loc[i].code == TD_VHD_PLAT_W2RU)
			pick = i;
		else if (pick < 0 && h->loc[i].code != TD_VHD_PLAT_NONE)
			pick = i;
	}
	return pick;
}

static int volume_parent(struct scan *s, struct scan_img *im, int fd,
			 uint64_t base, const struct td_vhd_header *h,
			 struct td_vhd_err *err)
{
	char text[PATH_MAX], name[256];
	bool rel;
	int rc = -EINVAL, i;

	if (s->fast)
		rc = td_vhd_utf16_to_utf8(h->prt_name, TD_VHD_PARENT_NAME_SIZE,
					  true, text, sizeof(text));
	if (rc || !text[0]) {
		i = pick_locator(h);
		if (i < 0)
			return td_vhd_error(err, -EINVAL, "no parent locator");
		rc = td_vhd_peek_locator(fd, base, h, (unsigned)i, text,
					 sizeof(text), &rel, err);
		if (rc)
			return rc;
	}
	vu_lvm_volume_name(s->vg, text, name, sizeof(name));
	im->parent = strdup(name);
	return im->parent ? 0 : td_vhd_error(err, -ENOMEM, "no memory");
}

/* The batmap marker of a volume, as vhd-util scan -M shows it. */
static void volume_marker(struct scan_img *im, int fd, uint64_t base,
			  uint64_t len, const struct td_vhd_header *h)
{
	struct td_vhd_batmap_hdr b;
	uint64_t off = h->table_offset +
		       ((uint64_t)h->max_bat * 4 + 511) / 512 * 512;
	uint8_t *buf;

	if (off + TD_VHD_BATMAP_HDR_SIZE > len ||
	    posix_memalign((void **)&buf, 4096, TD_VHD_BATMAP_HDR_SIZE))
		return;
	if (pread(fd, buf, TD_VHD_BATMAP_HDR_SIZE, (off_t)(base + off)) ==
	    TD_VHD_BATMAP_HDR_SIZE) {
		td_vhd_batmap_hdr_decode(buf, &b);
		if (!memcmp(b.cookie, TD_VHD_BATMAP_COOKIE, 8))
			im->marker = b.marker;
	}
	free(buf);
}

static int open_volume(const struct scan *s, const struct vu_lv *lv,
		       uint64_t *base, uint64_t *len, struct td_vhd_err *err)
{
	char path[PATH_MAX];
	int fd;

	*base = 0;
	*len = lv->size;
	if (lv->linear) {
		snprintf(path, sizeof(path), "%s", lv->dev);
		*base = lv->start;
		*len = lv->seg_len < lv->size ? lv->seg_len : lv->size;
	} else if (lv->active) {
		/* not one linear run on a PV: only the LV node maps it */
		snprintf(path, sizeof(path), "/dev/%s/%s", s->vg, lv->name);
	} else {
		return td_vhd_error(err, -ENOSYS, "inactive volume whose "
				    "first segment is not linear");
	}
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return td_vhd_error(err, -errno, "opening %s: %s", path,
				    strerror(errno));
	return fd;
}

static void scan_volume(struct scan *s, struct scan_img *im)
{
	struct td_vhd_err err = { im->name, "" };
	struct td_vhd_footer f;
	struct td_vhd_header h;
	uint64_t base, len;
	int fd, rc;

	im->size = im->lv->size;
	if (im->rawvol) {
		/* blktap reports a raw volume as a hidden, parentless node */
		im->capacity = im->size;
		im->hidden = 1;
		return;
	}
	fd = open_volume(s, im->lv, &base, &len, &err);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	rc = td_vhd_peek(fd, base, len, &f, &h, &err);
	if (!rc) {
		im->capacity = f.curr_size;
		im->hidden = f.hidden;
		if (f.type != TD_VHD_TYPE_FIXED && s->markers)
			volume_marker(im, fd, base, len, &h);
		if (f.type == TD_VHD_TYPE_DIFF) {
			im->rawparent = !memcmp(h.prt_uuid, (uint8_t[16]){ 0 },
						16);
			rc = volume_parent(s, im, fd, base, &h, &err);
		}
	}
	close(fd);
	if (!rc)
		return;
fail:
	im->error = rc;
	snprintf(im->msg, sizeof(im->msg), "%s", err.msg);
}

static const char *shown(const struct scan *s, const char *path)
{
	const char *b;

	if (s->verbose || !path)
		return path;
	b = strrchr(path, '/');
	return b ? b + 1 : path;
}

static void print_img(const struct scan *s, const struct scan_img *im,
		      unsigned indent)
{
	if (im->error) {
		printf("%*svhd=%s scan-error=%d error-message='%s'\n", indent,
		       "", im->name, im->error, im->msg);
		return;
	}
	printf("%*svhd=%s capacity=%" PRIu64 " size=%" PRIu64 " hidden=%u ",
	       indent, "", shown(s, im->name), im->capacity, im->size,
	       im->hidden);
	if (s->markers)
		printf("marker=%u ", im->marker);
	printf("parent=%s\n", im->parent ? shown(s, im->parent) : "none");
}

static bool same_img(const struct scan *s, const char *a, const char *b)
{
	struct stat sa, sb;

	if (s->vg)
		return a && b && !strcmp(a, b);
	return a && b && !stat(a, &sa) && !stat(b, &sb) &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* -p: children indented under their parents, roots first. */
static void print_tree(const struct scan *s, size_t idx, unsigned depth)
{
	size_t i;

	if (depth > TD_VHD_MAX_CHAIN)
		return;
	print_img(s, &s->img[idx], depth * 3);
	for (i = 0; i < s->n; i++)
		if (i != idx && same_img(s, s->img[i].parent, s->img[idx].name))
			print_tree(s, i, depth + 1);
}

static bool has_parent_in_scan(const struct scan *s, size_t idx)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (i != idx && same_img(s, s->img[idx].parent, s->img[i].name))
			return true;
	return false;
}

static void print_json(const struct scan *s)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct scan_img *im = &s->img[i];
		json_t *o = json_object();

		json_object_set_new(o, "path", json_string(im->name));
		if (im->error) {
			json_object_set_new(o, "error",
					    json_integer(im->error));
			json_object_set_new(o, "message", json_string(im->msg));
		} else {
			json_object_set_new(o, "capacity", json_integer(
				(json_int_t)im->capacity));
			json_object_set_new(o, "size",
					    json_integer((json_int_t)im->size));
			json_object_set_new(o, "hidden",
					    json_integer(im->hidden));
			json_object_set_new(o, "marker",
					    json_integer(im->marker));
			json_object_set_new(o, "parent", im->parent ?
					    json_string(im->parent) :
					    json_null());
		}
		json_array_append_new(a, o);
	}
	json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(a);
}

static struct scan_img *add_volume(struct scan *s, const struct vu_lv *lv,
				   bool raw)
{
	struct scan_img *im = scan_add(s, lv->name);

	if (im) {
		im->lv = lv;
		im->rawvol = raw;
	}
	return im;
}

/* -l -a: the parent volume, looked up among all volumes of the VG. */
static void add_parent_volume(struct scan *s, const struct scan_img *child)
{
	struct scan_img *im;
	size_t i;

	for (i = 0; i < s->nlv; i++)
		if (!strcmp(s->lvs[i].name, child->parent))
			break;
	if (i < s->nlv) {
		add_volume(s, &s->lvs[i], child->rawparent);
		return;
	}
	for (i = 0; i < s->n; i++)
		if (!strcmp(s->img[i].name, child->parent))
			return;
	im = scan_add(s, child->parent);
	if (im) {
		im->error = -ENOENT;
		snprintf(im->msg, sizeof(im->msg), "parent volume not found "
			 "in %s", s->vg);
	}
}

static int scan_all(struct scan *s)
{
	size_t i;
	int rc = 0;

	/* -a appends parents while we walk, so s->n may grow */
	for (i = 0; i < s->n; i++) {
		if (s->img[i].lv)
			scan_volume(s, &s->img[i]);
		else if (!s->img[i].error)
			scan_one(s, &s->img[i]);
		if (s->img[i].error && !rc)
			rc = s->img[i].error;
		if (!s->parents || !s->img[i].parent || s->img[i].error ||
		    s->n >= 100000)
			continue;
		if (s->vg)
			add_parent_volume(s, &s->img[i]);
		else
			scan_add(s, s->img[i].parent);
	}
	if (s->json) {
		print_json(s);
	} else if (s->pretty) {
		for (i = 0; i < s->n; i++)
			if (!has_parent_in_scan(s, i))
				print_tree(s, i, 0);
	} else {
		for (i = 0; i < s->n; i++)
			print_img(s, &s->img[i], 0);
	}
	return s->nofail ? 0 : rc;
}

/* -l: volumes whose names match @pattern (blktap's fnmatch flags). */
static void add_volumes(struct scan *s, const char *pattern)
{
	size_t i;

	for (i = 0; i < s->nlv; i++)
		if (!fnmatch(pattern, s->lvs[i].name,
			     FNM_PATHNAME | FNM_EXTMATCH))
			add_volume(s, &s->lvs[i], false);
}

static int add_glob(struct scan *s, const char *pattern)
{
	glob_t g;
	size_t i;
	int rc;

	rc = glob(pattern, GLOB_BRACE, NULL, &g);
	if (rc == GLOB_NOMATCH)
		return 0;
	if (rc)
		return vu_fail("scan", -EIO, "glob '%s' failed", pattern);
	for (i = 0; i < g.gl_pathc; i++)
		scan_add(s, g.gl_pathv[i]);
	globfree(&g);
	return 0;
}

int vu_scan(int argc, char **argv, const struct vu_opts *o)
{
	struct scan s = { .json = o->json };
	const char *pattern = NULL, *vg = NULL;
	int c, rc = 0, i;
	size_t k;

	while ((c = getopt(argc, argv, "m:fcl:pavMh")) != -1) {
		switch (c) {
		case 'm': pattern = optarg; break;
		case 'f': s.fast = true; break;
		case 'c': s.nofail = true; break;
		case 'l': vg = optarg; break;
		case 'p': s.pretty = true; break;
		case 'a': s.parents = true; break;
		case 'v': s.verbose = true; break;
		case 'M': s.markers = true; break;
		case 'h':
			printf("usage: %s\n  -m  glob of files to scan (with "
			       "-l VG: pattern of volume names in VG)\n"
			       "  -l  scan the logical volumes of VG, active "
			       "or not, through their physical volumes (LVM "
			       "tools vgs/lvs needed)\n  -f  fast: parent "
			       "from the header's parent name\n  -c  "
			       "continue on errors\n  -a  also scan parents"
			       "  -p  tree  -v  full paths  -M  markers\n",
			       scan_usage);
			return 0;
		default:
			return vu_fail("scan", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, scan_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", scan_usage) < 0;
	if (!pattern && optind == argc)
		return vu_fail("scan", -EINVAL, "usage: %s", scan_usage);
	if (s.pretty)
		s.fast = false; /* as blktap: the tree needs real parents */
	if (vg) {
		s.vg = vg;
		rc = vu_lvm_list(vg, &s.lvs, &s.nlv);
		if (rc)
			return vu_fail("scan", rc, "-l %s: cannot list the "
				       "volume group with vgs/lvs (%s)", vg,
				       rc == -EIO ? "they failed: no such "
				       "volume group?" : rc == -ENOENT ?
				       "no LVM tools, or no physical volume"
				       : strerror(-rc));
		if (pattern)
			add_volumes(&s, pattern);
		for (i = optind; i < argc; i++)
			add_volumes(&s, argv[i]);
	} else {
		if (pattern)
			rc = add_glob(&s, pattern);
		for (i = optind; !rc && i < argc; i++)
			scan_add(&s, argv[i]);
	}
	if (!rc && s.n)
		rc = scan_all(&s);
	for (k = 0; k < s.n; k++) {
		free(s.img[k].name);
		free(s.img[k].parent);
	}
	free(s.img);
	free(s.lvs);
	return rc;
}
