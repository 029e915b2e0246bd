/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private helpers of the VHD format library (the drivers/vhd sources only):
 * big-endian accessors, rounding, and the synchronous I/O primitives the
 * file layer shares. Not part of the library contract.
 */
#ifndef TD_VHD_PRIV_H
#define TD_VHD_PRIV_H

#include <inttypes.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "vhd-format.h"

static inline uint16_t vhd_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t vhd_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t vhd_get64(const uint8_t *p)
{
	return (uint64_t)vhd_get32(p) << 32 | vhd_get32(p + 4);
}

static inline void vhd_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void vhd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void vhd_put64(uint8_t *p, uint64_t v)
{
	vhd_put32(p, (uint32_t)(v >> 32));
	vhd_put32(p + 4, (uint32_t)v);
}

static inline uint64_t vhd_round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Aligned (4 KiB) zeroed buffer of @len bytes, or NULL. free() it. */
void *vhd_alloc(size_t len);

/* Full pread/pwrite with EINTR and short-transfer retry; 0 or -errno
 * (-EIO on an unexpected end of file). */
int vhd_pread(int fd, void *buf, size_t len, uint64_t off);
int vhd_pwrite(int fd, const void *buf, size_t len, uint64_t off);

/* File layer internals shared between vhd-file.c and vhd-create.c. */
uint64_t vhd_end_of_data(const struct td_vhd *v);
/* Recomputes v->next_db from the end of data (4 KiB-aligned data). */
void vhd_set_next_db(struct td_vhd *v);
int vhd_make_locators(const char *child, const char *parent,
		      struct td_vhd_header *h, uint64_t off,
		      uint8_t *buf, size_t buflen, size_t *used,
		      struct td_vhd_err *err);

/*
 * blktap's canonpath: the absolute path naming @path as a parent. A
 * logical volume (/dev/VG/LV, /dev/mapper/NAME) is named by its
 * device-mapper node /dev/mapper/VG-LV ('-' doubled inside names) when
 * that exists, which outlives re-activation (realpath would give
 * /dev/dm-N) and is what XenServer's storage manager decodes; anything
 * else by realpath(). Returns 0 or -errno.
 */
int vhd_canonpath(const char *path, char *out, size_t outlen);

#endif /* TD_VHD_PRIV_H */
