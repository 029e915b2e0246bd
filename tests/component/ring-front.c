// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ring test fixture and its minimal frontend; see ring-front.h.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include "fake-io.h"
#include "xport.h"
#include "ring-front.h"

void rt_setup(struct rt *t, bool fake_io)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/test-ring.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	t->fake_io = fake_io;
	/* A server without RPC socket or signals: what VBDs and exports use. */
	td_list_init(&t->srv.vbds);
	td_list_init(&t->srv.images);
	t->srv.sigfd = -1;
	t->srv.pid = getpid();
	snprintf(t->srv.run_dir, sizeof(t->srv.run_dir), "%s", t->dir);
	ck_assert_int_eq(td_loop_init(&t->srv.loop, NULL, NULL), 0);
	if (fake_io) {
		ck_assert_int_eq(td_fake_io_create(&t->srv.loop, &t->srv.io),
				 0);
	} else {
		t->srv.io_ops = td_io_lookup("aio");
		ck_assert_ptr_nonnull(t->srv.io_ops);
		ck_assert_int_eq(t->srv.io_ops->create(&t->srv.loop, 256,
						       &t->srv.io), 0);
	}
}

void rt_teardown(struct rt *t)
{
	char cmd[128];

	ck_assert(td_list_empty(&t->srv.vbds));
	rt_spin(t);
	td_io_destroy(t->srv.io);
	td_loop_fini(&t->srv.loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	ck_assert_int_eq(system(cmd), 0);
}

void rt_spin(struct rt *t)
{
	for (int i = 0; i < 200; i++) {
		bool release = t->fake_io && !t->hold;

		if (release)
			td_fake_io_complete_all(t->srv.io);
		if (td_loop_run_once(&t->srv.loop, 0) <= 0 &&
		    (!release || !td_fake_io_pending(t->srv.io)))
			break;
	}
}

const char *rt_file(struct rt *t, const char *name, size_t bytes, int fill)
{
	static char path[128];
	uint8_t *b = malloc(bytes);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	memset(b, fill, bytes);
	ck_assert_int_eq(pwrite(fd, b, bytes, 0), (ssize_t)bytes);
	free(b);
	close(fd);
	return path;
}

struct td_vbd *rt_open(struct rt *t, int minor, const char *spec,
		       unsigned flags)
{
	struct td_vbd *vbd;
	char err[256] = "";

	ck_assert_int_eq(td_vbd_create(&t->srv, minor, &vbd), 0);
	ck_assert_msg(td_vbd_open(vbd, spec, flags, NULL, err, sizeof(err)) ==
			      0, "open %s: %s", spec, err);
	return vbd;
}

static void closed_cb(struct td_vbd_waiter *w, int err)
{
	*(int *)w->arg = err ? err : 1;
}

void rt_close(struct rt *t, struct td_vbd *vbd)
{
	struct td_vbd_waiter w;
	int done = 0;

	memset(&w, 0, sizeof(w));
	w.done = closed_cb;
	w.arg = &done;
	ck_assert_int_eq(td_vbd_close(vbd, false, &w), 0);
	for (int i = 0; i < 1000 && !done; i++) {
		rt_spin(t);
		if (!done)
			td_loop_run_once(&t->srv.loop, TD_NS_PER_MS);
	}
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(td_vbd_destroy(vbd), 0);
}

/* Frontend ----------------------------------------------------------- */

static uint32_t *idx(struct rf_queue *q, unsigned off)
{
	return (uint32_t *)(q->sring + off);
}

void rf_init(struct rf *f, enum td_bf_abi abi, unsigned order, unsigned nq,
	     bool persistent, uint32_t npages)
{
	size_t bytes;

	memset(f, 0, sizeof(*f));
	f->abi = abi;
	f->order = order;
	f->nq = nq;
	f->npages = nq * RF_RING_AREA + npages;
	bytes = (size_t)f->npages * TD_SHM_PAGE_SIZE;
	f->memfd = memfd_create("rf", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	ck_assert_int_ge(f->memfd, 0);
	ck_assert_int_eq(ftruncate(f->memfd, (off_t)bytes), 0);
	ck_assert_int_eq(fcntl(f->memfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	f->mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->memfd, 0);
	ck_assert(f->mem != MAP_FAILED);
	f->data_first = f->data_next = nq * RF_RING_AREA;

	f->front.ring_page_order = order;
	f->front.num_queues = nq;
	f->front.feature_persistent = persistent;
	snprintf(f->front.protocol, sizeof(f->front.protocol), "%s",
		 abi == TD_BF_ABI_X86_32 ? TD_BLKIF_PROTO_X86_32 :
		 abi == TD_BF_ABI_X86_64 ? TD_BLKIF_PROTO_X86_64 :
					   TD_BLKIF_PROTO_NATIVE);
	for (unsigned q = 0; q < nq; q++) {
		struct rf_queue *rq = &f->q[q];
		unsigned np = 1u << order;

		/* Reverse order: the backend must map them contiguously. */
		for (unsigned i = 0; i < np; i++)
			f->front.ring_ref[q][i] = q * RF_RING_AREA + np - 1 - i;
		/* The ring as the backend sees it, virtually contiguous. */
		rq->sring = mmap(NULL, np * TD_SHM_PAGE_SIZE, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert(rq->sring != MAP_FAILED);
		for (unsigned i = 0; i < np; i++)
			ck_assert(mmap(rq->sring + i * TD_SHM_PAGE_SIZE,
				       TD_SHM_PAGE_SIZE, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_FIXED, f->memfd,
				       (off_t)f->front.ring_ref[q][i] *
					       TD_SHM_PAGE_SIZE) != MAP_FAILED);
		rq->size = td_bf_abi_ring_slots(abi, order);
		/* SHARED_RING_INIT */
		*idx(rq, 4) = 1;
		*idx(rq, 12) = 1;
		rq->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		rq->rsp_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ck_assert(rq->req_fd >= 0 && rq->rsp_fd >= 0);
	}
}

unsigned rf_fds(struct rf *f, int *fds)
{
	fds[TD_SHM_FD_MEM] = dup(f->memfd);
	for (unsigned q = 0; q < f->nq; q++) {
		fds[TD_SHM_FD_REQ(q)] = dup(f->q[q].req_fd);
		fds[TD_SHM_FD_RSP(q)] = dup(f->q[q].rsp_fd);
	}
	return TD_SHM_CONNECT_NFDS(f->nq);
}

int rf_connect(struct rf *f, struct td_vbd *vbd,
	       const struct td_blkif_config *cfg)
{
	int fds[TD_SHM_MAX_FDS], req[TD_SHM_MAX_QUEUES], rsp[TD_SHM_MAX_QUEUES];
	unsigned n = rf_fds(f, fds);
	struct td_xport *xp;
	char err[128] = "";
	int rc;

	for (unsigned q = 0; q < f->nq; q++) {
		req[q] = fds[TD_SHM_FD_REQ(q)];
		rsp[q] = fds[TD_SHM_FD_RSP(q)];
	}
	rc = td_xport_shm_create(fds[0], req, rsp, f->nq, &xp);
	if (rc) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		return rc;
	}
	rc = td_blkif_connect(vbd, xp, &f->front, NULL, cfg, NULL, NULL, &f->b,
			      err, sizeof(err));
	if (rc) {
		td_xport_destroy(xp);
		f->b = NULL;
	}
	return rc;
}

void rf_fini(struct rf *f)
{
	if (f->b)
		td_blkif_disconnect(f->b);
	f->b = NULL;
	for (unsigned q = 0; q < f->nq; q++) {
		munmap(f->q[q].sring, (1u << f->order) * TD_SHM_PAGE_SIZE);
		close(f->q[q].req_fd);
		close(f->q[q].rsp_fd);
	}
	munmap(f->mem, (size_t)f->npages * TD_SHM_PAGE_SIZE);
	close(f->memfd);
}

uint32_t rf_page_alloc(struct rf *f)
{
	uint32_t g = f->data_next++;

	if (f->data_next == f->npages)
		f->data_next = f->data_first;
	return g;
}

uint8_t *rf_page(struct rf *f, uint32_t gref)
{
	ck_assert_uint_lt(gref, f->npages);
	return f->mem + (size_t)gref * TD_SHM_PAGE_SIZE;
}

void rf_put(struct rf *f, unsigned q, const struct td_bf_req *r)
{
	struct rf_queue *rq = &f->q[q];
	size_t ssz = td_bf_abi_slot_size(f->abi);

	td_bf_abi_encode_req(f->abi, r,
			     rq->sring + TD_BF_SRING_HDR +
				     (rq->req_pvt & (rq->size - 1)) * ssz);
	rq->req_pvt++;
}

void rf_push(struct rf *f, unsigned q)
{
	struct rf_queue *rq = &f->q[q];
	uint32_t old = __atomic_load_n(idx(rq, 0), __ATOMIC_RELAXED);
	uint32_t new = rq->req_pvt, evt;
	uint64_t one = 1;

	__atomic_store_n(idx(rq, 0), new, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	evt = __atomic_load_n(idx(rq, 4), __ATOMIC_RELAXED);
	if (f->always_notify || (uint32_t)(new - evt) < (uint32_t)(new - old))
		ck_assert_int_eq(write(rq->req_fd, &one, sizeof(one)), 8);
}

unsigned rf_reap(struct rf *f, unsigned q, struct rf_rsp *out, unsigned max)
{
	struct rf_queue *rq = &f->q[q];
	size_t ssz = td_bf_abi_slot_size(f->abi);
	uint32_t rp;
	unsigned n = 0;
	uint64_t v;

	if (read(rq->rsp_fd, &v, sizeof(v)) < 0)
		(void)errno; /* nothing pending is fine: we poll the index */
	rp = __atomic_load_n(idx(rq, 8), __ATOMIC_ACQUIRE);
	while (rq->rsp_cons != rp && n < max) {
		struct td_bf_rsp r;

		td_bf_abi_decode_rsp(f->abi,
				     rq->sring + TD_BF_SRING_HDR +
					     (rq->rsp_cons & (rq->size - 1)) *
						     ssz,
				     &r);
		out[n].id = r.id;
		out[n].op = r.op;
		out[n].status = r.status;
		n++;
		rq->rsp_cons++;
	}
	*idx(rq, 12) = rq->rsp_cons + 1;
	return n;
}

int16_t rf_do(struct rt *t, struct rf *f, unsigned q, struct td_bf_req *r)
{
	struct rf_rsp rsp;
	static uint64_t next_id = 1000;

	r->id = next_id++;
	rf_put(f, q, r);
	rf_push(f, q);
	for (int i = 0; i < 2000; i++) {
		rt_spin(t);
		if (rf_reap(f, q, &rsp, 1) == 1) {
			ck_assert_uint_eq(rsp.id, r->id);
			return rsp.status;
		}
		td_loop_run_once(&t->srv.loop, TD_NS_PER_MS);
	}
	ck_abort_msg("no response for id %llu", (unsigned long long)r->id);
	return 0;
}

unsigned rf_build_rw(struct rf *f, struct td_bf_req *r, uint8_t op,
		     uint64_t sector, const uint8_t *buf, unsigned nsect,
		     unsigned per_seg)
{
	struct blkif_request_segment segs[RF_MAX_IND];
	unsigned n = 0, done = 0, first = 0;

	memset(r, 0, sizeof(*r));
	while (done < nsect) {
		unsigned cnt = per_seg;
		uint32_t g = rf_page_alloc(f);

		ck_assert_uint_lt(n, RF_MAX_IND);
		if (first + cnt > 8)
			cnt = 8 - first;
		if (cnt > nsect - done)
			cnt = nsect - done;
		segs[n].gref = g;
		segs[n].first_sect = (uint8_t)first;
		segs[n].last_sect = (uint8_t)(first + cnt - 1);
		if (buf && op == BLKIF_OP_WRITE)
			memcpy(rf_page(f, g) + first * 512, buf + done * 512,
			       cnt * 512);
		else
			memset(rf_page(f, g) + first * 512, 0xee, cnt * 512);
		done += cnt;
		n++;
		first = 0;
	}
	r->sector = sector;
	if (n <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		r->op = op;
		r->nr_segments = (uint16_t)n;
		memcpy(r->seg, segs, n * sizeof(segs[0]));
	} else {
		uint32_t ig = rf_page_alloc(f);

		r->op = BLKIF_OP_INDIRECT;
		r->indirect_op = op;
		r->nr_segments = (uint16_t)n;
		memcpy(rf_page(f, ig), segs, n * sizeof(segs[0]));
		r->indirect_grefs[0] = ig;
	}
	return n;
}

void rf_gather(struct rf *f, const struct td_bf_req *r, uint8_t *buf)
{
	const struct blkif_request_segment *segs = r->seg;
	size_t off = 0;

	if (r->op == BLKIF_OP_INDIRECT)
		segs = (const void *)rf_page(f, r->indirect_grefs[0]);
	for (unsigned i = 0; i < r->nr_segments; i++) {
		unsigned len =
			(segs[i].last_sect - segs[i].first_sect + 1) * 512;

		memcpy(buf + off, rf_page(f, segs[i].gref) +
					  segs[i].first_sect * 512, len);
		off += len;
	}
}

int16_t rf_write(struct rt *t, struct rf *f, unsigned q, uint64_t sector,
		 const uint8_t *buf, unsigned nsect)
{
	struct td_bf_req r;

	rf_build_rw(f, &r, BLKIF_OP_WRITE, sector, buf, nsect, 8);
	return rf_do(t, f, q, &r);
}

int16_t rf_read(struct rt *t, struct rf *f, unsigned q, uint64_t sector,
		uint8_t *buf, unsigned nsect)
{
	struct td_bf_req r;
	int16_t st;

	rf_build_rw(f, &r, BLKIF_OP_READ, sector, NULL, nsect, 8);
	st = rf_do(t, f, q, &r);
	if (st == BLKIF_RSP_OKAY)
		rf_gather(f, &r, buf);
	return st;
}

void rf_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 12345;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
}
