/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-xenstored's sockets and loop. Clients are closed only at the end of a
 * loop round ("dead" first), so a request that queues events for other
 * clients never frees something the loop still points at.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "xsd.h"

#define HDR_LEN sizeof(struct xsd_sockmsg)

void xsd_log(const struct xsd_server *s, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	if (!s->cfg.log)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(s->cfg.log, "%lld.%03ld td-xenstored: ", (long long)ts.tv_sec,
		ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(s->cfg.log, fmt, ap);
	va_end(ap);
	fputc('\n', s->cfg.log);
	fflush(s->cfg.log);
}

static void conn_kill(struct xsd_conn *c, const char *why)
{
	if (c->dead)
		return;
	xsd_log(c->srv, "conn %u: closing: %s", c->id, why);
	c->dead = true;
}

void xsd_conn_send(struct xsd_conn *c, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *a, size_t alen, const void *b,
		   size_t blen)
{
	struct xsd_sockmsg h = { .type = type, .req_id = req_id,
				 .tx_id = tx_id };
	struct xsd_out *o;

	if (c->dead)
		return;
	if (alen + blen > XENSTORE_PAYLOAD_MAX) {
		conn_kill(c, "reply over the payload limit");
		return;
	}
	if (c->out_bytes + HDR_LEN + alen + blen > XSD_OUT_HARD) {
		conn_kill(c, "not reading its replies and events");
		return;
	}
	o = malloc(sizeof(*o) + HDR_LEN + alen + blen);
	if (!o) {
		conn_kill(c, "out of memory");
		return;
	}
	h.len = (uint32_t)(alen + blen);
	o->len = HDR_LEN + alen + blen;
	o->off = 0;
	memcpy(o->data, &h, HDR_LEN);
	if (alen)
		memcpy(o->data + HDR_LEN, a, alen);
	if (blen)
		memcpy(o->data + HDR_LEN + alen, b, blen);
	td_list_add_tail(&o->link, &c->out);
	c->out_bytes += o->len;
}

static void conn_flush(struct xsd_conn *c)
{
	while (!c->dead && !td_list_empty(&c->out)) {
		struct xsd_out *o = td_list_entry(c->out.next, struct xsd_out,
						  link);
		ssize_t n = send(c->fd, o->data + o->off, o->len - o->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_kill(c, "write failed");
			return;
		}
		o->off += (size_t)n;
		c->out_bytes -= (size_t)n;
		if (o->off == o->len) {
			td_list_del(&o->link);
			free(o);
		}
	}
}

/*
 * Reads what is available, handling each complete request, up to a budget
 * and while the client's output is below the soft limit.
 */
static void conn_read(struct xsd_conn *c)
{
	struct xsd_sockmsg h;
	unsigned budget = XSD_REQS_PER_WAKEUP;

	while (!c->dead && budget && c->out_bytes < XSD_OUT_SOFT) {
		size_t want = HDR_LEN;
		ssize_t n;

		if (c->in_len >= HDR_LEN) {
			memcpy(&h, c->in, HDR_LEN);
			if (h.len > XENSTORE_PAYLOAD_MAX) {
				/* No way to resynchronise: xenstored closes. */
				conn_kill(c, "payload over the maximum");
				break;
			}
			want += h.len;
			if (c->in_len == want) {
				c->in[want] = '\0';
				xsd_ops_handle(c, &h, (char *)c->in + HDR_LEN);
				c->in_len = 0;
				budget--;
				continue;
			}
		}
		n = read(c->fd, c->in + c->in_len, want - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_kill(c, n ? "read failed" : "hung up");
			break;
		}
		c->in_len += (size_t)n;
	}
	conn_flush(c);
}

static void conn_free(struct xsd_conn *c)
{
	struct td_list *p, *tmp;

	xsd_ops_conn_release(c);
	td_list_for_each_safe(p, tmp, &c->out) {
		td_list_del(p);
		free(td_list_entry(p, struct xsd_out, link));
	}
	td_list_del(&c->link);
	c->srv->nr_conns--;
	close(c->fd);
	free(c);
}

static void accept_clients(struct xsd_server *s)
{
	struct xsd_conn *c;
	unsigned i;
	int fd;

	for (i = 0; i < 16; i++) {
		fd = accept4(s->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (s->nr_conns >= XSD_MAX_CONNS) {
			xsd_log(s, "refusing a client: %u connected",
				s->nr_conns);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		c->id = ++s->next_conn_id;
		td_list_init(&c->out);
		td_list_init(&c->watches);
		td_list_init(&c->txs);
		td_list_add_tail(&c->link, &s->conns);
		s->nr_conns++;
		xsd_log(s, "conn %u: connected", c->id);
	}
}

static void handle_signals(struct xsd_server *s)
{
	struct signalfd_siginfo si;

	while (read(s->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			xsd_tree_dump(&s->tree, stderr);
		} else {
			xsd_log(s, "signal %u: stopping", si.ssi_signo);
			s->stop = true;
		}
	}
}

static void reap_dead(struct xsd_server *s)
{
	struct td_list *p, *tmp;

	td_list_for_each_safe(p, tmp, &s->conns) {
		struct xsd_conn *c = td_list_entry(p, struct xsd_conn, link);

		if (c->dead)
			conn_free(c);
	}
}

int xsd_server_run(struct xsd_server *s)
{
	struct pollfd pfd[XSD_MAX_CONNS + 2];
	struct xsd_conn *map[XSD_MAX_CONNS + 2];
	struct td_list *p;
	unsigned n, i;

	while (!s->stop) {
		pfd[0] = (struct pollfd){ s->listen_fd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ s->signal_fd, POLLIN, 0 };
		n = 2;
		td_list_for_each(p, &s->conns) {
			struct xsd_conn *c = td_list_entry(p, struct xsd_conn,
							   link);
			short ev = 0;

			/* Backpressure: no new requests while output piles. */
			if (c->out_bytes < XSD_OUT_SOFT)
				ev |= POLLIN;
			if (!td_list_empty(&c->out))
				ev |= POLLOUT;
			map[n] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents)
			handle_signals(s);
		for (i = 2; i < n; i++) {
			if (pfd[i].revents & POLLOUT)
				conn_flush(map[i]);
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(map[i]);
		}
		/* Events queued for other clients: try to send them now. */
		td_list_for_each(p, &s->conns)
			conn_flush(td_list_entry(p, struct xsd_conn, link));
		reap_dead(s);
		if (pfd[0].revents)
			accept_clients(s);
	}
	return 0;
}

/* Removes a socket left by a dead daemon; refuses a live one or a file. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!rc)
		return -EADDRINUSE;
	return unlink(path) ? -errno : 0;
}

static int listen_on(struct xsd_server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = s->cfg.socket_path;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	rc = clear_stale(path, &sa);
	if (rc)
		return rc;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				      SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return -errno;
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->listen_fd, 64)) {
		rc = -errno;
		close(s->listen_fd);
		s->listen_fd = -1;
		return rc;
	}
	return 0;
}

int xsd_server_init(struct xsd_server *s, const struct xsd_config *cfg)
{
	sigset_t set;
	int rc;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->listen_fd = s->signal_fd = -1;
	s->next_tx_id = 1;
	td_list_init(&s->conns);
	rc = xsd_tree_init(&s->tree, XSD_MAX_NODES, XSD_MAX_BYTES);
	if (rc)
		return rc;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) ||
	    (s->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) <
		    0) {
		rc = -errno;
		xsd_tree_destroy(&s->tree);
		return rc;
	}
	rc = listen_on(s);
	if (rc) {
		close(s->signal_fd);
		xsd_tree_destroy(&s->tree);
		return rc;
	}
	xsd_log(s, "listening on %s", cfg->socket_path);
	return 0;
}

void xsd_server_fini(struct xsd_server *s)
{
	struct td_list *p, *tmp;

	td_list_for_each_safe(p, tmp, &s->conns)
		conn_free(td_list_entry(p, struct xsd_conn, link));
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->cfg.socket_path);
	}
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	xsd_tree_destroy(&s->tree);
}
