/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The server: all state of one tapdisk process. No mutable globals exist in
 * the daemon; everything hangs off this struct, which main() owns and
 * passes down, so tests can run several servers in one process.
 */
#ifndef TD_SERVER_H
#define TD_SERVER_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include "td-list.h"
#include "loop.h"
#include "io.h"

struct td_rpc_server;
struct td_xenbus;

/* The largest busy-poll window (td_loop_set_poll) we accept. */
#define TD_POLL_US_MAX 10000

struct td_server_opts {
	const char *run_dir;          /* NULL: td_rpc_run_dir(NULL) */
	const char *io_engine;        /* "aio" (default) or "uring" */
	unsigned io_depth;            /* backend depth, default 512 */
	unsigned poll_us;             /* busy-poll window (us), 0: off */
	bool exit_when_idle;          /* exit after the last VBD detaches */
	const struct td_clock_ops *clock; /* NULL: monotonic */
	void *clock_ctx;
};

struct td_server {
	struct td_loop loop;
	struct td_server_opts opts;
	const struct td_io_ops *io_ops;
	struct td_io *io;
	struct td_list vbds;          /* struct td_vbd.link */
	struct td_list images;        /* open images, to share parents */
	struct td_rpc_server *rpc;
	struct td_xenbus *xenbus;     /* xenstore backend, NULL until used */
	char run_dir[PATH_MAX];
	char sock_path[PATH_MAX];
	pid_t pid;
	int sigfd;
	struct td_loop_fd sig_watch;
	bool had_vbd;                 /* for exit_when_idle */
	bool shutting_down;
	int exit_status;
};

/*
 * Sets up the loop, the I/O backend and the RPC listener (replacing a stale
 * socket left by a crashed process, refusing a live one with -EADDRINUSE),
 * and blocks SIGTERM/SIGINT into a signalfd. Returns 0 or -errno; on error
 * everything done so far is undone.
 */
int td_server_init(struct td_server *srv, const struct td_server_opts *opts);

/* Runs the loop until shutdown. Returns the exit status for main(). */
int td_server_run(struct td_server *srv);

/*
 * Starts an orderly shutdown (SIGTERM, or the last VBD detached): close
 * every VBD (draining in-flight I/O), then stop the loop.
 */
void td_server_shutdown(struct td_server *srv);

/* Called by the VBD layer after a VBD is destroyed. */
void td_server_vbd_gone(struct td_server *srv);

/* Frees everything and removes the socket. */
void td_server_fini(struct td_server *srv);

#endif
