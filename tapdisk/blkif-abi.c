// SPDX-License-Identifier: GPL-2.0-only
/*
 * Request layouts of the three blkif ABIs, as byte offsets, and the
 * decoder that turns our private copy of a ring entry into one form.
 *
 * The x86_32 ABI aligns uint64_t on 4 bytes, so "id" follows the 4-byte
 * header directly; the x86_64 ABI pads it to 8. "native" is whatever the
 * compiler makes of xen/io/blkif.h on this host (the x86_64 layout on
 * every 64-bit Linux target). Segments (8 bytes) and the 64-byte shared
 * ring header are the same everywhere. Responses are id (u64, offset 0),
 * operation (u8, offset 8), status (s16, offset 10), padded to 12 bytes
 * on x86_32 and 16 on x86_64.
 */
#include <stddef.h>
#include <string.h>
#include "blkif-priv.h"

static const struct blkif_abi abi_native = {
	.name = TD_BLKIF_PROTO_NATIVE,
	.entry_size = sizeof(union blkif_sring_entry),
	.rsp_size = sizeof(struct blkif_response),
	.id_off = offsetof(struct blkif_request, id),
	.sector_off = offsetof(struct blkif_request, sector_number),
	.seg_off = offsetof(struct blkif_request, seg),
	.dnr_off = offsetof(struct blkif_request_discard, nr_sectors),
	.i_id_off = offsetof(struct blkif_request_indirect, id),
	.i_sector_off = offsetof(struct blkif_request_indirect, sector_number),
	.i_grefs_off = offsetof(struct blkif_request_indirect, indirect_grefs),
};

static const struct blkif_abi abi_x86_32 = {
	.name = TD_BLKIF_PROTO_X86_32,
	.entry_size = 108, /* 20 + 11 * 8 */
	.rsp_size = 12,
	.id_off = 4,
	.sector_off = 12,
	.seg_off = 20,
	.dnr_off = 20,
	.i_id_off = 4,
	.i_sector_off = 12,
	.i_grefs_off = 24, /* after handle (20) and 2 bytes of padding */
};

static const struct blkif_abi abi_x86_64 = {
	.name = TD_BLKIF_PROTO_X86_64,
	.entry_size = 112, /* 24 + 11 * 8 */
	.rsp_size = 16,
	.id_off = 8,
	.sector_off = 16,
	.seg_off = 24,
	.dnr_off = 24,
	.i_id_off = 8,
	.i_sector_off = 16,
	.i_grefs_off = 28, /* after handle (24) and 2 bytes of padding */
};

_Static_assert(sizeof(union blkif_sring_entry) <= BLKIF_MAX_ENTRY,
	       "native entry fits our copy buffer");
_Static_assert(offsetof(struct blkif_sring, ring) == BLKIF_SRING_HDR,
	       "shared ring header");
_Static_assert(sizeof(struct blkif_request_segment) == BLKIF_SEG_SIZE,
	       "segment size");

const struct blkif_abi *blkif_abi_lookup(const char *protocol)
{
	if (!strcmp(protocol, abi_native.name))
		return &abi_native;
	if (!strcmp(protocol, abi_x86_32.name))
		return &abi_x86_32;
	if (!strcmp(protocol, abi_x86_64.name))
		return &abi_x86_64;
	return NULL;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

void blkif_abi_decode(const struct blkif_abi *abi, const uint8_t *raw,
		      struct blkif_msg *m)
{
	unsigned i;

	memset(m, 0, sizeof(*m));
	m->operation = raw[0];
	m->op = raw[0];
	switch (m->operation) {
	case BLKIF_OP_DISCARD:
		m->flag = raw[1];
		m->id = get64(raw + abi->id_off);
		m->sector = get64(raw + abi->sector_off);
		m->nr_sectors = get64(raw + abi->dnr_off);
		break;
	case BLKIF_OP_INDIRECT:
		m->op = raw[1];
		m->nseg = get16(raw + 2);
		m->id = get64(raw + abi->i_id_off);
		m->sector = get64(raw + abi->i_sector_off);
		for (i = 0; i < BLKIF_MAX_INDIRECT_PAGES; i++)
			m->igrefs[i] = get32(raw + abi->i_grefs_off + 4 * i);
		break;
	default:
		/* READ, WRITE, FLUSH, BARRIER, and unknown ops (for the id). */
		m->nseg = raw[1];
		m->id = get64(raw + abi->id_off);
		m->sector = get64(raw + abi->sector_off);
		for (i = 0; i < BLKIF_MAX_SEGS; i++) {
			const uint8_t *s =
				raw + abi->seg_off + i * BLKIF_SEG_SIZE;

			m->seg[i].gref = get32(s);
			m->seg[i].first = s[4];
			m->seg[i].last = s[5];
		}
		break;
	}
}

void blkif_abi_put_rsp(const struct blkif_abi *abi, uint8_t *entry,
		       uint64_t id, uint8_t op, int16_t status)
{
	uint8_t rsp[16];

	memset(rsp, 0, sizeof(rsp));
	memcpy(rsp, &id, sizeof(id));
	rsp[8] = op;
	memcpy(rsp + 10, &status, sizeof(status));
	memcpy(entry, rsp, abi->rsp_size);
}

uint32_t blkif_abi_ring_size(const struct blkif_abi *abi, unsigned npages)
{
	uint32_t n = (npages * BLKIF_PAGE_SIZE - BLKIF_SRING_HDR) /
		     abi->entry_size;
	uint32_t p = 1;

	while (p * 2 <= n)
		p *= 2;
	return p;
}
