/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One NBD client connection: a non-blocking socket driven by the loop, the
 * fixed newstyle handshake (nbd-handshake.c), then the transmission phase
 * feeding the VBD.
 *
 * Input is a sequence of "units" (client flags, an option header, option
 * data, a request header, a write payload, bytes to skip), each read with
 * partial reads resumed where they stopped. Output is the handshake buffer
 * followed by a queue of replies, sent with one sendmsg for as many as fit
 * and resumed at the byte where a partial send stopped.
 *
 * Memory is fixed at accept: TD_NBD_SLOTS request slots and a data arena
 * cut into TD_NBD_CHUNK granules handed out per request (a request's
 * buffer is an iovec of granules, so big and small requests share the
 * arena without fragmentation). A request header is read only when a slot
 * and enough granules for the largest request are free: that is the
 * backpressure, and it means the data path never allocates.
 *
 * A connection whose socket dies keeps its memory until every request it
 * put into the VBD has completed, then frees itself from a deferred call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include "nbd-conn.h"

static void conn_pump_cb(struct td_loop_defer *d);

static void conn_kick(struct td_nbd_conn *c)
{
	td_loop_defer(c->loop, &c->pump);
}

/* --- slots and granules ------------------------------------------------ */

static uint8_t *chunk_ptr(struct td_nbd_conn *c, uint16_t idx)
{
	return c->arena + (size_t)idx * TD_NBD_CHUNK;
}

/* Gives @s granules for @len bytes and describes them in s->iov[1..]. */
static void slot_alloc_data(struct td_nbd_conn *c, struct nbd_slot *s,
			    uint64_t len)
{
	uint64_t left = len;
	unsigned i;

	s->nchunks = (unsigned)((len + TD_NBD_CHUNK - 1) / TD_NBD_CHUNK);
	for (i = 0; i < s->nchunks; i++) {
		uint64_t n = left < TD_NBD_CHUNK ? left : TD_NBD_CHUNK;

		s->chunk[i] = c->free_chunks[--c->nfree_chunks];
		s->iov[1 + i].iov_base = chunk_ptr(c, s->chunk[i]);
		s->iov[1 + i].iov_len = n;
		left -= n;
	}
}

/* Rebuilds s->iov[1..] (the backend may have rewritten it) for @len. */
static void slot_data_iov(struct td_nbd_conn *c, struct nbd_slot *s,
			  uint64_t len)
{
	uint64_t left = len;
	unsigned i;

	for (i = 0; i < s->nchunks && left; i++) {
		uint64_t n = left < TD_NBD_CHUNK ? left : TD_NBD_CHUNK;

		s->iov[1 + i].iov_base = chunk_ptr(c, s->chunk[i]);
		s->iov[1 + i].iov_len = n;
		left -= n;
	}
}

static bool can_start_request(const struct td_nbd_conn *c)
{
	return c->nfree_slots && c->nfree_chunks >= REQ_CHUNKS;
}

static struct nbd_slot *slot_get(struct td_nbd_conn *c)
{
	struct td_list *n = td_list_pop(&c->free_slots);

	c->nfree_slots--;
	return td_list_entry(n, struct nbd_slot, link);
}

static void slot_put(struct td_nbd_conn *c, struct nbd_slot *s)
{
	while (s->nchunks)
		c->free_chunks[c->nfree_chunks++] = s->chunk[--s->nchunks];
	s->flush_after = false;
	/* Most recently used first: its granules are the warm ones. */
	td_list_add(&s->link, &c->free_slots);
	c->nfree_slots++;
	/* Input may have stopped for lack of a slot. */
	conn_kick(c);
}

/* --- replies ----------------------------------------------------------- */

static void reply_queue(struct td_nbd_conn *c, struct nbd_slot *s,
			unsigned hdr_len, uint64_t data_len)
{
	s->iov[0].iov_base = s->hdr;
	s->iov[0].iov_len = hdr_len;
	s->niov = 1 + (data_len ? (int)s->nchunks : 0);
	s->reply_len = hdr_len + data_len;
	td_list_add_tail(&s->link, &c->replies);
	conn_kick(c);
}

static void reply_error(struct td_nbd_conn *c, struct nbd_slot *s,
			uint32_t error, const char *why)
{
	size_t mlen = strlen(why);

	if (!c->structured) {
		td_nbd_put_simple_reply(s->hdr, error, s->r.handle);
		reply_queue(c, s, NBD_SIMPLE_REPLY_SIZE, 0);
		return;
	}
	if (mlen > 64)
		mlen = 64;
	td_nbd_put_chunk(s->hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
			 s->r.handle, (uint32_t)(6 + mlen));
	td_nbd_put32(s->hdr + NBD_CHUNK_HDR_SIZE, error);
	td_nbd_put16(s->hdr + NBD_CHUNK_HDR_SIZE + 4, (uint16_t)mlen);
	memcpy(s->hdr + NBD_CHUNK_HDR_SIZE + 6, why, mlen);
	reply_queue(c, s, (unsigned)(NBD_CHUNK_HDR_SIZE + 6 + mlen), 0);
}

static void reply_ok(struct td_nbd_conn *c, struct nbd_slot *s)
{
	uint64_t len = s->r.length;

	if (s->r.type != NBD_CMD_READ) {
		td_nbd_put_simple_reply(s->hdr, 0, s->r.handle);
		reply_queue(c, s, NBD_SIMPLE_REPLY_SIZE, 0);
	} else if (!c->structured) {
		td_nbd_put_simple_reply(s->hdr, 0, s->r.handle);
		slot_data_iov(c, s, len);
		reply_queue(c, s, NBD_SIMPLE_REPLY_SIZE, len);
	} else if (!len) {
		td_nbd_put_chunk(s->hdr, NBD_REPLY_FLAG_DONE,
				 NBD_REPLY_TYPE_NONE, s->r.handle, 0);
		reply_queue(c, s, NBD_CHUNK_HDR_SIZE, 0);
	} else {
		/* One data chunk, final: every error is known by now. */
		td_nbd_put_chunk(s->hdr, NBD_REPLY_FLAG_DONE,
				 NBD_REPLY_TYPE_OFFSET_DATA, s->r.handle,
				 (uint32_t)(8 + len));
		td_nbd_put64(s->hdr + NBD_CHUNK_HDR_SIZE, s->r.offset);
		slot_data_iov(c, s, len);
		reply_queue(c, s, NBD_CHUNK_HDR_SIZE + 8, len);
	}
}

/* --- requests into the VBD --------------------------------------------- */

static void slot_done(struct td_req *req, int err);

static void slot_submit(struct td_nbd_conn *c, struct nbd_slot *s,
			enum td_op op, unsigned flags, int iovcnt)
{
	struct td_req *req = &s->req;

	memset(req, 0, sizeof(*req));
	req->op = op;
	req->flags = flags;
	if (op != TD_OP_FLUSH) {
		req->sector = s->r.offset >> TD_SECTOR_SHIFT;
		req->nr_sectors = s->r.length >> TD_SECTOR_SHIFT;
	}
	if (iovcnt) {
		req->iov = &s->iov[1];
		req->iovcnt = iovcnt;
	}
	req->done = slot_done;
	req->owner = s;
	c->in_vbd++;
	td_vbd_submit(c->vbd, req);
}

static void slot_done(struct td_req *req, int err)
{
	struct nbd_slot *s = req->owner;
	struct td_nbd_conn *c = s->c;

	c->in_vbd--;
	if (c->dead) {
		slot_put(c, s);
		return;
	}
	/* Trim is a hint: a chain that cannot discard has done its part. */
	if (err == -EOPNOTSUPP && s->r.type == NBD_CMD_TRIM)
		err = 0;
	if (!err && s->flush_after) {
		s->flush_after = false;
		slot_submit(c, s, TD_OP_FLUSH, 0, 0);
		return;
	}
	if (err) {
		conn_warn(c, "%s of %u bytes at %llu failed: %s",
			  td_nbd_cmd_name(s->r.type), s->r.length,
			  (unsigned long long)s->r.offset, strerror(-err));
		reply_error(c, s, td_nbd_wire_error(err), strerror(-err));
		return;
	}
	reply_ok(c, s);
}

/* Answers a block status request now; false if the chain is not open. */
static bool block_status(struct td_nbd_conn *c, struct nbd_slot *s)
{
	struct td_image *leaf = c->vbd->leaf;
	struct td_nbd_extent *ext;
	unsigned n, i, max;
	uint8_t *p;

	if (!leaf)
		return false;
	/* The wire form fills the granule's start, the scratch its end. */
	p = chunk_ptr(c, s->chunk[0]);
	ext = (struct td_nbd_extent *)(p + TD_NBD_CHUNK / 2);
	max = (s->r.flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : MAX_EXTENTS;
	n = td_nbd_extents(leaf, s->r.offset >> TD_SECTOR_SHIFT,
			   s->r.length >> TD_SECTOR_SHIFT, ext, max);
	for (i = 0; i < n; i++) {
		td_nbd_put32(p + 8 * i,
			     (uint32_t)(ext[i].sectors << TD_SECTOR_SHIFT));
		td_nbd_put32(p + 8 * i + 4, ext[i].flags);
	}
	td_nbd_put_chunk(s->hdr, NBD_REPLY_FLAG_DONE,
			 NBD_REPLY_TYPE_BLOCK_STATUS, s->r.handle, 4 + 8 * n);
	td_nbd_put32(s->hdr + NBD_CHUNK_HDR_SIZE, TD_NBD_META_ALLOCATION_ID);
	s->iov[1].iov_base = p;
	s->iov[1].iov_len = 8 * n;
	reply_queue(c, s, NBD_CHUNK_HDR_SIZE + 4, 8 * n);
	return true;
}

/* Retries block status requests that waited for the VBD to resume. */
static void bs_retry(struct td_nbd_conn *c)
{
	while (!td_list_empty(&c->bs_wait)) {
		struct nbd_slot *s = td_list_entry(c->bs_wait.next,
						   struct nbd_slot, link);

		if (!c->vbd->leaf)
			return;
		td_list_del(&s->link);
		block_status(c, s);
	}
}

static void start_zeroes(struct td_nbd_conn *c, struct nbd_slot *s)
{
	bool fua = s->r.flags & NBD_CMD_FLAG_FUA;
	unsigned i;

	/* The chain may have changed on an unpause: look again. */
	if (c->vbd->caps & TD_CAP_WRITE_ZEROES) {
		s->flush_after = fua;
		slot_submit(c, s, TD_OP_WRITE_ZEROES,
			    (s->r.flags & NBD_CMD_FLAG_NO_HOLE) ?
				    TD_REQ_NO_HOLE : 0, 0);
		return;
	}
	/* The chain cannot zero: write zeros from the slot's buffer. */
	if (s->r.length > TD_NBD_MAX_BLOCK) {
		reply_error(c, s, NBD_EINVAL,
			    "request larger than the maximum block size");
		return;
	}
	slot_alloc_data(c, s, s->r.length);
	for (i = 0; i < s->nchunks; i++)
		memset(s->iov[1 + i].iov_base, 0, s->iov[1 + i].iov_len);
	slot_submit(c, s, TD_OP_WRITE, fua ? TD_REQ_FUA : 0, (int)s->nchunks);
}

/* Runs a validated request whose payload (if any) has been read. */
static void start_request(struct td_nbd_conn *c, struct nbd_slot *s)
{
	bool fua = s->r.flags & NBD_CMD_FLAG_FUA;

	switch (s->r.type) {
	case NBD_CMD_READ:
		slot_alloc_data(c, s, s->r.length);
		slot_submit(c, s, TD_OP_READ, 0, (int)s->nchunks);
		break;
	case NBD_CMD_WRITE:
		slot_submit(c, s, TD_OP_WRITE, fua ? TD_REQ_FUA : 0,
			    (int)s->nchunks);
		break;
	case NBD_CMD_FLUSH:
		slot_submit(c, s, TD_OP_FLUSH, 0, 0);
		break;
	case NBD_CMD_TRIM:
		s->flush_after = fua;
		slot_submit(c, s, TD_OP_DISCARD, 0, 0);
		break;
	case NBD_CMD_WRITE_ZEROES:
		start_zeroes(c, s);
		break;
	case NBD_CMD_BLOCK_STATUS:
		slot_alloc_data(c, s, TD_NBD_CHUNK);
		if (!block_status(c, s))
			td_list_add_tail(&s->link, &c->bs_wait);
		break;
	}
}

/* --- input units ------------------------------------------------------- */

void td_nbd_conn_unit_set(struct td_nbd_conn *c, enum rd_unit u, void *dst,
			  uint64_t len)
{
	c->rd = u;
	c->rd_got = 0;
	c->rd_need = len;
	if (dst) {
		c->rd_one.iov_base = dst;
		c->rd_one.iov_len = len;
		c->rd_iov = &c->rd_one;
		c->rd_iovcnt = 1;
	} else {
		c->rd_iov = NULL;
		c->rd_iovcnt = 0;
	}
}

/* Copies @n bytes of @src into the unit's iovec at offset rd_got. */
static void unit_copy(struct td_nbd_conn *c, const uint8_t *src, size_t n)
{
	uint64_t off = c->rd_got;
	int i;

	for (i = 0; i < c->rd_iovcnt && n; i++) {
		struct iovec *v = &c->rd_iov[i];
		size_t k;

		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		k = v->iov_len - off < n ? v->iov_len - off : n;
		memcpy((uint8_t *)v->iov_base + off, src, k);
		src += k;
		n -= k;
		off = 0;
	}
}

/* Receives straight into the unit's buffers (large payloads). */
static ssize_t unit_recv_direct(struct td_nbd_conn *c)
{
	struct iovec *v = c->wiov;
	uint64_t off = c->rd_got;
	int i, n = 0;

	for (i = 0; i < c->rd_iovcnt && n < WIOV_MAX; i++) {
		if (off >= c->rd_iov[i].iov_len) {
			off -= c->rd_iov[i].iov_len;
			continue;
		}
		v[n].iov_base = (uint8_t *)c->rd_iov[i].iov_base + off;
		v[n].iov_len = c->rd_iov[i].iov_len - off;
		off = 0;
		n++;
	}
	return readv(c->fd, v, n);
}

/*
 * Advances the current unit. Returns 1 when it is complete, 0 if the
 * socket has no more data now, -EPIPE at end of stream, or -errno.
 */
static int unit_fill(struct td_nbd_conn *c)
{
	while (c->rd_got < c->rd_need) {
		size_t avail = c->in_tail - c->in_head;
		uint64_t left = c->rd_need - c->rd_got;
		bool direct = c->rd_iov && left >= INBUF_SIZE;
		ssize_t n;

		if (avail) {
			size_t k = avail < left ? avail : (size_t)left;

			unit_copy(c, c->in + c->in_head, k);
			c->in_head += k;
			c->rd_got += k;
			continue;
		}
		c->in_head = c->in_tail = 0;
		/* A short read emptied the socket: wait for epoll. */
		if (c->rd_drained)
			return 0;
		if (direct)
			n = unit_recv_direct(c);
		else
			n = read(c->fd, c->in, INBUF_SIZE);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (direct) {
			c->rd_got += (uint64_t)n;
			c->rd_drained = (uint64_t)n < left;
		} else {
			c->in_tail = (size_t)n;
			c->rd_drained = (size_t)n < INBUF_SIZE;
		}
	}
	return 1;
}

/* --- transmission input ------------------------------------------------ */

static void req_header(struct td_nbd_conn *c)
{
	struct nbd_slot *s;
	const char *why;
	uint32_t e;

	td_nbd_conn_unit_set(c, RD_REQ_HDR, c->hdr, NBD_REQUEST_SIZE);
	s = slot_get(c);
	td_nbd_decode_request(c->hdr, &s->r);
	if (s->r.magic != NBD_REQUEST_MAGIC) {
		/* Framing is lost: nothing after this can be trusted. */
		conn_warn(c, "bad request magic 0x%08x, closing", s->r.magic);
		slot_put(c, s);
		c->closing = true;
		return;
	}
	if (s->r.type == NBD_CMD_DISC) {
		slot_put(c, s);
		c->closing = true;
		return;
	}
	e = td_nbd_check_request(&s->r, &c->lim, &why);
	if (e) {
		conn_warn(c, "%s of %u bytes at %llu refused: %s",
			  td_nbd_cmd_name(s->r.type), s->r.length,
			  (unsigned long long)s->r.offset, why);
		if (s->r.type == NBD_CMD_WRITE && s->r.length) {
			/* Keep framing: drop the payload, then answer. */
			s->refused = e;
			s->why = why;
			c->cur = s;
			td_nbd_conn_unit_set(c, RD_REQ_SKIP, NULL, s->r.length);
			return;
		}
		reply_error(c, s, e, why);
		return;
	}
	if (!s->r.length && s->r.type != NBD_CMD_FLUSH) {
		reply_ok(c, s);
		return;
	}
	if (s->r.type == NBD_CMD_WRITE) {
		slot_alloc_data(c, s, s->r.length);
		c->cur = s;
		td_nbd_conn_unit_set(c, RD_REQ_PAYLOAD, NULL, s->r.length);
		c->rd_iov = &s->iov[1];
		c->rd_iovcnt = (int)s->nchunks;
		return;
	}
	start_request(c, s);
}

/* Acts on a completed input unit. */
static void unit_done(struct td_nbd_conn *c)
{
	struct nbd_slot *s = c->cur;

	switch (c->rd) {
	case RD_CLIENT_FLAGS:
	case RD_OPT_HDR:
	case RD_OPT_DATA:
	case RD_OPT_SKIP:
		td_nbd_handshake_unit(c);
		return;
	case RD_REQ_HDR:
		req_header(c);
		return;
	case RD_REQ_PAYLOAD:
		c->cur = NULL;
		td_nbd_conn_unit_set(c, RD_REQ_HDR, c->hdr, NBD_REQUEST_SIZE);
		start_request(c, s);
		return;
	case RD_REQ_SKIP:
		c->cur = NULL;
		td_nbd_conn_unit_set(c, RD_REQ_HDR, c->hdr, NBD_REQUEST_SIZE);
		reply_error(c, s, s->refused, s->why);
		return;
	case RD_DONE:
		return;
	}
}

static bool input_allowed(const struct td_nbd_conn *c)
{
	if (c->closing || c->dead || c->rd == RD_DONE)
		return false;
	if (!c->transmission)
		/* One option at a time: its reply must be out first. */
		return c->out_len == 0;
	if (c->rd == RD_REQ_HDR && c->rd_got == 0)
		return can_start_request(c);
	return true;
}

static void conn_input(struct td_nbd_conn *c)
{
	int budget = INPUT_BUDGET, rc;

	while (input_allowed(c)) {
		if (!budget--) {
			conn_kick(c);
			return;
		}
		rc = unit_fill(c);
		if (rc == 0)
			return;
		if (rc < 0) {
			if (rc != -EPIPE)
				conn_warn(c, "receive: %s", strerror(-rc));
			else if (c->rd_got)
				conn_warn(c, "client went away mid-message");
			/* A half-read payload is never submitted. */
			if (c->cur) {
				slot_put(c, c->cur);
				c->cur = NULL;
			}
			c->rd = RD_DONE;
			c->closing = true;
			if (rc != -EPIPE)
				c->dead = true;
			return;
		}
		unit_done(c);
	}
}

/* --- output ------------------------------------------------------------ */

static bool output_pending(const struct td_nbd_conn *c)
{
	return c->out_off < c->out_len || !td_list_empty(&c->replies);
}

/* Gathers pending output (handshake bytes, then replies) into c->wiov. */
static int output_gather(struct td_nbd_conn *c)
{
	uint64_t skip = c->reply_off;
	struct td_list *pos;
	int n = 0;

	if (c->out_off < c->out_len) {
		c->wiov[n].iov_base = c->out + c->out_off;
		c->wiov[n].iov_len = c->out_len - c->out_off;
		n++;
	}
	td_list_for_each(pos, &c->replies) {
		struct nbd_slot *s = td_list_entry(pos, struct nbd_slot, link);
		int i;

		if (n + s->niov > WIOV_MAX)
			break;
		for (i = 0; i < s->niov; i++) {
			struct iovec v = s->iov[i];

			if (skip >= v.iov_len) {
				skip -= v.iov_len;
				continue;
			}
			v.iov_base = (uint8_t *)v.iov_base + skip;
			v.iov_len -= skip;
			skip = 0;
			c->wiov[n++] = v;
		}
	}
	return n;
}

/* Accounts @n sent bytes; fully sent replies give their slot back. */
static void output_consume(struct td_nbd_conn *c, uint64_t n)
{
	if (c->out_off < c->out_len) {
		size_t k = c->out_len - c->out_off;

		if (n < k) {
			c->out_off += n;
			return;
		}
		n -= k;
		c->out_off = c->out_len = 0;
	}
	while (n && !td_list_empty(&c->replies)) {
		struct nbd_slot *s = td_list_entry(c->replies.next,
						   struct nbd_slot, link);
		uint64_t left = s->reply_len - c->reply_off;

		if (n < left) {
			c->reply_off += n;
			return;
		}
		n -= left;
		c->reply_off = 0;
		td_list_del(&s->link);
		slot_put(c, s);
	}
}

static void conn_output(struct td_nbd_conn *c)
{
	while (!c->dead && output_pending(c)) {
		struct msghdr m;
		ssize_t n;

		memset(&m, 0, sizeof(m));
		m.msg_iov = c->wiov;
		m.msg_iovlen = (size_t)output_gather(c);
		n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				c->wblocked = true;
				return;
			}
			if (errno != EPIPE && errno != ECONNRESET)
				conn_warn(c, "send: %s", strerror(errno));
			c->dead = true;
			return;
		}
		output_consume(c, (uint64_t)n);
	}
	c->wblocked = false;
}

/* --- lifetime ---------------------------------------------------------- */

/* Closes the socket and forgets everything that only it needed. */
static void conn_drop_socket(struct td_nbd_conn *c)
{
	struct td_list *n;

	c->dead = true;
	c->closing = true;
	c->rd = RD_DONE;
	td_loop_timer_cancel(c->loop, &c->hs_timer);
	/* A connection without a socket no longer counts as a client. */
	if (c->srv) {
		td_list_del(&c->link);
		c->srv->nconns--;
		c->srv = NULL;
	}
	if (c->fd >= 0) {
		td_loop_fd_del(c->loop, &c->watch);
		close(c->fd);
		c->fd = -1;
	}
	if (c->cur) {
		slot_put(c, c->cur);
		c->cur = NULL;
	}
	c->reply_off = 0;
	c->out_off = c->out_len = 0;
	while ((n = td_list_pop(&c->replies)))
		slot_put(c, td_list_entry(n, struct nbd_slot, link));
	while ((n = td_list_pop(&c->bs_wait)))
		slot_put(c, td_list_entry(n, struct nbd_slot, link));
}

static void conn_destroy(struct td_nbd_conn *c)
{
	if (c->fe_added)
		td_vbd_frontend_del(c->vbd, &c->fe);
	conn_drop_socket(c);
	td_loop_defer_cancel(c->loop, &c->pump);
	td_dbg(TD_SUB_NBD, "vbd %d nbd %u: closed", c->minor, c->id);
	munmap(c->arena, TD_NBD_ARENA);
	free(c->slots);
	free(c);
}

/* Whether nothing is left to do: then the connection can go. */
static bool conn_idle(const struct td_nbd_conn *c)
{
	if (c->in_vbd)
		return false;
	if (c->dead)
		return true;
	return c->closing && !output_pending(c) && td_list_empty(&c->bs_wait);
}

static void conn_update_watch(struct td_nbd_conn *c)
{
	uint32_t ev = 0;

	if (input_allowed(c))
		ev |= TD_EV_IN;
	if (c->wblocked)
		ev |= TD_EV_OUT;
	if (ev != c->watched && !td_loop_fd_mod(c->loop, &c->watch, ev))
		c->watched = ev;
}

/* Does whatever can be done now; may free @c. */
static void conn_run(struct td_nbd_conn *c, bool hup)
{
	if (!c->dead) {
		bs_retry(c);
		conn_output(c);
		conn_input(c);
		/* A peer that hung up can read nothing we would send. */
		if (hup)
			c->dead = true;
		conn_output(c);
	}
	if (c->dead && c->fd >= 0)
		conn_drop_socket(c);
	if (conn_idle(c)) {
		conn_destroy(c);
		return;
	}
	if (!c->dead)
		conn_update_watch(c);
}

static void conn_pump_cb(struct td_loop_defer *d)
{
	conn_run(d->arg, false);
}

/*
 * The handshake took too long: a client that connects and stalls, or
 * dribbles bytes, must not keep one of the export's slots. No request of
 * it can be inside the VBD yet, so the connection goes at once.
 */
static void conn_hs_timeout(struct td_loop_timer *t)
{
	struct td_nbd_conn *c = t->arg;

	if (c->srv) {
		c->srv->handshake_timeouts++;
		conn_warn(c, "no handshake after %llu ms, closing",
			  (unsigned long long)(c->srv->handshake_ns /
					       TD_NS_PER_MS));
	}
	c->dead = true;
	conn_run(c, false);
}

static void conn_fd_cb(struct td_loop_fd *f, uint32_t ev)
{
	struct td_nbd_conn *c = f->arg;

	if (ev & TD_EV_ERR)
		c->dead = true;
	if (ev & TD_EV_OUT)
		c->wblocked = false;
	if (ev & TD_EV_IN)
		c->rd_drained = false;
	conn_run(c, ev & TD_EV_HUP);
}

/* Leaves server and VBD now; frees @c once its requests are back. */
static void conn_shutdown(struct td_nbd_conn *c)
{
	if (c->fe_added) {
		td_vbd_frontend_del(c->vbd, &c->fe);
		c->fe_added = false;
	}
	conn_drop_socket(c);
	if (!c->in_vbd)
		conn_destroy(c);
}

void td_nbd_conn_drop_all(struct td_nbd_server *s)
{
	struct td_list *n;

	while ((n = s->conns.next) != &s->conns)
		conn_shutdown(td_list_entry(n, struct td_nbd_conn, link));
}

static void fe_kick(struct td_vbd_frontend *fe)
{
	conn_kick(fe->arg);
}

static void fe_closing(struct td_vbd_frontend *fe)
{
	conn_shutdown(fe->arg);
}

static const struct td_vbd_frontend_ops conn_fe_ops = {
	.kind = "nbd",
	.kick = fe_kick,
	.closing = fe_closing,
};

static int conn_alloc(struct td_nbd_conn **out)
{
	struct td_nbd_conn *c = calloc(1, sizeof(*c));
	unsigned i;

	if (!c)
		return -ENOMEM;
	c->slots = calloc(TD_NBD_SLOTS, sizeof(*c->slots));
	/* Address space only: pages are touched as requests use them. */
	c->arena = mmap(NULL, TD_NBD_ARENA, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!c->slots || c->arena == MAP_FAILED) {
		if (c->arena != MAP_FAILED)
			munmap(c->arena, TD_NBD_ARENA);
		free(c->slots);
		free(c);
		return -ENOMEM;
	}
	td_list_init(&c->free_slots);
	td_list_init(&c->replies);
	td_list_init(&c->bs_wait);
	for (i = 0; i < TD_NBD_SLOTS; i++) {
		c->slots[i].c = c;
		td_list_add_tail(&c->slots[i].link, &c->free_slots);
	}
	c->nfree_slots = TD_NBD_SLOTS;
	for (i = 0; i < NCHUNKS; i++)
		c->free_chunks[i] = (uint16_t)(NCHUNKS - 1 - i);
	c->nfree_chunks = NCHUNKS;
	*out = c;
	return 0;
}

int td_nbd_conn_create(struct td_nbd_server *s, int fd,
		       struct td_nbd_conn **out)
{
	struct td_ratelimit rl = TD_RATELIMIT_INIT;
	struct td_nbd_conn *c;
	int rc;

	rc = conn_alloc(&c);
	if (rc)
		return rc;
	c->srv = s;
	c->loop = s->loop;
	c->vbd = s->vbd;
	c->minor = s->vbd->minor;
	c->id = (unsigned)s->accepted;
	c->rl = rl;
	c->fd = fd;
	c->watch.fd = fd;
	c->watch.events = TD_EV_IN;
	c->watch.cb = conn_fd_cb;
	c->watch.arg = c;
	c->watched = TD_EV_IN;
	c->pump.cb = conn_pump_cb;
	c->pump.arg = c;
	td_list_init(&c->pump.link);
	c->hs_timer.cb = conn_hs_timeout;
	c->hs_timer.arg = c;
	td_list_init(&c->hs_timer.link);
	rc = td_loop_fd_add(c->loop, &c->watch);
	if (rc) {
		munmap(c->arena, TD_NBD_ARENA);
		free(c->slots);
		free(c);
		return rc;
	}
	c->fe.ops = &conn_fe_ops;
	c->fe.arg = c;
	td_list_init(&c->fe.link);
	td_vbd_frontend_add(c->vbd, &c->fe);
	c->fe_added = true;
	td_list_add_tail(&c->link, &s->conns);
	s->nconns++;

	td_loop_timer_arm(c->loop, &c->hs_timer, s->handshake_ns);
	td_nbd_handshake_start(c);
	conn_kick(c);
	*out = c;
	return 0;
}
