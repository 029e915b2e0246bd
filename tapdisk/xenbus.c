// SPDX-License-Identifier: GPL-2.0-only
/*
 * The xenbus backend manager: the xenstore connection, event routing by
 * watch token, the devices, and the Xen ring transport. The per-device
 * state machine is in xenbus-dev.c, watched directories (mode b) in
 * xenbus-watch.c, the shm test transport in xenbus-shm.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"
#include "xport.h"
#include "xenbus-priv.h"

static const char *const xb_state_names[] = {
	"Unknown", "Initialising", "InitWait", "Initialised", "Connected",
	"Closing", "Closed", "Reconfiguring", "Reconfigured",
};

const char *td_xb_state_name(int s)
{
	if (s < 0 || (unsigned)s >= sizeof(xb_state_names) / sizeof(char *))
		return "none";
	return xb_state_names[s];
}

int xb_join(char *buf, size_t len, const char *dir, const char *key)
{
	int n = key ? snprintf(buf, len, "%s/%s", dir, key) :
		      snprintf(buf, len, "%s", dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int xb_read(struct td_xenbus *xb, td_xs_tx t, const char *dir,
	    const char *key, char **val)
{
	char path[XB_PATH_MAX + 64];
	int rc = xb_join(path, sizeof(path), dir, key);

	return rc ? rc : xb->xs->ops->read(xb->xs, t, path, val);
}

int xb_parse_u32(const char *s, uint32_t max, uint32_t *v)
{
	unsigned long long x = 0;
	const char *p;

	if (!*s)
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		x = x * 10 + (unsigned)(*p - '0');
		if (x > max)
			return -ERANGE;
	}
	*v = (uint32_t)x;
	return 0;
}

int xb_read_u32(struct td_xenbus *xb, td_xs_tx t, const char *dir,
		const char *key, uint32_t *v)
{
	char *s;
	int rc = xb_read(xb, t, dir, key, &s);

	if (rc)
		return rc;
	rc = xb_parse_u32(s, UINT32_MAX, v);
	free(s);
	return rc;
}

int xb_write(struct td_xenbus *xb, td_xs_tx t, const char *dir,
	     const char *key, const char *fmt, ...)
{
	char path[XB_PATH_MAX + 64], val[512];
	va_list ap;
	int rc = xb_join(path, sizeof(path), dir, key);

	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return xb->xs->ops->write(xb->xs, t, path, val);
}

/* Tokens: "tdxb/ID/fe", "tdxb/ID/be" (devices), "tdxbw/ID" (mode b). */
static void xb_event(void *arg, const char *path, const char *token)
{
	struct td_xenbus *xb = arg;
	unsigned long id;
	char *end;

	(void)path;
	if (!strncmp(token, "tdxb/", 5)) {
		id = strtoul(token + 5, &end, 10);
		if (end != token + 5 && *end == '/')
			xb_dev_event(xb, (unsigned)id);
	} else if (!strncmp(token, "tdxbw/", 6)) {
		id = strtoul(token + 6, &end, 10);
		if (end != token + 6 && !*end)
			xb_watch_event(xb, (unsigned)id);
	}
}

int td_xenbus_get(struct td_server *srv, struct td_xenbus **out, char *err,
		  size_t errlen)
{
	struct td_xenbus *xb;
	int rc;

	if (srv->xenbus) {
		*out = srv->xenbus;
		return 0;
	}
	xb = calloc(1, sizeof(*xb));
	if (!xb) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	xb->srv = srv;
	xb->loop = &srv->loop;
	td_list_init(&xb->devs);
	td_list_init(&xb->zombies);
	td_list_init(&xb->watches);
	xb->next_id = 1;
	rc = td_xs_libxs_open(&srv->loop, xb_event, xb, &xb->xs);
	if (rc) {
		snprintf(err, errlen, "cannot connect to xenstore: %s",
			 strerror(-rc));
		free(xb);
		return rc;
	}
	td_info(TD_SUB_XS, "connected to xenstore (%s)", xb->xs->ops->name);
	srv->xenbus = xb;
	*out = xb;
	return 0;
}

void td_xenbus_destroy(struct td_xenbus *xb)
{
	struct td_list *pos, *tmp;

	if (!xb)
		return;
	xb_watch_free_all(xb);
	td_list_for_each_safe(pos, tmp, &xb->devs)
		xb_dev_free_now(td_list_entry(pos, struct td_xenbus_dev,
					      link));
	td_list_for_each_safe(pos, tmp, &xb->zombies)
		xb_dev_free_now(td_list_entry(pos, struct td_xenbus_dev,
					      link));
	xbshm_destroy(xb->shm);
	td_xs_close(xb->xs);
	free(xb);
}

struct td_xenbus_dev *xb_dev_find(struct td_xenbus *xb, const char *be)
{
	struct td_list *pos;

	td_list_for_each(pos, &xb->devs) {
		struct td_xenbus_dev *d =
			td_list_entry(pos, struct td_xenbus_dev, link);

		if (!strcmp(d->be, be))
			return d;
	}
	return NULL;
}

/* Normalises a backend path: no trailing '/', not empty, fits. */
static int clean_path(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);

	while (n > 1 && in[n - 1] == '/')
		n--;
	if (!n || n >= len || n >= XB_PATH_MAX - 32)
		return -EINVAL;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

int td_xenbus_connect(struct td_xenbus *xb, struct td_vbd *vbd,
		      const char *be, const struct td_xenbus_opts *o,
		      char *err, size_t errlen)
{
	struct td_xenbus_dev *dev;
	char path[XB_PATH_MAX];

	if (clean_path(be, path, sizeof(path))) {
		snprintf(err, errlen, "bad backend path \"%.64s\"", be);
		return -EINVAL;
	}
	if (vbd->state == TD_VBD_ATTACHED || vbd->state == TD_VBD_CLOSING) {
		snprintf(err, errlen, "it is %s: open an image first",
			 td_vbd_state_name(vbd->state));
		return -EINVAL;
	}
	if (xb_dev_find(xb, path)) {
		snprintf(err, errlen, "%s is already served", path);
		return -EEXIST;
	}
	return xb_dev_create(xb, vbd->minor, path, o, false, &dev, err,
			     errlen);
}

int td_xenbus_disconnect(struct td_xenbus *xb, const char *be)
{
	char path[XB_PATH_MAX];
	struct td_xenbus_dev *dev;

	if (clean_path(be, path, sizeof(path)))
		return -ENOENT;
	dev = xb_dev_find(xb, path);
	if (!dev)
		return -ENOENT;
	xb_dev_destroy(dev, true);
	return 0;
}

unsigned td_xenbus_vbd_resized(struct td_xenbus *xb, struct td_vbd *vbd)
{
	struct td_list *pos;
	unsigned n = 0;

	td_list_for_each(pos, &xb->devs) {
		struct td_xenbus_dev *d =
			td_list_entry(pos, struct td_xenbus_dev, link);
		td_xs_tx t;
		int rc, tries;

		if (d->minor != vbd->minor || !d->blkif)
			continue;
		td_blkif_resized(d->blkif);
		/* blkback's vbd_resize: sectors and state in one commit. */
		for (tries = 0; tries < 16; tries++) {
			rc = xb->xs->ops->tx_start(xb->xs, &t);
			if (rc)
				break;
			rc = xb_write(xb, t, d->be, "sectors", "%llu",
				      (unsigned long long)vbd->size_sectors);
			if (!rc)
				rc = xb_write(xb, t, d->be, "state", "%d",
					      d->be_state);
			rc = xb->xs->ops->tx_end(xb->xs, t, rc != 0) ?: rc;
			if (rc != -EAGAIN)
				break;
		}
		if (rc)
			td_warn(TD_SUB_XS, "%s: cannot publish new size: %s",
				d->be, strerror(-rc));
		else
			n++;
		td_info(TD_SUB_XS, "%s: resized to %llu sectors", d->be,
			(unsigned long long)vbd->size_sectors);
	}
	return n;
}

void td_xenbus_describe(struct td_xenbus *xb,
			void (*fn)(void *arg, struct td_xenbus_dev *dev),
			void *arg)
{
	struct td_list *pos;

	td_list_for_each(pos, &xb->devs)
		fn(arg, td_list_entry(pos, struct td_xenbus_dev, link));
}

void td_xenbus_dev_describe(struct td_xenbus_dev *d, struct td_stats_sink *s)
{
	s->str(s, "backend", d->be);
	s->str(s, "frontend", d->fe);
	s->u64(s, "minor", (uint64_t)d->minor);
	s->u64(s, "frontend_id", d->domid);
	s->str(s, "state", td_xb_state_name(d->be_state));
	s->str(s, "frontend_state", td_xb_state_name(d->fe_state));
	s->str(s, "transport", d->opts.xport->name);
	s->u64(s, "connected", d->blkif != NULL);
	s->u64(s, "connects", d->connects);
	s->str(s, "error", d->error);
}

/* The Xen ring transport ------------------------------------------------ */

static int xen_create(struct td_xenbus_dev *dev, const char *fe,
		      uint32_t domid, unsigned nq, struct td_xport **out,
		      char *err, size_t errlen)
{
	int rc = td_xport_xen_create(domid, nq, out);

	(void)dev;
	(void)fe;
	if (rc)
		snprintf(err, errlen, "cannot open gntdev/evtchn for domain "
			 "%u: %s", domid, strerror(-rc));
	return rc;
}

const struct td_xenbus_xport_ops td_xenbus_xport_xen = {
	.name = "xen",
	.create = xen_create,
};

const struct td_xenbus_xport_ops *td_xenbus_xport_lookup(const char *name)
{
	if (!name || !strcmp(name, "xen"))
		return &td_xenbus_xport_xen;
	if (!strcmp(name, "shm"))
		return &td_xenbus_xport_shm;
	return NULL;
}
