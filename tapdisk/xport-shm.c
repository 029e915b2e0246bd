// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shm transport: grant reference N is page N of a sealed memfd shared
 * by the frontend, event channels are eventfd pairs. Protocol in
 * include/td-shm.h.
 *
 * The whole memfd is mapped once at connect: grant copy is then a bounds
 * check and a memcpy, and a "persistent mapping" is a pointer into that
 * view (counted, so unbalanced unmaps show up in tests). The ring is
 * mapped separately so that its pages are virtually contiguous whatever
 * references the frontend chose, as gntdev does on Xen.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include "td-shm.h"
#include "xport.h"

struct shm_queue {
	int req_fd; /* frontend -> us */
	int rsp_fd; /* us -> frontend */
	bool bound;
};

struct shm_xport {
	struct td_xport xp;
	int memfd;
	uint8_t *base;   /* whole memfd, shared read/write */
	uint32_t npages;
	unsigned live_maps;
	struct shm_queue q[TD_SHM_MAX_QUEUES];
};

static struct shm_xport *to_shm(struct td_xport *xp)
{
	return (struct shm_xport *)xp;
}

static int shm_map_ring(struct td_xport *xp, const uint32_t *refs,
			unsigned n, void **addr)
{
	struct shm_xport *s = to_shm(xp);
	uint8_t *area;
	unsigned i;

	if (n == 0 || n > TD_SHM_MAX_RING_PAGES)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (refs[i] >= s->npages)
			return -EINVAL;
	/* Reserve the range first so each page lands at a fixed spot. */
	area = mmap(NULL, (size_t)n * TD_XPORT_PAGE_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return -errno;
	for (i = 0; i < n; i++) {
		void *p = mmap(area + (size_t)i * TD_XPORT_PAGE_SIZE,
			       TD_XPORT_PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED, s->memfd,
			       (off_t)refs[i] << TD_SHM_PAGE_SHIFT);
		if (p == MAP_FAILED) {
			int err = -errno;

			munmap(area, (size_t)n * TD_XPORT_PAGE_SIZE);
			return err;
		}
	}
	*addr = area;
	return 0;
}

static void shm_unmap_ring(struct td_xport *xp, void *addr, unsigned n)
{
	munmap(addr, (size_t)n * TD_XPORT_PAGE_SIZE);
}

static int shm_copy(struct td_xport *xp, struct td_xport_copy *segs,
		    unsigned n, bool to_guest)
{
	struct shm_xport *s = to_shm(xp);
	int first = 0;
	unsigned i;

	if (n > TD_XPORT_COPY_MAX)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		struct td_xport_copy *c = &segs[i];
		uint8_t *page;

		if (c->gref >= s->npages || c->len == 0 ||
		    (unsigned)c->offset + c->len > TD_XPORT_PAGE_SIZE) {
			c->status = -EINVAL;
			if (!first)
				first = c->status;
			continue;
		}
		page = s->base + ((size_t)c->gref << TD_SHM_PAGE_SHIFT);
		if (to_guest)
			memcpy(page + c->offset, c->local, c->len);
		else
			memcpy(c->local, page + c->offset, c->len);
		c->status = 0;
	}
	return first;
}

static int shm_map_grant(struct td_xport *xp, uint32_t gref, void **addr)
{
	struct shm_xport *s = to_shm(xp);

	if (gref >= s->npages)
		return -EINVAL;
	*addr = s->base + ((size_t)gref << TD_SHM_PAGE_SHIFT);
	s->live_maps++;
	return 0;
}

static void shm_unmap_grant(struct td_xport *xp, void *addr)
{
	struct shm_xport *s = to_shm(xp);

	if (s->live_maps)
		s->live_maps--;
}

static int shm_evtchn_bind(struct td_xport *xp, unsigned q, uint32_t port)
{
	struct shm_xport *s = to_shm(xp);

	if (q >= xp->nr_queues)
		return -EINVAL;
	s->q[q].bound = true;
	return 0;
}

static int shm_evtchn_fd(struct td_xport *xp, unsigned q)
{
	struct shm_xport *s = to_shm(xp);

	return q < xp->nr_queues ? s->q[q].req_fd : -EINVAL;
}

static int shm_evtchn_ack(struct td_xport *xp, unsigned q)
{
	struct shm_xport *s = to_shm(xp);
	struct iovec iov;
	uint64_t v;

	if (q >= xp->nr_queues)
		return -EINVAL;
	/*
	 * O_NONBLOCK lives on the open file description we share with the
	 * frontend, which could clear it; RWF_NOWAIT makes this one read
	 * non-blocking whatever the flags say.
	 */
	iov.iov_base = &v;
	iov.iov_len = sizeof(v);
	if (preadv2(s->q[q].req_fd, &iov, 1, -1, RWF_NOWAIT) < 0 &&
	    errno != EAGAIN)
		return -errno;
	return 0;
}

static int shm_evtchn_notify(struct td_xport *xp, unsigned q)
{
	struct shm_xport *s = to_shm(xp);
	uint64_t one = 1;
	struct pollfd pfd;

	if (q >= xp->nr_queues || !s->q[q].bound)
		return -EINVAL;
	/*
	 * eventfd writes do not honour RWF_NOWAIT, so check the counter has
	 * room first: a frontend that saturates it already has a pending
	 * notification. (A frontend racing to saturate it between the poll
	 * and the write after clearing O_NONBLOCK could still stall us: see
	 * docs/ring.md; the Xen transport notifies by ioctl and has no such
	 * window.)
	 */
	pfd.fd = s->q[q].rsp_fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLOUT))
		return 0;
	if (write(s->q[q].rsp_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static void shm_evtchn_unbind(struct td_xport *xp, unsigned q)
{
	struct shm_xport *s = to_shm(xp);

	if (q < xp->nr_queues)
		s->q[q].bound = false;
}

static void shm_destroy(struct td_xport *xp)
{
	struct shm_xport *s = to_shm(xp);
	unsigned q;

	for (q = 0; q < xp->nr_queues; q++) {
		close(s->q[q].req_fd);
		close(s->q[q].rsp_fd);
	}
	munmap(s->base, (size_t)s->npages << TD_SHM_PAGE_SHIFT);
	close(s->memfd);
	free(s);
}

static const struct td_xport_ops shm_ops = {
	.name = "shm",
	.map_ring = shm_map_ring,
	.unmap_ring = shm_unmap_ring,
	.copy = shm_copy,
	.map_grant = shm_map_grant,
	.unmap_grant = shm_unmap_grant,
	.evtchn_bind = shm_evtchn_bind,
	.evtchn_fd = shm_evtchn_fd,
	.evtchn_ack = shm_evtchn_ack,
	.evtchn_notify = shm_evtchn_notify,
	.evtchn_unbind = shm_evtchn_unbind,
	.destroy = shm_destroy,
};

/* True if @fd is an eventfd (anon inode named "[eventfd]"). */
static bool is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

static int check_memfd(int memfd, uint32_t *npages)
{
	struct stat st;
	int seals;

	if (fstat(memfd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size % TD_SHM_PAGE_SIZE ||
	    st.st_size / TD_SHM_PAGE_SIZE > TD_SHM_MAX_PAGES)
		return -EINVAL;
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0)
		return -EINVAL; /* not a memfd */
	if (!(seals & F_SEAL_SHRINK))
		return -EPERM;
	*npages = (uint32_t)(st.st_size / TD_SHM_PAGE_SIZE);
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int td_xport_shm_create(int memfd, const int *req_fds, const int *rsp_fds,
			unsigned nq, struct td_xport **out)
{
	struct shm_xport *s;
	uint32_t npages = 0;
	unsigned q;
	int err;

	if (nq == 0 || nq > TD_SHM_MAX_QUEUES)
		return -EINVAL;
	err = check_memfd(memfd, &npages);
	if (err)
		return err;
	for (q = 0; q < nq; q++) {
		if (!is_eventfd(req_fds[q]) || !is_eventfd(rsp_fds[q]))
			return -EINVAL;
		if (set_nonblock(req_fds[q]) || set_nonblock(rsp_fds[q]))
			return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = mmap(NULL, (size_t)npages << TD_SHM_PAGE_SHIFT,
		       PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (s->base == MAP_FAILED) {
		err = -errno;
		free(s);
		return err;
	}
	s->xp.ops = &shm_ops;
	s->xp.nr_queues = nq;
	snprintf(s->xp.name, sizeof(s->xp.name), "shm fd %d", memfd);
	s->memfd = memfd;
	s->npages = npages;
	for (q = 0; q < nq; q++) {
		s->q[q].req_fd = req_fds[q];
		s->q[q].rsp_fd = rsp_fds[q];
	}
	*out = &s->xp;
	return 0;
}

uint32_t td_xport_shm_pages(const struct td_xport *xp)
{
	return ((const struct shm_xport *)xp)->npages;
}

unsigned td_xport_shm_live_maps(const struct td_xport *xp)
{
	return ((const struct shm_xport *)xp)->live_maps;
}

int td_xport_shm_reply(int fd, int status, const char *msg,
		       const struct td_blkif_back *back)
{
	struct td_shm_reply_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.magic = TD_SHM_MAGIC;
	m.hdr.version = TD_SHM_VERSION;
	m.hdr.type = TD_SHM_REPLY;
	m.hdr.size = sizeof(m.reply);
	m.reply.status = status;
	if (msg)
		snprintf(m.reply.message, sizeof(m.reply.message), "%s", msg);
	if (back)
		m.reply.back = *back;
	if (send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}
