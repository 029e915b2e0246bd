// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shm ring listener, a per-VBD export: a unix SOCK_SEQPACKET socket
 * at RUN_DIR/tapdisk-PID-MINOR.blkif where a frontend hands over its memfd
 * and eventfds and connects its rings (protocol: include/td-shm.h). Each
 * accepted socket is one frontend device; closing it disconnects the
 * rings. Control path: allocation is fine here, the rings themselves
 * preallocate everything at connect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "td-log.h"
#include "td-shm.h"
#include "blkif.h"
#include "fdpass.h"
#include "server.h"
#include "vbd.h"
#include "xport.h"

/* Sockets accepted at once: connected frontends plus some negotiating. */
#define SHM_MAX_SOCKS (2 * TD_SHM_MAX_CONNS)

struct shm_export;

struct shm_conn {
	struct shm_export *ex;
	int fd; /* -1: slot unused */
	struct td_loop_fd watch;
	struct td_loop_timer hello;
	struct td_blkif *blkif;
};

struct shm_export {
	struct td_vbd *vbd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	struct td_loop_fd lwatch;
	struct shm_conn conns[SHM_MAX_SOCKS];
};

static struct td_loop *ex_loop(struct shm_export *ex)
{
	return &ex->vbd->srv->loop;
}

static void conn_close(struct shm_conn *c)
{
	struct td_loop *loop = ex_loop(c->ex);

	if (c->fd < 0)
		return;
	td_loop_fd_del(loop, &c->watch);
	td_loop_timer_cancel(loop, &c->hello);
	if (c->blkif) {
		td_blkif_disconnect(c->blkif);
		c->blkif = NULL;
		td_info(TD_SUB_RING, "vbd %d: shm frontend disconnected",
			c->ex->vbd->minor);
	}
	close(c->fd);
	c->fd = -1;
}

static unsigned connected_count(struct shm_export *ex)
{
	unsigned i, n = 0;

	for (i = 0; i < SHM_MAX_SOCKS; i++)
		if (ex->conns[i].fd >= 0 && ex->conns[i].blkif)
			n++;
	return n;
}

static void send_reply(struct shm_conn *c, int status, const char *msg)
{
	struct td_blkif_back back;
	int rc;

	memset(&back, 0, sizeof(back));
	if (!status)
		td_blkif_advertise(c->ex->vbd, NULL, &back);
	/* A peer that does not read its replies only hurts itself. */
	rc = td_xport_shm_reply(c->fd, status, msg, &back);
	if (rc)
		td_dbg(TD_SUB_RING, "vbd %d: shm reply: %s",
		       c->ex->vbd->minor, strerror(-rc));
}

/* The VBD closed under a connected frontend. */
static void conn_gone(void *arg)
{
	struct shm_conn *c = arg;

	c->blkif = NULL; /* it frees itself */
	conn_close(c);
}

/* On return *@consumed says whether the fds now belong to a transport. */
static int do_connect(struct shm_conn *c, const struct td_blkif_front *f,
		      int *fds, unsigned nfds, bool *consumed, char *err,
		      size_t errlen)
{
	int req[TD_SHM_MAX_QUEUES], rsp[TD_SHM_MAX_QUEUES];
	struct td_xport *xp;
	unsigned q;
	int rc;

	*consumed = false;
	if (c->blkif) {
		snprintf(err, errlen, "already connected");
		return -EPROTO;
	}
	if (connected_count(c->ex) >= TD_SHM_MAX_CONNS) {
		snprintf(err, errlen, "too many frontends");
		return -EBUSY;
	}
	if (f->num_queues < 1 || f->num_queues > TD_SHM_MAX_QUEUES ||
	    nfds != TD_SHM_CONNECT_NFDS(f->num_queues)) {
		snprintf(err, errlen, "%u fds for %u queues", nfds,
			 f->num_queues);
		return -EINVAL;
	}
	for (q = 0; q < f->num_queues; q++) {
		req[q] = fds[TD_SHM_FD_REQ(q)];
		rsp[q] = fds[TD_SHM_FD_RSP(q)];
	}
	rc = td_xport_shm_create(fds[TD_SHM_FD_MEM], req, rsp, f->num_queues,
				 &xp);
	if (rc) {
		snprintf(err, errlen, "%s",
			 rc == -EPERM ? "memfd lacks F_SEAL_SHRINK" :
					"bad memfd or eventfd");
		return rc;
	}
	*consumed = true;
	rc = td_blkif_connect(c->ex->vbd, xp, f, NULL, NULL, conn_gone, c,
			      &c->blkif, err, errlen);
	if (rc) {
		c->blkif = NULL;
		/* The transport owns the fds now; it closes them. */
		td_xport_destroy(xp);
		return rc;
	}
	return 0;
}

/* Handles one packet; returns false if the connection must close. */
static bool handle_packet(struct shm_conn *c, const struct td_shm_connect_msg
			  *m, size_t n, int *fds, unsigned nfds, bool trunc)
{
	char err[128] = "";
	bool consumed = false;
	int rc = 0;

	if (trunc || n < sizeof(m->hdr) || m->hdr.magic != TD_SHM_MAGIC ||
	    m->hdr.version != TD_SHM_VERSION || m->hdr.size != n -
	    sizeof(m->hdr) || c->blkif) {
		snprintf(err, sizeof(err), "protocol error");
		rc = -EPROTO;
	} else if (m->hdr.type == TD_SHM_QUERY && m->hdr.size == 0 &&
		   nfds == 0) {
		send_reply(c, 0, NULL);
		return true;
	} else if (m->hdr.type == TD_SHM_CONNECT &&
		   m->hdr.size == sizeof(m->front)) {
		rc = do_connect(c, &m->front, fds, nfds, &consumed, err,
				sizeof(err));
		if (!rc) {
			td_loop_timer_cancel(ex_loop(c->ex), &c->hello);
			send_reply(c, 0, NULL);
			return true;
		}
		if (!consumed)
			td_fdpass_close(fds, nfds);
		send_reply(c, rc, err);
		td_log(TD_LOG_WARN, TD_SUB_RING,
		       "vbd %d: shm connect refused: %s", c->ex->vbd->minor,
		       err);
		return false;
	} else {
		snprintf(err, sizeof(err), "protocol error");
		rc = -EPROTO;
	}
	td_fdpass_close(fds, nfds);
	send_reply(c, rc, err);
	return false;
}

static void conn_cb(struct td_loop_fd *f, uint32_t events)
{
	struct shm_conn *c = f->arg;
	struct td_shm_connect_msg m;
	int fds[TD_SHM_MAX_FDS];
	unsigned nfds;
	bool trunc;
	ssize_t n;

	n = td_fdpass_recv(c->fd, &m, sizeof(m), fds, TD_SHM_MAX_FDS, &nfds,
			    &trunc);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		td_fdpass_close(fds, nfds);
		conn_close(c);
		return;
	}
	if (!handle_packet(c, &m, (size_t)n, fds, nfds, trunc))
		conn_close(c);
}

static void hello_cb(struct td_loop_timer *t)
{
	struct shm_conn *c = t->arg;

	td_log(TD_LOG_WARN, TD_SUB_RING,
	       "vbd %d: shm peer did not connect in time", c->ex->vbd->minor);
	conn_close(c);
}

static void listen_cb(struct td_loop_fd *f, uint32_t events)
{
	struct shm_export *ex = f->arg;
	struct shm_conn *c = NULL;
	unsigned i;
	int fd;

	fd = accept4(ex->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (i = 0; i < SHM_MAX_SOCKS && !c; i++)
		if (ex->conns[i].fd < 0)
			c = &ex->conns[i];
	if (!c) {
		td_log(TD_LOG_WARN, TD_SUB_RING,
		       "vbd %d: too many shm sockets, refusing one",
		       ex->vbd->minor);
		close(fd);
		return;
	}
	c->fd = fd;
	c->blkif = NULL;
	c->watch.fd = fd;
	c->watch.events = TD_EV_IN;
	c->watch.cb = conn_cb;
	c->watch.arg = c;
	if (td_loop_fd_add(ex_loop(ex), &c->watch)) {
		close(fd);
		c->fd = -1;
		return;
	}
	td_loop_timer_arm(ex_loop(ex), &c->hello,
			  (uint64_t)TD_SHM_HELLO_MS * TD_NS_PER_MS);
}

static int listen_on(struct shm_export *ex, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ex->path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* The name has our pid in it: anything there is a stale leftover. */
	unlink(ex->path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(ex->path, 0600) < 0 || listen(fd, SHM_MAX_SOCKS) < 0)
		goto fail;
	ex->lfd = fd;
	return 0;
fail:
	rc = -errno;
	snprintf(err, errlen, "shm socket %s: %s", ex->path, strerror(errno));
	if (fd >= 0) {
		close(fd);
		unlink(ex->path);
	}
	return rc;
}

static int shm_start(struct td_vbd *vbd, unsigned slot, char *err,
		     size_t errlen)
{
	struct td_server *srv = vbd->srv;
	struct shm_export *ex;
	unsigned i;
	int rc;

	vbd->export_priv[slot] = NULL;
	if (vbd->export_opts.no_shm)
		return 0;
	ex = calloc(1, sizeof(*ex));
	if (!ex) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ex->vbd = vbd;
	ex->lfd = -1;
	if ((size_t)snprintf(ex->path, sizeof(ex->path), TD_SHM_SOCK_FMT,
			     srv->run_dir, (int)srv->pid, vbd->minor) >=
	    sizeof(ex->path)) {
		snprintf(err, errlen, "shm socket path too long");
		free(ex);
		return -ENAMETOOLONG;
	}
	for (i = 0; i < SHM_MAX_SOCKS; i++) {
		ex->conns[i].ex = ex;
		ex->conns[i].fd = -1;
		ex->conns[i].hello.cb = hello_cb;
		ex->conns[i].hello.arg = &ex->conns[i];
		td_list_init(&ex->conns[i].hello.link);
	}
	rc = listen_on(ex, err, errlen);
	if (rc) {
		free(ex);
		return rc;
	}
	ex->lwatch.fd = ex->lfd;
	ex->lwatch.events = TD_EV_IN;
	ex->lwatch.cb = listen_cb;
	ex->lwatch.arg = ex;
	rc = td_loop_fd_add(&srv->loop, &ex->lwatch);
	if (rc) {
		snprintf(err, errlen, "cannot watch the shm socket");
		close(ex->lfd);
		unlink(ex->path);
		free(ex);
		return rc;
	}
	vbd->export_priv[slot] = ex;
	td_info(TD_SUB_RING, "vbd %d: shm rings on %s", vbd->minor, ex->path);
	return 0;
}

static void shm_stop(struct td_vbd *vbd, unsigned slot)
{
	struct shm_export *ex = vbd->export_priv[slot];
	unsigned i;

	if (!ex)
		return;
	for (i = 0; i < SHM_MAX_SOCKS; i++)
		conn_close(&ex->conns[i]);
	td_loop_fd_del(&vbd->srv->loop, &ex->lwatch);
	close(ex->lfd);
	unlink(ex->path);
	free(ex);
	vbd->export_priv[slot] = NULL;
}

static void shm_describe(struct td_vbd *vbd, unsigned slot,
			 struct td_stats_sink *s)
{
	struct shm_export *ex = vbd->export_priv[slot];

	if (ex)
		s->str(s, TD_SHM_DESCRIBE_KEY, ex->path);
}

const struct td_export_ops td_export_shm = {
	.name = "shm",
	.start = shm_start,
	.stop = shm_stop,
	.describe = shm_describe,
};
