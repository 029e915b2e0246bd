// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util scan: one line per image in blktap's "vhd=... capacity=..."
 * format that XenServer's storage manager parses, or a JSON array.
 */
#include <errno.h>
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
	uint64_t capacity, size;
	unsigned hidden, marker, depth;
	int error;
	char msg[640];
};

struct scan {
	bool fast, nofail, parents, pretty, verbose, markers, json;
	struct scan_img *img;
	size_t n, cap;
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

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

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
		if (i != idx && same_file(s->img[i].parent, s->img[idx].name))
			print_tree(s, i, depth + 1);
}

static bool has_parent_in_scan(const struct scan *s, size_t idx)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (i != idx && same_file(s->img[idx].parent, s->img[i].name))
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

static int scan_all(struct scan *s)
{
	size_t i;
	int rc = 0;

	/* -a appends parents while we walk, so s->n may grow */
	for (i = 0; i < s->n; i++) {
		scan_one(s, &s->img[i]);
		if (s->img[i].error && !rc)
			rc = s->img[i].error;
		if (s->parents && s->img[i].parent && !s->img[i].error &&
		    s->n < 100000)
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
	char pat[PATH_MAX];
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
			       "-l VG: of volume names under /dev/VG)\n  -l  "
			       "scans the ACTIVE volumes of VG through their "
			       "/dev/VG nodes only: unlike blktap, LVM "
			       "metadata is not read, so inactive volumes "
			       "are not listed\n  -f  "
			       "fast: parent from the header name if the "
			       "locators fail\n  -c  continue on errors\n"
			       "  -a  also scan parents  -p  tree  -v  full "
			       "paths  -M  markers\n", scan_usage);
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
	if (vg) {
		struct stat st;

		snprintf(pat, sizeof(pat), "/dev/%s", vg);
		if (stat(pat, &st) || !S_ISDIR(st.st_mode))
			return vu_fail("scan", -ENOENT, "-l %s: no directory "
				       "%s (LVM metadata is not read: only "
				       "active volumes can be scanned)", vg,
				       pat);
		fprintf(stderr, "vhd-util scan: -l %s: LVM metadata is not "
			"read; only active volumes under /dev/%s are "
			"scanned, inactive ones are not listed\n", vg, vg);
	}
	if (pattern) {
		if (vg)
			snprintf(pat, sizeof(pat), "/dev/%s/%s", vg, pattern);
		else
			snprintf(pat, sizeof(pat), "%s", pattern);
		rc = add_glob(&s, pat);
	}
	for (i = optind; !rc && i < argc; i++)
		scan_add(&s, argv[i]);
	if (!rc && s.n)
		rc = scan_all(&s);
	for (k = 0; k < s.n; k++) {
		free(s.img[k].name);
		free(s.img[k].parent);
	}
	free(s.img);
	return rc;
}
