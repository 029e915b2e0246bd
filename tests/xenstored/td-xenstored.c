/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-xenstored: a test xenstore daemon on a unix socket. See
 * docs/test-xenstored.md and xsd.h.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xsd.h"

struct opts {
	struct xsd_config cfg;
	const char *pid_file;
	const char *log_file;
	int ready_fd;
	bool dump_at_exit;
};

static void usage(FILE *f)
{
	fputs("usage: td-xenstored --socket PATH [--pid-file FILE] "
	      "[--ready-fd N]\n"
	      "                    [--log FILE] [--verbose] [--dump]\n"
	      "Serves the xenstore wire protocol on PATH; point libxenstore "
	      "at it with\nXENSTORED_PATH=PATH. SIGUSR1 dumps the tree to "
	      "stderr; --dump also does so\nat exit. SIGTERM/SIGINT stop.\n",
	      f);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dump", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int c;

	o->ready_fd = -1;
	while ((c = getopt_long(argc, argv, "s:p:r:l:vdh", lopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			o->cfg.socket_path = optarg;
			break;
		case 'p':
			o->pid_file = optarg;
			break;
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0 ||
			    v > INT_MAX) {
				fprintf(stderr, "td-xenstored: bad --ready-fd "
						"'%s'\n", optarg);
				return -EINVAL;
			}
			o->ready_fd = (int)v;
			break;
		case 'l':
			o->log_file = optarg;
			break;
		case 'v':
			o->cfg.verbose = true;
			break;
		case 'd':
			o->dump_at_exit = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc || !o->cfg.socket_path) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static int write_pid(const char *file)
{
	FILE *f = fopen(file, "w");
	int rc = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%ld\n", (long)getpid()) < 0)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

static int signal_ready(int fd)
{
	static const char msg[] = "ready\n";
	ssize_t n = write(fd, msg, sizeof(msg) - 1);
	int rc = n == (ssize_t)sizeof(msg) - 1 ? 0 : (n < 0 ? -errno : -EIO);

	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct xsd_server srv;
	struct opts o = { 0 };
	int rc;

	if (parse_opts(argc, argv, &o))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (o.log_file) {
		o.cfg.log = fopen(o.log_file, "a");
		if (!o.cfg.log) {
			fprintf(stderr, "td-xenstored: %s: %s\n", o.log_file,
				strerror(errno));
			return 1;
		}
	}
	rc = xsd_server_init(&srv, &o.cfg);
	if (rc) {
		fprintf(stderr, "td-xenstored: %s: %s\n", o.cfg.socket_path,
			strerror(-rc));
		return 1;
	}
	rc = o.pid_file ? write_pid(o.pid_file) : 0;
	if (!rc && o.ready_fd >= 0)
		rc = signal_ready(o.ready_fd);
	if (rc)
		fprintf(stderr, "td-xenstored: start-up: %s\n", strerror(-rc));
	else if ((rc = xsd_server_run(&srv)))
		fprintf(stderr, "td-xenstored: poll: %s\n", strerror(-rc));
	if (o.dump_at_exit)
		xsd_tree_dump(&srv.tree, stderr);
	xsd_server_fini(&srv);
	if (o.pid_file)
		unlink(o.pid_file);
	if (o.cfg.log)
		fclose(o.cfg.log);
	return rc ? 1 : 0;
}
