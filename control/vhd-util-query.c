// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util query: the fields XenServer's storage manager parses, in
 * blktap's exact output format, or one JSON object with --json.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vhd-util.h"

static const char query_usage[] =
	"vhd-util query -n NAME [-v] [-s] [-p] [-f] [-d] [-S] [-m] [-a] "
	"[--json]";

struct query_req {
	bool size, phys, parent, fields, depth, max, marker, alloc;
};

static uint32_t allocated_blocks(const struct td_vhd *v)
{
	uint32_t i, n = 0;

	if (v->footer.type == TD_VHD_TYPE_FIXED)
		return 0;
	for (i = 0; i < v->bat_used; i++)
		if (v->bat[i] != TD_VHD_BAT_UNUSED)
			n++;
	return n;
}

static int depth_of(const char *name, int *depth, struct td_vhd_err *err)
{
	struct td_vhd *c, *p;
	int rc;

	rc = td_vhd_open_chain(name, TD_VHD_OPEN_RDONLY | TD_VHD_OPEN_FAST |
			       TD_VHD_OPEN_IGNORE_DISABLED, &c, err);
	if (rc)
		return rc;
	for (*depth = 0, p = c; p; p = p->parent)
		if (!p->raw)
			(*depth)++;
	td_vhd_close(c);
	return 0;
}

static int query_json(struct td_vhd *v, const char *name)
{
	struct td_vhd_err err = { name, "" };
	char ppath[PATH_MAX], uuid[37];
	json_t *o = json_object();
	const uint8_t *u = v->footer.uuid;
	int depth, rc = 0;
	bool raw;

	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
		 u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	json_object_set_new(o, "path", json_string(name));
	json_object_set_new(o, "type",
			    json_string(td_vhd_type_str(v->footer.type)));
	json_object_set_new(o, "uuid", json_string(uuid));
	json_object_set_new(o, "virtual_size",
			    json_integer((json_int_t)v->footer.curr_size));
	json_object_set_new(o, "physical_size",
			    json_integer((json_int_t)td_vhd_phys_size(v)));
	json_object_set_new(o, "hidden", json_integer(v->footer.hidden));
	if (v->footer.type != TD_VHD_TYPE_FIXED) {
		json_object_set_new(o, "max_virtual_size",
				    json_integer((json_int_t)v->header.max_bat *
						 v->header.block_size));
		json_object_set_new(o, "allocated_blocks",
				    json_integer(allocated_blocks(v)));
	}
	if (v->has_batmap)
		json_object_set_new(o, "marker",
				    json_integer(v->batmap_hdr.marker));
	if (v->footer.type == TD_VHD_TYPE_DIFF) {
		rc = td_vhd_parent_path(v, ppath, sizeof(ppath), &raw, &err);
		json_object_set_new(o, "parent", rc ? json_null()
						    : json_string(ppath));
		if (!rc)
			json_object_set_new(o, "parent_raw",
					    json_boolean(raw));
	} else {
		json_object_set_new(o, "parent", json_null());
	}
	rc = depth_of(name, &depth, &err);
	json_object_set_new(o, "depth", rc ? json_null() : json_integer(depth));
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
	return rc ? vu_fail_err("query", rc, &err) : 0;
}

static int query_text(struct td_vhd *v, const char *name,
		      const struct query_req *q)
{
	struct td_vhd_err err = { name, "" };
	char ppath[PATH_MAX];
	int rc = 0, r, depth;
	bool raw;

	if (q->size)
		printf("%" PRIu64 "\n", v->footer.curr_size >> 20);
	if (q->phys)
		printf("%" PRIu64 "\n", td_vhd_phys_size(v));
	if (q->parent) {
		if (v->footer.type != TD_VHD_TYPE_DIFF) {
			printf("%s has no parent\n", name);
		} else {
			r = td_vhd_parent_path(v, ppath, sizeof(ppath), &raw,
					       &err);
			if (r) {
				printf("query failed\n");
				rc = rc ? rc : vu_fail_err("query", r, &err);
			} else {
				printf("%s\n", ppath);
			}
		}
	}
	if (q->fields)
		printf("hidden: %u\n", v->footer.hidden);
	if (q->depth) {
		r = depth_of(name, &depth, &err);
		if (r) {
			printf("error checking chain depth: %d\n", r);
			rc = rc ? rc : vu_fail_err("query", r, &err);
		} else {
			printf("chain depth: %d\n", depth);
		}
	}
	if (q->max)
		printf("%" PRIu64 "\n", v->footer.type == TD_VHD_TYPE_FIXED ?
		       v->footer.curr_size >> 20 :
		       ((uint64_t)v->header.max_bat * v->header.block_size) >>
			       20);
	if (q->marker)
		printf("marker: %u\n", v->has_batmap ? v->batmap_hdr.marker
						     : 0);
	if (q->alloc)
		printf("%u\n", allocated_blocks(v));
	return rc;
}

int vu_query(int argc, char **argv, const struct vu_opts *o)
{
	struct td_vhd_err err = { 0 };
	struct query_req q = { 0 };
	const char *name = NULL;
	struct td_vhd *v;
	int c, rc;

	while ((c = getopt(argc, argv, "n:vspfdSmah")) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'v': q.size = true; break;
		case 's': q.phys = true; break;
		case 'p': q.parent = true; break;
		case 'f': q.fields = true; break;
		case 'd': q.depth = true; break;
		case 'S': q.max = true; break;
		case 'm': q.marker = true; break;
		case 'a': q.alloc = true; break;
		case 'h':
			printf("usage: %s\n"
			       "  -v virtual size (MB)   -s physical size "
			       "(bytes)\n  -p parent path         -f fields "
			       "(hidden)\n  -d chain depth          -S max "
			       "virtual size for fast resize (MB)\n"
			       "  -m batmap marker       -a allocated block "
			       "count\n", query_usage);
			return 0;
		default:
			return vu_fail("query", -EINVAL, "bad option -%c "
				       "(usage: %s)", optopt, query_usage);
		}
	}
	if (o->help)
		return printf("usage: %s\n", query_usage) < 0;
	if (!name || optind != argc)
		return vu_fail("query", -EINVAL, "usage: %s", query_usage);
	err.name = name;
	rc = td_vhd_open(name, TD_VHD_OPEN_RDONLY | TD_VHD_OPEN_IGNORE_DISABLED,
			 &v, &err);
	if (rc)
		return vu_fail_err("query", rc, &err);
	rc = o->json ? query_json(v, name) : query_text(v, name, &q);
	td_vhd_close(v);
	return rc;
}
