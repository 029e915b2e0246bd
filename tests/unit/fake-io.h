/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A fake I/O backend for component tests ("fake"). Each submitted command
 * is performed at once, synchronously (preadv/pwritev/fdatasync/discard,
 * with short transfers retried and reads past EOF zero-filled like the
 * real backends), but its completion is HELD until the test releases it,
 * in whatever order the test chooses. A released command's done runs from
 * the loop (a deferred call: the next td_loop_run_once), never from inside
 * submit or a release function. No depth limit. Loop thread only.
 */
#ifndef TD_FAKE_IO_H
#define TD_FAKE_IO_H

#include "io.h"
#include "loop.h"

/* Ops table named "fake"; create ignores depth. */
extern const struct td_io_ops td_fake_io_ops;

/* Creates a fake backend on @loop; free it with td_io_destroy. 0/-errno. */
int td_fake_io_create(struct td_loop *loop, struct td_io **out);

/* Number of commands performed whose completion is still held. */
unsigned td_fake_io_pending(const struct td_io *io);

/*
 * The held command at @index (0 = oldest held), so a test can check what
 * was submitted; NULL if there is none. The iocb still belongs to its
 * submitter.
 */
struct td_iocb *td_fake_io_peek(const struct td_io *io, unsigned index);

/* Releases the held command at @index (0 = oldest). 0 or -ENOENT. */
int td_fake_io_complete(struct td_io *io, unsigned index);

/* Releases every held command, oldest first. Returns how many. */
unsigned td_fake_io_complete_all(struct td_io *io);

/* Releases every held command, newest first. Returns how many. */
unsigned td_fake_io_complete_reverse(struct td_io *io);

/*
 * The next submitted command is not performed; it is held like any other
 * and completes with @err (a negative errno) once released.
 */
void td_fake_io_fail_next(struct td_io *io, int err);

#endif
