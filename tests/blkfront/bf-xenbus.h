/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-blkfront's xenstore mode: the frontend half of the blkif handshake
 * (xen/io/blkif.h, xen/io/xenbus.h) through libxenstore, as Linux's
 * blkfront does it, with the ring data over the xenbus shm test transport
 * (tapdisk/xenbus-shm.h). Plugs into td_bf_front_connect as a
 * struct td_bf_handshake. Single-threaded, blocking calls bounded by the
 * timeout.
 */
#ifndef TD_BF_XENBUS_H
#define TD_BF_XENBUS_H

#include <stddef.h>
#include <stdint.h>
#include "bf-front.h"

/* Deliberately bad frontend nodes, for the backend's error tests. */
enum td_bf_xs_garbage {
	TD_BF_XS_OK = 0,
	TD_BF_XS_RING_REF,   /* ring-ref is not a number */
	TD_BF_XS_ORDER,      /* ring-page-order above the advertised max */
	TD_BF_XS_NO_EVTCHN,  /* event-channel missing */
	TD_BF_XS_PROTOCOL,   /* unknown protocol */
	TD_BF_XS_QUEUES,     /* multi-queue-num-queues above the max */
};

/* Parses a garbage name (ring-ref, order, evtchn, protocol, queues). */
int td_bf_xs_garbage_parse(const char *s, enum td_bf_xs_garbage *g);

struct td_bf_xs;

/*
 * Opens xenstore (XENSTORED_PATH) for the frontend directory @fe (its
 * "backend" node names the backend). Returns 0 and *@out, or -errno with
 * a reason in @err.
 */
int td_bf_xs_open(const char *fe, unsigned timeout_ms,
		  enum td_bf_xs_garbage garbage, struct td_bf_xs **out,
		  char *err, size_t errlen);

/* The handshake to put in td_bf_opts.hs; valid while @x is. */
const struct td_bf_handshake *td_bf_xs_handshake(struct td_bf_xs *x);

/*
 * Waits up to @timeout_ms for the backend's "sectors" to differ from
 * @old (a resize: blkback rewrites sectors and state). Returns 0 and the
 * new value in *@now, or -ETIMEDOUT / -errno.
 */
int td_bf_xs_wait_sectors(struct td_bf_xs *x, uint64_t old,
			  unsigned timeout_ms, uint64_t *now);

/* Closes the xenstore connection (after td_bf_front_close). */
void td_bf_xs_close(struct td_bf_xs *x);

#endif
