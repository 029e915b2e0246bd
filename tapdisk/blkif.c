// SPDX-License-Identifier: GPL-2.0-only
/*
 * blkif connections: negotiation (what we advertise, what we accept), the
 * set-up of every ring with all its preallocated state, registration with
 * the VBD, and teardown once the last in-flight request has answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "blkif-priv.h"
#include "server.h"

#define DEF_QUEUES 4u
#define DEF_SLOTS_MAX 256u
#define DEF_PGRANTS 1056u

static void config_resolve(const struct td_blkif_config *in,
			   struct td_blkif_config *c)
{
	if (in)
		*c = *in;
	else
		memset(c, 0, sizeof(*c));
	if (!c->max_queues || c->max_queues > TD_SHM_MAX_QUEUES)
		c->max_queues = c->max_queues ? TD_SHM_MAX_QUEUES : DEF_QUEUES;
	if (!c->max_ring_order || c->max_ring_order > TD_SHM_MAX_RING_ORDER)
		c->max_ring_order = TD_SHM_MAX_RING_ORDER;
	if (!c->max_indirect || c->max_indirect > TD_SHM_MAX_INDIRECT_SEGS)
		c->max_indirect = TD_SHM_MAX_INDIRECT_SEGS;
	if (c->no_indirect)
		c->max_indirect = 0;
	if (!c->pgrants)
		c->pgrants = DEF_PGRANTS;
}

void td_blkif_advertise(const struct td_vbd *vbd,
			const struct td_blkif_config *cfg,
			struct td_blkif_back *out)
{
	struct td_blkif_config c;
	bool ro = !td_vbd_writable(vbd);

	config_resolve(cfg, &c);
	memset(out, 0, sizeof(*out));
	/* A flush is always honoured: without a cache it is trivially done. */
	out->feature_flush_cache = 1;
	out->feature_barrier = 1;
	if (vbd->caps & TD_CAP_DISCARD) {
		out->feature_discard = 1;
		/* A hint for frontends; any 512-byte range is accepted. */
		out->discard_granularity = BLKIF_PAGE_SIZE;
		out->discard_alignment = 0;
		out->discard_secure = !!(vbd->caps & TD_CAP_SECURE_DISCARD);
	}
	out->feature_persistent = !c.no_persistent;
	out->feature_max_indirect_segments = c.max_indirect;
	out->max_ring_page_order = c.max_ring_order;
	out->multi_queue_max_queues = c.max_queues;
	out->sectors = vbd->size_sectors;
	out->sector_size = TD_SECTOR_SIZE;
	out->physical_sector_size = TD_SECTOR_SIZE;
	out->info = ro ? VDISK_READONLY : 0;
	snprintf(out->mode, sizeof(out->mode), "%s", ro ? "r" : "w");
}

int td_blkif_check_front(const struct td_blkif_back *adv,
			 const struct td_blkif_front *f, char *err,
			 size_t errlen)
{
	if (f->ring_page_order > adv->max_ring_page_order) {
		snprintf(err, errlen, "ring-page-order %u > max-ring-page-order"
			 " %u", f->ring_page_order, adv->max_ring_page_order);
		return -EINVAL;
	}
	if (f->num_queues < 1 || f->num_queues > adv->multi_queue_max_queues) {
		snprintf(err, errlen, "multi-queue-num-queues %u not in 1..%u",
			 f->num_queues, adv->multi_queue_max_queues);
		return -EINVAL;
	}
	if (!memchr(f->protocol, '\0', sizeof(f->protocol)) ||
	    !blkif_abi_lookup(f->protocol)) {
		snprintf(err, errlen, "unknown protocol");
		return -EINVAL;
	}
	if (f->feature_persistent > 1) {
		snprintf(err, errlen, "feature-persistent must be 0 or 1");
		return -EINVAL;
	}
	return 0;
}

/* VBD frontend callbacks, one registration per ring --------------------- */

static void ring_fe_kick(struct td_vbd_frontend *fe)
{
	struct blkif_ring *r = fe->arg;

	if (!r->conn->dead)
		blkif_ring_kick(r);
}

static void conn_stop(struct td_blkif *b, bool unregister);

static void ring_fe_closing(struct td_vbd_frontend *fe)
{
	struct blkif_ring *r = fe->arg;
	struct td_blkif *b = r->conn;

	/* Only our own registration may go: the VBD is iterating the list. */
	td_vbd_frontend_del(b->vbd, fe);
	r->fe_added = false;
	if (b->dead)
		return;
	if (b->gone)
		b->gone(b->gone_arg);
	b->gone = NULL;
	/* The other rings get their own closing call and unregister then. */
	conn_stop(b, false);
}

static void ring_fe_describe(struct td_vbd_frontend *fe,
			     struct td_stats_sink *s)
{
	struct blkif_ring *r = fe->arg;
	struct td_blkif *b = r->conn;

	s->str(s, "transport", b->xp->ops->name);
	s->str(s, "peer", b->xp->name);
	s->u64(s, "queue", r->q);
	s->str(s, "protocol", b->abi->name[0] ? b->abi->name : "native");
	s->u64(s, "ring_pages", r->npages);
	s->u64(s, "ring_size", r->size);
	s->u64(s, "slots", r->nslots);
	s->u64(s, "persistent", b->persistent);
	s->u64(s, "broken", r->broken);
	s->u64(s, "inflight", r->inflight);
	s->u64(s, "requests", r->st.requests);
	s->u64(s, "rsp_error", r->st.rsp_error);
	s->u64(s, "rsp_eopnotsupp", r->st.rsp_eopnotsupp);
	s->u64(s, "stalls", r->st.stalls);
	s->u64(s, "pgrants_mapped", r->pgp.mapped);
	s->u64(s, "pgrant_evictions", r->st.pg_evictions);
	/* Segments served from a mapping, newly mapped, or copied because
	 * the pool was full of mappings in use. */
	s->u64(s, "pgrant_hits", r->st.pg_hits);
	s->u64(s, "pgrant_maps", r->st.pg_maps);
	s->u64(s, "pgrant_copies", r->st.pg_fallbacks);
}

static const struct td_vbd_frontend_ops ring_fe_ops = {
	.kind = "ring",
	.kick = ring_fe_kick,
	.closing = ring_fe_closing,
	.describe = ring_fe_describe,
};

/* Ring set-up and teardown -------------------------------------------- */

static void ring_free(struct td_blkif *b, struct blkif_ring *r)
{
	struct td_xport *xp = b->xp;

	td_loop_defer_cancel(b->loop, &r->process_defer);
	td_loop_defer_cancel(b->loop, &r->push_defer);
	td_loop_poller_del(b->loop, &r->poller);
	if (r->evt.registered)
		td_loop_fd_del(b->loop, &r->evt);
	if (r->bound)
		xp->ops->evtchn_unbind(xp, r->q);
	blkif_pgpool_fini(&r->pgp, xp);
	if (r->sring)
		xp->ops->unmap_ring(xp, r->sring, r->npages);
	if (r->data)
		munmap(r->data, r->data_len);
	free(r->free_pages);
	free(r->slots);
	free(r->seg_pool);
	free(r->iov_pool);
	free(r->pageidx_pool);
	free(r->pg_pool);
}

static int ring_alloc_pools(struct td_blkif *b, struct blkif_ring *r,
			    const struct td_blkif_config *c)
{
	size_t nseg;
	unsigned i;

	r->nslots = c->slots ? c->slots : DEF_SLOTS_MAX;
	if (r->nslots > r->size)
		r->nslots = r->size;
	nseg = (size_t)r->nslots * b->max_segs;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	r->seg_pool = calloc(nseg, sizeof(*r->seg_pool));
	r->iov_pool = calloc(nseg, sizeof(*r->iov_pool));
	r->pageidx_pool = calloc(nseg, sizeof(*r->pageidx_pool));
	r->pg_pool = calloc(nseg, sizeof(*r->pg_pool));
	if (!r->slots || !r->seg_pool || !r->iov_pool || !r->pageidx_pool ||
	    !r->pg_pool)
		return -ENOMEM;
	td_list_init(&r->free_slots);
	for (i = 0; i < r->nslots; i++) {
		struct blkif_slot *s = &r->slots[i];
		size_t base = (size_t)i * b->max_segs;

		s->ring = r;
		s->segs = r->seg_pool + base;
		s->iov = r->iov_pool + base;
		s->page = r->pageidx_pool + base;
		s->pg = r->pg_pool + base;
		td_list_add_tail(&s->link, &r->free_slots);
	}

	r->ndata = c->data_pages ? c->data_pages :
				   r->nslots * BLKIF_MAX_SEGS;
	/* One request of the largest size must always fit. */
	if (r->ndata < b->max_segs)
		r->ndata = b->max_segs;
	r->data_len = (size_t)r->ndata * BLKIF_PAGE_SIZE;
	r->data = mmap(NULL, r->data_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->data == MAP_FAILED) {
		r->data = NULL;
		return -ENOMEM;
	}
	r->free_pages = calloc(r->ndata, sizeof(*r->free_pages));
	if (!r->free_pages)
		return -ENOMEM;
	/* Pop order 0, 1, 2...: a request's pages tend to be contiguous. */
	for (i = 0; i < r->ndata; i++)
		r->free_pages[i] = r->ndata - 1 - i;
	r->nfree = r->ndata;
	return blkif_pgpool_init(&r->pgp, b->persistent ? c->pgrants : 0);
}

static int ring_setup(struct td_blkif *b, struct blkif_ring *r, unsigned q,
		      const struct td_blkif_front *f, const uint32_t *ports,
		      const struct td_blkif_config *c, char *err,
		      size_t errlen)
{
	struct td_xport *xp = b->xp;
	int rc;

	r->conn = b;
	r->q = q;
	snprintf(r->name, sizeof(r->name), "vbd %d ring %u", b->vbd->minor, q);
	r->rl = (struct td_ratelimit)TD_RATELIMIT_INIT;
	td_list_init(&r->process_defer.link);
	r->process_defer.cb = blkif_ring_process_cb;
	r->process_defer.arg = r;
	td_list_init(&r->push_defer.link);
	r->push_defer.cb = blkif_ring_push_cb;
	r->push_defer.arg = r;
	td_list_init(&r->pgp.free);
	td_list_init(&r->pgp.lru);
	td_list_init(&r->free_slots);

	r->npages = 1u << b->order;
	rc = xp->ops->map_ring(xp, f->ring_ref[q], r->npages,
			       (void **)&r->sring);
	if (rc) {
		r->sring = NULL;
		snprintf(err, errlen, "queue %u: cannot map ring refs", q);
		return rc;
	}
	r->size = blkif_abi_ring_size(b->abi, r->npages);
	rc = ring_alloc_pools(b, r, c);
	if (rc) {
		snprintf(err, errlen, "queue %u: out of memory", q);
		return rc;
	}
	rc = xp->ops->evtchn_bind(xp, q, ports ? ports[q] : 0);
	if (rc) {
		snprintf(err, errlen, "queue %u: cannot bind event channel",
			 q);
		return rc;
	}
	r->bound = true;
	r->evt.fd = xp->ops->evtchn_fd(xp, q);
	r->evt.events = TD_EV_IN;
	r->evt.cb = blkif_ring_evt_cb;
	r->evt.arg = r;
	rc = td_loop_fd_add(b->loop, &r->evt);
	if (rc) {
		snprintf(err, errlen, "queue %u: cannot watch event channel",
			 q);
		return rc;
	}
	r->poller.poll = blkif_ring_poll_cb;
	r->poller.arm = blkif_ring_arm_cb;
	r->poller.arg = r;
	td_loop_poller_add(b->loop, &r->poller);
	r->fe.ops = &ring_fe_ops;
	r->fe.arg = r;
	return 0;
}

static void conn_free(struct td_blkif *b)
{
	unsigned q;

	for (q = 0; q < b->nq; q++) {
		if (b->rings[q].fe_added)
			td_vbd_frontend_del(b->vbd, &b->rings[q].fe);
		if (b->rings[q].sring)
			blkif_ring_push_cb(&b->rings[q].push_defer);
		ring_free(b, &b->rings[q]);
	}
	td_loop_defer_cancel(b->loop, &b->free_defer);
	free(b->rings);
	if (b->xp)
		td_xport_destroy(b->xp);
	if (b->freed)
		b->freed(b->freed_arg);
	free(b);
}

static void conn_free_cb(struct td_loop_defer *d)
{
	conn_free(d->arg);
}

void blkif_conn_maybe_free(struct td_blkif *b)
{
	unsigned q;

	for (q = 0; q < b->nq; q++)
		if (b->rings[q].inflight)
			return;
	/* Deferred: we may be inside a completion of one of our requests. */
	td_loop_defer(b->loop, &b->free_defer);
}

/*
 * Stops consuming; the connection lives on until its requests answered.
 * @unregister: also drop every ring's VBD registration (not while the VBD
 * walks its frontend list).
 */
static void conn_stop(struct td_blkif *b, bool unregister)
{
	unsigned q;

	b->dead = true;
	for (q = 0; q < b->nq; q++) {
		struct blkif_ring *r = &b->rings[q];

		if (unregister && r->fe_added) {
			td_vbd_frontend_del(b->vbd, &r->fe);
			r->fe_added = false;
		}
		if (r->evt.registered)
			td_loop_fd_del(b->loop, &r->evt);
		td_loop_poller_del(b->loop, &r->poller);
		td_loop_defer_cancel(b->loop, &r->process_defer);
		if (r->held) {
			struct blkif_slot *s = r->held;

			/* Never started: it holds no buffers. */
			r->held = NULL;
			td_list_add(&s->link, &r->free_slots);
			r->inflight--;
		}
	}
	blkif_conn_maybe_free(b);
}

void td_blkif_disconnect(struct td_blkif *b)
{
	b->gone = NULL;
	if (!b->dead)
		conn_stop(b, true);
}

int td_blkif_connect(struct td_vbd *vbd, struct td_xport *xp,
		     const struct td_blkif_front *front,
		     const uint32_t *ports, const struct td_blkif_config *cfg,
		     td_blkif_gone_fn gone, void *gone_arg,
		     struct td_blkif **out, char *err, size_t errlen)
{
	struct td_blkif_config c;
	struct td_blkif *b;
	unsigned q;
	int rc;

	config_resolve(cfg, &c);
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	td_blkif_advertise(vbd, &c, &b->adv);
	rc = td_blkif_check_front(&b->adv, front, err, errlen);
	if (rc)
		goto fail_early;
	if (front->num_queues > xp->nr_queues) {
		snprintf(err, errlen, "%u queues but %u event channels",
			 front->num_queues, xp->nr_queues);
		rc = -EINVAL;
		goto fail_early;
	}
	b->vbd = vbd;
	b->loop = &vbd->srv->loop;
	b->abi = blkif_abi_lookup(front->protocol);
	b->nq = front->num_queues;
	b->order = front->ring_page_order;
	b->persistent = front->feature_persistent && b->adv.feature_persistent;
	b->max_indirect = b->adv.feature_max_indirect_segments;
	b->max_segs = b->max_indirect > BLKIF_MAX_SEGS ? b->max_indirect :
							 BLKIF_MAX_SEGS;
	b->size_sectors = vbd->size_sectors;
	b->readonly = !td_vbd_writable(vbd);
	td_list_init(&b->free_defer.link);
	b->free_defer.cb = conn_free_cb;
	b->free_defer.arg = b;
	b->rings = calloc(b->nq, sizeof(*b->rings));
	if (!b->rings) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail_early;
	}
	b->xp = xp;
	for (q = 0; q < b->nq; q++) {
		rc = ring_setup(b, &b->rings[q], q, front, ports, &c, err,
				errlen);
		if (rc) {
			b->nq = q + 1; /* free what was set up, this one too */
			goto fail;
		}
	}
	for (q = 0; q < b->nq; q++) {
		td_vbd_frontend_add(vbd, &b->rings[q].fe);
		b->rings[q].fe_added = true;
		/* Requests queued before we connected are served now. */
		blkif_ring_kick(&b->rings[q]);
	}
	b->gone = gone;
	b->gone_arg = gone_arg;
	td_info(TD_SUB_RING, "vbd %d: %s connected: %u queue(s), order %u, "
		"protocol %s, %s", vbd->minor, xp->name, b->nq, b->order,
		b->abi->name[0] ? b->abi->name : "native",
		b->persistent ? "persistent grants" : "grant copy");
	*out = b;
	return 0;
fail:
	for (q = 0; q < b->nq; q++)
		ring_free(b, &b->rings[q]);
	free(b->rings); /* @xp stays the caller's */
fail_early:
	free(b);
	return rc;
}

void td_blkif_on_freed(struct td_blkif *b, void (*fn)(void *arg), void *arg)
{
	b->freed = fn;
	b->freed_arg = arg;
}

void td_blkif_resized(struct td_blkif *b)
{
	/* Only growth reaches here (td_vbd_resume_resized refuses less). */
	b->size_sectors = b->vbd->size_sectors;
	b->adv.sectors = b->vbd->size_sectors;
}

unsigned td_blkif_nr_rings(const struct td_blkif *b)
{
	return b->nq;
}

int td_blkif_ring_stats(const struct td_blkif *b, unsigned q,
			struct td_blkif_ring_stats *st)
{
	const struct blkif_ring *r;

	if (q >= b->nq)
		return -EINVAL;
	r = &b->rings[q];
	*st = r->st;
	st->pg_mapped = r->pgp.mapped;
	st->inflight = r->inflight;
	st->broken = r->broken;
	return 0;
}

const struct td_blkif_back *td_blkif_advertised(const struct td_blkif *b)
{
	return &b->adv;
}

bool td_blkif_persistent(const struct td_blkif *b)
{
	return b->persistent;
}
