/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The xenstore seam: every xenstore access of tapdisk goes through one
 * struct td_xs and its ops table. Production: libxenstore
 * (tapdisk/xs-libxs.c), which talks to real xenstored, or to the test
 * daemon in tests/xenstored when XENSTORED_PATH names its socket, so the
 * code under test is the production code.
 *
 * Watch events are delivered from the event loop: the connection
 * registers one fd with the loop and calls the owner's event callback
 * once per event (path, token). Everything runs on the loop thread; calls
 * are synchronous request/reply exchanges with the daemon (short, local).
 *
 * Paths are given as the daemon takes them: absolute ("/local/...") or
 * relative to the caller's domain home. Values are strings (xenstore
 * values are bytes; we only store text).
 */
#ifndef TD_XS_H
#define TD_XS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct td_loop;
struct td_xs;

/* A transaction id; TD_XS_NOTX for none. */
typedef uint32_t td_xs_tx;
#define TD_XS_NOTX 0u

/*
 * Called from the loop for each watch event: @path fired (the node or a
 * descendant) for the watch registered with @token. Both strings are
 * borrowed for the call. May call any td_xs op, including unwatch.
 */
typedef void (*td_xs_event_fn)(void *arg, const char *path,
			       const char *token);

struct td_xs_ops {
	const char *name;
	/*
	 * Reads @path into a malloc'd NUL-terminated string *@val (caller
	 * frees). Returns 0, -ENOENT if absent, -errno.
	 */
	int (*read)(struct td_xs *xs, td_xs_tx t, const char *path,
		    char **val);
	/* Writes @val (a string) at @path, creating parents. 0 or -errno. */
	int (*write)(struct td_xs *xs, td_xs_tx t, const char *path,
		     const char *val);
	/* Creates the directory @path (fine if it exists). 0 or -errno. */
	int (*mkdir)(struct td_xs *xs, td_xs_tx t, const char *path);
	/* Removes @path and its children (fine if absent). 0 or -errno. */
	int (*rm)(struct td_xs *xs, td_xs_tx t, const char *path);
	/*
	 * Lists the children of @path: *@names is one malloc'd block of *@n
	 * string pointers (free(*names) frees all). -ENOENT if absent.
	 */
	int (*directory)(struct td_xs *xs, td_xs_tx t, const char *path,
			 char ***names, unsigned *n);
	/*
	 * Watches @path and its descendants; events carry @token. An event
	 * fires once right after registration (xenstore semantics).
	 */
	int (*watch)(struct td_xs *xs, const char *path, const char *token);
	/*
	 * Removes a watch. An event already queued for it may still be
	 * delivered: tokens must identify their owner unambiguously.
	 */
	int (*unwatch)(struct td_xs *xs, const char *path, const char *token);
	/* Starts a transaction. 0 or -errno. */
	int (*tx_start)(struct td_xs *xs, td_xs_tx *t);
	/*
	 * Commits (@abort false) or abandons a transaction. -EAGAIN: it
	 * conflicted with another writer and must be redone from the start.
	 */
	int (*tx_end)(struct td_xs *xs, td_xs_tx t, bool abort);
	/* Unregisters from the loop, closes and frees. */
	void (*close)(struct td_xs *xs);
};

/* Every implementation's connection starts with this. */
struct td_xs {
	const struct td_xs_ops *ops;
	td_xs_event_fn event;
	void *event_arg;
};

/*
 * Opens a libxenstore connection (xs_open: XENSTORED_PATH, the default
 * socket, or /dev/xen/xenbus) and registers its watch fd with @loop.
 * Events go to @event(@arg, ...). Returns 0 or -errno (-ENOENT/-ECONNREFUSED
 * when no daemon answers).
 */
int td_xs_libxs_open(struct td_loop *loop, td_xs_event_fn event, void *arg,
		     struct td_xs **out);

static inline void td_xs_close(struct td_xs *xs)
{
	if (xs)
		xs->ops->close(xs);
}

#endif
