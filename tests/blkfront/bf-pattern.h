/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Deterministic data patterns and the shadow map that says what each
 * sector of the disk should hold. A pattern word depends on the seed, a
 * write generation and the absolute disk offset, so a read that returns
 * another sector's data, an older write, or a stale page is caught, and a
 * mismatch can be reported with its byte offset. Pure, single-threaded.
 */
#ifndef TD_BF_PATTERN_H
#define TD_BF_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shadow state of a sector that must read back as zeroes. */
#define TD_BF_GEN_ZERO UINT32_MAX
/* Shadow state of a sector whose contents are unspecified: not checked. */
#define TD_BF_GEN_UNKNOWN 0u

/* The 8-byte word stored at disk byte @off (a multiple of 8). */
uint64_t td_bf_pattern_word(uint64_t seed, uint32_t gen, uint64_t off);

/*
 * Fills @len bytes of @buf with the pattern of disk bytes [off, off+len).
 * @off and @len are multiples of 8. gen TD_BF_GEN_ZERO fills zeroes.
 */
void td_bf_pattern_fill(void *buf, size_t len, uint64_t seed, uint32_t gen,
			uint64_t off);

/*
 * Compares @buf against the pattern of [off, off+len). Returns the number
 * of differing bytes; if not zero, *first_bad gets the disk offset of the
 * first one. Same alignment rules as fill.
 */
size_t td_bf_pattern_check(const void *buf, size_t len, uint64_t seed,
			   uint32_t gen, uint64_t off, uint64_t *first_bad);

/* What every sector of the tested range [base, base + nr_sectors) holds. */
struct td_bf_shadow {
	uint64_t seed;
	uint64_t base;
	uint64_t nr_sectors;
	uint32_t *gen;  /* per sector; owned */
};

/*
 * Allocates a shadow of @nr_sectors starting at disk sector @base, all
 * TD_BF_GEN_UNKNOWN. Returns 0 or -ENOMEM.
 */
int td_bf_shadow_init(struct td_bf_shadow *s, uint64_t seed, uint64_t base,
		      uint64_t nr_sectors);
void td_bf_shadow_fini(struct td_bf_shadow *s);

/*
 * Records that [sector, sector+n) now holds generation @gen; the part
 * outside the shadow's range is ignored.
 */
void td_bf_shadow_set(struct td_bf_shadow *s, uint64_t sector, uint64_t n,
		      uint32_t gen);

/*
 * Checks @n sectors read from @sector (data in @buf, n * 512 bytes)
 * against the shadow; unknown sectors and sectors outside the shadow's
 * range are skipped. Returns the number of
 * bad bytes and the disk offset of the first in *first_bad.
 */
size_t td_bf_shadow_check(const struct td_bf_shadow *s, const void *buf,
			  uint64_t sector, uint64_t n, uint64_t *first_bad);

#endif
