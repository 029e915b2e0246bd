/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Latency histogram for the bench verb: log-linear buckets (64 per power
 * of two, so a percentile is within ~1.6% of the true value), fixed size,
 * no allocation while recording. Single-threaded.
 */
#ifndef TD_BF_STATS_H
#define TD_BF_STATS_H

#include <stdint.h>

#define TD_BF_HIST_SUB 64u
/* Exact below 128; then (msb - 6) * 64 + top 7 bits: at most 3775. */
#define TD_BF_HIST_BUCKETS (59u * TD_BF_HIST_SUB)

struct td_bf_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min, max;
	uint64_t bucket[TD_BF_HIST_BUCKETS];
};

/* Empties @h. */
void td_bf_hist_init(struct td_bf_hist *h);

/* Records one value (nanoseconds, or any unit). */
void td_bf_hist_add(struct td_bf_hist *h, uint64_t v);

/*
 * Value at percentile @p (0 < p <= 100): the smallest recorded value
 * such that at least p% of the samples are <= it, to bucket precision
 * and clamped to [min, max]. 0 if empty.
 */
uint64_t td_bf_hist_percentile(const struct td_bf_hist *h, double p);

/* Mean, 0 if empty. */
uint64_t td_bf_hist_mean(const struct td_bf_hist *h);

#endif
