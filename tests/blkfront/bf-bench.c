/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench: keeps --iodepth requests of --bs bytes in flight for --runtime
 * seconds, random or sequential, with a read/write mix, spread over the
 * queues, and reports IOPS, bandwidth and latency percentiles (text, or
 * JSON with --json). Data is whatever the granted pages hold: like fio,
 * the benchmark measures the transport and the backend, not memcpy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bf-stats.h"
#include "bf-verbs.h"

#define SECTOR 512u

struct bdir {
	struct td_bf_hist h;
	uint64_t bytes;
};

struct bctx {
	const struct td_bf_cmd *c;
	struct td_bf_front *f;
	const struct td_bf_conn_info *ci;
	uint64_t rng;
	uint64_t region;      /* sectors */
	uint64_t blocks;      /* region / bs */
	uint64_t next_block;  /* sequential cursor */
	unsigned next_q;
	uint64_t errors;
	struct bdir dir[2];   /* 0 read, 1 write */
};

static void bdone(struct td_bf_io *io, void *arg)
{
	struct bctx *b = arg;
	struct bdir *d = &b->dir[io->user];

	if (io->status != BLKIF_RSP_OKAY) {
		if (b->errors++ < 5)
			fprintf(stderr, "bench: request at sector %" PRIu64
				" failed with status %d\n", io->req.sector,
				io->status);
	} else {
		td_bf_hist_add(&d->h, io->complete_ns - io->submit_ns);
		d->bytes += b->c->bs;
	}
	td_bf_io_put(io);
}

/* Builds the segments of one bs-sized request once per slot. */
static void shape(struct bctx *b, struct td_bf_io *io)
{
	uint32_t left = b->c->bs / SECTOR;

	io->nseg = 0;
	while (left) {
		unsigned n = left < 8 ? left : 8;

		td_bf_io_add_seg(io, 0, n - 1);
		left -= n;
	}
}

static int issue(struct bctx *b, struct td_bf_io *io)
{
	uint64_t blk;
	bool write;
	unsigned nq = b->ci->queues;
	int rc;

	if (b->c->kind == TD_BF_RAND) {
		blk = td_bf_rand_below(&b->rng, b->blocks);
	} else {
		blk = b->next_block++;
		if (b->next_block >= b->blocks)
			b->next_block = 0;
	}
	write = td_bf_rand_below(&b->rng, 100) >= b->c->read_pct;
	rc = td_bf_io_prep_rw(io, write ? BLKIF_OP_WRITE : BLKIF_OP_READ,
			      blk * (b->c->bs / SECTOR));
	if (rc)
		return rc;
	io->user = write;
	for (unsigned t = 0; t < nq; t++) {
		unsigned q = (b->next_q + t) % nq;

		rc = td_bf_front_submit(b->f, io, q);
		if (rc != -EBUSY) {
			b->next_q = q + 1;
			return rc;
		}
	}
	return rc;
}

static void print_dir_text(const char *name, const struct bdir *d,
			   double secs)
{
	const struct td_bf_hist *h = &d->h;

	printf("  %-5s: %.0f IOPS, %.1f MiB/s, latency us: mean %.1f p50 "
	       "%.1f p99 %.1f p99.9 %.1f max %.1f (%" PRIu64 " ios)\n", name,
	       (double)h->count / secs, (double)d->bytes / secs / 1048576.0,
	       (double)td_bf_hist_mean(h) / 1e3,
	       (double)td_bf_hist_percentile(h, 50) / 1e3,
	       (double)td_bf_hist_percentile(h, 99) / 1e3,
	       (double)td_bf_hist_percentile(h, 99.9) / 1e3,
	       (double)h->max / 1e3, h->count);
}

static void print_dir_json(const char *name, const struct bdir *d,
			   double secs, bool comma)
{
	const struct td_bf_hist *h = &d->h;

	printf("\"%s\": {\"ios\": %" PRIu64 ", \"iops\": %.1f, "
	       "\"bw_bytes\": %.0f, \"mib_s\": %.2f, \"lat_us\": {"
	       "\"mean\": %.2f, \"p50\": %.2f, \"p99\": %.2f, "
	       "\"p99.9\": %.2f, \"max\": %.2f}}%s", name, h->count,
	       (double)h->count / secs, (double)d->bytes / secs,
	       (double)d->bytes / secs / 1048576.0,
	       (double)td_bf_hist_mean(h) / 1e3,
	       (double)td_bf_hist_percentile(h, 50) / 1e3,
	       (double)td_bf_hist_percentile(h, 99) / 1e3,
	       (double)td_bf_hist_percentile(h, 99.9) / 1e3,
	       (double)h->max / 1e3, comma ? ", " : "");
}

static const char *rw_name(const struct td_bf_cmd *c)
{
	bool r = c->kind == TD_BF_RAND;

	if (c->read_pct == 100)
		return r ? "randread" : "read";
	if (c->read_pct == 0)
		return r ? "randwrite" : "write";
	return r ? "randrw" : "rw";
}

static void report(struct bctx *b, double secs)
{
	const struct td_bf_cmd *c = b->c;
	struct bdir all = b->dir[0];

	for (unsigned i = 0; i < TD_BF_HIST_BUCKETS; i++)
		all.h.bucket[i] += b->dir[1].h.bucket[i];
	all.h.count += b->dir[1].h.count;
	all.h.sum += b->dir[1].h.sum;
	all.h.min = all.h.min < b->dir[1].h.min ? all.h.min : b->dir[1].h.min;
	all.h.max = all.h.max > b->dir[1].h.max ? all.h.max : b->dir[1].h.max;
	all.bytes += b->dir[1].bytes;
	if (c->json) {
		printf("{\"rw\": \"%s\", \"bs\": %u, \"iodepth\": %u, "
		       "\"queues\": %u, \"ring_page_order\": %u, "
		       "\"indirect\": %u, \"persistent\": %s, \"abi\": \"%s\", "
		       "\"runtime_s\": %.3f, \"errors\": %" PRIu64 ", ",
		       rw_name(c), c->bs, c->depth, b->ci->queues,
		       b->ci->ring_order, b->ci->indirect,
		       b->ci->persistent ? "true" : "false",
		       td_bf_abi_name(c->fo.abi), secs, b->errors);
		print_dir_json("total", &all, secs, true);
		print_dir_json("read", &b->dir[0], secs, true);
		print_dir_json("write", &b->dir[1], secs, false);
		printf("}\n");
		return;
	}
	printf("bench: %s bs=%u iodepth=%u queues=%u ring-page-order=%u "
	       "indirect=%u persistent=%s abi=%s runtime=%.2fs errors=%"
	       PRIu64 "\n", rw_name(c), c->bs, c->depth, b->ci->queues,
	       b->ci->ring_order, b->ci->indirect,
	       b->ci->persistent ? "on" : "off", td_bf_abi_name(c->fo.abi),
	       secs, b->errors);
	print_dir_text("total", &all, secs);
	if (b->dir[0].h.count)
		print_dir_text("read", &b->dir[0], secs);
	if (b->dir[1].h.count)
		print_dir_text("write", &b->dir[1], secs);
}

/* Runs until the deadline, then drains. Returns 0 or -errno. */
static int run(struct bctx *b, uint64_t deadline)
{
	struct td_bf_io *io;
	int rc = 0;

	for (;;) {
		bool more = td_bf_now_ns() < deadline;

		while (more && (io = td_bf_io_get(b->f))) {
			shape(b, io);
			io->done = bdone;
			io->arg = b;
			rc = issue(b, io);
			if (rc) {
				td_bf_io_put(io);
				return rc;
			}
		}
		td_bf_front_kick(b->f);
		if (!more && !td_bf_front_inflight(b->f))
			return 0;
		rc = td_bf_front_poll(b->f, -1);
		if (rc < 0)
			return rc;
	}
}

static int check_fit(struct bctx *b, const struct td_blkif_back *bk)
{
	const struct td_bf_cmd *c = b->c;
	unsigned nseg = (c->bs + 4095) / 4096;
	uint64_t disk = td_bf_disk_sectors(bk);

	if (nseg > b->ci->max_segs) {
		fprintf(stderr, "bench: --bs %u needs %u segments, the "
			"connection allows %u (raise --indirect)\n", c->bs,
			nseg, b->ci->max_segs);
		return -EINVAL;
	}
	if (c->depth > b->ci->queues * b->ci->ring_slots) {
		fprintf(stderr, "bench: --iodepth %u exceeds the rings' %u "
			"slots (raise --ring-order or --queues)\n", c->depth,
			b->ci->queues * b->ci->ring_slots);
		return -EINVAL;
	}
	if (c->read_pct < 100 && (bk->info & VDISK_READONLY)) {
		fprintf(stderr, "bench: the VBD is read-only; use --rw read "
			"or randread\n");
		return -EROFS;
	}
	b->region = c->size ? c->size / SECTOR : disk;
	if (b->region > disk) {
		fprintf(stderr, "bench: --size %" PRIu64 " is larger than the "
			"disk (%" PRIu64 " bytes)\n", c->size, disk * SECTOR);
		return -EINVAL;
	}
	b->blocks = b->region / (c->bs / SECTOR);
	if (!b->blocks) {
		fprintf(stderr, "bench: --bs %u is larger than the region\n",
			c->bs);
		return -EINVAL;
	}
	return 0;
}

int td_bf_bench(const struct td_bf_cmd *c)
{
	struct bctx *b = calloc(1, sizeof(*b));
	struct td_bf_opts fo = c->fo;
	char err[256];
	uint64_t t0, t1;
	int rc;

	if (!b) {
		fprintf(stderr, "bench: out of memory\n");
		return 1;
	}
	b->c = c;
	b->rng = c->seed * 2 + 1;
	td_bf_hist_init(&b->dir[0].h);
	td_bf_hist_init(&b->dir[1].h);
	fo.nr_ios = c->depth;
	rc = td_bf_front_connect(&fo, &b->f, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "bench: %s\n", err);
		free(b);
		return 1;
	}
	b->ci = td_bf_front_info(b->f);
	rc = check_fit(b, td_bf_front_back(b->f));
	if (!rc) {
		t0 = td_bf_now_ns();
		rc = run(b, t0 + (uint64_t)(c->runtime * 1e9));
		t1 = td_bf_now_ns();
		if (rc == -ETIMEDOUT)
			fprintf(stderr, "bench: no response in %u ms\n",
				c->fo.timeout_ms);
		else if (rc == -EPIPE)
			fprintf(stderr, "bench: the backend closed the "
				"connection\n");
		else if (rc && rc != -EPROTO)
			fprintf(stderr, "bench: %s\n", strerror(-rc));
		if (!rc)
			report(b, (double)(t1 - t0) / 1e9);
	}
	td_bf_front_close(b->f);
	rc = rc || b->errors ? 1 : 0;
	free(b);
	return rc;
}
