/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The frontend side of the shm transport (include/td-shm.h): plays a Xen
 * guest's blkfront against a tapdisk VBD. One memfd stands in for the
 * guest's granted pages (grant reference = page index), a pair of eventfds
 * per queue for its event channel, one unix socket for xenstore.
 *
 * Layout of the memfd: the ring pages of every queue, then each request
 * slot's indirect pages, then the data pages. With persistent grants each
 * slot owns a fixed set of data pages (reused for every request, as Linux
 * blkfront reuses its persistent grants); without, data pages come from a
 * FIFO pool so a page is re-granted only long after it was released.
 *
 * Single-threaded: one struct td_bf_front is used by one thread. All
 * memory is allocated in td_bf_front_connect; submitting and completing
 * requests does not allocate.
 */
#ifndef TD_BF_FRONT_H
#define TD_BF_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "td-shm.h"
#include "bf-abi.h"

/*
 * A handshake other than the shm socket's QUERY/CONNECT: td-blkfront's
 * xenstore mode (bf-xenbus.c) plugs in here. Calls are made from
 * td_bf_front_connect and td_bf_front_close, on the caller's thread.
 */
struct td_bf_handshake {
	/* Fills @back with what the backend advertises (like QUERY). */
	int (*query)(void *arg, struct td_blkif_back *back, char *err,
		     size_t errlen);
	/*
	 * Hands @front and @nfds fds (td-shm.h CONNECT order) to the
	 * backend and waits until it connected; may refresh @back (sectors,
	 * info). Returns an fd that stays silent while connected and
	 * reports EOF when the backend disconnects, or -errno.
	 */
	int (*connect)(void *arg, const struct td_blkif_front *front,
		       const int *fds, unsigned nfds,
		       struct td_blkif_back *back, char *err, size_t errlen);
	/* Optional: the frontend is closing (before its fds close). */
	void (*close)(void *arg);
	void *arg;
};

/* What the user asks for; the connection uses min(asked, advertised). */
struct td_bf_opts {
	const struct td_bf_handshake *hs; /* NULL: sock_path's protocol */
	const char *sock_path;
	enum td_bf_abi abi;
	unsigned ring_order;   /* 0..TD_SHM_MAX_RING_ORDER */
	unsigned queues;       /* 1..TD_SHM_MAX_QUEUES */
	unsigned indirect;     /* wanted max indirect segments, 0 = none */
	bool persistent;
	unsigned nr_ios;       /* request slots (in-flight limit), >= 1 */
	unsigned timeout_ms;   /* longest wait for a response or reply */
};

/* What was negotiated, for verbs and reports. */
struct td_bf_conn_info {
	unsigned ring_order, queues, indirect, ring_slots;
	bool persistent;
	uint32_t nr_pages;     /* memfd size in pages: first invalid gref */
	unsigned max_segs;     /* largest request, in segments */
};

struct td_bf_front;
struct td_bf_io;

typedef void (*td_bf_done_fn)(struct td_bf_io *io, void *arg);

/* One request slot. Fields below "public" may be read by verbs. */
struct td_bf_io {
	/* public */
	struct td_bf_req req;  /* what was (or will be) put on the ring */
	int16_t status;        /* BLKIF_RSP_* once completed */
	uint8_t rsp_op;        /* operation echoed in the response */
	uint64_t submit_ns, complete_ns;
	td_bf_done_fn done;
	void *arg;
	uint64_t user;         /* free for the verb */
	unsigned nseg;
	struct blkif_request_segment *segs; /* [max_segs] */
	unsigned char **seg_page;           /* [max_segs], page of seg i */

	/* private */
	struct td_bf_front *f;
	unsigned idx;
	bool busy;
	uint32_t seq;
	uint32_t fixed_base;   /* persistent: first of its data pages */
	uint32_t ind_base;     /* first of its indirect pages */
	unsigned ind_pages;
	unsigned queue;
	struct td_bf_io *next_free;
};

/*
 * Asks the backend at @sock_path what it advertises (QUERY) without
 * connecting a ring. Returns 0 and fills @back, or -errno with a one-line
 * reason in @err.
 */
int td_bf_query(const char *sock_path, unsigned timeout_ms,
		struct td_blkif_back *back, char *err, size_t errlen);

/*
 * Connects: queries, negotiates, builds the memfd, rings and eventfds,
 * sends CONNECT and waits for the reply. Returns 0 and sets *out (free it
 * with td_bf_front_close), or -errno with a one-line reason in @err.
 */
int td_bf_front_connect(const struct td_bf_opts *opts,
			struct td_bf_front **out, char *err, size_t errlen);

/* Disconnects (closes the socket) and frees everything. */
void td_bf_front_close(struct td_bf_front *f);

/* The backend's advertisement and what was negotiated. */
const struct td_blkif_back *td_bf_front_back(const struct td_bf_front *f);
const struct td_bf_conn_info *td_bf_front_info(const struct td_bf_front *f);

/* Takes a free request slot; NULL if all are in flight. */
struct td_bf_io *td_bf_io_get(struct td_bf_front *f);

/* Returns a slot not submitted (or completed and done with). */
void td_bf_io_put(struct td_bf_io *io);

/*
 * Appends a segment for sectors [first, last] of a newly granted data
 * page and returns that page (the data lives at page + first * 512).
 * NULL if the request already has max_segs segments. Does not check
 * first/last, so malformed segments can be built.
 */
unsigned char *td_bf_io_add_seg(struct td_bf_io *io, unsigned first,
				unsigned last);

/*
 * Fills io->req for a READ, WRITE or WRITE_BARRIER of the segments added
 * so far starting at @sector: a direct request up to 11 segments, an
 * indirect one beyond (if negotiated; READ and WRITE only, as blkif
 * defines indirect_op). -EINVAL if it cannot be expressed.
 */
int td_bf_io_prep_rw(struct td_bf_io *io, uint8_t op, uint64_t sector);

/* Fills io->req for a FLUSH_DISKCACHE (no segments). */
void td_bf_io_prep_flush(struct td_bf_io *io);

/* Fills io->req for a DISCARD of @n sectors at @sector. */
void td_bf_io_prep_discard(struct td_bf_io *io, uint64_t sector, uint64_t n,
			   uint8_t flag);

/*
 * The slot's indirect pages (contiguous here, grefs consecutive from
 * *@gref); *@n gets their count, enough for one segment more than the
 * backend's maximum. NULL if the backend offers no indirect requests.
 */
unsigned char *td_bf_io_indirect_pages(struct td_bf_io *io, uint32_t *gref,
				       unsigned *n);

/*
 * Writes the segments of an indirect request into the slot's indirect
 * pages and points io->req.indirect_grefs at them (td_bf_io_prep_rw does
 * this; attacks call it after tampering with io->req). Writes @nseg
 * (<= max_segs) descriptors from io->segs and the grefs of the pages
 * they need.
 */
void td_bf_io_write_indirect(struct td_bf_io *io, unsigned nseg);

/*
 * Puts io->req (its id replaced by the slot's) on queue @q's ring. It is
 * seen by the backend after td_bf_front_kick. @io->done runs from
 * td_bf_front_poll. Returns 0, or -EBUSY if that ring is full, -EPIPE if
 * the connection is down.
 */
int td_bf_front_submit(struct td_bf_front *f, struct td_bf_io *io,
		       unsigned q);

/* Publishes submitted requests and notifies the backend if it asked. */
void td_bf_front_kick(struct td_bf_front *f);

/*
 * Reaps responses, calling each io's done; waits up to @timeout_ms
 * (0: do not wait, -1: the connection's timeout) for at least one.
 * Returns the number completed, -ETIMEDOUT, -EPIPE if the backend hung
 * up, or -EPROTO if it sent a response we never asked for (logged once).
 */
int td_bf_front_poll(struct td_bf_front *f, int timeout_ms);

/* Requests in flight. */
unsigned td_bf_front_inflight(const struct td_bf_front *f);

/* Pointer to grant page @gref of the memfd (gref < nr_pages). */
unsigned char *td_bf_front_page(struct td_bf_front *f, uint32_t gref);

/*
 * Attack helper: stores @req_prod into queue @q's shared producer index
 * and notifies, bypassing every check. Returns the ring's slot count.
 */
unsigned td_bf_front_force_req_prod(struct td_bf_front *f, unsigned q,
				    uint32_t req_prod);

/* Shared rsp_prod of queue @q as the backend last wrote it. */
uint32_t td_bf_front_rsp_prod(struct td_bf_front *f, unsigned q);

/* Monotonic clock in nanoseconds. */
uint64_t td_bf_now_ns(void);

#endif
