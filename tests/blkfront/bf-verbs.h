/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The verbs of td-blkfront and the options they share. main() parses the
 * command line into a struct td_bf_cmd (validated there, one-line errors)
 * and calls one verb, which connects, runs and returns the exit status.
 */
#ifndef TD_BF_VERBS_H
#define TD_BF_VERBS_H

#include <stdbool.h>
#include <stdint.h>
#include "bf-front.h"

struct td_bf_xs;

enum td_bf_pattern_kind {
	TD_BF_SEQ,
	TD_BF_RAND,
};

struct td_bf_cmd {
	struct td_bf_opts fo;    /* connection: sock_path, abi, ring, ... */
	uint64_t seed;
	bool verbose;
	bool json;

	/* verify */
	uint64_t size;           /* bytes of the disk to exercise, 0: auto */
	unsigned ops;            /* random operations after the fill */
	unsigned depth;          /* requests in flight */

	/* bench */
	enum td_bf_pattern_kind kind;
	bool mixed;              /* rw or randrw: read_pct applies */
	unsigned read_pct;       /* 0..100 */
	uint32_t bs;             /* bytes, multiple of 512 */
	double runtime;          /* seconds */

	/* attack */
	bool overrun;

	/* xenstore mode (--xenstore): the handshake's state, or NULL */
	struct td_bf_xs *xs;
};

/* Each returns the process exit status: 0 success, 1 failure. */
int td_bf_verify(const struct td_bf_cmd *c);
int td_bf_bench(const struct td_bf_cmd *c);
int td_bf_attack(const struct td_bf_cmd *c);
/* xenstore mode only: waits for an online resize (bf-resize.c). */
int td_bf_resize_wait(const struct td_bf_cmd *c);

/* Disk size in 512-byte sectors as the backend advertised it. */
uint64_t td_bf_disk_sectors(const struct td_blkif_back *b);

/* xorshift64*: deterministic per seed, good enough for test choices. */
static inline uint64_t td_bf_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform-ish in [0, n), n > 0. */
static inline uint64_t td_bf_rand_below(uint64_t *s, uint64_t n)
{
	return td_bf_rand(s) % n;
}

#endif
