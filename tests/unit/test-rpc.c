/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control-socket server: framing, hostile bytes on real unix sockets
 * (in-process, pumping its loop), the peer credential check, connection
 * limits, backpressure, async replies to clients that hung up, socket
 * replacement. libtdctl's side is in test-tdctl.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <jansson.h>

#include "td-log.h"
#include "td-rpc.h"
#include "fake-io.h"
#include "rpc.h"
#include "server.h"
#include "vbd.h"
#include "td-check.h"

#define PUMP_ROUNDS 300 /* x 10 ms */

struct fix {
	struct td_server srv;
	char dir[64];
	char img[128];
	char *buf;
	struct iovec iov;
	struct td_req req;
	int req_done, req_err;
};

static struct fix *F;

static void quiet_log(void)
{
	struct td_log_config cfg = { .level = TD_LOG_ERR, .fd = 2,
				     .ident = "test-rpc" };

	td_log_configure(&cfg);
}

static void make_file(const char *path, size_t size)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* A server with a real socket and the fake I/O backend, built by hand. */
static void setup(void)
{
	quiet_log();
	F = calloc(1, sizeof(*F));
	snprintf(F->dir, sizeof(F->dir), "/tmp/test-rpc.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(F->dir));
	snprintf(F->img, sizeof(F->img), "%s/a.img", F->dir);
	make_file(F->img, 1 << 20);
	td_list_init(&F->srv.vbds);
	td_list_init(&F->srv.images);
	F->srv.sigfd = -1;
	F->srv.pid = getpid();
	F->srv.io_ops = &td_fake_io_ops;
	snprintf(F->srv.run_dir, sizeof(F->srv.run_dir), "%s", F->dir);
	snprintf(F->srv.sock_path, sizeof(F->srv.sock_path), TD_RPC_SOCK_FMT,
		 F->dir, (int)F->srv.pid);
	ck_assert_int_eq(td_loop_init(&F->srv.loop, NULL, NULL), 0);
	ck_assert_int_eq(td_fake_io_create(&F->srv.loop, &F->srv.io), 0);
	ck_assert_int_eq(td_rpc_server_create(&F->srv, F->srv.sock_path,
					      &F->srv.rpc), 0);
	ck_assert_int_eq(posix_memalign((void **)&F->buf, 4096, 4096), 0);
}

static void teardown(void)
{
	char cmd[128];

	td_rpc_server_destroy(F->srv.rpc);
	td_io_destroy(F->srv.io);
	td_loop_fini(&F->srv.loop);
	free(F->buf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", F->dir);
	ck_assert_int_eq(system(cmd), 0);
	free(F);
}

static void set_path(struct sockaddr_un *sa, const char *path)
{
	ck_assert_uint_lt(strlen(path), sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	set_path(&sa, F->srv.sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_raw(int fd, const void *p, size_t len)
{
	ck_assert_int_eq(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_frame(int fd, const char *body)
{
	unsigned char hdr[4];

	td_rpc_put_len(hdr, (uint32_t)strlen(body));
	send_raw(fd, hdr, 4);
	send_raw(fd, body, strlen(body));
}

/* Runs the server until @fd is readable (data or EOF). */
static bool pump(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int i;

	for (i = 0; i < PUMP_ROUNDS; i++) {
		if (poll(&p, 1, 0) > 0)
			return true;
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	}
	return false;
}

static void read_full(int fd, void *buf, size_t len)
{
	size_t have = 0;
	ssize_t n;

	while (have < len) {
		ck_assert_msg(pump(fd), "no data from the server");
		n = recv(fd, (char *)buf + have, len - have, MSG_DONTWAIT);
		ck_assert_int_gt(n, 0);
		have += (size_t)n;
	}
}

/* Reads one reply; NULL means the server closed the connection. */
static json_t *reply(int fd)
{
	unsigned char hdr[4];
	json_error_t jerr;
	char body[TD_RPC_MAX_MSG];
	ssize_t n;
	uint32_t len;
	json_t *j;

	ck_assert_msg(pump(fd), "no reply from the server");
	n = recv(fd, hdr, 1, MSG_DONTWAIT);
	if (n == 0)
		return NULL;
	ck_assert_int_eq(n, 1);
	read_full(fd, hdr + 1, 3);
	len = td_rpc_get_len(hdr);
	ck_assert_uint_le(len, TD_RPC_MAX_MSG);
	read_full(fd, body, len);
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(j != NULL, "reply is not JSON: %s", jerr.text);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "version")),
			 TD_RPC_VERSION);
	return j;
}

static bool closed_by_server(int fd)
{
	char c;

	return pump(fd) && recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/* Asserts @j is an error reply with @code and id @id (-1: null). */
static void check_error(json_t *j, int code, long id)
{
	json_t *err;

	ck_assert_ptr_nonnull(j);
	err = json_object_get(j, "error");
	ck_assert_msg(err != NULL, "expected an error reply");
	ck_assert_int_eq(json_integer_value(json_object_get(err, "code")),
			 code);
	ck_assert_str_eq(json_string_value(json_object_get(err, "name")),
			 td_errno_name(code));
	ck_assert_uint_gt(strlen(json_string_value(
				  json_object_get(err, "message"))), 5);
	if (id < 0)
		ck_assert(json_is_null(json_object_get(j, "id")));
	else
		ck_assert_int_eq(json_integer_value(json_object_get(j, "id")),
				 id);
	json_decref(j);
}

static json_t *result_of(json_t *j, long id)
{
	json_t *r;

	ck_assert_ptr_nonnull(j);
	ck_assert_msg(!json_object_get(j, "error"), "unexpected error: %s",
		      json_string_value(json_object_get(
			      json_object_get(j, "error"), "message")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), id);
	r = json_incref(json_object_get(j, "result"));
	ck_assert(json_is_object(r));
	json_decref(j);
	return r;
}

/* Sends a well-formed request and returns its result (asserting success). */
static json_t *rpc_ok(int fd, long id, const char *type, const char *args)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"version\":1,\"id\":%ld,\"type\":\"%s\",\"args\":%s}", id,
		 type, args);
	send_frame(fd, body);
	return result_of(reply(fd), id);
}

static void rpc_err(int fd, long id, const char *type, const char *args,
		    int code)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"version\":1,\"id\":%ld,\"type\":\"%s\",\"args\":%s}", id,
		 type, args);
	send_frame(fd, body);
	check_error(reply(fd), code, id);
}

/* The server still answers a new client. */
static void still_serving(void)
{
	int fd = client();
	json_t *r = rpc_ok(fd, 99, "hello", "{}");

	ck_assert_int_eq(json_integer_value(json_object_get(r, "pid")),
			 getpid());
	json_decref(r);
	close(fd);
}

START_TEST(test_codec)
{
	static const uint32_t v[] = { 0, 1, 255, 256, 0x01020304u,
				      TD_RPC_MAX_MSG, 0xffffffffu };
	unsigned char h[4];
	size_t i;

	td_rpc_put_len(h, 0x01020304u);
	ck_assert(h[0] == 1 && h[1] == 2 && h[2] == 3 && h[3] == 4);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		td_rpc_put_len(h, v[i]);
		ck_assert_uint_eq(td_rpc_get_len(h), v[i]);
	}
}
END_TEST

START_TEST(test_hello)
{
	int fd = client();
	json_t *r = rpc_ok(fd, 1, "hello", "{}"), *a, *x;
	bool has_aio = false;
	size_t i;

	ck_assert_int_eq(json_integer_value(json_object_get(r, "version")),
			 TD_RPC_VERSION);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "pid")),
			 getpid());
	ck_assert_str_eq(json_string_value(json_object_get(r, "io_engine")),
			 "fake");
	a = json_object_get(r, "drivers");
	json_array_foreach(a, i, x)
		has_aio |= !strcmp(json_string_value(x), "aio");
	ck_assert(has_aio);
	ck_assert(json_is_array(json_object_get(r, "exports")));
	ck_assert_uint_ge(json_array_size(json_object_get(r, "messages")), 9);
	json_decref(r);
	/* No args member at all is an empty args object. */
	send_frame(fd, "{\"version\":1,\"id\":2,\"type\":\"hello\"}");
	json_decref(result_of(reply(fd), 2));
	/* String ids are echoed too. */
	send_frame(fd, "{\"version\":1,\"id\":\"x\",\"type\":\"list\"}");
	r = reply(fd);
	ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "x");
	json_decref(r);
	close(fd);
}
END_TEST

START_TEST(test_envelope_errors_keep_connection)
{
	int fd = client();
	unsigned char zero[4] = { 0, 0, 0, 0 };

	/* Wrong version: answered with the id, connection kept. */
	send_frame(fd,
		   "{\"version\":2,\"id\":7,\"type\":\"hello\",\"args\":{}}");
	check_error(reply(fd), -EPROTONOSUPPORT, 7);
	rpc_err(fd, 8, "frobnicate", "{}", -EOPNOTSUPP);
	send_frame(fd, "[1,2,3]");
	check_error(reply(fd), -EBADMSG, -1);
	send_frame(fd, "\"just a string\"");
	check_error(reply(fd), -EBADMSG, -1);
	send_frame(fd, "{\"version\":1,\"id\":9,\"id\":10,\"type\":\"hello\"}");
	check_error(reply(fd), -EBADMSG, -1);
	send_frame(fd, "{\"version\":1,\"type\":\"hello\",\"args\":{}}");
	check_error(reply(fd), -EBADMSG, -1);
	send_frame(fd, "{\"version\":1,\"id\":[1],\"type\":\"hello\"}");
	check_error(reply(fd), -EBADMSG, -1);
	send_frame(fd, "{\"version\":\"1\",\"id\":11,\"type\":\"hello\"}");
	check_error(reply(fd), -EBADMSG, 11);
	send_frame(fd, "{\"version\":1,\"id\":12,\"type\":5}");
	check_error(reply(fd), -EBADMSG, 12);
	send_frame(fd,
		   "{\"version\":1,\"id\":13,\"type\":\"hello\",\"args\":3}");
	check_error(reply(fd), -EBADMSG, 13);
	send_frame(fd, "{\"version\":1,\"id\":14,\"type\":\"hello\"} trailing");
	check_error(reply(fd), -EBADMSG, -1);
	send_frame(fd, "\x01\xff\xfe garbage {{{");
	check_error(reply(fd), -EBADMSG, -1);
	send_raw(fd, zero, 4);
	check_error(reply(fd), -EBADMSG, -1);
	/* Unknown, mistyped or missing arguments. */
	rpc_err(fd, 15, "hello", "{\"bogus\":1}", -EINVAL);
	rpc_err(fd, 16, "attach", "{}", -EINVAL);
	rpc_err(fd, 17, "attach", "{\"minor\":\"3\"}", -EINVAL);
	rpc_err(fd, 18, "attach", "{\"minor\":-1}", -EINVAL);
	rpc_err(fd, 19, "detach", "{\"minor\":4}", -ENOENT);
	/* After all that, the same connection still works. */
	json_decref(rpc_ok(fd, 20, "hello", "{}"));
	close(fd);
	still_serving();
}
END_TEST

START_TEST(test_oversized_closes)
{
	int fd = client();
	unsigned char hdr[4];

	td_rpc_put_len(hdr, TD_RPC_MAX_MSG + 1);
	send_raw(fd, hdr, 4);
	check_error(reply(fd), -EMSGSIZE, -1);
	ck_assert(closed_by_server(fd));
	close(fd);

	/* An HTTP request reads as a huge length: same fate. */
	fd = client();
	send_raw(fd, "GET / HTTP/1.0\r\n\r\n", 18);
	check_error(reply(fd), -EMSGSIZE, -1);
	ck_assert(closed_by_server(fd));
	close(fd);
	still_serving();
}
END_TEST

START_TEST(test_truncated_and_split)
{
	unsigned char hdr[4];
	const char *body = "{\"version\":1,\"id\":3,\"type\":\"hello\"}";
	size_t i, len = strlen(body);
	int fd = client();

	/* Header says 100 bytes, 10 arrive, then the client goes away. */
	td_rpc_put_len(hdr, 100);
	send_raw(fd, hdr, 4);
	send_raw(fd, "{\"version\"", 10);
	td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	close(fd);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	still_serving();

	/* A message dribbled one byte at a time is reassembled. */
	fd = client();
	td_rpc_put_len(hdr, (uint32_t)len);
	for (i = 0; i < 4; i++) {
		send_raw(fd, hdr + i, 1);
		td_loop_run_once(&F->srv.loop, 0);
	}
	for (i = 0; i < len; i++) {
		send_raw(fd, body + i, 1);
		td_loop_run_once(&F->srv.loop, 0);
	}
	json_decref(result_of(reply(fd), 3));
	close(fd);
}
END_TEST

START_TEST(test_pipelined)
{
	char buf[4096];
	const char *a = "{\"version\":1,\"id\":1,\"type\":\"hello\"}";
	const char *b = "{\"version\":1,\"id\":2,\"type\":\"list\"}";
	size_t la = strlen(a), lb = strlen(b), n = 0;
	int fd = client();
	json_t *r;

	/* Two frames in one write: two replies, in order here. */
	td_rpc_put_len((unsigned char *)buf, (uint32_t)la);
	memcpy(buf + 4, a, la);
	n = 4 + la;
	td_rpc_put_len((unsigned char *)buf + n, (uint32_t)lb);
	memcpy(buf + n + 4, b, lb);
	n += 4 + lb;
	send_raw(fd, buf, n);
	json_decref(result_of(reply(fd), 1));
	r = result_of(reply(fd), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "vbds")), 0);
	json_decref(r);
	close(fd);
}
END_TEST

START_TEST(test_many_bad_clients)
{
	int i, fd;

	/* Many clients sending junk one after the other. */
	for (i = 0; i < 50; i++) {
		fd = client();
		if (i % 2)
			send_raw(fd, "\xff\xff\xff\xff", 4);
		else
			send_frame(fd, "{");
		check_error(reply(fd), i % 2 ? -EMSGSIZE : -EBADMSG, -1);
		close(fd);
	}
	still_serving();
}
END_TEST

START_TEST(test_connection_limit)
{
	int fds[64], i, fd;
	json_t *r;

	for (i = 0; i < 64; i++) {
		fds[i] = client();
		json_decref(rpc_ok(fds[i], i, "hello", "{}"));
	}
	fd = client();
	r = reply(fd);
	check_error(r, -EBUSY, -1);
	ck_assert(closed_by_server(fd));
	close(fd);
	close(fds[0]);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	still_serving();
	for (i = 1; i < 64; i++)
		close(fds[i]);
}
END_TEST

static void req_done(struct td_req *req, int err)
{
	F->req_done++;
	F->req_err = err;
}

/* Submits one 4 KiB read that the fake backend holds. */
static void hold_read(int minor)
{
	struct td_vbd *vbd = td_vbd_find(&F->srv, minor);

	ck_assert_ptr_nonnull(vbd);
	memset(&F->req, 0, sizeof(F->req));
	F->iov.iov_base = F->buf;
	F->iov.iov_len = 4096;
	F->req.op = TD_OP_READ;
	F->req.nr_sectors = 8;
	F->req.iov = &F->iov;
	F->req.iovcnt = 1;
	F->req.done = req_done;
	td_vbd_submit(vbd, &F->req);
	ck_assert_uint_eq(td_fake_io_pending(F->srv.io), 1);
}

static const char *vbd_state(int fd, long id)
{
	static char state[32];
	json_t *r = rpc_ok(fd, id, "list", "{}");
	json_t *v = json_array_get(json_object_get(r, "vbds"), 0);

	snprintf(state, sizeof(state), "%s",
		 json_string_value(json_object_get(v, "state")));
	json_decref(r);
	return state;
}

START_TEST(test_pause_timeout)
{
	char args[256];
	int fd = client(), i;
	json_t *r;

	json_decref(rpc_ok(fd, 1, "attach", "{\"minor\":3}"));
	snprintf(args, sizeof(args), "{\"minor\":3,\"spec\":\"aio:%s\"}",
		 F->img);
	r = rpc_ok(fd, 2, "open", args);
	ck_assert_int_eq(json_integer_value(json_object_get(r,
							    "size_sectors")),
			 2048);
	json_decref(r);
	hold_read(3);

	/* In-flight I/O never completes: the pause times out... */
	rpc_err(fd, 3, "pause", "{\"minor\":3,\"timeout_ms\":50}", -ETIMEDOUT);
	/* ...the VBD keeps pausing and the server keeps answering. */
	ck_assert_str_eq(vbd_state(fd, 4), "pausing");
	r = rpc_ok(fd, 5, "list", "{}");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(json_object_get(r, "vbds"), 0),
				 "flags")), 0x10);
	json_decref(r);

	/* The I/O finishes: the VBD pauses, with no second reply. */
	td_fake_io_complete_all(F->srv.io);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	ck_assert_int_eq(F->req_done, 1);
	ck_assert_str_eq(vbd_state(fd, 6), "paused");

	/* A different-size leaf is refused and the VBD stays paused. */
	snprintf(args, sizeof(args), "%s/small.img", F->dir);
	make_file(args, 1 << 19);
	snprintf(args, sizeof(args),
		 "{\"minor\":3,\"spec\":\"aio:%s/small.img\"}", F->dir);
	rpc_err(fd, 7, "unpause", args, -EINVAL);
	ck_assert_str_eq(vbd_state(fd, 8), "paused");
	json_decref(rpc_ok(fd, 9, "unpause", "{\"minor\":3}"));
	ck_assert_str_eq(vbd_state(fd, 10), "open");
	json_decref(rpc_ok(fd, 11, "close", "{\"minor\":3}"));
	json_decref(rpc_ok(fd, 12, "detach", "{\"minor\":3}"));
	close(fd);
}
END_TEST

START_TEST(test_async_reply_after_hangup)
{
	char args[256];
	int fd = client(), i;

	json_decref(rpc_ok(fd, 1, "attach", "{\"minor\":1}"));
	snprintf(args, sizeof(args), "{\"minor\":1,\"spec\":\"aio:%s\"}",
		 F->img);
	json_decref(rpc_ok(fd, 2, "open", args));
	hold_read(1);
	send_frame(fd, "{\"version\":1,\"id\":3,\"type\":\"pause\","
		       "\"args\":{\"minor\":1}}");
	for (i = 0; i < 3; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	/* The client leaves while its pause waits for the I/O. */
	close(fd);
	for (i = 0; i < 3; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	td_fake_io_complete_all(F->srv.io);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	ck_assert_int_eq(F->req_done, 1);
	ck_assert_int_eq(td_vbd_find(&F->srv, 1)->state, TD_VBD_PAUSED);
	fd = client();
	json_decref(rpc_ok(fd, 4, "close", "{\"minor\":1}"));
	json_decref(rpc_ok(fd, 5, "detach", "{\"minor\":1}"));
	close(fd);
}
END_TEST

/* Sends @n pause requests for @minor in one write, ids from @id0. */
static void send_pauses(int fd, int minor, int id0, int n)
{
	char buf[8192], body[128];
	size_t len = 0, l;
	int i;

	for (i = 0; i < n; i++) {
		l = (size_t)snprintf(body, sizeof(body),
				     "{\"version\":1,\"id\":%d,\"type\":"
				     "\"pause\",\"args\":{\"minor\":%d}}",
				     id0 + i, minor);
		td_rpc_put_len((unsigned char *)buf + len, (uint32_t)l);
		memcpy(buf + len + 4, body, l);
		len += 4 + l;
	}
	send_raw(fd, buf, len);
}

START_TEST(test_backpressure)
{
	bool seen[20] = { false };
	char args[256];
	int fd = client(), i, id;
	json_t *r;

	json_decref(rpc_ok(fd, 1, "attach", "{\"minor\":2}"));
	snprintf(args, sizeof(args), "{\"minor\":2,\"spec\":\"aio:%s\"}",
		 F->img);
	json_decref(rpc_ok(fd, 2, "open", args));
	hold_read(2);
	/* More waiting calls than a connection may have: none is lost. */
	send_pauses(fd, 2, 100, 20);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	td_fake_io_complete_all(F->srv.io);
	for (i = 0; i < 20; i++) {
		r = reply(fd);
		ck_assert_ptr_nonnull(r);
		id = (int)json_integer_value(json_object_get(r, "id"));
		ck_assert_int_ge(id, 100);
		ck_assert_int_lt(id, 120);
		ck_assert(!seen[id - 100]);
		seen[id - 100] = true;
		json_decref(result_of(r, id));
	}
	json_decref(rpc_ok(fd, 3, "unpause", "{\"minor\":2}"));

	/* Same, but the client hangs up while its calls wait. */
	hold_read(2);
	send_pauses(fd, 2, 200, 20);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	close(fd);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	/* Nothing left to do: no busy loop on the dead connection. */
	ck_assert_int_eq(td_loop_run_once(&F->srv.loop, 0), 0);
	td_fake_io_complete_all(F->srv.io);
	for (i = 0; i < 5; i++)
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	ck_assert_int_eq(td_vbd_find(&F->srv, 2)->state, TD_VBD_PAUSED);
	still_serving();
	fd = client();
	json_decref(rpc_ok(fd, 4, "close", "{\"minor\":2}"));
	json_decref(rpc_ok(fd, 5, "detach", "{\"minor\":2}"));
	close(fd);
}
END_TEST

START_TEST(test_socket_replacement)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct td_rpc_server *rs;
	char path[128];
	struct stat st;
	int fd;

	/* A live server's name is not taken over. */
	ck_assert_int_eq(td_rpc_server_create(&F->srv, F->srv.sock_path, &rs),
			 -EADDRINUSE);
	/* A socket nobody listens on (a SIGKILLed tapdisk's) is. */
	snprintf(path, sizeof(path), "%s/stale.sock", F->dir);
	set_path(&sa, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert_int_eq(td_rpc_server_create(&F->srv, path, &rs), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	td_rpc_server_destroy(rs);
	ck_assert_int_eq(stat(path, &st), -1);
	/* A regular file is not ours to remove. */
	make_file(path, 0);
	ck_assert_int_eq(td_rpc_server_create(&F->srv, path, &rs), -EEXIST);
	ck_assert_int_eq(stat(path, &st), 0);
}
END_TEST

/* In a child: connects as uid 65534 and expects EACCES then EOF. */
static int unprivileged_client(const char *path)
{
	static const char hello[] =
		"{\"version\":1,\"id\":1,\"type\":\"hello\"}";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t n, have = 0;
	json_int_t code;
	json_t *j;
	int fd;

	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		return 10;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (strlen(path) >= sizeof(sa.sun_path))
		return 9;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 11;
	/* The server may already have refused us: the send may fail. */
	td_rpc_put_len((unsigned char *)buf, (uint32_t)strlen(hello));
	memcpy(buf + 4, hello, strlen(hello));
	if (send(fd, buf, 4 + strlen(hello), MSG_NOSIGNAL) < 0 &&
	    errno != EPIPE && errno != ECONNRESET)
		return 14;
	alarm(5);
	while ((n = read(fd, buf + have, sizeof(buf) - (size_t)have)) > 0)
		have += n;
	if (have < 4 || td_rpc_get_len((unsigned char *)buf) != have - 4)
		return 12;
	j = json_loadb(buf + 4, (size_t)have - 4, 0, NULL);
	code = json_integer_value(json_object_get(json_object_get(j, "error"),
						  "code"));
	json_decref(j);
	close(fd);
	return code == -EACCES ? 0 : 13;
}

START_TEST(test_peer_credentials)
{
	int status, i;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_peer_credentials needs root\n");
		return;
	}
	/* Open the file modes so only the SO_PEERCRED check stands. */
	ck_assert_int_eq(chmod(F->dir, 0755), 0);
	ck_assert_int_eq(chmod(F->srv.sock_path, 0666), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(unprivileged_client(F->srv.sock_path));
	for (i = 0; i < PUMP_ROUNDS; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		td_loop_run_once(&F->srv.loop, 10 * TD_NS_PER_MS);
	}
	ck_assert_int_lt(i, PUMP_ROUNDS);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	still_serving();
}
END_TEST

static Suite *rpc_suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *t = tcase_create("server");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_codec);
	tcase_add_test(t, test_hello);
	tcase_add_test(t, test_envelope_errors_keep_connection);
	tcase_add_test(t, test_oversized_closes);
	tcase_add_test(t, test_truncated_and_split);
	tcase_add_test(t, test_pipelined);
	tcase_add_test(t, test_many_bad_clients);
	tcase_add_test(t, test_connection_limit);
	tcase_add_test(t, test_pause_timeout);
	tcase_add_test(t, test_async_reply_after_hangup);
	tcase_add_test(t, test_backpressure);
	tcase_add_test(t, test_socket_replacement);
	tcase_add_test(t, test_peer_credentials);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return td_check_run(rpc_suite());
}
