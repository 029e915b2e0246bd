/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Each ABI is a table of field offsets. The native table is taken from
 * the compiler's layout of the blkif.h structs, the other two are the
 * layouts Linux blkback documents for 32- and 64-bit x86 guests; a guest
 * of the other word size lays 64-bit fields out differently, which is the
 * whole reason the backend has to translate.
 */
#include <errno.h>
#include <string.h>
#include "bf-abi.h"

struct bf_layout {
	size_t slot;
	/* read/write (and unknown ops) */
	size_t rw_nseg, rw_handle, rw_id, rw_sector, rw_seg;
	/* discard */
	size_t d_flag, d_handle, d_id, d_sector, d_nr;
	/* indirect */
	size_t i_op, i_nseg, i_id, i_sector, i_handle, i_grefs;
	/* response */
	size_t r_id, r_op, r_status;
};

#define NATIVE_SLOT                                                          \
	(sizeof(union blkif_sring_entry))

static const struct bf_layout layouts[] = {
	[TD_BF_ABI_NATIVE] = {
		.slot = NATIVE_SLOT,
		.rw_nseg = offsetof(struct blkif_request, nr_segments),
		.rw_handle = offsetof(struct blkif_request, handle),
		.rw_id = offsetof(struct blkif_request, id),
		.rw_sector = offsetof(struct blkif_request, sector_number),
		.rw_seg = offsetof(struct blkif_request, seg),
		.d_flag = offsetof(struct blkif_request_discard, flag),
		.d_handle = offsetof(struct blkif_request_discard, handle),
		.d_id = offsetof(struct blkif_request_discard, id),
		.d_sector = offsetof(struct blkif_request_discard,
				     sector_number),
		.d_nr = offsetof(struct blkif_request_discard, nr_sectors),
		.i_op = offsetof(struct blkif_request_indirect, indirect_op),
		.i_nseg = offsetof(struct blkif_request_indirect, nr_segments),
		.i_id = offsetof(struct blkif_request_indirect, id),
		.i_sector = offsetof(struct blkif_request_indirect,
				     sector_number),
		.i_handle = offsetof(struct blkif_request_indirect, handle),
		.i_grefs = offsetof(struct blkif_request_indirect,
				    indirect_grefs),
		.r_id = offsetof(struct blkif_response, id),
		.r_op = offsetof(struct blkif_response, operation),
		.r_status = offsetof(struct blkif_response, status),
	},
	[TD_BF_ABI_X86_32] = {
		.slot = 108,
		.rw_nseg = 1, .rw_handle = 2, .rw_id = 4, .rw_sector = 12,
		.rw_seg = 20,
		.d_flag = 1, .d_handle = 2, .d_id = 4, .d_sector = 12,
		.d_nr = 20,
		.i_op = 1, .i_nseg = 2, .i_id = 4, .i_sector = 12,
		.i_handle = 20, .i_grefs = 24,
		.r_id = 0, .r_op = 8, .r_status = 10,
	},
	[TD_BF_ABI_X86_64] = {
		.slot = 112,
		.rw_nseg = 1, .rw_handle = 2, .rw_id = 8, .rw_sector = 16,
		.rw_seg = 24,
		.d_flag = 1, .d_handle = 2, .d_id = 8, .d_sector = 16,
		.d_nr = 24,
		.i_op = 1, .i_nseg = 2, .i_id = 8, .i_sector = 16,
		.i_handle = 24, .i_grefs = 28,
		.r_id = 0, .r_op = 8, .r_status = 10,
	},
};

static const char *const abi_names[] = {
	[TD_BF_ABI_NATIVE] = "native",
	[TD_BF_ABI_X86_32] = "x86_32",
	[TD_BF_ABI_X86_64] = "x86_64",
};

int td_bf_abi_parse(const char *s, enum td_bf_abi *out)
{
	for (unsigned i = 0; i < sizeof(abi_names) / sizeof(abi_names[0]);
	     i++) {
		if (!strcmp(s, abi_names[i])) {
			*out = (enum td_bf_abi)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *td_bf_abi_name(enum td_bf_abi abi)
{
	return abi_names[abi];
}

size_t td_bf_abi_slot_size(enum td_bf_abi abi)
{
	return layouts[abi].slot;
}

unsigned td_bf_abi_ring_slots(enum td_bf_abi abi, unsigned order)
{
	size_t n = ((TD_BF_PAGE_SIZE << order) - TD_BF_SRING_HDR) /
		   layouts[abi].slot;
	unsigned p = 1;

	while ((size_t)p * 2 <= n)
		p *= 2;
	return p;
}

/* Unaligned little-or-native-endian stores: the ring is host-endian. */
#define PUT(base, off, val)                                                  \
	do {                                                                 \
		__typeof__(val) v_ = (val);                                  \
		memcpy((char *)(base) + (off), &v_, sizeof(v_));             \
	} while (0)
#define GET(base, off, var)                                                  \
	memcpy(&(var), (const char *)(base) + (off), sizeof(var))

void td_bf_abi_encode_req(enum td_bf_abi abi, const struct td_bf_req *req,
			  void *slot)
{
	const struct bf_layout *l = &layouts[abi];

	memset(slot, 0, l->slot);
	PUT(slot, 0, req->op);
	switch (req->op) {
	case BLKIF_OP_DISCARD:
		PUT(slot, l->d_flag, req->discard_flag);
		PUT(slot, l->d_handle, req->handle);
		PUT(slot, l->d_id, req->id);
		PUT(slot, l->d_sector, req->sector);
		PUT(slot, l->d_nr, req->nr_sectors);
		break;
	case BLKIF_OP_INDIRECT:
		PUT(slot, l->i_op, req->indirect_op);
		PUT(slot, l->i_nseg, req->nr_segments);
		PUT(slot, l->i_id, req->id);
		PUT(slot, l->i_sector, req->sector);
		PUT(slot, l->i_handle, req->handle);
		memcpy((char *)slot + l->i_grefs, req->indirect_grefs,
		       sizeof(req->indirect_grefs));
		break;
	default:
		PUT(slot, l->rw_nseg, (uint8_t)req->nr_segments);
		PUT(slot, l->rw_handle, req->handle);
		PUT(slot, l->rw_id, req->id);
		PUT(slot, l->rw_sector, req->sector);
		memcpy((char *)slot + l->rw_seg, req->seg, sizeof(req->seg));
		break;
	}
}

void td_bf_abi_decode_req(enum td_bf_abi abi, const void *slot,
			  struct td_bf_req *req)
{
	const struct bf_layout *l = &layouts[abi];
	uint8_t n8;

	memset(req, 0, sizeof(*req));
	GET(slot, 0, req->op);
	switch (req->op) {
	case BLKIF_OP_DISCARD:
		GET(slot, l->d_flag, req->discard_flag);
		GET(slot, l->d_handle, req->handle);
		GET(slot, l->d_id, req->id);
		GET(slot, l->d_sector, req->sector);
		GET(slot, l->d_nr, req->nr_sectors);
		break;
	case BLKIF_OP_INDIRECT:
		GET(slot, l->i_op, req->indirect_op);
		GET(slot, l->i_nseg, req->nr_segments);
		GET(slot, l->i_id, req->id);
		GET(slot, l->i_sector, req->sector);
		GET(slot, l->i_handle, req->handle);
		memcpy(req->indirect_grefs, (const char *)slot + l->i_grefs,
		       sizeof(req->indirect_grefs));
		break;
	default:
		GET(slot, l->rw_nseg, n8);
		req->nr_segments = n8;
		GET(slot, l->rw_handle, req->handle);
		GET(slot, l->rw_id, req->id);
		GET(slot, l->rw_sector, req->sector);
		memcpy(req->seg, (const char *)slot + l->rw_seg,
		       sizeof(req->seg));
		break;
	}
}

void td_bf_abi_decode_rsp(enum td_bf_abi abi, const void *slot,
			  struct td_bf_rsp *rsp)
{
	const struct bf_layout *l = &layouts[abi];

	GET(slot, l->r_id, rsp->id);
	GET(slot, l->r_op, rsp->op);
	GET(slot, l->r_status, rsp->status);
}

void td_bf_abi_encode_rsp(enum td_bf_abi abi, const struct td_bf_rsp *rsp,
			  void *slot)
{
	const struct bf_layout *l = &layouts[abi];

	memset(slot, 0, l->slot);
	PUT(slot, l->r_id, rsp->id);
	PUT(slot, l->r_op, rsp->op);
	PUT(slot, l->r_status, rsp->status);
}
