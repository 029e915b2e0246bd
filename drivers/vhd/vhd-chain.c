// SPDX-License-Identifier: GPL-2.0-only
/*
 * VHD format library: parent resolution and parent chains.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhd-format.h"
#include "vhd-priv.h"

static bool uuid_is_zero(const uint8_t *u)
{
	static const uint8_t zero[16];

	return !memcmp(u, zero, 16);
}

/* Reads locator @i of header @h from the image at @base of @fd. */
static int read_locator(int fd, uint64_t base, const struct td_vhd_header *h,
			unsigned i, char *out, size_t outlen, bool *relative,
			struct td_vhd_err *err)
{
	const struct td_vhd_locator *l = &h->loc[i];
	char *p, *s;
	uint8_t *buf;
	int rc;

	if (l->code != TD_VHD_PLAT_W2RU && l->code != TD_VHD_PLAT_W2KU &&
	    l->code != TD_VHD_PLAT_MACX)
		return -ENOTSUP;
	/* data_offset/len were validated against the image at open; the
	 * read is whole sectors (within data_space) so O_DIRECT works */
	buf = vhd_alloc(l->data_len);
	if (!buf)
		return td_vhd_error(err, -ENOMEM, "no memory");
	rc = vhd_pread(fd, buf, vhd_round_up(l->data_len ? l->data_len : 1,
					     TD_VHD_SECTOR),
		       base + l->data_offset);
	if (rc) {
		free(buf);
		return td_vhd_error(err, rc, "reading parent locator %u at "
				    "0x%" PRIx64 ": %s", i, l->data_offset,
				    strerror(-rc));
	}
	if (l->code == TD_VHD_PLAT_MACX) {
		if (l->data_len >= outlen)
			rc = -ENAMETOOLONG;
		else {
			memcpy(out, buf, l->data_len);
			out[l->data_len] = '\0';
		}
	} else {
		rc = td_vhd_utf16_to_utf8(buf, l->data_len, false, out,
					  outlen);
	}
	free(buf);
	if (rc)
		return td_vhd_error(err, rc, "parent locator %u at 0x%" PRIx64
				    ": undecodable path", i, l->data_offset);
	if (l->code == TD_VHD_PLAT_MACX) {
		/* file URL: file://./p.vhd or file://localhost/dir/p.vhd */
		s = out;
		if (!strncmp(s, "file://", 7))
			s += 7;
		if (!strncmp(s, "localhost/", 10))
			s += 9;
		memmove(out, s, strlen(s) + 1);
	} else {
		for (p = out; *p; p++)
			if (*p == '\\')
				*p = '/';
	}
	if (!out[0])
		return td_vhd_error(err, -EINVAL, "parent locator %u: empty "
				    "path", i);
	*relative = out[0] != '/';
	return 0;
}

int td_vhd_parent_locator_text(const struct td_vhd *v, unsigned i, char *out,
		     size_t outlen, bool *relative, struct td_vhd_err *err)
{
	return read_locator(v->fd, 0, &v->header, i, out, outlen, relative,
			    err);
}

int td_vhd_peek_locator(int fd, uint64_t base, const struct td_vhd_header *h,
			unsigned i, char *out, size_t outlen, bool *relative,
			struct td_vhd_err *err)
{
	if (i >= TD_VHD_NR_LOCATORS)
		return -EINVAL;
	return read_locator(fd, base, h, i, out, outlen, relative, err);
}

/* Lexically absolute form of @path: cwd prefixed, ".", ".." and "//"
 * removed (no symlinks followed, as blktap's normalize_path). */
static int normalize(const char *path, char *out, size_t outlen)
{
	char tmp[PATH_MAX];
	const char *p;
	size_t o = 0, n;
	char *slash;

	if (path[0] != '/') {
		if (!getcwd(tmp, sizeof(tmp)))
			return -errno;
		o = strlen(tmp);
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		memcpy(out, tmp, o + 1);
		if (o == 1)
			o = 0; /* cwd is "/" */
	}
	for (p = path; *p; p += n) {
		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (!n || (n == 1 && p[0] == '.'))
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			out[o] = '\0';
			slash = strrchr(out, '/');
			o = slash ? (size_t)(slash - out) : 0;
			continue;
		}
		if (o + n + 2 > outlen)
			return -ENAMETOOLONG;
		out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
	}
	if (!o)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

int vhd_canonpath(const char *path, char *out, size_t outlen)
{
	char norm[PATH_MAX], dm[PATH_MAX], real[PATH_MAX];
	const char *vg, *lv, *s;
	size_t o;

	if (!normalize(path, norm, sizeof(norm))) {
		if (!strncmp(norm, "/dev/mapper/", 12) &&
		    !strchr(norm + 12, '/') && !access(norm, F_OK))
			goto copy_norm;
		vg = norm + 5;
		lv = strchr(vg, '/');
		if (!strncmp(norm, "/dev/", 5) && lv && lv > vg &&
		    !strchr(lv + 1, '/') && lv[1]) {
			/* /dev/VG/LV -> /dev/mapper/VG-LV, '-' doubled */
			memcpy(dm, "/dev/mapper/", 12);
			o = 12;
			for (s = vg; *s && o + 3 < sizeof(dm); s++) {
				if (*s == '/') {
					dm[o++] = '-';
					continue;
				}
				if (*s == '-')
					dm[o++] = '-';
				dm[o++] = *s;
			}
			dm[o] = '\0';
			if (!*s && !access(dm, F_OK)) {
				if (strlen(dm) >= outlen)
					return -ENAMETOOLONG;
				strcpy(out, dm);
				return 0;
			}
		}
	}
	if (!realpath(path, real))
		return -errno;
	if (strlen(real) >= outlen)
		return -ENAMETOOLONG;
	strcpy(out, real);
	return 0;
copy_norm:
	if (strlen(norm) >= outlen)
		return -ENAMETOOLONG;
	strcpy(out, norm);
	return 0;
}

/* Joins the directory of @child and relative @rel into @out. */
static int join_dir(const char *child, const char *rel, char *out,
		    size_t outlen)
{
	const char *slash = strrchr(child, '/');
	int n;

	while (!strncmp(rel, "./", 2))
		rel += 2;
	if (!slash)
		n = snprintf(out, outlen, "%s", rel);
	else
		n = snprintf(out, outlen, "%.*s/%s", (int)(slash - child),
			     child, rel);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int td_vhd_parent_path(const struct td_vhd *v, char *out, size_t outlen,
		       bool *raw, struct td_vhd_err *err)
{
	char text[PATH_MAX], cand[PATH_MAX], first[PATH_MAX] = "";
	unsigned pass, i;
	bool rel;
	int rc;

	if (v->raw || v->footer.type != TD_VHD_TYPE_DIFF)
		return td_vhd_error(err, -EINVAL, "not a differencing disk");
	*raw = uuid_is_zero(v->header.prt_uuid);
	/* relative locators first: they survive moving a whole chain */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < TD_VHD_NR_LOCATORS; i++) {
			rc = td_vhd_parent_locator_text(v, i, text,
							sizeof(text), &rel,
							err);
			if (rc == -ENOTSUP)
				continue;
			if (rc)
				return rc;
			if (rel != (pass == 0))
				continue;
			if (rel)
				rc = join_dir(v->path, text, cand,
					      sizeof(cand));
			else
				rc = snprintf(cand, sizeof(cand), "%s",
					      text) >= (int)sizeof(cand) ?
					     -ENAMETOOLONG : 0;
			if (rc)
				continue;
			if (!first[0])
				memcpy(first, cand, sizeof(first));
			if (!access(cand, F_OK))
				goto found;
		}
	}
	/* libvhdi's way: the parent unicode name in the child's directory */
	rc = td_vhd_utf16_to_utf8(v->header.prt_name, TD_VHD_PARENT_NAME_SIZE,
				  true, text, sizeof(text));
	if (!rc && text[0] && !join_dir(v->path, text, cand, sizeof(cand))) {
		if (!first[0])
			memcpy(first, cand, sizeof(first));
		if (!access(cand, F_OK))
			goto found;
	}
	return td_vhd_error(err, -ENOENT, "parent not found (%s%s)",
			    first[0] ? "first candidate " : "no locator",
			    first);
found:
	/* report what blktap reports: a canonical absolute path, the
	 * device-mapper name for a logical volume */
	if (!vhd_canonpath(cand, text, sizeof(text)))
		memcpy(cand, text, sizeof(cand));
	if (strlen(cand) >= outlen)
		return td_vhd_error(err, -ENAMETOOLONG, "parent path too long");
	strcpy(out, cand);
	return 0;
}

static void uuid_str(const uint8_t *u, char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
		 u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}

bool td_vhd_parent_is_raw(const struct td_vhd *v)
{
	return !v->raw && v->footer.type == TD_VHD_TYPE_DIFF &&
	       uuid_is_zero(v->header.prt_uuid);
}

int td_vhd_validate_parent(const struct td_vhd *child,
			   const struct td_vhd *parent, struct td_vhd_err *err)
{
	char a[37], b[37];
	bool want_raw = uuid_is_zero(child->header.prt_uuid);

	if (child->footer.type != TD_VHD_TYPE_DIFF)
		return td_vhd_error(err, -EINVAL, "not a differencing disk");
	if (want_raw != parent->raw)
		return td_vhd_error(err, -EINVAL, "parent %s is %s but the "
				    "header (parent UUID at offset 0x%" PRIx64
				    ") says %s", parent->path,
				    parent->raw ? "raw" : "a VHD",
				    child->footer.data_offset + 40,
				    want_raw ? "raw" : "a VHD");
	if (want_raw)
		return 0;
	if (memcmp(child->header.prt_uuid, parent->footer.uuid, 16)) {
		uuid_str(child->header.prt_uuid, a);
		uuid_str(parent->footer.uuid, b);
		return td_vhd_error(err, -EINVAL, "parent UUID mismatch: "
				    "header at offset 0x%" PRIx64 " wants %s, "
				    "%s has %s", child->footer.data_offset + 40,
				    a, parent->path, b);
	}
	return 0;
}

int td_vhd_open_chain(const char *path, unsigned flags, struct td_vhd **out,
		      struct td_vhd_err *err)
{
	unsigned pflags = TD_VHD_OPEN_RDONLY |
			  (flags & (TD_VHD_OPEN_DIRECT | TD_VHD_OPEN_FAST));
	struct td_vhd *leaf, *cur, *p, *q;
	const char *oname = err ? err->name : NULL;
	char ppath[PATH_MAX];
	unsigned depth = 0;
	bool raw;
	int rc;

	rc = td_vhd_open(path, flags, &leaf, err);
	if (rc)
		return rc;
	for (cur = leaf; !cur->raw && cur->footer.type == TD_VHD_TYPE_DIFF;
	     cur = p) {
		if (++depth >= TD_VHD_MAX_CHAIN) {
			rc = td_vhd_error(err, -ELOOP, "parent chain deeper "
					  "than %u", TD_VHD_MAX_CHAIN);
			goto fail;
		}
		rc = td_vhd_parent_path(cur, ppath, sizeof(ppath), &raw, err);
		if (rc)
			goto fail;
		if (err)
			err->name = ppath;
		rc = raw ? td_vhd_open_raw(ppath, pflags, &p, err)
			 : td_vhd_open(ppath, pflags, &p, err);
		if (err)
			err->name = oname;
		if (rc)
			goto fail;
		for (q = leaf; q; q = q->parent) {
			if (q->dev == p->dev && q->ino == p->ino) {
				rc = td_vhd_error(err, -ELOOP, "parent chain "
						  "loops: %s is %s again",
						  ppath, q->path);
				td_vhd_close(p);
				goto fail;
			}
		}
		rc = td_vhd_validate_parent(cur, p, err);
		if (rc) {
			td_vhd_close(p);
			goto fail;
		}
		cur->parent = p;
	}
	*out = leaf;
	return 0;
fail:
	td_vhd_close(leaf);
	*out = NULL;
	return rc;
}
