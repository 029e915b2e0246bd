/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tapdisk: one process, one event loop, serving the VBDs a storage manager
 * or tap-ctl attaches to it through its control socket.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "td-log.h"
#include "server.h"
#include "xenbus.h"

static void td_usage(FILE *f)
{
	fprintf(f,
		"Usage: tapdisk [OPTION]...\n"
		"Serve virtual block devices; controlled with tap-ctl over\n"
		"RUN_DIR/tapdisk-PID.sock.\n\n"
		"  -r, --run-dir DIR      control directory (default "
		"$TAPDISK_RUN_DIR or /var/run/tapdisk)\n"
		"  -e, --io-engine NAME   aio (default) or uring\n"
		"  -d, --io-depth N       I/O commands in flight (default 512)\n"
		"  -P, --poll-us N        before sleeping, spin up to N\n"
		"                         microseconds (adaptively) for ring\n"
		"                         work; 0 never spins (default 0)\n"
		"  -R, --ready-fd FD      write \"PID\\n\" to FD once listening, "
		"then close it\n"
		"  -l, --log-file FILE    append the log to FILE (default "
		"stderr)\n"
		"  -L, --log-level LEVEL  err, warn, info (default) or debug\n"
		"  -D, --debug MASK       debug subsystems bit mask (hex)\n"
		"  -x, --exit-when-idle   exit once the last VBD is detached\n"
		"  -W, --xenbus-watch DIR serve the devices toolstacks create "
		"under the\n"
		"                         xenstore directory DIR (e.g. "
		"/local/domain/0/backend/vbd3;\n"
		"                         docs/xenstore.md)\n"
		"  -T, --xenbus-transport xen|shm  rings of --xenbus-watch "
		"devices (default\n"
		"                         xen; shm is for tests)\n"
		"  -f, --foreground       accepted for compatibility; tapdisk "
		"never forks\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n");
}

struct td_main_args {
	struct td_server_opts opts;
	struct td_log_config log;
	int ready_fd;
	const char *log_file;
	const char *xenbus_watch;
	const char *xenbus_transport;
};

static int td_parse_uint(const char *s, unsigned long max, int base,
			 unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int td_parse_args(int argc, char **argv, struct td_main_args *a)
{
	static const struct option lopts[] = {
		{ "run-dir", required_argument, NULL, 'r' },
		{ "io-engine", required_argument, NULL, 'e' },
		{ "io-depth", required_argument, NULL, 'd' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "debug", required_argument, NULL, 'D' },
		{ "exit-when-idle", no_argument, NULL, 'x' },
		{ "xenbus-watch", required_argument, NULL, 'W' },
		{ "xenbus-transport", required_argument, NULL, 'T' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "r:e:d:P:R:l:L:D:xW:T:fhV", lopts,
				NULL)) != -1) {
		switch (c) {
		case 'r':
			a->opts.run_dir = optarg;
			break;
		case 'e':
			a->opts.io_engine = optarg;
			break;
		case 'd':
			if (td_parse_uint(optarg, 65536, 10, &v) || !v) {
				fprintf(stderr, "tapdisk: bad --io-depth '%s'\n",
					optarg);
				return 2;
			}
			a->opts.io_depth = (unsigned)v;
			break;
		case 'P':
			if (td_parse_uint(optarg, TD_POLL_US_MAX, 10, &v)) {
				fprintf(stderr, "tapdisk: bad --poll-us '%s' "
					"(0..%u)\n", optarg, TD_POLL_US_MAX);
				return 2;
			}
			a->opts.poll_us = (unsigned)v;
			break;
		case 'R':
			if (td_parse_uint(optarg, INT_MAX, 10, &v)) {
				fprintf(stderr, "tapdisk: bad --ready-fd '%s'\n",
					optarg);
				return 2;
			}
			a->ready_fd = (int)v;
			break;
		case 'l':
			a->log_file = optarg;
			break;
		case 'L':
			if (td_log_parse_level(optarg, &a->log.level)) {
				fprintf(stderr, "tapdisk: bad --log-level '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'D':
			if (td_parse_uint(optarg, UINT32_MAX, 16, &v)) {
				fprintf(stderr, "tapdisk: bad --debug '%s'\n",
					optarg);
				return 2;
			}
			a->log.debug_mask = (uint32_t)v;
			if (a->log.level < TD_LOG_DEBUG)
				a->log.level = TD_LOG_DEBUG;
			break;
		case 'x':
			a->opts.exit_when_idle = true;
			break;
		case 'W':
			a->xenbus_watch = optarg;
			break;
		case 'T':
			if (!td_xenbus_xport_lookup(optarg)) {
				fprintf(stderr, "tapdisk: bad "
					"--xenbus-transport '%s' (xen or "
					"shm)\n", optarg);
				return 2;
			}
			a->xenbus_transport = optarg;
			break;
		case 'f':
			break;
		case 'h':
			td_usage(stdout);
			exit(0);
		case 'V':
			printf("tapdisk %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			td_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tapdisk: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	return 0;
}

static void td_signal_ready(int fd, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);

	if (write(fd, buf, (size_t)n) != n)
		td_warn(TD_SUB_CORE, "ready fd %d: %s", fd, strerror(errno));
	close(fd);
}

/* --xenbus-watch: serve what toolstacks create under that directory. */
static int td_main_xenbus(struct td_server *srv, const struct td_main_args *a)
{
	struct td_xenbus_opts o = { 0 };
	struct td_xenbus *xb;
	char err[256];
	int rc;

	o.xport = td_xenbus_xport_lookup(a->xenbus_transport);
	rc = td_xenbus_get(srv, &xb, err, sizeof(err));
	if (!rc)
		rc = td_xenbus_watch(xb, a->xenbus_watch, &o, err, sizeof(err));
	if (rc)
		fprintf(stderr, "tapdisk: --xenbus-watch %s: %s\n",
			a->xenbus_watch, err);
	return rc;
}

int main(int argc, char **argv)
{
	struct td_main_args a = {
		.log = { .level = TD_LOG_INFO, .fd = 2, .ident = "tapdisk" },
		.ready_fd = -1,
	};
	struct td_server srv;
	int rc;

	rc = td_parse_args(argc, argv, &a);
	if (rc)
		return rc;
	if (a.log_file) {
		a.log.fd = open(a.log_file,
				O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				0600);
		if (a.log.fd < 0) {
			fprintf(stderr, "tapdisk: log file %s: %s\n",
				a.log_file, strerror(errno));
			return 1;
		}
	}
	td_log_configure(&a.log);
	/* Peers hang up at will; a write to a closed socket is an error. */
	signal(SIGPIPE, SIG_IGN);

	rc = td_server_init(&srv, &a.opts);
	if (rc) {
		fprintf(stderr, "tapdisk: cannot start: %s\n", strerror(-rc));
		return 1;
	}
	if (a.xenbus_watch && td_main_xenbus(&srv, &a)) {
		td_server_fini(&srv);
		return 1;
	}
	if (a.ready_fd >= 0)
		td_signal_ready(a.ready_fd, srv.pid);
	rc = td_server_run(&srv);
	td_server_fini(&srv);
	td_info(TD_SUB_CORE, "exiting with status %d", rc);
	return rc;
}
