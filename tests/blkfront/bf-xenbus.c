// SPDX-License-Identifier: GPL-2.0-only
/*
 * The frontend half of the xenbus handshake, in the order Linux blkfront
 * uses: Initialising; wait for the backend's InitWait; read its features;
 * publish ring refs, event channels, protocol and features in one
 * transaction, then Initialised; wait for Connected; read sectors/info;
 * Connected. Closing: Closing, wait for the backend to follow, Closed,
 * wait for Closed. Instead of granting pages, the memfd and eventfds are
 * deposited on the backend's shm-socket under a token written as
 * shm-token (tapdisk/xenbus-shm.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <xenstore.h>
#include "xenbus-shm.h"
#include "bf-xenbus.h"

#define XS_INITIALISING 1
#define XS_INITWAIT 2
#define XS_INITIALISED 3
#define XS_CONNECTED 4
#define XS_CLOSING 5
#define XS_CLOSED 6

struct td_bf_xs {
	struct xs_handle *h;
	char fe[256], be[256];
	unsigned timeout_ms;
	enum td_bf_xs_garbage garbage;
	struct td_bf_handshake hs;
	unsigned attempt;
	bool watching;
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

int td_bf_xs_garbage_parse(const char *s, enum td_bf_xs_garbage *g)
{
	static const char *const names[] = {
		[TD_BF_XS_RING_REF] = "ring-ref", [TD_BF_XS_ORDER] = "order",
		[TD_BF_XS_NO_EVTCHN] = "evtchn",
		[TD_BF_XS_PROTOCOL] = "protocol",
		[TD_BF_XS_QUEUES] = "queues",
	};

	for (unsigned i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*g = (enum td_bf_xs_garbage)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Reads DIR/KEY; NULL if absent. The caller frees. */
static char *rd(struct td_bf_xs *x, xs_transaction_t t, const char *dir,
		const char *key)
{
	char path[320];
	unsigned len;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	return xs_read(x->h, t, path, &len);
}

static long long rd_num(struct td_bf_xs *x, const char *dir,
			const char *key, long long dflt)
{
	char *s = rd(x, XBT_NULL, dir, key), *end;
	long long v;

	if (!s)
		return dflt;
	v = strtoll(s, &end, 10);
	if (end == s || *end)
		v = dflt;
	free(s);
	return v;
}

static bool wr(struct td_bf_xs *x, xs_transaction_t t, const char *dir,
	       const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static bool wr(struct td_bf_xs *x, xs_transaction_t t, const char *dir,
	       const char *key, const char *fmt, ...)
{
	char path[320], val[128];
	va_list ap;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return xs_write(x->h, t, path, val, (unsigned)strlen(val));
}

static void drain_events(struct td_bf_xs *x)
{
	char **ev;

	while ((ev = xs_check_watch(x->h)))
		free(ev);
}

/*
 * Waits until the backend state satisfies @want (a bit mask of states),
 * up to the timeout. Returns the state, or -ETIMEDOUT.
 */
static int wait_be(struct td_bf_xs *x, unsigned want, unsigned timeout_ms)
{
	uint64_t end = td_bf_now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		long long st = rd_num(x, x->be, "state", -1);
		struct pollfd p = { .fd = xs_fileno(x->h), .events = POLLIN };
		uint64_t now = td_bf_now_ns();

		if (st >= 0 && st < 32 && (want & (1u << st)))
			return (int)st;
		if (now >= end)
			return -ETIMEDOUT;
		/* Re-read at least every 100 ms, whatever the watch does. */
		poll(&p, 1, (int)((end - now) / 1000000u) > 100 ?
			      100 : (int)((end - now) / 1000000u) + 1);
		drain_events(x);
	}
}

static void be_error(struct td_bf_xs *x, char *buf, size_t len)
{
	char path[300], *s;
	unsigned dom, l;
	int n = 0;

	if (sscanf(x->be, "/local/domain/%u/%n", &dom, &n) == 1 && n > 0)
		snprintf(path, sizeof(path), "/local/domain/%u/error/%s/error",
			 dom, x->be + n);
	else
		snprintf(path, sizeof(path), "error/%s/error", x->be);
	s = xs_read(x->h, XBT_NULL, path, &l);
	snprintf(buf, len, "%s", s ? s : "(no error node)");
	free(s);
}

static int xs_query(void *arg, struct td_blkif_back *b, char *err,
		    size_t errlen)
{
	struct td_bf_xs *x = arg;
	int st;

	if (!wr(x, XBT_NULL, x->fe, "state", "%d", XS_INITIALISING))
		return fail(err, errlen, -errno, "writing %s/state: %s", x->fe,
			    strerror(errno));
	st = wait_be(x, 1u << XS_INITWAIT, x->timeout_ms);
	if (st < 0)
		return fail(err, errlen, st, "backend %s not in InitWait "
			    "after %u ms (state %lld)", x->be, x->timeout_ms,
			    rd_num(x, x->be, "state", -1));
	memset(b, 0, sizeof(*b));
	b->feature_flush_cache = rd_num(x, x->be, "feature-flush-cache", 0);
	b->feature_barrier = rd_num(x, x->be, "feature-barrier", 0);
	b->feature_discard = rd_num(x, x->be, "feature-discard", 0);
	b->discard_granularity = rd_num(x, x->be, "discard-granularity", 0);
	b->discard_alignment = rd_num(x, x->be, "discard-alignment", 0);
	b->discard_secure = rd_num(x, x->be, "discard-secure", 0);
	b->feature_persistent = rd_num(x, x->be, "feature-persistent", 0);
	b->feature_max_indirect_segments =
		rd_num(x, x->be, "feature-max-indirect-segments", 0);
	b->max_ring_page_order = rd_num(x, x->be, "max-ring-page-order", 0);
	b->multi_queue_max_queues =
		rd_num(x, x->be, "multi-queue-max-queues", 1);
	b->sectors = (uint64_t)rd_num(x, x->be, "sectors", 0);
	b->sector_size = rd_num(x, x->be, "sector-size", 512);
	b->physical_sector_size = rd_num(x, x->be, "physical-sector-size", 512);
	b->info = rd_num(x, x->be, "info", 0);
	snprintf(b->mode, sizeof(b->mode), "%s",
		 b->info & VDISK_READONLY ? "r" : "w");
	return 0;
}

/* Hands the fds to the backend's shm-socket under @token. */
static int deposit(struct td_bf_xs *x, const char *token, unsigned nq,
		   const int *fds, unsigned nfds, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct td_xbshm_deposit_msg m;
	struct td_shm_reply_msg r;
	union {
		char buf[CMSG_SPACE(sizeof(int) * TD_SHM_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cb.buf,
			     .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct pollfd p;
	char *path = rd(x, XBT_NULL, x->be, TD_XBSHM_NODE_SOCKET);
	int fd, rc;

	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		free(path);
		return fail(err, errlen, -ENOENT, "no usable %s/%s", x->be,
			    TD_XBSHM_NODE_SOCKET);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	free(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return fail(err, errlen, rc, "shm-socket: %s", strerror(-rc));
	}
	memset(&m, 0, sizeof(m));
	memset(&cb, 0, sizeof(cb));
	m.hdr.magic = TD_SHM_MAGIC;
	m.hdr.version = TD_SHM_VERSION;
	m.hdr.type = TD_XBSHM_DEPOSIT;
	m.hdr.size = sizeof(m.body);
	snprintf(m.body.token, sizeof(m.body.token), "%s", token);
	m.body.num_queues = nq;
	CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), fds, nfds * sizeof(int));
	p.fd = fd;
	p.events = POLLIN;
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m) ||
	    poll(&p, 1, (int)x->timeout_ms) != 1 ||
	    recv(fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		close(fd);
		return fail(err, errlen, -EPROTO, "shm deposit failed");
	}
	if (r.reply.status) {
		close(fd);
		r.reply.message[sizeof(r.reply.message) - 1] = '\0';
		return fail(err, errlen, r.reply.status, "deposit refused: %s",
			    r.reply.message);
	}
	return fd;
}

/* One queue's nodes; @dir is the frontend dir or its queue-N. */
static bool write_queue(struct td_bf_xs *x, xs_transaction_t t,
			const char *dir, const struct td_blkif_front *f,
			unsigned q)
{
	unsigned p, np = 1u << f->ring_page_order;
	bool ok = true;
	char key[24];

	for (p = 0; p < np && ok; p++) {
		if (f->ring_page_order)
			snprintf(key, sizeof(key), "ring-ref%u", p);
		else
			snprintf(key, sizeof(key), "ring-ref");
		if (x->garbage == TD_BF_XS_RING_REF)
			ok = wr(x, t, dir, key, "12x");
		else
			ok = wr(x, t, dir, key, "%u", f->ring_ref[q][p]);
	}
	/* Any port: the shm transport's eventfds came with the deposit. */
	if (ok && x->garbage != TD_BF_XS_NO_EVTCHN)
		ok = wr(x, t, dir, "event-channel", "%u", 10 + q);
	return ok;
}

/* Clears what an earlier connection left, then writes this one's. */
static bool write_nodes(struct td_bf_xs *x, xs_transaction_t t,
			const struct td_blkif_front *f, const char *token)
{
	static const char *const stale[] = {
		"ring-ref", "event-channel", "protocol", "ring-page-order",
		"multi-queue-num-queues", "feature-persistent",
	};
	char path[320];
	bool ok = true;
	unsigned q;

	for (q = 0; q < sizeof(stale) / sizeof(stale[0]); q++) {
		snprintf(path, sizeof(path), "%s/%s", x->fe, stale[q]);
		xs_rm(x->h, t, path);
	}
	for (q = 0; q < TD_SHM_MAX_QUEUES; q++) {
		snprintf(path, sizeof(path), "%s/queue-%u", x->fe, q);
		xs_rm(x->h, t, path);
	}
	if (x->garbage == TD_BF_XS_PROTOCOL)
		ok = wr(x, t, x->fe, "protocol", "sparc-abi");
	else if (f->protocol[0])
		ok = wr(x, t, x->fe, "protocol", "%s", f->protocol);
	ok = ok && wr(x, t, x->fe, "feature-persistent", "%u",
		      f->feature_persistent);
	if (ok && x->garbage == TD_BF_XS_ORDER)
		ok = wr(x, t, x->fe, "ring-page-order", "%u",
			(unsigned)rd_num(x, x->be, "max-ring-page-order", 0) +
				1);
	else if (ok && f->ring_page_order)
		ok = wr(x, t, x->fe, "ring-page-order", "%u",
			f->ring_page_order);
	if (ok && x->garbage == TD_BF_XS_QUEUES)
		ok = wr(x, t, x->fe, "multi-queue-num-queues", "%u",
			(unsigned)rd_num(x, x->be, "multi-queue-max-queues",
					 1) + 1);
	else if (ok && f->num_queues > 1)
		ok = wr(x, t, x->fe, "multi-queue-num-queues", "%u",
			f->num_queues);
	for (q = 0; ok && q < f->num_queues; q++) {
		if (f->num_queues == 1) {
			ok = write_queue(x, t, x->fe, f, q);
		} else {
			snprintf(path, sizeof(path), "%s/queue-%u", x->fe, q);
			ok = write_queue(x, t, path, f, q);
		}
	}
	return ok && wr(x, t, x->fe, TD_XBSHM_NODE_TOKEN, "%s", token);
}

static int publish(struct td_bf_xs *x, const struct td_blkif_front *f,
		   const char *token, char *err, size_t errlen)
{
	for (unsigned tries = 0; tries < 16; tries++) {
		xs_transaction_t t = xs_transaction_start(x->h);
		bool ok;

		if (t == XBT_NULL)
			break;
		ok = write_nodes(x, t, f, token);
		if (xs_transaction_end(x->h, t, !ok) && ok)
			return 0;
		if (ok && errno != EAGAIN)
			break;
	}
	return fail(err, errlen, -EIO, "writing %s: %s", x->fe,
		    strerror(errno));
}

static int xs_connect(void *arg, const struct td_blkif_front *f,
		      const int *fds, unsigned nfds,
		      struct td_blkif_back *b, char *err, size_t errlen)
{
	struct td_bf_xs *x = arg;
	char token[64], why[256];
	int fd, rc, st;

	snprintf(token, sizeof(token), "bf-%d-%u-%llx", (int)getpid(),
		 ++x->attempt, (unsigned long long)td_bf_now_ns());
	fd = deposit(x, token, f->num_queues, fds, nfds, err, errlen);
	if (fd < 0)
		return fd;
	rc = publish(x, f, token, err, errlen);
	if (!rc && !wr(x, XBT_NULL, x->fe, "state", "%d", XS_INITIALISED))
		rc = fail(err, errlen, -EIO, "writing state: %s",
			  strerror(errno));
	if (rc) {
		close(fd);
		return rc;
	}
	st = wait_be(x, 1u << XS_CONNECTED | 1u << XS_CLOSING |
			     1u << XS_CLOSED, x->timeout_ms);
	if (st != XS_CONNECTED) {
		close(fd);
		if (st < 0)
			return fail(err, errlen, st, "backend did not connect "
				    "in %u ms", x->timeout_ms);
		be_error(x, why, sizeof(why));
		return fail(err, errlen, -ECONNREFUSED, "backend refused: %s",
			    why);
	}
	b->sectors = (uint64_t)rd_num(x, x->be, "sectors", 0);
	b->info = rd_num(x, x->be, "info", 0);
	b->sector_size = rd_num(x, x->be, "sector-size", 512);
	if (!wr(x, XBT_NULL, x->fe, "state", "%d", XS_CONNECTED)) {
		close(fd);
		return fail(err, errlen, -EIO, "writing state: %s",
			    strerror(errno));
	}
	return fd;
}

static void xs_close_hs(void *arg)
{
	struct td_bf_xs *x = arg;

	wr(x, XBT_NULL, x->fe, "state", "%d", XS_CLOSING);
	wait_be(x, 1u << XS_CLOSING | 1u << XS_CLOSED, x->timeout_ms);
	wr(x, XBT_NULL, x->fe, "state", "%d", XS_CLOSED);
	/* The backend writes Closed once its rings drained. */
	if (wait_be(x, 1u << XS_CLOSED, x->timeout_ms) < 0)
		fprintf(stderr, "td-blkfront: backend %s did not close\n",
			x->be);
}

int td_bf_xs_open(const char *fe, unsigned timeout_ms,
		  enum td_bf_xs_garbage garbage, struct td_bf_xs **out,
		  char *err, size_t errlen)
{
	struct td_bf_xs *x = calloc(1, sizeof(*x));
	char *be, path[300];

	if (!x)
		return fail(err, errlen, -ENOMEM, "out of memory");
	if (strlen(fe) >= sizeof(x->fe)) {
		free(x);
		return fail(err, errlen, -ENAMETOOLONG, "path too long");
	}
	snprintf(x->fe, sizeof(x->fe), "%s", fe);
	x->timeout_ms = timeout_ms;
	x->garbage = garbage;
	x->h = xs_open(0);
	if (!x->h) {
		free(x);
		return fail(err, errlen, -ECONNREFUSED,
			    "cannot connect to xenstore: %s", strerror(errno));
	}
	be = rd(x, XBT_NULL, x->fe, "backend");
	if (!be || strlen(be) >= sizeof(x->be)) {
		free(be);
		td_bf_xs_close(x);
		return fail(err, errlen, -ENOENT, "no usable %s/backend", fe);
	}
	snprintf(x->be, sizeof(x->be), "%s", be);
	free(be);
	snprintf(path, sizeof(path), "%s/state", x->be);
	x->watching = xs_watch(x->h, path, "bf-be-state");
	x->hs.query = xs_query;
	x->hs.connect = xs_connect;
	x->hs.close = xs_close_hs;
	x->hs.arg = x;
	*out = x;
	return 0;
}

const struct td_bf_handshake *td_bf_xs_handshake(struct td_bf_xs *x)
{
	return &x->hs;
}

int td_bf_xs_wait_sectors(struct td_bf_xs *x, uint64_t old,
			  unsigned timeout_ms, uint64_t *now)
{
	uint64_t end = td_bf_now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		long long s = rd_num(x, x->be, "sectors", -1);
		struct pollfd p = { .fd = xs_fileno(x->h), .events = POLLIN };
		uint64_t t = td_bf_now_ns();

		if (s >= 0 && (uint64_t)s != old) {
			*now = (uint64_t)s;
			return 0;
		}
		if (t >= end)
			return -ETIMEDOUT;
		poll(&p, 1, 100);
		drain_events(x);
	}
}

void td_bf_xs_close(struct td_bf_xs *x)
{
	if (!x)
		return;
	xs_close(x->h);
	free(x);
}
