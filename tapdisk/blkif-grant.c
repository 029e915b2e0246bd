// SPDX-License-Identifier: GPL-2.0-only
/*
 * Data buffers of ring requests: persistent grant mappings (a bounded pool
 * with LRU eviction of unused mappings) or copy pages from the ring's
 * preallocated page pool. Both are decided per segment, so a request whose
 * grants do not fit the pool still runs, by copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "blkif-priv.h"

int blkif_pgpool_init(struct blkif_pgpool *p, unsigned n)
{
	unsigned nb = 1, i;

	memset(p, 0, sizeof(*p));
	td_list_init(&p->free);
	td_list_init(&p->lru);
	if (n == 0)
		return 0;
	while (nb < 2 * n)
		nb *= 2;
	p->ents = calloc(n, sizeof(*p->ents));
	p->buckets = calloc(nb, sizeof(*p->buckets));
	if (!p->ents || !p->buckets) {
		free(p->ents);
		free(p->buckets);
		p->ents = NULL;
		p->buckets = NULL;
		return -ENOMEM;
	}
	p->nents = n;
	p->mask = nb - 1;
	for (i = 0; i < n; i++) {
		td_list_init(&p->ents[i].lru);
		td_list_add_tail(&p->ents[i].lru, &p->free);
	}
	return 0;
}

void blkif_pgpool_fini(struct blkif_pgpool *p, struct td_xport *xp)
{
	unsigned i;

	for (i = 0; i < p->nents; i++)
		if (p->ents[i].mapped)
			xp->ops->unmap_grant(xp, p->ents[i].addr);
	free(p->ents);
	free(p->buckets);
	memset(p, 0, sizeof(*p));
}

static unsigned pg_hash(const struct blkif_pgpool *p, uint32_t gref)
{
	return (gref * 2654435761u) & p->mask;
}

static struct blkif_pgrant *pg_lookup(struct blkif_pgpool *p, uint32_t gref)
{
	struct blkif_pgrant *e = p->buckets[pg_hash(p, gref)];

	while (e && e->gref != gref)
		e = e->hnext;
	return e;
}

static void pg_unhash(struct blkif_pgpool *p, struct blkif_pgrant *e)
{
	struct blkif_pgrant **pp = &p->buckets[pg_hash(p, e->gref)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
}

/*
 * Returns the mapping of @gref with its use count raised, or NULL with
 * *@err 0 when the pool is full of mappings in use (the caller copies
 * instead) or -errno when the grant cannot be mapped.
 */
static struct blkif_pgrant *pg_get(struct blkif_ring *r, uint32_t gref,
				   int *err)
{
	struct blkif_pgpool *p = &r->pgp;
	struct td_xport *xp = r->conn->xp;
	struct blkif_pgrant *e;
	struct td_list *n;

	*err = 0;
	e = pg_lookup(p, gref);
	if (e) {
		if (e->in_use++ == 0)
			td_list_del(&e->lru);
		r->st.pg_hits++;
		return e;
	}
	n = td_list_pop(&p->free);
	if (!n) {
		/* Evict the least recently used mapping nobody is using. */
		n = td_list_pop(&p->lru);
		if (!n) {
			r->st.pg_fallbacks++;
			return NULL;
		}
		e = td_list_entry(n, struct blkif_pgrant, lru);
		pg_unhash(p, e);
		xp->ops->unmap_grant(xp, e->addr);
		e->mapped = false;
		p->mapped--;
		r->st.pg_evictions++;
	} else {
		e = td_list_entry(n, struct blkif_pgrant, lru);
	}
	*err = xp->ops->map_grant(xp, gref, &e->addr);
	if (*err) {
		td_list_add(&e->lru, &p->free);
		return NULL;
	}
	e->gref = gref;
	e->mapped = true;
	e->in_use = 1;
	e->hnext = p->buckets[pg_hash(p, gref)];
	p->buckets[pg_hash(p, gref)] = e;
	p->mapped++;
	r->st.pg_maps++;
	return e;
}

static void pg_put(struct blkif_pgpool *p, struct blkif_pgrant *e)
{
	if (--e->in_use == 0)
		td_list_add_tail(&e->lru, &p->lru);
}

static void release_segs(struct blkif_ring *r, struct blkif_slot *s,
			 unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (s->pg[i]) {
			pg_put(&r->pgp, s->pg[i]);
			s->pg[i] = NULL;
		}
		if (s->page[i] != BLKIF_NO_PAGE) {
			r->free_pages[r->nfree++] = s->page[i];
			s->page[i] = BLKIF_NO_PAGE;
		}
	}
}

static uint8_t *seg_base(struct blkif_ring *r, struct blkif_slot *s,
			 unsigned i)
{
	if (s->pg[i])
		return s->pg[i]->addr;
	return r->data + (size_t)s->page[i] * BLKIF_PAGE_SIZE;
}

/* Builds s->iov, merging segments that are contiguous in our memory. */
static void build_iov(struct blkif_ring *r, struct blkif_slot *s)
{
	unsigned i, n = 0;

	for (i = 0; i < s->nseg; i++) {
		uint8_t *b = seg_base(r, s, i) +
			     (size_t)s->segs[i].first * TD_SECTOR_SIZE;
		size_t len = (size_t)(s->segs[i].last - s->segs[i].first + 1) *
			     TD_SECTOR_SIZE;

		if (n && (uint8_t *)s->iov[n - 1].iov_base +
				     s->iov[n - 1].iov_len == b) {
			s->iov[n - 1].iov_len += len;
			continue;
		}
		s->iov[n].iov_base = b;
		s->iov[n].iov_len = len;
		n++;
	}
	s->niov = (uint16_t)n;
}

int blkif_data_acquire(struct blkif_ring *r, struct blkif_slot *s)
{
	unsigned i, need = 0;
	int err;

	for (i = 0; i < s->nseg; i++) {
		s->pg[i] = NULL;
		s->page[i] = BLKIF_NO_PAGE;
	}
	if (r->conn->persistent) {
		for (i = 0; i < s->nseg; i++) {
			s->pg[i] = pg_get(r, s->segs[i].gref, &err);
			if (err) {
				release_segs(r, s, i);
				return -EINVAL;
			}
			if (!s->pg[i])
				need++;
		}
	} else {
		need = s->nseg;
	}
	if (need > r->nfree) {
		release_segs(r, s, s->nseg);
		return -EAGAIN;
	}
	for (i = 0; i < s->nseg; i++)
		if (!s->pg[i])
			s->page[i] = r->free_pages[--r->nfree];
	build_iov(r, s);
	s->has_data = true;
	return 0;
}

/* Copies every copy-page segment of @s in batches. */
static int copy_segs(struct blkif_ring *r, struct blkif_slot *s,
		     bool to_guest)
{
	struct td_xport *xp = r->conn->xp;
	unsigned i, n = 0;
	int err = 0, e;

	for (i = 0; i < s->nseg; i++) {
		struct td_xport_copy *c;
		unsigned off;

		if (s->page[i] == BLKIF_NO_PAGE)
			continue;
		off = s->segs[i].first * TD_SECTOR_SIZE;
		c = &r->copy[n++];
		c->gref = s->segs[i].gref;
		c->offset = (uint16_t)off;
		c->len = (uint16_t)((s->segs[i].last - s->segs[i].first + 1) *
				    TD_SECTOR_SIZE);
		c->local = r->data + (size_t)s->page[i] * BLKIF_PAGE_SIZE + off;
		c->status = 0;
		if (n == TD_XPORT_COPY_MAX) {
			e = xp->ops->copy(xp, r->copy, n, to_guest);
			if (e && !err)
				err = e;
			n = 0;
		}
	}
	if (n) {
		e = xp->ops->copy(xp, r->copy, n, to_guest);
		if (e && !err)
			err = e;
	}
	return err;
}

int blkif_data_copy_in(struct blkif_ring *r, struct blkif_slot *s)
{
	return copy_segs(r, s, false);
}

int blkif_data_copy_out(struct blkif_ring *r, struct blkif_slot *s)
{
	return copy_segs(r, s, true);
}

void blkif_data_release(struct blkif_ring *r, struct blkif_slot *s)
{
	if (!s->has_data)
		return;
	release_segs(r, s, s->nseg);
	s->has_data = false;
}

int blkif_grant_read(struct blkif_ring *r, uint32_t gref, void *dst,
		     uint16_t len)
{
	struct td_xport *xp = r->conn->xp;
	struct blkif_pgrant *e = NULL;
	struct td_xport_copy c;
	int err = 0;

	/*
	 * A persistent frontend keeps its indirect pages granted like its
	 * data pages (and counts them in the grants it may keep mapped), so
	 * the pool serves them too, without a grant copy syscall per
	 * request. The copy lands in our memory either way: the frontend
	 * may rewrite its page while we parse.
	 */
	if (r->conn->persistent) {
		e = pg_get(r, gref, &err);
		if (err)
			return -EINVAL;
	}
	if (e) {
		memcpy(dst, e->addr, len);
		pg_put(&r->pgp, e);
		return 0;
	}
	c.gref = gref;
	c.offset = 0;
	c.len = len;
	c.local = dst;
	c.status = 0;
	return xp->ops->copy(xp, &c, 1, false) ? -EINVAL : 0;
}
