/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * NBD wire protocol: constants of the fixed newstyle handshake and the
 * transmission phase (NetworkBlockDevice doc/proto.md), big-endian helpers,
 * and the pure parsing and validation functions of our server. Nothing here
 * touches a socket, the loop or a VBD, so all of it is unit-tested against
 * crafted byte strings. Every function may be called from any context.
 */
#ifndef TD_NBD_PROTO_H
#define TD_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Handshake magics. */
#define NBD_MAGIC_INIT 0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_MAGIC_OPT 0x49484156454f5054ull  /* "IHAVEOPT" */
#define NBD_MAGIC_REP 0x0003e889045565a9ull  /* option replies */

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_ROTATIONAL (1u << 4)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)

/* Options. */
#define NBD_OPT_EXPORT_NAME 1u
#define NBD_OPT_ABORT 2u
#define NBD_OPT_LIST 3u
#define NBD_OPT_STARTTLS 5u
#define NBD_OPT_INFO 6u
#define NBD_OPT_GO 7u
#define NBD_OPT_STRUCTURED_REPLY 8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT 10u

/* Option reply types; errors have bit 31 set. */
#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_META_CONTEXT 4u
#define NBD_REP_ERR_UNSUP 0x80000001u
#define NBD_REP_ERR_POLICY 0x80000002u
#define NBD_REP_ERR_INVALID 0x80000003u
#define NBD_REP_ERR_PLATFORM 0x80000004u
#define NBD_REP_ERR_TLS_REQD 0x80000005u
#define NBD_REP_ERR_UNKNOWN 0x80000006u
#define NBD_REP_ERR_SHUTDOWN 0x80000007u
#define NBD_REP_ERR_BLOCK_SIZE_REQD 0x80000008u
#define NBD_REP_ERR_TOO_BIG 0x80000009u

/* NBD_REP_INFO types. */
#define NBD_INFO_EXPORT 0u
#define NBD_INFO_NAME 1u
#define NBD_INFO_DESCRIPTION 2u
#define NBD_INFO_BLOCK_SIZE 3u

/* Transmission. */
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu
#define NBD_REQUEST_SIZE 28u
#define NBD_SIMPLE_REPLY_SIZE 16u
#define NBD_CHUNK_HDR_SIZE 20u

#define NBD_CMD_READ 0u
#define NBD_CMD_WRITE 1u
#define NBD_CMD_DISC 2u
#define NBD_CMD_FLUSH 3u
#define NBD_CMD_TRIM 4u
#define NBD_CMD_CACHE 5u
#define NBD_CMD_WRITE_ZEROES 6u
#define NBD_CMD_BLOCK_STATUS 7u

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_NONE 0u
#define NBD_REPLY_TYPE_OFFSET_DATA 1u
#define NBD_REPLY_TYPE_OFFSET_HOLE 2u
#define NBD_REPLY_TYPE_BLOCK_STATUS 5u
#define NBD_REPLY_TYPE_ERROR 0x8001u
#define NBD_REPLY_TYPE_ERROR_OFFSET 0x8002u

/* base:allocation flags. */
#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)

/* Error values on the wire (not host errno values). */
#define NBD_EPERM 1u
#define NBD_EIO 5u
#define NBD_ENOMEM 12u
#define NBD_EINVAL 22u
#define NBD_ENOSPC 28u
#define NBD_EOVERFLOW 75u
#define NBD_ENOTSUP 95u
#define NBD_ESHUTDOWN 108u

/* Longest string (export name, query) the protocol allows. */
#define NBD_MAX_STRING 4096u

/* Our one metadata context and the id we give it. */
#define TD_NBD_META_ALLOCATION "base:allocation"
#define TD_NBD_META_ALLOCATION_ID 1u

/* Block size constraints we advertise and enforce (docs/nbd.md). */
#define TD_NBD_MIN_BLOCK 512u
#define TD_NBD_PREF_BLOCK 4096u
#define TD_NBD_MAX_BLOCK (32u << 20)

static inline void td_nbd_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void td_nbd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void td_nbd_put64(uint8_t *p, uint64_t v)
{
	td_nbd_put32(p, (uint32_t)(v >> 32));
	td_nbd_put32(p + 4, (uint32_t)v);
}

static inline uint16_t td_nbd_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t td_nbd_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t td_nbd_get64(const uint8_t *p)
{
	return ((uint64_t)td_nbd_get32(p) << 32) | td_nbd_get32(p + 4);
}

/* A decoded transmission request header. */
struct td_nbd_request {
	uint32_t magic;
	uint16_t flags;
	uint16_t type;
	uint64_t handle;
	uint64_t offset;
	uint32_t length;
};

/* Decodes the 28-byte request header at @p (no validation). */
void td_nbd_decode_request(const uint8_t *p, struct td_nbd_request *r);

/* What a connection negotiated and what its export can do. */
struct td_nbd_limits {
	uint64_t size;          /* export size in bytes */
	bool read_only;
	bool structured;        /* NBD_OPT_STRUCTURED_REPLY acknowledged */
	bool meta_allocation;   /* base:allocation selected */
	bool trim;              /* NBD_FLAG_SEND_TRIM advertised */
	bool native_zeroes;     /* chain zeroes without a data buffer */
	uint32_t max_block;     /* READ/WRITE (and emulated zeroes) limit */
};

/*
 * Checks one decoded request (magic already checked) against @lim. Returns
 * 0 if it may run, or the NBD error to reply with (NBD_EINVAL for unknown
 * commands or flags, misalignment, oversize or reads past the end;
 * NBD_EPERM for writes to a read-only export; NBD_ENOSPC for writes past
 * the end) and points *@why at a static message for the client. DISC
 * always passes. Zero-length data commands pass (they succeed as no-ops).
 */
uint32_t td_nbd_check_request(const struct td_nbd_request *r,
			      const struct td_nbd_limits *lim,
			      const char **why);

/* Maps 0 or -errno from the data path to an NBD wire error (0 for 0). */
uint32_t td_nbd_wire_error(int err);

/* Transmission flags for @lim (structured decides NBD_FLAG_SEND_DF). */
uint16_t td_nbd_transmission_flags(const struct td_nbd_limits *lim);

/* Parsed NBD_OPT_INFO / NBD_OPT_GO payload; pointers borrow the input. */
struct td_nbd_info_opt {
	const char *name;       /* not NUL-terminated */
	uint32_t name_len;
	uint16_t nreqs;
	bool want_name, want_description, want_block_size;
};

/*
 * Parses an INFO/GO payload of @len bytes. Returns 0 or -EINVAL if the
 * lengths inside are inconsistent or the name is over NBD_MAX_STRING.
 */
int td_nbd_parse_info_opt(const uint8_t *data, uint32_t len,
			  struct td_nbd_info_opt *out);

/* Parsed LIST/SET_META_CONTEXT payload. */
struct td_nbd_meta_opt {
	const char *name;
	uint32_t name_len;
	uint32_t nqueries;
	bool allocation; /* some query selects (SET) or matches (LIST) it */
};

/*
 * Parses a META_CONTEXT payload. @list selects the LIST semantics (no
 * query, or the "base:" wildcard, match base:allocation). Queries in
 * unknown namespaces are ignored as the protocol requires. Returns 0, or
 * -EINVAL for inconsistent lengths, an over-long string or a query
 * without a namespace colon.
 */
int td_nbd_parse_meta_opt(const uint8_t *data, uint32_t len, bool list,
			  struct td_nbd_meta_opt *out);

/* Writes an option reply header (20 bytes) into @p. */
void td_nbd_put_opt_reply(uint8_t *p, uint32_t opt, uint32_t type,
			  uint32_t len);

/* Writes a simple reply (16 bytes) into @p. */
void td_nbd_put_simple_reply(uint8_t *p, uint32_t error, uint64_t handle);

/* Writes a structured reply chunk header (20 bytes) into @p. */
void td_nbd_put_chunk(uint8_t *p, uint16_t flags, uint16_t type,
		      uint64_t handle, uint32_t len);

/* Name of a command for logs ("read", ...); "unknown" otherwise. */
const char *td_nbd_cmd_name(uint16_t type);

#endif
