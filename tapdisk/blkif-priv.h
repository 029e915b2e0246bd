/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internals of the ring service, shared by blkif.c (connection),
 * blkif-ring.c (consume, validate, dispatch, respond), blkif-grant.c (data
 * buffers and persistent grants) and blkif-abi.c (request layouts). Not
 * for use outside tapdisk/blkif*.c.
 */
#ifndef TD_BLKIF_PRIV_H
#define TD_BLKIF_PRIV_H

#include <stdint.h>
#include <stdbool.h>
#include <sys/uio.h>
#include <xen/io/blkif.h> /* needs <stdint.h> first */
#include "td-list.h"
#include "td-log.h"
#include "td-shm.h"
#include "loop.h"
#include "req.h"
#include "vbd.h"
#include "xport.h"
#include "blkif.h"

/* blkif protocol facts (xen/io/blkif.h), kept here so layouts are ours. */
#define BLKIF_PAGE_SIZE 4096u
#define BLKIF_SECTORS_PER_PAGE 8u
#define BLKIF_MAX_SEGS 11u              /* direct segments per request */
#define BLKIF_MAX_INDIRECT_PAGES 8u
#define BLKIF_SEG_SIZE 8u               /* gref u32, first u8, last u8, pad */
#define BLKIF_SEGS_PER_IPAGE (BLKIF_PAGE_SIZE / BLKIF_SEG_SIZE)
#define BLKIF_SRING_HDR 64u             /* req_prod .. __pad[44] */
#define BLKIF_MAX_ENTRY 112u            /* largest request entry */

/* A data segment, copied out of the ring or an indirect page. */
struct blkif_seg {
	uint32_t gref;
	uint8_t first, last;
};

/* A request decoded from any ABI into one form. */
struct blkif_msg {
	uint8_t operation;  /* as on the ring; echoed unless INDIRECT */
	uint8_t op;         /* effective: indirect_op for INDIRECT */
	uint8_t flag;       /* DISCARD: BLKIF_DISCARD_SECURE */
	uint16_t nseg;
	uint64_t id;
	uint64_t sector;
	uint64_t nr_sectors; /* DISCARD */
	uint32_t igrefs[BLKIF_MAX_INDIRECT_PAGES];
	struct blkif_seg seg[BLKIF_MAX_SEGS]; /* direct requests */
};

/* Byte layout of one request ABI. */
struct blkif_abi {
	const char *name;      /* as in "protocol" ("" for native) */
	unsigned entry_size;   /* ring entry stride */
	unsigned rsp_size;
	unsigned id_off, sector_off, seg_off; /* READ/WRITE/FLUSH/BARRIER */
	unsigned dnr_off;                     /* DISCARD nr_sectors */
	unsigned i_id_off, i_sector_off, i_grefs_off; /* INDIRECT */
};

/* Looks up a "protocol" value; NULL if unknown. */
const struct blkif_abi *blkif_abi_lookup(const char *protocol);
/* Decodes the request entry @raw (entry_size bytes, our private copy). */
void blkif_abi_decode(const struct blkif_abi *abi, const uint8_t *raw,
		      struct blkif_msg *m);
/* Writes a response into the ring entry @entry (shared memory). */
void blkif_abi_put_rsp(const struct blkif_abi *abi, uint8_t *entry,
		       uint64_t id, uint8_t op, int16_t status);
/* Entries in a ring of @npages pages: a power of two. */
uint32_t blkif_abi_ring_size(const struct blkif_abi *abi, unsigned npages);

/* One persistent grant mapping. */
struct blkif_pgrant {
	uint32_t gref;
	void *addr;
	unsigned in_use;            /* segments in flight using it */
	struct blkif_pgrant *hnext; /* hash chain */
	struct td_list lru;         /* lru list if mapped and unused, else
				       free list if unmapped */
	bool mapped;
};

struct blkif_pgpool {
	struct blkif_pgrant *ents;
	unsigned nents;
	struct blkif_pgrant **buckets;
	unsigned mask;              /* buckets - 1 */
	struct td_list free;        /* unmapped entries */
	struct td_list lru;         /* mapped, unused; head = oldest */
	unsigned mapped;
};

enum blkif_phase {
	PH_IDLE,
	PH_FLUSH,  /* FLUSH/BARRIER: cache flush in progress */
	PH_IO,     /* the data transfer / discard in progress */
};

struct blkif_ring;

struct blkif_slot {
	struct td_req req;
	struct blkif_ring *ring;
	struct td_list link;     /* free list */
	uint64_t id;
	uint8_t rsp_op;          /* operation echoed in the response */
	uint8_t op;              /* effective op */
	uint8_t flag;
	enum blkif_phase phase;
	uint16_t nseg;
	uint16_t niov;
	uint64_t sector, nr_sectors;
	bool has_data;           /* buffers acquired */
	struct blkif_seg *segs;  /* [max_segs] */
	struct iovec *iov;       /* [max_segs] */
	uint32_t *page;          /* [max_segs] data page or NO_PAGE */
	struct blkif_pgrant **pg;/* [max_segs] persistent grant or NULL */
};

#define BLKIF_NO_PAGE UINT32_MAX

struct td_blkif;

struct blkif_ring {
	struct td_blkif *conn;
	unsigned q;
	char name[32];                /* "vbd 3 ring 1" */
	struct td_vbd_frontend fe;
	bool fe_added;
	struct td_loop_fd evt;
	struct td_loop_poller poller;
	bool bound;
	struct td_loop_defer process_defer;
	struct td_loop_defer push_defer;

	/* The shared ring and our private indexes. */
	uint8_t *sring;
	unsigned npages;
	uint32_t size;
	uint32_t req_cons, rsp_prod_pvt;

	/* Slots: preallocated at connect. */
	struct blkif_slot *slots;
	unsigned nslots;
	struct td_list free_slots;
	unsigned inflight;            /* slots taken, including held */
	struct blkif_slot *held;      /* waiting for buffers or a drain */
	bool barrier;                 /* barrier pending: consume nothing */
	bool stalled;                 /* stopped for lack of slots/buffers */
	bool broken;

	/* Per-segment arrays behind the slots. */
	struct blkif_seg *seg_pool;
	struct iovec *iov_pool;
	uint32_t *pageidx_pool;
	struct blkif_pgrant **pg_pool;

	/* Copy buffers: page-aligned, so O_DIRECT works on them. */
	uint8_t *data;
	size_t data_len;
	unsigned ndata;
	uint32_t *free_pages;         /* stack */
	unsigned nfree;

	struct blkif_pgpool pgp;
	struct td_xport_copy copy[TD_XPORT_COPY_MAX];
	uint8_t ipage[BLKIF_PAGE_SIZE]; /* indirect descriptors, copied */

	struct td_ratelimit rl;
	struct td_blkif_ring_stats st;
};

struct td_blkif {
	struct td_vbd *vbd;
	struct td_loop *loop;
	struct td_xport *xp;
	const struct blkif_abi *abi;
	struct td_blkif_back adv;
	unsigned nq, order;
	bool persistent;
	unsigned max_indirect;       /* 0: INDIRECT not offered */
	unsigned max_segs;           /* per slot: max(11, max_indirect) */
	uint64_t size_sectors;
	bool readonly;
	bool dead;                   /* disconnected, draining */
	td_blkif_gone_fn gone;
	void *gone_arg;
	struct td_loop_defer free_defer;
	void (*freed)(void *arg);    /* td_blkif_on_freed */
	void *freed_arg;
	struct blkif_ring *rings;
};

/* blkif-ring.c */
void blkif_ring_evt_cb(struct td_loop_fd *f, uint32_t events);
/* The ring's loop poller: consume requests found without a notification,
 * and arm req_event before the loop sleeps. Loop thread. */
bool blkif_ring_poll_cb(struct td_loop_poller *p);
bool blkif_ring_arm_cb(struct td_loop_poller *p);
void blkif_ring_process_cb(struct td_loop_defer *d);
void blkif_ring_push_cb(struct td_loop_defer *d);
/* Schedules the ring to look at its input again (from any context). */
void blkif_ring_kick(struct blkif_ring *r);
/* Called by blkif.c when a connection may be freed. */
void blkif_conn_maybe_free(struct td_blkif *b);

/* blkif-grant.c */
int blkif_pgpool_init(struct blkif_pgpool *p, unsigned n);
/* Unmaps everything (no entry may be in use) and frees the pool. */
void blkif_pgpool_fini(struct blkif_pgpool *p, struct td_xport *xp);
/*
 * Acquires a buffer for every segment of @s (persistent mapping or copy
 * page) and builds s->iov. Returns 0, -EAGAIN (not enough copy pages:
 * nothing held, retry later) or -EINVAL (bad grant).
 */
int blkif_data_acquire(struct blkif_ring *r, struct blkif_slot *s);
/* Copies guest data into the copy pages (WRITE). 0 or -errno. */
int blkif_data_copy_in(struct blkif_ring *r, struct blkif_slot *s);
/* Copies read data from the copy pages to the guest (READ). */
int blkif_data_copy_out(struct blkif_ring *r, struct blkif_slot *s);
/* Returns the pages and mappings of @s. */
void blkif_data_release(struct blkif_ring *r, struct blkif_slot *s);
/*
 * Copies the first @len bytes of granted page @gref into @dst (ours):
 * from its persistent mapping when the ring has them, else by grant copy.
 * Returns 0 or -EINVAL (bad grant). Loop thread.
 */
int blkif_grant_read(struct blkif_ring *r, uint32_t gref, void *dst,
		     uint16_t len);

#endif
