// SPDX-License-Identifier: GPL-2.0-only
/*
 * One xenbus backend device: blkback's side of the blkif handshake.
 *
 *   advertise features, hotplug-status, state InitWait
 *   frontend Initialised/Connected -> read its nodes, connect the rings,
 *                                     sectors/info + state Connected
 *   frontend Closing               -> disconnect (drain), state Closing
 *   frontend Closed / gone         -> disconnect, once drained Closed
 *   frontend Initialising again    -> once drained, advertise, InitWait
 *
 * Every watch event only schedules a re-read (a deferred call), so a burst
 * of frontend writes is one pass; each pass compares the frontend's state
 * with ours and does the one step that is due. Everything the frontend
 * wrote is untrusted: a bad value is reported the way Linux's
 * xenbus_dev_fatal does (error/BACKEND/error = "ERRNO message", state
 * Closing) and touches nothing but this device.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"
#include "xport.h"
#include "xenbus-priv.h"

#define TX_TRIES 16

static struct td_vbd *dev_vbd(struct td_xenbus_dev *dev)
{
	struct td_vbd *vbd = td_vbd_find(dev->xb->srv, dev->minor);

	if (!vbd || vbd->state == TD_VBD_ATTACHED ||
	    vbd->state == TD_VBD_CLOSING)
		return NULL;
	return vbd;
}

/* Copies guest text for a message: printable, bounded. */
static void sanitize(char *out, size_t len, const char *in)
{
	size_t i;

	for (i = 0; i + 1 < len && in[i]; i++)
		out[i] = isprint((unsigned char)in[i]) ? in[i] : '?';
	out[i] = '\0';
}

void xb_error_node(struct td_xenbus *xb, const char *be, int err,
		   const char *msg)
{
	char path[XB_PATH_MAX + 32];
	const char *rel = be;
	unsigned dom;
	int n = 0, rc;

	/*
	 * Linux writes error/NODENAME/error relative to the backend
	 * domain's home; an absolute backend path keeps that home.
	 */
	if (sscanf(be, "/local/domain/%u/%n", &dom, &n) == 1 && n > 0) {
		rel = be + n;
		rc = snprintf(path, sizeof(path), "/local/domain/%u/error/%s",
			      dom, rel);
	} else {
		rc = snprintf(path, sizeof(path), "error/%s", be);
	}
	if (rc < 0 || (size_t)rc >= sizeof(path))
		return;
	rc = xb_write(xb, TD_XS_NOTX, path, "error", "%d %s", -err, msg);
	if (rc)
		td_warn(TD_SUB_XS, "%s: cannot write error node: %s", be,
			strerror(-rc));
}

void xb_hotplug_error(struct td_xenbus *xb, const char *be, const char *msg)
{
	xb_write(xb, TD_XS_NOTX, be, "hotplug-error", "%s", msg);
	xb_write(xb, TD_XS_NOTX, be, "hotplug-status", "error");
}

static void dev_write_state(struct td_xenbus_dev *dev, int state)
{
	int rc = xb_write(dev->xb, TD_XS_NOTX, dev->be, "state", "%d", state);

	if (rc)
		td_warn(TD_SUB_XS, "%s: cannot write state %s: %s", dev->be,
			td_xb_state_name(state), strerror(-rc));
	dev->be_state = state;
	td_dbg(TD_SUB_XS, "%s: state %s", dev->be, td_xb_state_name(state));
}

static void dev_schedule(struct td_xenbus_dev *dev)
{
	td_loop_defer(dev->xb->loop, &dev->update);
}

static void dev_release_link(struct td_xenbus_dev *dev)
{
	if (dev->opts.xport->release)
		dev->opts.xport->release(dev);
}

/* The rings are gone: every request answered, everything unmapped. */
static void dev_drained(void *arg)
{
	struct td_xenbus_dev *dev = arg;

	dev->draining = NULL;
	dev_release_link(dev);
	dev_schedule(dev);
}

/* Stops the rings; Closed/InitWait wait for dev_drained. */
static void dev_disconnect(struct td_xenbus_dev *dev)
{
	struct td_blkif *b = dev->blkif;

	if (!b)
		return;
	dev->blkif = NULL;
	dev->draining = b;
	td_blkif_on_freed(b, dev_drained, dev);
	td_blkif_disconnect(b);
	td_info(TD_SUB_XS, "%s: rings disconnected", dev->be);
}

void xb_dev_fatal(struct td_xenbus_dev *dev, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	td_log_ratelimited(&dev->rl, TD_LOG_WARN, TD_SUB_XS, "%s: %s (%s)",
			   dev->be, dev->error, strerror(-err));
	xb_error_node(dev->xb, dev->be, err, dev->error);
	dev_disconnect(dev);
	td_loop_timer_cancel(dev->xb->loop, &dev->timer);
	dev_write_state(dev, TD_XB_CLOSING);
}

/* Writes the feature nodes and InitWait in one transaction. */
static int dev_advertise(struct td_xenbus_dev *dev)
{
	struct td_xenbus *xb = dev->xb;
	struct td_vbd *vbd = dev_vbd(dev);
	struct td_blkif_back a;
	const char *be = dev->be;
	int rc = 0, tries;
	td_xs_tx t;

	if (!vbd)
		return -ENODEV;
	td_blkif_advertise(vbd, &dev->opts.cfg, &a);
	for (tries = 0; tries < TX_TRIES; tries++) {
		rc = xb->xs->ops->tx_start(xb->xs, &t);
		if (rc)
			return rc;
		rc = xb_write(xb, t, be, "feature-flush-cache", "%u",
			      a.feature_flush_cache) ?:
		     xb_write(xb, t, be, "feature-barrier", "%u",
			      a.feature_barrier) ?:
		     xb_write(xb, t, be, "feature-discard", "%u",
			      a.feature_discard) ?:
		     xb_write(xb, t, be, "feature-persistent", "%u",
			      a.feature_persistent) ?:
		     xb_write(xb, t, be, "max-ring-page-order", "%u",
			      a.max_ring_page_order) ?:
		     xb_write(xb, t, be, "multi-queue-max-queues", "%u",
			      a.multi_queue_max_queues) ?:
		     xb_write(xb, t, be, "sectors", "%llu",
			      (unsigned long long)a.sectors) ?:
		     xb_write(xb, t, be, "sector-size", "%u",
			      a.sector_size) ?:
		     xb_write(xb, t, be, "physical-sector-size", "%u",
			      a.physical_sector_size) ?:
		     xb_write(xb, t, be, "info", "%u", a.info) ?:
		     xb_write(xb, t, be, "mode", "%s", a.mode);
		if (!rc && a.feature_discard)
			rc = xb_write(xb, t, be, "discard-granularity", "%u",
				      a.discard_granularity) ?:
			     xb_write(xb, t, be, "discard-alignment", "%u",
				      a.discard_alignment) ?:
			     xb_write(xb, t, be, "discard-secure", "%u",
				      a.discard_secure);
		if (!rc && a.feature_max_indirect_segments)
			rc = xb_write(xb, t, be,
				      "feature-max-indirect-segments", "%u",
				      a.feature_max_indirect_segments);
		if (!rc && dev->opts.xport->advertise)
			rc = dev->opts.xport->advertise(dev, t, be);
		if (!rc)
			rc = xb_write(xb, t, be, "hotplug-status",
				      "connected") ?:
			     xb_write(xb, t, be, "state", "%d",
				      TD_XB_INITWAIT);
		rc = xb->xs->ops->tx_end(xb->xs, t, rc != 0) ?: rc;
		if (rc != -EAGAIN)
			break;
	}
	if (rc)
		return rc;
	dev->be_state = TD_XB_INITWAIT;
	if (dev->opts.connect_timeout_ms)
		td_loop_timer_arm(xb->loop, &dev->timer,
				  (uint64_t)dev->opts.connect_timeout_ms *
					  TD_NS_PER_MS);
	td_info(TD_SUB_XS, "%s: InitWait (vbd %d, %llu sectors, %s rings)",
		be, dev->minor, (unsigned long long)a.sectors,
		dev->opts.xport->name);
	return 0;
}

/* Reads an unsigned node of the frontend with a precise complaint. */
static int fe_u32(struct td_xenbus_dev *dev, const char *dir,
		  const char *key, bool required, uint32_t dflt, uint32_t max,
		  uint32_t *v, char *err, size_t errlen)
{
	char *s, clean[40];
	int rc = xb_read(dev->xb, TD_XS_NOTX, dir, key, &s);

	if (rc == -ENOENT && !required) {
		*v = dflt;
		return 0;
	}
	if (rc) {
		snprintf(err, errlen, "reading %s/%s: %s", dir, key,
			 rc == -ENOENT ? "missing" : strerror(-rc));
		return rc;
	}
	rc = xb_parse_u32(s, max, v);
	sanitize(clean, sizeof(clean), s);
	free(s);
	if (rc == -ERANGE)
		snprintf(err, errlen, "%s/%s = %s is above the maximum %u",
			 dir, key, clean, max);
	else if (rc)
		snprintf(err, errlen, "%s/%s is not a number: \"%s\"", dir,
			 key, clean);
	return rc ? -EINVAL : 0;
}

static int fe_protocol(struct td_xenbus_dev *dev, struct td_blkif_front *f,
		       char *err, size_t errlen)
{
	char *s, clean[40];
	int rc = xb_read(dev->xb, TD_XS_NOTX, dev->fe, "protocol", &s);

	if (rc == -ENOENT) {
		f->protocol[0] = '\0'; /* native */
		return 0;
	}
	if (rc) {
		snprintf(err, errlen, "reading %s/protocol: %s", dev->fe,
			 strerror(-rc));
		return rc;
	}
	if (strcmp(s, TD_BLKIF_PROTO_X86_32) &&
	    strcmp(s, TD_BLKIF_PROTO_X86_64) && *s) {
		sanitize(clean, sizeof(clean), s);
		snprintf(err, errlen, "unknown protocol \"%s\"", clean);
		free(s);
		return -EINVAL;
	}
	snprintf(f->protocol, sizeof(f->protocol), "%s", s);
	free(s);
	return 0;
}

/* One queue's ring refs and event channel, from @dir. */
static int fe_queue(struct td_xenbus_dev *dev, const char *dir, unsigned q,
		    struct td_blkif_front *f, uint32_t *ports, char *err,
		    size_t errlen)
{
	unsigned p, np = 1u << f->ring_page_order;
	char key[24];
	int rc;

	for (p = 0; p < np; p++) {
		if (!f->ring_page_order)
			snprintf(key, sizeof(key), "ring-ref");
		else
			snprintf(key, sizeof(key), "ring-ref%u", p);
		rc = fe_u32(dev, dir, key, true, 0, UINT32_MAX,
			    &f->ring_ref[q][p], err, errlen);
		if (rc)
			return rc;
	}
	return fe_u32(dev, dir, "event-channel", true, 0, UINT32_MAX,
		      &ports[q], err, errlen);
}

/* Fills @f and @ports from the frontend directory, as blkback reads it. */
static int dev_read_front(struct td_xenbus_dev *dev,
			  const struct td_blkif_back *adv,
			  struct td_blkif_front *f, uint32_t *ports,
			  char *err, size_t errlen)
{
	char dir[XB_PATH_MAX + 32];
	uint32_t nq, order, pers;
	unsigned q;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = fe_u32(dev, dev->fe, "multi-queue-num-queues", false, 1,
		    adv->multi_queue_max_queues, &nq, err, errlen) ?:
	     fe_u32(dev, dev->fe, "ring-page-order", false, 0,
		    adv->max_ring_page_order, &order, err, errlen) ?:
	     fe_u32(dev, dev->fe, "feature-persistent", false, 0, 1, &pers,
		    err, errlen) ?:
	     fe_protocol(dev, f, err, errlen);
	if (rc)
		return rc;
	if (!nq) {
		snprintf(err, errlen, "multi-queue-num-queues is 0");
		return -EINVAL;
	}
	f->num_queues = nq;
	f->ring_page_order = order;
	f->feature_persistent = pers;
	for (q = 0; q < nq; q++) {
		/* One queue: its nodes sit in the frontend directory. */
		if (nq == 1)
			snprintf(dir, sizeof(dir), "%s", dev->fe);
		else
			snprintf(dir, sizeof(dir), "%s/queue-%u", dev->fe, q);
		rc = fe_queue(dev, dir, q, f, ports, err, errlen);
		if (rc)
			return rc;
	}
	return td_blkif_check_front(adv, f, err, errlen);
}

/* VBD closed under connected rings: they free themselves. */
static void dev_gone(void *arg)
{
	struct td_xenbus_dev *dev = arg;

	dev->blkif = NULL;
	dev_release_link(dev);
	xb_dev_fatal(dev, -ENODEV, "vbd %d closed", dev->minor);
}

/* sectors, info and the rest, then Connected, in one transaction. */
static int dev_write_connected(struct td_xenbus_dev *dev,
			       const struct td_blkif_back *a)
{
	struct td_xenbus *xb = dev->xb;
	int rc = 0, tries;
	td_xs_tx t;

	for (tries = 0; tries < TX_TRIES; tries++) {
		rc = xb->xs->ops->tx_start(xb->xs, &t);
		if (rc)
			return rc;
		rc = xb_write(xb, t, dev->be, "sectors", "%llu",
			      (unsigned long long)a->sectors) ?:
		     xb_write(xb, t, dev->be, "info", "%u", a->info) ?:
		     xb_write(xb, t, dev->be, "sector-size", "%u",
			      a->sector_size) ?:
		     xb_write(xb, t, dev->be, "physical-sector-size", "%u",
			      a->physical_sector_size) ?:
		     xb_write(xb, t, dev->be, "state", "%d", TD_XB_CONNECTED);
		rc = xb->xs->ops->tx_end(xb->xs, t, rc != 0) ?: rc;
		if (rc != -EAGAIN)
			break;
	}
	if (!rc)
		dev->be_state = TD_XB_CONNECTED;
	return rc;
}

static void dev_connect(struct td_xenbus_dev *dev)
{
	uint32_t ports[TD_SHM_MAX_QUEUES];
	struct td_blkif_front f;
	struct td_blkif_back adv;
	struct td_xport *xp;
	struct td_vbd *vbd;
	char err[XB_ERR_MAX] = "";
	int rc;

	td_loop_timer_cancel(dev->xb->loop, &dev->timer);
	vbd = dev_vbd(dev);
	if (!vbd) {
		xb_dev_fatal(dev, -ENODEV, "vbd %d is not open", dev->minor);
		return;
	}
	td_blkif_advertise(vbd, &dev->opts.cfg, &adv);
	rc = dev_read_front(dev, &adv, &f, ports, err, sizeof(err));
	if (rc) {
		xb_dev_fatal(dev, rc, "%s", err);
		return;
	}
	rc = dev->opts.xport->create(dev, dev->fe, dev->domid, f.num_queues,
				     &xp, err, sizeof(err));
	if (rc) {
		xb_dev_fatal(dev, rc, "%s", err);
		return;
	}
	rc = td_blkif_connect(vbd, xp, &f, ports, &dev->opts.cfg, dev_gone,
			      dev, &dev->blkif, err, sizeof(err));
	if (rc) {
		dev->blkif = NULL;
		td_xport_destroy(xp);
		dev_release_link(dev);
		xb_dev_fatal(dev, rc, "connecting rings: %s", err);
		return;
	}
	rc = dev_write_connected(dev, td_blkif_advertised(dev->blkif));
	if (rc) {
		xb_dev_fatal(dev, rc, "writing Connected: %s", strerror(-rc));
		return;
	}
	dev->connects++;
	dev->error[0] = '\0'; /* the list shows the current trouble only */
	td_info(TD_SUB_XS, "%s: Connected (%u queue(s), order %u, %s)",
		dev->be, f.num_queues, f.ring_page_order,
		f.protocol[0] ? f.protocol : "native");
}

/* Reads the frontend's state; -1 if it has none (gone, not yet there). */
static int fe_state(struct td_xenbus_dev *dev, bool *garbage)
{
	uint32_t v;
	int rc = xb_read_u32(dev->xb, TD_XS_NOTX, dev->fe, "state", &v);

	*garbage = rc == -EINVAL || rc == -ERANGE ||
		   (!rc && v > TD_XB_RECONFIGURED);
	if (rc || *garbage)
		return -1;
	return (int)v;
}

static bool backend_exists(struct td_xenbus_dev *dev)
{
	char *s;

	if (xb_read(dev->xb, TD_XS_NOTX, dev->be, "frontend", &s))
		return false;
	free(s);
	return true;
}

/* The frontend restarts (kexec, resume, reload): a fresh InitWait. */
static void dev_reinit(struct td_xenbus_dev *dev)
{
	int rc;

	dev_disconnect(dev);
	if (dev->draining)
		return;
	rc = dev_advertise(dev);
	if (rc)
		xb_dev_fatal(dev, rc, "advertising: %s", strerror(-rc));
}

/* Frontend Closed, gone or Unknown: once drained, Closed. */
static void dev_closed(struct td_xenbus_dev *dev)
{
	dev_disconnect(dev);
	if (!dev->draining && dev->be_state != TD_XB_CLOSED)
		dev_write_state(dev, TD_XB_CLOSED);
}

static void dev_update_cb(struct td_loop_defer *d)
{
	struct td_xenbus_dev *dev = d->arg;
	bool garbage;
	int fs;

	if (dev->failed)
		return;
	if (!backend_exists(dev)) {
		td_info(TD_SUB_XS, "%s: backend removed", dev->be);
		xb_dev_destroy(dev, false);
		return;
	}
	fs = fe_state(dev, &garbage);
	if (garbage) {
		td_log_ratelimited(&dev->rl, TD_LOG_WARN, TD_SUB_XS,
				   "%s: frontend state is not a state",
				   dev->be);
		return;
	}
	dev->fe_state = fs;
	switch (fs) {
	case TD_XB_INITIALISING:
		if (dev->be_state != TD_XB_INITWAIT)
			dev_reinit(dev);
		break;
	case TD_XB_INITIALISED:
	case TD_XB_CONNECTED:
		if (dev->be_state == TD_XB_INITWAIT && !dev->draining)
			dev_connect(dev);
		break;
	case TD_XB_CLOSING:
		dev_disconnect(dev);
		if (dev->be_state != TD_XB_CLOSING &&
		    dev->be_state != TD_XB_CLOSED)
			dev_write_state(dev, TD_XB_CLOSING);
		break;
	case TD_XB_CLOSED:
		dev_closed(dev);
		break;
	case -1:
	case TD_XB_UNKNOWN:
		/* Only a frontend we dealt with can go away. */
		if (dev->blkif || dev->draining ||
		    dev->be_state == TD_XB_CONNECTED ||
		    dev->be_state == TD_XB_CLOSING)
			dev_closed(dev);
		break;
	default:
		break;
	}
}

static void dev_timeout_cb(struct td_loop_timer *t)
{
	struct td_xenbus_dev *dev = t->arg;

	if (dev->be_state != TD_XB_INITWAIT || dev->blkif)
		return;
	xb_dev_fatal(dev, -ETIMEDOUT, "frontend did not connect within %u ms",
		     dev->opts.connect_timeout_ms);
	/* Nobody to hand-shake Closing with: give up cleanly. */
	dev->failed = true;
	dev_write_state(dev, TD_XB_CLOSED);
	if (dev->watching) {
		dev->xb->xs->ops->unwatch(dev->xb->xs, dev->fe, dev->tok_fe);
		dev->xb->xs->ops->unwatch(dev->xb->xs, dev->be, dev->tok_be);
		dev->watching = false;
	}
	td_loop_defer_cancel(dev->xb->loop, &dev->update);
	dev_release_link(dev);
}

void xb_dev_event(struct td_xenbus *xb, unsigned id)
{
	struct td_list *pos;

	td_list_for_each(pos, &xb->devs) {
		struct td_xenbus_dev *d =
			td_list_entry(pos, struct td_xenbus_dev, link);

		if (d->id == id) {
			dev_schedule(d);
			return;
		}
	}
}

static int dev_read_backend(struct td_xenbus_dev *dev, char *err,
			    size_t errlen)
{
	char *s;
	int rc = xb_read(dev->xb, TD_XS_NOTX, dev->be, "frontend", &s);

	if (rc) {
		snprintf(err, errlen, "reading %s/frontend: %s", dev->be,
			 rc == -ENOENT ? "missing" : strerror(-rc));
		return rc;
	}
	if (!*s || strlen(s) >= sizeof(dev->fe)) {
		snprintf(err, errlen, "%s/frontend is not a path", dev->be);
		free(s);
		return -EINVAL;
	}
	snprintf(dev->fe, sizeof(dev->fe), "%s", s);
	free(s);
	rc = xb_read_u32(dev->xb, TD_XS_NOTX, dev->be, "frontend-id",
			 &dev->domid);
	if (!rc && dev->domid >= 0x7ff0)
		rc = -ERANGE;
	if (rc)
		snprintf(err, errlen, "reading %s/frontend-id: %s", dev->be,
			 rc == -ENOENT ? "missing" : "not a domain id");
	return rc == -ERANGE ? -EINVAL : rc;
}

static int dev_watch(struct td_xenbus_dev *dev)
{
	struct td_xs *xs = dev->xb->xs;
	int rc = xs->ops->watch(xs, dev->fe, dev->tok_fe);

	if (rc)
		return rc;
	rc = xs->ops->watch(xs, dev->be, dev->tok_be);
	if (rc) {
		xs->ops->unwatch(xs, dev->fe, dev->tok_fe);
		return rc;
	}
	dev->watching = true;
	return 0;
}

int xb_dev_create(struct td_xenbus *xb, int minor, const char *be,
		  const struct td_xenbus_opts *o, bool owns_vbd,
		  struct td_xenbus_dev **out, char *err, size_t errlen)
{
	struct td_xenbus_dev *dev = calloc(1, sizeof(*dev));
	int rc;

	if (!dev) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	dev->xb = xb;
	dev->id = xb->next_id++;
	dev->minor = minor;
	dev->owns_vbd = owns_vbd;
	dev->fe_state = -1;
	dev->be_state = TD_XB_UNKNOWN;
	dev->rl = (struct td_ratelimit)TD_RATELIMIT_INIT;
	if (o)
		dev->opts = *o;
	if (!dev->opts.xport)
		dev->opts.xport = &td_xenbus_xport_xen;
	snprintf(dev->be, sizeof(dev->be), "%s", be);
	snprintf(dev->tok_fe, sizeof(dev->tok_fe), "tdxb/%u/fe", dev->id);
	snprintf(dev->tok_be, sizeof(dev->tok_be), "tdxb/%u/be", dev->id);
	td_list_init(&dev->update.link);
	dev->update.cb = dev_update_cb;
	dev->update.arg = dev;
	td_list_init(&dev->timer.link);
	dev->timer.cb = dev_timeout_cb;
	dev->timer.arg = dev;
	td_list_add_tail(&dev->link, &xb->devs);

	rc = dev_read_backend(dev, err, errlen);
	if (rc)
		goto fail;
	rc = dev_advertise(dev);
	if (rc) {
		snprintf(err, errlen, "advertising in %s: %s", be,
			 strerror(-rc));
		goto fail;
	}
	rc = dev_watch(dev);
	if (rc) {
		snprintf(err, errlen, "watching %s: %s", dev->fe,
			 strerror(-rc));
		goto fail;
	}
	*out = dev;
	return 0;
fail:
	xb_error_node(xb, be, rc, err);
	td_list_del(&dev->link);
	td_loop_timer_cancel(xb->loop, &dev->timer);
	free(dev);
	return rc;
}

/* A VBD we opened for a watched directory (mode b) goes with us. */
struct vbd_closer {
	struct td_vbd_waiter w;
	struct td_server *srv;
	int minor;
};

static void vbd_closed(struct td_vbd_waiter *w, int err)
{
	struct vbd_closer *c = w->arg;
	struct td_vbd *vbd = td_vbd_find(c->srv, c->minor);

	if (err)
		td_warn(TD_SUB_XS, "vbd %d: close failed: %s", c->minor,
			strerror(-err));
	if (vbd && vbd->state == TD_VBD_ATTACHED)
		td_vbd_destroy(vbd);
	free(c);
}

void xb_vbd_close(struct td_xenbus *xb, int minor)
{
	struct td_vbd *vbd = td_vbd_find(xb->srv, minor);
	struct vbd_closer *c;

	if (!vbd || xb->srv->shutting_down)
		return;
	if (vbd->state == TD_VBD_ATTACHED) {
		td_vbd_destroy(vbd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = xb->srv;
	c->minor = minor;
	c->w.done = vbd_closed;
	c->w.arg = c;
	td_list_init(&c->w.link);
	if (td_vbd_close(vbd, false, &c->w)) {
		td_warn(TD_SUB_XS, "vbd %d: cannot close (%s)", minor,
			td_vbd_state_name(vbd->state));
		free(c);
	}
}

static void dev_unhook(struct td_xenbus_dev *dev)
{
	struct td_xenbus *xb = dev->xb;

	if (dev->watching) {
		xb->xs->ops->unwatch(xb->xs, dev->fe, dev->tok_fe);
		xb->xs->ops->unwatch(xb->xs, dev->be, dev->tok_be);
		dev->watching = false;
	}
	td_loop_defer_cancel(xb->loop, &dev->update);
	td_loop_timer_cancel(xb->loop, &dev->timer);
	td_list_del(&dev->link);
}

/* A zombie's rings drained: finish its teardown. */
static void zombie_drained(void *arg)
{
	struct td_xenbus_dev *dev = arg;

	dev->draining = NULL;
	dev_release_link(dev);
	if (dev->be_state != TD_XB_CLOSED && backend_exists(dev))
		dev_write_state(dev, TD_XB_CLOSED);
	if (dev->owns_vbd)
		xb_vbd_close(dev->xb, dev->minor);
	td_list_del(&dev->link);
	free(dev);
}

void xb_dev_destroy(struct td_xenbus_dev *dev, bool write_closed)
{
	struct td_xenbus *xb = dev->xb;

	dev_unhook(dev);
	dev_disconnect(dev);
	if (!write_closed)
		dev->be_state = TD_XB_CLOSED; /* nothing more to write */
	if (dev->draining) {
		td_list_add_tail(&dev->link, &xb->zombies);
		td_blkif_on_freed(dev->draining, zombie_drained, dev);
		return;
	}
	td_list_init(&dev->link);
	td_list_add_tail(&dev->link, &xb->zombies);
	zombie_drained(dev);
}

void xb_dev_free_now(struct td_xenbus_dev *dev)
{
	if (dev->draining)
		td_blkif_on_freed(dev->draining, NULL, NULL);
	if (dev->blkif)
		td_blkif_disconnect(dev->blkif);
	if (dev->watching || dev->update.queued || dev->timer.armed)
		dev_unhook(dev);
	else
		td_list_del(&dev->link);
	dev_release_link(dev);
	free(dev);
}
