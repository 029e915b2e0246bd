/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers of the ring component tests: a server fixture running the real
 * loop, VBD and drivers in-process (I/O through the real aio backend or
 * the fake one that holds completions), and a minimal single-threaded shm
 * frontend that never blocks, so the test can interleave "guest" actions
 * with loop iterations. Requests are encoded with the simulated
 * frontend's ABI code (tests/blkfront/bf-abi.c), written independently of
 * the daemon's decoder. Test code only: failures abort via Check.
 */
#ifndef TD_RING_FRONT_H
#define TD_RING_FRONT_H

#include <stdbool.h>
#include <stdint.h>
#include "td-shm.h"
#include "bf-abi.h"
#include "server.h"
#include "vbd.h"
#include "blkif.h"

struct rt {
	char dir[64];
	struct td_server srv;
	bool fake_io;
	bool hold; /* fake I/O: rt_spin leaves completions held */
};

/* Sets up a server (run dir in /tmp, loop, I/O backend). */
void rt_setup(struct rt *t, bool fake_io);
/* Tears it down; every VBD must be closed. */
void rt_teardown(struct rt *t);
/* Creates minor @minor and opens @spec on it; asserts success. */
struct td_vbd *rt_open(struct rt *t, int minor, const char *spec,
		       unsigned flags);
/* Closes and destroys @vbd, releasing fake I/O as needed. */
void rt_close(struct rt *t, struct td_vbd *vbd);
/*
 * Runs loop iterations until nothing is left to do right now, releasing
 * fake I/O completions unless t->hold.
 */
void rt_spin(struct rt *t);
/* Creates a file of @bytes in the run dir filled with @fill; its path. */
const char *rt_file(struct rt *t, const char *name, size_t bytes, int fill);

struct rf_rsp {
	uint64_t id;
	uint8_t op;
	int16_t status;
};

struct rf_queue {
	uint8_t *sring;
	unsigned size;
	uint32_t req_pvt, rsp_cons;
	int req_fd, rsp_fd;
};

#define RF_RING_AREA 16u /* pages reserved per queue for its ring */

struct rf {
	enum td_bf_abi abi;
	int memfd;
	uint8_t *mem;
	uint32_t npages;
	unsigned order, nq;
	struct rf_queue q[TD_SHM_MAX_QUEUES];
	uint32_t data_first, data_next;
	struct td_blkif_front front;
	struct td_blkif *b;      /* direct connection, or NULL */
	bool always_notify;
};

/*
 * Builds the frontend's memfd (@npages data pages after the ring area),
 * rings (their refs deliberately in reverse page order) and eventfds.
 */
void rf_init(struct rf *f, enum td_bf_abi abi, unsigned order, unsigned nq,
	     bool persistent, uint32_t npages);
/* Connects directly with td_blkif_connect; returns its result. */
int rf_connect(struct rf *f, struct td_vbd *vbd,
	       const struct td_blkif_config *cfg);
/* Fills the CONNECT fd array (dups: caller closes) and returns its size. */
unsigned rf_fds(struct rf *f, int *fds);
/* Disconnects (if direct) and frees everything. */
void rf_fini(struct rf *f);

/* The next data page (round robin over the data area). */
uint32_t rf_page_alloc(struct rf *f);
uint8_t *rf_page(struct rf *f, uint32_t gref);

/* Writes @r at queue @q's private producer index. */
void rf_put(struct rf *f, unsigned q, const struct td_bf_req *r);
/* Publishes and notifies if the backend asked (or always_notify). */
void rf_push(struct rf *f, unsigned q);
/* Reads up to @max new responses. */
unsigned rf_reap(struct rf *f, unsigned q, struct rf_rsp *out, unsigned max);

/*
 * Puts @r, pushes, and runs the loop until its response arrives (fake
 * I/O is released as it is submitted). Returns the status.
 */
int16_t rf_do(struct rt *t, struct rf *f, unsigned q, struct td_bf_req *r);

/*
 * Builds a READ or WRITE of @nsect sectors at @sector over fresh pages,
 * segments of up to @per_seg sectors (1..8) each; indirect (one indirect
 * page) when more than 11 segments. For a WRITE, @buf is copied into the
 * pages. Returns the segment count.
 */
unsigned rf_build_rw(struct rf *f, struct td_bf_req *r, uint8_t op,
		     uint64_t sector, const uint8_t *buf, unsigned nsect,
		     unsigned per_seg);
/* After a READ built by rf_build_rw completed: gathers data into @buf. */
void rf_gather(struct rf *f, const struct td_bf_req *r, uint8_t *buf);

/* Synchronous helpers: write or read @nsect sectors; return status. */
int16_t rf_write(struct rt *t, struct rf *f, unsigned q, uint64_t sector,
		 const uint8_t *buf, unsigned nsect);
int16_t rf_read(struct rt *t, struct rf *f, unsigned q, uint64_t sector,
		uint8_t *buf, unsigned nsect);

/* Fills @buf with a pattern unique to (@seed, byte offset). */
void rf_pattern(uint8_t *buf, size_t len, uint32_t seed);

/* Indirect page holder: where rf_build_rw put descriptors. */
#define RF_MAX_IND 256u

#endif
