// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shm test transport of the xenbus backend (protocol:
 * tapdisk/xenbus-shm.h): a listener where frontends deposit their memfd
 * and eventfds under a token, and the ring-connect ops that turn the
 * deposit named by the frontend's shm-token node into an shm transport.
 * Control path only; lets make check run the real xenstore handshake.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "fdpass.h"
#include "server.h"
#include "xport.h"
#include "xenbus-shm.h"
#include "xenbus-priv.h"

struct xbshm_conn {
	struct xbshm *s;
	struct td_list link;
	int fd;
	struct td_loop_fd watch;
	struct td_loop_timer timer;
	bool deposited, claimed;
	char token[TD_XBSHM_TOKEN_LEN];
	unsigned nq;
	int fds[TD_SHM_MAX_FDS];
	unsigned nfds;
};

struct xbshm {
	struct td_xenbus *xb;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	struct td_loop_fd lwatch;
	struct td_list conns;
	unsigned nconns;
};

void xbshm_conn_close(struct xbshm_conn *c)
{
	struct td_loop *loop = c->s->xb->loop;

	if (c->watch.registered)
		td_loop_fd_del(loop, &c->watch);
	td_loop_timer_cancel(loop, &c->timer);
	if (!c->claimed)
		td_fdpass_close(c->fds, c->nfds);
	close(c->fd);
	td_list_del(&c->link);
	c->s->nconns--;
	free(c);
}

static void reply(struct xbshm_conn *c, int status, const char *msg)
{
	/* A peer that does not read its reply only hurts itself. */
	(void)td_xport_shm_reply(c->fd, status, msg, NULL);
}

static struct xbshm_conn *find_token(struct xbshm *s, const char *token)
{
	struct td_list *pos;

	td_list_for_each(pos, &s->conns) {
		struct xbshm_conn *c =
			td_list_entry(pos, struct xbshm_conn, link);

		if (c->deposited && !c->claimed && !strcmp(c->token, token))
			return c;
	}
	return NULL;
}

/* Checks one DEPOSIT; returns 0 or -errno with @why. */
static int check_deposit(struct xbshm_conn *c,
			 const struct td_xbshm_deposit_msg *m, ssize_t n,
			 bool trunc, const char **why)
{
	const struct td_xbshm_deposit *d = &m->body;

	*why = "protocol error";
	if (trunc || n != (ssize_t)sizeof(*m) || m->hdr.magic != TD_SHM_MAGIC ||
	    m->hdr.version != TD_SHM_VERSION ||
	    m->hdr.type != TD_XBSHM_DEPOSIT || m->hdr.size != sizeof(*d) ||
	    d->pad0)
		return -EPROTO;
	*why = "bad token";
	if (!memchr(d->token, '\0', sizeof(d->token)) || !d->token[0])
		return -EINVAL;
	*why = "queue count and fds do not match";
	if (d->num_queues < 1 || d->num_queues > TD_SHM_MAX_QUEUES ||
	    c->nfds != TD_SHM_CONNECT_NFDS(d->num_queues))
		return -EINVAL;
	*why = "token already deposited";
	if (find_token(c->s, d->token))
		return -EEXIST;
	return 0;
}

static void conn_cb(struct td_loop_fd *f, uint32_t events)
{
	struct xbshm_conn *c = f->arg;
	struct td_xbshm_deposit_msg m;
	const char *why;
	bool trunc = false;
	ssize_t n;
	int rc;

	(void)events;
	if (c->deposited) {
		char b;

		/* Anything but silence after the deposit ends it. */
		n = recv(c->fd, &b, 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		xbshm_conn_close(c);
		return;
	}
	memset(&m, 0, sizeof(m));
	n = td_fdpass_recv(c->fd, &m, sizeof(m), c->fds, TD_SHM_MAX_FDS,
			    &c->nfds, &trunc);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		xbshm_conn_close(c);
		return;
	}
	rc = check_deposit(c, &m, n, trunc, &why);
	if (rc) {
		reply(c, rc, why);
		xbshm_conn_close(c);
		return;
	}
	memcpy(c->token, m.body.token, sizeof(c->token));
	c->nq = m.body.num_queues;
	c->deposited = true;
	reply(c, 0, "");
	td_dbg(TD_SUB_XS, "shm deposit \"%s\": %u queue(s)", c->token, c->nq);
}

static void conn_timeout(struct td_loop_timer *t)
{
	struct xbshm_conn *c = t->arg;

	td_warn(TD_SUB_XS, "shm deposit \"%s\" never claimed, dropped",
		c->token);
	xbshm_conn_close(c);
}

static void listen_cb(struct td_loop_fd *f, uint32_t events)
{
	struct xbshm *s = f->arg;
	struct xbshm_conn *c;
	int fd;

	(void)events;
	fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->nconns >= TD_XBSHM_MAX_DEPOSITS ||
	    !(c = calloc(1, sizeof(*c)))) {
		td_warn(TD_SUB_XS, "xenbus shm: too many deposits");
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	c->watch.fd = fd;
	c->watch.events = TD_EV_IN;
	c->watch.cb = conn_cb;
	c->watch.arg = c;
	td_list_init(&c->timer.link);
	c->timer.cb = conn_timeout;
	c->timer.arg = c;
	if (td_loop_fd_add(s->xb->loop, &c->watch)) {
		close(fd);
		free(c);
		return;
	}
	td_list_add_tail(&c->link, &s->conns);
	s->nconns++;
	td_loop_timer_arm(s->xb->loop, &c->timer,
			  (uint64_t)TD_XBSHM_DEPOSIT_MS * TD_NS_PER_MS);
}

void xbshm_destroy(struct xbshm *s)
{
	struct td_list *pos, *tmp;

	if (!s)
		return;
	td_list_for_each_safe(pos, tmp, &s->conns)
		xbshm_conn_close(td_list_entry(pos, struct xbshm_conn, link));
	td_loop_fd_del(s->xb->loop, &s->lwatch);
	close(s->lfd);
	unlink(s->path);
	free(s);
}

static int xbshm_get(struct td_xenbus *xb, struct xbshm **out)
{
	struct td_server *srv = xb->srv;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct xbshm *s;
	int rc;

	if (xb->shm) {
		*out = xb->shm;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->xb = xb;
	td_list_init(&s->conns);
	if ((size_t)snprintf(s->path, sizeof(s->path), TD_XBSHM_SOCK_FMT,
			     srv->run_dir, (int)srv->pid) >= sizeof(s->path)) {
		free(s);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, s->path, sizeof(s->path));
	s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (s->lfd < 0) {
		rc = -errno;
		free(s);
		return rc;
	}
	/* The name has our pid in it: anything there is a stale leftover. */
	unlink(s->path);
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(s->path, 0600) < 0 || listen(s->lfd, 16) < 0) {
		rc = -errno;
		goto fail;
	}
	s->lwatch.fd = s->lfd;
	s->lwatch.events = TD_EV_IN;
	s->lwatch.cb = listen_cb;
	s->lwatch.arg = s;
	rc = td_loop_fd_add(xb->loop, &s->lwatch);
	if (rc)
		goto fail;
	xb->shm = s;
	*out = s;
	td_info(TD_SUB_XS, "xenbus shm transport on %s", s->path);
	return 0;
fail:
	close(s->lfd);
	unlink(s->path);
	free(s);
	return rc;
}

static int shm_advertise(struct td_xenbus_dev *dev, uint32_t tx,
			 const char *be)
{
	struct xbshm *s = NULL;
	int rc = xbshm_get(dev->xb, &s);

	return rc ? rc : xb_write(dev->xb, tx, be, TD_XBSHM_NODE_SOCKET, "%s",
				  s->path);
}

static int shm_create(struct td_xenbus_dev *dev, const char *fe,
		      uint32_t domid, unsigned nq, struct td_xport **out,
		      char *err, size_t errlen)
{
	int req[TD_SHM_MAX_QUEUES], rsp[TD_SHM_MAX_QUEUES];
	struct xbshm_conn *c;
	char *token;
	unsigned q;
	int rc;

	(void)domid;
	if (!dev->xb->shm) {
		snprintf(err, errlen, "no shm deposit socket");
		return -ENODEV;
	}
	rc = xb_read(dev->xb, TD_XS_NOTX, fe, TD_XBSHM_NODE_TOKEN, &token);
	if (rc) {
		snprintf(err, errlen, "reading %s/%s: %s", fe,
			 TD_XBSHM_NODE_TOKEN,
			 rc == -ENOENT ? "missing" : strerror(-rc));
		return rc;
	}
	c = find_token(dev->xb->shm, token);
	free(token);
	if (!c) {
		snprintf(err, errlen, "no shm deposit for that %s",
			 TD_XBSHM_NODE_TOKEN);
		return -ENOENT;
	}
	if (c->nq != nq) {
		snprintf(err, errlen, "deposit has %u queue(s), nodes say %u",
			 c->nq, nq);
		return -EINVAL;
	}
	for (q = 0; q < nq; q++) {
		req[q] = c->fds[TD_SHM_FD_REQ(q)];
		rsp[q] = c->fds[TD_SHM_FD_RSP(q)];
	}
	rc = td_xport_shm_create(c->fds[TD_SHM_FD_MEM], req, rsp, nq, out);
	if (rc) {
		snprintf(err, errlen, "deposit: %s",
			 rc == -EPERM ? "memfd lacks F_SEAL_SHRINK" :
					"bad memfd or eventfd");
		xbshm_conn_close(c);
		return rc;
	}
	/* The transport owns the fds now; the socket marks the link. */
	c->claimed = true;
	td_loop_fd_del(dev->xb->loop, &c->watch);
	td_loop_timer_cancel(dev->xb->loop, &c->timer);
	if (dev->shm_link)
		xbshm_conn_close(dev->shm_link);
	dev->shm_link = c;
	return 0;
}

static void shm_release(struct td_xenbus_dev *dev)
{
	if (dev->shm_link) {
		xbshm_conn_close(dev->shm_link);
		dev->shm_link = NULL;
	}
}

const struct td_xenbus_xport_ops td_xenbus_xport_shm = {
	.name = "shm",
	.advertise = shm_advertise,
	.create = shm_create,
	.release = shm_release,
};
