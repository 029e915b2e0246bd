/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The xenstore (xenbus) backend: plays blkback's half of the blkif
 * handshake (xen/io/blkif.h, xen/io/xenbus.h) for devices whose data
 * tapdisk serves, with no kernel blkback, blktap or qemu in the path.
 * Design, nodes and examples: docs/xenstore.md.
 *
 * One struct td_xenbus per server (srv->xenbus, made on first use): the
 * xenstore connection (tapdisk/xs.h), the devices, the optional watched
 * backend directories and the shm test transport's listener. One device
 * per backend directory (backend/TYPE/DOMID/DEVID): it advertises the
 * VBD's features, waits in InitWait, reads the frontend's ring refs and
 * event channels, connects the rings through a ring transport (Xen in
 * production, shm in tests: tapdisk/xenbus-shm.h), writes Connected, and
 * follows the frontend through Closing/Closed and back to Initialising.
 * Everything runs on the loop thread.
 */
#ifndef TD_XENBUS_H
#define TD_XENBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "blkif.h"

struct td_server;
struct td_vbd;
struct td_xenbus;
struct td_xenbus_dev;
struct td_xport;
struct td_stats_sink;

/* XenbusState (xen/io/xenbus.h). */
enum td_xb_state {
	TD_XB_UNKNOWN = 0,
	TD_XB_INITIALISING = 1,
	TD_XB_INITWAIT = 2,
	TD_XB_INITIALISED = 3,
	TD_XB_CONNECTED = 4,
	TD_XB_CLOSING = 5,
	TD_XB_CLOSED = 6,
	TD_XB_RECONFIGURING = 7,
	TD_XB_RECONFIGURED = 8,
};

const char *td_xb_state_name(int s);

/*
 * How a device's rings reach the frontend's memory: the ring-connect
 * seam. "xen": grants and event channels of domain frontend-id
 * (td_xport_xen_create). "shm": fds the frontend deposited on the
 * xenbus shm socket, found by its shm-token node (tests).
 */
struct td_xenbus_xport_ops {
	const char *name;
	/*
	 * Optional. Adds transport nodes to the backend directory @be
	 * while it is advertised (shm: shm-socket). Returns 0 or -errno.
	 */
	int (*advertise)(struct td_xenbus_dev *dev, uint32_t tx,
			 const char *be);
	/*
	 * Creates the transport for @nq queues for the frontend whose
	 * directory is @fe (domain @domid). Returns 0 and *@out (the
	 * caller's until handed to td_blkif_connect), or -errno with a
	 * one-line reason in @err.
	 */
	int (*create)(struct td_xenbus_dev *dev, const char *fe,
		      uint32_t domid, unsigned nq, struct td_xport **out,
		      char *err, size_t errlen);
	/* Optional. The rings were disconnected: drop per-link state. */
	void (*release)(struct td_xenbus_dev *dev);
};

extern const struct td_xenbus_xport_ops td_xenbus_xport_xen;
extern const struct td_xenbus_xport_ops td_xenbus_xport_shm;

/* "xen" or "shm"; NULL if unknown. */
const struct td_xenbus_xport_ops *td_xenbus_xport_lookup(const char *name);

/* Per-device options; zeroes mean defaults. */
struct td_xenbus_opts {
	const struct td_xenbus_xport_ops *xport; /* NULL: xen */
	struct td_blkif_config cfg;   /* limits offered to the frontend */
	unsigned connect_timeout_ms;  /* 0: wait for the frontend forever */
};

/*
 * Returns the server's xenbus backend, opening the xenstore connection on
 * first use. Returns 0 or -errno (no xenstore daemon: -ENOENT,
 * -ECONNREFUSED), with a reason in @err.
 */
int td_xenbus_get(struct td_server *srv, struct td_xenbus **out, char *err,
		  size_t errlen);

/*
 * Tears everything down at server exit: every device stops watching and
 * disconnects its rings (without writing more state), the shm listener
 * closes, the xenstore connection closes. NULL is fine.
 */
void td_xenbus_destroy(struct td_xenbus *xb);

/*
 * Mode (a): serves the device at backend directory @be (as the toolstack
 * wrote it; absolute, or relative to dom0's home) from the open VBD
 * @vbd: reads frontend, frontend-id, advertises, writes InitWait and
 * hotplug-status, and follows the frontend from there. Returns 0, -EEXIST
 * (already served), -ENOENT (no such backend node), -EINVAL (the VBD is
 * not open, bad nodes), with a reason in @err.
 */
int td_xenbus_connect(struct td_xenbus *xb, struct td_vbd *vbd,
		      const char *be, const struct td_xenbus_opts *o,
		      char *err, size_t errlen);

/*
 * Stops serving @be: disconnects the rings (in-flight requests finish),
 * then writes state Closed (if the directory still exists) and forgets the
 * device. The VBD stays open. Returns 0 or -ENOENT.
 */
int td_xenbus_disconnect(struct td_xenbus *xb, const char *be);

/*
 * Mode (b): watches the backend type directory @dir (e.g.
 * "/local/domain/0/backend/vbd3"): each DOMID/DEVID directory that
 * appears with a "params" node ("TYPE:PATH", or a plain path meaning
 * aio:PATH) gets its own VBD (the lowest free minor from 1000 up), opened
 * read-only if "mode" is "r", and served as in mode (a); when the
 * directory is removed the device is disconnected and the VBD closed and
 * detached. A failing open is reported in hotplug-status/hotplug-error
 * and the error node. Returns 0, -EEXIST, -errno.
 */
int td_xenbus_watch(struct td_xenbus *xb, const char *dir,
		    const struct td_xenbus_opts *o, char *err, size_t errlen);

/* Stops watching @dir (devices already served stay). 0 or -ENOENT. */
int td_xenbus_unwatch(struct td_xenbus *xb, const char *dir);

/*
 * The VBD @vbd grew: every connected device it serves updates "sectors"
 * and rewrites its state in one transaction, as blkback does, so the
 * frontend's watch fires and it re-reads the size. Returns the number of
 * devices notified.
 */
unsigned td_xenbus_vbd_resized(struct td_xenbus *xb, struct td_vbd *vbd);

/*
 * Calls @fn for every device (for the xenbus-list RPC) with a sink that
 * describes it: backend, frontend, minor, state, frontend_state,
 * transport, connects, error.
 */
void td_xenbus_describe(struct td_xenbus *xb,
			void (*fn)(void *arg, struct td_xenbus_dev *dev),
			void *arg);
void td_xenbus_dev_describe(struct td_xenbus_dev *dev,
			    struct td_stats_sink *s);

/* RPC handlers of tapdisk/xenbus-rpc.c, listed in tapdisk/rpc-handlers.c:
 * xenbus-connect, xenbus-disconnect, xenbus-watch, xenbus-unwatch,
 * xenbus-list, resize. Signatures of struct td_rpc_handler. */
struct td_rpc_call;
int td_xenbus_rpc_connect(struct td_server *srv, struct td_rpc_call *call,
			  json_t *args);
int td_xenbus_rpc_disconnect(struct td_server *srv, struct td_rpc_call *call,
			     json_t *args);
int td_xenbus_rpc_watch(struct td_server *srv, struct td_rpc_call *call,
			json_t *args);
int td_xenbus_rpc_unwatch(struct td_server *srv, struct td_rpc_call *call,
			  json_t *args);
int td_xenbus_rpc_list(struct td_server *srv, struct td_rpc_call *call,
		       json_t *args);
int td_xenbus_rpc_resize(struct td_server *srv, struct td_rpc_call *call,
			 json_t *args);

#endif
