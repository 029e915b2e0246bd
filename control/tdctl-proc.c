/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libtdctl: the processes and names around the protocol: finding running
 * tapdisks by their sockets, allocating minors with files in the run
 * directory, and spawning a tapdisk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "td-rpc.h"
#include "tdctl.h"
#include "tdctl-int.h"

#define SPAWN_TIMEOUT_MS 10000
#define MINOR_LOCK ".tapdev.lock"

/* True unless @pid is known to be gone (EPERM still means it exists). */
static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

/* mkdir -p, the last component 0700 (the run directory is private). */
static int make_run_dir(const char *dir, struct td_ctl_error *e)
{
	char path[PATH_MAX], *p;
	struct stat st;

	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ?
			       0 :
			       td_ctl_seterr(e, -ENOTDIR, "%s: not a directory",
					     dir);
	if (strlen(dir) >= sizeof(path))
		return td_ctl_seterr(e, -ENAMETOOLONG, "%s: path too long",
				     dir);
	strcpy(path, dir);
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return td_ctl_seterr(e, -errno, "cannot create %s: %s",
					     path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return td_ctl_seterr(e, -errno, "cannot create %s: %s", path,
				     strerror(errno));
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Parses "tapdisk-PID.sock" exactly. */
static pid_t sock_name_pid(const char *name)
{
	int pid, end = 0;

	if (sscanf(name, "tapdisk-%d.sock%n", &pid, &end) != 1 ||
	    (size_t)end != strlen(name) || pid <= 0)
		return 0;
	return pid;
}

int td_ctl_find_tapdisks(const char *run_dir, pid_t **pids, size_t *n,
			 struct td_ctl_error *e)
{
	size_t count = 0, cap = 0;
	pid_t *v = NULL, *nv, pid;
	struct dirent *d;
	DIR *dir;

	run_dir = td_rpc_run_dir(run_dir);
	*pids = NULL;
	*n = 0;
	dir = opendir(run_dir);
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		return td_ctl_seterr(e, -errno, "cannot read %s: %s", run_dir,
				     strerror(errno));
	}
	while ((d = readdir(dir))) {
		pid = sock_name_pid(d->d_name);
		if (!pid)
			continue;
		if (!pid_alive(pid)) {
			/* Left by a tapdisk that was killed. */
			unlinkat(dirfd(dir), d->d_name, 0);
			continue;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(dir);
				return td_ctl_seterr(e, -ENOMEM,
						     "out of memory");
			}
			v = nv;
		}
		v[count++] = pid;
	}
	closedir(dir);
	if (count)
		qsort(v, count, sizeof(*v), cmp_pid);
	*pids = v;
	*n = count;
	return 0;
}

/* Takes the allocation lock; returns its fd or -errno. */
static int minor_lock(const char *run_dir, struct td_ctl_error *e)
{
	char path[PATH_MAX];
	int fd, err;

	err = make_run_dir(run_dir, e);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s", run_dir, MINOR_LOCK);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return td_ctl_seterr(e, -errno, "cannot open %s: %s", path,
				     strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		err = -errno;
		close(fd);
		return td_ctl_seterr(e, err, "cannot lock %s: %s", path,
				     strerror(-err));
	}
	return fd;
}

/* Reads the owner pid of a minor file: 0 (reserved), > 0, or -errno. */
static int read_owner(const char *path, pid_t *owner)
{
	char buf[32];
	ssize_t n;
	int fd, pid, end = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (sscanf(buf, "%d%n", &pid, &end) != 1 || pid < 0)
		return -EINVAL;
	*owner = pid;
	return 0;
}

static int write_owner(const char *path, int flags, pid_t owner)
{
	char buf[32];
	int fd, len, ret = 0;

	fd = open(path, flags | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%d\n", (int)owner);
	if (write(fd, buf, (size_t)len) != len)
		ret = -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

int td_ctl_minor_alloc(const char *run_dir, pid_t owner, int *minor,
		       struct td_ctl_error *e)
{
	char path[PATH_MAX];
	int lock, m, err = 0;
	pid_t holder = 0;

	run_dir = td_rpc_run_dir(run_dir);
	lock = minor_lock(run_dir, e);
	if (lock < 0)
		return lock;
	for (m = 0; m < TD_CTL_MAX_MINOR; m++) {
		snprintf(path, sizeof(path), TD_MINOR_FILE_FMT, run_dir, m);
		err = write_owner(path, O_CREAT | O_EXCL, owner);
		if (err == -EEXIST && read_owner(path, &holder) == 0 &&
		    holder > 0 && !pid_alive(holder)) {
			unlink(path);
			err = write_owner(path, O_CREAT | O_EXCL, owner);
		}
		if (err == -EEXIST)
			continue;
		if (err) {
			unlink(path);
			td_ctl_seterr(e, err, "cannot create %s: %s", path,
				      strerror(-err));
		}
		break;
	}
	close(lock);
	if (m == TD_CTL_MAX_MINOR)
		return td_ctl_seterr(e, -ENOSPC,
				     "all %d minors in %s are in use",
				     TD_CTL_MAX_MINOR, run_dir);
	if (!err)
		*minor = m;
	return err;
}

int td_ctl_minor_set_owner(const char *run_dir, int minor, pid_t owner,
			   struct td_ctl_error *e)
{
	char path[PATH_MAX];
	int lock, err;

	run_dir = td_rpc_run_dir(run_dir);
	if (minor < 0)
		return td_ctl_seterr(e, -EINVAL, "invalid minor %d", minor);
	lock = minor_lock(run_dir, e);
	if (lock < 0)
		return lock;
	snprintf(path, sizeof(path), TD_MINOR_FILE_FMT, run_dir, minor);
	err = write_owner(path, O_CREAT | O_TRUNC, owner);
	close(lock);
	if (err)
		return td_ctl_seterr(e, err, "minor %d: cannot update %s: %s",
				     minor, path, strerror(-err));
	return 0;
}

int td_ctl_minor_free(const char *run_dir, int minor, struct td_ctl_error *e)
{
	char path[PATH_MAX];

	run_dir = td_rpc_run_dir(run_dir);
	if (minor < 0)
		return td_ctl_seterr(e, -EINVAL, "invalid minor %d", minor);
	snprintf(path, sizeof(path), TD_MINOR_FILE_FMT, run_dir, minor);
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return td_ctl_seterr(
				e, -ENOENT, "minor %d is not allocated (no %s)",
				minor, path);
		return td_ctl_seterr(e, -errno, "cannot remove %s: %s", path,
				     strerror(errno));
	}
	return 0;
}

/* The tapdisk next to the running program, if there is one. */
static bool sibling_tapdisk(char *buf, size_t len)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/tapdisk", exe) >= len)
		return false;
	return access(buf, X_OK) == 0;
}

/* The daemon's command line, built before fork. */
struct spawn_argv {
	const char *argv[16];
	char fdstr[16];
	char log[PATH_MAX + 16];
};

static void build_argv(struct spawn_argv *a, const char *run_dir,
		       const struct td_ctl_spawn_opts *o, int ready)
{
	int n = 0;

	snprintf(a->fdstr, sizeof(a->fdstr), "%d", ready);
	snprintf(a->log, sizeof(a->log), "%s/tapdisk.log", run_dir);
	a->argv[n++] = "tapdisk";
	a->argv[n++] = "--run-dir";
	a->argv[n++] = run_dir;
	a->argv[n++] = "--ready-fd";
	a->argv[n++] = a->fdstr;
	a->argv[n++] = "--log-file";
	a->argv[n++] = a->log;
	if (!o->stay)
		a->argv[n++] = "--exit-when-idle";
	if (o->io_engine) {
		a->argv[n++] = "--io-engine";
		a->argv[n++] = o->io_engine;
	}
	if (o->log_level) {
		a->argv[n++] = "--log-level";
		a->argv[n++] = o->log_level;
	}
	if (o->poll_us) {
		a->argv[n++] = "--poll-us";
		a->argv[n++] = o->poll_us;
	}
	a->argv[n] = NULL;
}

/* Reports errno on the ready pipe as "E<errno>" and exits. */
static void child_fail(int ready, int status)
{
	char msg[16];
	int err = errno, i = (int)sizeof(msg) - 1;

	/* By hand: only async-signal-safe calls after fork. */
	msg[i--] = '\n';
	do {
		msg[i--] = (char)('0' + err % 10);
		err /= 10;
	} while (err && i > 0);
	msg[i] = 'E';
	if (write(ready, msg + i, sizeof(msg) - (size_t)i) < 0)
		_exit(status);
	_exit(status);
}

/* In the grandchild: becomes the daemon. */
static void exec_tapdisk(const char *bin, const struct spawn_argv *a,
			 int ready)
{
	int fd;

	fd = open("/dev/null", O_RDWR);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		child_fail(ready, 127);
	/* Do not leak our caller's descriptors into a long-lived daemon. */
	if (ready > 3)
		close_range(3, (unsigned)ready - 1, 0);
	close_range((unsigned)ready + 1, ~0u, 0);
	if (fcntl(ready, F_SETFD, 0) < 0)
		child_fail(ready, 127);
	if (strchr(bin, '/'))
		execv(bin, (char *const *)a->argv);
	else
		execvp(bin, (char *const *)a->argv);
	child_fail(ready, 127);
}

/* First child: leaves our session and forks the daemon, so we never
 * become the parent of a long-lived process we would have to reap. */
static void spawn_child(const char *bin, const struct spawn_argv *a,
			int ready)
{
	char msg[16];
	int i = (int)sizeof(msg) - 1;
	pid_t pid;

	if (setsid() < 0)
		child_fail(ready, 1);
	pid = fork();
	if (pid < 0)
		child_fail(ready, 1);
	if (pid == 0)
		exec_tapdisk(bin, a, ready);
	msg[i--] = '\n';
	do {
		msg[i--] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid && i > 0);
	msg[i] = 'C';
	if (write(ready, msg + i, sizeof(msg) - (size_t)i) < 0)
		_exit(1);
	_exit(0);
}

/*
 * Reads the ready pipe: "C<pid>" (the daemon's pid, from the first child),
 * "E<errno>" (it could not start), then "<pid>" from tapdisk once its
 * socket listens. EOF before that means tapdisk died during start-up.
 */
static int read_ready(int fd, const char *bin, const char *run_dir,
		      int timeout_ms, pid_t *pid, struct td_ctl_error *e)
{
	uint64_t deadline = td_ctl_now_ms() + (uint64_t)timeout_ms;
	char buf[128], *line, *nl;
	size_t have = 0;
	pid_t child = 0;
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = td_ctl_now_ms();

		while ((nl = memchr(buf, '\n', have))) {
			*nl = '\0';
			line = buf;
			if (line[0] == 'C') {
				child = atoi(line + 1);
			} else if (line[0] == 'E') {
				int err = atoi(line + 1);

				return td_ctl_seterr(
					e, err > 0 ? -err : -EIO,
					"cannot start %s: %s%s", bin,
					strerror(err),
					strchr(bin, '/') ? "" :
					" (looked next to this program, in "
					"$TAPDISK_BIN and on PATH)");
			} else if (atoi(line) > 0) {
				*pid = atoi(line);
				return 0;
			}
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
		}
		if (now >= deadline) {
			if (child > 0)
				kill(child, SIGKILL);
			return td_ctl_seterr(e, -ETIMEDOUT,
					     "tapdisk did not become ready "
					     "within %d ms (killed; see "
					     "%s/tapdisk.log)", timeout_ms,
					     run_dir);
		}
		n = poll(&p, 1, (int)(deadline - now));
		if (n <= 0)
			continue;
		if (have == sizeof(buf) - 1)
			return td_ctl_seterr(e, -EPROTO,
					     "garbage on tapdisk's ready pipe");
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return td_ctl_seterr(e, -ECHILD,
					     "tapdisk exited during start-up "
					     "(see %s/tapdisk.log)", run_dir);
		have += (size_t)n;
	}
}

int td_ctl_spawn(const char *run_dir, const struct td_ctl_spawn_opts *o,
		 pid_t *pid, struct td_ctl_error *e)
{
	static const struct td_ctl_spawn_opts dflt;
	struct spawn_argv *a;
	char sib[PATH_MAX];
	const char *bin;
	int p[2], err, status;
	pid_t child;

	if (!o)
		o = &dflt;
	run_dir = td_rpc_run_dir(run_dir);
	err = make_run_dir(run_dir, e);
	if (err)
		return err;
	bin = o->tapdisk_bin;
	if (!bin)
		bin = sibling_tapdisk(sib, sizeof(sib)) ? sib :
						       getenv("TAPDISK_BIN");
	if (!bin || !*bin)
		bin = "tapdisk";
	if (pipe2(p, O_CLOEXEC) < 0)
		return td_ctl_seterr(e, -errno, "pipe: %s", strerror(errno));
	/* Keep the daemon's end clear of 0-2, which it points at /dev/null. */
	if (p[1] < 3) {
		int fd = fcntl(p[1], F_DUPFD_CLOEXEC, 3);

		if (fd < 0) {
			err = -errno;
			close(p[0]);
			close(p[1]);
			return td_ctl_seterr(e, err, "fcntl: %s",
					     strerror(-err));
		}
		close(p[1]);
		p[1] = fd;
	}
	a = malloc(sizeof(*a));
	if (!a) {
		close(p[0]);
		close(p[1]);
		return td_ctl_seterr(e, -ENOMEM, "out of memory");
	}
	build_argv(a, run_dir, o, p[1]);
	child = fork();
	if (child < 0) {
		err = -errno;
		free(a);
		close(p[0]);
		close(p[1]);
		return td_ctl_seterr(e, err, "fork: %s", strerror(-err));
	}
	if (child == 0) {
		close(p[0]);
		spawn_child(bin, a, p[1]);
	}
	free(a);
	close(p[1]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	err = read_ready(p[0], bin, run_dir,
			 o->timeout_ms > 0 ? o->timeout_ms : SPAWN_TIMEOUT_MS,
			 pid, e);
	close(p[0]);
	return err;
}
