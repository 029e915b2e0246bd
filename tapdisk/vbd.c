/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "td-log.h"
#include "server.h"
#include "vbd.h"

static const char *const td_vbd_state_names[] = {
	[TD_VBD_ATTACHED] = "attached",
	[TD_VBD_OPEN] = "open",
	[TD_VBD_PAUSING] = "pausing",
	[TD_VBD_PAUSED] = "paused",
	[TD_VBD_CLOSING] = "closing",
};

const char *td_vbd_state_name(enum td_vbd_state s)
{
	if ((unsigned)s >= sizeof(td_vbd_state_names) / sizeof(char *))
		return "unknown";
	return td_vbd_state_names[s];
}

/*
 * Invalid requests complete from a deferred call so that a frontend never
 * sees its done callback run inside its own td_vbd_submit call.
 */
static void td_vbd_fail_cb(struct td_loop_defer *d)
{
	struct td_vbd *vbd = d->arg;
	struct td_list *n;

	while ((n = td_list_pop(&vbd->failed))) {
		struct td_req *req = td_list_entry(n, struct td_req, link);

		vbd->stats.errors++;
		req->done(req, req->err);
	}
}

static void td_vbd_fail_later(struct td_vbd *vbd, struct td_req *req,
			      int err)
{
	req->err = err;
	td_list_add_tail(&req->link, &vbd->failed);
	td_loop_defer(&vbd->srv->loop, &vbd->fail_defer);
}

static void td_vbd_notify_cb(struct td_loop_defer *d)
{
	struct td_vbd *vbd = d->arg;
	int err = vbd->notify_err;
	struct td_list batch, *n;

	/*
	 * A waiter may destroy the VBD (shutdown does), so take the waiters
	 * off it first and touch nothing of the VBD while calling them.
	 */
	td_list_move_all(&vbd->waiters, &batch);
	while ((n = td_list_pop(&batch))) {
		struct td_vbd_waiter *w =
			td_list_entry(n, struct td_vbd_waiter, link);

		w->done(w, err);
	}
}

static void td_vbd_notify(struct td_vbd *vbd, int err)
{
	vbd->notify_err = err;
	td_loop_defer(&vbd->srv->loop, &vbd->notify_defer);
}

static void td_vbd_kick_cb(struct td_loop_defer *d)
{
	struct td_vbd *vbd = d->arg;
	struct td_list *pos, *tmp;

	td_list_for_each_safe(pos, tmp, &vbd->frontends) {
		struct td_vbd_frontend *fe =
			td_list_entry(pos, struct td_vbd_frontend, link);

		if (fe->ops->kick)
			fe->ops->kick(fe);
	}
}

int td_vbd_create(struct td_server *srv, int minor, struct td_vbd **out)
{
	struct td_vbd *vbd;

	if (minor < 0)
		return -EINVAL;
	if (td_vbd_find(srv, minor))
		return -EEXIST;
	vbd = calloc(1, sizeof(*vbd));
	if (!vbd)
		return -ENOMEM;
	vbd->srv = srv;
	vbd->minor = minor;
	vbd->state = TD_VBD_ATTACHED;
	td_list_init(&vbd->waiting);
	td_list_init(&vbd->waiters);
	td_list_init(&vbd->frontends);
	td_list_init(&vbd->failed);
	vbd->fail_defer.cb = td_vbd_fail_cb;
	vbd->fail_defer.arg = vbd;
	td_list_init(&vbd->fail_defer.link);
	vbd->notify_defer.cb = td_vbd_notify_cb;
	vbd->notify_defer.arg = vbd;
	td_list_init(&vbd->notify_defer.link);
	vbd->kick_defer.cb = td_vbd_kick_cb;
	vbd->kick_defer.arg = vbd;
	td_list_init(&vbd->kick_defer.link);
	td_list_add_tail(&vbd->link, &srv->vbds);
	srv->had_vbd = true;
	td_info(TD_SUB_VBD, "vbd %d: attached", minor);
	*out = vbd;
	return 0;
}

int td_vbd_destroy(struct td_vbd *vbd)
{
	struct td_server *srv = vbd->srv;

	if (vbd->state != TD_VBD_ATTACHED)
		return -EBUSY;
	/* Completions still queued must run: their owners wait for them. */
	td_vbd_fail_cb(&vbd->fail_defer);
	td_vbd_notify_cb(&vbd->notify_defer);
	td_loop_defer_cancel(&srv->loop, &vbd->fail_defer);
	td_loop_defer_cancel(&srv->loop, &vbd->notify_defer);
	td_loop_defer_cancel(&srv->loop, &vbd->kick_defer);
	td_list_del(&vbd->link);
	td_info(TD_SUB_VBD, "vbd %d: detached", vbd->minor);
	free(vbd);
	td_server_vbd_gone(srv);
	return 0;
}

struct td_vbd *td_vbd_find(struct td_server *srv, int minor)
{
	struct td_list *pos;

	td_list_for_each(pos, &srv->vbds) {
		struct td_vbd *vbd = td_list_entry(pos, struct td_vbd, link);

		if (vbd->minor == minor)
			return vbd;
	}
	return NULL;
}

static struct td_image_ctx td_vbd_ctx(struct td_vbd *vbd)
{
	struct td_image_ctx ctx = {
		.loop = &vbd->srv->loop,
		.io = vbd->srv->io,
		.depth = TD_VBD_DEPTH,
		/* read-only parents are shared by the VBDs of this process */
		.cache = &vbd->srv->images,
	};
	return ctx;
}

static void td_vbd_stop_exports(struct td_vbd *vbd)
{
	for (unsigned i = 0; td_exports[i] && i < TD_MAX_EXPORTS; i++) {
		if (!vbd->export_started[i])
			continue;
		td_exports[i]->stop(vbd, i);
		vbd->export_started[i] = false;
	}
}

static int td_vbd_start_exports(struct td_vbd *vbd, char *err, size_t errlen)
{
	for (unsigned i = 0; td_exports[i] && i < TD_MAX_EXPORTS; i++) {
		int rc = td_exports[i]->start(vbd, i, err, errlen);

		if (rc) {
			td_vbd_stop_exports(vbd);
			return rc;
		}
		vbd->export_started[i] = true;
	}
	return 0;
}

int td_vbd_open(struct td_vbd *vbd, const char *spec, unsigned flags,
		const struct td_vbd_export_opts *eopts, char *err,
		size_t errlen)
{
	struct td_image_ctx ctx = td_vbd_ctx(vbd);
	struct td_image *leaf;
	int rc;

	if (vbd->state != TD_VBD_ATTACHED) {
		snprintf(err, errlen, "vbd %d is already %s", vbd->minor,
			 td_vbd_state_name(vbd->state));
		return -EBUSY;
	}
	if (strlen(spec) >= sizeof(vbd->spec)) {
		snprintf(err, errlen, "image name too long");
		return -ENAMETOOLONG;
	}
	rc = td_image_open_chain(spec, flags, &ctx, &leaf, err, errlen);
	if (rc)
		return rc;

	snprintf(vbd->spec, sizeof(vbd->spec), "%s", spec);
	vbd->open_flags = flags;
	vbd->leaf = leaf;
	vbd->size_sectors = leaf->size_sectors;
	vbd->caps = leaf->caps;
	memset(&vbd->export_opts, 0, sizeof(vbd->export_opts));
	if (eopts)
		vbd->export_opts = *eopts;
	vbd->state = TD_VBD_OPEN;

	rc = td_vbd_start_exports(vbd, err, errlen);
	if (rc) {
		td_image_close(leaf);
		vbd->leaf = NULL;
		vbd->state = TD_VBD_ATTACHED;
		return rc;
	}
	td_info(TD_SUB_VBD, "vbd %d: opened %s (%llu sectors%s)", vbd->minor,
		spec, (unsigned long long)vbd->size_sectors,
		(flags & TD_OPEN_RDONLY) ? ", read-only" : "");
	return 0;
}

bool td_vbd_writable(const struct td_vbd *vbd)
{
	return !(vbd->open_flags & TD_OPEN_RDONLY);
}

/* The drain point of pause and close: called whenever inflight drops. */
static void td_vbd_check_drained(struct td_vbd *vbd)
{
	if (vbd->inflight)
		return;
	if (vbd->state == TD_VBD_PAUSING) {
		td_image_close(vbd->leaf);
		vbd->leaf = NULL;
		vbd->state = TD_VBD_PAUSED;
		td_info(TD_SUB_VBD, "vbd %d: paused", vbd->minor);
		td_vbd_notify(vbd, 0);
	} else if (vbd->state == TD_VBD_CLOSING) {
		if (vbd->leaf)
			td_image_close(vbd->leaf);
		vbd->leaf = NULL;
		vbd->state = TD_VBD_ATTACHED;
		vbd->spec[0] = '\0';
		td_info(TD_SUB_VBD, "vbd %d: closed", vbd->minor);
		td_vbd_notify(vbd, 0);
	}
}

static void td_vbd_req_done(struct td_req *req, int err)
{
	struct td_vbd *vbd = req->vbd;

	vbd->inflight--;
	if (err) {
		vbd->stats.errors++;
	} else if (req->op == TD_OP_READ) {
		vbd->stats.sectors_read += req->nr_sectors;
	} else if (req->op == TD_OP_WRITE) {
		vbd->stats.sectors_written += req->nr_sectors;
	}
	req->done = req->user_done;
	req->done(req, err);
	td_vbd_check_drained(vbd);
}

static void td_vbd_run(struct td_vbd *vbd, struct td_req *req)
{
	vbd->inflight++;
	req->user_done = req->done;
	req->done = td_vbd_req_done;
	req->err = 0;
	req->pending = 0;
	req->parent_req = NULL;
	td_image_submit(vbd->leaf, req);
}

static int td_vbd_validate(struct td_vbd *vbd, struct td_req *req)
{
	bool data = req->op == TD_OP_READ || req->op == TD_OP_WRITE;

	switch (req->op) {
	case TD_OP_READ:
	case TD_OP_FLUSH:
		break;
	case TD_OP_WRITE:
	case TD_OP_DISCARD:
	case TD_OP_WRITE_ZEROES:
		if (!td_vbd_writable(vbd))
			return -EROFS;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (req->op == TD_OP_DISCARD && !(vbd->caps & TD_CAP_DISCARD))
		return -EOPNOTSUPP;
	if (req->op == TD_OP_DISCARD && (req->flags & TD_REQ_DISCARD_SECURE) &&
	    !(vbd->caps & TD_CAP_SECURE_DISCARD))
		return -EOPNOTSUPP;
	if (req->op == TD_OP_WRITE_ZEROES &&
	    !(vbd->caps & TD_CAP_WRITE_ZEROES))
		return -EOPNOTSUPP;
	if (req->op == TD_OP_FLUSH)
		return 0;
	if (!req->nr_sectors)
		return -EINVAL;
	if (req->sector >= vbd->size_sectors ||
	    req->nr_sectors > vbd->size_sectors - req->sector)
		return -ENOSPC;
	if (data) {
		if (!req->iov || req->iovcnt <= 0 ||
		    req->iovcnt > TD_REQ_MAX_IOV ||
		    td_iov_len(req->iov, req->iovcnt) != td_req_bytes(req))
			return -EINVAL;
	}
	return 0;
}

void td_vbd_submit(struct td_vbd *vbd, struct td_req *req)
{
	int rc;

	req->vbd = vbd;
	td_list_init(&req->link);
	if ((unsigned)req->op < sizeof(vbd->stats.reqs) / sizeof(uint64_t))
		vbd->stats.reqs[req->op]++;

	switch (vbd->state) {
	case TD_VBD_OPEN:
		rc = td_vbd_validate(vbd, req);
		if (rc)
			break;
		/* Keep order behind requests that waited for a resume. */
		if (!td_list_empty(&vbd->waiting)) {
			td_list_add_tail(&req->link, &vbd->waiting);
			return;
		}
		td_vbd_run(vbd, req);
		return;
	case TD_VBD_PAUSING:
	case TD_VBD_PAUSED:
		rc = td_vbd_validate(vbd, req);
		if (rc)
			break;
		vbd->stats.queued_while_paused++;
		td_list_add_tail(&req->link, &vbd->waiting);
		return;
	default:
		rc = -EIO;
		break;
	}
	td_vbd_fail_later(vbd, req, rc);
}

static void td_vbd_fail_waiting(struct td_vbd *vbd, int err)
{
	struct td_list *n;

	while ((n = td_list_pop(&vbd->waiting)))
		td_vbd_fail_later(vbd, td_list_entry(n, struct td_req, link),
				  err);
}

static void td_vbd_run_waiting(struct td_vbd *vbd)
{
	struct td_list *n;

	while (vbd->state == TD_VBD_OPEN && (n = td_list_pop(&vbd->waiting)))
		td_vbd_run(vbd, td_list_entry(n, struct td_req, link));
}

int td_vbd_pause(struct td_vbd *vbd, struct td_vbd_waiter *w)
{
	switch (vbd->state) {
	case TD_VBD_OPEN:
		vbd->state = TD_VBD_PAUSING;
		td_info(TD_SUB_VBD, "vbd %d: pausing, %u in flight",
			vbd->minor, vbd->inflight);
		td_list_add_tail(&w->link, &vbd->waiters);
		td_vbd_check_drained(vbd);
		return 0;
	case TD_VBD_PAUSING:
		td_list_add_tail(&w->link, &vbd->waiters);
		return 0;
	case TD_VBD_PAUSED:
		td_list_add_tail(&w->link, &vbd->waiters);
		td_vbd_notify(vbd, 0);
		return 0;
	case TD_VBD_CLOSING:
		return -EBUSY;
	default:
		return -EINVAL;
	}
}

void td_vbd_waiter_cancel(struct td_vbd_waiter *w)
{
	td_list_del(&w->link);
}

/* Reopens a paused VBD; @grow accepts a chain that became larger. */
static int vbd_reopen(struct td_vbd *vbd, const char *spec, bool grow,
		      char *err, size_t errlen)
{
	struct td_image_ctx ctx = td_vbd_ctx(vbd);
	struct td_image *leaf;
	const char *use = spec && *spec ? spec : vbd->spec;
	int rc;

	if (vbd->state == TD_VBD_PAUSING) {
		snprintf(err, errlen, "vbd %d is still pausing", vbd->minor);
		return -EBUSY;
	}
	if (vbd->state != TD_VBD_PAUSED) {
		snprintf(err, errlen, "vbd %d is %s, not paused", vbd->minor,
			 td_vbd_state_name(vbd->state));
		return -EINVAL;
	}
	if (strlen(use) >= sizeof(vbd->spec)) {
		snprintf(err, errlen, "image name too long");
		return -ENAMETOOLONG;
	}
	rc = td_image_open_chain(use, vbd->open_flags, &ctx, &leaf, err,
				 errlen);
	if (rc)
		return rc;
	if (grow && leaf->size_sectors > vbd->size_sectors) {
		td_info(TD_SUB_VBD, "vbd %d: grew from %llu to %llu sectors",
			vbd->minor, (unsigned long long)vbd->size_sectors,
			(unsigned long long)leaf->size_sectors);
		vbd->size_sectors = leaf->size_sectors;
	}
	if (leaf->size_sectors != vbd->size_sectors) {
		snprintf(err, errlen,
			 "%s has %llu sectors but vbd %d has %llu: size change "
			 "refused, vbd stays paused",
			 use, (unsigned long long)leaf->size_sectors,
			 vbd->minor, (unsigned long long)vbd->size_sectors);
		td_image_close(leaf);
		return -EINVAL;
	}
	if (use != vbd->spec)
		snprintf(vbd->spec, sizeof(vbd->spec), "%s", use);
	vbd->leaf = leaf;
	vbd->caps = leaf->caps;
	vbd->state = TD_VBD_OPEN;
	td_info(TD_SUB_VBD, "vbd %d: resumed on %s", vbd->minor, vbd->spec);
	td_vbd_run_waiting(vbd);
	td_loop_defer(&vbd->srv->loop, &vbd->kick_defer);
	return 0;
}

int td_vbd_resume(struct td_vbd *vbd, const char *spec, char *err,
		  size_t errlen)
{
	return vbd_reopen(vbd, spec, false, err, errlen);
}

int td_vbd_resume_resized(struct td_vbd *vbd, char *err, size_t errlen)
{
	return vbd_reopen(vbd, NULL, true, err, errlen);
}

int td_vbd_close(struct td_vbd *vbd, bool force, struct td_vbd_waiter *w)
{
	struct td_list *pos, *tmp;

	switch (vbd->state) {
	case TD_VBD_OPEN:
	case TD_VBD_PAUSED:
		break;
	case TD_VBD_CLOSING:
		td_list_add_tail(&w->link, &vbd->waiters);
		return 0;
	case TD_VBD_PAUSING:
		return -EBUSY;
	default:
		return -EINVAL;
	}

	td_vbd_stop_exports(vbd);
	td_list_for_each_safe(pos, tmp, &vbd->frontends) {
		struct td_vbd_frontend *fe =
			td_list_entry(pos, struct td_vbd_frontend, link);

		if (fe->ops->closing)
			fe->ops->closing(fe);
	}
	/*
	 * A paused VBD has no chain to run waiting requests on; an open one
	 * runs them unless forced, so a clean close loses nothing.
	 */
	if (force || vbd->state == TD_VBD_PAUSED)
		td_vbd_fail_waiting(vbd, -EIO);
	else
		td_vbd_run_waiting(vbd);
	td_info(TD_SUB_VBD, "vbd %d: closing%s, %u in flight", vbd->minor,
		force ? " (forced)" : "", vbd->inflight);
	vbd->state = TD_VBD_CLOSING;
	td_list_add_tail(&w->link, &vbd->waiters);
	td_vbd_check_drained(vbd);
	return 0;
}

void td_vbd_frontend_add(struct td_vbd *vbd, struct td_vbd_frontend *fe)
{
	td_list_add_tail(&fe->link, &vbd->frontends);
}

void td_vbd_frontend_del(struct td_vbd *vbd, struct td_vbd_frontend *fe)
{
	(void)vbd;
	td_list_del(&fe->link);
}

void td_vbd_stats(struct td_vbd *vbd, struct td_stats_sink *s)
{
	unsigned nwait = 0;
	struct td_list *pos;

	td_list_for_each(pos, &vbd->waiting)
		nwait++;
	s->u64(s, "minor", (uint64_t)vbd->minor);
	s->str(s, "state", td_vbd_state_name(vbd->state));
	s->str(s, "image", vbd->spec);
	s->u64(s, "size_sectors", vbd->size_sectors);
	s->u64(s, "readonly", !td_vbd_writable(vbd));
	s->u64(s, "inflight", vbd->inflight);
	s->u64(s, "waiting", nwait);
	s->u64(s, "reqs_read", vbd->stats.reqs[TD_OP_READ]);
	s->u64(s, "reqs_write", vbd->stats.reqs[TD_OP_WRITE]);
	s->u64(s, "reqs_flush", vbd->stats.reqs[TD_OP_FLUSH]);
	s->u64(s, "reqs_discard", vbd->stats.reqs[TD_OP_DISCARD]);
	s->u64(s, "reqs_write_zeroes", vbd->stats.reqs[TD_OP_WRITE_ZEROES]);
	s->u64(s, "sectors_read", vbd->stats.sectors_read);
	s->u64(s, "sectors_written", vbd->stats.sectors_written);
	s->u64(s, "errors", vbd->stats.errors);
	s->u64(s, "queued_while_paused", vbd->stats.queued_while_paused);
}
