/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NBD connection state machine in process: a real loop, a VBD on the
 * ram driver, and the test playing the client on the other end of a
 * socketpair with crafted byte streams: handshake options and their
 * errors, every command, protocol errors, partial reads (one byte at a
 * time), slow readers, backpressure while the VBD is paused, a client
 * vanishing with requests in flight, and closing the VBD under clients.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "fake-io.h"
#include "nbd-proto.h"
#include "nbd.h"
#include "server.h"
#include "vbd.h"
#include "td-check.h"

#define DISK (4u << 20)
#define ITER_MAX 200000

struct fix {
	struct td_server srv;
	struct td_vbd *vbd;
	struct td_nbd_server *nbd;
	struct td_vbd_waiter w;
	int waiter_done;
};

static struct fix *F;

static void run(void)
{
	td_loop_run_once(&F->srv.loop, 0);
}

static void open_vbd(unsigned flags)
{
	struct td_vbd_export_opts eo;
	struct td_nbd_server_opts so = { NULL, NULL, 0 };
	char err[256];

	memset(&eo, 0, sizeof(eo));
	eo.no_nbd = true;
	eo.no_shm = true;
	ck_assert_int_eq(td_vbd_create(&F->srv, 1, &F->vbd), 0);
	ck_assert_int_eq(td_vbd_open(F->vbd, "ram:4M", flags, &eo, err,
				     sizeof(err)), 0);
	ck_assert_int_eq(td_nbd_server_create(F->vbd, &so, &F->nbd, err,
					      sizeof(err)), 0);
}

static void setup(void)
{
	F = calloc(1, sizeof(*F));
	td_list_init(&F->srv.vbds);
	td_list_init(&F->srv.images);
	F->srv.sigfd = -1;
	ck_assert_int_eq(td_loop_init(&F->srv.loop, NULL, NULL), 0);
	ck_assert_int_eq(td_fake_io_create(&F->srv.loop, &F->srv.io), 0);
	open_vbd(0);
}

static void waiter_done(struct td_vbd_waiter *w, int err)
{
	ck_assert_int_eq(err, 0);
	F->waiter_done++;
}

static void wait_waiter(void)
{
	int i;

	for (i = 0; i < ITER_MAX && !F->waiter_done; i++)
		run();
	ck_assert_int_eq(F->waiter_done, 1);
	F->waiter_done = 0;
}

static void close_vbd(void)
{
	if (F->nbd)
		td_nbd_server_destroy(F->nbd);
	F->nbd = NULL;
	F->w.done = waiter_done;
	ck_assert_int_eq(td_vbd_close(F->vbd, false, &F->w), 0);
	wait_waiter();
	ck_assert_int_eq(td_vbd_destroy(F->vbd), 0);
	F->vbd = NULL;
}

static void teardown(void)
{
	int i;

	if (F->vbd)
		close_vbd();
	for (i = 0; i < 10; i++)
		run();
	td_io_destroy(F->srv.io);
	td_loop_fini(&F->srv.loop);
	free(F);
}

/* --- the client side ---------------------------------------------------- */

static int client(void)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
						     SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(td_nbd_server_add_client(F->nbd, sv[0]), 0);
	return sv[1];
}

static void xsend(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	int i;

	for (i = 0; n && i < ITER_MAX; i++) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

		if (k < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			run();
			continue;
		}
		b += k;
		n -= (size_t)k;
	}
	ck_assert_uint_eq(n, 0);
}

static void xrecv(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	int i;

	for (i = 0; n && i < ITER_MAX; i++) {
		ssize_t k = recv(fd, b, n, 0);

		if (k < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			run();
			continue;
		}
		ck_assert_int_gt(k, 0);
		b += k;
		n -= (size_t)k;
	}
	ck_assert_uint_eq(n, 0);
}

/* True once the server closed its end (after any pending bytes). */
static bool closed_by_server(int fd)
{
	uint8_t junk[4096];
	int i;

	for (i = 0; i < ITER_MAX; i++) {
		ssize_t k = recv(fd, junk, sizeof(junk), 0);

		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return true;
		if (k < 0)
			run();
	}
	return false;
}

/* Nothing arrives while the loop runs a while. */
static void expect_silence(int fd)
{
	uint8_t b;
	int i;

	for (i = 0; i < 50; i++)
		run();
	ck_assert_int_eq(recv(fd, &b, 1, 0), -1);
	ck_assert_int_eq(errno, EAGAIN);
}

static void greet(int fd, uint32_t cflags)
{
	uint8_t g[18], f[4];

	xrecv(fd, g, sizeof(g));
	ck_assert_uint_eq(td_nbd_get64(g), NBD_MAGIC_INIT);
	ck_assert_uint_eq(td_nbd_get64(g + 8), NBD_MAGIC_OPT);
	ck_assert_uint_eq(td_nbd_get16(g + 16),
			  NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	td_nbd_put32(f, cflags);
	xsend(fd, f, 4);
}

static void send_opt(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];

	td_nbd_put64(h, NBD_MAGIC_OPT);
	td_nbd_put32(h + 8, opt);
	td_nbd_put32(h + 12, len);
	xsend(fd, h, 16);
	if (len)
		xsend(fd, data, len);
}

/* Reads one option reply; returns its type, payload into @buf. */
static uint32_t opt_reply(int fd, uint32_t opt, uint8_t *buf, uint32_t *len)
{
	uint8_t h[20];

	xrecv(fd, h, 20);
	ck_assert_uint_eq(td_nbd_get64(h), NBD_MAGIC_REP);
	ck_assert_uint_eq(td_nbd_get32(h + 8), opt);
	*len = td_nbd_get32(h + 16);
	ck_assert_uint_le(*len, 4096);
	if (*len)
		xrecv(fd, buf, *len);
	return td_nbd_get32(h + 12);
}

static uint32_t opt_simple(int fd, uint32_t opt, const void *d, uint32_t n)
{
	uint8_t b[4096];
	uint32_t len;

	send_opt(fd, opt, d, n);
	return opt_reply(fd, opt, b, &len);
}

static void set_meta(int fd, const char *query)
{
	uint8_t b[128], r[4096];
	uint32_t n = 0, len;

	td_nbd_put32(b, 0);
	n = 4;
	td_nbd_put32(b + n, 1);
	n += 4;
	td_nbd_put32(b + n, (uint32_t)strlen(query));
	memcpy(b + n + 4, query, strlen(query));
	n += 4 + (uint32_t)strlen(query);
	send_opt(fd, NBD_OPT_SET_META_CONTEXT, b, n);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_SET_META_CONTEXT, r, &len),
			  NBD_REP_META_CONTEXT);
	ck_assert_uint_eq(td_nbd_get32(r), TD_NBD_META_ALLOCATION_ID);
	ck_assert_uint_eq(len, 4 + strlen(TD_NBD_META_ALLOCATION));
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_SET_META_CONTEXT, r, &len),
			  NBD_REP_ACK);
}

/* Connects and negotiates with NBD_OPT_GO; returns the flags. */
static int go(bool structured, uint16_t *tflags)
{
	int fd = client();
	uint8_t b[4096], req[8] = { 0 };
	uint32_t t, len;
	bool export_seen = false;

	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	if (structured) {
		ck_assert_uint_eq(opt_simple(fd, NBD_OPT_STRUCTURED_REPLY,
					     NULL, 0), NBD_REP_ACK);
		set_meta(fd, TD_NBD_META_ALLOCATION);
	}
	/* name "1", one request: block size */
	td_nbd_put32(req, 1);
	req[4] = '1';
	td_nbd_put16(req + 5, 0);
	send_opt(fd, NBD_OPT_GO, req, 7);
	while ((t = opt_reply(fd, NBD_OPT_GO, b, &len)) == NBD_REP_INFO) {
		if (td_nbd_get16(b) == NBD_INFO_EXPORT) {
			ck_assert_uint_eq(len, 12);
			ck_assert_uint_eq(td_nbd_get64(b + 2), DISK);
			*tflags = td_nbd_get16(b + 10);
			export_seen = true;
		}
	}
	ck_assert_uint_eq(t, NBD_REP_ACK);
	ck_assert(export_seen);
	return fd;
}

static void send_req(int fd, uint16_t type, uint16_t flags, uint64_t handle,
		     uint64_t off, uint32_t len)
{
	uint8_t h[NBD_REQUEST_SIZE];

	td_nbd_put32(h, NBD_REQUEST_MAGIC);
	td_nbd_put16(h + 4, flags);
	td_nbd_put16(h + 6, type);
	td_nbd_put64(h + 8, handle);
	td_nbd_put64(h + 16, off);
	td_nbd_put32(h + 24, len);
	xsend(fd, h, sizeof(h));
}

/* Reads a simple reply; returns its error. */
static uint32_t simple_reply(int fd, uint64_t handle)
{
	uint8_t h[16];

	xrecv(fd, h, 16);
	ck_assert_uint_eq(td_nbd_get32(h), NBD_SIMPLE_REPLY_MAGIC);
	ck_assert_uint_eq(td_nbd_get64(h + 8), handle);
	return td_nbd_get32(h + 4);
}

/* Reads a simple reply for any handle; returns its error. */
static uint32_t simple_reply_any(int fd, uint64_t *handle)
{
	uint8_t h[16];

	xrecv(fd, h, 16);
	ck_assert_uint_eq(td_nbd_get32(h), NBD_SIMPLE_REPLY_MAGIC);
	*handle = td_nbd_get64(h + 8);
	return td_nbd_get32(h + 4);
}

/* Reads one structured chunk header; returns its type. */
static uint16_t chunk(int fd, uint64_t handle, uint16_t *flags,
		      uint32_t *len)
{
	uint8_t h[20];

	xrecv(fd, h, 20);
	ck_assert_uint_eq(td_nbd_get32(h), NBD_STRUCTURED_REPLY_MAGIC);
	ck_assert_uint_eq(td_nbd_get64(h + 8), handle);
	*flags = td_nbd_get16(h + 4);
	*len = td_nbd_get32(h + 16);
	return td_nbd_get16(h + 6);
}

/* Reads a structured error chunk; returns its error value. */
static uint32_t error_chunk(int fd, uint64_t handle)
{
	uint8_t b[512];
	uint16_t fl;
	uint32_t len;

	ck_assert_uint_eq(chunk(fd, handle, &fl, &len), NBD_REPLY_TYPE_ERROR);
	ck_assert_uint_eq(fl, NBD_REPLY_FLAG_DONE);
	ck_assert_uint_ge(len, 6);
	ck_assert_uint_le(len, sizeof(b));
	xrecv(fd, b, len);
	ck_assert_uint_eq(td_nbd_get16(b + 4), len - 6);
	return td_nbd_get32(b);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 9));
}

static void write_simple(int fd, uint64_t h, uint64_t off, const void *p,
			 uint32_t n, uint16_t flags)
{
	send_req(fd, NBD_CMD_WRITE, flags, h, off, n);
	xsend(fd, p, n);
	ck_assert_uint_eq(simple_reply(fd, h), 0);
}

static void read_simple(int fd, uint64_t h, uint64_t off, void *p,
			uint32_t n)
{
	send_req(fd, NBD_CMD_READ, 0, h, off, n);
	ck_assert_uint_eq(simple_reply(fd, h), 0);
	xrecv(fd, p, n);
}

static void read_structured(int fd, uint64_t h, uint64_t off, void *p,
			    uint32_t n)
{
	uint8_t o[8];
	uint16_t fl;
	uint32_t len;

	send_req(fd, NBD_CMD_READ, 0, h, off, n);
	ck_assert_uint_eq(chunk(fd, h, &fl, &len),
			  NBD_REPLY_TYPE_OFFSET_DATA);
	ck_assert_uint_eq(fl, NBD_REPLY_FLAG_DONE);
	ck_assert_uint_eq(len, 8 + n);
	xrecv(fd, o, 8);
	ck_assert_uint_eq(td_nbd_get64(o), off);
	xrecv(fd, p, n);
}

static void disconnect(int fd)
{
	send_req(fd, NBD_CMD_DISC, 0, 0, 0, 0);
	ck_assert(closed_by_server(fd));
	close(fd);
}

/* --- handshake ---------------------------------------------------------- */

START_TEST(handshake_options)
{
	int fd = client();
	uint8_t b[4096], d[64];
	uint32_t len;

	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	send_opt(fd, NBD_OPT_LIST, NULL, 0);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_LIST, b, &len),
			  NBD_REP_SERVER);
	ck_assert_uint_eq(len, 5);
	ck_assert_uint_eq(td_nbd_get32(b), 1);
	ck_assert_int_eq(b[4], '1');
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_LIST, b, &len), NBD_REP_ACK);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_LIST, "x", 1),
			  NBD_REP_ERR_INVALID);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_STARTTLS, NULL, 0),
			  NBD_REP_ERR_POLICY);
	ck_assert_uint_eq(opt_simple(fd, 42, "abc", 3), NBD_REP_ERR_UNSUP);
	ck_assert_uint_eq(opt_simple(fd, 4, NULL, 0), NBD_REP_ERR_UNSUP);
	/* Meta contexts need structured replies first. */
	memset(d, 0, 8);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_SET_META_CONTEXT, d, 8),
			  NBD_REP_ERR_INVALID);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_STRUCTURED_REPLY, "x", 1),
			  NBD_REP_ERR_INVALID);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0),
			  NBD_REP_ACK);
	/* LIST_META with no query lists base:allocation. */
	send_opt(fd, NBD_OPT_LIST_META_CONTEXT, d, 8);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_LIST_META_CONTEXT, b, &len),
			  NBD_REP_META_CONTEXT);
	ck_assert_int_eq(memcmp(b + 4, "base:allocation", 15), 0);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_LIST_META_CONTEXT, b, &len),
			  NBD_REP_ACK);
	/* Unknown export, malformed payloads. */
	td_nbd_put32(d, 4);
	memcpy(d + 4, "nope", 4);
	td_nbd_put16(d + 8, 0);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_INFO, d, 10),
			  NBD_REP_ERR_UNKNOWN);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_GO, d, 9),
			  NBD_REP_ERR_INVALID);
	td_nbd_put32(d + 8, 0);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_SET_META_CONTEXT, d, 12),
			  NBD_REP_ERR_UNKNOWN);
	/* A good INFO: the export, block sizes, ACK; still negotiating. */
	td_nbd_put32(d, 0);
	td_nbd_put16(d + 4, 2);
	td_nbd_put16(d + 6, NBD_INFO_NAME);
	td_nbd_put16(d + 8, NBD_INFO_DESCRIPTION);
	send_opt(fd, NBD_OPT_INFO, d, 10);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_INFO, b, &len), NBD_REP_INFO);
	ck_assert_uint_eq(td_nbd_get16(b), NBD_INFO_EXPORT);
	ck_assert_uint_eq(td_nbd_get64(b + 2), DISK);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_INFO, b, &len), NBD_REP_INFO);
	ck_assert_uint_eq(td_nbd_get16(b), NBD_INFO_BLOCK_SIZE);
	ck_assert_uint_eq(td_nbd_get32(b + 2), 512);
	ck_assert_uint_eq(td_nbd_get32(b + 6), 4096);
	ck_assert_uint_eq(td_nbd_get32(b + 10), TD_NBD_MAX_BLOCK);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_INFO, b, &len), NBD_REP_INFO);
	ck_assert_uint_eq(td_nbd_get16(b), NBD_INFO_NAME);
	ck_assert_int_eq(b[2], '1');
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_INFO, b, &len), NBD_REP_INFO);
	ck_assert_uint_eq(td_nbd_get16(b), NBD_INFO_DESCRIPTION);
	ck_assert_uint_eq(opt_reply(fd, NBD_OPT_INFO, b, &len), NBD_REP_ACK);
	/* ABORT is acknowledged, then the server hangs up. */
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_ABORT, NULL, 0), NBD_REP_ACK);
	ck_assert(closed_by_server(fd));
	close(fd);
	for (int i = 0; i < 10; i++)
		run();
	ck_assert_uint_eq(F->nbd->nconns, 0);
}
END_TEST

START_TEST(handshake_export_name)
{
	uint8_t b[10 + 124];
	int fd = client();

	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	send_opt(fd, NBD_OPT_EXPORT_NAME, "1", 1);
	xrecv(fd, b, sizeof(b));
	ck_assert_uint_eq(td_nbd_get64(b), DISK);
	ck_assert(td_nbd_get16(b + 8) & NBD_FLAG_HAS_FLAGS);
	for (unsigned i = 10; i < sizeof(b); i++)
		ck_assert_int_eq(b[i], 0);
	disconnect(fd);

	/* With NO_ZEROES the 124 bytes are left out. */
	fd = client();
	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_opt(fd, NBD_OPT_EXPORT_NAME, NULL, 0);
	xrecv(fd, b, 10);
	send_req(fd, NBD_CMD_FLUSH, 0, 9, 0, 0);
	ck_assert_uint_eq(simple_reply(fd, 9), 0);
	disconnect(fd);

	/* An unknown name cannot be answered: the session ends. */
	fd = client();
	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	send_opt(fd, NBD_OPT_EXPORT_NAME, "zz", 2);
	ck_assert(closed_by_server(fd));
	close(fd);
}
END_TEST

START_TEST(handshake_protocol_errors)
{
	uint8_t h[16];
	int fd;

	/* Not fixed newstyle, or unknown client flags. */
	fd = client();
	greet(fd, 0);
	ck_assert(closed_by_server(fd));
	close(fd);
	fd = client();
	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE | 0x100);
	ck_assert(closed_by_server(fd));
	close(fd);
	/* Bad option magic. */
	fd = client();
	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	memset(h, 0x41, sizeof(h));
	xsend(fd, h, sizeof(h));
	ck_assert(closed_by_server(fd));
	close(fd);
	/* Hang up mid-option: the server just forgets the client. */
	fd = client();
	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	xsend(fd, h, 5);
	close(fd);
	for (int i = 0; i < 20; i++)
		run();
	ck_assert_uint_eq(F->nbd->nconns, 0);
}
END_TEST

START_TEST(handshake_oversized_option)
{
	uint32_t n = 100000;
	uint8_t *junk = calloc(1, n);
	int fd = client();

	greet(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	/* Skipped, answered TOO_BIG, and the session goes on. */
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_SET_META_CONTEXT, junk, n),
			  NBD_REP_ERR_TOO_BIG);
	ck_assert_uint_eq(opt_simple(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0),
			  NBD_REP_ACK);
	/* EXPORT_NAME cannot fail politely. */
	send_opt(fd, NBD_OPT_EXPORT_NAME, junk, n);
	ck_assert(closed_by_server(fd));
	close(fd);
	free(junk);
}
END_TEST

START_TEST(byte_at_a_time)
{
	uint8_t all[4096], w[1024], r[1024];
	size_t n = 0, i;
	int fd = client();
	uint8_t g[18];

	/* The whole session written one byte per loop turn. */
	td_nbd_put32(all, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	n = 4;
	td_nbd_put64(all + n, NBD_MAGIC_OPT);
	td_nbd_put32(all + n + 8, NBD_OPT_EXPORT_NAME);
	td_nbd_put32(all + n + 12, 0);
	n += 16;
	td_nbd_put32(all + n, NBD_REQUEST_MAGIC);
	td_nbd_put16(all + n + 4, 0);
	td_nbd_put16(all + n + 6, NBD_CMD_WRITE);
	td_nbd_put64(all + n + 8, 77);
	td_nbd_put64(all + n + 16, 8192);
	td_nbd_put32(all + n + 24, sizeof(w));
	n += NBD_REQUEST_SIZE;
	fill(w, sizeof(w), 3);
	memcpy(all + n, w, sizeof(w));
	n += sizeof(w);
	xrecv(fd, g, sizeof(g));
	for (i = 0; i < n; i++) {
		xsend(fd, all + i, 1);
		run();
	}
	xrecv(fd, all, 10);
	ck_assert_uint_eq(simple_reply(fd, 77), 0);
	read_simple(fd, 78, 8192, r, sizeof(r));
	ck_assert_int_eq(memcmp(r, w, sizeof(w)), 0);
	disconnect(fd);
}
END_TEST

/* --- transmission ------------------------------------------------------- */

START_TEST(commands_simple)
{
	static uint8_t w[256 << 10], r[256 << 10];
	uint16_t tf;
	int fd = go(false, &tf);

	ck_assert(tf & NBD_FLAG_SEND_FLUSH);
	ck_assert(tf & NBD_FLAG_SEND_FUA);
	ck_assert(tf & NBD_FLAG_SEND_WRITE_ZEROES);
	ck_assert(tf & NBD_FLAG_SEND_TRIM);
	ck_assert(tf & NBD_FLAG_CAN_MULTI_CONN);
	ck_assert(!(tf & NBD_FLAG_READ_ONLY));
	ck_assert(!(tf & NBD_FLAG_SEND_DF));
	/* Spans two granules, unaligned to them. */
	fill(w, sizeof(w), 1);
	write_simple(fd, 1, 4096, w, sizeof(w), 0);
	write_simple(fd, 2, DISK - 512, w, 512, NBD_CMD_FLAG_FUA);
	read_simple(fd, 3, 4096, r, sizeof(r));
	ck_assert_int_eq(memcmp(r, w, sizeof(w)), 0);
	send_req(fd, NBD_CMD_FLUSH, 0, 4, 0, 0);
	ck_assert_uint_eq(simple_reply(fd, 4), 0);
	/* Zeroes, with and without NO_HOLE and FUA; trim with FUA. */
	send_req(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 5, 8192,
		 4096);
	ck_assert_uint_eq(simple_reply(fd, 5), 0);
	send_req(fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA, 6, 65536, 512);
	ck_assert_uint_eq(simple_reply(fd, 6), 0);
	read_simple(fd, 7, 4096, r, sizeof(r));
	ck_assert_int_eq(memcmp(r, w, 4096), 0);
	for (unsigned i = 4096; i < 8192; i++)
		ck_assert_int_eq(r[i], 0);
	/* r[i] is disk byte 4096 + i */
	ck_assert_int_eq(memcmp(r + 8192, w + 8192, 61440 - 8192), 0);
	for (unsigned i = 61440; i < 61440 + 512; i++)
		ck_assert_int_eq(r[i], 0);
	ck_assert_int_eq(memcmp(r + 61952, w + 61952, sizeof(w) - 61952), 0);
	send_req(fd, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 8, 1 << 20, 1 << 20);
	ck_assert_uint_eq(simple_reply(fd, 8), 0);
	/* Zero-length read: a reply without data. */
	send_req(fd, NBD_CMD_READ, 0, 9, 0, 0);
	ck_assert_uint_eq(simple_reply(fd, 9), 0);
	disconnect(fd);
}
END_TEST

START_TEST(commands_errors_simple)
{
	static uint8_t big[64 << 10];
	uint8_t r[512];
	uint16_t tf;
	int fd = go(false, &tf);

	send_req(fd, NBD_CMD_READ, 0, 1, DISK, 512);
	ck_assert_uint_eq(simple_reply(fd, 1), NBD_EINVAL);
	send_req(fd, NBD_CMD_READ, 0, 2, 100, 512);
	ck_assert_uint_eq(simple_reply(fd, 2), NBD_EINVAL);
	send_req(fd, 99, 0, 3, 0, 512);
	ck_assert_uint_eq(simple_reply(fd, 3), NBD_EINVAL);
	/* BLOCK_STATUS without a context; CACHE is not advertised. */
	send_req(fd, NBD_CMD_BLOCK_STATUS, 0, 4, 0, 512);
	ck_assert_uint_eq(simple_reply(fd, 4), NBD_EINVAL);
	send_req(fd, NBD_CMD_CACHE, 0, 5, 0, 512);
	ck_assert_uint_eq(simple_reply(fd, 5), NBD_EINVAL);
	/* A refused write's payload is skipped: framing survives. */
	send_req(fd, NBD_CMD_WRITE, 0, 6, DISK - 512, sizeof(big));
	xsend(fd, big, sizeof(big));
	ck_assert_uint_eq(simple_reply(fd, 6), NBD_ENOSPC);
	send_req(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_DF, 7, 0, 512);
	xsend(fd, big, 512);
	ck_assert_uint_eq(simple_reply(fd, 7), NBD_EINVAL);
	read_simple(fd, 8, 0, r, sizeof(r));
	disconnect(fd);
}
END_TEST

START_TEST(oversized_write_skipped)
{
	uint32_t n = TD_NBD_MAX_BLOCK + 4096;
	uint8_t *big = calloc(1, n);
	uint8_t r[512];
	uint16_t tf;
	int fd = go(false, &tf);

	send_req(fd, NBD_CMD_WRITE, 0, 1, 0, n);
	xsend(fd, big, n);
	ck_assert_uint_eq(simple_reply(fd, 1), NBD_EINVAL);
	read_simple(fd, 2, 0, r, sizeof(r));
	disconnect(fd);
	free(big);
}
END_TEST

START_TEST(commands_structured)
{
	static uint8_t w[64 << 10], r[64 << 10];
	uint8_t b[64];
	uint16_t tf, fl;
	uint32_t len;
	int fd = go(true, &tf);

	ck_assert(tf & NBD_FLAG_SEND_DF);
	fill(w, sizeof(w), 2);
	write_simple(fd, 1, 1 << 20, w, sizeof(w), 0);
	read_structured(fd, 2, 1 << 20, r, sizeof(r));
	ck_assert_int_eq(memcmp(r, w, sizeof(w)), 0);
	send_req(fd, NBD_CMD_READ, NBD_CMD_FLAG_DF, 3, 0, 512);
	ck_assert_uint_eq(chunk(fd, 3, &fl, &len), NBD_REPLY_TYPE_OFFSET_DATA);
	xrecv(fd, r, len);
	/* Errors come as error chunks, reads included. */
	send_req(fd, NBD_CMD_READ, 0, 4, DISK, 512);
	ck_assert_uint_eq(error_chunk(fd, 4), NBD_EINVAL);
	send_req(fd, NBD_CMD_TRIM, NBD_CMD_FLAG_REQ_ONE, 5, 0, 512);
	ck_assert_uint_eq(error_chunk(fd, 5), NBD_EINVAL);
	/* Zero-length structured read: one NONE chunk. */
	send_req(fd, NBD_CMD_READ, 0, 6, 0, 0);
	ck_assert_uint_eq(chunk(fd, 6, &fl, &len), NBD_REPLY_TYPE_NONE);
	ck_assert_uint_eq(fl, NBD_REPLY_FLAG_DONE);
	ck_assert_uint_eq(len, 0);
	/* Block status: ram has no block_status, so all data. */
	send_req(fd, NBD_CMD_BLOCK_STATUS, 0, 7, 4096, 8192);
	ck_assert_uint_eq(chunk(fd, 7, &fl, &len),
			  NBD_REPLY_TYPE_BLOCK_STATUS);
	ck_assert_uint_eq(fl, NBD_REPLY_FLAG_DONE);
	ck_assert_uint_eq(len, 12);
	xrecv(fd, b, len);
	ck_assert_uint_eq(td_nbd_get32(b), TD_NBD_META_ALLOCATION_ID);
	ck_assert_uint_eq(td_nbd_get32(b + 4), 8192);
	ck_assert_uint_eq(td_nbd_get32(b + 8), 0);
	send_req(fd, NBD_CMD_BLOCK_STATUS, 0, 8, DISK - 512, 1024);
	ck_assert_uint_eq(error_chunk(fd, 8), NBD_EINVAL);
	disconnect(fd);
}
END_TEST

START_TEST(bad_request_magic_closes)
{
	uint8_t h[NBD_REQUEST_SIZE];
	uint16_t tf;
	int fd = go(false, &tf), fd2 = go(false, &tf);
	uint8_t r[512];

	memset(h, 0x5a, sizeof(h));
	xsend(fd, h, sizeof(h));
	ck_assert(closed_by_server(fd));
	close(fd);
	/* The other client is unaffected. */
	read_simple(fd2, 1, 0, r, sizeof(r));
	disconnect(fd2);
}
END_TEST

START_TEST(read_only_export)
{
	uint8_t b[512];
	uint16_t tf;
	int fd;

	memset(b, 0x11, sizeof(b));
	close_vbd();
	open_vbd(TD_OPEN_RDONLY);
	fd = go(false, &tf);
	ck_assert(tf & NBD_FLAG_READ_ONLY);
	ck_assert(!(tf & NBD_FLAG_SEND_TRIM));
	ck_assert(!(tf & NBD_FLAG_SEND_WRITE_ZEROES));
	send_req(fd, NBD_CMD_WRITE, 0, 1, 0, 512);
	xsend(fd, b, 512);
	ck_assert_uint_eq(simple_reply(fd, 1), NBD_EPERM);
	send_req(fd, NBD_CMD_TRIM, 0, 2, 0, 512);
	ck_assert_uint_eq(simple_reply(fd, 2), NBD_EPERM);
	send_req(fd, NBD_CMD_WRITE_ZEROES, 0, 3, 0, 512);
	ck_assert_uint_eq(simple_reply(fd, 3), NBD_EPERM);
	read_simple(fd, 4, 0, b, sizeof(b));
	send_req(fd, NBD_CMD_FLUSH, 0, 5, 0, 0);
	ck_assert_uint_eq(simple_reply(fd, 5), 0);
	disconnect(fd);
}
END_TEST

/* --- flow control and lifetime ------------------------------------------ */

static void pause_vbd(void)
{
	F->w.done = waiter_done;
	ck_assert_int_eq(td_vbd_pause(F->vbd, &F->w), 0);
	wait_waiter();
	ck_assert_int_eq(F->vbd->state, TD_VBD_PAUSED);
}

static void resume_vbd(void)
{
	char err[256];

	ck_assert_int_eq(td_vbd_resume(F->vbd, NULL, err, sizeof(err)), 0);
}

START_TEST(pause_backpressure)
{
	static uint8_t w[4096];
	unsigned n = TD_NBD_SLOTS + 36, i, seen = 0;
	uint64_t done[TD_NBD_SLOTS + 36] = { 0 };
	uint16_t tf;
	int fd = go(false, &tf);

	pause_vbd();
	fill(w, sizeof(w), 9);
	for (i = 0; i < n; i++) {
		send_req(fd, NBD_CMD_WRITE, 0, 100 + i, (uint64_t)i * 4096,
			 sizeof(w));
		xsend(fd, w, sizeof(w));
	}
	expect_silence(fd);
	/* Only a pool's worth went into the VBD; the rest waits unread. */
	ck_assert_uint_eq(F->vbd->stats.queued_while_paused, TD_NBD_SLOTS);
	resume_vbd();
	for (i = 0; i < n; i++) {
		uint8_t h[16];

		xrecv(fd, h, 16);
		ck_assert_uint_eq(td_nbd_get32(h + 4), 0);
		done[td_nbd_get64(h + 8) - 100]++;
	}
	for (i = 0; i < n; i++)
		seen += done[i] == 1;
	ck_assert_uint_eq(seen, n);
	disconnect(fd);
}
END_TEST

START_TEST(block_status_waits_for_resume)
{
	uint8_t b[64];
	uint16_t tf, fl;
	uint32_t len;
	int fd = go(true, &tf);

	pause_vbd();
	send_req(fd, NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 1, 0, DISK);
	expect_silence(fd);
	resume_vbd();
	ck_assert_uint_eq(chunk(fd, 1, &fl, &len),
			  NBD_REPLY_TYPE_BLOCK_STATUS);
	ck_assert_uint_eq(len, 12);
	xrecv(fd, b, len);
	ck_assert_uint_eq(td_nbd_get32(b + 4), DISK);
	disconnect(fd);
}
END_TEST

START_TEST(client_gone_with_requests_in_flight)
{
	static uint8_t w[64 << 10];
	uint16_t tf;
	int fd = go(false, &tf), i;

	pause_vbd();
	for (i = 0; i < 8; i++) {
		send_req(fd, NBD_CMD_WRITE, 0, i, (uint64_t)i * sizeof(w),
			 sizeof(w));
		xsend(fd, w, sizeof(w));
	}
	send_req(fd, NBD_CMD_READ, 0, 99, 0, 4096);
	for (i = 0; i < 20; i++)
		run();
	close(fd);
	for (i = 0; i < 20; i++)
		run();
	/* The connection left the server but waits for its requests. */
	ck_assert_uint_eq(F->nbd->nconns, 0);
	ck_assert_uint_eq(F->vbd->stats.queued_while_paused, 9);
	resume_vbd();
	for (i = 0; i < 50; i++)
		run();
	ck_assert_uint_eq(F->vbd->inflight, 0);
	/* ASan would flag a use after free of the connection here. */
}
END_TEST

START_TEST(slow_reader_does_not_block_others)
{
	uint16_t tf;
	int slow = go(false, &tf), fast = go(false, &tf), i;
	static uint8_t r[1 << 20];
	unsigned sent = 0;

	/* Ask for far more than the socket buffers hold, read nothing. */
	for (i = 0; i < 48; i++, sent++)
		send_req(slow, NBD_CMD_READ, 0, 1000 + i, 0, 1 << 20);
	for (i = 0; i < 200; i++)
		run();
	/* Another client is served meanwhile. */
	for (i = 0; i < 16; i++)
		read_simple(fast, 1 + i, (uint64_t)i << 16, r, 1 << 16);
	disconnect(fast);
	/* The slow one gets everything, in some order, intact. */
	for (i = 0; i < (int)sent; i++) {
		uint64_t h;

		ck_assert_uint_eq(simple_reply_any(slow, &h), 0);
		ck_assert_uint_ge(h, 1000);
		xrecv(slow, r, 1 << 20);
	}
	disconnect(slow);
}
END_TEST

START_TEST(close_vbd_with_clients)
{
	uint16_t tf;
	int a = go(false, &tf), b = go(true, &tf), c = client();

	close_vbd();
	ck_assert(closed_by_server(a));
	ck_assert(closed_by_server(b));
	ck_assert(closed_by_server(c));
	close(a);
	close(b);
	close(c);
}
END_TEST

START_TEST(client_limit)
{
	int fds[TD_NBD_MAX_CONNS], sv[2], i;
	uint16_t tf;

	for (i = 0; i < (int)TD_NBD_MAX_CONNS; i++)
		fds[i] = client();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				    sv), 0);
	ck_assert_int_eq(td_nbd_server_add_client(F->nbd, sv[0]), -EMFILE);
	ck_assert(closed_by_server(sv[1]));
	close(sv[1]);
	ck_assert_uint_eq(F->nbd->refused, 1);
	/*
	 * A client hangs up and another arrives before the loop has read the
	 * EOF: the slot is free, so the newcomer is served, not refused.
	 */
	close(fds[0]);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				    sv), 0);
	ck_assert_int_eq(td_nbd_server_add_client(F->nbd, sv[0]), 0);
	ck_assert_uint_eq(F->nbd->refused, 1);
	ck_assert_uint_eq(F->nbd->nconns, TD_NBD_MAX_CONNS);
	fds[0] = sv[1];
	for (i = 0; i < (int)TD_NBD_MAX_CONNS; i++)
		close(fds[i]);
	for (i = 0; i < 20; i++)
		run();
	ck_assert_uint_eq(F->nbd->nconns, 0);
	i = go(false, &tf);
	disconnect(i);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nbd-conn");
	TCase *t = tcase_create("conn");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, handshake_options);
	tcase_add_test(t, handshake_export_name);
	tcase_add_test(t, handshake_protocol_errors);
	tcase_add_test(t, handshake_oversized_option);
	tcase_add_test(t, byte_at_a_time);
	tcase_add_test(t, commands_simple);
	tcase_add_test(t, commands_errors_simple);
	tcase_add_test(t, oversized_write_skipped);
	tcase_add_test(t, commands_structured);
	tcase_add_test(t, bad_request_magic_closes);
	tcase_add_test(t, read_only_export);
	tcase_add_test(t, pause_backpressure);
	tcase_add_test(t, block_status_waits_for_resume);
	tcase_add_test(t, client_gone_with_requests_in_flight);
	tcase_add_test(t, slow_reader_does_not_block_others);
	tcase_add_test(t, close_vbd_with_clients);
	tcase_add_test(t, client_limit);
	suite_add_tcase(s, t);
	return td_check_run(s);
}
