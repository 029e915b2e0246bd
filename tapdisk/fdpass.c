// SPDX-License-Identifier: GPL-2.0-only
/*
 * SCM_RIGHTS reception, shared by the shm listeners so that the fd
 * accounting (every received fd is either handed out or closed) is written
 * once.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "fdpass.h"

ssize_t td_fdpass_recv(int fd, void *buf, size_t len, int *fds,
		       unsigned max, unsigned *nfds, bool *trunc)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * TD_FDPASS_MAX)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, len };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	assert(max <= TD_FDPASS_MAX);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	/*
	 * Room for @max fds (rounded up to alignment): the kernel drops what
	 * does not fit and reports MSG_CTRUNC; the loop below closes any
	 * extra fd the rounding let in.
	 */
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * max);
	*nfds = 0;
	*trunc = false;
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + k * sizeof(int), sizeof(f));
			if (*nfds < max)
				fds[(*nfds)++] = f;
			else
				close(f);
		}
	}
	*trunc = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	return n;
}

void td_fdpass_close(const int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}
