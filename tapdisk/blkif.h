/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The blkif ring service: serves a guest's (or td-blkfront's) block rings
 * for one VBD, over any transport (tapdisk/xport.h). One struct td_blkif
 * is one connected frontend device: its negotiated parameters and one ring
 * per queue, each with its event channel, preallocated request slots, copy
 * buffers and persistent-grant pool. Design: docs/ring.md.
 *
 * Callers: the shm export (tapdisk/export-shm.c) today, the xenstore
 * backend later; both fill a struct td_blkif_front (include/td-shm.h) from
 * what the frontend published and call td_blkif_connect. Everything here
 * runs on the loop thread.
 */
#ifndef TD_BLKIF_H
#define TD_BLKIF_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "td-shm.h"

struct td_vbd;
struct td_xport;
struct td_blkif;

/* Backend limits and pool sizes; 0 in a field means the default. */
struct td_blkif_config {
	unsigned max_queues;     /* multi-queue-max-queues, default 4, <= 16 */
	unsigned max_ring_order; /* max-ring-page-order, default 4, <= 4 */
	unsigned max_indirect;   /* feature-max-indirect-segments, default
				    256, <= 256; see no_indirect */
	bool no_indirect;        /* do not offer BLKIF_OP_INDIRECT */
	bool no_persistent;      /* do not offer feature-persistent */
	unsigned slots;          /* request slots per ring, default
				    min(ring size, 256) */
	unsigned data_pages;     /* copy-buffer pages per ring, default
				    slots * 11, at least one maximal request */
	unsigned pgrants;        /* persistent mappings per ring, default
				    1056 (blkback's default) */
};

/*
 * Fills @out with what the backend advertises for @vbd (which must be
 * open or paused: size and capabilities are known) under @cfg (NULL:
 * defaults). Control path.
 */
void td_blkif_advertise(const struct td_vbd *vbd,
			const struct td_blkif_config *cfg,
			struct td_blkif_back *out);

/*
 * Checks the frontend's parameters against what was advertised: ring
 * order, queue count, protocol, ring refs present. Returns 0 or -EINVAL
 * with a reason in @err (@errlen bytes).
 */
int td_blkif_check_front(const struct td_blkif_back *adv,
			 const struct td_blkif_front *front, char *err,
			 size_t errlen);

/*
 * Called when the VBD closes under a connection: the owner drops its
 * handle (it must not call td_blkif_disconnect afterwards; the connection
 * frees itself when drained).
 */
typedef void (*td_blkif_gone_fn)(void *arg);

/*
 * Connects @front's rings on @vbd: validates @front, maps every ring,
 * binds every queue's event channel (@ports[q] on Xen, NULL on shm),
 * preallocates slots, buffers and grant pools, registers one VBD frontend
 * per ring and starts serving. On success the connection owns @xp and
 * *@out stays valid until td_blkif_disconnect or @gone. On failure @xp is
 * still the caller's, @err says why, and -EINVAL/-ENOMEM/-errno is
 * returned. Control path (allocates).
 */
int td_blkif_connect(struct td_vbd *vbd, struct td_xport *xp,
		     const struct td_blkif_front *front,
		     const uint32_t *ports, const struct td_blkif_config *cfg,
		     td_blkif_gone_fn gone, void *gone_arg,
		     struct td_blkif **out, char *err, size_t errlen);

/*
 * Disconnects: stops consuming every ring and unregisters from the VBD.
 * Requests in flight finish (their responses are still written); the
 * connection then unmaps everything, destroys the transport and frees
 * itself. The caller must not use @b afterwards.
 */
void td_blkif_disconnect(struct td_blkif *b);

/*
 * Registers @fn(@arg) to run once @b is completely torn down (every
 * in-flight request answered, everything unmapped, the transport
 * destroyed), after td_blkif_disconnect or a VBD close; @fn NULL clears
 * it. Until then @b stays a valid handle for this call only. Used by the
 * xenstore backend to write Closed only after draining. Loop thread.
 */
void td_blkif_on_freed(struct td_blkif *b, void (*fn)(void *arg), void *arg);

/*
 * The VBD grew (td_vbd_resume_resized): serve and advertise its new size.
 * Loop thread.
 */
void td_blkif_resized(struct td_blkif *b);

/*
 * The shm ring listener export (tapdisk/export-shm.c), listed in
 * tapdisk/exports.c: one socket per open VBD, TD_SHM_SOCK_FMT.
 */
struct td_export_ops;
extern const struct td_export_ops td_export_shm;

/* Per-ring counters, for stats, describe and tests. */
struct td_blkif_ring_stats {
	uint64_t requests;      /* consumed from the ring */
	uint64_t rsp_okay, rsp_error, rsp_eopnotsupp;
	uint64_t stalls;        /* times consumption stopped for lack of
				   slots or buffers */
	uint64_t notifies;      /* event channel notifications sent */
	uint64_t pg_hits, pg_maps, pg_evictions, pg_fallbacks;
	unsigned pg_mapped;     /* persistent mappings held now */
	unsigned inflight;      /* slots in use now */
	unsigned max_inflight;
	bool broken;
};

/* Number of rings (queues) of @b. */
unsigned td_blkif_nr_rings(const struct td_blkif *b);

/* Copies ring @q's counters into @st. Returns 0 or -EINVAL. */
int td_blkif_ring_stats(const struct td_blkif *b, unsigned q,
			struct td_blkif_ring_stats *st);

/* Negotiated values of @b, as the frontend sees them. */
const struct td_blkif_back *td_blkif_advertised(const struct td_blkif *b);
bool td_blkif_persistent(const struct td_blkif *b);

#endif
