/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The server's choice of I/O engine: aio by default, io_uring when asked
 * for, a clear error (not a crash, not another engine) when the kernel
 * refuses io_uring (simulated with a seccomp filter that fails
 * io_uring_setup with ENOSYS, as a kernel without it does) or the name is
 * unknown; and the default does not touch io_uring at all. Each case runs
 * in its own child process so the filter stays there.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "io.h"
#include "server.h"
#include "td-log.h"
#include "td-check.h"

static char run_dir[64];

static void setup(void)
{
	struct td_log_config cfg = { .level = TD_LOG_ERR, .fd = 2,
				     .ident = "test-server-io" };

	td_log_configure(&cfg);
	snprintf(run_dir, sizeof(run_dir), "/tmp/test-server-io.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", run_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Makes io_uring_setup fail with ENOSYS in this process. */
static int deny_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
				   .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

/*
 * In a child: optionally denies io_uring, starts a server with @engine.
 * Exit status: 0 and the engine's first letter via the pipe, or 10 + the
 * errno td_server_init failed with.
 */
static void child(const char *engine, bool deny, int out)
{
	struct td_server_opts o = { .run_dir = run_dir, .io_engine = engine };
	struct td_server srv;
	char c;
	int rc;

	if (deny && deny_io_uring())
		_exit(3);
	rc = td_server_init(&srv, &o);
	if (rc)
		_exit(10 + (-rc & 0x7f));
	c = srv.io_ops->name[0];
	if (write(out, &c, 1) != 1)
		_exit(4);
	td_server_fini(&srv);
	_exit(0);
}

/* Returns the chosen engine's first letter, or -(exit status). */
static int pick(const char *engine, bool deny)
{
	int p[2], status;
	char c = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		child(engine, deny, p[1]);
	}
	close(p[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status))
		c = 0;
	else
		ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return WEXITSTATUS(status) ? -WEXITSTATUS(status) : c;
}

START_TEST(test_default_is_aio)
{
	ck_assert_int_eq(pick(NULL, false), 'a');
	/* io_uring refused by the kernel: the default does not care. */
	ck_assert_int_eq(pick(NULL, true), 'a');
}
END_TEST

START_TEST(test_named_engine_is_kept)
{
	ck_assert_int_eq(pick("aio", false), 'a');
	ck_assert_int_eq(pick("uring", false), 'u');
	/* Asked for by name, io_uring is not quietly replaced. */
	ck_assert_int_eq(pick("uring", true), -(10 + ENOSYS));
	ck_assert_int_eq(pick("nosuch", false), -(10 + EINVAL));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("server-io");
	TCase *tc = tcase_create("engine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_default_is_aio);
	tcase_add_test(tc, test_named_engine_is_kept);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(suite());
}
