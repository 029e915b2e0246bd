/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Pure NBD protocol logic: request validation, option payload parsing,
 * reply encoding. See nbd-proto.h.
 */
#include <errno.h>
#include <string.h>
#include "nbd-proto.h"

void td_nbd_decode_request(const uint8_t *p, struct td_nbd_request *r)
{
	r->magic = td_nbd_get32(p);
	r->flags = td_nbd_get16(p + 4);
	r->type = td_nbd_get16(p + 6);
	r->handle = td_nbd_get64(p + 8);
	r->offset = td_nbd_get64(p + 16);
	r->length = td_nbd_get32(p + 24);
}

/* Command flags each command accepts, given what was negotiated. */
static uint16_t allowed_flags(uint16_t type, const struct td_nbd_limits *lim)
{
	/* FUA is valid on every command once NBD_FLAG_SEND_FUA is sent. */
	uint16_t f = NBD_CMD_FLAG_FUA;

	switch (type) {
	case NBD_CMD_READ:
		if (lim->structured)
			f |= NBD_CMD_FLAG_DF;
		return f;
	case NBD_CMD_WRITE_ZEROES:
		return f | NBD_CMD_FLAG_NO_HOLE;
	case NBD_CMD_BLOCK_STATUS:
		return f | NBD_CMD_FLAG_REQ_ONE;
	default:
		return f;
	}
}

static bool is_write(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
	       type == NBD_CMD_WRITE_ZEROES;
}

static uint32_t check_range(const struct td_nbd_request *r,
			    const struct td_nbd_limits *lim, const char **why)
{
	bool past_end = r->offset > lim->size ||
			r->length > lim->size - r->offset;

	if ((r->offset | r->length) % TD_NBD_MIN_BLOCK) {
		*why = "offset or length not a multiple of 512";
		return NBD_EINVAL;
	}
	if (past_end) {
		*why = "request extends past the end of the export";
		if (r->type == NBD_CMD_WRITE ||
		    r->type == NBD_CMD_WRITE_ZEROES)
			return NBD_ENOSPC;
		return NBD_EINVAL;
	}
	return 0;
}

static uint32_t check_size(const struct td_nbd_request *r,
			   const struct td_nbd_limits *lim, const char **why)
{
	switch (r->type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
		if (r->length > lim->max_block) {
			*why = "request larger than the maximum block size";
			return NBD_EINVAL;
		}
		return 0;
	case NBD_CMD_WRITE_ZEROES:
		/* Emulated zeroes go through a data buffer. */
		if (!lim->native_zeroes && r->length > lim->max_block) {
			*why = "request larger than the maximum block size";
			return NBD_EINVAL;
		}
		return 0;
	default:
		return 0;
	}
}

static uint32_t check_command(const struct td_nbd_request *r,
			      const struct td_nbd_limits *lim,
			      const char **why)
{
	switch (r->type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_WRITE_ZEROES:
		return 0;
	case NBD_CMD_FLUSH:
		if (r->offset || r->length) {
			*why = "flush offset and length must be zero";
			return NBD_EINVAL;
		}
		return 0;
	case NBD_CMD_TRIM:
		if (!lim->trim && !lim->read_only) {
			*why = "trim is not supported by this export";
			return NBD_EINVAL;
		}
		return 0;
	case NBD_CMD_BLOCK_STATUS:
		if (!lim->structured || !lim->meta_allocation) {
			*why = "no metadata context was negotiated";
			return NBD_EINVAL;
		}
		if (!r->length) {
			*why = "block status of zero bytes";
			return NBD_EINVAL;
		}
		return 0;
	default:
		*why = "unknown command";
		return NBD_EINVAL;
	}
}

uint32_t td_nbd_check_request(const struct td_nbd_request *r,
			      const struct td_nbd_limits *lim,
			      const char **why)
{
	uint32_t e;

	*why = "";
	if (r->type == NBD_CMD_DISC)
		return 0;
	e = check_command(r, lim, why);
	if (e)
		return e;
	if (r->flags & ~allowed_flags(r->type, lim)) {
		*why = "command flag not valid for this command";
		return NBD_EINVAL;
	}
	if (is_write(r->type) && lim->read_only) {
		*why = "export is read-only";
		return NBD_EPERM;
	}
	if (r->type == NBD_CMD_FLUSH)
		return 0;
	e = check_size(r, lim, why);
	if (e)
		return e;
	return check_range(r, lim, why);
}

uint32_t td_nbd_wire_error(int err)
{
	switch (-err) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
	case EACCES:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
	case ERANGE:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case EOPNOTSUPP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

uint16_t td_nbd_transmission_flags(const struct td_nbd_limits *lim)
{
	/*
	 * Every connection of an export reaches the same VBD, image chain
	 * and file descriptors, and nothing caches data per connection: a
	 * write acknowledged on one connection is visible to reads on any
	 * other, and a FLUSH on any connection is an fdatasync of the shared
	 * chain. That is what NBD_FLAG_CAN_MULTI_CONN promises.
	 */
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
		     NBD_FLAG_SEND_FUA | NBD_FLAG_CAN_MULTI_CONN;

	if (lim->read_only) {
		f |= NBD_FLAG_READ_ONLY;
	} else {
		f |= NBD_FLAG_SEND_WRITE_ZEROES;
		if (lim->trim)
			f |= NBD_FLAG_SEND_TRIM;
	}
	if (lim->structured)
		f |= NBD_FLAG_SEND_DF;
	return f;
}

/* Reads a 32-bit length-prefixed string at *off. */
static int get_string(const uint8_t *data, uint32_t len, uint32_t *off,
		      const char **s, uint32_t *slen)
{
	uint32_t n;

	if (len - *off < 4)
		return -EINVAL;
	n = td_nbd_get32(data + *off);
	*off += 4;
	if (n > NBD_MAX_STRING || n > len - *off)
		return -EINVAL;
	*s = (const char *)data + *off;
	*slen = n;
	*off += n;
	return 0;
}

int td_nbd_parse_info_opt(const uint8_t *data, uint32_t len,
			  struct td_nbd_info_opt *out)
{
	uint32_t off = 0, i;

	memset(out, 0, sizeof(*out));
	if (get_string(data, len, &off, &out->name, &out->name_len))
		return -EINVAL;
	if (len - off < 2)
		return -EINVAL;
	out->nreqs = td_nbd_get16(data + off);
	off += 2;
	if ((uint32_t)out->nreqs * 2 != len - off)
		return -EINVAL;
	for (i = 0; i < out->nreqs; i++, off += 2) {
		switch (td_nbd_get16(data + off)) {
		case NBD_INFO_NAME:
			out->want_name = true;
			break;
		case NBD_INFO_DESCRIPTION:
			out->want_description = true;
			break;
		case NBD_INFO_BLOCK_SIZE:
			out->want_block_size = true;
			break;
		default:
			/* Unknown requests must be ignored. */
			break;
		}
	}
	return 0;
}

static bool query_is(const char *q, uint32_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(q, lit, n);
}

int td_nbd_parse_meta_opt(const uint8_t *data, uint32_t len, bool list,
			  struct td_nbd_meta_opt *out)
{
	uint32_t off = 0, i;

	memset(out, 0, sizeof(*out));
	if (get_string(data, len, &off, &out->name, &out->name_len))
		return -EINVAL;
	if (len - off < 4)
		return -EINVAL;
	out->nqueries = td_nbd_get32(data + off);
	off += 4;
	/* Each query takes at least its 4-byte length. */
	if (out->nqueries > (len - off) / 4)
		return -EINVAL;
	for (i = 0; i < out->nqueries; i++) {
		const char *q;
		uint32_t n;

		if (get_string(data, len, &off, &q, &n))
			return -EINVAL;
		if (!memchr(q, ':', n))
			return -EINVAL;
		if (query_is(q, n, TD_NBD_META_ALLOCATION) ||
		    (list && query_is(q, n, "base:")))
			out->allocation = true;
	}
	if (off != len)
		return -EINVAL;
	if (list && !out->nqueries)
		out->allocation = true;
	return 0;
}

void td_nbd_put_opt_reply(uint8_t *p, uint32_t opt, uint32_t type,
			  uint32_t len)
{
	td_nbd_put64(p, NBD_MAGIC_REP);
	td_nbd_put32(p + 8, opt);
	td_nbd_put32(p + 12, type);
	td_nbd_put32(p + 16, len);
}

void td_nbd_put_simple_reply(uint8_t *p, uint32_t error, uint64_t handle)
{
	td_nbd_put32(p, NBD_SIMPLE_REPLY_MAGIC);
	td_nbd_put32(p + 4, error);
	td_nbd_put64(p + 8, handle);
}

void td_nbd_put_chunk(uint8_t *p, uint16_t flags, uint16_t type,
		      uint64_t handle, uint32_t len)
{
	td_nbd_put32(p, NBD_STRUCTURED_REPLY_MAGIC);
	td_nbd_put16(p + 4, flags);
	td_nbd_put16(p + 6, type);
	td_nbd_put64(p + 8, handle);
	td_nbd_put32(p + 16, len);
}

const char *td_nbd_cmd_name(uint16_t type)
{
	static const char *const names[] = {
		[NBD_CMD_READ] = "read",
		[NBD_CMD_WRITE] = "write",
		[NBD_CMD_DISC] = "disc",
		[NBD_CMD_FLUSH] = "flush",
		[NBD_CMD_TRIM] = "trim",
		[NBD_CMD_CACHE] = "cache",
		[NBD_CMD_WRITE_ZEROES] = "write_zeroes",
		[NBD_CMD_BLOCK_STATUS] = "block_status",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}
