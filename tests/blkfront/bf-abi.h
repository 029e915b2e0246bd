/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * blkif request/response encoding for the three ring ABIs a guest may
 * speak: native (this machine's struct layout), x86_32 (4-byte aligned
 * 64-bit fields) and x86_64. The frontend simulator builds requests in
 * one ABI-neutral form and encodes them into ring slots here, so the same
 * verbs run against every ABI. Pure functions, no state: safe anywhere.
 */
#ifndef TD_BF_ABI_H
#define TD_BF_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <xen/io/blkif.h>

enum td_bf_abi {
	TD_BF_ABI_NATIVE,
	TD_BF_ABI_X86_32,
	TD_BF_ABI_X86_64,
};

/* Bytes of the shared ring header before the first entry. */
#define TD_BF_SRING_HDR 64u
#define TD_BF_PAGE_SIZE 4096u
/* blkif_request_segment is 8 bytes in every ABI: 512 per indirect page. */
#define TD_BF_SEGS_PER_INDIRECT_PAGE (TD_BF_PAGE_SIZE / 8u)

/*
 * An ABI-neutral request. Which fields are encoded depends on @op:
 * DISCARD uses discard_flag/nr_sectors, INDIRECT uses indirect_op,
 * nr_segments (16 bits) and indirect_grefs, everything else (including
 * unknown ops, which the attack verb sends) uses the read/write layout
 * with nr_segments truncated to 8 bits and seg[]. Values are written
 * as given, without validation, so malformed requests can be built.
 */
struct td_bf_req {
	uint8_t op;
	uint8_t indirect_op;
	uint8_t discard_flag;
	uint16_t nr_segments;
	uint16_t handle;
	uint64_t id;
	uint64_t sector;
	uint64_t nr_sectors;
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

struct td_bf_rsp {
	uint64_t id;
	uint8_t op;
	int16_t status;
};

/* Parses "native", "x86_32" or "x86_64"; returns 0 or -EINVAL. */
int td_bf_abi_parse(const char *s, enum td_bf_abi *out);

/* Name of @abi as td_bf_abi_parse accepts it, and as xenstore's
 * "protocol" key spells it for the non-native ones. */
const char *td_bf_abi_name(enum td_bf_abi abi);

/* Size in bytes of one ring slot (the request/response union). */
size_t td_bf_abi_slot_size(enum td_bf_abi abi);

/*
 * Number of slots of a shared ring spanning 2^@order pages: as many as
 * fit after the header, rounded down to a power of two.
 */
unsigned td_bf_abi_ring_slots(enum td_bf_abi abi, unsigned order);

/*
 * Encodes @req into @slot (td_bf_abi_slot_size bytes, zeroed first).
 * Caller owns both.
 */
void td_bf_abi_encode_req(enum td_bf_abi abi, const struct td_bf_req *req,
			  void *slot);

/* Decodes the response held in @slot into @rsp. */
void td_bf_abi_decode_rsp(enum td_bf_abi abi, const void *slot,
			  struct td_bf_rsp *rsp);

/*
 * Encodes a response into @slot (for tests playing the backend: the
 * unit test and nothing else need it).
 */
void td_bf_abi_encode_rsp(enum td_bf_abi abi, const struct td_bf_rsp *rsp,
			  void *slot);

/* Decodes @slot as a request (the inverse of encode, for the unit test). */
void td_bf_abi_decode_req(enum td_bf_abi abi, const void *slot,
			  struct td_bf_req *req);

#endif
