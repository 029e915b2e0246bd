/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libtdctl: every typed call against a real server (td_server_init in a
 * child process) including its error replies and SIGTERM shutdown; call
 * timeouts; process discovery with stale sockets; minor allocation and
 * reclaim.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <jansson.h>

#include "td-log.h"
#include "td-rpc.h"
#include "server.h"
#include "tdctl.h"
#include "td-check.h"

static char tmp_dir[64];

static void quiet_log(void)
{
	struct td_log_config cfg = { .level = TD_LOG_ERR, .fd = 2,
				     .ident = "test-tdctl" };

	td_log_configure(&cfg);
}

static void set_path(struct sockaddr_un *sa, const char *path)
{
	ck_assert_uint_lt(strlen(path), sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

/* A listening socket at @path; returns its fd. */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	set_path(&sa, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

static void setup_dir(void)
{
	quiet_log();
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test-tdctl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void teardown_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* --- the handlers through libtdctl, server in a child process --- */

static char run_dir[64];
static pid_t server_pid;

static void server_child(int ready)
{
	struct td_server_opts o = { .run_dir = run_dir };
	struct td_server srv;
	int rc;

	quiet_log();
	rc = td_server_init(&srv, &o);
	if (rc)
		_exit(2);
	if (write(ready, "R", 1) != 1)
		_exit(3);
	close(ready);
	rc = td_server_run(&srv);
	td_server_fini(&srv);
	_exit(rc);
}

static void setup_child_server(void)
{
	int p[2];
	char c;

	quiet_log();
	snprintf(run_dir, sizeof(run_dir), "/tmp/test-rpc-srv.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
	ck_assert_int_eq(pipe(p), 0);
	server_pid = fork();
	ck_assert_int_ge(server_pid, 0);
	if (server_pid == 0) {
		close(p[0]);
		server_child(p[1]);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
}

static void teardown_child_server(void)
{
	char cmd[128];
	int status;

	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, &status, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static json_t *find_vbd(struct td_ctl *c, int minor)
{
	struct td_ctl_error e;
	json_t *vbds, *v, *found = NULL;
	size_t i;

	ck_assert_int_eq(td_ctl_list(c, &vbds, &e), 0);
	json_array_foreach(vbds, i, v)
		if (json_integer_value(json_object_get(v, "minor")) == minor)
			found = json_incref(v);
	json_decref(vbds);
	return found;
}

static void assert_state(struct td_ctl *c, int minor, const char *state,
			 int flags)
{
	json_t *v = find_vbd(c, minor);

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(json_string_value(json_object_get(v, "state")),
			 state);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "flags")),
			 flags);
	json_decref(v);
}

START_TEST(test_client_handlers)
{
	struct td_ctl_open_opts oo = { .no_nbd = true };
	struct td_ctl_error e;
	struct td_ctl *c;
	json_t *r, *img;
	char sock[128], spec[128];
	int status;

	ck_assert_int_eq(td_ctl_connect_pid(run_dir, server_pid, &c, &e), 0);
	ck_assert_int_eq(td_ctl_hello(c, &r, &e), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "pid")),
			 server_pid);
	json_decref(r);

	ck_assert_int_eq(td_ctl_attach(c, 5, &e), 0);
	ck_assert_int_eq(td_ctl_attach(c, 5, &e), -EEXIST);
	ck_assert_ptr_nonnull(strstr(e.msg, "minor 5"));
	assert_state(c, 5, "attached", 0x2);
	ck_assert_int_eq(td_ctl_open(c, 5, "ram:1M", &oo, &e), 0);
	assert_state(c, 5, "open", 0);
	ck_assert_int_eq(td_ctl_open(c, 5, "ram:1M", &oo, &e), -EBUSY);
	ck_assert_ptr_nonnull(strstr(e.msg, "minor 5"));

	ck_assert_int_eq(td_ctl_attach(c, 6, &e), 0);
	ck_assert_int_eq(td_ctl_open(c, 6, "nosuch:/x", &oo, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "unknown image type"));
	snprintf(spec, sizeof(spec), "aio:%s/missing.img", run_dir);
	ck_assert_int_ne(td_ctl_open(c, 6, spec, &oo, &e), 0);
	ck_assert_ptr_nonnull(strstr(e.msg, "missing.img"));
	assert_state(c, 6, "attached", 0x2);
	ck_assert_int_eq(td_ctl_detach(c, 6, &e), 0);
	ck_assert_int_eq(td_ctl_stats(c, 9, &r, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.msg, "minor 9"));

	ck_assert_int_eq(td_ctl_stats(c, 5, &r, &e), 0);
	img = json_array_get(json_object_get(r, "images"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(img, "driver")),
			 "ram");
	ck_assert_int_eq(json_integer_value(json_object_get(r,
							    "size_sectors")),
			 2048);
	ck_assert(json_is_object(json_object_get(r, "counters")));
	ck_assert(json_is_array(json_object_get(r, "frontends")));
	json_decref(r);

	ck_assert_int_eq(td_ctl_detach(c, 5, &e), -EBUSY);
	ck_assert_int_eq(td_ctl_pause(c, 5, 1000, &e), 0);
	assert_state(c, 5, "paused", 0x20);
	ck_assert_int_eq(td_ctl_unpause(c, 5, "ram:2M", &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "minor 5"));
	assert_state(c, 5, "paused", 0x20);
	ck_assert_int_eq(td_ctl_unpause(c, 5, "ram:1M", &e), 0);
	assert_state(c, 5, "open", 0);
	ck_assert_int_eq(td_ctl_unpause(c, 5, NULL, &e), -EINVAL);
	ck_assert_int_eq(td_ctl_close(c, 5, false, &e), 0);
	assert_state(c, 5, "attached", 0x2);
	ck_assert_int_eq(td_ctl_close(c, 5, false, &e), -EINVAL);
	ck_assert_int_eq(td_ctl_detach(c, 5, &e), 0);
	ck_assert_ptr_null(find_vbd(c, 5));
	ck_assert_int_eq(td_ctl_call(c, "nope", NULL, NULL, &e), -EOPNOTSUPP);
	td_ctl_disconnect(c);

	/* SIGTERM: orderly exit, socket removed. */
	snprintf(sock, sizeof(sock), TD_RPC_SOCK_FMT, run_dir,
		 (int)server_pid);
	ck_assert_int_eq(access(sock, F_OK), 0);
	kill(server_pid, SIGTERM);
	ck_assert_int_eq(waitpid(server_pid, &status, 0), server_pid);
	server_pid = 0;
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(access(sock, F_OK), -1);
	ck_assert_int_eq(td_ctl_connect_pid(run_dir, 1, &c, &e), -ESRCH);
}
END_TEST

/* --- libtdctl without a server --- */

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

START_TEST(test_minors)
{
	struct td_ctl_error e;
	char name[128], text[32];
	int m;

	ck_assert_int_eq(td_ctl_minor_alloc(tmp_dir, getpid(), &m, &e), 0);
	ck_assert_int_eq(m, 0);
	ck_assert_int_eq(td_ctl_minor_alloc(tmp_dir, 0, &m, &e), 0);
	ck_assert_int_eq(m, 1);
	/* A file whose owner died is reclaimed; a reserved one (0) is not. */
	snprintf(text, sizeof(text), "%d\n", (int)dead_pid());
	put_file(tmp_dir, "tapdev0", text);
	ck_assert_int_eq(td_ctl_minor_alloc(tmp_dir, getpid(), &m, &e), 0);
	ck_assert_int_eq(m, 0);
	ck_assert_int_eq(td_ctl_minor_alloc(tmp_dir, getpid(), &m, &e), 0);
	ck_assert_int_eq(m, 2);
	ck_assert_int_eq(td_ctl_minor_free(tmp_dir, 1, &e), 0);
	ck_assert_int_eq(td_ctl_minor_free(tmp_dir, 1, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.msg, "minor 1"));
	ck_assert_int_eq(td_ctl_minor_alloc(tmp_dir, getpid(), &m, &e), 0);
	ck_assert_int_eq(m, 1);
	ck_assert_int_eq(td_ctl_minor_set_owner(tmp_dir, 7, 1, &e), 0);
	snprintf(name, sizeof(name), TD_MINOR_FILE_FMT, tmp_dir, 7);
	ck_assert_int_eq(access(name, F_OK), 0);
}
END_TEST

START_TEST(test_discovery)
{
	struct td_ctl_error e;
	char name[128];
	pid_t *pids, dead = dead_pid();
	size_t n;

	int lfd;

	/* Our own socket, a dead process's, and names that do not match. */
	snprintf(name, sizeof(name), "%s/tapdisk-%d.sock", tmp_dir,
		 (int)getpid());
	lfd = listen_at(name);
	snprintf(name, sizeof(name), "tapdisk-%d.sock", (int)dead);
	put_file(tmp_dir, name, "");
	put_file(tmp_dir, "tapdisk-abc.sock", "");
	put_file(tmp_dir, "tapdisk-1.sock.new", "");
	ck_assert_int_eq(td_ctl_find_tapdisks(tmp_dir, &pids, &n, &e), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(pids[0], getpid());
	free(pids);
	snprintf(name, sizeof(name), "%s/tapdisk-%d.sock", tmp_dir, (int)dead);
	ck_assert_int_eq(access(name, F_OK), -1);
	snprintf(name, sizeof(name), "%s/tapdisk-abc.sock", tmp_dir);
	ck_assert_int_eq(access(name, F_OK), 0);
	ck_assert_int_eq(td_ctl_find_tapdisks("/nonexistent/dir", &pids, &n,
					      &e), 0);
	ck_assert_uint_eq(n, 0);
	close(lfd);
}
END_TEST

START_TEST(test_client_timeout)
{
	struct td_ctl_error e;
	struct td_ctl *c;
	char path[128];
	int lfd;

	/* A socket that accepts (backlog) but never answers. */
	snprintf(path, sizeof(path), "%s/mute.sock", tmp_dir);
	lfd = listen_at(path);
	ck_assert_int_eq(td_ctl_connect_path(path, &c, &e), 0);
	td_ctl_set_timeout(c, 100);
	ck_assert_int_eq(td_ctl_hello(c, NULL, &e), -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "mute.sock"));
	ck_assert_int_eq(td_ctl_hello(c, NULL, &e), -ENOTCONN);
	td_ctl_disconnect(c);
	close(lfd);
	ck_assert_int_eq(td_ctl_connect_path(path, &c, &e), -ECONNREFUSED);
}
END_TEST

static Suite *tdctl_suite(void)
{
	Suite *s = suite_create("tdctl");
	TCase *h = tcase_create("handlers");
	TCase *t = tcase_create("local");

	tcase_add_checked_fixture(h, setup_child_server,
				  teardown_child_server);
	tcase_add_test(h, test_client_handlers);
	suite_add_tcase(s, h);
	tcase_add_checked_fixture(t, setup_dir, teardown_dir);
	tcase_add_test(t, test_minors);
	tcase_add_test(t, test_discovery);
	tcase_add_test(t, test_client_timeout);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return td_check_run(tdctl_suite());
}
