/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * struct td_req: the one request type of the data path. A frontend (ring,
 * NBD) owns the memory, preallocated when it connects, and passes requests
 * by pointer to td_vbd_submit; the VBD hands them to the leaf image, whose
 * driver performs them or forwards unowned ranges to its parent. Every
 * request is completed exactly once, through td_req_complete, from the loop
 * thread.
 */
#ifndef TD_REQ_H
#define TD_REQ_H

#include <stdint.h>
#include <sys/uio.h>
#include "td-list.h"

#define TD_SECTOR_SHIFT 9
#define TD_SECTOR_SIZE 512u

/* Largest iovec count a request may carry: 256 indirect segments + slack. */
#define TD_REQ_MAX_IOV 260

enum td_op {
	TD_OP_READ,
	TD_OP_WRITE,
	TD_OP_FLUSH,   /* durable: every write completed before it is stable */
	TD_OP_DISCARD, /* contents of the range become unspecified (or zero) */
	TD_OP_WRITE_ZEROES,
};

#define TD_REQ_FUA (1u << 0)           /* WRITE: durable before completion */
#define TD_REQ_NO_HOLE (1u << 1)       /* WRITE_ZEROES: keep allocation */
#define TD_REQ_DISCARD_SECURE (1u << 2) /* DISCARD: must erase */

struct td_vbd;
struct td_image;
struct td_req;

typedef void (*td_req_done_fn)(struct td_req *req, int err);

struct td_req {
	/* Set by the submitter before td_vbd_submit. */
	enum td_op op;
	unsigned flags;
	uint64_t sector;     /* first 512-byte sector */
	uint64_t nr_sectors; /* 0 only for FLUSH */
	struct iovec *iov;   /* READ/WRITE: exactly nr_sectors * 512 bytes */
	int iovcnt;
	td_req_done_fn done; /* called once with 0 or -errno */
	void *owner;         /* opaque to everyone but the submitter */

	/* Owned by the VBD while the request is inside it. */
	struct td_vbd *vbd;
	td_req_done_fn user_done; /* the submitter's done, restored at the end */
	struct td_list link; /* VBD wait queue / image forward queue */

	/* Owned by the image currently processing the request. */
	struct td_image *img;
	int err;             /* first error among parts */
	unsigned pending;    /* outstanding parts, see td_req_part_* */
	struct td_req *parent_req; /* set on forwarded sub-requests */
	void *drv_priv;      /* the current driver's per-request state */
};

/* Bytes covered by the request's sector range. */
static inline uint64_t td_req_bytes(const struct td_req *req)
{
	return req->nr_sectors << TD_SECTOR_SHIFT;
}

/*
 * Completes @req with @err (0 or -errno). Must be called exactly once per
 * request, from the loop thread; calls req->done, after which the request
 * belongs to its submitter again. Requires req->pending == 0 (no part
 * outstanding) and clears req->img. Debug builds poison req->pending on
 * completion to catch a second one; td_image_submit resets it, so code
 * that completes a reused request without passing it to an image (e.g.
 * the VBD failing an invalid one) sets req->pending = 0 first.
 */
void td_req_complete(struct td_req *req, int err);

/*
 * Split completion: a driver that issues a request as several parts calls
 * td_req_part_begin once per part before starting it, and td_req_part_end
 * when each part finishes. The request completes with the first error when
 * the last part ends. A driver must hold one extra part across its issuing
 * loop so an early completion cannot finish the request mid-loop.
 */
static inline void td_req_part_begin(struct td_req *req)
{
	req->pending++;
}

void td_req_part_end(struct td_req *req, int err);

/*
 * Copies @len bytes of the request's data buffer starting at byte @off
 * from/to @buf. Returns 0, or -EINVAL if the range is outside the buffer.
 */
int td_req_copy_from(const struct td_req *req, uint64_t off, void *buf,
		     uint64_t len);
int td_req_copy_to(struct td_req *req, uint64_t off, const void *buf,
		   uint64_t len);

/* Zeroes @len bytes of the data buffer from byte @off. */
int td_req_zero(struct td_req *req, uint64_t off, uint64_t len);

/*
 * Builds in @out (capacity @max) the iovec slice [@off, @off+@len) of the
 * request's buffer. Returns the entry count or -EINVAL/-E2BIG.
 */
int td_req_slice_iov(const struct td_req *req, uint64_t off, uint64_t len,
		     struct iovec *out, int max);

const char *td_op_name(enum td_op op);

#endif
