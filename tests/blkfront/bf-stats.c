/* SPDX-License-Identifier: GPL-2.0-only */
#include <string.h>
#include "bf-stats.h"

_Static_assert((63u - 6u) * TD_BF_HIST_SUB + 2u * TD_BF_HIST_SUB - 1u <
		       TD_BF_HIST_BUCKETS, "histogram too small for 2^64");

/* Values below 2*SUB get a bucket each; above, 64 buckets per octave. */
static unsigned bucket_of(uint64_t v)
{
	unsigned msb, e;

	if (v < 2 * TD_BF_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	e = msb - 6u;
	return e * TD_BF_HIST_SUB + (unsigned)(v >> e);
}

/* Midpoint of the values a bucket holds. */
static uint64_t bucket_mid(unsigned idx)
{
	unsigned e;
	uint64_t m;

	if (idx < 2 * TD_BF_HIST_SUB)
		return idx;
	e = idx / TD_BF_HIST_SUB - 1u;
	m = idx % TD_BF_HIST_SUB + TD_BF_HIST_SUB;
	return (m << e) + (((uint64_t)1 << e) - 1) / 2;
}

void td_bf_hist_init(struct td_bf_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void td_bf_hist_add(struct td_bf_hist *h, uint64_t v)
{
	h->bucket[bucket_of(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

uint64_t td_bf_hist_percentile(const struct td_bf_hist *h, double p)
{
	uint64_t rank, seen = 0, v;

	if (!h->count)
		return 0;
	rank = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)rank < p / 100.0 * (double)h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank >= h->count)
		return h->max;
	for (unsigned i = 0; i < TD_BF_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen < rank)
			continue;
		v = bucket_mid(i);
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}

uint64_t td_bf_hist_mean(const struct td_bf_hist *h)
{
	return h->count ? h->sum / h->count : 0;
}
