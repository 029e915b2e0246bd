// SPDX-License-Identifier: GPL-2.0-only
/*
 * RPC messages of the xenbus backend and online resize (docs/rpc.md,
 * "xenstore backend"): xenbus-connect, xenbus-disconnect, xenbus-watch,
 * xenbus-unwatch, xenbus-list and resize. Arguments are checked strictly
 * like every other handler: unknown or mistyped keys are refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rpc.h"
#include "server.h"
#include "xenbus-priv.h"

static const char *xstr(json_t *args, const char *key)
{
	return json_string_value(json_object_get(args, key));
}

static long long xint(json_t *args, const char *key, long long dflt)
{
	json_t *v = json_object_get(args, key);

	return v ? (long long)json_integer_value(v) : dflt;
}

/* The options shared by xenbus-connect and xenbus-watch. */
#define XB_OPT_ARGS \
	{ "transport", TD_RPC_ARG_STR, false }, \
	{ "timeout_ms", TD_RPC_ARG_UINT, false }, \
	{ "max_queues", TD_RPC_ARG_UINT, false }, \
	{ "max_ring_order", TD_RPC_ARG_UINT, false }, \
	{ "max_indirect", TD_RPC_ARG_UINT, false }, \
	{ "no_persistent", TD_RPC_ARG_BOOL, false }

static bool xb_opts(struct td_rpc_call *call, json_t *args,
		    struct td_xenbus_opts *o)
{
	const char *tr = xstr(args, "transport");
	long long q = xint(args, "max_queues", 0);
	long long ord = xint(args, "max_ring_order", 0);
	long long ind = xint(args, "max_indirect", -1);
	long long tmo = xint(args, "timeout_ms", 0);

	memset(o, 0, sizeof(*o));
	o->xport = td_xenbus_xport_lookup(tr);
	if (!o->xport) {
		td_rpc_error(call, -EINVAL,
			     "transport \"%.32s\" is not xen or shm", tr);
		return false;
	}
	if (q > TD_SHM_MAX_QUEUES || ord > TD_SHM_MAX_RING_ORDER ||
	    ind > TD_SHM_MAX_INDIRECT_SEGS || tmo > 86400000) {
		td_rpc_error(call, -EINVAL,
			     "limits: max_queues <= %u, max_ring_order <= %u, "
			     "max_indirect <= %u, timeout_ms <= 86400000",
			     TD_SHM_MAX_QUEUES, TD_SHM_MAX_RING_ORDER,
			     TD_SHM_MAX_INDIRECT_SEGS);
		return false;
	}
	o->cfg.max_queues = (unsigned)q;
	o->cfg.max_ring_order = (unsigned)ord;
	if (ind == 0)
		o->cfg.no_indirect = true;
	else if (ind > 0)
		o->cfg.max_indirect = (unsigned)ind;
	o->cfg.no_persistent =
		json_is_true(json_object_get(args, "no_persistent"));
	o->connect_timeout_ms = (unsigned)tmo;
	return true;
}

static bool get_xb(struct td_server *srv, struct td_rpc_call *call,
		   struct td_xenbus **xb)
{
	char err[256];
	int rc = td_xenbus_get(srv, xb, err, sizeof(err));

	if (rc)
		td_rpc_error(call, rc, "%s", err);
	return !rc;
}

int td_xenbus_rpc_connect(struct td_server *srv, struct td_rpc_call *call,
			  json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "minor", TD_RPC_ARG_UINT, true },
		{ "backend_path", TD_RPC_ARG_STR, true },
		XB_OPT_ARGS,
		{ NULL, 0, false },
	};
	const char *be = xstr(args, "backend_path");
	struct td_xenbus_opts o;
	struct td_xenbus *xb;
	struct td_vbd *vbd;
	char err[XB_ERR_MAX] = "";
	int rc;

	if (!td_rpc_check_args(call, "xenbus-connect", args, spec) ||
	    !xb_opts(call, args, &o))
		return 0;
	vbd = td_rpc_find_vbd(srv, call, xint(args, "minor", -1));
	if (!vbd)
		return 0;
	if (!get_xb(srv, call, &xb))
		return 0;
	rc = td_xenbus_connect(xb, vbd, be, &o, err, sizeof(err));
	if (rc) {
		td_rpc_error(call, rc, "minor %d: %s", vbd->minor, err);
		return 0;
	}
	td_rpc_reply(call, json_pack("{s:i, s:o, s:s}", "minor", vbd->minor,
				     "backend_path", td_rpc_string(be),
				     "transport", o.xport->name));
	return 0;
}

int td_xenbus_rpc_disconnect(struct td_server *srv, struct td_rpc_call *call,
			     json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "backend_path", TD_RPC_ARG_STR, true },
		{ NULL, 0, false },
	};
	const char *be = xstr(args, "backend_path");

	if (!td_rpc_check_args(call, "xenbus-disconnect", args, spec))
		return 0;
	if (!srv->xenbus || td_xenbus_disconnect(srv->xenbus, be)) {
		td_rpc_error(call, -ENOENT, "%s is not served by tapdisk %d",
			     be, (int)srv->pid);
		return 0;
	}
	td_rpc_reply(call, json_pack("{s:o}", "backend_path",
				     td_rpc_string(be)));
	return 0;
}

int td_xenbus_rpc_watch(struct td_server *srv, struct td_rpc_call *call,
			json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "dir", TD_RPC_ARG_STR, true },
		XB_OPT_ARGS,
		{ NULL, 0, false },
	};
	const char *dir = xstr(args, "dir");
	struct td_xenbus_opts o;
	struct td_xenbus *xb;
	char err[XB_ERR_MAX] = "";
	int rc;

	if (!td_rpc_check_args(call, "xenbus-watch", args, spec) ||
	    !xb_opts(call, args, &o) || !get_xb(srv, call, &xb))
		return 0;
	rc = td_xenbus_watch(xb, dir, &o, err, sizeof(err));
	if (rc) {
		td_rpc_error(call, rc, "%s", err);
		return 0;
	}
	td_rpc_reply(call, json_pack("{s:o}", "dir", td_rpc_string(dir)));
	return 0;
}

int td_xenbus_rpc_unwatch(struct td_server *srv, struct td_rpc_call *call,
			  json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "dir", TD_RPC_ARG_STR, true },
		{ NULL, 0, false },
	};
	const char *dir = xstr(args, "dir");

	if (!td_rpc_check_args(call, "xenbus-unwatch", args, spec))
		return 0;
	if (!srv->xenbus || td_xenbus_unwatch(srv->xenbus, dir)) {
		td_rpc_error(call, -ENOENT, "%s is not watched", dir);
		return 0;
	}
	td_rpc_reply(call, json_pack("{s:o}", "dir", td_rpc_string(dir)));
	return 0;
}

static void list_one(void *arg, struct td_xenbus_dev *dev)
{
	struct td_rpc_sink js;

	td_rpc_sink_init(&js, json_object());
	if (!js.obj)
		return;
	td_xenbus_dev_describe(dev, &js.sink);
	json_array_append_new(arg, js.obj);
}

int td_xenbus_rpc_list(struct td_server *srv, struct td_rpc_call *call,
		       json_t *args)
{
	static const struct td_rpc_arg spec[] = { { NULL, 0, false } };
	json_t *a;

	if (!td_rpc_check_args(call, "xenbus-list", args, spec))
		return 0;
	a = json_array();
	if (!a)
		return -ENOMEM;
	if (srv->xenbus)
		td_xenbus_describe(srv->xenbus, list_one, a);
	td_rpc_reply(call, json_pack("{s:o}", "devices", a));
	return 0;
}

/* resize: pause, reopen accepting growth, resume, tell the frontends. */
struct resize_op {
	struct td_vbd_waiter w;
	struct td_server *srv;
	struct td_rpc_call *call;
	int minor;
};

static void resize_paused(struct td_vbd_waiter *w, int err)
{
	struct resize_op *op = w->arg;
	struct td_vbd *vbd = td_vbd_find(op->srv, op->minor);
	char msg[512] = "";
	uint64_t old;
	unsigned n = 0;
	int rc;

	if (err || !vbd) {
		td_rpc_error(op->call, err ? err : -ENOENT,
			     "minor %d: pause for resize failed", op->minor);
		free(op);
		return;
	}
	old = vbd->size_sectors;
	rc = td_vbd_resume_resized(vbd, msg, sizeof(msg));
	if (rc) {
		td_rpc_error(op->call, rc, "minor %d: resize: %s", op->minor,
			     msg[0] ? msg : strerror(-rc));
		free(op);
		return;
	}
	if (op->srv->xenbus)
		n = td_xenbus_vbd_resized(op->srv->xenbus, vbd);
	td_rpc_reply(op->call,
		     json_pack("{s:i, s:I, s:I, s:i}", "minor", op->minor,
			       "old_sectors", (json_int_t)old, "size_sectors",
			       (json_int_t)vbd->size_sectors,
			       "xenbus_notified", (int)n));
	free(op);
}

int td_xenbus_rpc_resize(struct td_server *srv, struct td_rpc_call *call,
			 json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "minor", TD_RPC_ARG_UINT, true },
		{ NULL, 0, false },
	};
	struct resize_op *op;
	struct td_vbd *vbd;
	int rc;

	if (!td_rpc_check_args(call, "resize", args, spec))
		return 0;
	vbd = td_rpc_find_vbd(srv, call, xint(args, "minor", -1));
	if (!vbd)
		return 0;
	if (vbd->state != TD_VBD_OPEN && vbd->state != TD_VBD_PAUSED) {
		td_rpc_error(call, -EINVAL,
			     "minor %d is %s, not open or paused", vbd->minor,
			     td_vbd_state_name(vbd->state));
		return 0;
	}
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->srv = srv;
	op->call = call;
	op->minor = vbd->minor;
	op->w.done = resize_paused;
	op->w.arg = op;
	td_list_init(&op->w.link);
	/* Paused by the toolstack (vhd: pause, vhd-util resize, resize). */
	if (vbd->state == TD_VBD_PAUSED) {
		resize_paused(&op->w, 0);
		return 0;
	}
	rc = td_vbd_pause(vbd, &op->w);
	if (rc) {
		free(op);
		return rc;
	}
	return 0;
}
