// SPDX-License-Identifier: GPL-2.0-only
/*
 * Serving one blkif ring: consume requests, validate them, run them on the
 * VBD, write responses. The guest is untrusted: the producer index is read
 * once per pass and checked, each request is copied into private memory
 * before anything looks at it, and nothing a request says can make us
 * touch memory outside the ring, our pools and the guest's grants.
 *
 * Flow control: a request is consumed only when a slot is free; a slot
 * that cannot get data buffers, or a barrier waiting for older requests to
 * drain, is "held" and the ring consumes nothing more until it starts.
 * Completions re-kick the ring. A pass consumes at most RING_PASS
 * requests, then yields to the loop: other rings get their turn, and the
 * requests of one pass reach the disk, complete and are answered before
 * the next pass is consumed (see RING_PASS).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "blkif-priv.h"

/*
 * Requests consumed per pass. Small passes pipeline: the frontend sees the
 * first answers (and refills the ring) while we still serve the rest,
 * instead of waiting for a whole ring's worth. With a frontend on another
 * CPU that halves the time the two sides spend waiting for each other;
 * with a depth of 32, passes of 8 beat passes of 16 or 32 by about 1.5x
 * on 4k reads (docs/performance.md), and cost one extra syscall or two per
 * pass.
 */
#define RING_PASS 8

#define SRING_REQ_PROD 0
#define SRING_REQ_EVENT 4
#define SRING_RSP_PROD 8
#define SRING_RSP_EVENT 12

static uint32_t *sring_idx(struct blkif_ring *r, unsigned off)
{
	return (uint32_t *)(r->sring + off);
}

static uint8_t *ring_entry(struct blkif_ring *r, uint32_t idx)
{
	return r->sring + BLKIF_SRING_HDR +
	       (size_t)(idx & (r->size - 1)) * r->conn->abi->entry_size;
}

static void conn_rl_log(struct blkif_ring *r, const char *what, uint64_t id)
{
	td_log_ratelimited(&r->rl, TD_LOG_WARN, TD_SUB_RING,
			   "%s: rejected request id %" PRIu64 ": %s", r->name,
			   id, what);
}

/* Response handling ---------------------------------------------------- */

static void ring_respond(struct blkif_ring *r, uint64_t id, uint8_t op,
			 int16_t status)
{
	blkif_abi_put_rsp(r->conn->abi, ring_entry(r, r->rsp_prod_pvt), id,
			  op, status);
	r->rsp_prod_pvt++;
	if (status == BLKIF_RSP_OKAY)
		r->st.rsp_okay++;
	else if (status == BLKIF_RSP_EOPNOTSUPP)
		r->st.rsp_eopnotsupp++;
	else
		r->st.rsp_error++;
	/*
	 * Publish once per loop iteration, not once per response; but a
	 * pass's worth at once, so the frontend can refill the ring while
	 * we go on with the next pass instead of after it.
	 */
	if ((uint32_t)(r->rsp_prod_pvt - __atomic_load_n(
			       sring_idx(r, SRING_RSP_PROD), __ATOMIC_RELAXED)) >=
	    RING_PASS)
		blkif_ring_push_cb(&r->push_defer);
	else
		td_loop_defer(r->conn->loop, &r->push_defer);
}

void blkif_ring_push_cb(struct td_loop_defer *d)
{
	struct blkif_ring *r = d->arg;
	uint32_t old, new = r->rsp_prod_pvt, evt;

	old = __atomic_load_n(sring_idx(r, SRING_RSP_PROD), __ATOMIC_RELAXED);
	if (old == new)
		return;
	/* Responses are visible before the index that publishes them. */
	__atomic_store_n(sring_idx(r, SRING_RSP_PROD), new, __ATOMIC_RELEASE);
	/* ... and the index before we look at whether to notify. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	evt = __atomic_load_n(sring_idx(r, SRING_RSP_EVENT), __ATOMIC_RELAXED);
	if ((uint32_t)(new - evt) < (uint32_t)(new - old)) {
		r->conn->xp->ops->evtchn_notify(r->conn->xp, r->q);
		r->st.notifies++;
	}
}

void blkif_ring_kick(struct blkif_ring *r)
{
	td_loop_defer(r->conn->loop, &r->process_defer);
}

static void slot_free(struct blkif_ring *r, struct blkif_slot *s)
{
	td_list_add(&s->link, &r->free_slots);
	r->inflight--;
}

/* Ends a request: releases buffers, answers, frees the slot. */
static void slot_finish(struct blkif_ring *r, struct blkif_slot *s,
			int16_t status)
{
	bool was_barrier = s->op == BLKIF_OP_WRITE_BARRIER;

	blkif_data_release(r, s);
	s->phase = PH_IDLE;
	ring_respond(r, s->id, s->rsp_op, status);
	slot_free(r, s);
	if (was_barrier)
		r->barrier = false;
	if (r->conn->dead) {
		blkif_conn_maybe_free(r->conn);
		return;
	}
	if (r->held || r->stalled || was_barrier)
		blkif_ring_kick(r);
}

static int16_t errno_to_status(int err)
{
	return err == -EOPNOTSUPP ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR;
}

/* Running requests ----------------------------------------------------- */

static void slot_req_done(struct td_req *req, int err);

static void slot_submit(struct blkif_ring *r, struct blkif_slot *s,
			enum td_op op, unsigned flags)
{
	struct td_req *req = &s->req;

	memset(req, 0, sizeof(*req));
	req->op = op;
	req->flags = flags;
	req->done = slot_req_done;
	req->owner = s;
	if (op == TD_OP_READ || op == TD_OP_WRITE) {
		req->sector = s->sector;
		req->nr_sectors = s->nr_sectors;
		req->iov = s->iov;
		req->iovcnt = s->niov;
	} else if (op == TD_OP_DISCARD) {
		req->sector = s->sector;
		req->nr_sectors = s->nr_sectors;
	}
	td_vbd_submit(r->conn->vbd, req);
}

/* Starts the data phase of @s (everything but the flush part). */
static void slot_start_io(struct blkif_ring *r, struct blkif_slot *s)
{
	s->phase = PH_IO;
	switch (s->op) {
	case BLKIF_OP_READ:
		slot_submit(r, s, TD_OP_READ, 0);
		break;
	case BLKIF_OP_DISCARD:
		slot_submit(r, s, TD_OP_DISCARD,
			    (s->flag & BLKIF_DISCARD_SECURE) ?
				    TD_REQ_DISCARD_SECURE : 0);
		break;
	case BLKIF_OP_WRITE:
		slot_submit(r, s, TD_OP_WRITE, 0);
		break;
	default:
		/* FLUSH or BARRIER carrying data: durable on completion. */
		slot_submit(r, s, TD_OP_WRITE, TD_REQ_FUA);
		break;
	}
}

static bool op_writes(uint8_t op)
{
	return op != BLKIF_OP_READ;
}

/*
 * Tries to start @s. Returns false if it must wait (buffers, or older
 * requests for a barrier); the caller holds it then.
 */
static bool slot_start(struct blkif_ring *r, struct blkif_slot *s)
{
	int err;

	if (s->op == BLKIF_OP_WRITE_BARRIER && r->inflight > 1)
		return false;
	if (s->nseg && !s->has_data) {
		err = blkif_data_acquire(r, s);
		if (err == -EAGAIN)
			return false;
		if (!err && op_writes(s->op))
			err = blkif_data_copy_in(r, s);
		if (err) {
			conn_rl_log(r, "bad grant reference", s->id);
			slot_finish(r, s, BLKIF_RSP_ERROR);
			return true;
		}
	}
	if (s->op == BLKIF_OP_FLUSH_DISKCACHE ||
	    s->op == BLKIF_OP_WRITE_BARRIER) {
		s->phase = PH_FLUSH;
		slot_submit(r, s, TD_OP_FLUSH, 0);
		return true;
	}
	slot_start_io(r, s);
	return true;
}

static void slot_req_done(struct td_req *req, int err)
{
	struct blkif_slot *s = req->owner;
	struct blkif_ring *r = s->ring;

	if (err) {
		slot_finish(r, s, errno_to_status(err));
		return;
	}
	if (s->phase == PH_FLUSH && s->nseg) {
		slot_start_io(r, s);
		return;
	}
	if (s->op == BLKIF_OP_READ && blkif_data_copy_out(r, s)) {
		conn_rl_log(r, "bad grant reference", s->id);
		slot_finish(r, s, BLKIF_RSP_ERROR);
		return;
	}
	slot_finish(r, s, BLKIF_RSP_OKAY);
}

/* Validation ----------------------------------------------------------- */

/* Copies the indirect descriptor pages of @m into s->segs. */
static int load_indirect(struct blkif_ring *r, const struct blkif_msg *m,
			 struct blkif_slot *s)
{
	unsigned pages = (m->nseg + BLKIF_SEGS_PER_IPAGE - 1) /
			 BLKIF_SEGS_PER_IPAGE;
	unsigned p, i, done = 0;

	for (p = 0; p < pages; p++) {
		unsigned n = m->nseg - done;

		if (n > BLKIF_SEGS_PER_IPAGE)
			n = BLKIF_SEGS_PER_IPAGE;
		if (blkif_grant_read(r, m->igrefs[p], r->ipage,
				     (uint16_t)(n * BLKIF_SEG_SIZE)))
			return -EINVAL;
		for (i = 0; i < n; i++) {
			const uint8_t *d = r->ipage + i * BLKIF_SEG_SIZE;

			memcpy(&s->segs[done + i].gref, d, 4);
			s->segs[done + i].first = d[4];
			s->segs[done + i].last = d[5];
		}
		done += n;
	}
	return 0;
}

/* Checks the segments in s->segs and sums up the sectors they cover. */
static const char *check_segs(struct blkif_slot *s)
{
	uint64_t total = 0;
	unsigned i;

	for (i = 0; i < s->nseg; i++) {
		if (s->segs[i].first > s->segs[i].last)
			return "first_sect > last_sect";
		if (s->segs[i].last >= BLKIF_SECTORS_PER_PAGE)
			return "last_sect beyond the page";
		total += s->segs[i].last - s->segs[i].first + 1u;
	}
	s->nr_sectors = total;
	return NULL;
}

static bool range_ok(struct td_blkif *b, uint64_t sector, uint64_t n)
{
	return sector <= b->size_sectors && n <= b->size_sectors - sector;
}

static int16_t validate_discard(struct td_blkif *b, const struct blkif_msg *m,
				struct blkif_slot *s, const char **why)
{
	if (!b->adv.feature_discard) {
		*why = "discard not offered";
		return BLKIF_RSP_EOPNOTSUPP;
	}
	if ((m->flag & BLKIF_DISCARD_SECURE) && !b->adv.discard_secure) {
		*why = "secure discard not supported";
		return BLKIF_RSP_EOPNOTSUPP;
	}
	if (b->readonly) {
		*why = "discard on a read-only disk";
		return BLKIF_RSP_ERROR;
	}
	if (m->nr_sectors == 0 || !range_ok(b, m->sector, m->nr_sectors)) {
		*why = "discard range beyond the disk";
		return BLKIF_RSP_ERROR;
	}
	s->nr_sectors = m->nr_sectors;
	return BLKIF_RSP_OKAY;
}

/* Checks the segment count of a data-carrying op against @maxseg. */
static int16_t validate_nseg(struct td_blkif *b, const struct blkif_msg *m,
			     unsigned maxseg, const char **why)
{
	if (m->nseg > maxseg) {
		*why = "too many segments";
		return BLKIF_RSP_ERROR;
	}
	if (m->nseg == 0 && (m->op == BLKIF_OP_READ ||
			     m->op == BLKIF_OP_WRITE)) {
		*why = "no segments";
		return BLKIF_RSP_ERROR;
	}
	if (m->op != BLKIF_OP_READ && m->nseg && b->readonly) {
		*why = "write to a read-only disk";
		return BLKIF_RSP_ERROR;
	}
	return BLKIF_RSP_OKAY;
}

/*
 * Turns the decoded @m into a runnable slot @s. Returns BLKIF_RSP_OKAY, or
 * the status to answer with right away (and *@why says why).
 */
static int16_t validate(struct blkif_ring *r, const struct blkif_msg *m,
			struct blkif_slot *s, const char **why)
{
	struct td_blkif *b = r->conn;
	unsigned maxseg = BLKIF_MAX_SEGS;
	int16_t st;

	s->id = m->id;
	s->op = m->op;
	s->rsp_op = m->op; /* INDIRECT answers with its indirect_op */
	s->flag = m->flag;
	s->sector = m->sector;
	s->nseg = 0;
	s->nr_sectors = 0;
	s->has_data = false;

	switch (m->operation) {
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
	case BLKIF_OP_FLUSH_DISKCACHE:
	case BLKIF_OP_WRITE_BARRIER:
		break;
	case BLKIF_OP_DISCARD:
		return validate_discard(b, m, s, why);
	case BLKIF_OP_INDIRECT:
		if (!b->max_indirect) {
			*why = "indirect not offered";
			return BLKIF_RSP_EOPNOTSUPP;
		}
		if (m->op != BLKIF_OP_READ && m->op != BLKIF_OP_WRITE) {
			*why = "bad indirect_op";
			s->rsp_op = m->operation;
			return BLKIF_RSP_ERROR;
		}
		maxseg = b->max_indirect;
		break;
	default:
		*why = "unknown operation";
		return BLKIF_RSP_EOPNOTSUPP;
	}

	st = validate_nseg(b, m, maxseg, why);
	if (st != BLKIF_RSP_OKAY)
		return st;
	s->nseg = m->nseg;
	if (m->operation == BLKIF_OP_INDIRECT) {
		if (load_indirect(r, m, s)) {
			*why = "bad indirect page grant";
			return BLKIF_RSP_ERROR;
		}
	} else {
		memcpy(s->segs, m->seg, m->nseg * sizeof(*s->segs));
	}
	*why = check_segs(s);
	if (*why)
		return BLKIF_RSP_ERROR;
	/*
	 * A flush without data has no range: Linux sends its sector as
	 * (sector_t)-1, and blkback checks the range only when nr_sects > 0.
	 */
	if (s->nr_sectors && !range_ok(b, s->sector, s->nr_sectors)) {
		*why = "range beyond the disk";
		return BLKIF_RSP_ERROR;
	}
	return BLKIF_RSP_OKAY;
}

/* Consuming ------------------------------------------------------------ */

static void ring_break(struct blkif_ring *r, uint32_t rp)
{
	r->broken = true;
	r->st.broken = true;
	td_log_ratelimited(&r->rl, TD_LOG_ERR, TD_SUB_RING,
			   "%s: producer index %u overruns the ring (consumer "
			   "%u, size %u): ring broken, no longer served",
			   r->name, rp, r->req_cons, r->size);
}

/* Takes the request at req_cons into a free slot and starts it. */
static void consume_one(struct blkif_ring *r)
{
	uint8_t raw[BLKIF_MAX_ENTRY];
	struct blkif_msg m;
	struct blkif_slot *s;
	const char *why = NULL;
	int16_t st;

	memcpy(raw, ring_entry(r, r->req_cons), r->conn->abi->entry_size);
	/* From here on only our copy is used: never re-read the ring. */
	__asm__ __volatile__("" ::: "memory");
	r->req_cons++;
	r->st.requests++;
	s = td_list_entry(td_list_pop(&r->free_slots), struct blkif_slot,
			  link);
	r->inflight++;
	if (r->inflight > r->st.max_inflight)
		r->st.max_inflight = r->inflight;

	blkif_abi_decode(r->conn->abi, raw, &m);
	st = validate(r, &m, s, &why);
	if (st != BLKIF_RSP_OKAY) {
		conn_rl_log(r, why, m.id);
		slot_finish(r, s, st);
		return;
	}
	if (s->op == BLKIF_OP_WRITE_BARRIER)
		r->barrier = true;
	if (!slot_start(r, s)) {
		r->held = s;
		r->st.stalls++;
	}
}

/* Retries the held slot; true if the ring may consume again. */
static bool retry_held(struct blkif_ring *r)
{
	struct blkif_slot *s = r->held;

	if (!s)
		return true;
	r->held = NULL;
	if (!slot_start(r, s)) {
		r->held = s;
		return false;
	}
	return true;
}

/* True if the ring may take another request now. */
static bool can_consume(const struct blkif_ring *r)
{
	return !r->broken && !r->conn->dead && !r->held && !r->barrier &&
	       !td_list_empty(&r->free_slots);
}

/*
 * Asks for a notification on the next request, then looks once more: a
 * request published before the frontend saw our req_event would otherwise
 * never be signalled. True if requests are waiting.
 */
static bool ring_arm(struct blkif_ring *r)
{
	__atomic_store_n(sring_idx(r, SRING_REQ_EVENT), r->req_cons + 1,
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(sring_idx(r, SRING_REQ_PROD),
			       __ATOMIC_RELAXED) != r->req_cons;
}

/* Consumes what the ring holds; returns how many requests it took. */
static unsigned ring_process(struct blkif_ring *r)
{
	uint32_t budget = RING_PASS, rp, start = r->req_cons;

	if (r->broken || r->conn->dead || !retry_held(r))
		return 0;
	for (;;) {
		rp = __atomic_load_n(sring_idx(r, SRING_REQ_PROD),
				     __ATOMIC_RELAXED);
		/* Requests are read only after the index that covers them. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		/*
		 * Valid: rsp_prod_pvt <= req_cons <= rp <= rsp_prod_pvt +
		 * size, modulo 2^32. Anything else (too far ahead, or moved
		 * backwards) would make us re-read or overwrite entries.
		 */
		if ((uint32_t)(rp - r->rsp_prod_pvt) > r->size ||
		    (uint32_t)(rp - r->rsp_prod_pvt) <
			    (uint32_t)(r->req_cons - r->rsp_prod_pvt)) {
			ring_break(r, rp);
			break;
		}
		while (r->req_cons != rp) {
			if (r->held || r->barrier)
				return r->req_cons - start;
			if (td_list_empty(&r->free_slots)) {
				r->stalled = true;
				r->st.stalls++;
				return r->req_cons - start;
			}
			if (budget-- == 0) {
				blkif_ring_kick(r);
				return r->req_cons - start;
			}
			consume_one(r);
		}
		r->stalled = false;
		/*
		 * A polling loop arms us only when it is about to sleep (see
		 * blkif_ring_arm_cb), so a frontend adding requests while we
		 * work or spin need not signal us at all.
		 */
		if (td_loop_polling(r->conn->loop) || !ring_arm(r))
			break;
	}
	return r->req_cons - start;
}

bool blkif_ring_poll_cb(struct td_loop_poller *p)
{
	struct blkif_ring *r = p->arg;

	if (!can_consume(r) ||
	    __atomic_load_n(sring_idx(r, SRING_REQ_PROD), __ATOMIC_RELAXED) ==
		    r->req_cons)
		return false;
	return ring_process(r) != 0;
}

bool blkif_ring_arm_cb(struct td_loop_poller *p)
{
	struct blkif_ring *r = p->arg;

	if (r->broken || r->conn->dead)
		return false;
	/* A ring that cannot consume is re-kicked by its completions. */
	if (!ring_arm(r) || !can_consume(r))
		return false;
	blkif_ring_kick(r);
	return true;
}

void blkif_ring_process_cb(struct td_loop_defer *d)
{
	ring_process(d->arg);
}

void blkif_ring_evt_cb(struct td_loop_fd *f, uint32_t events)
{
	struct blkif_ring *r = f->arg;
	struct td_xport *xp = r->conn->xp;

	xp->ops->evtchn_ack(xp, r->q);
	ring_process(r);
}
