/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Listeners of a VBD's NBD server: a unix socket and optionally TCP. They
 * accept without blocking and hand each socket to a connection
 * (nbd-conn.c). Control path, except accept, which allocates a
 * connection's fixed pool: that is connect time, not the data path.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "image.h"
#include "nbd.h"
#include "nbd-conn.h"
#include "server.h"
#include "td-log.h"
#include "vbd.h"

#define ACCEPT_BATCH 16
#define ACCEPT_RETRY_NS (100 * TD_NS_PER_MS)

static void accept_retry_cb(struct td_loop_timer *t)
{
	struct td_nbd_server *s = t->arg;

	if (s->unix_l.watch.registered)
		td_loop_fd_mod(s->loop, &s->unix_l.watch, TD_EV_IN);
	if (s->tcp_l.watch.registered)
		td_loop_fd_mod(s->loop, &s->tcp_l.watch, TD_EV_IN);
}

/* Out of fds or memory: stop accepting for a moment instead of spinning. */
static void accept_pause(struct td_nbd_server *s, int err)
{
	td_warn(TD_SUB_NBD, "vbd %d nbd: accept: %s, pausing listeners",
		s->vbd->minor, strerror(err));
	if (s->unix_l.watch.registered)
		td_loop_fd_mod(s->loop, &s->unix_l.watch, 0);
	if (s->tcp_l.watch.registered)
		td_loop_fd_mod(s->loop, &s->tcp_l.watch, 0);
	td_loop_timer_arm(s->loop, &s->accept_retry, ACCEPT_RETRY_NS);
}

static void accept_cb(struct td_loop_fd *f, uint32_t events)
{
	struct td_nbd_listener *l = f->arg;
	struct td_nbd_server *s = l->srv;
	int i, fd, one = 1;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause(s, errno);
			/* EAGAIN, or a client gone before we got to it. */
			return;
		}
		if (!l->is_unix)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		td_nbd_server_add_client(s, fd);
	}
}

/*
 * At the client limit, clients that already hung up may still hold slots:
 * their EOF has not been read yet (it can sit later in this very epoll
 * batch). Let those connections see it now, so a client that disconnects
 * and reconnects is not refused for a slot that is in fact free.
 */
static void reap_hung_up(struct td_nbd_server *s)
{
	struct td_list *pos, *tmp;

	td_list_for_each_safe(pos, tmp, &s->conns) {
		struct td_nbd_conn *c =
			td_list_entry(pos, struct td_nbd_conn, link);
		struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };

		if (c->fd < 0 || !c->watch.registered)
			continue;
		if (poll(&p, 1, 0) == 1 &&
		    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			c->watch.cb(&c->watch, TD_EV_IN | TD_EV_HUP);
	}
}

int td_nbd_server_add_client(struct td_nbd_server *s, int fd)
{
	struct td_nbd_conn *c;
	int rc;

	if (s->nconns >= TD_NBD_MAX_CONNS)
		reap_hung_up(s);
	if (s->nconns >= TD_NBD_MAX_CONNS) {
		s->refused++;
		close(fd);
		return -EMFILE;
	}
	s->accepted++;
	rc = td_nbd_conn_create(s, fd, &c);
	if (rc) {
		s->refused++;
		close(fd);
		return rc;
	}
	return 0;
}

static int listen_on(struct td_nbd_server *s, struct td_nbd_listener *l,
		     int fd)
{
	l->srv = s;
	l->watch.fd = fd;
	l->watch.events = TD_EV_IN;
	l->watch.cb = accept_cb;
	l->watch.arg = l;
	if (listen(fd, 64) < 0)
		return -errno;
	return td_loop_fd_add(s->loop, &l->watch);
}

static int listen_unix(struct td_nbd_server *s, const char *path, char *err,
		       size_t errlen)
{
	struct td_nbd_listener *l = &s->unix_l;
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "NBD socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path));
	/* Our path names our pid: anything there is a dead process's. */
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket",
				 path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "NBD socket: %s", strerror(-rc));
		return rc;
	}
	l->watch.fd = fd;
	l->is_unix = true;
	snprintf(l->addr, sizeof(l->addr), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0) {
		rc = -errno;
		snprintf(err, errlen, "NBD socket %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = listen_on(s, l, fd);
	if (rc)
		snprintf(err, errlen, "NBD socket %s: %s", path, strerror(-rc));
	return rc;
}

/* Splits "HOST:PORT" ("[V6]:PORT" too); an empty HOST means loopback. */
static int split_hostport(const char *spec, char *host, size_t hlen,
			  char *port, size_t plen)
{
	const char *colon = strrchr(spec, ':');
	size_t n;

	if (!colon || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	snprintf(port, plen, "%s", colon + 1);
	n = (size_t)(colon - spec);
	if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
		spec++;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	if (!n) {
		snprintf(host, hlen, "127.0.0.1");
		return 0;
	}
	memcpy(host, spec, n);
	host[n] = '\0';
	return 0;
}

/* Records the bound address (the real port when 0 was asked for). */
static void tcp_name(struct td_nbd_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char h[NI_MAXHOST], p[NI_MAXSERV];

	if (getsockname(l->watch.fd, (struct sockaddr *)&ss, &len) ||
	    getnameinfo((struct sockaddr *)&ss, len, h, sizeof(h), p,
			sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV))
		return;
	snprintf(l->addr, sizeof(l->addr),
		 ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

static int listen_tcp(struct td_nbd_server *s, const char *spec, char *err,
		      size_t errlen)
{
	struct td_nbd_listener *l = &s->tcp_l;
	struct addrinfo hints, *ai = NULL;
	char host[NI_MAXHOST], port[16];
	int fd, rc, one = 1;

	if (split_hostport(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "bad NBD TCP address '%s' (HOST:PORT)",
			 spec);
		return -EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "NBD TCP address '%s': %s", spec,
			 gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	l->watch.fd = fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = -errno;
		goto out;
	}
	tcp_name(l);
	rc = listen_on(s, l, fd);
out:
	freeaddrinfo(ai);
	if (rc)
		snprintf(err, errlen, "NBD TCP %s: %s", spec, strerror(-rc));
	return rc;
}

static void listener_close(struct td_nbd_server *s, struct td_nbd_listener *l)
{
	if (l->watch.fd < 0)
		return;
	td_loop_fd_del(s->loop, &l->watch);
	close(l->watch.fd);
	l->watch.fd = -1;
	if (l->is_unix)
		unlink(l->addr);
}

int td_nbd_server_create(struct td_vbd *vbd,
			 const struct td_nbd_server_opts *opts,
			 struct td_nbd_server **out, char *err, size_t errlen)
{
	struct td_nbd_server *s = calloc(1, sizeof(*s));
	struct td_ratelimit rl = TD_RATELIMIT_INIT;
	int rc = 0;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->loop = &vbd->srv->loop;
	s->vbd = vbd;
	s->rl = rl;
	snprintf(s->name, sizeof(s->name), "%d", vbd->minor);
	td_list_init(&s->conns);
	s->unix_l.watch.fd = -1;
	s->tcp_l.watch.fd = -1;
	s->handshake_ns = (uint64_t)(opts->handshake_timeout_ms ?
					     opts->handshake_timeout_ms :
					     TD_NBD_HANDSHAKE_MS) *
			  TD_NS_PER_MS;
	s->accept_retry.cb = accept_retry_cb;
	s->accept_retry.arg = s;
	td_list_init(&s->accept_retry.link);
	if (opts->handshake_timeout_ms > TD_NBD_HANDSHAKE_MAX_MS) {
		snprintf(err, errlen, "NBD handshake timeout over %u ms",
			 TD_NBD_HANDSHAKE_MAX_MS);
		td_nbd_server_destroy(s);
		return -EINVAL;
	}
	if (opts->unix_path && *opts->unix_path)
		rc = listen_unix(s, opts->unix_path, err, errlen);
	if (!rc && opts->tcp && *opts->tcp)
		rc = listen_tcp(s, opts->tcp, err, errlen);
	if (rc) {
		td_nbd_server_destroy(s);
		return rc;
	}
	td_info(TD_SUB_NBD, "vbd %d: NBD on %s%s%s", vbd->minor,
		s->unix_l.addr[0] ? s->unix_l.addr : "-",
		s->tcp_l.addr[0] ? " and " : "", s->tcp_l.addr);
	*out = s;
	return 0;
}

void td_nbd_server_destroy(struct td_nbd_server *s)
{
	listener_close(s, &s->unix_l);
	listener_close(s, &s->tcp_l);
	td_loop_timer_cancel(s->loop, &s->accept_retry);
	td_nbd_conn_drop_all(s);
	free(s);
}

void td_nbd_server_describe(struct td_nbd_server *s,
			    struct td_stats_sink *sink)
{
	if (s->unix_l.watch.fd >= 0)
		sink->str(sink, "nbd_socket", s->unix_l.addr);
	if (s->tcp_l.watch.fd >= 0)
		sink->str(sink, "nbd_tcp", s->tcp_l.addr);
	sink->u64(sink, "nbd_clients", s->nconns);
	sink->u64(sink, "nbd_accepted", s->accepted);
	sink->u64(sink, "nbd_refused", s->refused);
	sink->u64(sink, "nbd_handshake_timeouts", s->handshake_timeouts);
}
