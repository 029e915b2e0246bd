// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Xen transport: the ring is mapped with gntdev
 * (xengnttab_map_domain_grant_refs), data moves by batched grant copy
 * (the gntdev copy ioctl) or through persistent single-page mappings, and
 * each queue's event channel is bound interdomain with its own xenevtchn
 * handle, so each queue has its own fd in the loop and acknowledging one
 * queue never consumes another queue's notification.
 *
 * Not exercised by `make check` (there is no Xen there); the ring service
 * above it is, through the shm transport, which has the same ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xengnttab.h>
#include <xenevtchn.h>
#include <xen/grant_table.h>
#include "td-shm.h"
#include "xport.h"

struct xen_queue {
	xenevtchn_handle *xce;
	evtchn_port_t local_port;
	bool bound;
};

struct xen_xport {
	struct td_xport xp;
	uint32_t domid;
	xengnttab_handle *xgt;
	/* Scratch for one td_xport_copy batch, so copying never allocates. */
	xengnttab_grant_copy_segment_t segs[TD_XPORT_COPY_MAX];
	struct xen_queue q[TD_SHM_MAX_QUEUES];
};

static struct xen_xport *to_xen(struct td_xport *xp)
{
	return (struct xen_xport *)xp;
}

static int xen_map_ring(struct td_xport *xp, const uint32_t *refs,
			unsigned n, void **addr)
{
	struct xen_xport *x = to_xen(xp);
	uint32_t r[TD_SHM_MAX_RING_PAGES];
	void *p;

	if (n == 0 || n > TD_SHM_MAX_RING_PAGES)
		return -EINVAL;
	/* The library takes a non-const array. */
	memcpy(r, refs, n * sizeof(*r));
	p = xengnttab_map_domain_grant_refs(x->xgt, n, x->domid, r,
					    PROT_READ | PROT_WRITE);
	if (!p)
		return errno ? -errno : -EINVAL;
	*addr = p;
	return 0;
}

static void xen_unmap_ring(struct td_xport *xp, void *addr, unsigned n)
{
	xengnttab_unmap(to_xen(xp)->xgt, addr, n);
}

static int gntst_to_errno(int16_t st)
{
	switch (st) {
	case GNTST_okay:
		return 0;
	case GNTST_bad_domain:
		return -ESRCH;
	case GNTST_bad_gntref:
	case GNTST_bad_virt_addr:
		return -EINVAL;
	case GNTST_permission_denied:
		return -EPERM;
	default:
		return -EIO;
	}
}

static int xen_copy(struct td_xport *xp, struct td_xport_copy *c, unsigned n,
		    bool to_guest)
{
	struct xen_xport *x = to_xen(xp);
	int first = 0;
	unsigned i;

	if (n > TD_XPORT_COPY_MAX)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		xengnttab_grant_copy_segment_t *s = &x->segs[i];
		union xengnttab_copy_ptr *foreign, *local;

		memset(s, 0, sizeof(*s));
		if (to_guest) {
			s->flags = GNTCOPY_dest_gref;
			foreign = &s->dest;
			local = &s->source;
		} else {
			s->flags = GNTCOPY_source_gref;
			foreign = &s->source;
			local = &s->dest;
		}
		foreign->foreign.ref = c[i].gref;
		foreign->foreign.offset = c[i].offset;
		foreign->foreign.domid = (uint16_t)x->domid;
		local->virt = c[i].local;
		s->len = c[i].len;
	}
	if (xengnttab_grant_copy(x->xgt, n, x->segs) < 0) {
		int err = errno ? -errno : -EIO;

		for (i = 0; i < n; i++)
			c[i].status = err;
		return err;
	}
	for (i = 0; i < n; i++) {
		c[i].status = gntst_to_errno(x->segs[i].status);
		if (c[i].status && !first)
			first = c[i].status;
	}
	return first;
}

static int xen_map_grant(struct td_xport *xp, uint32_t gref, void **addr)
{
	struct xen_xport *x = to_xen(xp);
	void *p;

	p = xengnttab_map_grant_ref(x->xgt, x->domid, gref,
				    PROT_READ | PROT_WRITE);
	if (!p)
		return errno ? -errno : -EINVAL;
	*addr = p;
	return 0;
}

static void xen_unmap_grant(struct td_xport *xp, void *addr)
{
	xengnttab_unmap(to_xen(xp)->xgt, addr, 1);
}

static int xen_evtchn_bind(struct td_xport *xp, unsigned q, uint32_t port)
{
	struct xen_xport *x = to_xen(xp);
	xenevtchn_port_or_error_t lp;

	if (q >= xp->nr_queues || x->q[q].bound)
		return -EINVAL;
	lp = xenevtchn_bind_interdomain(x->q[q].xce, x->domid, port);
	if (lp < 0)
		return errno ? -errno : -EINVAL;
	x->q[q].local_port = (evtchn_port_t)lp;
	x->q[q].bound = true;
	return 0;
}

static int xen_evtchn_fd(struct td_xport *xp, unsigned q)
{
	struct xen_xport *x = to_xen(xp);

	return q < xp->nr_queues ? xenevtchn_fd(x->q[q].xce) : -EINVAL;
}

static int xen_evtchn_ack(struct td_xport *xp, unsigned q)
{
	struct xen_xport *x = to_xen(xp);
	xenevtchn_port_or_error_t p;

	if (q >= xp->nr_queues || !x->q[q].bound)
		return -EINVAL;
	/*
	 * The fd is non-blocking (see td_xport_xen_create), so nothing
	 * pending is EAGAIN rather than a sleep: no poll() first, which
	 * would be one more syscall per wakeup.
	 */
	p = xenevtchn_pending(x->q[q].xce);
	if (p < 0)
		return errno == EAGAIN ? 0 : errno ? -errno : -EIO;
	/* The handle has only this queue's port bound. */
	if (xenevtchn_unmask(x->q[q].xce, (evtchn_port_t)p) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static int xen_evtchn_notify(struct td_xport *xp, unsigned q)
{
	struct xen_xport *x = to_xen(xp);

	if (q >= xp->nr_queues || !x->q[q].bound)
		return -EINVAL;
	if (xenevtchn_notify(x->q[q].xce, x->q[q].local_port) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static void xen_evtchn_unbind(struct td_xport *xp, unsigned q)
{
	struct xen_xport *x = to_xen(xp);

	if (q >= xp->nr_queues || !x->q[q].bound)
		return;
	xenevtchn_unbind(x->q[q].xce, x->q[q].local_port);
	x->q[q].bound = false;
}

static void xen_destroy(struct td_xport *xp)
{
	struct xen_xport *x = to_xen(xp);
	unsigned q;

	for (q = 0; q < xp->nr_queues; q++) {
		xen_evtchn_unbind(xp, q);
		if (x->q[q].xce)
			xenevtchn_close(x->q[q].xce);
	}
	if (x->xgt)
		xengnttab_close(x->xgt);
	free(x);
}

static const struct td_xport_ops xen_ops = {
	.name = "xen",
	.map_ring = xen_map_ring,
	.unmap_ring = xen_unmap_ring,
	.copy = xen_copy,
	.map_grant = xen_map_grant,
	.unmap_grant = xen_unmap_grant,
	.evtchn_bind = xen_evtchn_bind,
	.evtchn_fd = xen_evtchn_fd,
	.evtchn_ack = xen_evtchn_ack,
	.evtchn_notify = xen_evtchn_notify,
	.evtchn_unbind = xen_evtchn_unbind,
	.destroy = xen_destroy,
};

int td_xport_xen_create(uint32_t domid, unsigned nq, struct td_xport **out)
{
	struct xen_xport *x;
	unsigned q;
	int err, fd, fl;

	if (nq == 0 || nq > TD_SHM_MAX_QUEUES || domid >= 0x7ff0)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->xp.ops = &xen_ops;
	x->xp.nr_queues = nq;
	x->domid = domid;
	snprintf(x->xp.name, sizeof(x->xp.name), "xen dom %u", domid);
	x->xgt = xengnttab_open(NULL, 0);
	if (!x->xgt)
		goto fail;
	for (q = 0; q < nq; q++) {
		x->q[q].xce = xenevtchn_open(NULL, 0);
		if (!x->q[q].xce)
			goto fail;
		fd = xenevtchn_fd(x->q[q].xce);
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			goto fail;
	}
	*out = &x->xp;
	return 0;
fail:
	err = errno ? -errno : -ENODEV;
	xen_destroy(&x->xp);
	return err;
}
