// SPDX-License-Identifier: GPL-2.0-only
/*
 * Mode (b): tapdisk watches a backend type directory
 * (/local/domain/0/backend/vbd3) and serves every DOMID/DEVID device that
 * appears there, opening the image its "params" node names in a VBD of
 * its own. A device whose directory is removed is torn down by its own
 * backend watch (xenbus-dev.c), which closes that VBD too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"
#include "xenbus-priv.h"

/* Minors picked for watched devices, above what tap-ctl hands out. */
#define XB_WATCH_MINOR_BASE 1000

/* A device we could not open: not retried until its directory goes. */
struct xb_failed {
	struct td_list link;
	char be[XB_PATH_MAX];
};

struct xb_watch {
	struct td_list link;
	struct td_xenbus *xb;
	unsigned id;
	char dir[XB_PATH_MAX];
	char token[32];
	struct td_xenbus_opts opts;
	struct td_loop_defer scan;
	struct td_list failed;
};

static bool is_failed(struct xb_watch *w, const char *be)
{
	struct td_list *pos;

	td_list_for_each(pos, &w->failed)
		if (!strcmp(td_list_entry(pos, struct xb_failed, link)->be, be))
			return true;
	return false;
}

static void add_failed(struct xb_watch *w, const char *be)
{
	struct xb_failed *f = calloc(1, sizeof(*f));

	if (!f)
		return;
	snprintf(f->be, sizeof(f->be), "%s", be);
	td_list_add_tail(&f->link, &w->failed);
}

/* Forgets failures whose directory is gone, so a new device can retry. */
static void prune_failed(struct xb_watch *w)
{
	struct td_list *pos, *tmp;

	td_list_for_each_safe(pos, tmp, &w->failed) {
		struct xb_failed *f =
			td_list_entry(pos, struct xb_failed, link);
		char *s;

		if (!xb_read(w->xb, TD_XS_NOTX, f->be, "params", &s)) {
			free(s);
			continue;
		}
		td_list_del(&f->link);
		free(f);
	}
}

static int free_minor(struct td_server *srv)
{
	int m;

	for (m = XB_WATCH_MINOR_BASE; m < INT32_MAX; m++)
		if (!td_vbd_find(srv, m))
			return m;
	return -1;
}

/* "TYPE:PATH" as is; a plain path is a raw image ("aio:PATH"). */
static void params_spec(const char *params, char *spec, size_t len)
{
	const char *colon = strchr(params, ':');
	const char *slash = strchr(params, '/');

	if (colon && (!slash || colon < slash))
		snprintf(spec, len, "%s", params);
	else
		snprintf(spec, len, "aio:%s", params);
}

static int open_vbd(struct xb_watch *w, const char *be, int *minor,
		    char *err, size_t errlen)
{
	struct td_server *srv = w->xb->srv;
	char spec[PATH_MAX + 32], *params, *mode = NULL;
	unsigned flags = 0;
	struct td_vbd *vbd;
	int rc, m;

	rc = xb_read(w->xb, TD_XS_NOTX, be, "params", &params);
	if (rc) {
		snprintf(err, errlen, "reading %s/params: %s", be,
			 strerror(-rc));
		return rc;
	}
	params_spec(params, spec, sizeof(spec));
	free(params);
	if (!xb_read(w->xb, TD_XS_NOTX, be, "mode", &mode) && mode[0] == 'r')
		flags |= TD_OPEN_RDONLY;
	free(mode);
	m = free_minor(srv);
	rc = m < 0 ? -ENOSPC : td_vbd_create(srv, m, &vbd);
	if (rc) {
		snprintf(err, errlen, "no VBD for %s: %s", be, strerror(-rc));
		return rc;
	}
	rc = td_vbd_open(vbd, spec, flags, NULL, err, errlen);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "%.300s: %s", spec,
				 strerror(-rc));
		td_vbd_destroy(vbd);
		return rc;
	}
	*minor = m;
	return 0;
}

static void serve_one(struct xb_watch *w, const char *be)
{
	struct td_xenbus_dev *dev;
	char err[XB_ERR_MAX] = "";
	char *s;
	int minor, rc;

	if (xb_dev_find(w->xb, be) || is_failed(w, be))
		return;
	/* A toolstack writes params with the rest; wait until it is there. */
	if (xb_read(w->xb, TD_XS_NOTX, be, "params", &s))
		return;
	free(s);
	rc = open_vbd(w, be, &minor, err, sizeof(err));
	if (!rc) {
		rc = xb_dev_create(w->xb, minor, be, &w->opts, true, &dev, err,
				   sizeof(err));
		if (rc)
			xb_vbd_close(w->xb, minor);
		else
			return;
	} else {
		xb_error_node(w->xb, be, rc, err);
	}
	td_warn(TD_SUB_XS, "%s: %s", be, err);
	xb_hotplug_error(w->xb, be, err);
	add_failed(w, be);
}

static void scan_cb(struct td_loop_defer *d)
{
	struct xb_watch *w = d->arg;
	char **doms = NULL, **devs, sub[XB_PATH_MAX], be[XB_PATH_MAX];
	unsigned nd = 0, nv, i, j;

	prune_failed(w);
	if (w->xb->xs->ops->directory(w->xb->xs, TD_XS_NOTX, w->dir, &doms,
				      &nd))
		return;
	for (i = 0; i < nd; i++) {
		if (xb_join(sub, sizeof(sub), w->dir, doms[i]) ||
		    w->xb->xs->ops->directory(w->xb->xs, TD_XS_NOTX, sub,
					      &devs, &nv))
			continue;
		for (j = 0; j < nv; j++)
			if (!xb_join(be, sizeof(be), sub, devs[j]))
				serve_one(w, be);
		free(devs);
	}
	free(doms);
}

void xb_watch_event(struct td_xenbus *xb, unsigned id)
{
	struct td_list *pos;

	td_list_for_each(pos, &xb->watches) {
		struct xb_watch *w = td_list_entry(pos, struct xb_watch, link);

		if (w->id == id)
			td_loop_defer(xb->loop, &w->scan);
	}
}

static struct xb_watch *find_watch(struct td_xenbus *xb, const char *dir)
{
	struct td_list *pos;

	td_list_for_each(pos, &xb->watches) {
		struct xb_watch *w = td_list_entry(pos, struct xb_watch, link);

		if (!strcmp(w->dir, dir))
			return w;
	}
	return NULL;
}

int td_xenbus_watch(struct td_xenbus *xb, const char *dir,
		    const struct td_xenbus_opts *o, char *err, size_t errlen)
{
	struct xb_watch *w;
	size_t n = strlen(dir);
	int rc;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (!n || n >= XB_PATH_MAX - 64) {
		snprintf(err, errlen, "bad directory \"%.64s\"", dir);
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(w->dir, dir, n);
	if (find_watch(xb, w->dir)) {
		snprintf(err, errlen, "%s is already watched", w->dir);
		free(w);
		return -EEXIST;
	}
	w->xb = xb;
	w->id = xb->next_id++;
	if (o)
		w->opts = *o;
	snprintf(w->token, sizeof(w->token), "tdxbw/%u", w->id);
	td_list_init(&w->failed);
	td_list_init(&w->scan.link);
	w->scan.cb = scan_cb;
	w->scan.arg = w;
	/* The directory may not exist yet: the watch still fires later. */
	rc = xb->xs->ops->watch(xb->xs, w->dir, w->token);
	if (rc) {
		snprintf(err, errlen, "watching %s: %s", w->dir,
			 strerror(-rc));
		free(w);
		return rc;
	}
	td_list_add_tail(&w->link, &xb->watches);
	td_loop_defer(xb->loop, &w->scan);
	td_info(TD_SUB_XS, "watching %s for devices (%s rings)", w->dir,
		w->opts.xport ? w->opts.xport->name : "xen");
	return 0;
}

static void watch_free(struct xb_watch *w)
{
	struct td_list *pos, *tmp;

	w->xb->xs->ops->unwatch(w->xb->xs, w->dir, w->token);
	td_loop_defer_cancel(w->xb->loop, &w->scan);
	td_list_for_each_safe(pos, tmp, &w->failed) {
		td_list_del(pos);
		free(td_list_entry(pos, struct xb_failed, link));
	}
	td_list_del(&w->link);
	free(w);
}

int td_xenbus_unwatch(struct td_xenbus *xb, const char *dir)
{
	char d[XB_PATH_MAX];
	size_t n = strlen(dir);
	struct xb_watch *w;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (!n || n >= sizeof(d))
		return -ENOENT;
	memcpy(d, dir, n);
	d[n] = '\0';
	w = find_watch(xb, d);
	if (!w)
		return -ENOENT;
	watch_free(w);
	return 0;
}

void xb_watch_free_all(struct td_xenbus *xb)
{
	struct td_list *pos, *tmp;

	td_list_for_each_safe(pos, tmp, &xb->watches)
		watch_free(td_list_entry(pos, struct xb_watch, link));
}
