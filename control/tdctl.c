/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libtdctl: connections and calls. Process discovery, minor allocation
 * and spawning are in tdctl-proc.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "td-rpc.h"
#include "tdctl.h"
#include "tdctl-int.h"

struct td_ctl {
	int fd;
	int timeout_ms;
	json_int_t next_id;
	bool server_error; /* the last failure was an error reply */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

int td_ctl_seterr(struct td_ctl_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

uint64_t td_ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int td_ctl_connect_path(const char *path, struct td_ctl **out,
			struct td_ctl_error *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct td_ctl *c;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return td_ctl_seterr(e, -ENAMETOOLONG,
				     "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return td_ctl_seterr(e, -ENOMEM, "out of memory");
	c->timeout_ms = TD_CTL_DEFAULT_TIMEOUT_MS;
	c->next_id = 1;
	strcpy(c->path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = -errno;
		free(c);
		return td_ctl_seterr(e, err, "socket: %s", strerror(-err));
	}
	/* A unix connect does not block for long: no timeout needed. */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(c->fd);
		free(c);
		return td_ctl_seterr(e, err, "cannot connect to %s: %s", path,
				     strerror(-err));
	}
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) {
		err = -errno;
		td_ctl_disconnect(c);
		return td_ctl_seterr(e, err, "fcntl: %s", strerror(-err));
	}
	*out = c;
	return 0;
}

int td_ctl_connect_pid(const char *run_dir, pid_t pid, struct td_ctl **out,
		       struct td_ctl_error *e)
{
	char path[PATH_MAX];
	int err;

	run_dir = td_rpc_run_dir(run_dir);
	if (pid <= 0)
		return td_ctl_seterr(e, -EINVAL, "invalid pid %d", (int)pid);
	snprintf(path, sizeof(path), TD_RPC_SOCK_FMT, run_dir, (int)pid);
	err = td_ctl_connect_path(path, out, e);
	if (err == -ENOENT)
		return td_ctl_seterr(e, -ESRCH,
				     "no tapdisk with pid %d (no socket %s)",
				     (int)pid, path);
	if (err == -ECONNREFUSED)
		return td_ctl_seterr(e, -ESRCH,
				     "tapdisk %d is not running (stale "
				     "socket %s)", (int)pid, path);
	if (err == -EACCES)
		return td_ctl_seterr(e, err,
				     "permission denied on %s (run as root "
				     "or as tapdisk's user)", path);
	return err;
}

void td_ctl_disconnect(struct td_ctl *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

void td_ctl_set_timeout(struct td_ctl *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : TD_CTL_DEFAULT_TIMEOUT_MS;
}

/* Waits for @events on @c until @deadline. Returns 0 or -errno. */
static int wait_fd(struct td_ctl *c, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	uint64_t now;
	int n;

	for (;;) {
		now = td_ctl_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
	}
}

static int send_all(struct td_ctl *c, const void *buf, size_t len,
		    uint64_t deadline)
{
	const char *p = buf;
	ssize_t n;
	int err;

	while (len) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			err = wait_fd(c, POLLOUT, deadline);
			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Returns 0, -ECONNRESET on EOF, -ETIMEDOUT or -errno. */
static int recv_all(struct td_ctl *c, void *buf, size_t len,
		    uint64_t deadline)
{
	char *p = buf;
	ssize_t n;
	int err;

	while (len) {
		n = recv(c->fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			err = wait_fd(c, POLLIN, deadline);
			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one frame and parses it. Returns 0 and sets *msg, or -errno. */
static int read_msg(struct td_ctl *c, uint64_t deadline, json_t **msg,
		    struct td_ctl_error *e)
{
	unsigned char hdr[TD_RPC_HDR_SIZE];
	json_error_t jerr;
	uint32_t len;
	char *body;
	int err;

	err = recv_all(c, hdr, sizeof(hdr), deadline);
	if (!err) {
		len = td_rpc_get_len(hdr);
		if (len == 0 || len > TD_RPC_MAX_MSG)
			return td_ctl_seterr(e, -EPROTO,
					     "%s: bad reply length %u", c->path,
					     len);
		body = malloc(len);
		if (!body)
			return td_ctl_seterr(e, -ENOMEM, "out of memory");
		err = recv_all(c, body, len, deadline);
		if (!err) {
			*msg = json_loadb(body, len, JSON_REJECT_DUPLICATES,
					  &jerr);
			free(body);
			if (!*msg || !json_is_object(*msg)) {
				json_decref(*msg);
				return td_ctl_seterr(e, -EPROTO,
						     "%s: malformed reply: %s",
						     c->path,
						     *msg ? "not an object" :
							    jerr.text);
			}
			return 0;
		}
		free(body);
	}
	if (err == -ETIMEDOUT)
		return td_ctl_seterr(e, err, "no reply from %s within %d ms",
				     c->path, c->timeout_ms);
	if (err == -ECONNRESET)
		return td_ctl_seterr(e, err,
				     "tapdisk closed the connection (%s)",
				     c->path);
	return td_ctl_seterr(e, err, "%s: %s", c->path, strerror(-err));
}

/* Turns an "error" member into the call's return value and message. */
static int reply_error(json_t *error, struct td_ctl_error *e)
{
	json_t *code = json_object_get(error, "code");
	const char *m = json_string_value(json_object_get(error, "message"));
	json_int_t v = json_integer_value(code);

	if (!json_is_integer(code) || v >= 0 || v < -4095)
		return td_ctl_seterr(e, -EPROTO, "malformed error reply");
	return td_ctl_seterr(e, (int)v, "%s", m ? m : strerror((int)-v));
}

/*
 * Waits for the reply to @id. Replies to other ids are late answers to
 * calls that timed out on an earlier connection user: skipped. An error
 * with id null is about the connection (framing, permission), so ours.
 */
static int await_reply(struct td_ctl *c, json_int_t id, uint64_t deadline,
		       json_t **result, struct td_ctl_error *e)
{
	json_t *msg, *rid, *res, *error;
	int err;

	c->server_error = false;
	for (;;) {
		err = read_msg(c, deadline, &msg, e);
		if (err)
			return err;
		rid = json_object_get(msg, "id");
		error = json_object_get(msg, "error");
		if (json_integer_value(json_object_get(msg, "version")) !=
		    TD_RPC_VERSION) {
			json_decref(msg);
			return td_ctl_seterr(e, -EPROTO,
					     "%s: reply of another protocol "
					     "version", c->path);
		}
		if (json_is_null(rid) && error) {
			c->server_error = true;
			err = reply_error(error, e);
			json_decref(msg);
			return err;
		}
		if (!json_is_integer(rid) || json_integer_value(rid) != id) {
			json_decref(msg);
			continue;
		}
		if (error) {
			c->server_error = true;
			err = reply_error(error, e);
			json_decref(msg);
			return err;
		}
		res = json_object_get(msg, "result");
		if (!json_is_object(res)) {
			json_decref(msg);
			return td_ctl_seterr(e, -EPROTO,
					     "%s: reply without result",
					     c->path);
		}
		if (result)
			*result = json_incref(res);
		json_decref(msg);
		return 0;
	}
}

static int call_deadline(struct td_ctl *c, const char *type, json_t *args,
			 int timeout_ms, json_t **result,
			 struct td_ctl_error *e)
{
	unsigned char hdr[TD_RPC_HDR_SIZE];
	uint64_t deadline;
	json_int_t id;
	json_t *msg;
	char *s;
	size_t len;
	int err, r = 0;

	if (c->fd < 0) {
		json_decref(args);
		return td_ctl_seterr(e, -ENOTCONN,
				     "connection to %s is broken", c->path);
	}
	if (!args)
		args = json_object();
	id = c->next_id++;
	msg = json_pack("{s:i, s:I, s:s, s:o}", "version", TD_RPC_VERSION,
			"id", id, "type", type, "args", args);
	s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (!s)
		return td_ctl_seterr(e, -EINVAL, "%s: cannot encode request",
				     type);
	len = strlen(s);
	if (len > TD_RPC_MAX_MSG) {
		free(s);
		return td_ctl_seterr(e, -E2BIG, "%s: request too large", type);
	}
	deadline = td_ctl_now_ms() + (uint64_t)timeout_ms;
	td_rpc_put_len(hdr, (uint32_t)len);
	err = send_all(c, hdr, sizeof(hdr), deadline);
	if (!err)
		err = send_all(c, s, len, deadline);
	free(s);
	if (!err) {
		err = await_reply(c, id, deadline, result, e);
	} else {
		/* Refused at accept (permission, limit)? Then say why. */
		if (err == -EPIPE || err == -ECONNRESET)
			r = await_reply(c, id, td_ctl_now_ms() + 1000, NULL, e);
		if (r && c->server_error)
			err = r;
		else
			td_ctl_seterr(e, err, "cannot send to %s: %s",
				      c->path, strerror(-err));
	}
	/* After a transport failure the stream position is unknown. */
	if (err == -ETIMEDOUT || err == -EPROTO || err == -ECONNRESET ||
	    err == -EPIPE) {
		close(c->fd);
		c->fd = -1;
	}
	return err;
}

int td_ctl_call(struct td_ctl *c, const char *type, json_t *args,
		json_t **result, struct td_ctl_error *e)
{
	return call_deadline(c, type, args, c->timeout_ms, result, e);
}

int td_ctl_hello(struct td_ctl *c, json_t **result, struct td_ctl_error *e)
{
	return td_ctl_call(c, "hello", NULL, result, e);
}

int td_ctl_list(struct td_ctl *c, json_t **vbds, struct td_ctl_error *e)
{
	json_t *res, *v;
	int err;

	err = td_ctl_call(c, "list", NULL, &res, e);
	if (err)
		return err;
	v = json_object_get(res, "vbds");
	if (!json_is_array(v)) {
		json_decref(res);
		return td_ctl_seterr(e, -EPROTO, "%s: list reply has no vbds",
				     c->path);
	}
	*vbds = json_incref(v);
	json_decref(res);
	return 0;
}

static int call_minor(struct td_ctl *c, const char *type, int minor,
		      struct td_ctl_error *e)
{
	return td_ctl_call(c, type, json_pack("{s:i}", "minor", minor), NULL,
			   e);
}

int td_ctl_attach(struct td_ctl *c, int minor, struct td_ctl_error *e)
{
	return call_minor(c, "attach", minor, e);
}

int td_ctl_detach(struct td_ctl *c, int minor, struct td_ctl_error *e)
{
	return call_minor(c, "detach", minor, e);
}

int td_ctl_open(struct td_ctl *c, int minor, const char *spec,
		const struct td_ctl_open_opts *o, struct td_ctl_error *e)
{
	static const struct td_ctl_open_opts dflt;
	json_t *args;

	if (!o)
		o = &dflt;
	args = json_pack("{s:i, s:s, s:b, s:b, s:b, s:b}", "minor", minor,
			 "spec", spec, "readonly", o->readonly, "no_o_direct",
			 o->no_o_direct, "nbd", !o->no_nbd, "shm", !o->no_shm);
	if (args && o->nbd_tcp)
		json_object_set_new(args, "nbd_tcp", json_string(o->nbd_tcp));
	if (!args)
		return td_ctl_seterr(e, -EINVAL,
				     "open: cannot encode arguments for %s",
				     spec);
	return td_ctl_call(c, "open", args, NULL, e);
}

int td_ctl_close(struct td_ctl *c, int minor, bool force,
		 struct td_ctl_error *e)
{
	return td_ctl_call(c, "close",
			   json_pack("{s:i, s:b}", "minor", minor, "force",
				     force),
			   NULL, e);
}

int td_ctl_pause(struct td_ctl *c, int minor, int timeout_ms,
		 struct td_ctl_error *e)
{
	json_t *args = json_pack("{s:i}", "minor", minor);
	int wait = c->timeout_ms;

	if (timeout_ms > 0) {
		json_object_set_new(args, "timeout_ms",
				    json_integer(timeout_ms));
		/* Leave tapdisk time to tell us it timed out. */
		wait = timeout_ms + 2000;
	}
	return call_deadline(c, "pause", args, wait, NULL, e);
}

int td_ctl_unpause(struct td_ctl *c, int minor, const char *spec,
		   struct td_ctl_error *e)
{
	json_t *args = json_pack("{s:i}", "minor", minor);

	if (args && spec)
		json_object_set_new(args, "spec", json_string(spec));
	return td_ctl_call(c, "unpause", args, NULL, e);
}

int td_ctl_stats(struct td_ctl *c, int minor, json_t **result,
		 struct td_ctl_error *e)
{
	return td_ctl_call(c, "stats", json_pack("{s:i}", "minor", minor),
			   result, e);
}
