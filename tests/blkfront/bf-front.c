/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "bf-front.h"

#define PAGE TD_SHM_PAGE_SIZE

struct bf_queue {
	unsigned char *sring;
	uint32_t req_prod_pvt, rsp_cons;
	int req_fd, rsp_fd;  /* we write req_fd, the backend writes rsp_fd */
	unsigned inflight;
};

struct td_bf_front {
	struct td_bf_opts opts;
	struct td_blkif_back back;
	struct td_bf_conn_info info;
	int sock, memfd;
	unsigned char *mem;
	size_t mem_len;
	size_t slot_size;
	struct bf_queue q[TD_SHM_MAX_QUEUES];

	struct td_bf_io *ios;
	unsigned nr_ios, inflight;
	struct td_bf_io *free_ios;
	struct blkif_request_segment *seg_store;
	unsigned char **page_store;

	/* Data pages without persistent grants: a FIFO of free grefs. */
	uint32_t *pool;
	unsigned pool_n, pool_head, pool_count;

	bool dead;
};

uint64_t td_bf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* Shared ring header words (xen/io/ring.h): read/written concurrently. */
#define SR_REQ_PROD 0
#define SR_REQ_EVENT 1
#define SR_RSP_PROD 2
#define SR_RSP_EVENT 3

static uint32_t *sr(struct bf_queue *q, unsigned word)
{
	return (uint32_t *)(void *)q->sring + word;
}

static int sock_open(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(err, errlen, -ENAMETOOLONG,
			    "socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "socket: %s",
			    strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return fail(err, errlen, rc, "cannot connect to %s: %s", path,
			    strerror(-rc));
	}
	return fd;
}

static void hdr_init(struct td_shm_hdr *h, uint32_t type, uint32_t size)
{
	h->magic = TD_SHM_MAGIC;
	h->version = TD_SHM_VERSION;
	h->type = type;
	h->size = size;
}

/* Waits for and checks one REPLY packet. */
static int recv_reply(int fd, unsigned timeout_ms, struct td_shm_reply *r,
		      char *err, size_t errlen)
{
	struct td_shm_reply_msg m;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	n = poll(&p, 1, (int)timeout_ms);
	if (n == 0)
		return fail(err, errlen, -ETIMEDOUT,
			    "no reply from the backend in %u ms", timeout_ms);
	n = recv(fd, &m, sizeof(m), 0);
	if (n < 0)
		return fail(err, errlen, -errno, "recv: %s", strerror(errno));
	if (n == 0)
		return fail(err, errlen, -EPIPE,
			    "backend closed the connection");
	if (n < (ssize_t)sizeof(m.hdr) || m.hdr.magic != TD_SHM_MAGIC ||
	    m.hdr.version != TD_SHM_VERSION || m.hdr.type != TD_SHM_REPLY)
		return fail(err, errlen, -EPROTO,
			    "malformed reply from the backend");
	if (n != (ssize_t)sizeof(m) || m.hdr.size != sizeof(m.reply))
		return fail(err, errlen, -EPROTO,
			    "reply of %zd bytes, expected %zu", n, sizeof(m));
	*r = m.reply;
	r->message[sizeof(r->message) - 1] = '\0';
	if (r->status > 0 || r->status < -4095)
		return fail(err, errlen, -EPROTO, "reply status %d",
			    r->status);
	if (r->status)
		return fail(err, errlen, r->status, "backend refused: %s",
			    r->message[0] ? r->message : strerror(-r->status));
	return 0;
}

static int query_on(int fd, unsigned timeout_ms, struct td_blkif_back *back,
		    char *err, size_t errlen)
{
	struct td_shm_hdr h;
	struct td_shm_reply r;
	int rc;

	hdr_init(&h, TD_SHM_QUERY, 0);
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return fail(err, errlen, -errno, "send QUERY: %s",
			    strerror(errno));
	rc = recv_reply(fd, timeout_ms, &r, err, errlen);
	if (rc)
		return rc;
	*back = r.back;
	return 0;
}

int td_bf_query(const char *sock_path, unsigned timeout_ms,
		struct td_blkif_back *back, char *err, size_t errlen)
{
	int fd = sock_open(sock_path, err, errlen), rc;

	if (fd < 0)
		return fd;
	rc = query_on(fd, timeout_ms, back, err, errlen);
	close(fd);
	return rc;
}

static unsigned umin(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

static void negotiate(struct td_bf_front *f)
{
	const struct td_blkif_back *b = &f->back;
	struct td_bf_conn_info *ci = &f->info;
	unsigned maxq = b->multi_queue_max_queues ? b->multi_queue_max_queues
						  : 1;

	ci->queues = umin(umin(f->opts.queues, maxq), TD_SHM_MAX_QUEUES);
	ci->ring_order = umin(umin(f->opts.ring_order, b->max_ring_page_order),
			      TD_SHM_MAX_RING_ORDER);
	ci->indirect = umin(f->opts.indirect,
			    b->feature_max_indirect_segments);
	ci->persistent = f->opts.persistent && b->feature_persistent;
	ci->ring_slots = td_bf_abi_ring_slots(f->opts.abi, ci->ring_order);
	ci->max_segs = ci->indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST
			       ? ci->indirect
			       : BLKIF_MAX_SEGMENTS_PER_REQUEST;
}

/*
 * Lays out the memfd (rings, indirect pages, data pages), maps it and
 * creates the slot array. Everything the data path needs is here.
 */
static int build_memory(struct td_bf_front *f, char *err, size_t errlen)
{
	struct td_bf_conn_info *ci = &f->info;
	unsigned ms = ci->max_segs;
	/* Room for one segment more than the backend allows: attacks. */
	unsigned bmax = f->back.feature_max_indirect_segments;
	unsigned ind = bmax ? bmax / TD_BF_SEGS_PER_INDIRECT_PAGE + 1 : 0;
	uint64_t ring_pages = (uint64_t)ci->queues << ci->ring_order;
	uint64_t data_pages = (uint64_t)f->nr_ios * ms *
			      (ci->persistent ? 1 : 2);
	uint64_t pages;
	uint32_t next;

	if (ind > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
		ind = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST;
	pages = ring_pages + (uint64_t)f->nr_ios * ind + data_pages;
	if (pages > TD_SHM_MAX_PAGES)
		return fail(err, errlen, -E2BIG,
			    "%llu grant pages needed, at most %u allowed",
			    (unsigned long long)pages, TD_SHM_MAX_PAGES);
	ci->nr_pages = (uint32_t)pages;
	f->mem_len = pages * PAGE;
	f->memfd = memfd_create("td-blkfront", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f->memfd < 0)
		return fail(err, errlen, -errno, "memfd_create: %s",
			    strerror(errno));
	if (ftruncate(f->memfd, (off_t)f->mem_len) < 0 ||
	    fcntl(f->memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return fail(err, errlen, -errno, "memfd setup: %s",
			    strerror(errno));
	f->mem = mmap(NULL, f->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->memfd, 0);
	if (f->mem == MAP_FAILED) {
		f->mem = NULL;
		return fail(err, errlen, -errno, "mmap: %s", strerror(errno));
	}

	f->ios = calloc(f->nr_ios, sizeof(*f->ios));
	f->seg_store = calloc((size_t)f->nr_ios * ms, sizeof(*f->seg_store));
	f->page_store = calloc((size_t)f->nr_ios * ms,
			       sizeof(*f->page_store));
	if (!ci->persistent) {
		f->pool_n = (unsigned)data_pages;
		f->pool = calloc(f->pool_n, sizeof(*f->pool));
	}
	if (!f->ios || !f->seg_store || !f->page_store ||
	    (!ci->persistent && !f->pool))
		return fail(err, errlen, -ENOMEM, "out of memory");

	next = (uint32_t)ring_pages;
	for (unsigned i = 0; i < f->nr_ios; i++) {
		struct td_bf_io *io = &f->ios[i];

		io->f = f;
		io->idx = i;
		io->segs = f->seg_store + (size_t)i * ms;
		io->seg_page = f->page_store + (size_t)i * ms;
		io->ind_base = next;
		io->ind_pages = ind;
		next += ind;
	}
	for (unsigned i = 0; i < f->nr_ios; i++) {
		struct td_bf_io *io = &f->ios[f->nr_ios - 1 - i];

		if (ci->persistent) {
			io->fixed_base = next;
			next += ms;
		}
		io->next_free = f->free_ios;
		f->free_ios = io;
	}
	for (unsigned i = 0; i < f->pool_n; i++)
		f->pool[i] = next + i;
	f->pool_count = f->pool_n;
	return 0;
}

static int build_queues(struct td_bf_front *f, char *err, size_t errlen)
{
	for (unsigned i = 0; i < TD_SHM_MAX_QUEUES; i++)
		f->q[i].req_fd = f->q[i].rsp_fd = -1;
	for (unsigned i = 0; i < f->info.queues; i++) {
		struct bf_queue *q = &f->q[i];

		q->sring = f->mem + ((size_t)i << f->info.ring_order) * PAGE;
		/* SHARED_RING_INIT: indexes 0, event thresholds 1. */
		memset(q->sring, 0, TD_BF_SRING_HDR);
		*sr(q, SR_REQ_EVENT) = 1;
		*sr(q, SR_RSP_EVENT) = 1;
		q->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->rsp_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->req_fd < 0 || q->rsp_fd < 0)
			return fail(err, errlen, -errno, "eventfd: %s",
				    strerror(errno));
	}
	return 0;
}

static const char *proto_name(enum td_bf_abi abi)
{
	switch (abi) {
	case TD_BF_ABI_X86_32:
		return TD_BLKIF_PROTO_X86_32;
	case TD_BF_ABI_X86_64:
		return TD_BLKIF_PROTO_X86_64;
	default:
		return TD_BLKIF_PROTO_NATIVE;
	}
}

/* The CONNECT body and its fds, for whichever handshake sends them. */
static void fill_front(struct td_bf_front *f, struct td_blkif_front *fr,
		       int *fds)
{
	memset(fr, 0, sizeof(*fr));
	fr->ring_page_order = f->info.ring_order;
	fr->num_queues = f->info.queues;
	fr->feature_persistent = f->info.persistent;
	snprintf(fr->protocol, sizeof(fr->protocol), "%s",
		 proto_name(f->opts.abi));
	fds[TD_SHM_FD_MEM] = f->memfd;
	for (unsigned q = 0; q < f->info.queues; q++) {
		for (unsigned p = 0; p < (1u << f->info.ring_order); p++)
			fr->ring_ref[q][p] = (q << f->info.ring_order) + p;
		fds[TD_SHM_FD_REQ(q)] = f->q[q].req_fd;
		fds[TD_SHM_FD_RSP(q)] = f->q[q].rsp_fd;
	}
}

static int send_connect(struct td_bf_front *f, char *err, size_t errlen)
{
	struct td_shm_connect_msg m;
	int fds[TD_SHM_MAX_FDS];
	unsigned nfds = TD_SHM_CONNECT_NFDS(f->info.queues);
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cb.buf,
			     .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *c;

	memset(&m, 0, sizeof(m));
	memset(&cb, 0, sizeof(cb));
	hdr_init(&m.hdr, TD_SHM_CONNECT, sizeof(m.front));
	fill_front(f, &m.front, fds);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	if (sendmsg(f->sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		return fail(err, errlen, -errno, "send CONNECT: %s",
			    strerror(errno));
	return 0;
}

/* The same steps with another handshake (bf-xenbus.c's xenstore one). */
static int hs_connect(struct td_bf_front *f, const struct td_bf_opts *opts,
		      char *err, size_t errlen)
{
	const struct td_bf_handshake *hs = opts->hs;
	struct td_blkif_front fr;
	int fds[TD_SHM_MAX_FDS];
	int rc = hs->query(hs->arg, &f->back, err, errlen);

	if (rc)
		return rc;
	negotiate(f);
	f->nr_ios = umin(opts->nr_ios ? opts->nr_ios : 1,
			 f->info.queues * f->info.ring_slots);
	rc = build_memory(f, err, errlen);
	if (!rc)
		rc = build_queues(f, err, errlen);
	if (rc)
		return rc;
	fill_front(f, &fr, fds);
	rc = hs->connect(hs->arg, &fr, fds, TD_SHM_CONNECT_NFDS(f->info.queues),
			 &f->back, err, errlen);
	if (rc < 0)
		return rc;
	f->sock = rc;
	return 0;
}

int td_bf_front_connect(const struct td_bf_opts *opts,
			struct td_bf_front **out, char *err, size_t errlen)
{
	struct td_bf_front *f = calloc(1, sizeof(*f));
	struct td_shm_reply r;
	int rc;

	if (!f)
		return fail(err, errlen, -ENOMEM, "out of memory");
	f->opts = *opts;
	f->memfd = -1;
	for (unsigned i = 0; i < TD_SHM_MAX_QUEUES; i++)
		f->q[i].req_fd = f->q[i].rsp_fd = -1;
	f->slot_size = td_bf_abi_slot_size(opts->abi);
	if (opts->hs) {
		f->sock = -1;
		rc = hs_connect(f, opts, err, errlen);
		goto out;
	}
	f->sock = sock_open(opts->sock_path, err, errlen);
	if (f->sock < 0) {
		rc = f->sock;
		goto out;
	}
	rc = query_on(f->sock, opts->timeout_ms, &f->back, err, errlen);
	if (rc)
		goto out;
	negotiate(f);
	f->nr_ios = umin(opts->nr_ios ? opts->nr_ios : 1,
			 f->info.queues * f->info.ring_slots);
	rc = build_memory(f, err, errlen);
	if (!rc)
		rc = build_queues(f, err, errlen);
	if (!rc)
		rc = send_connect(f, err, errlen);
	if (!rc)
		rc = recv_reply(f->sock, opts->timeout_ms, &r, err, errlen);
out:
	if (rc) {
		td_bf_front_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

void td_bf_front_close(struct td_bf_front *f)
{
	if (!f)
		return;
	if (f->opts.hs && f->opts.hs->close)
		f->opts.hs->close(f->opts.hs->arg);
	if (f->sock >= 0)
		close(f->sock);
	for (unsigned i = 0; i < TD_SHM_MAX_QUEUES; i++) {
		if (f->q[i].req_fd >= 0)
			close(f->q[i].req_fd);
		if (f->q[i].rsp_fd >= 0)
			close(f->q[i].rsp_fd);
	}
	if (f->mem)
		munmap(f->mem, f->mem_len);
	if (f->memfd >= 0)
		close(f->memfd);
	free(f->ios);
	free(f->seg_store);
	free(f->page_store);
	free(f->pool);
	free(f);
}

const struct td_blkif_back *td_bf_front_back(const struct td_bf_front *f)
{
	return &f->back;
}

const struct td_bf_conn_info *td_bf_front_info(const struct td_bf_front *f)
{
	return &f->info;
}

unsigned char *td_bf_front_page(struct td_bf_front *f, uint32_t gref)
{
	return f->mem + (size_t)gref * PAGE;
}

unsigned td_bf_front_inflight(const struct td_bf_front *f)
{
	return f->inflight;
}

struct td_bf_io *td_bf_io_get(struct td_bf_front *f)
{
	struct td_bf_io *io = f->free_ios;

	if (!io)
		return NULL;
	f->free_ios = io->next_free;
	io->next_free = NULL;
	io->nseg = 0;
	io->done = NULL;
	io->arg = NULL;
	io->status = 0;
	memset(&io->req, 0, sizeof(io->req));
	return io;
}

/* Pages are found from seg_page, not segs[].gref, which attacks forge. */
static void release_pages(struct td_bf_io *io)
{
	struct td_bf_front *f = io->f;

	if (f->info.persistent)
		return;
	for (unsigned i = 0; i < io->nseg; i++) {
		uint32_t g = (uint32_t)((io->seg_page[i] - f->mem) / PAGE);

		f->pool[(f->pool_head + f->pool_count) % f->pool_n] = g;
		f->pool_count++;
	}
}

void td_bf_io_put(struct td_bf_io *io)
{
	release_pages(io);
	io->nseg = 0;
	io->next_free = io->f->free_ios;
	io->f->free_ios = io;
}

unsigned char *td_bf_io_add_seg(struct td_bf_io *io, unsigned first,
				unsigned last)
{
	struct td_bf_front *f = io->f;
	uint32_t g;

	if (io->nseg >= f->info.max_segs)
		return NULL;
	if (f->info.persistent) {
		g = io->fixed_base + io->nseg;
	} else {
		/* Never dry: the pool holds two requests' worth per slot. */
		g = f->pool[f->pool_head];
		f->pool_head = (f->pool_head + 1) % f->pool_n;
		f->pool_count--;
	}
	io->segs[io->nseg].gref = g;
	io->segs[io->nseg].first_sect = (uint8_t)first;
	io->segs[io->nseg].last_sect = (uint8_t)last;
	io->seg_page[io->nseg] = td_bf_front_page(f, g);
	return io->seg_page[io->nseg++];
}

unsigned char *td_bf_io_indirect_pages(struct td_bf_io *io, uint32_t *gref,
				       unsigned *n)
{
	*n = io->ind_pages;
	*gref = io->ind_base;
	return io->ind_pages ? td_bf_front_page(io->f, io->ind_base) : NULL;
}

void td_bf_io_write_indirect(struct td_bf_io *io, unsigned nseg)
{
	unsigned pages = (nseg + TD_BF_SEGS_PER_INDIRECT_PAGE - 1) /
			 TD_BF_SEGS_PER_INDIRECT_PAGE;

	/* The slot's indirect pages are contiguous in our mapping. */
	memcpy(td_bf_front_page(io->f, io->ind_base), io->segs,
	       (size_t)nseg * sizeof(*io->segs));
	for (unsigned i = 0; i < pages && i < io->ind_pages; i++)
		io->req.indirect_grefs[i] = io->ind_base + i;
}

int td_bf_io_prep_rw(struct td_bf_io *io, uint8_t op, uint64_t sector)
{
	struct td_bf_req *r = &io->req;

	memset(r, 0, sizeof(*r));
	r->sector = sector;
	if (io->nseg <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		r->op = op;
		r->nr_segments = (uint16_t)io->nseg;
		memcpy(r->seg, io->segs, io->nseg * sizeof(*io->segs));
		return 0;
	}
	/* blkif allows only READ and WRITE as an indirect_op. */
	if (io->nseg > io->f->info.indirect ||
	    (op != BLKIF_OP_READ && op != BLKIF_OP_WRITE))
		return -EINVAL;
	r->op = BLKIF_OP_INDIRECT;
	r->indirect_op = op;
	r->nr_segments = (uint16_t)io->nseg;
	td_bf_io_write_indirect(io, io->nseg);
	return 0;
}

void td_bf_io_prep_flush(struct td_bf_io *io)
{
	memset(&io->req, 0, sizeof(io->req));
	io->req.op = BLKIF_OP_FLUSH_DISKCACHE;
}

void td_bf_io_prep_discard(struct td_bf_io *io, uint64_t sector, uint64_t n,
			   uint8_t flag)
{
	memset(&io->req, 0, sizeof(io->req));
	io->req.op = BLKIF_OP_DISCARD;
	io->req.sector = sector;
	io->req.nr_sectors = n;
	io->req.discard_flag = flag;
}

int td_bf_front_submit(struct td_bf_front *f, struct td_bf_io *io,
		       unsigned q)
{
	struct bf_queue *bq = &f->q[q];
	unsigned char *slot;

	if (f->dead)
		return -EPIPE;
	if (bq->req_prod_pvt - bq->rsp_cons >= f->info.ring_slots)
		return -EBUSY;
	io->seq++;
	io->req.id = ((uint64_t)io->seq << 32) | io->idx;
	io->busy = true;
	slot = bq->sring + TD_BF_SRING_HDR +
	       (bq->req_prod_pvt & (f->info.ring_slots - 1)) * f->slot_size;
	td_bf_abi_encode_req(f->opts.abi, &io->req, slot);
	bq->req_prod_pvt++;
	bq->inflight++;
	f->inflight++;
	io->submit_ns = td_bf_now_ns();
	io->queue = q;
	return 0;
}

static void notify(int fd)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: already notified. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

void td_bf_front_kick(struct td_bf_front *f)
{
	for (unsigned i = 0; i < f->info.queues; i++) {
		struct bf_queue *q = &f->q[i];
		uint32_t old = __atomic_load_n(sr(q, SR_REQ_PROD),
					       __ATOMIC_RELAXED);
		uint32_t new = q->req_prod_pvt;

		if (old == new)
			continue;
		/* Requests visible before the index, index before req_event. */
		__atomic_store_n(sr(q, SR_REQ_PROD), new, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if ((uint32_t)(new - __atomic_load_n(sr(q, SR_REQ_EVENT),
						     __ATOMIC_RELAXED)) <
		    (uint32_t)(new - old))
			notify(q->req_fd);
	}
}

static int proto_error(struct td_bf_front *f, const char *what, uint64_t v)
{
	if (!f->dead)
		fprintf(stderr, "td-blkfront: backend protocol error: %s "
			"(%#llx); connection unusable\n", what,
			(unsigned long long)v);
	f->dead = true;
	return -EPROTO;
}

/* Consumes the responses of one queue; returns how many, or -EPROTO. */
static int reap_queue(struct td_bf_front *f, struct bf_queue *q)
{
	unsigned n = 0;
	uint32_t rp;

	do {
		rp = __atomic_load_n(sr(q, SR_RSP_PROD), __ATOMIC_ACQUIRE);
		if ((uint32_t)(rp - q->rsp_cons) > q->inflight)
			return proto_error(f, "rsp_prod beyond requests", rp);
		while (q->rsp_cons != rp) {
			const unsigned char *slot =
				q->sring + TD_BF_SRING_HDR +
				(q->rsp_cons & (f->info.ring_slots - 1)) *
					f->slot_size;
			struct td_bf_rsp rsp;
			struct td_bf_io *io;
			uint32_t idx;

			td_bf_abi_decode_rsp(f->opts.abi, slot, &rsp);
			q->rsp_cons++;
			idx = (uint32_t)rsp.id;
			if (idx >= f->nr_ios)
				return proto_error(f, "unknown response id",
						   rsp.id);
			io = &f->ios[idx];
			if (!io->busy || io->req.id != rsp.id ||
			    io->queue != (unsigned)(q - f->q))
				return proto_error(f, "stale response id",
						   rsp.id);
			io->busy = false;
			io->status = rsp.status;
			io->rsp_op = rsp.op;
			io->complete_ns = td_bf_now_ns();
			q->inflight--;
			f->inflight--;
			n++;
			if (io->done)
				io->done(io, io->arg);
		}
		/* RING_FINAL_CHECK_FOR_RESPONSES: ask to be woken, recheck. */
		__atomic_store_n(sr(q, SR_RSP_EVENT), q->rsp_cons + 1,
				 __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	} while (__atomic_load_n(sr(q, SR_RSP_PROD), __ATOMIC_ACQUIRE) !=
		 q->rsp_cons);
	return (int)n;
}

static int reap_all(struct td_bf_front *f)
{
	int total = 0;

	for (unsigned i = 0; i < f->info.queues; i++) {
		int rc = reap_queue(f, &f->q[i]);

		if (rc < 0)
			return rc;
		total += rc;
	}
	return total;
}

/*
 * The control socket is silent once connected: readable means the backend
 * hung up (EOF) or broke the protocol. Either way the connection is over.
 */
static int sock_event(struct td_bf_front *f)
{
	char c[256];
	ssize_t n = recv(f->sock, c, sizeof(c), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n > 0)
		fprintf(stderr, "td-blkfront: unexpected packet from the "
			"backend after connect\n");
	f->dead = true;
	return -EPIPE;
}

int td_bf_front_poll(struct td_bf_front *f, int timeout_ms)
{
	struct pollfd p[TD_SHM_MAX_QUEUES + 1];
	unsigned nq = f->info.queues;
	uint64_t buf;
	int rc, prc;

	if (f->dead)
		return -EPIPE;
	if (timeout_ms < 0)
		timeout_ms = (int)f->opts.timeout_ms;
	rc = reap_all(f);
	if (rc != 0 || timeout_ms == 0)
		return rc;
	for (unsigned i = 0; i < nq; i++) {
		p[i].fd = f->q[i].rsp_fd;
		p[i].events = POLLIN;
	}
	p[nq].fd = f->sock;
	p[nq].events = POLLIN;
	prc = poll(p, nq + 1, timeout_ms);
	if (prc < 0)
		return errno == EINTR ? 0 : -errno;
	for (unsigned i = 0; i < nq; i++) {
		if (p[i].revents && read(p[i].fd, &buf, sizeof(buf)) < 0 &&
		    errno != EAGAIN)
			return -errno;
	}
	rc = reap_all(f);
	if (rc != 0)
		return rc;
	if (p[nq].revents) {
		rc = sock_event(f);
		if (rc)
			return rc;
	}
	return prc == 0 ? -ETIMEDOUT : 0;
}

unsigned td_bf_front_force_req_prod(struct td_bf_front *f, unsigned q,
				    uint32_t req_prod)
{
	__atomic_store_n(sr(&f->q[q], SR_REQ_PROD), req_prod,
			 __ATOMIC_RELEASE);
	notify(f->q[q].req_fd);
	return f->info.ring_slots;
}

uint32_t td_bf_front_rsp_prod(struct td_bf_front *f, unsigned q)
{
	return __atomic_load_n(sr(&f->q[q], SR_RSP_PROD), __ATOMIC_ACQUIRE);
}
