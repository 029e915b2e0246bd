/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * verify: fill the tested zones with a known pattern, then run a random
 * mix of writes, reads, barriers, flushes and discards with odd segment
 * geometries (first_sect/last_sect anywhere in the page, direct and
 * indirect requests, every queue), checking every read against a shadow
 * of what each sector must hold, and finally read everything back.
 * Requests in flight never overlap, so the expected data is exact.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bf-pattern.h"
#include "bf-verbs.h"

#define SECTOR 512u
#define MAX_REPORTS 20u

enum vkind { V_READ, V_WRITE, V_BARRIER, V_FLUSH, V_DISCARD, V_NKINDS };

static const char *const kind_names[] = {
	"read", "write", "barrier", "flush", "discard",
};

struct vzone {
	uint64_t base, n;
	struct td_bf_shadow sh;
};

struct vrange {
	struct td_bf_io *io;
	uint64_t start, n;
};

struct vctx {
	const struct td_bf_cmd *c;
	struct td_bf_front *f;
	const struct td_blkif_back *b;
	const struct td_bf_conn_info *ci;
	uint64_t rng;
	struct vzone z[2];
	unsigned nz;
	uint32_t gen;
	unsigned next_q;
	struct vrange *busy;
	unsigned nbusy, depth;
	uint64_t count[V_NKINDS];
	uint64_t indirect_reqs, bytes_checked;
	uint64_t bad_bytes, bad_reqs, errors;
	int fatal;
};

uint64_t td_bf_disk_sectors(const struct td_blkif_back *b)
{
	uint32_t ss = b->sector_size ? b->sector_size : SECTOR;

	return b->sectors * (ss / SECTOR);
}

static void zones_update(struct vctx *v, uint64_t s, uint64_t n, uint32_t g)
{
	for (unsigned i = 0; i < v->nz; i++)
		td_bf_shadow_set(&v->z[i].sh, s, n, g);
}

static void busy_del(struct vctx *v, struct td_bf_io *io)
{
	for (unsigned i = 0; i < v->nbusy; i++) {
		if (v->busy[i].io == io) {
			v->busy[i] = v->busy[--v->nbusy];
			return;
		}
	}
}

static bool busy_overlaps(const struct vctx *v, uint64_t s, uint64_t n)
{
	for (unsigned i = 0; i < v->nbusy; i++) {
		if (s < v->busy[i].start + v->busy[i].n &&
		    v->busy[i].start < s + n)
			return true;
	}
	return false;
}

/* Checks a completed read segment by segment against the shadows. */
static void check_read(struct vctx *v, struct td_bf_io *io)
{
	uint64_t s = io->req.sector, fb = 0;
	size_t bad = 0;
	bool have_fb = false;

	for (unsigned i = 0; i < io->nseg; i++) {
		unsigned first = io->segs[i].first_sect;
		unsigned n = io->segs[i].last_sect - first + 1u;
		const unsigned char *d = io->seg_page[i] + first * SECTOR;

		for (unsigned z = 0; z < v->nz; z++) {
			uint64_t f1 = 0;
			size_t b1 = td_bf_shadow_check(&v->z[z].sh, d, s, n,
						       &f1);

			if (b1 && !have_fb) {
				fb = f1;
				have_fb = true;
			}
			bad += b1;
		}
		s += n;
		v->bytes_checked += (uint64_t)n * SECTOR;
	}
	if (!bad)
		return;
	v->bad_bytes += bad;
	if (v->bad_reqs++ < MAX_REPORTS)
		fprintf(stderr, "verify: mismatch: read of sectors %" PRIu64
			"..%" PRIu64 " (%u segments, queue %u): %zu bad "
			"bytes, first at byte offset %" PRIu64 "\n",
			io->req.sector, s - 1, io->nseg, io->queue, bad, fb);
}

static uint64_t io_sectors(const struct td_bf_io *io)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < io->nseg; i++)
		n += io->segs[i].last_sect - io->segs[i].first_sect + 1u;
	return n;
}

static void vdone(struct td_bf_io *io, void *arg)
{
	struct vctx *v = arg;
	enum vkind k = (enum vkind)(io->user & 0xff);
	uint32_t gen = (uint32_t)(io->user >> 8);
	uint64_t n = k == V_DISCARD ? io->req.nr_sectors : io_sectors(io);

	busy_del(v, io);
	if (io->status != BLKIF_RSP_OKAY) {
		v->errors++;
		fprintf(stderr, "verify: %s of %" PRIu64 " sectors at sector %"
			PRIu64 " failed with status %d\n", kind_names[k], n,
			io->req.sector, io->status);
		/* What a failed write or discard left is unknown. */
		if (k != V_READ && k != V_FLUSH)
			zones_update(v, io->req.sector, n, TD_BF_GEN_UNKNOWN);
	} else if (k == V_READ) {
		check_read(v, io);
	} else if (k == V_WRITE || k == V_BARRIER) {
		zones_update(v, io->req.sector, n, gen);
	} else if (k == V_DISCARD) {
		/* blkif has no "discard zeroes" key: contents unspecified. */
		zones_update(v, io->req.sector, n, TD_BF_GEN_UNKNOWN);
	}
	td_bf_io_put(io);
}

/* Waits for at least one completion; sets v->fatal on a dead backend. */
static void wait_one(struct vctx *v)
{
	int rc = td_bf_front_poll(v->f, -1);

	if (rc >= 0)
		return;
	if (rc == -ETIMEDOUT)
		fprintf(stderr, "verify: no response in %u ms with %u "
			"requests in flight\n", v->c->fo.timeout_ms,
			td_bf_front_inflight(v->f));
	else if (rc == -EPIPE)
		fprintf(stderr, "verify: the backend closed the connection\n");
	else if (rc != -EPROTO)
		fprintf(stderr, "verify: poll: %s\n", strerror(-rc));
	v->fatal = rc;
}

/* Submits on the next queue with room, waiting if all rings are full. */
static void submit(struct vctx *v, struct td_bf_io *io, enum vkind k,
		   uint32_t gen)
{
	unsigned nq = v->ci->queues;

	io->user = ((uint64_t)gen << 8) | k;
	io->done = vdone;
	io->arg = v;
	v->count[k]++;
	if (io->req.op == BLKIF_OP_INDIRECT)
		v->indirect_reqs++;
	while (!v->fatal) {
		for (unsigned t = 0; t < nq; t++) {
			unsigned q = (v->next_q + t) % nq;

			if (!td_bf_front_submit(v->f, io, q)) {
				v->next_q = q + 1;
				td_bf_front_kick(v->f);
				return;
			}
		}
		wait_one(v);
	}
	td_bf_io_put(io);
}

/* A free slot, waiting for completions if needed; NULL once fatal. */
static struct td_bf_io *get_io(struct vctx *v)
{
	struct td_bf_io *io;

	while (!v->fatal) {
		if (td_bf_front_inflight(v->f) < v->depth) {
			io = td_bf_io_get(v->f);
			if (io)
				return io;
		}
		wait_one(v);
	}
	return NULL;
}

static void drain(struct vctx *v)
{
	while (!v->fatal && td_bf_front_inflight(v->f))
		wait_one(v);
}

/*
 * Adds segments of a random geometry to @io, at most @nseg of them and
 * @max_sectors in all: whole pages, a buffer misaligned at both ends, or
 * every segment its own random [first, last].
 */
static uint64_t add_segments(struct vctx *v, struct td_bf_io *io,
			     unsigned nseg, uint64_t max_sectors)
{
	unsigned mode = (unsigned)td_bf_rand_below(&v->rng, 3);
	uint64_t total = 0;

	for (unsigned i = 0; i < nseg && total < max_sectors; i++) {
		unsigned first = 0, last = 7;

		if (mode == 1 && i == 0)
			first = (unsigned)td_bf_rand_below(&v->rng, 8);
		if (mode == 1 && i == nseg - 1)
			last = first + (unsigned)td_bf_rand_below(&v->rng,
								  8 - first);
		if (mode == 2) {
			first = (unsigned)td_bf_rand_below(&v->rng, 8);
			last = first + (unsigned)td_bf_rand_below(&v->rng,
								  8 - first);
		}
		if (total + (last - first + 1u) > max_sectors)
			last = first + (unsigned)(max_sectors - total) - 1u;
		td_bf_io_add_seg(io, first, last);
		total += last - first + 1u;
	}
	return total;
}

/* Fills each segment's sectors with generation @gen's pattern. */
static void fill_segments(struct vctx *v, struct td_bf_io *io, uint32_t gen)
{
	uint64_t s = io->req.sector;

	for (unsigned i = 0; i < io->nseg; i++) {
		unsigned first = io->segs[i].first_sect;
		unsigned n = io->segs[i].last_sect - first + 1u;

		td_bf_pattern_fill(io->seg_page[i] + first * SECTOR,
				   (size_t)n * SECTOR, v->c->seed, gen,
				   s * SECTOR);
		s += n;
	}
}

/* Segment count for the next request: often small, sometimes indirect. */
static unsigned pick_nseg(struct vctx *v)
{
	unsigned ms = v->ci->max_segs;

	if (ms > BLKIF_MAX_SEGMENTS_PER_REQUEST && td_bf_rand_below(&v->rng,
								   4) == 0)
		return BLKIF_MAX_SEGMENTS_PER_REQUEST + 1 +
		       (unsigned)td_bf_rand_below(
			       &v->rng, ms - BLKIF_MAX_SEGMENTS_PER_REQUEST);
	return 1 + (unsigned)td_bf_rand_below(&v->rng,
					      BLKIF_MAX_SEGMENTS_PER_REQUEST);
}

/* Picks a start in a zone for @n sectors not overlapping the in-flight. */
static bool pick_start(struct vctx *v, uint64_t n, uint64_t align,
		       uint64_t *start)
{
	for (unsigned t = 0; t < 16; t++) {
		const struct vzone *z = &v->z[td_bf_rand_below(&v->rng, v->nz)];
		uint64_t s;

		if (n > z->n)
			continue;
		s = z->base + td_bf_rand_below(&v->rng, z->n - n + 1);
		s -= s % align;
		if (s < z->base)
			continue;
		if (!busy_overlaps(v, s, n)) {
			*start = s;
			return true;
		}
	}
	return false;
}

static void track(struct vctx *v, struct td_bf_io *io, uint64_t s,
		  uint64_t n)
{
	v->busy[v->nbusy].io = io;
	v->busy[v->nbusy].start = s;
	v->busy[v->nbusy++].n = n;
}

/* One random read, write or barrier. */
static void do_rw(struct vctx *v, enum vkind k)
{
	static const uint8_t ops[] = { [V_READ] = BLKIF_OP_READ,
				       [V_WRITE] = BLKIF_OP_WRITE,
				       [V_BARRIER] = BLKIF_OP_WRITE_BARRIER };
	struct td_bf_io *io = get_io(v);
	uint64_t n, s;
	uint32_t gen = 0;
	unsigned nseg;

	if (!io)
		return;
	nseg = pick_nseg(v);
	/* Only reads and writes may be indirect. */
	if (k == V_BARRIER && nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST)
		nseg = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	n = add_segments(v, io, nseg, v->z[0].n);
	while (!pick_start(v, n, 1, &s)) {
		if (!td_bf_front_inflight(v->f)) {
			td_bf_io_put(io);
			return;
		}
		wait_one(v);
		if (v->fatal) {
			td_bf_io_put(io);
			return;
		}
	}
	if (td_bf_io_prep_rw(io, ops[k], s)) {
		td_bf_io_put(io);
		return;
	}
	if (k != V_READ) {
		gen = ++v->gen;
		fill_segments(v, io, gen);
	}
	track(v, io, s, n);
	submit(v, io, k, gen);
}

static void do_discard(struct vctx *v)
{
	uint64_t g = v->b->discard_granularity / SECTOR, s, n;
	struct td_bf_io *io;

	if (!g)
		g = 1;
	n = g * (1 + td_bf_rand_below(&v->rng, 64 / g ? 64 / g : 1));
	io = get_io(v);
	if (!io)
		return;
	if (!pick_start(v, n, g, &s)) {
		td_bf_io_put(io);
		return;
	}
	td_bf_io_prep_discard(io, s, n, 0);
	track(v, io, s, n);
	submit(v, io, V_DISCARD, 0);
}

static void do_flush(struct vctx *v)
{
	struct td_bf_io *io = get_io(v);

	if (!io)
		return;
	td_bf_io_prep_flush(io);
	submit(v, io, V_FLUSH, 0);
}

/* Adds whole-page segments (the last one partial) covering @n sectors. */
static void add_pages(struct td_bf_io *io, uint64_t n)
{
	for (uint64_t d = 0; d < n; d += 8)
		td_bf_io_add_seg(io, 0, n - d >= 8 ? 7 : (unsigned)(n - d - 1));
}

/*
 * Sequential pass over every zone: whole-page writes of the largest size
 * (@write) or reads of random geometry.
 */
static void pass(struct vctx *v, bool write)
{
	uint64_t most = 8ull * v->ci->max_segs;

	for (unsigned z = 0; z < v->nz && !v->fatal; z++) {
		uint64_t s = v->z[z].base, end = s + v->z[z].n;

		while (s < end && !v->fatal) {
			struct td_bf_io *io = get_io(v);
			uint64_t n;

			if (!io)
				return;
			if (write) {
				n = end - s < most ? end - s : most;
				add_pages(io, n);
			} else {
				n = add_segments(v, io, pick_nseg(v), end - s);
			}
			if (td_bf_io_prep_rw(io, write ? BLKIF_OP_WRITE
						       : BLKIF_OP_READ, s)) {
				td_bf_io_put(io);
				v->fatal = -EINVAL;
				return;
			}
			if (write)
				fill_segments(v, io, 1);
			track(v, io, s, n);
			submit(v, io, write ? V_WRITE : V_READ, 1);
			s += n;
		}
	}
	drain(v);
}

/* The random phase: a weighted mix of what the backend advertised. */
static void random_ops(struct vctx *v)
{
	bool flush = v->b->feature_flush_cache, barrier = v->b->feature_barrier;
	bool discard = v->b->feature_discard;

	for (unsigned i = 0; i < v->c->ops && !v->fatal; i++) {
		unsigned r = (unsigned)td_bf_rand_below(&v->rng, 100);

		if (r < 5 && flush)
			do_flush(v);
		else if (r < 10 && barrier)
			do_rw(v, V_BARRIER);
		else if (r < 16 && discard)
			do_discard(v);
		else if (r < 58)
			do_rw(v, V_WRITE);
		else
			do_rw(v, V_READ);
	}
	drain(v);
	if (flush && !v->fatal)
		do_flush(v);
	drain(v);
}

static int setup_zones(struct vctx *v, uint64_t disk)
{
	uint64_t want = v->c->size ? v->c->size / SECTOR : 32768;
	uint64_t tail;

	if (want > disk) {
		if (v->c->size) {
			fprintf(stderr, "verify: --size %" PRIu64 " is larger "
				"than the disk (%" PRIu64 " bytes)\n",
				v->c->size, disk * SECTOR);
			return -EINVAL;
		}
		want = disk;
	}
	v->z[0].base = 0;
	v->z[0].n = want;
	v->nz = 1;
	/* The last sectors too, so requests end exactly at the disk end. */
	tail = disk - want < 2048 ? disk - want : 2048;
	if (tail) {
		v->z[1].base = disk - tail;
		v->z[1].n = tail;
		v->nz = 2;
	}
	for (unsigned i = 0; i < v->nz; i++) {
		if (td_bf_shadow_init(&v->z[i].sh, v->c->seed, v->z[i].base,
				      v->z[i].n)) {
			fprintf(stderr, "verify: out of memory\n");
			return -ENOMEM;
		}
	}
	return 0;
}

static void report(struct vctx *v)
{
	const struct td_bf_conn_info *ci = v->ci;
	bool ok = !v->fatal && !v->bad_reqs && !v->errors;
	uint64_t total = 0;

	for (unsigned k = 0; k < V_NKINDS; k++)
		total += v->count[k];
	printf("verify: %s: %" PRIu64 " requests (%" PRIu64 " reads, %" PRIu64
	       " writes, %" PRIu64 " barriers, %" PRIu64 " flushes, %" PRIu64
	       " discards, %" PRIu64 " indirect), %" PRIu64 " KiB checked, %"
	       PRIu64 " mismatching reads (%" PRIu64 " bytes), %" PRIu64
	       " failed requests\n", ok ? "OK" : "FAILED", total,
	       v->count[V_READ], v->count[V_WRITE], v->count[V_BARRIER],
	       v->count[V_FLUSH], v->count[V_DISCARD], v->indirect_reqs,
	       v->bytes_checked / 1024, v->bad_reqs, v->bad_bytes, v->errors);
	printf("verify: ring-page-order %u, queues %u, indirect %u, "
	       "persistent %s, abi %s; backend: flush %u, barrier %u, "
	       "discard %u\n", ci->ring_order, ci->queues, ci->indirect,
	       ci->persistent ? "on" : "off", td_bf_abi_name(v->c->fo.abi),
	       v->b->feature_flush_cache, v->b->feature_barrier,
	       v->b->feature_discard);
	if (v->b->feature_discard)
		printf("verify: discarded ranges are not checked (blkif "
		       "does not say whether discard zeroes)\n");
}

int td_bf_verify(const struct td_bf_cmd *c)
{
	struct vctx v = { .c = c, .rng = c->seed * 2 + 1 };
	struct td_bf_opts fo = c->fo;
	char err[256];
	uint64_t disk;
	int rc;

	fo.nr_ios = c->depth;
	rc = td_bf_front_connect(&fo, &v.f, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "verify: %s\n", err);
		return 1;
	}
	v.b = td_bf_front_back(v.f);
	v.ci = td_bf_front_info(v.f);
	disk = td_bf_disk_sectors(v.b);
	v.depth = c->depth;
	if (v.b->info & VDISK_READONLY) {
		fprintf(stderr, "verify: the VBD is read-only; verify needs "
			"to write\n");
		td_bf_front_close(v.f);
		return 1;
	}
	v.busy = calloc(c->depth, sizeof(*v.busy));
	rc = v.busy ? setup_zones(&v, disk) : -ENOMEM;
	if (!rc) {
		pass(&v, true);
		if (v.b->feature_flush_cache && !v.fatal)
			do_flush(&v);
		drain(&v);
		v.gen = 1;
		random_ops(&v);
		if (!v.fatal)
			pass(&v, false);
		report(&v);
	}
	for (unsigned i = 0; i < v.nz; i++)
		td_bf_shadow_fini(&v.z[i].sh);
	free(v.busy);
	td_bf_front_close(v.f);
	return rc || v.fatal || v.bad_reqs || v.errors ? 1 : 0;
}
