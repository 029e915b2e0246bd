/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the image/driver tests (test-drivers.c, which defines
 * them, and test-drivers-fwd.c). Everything runs in the test process on
 * the real loop and a real I/O backend; failures abort the current Check
 * test.
 */
#ifndef TD_TEST_DRIVERS_H
#define TD_TEST_DRIVERS_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include "image.h"
#include "io.h"
#include "loop.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)

/* A loop, an I/O backend, an image context and a temporary directory. */
struct tdt_env {
	struct td_loop loop;
	struct td_io *io;
	struct td_image_ctx ctx;
	char dir[64];
};

/* Completion record of one request (req->owner points at it). */
struct tdt_waiter {
	int calls;
	int err;
};

/* I/O backend names, indexed by a loop test's _i (0 = aio, 1 = uring). */
extern const char *const tdt_backends[];

/* Sets up @e with backend @backend and image depth @depth. */
void tdt_env_init(struct tdt_env *e, const char *backend, unsigned depth);
/* Tears @e down and removes its directory; images must be closed. */
void tdt_env_fini(struct tdt_env *e);
/* Creates a sparse file @name of @size bytes in the env's directory. */
void tdt_make_file(struct tdt_env *e, const char *name, uint64_t size,
		   char *path, size_t len);

/* Zeroes @req and @w and fills in a request completing into @w. */
void tdt_req_init(struct td_req *req, struct tdt_waiter *w, enum td_op op,
		  uint64_t sector, uint64_t nr, struct iovec *iov, int cnt);
/* Runs the loop until *@count reaches @target (bounded: ~20 s). */
void tdt_run_until(struct tdt_env *e, const int *count, int target);
/*
 * Submits @req to @img, checks it does not complete inside submit nor
 * more than once, and returns its status.
 */
int tdt_submit_wait(struct tdt_env *e, struct td_image *img,
		    struct td_req *req);
/* One request on one buffer (NULL for FLUSH/DISCARD/WRITE_ZEROES). */
int tdt_io(struct tdt_env *e, struct td_image *img, enum td_op op,
	   unsigned flags, uint64_t sector, uint64_t nr, void *buf);
/* The same with @buf cut into iovecs at odd byte positions. */
int tdt_io_split(struct tdt_env *e, struct td_image *img, enum td_op op,
		 uint64_t sector, uint64_t nr, unsigned char *buf);

/* A deterministic byte pattern. */
void tdt_fill(unsigned char *buf, size_t len, unsigned seed);
/* True if all @len bytes of @buf are @v. */
bool tdt_all_bytes(const unsigned char *buf, size_t len, unsigned char v);
/* The u64 stat @key of @img (fails the test if absent). */
uint64_t tdt_stat_of(struct td_image *img, const char *key);

/* The forwarding tests (test-drivers-fwd.c). */
TCase *tdt_forward_tcase(void);

#endif
