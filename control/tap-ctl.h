/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tap-ctl internals shared by its files: the parsed command line and the
 * error helper. Command-line compatible with blktap's tap-ctl as used by
 * XenServer's storage manager (verbs, option letters, list format).
 */
#ifndef TAP_CTL_H
#define TAP_CTL_H

#include <stdbool.h>
#include <sys/types.h>
#include "tdctl.h"

struct cli {
	const char *verb;
	pid_t pid;            /* -p, 0 if absent */
	int minor;            /* -m, -1 if absent */
	const char *spec;     /* -a TYPE:PATH */
	const char *type;     /* list -t */
	const char *file;     /* list -f */
	int timeout_s;        /* -t SECS, 0 if absent */
	bool readonly;        /* -R */
	bool no_o_direct;     /* -D */
	bool no_nbd;          /* -N, --no-nbd */
	bool no_shm;          /* --no-shm */
	const char *nbd_tcp;  /* --nbd-tcp HOST:PORT */
	bool force;           /* close -f */
	bool json;            /* --json */
	const char *io_engine; /* spawn --io-engine */
	const char *log_level; /* spawn --log-level */
	const char *poll_us;  /* spawn --poll-us, validated */
	const char *run_dir;  /* resolved run directory */
	const char *backend;  /* -b xenstore backend path or directory */
	const char *transport; /* --transport xen|shm (xenbus) */
	int fe_timeout_ms;    /* --frontend-timeout MS, 0 if absent */
};

/*
 * Prints "tap-ctl VERB: message" as the one line on stderr and returns
 * the exit status for @err (-errno): its errno value, as blktap's tap-ctl
 * did, so callers can test for e.g. ENOENT.
 */
int cli_fail(const struct cli *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* cli_fail with the message of a libtdctl error. */
int cli_fail_ctl(const struct cli *c, const struct td_ctl_error *e);

/* Connects to c->pid; on failure reports it and returns the exit status
 * (> 0), else 0. */
int cli_connect(const struct cli *c, struct td_ctl **out);

/* Applies -t (if given) as the timeout of each later call on @ctl. */
void cli_apply_timeout(const struct cli *c, struct td_ctl *ctl);

/*
 * One step of a verb run on an open connection: returns 0, or -errno with
 * @e filled (its message is what the user sees). @arg is the verb's own.
 */
typedef int (*cli_call_fn)(struct cli *c, struct td_ctl *ctl, void *arg,
			   struct td_ctl_error *e);

/*
 * The frame of a verb that talks to c->pid once: connects (a failure is
 * reported and its status returned without calling @fn), sets -t as the
 * call timeout if @timeout and -t was given, runs @fn, reports its failure
 * with cli_fail_ctl, and disconnects. Returns 0 or the exit status (> 0).
 * Anything the verb prints on success it prints after this returns.
 */
int cli_call(struct cli *c, bool timeout, cli_call_fn fn, void *arg);

/* The verbs that change state, in tap-ctl-verbs.c. */
int cmd_spawn(struct cli *c);
int cmd_create(struct cli *c);
int cmd_destroy(struct cli *c);
int cmd_attach(struct cli *c);
int cmd_detach(struct cli *c);
int cmd_open(struct cli *c);
int cmd_close(struct cli *c);
int cmd_pause(struct cli *c);
int cmd_unpause(struct cli *c);
int cmd_allocate(struct cli *c);
int cmd_free(struct cli *c);

/* The xenstore backend verbs and resize, in tap-ctl-xenbus.c. */
int cmd_xenbus_connect(struct cli *c);
int cmd_xenbus_disconnect(struct cli *c);
int cmd_xenbus_watch(struct cli *c);
int cmd_xenbus_unwatch(struct cli *c);
int cmd_xenbus_list(struct cli *c);
int cmd_resize(struct cli *c);

#endif
