/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shm transport wire protocol: how a frontend that is not a Xen guest
 * (td-blkfront, tests) connects a blkif ring to a tapdisk VBD.
 *
 * What Xen provides with grants, event channels and xenstore, this provides
 * with a memfd, eventfds and one unix socket per VBD:
 *
 *   grant table   a memfd; grant reference N is page N of the memfd
 *                 (byte offset N * TD_SHM_PAGE_SIZE). References at or past
 *                 the memfd size are invalid: a request using one fails
 *                 with BLKIF_RSP_ERROR exactly like a bad grant on Xen.
 *   event channel per queue a pair of eventfds: "req" (frontend writes 1
 *                 to notify the backend of new requests) and "rsp" (backend
 *                 writes 1 to notify the frontend of new responses). The
 *                 reader of an eventfd drains it with read(2). The backend
 *                 sets O_NONBLOCK on both (the flag is shared with the
 *                 frontend's descriptors): the frontend must poll the rsp
 *                 eventfd before reading it, or expect EAGAIN.
 *   xenstore      the connect message (struct td_blkif_front) carries what a
 *                 blkfront writes under its device/vbd/N directory; the reply
 *                 (struct td_blkif_back) carries what blkback writes under
 *                 backend/vbd/D/N. Field names map 1:1 to the xenstore keys
 *                 of xen/io/blkif.h (noted on each field), with the same
 *                 meaning, so the xenstore backend fills the same structs.
 *
 * The ring itself is the standard blkif shared ring (xen/io/ring.h and
 * xen/io/blkif.h): a header of 64 bytes (req_prod, req_event, rsp_prod,
 * rsp_event, padding) followed by the entries, over 1 << ring-page-order
 * pages given by ring_ref[]. The frontend initialises it (SHARED_RING_INIT)
 * before connecting. Request/response layouts follow "protocol".
 *
 * Socket: RUN_DIR/tapdisk-PID-MINOR.blkif (TD_SHM_SOCK_FMT), a unix
 * SOCK_SEQPACKET socket created by tapdisk when the VBD opens and removed
 * when it closes; `tap-ctl list --json` reports it as "blkif_socket".
 *
 * Messages: every message is exactly one packet: a struct td_shm_hdr
 * followed by the body of the type's fixed size, host byte order (both
 * ends are on one machine). A packet of the wrong size, magic or version,
 * or an unknown type, gets a TD_SHM_REPLY with status -EPROTO (if the
 * backend can still send) and the connection is closed.
 *
 *   frontend                                 backend (tapdisk)
 *   QUERY (optional, any number,     ->
 *          body: none)               <-     REPLY status 0, back = what it
 *                                           advertises (like InitWait)
 *   CONNECT (body: td_blkif_front,   ->
 *     SCM_RIGHTS: memfd, then for
 *     queue q: req eventfd, rsp
 *     eventfd, in queue order)
 *                                    <-     REPLY: status 0 = ring(s)
 *                                           connected (like Connected),
 *                                           or -errno + message, then close
 *   ... the ring runs; the socket stays open and silent ...
 *   close/shutdown the socket        ->     ring(s) disconnected: no further
 *                                           request is consumed; in-flight
 *                                           ones finish, then all is
 *                                           unmapped.
 *
 * The backend closes the socket when the VBD closes; the frontend sees
 * EOF. Any packet received after a successful CONNECT is a protocol error
 * and disconnects. A VBD accepts up to TD_SHM_MAX_CONNS connected
 * frontends at once (each its own set of rings); a CONNECT beyond that
 * gets -EBUSY. A peer that has not connected its rings TD_SHM_HELLO_MS
 * after opening the socket is disconnected.
 *
 * The memfd must be created with MFD_ALLOW_SEALING and carry F_SEAL_SHRINK
 * (so the backend can never fault on a page that vanished); its size must
 * be a non-zero multiple of TD_SHM_PAGE_SIZE and at most TD_SHM_MAX_PAGES
 * pages. The ring pages and data pages are all pages of this one memfd.
 * The backend maps grant pages read/write (xen/io/blkif.h note (8)).
 */
#ifndef TD_SHM_H
#define TD_SHM_H

#include <stdint.h>

/* Socket of VBD @minor of tapdisk @pid: snprintf(buf, n, FMT, run_dir,
 * pid, minor). */
#define TD_SHM_SOCK_FMT "%s/tapdisk-%d-%d.blkif"
/* The key describe() uses for it in `tap-ctl list --json`. */
#define TD_SHM_DESCRIBE_KEY "blkif_socket"

#define TD_SHM_MAX_CONNS 8u
#define TD_SHM_HELLO_MS 10000u

#define TD_SHM_MAGIC 0x54444b42u /* "BKDT" little endian */
#define TD_SHM_VERSION 1u

#define TD_SHM_PAGE_SIZE 4096u
#define TD_SHM_PAGE_SHIFT 12
/* Largest memfd, in pages (4 GiB): bounds valid grant references. */
#define TD_SHM_MAX_PAGES (1u << 20)

/* Protocol limits: the backend advertises at most these. */
#define TD_SHM_MAX_QUEUES 16u        /* multi-queue-max-queues */
#define TD_SHM_MAX_RING_ORDER 4u     /* max-ring-page-order */
#define TD_SHM_MAX_RING_PAGES (1u << TD_SHM_MAX_RING_ORDER)
#define TD_SHM_MAX_INDIRECT_SEGS 256u /* feature-max-indirect-segments */

/* Values of "protocol" (xen/io/protocols.h); "" means native. */
#define TD_BLKIF_PROTO_NATIVE ""
#define TD_BLKIF_PROTO_X86_32 "x86_32-abi"
#define TD_BLKIF_PROTO_X86_64 "x86_64-abi"
#define TD_BLKIF_PROTO_LEN 16 /* including the NUL */

/*
 * What the frontend writes to xenstore. Unused ring_ref entries are
 * ignored (the backend reads queue q's first 1 << ring_page_order refs).
 */
struct td_blkif_front {
	uint32_t ring_page_order;  /* "ring-page-order"; 0 if absent */
	uint32_t num_queues;       /* "multi-queue-num-queues"; 1 if absent */
	uint32_t feature_persistent; /* "feature-persistent": 0 or 1 */
	uint32_t pad0;             /* must be 0 */
	char protocol[TD_BLKIF_PROTO_LEN]; /* "protocol", NUL-terminated */
	/*
	 * "ring-ref" (single page, single queue), "ring-refM" (multi-page),
	 * "queue-Q/ring-ref[M]" (multi-queue): ring_ref[Q][M].
	 */
	uint32_t ring_ref[TD_SHM_MAX_QUEUES][TD_SHM_MAX_RING_PAGES];
};

/*
 * What the backend writes to xenstore (backend/vbd/D/N). Booleans are 0 or
 * 1. A feature_* that is 0 means the node is absent (not offered).
 */
struct td_blkif_back {
	uint32_t feature_flush_cache;  /* "feature-flush-cache" */
	uint32_t feature_barrier;      /* "feature-barrier" */
	uint32_t feature_discard;      /* "feature-discard" */
	uint32_t discard_granularity;  /* "discard-granularity", bytes */
	uint32_t discard_alignment;    /* "discard-alignment", bytes */
	uint32_t discard_secure;       /* "discard-secure" */
	uint32_t feature_persistent;   /* "feature-persistent" */
	uint32_t feature_max_indirect_segments; /* 0 = no BLKIF_OP_INDIRECT */
	uint32_t max_ring_page_order;  /* "max-ring-page-order", <= 4 */
	uint32_t multi_queue_max_queues; /* "multi-queue-max-queues", >= 1 */
	uint64_t sectors;              /* "sectors", in units of sector-size */
	uint32_t sector_size;          /* "sector-size" (512) */
	uint32_t physical_sector_size; /* "physical-sector-size" */
	uint32_t info;                 /* "info": VDISK_* bits (READONLY) */
	char mode[4];                  /* "mode": "r" or "w" */
};

enum td_shm_msg_type {
	TD_SHM_QUERY = 1,   /* frontend -> backend, empty body */
	TD_SHM_CONNECT = 2, /* frontend -> backend, struct td_blkif_front */
	TD_SHM_REPLY = 3,   /* backend -> frontend, struct td_shm_reply */
};

struct td_shm_hdr {
	uint32_t magic;   /* TD_SHM_MAGIC */
	uint32_t version; /* TD_SHM_VERSION */
	uint32_t type;    /* enum td_shm_msg_type */
	uint32_t size;    /* bytes of body following this header */
};

/* The CONNECT packet: header + body, sent with the fds in SCM_RIGHTS. */
struct td_shm_connect_msg {
	struct td_shm_hdr hdr;
	struct td_blkif_front front;
};

/* Reply body to QUERY and CONNECT. */
struct td_shm_reply {
	int32_t status;     /* 0 or -errno (-EINVAL: bad parameters, ...) */
	uint32_t pad0;
	char message[120];  /* NUL-terminated reason when status != 0 */
	struct td_blkif_back back; /* valid whenever status == 0 */
};

struct td_shm_reply_msg {
	struct td_shm_hdr hdr;
	struct td_shm_reply reply;
};

/* Fds carried by a CONNECT for @nq queues: memfd + 2 eventfds each. */
#define TD_SHM_CONNECT_NFDS(nq) (1u + 2u * (nq))
#define TD_SHM_MAX_FDS TD_SHM_CONNECT_NFDS(TD_SHM_MAX_QUEUES)

/* Index in the SCM_RIGHTS array of queue @q's eventfds. */
#define TD_SHM_FD_MEM 0u
#define TD_SHM_FD_REQ(q) (1u + 2u * (q))
#define TD_SHM_FD_RSP(q) (2u + 2u * (q))

_Static_assert(sizeof(struct td_shm_hdr) == 16, "td_shm_hdr layout");
_Static_assert(sizeof(struct td_blkif_front) == 32 + 4 * 16 * 16,
	       "td_blkif_front layout");
_Static_assert(sizeof(struct td_blkif_back) == 64, "td_blkif_back layout");
_Static_assert(sizeof(struct td_shm_reply) == 128 + 64, "td_shm_reply layout");

#endif
