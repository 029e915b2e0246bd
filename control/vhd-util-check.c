// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util check and repair.
 *
 * check opens the image with full validation (every footer, header, BAT
 * and locator field) and then adds what open tolerates: a missing tail
 * footer (unless -i), disagreeing footer copies, a bad batmap, batmap
 * bits that claim a block is full when its bitmap is not, and an
 * unresolvable or mismatched parent. Unlike blktap it does not reject a
 * stored CHS geometry above CHS(current size): qemu's force_size images
 * store 65535/16/255 and every reader uses the current size anyway.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhd-util.h"

static const char check_usage[] =
	"vhd-util check -n NAME [-p] [-i] [-B] [--json]";

static int fail_msg(struct td_vhd_err *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_msg(struct td_vhd_err *err, int rc, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return td_vhd_error(err, rc, "%s", tmp);
}

static int check_footers(struct td_vhd *v, bool ignore, struct td_vhd_err *e)
{
	uint8_t raw[TD_VHD_FOOTER_SIZE], enc[TD_VHD_FOOTER_SIZE];
	struct td_vhd_footer head, tail = v->footer;

	if (v->poisoned)
		return fail_msg(e, -ENOTSUP, "image is disabled by an "
				"interrupted journaled operation (v_poison); "
				"run revert");
	if (v->footer.type == TD_VHD_TYPE_FIXED)
		return 0;
	if (!v->head_ok)
		return fail_msg(e, -EINVAL, "footer copy at offset 0 is "
				"invalid");
	if (!v->tail_ok) {
		if (ignore)
			return 0;
		return fail_msg(e, -EINVAL, "primary footer at end of file "
				"(0x%" PRIx64 ") is missing or invalid; -i "
				"accepts that, repair rewrites it",
				v->file_size - TD_VHD_FOOTER_SIZE);
	}
	if (pread(v->fd, raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return fail_msg(e, -EIO, "reading footer copy at offset 0");
	td_vhd_footer_decode(raw, &head);
	/* compare field by field through a canonical encoding */
	head.hidden = tail.hidden = 0;
	td_vhd_footer_encode(&head, raw);
	td_vhd_footer_encode(&tail, enc);
	if (memcmp(raw, enc, sizeof(raw)))
		return fail_msg(e, -EINVAL, "footer at offset 0 and footer at "
				"0x%" PRIx64 " do not match",
				v->file_size - TD_VHD_FOOTER_SIZE);
	return 0;
}

static int check_batmap(struct td_vhd *v, bool fast, struct td_vhd_err *e)
{
	uint8_t *bm;
	uint32_t i;
	int rc = 0;

	if (v->footer.type == TD_VHD_TYPE_FIXED)
		return 0;
	if (!v->has_batmap) {
		if (v->footer.crtr_app == TD_VHD_CREATOR_TAP &&
		    v->footer.crtr_ver >= TD_VHD_TAP_V1_2)
			return fail_msg(e, -EINVAL, "batmap header after the "
					"BAT is missing or invalid");
		return 0;
	}
	if (!v->batmap_ok)
		return fail_msg(e, -EILSEQ, "batmap checksum is invalid");
	if (fast)
		return 0;
	bm = malloc(v->bm_bytes);
	if (!bm)
		return fail_msg(e, -ENOMEM, "no memory");
	for (i = 0; i < v->header.max_bat && !rc; i++) {
		if (!td_vhd_batmap_test(v, i))
			continue;
		rc = td_vhd_read_bitmap(v, i, bm, e);
		if (!rc && !td_vhd_bitmap_full(bm, v->spb, v->bm_le))
			rc = fail_msg(e, -EINVAL, "batmap marks block %u full "
				      "but its bitmap at 0x%" PRIx64 " is not",
				      i, td_vhd_block_offset(v, i));
	}
	free(bm);
	return rc;
}

static int check_parent(struct td_vhd *v, struct td_vhd_err *e)
{
	struct td_vhd_err perr = { 0 };
	char ppath[PATH_MAX];
	struct td_vhd *p;
	bool raw;
	int rc;

	if (v->footer.type != TD_VHD_TYPE_DIFF)
		return 0;
	rc = td_vhd_parent_path(v, ppath, sizeof(ppath), &raw, e);
	if (rc)
		return rc;
	perr.name = ppath;
	rc = raw ? td_vhd_open_raw(ppath, 0, &p, &perr)
		 : td_vhd_open(ppath, TD_VHD_OPEN_RDONLY |
			       TD_VHD_OPEN_IGNORE_DISABLED | TD_VHD_OPEN_FAST,
			       &p, &perr);
	if (rc)
		return fail_msg(e, rc, "opening parent: %s", perr.msg);
	rc = td_vhd_validate_parent(v, p, e);
	td_vhd_close(p);
	return rc;
}

/* Checks one image; fills @err and returns -errno if it is invalid. */
static int check_one(const char *name, bool ignore, bool fast,
		     char *parent, size_t plen, struct td_vhd_err *err)
{
	struct td_vhd *v;
	bool raw;
	int rc;

	err->name = name;
	err->msg[0] = '\0';
	parent[0] = '\0';
	rc = td_vhd_open(name, TD_VHD_OPEN_RDONLY |
			 TD_VHD_OPEN_IGNORE_DISABLED |
			 (fast ? TD_VHD_OPEN_FAST : 0), &v, err);
	if (rc)
		return rc;
	rc = check_footers(v, ignore, err);
	if (!rc)
		rc = check_batmap(v, fast, err);
	if (!rc)
		rc = check_parent(v, err);
	if (!rc && v->footer.type == TD_VHD_TYPE_DIFF &&
	    td_vhd_parent_path(v, parent, plen, &raw, err) == 0 && raw)
		parent[0] = '\0'; /* a raw parent has nothing to check */
	td_vhd_close(v);
	return rc;
}

static void add_json(json_t *a, const char *name, int rc,
		     const struct td_vhd_err *err)
{
	json_t *o = json_object();

	json_object_set_new(o, "path", json_string(name));
	json_object_set_new(o, "valid", json_boolean(!rc));
	json_object_set_new(o, "error", rc ? json_string(err->msg)
					   : json_null());
	json_array_append_new(a, o);
}

int vu_check(int argc, char **argv, const struct vu_opts *o)
{
	bool ignore = false, parents = false, fast = false;
	char cur[PATH_MAX], parent[PATH_MAX];
	struct td_vhd_err err = { 0 };
	const char *name = NULL;
	json_t *a = NULL;
	unsigned depth;
	int c, rc;

	while ((c = getopt(argc, argv, "n:ipBh")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'i': ignore = true; break;
		case 'p': parents = true; break;
		case 'B': fast = true; break;
		case 'h':
			printf("usage: %s\n  -i  accept a missing primary "
			       "footer (image open in tapdisk)\n  -p  check "
			       "the parents too\n  -B  fast: skip per-block "
			       "checks\n", check_usage);
			return 0;
		default:
			return vu_fail("check", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, check_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", check_usage) < 0;
	if (!name || optind != argc)
		return vu_fail("check", -EINVAL, "usage: %s", check_usage);
	if (o->json)
		a = json_array();
	snprintf(cur, sizeof(cur), "%s", name);
	for (depth = 0;; depth++) {
		rc = check_one(cur, ignore, fast, parent, sizeof(parent), &err);
		if (a)
			add_json(a, cur, rc, &err);
		else if (!rc)
			printf("%s is valid\n", cur);
		if (rc || !parents || !parent[0])
			break;
		if (depth >= TD_VHD_MAX_CHAIN) {
			rc = td_vhd_error(&err, -ELOOP, "parent chain deeper "
					  "than %u", TD_VHD_MAX_CHAIN);
			break;
		}
		snprintf(cur, sizeof(cur), "%s", parent);
	}
	if (a) {
		json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(a);
	}
	return rc ? vu_fail_err("check", rc, &err) : 0;
}

static const char repair_usage[] = "vhd-util repair -n NAME";

/* Rebuilds the batmap from the bitmaps, so a bad one is never trusted. */
static int rebuild_batmap(struct td_vhd *v, struct td_vhd_err *err)
{
	uint8_t *bm;
	uint32_t i;
	int rc = 0;

	if (!v->has_batmap)
		return 0;
	bm = malloc(v->bm_bytes);
	if (!bm)
		return td_vhd_error(err, -ENOMEM, "no memory");
	for (i = 0; i < v->header.max_bat && !rc; i++) {
		if (v->bat[i] == TD_VHD_BAT_UNUSED) {
			td_vhd_batmap_mark(v, i, false);
			continue;
		}
		rc = td_vhd_read_bitmap(v, i, bm, err);
		if (!rc)
			td_vhd_batmap_mark(v, i, td_vhd_bitmap_full(bm, v->spb,
								    v->bm_le));
	}
	free(bm);
	return rc ? rc : td_vhd_write_batmap(v, err);
}

int vu_repair(int argc, char **argv, const struct vu_opts *o)
{
	struct td_vhd_err err = { 0 };
	const char *name = NULL;
	struct td_vhd *v;
	int c, rc;

	while ((c = getopt(argc, argv, "n:h")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'h':
			printf("usage: %s\n  rewrites the footer at the end "
			       "of data and its copy at offset 0 from the "
			       "valid copy, and rebuilds the batmap (its "
			       "header too, if destroyed)\n",
			       repair_usage);
			return 0;
		default:
			return vu_fail("repair", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, repair_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", repair_usage) < 0;
	if (!name || optind != argc)
		return vu_fail("repair", -EINVAL, "usage: %s", repair_usage);
	err.name = name;
	rc = td_vhd_open(name, TD_VHD_OPEN_IGNORE_BATMAP, &v, &err);
	if (rc)
		return vu_fail_err("repair", rc, &err);
	rc = td_vhd_restore_batmap(v, &err);
	if (!rc)
		rc = rebuild_batmap(v, &err);
	if (!rc)
		rc = td_vhd_write_footer(v, &err);
	td_vhd_close(v);
	return rc ? vu_fail_err("repair", rc, &err) : 0;
}
