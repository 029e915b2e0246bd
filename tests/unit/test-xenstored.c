/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-xenstored through libxenstore itself: each test starts a daemon on a
 * private socket, points XENSTORED_PATH at it and uses xs_open(0), the
 * path tapdisk's xenstore backend takes in production. The tree module is
 * also tested directly (limits, rollback, copies, path rules).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <xenstore.h>

#include "xsd-tree.h"
#include "td-check.h"

struct daemon {
	char dir[64];
	char sock[96];
	char log[96];
	pid_t pid;
};

/* One daemon per test; Check runs each test in its own process. */
static struct daemon d;

static const char *daemon_path(char *buf, size_t len)
{
	const char *top = getenv("top_builddir");

	snprintf(buf, len, "%s/tests/xenstored/td-xenstored", top ? top : ".");
	return buf;
}

static void daemon_start(void)
{
	char bin[512], fdstr[16], line[16] = { 0 };
	struct pollfd pfd;
	int p[2];

	strcpy(d.dir, "/tmp/test-xsd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d.dir));
	snprintf(d.sock, sizeof(d.sock), "%s/socket", d.dir);
	snprintf(d.log, sizeof(d.log), "%s/log", d.dir);
	ck_assert_int_eq(pipe(p), 0);
	daemon_path(bin, sizeof(bin));
	d.pid = fork();
	ck_assert_int_ge(d.pid, 0);
	if (d.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		snprintf(fdstr, sizeof(fdstr), "%d", p[1]);
		execl(bin, bin, "--socket", d.sock, "--ready-fd", fdstr,
		      "--log", d.log, "--verbose", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert_int_eq(read(p[0], line, sizeof(line) - 1), 6);
	ck_assert_str_eq(line, "ready\n");
	close(p[0]);
	ck_assert_int_eq(setenv("XENSTORED_PATH", d.sock, 1), 0);
}

static void daemon_stop(void)
{
	char cmd[128];
	int st;

	ck_assert_int_eq(kill(d.pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(d.pid, &st, 0), d.pid);
	/* Exit 0: clean shutdown (and no leaks in a sanitizer build). */
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_int_ne(access(d.sock, F_OK), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d.dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* True if the daemon's request log contains @s. */
static bool log_has(const char *s)
{
	char buf[1 << 16];
	FILE *f = fopen(d.log, "r");
	bool found = false;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(buf, sizeof(buf), f))
		found = strstr(buf, s) != NULL;
	fclose(f);
	return found;
}

static struct xs_handle *open_xs(void)
{
	struct xs_handle *h = xs_open(0);

	ck_assert_msg(h, "xs_open: %s", strerror(errno));
	return h;
}

static void check_read(struct xs_handle *h, xs_transaction_t t,
		       const char *path, const char *want)
{
	unsigned len = 0;
	char *v = xs_read(h, t, path, &len);

	ck_assert_msg(v, "read %s: %s", path, strerror(errno));
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_str_eq(v, want);
	free(v);
}

static void check_missing(struct xs_handle *h, xs_transaction_t t,
			  const char *path)
{
	unsigned len;

	ck_assert_ptr_null(xs_read(h, t, path, &len));
	ck_assert_int_eq(errno, ENOENT);
}

static void put(struct xs_handle *h, const char *path, const char *v)
{
	ck_assert_msg(xs_write(h, XBT_NULL, path, v, strlen(v)),
		      "write %s: %s", path, strerror(errno));
}

/* The next watch event within @ms, or NULL. Free the result. */
static char **next_event(struct xs_handle *h, int ms)
{
	struct pollfd pfd = { .fd = xs_fileno(h), .events = POLLIN };
	char **ev;

	for (;;) {
		ev = xs_check_watch(h);
		if (ev || errno != EAGAIN)
			return ev;
		if (poll(&pfd, 1, ms) <= 0)
			return NULL;
	}
}

static void expect_event(struct xs_handle *h, const char *path,
			 const char *token)
{
	char **ev = next_event(h, 5000);

	ck_assert_msg(ev, "no event for %s", path);
	ck_assert_str_eq(ev[XS_WATCH_PATH], path);
	ck_assert_str_eq(ev[XS_WATCH_TOKEN], token);
	free(ev);
}

static void expect_no_event(struct xs_handle *h)
{
	char **ev = next_event(h, 200);

	ck_assert_msg(!ev, "unexpected event %s", ev ? ev[0] : "");
}

START_TEST(read_write)
{
	struct xs_handle *h = open_xs();
	static const char bin[] = { 'a', 0, 'b', '\n', (char)0xff };
	char big[3900];
	unsigned len;
	char *v;

	put(h, "/vm/disk/params", "/images/a.vhd");
	check_read(h, XBT_NULL, "/vm/disk/params", "/images/a.vhd");
	put(h, "/vm/disk/params", "x");
	check_read(h, XBT_NULL, "/vm/disk/params", "x");
	/* Missing ancestors are created, empty. */
	check_read(h, XBT_NULL, "/vm/disk", "");
	check_read(h, XBT_NULL, "/vm", "");
	check_missing(h, XBT_NULL, "/vm/nope");
	/* Values are bytes, NULs included. */
	ck_assert(xs_write(h, XBT_NULL, "/vm/bin", bin, sizeof(bin)));
	v = xs_read(h, XBT_NULL, "/vm/bin", &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, sizeof(bin));
	ck_assert_mem_eq(v, bin, sizeof(bin));
	free(v);
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(h, "/vm/big", big);
	check_read(h, XBT_NULL, "/vm/big", big);
	put(h, "/vm/empty", "");
	check_read(h, XBT_NULL, "/vm/empty", "");
	/* Invalid paths are refused. */
	ck_assert(!xs_write(h, XBT_NULL, "/vm//x", "1", 1));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert(!xs_write(h, XBT_NULL, "/vm/x/", "1", 1));
	ck_assert_int_eq(errno, EINVAL);
	/* Relative paths are under dom0's home. */
	put(h, "rel/n", "5");
	check_read(h, XBT_NULL, "/local/domain/0/rel/n", "5");
	check_read(h, XBT_NULL, "rel/n", "5");
	xs_close(h);
}
END_TEST

START_TEST(mkdir_directory_rm)
{
	struct xs_handle *h = open_xs();
	unsigned n;
	char **dir;

	ck_assert(xs_mkdir(h, XBT_NULL, "/d/e"));
	ck_assert(xs_mkdir(h, XBT_NULL, "/d/e"));
	check_read(h, XBT_NULL, "/d/e", "");
	put(h, "/d/f", "1");
	put(h, "/d/e/g/h", "2");
	dir = xs_directory(h, XBT_NULL, "/d", &n);
	ck_assert_ptr_nonnull(dir);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(dir[0], "e");
	ck_assert_str_eq(dir[1], "f");
	free(dir);
	dir = xs_directory(h, XBT_NULL, "/d/f", &n);
	ck_assert_ptr_nonnull(dir);
	ck_assert_uint_eq(n, 0);
	free(dir);
	ck_assert_ptr_null(xs_directory(h, XBT_NULL, "/nope", &n));
	ck_assert_int_eq(errno, ENOENT);

	/* rm is recursive. */
	ck_assert(xs_rm(h, XBT_NULL, "/d/e"));
	check_missing(h, XBT_NULL, "/d/e/g/h");
	check_missing(h, XBT_NULL, "/d/e");
	check_read(h, XBT_NULL, "/d/f", "1");
	/* A missing node under an existing parent: success; else ENOENT. */
	ck_assert(xs_rm(h, XBT_NULL, "/d/e"));
	ck_assert(!xs_rm(h, XBT_NULL, "/d/e/x"));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert(!xs_rm(h, XBT_NULL, "/"));
	ck_assert_int_eq(errno, EINVAL);
	xs_close(h);
}
END_TEST

/* More children than one reply holds: libxenstore's DIRECTORY_PART path. */
START_TEST(directory_part)
{
	struct xs_handle *h = open_xs();
	char path[64], name[32];
	unsigned i, n;
	char **dir;

	for (i = 0; i < 400; i++) {
		snprintf(path, sizeof(path), "/big/child-with-long-name-%03u",
			 i);
		put(h, path, "v");
	}
	dir = xs_directory(h, XBT_NULL, "/big", &n);
	ck_assert_msg(dir, "directory: %s", strerror(errno));
	ck_assert_uint_eq(n, 400);
	for (i = 0; i < 400; i++) {
		snprintf(name, sizeof(name), "child-with-long-name-%03u", i);
		ck_assert_str_eq(dir[i], name);
	}
	free(dir);
	ck_assert(log_has("DIRECTORY(1) tx 0 \"/big\" -> E2BIG"));
	ck_assert(log_has("DIRECTORY_PART(22) tx 0 \"/big\" -> OK"));
	xs_close(h);
}
END_TEST

START_TEST(watch_basic)
{
	struct xs_handle *h = open_xs();

	/* Fires once on registration, even for a missing node. */
	ck_assert(xs_watch(h, "/w", "tok-1"));
	expect_event(h, "/w", "tok-1");
	expect_no_event(h);
	put(h, "/w/x/y", "1");
	expect_event(h, "/w/x/y", "tok-1");
	put(h, "/other", "1");
	put(h, "/wx", "1");
	expect_no_event(h);
	put(h, "/w", "2");
	expect_event(h, "/w", "tok-1");
	/* mkdir of an existing node changes nothing: no event. */
	ck_assert(xs_mkdir(h, XBT_NULL, "/w/x"));
	expect_no_event(h);
	/* Two watches on one path, different tokens: one event each. */
	ck_assert(xs_watch(h, "/w", "tok-2"));
	expect_event(h, "/w", "tok-2");
	ck_assert(!xs_watch(h, "/w", "tok-2"));
	ck_assert_int_eq(errno, EEXIST);
	ck_assert(xs_unwatch(h, "/w", "tok-1"));
	put(h, "/w/z", "1");
	expect_event(h, "/w/z", "tok-2");
	expect_no_event(h);
	ck_assert(xs_unwatch(h, "/w", "tok-2"));
	ck_assert(!xs_unwatch(h, "/w", "tok-2"));
	ck_assert_int_eq(errno, ENOENT);
	put(h, "/w/z", "2");
	expect_no_event(h);
	xs_close(h);
}
END_TEST

START_TEST(watch_rm_relative_special)
{
	struct xs_handle *h = open_xs();

	put(h, "/r/a/b/c", "1");
	ck_assert(xs_watch(h, "/r", "up"));
	expect_event(h, "/r", "up");
	ck_assert(xs_watch(h, "/r/a/b", "in"));
	expect_event(h, "/r/a/b", "in");
	/* Removal: watches above see the path, watches inside their own. */
	ck_assert(xs_rm(h, XBT_NULL, "/r/a"));
	expect_event(h, "/r/a", "up");
	expect_event(h, "/r/a/b", "in");
	expect_no_event(h);

	/* A relative watch reports relative paths. */
	ck_assert(xs_watch(h, "relw", "rel"));
	expect_event(h, "relw", "rel");
	put(h, "/local/domain/0/relw/x", "1");
	expect_event(h, "relw/x", "rel");

	/* Special watches and the domain calls that fire them. */
	ck_assert(xs_watch(h, "@introduceDomain", "intro"));
	expect_event(h, "@introduceDomain", "intro");
	ck_assert(xs_introduce_domain(h, 5, 1234, 7));
	expect_event(h, "@introduceDomain", "intro");
	ck_assert(xs_release_domain(h, 5));
	ck_assert(xs_is_domain_introduced(h, 5));
	expect_no_event(h);
	xs_close(h);
}
END_TEST

START_TEST(two_clients)
{
	struct xs_handle *a = open_xs(), *b = open_xs();

	put(a, "/shared/from-a", "A");
	check_read(b, XBT_NULL, "/shared/from-a", "A");
	ck_assert(xs_watch(a, "/shared", "a"));
	expect_event(a, "/shared", "a");
	put(b, "/shared/from-b", "B");
	expect_event(a, "/shared/from-b", "a");
	check_read(a, XBT_NULL, "/shared/from-b", "B");
	ck_assert(xs_rm(b, XBT_NULL, "/shared/from-a"));
	expect_event(a, "/shared/from-a", "a");
	check_missing(a, XBT_NULL, "/shared/from-a");
	/* A client going away drops its watches; the other carries on. */
	xs_close(a);
	put(b, "/shared/after", "1");
	check_read(b, XBT_NULL, "/shared/after", "1");
	xs_close(b);
}
END_TEST

START_TEST(transactions)
{
	struct xs_handle *h = open_xs(), *w = open_xs();
	xs_transaction_t t;
	unsigned n;
	char **dir;

	ck_assert(xs_watch(w, "/tx", "w"));
	expect_event(w, "/tx", "w");
	t = xs_transaction_start(h);
	ck_assert_uint_ne(t, XBT_NULL);
	put(h, "/tx/seen", "0");
	expect_event(w, "/tx/seen", "w");
	ck_assert(xs_write(h, t, "/tx/a", "1", 1));
	ck_assert(xs_mkdir(h, t, "/tx/dir"));
	ck_assert(xs_rm(h, t, "/tx/seen"));
	/* The transaction sees its own changes; nobody else does yet. */
	check_read(h, t, "/tx/a", "1");
	check_missing(h, t, "/tx/seen");
	dir = xs_directory(h, t, "/tx", &n);
	ck_assert_ptr_nonnull(dir);
	ck_assert_uint_eq(n, 2);
	free(dir);
	check_missing(h, XBT_NULL, "/tx/a");
	check_read(w, XBT_NULL, "/tx/seen", "0");
	expect_no_event(w);
	ck_assert(xs_transaction_end(h, t, false));
	check_read(w, XBT_NULL, "/tx/a", "1");
	check_read(w, XBT_NULL, "/tx/dir", "");
	check_missing(w, XBT_NULL, "/tx/seen");
	/* Watches fire at commit, in the transaction's order. */
	expect_event(w, "/tx/a", "w");
	expect_event(w, "/tx/dir", "w");
	expect_event(w, "/tx/seen", "w");

	/* Abort drops everything. */
	t = xs_transaction_start(h);
	ck_assert_uint_ne(t, XBT_NULL);
	ck_assert(xs_write(h, t, "/tx/b", "2", 1));
	ck_assert(xs_transaction_end(h, t, true));
	check_missing(h, XBT_NULL, "/tx/b");
	expect_no_event(w);
	/* An ended or unknown transaction is gone. */
	ck_assert(!xs_transaction_end(h, t, false));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert(!xs_write(h, t, "/tx/c", "3", 1));
	ck_assert_int_eq(errno, ENOENT);
	xs_close(h);
	xs_close(w);
}
END_TEST

START_TEST(permissions)
{
	struct xs_handle *h = open_xs();
	struct xs_permissions set[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = 5, .perms = XS_PERM_READ | XS_PERM_WRITE },
	};
	struct xs_permissions *p;
	unsigned n;
	char *dp;

	put(h, "/p/q", "1");
	p = xs_get_permissions(h, XBT_NULL, "/p/q", &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0].id, 0);
	ck_assert_uint_eq(p[0].perms, XS_PERM_NONE);
	free(p);
	ck_assert(xs_set_permissions(h, XBT_NULL, "/p/q", set, 2));
	p = xs_get_permissions(h, XBT_NULL, "/p/q", &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(p[1].id, 5);
	ck_assert_uint_eq(p[1].perms, XS_PERM_READ | XS_PERM_WRITE);
	free(p);
	/* New children inherit their parent's list, as in xenstored. */
	put(h, "/p/q/child", "1");
	p = xs_get_permissions(h, XBT_NULL, "/p/q/child", &n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(n, 2);
	free(p);
	ck_assert(!xs_set_permissions(h, XBT_NULL, "/p/none", set, 2));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(xs_get_permissions(h, XBT_NULL, "/p/none", &n));
	ck_assert_int_eq(errno, ENOENT);

	dp = xs_get_domain_path(h, 7);
	ck_assert_ptr_nonnull(dp);
	ck_assert_str_eq(dp, "/local/domain/7");
	free(dp);
	xs_close(h);
}
END_TEST

/* The tree module directly. */
START_TEST(tree_limits)
{
	struct xsd_tree t, c;
	bool created;

	ck_assert_int_eq(xsd_tree_init(&t, 4, 1 << 20), 0);
	/* Five nodes needed, four allowed: nothing is left behind. */
	ck_assert_int_eq(xsd_tree_write(&t, "/a/b/c/d", "x", 1), -ENOSPC);
	ck_assert_uint_eq(t.nr_nodes, 1);
	ck_assert_ptr_null(xsd_tree_lookup(&t, "/a"));
	ck_assert_int_eq(xsd_tree_write(&t, "/a/b/c", "x", 1), 0);
	ck_assert_int_eq(xsd_tree_mkdir(&t, "/a/e", &created), -ENOSPC);
	ck_assert(!created);
	ck_assert_int_eq(xsd_tree_clone(&t, &c), 0);
	ck_assert_int_eq(xsd_tree_write(&c, "/a/b", "changed", 7), 0);
	ck_assert_str_eq(xsd_tree_lookup(&t, "/a/b")->value, "");
	ck_assert_str_eq(xsd_tree_lookup(&c, "/a/b/c")->value, "x");
	ck_assert_uint_eq(c.nr_nodes, 4);
	xsd_tree_destroy(&c);
	ck_assert_int_eq(xsd_tree_set_perms(&t, "/a", "n0\0r12\0", 7), 0);
	ck_assert_int_eq(xsd_tree_set_perms(&t, "/a", "n0\0q1\0", 6), -EINVAL);
	ck_assert_int_eq(xsd_tree_set_perms(&t, "/a", "n0", 2), -EINVAL);
	xsd_tree_destroy(&t);

	/* Byte limit: a value that does not fit is refused whole. */
	ck_assert_int_eq(xsd_tree_init(&t, 100, 48), 0);
	ck_assert_int_eq(xsd_tree_write(&t, "/k", "0123456789", 10), 0);
	ck_assert_int_eq(xsd_tree_write(&t, "/k", "0123456789012345678901234"
				       "5678901234567890123456789", 50),
			 -ENOSPC);
	ck_assert_str_eq(xsd_tree_lookup(&t, "/k")->value, "0123456789");
	xsd_tree_destroy(&t);
}
END_TEST

START_TEST(tree_paths)
{
	ck_assert(xsd_path_valid("/", 10));
	ck_assert(xsd_path_valid("/a-b/c_d/@e/09", 100));
	ck_assert(!xsd_path_valid("", 10));
	ck_assert(!xsd_path_valid("a", 10));
	ck_assert(!xsd_path_valid("/a/", 10));
	ck_assert(!xsd_path_valid("/a//b", 10));
	ck_assert(!xsd_path_valid("/a.b", 10));
	ck_assert(!xsd_path_valid("/a b", 10));
	ck_assert(!xsd_path_valid("/abcdef", 5));
	ck_assert(xsd_path_below("/", "/x"));
	ck_assert(xsd_path_below("/a", "/a"));
	ck_assert(xsd_path_below("/a", "/a/b"));
	ck_assert(!xsd_path_below("/a", "/ab"));
	ck_assert(!xsd_path_below("/a/b", "/a"));
}
END_TEST

static Suite *xenstored_suite(void)
{
	Suite *s = suite_create("xenstored");
	TCase *tc = tcase_create("libxenstore");
	TCase *tree = tcase_create("tree");

	tcase_add_checked_fixture(tc, daemon_start, daemon_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, read_write);
	tcase_add_test(tc, mkdir_directory_rm);
	tcase_add_test(tc, directory_part);
	tcase_add_test(tc, watch_basic);
	tcase_add_test(tc, watch_rm_relative_special);
	tcase_add_test(tc, two_clients);
	tcase_add_test(tc, transactions);
	tcase_add_test(tc, permissions);
	suite_add_tcase(s, tc);
	tcase_add_test(tree, tree_limits);
	tcase_add_test(tree, tree_paths);
	suite_add_tcase(s, tree);
	return s;
}

int main(void)
{
	return td_check_run(xenstored_suite());
}
