/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-xenstored: a small xenstore daemon for tests. It speaks the socket
 * form of the xenstore wire protocol (xen/io/xs_wire.h) on one unix socket,
 * so libxenstore clients reach it with XENSTORED_PATH=<socket>. Every
 * client is dom0 (GET_DOMAIN_PATH and relative paths use its domid, 0);
 * permissions are stored and returned but not enforced.
 *
 * One thread, one poll() loop, non-blocking sockets. All state lives in
 * struct xsd_server, owned by main(). Memory is bounded: a client's input
 * is one fixed buffer, its queued output is capped (a client that stops
 * reading while events pile up is disconnected), and watches,
 * transactions, clients and tree size have fixed limits.
 *
 * xsd-server.c owns sockets, buffers and the loop; xsd-ops.c owns request
 * handling, watches and transactions; xsd-tree.c owns the tree.
 */
#ifndef TD_XSD_H
#define TD_XSD_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xen/io/xs_wire.h>

#include "td-list.h"
#include "xsd-tree.h"

/* Fixed limits; see docs/test-xenstored.md. */
#define XSD_MAX_CONNS 256
#define XSD_MAX_WATCHES 256       /* per client */
#define XSD_MAX_TXS 16            /* per client */
#define XSD_MAX_TXS_TOTAL 64      /* all clients: each holds a tree copy */
#define XSD_MAX_TX_OPS 4096       /* changes buffered in one transaction */
#define XSD_MAX_NODES 65536
#define XSD_MAX_BYTES (32u << 20) /* names + values + perms of one tree */
#define XSD_OUT_SOFT (64u << 10)  /* stop reading a client's requests */
#define XSD_OUT_HARD (1u << 20)   /* drop a client that lets output pile */
#define XSD_REQS_PER_WAKEUP 32    /* fairness between busy clients */

/* An outgoing message: header and payload, written from @off on. */
struct xsd_out {
	struct td_list link;
	size_t len, off;
	unsigned char data[];
};

struct xsd_server;

struct xsd_conn {
	struct td_list link;           /* on xsd_server.conns */
	struct xsd_server *srv;
	int fd;
	unsigned id;                   /* for log lines: "conn 3: ..." */
	bool dead;                     /* closed at the end of this round */
	/* Input: one header plus payload, and a NUL so parsing stops. */
	unsigned char in[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX +
			 1];
	size_t in_len;
	struct td_list out;            /* struct xsd_out, oldest first */
	size_t out_bytes;
	struct td_list watches;        /* struct xsd_watch (xsd-ops.c) */
	unsigned nr_watches;
	struct td_list txs;            /* struct xsd_tx (xsd-ops.c) */
	unsigned nr_txs;
};

struct xsd_config {
	const char *socket_path;       /* required */
	FILE *log;                     /* NULL: no log */
	bool verbose;                  /* log every request and reply */
};

struct xsd_server {
	struct xsd_config cfg;
	struct xsd_tree tree;          /* the live tree */
	struct td_list conns;
	unsigned nr_conns;
	unsigned next_conn_id;
	uint32_t next_tx_id;           /* never 0 (XBT_NULL) */
	unsigned nr_txs;               /* open transactions, all clients */
	int listen_fd;
	int signal_fd;
	bool stop;
};

/*
 * Creates the tree, binds and listens on cfg->socket_path (replacing a stale
 * socket nobody listens on, refusing one in use) and blocks SIGTERM, SIGINT,
 * SIGHUP and SIGUSR1 into a signalfd. Returns 0 or -errno; on failure
 * nothing is left open. Called once from main().
 */
int xsd_server_init(struct xsd_server *s, const struct xsd_config *cfg);

/*
 * Serves clients until SIGTERM/SIGINT/SIGHUP; SIGUSR1 dumps the tree to
 * stderr. Returns 0, or -errno if poll() itself fails.
 */
int xsd_server_run(struct xsd_server *s);

/* Closes every client and the socket (unlinking it) and frees the tree. */
void xsd_server_fini(struct xsd_server *s);

/*
 * Queues a message for @c: the header and the concatenation of @a (@alen
 * bytes) and @b (@blen bytes, may be NULL/0). A message over
 * XENSTORE_PAYLOAD_MAX or one that takes the client over XSD_OUT_HARD
 * marks it dead instead. Never fails otherwise observable to the caller:
 * allocation failure also marks the client dead.
 */
void xsd_conn_send(struct xsd_conn *c, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *a, size_t alen, const void *b,
		   size_t blen);

/* Logs a line to the configured log, if any. */
void xsd_log(const struct xsd_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Handles one complete request from @c: @h is its header (len already
 * checked <= XENSTORE_PAYLOAD_MAX) and @body its payload followed by a NUL
 * the client did not send. Queues the reply (or XS_ERROR) and any watch
 * events it causes, on any client. Called by the loop in xsd-server.c.
 */
void xsd_ops_handle(struct xsd_conn *c, const struct xsd_sockmsg *h,
		    char *body);

/* Drops @c's watches and aborts its transactions. Called before close. */
void xsd_ops_conn_release(struct xsd_conn *c);

#endif
