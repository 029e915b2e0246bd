/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control-socket server (see rpc.h and docs/rpc.md). Every byte here
 * comes from a client we do not trust to be well-formed: a bad message
 * costs that client an error reply or its connection, never the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "td-log.h"
#include "td-rpc.h"
#include "rpc.h"
#include "server.h"

/* Connections served at once; one more is told so and closed. */
#define TD_RPC_MAX_CONNS 64
/* Requests of one connection being handled at once before we stop reading. */
#define TD_RPC_MAX_CALLS 16
/* Bytes of replies queued for a client that does not read them. */
#define TD_RPC_MAX_OUT (4u * (TD_RPC_MAX_MSG + TD_RPC_HDR_SIZE))
/* Messages handled per wake-up, so one busy client cannot starve others. */
#define TD_RPC_BATCH 32

struct td_rpc_server {
	struct td_server *srv;
	int fd;
	struct td_loop_fd watch;
	struct td_list conns;
	unsigned nconns;
	unsigned next_conn_id;
	struct td_ratelimit rl; /* for what clients can trigger */
	uid_t uid;
	dev_t sock_dev;
	ino_t sock_ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct td_rpc_conn {
	struct td_rpc_server *rs; /* NULL once the connection is closed */
	int fd;
	unsigned id;
	struct td_loop_fd watch;
	struct td_loop_defer more; /* continue a batch-limited read */
	struct td_list link;
	unsigned refs;   /* the server's list, each call, each callback */
	unsigned ncalls;
	bool closing;    /* close once queued output is sent */
	bool want_out;

	unsigned char hdr[TD_RPC_HDR_SIZE];
	size_t hdr_have;
	char *body;
	uint32_t body_len;
	size_t body_have;

	char *out;
	size_t out_len, out_off, out_cap;
};

struct td_rpc_call {
	struct td_rpc_conn *conn;
	json_t *id;
};

static void conn_close(struct td_rpc_conn *c);

/*
 * Closing a unix socket with unread input makes the peer's reads fail with
 * ECONNRESET, which can hide the error reply we just sent it: read what
 * is already there first (bounded: a client still sending gets the reset).
 */
static void discard_input(int fd)
{
	char buf[4096];
	int i;

	for (i = 0; i < 16; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

static void conn_get(struct td_rpc_conn *c)
{
	c->refs++;
}

static void conn_put(struct td_rpc_conn *c)
{
	if (--c->refs)
		return;
	free(c->body);
	free(c->out);
	free(c);
}

static struct td_loop *conn_loop(struct td_rpc_conn *c)
{
	return &c->rs->srv->loop;
}

/*
 * Watches for input unless the client must first read what we owe it or
 * has too many requests in progress (backpressure instead of buffering).
 */
static void conn_update_events(struct td_rpc_conn *c)
{
	uint32_t ev = 0;

	if (!c->rs)
		return;
	if (!c->closing && c->ncalls < TD_RPC_MAX_CALLS &&
	    c->out_len - c->out_off < TD_RPC_MAX_OUT / 2)
		ev |= TD_EV_IN;
	if (c->out_len > c->out_off)
		ev |= TD_EV_OUT;
	if (ev != c->watch.events)
		td_loop_fd_mod(conn_loop(c), &c->watch, ev);
}

/* Sends what is queued. Returns 0, or -errno after closing @c. */
static int conn_flush(struct td_rpc_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EPIPE;

			td_dbg(TD_SUB_RPC, "rpc conn %u: send: %s", c->id,
			       strerror(-err));
			conn_close(c);
			return err;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing) {
			conn_close(c);
			return -ECONNRESET;
		}
	}
	conn_update_events(c);
	return 0;
}

/* Queues one frame. A client that lets replies pile up is disconnected. */
static int conn_queue(struct td_rpc_conn *c, const char *body, size_t len)
{
	size_t need = c->out_len + TD_RPC_HDR_SIZE + len;

	if (need - c->out_off > TD_RPC_MAX_OUT) {
		td_log_ratelimited(&c->rs->rl, TD_LOG_WARN, TD_SUB_RPC,
				   "rpc conn %u: client does not read its "
				   "replies (%zu bytes queued): closing",
				   c->id, c->out_len - c->out_off);
		conn_close(c);
		return -ENOBUFS;
	}
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		need = c->out_len + TD_RPC_HDR_SIZE + len;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			conn_close(c);
			return -ENOMEM;
		}
		c->out = p;
		c->out_cap = cap;
	}
	td_rpc_put_len((unsigned char *)c->out + c->out_len, (uint32_t)len);
	memcpy(c->out + c->out_len + TD_RPC_HDR_SIZE, body, len);
	c->out_len += TD_RPC_HDR_SIZE + len;
	return 0;
}

json_t *td_rpc_string(const char *s)
{
	json_t *j;
	char *copy, *p;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	/* Not UTF-8 (a path can hold any byte): keep the ASCII part. */
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *error_object(int err, const char *msg)
{
	if (err > 0)
		err = -err;
	return json_pack("{s:i, s:s, s:o}", "code", err, "name",
			 td_errno_name(-err), "message", td_rpc_string(msg));
}

/*
 * Builds and queues a reply: @payload (stolen) under "result" or "error".
 * Falls back to an error reply when the result would exceed the frame
 * limit, so the client always hears back.
 */
static void conn_send(struct td_rpc_conn *c, json_t *id, const char *key,
		      json_t *payload)
{
	json_t *msg;
	char *s = NULL;

	if (!c->rs) {
		json_decref(payload);
		return;
	}
	msg = json_pack("{s:i, s:O?, s:o}", "version", TD_RPC_VERSION, "id",
			id, key, payload);
	if (msg)
		s = json_dumps(msg, JSON_COMPACT);
	if (s && strlen(s) > TD_RPC_MAX_MSG) {
		free(s);
		s = NULL;
		json_decref(msg);
		msg = json_pack("{s:i, s:O?, s:o}", "version", TD_RPC_VERSION,
				"id", id, "error",
				error_object(-E2BIG, "reply too large for one "
						     "message"));
		if (msg)
			s = json_dumps(msg, JSON_COMPACT);
	}
	json_decref(msg);
	if (!s) {
		td_err(TD_SUB_RPC, "rpc conn %u: cannot encode reply: closing",
		       c->id);
		conn_close(c);
		return;
	}
	if (conn_queue(c, s, strlen(s)) == 0)
		conn_flush(c);
	free(s);
}

static void conn_send_error(struct td_rpc_conn *c, json_t *id, int err,
			    const char *msg)
{
	conn_send(c, id, "error", error_object(err, msg));
}

static void call_free(struct td_rpc_call *call)
{
	struct td_rpc_conn *c = call->conn;

	json_decref(call->id);
	free(call);
	c->ncalls--;
	conn_update_events(c);
	conn_put(c);
}

void td_rpc_reply(struct td_rpc_call *call, json_t *result)
{
	if (!result)
		result = json_object();
	conn_send(call->conn, call->id, "result", result);
	call_free(call);
}

void td_rpc_error(struct td_rpc_call *call, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	td_dbg(TD_SUB_RPC, "rpc conn %u: error %s: %s", call->conn->id,
	       td_errno_name(err < 0 ? -err : err), msg);
	conn_send_error(call->conn, call->id, err, msg);
	call_free(call);
}

static const struct td_rpc_handler *find_handler(const char *type)
{
	const struct td_rpc_handler *h;

	for (h = td_rpc_handlers; h->type; h++)
		if (!strcmp(h->type, type))
			return h;
	return NULL;
}

/*
 * Checks the envelope {version, id, type, args}. On a problem, replies
 * (with the request's id when it could be read, else id null) and returns
 * NULL; else returns the handler and sets *id and *args (borrowed, *args
 * NULL if absent).
 */
static const struct td_rpc_handler *check_envelope(struct td_rpc_conn *c,
						   json_t *msg, json_t **id,
						   json_t **args)
{
	const struct td_rpc_handler *h;
	json_t *ver, *type;
	char m[160];

	if (!json_is_object(msg)) {
		conn_send_error(c, NULL, -EBADMSG,
				"a message must be a JSON object");
		return NULL;
	}
	*id = json_object_get(msg, "id");
	if (!*id || !(json_is_integer(*id) || json_is_string(*id))) {
		conn_send_error(c, NULL, -EBADMSG,
				"\"id\" missing or not an integer or string");
		return NULL;
	}
	ver = json_object_get(msg, "version");
	if (!json_is_integer(ver)) {
		conn_send_error(c, *id, -EBADMSG,
				"\"version\" missing or not an integer");
		return NULL;
	}
	if (json_integer_value(ver) != TD_RPC_VERSION) {
		snprintf(m, sizeof(m),
			 "protocol version %" JSON_INTEGER_FORMAT
			 " not supported (this tapdisk speaks %d)",
			 json_integer_value(ver), TD_RPC_VERSION);
		conn_send_error(c, *id, -EPROTONOSUPPORT, m);
		return NULL;
	}
	type = json_object_get(msg, "type");
	if (!json_is_string(type)) {
		conn_send_error(c, *id, -EBADMSG,
				"\"type\" missing or not a string");
		return NULL;
	}
	*args = json_object_get(msg, "args");
	if (*args && !json_is_object(*args)) {
		conn_send_error(c, *id, -EBADMSG, "\"args\" is not an object");
		return NULL;
	}
	h = find_handler(json_string_value(type));
	if (!h) {
		snprintf(m, sizeof(m), "unknown message type \"%.64s\"",
			 json_string_value(type));
		conn_send_error(c, *id, -EOPNOTSUPP, m);
	}
	return h;
}

/* Hands a checked request to its handler, which now owns a call. */
static void conn_dispatch(struct td_rpc_conn *c, json_t *msg)
{
	const struct td_rpc_handler *h;
	struct td_rpc_call *call;
	json_t *id = NULL, *args = NULL, *empty = NULL;
	int ret;

	h = check_envelope(c, msg, &id, &args);
	if (!h)
		return;
	call = calloc(1, sizeof(*call));
	if (!args)
		args = empty = json_object();
	if (!call || !args) {
		free(call);
		json_decref(empty);
		conn_send_error(c, id, -ENOMEM, "out of memory");
		return;
	}
	call->conn = c;
	call->id = json_incref(id);
	conn_get(c);
	c->ncalls++;
	ret = h->fn(c->rs->srv, call, args);
	json_decref(empty);
	if (ret < 0)
		td_rpc_error(call, ret, "%s: %s", h->type, strerror(-ret));
}

static void conn_message(struct td_rpc_conn *c)
{
	json_error_t jerr;
	json_t *msg;

	msg = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!msg) {
		char m[256];

		snprintf(m, sizeof(m), "malformed JSON at byte %d: %s",
			 jerr.position, jerr.text);
		td_log_ratelimited(&c->rs->rl, TD_LOG_WARN, TD_SUB_RPC,
				   "rpc conn %u: %s", c->id, m);
		conn_send_error(c, NULL, -EBADMSG, m);
		return;
	}
	conn_dispatch(c, msg);
	json_decref(msg);
}

/*
 * Reads what is available of the current frame. Returns 1 when a whole
 * message is in c->body, 0 when the socket is drained, or -errno after
 * closing @c (EOF, error, or a length that breaks the framing).
 */
static int conn_read_frame(struct td_rpc_conn *c)
{
	ssize_t n;

	while (c->hdr_have < TD_RPC_HDR_SIZE) {
		n = recv(c->fd, c->hdr + c->hdr_have,
			 TD_RPC_HDR_SIZE - c->hdr_have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			goto gone;
		c->hdr_have += (size_t)n;
		if (c->hdr_have < TD_RPC_HDR_SIZE)
			continue;
		c->body_len = td_rpc_get_len(c->hdr);
		if (c->body_len > TD_RPC_MAX_MSG) {
			char m[128];

			td_log_ratelimited(&c->rs->rl, TD_LOG_WARN, TD_SUB_RPC,
					   "rpc conn %u: frame of %u bytes "
					   "exceeds %u: closing", c->id,
					   c->body_len, TD_RPC_MAX_MSG);
			snprintf(m, sizeof(m),
				 "message of %u bytes exceeds the limit of %u",
				 c->body_len, TD_RPC_MAX_MSG);
			/* The stream cannot be resynchronised: say why, go. */
			c->closing = true;
			conn_send_error(c, NULL, -EMSGSIZE, m);
			if (c->rs)
				conn_flush(c);
			return -EMSGSIZE;
		}
		c->body = malloc(c->body_len ? c->body_len : 1);
		if (!c->body) {
			conn_close(c);
			return -ENOMEM;
		}
		c->body_have = 0;
	}
	while (c->body_have < c->body_len) {
		n = recv(c->fd, c->body + c->body_have,
			 c->body_len - c->body_have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			goto gone;
		c->body_have += (size_t)n;
	}
	return 1;

gone:
	if (n < 0)
		td_dbg(TD_SUB_RPC, "rpc conn %u: recv: %s", c->id,
		       strerror(errno));
	else if (c->hdr_have || c->body_have)
		td_log_ratelimited(&c->rs->rl, TD_LOG_INFO, TD_SUB_RPC,
				   "rpc conn %u: peer closed mid-message",
				   c->id);
	conn_close(c);
	return n < 0 ? -errno : -ECONNRESET;
}

static void conn_read(struct td_rpc_conn *c)
{
	unsigned i;

	conn_get(c);
	for (i = 0; i < TD_RPC_BATCH; i++) {
		if (!c->rs || c->closing || c->ncalls >= TD_RPC_MAX_CALLS)
			break;
		if (conn_read_frame(c) <= 0)
			break;
		if (c->body_len == 0)
			conn_send_error(c, NULL, -EBADMSG, "empty message");
		else
			conn_message(c);
		free(c->body);
		c->body = NULL;
		c->hdr_have = 0;
		c->body_len = 0;
		c->body_have = 0;
	}
	/* Input may remain: let other clients run first, then continue. */
	if (i == TD_RPC_BATCH && c->rs)
		td_loop_defer(conn_loop(c), &c->more);
	conn_update_events(c);
	conn_put(c);
}

static void conn_more(struct td_loop_defer *d)
{
	conn_read(d->arg);
}

static void conn_event(struct td_loop_fd *f, uint32_t events)
{
	struct td_rpc_conn *c = f->arg;

	conn_get(c);
	if (events & TD_EV_OUT)
		conn_flush(c);
	if (c->rs && (events & (TD_EV_IN | TD_EV_HUP | TD_EV_ERR)))
		conn_read(c);
	/*
	 * The peer is gone but reading stopped early (too many calls in
	 * progress): HUP would fire again at once, and nothing we send can
	 * arrive. Calls in progress finish; their replies are dropped.
	 */
	if (c->rs && (events & (TD_EV_HUP | TD_EV_ERR)) &&
	    (c->closing || c->ncalls >= TD_RPC_MAX_CALLS ||
	     (events & TD_EV_ERR)))
		conn_close(c);
	conn_put(c);
}

/* Drops the connection; calls in progress keep it alive until they end. */
static void conn_close(struct td_rpc_conn *c)
{
	struct td_rpc_server *rs = c->rs;

	if (!rs)
		return;
	td_dbg(TD_SUB_RPC, "rpc conn %u: closed", c->id);
	td_loop_defer_cancel(&rs->srv->loop, &c->more);
	td_loop_fd_del(&rs->srv->loop, &c->watch);
	discard_input(c->fd);
	close(c->fd);
	c->fd = -1;
	td_list_del(&c->link);
	rs->nconns--;
	c->rs = NULL;
	conn_put(c);
}

/* Best effort: a one-shot error to a client we will not serve. */
static void refuse(int fd, int err, const char *msg)
{
	json_t *j = json_pack("{s:i, s:n, s:o}", "version", TD_RPC_VERSION,
			      "id", "error", error_object(err, msg));
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s) {
		size_t len = strlen(s);
		unsigned char hdr[TD_RPC_HDR_SIZE];
		struct iovec iov[2] = { { hdr, sizeof(hdr) }, { s, len } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

		td_rpc_put_len(hdr, (uint32_t)len);
		if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			td_dbg(TD_SUB_RPC, "rpc: refusal not sent: %s",
			       strerror(errno));
	}
	free(s);
	json_decref(j);
	discard_input(fd);
	close(fd);
}

/* Root and our own user may talk to us; the 0600 socket says the same. */
static int check_peer(struct td_rpc_server *rs, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (cred.uid != 0 && cred.uid != rs->uid) {
		char m[128];

		td_log_ratelimited(&rs->rl, TD_LOG_WARN, TD_SUB_RPC,
				   "rpc: refused pid %d uid %u", cred.pid,
				   cred.uid);
		snprintf(m, sizeof(m),
			 "uid %u may not control this tapdisk (root or uid "
			 "%u only)", cred.uid, rs->uid);
		refuse(fd, -EACCES, m);
		return -EACCES;
	}
	return 0;
}

static void conn_new(struct td_rpc_server *rs, int fd)
{
	struct td_rpc_conn *c;
	int err;

	if (rs->nconns >= TD_RPC_MAX_CONNS) {
		char m[96];

		td_log_ratelimited(&rs->rl, TD_LOG_WARN, TD_SUB_RPC,
				   "rpc: too many connections (%u)",
				   rs->nconns);
		snprintf(m, sizeof(m),
			 "too many control connections (limit %u)",
			 TD_RPC_MAX_CONNS);
		refuse(fd, -EBUSY, m);
		return;
	}
	if (check_peer(rs, fd) < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		refuse(fd, -ENOMEM, "out of memory");
		return;
	}
	c->rs = rs;
	c->fd = fd;
	c->id = ++rs->next_conn_id;
	c->refs = 1;
	c->watch.fd = fd;
	c->watch.events = TD_EV_IN;
	c->watch.cb = conn_event;
	c->watch.arg = c;
	c->more.cb = conn_more;
	c->more.arg = c;
	td_list_init(&c->more.link);
	err = td_loop_fd_add(&rs->srv->loop, &c->watch);
	if (err) {
		td_err(TD_SUB_RPC, "rpc: cannot watch connection: %s",
		       strerror(-err));
		free(c);
		close(fd);
		return;
	}
	td_list_add_tail(&c->link, &rs->conns);
	rs->nconns++;
	td_dbg(TD_SUB_RPC, "rpc conn %u: accepted", c->id);
}

static void listener_event(struct td_loop_fd *f, uint32_t events)
{
	struct td_rpc_server *rs = f->arg;
	int i, fd;

	for (i = 0; i < 16; i++) {
		fd = accept4(rs->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != ECONNABORTED)
				td_warn(TD_SUB_RPC, "rpc: accept: %s",
					strerror(errno));
			return;
		}
		conn_new(rs, fd);
	}
}

/*
 * Decides what to do with something already at @path: nothing there or a
 * socket nobody listens on (a crashed tapdisk's) may be replaced; a live
 * socket or a non-socket file must not.
 */
static int check_existing(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, ret;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	ret = ret == 0 ? -EADDRINUSE : -errno;
	close(fd);
	if (ret == -ECONNREFUSED) {
		td_info(TD_SUB_RPC, "rpc: removing stale socket %s",
			sa->sun_path);
		if (unlink(sa->sun_path) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	return ret == -ENOENT ? 0 : ret;
}

/*
 * Binds under a temporary name and renames into place once listening, so
 * a client never finds the real name on a socket that refuses it (which
 * would look stale to it).
 */
static int bind_listen(struct td_rpc_server *rs, const struct sockaddr_un *sa)
{
	struct sockaddr_un tmp = *sa;
	struct stat st;
	mode_t old;
	int ret;

	ret = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.new",
		       sa->sun_path);
	if (ret < 0 || (size_t)ret >= sizeof(tmp.sun_path))
		return -ENAMETOOLONG;
	unlink(tmp.sun_path);
	old = umask(0177);
	ret = bind(rs->fd, (const struct sockaddr *)&tmp, sizeof(tmp));
	umask(old);
	if (ret < 0)
		return -errno;
	if (chmod(tmp.sun_path, 0600) < 0 || listen(rs->fd, 32) < 0 ||
	    stat(tmp.sun_path, &st) < 0 ||
	    rename(tmp.sun_path, sa->sun_path) < 0) {
		ret = -errno;
		unlink(tmp.sun_path);
		return ret;
	}
	rs->sock_dev = st.st_dev;
	rs->sock_ino = st.st_ino;
	return 0;
}

int td_rpc_server_create(struct td_server *srv, const char *path,
			 struct td_rpc_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct td_rpc_server *rs;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path) - 4)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->srv = srv;
	rs->uid = geteuid();
	rs->rl = (struct td_ratelimit)TD_RATELIMIT_INIT;
	td_list_init(&rs->conns);
	strcpy(rs->path, path);
	rs->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (rs->fd < 0) {
		err = -errno;
		goto fail_free;
	}
	err = check_existing(&sa);
	if (err)
		goto fail_close;
	err = bind_listen(rs, &sa);
	if (err)
		goto fail_close;
	rs->watch.fd = rs->fd;
	rs->watch.events = TD_EV_IN;
	rs->watch.cb = listener_event;
	rs->watch.arg = rs;
	err = td_loop_fd_add(&srv->loop, &rs->watch);
	if (err) {
		unlink(path);
		goto fail_close;
	}
	td_info(TD_SUB_RPC, "rpc: listening on %s", path);
	*out = rs;
	return 0;

fail_close:
	close(rs->fd);
fail_free:
	free(rs);
	return err;
}

void td_rpc_server_destroy(struct td_rpc_server *rs)
{
	struct stat st;

	if (!rs)
		return;
	while (!td_list_empty(&rs->conns))
		conn_close(td_list_entry(rs->conns.next, struct td_rpc_conn,
					 link));
	td_loop_fd_del(&rs->srv->loop, &rs->watch);
	close(rs->fd);
	/* Only remove the name if it is still ours. */
	if (stat(rs->path, &st) == 0 && st.st_dev == rs->sock_dev &&
	    st.st_ino == rs->sock_ino)
		unlink(rs->path);
	free(rs);
}
