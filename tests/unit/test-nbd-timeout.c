/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NBD handshake deadline, in process on a fake clock: a client that
 * connects and stalls, or dribbles bytes, is closed when the deadline
 * passes and its slot is free again; a client that reached transmission
 * keeps its connection however long it stays; the timeouts are counted
 * and their warnings rate limited. Real loop, VBD on the ram driver, the
 * test as the client on a socketpair.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include "fake-io.h"
#include "nbd-proto.h"
#include "nbd.h"
#include "server.h"
#include "td-log.h"
#include "vbd.h"
#include "td-check.h"

#define TIMEOUT_MS 1000u
#define ITER_MAX 100000

struct fix {
	struct td_server srv;
	uint64_t now;
	struct td_vbd *vbd;
	struct td_nbd_server *nbd;
	struct td_vbd_waiter w;
	int closed;
};

static struct fix *F;

static uint64_t fake_now(void *ctx)
{
	return *(uint64_t *)ctx;
}

static const struct td_clock_ops fake_clock = { .now_ns = fake_now };

static void run(void)
{
	td_loop_run_once(&F->srv.loop, 0);
}

static void run_some(void)
{
	int i;

	for (i = 0; i < 20; i++)
		run();
}

/* Moves the fake clock on and lets the loop see it. */
static void advance_ms(uint64_t ms)
{
	F->now += ms * TD_NS_PER_MS;
	run_some();
}

static void setup(void)
{
	struct td_vbd_export_opts eo;
	struct td_nbd_server_opts so = { NULL, NULL, TIMEOUT_MS };
	char err[256];

	F = calloc(1, sizeof(*F));
	ck_assert_ptr_nonnull(F);
	F->now = 1000 * TD_NS_PER_S;
	td_list_init(&F->srv.vbds);
	td_list_init(&F->srv.images);
	F->srv.sigfd = -1;
	ck_assert_int_eq(td_loop_init(&F->srv.loop, &fake_clock, &F->now), 0);
	ck_assert_int_eq(td_fake_io_create(&F->srv.loop, &F->srv.io), 0);
	memset(&eo, 0, sizeof(eo));
	eo.no_nbd = true;
	eo.no_shm = true;
	ck_assert_int_eq(td_vbd_create(&F->srv, 1, &F->vbd), 0);
	ck_assert_int_eq(td_vbd_open(F->vbd, "ram:1M", 0, &eo, err,
				     sizeof(err)), 0);
	ck_assert_int_eq(td_nbd_server_create(F->vbd, &so, &F->nbd, err,
					      sizeof(err)), 0);
}

static void closed_cb(struct td_vbd_waiter *w, int err)
{
	ck_assert_int_eq(err, 0);
	F->closed++;
}

static void teardown(void)
{
	int i;

	td_nbd_server_destroy(F->nbd);
	F->w.done = closed_cb;
	ck_assert_int_eq(td_vbd_close(F->vbd, false, &F->w), 0);
	for (i = 0; i < ITER_MAX && !F->closed; i++)
		run();
	ck_assert_int_eq(F->closed, 1);
	ck_assert_int_eq(td_vbd_destroy(F->vbd), 0);
	run_some();
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
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
	run_some();
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

/* The server's end is still open: nothing to read, no end of file. */
static bool still_open(int fd)
{
	uint8_t b;

	run_some();
	return recv(fd, &b, 1, 0) < 0 && errno == EAGAIN;
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

static void greeting(int fd)
{
	uint8_t g[18];

	xrecv(fd, g, sizeof(g));
	ck_assert_uint_eq(td_nbd_get64(g), NBD_MAGIC_INIT);
}

static void send_opt_hdr(int fd, uint32_t opt, uint32_t len)
{
	uint8_t h[16];

	td_nbd_put64(h, NBD_MAGIC_OPT);
	td_nbd_put32(h + 8, opt);
	td_nbd_put32(h + 12, len);
	xsend(fd, h, sizeof(h));
}

/* Negotiates with NBD_OPT_EXPORT_NAME "" and the no-zeroes flag. */
static int connected_client(void)
{
	int fd = client();
	uint8_t f[4], x[10];

	greeting(fd);
	td_nbd_put32(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	xsend(fd, f, 4);
	send_opt_hdr(fd, NBD_OPT_EXPORT_NAME, 0);
	xrecv(fd, x, sizeof(x));
	ck_assert_uint_eq(td_nbd_get64(x), 1u << 20);
	return fd;
}

/* A read of 4 KiB at 0 answered with success and the data. */
static void read_works(int fd, uint64_t handle)
{
	uint8_t h[NBD_REQUEST_SIZE], r[16], data[4096];

	td_nbd_put32(h, NBD_REQUEST_MAGIC);
	td_nbd_put16(h + 4, 0);
	td_nbd_put16(h + 6, NBD_CMD_READ);
	td_nbd_put64(h + 8, handle);
	td_nbd_put64(h + 16, 0);
	td_nbd_put32(h + 24, sizeof(data));
	xsend(fd, h, sizeof(h));
	xrecv(fd, r, sizeof(r));
	ck_assert_uint_eq(td_nbd_get32(r), NBD_SIMPLE_REPLY_MAGIC);
	ck_assert_uint_eq(td_nbd_get32(r + 4), 0);
	ck_assert_uint_eq(td_nbd_get64(r + 8), handle);
	xrecv(fd, data, sizeof(data));
}

/* --- tests -------------------------------------------------------------- */

START_TEST(stalled_client_closed)
{
	int fd = client();

	greeting(fd);
	ck_assert_uint_eq(F->nbd->nconns, 1);
	advance_ms(TIMEOUT_MS - 1);
	ck_assert(still_open(fd));
	advance_ms(1);
	ck_assert(closed_by_server(fd));
	ck_assert_uint_eq(F->nbd->nconns, 0);
	ck_assert_uint_eq(F->nbd->handshake_timeouts, 1);
	close(fd);
}
END_TEST

/* Activity does not extend the deadline: it counts from accept. */
START_TEST(dribbling_client_closed)
{
	uint8_t f[4], h[16] = { 0 };
	int fd = client(), i;

	greeting(fd);
	td_nbd_put32(f, NBD_FLAG_C_FIXED_NEWSTYLE);
	xsend(fd, f, 4);
	td_nbd_put64(h, NBD_MAGIC_OPT);
	for (i = 0; i < 9; i++) {
		advance_ms(100);
		xsend(fd, &h[i], 1);
		ck_assert(still_open(fd));
	}
	advance_ms(TIMEOUT_MS - 900);
	ck_assert(closed_by_server(fd));
	ck_assert_uint_eq(F->nbd->handshake_timeouts, 1);
	close(fd);
}
END_TEST

/* A client that never reads the replies to its options goes as well. */
START_TEST(unread_option_replies_closed)
{
	uint8_t f[4];
	int fd = client(), i;

	td_nbd_put32(f, NBD_FLAG_C_FIXED_NEWSTYLE);
	xsend(fd, f, 4);
	for (i = 0; i < 64; i++)
		send_opt_hdr(fd, NBD_OPT_LIST, 0);
	advance_ms(TIMEOUT_MS);
	ck_assert(closed_by_server(fd));
	ck_assert_uint_eq(F->nbd->nconns, 0);
	close(fd);
}
END_TEST

START_TEST(transmission_not_closed)
{
	int fd = connected_client();

	advance_ms(5 * TIMEOUT_MS);
	ck_assert(still_open(fd));
	read_works(fd, 7);
	ck_assert_uint_eq(F->nbd->handshake_timeouts, 0);
	ck_assert_uint_eq(F->nbd->nconns, 1);
	close(fd);
	run_some();
	ck_assert_uint_eq(F->nbd->nconns, 0);
}
END_TEST

/* Connections that end before the deadline leave no timer behind. */
START_TEST(early_close_no_timeout)
{
	uint8_t f[4];
	int a = client(), b = client();

	greeting(a);
	close(a);
	td_nbd_put32(f, NBD_FLAG_C_FIXED_NEWSTYLE);
	xsend(b, f, 4);
	send_opt_hdr(b, NBD_OPT_ABORT, 0);
	ck_assert(closed_by_server(b));
	close(b);
	ck_assert_uint_eq(F->nbd->nconns, 0);
	advance_ms(2 * TIMEOUT_MS);
	ck_assert_uint_eq(F->nbd->handshake_timeouts, 0);
}
END_TEST

/* Idle clients filling every slot are dropped; then others get in. */
START_TEST(slots_freed_and_log_limited)
{
	struct td_log_config lc = { TD_LOG_WARN, 0, -1, "test" };
	int fds[TD_NBD_MAX_CONNS], sv[2], fd, logfd, lines = 0, supp = 0;
	unsigned i;
	char buf[16384], *p;
	ssize_t n;

	logfd = memfd_create("log", MFD_CLOEXEC);
	ck_assert_int_ge(logfd, 0);
	lc.fd = logfd;
	td_log_configure(&lc);
	for (i = 0; i < TD_NBD_MAX_CONNS; i++)
		fds[i] = client();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				    sv), 0);
	ck_assert_int_eq(td_nbd_server_add_client(F->nbd, sv[0]), -EMFILE);
	close(sv[1]);
	advance_ms(TIMEOUT_MS);
	for (i = 0; i < TD_NBD_MAX_CONNS; i++) {
		ck_assert(closed_by_server(fds[i]));
		close(fds[i]);
	}
	ck_assert_uint_eq(F->nbd->nconns, 0);
	ck_assert_uint_eq(F->nbd->handshake_timeouts, TD_NBD_MAX_CONNS);
	fd = connected_client();
	read_works(fd, 1);
	close(fd);

	/* One warning per connection, capped by the export's limiter. */
	lc.fd = 2;
	td_log_configure(&lc);
	n = pread(logfd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, "no handshake after 1000 ms")); p++)
		lines++;
	for (p = buf; (p = strstr(p, "suppressed")); p++)
		supp++;
	ck_assert_int_ge(lines, 1);
	ck_assert_int_lt(lines, (int)TD_NBD_MAX_CONNS);
	ck_assert_int_le(supp, 1);
	close(logfd);
}
END_TEST

START_TEST(timeout_option_checked)
{
	struct td_nbd_server_opts so = { NULL, NULL, 0 };
	struct td_nbd_server *s;
	char err[256];

	ck_assert_uint_eq(F->nbd->handshake_ns, TIMEOUT_MS * TD_NS_PER_MS);
	ck_assert_int_eq(td_nbd_server_create(F->vbd, &so, &s, err,
					      sizeof(err)), 0);
	ck_assert_uint_eq(s->handshake_ns,
			  (uint64_t)TD_NBD_HANDSHAKE_MS * TD_NS_PER_MS);
	td_nbd_server_destroy(s);
	so.handshake_timeout_ms = TD_NBD_HANDSHAKE_MAX_MS + 1;
	ck_assert_int_eq(td_nbd_server_create(F->vbd, &so, &s, err,
					      sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "timeout"));
}
END_TEST

static Suite *timeout_suite(void)
{
	Suite *s = suite_create("nbd-timeout");
	TCase *t = tcase_create("handshake");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, stalled_client_closed);
	tcase_add_test(t, dribbling_client_closed);
	tcase_add_test(t, unread_option_replies_closed);
	tcase_add_test(t, transmission_not_closed);
	tcase_add_test(t, early_close_no_timeout);
	tcase_add_test(t, slots_freed_and_log_limited);
	tcase_add_test(t, timeout_option_checked);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return td_check_run(timeout_suite());
}
