/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Request completion and buffer helpers. Everything here runs on the loop
 * thread and never allocates.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include "req.h"
#include "image.h"

/*
 * Debug builds catch a second td_req_complete: completion poisons
 * req->pending, and td_image_submit (the only way into a driver) resets it.
 * pending is the image-owned count of outstanding parts, so no submitter or
 * done callback has a reason to read it once the request is complete.
 */
#define TD_REQ_PENDING_POISON 0xdead10ccu

void td_req_complete(struct td_req *req, int err)
{
	struct td_image *img = req->img;

	assert(req->done);
	assert(req->pending != TD_REQ_PENDING_POISON &&
	       "td_req completed twice");
	assert(req->pending == 0 && "td_req completed with parts pending");
	assert(err <= 0);
#ifndef NDEBUG
	req->pending = TD_REQ_PENDING_POISON;
#endif
	/*
	 * Drop the image pointer before handing the request back, so a later
	 * completion outside any image (e.g. a VBD rejecting a reused request)
	 * never counts against an image that may be closed by then.
	 */
	req->img = NULL;
	if (err && img)
		img->st_errors++;
	req->done(req, err);
}

void td_req_part_end(struct td_req *req, int err)
{
	assert(req->pending != TD_REQ_PENDING_POISON &&
	       "td_req part ended after completion");
	assert(req->pending > 0);
	if (err && !req->err)
		req->err = err;
	if (--req->pending == 0)
		td_req_complete(req, req->err);
}

static uint64_t iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Checks [off, off+len) lies within the request's buffer, without overflow. */
static int check_range(const struct td_req *req, uint64_t off, uint64_t len)
{
	uint64_t total;

	if (!req->iov || req->iovcnt <= 0)
		return len || off ? -EINVAL : 0;
	total = iov_total(req->iov, req->iovcnt);
	if (off > total || len > total - off)
		return -EINVAL;
	return 0;
}

/*
 * Finds the iovec entry holding byte @off: returns its index and sets *skip
 * to the offset inside it. The caller has checked the range.
 */
static int iov_find(const struct td_req *req, uint64_t off, uint64_t *skip)
{
	int i = 0;

	while (i < req->iovcnt && off >= req->iov[i].iov_len) {
		off -= req->iov[i].iov_len;
		i++;
	}
	*skip = off;
	return i;
}

/*
 * Walks [off, off+len) of the buffer, calling @fn on each contiguous piece
 * with @ctx advanced by the bytes already visited.
 */
static void iov_walk(const struct td_req *req, uint64_t off, uint64_t len,
		     void (*fn)(char *piece, uint64_t n, char *ctx), char *ctx)
{
	uint64_t skip, n;
	int i = iov_find(req, off, &skip);

	while (len) {
		n = req->iov[i].iov_len - skip;
		if (n > len)
			n = len;
		if (n)
			fn((char *)req->iov[i].iov_base + skip, n, ctx);
		if (ctx)
			ctx += n;
		len -= n;
		skip = 0;
		i++;
	}
}

static void piece_to_buf(char *piece, uint64_t n, char *buf)
{
	memcpy(buf, piece, n);
}

static void buf_to_piece(char *piece, uint64_t n, char *buf)
{
	memcpy(piece, buf, n);
}

static void piece_zero(char *piece, uint64_t n, char *unused)
{
	memset(piece, 0, n);
}

int td_req_copy_from(const struct td_req *req, uint64_t off, void *buf,
		     uint64_t len)
{
	int rc = check_range(req, off, len);

	if (rc)
		return rc;
	if (len)
		iov_walk(req, off, len, piece_to_buf, buf);
	return 0;
}

int td_req_copy_to(struct td_req *req, uint64_t off, const void *buf,
		   uint64_t len)
{
	int rc = check_range(req, off, len);

	if (rc)
		return rc;
	/* iov_walk only reads through ctx for this direction. */
	if (len)
		iov_walk(req, off, len, buf_to_piece, (char *)(uintptr_t)buf);
	return 0;
}

int td_req_zero(struct td_req *req, uint64_t off, uint64_t len)
{
	int rc = check_range(req, off, len);

	if (rc)
		return rc;
	if (len)
		iov_walk(req, off, len, piece_zero, NULL);
	return 0;
}

int td_req_slice_iov(const struct td_req *req, uint64_t off, uint64_t len,
		     struct iovec *out, int max)
{
	uint64_t skip, n;
	int i, cnt = 0;
	int rc = check_range(req, off, len);

	if (rc)
		return rc;
	if (max < 0 || (max > 0 && !out))
		return -EINVAL;
	i = iov_find(req, off, &skip);
	while (len) {
		n = req->iov[i].iov_len - skip;
		if (n > len)
			n = len;
		if (n) {
			if (cnt == max)
				return -E2BIG;
			out[cnt].iov_base = (char *)req->iov[i].iov_base + skip;
			out[cnt].iov_len = n;
			cnt++;
		}
		len -= n;
		skip = 0;
		i++;
	}
	return cnt;
}

const char *td_op_name(enum td_op op)
{
	switch (op) {
	case TD_OP_READ:
		return "read";
	case TD_OP_WRITE:
		return "write";
	case TD_OP_FLUSH:
		return "flush";
	case TD_OP_DISCARD:
		return "discard";
	case TD_OP_WRITE_ZEROES:
		return "write-zeroes";
	}
	return "unknown";
}
