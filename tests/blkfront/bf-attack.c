/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * attack: sends each malformed request a hostile guest could build, one
 * at a time, and checks the answer is an error (BLKIF_RSP_ERROR, or
 * EOPNOTSUPP where the op is unsupported) and that nothing was written;
 * then checks the VBD still serves correct data. --overrun instead
 * publishes a producer index past the ring and checks that ring is dead
 * while a second connection to the same VBD still works.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bf-pattern.h"
#include "bf-verbs.h"

#define SECTOR 512u
/* Sectors at the start of the disk the attacks aim at (and must spare). */
#define TARGET 64u

#define X_ERR (1u << 0)     /* BLKIF_RSP_ERROR expected */
#define X_NOTSUP (1u << 1)  /* BLKIF_RSP_EOPNOTSUPP expected */

struct actx {
	const struct td_bf_cmd *c;
	struct td_bf_front *f;
	const struct td_blkif_back *b;
	const struct td_bf_conn_info *ci;
	uint64_t disk;
	unsigned passed, failed, skipped;
};

/*
 * Builds one attack into @io->req. Returns 0 to send it, or 1 to skip
 * (with the reason in @why). Segments added with td_bf_io_add_seg carry
 * generation-2 data: if a rejected write stored them, the final check
 * sees it.
 */
typedef int (*abuild_fn)(struct actx *a, struct td_bf_io *io,
			 const char **why);

struct acase {
	const char *name;
	unsigned expect;
	abuild_fn build;
};

static void seg(struct actx *a, struct td_bf_io *io, unsigned first,
		unsigned last, uint64_t sector)
{
	unsigned char *p = td_bf_io_add_seg(io, first, last);

	td_bf_pattern_fill(p, TD_BF_PAGE_SIZE, a->c->seed, 2,
			   sector * SECTOR);
}

/* A valid read or write of @nseg whole pages at @sector, as a base. */
static void rw(struct actx *a, struct td_bf_io *io, uint8_t op,
	       unsigned nseg, uint64_t sector)
{
	for (unsigned i = 0; i < nseg; i++)
		seg(a, io, 0, 7, sector + 8 * i);
	td_bf_io_prep_rw(io, op, sector);
}

static int a_nseg0_read(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_READ, 1, 0);
	io->req.nr_segments = 0;
	return 0;
}

static int a_nseg0_write(struct actx *a, struct td_bf_io *io,
			 const char **w)
{
	rw(a, io, BLKIF_OP_WRITE, 1, 0);
	io->req.nr_segments = 0;
	return 0;
}

static int a_nseg12(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_WRITE, BLKIF_MAX_SEGMENTS_PER_REQUEST, 0);
	io->req.nr_segments = BLKIF_MAX_SEGMENTS_PER_REQUEST + 1;
	return 0;
}

static int a_nseg255(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_READ, BLKIF_MAX_SEGMENTS_PER_REQUEST, 0);
	io->req.nr_segments = 255;
	return 0;
}

/*
 * An indirect request of @nseg descriptors all pointing at one valid data
 * page, written straight into the slot's indirect pages (the slot's own
 * segment array may be smaller than the attack needs).
 */
static int indirect(struct actx *a, struct td_bf_io *io, uint8_t op,
		    unsigned nseg, const char **why)
{
	unsigned npages, cap;
	uint32_t g0;
	unsigned char *pg = td_bf_io_indirect_pages(io, &g0, &npages);
	struct blkif_request_segment d = { .first_sect = 0, .last_sect = 7 };

	if (!pg) {
		*why = "the backend offers no indirect requests";
		return 1;
	}
	cap = npages * TD_BF_SEGS_PER_INDIRECT_PAGE;
	seg(a, io, 0, 7, 0);
	d.gref = io->segs[0].gref;
	for (unsigned i = 0; i < nseg && i < cap; i++)
		memcpy(pg + i * sizeof(d), &d, sizeof(d));
	memset(&io->req, 0, sizeof(io->req));
	io->req.op = BLKIF_OP_INDIRECT;
	io->req.indirect_op = op;
	io->req.nr_segments = (uint16_t)nseg;
	for (unsigned i = 0; i < npages; i++)
		io->req.indirect_grefs[i] = g0 + i;
	return 0;
}

static int a_ind_over(struct actx *a, struct td_bf_io *io, const char **w)
{
	return indirect(a, io, BLKIF_OP_READ,
			a->b->feature_max_indirect_segments + 1, w);
}

static int a_ind_zero(struct actx *a, struct td_bf_io *io, const char **w)
{
	return indirect(a, io, BLKIF_OP_READ, 0, w);
}

static int a_ind_badop(struct actx *a, struct td_bf_io *io, const char **w)
{
	return indirect(a, io, BLKIF_OP_FLUSH_DISKCACHE, 4, w);
}

/* nr_segments needs one page more than the grefs that are valid. */
static int a_ind_short(struct actx *a, struct td_bf_io *io, const char **w)
{
	unsigned n = a->b->feature_max_indirect_segments, pages;
	int rc = indirect(a, io, BLKIF_OP_WRITE, n, w);

	if (rc)
		return rc;
	pages = (n + TD_BF_SEGS_PER_INDIRECT_PAGE - 1) /
		TD_BF_SEGS_PER_INDIRECT_PAGE;
	io->req.indirect_grefs[pages - 1] = a->ci->nr_pages;
	return 0;
}

static int a_ind_badseg(struct actx *a, struct td_bf_io *io, const char **w)
{
	unsigned npages;
	uint32_t g0, bad;
	unsigned char *pg;
	int rc = indirect(a, io, BLKIF_OP_WRITE, 16, w);

	if (rc)
		return rc;
	pg = td_bf_io_indirect_pages(io, &g0, &npages);
	bad = a->ci->nr_pages + 5;
	memcpy(pg + 9 * sizeof(struct blkif_request_segment), &bad, 4);
	return 0;
}

static int a_ind_firstlast(struct actx *a, struct td_bf_io *io,
			   const char **w)
{
	unsigned npages;
	uint32_t g0;
	unsigned char *pg;
	int rc = indirect(a, io, BLKIF_OP_READ, 16, w);

	if (rc)
		return rc;
	pg = td_bf_io_indirect_pages(io, &g0, &npages);
	pg[12 * sizeof(struct blkif_request_segment) + 4] = 6; /* first */
	pg[12 * sizeof(struct blkif_request_segment) + 5] = 3; /* last */
	return 0;
}

static int a_first_gt_last(struct actx *a, struct td_bf_io *io,
			   const char **w)
{
	seg(a, io, 0, 7, 0);
	seg(a, io, 5, 2, 8);
	td_bf_io_prep_rw(io, BLKIF_OP_WRITE, 0);
	return 0;
}

static int a_last_gt_7(struct actx *a, struct td_bf_io *io, const char **w)
{
	seg(a, io, 0, 8, 0);
	td_bf_io_prep_rw(io, BLKIF_OP_WRITE, 0);
	return 0;
}

static int a_last_255(struct actx *a, struct td_bf_io *io, const char **w)
{
	seg(a, io, 3, 255, 0);
	td_bf_io_prep_rw(io, BLKIF_OP_READ, 0);
	return 0;
}

static int a_beyond_end(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_READ, 1, a->disk - 4);
	return 0;
}

static int a_at_end(struct actx *a, struct td_bf_io *io, const char **w)
{
	seg(a, io, 0, 0, 0);
	td_bf_io_prep_rw(io, BLKIF_OP_WRITE, a->disk);
	return 0;
}

static int a_wrap(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_WRITE, 2, UINT64_MAX - 7);
	return 0;
}

static int a_discard_end(struct actx *a, struct td_bf_io *io,
			 const char **w)
{
	if (!a->b->feature_discard) {
		*w = "the backend offers no discard";
		return 1;
	}
	td_bf_io_prep_discard(io, a->disk - 8, 16, 0);
	return 0;
}

static int a_discard_wrap(struct actx *a, struct td_bf_io *io,
			  const char **w)
{
	if (!a->b->feature_discard) {
		*w = "the backend offers no discard";
		return 1;
	}
	td_bf_io_prep_discard(io, 8, UINT64_MAX - 4, 0);
	return 0;
}

static int a_readonly(struct actx *a, struct td_bf_io *io, const char **w)
{
	if (!(a->b->info & VDISK_READONLY)) {
		*w = "the VBD is writable (attach it read-only to test this)";
		return 1;
	}
	rw(a, io, BLKIF_OP_WRITE, 2, 0);
	return 0;
}

static int a_readonly_barrier(struct actx *a, struct td_bf_io *io,
			      const char **w)
{
	if (!(a->b->info & VDISK_READONLY)) {
		*w = "the VBD is writable";
		return 1;
	}
	rw(a, io, BLKIF_OP_WRITE_BARRIER, 1, 0);
	return 0;
}

static int a_readonly_discard(struct actx *a, struct td_bf_io *io,
			      const char **w)
{
	if (!(a->b->info & VDISK_READONLY) || !a->b->feature_discard) {
		*w = "the VBD is writable or offers no discard";
		return 1;
	}
	td_bf_io_prep_discard(io, 0, 8, 0);
	return 0;
}

static int a_op_reserved(struct actx *a, struct td_bf_io *io,
			 const char **w)
{
	rw(a, io, BLKIF_OP_WRITE, 1, 0);
	io->req.op = BLKIF_OP_RESERVED_1;
	return 0;
}

static int a_op_200(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_WRITE, 1, 0);
	io->req.op = 200;
	return 0;
}

static int a_gref_end(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_READ, 1, 0);
	io->req.seg[0].gref = a->ci->nr_pages;
	return 0;
}

static int a_gref_max(struct actx *a, struct td_bf_io *io, const char **w)
{
	rw(a, io, BLKIF_OP_WRITE, 4, 0);
	io->req.seg[2].gref = UINT32_MAX;
	return 0;
}

static int a_ind_gref(struct actx *a, struct td_bf_io *io, const char **w)
{
	int rc = indirect(a, io, BLKIF_OP_WRITE, 8, w);

	if (!rc)
		io->req.indirect_grefs[0] = UINT32_MAX - 1;
	return rc;
}

static int a_secure_discard(struct actx *a, struct td_bf_io *io,
			    const char **w)
{
	if (a->b->discard_secure) {
		*w = "the backend supports secure discard";
		return 1;
	}
	td_bf_io_prep_discard(io, 0, 8, BLKIF_DISCARD_SECURE);
	return 0;
}

static int a_discard_unoffered(struct actx *a, struct td_bf_io *io,
			       const char **w)
{
	if (a->b->feature_discard) {
		*w = "the backend offers discard";
		return 1;
	}
	td_bf_io_prep_discard(io, 0, 8, 0);
	return 0;
}

static int a_ind_unoffered(struct actx *a, struct td_bf_io *io,
			   const char **w)
{
	if (a->b->feature_max_indirect_segments) {
		*w = "the backend offers indirect requests";
		return 1;
	}
	rw(a, io, BLKIF_OP_READ, 1, 0);
	io->req.op = BLKIF_OP_INDIRECT;
	io->req.indirect_op = BLKIF_OP_READ;
	io->req.nr_segments = 1;
	io->req.indirect_grefs[0] = io->segs[0].gref;
	return 0;
}

static const struct acase cases[] = {
	{ "read with nr_segments 0", X_ERR, a_nseg0_read },
	{ "write with nr_segments 0", X_ERR, a_nseg0_write },
	{ "nr_segments 12 without indirect", X_ERR, a_nseg12 },
	{ "nr_segments 255 without indirect", X_ERR, a_nseg255 },
	{ "indirect nr_segments above the advertised max", X_ERR,
	  a_ind_over },
	{ "indirect nr_segments 0", X_ERR, a_ind_zero },
	{ "indirect with indirect_op FLUSH", X_ERR, a_ind_badop },
	{ "indirect pages fewer than nr_segments needs", X_ERR,
	  a_ind_short },
	{ "indirect when not offered", X_ERR | X_NOTSUP, a_ind_unoffered },
	{ "first_sect > last_sect", X_ERR, a_first_gt_last },
	{ "indirect descriptor with first_sect > last_sect", X_ERR,
	  a_ind_firstlast },
	{ "last_sect 8", X_ERR, a_last_gt_7 },
	{ "last_sect 255", X_ERR, a_last_255 },
	{ "read crossing the disk end", X_ERR, a_beyond_end },
	{ "write starting at the disk end", X_ERR, a_at_end },
	{ "write whose sector range wraps around 2^64", X_ERR, a_wrap },
	{ "discard crossing the disk end", X_ERR, a_discard_end },
	{ "discard whose range wraps around 2^64", X_ERR, a_discard_wrap },
	{ "write to a read-only VBD", X_ERR, a_readonly },
	{ "barrier write to a read-only VBD", X_ERR, a_readonly_barrier },
	{ "discard on a read-only VBD", X_ERR, a_readonly_discard },
	{ "unknown op 4 (reserved)", X_ERR | X_NOTSUP, a_op_reserved },
	{ "unknown op 200", X_ERR | X_NOTSUP, a_op_200 },
	{ "grant ref at the memfd end", X_ERR, a_gref_end },
	{ "grant ref 0xffffffff in segment 2 of a write", X_ERR, a_gref_max },
	{ "indirect page grant ref out of range", X_ERR, a_ind_gref },
	{ "indirect descriptor with a bad grant ref", X_ERR, a_ind_badseg },
	{ "secure discard when not advertised", X_NOTSUP, a_secure_discard },
	{ "discard when not advertised", X_NOTSUP, a_discard_unoffered },
};

static void mark_done(struct td_bf_io *io, void *arg)
{
	*(bool *)arg = true;
}

/*
 * Submits @io on queue @q and waits for its response. Returns 0 (status in
 * io->status), or -ETIMEDOUT, -EPIPE, -EPROTO.
 */
static int run_one(struct td_bf_front *f, struct td_bf_io *io, unsigned q,
		   int timeout_ms)
{
	bool done = false;
	int rc;

	io->done = mark_done;
	io->arg = &done;
	rc = td_bf_front_submit(f, io, q);
	if (rc)
		return rc;
	td_bf_front_kick(f);
	while (!done) {
		rc = td_bf_front_poll(f, timeout_ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *status_name(int16_t st)
{
	switch (st) {
	case BLKIF_RSP_OKAY:
		return "OKAY";
	case BLKIF_RSP_ERROR:
		return "ERROR";
	case BLKIF_RSP_EOPNOTSUPP:
		return "EOPNOTSUPP";
	default:
		return "an undefined status";
	}
}

static const char *rc_name(int rc)
{
	return rc == -ETIMEDOUT ? "no response" :
	       rc == -EPIPE ? "the backend closed the connection" :
	       rc == -EPROTO ? "a protocol error" : strerror(-rc);
}

/*
 * Writes generation @gen over the target sectors (skipped if @gen is 0),
 * reads them back into @out (TARGET * 512 bytes) and, unless @expect is
 * TD_BF_GEN_UNKNOWN, checks they hold generation @expect. 0 or -1.
 */
static int target_io(struct td_bf_front *f, const struct td_bf_cmd *c,
		     unsigned q, uint32_t gen, uint32_t expect,
		     unsigned char *out, const char *what)
{
	struct td_bf_io *io;
	uint64_t bad_at = 0;
	size_t bad = 0;
	int rc = 0;

	for (int pass = gen ? 0 : 1; pass < 2 && !rc; pass++) {
		io = td_bf_io_get(f);
		for (unsigned i = 0; i < TARGET / 8; i++) {
			unsigned char *p = td_bf_io_add_seg(io, 0, 7);

			if (pass == 0)
				td_bf_pattern_fill(p, TD_BF_PAGE_SIZE, c->seed,
						   gen, (uint64_t)i * 4096);
			else
				memset(p, 0xa5, TD_BF_PAGE_SIZE);
		}
		td_bf_io_prep_rw(io, pass ? BLKIF_OP_READ : BLKIF_OP_WRITE, 0);
		rc = run_one(f, io, q, -1);
		if (rc)
			break; /* the slot is lost with the connection */
		if (io->status != BLKIF_RSP_OKAY)
			rc = -EIO;
		for (unsigned i = 0; pass && !rc && i < io->nseg; i++)
			memcpy(out + (size_t)i * 4096, io->seg_page[i], 4096);
		td_bf_io_put(io);
	}
	if (rc) {
		fprintf(stderr, "attack: %s: %s\n", what,
			rc == -EIO ? "request failed" : rc_name(rc));
		return -1;
	}
	if (expect != TD_BF_GEN_UNKNOWN)
		bad = td_bf_pattern_check(out, TARGET * SECTOR, c->seed, expect,
					  0, &bad_at);
	if (bad) {
		fprintf(stderr, "attack: %s: %zu bytes differ, first at byte "
			"offset %" PRIu64 "\n", what, bad, bad_at);
		return -1;
	}
	return 0;
}

static void run_case(struct actx *a, const struct acase *k, unsigned q)
{
	struct td_bf_io *io = td_bf_io_get(a->f);
	const char *why = "";
	int rc;

	if (k->build(a, io, &why)) {
		printf("SKIP %s: %s\n", k->name, why);
		a->skipped++;
		td_bf_io_put(io);
		return;
	}
	rc = run_one(a->f, io, q, -1);
	if (rc) {
		printf("FAIL %s: %s\n", k->name, rc_name(rc));
		a->failed++;
	} else if ((io->status == BLKIF_RSP_ERROR && (k->expect & X_ERR)) ||
		   (io->status == BLKIF_RSP_EOPNOTSUPP &&
		    (k->expect & X_NOTSUP))) {
		printf("PASS %s: %s\n", k->name, status_name(io->status));
		a->passed++;
	} else {
		printf("FAIL %s: answered %s, expected %s\n", k->name,
		       status_name(io->status),
		       k->expect == X_NOTSUP ? "EOPNOTSUPP" :
		       k->expect == X_ERR ? "ERROR" : "ERROR or EOPNOTSUPP");
		a->failed++;
	}
	/* A request that died with the connection is not ours to reuse. */
	if (!rc)
		td_bf_io_put(io);
}

/*
 * Known data under the attacks: rejected writes must not touch it. A
 * read-only VBD is snapshotted instead and must read the same afterwards.
 */
static int check_after(struct actx *a, unsigned char *before,
		       unsigned char *after)
{
	const struct td_bf_cmd *c = a->c;

	if (td_bf_front_inflight(a->f)) {
		printf("FAIL the connection died during the attacks\n");
		return -1;
	}
	if (a->b->info & VDISK_READONLY) {
		if (target_io(a->f, c, 0, 0, TD_BF_GEN_UNKNOWN, after,
			      "reading after the attacks"))
			return -1;
		if (memcmp(before, after, TARGET * SECTOR)) {
			printf("FAIL the read-only VBD's data changed\n");
			return -1;
		}
		printf("PASS the read-only VBD still serves the same data\n");
		return 0;
	}
	if (target_io(a->f, c, 0, 0, 1, after,
		      "data under the rejected writes changed") ||
	    target_io(a->f, c, a->ci->queues - 1, 3, 3, after,
		      "the VBD no longer serves correct data"))
		return -1;
	printf("PASS the VBD still serves correct data, and rejected writes "
	       "stored nothing\n");
	return 0;
}

static int attack_cases(struct actx *a)
{
	static unsigned char before[TARGET * SECTOR], after[TARGET * SECTOR];
	bool ro = a->b->info & VDISK_READONLY;
	int fails;

	if (a->disk < TARGET) {
		fprintf(stderr, "attack: the disk is smaller than %u "
			"sectors\n", TARGET);
		return 1;
	}
	if (target_io(a->f, a->c, 0, ro ? 0 : 1,
		      ro ? TD_BF_GEN_UNKNOWN : 1, before,
		      "preparing the target range"))
		return 1;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (td_bf_front_inflight(a->f)) /* connection lost */
			break;
		run_case(a, &cases[i], i % a->ci->queues);
	}
	fails = (int)a->failed;
	if (check_after(a, before, after))
		fails++;
	printf("attack: %u passed, %u failed, %u skipped\n", a->passed,
	       a->failed, a->skipped);
	return fails ? 1 : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A read of the target on queue @q must get no answer: the ring is dead. */
static int expect_dead(struct actx *a, unsigned q)
{
	struct td_bf_io *io = td_bf_io_get(a->f);
	uint32_t rp = td_bf_front_rsp_prod(a->f, q);
	bool done = false;
	uint64_t deadline;
	int rc;

	td_bf_io_add_seg(io, 0, 7);
	td_bf_io_prep_rw(io, BLKIF_OP_READ, 0);
	io->done = mark_done;
	io->arg = &done;
	if (td_bf_front_submit(a->f, io, q))
		return -1;
	/* Published by hand: our kick would see the bogus index as "old". */
	td_bf_front_force_req_prod(a->f, q, rp + 1);
	/*
	 * A wakeup without a response (a notification left over from the
	 * read before the overrun, whose answer was reaped before its
	 * eventfd was) is not an answer: wait out the second.
	 */
	deadline = td_bf_now_ns() + 1000 * 1000000ull;
	do {
		uint64_t now = td_bf_now_ns();

		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		rc = td_bf_front_poll(a->f,
				      (int)((deadline - now) / 1000000) + 1);
	} while (rc == 0 && !done);
	if (!done && (rc == -ETIMEDOUT || rc == -EPIPE)) {
		printf("PASS queue %u: a request after the overrun got no "
		       "answer (%s)\n", q, rc_name(rc));
		return 0;
	}
	printf("FAIL queue %u: the ring still answered after the overrun "
	       "(%s)\n", q, rc < 0 ? rc_name(rc) : "a response");
	return -1;
}

static int attack_overrun(struct actx *a)
{
	static unsigned char buf[TARGET * SECTOR];
	struct td_bf_opts fo = a->c->fo;
	struct td_bf_front *f2;
	char err[256];
	unsigned slots;
	uint32_t rp;
	int fails = 0;

	if (target_io(a->f, a->c, 0, 0, TD_BF_GEN_UNKNOWN, buf,
		      "reading before the overrun"))
		return 1;
	rp = td_bf_front_rsp_prod(a->f, 0);
	slots = a->ci->ring_slots;
	td_bf_front_force_req_prod(a->f, 0, rp + slots + 1);
	sleep_ms(300);
	if (td_bf_front_rsp_prod(a->f, 0) != rp) {
		printf("FAIL queue 0: the backend answered slots of an "
		       "overrun ring (rsp_prod %u -> %u)\n", rp,
		       td_bf_front_rsp_prod(a->f, 0));
		fails++;
	} else {
		printf("PASS queue 0: producer index %u (ring of %u) consumed "
		       "nothing\n", rp + slots + 1, slots);
	}
	if (expect_dead(a, 0))
		fails++;
	/* The other rings of this connection keep serving. */
	for (unsigned q = 1; q < a->ci->queues; q++) {
		if (td_bf_front_inflight(a->f) > 1 ||
		    target_io(a->f, a->c, q, 0, TD_BF_GEN_UNKNOWN, buf,
			      "another queue of the same connection")) {
			fails++;
			break;
		}
		printf("PASS queue %u of the same connection still serves\n",
		       q);
	}
	fo.nr_ios = 4;
	if (td_bf_front_connect(&fo, &f2, err, sizeof(err))) {
		printf("FAIL a second connection to the VBD: %s\n", err);
		return 1;
	}
	if (a->b->info & VDISK_READONLY) {
		if (target_io(f2, a->c, 0, 0, TD_BF_GEN_UNKNOWN, buf,
			      "a second connection"))
			fails++;
	} else if (target_io(f2, a->c, 0, 7, 7, buf, "a second connection")) {
		fails++;
	}
	if (!fails)
		printf("PASS a second connection to the VBD serves correct "
		       "data\n");
	td_bf_front_close(f2);
	printf("attack --overrun: %s\n", fails ? "FAILED" : "OK");
	return fails ? 1 : 0;
}

int td_bf_attack(const struct td_bf_cmd *c)
{
	struct actx a = { .c = c };
	struct td_bf_opts fo = c->fo;
	char err[256];
	int rc;

	fo.nr_ios = 4;
	if (td_bf_front_connect(&fo, &a.f, err, sizeof(err))) {
		fprintf(stderr, "attack: %s\n", err);
		return 1;
	}
	a.b = td_bf_front_back(a.f);
	a.ci = td_bf_front_info(a.f);
	a.disk = td_bf_disk_sectors(a.b);
	rc = c->overrun ? attack_overrun(&a) : attack_cases(&a);
	td_bf_front_close(a.f);
	return rc;
}
