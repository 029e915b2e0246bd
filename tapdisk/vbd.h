/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A VBD: one virtual disk of a tapdisk process, named by its minor. It
 * holds an image chain, the requests waiting while it is paused, and the
 * frontends (guest rings, NBD connections) that feed it.
 *
 * States: ATTACHED (no image) -> OPEN -> PAUSING -> PAUSED -> OPEN ...;
 * CLOSING drains then returns to ATTACHED. Requests submitted while PAUSING
 * or PAUSED wait in order and run on resume; none is lost or failed.
 * Everything here runs on the loop thread.
 */
#ifndef TD_VBD_H
#define TD_VBD_H

#include <stdint.h>
#include <stdbool.h>
#include <limits.h>
#include "td-list.h"
#include "loop.h"
#include "req.h"
#include "image.h"

struct td_server;
struct td_vbd;

enum td_vbd_state {
	TD_VBD_ATTACHED,
	TD_VBD_OPEN,
	TD_VBD_PAUSING,
	TD_VBD_PAUSED,
	TD_VBD_CLOSING,
};

const char *td_vbd_state_name(enum td_vbd_state s);

/*
 * A frontend feeding a VBD (a ring, an NBD listener or connection). The
 * VBD tells it about state changes so it can stop and restart consuming,
 * and asks it to describe itself for list/stats. The frontend owns the
 * struct; it registers with td_vbd_frontend_add and must remove itself
 * before being freed.
 */
struct td_vbd_frontend;
struct td_vbd_frontend_ops {
	const char *kind; /* "ring", "nbd", ... */
	/*
	 * Optional. The VBD resumed (or its queue drained): frontends that
	 * stopped consuming for lack of progress may look at their input
	 * again. Loop thread.
	 */
	void (*kick)(struct td_vbd_frontend *fe);
	/*
	 * Optional. The VBD is closing: stop submitting and release
	 * connections; td_vbd_frontend_del may be called from inside.
	 */
	void (*closing)(struct td_vbd_frontend *fe);
	/* Optional. Adds "key": value pairs describing the frontend. */
	void (*describe)(struct td_vbd_frontend *fe, struct td_stats_sink *s);
};

struct td_vbd_frontend {
	const struct td_vbd_frontend_ops *ops;
	void *arg;
	struct td_list link;
};

/* A waiter for an asynchronous VBD operation (pause, close). */
struct td_vbd_waiter {
	void (*done)(struct td_vbd_waiter *w, int err);
	void *arg;
	struct td_list link;
};

struct td_vbd_stats {
	uint64_t reqs[5];      /* per td_op submitted */
	uint64_t sectors_read, sectors_written;
	uint64_t errors;
	uint64_t queued_while_paused;
};

/*
 * Per-VBD front doors (the shm ring listener, the NBD export) are
 * "exports": started when a VBD opens, kept across pause, stopped when it
 * closes. The table lives in tapdisk/exports.c, one line per export.
 */
#define TD_MAX_EXPORTS 4

struct td_export_ops {
	const char *name;
	/*
	 * Starts the export for a VBD that just opened (not on resume).
	 * May store state in vbd->export_priv[slot]. Returns 0 or -errno;
	 * a failure fails the open with @err filled in.
	 */
	int (*start)(struct td_vbd *vbd, unsigned slot, char *err,
		     size_t errlen);
	/*
	 * Stops it: called when the VBD starts closing, before draining.
	 * Must drop every frontend it registered (in-flight requests may still
	 * complete afterwards: frontends keep their memory until then).
	 */
	void (*stop)(struct td_vbd *vbd, unsigned slot);
	/* Optional: adds keys describing the export (socket paths, ...). */
	void (*describe)(struct td_vbd *vbd, unsigned slot,
			 struct td_stats_sink *s);
};

/* NULL-terminated table of exports, in start order. */
extern const struct td_export_ops *const td_exports[];

/* Options for exports, given with open (control path, copied). */
struct td_vbd_export_opts {
	bool no_nbd;          /* do not start the NBD export */
	char nbd_tcp[64];     /* "HOST:PORT" to also listen on TCP, or "" */
	bool no_shm;          /* do not start the shm ring listener */
};

struct td_vbd {
	struct td_server *srv;
	int minor;
	enum td_vbd_state state;
	struct td_list link;         /* in srv->vbds */

	char spec[PATH_MAX + 32];    /* "TYPE:PATH" of the leaf */
	unsigned open_flags;         /* TD_OPEN_* */
	struct td_image *leaf;       /* NULL unless OPEN or PAUSING */
	uint64_t size_sectors;       /* kept across pause */
	unsigned caps;               /* of the chain, kept across pause */

	struct td_list waiting;      /* td_req.link, submitted while paused */
	unsigned inflight;           /* requests inside the chain */
	struct td_list waiters;      /* pause/close waiters */
	struct td_list frontends;
	struct td_loop_defer kick_defer;
	struct td_vbd_stats stats;

	struct td_vbd_export_opts export_opts;
	void *export_priv[TD_MAX_EXPORTS];
	bool export_started[TD_MAX_EXPORTS];

	struct td_list failed;       /* invalid requests awaiting completion */
	struct td_loop_defer fail_defer;
	struct td_loop_defer notify_defer; /* completes waiters */
	int notify_err;
	struct td_vbd_waiter shutdown_waiter; /* used by td_server_shutdown */
};

/* Requests a VBD keeps in flight at each image of its chain. */
#define TD_VBD_DEPTH 256

/*
 * Attaches minor @minor to @srv (the "attach" verb). Returns 0 and sets
 * *out (owned by the server's VBD list), -EEXIST if the minor is already
 * attached here, -EINVAL for a negative minor, -ENOMEM.
 */
int td_vbd_create(struct td_server *srv, int minor, struct td_vbd **out);

/* Detaches: requires ATTACHED (closed). Returns 0 or -EBUSY. Frees @vbd. */
int td_vbd_destroy(struct td_vbd *vbd);

/* Finds a VBD by minor; NULL if none. */
struct td_vbd *td_vbd_find(struct td_server *srv, int minor);

/*
 * Opens "TYPE:PATH" and its parents on an ATTACHED VBD, then starts the
 * exports (@eopts NULL: defaults). Returns 0, -EBUSY
 * if already open, or the open error (@err describes it, @errlen bytes).
 */
int td_vbd_open(struct td_vbd *vbd, const char *spec, unsigned flags,
		const struct td_vbd_export_opts *eopts, char *err,
		size_t errlen);

/*
 * Starts pausing: new requests wait; when in-flight requests are done the
 * chain is closed and @w->done runs with 0. If already PAUSED, @w->done
 * runs from a deferred call. Returns 0 or -EINVAL if the VBD is not open.
 * Never blocks the loop.
 */
int td_vbd_pause(struct td_vbd *vbd, struct td_vbd_waiter *w);

/* Forgets a waiter (e.g. on RPC timeout) whose done has not run yet. */
void td_vbd_waiter_cancel(struct td_vbd_waiter *w);

/*
 * Reopens a PAUSED VBD, onto @spec if not NULL (a new leaf) or the old
 * one, and runs the requests that waited. Refuses (-EINVAL, @err says why)
 * a chain whose size differs; the VBD then stays PAUSED. Returns 0 or
 * -errno.
 */
int td_vbd_resume(struct td_vbd *vbd, const char *spec, char *err,
		  size_t errlen);

/*
 * Online resize: reopens a PAUSED VBD on its own image like td_vbd_resume,
 * but accepts a chain that grew (vbd->size_sectors becomes its size); a
 * smaller one is refused (-EINVAL, stays paused). Frontends that cache
 * the size must be told (td_blkif_resized). Returns 0 or -errno.
 */
int td_vbd_resume_resized(struct td_vbd *vbd, char *err, size_t errlen);

/*
 * Closes an open or paused VBD: frontends are told to go away, then once
 * in-flight requests finish the chain closes and @w->done runs. Waiting
 * requests fail with -EIO if @force, else closing waits for them to run
 * (a paused VBD is closed without running them: they fail with -EIO).
 * Returns 0 or -EINVAL if there is nothing to close.
 */
int td_vbd_close(struct td_vbd *vbd, bool force, struct td_vbd_waiter *w);

/*
 * Data path entry. Validates @req (op, range within the disk, writes to a
 * read-only VBD), then runs it now, or queues it if paused. Invalid
 * requests and requests to a VBD that is not open complete with -errno
 * (from a deferred call, never inside this function). Never allocates.
 */
void td_vbd_submit(struct td_vbd *vbd, struct td_req *req);

/* Frontend registration; see struct td_vbd_frontend. */
void td_vbd_frontend_add(struct td_vbd *vbd, struct td_vbd_frontend *fe);
void td_vbd_frontend_del(struct td_vbd *vbd, struct td_vbd_frontend *fe);

/* True if the VBD accepts writes. */
bool td_vbd_writable(const struct td_vbd *vbd);

/* Emits state, image, size, counters and each frontend's description. */
void td_vbd_stats(struct td_vbd *vbd, struct td_stats_sink *sink);

#endif
