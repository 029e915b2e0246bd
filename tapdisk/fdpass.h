/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Receiving file descriptors passed over a unix socket (SCM_RIGHTS), for
 * the listeners where a frontend hands over its memfd and eventfds: the
 * shm ring export (tapdisk/export-shm.c) and the xenbus shm deposit
 * (tapdisk/xenbus-shm.c). Control path, loop thread; never blocks.
 */
#ifndef TD_FDPASS_H
#define TD_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Most fds one td_fdpass_recv call can keep (an shm CONNECT needs 33). */
#define TD_FDPASS_MAX 64u

/*
 * Reads one packet of at most @len bytes from socket @fd into @buf, without
 * waiting (MSG_DONTWAIT). Every fd that came with it is received
 * close-on-exec: the first @max (<= TD_FDPASS_MAX) are stored in @fds and
 * counted in *@nfds, any beyond are closed here, so none leaks. The caller
 * owns the stored fds whatever the result (td_fdpass_close releases them).
 * Sets *@trunc if the data or the fds did not fit. Returns the packet
 * length, 0 on EOF, or -errno (-EAGAIN: nothing to read; then *@nfds is 0).
 */
ssize_t td_fdpass_recv(int fd, void *buf, size_t len, int *fds,
		       unsigned max, unsigned *nfds, bool *trunc);

/* Closes the @n fds of @fds, skipping negative entries (taken ones). */
void td_fdpass_close(const int *fds, unsigned n);

#endif
