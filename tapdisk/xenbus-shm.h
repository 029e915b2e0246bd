/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The xenbus shm test transport: lets a frontend that is not a Xen guest
 * (td-blkfront --xenstore) run the real xenstore handshake against the
 * xenbus backend while the ring data goes over the shm transport
 * (include/td-shm.h). Only used when a device was connected with
 * transport "shm" (tests); production uses the Xen transport.
 *
 * What Xen gives the backend through grant references and event-channel
 * ports it can map by number, the shm frontend must hand over as fds:
 *
 *   1. The backend writes "shm-socket" (this socket's path) in its
 *      backend directory, next to the feature nodes, before InitWait.
 *   2. The frontend builds its memfd and eventfds as for a shm CONNECT,
 *      connects to shm-socket (SOCK_SEQPACKET) and sends one DEPOSIT:
 *      a struct td_xbshm_deposit_msg with the fds in SCM_RIGHTS in
 *      td-shm.h order (memfd, then per queue req and rsp eventfd). The
 *      token is a string of its choosing, unique per connection attempt.
 *      The reply is a struct td_shm_reply_msg (status 0 or -errno and a
 *      message; its "back" is zero).
 *   3. The frontend writes its usual nodes (ring-ref*, event-channel
 *      with any port number, protocol, ...) plus "shm-token" = the token,
 *      then state Initialised. The backend reads the nodes exactly as for
 *      Xen, finds the deposit by token, checks its queue count, and builds
 *      the shm transport from its fds instead of mapping grants.
 *   4. The deposit socket stays open while the rings are connected; the
 *      backend closes it when they are disconnected (frontend Closing,
 *      Closed or gone, error, or tapdisk exiting), so the frontend sees
 *      EOF. A deposit not claimed within TD_XBSHM_DEPOSIT_MS, or whose
 *      socket the frontend closes first, is dropped with its fds.
 */
#ifndef TD_XENBUS_SHM_H
#define TD_XENBUS_SHM_H

#include <stdint.h>
#include "td-shm.h"

/* RUN_DIR/tapdisk-PID.xbshm: one listener per tapdisk, made on demand. */
#define TD_XBSHM_SOCK_FMT "%s/tapdisk-%d.xbshm"

/* Backend node with the socket path; frontend node with the token. */
#define TD_XBSHM_NODE_SOCKET "shm-socket"
#define TD_XBSHM_NODE_TOKEN "shm-token"

/* Message type on this socket (header: struct td_shm_hdr, TD_SHM_MAGIC). */
#define TD_XBSHM_DEPOSIT 16u

#define TD_XBSHM_TOKEN_LEN 64u   /* including the NUL */
#define TD_XBSHM_MAX_DEPOSITS 64u
#define TD_XBSHM_DEPOSIT_MS 30000u

struct td_xbshm_deposit {
	char token[TD_XBSHM_TOKEN_LEN]; /* NUL-terminated, non-empty */
	uint32_t num_queues;            /* 1..TD_SHM_MAX_QUEUES */
	uint32_t pad0;                  /* must be 0 */
};

struct td_xbshm_deposit_msg {
	struct td_shm_hdr hdr; /* type TD_XBSHM_DEPOSIT, size = sizeof body */
	struct td_xbshm_deposit body;
};

_Static_assert(sizeof(struct td_xbshm_deposit) == 72, "deposit layout");

#endif
