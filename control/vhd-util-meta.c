// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util create, snapshot, set and modify.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhd-util.h"

#define MB (1ull << 20)

static int bad_opt(const char *verb, const char *usage)
{
	return vu_fail(verb, -EINVAL, "bad option -%c (usage: %s)",
		       optopt ? optopt : '?', usage);
}

static const char create_usage[] =
	"vhd-util create -n NAME -s SIZE_MB [-r] [-S MAX_SIZE_MB]";

int vu_create(int argc, char **argv, const struct vu_opts *o)
{
	struct td_vhd_create_opts co = { .type = TD_VHD_TYPE_DYNAMIC };
	struct td_vhd_err err = { 0 };
	const char *name = NULL;
	uint64_t mb = 0, max_mb = 0;
	bool have_size = false;
	int c, rc;

	while ((c = getopt(argc, argv, "n:s:S:rbh")) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 's':
			if (vu_parse_u64(optarg, &mb))
				return vu_fail("create", -EINVAL,
					       "bad size '%s'", optarg);
			have_size = true;
			break;
		case 'S':
			if (vu_parse_u64(optarg, &max_mb))
				return vu_fail("create", -EINVAL,
					       "bad max size '%s'", optarg);
			break;
		case 'r':
			co.type = TD_VHD_TYPE_FIXED;
			break;
		case 'b':
			break; /* blktap: file is fixed size; no effect */
		case 'h':
			printf("usage: %s\n"
			       "  -r  reserve space: make a fixed image\n"
			       "  -S  size the BAT for growing up to "
			       "MAX_SIZE_MB without moving data\n",
			       create_usage);
			return 0;
		default:
			return bad_opt("create", create_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", create_usage) < 0;
	if (!name || !have_size || optind != argc)
		return vu_fail("create", -EINVAL, "usage: %s", create_usage);
	if (mb > (TD_VHD_MAX_SIZE >> 20) || max_mb > (UINT64_MAX >> 21))
		return vu_fail("create", -EINVAL, "size %" PRIu64 " MB above "
			       "the 2040 GiB limit", mb);
	co.size = mb * MB;
	co.max_size = max_mb * MB;
	err.name = name;
	rc = td_vhd_create(name, &co, &err);
	return rc ? vu_fail_err("create", rc, &err) : 0;
}

/* A differencing parent with nothing allocated adds nothing: blktap
 * snapshots its parent instead, and so do we (unless -e). */
static int snapshot_target(const char *pname, char *out, size_t len,
			   bool *raw, struct td_vhd_err *err)
{
	struct td_vhd *v = NULL;
	char next[PATH_MAX];
	unsigned depth;
	uint32_t i;
	int rc;

	snprintf(out, len, "%s", pname);
	*raw = false;
	for (depth = 0; depth < TD_VHD_MAX_CHAIN; depth++) {
		err->name = out;
		rc = td_vhd_open(out, TD_VHD_OPEN_RDONLY, &v, err);
		if (rc)
			return rc;
		if (v->footer.type != TD_VHD_TYPE_DIFF)
			break;
		for (i = 0; i < v->header.max_bat; i++)
			if (v->bat[i] != TD_VHD_BAT_UNUSED)
				break;
		if (i < v->header.max_bat)
			break;
		rc = td_vhd_parent_path(v, next, sizeof(next), raw, err);
		td_vhd_close(v);
		v = NULL;
		if (rc)
			return rc;
		snprintf(out, len, "%s", next);
		if (*raw)
			return 0;
	}
	td_vhd_close(v);
	return 0;
}

static int chain_depth(const char *name, unsigned *depth,
		       struct td_vhd_err *err)
{
	struct td_vhd *v, *p;
	int rc;

	err->name = name;
	rc = td_vhd_open_chain(name, TD_VHD_OPEN_RDONLY |
			       TD_VHD_OPEN_FAST, &v, err);
	if (rc)
		return rc;
	for (*depth = 0, p = v; p; p = p->parent)
		if (!p->raw)
			(*depth)++;
	td_vhd_close(v);
	return 0;
}

/* Picks the real parent (-e, -m), the size, and enforces -l. */
static int snapshot_prepare(const char *pname, bool raw, bool keep_empty,
			    uint64_t limit, char *target, size_t tlen,
			    bool *traw, uint64_t *size)
{
	struct td_vhd_err err = { 0 };
	struct td_vhd *p;
	unsigned depth;
	int rc;

	snprintf(target, tlen, "%s", pname);
	*traw = raw;
	if (!raw && !keep_empty) {
		rc = snapshot_target(pname, target, tlen, traw,
				     &err);
		if (rc)
			return vu_fail_err("snapshot", rc, &err);
	}
	if (!*traw) {
		/* the supplied parent decides the size, as in blktap */
		err.name = pname;
		rc = td_vhd_open(pname, TD_VHD_OPEN_RDONLY, &p, &err);
		if (rc)
			return vu_fail_err("snapshot", rc, &err);
		*size = td_vhd_size(p);
		td_vhd_close(p);
	}
	if (limit && !*traw) {
		rc = chain_depth(target, &depth, &err);
		if (rc)
			return vu_fail_err("snapshot", rc, &err);
		if (depth + 1 > limit)
			return vu_fail("snapshot", -ENOSPC, "snapshot depth "
				       "exceeded: current depth %u, limit %"
				       PRIu64, depth, limit);
	}
	return 0;
}

static const char snapshot_usage[] =
	"vhd-util snapshot -n NAME -p PARENT [-l DEPTH_LIMIT] [-m] "
	"[-S MAX_SIZE_MB] [-e]";

int vu_snapshot(int argc, char **argv, const struct vu_opts *o)
{
	struct td_vhd_create_opts co = { .type = TD_VHD_TYPE_DIFF };
	struct td_vhd_err err = { 0 };
	const char *name = NULL, *pname = NULL;
	char target[PATH_MAX];
	uint64_t limit = 0, max_mb = 0;
	bool raw = false, keep_empty = false, traw;
	int c, rc;

	while ((c = getopt(argc, argv, "n:p:l:S:mebh")) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'p':
			pname = optarg;
			break;
		case 'l':
			if (vu_parse_u64(optarg, &limit))
				return vu_fail("snapshot", -EINVAL,
					       "bad limit '%s'", optarg);
			break;
		case 'S':
			if (vu_parse_u64(optarg, &max_mb) ||
			    max_mb > (UINT64_MAX >> 21))
				return vu_fail("snapshot", -EINVAL,
					       "bad max size '%s'", optarg);
			break;
		case 'm':
			raw = true;
			break;
		case 'e':
			keep_empty = true;
			break;
		case 'b':
			break;
		case 'h':
			printf("usage: %s\n  -m  parent is a raw file\n"
			       "  -l  fail if the new chain would be deeper\n"
			       "  -e  snapshot an empty differencing parent "
			       "itself\n", snapshot_usage);
			return 0;
		default:
			return bad_opt("snapshot", snapshot_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", snapshot_usage) < 0;
	if (!name || !pname || optind != argc)
		return vu_fail("snapshot", -EINVAL, "usage: %s",
			       snapshot_usage);
	rc = snapshot_prepare(pname, raw, keep_empty, limit, target,
			      sizeof(target), &traw, &co.size);
	if (rc)
		return rc;
	co.parent = target;
	co.parent_raw = traw;
	co.max_size = max_mb * MB;
	err.name = name;
	rc = td_vhd_create(name, &co, &err);
	return rc ? vu_fail_err("snapshot", rc, &err) : 0;
}

static int set_parent(const char *verb, const char *name, const char *parent,
		      bool raw)
{
	struct td_vhd_err err = { name, "" };
	struct td_vhd *v;
	int rc;

	rc = td_vhd_open(name, 0, &v, &err);
	if (rc)
		return vu_fail_err(verb, rc, &err);
	rc = td_vhd_set_parent(v, parent, raw, &err);
	td_vhd_close(v);
	return rc ? vu_fail_err(verb, rc, &err) : 0;
}

static const char set_usage[] =
	"vhd-util set -n NAME -f hidden|marker|parent -v VALUE";

int vu_set(int argc, char **argv, const struct vu_opts *o)
{
	const char *name = NULL, *field = NULL, *value = NULL;
	struct td_vhd_err err = { 0 };
	struct td_vhd *v;
	uint64_t val = 0;
	int c, rc;

	while ((c = getopt(argc, argv, "n:f:v:h")) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'f':
			field = optarg;
			break;
		case 'v':
			value = optarg;
			break;
		case 'h':
			printf("usage: %s\n  hidden 0|1, marker 0..255, "
			       "parent PATH\n", set_usage);
			return 0;
		default:
			return bad_opt("set", set_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", set_usage) < 0;
	if (!name || !field || !value || optind != argc)
		return vu_fail("set", -EINVAL, "usage: %s", set_usage);
	if (!strcmp(field, "parent"))
		return set_parent("set", name, value, false);
	if (strcmp(field, "hidden") && strcmp(field, "marker"))
		return vu_fail("set", -EINVAL, "invalid field '%s' (hidden, "
			       "marker or parent)", field);
	if (vu_parse_u64(value, &val) || val > 255 ||
	    (!strcmp(field, "hidden") && val > 1))
		return vu_fail("set", -EINVAL, "invalid value '%s' for %s",
			       value, field);
	err.name = name;
	rc = td_vhd_open(name, 0, &v, &err);
	if (rc)
		return vu_fail_err("set", rc, &err);
	if (!strcmp(field, "hidden"))
		rc = td_vhd_set_hidden(v, val, &err);
	else
		rc = td_vhd_set_marker(v, (uint8_t)val, &err);
	td_vhd_close(v);
	return rc ? vu_fail_err("set", rc, &err) : 0;
}

static int zero_bat(const char *name)
{
	struct td_vhd_err err = { name, "" };
	struct td_vhd *v;
	uint32_t i;
	int rc;

	rc = td_vhd_open(name, 0, &v, &err);
	if (rc)
		return vu_fail_err("modify", rc, &err);
	if (v->footer.type == TD_VHD_TYPE_FIXED) {
		td_vhd_close(v);
		return vu_fail("modify", -ENOSYS, "%s: cannot zero a fixed "
			       "image", name);
	}
	for (i = 0; i < v->header.max_bat; i++) {
		v->bat[i] = TD_VHD_BAT_UNUSED;
		td_vhd_batmap_mark(v, i, false);
	}
	rc = td_vhd_write_bat(v, &err);
	if (!rc)
		rc = td_vhd_write_batmap(v, &err);
	if (!rc)
		rc = td_vhd_write_footer(v, &err);
	td_vhd_close(v);
	return rc ? vu_fail_err("modify", rc, &err) : 0;
}

/* -s: blktap's physical size, the footer moved to SIZE - 512. */
static int set_phys(const char *name, uint64_t size)
{
	struct td_vhd_err err = { name, "" };
	struct td_vhd *v;
	int rc;

	rc = td_vhd_open(name, 0, &v, &err);
	if (rc)
		return vu_fail_err("modify", rc, &err);
	rc = td_vhd_set_phys_size(v, size, &err);
	td_vhd_close(v);
	return rc ? vu_fail_err("modify", rc, &err) : 0;
}

static const char modify_usage[] =
	"vhd-util modify -n NAME [-p|-P NEW_PARENT [-m]] [-z] [-s BYTES]";

int vu_modify(int argc, char **argv, const struct vu_opts *o)
{
	const char *name = NULL, *parent = NULL;
	bool raw = false, zero = false, phys = false;
	uint64_t size = 0;
	int c, rc = 0;

	while ((c = getopt(argc, argv, "n:p:P:s:mzh")) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'p':
		case 'P':
			parent = optarg;
			break;
		case 'm':
			raw = true;
			break;
		case 'z':
			zero = true;
			break;
		case 's':
			if (vu_parse_u64(optarg, &size))
				return vu_fail("modify", -EINVAL, "bad size "
					       "'%s'", optarg);
			phys = true;
			break;
		case 'h':
			printf("usage: %s\n  -p/-P  re-point the image at "
			       "NEW_PARENT (-m: a raw file)\n  -z     zero "
			       "the BAT (drop all data)\n  -s     physical "
			       "size: move the footer so the image ends at "
			       "BYTES "
			       "(e.g. the end of a resized volume)\n",
			       modify_usage);
			return 0;
		default:
			return bad_opt("modify", modify_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", modify_usage) < 0;
	if (!name || optind != argc || (!parent && !zero && !phys))
		return vu_fail("modify", -EINVAL, "usage: %s", modify_usage);
	/* blktap's order: zero, size, parent */
	if (zero)
		rc = zero_bat(name);
	if (!rc && phys)
		rc = set_phys(name, size);
	if (!rc && parent)
		rc = set_parent("modify", name, parent, raw);
	return rc;
}
