/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bf-pattern.h"

#define SECTOR 512u

/* splitmix64 finaliser: cheap, and every input bit affects every output. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t td_bf_pattern_word(uint64_t seed, uint32_t gen, uint64_t off)
{
	if (gen == TD_BF_GEN_ZERO)
		return 0;
	return mix(seed ^ mix(((uint64_t)gen << 40) ^ (off >> 3)));
}

void td_bf_pattern_fill(void *buf, size_t len, uint64_t seed, uint32_t gen,
			uint64_t off)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = td_bf_pattern_word(seed, gen, off + i);

		memcpy(p + i, &w, 8);
	}
}

size_t td_bf_pattern_check(const void *buf, size_t len, uint64_t seed,
			   uint32_t gen, uint64_t off, uint64_t *first_bad)
{
	const unsigned char *p = buf;
	size_t bad = 0;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = td_bf_pattern_word(seed, gen, off + i);
		const unsigned char *e = (const unsigned char *)&w;

		if (!memcmp(p + i, e, 8))
			continue;
		for (unsigned b = 0; b < 8; b++) {
			if (p[i + b] == e[b])
				continue;
			if (!bad++)
				*first_bad = off + i + b;
		}
	}
	return bad;
}

int td_bf_shadow_init(struct td_bf_shadow *s, uint64_t seed, uint64_t base,
		      uint64_t nr_sectors)
{
	s->seed = seed;
	s->base = base;
	s->nr_sectors = nr_sectors;
	s->gen = calloc(nr_sectors ? nr_sectors : 1, sizeof(*s->gen));
	return s->gen ? 0 : -ENOMEM;
}

void td_bf_shadow_fini(struct td_bf_shadow *s)
{
	free(s->gen);
	s->gen = NULL;
}

void td_bf_shadow_set(struct td_bf_shadow *s, uint64_t sector, uint64_t n,
		      uint32_t gen)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t x = sector + i - s->base;

		if (sector + i >= s->base && x < s->nr_sectors)
			s->gen[x] = gen;
	}
}

size_t td_bf_shadow_check(const struct td_bf_shadow *s, const void *buf,
			  uint64_t sector, uint64_t n, uint64_t *first_bad)
{
	const unsigned char *p = buf;
	size_t bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t x = sector + i - s->base;
		uint64_t fb = 0;
		uint32_t g;
		size_t b;

		if (sector + i < s->base || x >= s->nr_sectors)
			continue;
		g = s->gen[x];
		if (g == TD_BF_GEN_UNKNOWN)
			continue;
		b = td_bf_pattern_check(p + i * SECTOR, SECTOR, s->seed, g,
					(sector + i) * SECTOR, &fb);
		if (b && !bad)
			*first_bad = fb;
		bad += b;
	}
	return bad;
}
