/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libtdctl: the client side of the tapdisk control protocol
 * (include/td-rpc.h, docs/rpc.md). tap-ctl uses nothing else to talk to
 * tapdisk, and a storage manager can link it the same way.
 *
 * Conventions: every function returns 0 or -errno. Functions taking a
 * struct td_ctl_error fill it on failure (if not NULL) with the same code
 * and a one-line message naming what failed (the pid, minor or path);
 * for errors tapdisk reported, the message is tapdisk's own. JSON values
 * are jansson's: arguments passed in are stolen, results handed out are
 * new references the caller must json_decref. Not thread-safe: use one
 * struct td_ctl per thread. Calls block, bounded by a timeout.
 */
#ifndef TD_CTL_H
#define TD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#define TD_CTL_DEFAULT_TIMEOUT_MS 30000
/* Minors handed out by td_ctl_minor_alloc are below this. */
#define TD_CTL_MAX_MINOR 4096

struct td_ctl_error {
	int code;        /* -errno, 0 if no error */
	char msg[1024];  /* one line, no trailing newline */
};

/* One connection to one tapdisk process. */
struct td_ctl;

/*
 * Connects to the control socket at @path. Returns 0 and sets *out, or
 * -errno (-ENOENT: no such socket, -ECONNREFUSED: nobody listens, -EACCES).
 */
int td_ctl_connect_path(const char *path, struct td_ctl **out,
			struct td_ctl_error *e);

/*
 * Connects to tapdisk @pid whose socket is in @run_dir (NULL: the default,
 * see td_rpc_run_dir). -ESRCH if there is no socket for that pid.
 */
int td_ctl_connect_pid(const char *run_dir, pid_t pid, struct td_ctl **out,
		       struct td_ctl_error *e);

/* Closes the connection and frees @c (NULL is fine). */
void td_ctl_disconnect(struct td_ctl *c);

/* Timeout of each later call on @c, in ms (default 30 s; <= 0: default). */
void td_ctl_set_timeout(struct td_ctl *c, int timeout_ms);

/*
 * Sends one request and waits for its reply. @args (stolen; NULL means {})
 * must be an object. On success *result (if not NULL) gets the "result"
 * object. An error reply returns its code with its message in @e; a
 * timeout returns -ETIMEDOUT and leaves @c unusable (-ENOTCONN after).
 */
int td_ctl_call(struct td_ctl *c, const char *type, json_t *args,
		json_t **result, struct td_ctl_error *e);

/* Typed wrappers, one per message (results as documented in rpc.md). */
int td_ctl_hello(struct td_ctl *c, json_t **result, struct td_ctl_error *e);
/* *vbds gets the array of VBD objects. */
int td_ctl_list(struct td_ctl *c, json_t **vbds, struct td_ctl_error *e);
int td_ctl_attach(struct td_ctl *c, int minor, struct td_ctl_error *e);
int td_ctl_detach(struct td_ctl *c, int minor, struct td_ctl_error *e);

struct td_ctl_open_opts {
	bool readonly;
	bool no_o_direct;
	bool no_nbd;           /* do not start the NBD export */
	bool no_shm;           /* do not start the shm ring listener */
	const char *nbd_tcp;   /* "HOST:PORT" or NULL */
};

/* Opens "TYPE:PATH" on attached @minor; @o NULL means defaults. */
int td_ctl_open(struct td_ctl *c, int minor, const char *spec,
		const struct td_ctl_open_opts *o, struct td_ctl_error *e);
int td_ctl_close(struct td_ctl *c, int minor, bool force,
		 struct td_ctl_error *e);
/*
 * Pauses @minor. @timeout_ms > 0 bounds the wait on tapdisk's side (it
 * answers -ETIMEDOUT and keeps pausing); the call waits a little longer.
 */
int td_ctl_pause(struct td_ctl *c, int minor, int timeout_ms,
		 struct td_ctl_error *e);
/* Resumes @minor, on the new leaf @spec if not NULL. */
int td_ctl_unpause(struct td_ctl *c, int minor, const char *spec,
		   struct td_ctl_error *e);
int td_ctl_stats(struct td_ctl *c, int minor, json_t **result,
		 struct td_ctl_error *e);

/*
 * Lists the pids of the tapdisks with a socket in @run_dir (NULL: default),
 * sorted. Sockets of processes that no longer exist are removed. *pids is
 * malloc'd (free it); an absent run directory yields none.
 */
int td_ctl_find_tapdisks(const char *run_dir, pid_t **pids, size_t *n,
			 struct td_ctl_error *e);

/*
 * Reserves the lowest free minor: creates RUN_DIR/tapdevMINOR holding
 * @owner (0: reserved until td_ctl_minor_free, whoever the owner is).
 * Files whose owner process is dead are reclaimed. Serialised against
 * other allocators by a lock file in the run directory.
 */
int td_ctl_minor_alloc(const char *run_dir, pid_t owner, int *minor,
		       struct td_ctl_error *e);
/* Records @owner as the holder of @minor (allocating it if it was not). */
int td_ctl_minor_set_owner(const char *run_dir, int minor, pid_t owner,
			   struct td_ctl_error *e);
/* Releases @minor; -ENOENT if it was not allocated. */
int td_ctl_minor_free(const char *run_dir, int minor, struct td_ctl_error *e);

struct td_ctl_spawn_opts {
	const char *tapdisk_bin; /* NULL: next to us, $TAPDISK_BIN, PATH */
	const char *io_engine;   /* NULL: tapdisk's default */
	const char *log_level;   /* NULL: tapdisk's default */
	const char *poll_us;     /* --poll-us; NULL: tapdisk's default */
	int timeout_ms;          /* for readiness; <= 0: 10 s */
	bool stay;               /* no --exit-when-idle */
};

/*
 * Starts a tapdisk daemon in its own session, detached from us (we do not
 * become its parent), logging to RUN_DIR/tapdisk.log, and waits until its
 * socket listens. Creates @run_dir (0700) if missing. Sets *pid.
 */
int td_ctl_spawn(const char *run_dir, const struct td_ctl_spawn_opts *o,
		 pid_t *pid, struct td_ctl_error *e);

#endif
