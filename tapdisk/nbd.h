/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NBD server of one VBD: its listeners (a unix socket, optionally TCP)
 * and its client connections. Each connection is a VBD frontend of kind
 * "nbd" feeding the VBD through td_vbd_submit with td_req slots
 * preallocated when it is accepted; see docs/nbd.md for the protocol
 * subset, limits and error mapping. Everything runs on the loop thread.
 */
#ifndef TD_NBD_H
#define TD_NBD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "td-list.h"
#include "loop.h"
#include "td-log.h"

struct td_vbd;
struct td_image;
struct td_stats_sink;
struct td_export_ops;

/* The export (tapdisk/export-nbd.c), listed in tapdisk/exports.c. */
extern const struct td_export_ops td_export_nbd;

/* Per-connection resources, fixed when the connection is accepted. */
#define TD_NBD_SLOTS 64u                  /* requests in flight */
#define TD_NBD_CHUNK (128u << 10)         /* data buffer granule */
#define TD_NBD_ARENA (64u << 20)          /* data buffers per connection */
#define TD_NBD_MAX_CONNS 16u              /* clients per export */
/*
 * A client must finish the handshake (reach transmission) this long after
 * it was accepted, or it is disconnected: it holds one of the
 * TD_NBD_MAX_CONNS slots. The export reads an override in milliseconds
 * from TD_NBD_HANDSHAKE_ENV when the VBD opens (see docs/nbd.md).
 */
#define TD_NBD_HANDSHAKE_MS 10000u
#define TD_NBD_HANDSHAKE_MAX_MS 3600000u
#define TD_NBD_HANDSHAKE_ENV "TAPDISK_NBD_HANDSHAKE_TIMEOUT_MS"

struct td_nbd_listener {
	struct td_loop_fd watch;
	struct td_nbd_server *srv;
	char addr[PATH_MAX];  /* socket path, or "HOST:PORT" as bound */
	bool is_unix;
};

struct td_nbd_server {
	struct td_loop *loop;
	struct td_vbd *vbd;
	char name[16];                 /* export name: the VBD minor */
	struct td_nbd_listener unix_l, tcp_l;
	struct td_list conns;          /* struct td_nbd_conn.link */
	unsigned nconns;
	uint64_t accepted, refused;    /* counters for stats */
	uint64_t handshake_ns;         /* handshake deadline after accept */
	uint64_t handshake_timeouts;   /* clients closed for missing it */
	/* Client-triggered messages, shared so reconnecting cannot flood. */
	struct td_ratelimit rl;
	struct td_loop_timer accept_retry; /* after running out of fds */
};

struct td_nbd_server_opts {
	const char *unix_path; /* NULL or "": no unix listener */
	const char *tcp;       /* "HOST:PORT", "" HOST = loopback; NULL: none */
	/* Handshake deadline, 1..TD_NBD_HANDSHAKE_MAX_MS; 0: the default. */
	unsigned handshake_timeout_ms;
};

/*
 * Creates the NBD server of @vbd (which must stay open until destroy) and
 * starts listening. A stale unix socket at the path is replaced. Returns
 * 0 and sets *out, or -errno with @err (@errlen bytes) saying why.
 * Control path.
 */
int td_nbd_server_create(struct td_vbd *vbd,
			 const struct td_nbd_server_opts *opts,
			 struct td_nbd_server **out, char *err, size_t errlen);

/*
 * Closes the listeners (removing the unix socket) and drops every client:
 * their sockets close now, and each connection frees itself once its
 * requests still inside the VBD complete. Frees @s.
 */
void td_nbd_server_destroy(struct td_nbd_server *s);

/*
 * Serves an already connected stream socket @fd (owned by the server from
 * now on, even on error). Used by the listeners and by tests with a
 * socketpair. Returns 0, -EMFILE if the client limit is reached, or
 * -ENOMEM.
 */
int td_nbd_server_add_client(struct td_nbd_server *s, int fd);

/*
 * Adds "nbd_socket", "nbd_tcp", "nbd_clients", "nbd_accepted",
 * "nbd_refused" and "nbd_handshake_timeouts" to @sink.
 */
void td_nbd_server_describe(struct td_nbd_server *s,
			    struct td_stats_sink *sink);

/*
 * One client connection (nbd-conn.c). Created by the server; owns @fd.
 * Returns 0 or -ENOMEM (the caller then closes @fd).
 */
struct td_nbd_conn;
int td_nbd_conn_create(struct td_nbd_server *s, int fd,
		       struct td_nbd_conn **out);

/*
 * Drops every client of @s: sockets close and each connection leaves the
 * server and the VBD's frontend list now, freeing itself as soon as no
 * request of it is inside the VBD (possibly at once).
 */
void td_nbd_conn_drop_all(struct td_nbd_server *s);

/* One base:allocation extent. */
struct td_nbd_extent {
	uint64_t sectors;
	uint32_t flags; /* NBD_STATE_* */
};

/*
 * Describes [@sector, @sector + @nr) of the chain starting at @leaf in at
 * most @max merged extents (at least one; fewer than needed to cover the
 * range when @max or the lookup budget runs out). A range an image does
 * not hold is looked up in its parent; past the last parent it reads as
 * zeros (HOLE|ZERO); a driver without block_status, or one failing,
 * reports data. Returns the number of extents written to @out.
 */
unsigned td_nbd_extents(struct td_image *leaf, uint64_t sector, uint64_t nr,
			struct td_nbd_extent *out, unsigned max);

#endif
