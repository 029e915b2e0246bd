/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The fixed newstyle handshake of an NBD connection: greeting, client
 * flags, and one option at a time until NBD_OPT_GO or NBD_OPT_EXPORT_NAME
 * enters the transmission phase. Replies are queued in the connection's
 * output buffer; the next option is read only once they are sent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "nbd-conn.h"

static int out_put(struct td_nbd_conn *c, const void *p, size_t n)
{
	if (!n)
		return 0;
	if (n > OUTBUF_SIZE - c->out_len)
		return -ENOSPC;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* Queues an option reply made of up to two data pieces. */
static void opt_reply(struct td_nbd_conn *c, uint32_t type, const void *d1,
		      size_t n1, const void *d2, size_t n2)
{
	uint8_t h[20];

	td_nbd_put_opt_reply(h, c->opt, type, (uint32_t)(n1 + n2));
	/* Our replies are small and bounded: running out is a bug. */
	if (out_put(c, h, sizeof(h)) || out_put(c, d1, n1) ||
	    out_put(c, d2, n2)) {
		conn_warn(c, "option reply too large, closing");
		c->closing = true;
	}
}

static void opt_error(struct td_nbd_conn *c, uint32_t type, const char *msg)
{
	opt_reply(c, type, msg, strlen(msg), NULL, 0);
}

static bool name_ok(const struct td_nbd_conn *c, const char *n, uint32_t len)
{
	return !len ||
	       (len == strlen(c->srv->name) && !memcmp(n, c->srv->name, len));
}

static void refresh_limits(struct td_nbd_conn *c)
{
	struct td_vbd *vbd = c->vbd;
	bool rw = td_vbd_writable(vbd);

	c->lim.size = vbd->size_sectors << TD_SECTOR_SHIFT;
	c->lim.read_only = !rw;
	c->lim.structured = c->structured;
	c->lim.meta_allocation = c->meta_alloc;
	c->lim.trim = rw && (vbd->caps & TD_CAP_DISCARD);
	c->lim.native_zeroes = vbd->caps & TD_CAP_WRITE_ZEROES;
	c->lim.max_block = TD_NBD_MAX_BLOCK;
}

static void enter_transmission(struct td_nbd_conn *c)
{
	c->transmission = true;
	td_loop_timer_cancel(c->loop, &c->hs_timer);
	refresh_limits(c);
	td_nbd_conn_unit_set(c, RD_REQ_HDR, c->hdr, NBD_REQUEST_SIZE);
	td_dbg(TD_SUB_NBD, "vbd %d nbd %u: transmission, flags 0x%x",
	       c->minor, c->id, td_nbd_transmission_flags(&c->lim));
}

static void info_replies(struct td_nbd_conn *c,
			 const struct td_nbd_info_opt *io)
{
	uint8_t b[14];
	char desc[64];

	refresh_limits(c);
	td_nbd_put16(b, NBD_INFO_EXPORT);
	td_nbd_put64(b + 2, c->lim.size);
	td_nbd_put16(b + 10, td_nbd_transmission_flags(&c->lim));
	opt_reply(c, NBD_REP_INFO, b, 12, NULL, 0);
	/* Sent even unasked: clients must ignore what they do not know. */
	td_nbd_put16(b, NBD_INFO_BLOCK_SIZE);
	td_nbd_put32(b + 2, TD_NBD_MIN_BLOCK);
	td_nbd_put32(b + 6, TD_NBD_PREF_BLOCK);
	td_nbd_put32(b + 10, TD_NBD_MAX_BLOCK);
	opt_reply(c, NBD_REP_INFO, b, 14, NULL, 0);
	if (io->want_name) {
		td_nbd_put16(b, NBD_INFO_NAME);
		opt_reply(c, NBD_REP_INFO, b, 2, c->srv->name,
			  strlen(c->srv->name));
	}
	if (io->want_description) {
		snprintf(desc, sizeof(desc), "tapdisk vbd %d", c->vbd->minor);
		td_nbd_put16(b, NBD_INFO_DESCRIPTION);
		opt_reply(c, NBD_REP_INFO, b, 2, desc, strlen(desc));
	}
}

static void opt_info_go(struct td_nbd_conn *c)
{
	struct td_nbd_info_opt io;

	if (td_nbd_parse_info_opt(c->opt_data, c->opt_len, &io)) {
		opt_error(c, NBD_REP_ERR_INVALID, "malformed INFO/GO");
		return;
	}
	if (!name_ok(c, io.name, io.name_len)) {
		opt_error(c, NBD_REP_ERR_UNKNOWN, "no such export");
		return;
	}
	info_replies(c, &io);
	opt_reply(c, NBD_REP_ACK, NULL, 0, NULL, 0);
	if (c->opt == NBD_OPT_GO)
		enter_transmission(c);
}

static void opt_meta(struct td_nbd_conn *c)
{
	bool list = c->opt == NBD_OPT_LIST_META_CONTEXT;
	struct td_nbd_meta_opt mo;
	uint8_t id[4];

	/* SET replaces the selection even when it fails. */
	if (!list)
		c->meta_alloc = false;
	if (!c->structured) {
		opt_error(c, NBD_REP_ERR_INVALID,
			  "structured replies not negotiated");
		return;
	}
	if (td_nbd_parse_meta_opt(c->opt_data, c->opt_len, list, &mo)) {
		opt_error(c, NBD_REP_ERR_INVALID, "malformed meta context");
		return;
	}
	if (!name_ok(c, mo.name, mo.name_len)) {
		opt_error(c, NBD_REP_ERR_UNKNOWN, "no such export");
		return;
	}
	if (mo.allocation) {
		td_nbd_put32(id, list ? 0 : TD_NBD_META_ALLOCATION_ID);
		opt_reply(c, NBD_REP_META_CONTEXT, id, 4,
			  TD_NBD_META_ALLOCATION,
			  strlen(TD_NBD_META_ALLOCATION));
		if (!list)
			c->meta_alloc = true;
	}
	opt_reply(c, NBD_REP_ACK, NULL, 0, NULL, 0);
}

static void opt_export_name(struct td_nbd_conn *c)
{
	uint8_t b[10 + 124];

	/* This option cannot fail politely: a bad name ends the session. */
	if (!name_ok(c, (const char *)c->opt_data, c->opt_len)) {
		conn_warn(c, "NBD_OPT_EXPORT_NAME for an unknown export");
		c->closing = true;
		return;
	}
	refresh_limits(c);
	memset(b, 0, sizeof(b));
	td_nbd_put64(b, c->lim.size);
	td_nbd_put16(b + 8, td_nbd_transmission_flags(&c->lim));
	out_put(c, b, c->no_zeroes ? 10 : sizeof(b));
	enter_transmission(c);
}

static void opt_list(struct td_nbd_conn *c)
{
	uint8_t len[4];

	if (c->opt_len) {
		opt_error(c, NBD_REP_ERR_INVALID, "LIST takes no data");
		return;
	}
	td_nbd_put32(len, (uint32_t)strlen(c->srv->name));
	opt_reply(c, NBD_REP_SERVER, len, 4, c->srv->name,
		  strlen(c->srv->name));
	opt_reply(c, NBD_REP_ACK, NULL, 0, NULL, 0);
}

static void handle_option(struct td_nbd_conn *c)
{
	switch (c->opt) {
	case NBD_OPT_EXPORT_NAME:
		opt_export_name(c);
		return;
	case NBD_OPT_ABORT:
		opt_reply(c, NBD_REP_ACK, NULL, 0, NULL, 0);
		c->closing = true;
		return;
	case NBD_OPT_LIST:
		opt_list(c);
		return;
	case NBD_OPT_STARTTLS:
		opt_error(c, NBD_REP_ERR_POLICY, "TLS is not supported");
		return;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info_go(c);
		return;
	case NBD_OPT_STRUCTURED_REPLY:
		if (c->opt_len) {
			opt_error(c, NBD_REP_ERR_INVALID, "takes no data");
			return;
		}
		c->structured = true;
		opt_reply(c, NBD_REP_ACK, NULL, 0, NULL, 0);
		return;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		opt_meta(c);
		return;
	default:
		opt_error(c, NBD_REP_ERR_UNSUP, "unsupported option");
		return;
	}
}

/* An option header was read: read its data, or skip it if too large. */
static void opt_header(struct td_nbd_conn *c)
{
	if (td_nbd_get64(c->hdr) != NBD_MAGIC_OPT) {
		conn_warn(c, "bad option magic, closing");
		c->closing = true;
		return;
	}
	c->opt = td_nbd_get32(c->hdr + 8);
	c->opt_len = td_nbd_get32(c->hdr + 12);
	if (c->opt_len > MAX_OPT_DATA) {
		if (c->opt == NBD_OPT_EXPORT_NAME) {
			conn_warn(c, "export name too long, closing");
			c->closing = true;
			return;
		}
		td_nbd_conn_unit_set(c, RD_OPT_SKIP, NULL, c->opt_len);
		return;
	}
	td_nbd_conn_unit_set(c, RD_OPT_DATA, c->opt_data, c->opt_len);
}

void td_nbd_handshake_start(struct td_nbd_conn *c)
{
	uint8_t greet[18];

	td_nbd_put64(greet, NBD_MAGIC_INIT);
	td_nbd_put64(greet + 8, NBD_MAGIC_OPT);
	td_nbd_put16(greet + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	out_put(c, greet, sizeof(greet));
	td_nbd_conn_unit_set(c, RD_CLIENT_FLAGS, c->hdr, 4);
}

static void client_flags(struct td_nbd_conn *c)
{
	uint32_t f = td_nbd_get32(c->hdr);

	/* Fixed newstyle only; unknown flags must end the session. */
	if (!(f & NBD_FLAG_C_FIXED_NEWSTYLE) ||
	    (f & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))) {
		conn_warn(c, "client flags 0x%x refused", f);
		c->closing = true;
		return;
	}
	c->no_zeroes = f & NBD_FLAG_C_NO_ZEROES;
	td_nbd_conn_unit_set(c, RD_OPT_HDR, c->hdr, 16);
}

void td_nbd_handshake_unit(struct td_nbd_conn *c)
{
	switch (c->rd) {
	case RD_CLIENT_FLAGS:
		client_flags(c);
		return;
	case RD_OPT_HDR:
		opt_header(c);
		return;
	case RD_OPT_DATA:
		td_nbd_conn_unit_set(c, RD_OPT_HDR, c->hdr, 16);
		handle_option(c);
		return;
	case RD_OPT_SKIP:
		td_nbd_conn_unit_set(c, RD_OPT_HDR, c->hdr, 16);
		opt_error(c, NBD_REP_ERR_TOO_BIG, "option data too large");
		return;
	default:
		return;
	}
}
