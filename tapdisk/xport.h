/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The transport seam of the ring service: everything blkif needs from "the
 * other domain" — map the shared ring, move data to and from granted pages
 * (batched copy, or persistent mappings), and the per-queue event channel.
 *
 * Implementations: "xen" (libxengnttab + libxenevtchn, tapdisk/xport-xen.c)
 * and "shm" (a memfd whose page N is grant reference N, and eventfd pairs;
 * tapdisk/xport-shm.c, protocol in include/td-shm.h). The ring service is
 * written only against these ops, so every ring feature runs without Xen.
 *
 * A struct td_xport is one peer connection (one frontend device): it is
 * created by the transport's constructor, owned by whoever holds it (the
 * blkif connection after td_blkif_connect succeeds) and freed with
 * td_xport_destroy after every mapping it handed out was released. All
 * calls happen on the loop thread; none blocks for long (grant copy is a
 * synchronous ioctl on Xen, a memcpy on shm).
 */
#ifndef TD_XPORT_H
#define TD_XPORT_H

#include <stdint.h>
#include <stdbool.h>

#define TD_XPORT_PAGE_SIZE 4096u

/* Most segments one td_xport_copy call accepts. */
#define TD_XPORT_COPY_MAX 256u

struct td_xport;
struct td_blkif_back;

/* One segment of a batched grant copy. */
struct td_xport_copy {
	uint32_t gref;    /* the granted page */
	uint16_t offset;  /* byte offset in it; offset + len <= page size */
	uint16_t len;     /* bytes, > 0 */
	void *local;      /* our buffer */
	int status;       /* out: 0, or -errno for a bad grant / range */
};

struct td_xport_ops {
	const char *name; /* "xen", "shm" */
	/*
	 * Maps the @n (1..16) pages granted as @refs, in order, contiguously
	 * read/write; sets *@addr. Returns 0 or -errno (-EINVAL bad ref).
	 * Control path.
	 */
	int (*map_ring)(struct td_xport *xp, const uint32_t *refs, unsigned n,
			void **addr);
	/* Undoes map_ring of @n pages at @addr. */
	void (*unmap_ring)(struct td_xport *xp, void *addr, unsigned n);
	/*
	 * Copies each of @n (<= TD_XPORT_COPY_MAX) segments, from the
	 * granted page to ->local (@to_guest false) or the other way. Sets
	 * every ->status; returns 0 if all succeeded, else the first error.
	 * A failed segment leaves no other segment undone. Data path.
	 */
	int (*copy)(struct td_xport *xp, struct td_xport_copy *segs,
		    unsigned n, bool to_guest);
	/*
	 * Persistently maps one granted page read/write and sets *@addr
	 * (page aligned). Returns 0 or -errno (bad ref, -ENOMEM out of
	 * mappings). Data path, but the ring service calls it only on a
	 * persistent-grant pool miss.
	 */
	int (*map_grant)(struct td_xport *xp, uint32_t gref, void **addr);
	/* Releases a map_grant mapping. */
	void (*unmap_grant)(struct td_xport *xp, void *addr);
	/*
	 * Binds queue @q's event channel; @port is the frontend's port on
	 * Xen ("event-channel" key), ignored on shm where the eventfds came
	 * with the connection. Returns 0 or -errno. Control path.
	 */
	int (*evtchn_bind)(struct td_xport *xp, unsigned q, uint32_t port);
	/* Fd the loop watches (TD_EV_IN) for queue @q's notifications. */
	int (*evtchn_fd)(struct td_xport *xp, unsigned q);
	/*
	 * Consumes pending notifications of queue @q and re-arms the channel
	 * (eventfd read; xenevtchn_pending + unmask). Call when the fd is
	 * readable, before looking at the ring. Returns 0 or -errno.
	 */
	int (*evtchn_ack)(struct td_xport *xp, unsigned q);
	/* Notifies the frontend on queue @q. Returns 0 or -errno. */
	int (*evtchn_notify)(struct td_xport *xp, unsigned q);
	/* Unbinds queue @q (harmless if unbound). */
	void (*evtchn_unbind)(struct td_xport *xp, unsigned q);
	/* Frees the connection; all mappings and channels are released. */
	void (*destroy)(struct td_xport *xp);
};

/* Every transport's connection starts with this. */
struct td_xport {
	const struct td_xport_ops *ops;
	unsigned nr_queues; /* event channels the connection can bind */
	char name[48];      /* for logs: "shm fd 7", "xen dom 3" */
};

/*
 * Creates an shm connection from the fds of a CONNECT (include/td-shm.h):
 * @memfd (must be sealed against shrinking, size a non-zero multiple of
 * the page size, at most TD_SHM_MAX_PAGES pages) and for each of @nq queues
 * @req_fds[q] / @rsp_fds[q]. On success the connection owns all the fds;
 * on failure the caller still owns them. Returns 0, -EINVAL (bad memfd,
 * not an eventfd, ...), -EPERM (no F_SEAL_SHRINK), -ENOMEM.
 */
int td_xport_shm_create(int memfd, const int *req_fds, const int *rsp_fds,
			unsigned nq, struct td_xport **out);

/*
 * Sends on shm socket @fd the REPLY of include/td-shm.h: @status (0 or
 * -errno), @msg (NULL: empty; cut to fit) and, if not NULL, @back (what
 * the backend advertises; zeros otherwise). Never blocks: a peer that does
 * not read its replies loses them. Returns 0 or -errno from send.
 */
int td_xport_shm_reply(int fd, int status, const char *msg,
		       const struct td_blkif_back *back);

/* Pages (valid grant references 0..n-1) of an shm connection. */
uint32_t td_xport_shm_pages(const struct td_xport *xp);

/* Persistent mappings currently held on an shm connection (for tests). */
unsigned td_xport_shm_live_maps(const struct td_xport *xp);

/*
 * Creates a Xen connection to domain @domid with @nq event channels, using
 * libxengnttab and libxenevtchn. Returns 0 or -errno (e.g. -ENOENT without
 * /dev/xen/gntdev). Owned by the caller until handed to blkif.
 */
int td_xport_xen_create(uint32_t domid, unsigned nq, struct td_xport **out);

static inline void td_xport_destroy(struct td_xport *xp)
{
	xp->ops->destroy(xp);
}

#endif
