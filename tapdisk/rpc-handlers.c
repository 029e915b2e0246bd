/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The RPC handler table: one function per message type (docs/rpc.md).
 * Handlers check their arguments strictly (an unknown or mistyped key is
 * refused, so a client learns at once that this tapdisk lacks a feature)
 * and every error names the minor or path it is about.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "td-log.h"
#include "td-rpc.h"
#include "image.h"
#include "rpc.h"
#include "server.h"
#include "vbd.h"
#include "xenbus.h"

/* blktap's VBD state flags, which tap-ctl list prints and SM parses. */
#define BLKTAP_VBD_CLOSED 0x0002
#define BLKTAP_VBD_PAUSE_REQUESTED 0x0010
#define BLKTAP_VBD_PAUSED 0x0020
#define BLKTAP_VBD_SHUTDOWN_REQUESTED 0x0040

/* Bound on a chain walk, in case a driver ever reports a loop. */
#define CHAIN_MAX 256

static const char *const arg_type_names[] = {
	[TD_RPC_ARG_INT] = "an integer",
	[TD_RPC_ARG_UINT] = "a non-negative integer",
	[TD_RPC_ARG_BOOL] = "a boolean",
	[TD_RPC_ARG_STR] = "a string",
};

static bool arg_has_type(json_t *v, enum td_rpc_arg_type t)
{
	switch (t) {
	case TD_RPC_ARG_INT:
		return json_is_integer(v);
	case TD_RPC_ARG_UINT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case TD_RPC_ARG_BOOL:
		return json_is_boolean(v);
	case TD_RPC_ARG_STR:
		return json_is_string(v);
	}
	return false;
}

bool td_rpc_check_args(struct td_rpc_call *call, const char *type,
		       json_t *args, const struct td_rpc_arg *spec)
{
	const struct td_rpc_arg *a;
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v) {
		for (a = spec; a->key; a++)
			if (!strcmp(a->key, key))
				break;
		if (!a->key) {
			td_rpc_error(call, -EINVAL,
				     "unknown argument \"%.64s\" for %s", key,
				     type);
			return false;
		}
		if (!arg_has_type(v, a->type)) {
			td_rpc_error(call, -EINVAL,
				     "argument \"%s\" of %s must be %s", key,
				     type, arg_type_names[a->type]);
			return false;
		}
	}
	for (a = spec; a->key; a++) {
		if (a->required && !json_object_get(args, a->key)) {
			td_rpc_error(call, -EINVAL,
				     "missing argument \"%s\" for %s",
				     a->key, type);
			return false;
		}
	}
	return true;
}

static bool arg_bool(json_t *args, const char *key, bool dflt)
{
	json_t *v = json_object_get(args, key);

	return v ? json_is_true(v) : dflt;
}

/* Reads "minor" (already type-checked) and checks its range. */
static bool arg_minor(struct td_rpc_call *call, json_t *args, int *minor)
{
	json_int_t m = json_integer_value(json_object_get(args, "minor"));

	if (m < 0 || m > INT32_MAX) {
		td_rpc_error(call, -EINVAL,
			     "minor %" JSON_INTEGER_FORMAT " out of range",
			     m);
		return false;
	}
	*minor = (int)m;
	return true;
}

struct td_vbd *td_rpc_find_vbd(struct td_server *srv,
			       struct td_rpc_call *call, json_int_t minor)
{
	struct td_vbd *vbd = NULL;

	if (minor >= 0 && minor <= INT32_MAX)
		vbd = td_vbd_find(srv, (int)minor);
	if (!vbd)
		td_rpc_error(call, -ENOENT,
			     "minor %" JSON_INTEGER_FORMAT
			     " is not attached to tapdisk %d",
			     minor, (int)srv->pid);
	return vbd;
}

/* Finds the VBD named by "minor"; replies an error if there is none. */
static struct td_vbd *arg_vbd(struct td_server *srv, struct td_rpc_call *call,
			      json_t *args)
{
	int minor;

	if (!arg_minor(call, args, &minor))
		return NULL;
	return td_rpc_find_vbd(srv, call, minor);
}

/* Checks the TYPE of "TYPE:PATH" names a driver, for a precise error. */
static bool check_spec(struct td_rpc_call *call, int minor, const char *spec)
{
	const struct td_driver_ops *const *d;
	char drv[32], known[256] = "";
	const char *path;
	size_t len = 0;
	int err;

	err = td_image_parse_spec(spec, drv, sizeof(drv), &path);
	if (err) {
		td_rpc_error(call, err,
			     "minor %d: \"%s\" is not TYPE:PATH", minor,
			     spec);
		return false;
	}
	if (td_driver_lookup(drv))
		return true;
	for (d = td_drivers; *d && len < sizeof(known) - 40; d++)
		len += (size_t)snprintf(known + len, sizeof(known) - len,
					"%s%s", len ? ", " : "", (*d)->name);
	td_rpc_error(call, -EINVAL,
		     "minor %d: unknown image type \"%s\" in %s (known: %s)",
		     minor, drv, spec, known);
	return false;
}

static int blktap_flags(enum td_vbd_state s)
{
	switch (s) {
	case TD_VBD_ATTACHED:
		return BLKTAP_VBD_CLOSED;
	case TD_VBD_OPEN:
		return 0;
	case TD_VBD_PAUSING:
		return BLKTAP_VBD_PAUSE_REQUESTED;
	case TD_VBD_PAUSED:
		return BLKTAP_VBD_PAUSED;
	case TD_VBD_CLOSING:
		return BLKTAP_VBD_SHUTDOWN_REQUESTED;
	}
	return 0;
}

static void sink_u64(struct td_stats_sink *s, const char *key, uint64_t v)
{
	struct td_rpc_sink *js = td_container_of(s, struct td_rpc_sink, sink);

	json_object_set_new(js->obj, key, json_integer((json_int_t)v));
}

static void sink_str(struct td_stats_sink *s, const char *key, const char *v)
{
	struct td_rpc_sink *js = td_container_of(s, struct td_rpc_sink, sink);

	json_object_set_new(js->obj, key, td_rpc_string(v));
}

void td_rpc_sink_init(struct td_rpc_sink *js, json_t *obj)
{
	js->sink.u64 = sink_u64;
	js->sink.str = sink_str;
	js->obj = obj;
}

static json_t *describe_exports(struct td_vbd *vbd)
{
	json_t *ex = json_object();
	struct td_rpc_sink js;
	unsigned i;

	for (i = 0; ex && td_exports[i] && i < TD_MAX_EXPORTS; i++) {
		json_t *o;

		if (!vbd->export_started[i])
			continue;
		o = json_object();
		if (td_exports[i]->describe) {
			td_rpc_sink_init(&js, o);
			td_exports[i]->describe(vbd, i, &js.sink);
		}
		json_object_set_new(ex, td_exports[i]->name, o);
	}
	return ex;
}

/* The summary of a VBD shared by list and stats. */
static json_t *describe_vbd(struct td_vbd *vbd)
{
	bool has_image = vbd->state != TD_VBD_ATTACHED;
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "minor", json_integer(vbd->minor));
	json_object_set_new(o, "state",
			    json_string(td_vbd_state_name(vbd->state)));
	json_object_set_new(o, "flags",
			    json_integer(blktap_flags(vbd->state)));
	json_object_set_new(o, "spec",
			    has_image ? td_rpc_string(vbd->spec) : json_null());
	json_object_set_new(o, "readonly",
			    json_boolean(has_image &&
					 (vbd->open_flags & TD_OPEN_RDONLY)));
	json_object_set_new(o, "size_sectors",
			    json_integer(has_image ?
					 (json_int_t)vbd->size_sectors : 0));
	json_object_set_new(o, "exports", describe_exports(vbd));
	return o;
}

static int h_hello(struct td_server *srv, struct td_rpc_call *call,
		   json_t *args)
{
	static const struct td_rpc_arg spec[] = { { NULL, 0, false } };
	const struct td_rpc_handler *h;
	json_t *res, *drivers, *exports, *msgs, *engines;
	unsigned i;

	if (!td_rpc_check_args(call, "hello", args, spec))
		return 0;
	drivers = json_array();
	exports = json_array();
	msgs = json_array();
	engines = json_array();
	for (i = 0; engines && td_io_names[i]; i++)
		json_array_append_new(engines, json_string(td_io_names[i]));
	for (i = 0; drivers && td_drivers[i]; i++)
		json_array_append_new(drivers,
				      json_string(td_drivers[i]->name));
	for (i = 0; exports && td_exports[i] && i < TD_MAX_EXPORTS; i++)
		json_array_append_new(exports,
				      json_string(td_exports[i]->name));
	for (h = td_rpc_handlers; msgs && h->type; h++)
		json_array_append_new(msgs, json_string(h->type));
	res = json_pack("{s:i, s:i, s:s, s:o, s:o, s:o, s:o, s:o}",
			"version", TD_RPC_VERSION, "pid", (int)srv->pid,
			"io_engine", srv->io_ops ? srv->io_ops->name :
			(srv->opts.io_engine ? srv->opts.io_engine : "aio"),
			"run_dir", td_rpc_string(srv->run_dir),
			"drivers", drivers, "exports", exports,
			"io_engines", engines,
			"messages", msgs);
	if (!res)
		return -ENOMEM;
	td_rpc_reply(call, res);
	return 0;
}

static int h_list(struct td_server *srv, struct td_rpc_call *call,
		  json_t *args)
{
	static const struct td_rpc_arg spec[] = { { NULL, 0, false } };
	struct td_list *pos;
	json_t *vbds;

	if (!td_rpc_check_args(call, "list", args, spec))
		return 0;
	vbds = json_array();
	if (!vbds)
		return -ENOMEM;
	td_list_for_each(pos, &srv->vbds) {
		struct td_vbd *vbd = td_list_entry(pos, struct td_vbd, link);

		if (json_array_append_new(vbds, describe_vbd(vbd))) {
			json_decref(vbds);
			return -ENOMEM;
		}
	}
	td_rpc_reply(call, json_pack("{s:i, s:o}", "pid", (int)srv->pid,
				     "vbds", vbds));
	return 0;
}

static const struct td_rpc_arg minor_only[] = {
	{ "minor", TD_RPC_ARG_INT, true },
	{ NULL, 0, false },
};

static int h_attach(struct td_server *srv, struct td_rpc_call *call,
		    json_t *args)
{
	struct td_vbd *vbd;
	int minor, err;

	if (!td_rpc_check_args(call, "attach", args, minor_only) ||
	    !arg_minor(call, args, &minor))
		return 0;
	err = td_vbd_create(srv, minor, &vbd);
	if (err == -EEXIST) {
		td_rpc_error(call, err,
			     "minor %d is already attached to "
			     "tapdisk %d", minor, (int)srv->pid);
		return 0;
	}
	if (err) {
		td_rpc_error(call, err, "minor %d: %s", minor,
			     strerror(-err));
		return 0;
	}
	td_dbg(TD_SUB_RPC, "vbd %d: rpc attached", minor);
	td_rpc_reply(call, describe_vbd(vbd));
	return 0;
}

static int h_detach(struct td_server *srv, struct td_rpc_call *call,
		    json_t *args)
{
	struct td_vbd *vbd;
	int minor, err;

	if (!td_rpc_check_args(call, "detach", args, minor_only))
		return 0;
	vbd = arg_vbd(srv, call, args);
	if (!vbd)
		return 0;
	minor = vbd->minor;
	if (vbd->state != TD_VBD_ATTACHED) {
		td_rpc_error(call, -EBUSY,
			     "minor %d is %s: close it first", minor,
			     td_vbd_state_name(vbd->state));
		return 0;
	}
	err = td_vbd_destroy(vbd);
	if (err) {
		td_rpc_error(call, err, "minor %d: %s", minor,
			     strerror(-err));
		return 0;
	}
	td_dbg(TD_SUB_RPC, "vbd %d: rpc detached", minor);
	td_rpc_reply(call, json_pack("{s:i}", "minor", minor));
	return 0;
}

static int h_open(struct td_server *srv, struct td_rpc_call *call,
		  json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "minor", TD_RPC_ARG_INT, true },
		{ "spec", TD_RPC_ARG_STR, true },
		{ "readonly", TD_RPC_ARG_BOOL, false },
		{ "no_o_direct", TD_RPC_ARG_BOOL, false },
		{ "nbd", TD_RPC_ARG_BOOL, false },
		{ "nbd_tcp", TD_RPC_ARG_STR, false },
		{ "shm", TD_RPC_ARG_BOOL, false },
		{ NULL, 0, false },
	};
	struct td_vbd_export_opts eo = { 0 };
	char err_msg[512] = "";
	const char *image, *tcp;
	struct td_vbd *vbd;
	unsigned flags = 0;
	int err;

	if (!td_rpc_check_args(call, "open", args, spec))
		return 0;
	vbd = arg_vbd(srv, call, args);
	if (!vbd)
		return 0;
	image = json_string_value(json_object_get(args, "spec"));
	tcp = json_string_value(json_object_get(args, "nbd_tcp"));
	if (vbd->state != TD_VBD_ATTACHED) {
		td_rpc_error(call, -EBUSY,
			     "minor %d is already %s with %s",
			     vbd->minor, td_vbd_state_name(vbd->state),
			     vbd->spec);
		return 0;
	}
	if (!check_spec(call, vbd->minor, image))
		return 0;
	if (tcp && strlen(tcp) >= sizeof(eo.nbd_tcp)) {
		td_rpc_error(call, -EINVAL,
			     "minor %d: nbd_tcp address too long",
			     vbd->minor);
		return 0;
	}
	if (arg_bool(args, "readonly", false))
		flags |= TD_OPEN_RDONLY;
	if (arg_bool(args, "no_o_direct", false))
		flags |= TD_OPEN_NO_O_DIRECT;
	eo.no_nbd = !arg_bool(args, "nbd", true);
	eo.no_shm = !arg_bool(args, "shm", true);
	if (tcp)
		strcpy(eo.nbd_tcp, tcp);

	err = td_vbd_open(vbd, image, flags, &eo, err_msg, sizeof(err_msg));
	if (err) {
		/* td_vbd_open's message names the failing image. */
		if (err_msg[0])
			td_rpc_error(call, err, "minor %d: %s", vbd->minor,
				     err_msg);
		else
			td_rpc_error(call, err, "minor %d: %s: %s", vbd->minor,
				     image, strerror(-err));
		return 0;
	}
	td_dbg(TD_SUB_RPC, "vbd %d: rpc opened %s", vbd->minor, image);
	td_rpc_reply(call, describe_vbd(vbd));
	return 0;
}

/* An asynchronous operation (close, pause) waiting for the VBD. */
struct rpc_wait {
	struct td_vbd_waiter w;
	struct td_loop_timer timer;
	struct td_rpc_call *call;
	struct td_server *srv;
	const char *verb;
	int minor;
	uint64_t timeout_ms;
};

static void wait_done(struct td_vbd_waiter *w, int err)
{
	struct rpc_wait *op = w->arg;
	struct td_vbd *vbd;

	td_loop_timer_cancel(&op->srv->loop, &op->timer);
	if (err) {
		td_rpc_error(op->call, err, "minor %d: %s failed: %s",
			     op->minor, op->verb, strerror(-err));
	} else {
		vbd = td_vbd_find(op->srv, op->minor);
		td_rpc_reply(op->call,
			     vbd ? describe_vbd(vbd) :
				   json_pack("{s:i}", "minor", op->minor));
	}
	free(op);
}

/* The client's deadline passed: answer now, let the VBD carry on. */
static void wait_timeout(struct td_loop_timer *t)
{
	struct rpc_wait *op = t->arg;

	td_vbd_waiter_cancel(&op->w);
	td_rpc_error(op->call, -ETIMEDOUT,
		     "minor %d: %s did not finish within %" PRIu64
		     " ms (still in progress)",
		     op->minor, op->verb, op->timeout_ms);
	free(op);
}

static struct rpc_wait *wait_new(struct td_server *srv,
				 struct td_rpc_call *call, const char *verb,
				 int minor)
{
	struct rpc_wait *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->w.done = wait_done;
	op->w.arg = op;
	td_list_init(&op->w.link);
	op->timer.cb = wait_timeout;
	op->timer.arg = op;
	td_list_init(&op->timer.link);
	op->call = call;
	op->srv = srv;
	op->verb = verb;
	op->minor = minor;
	return op;
}

static int h_close(struct td_server *srv, struct td_rpc_call *call,
		   json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "minor", TD_RPC_ARG_INT, true },
		{ "force", TD_RPC_ARG_BOOL, false },
		{ NULL, 0, false },
	};
	struct rpc_wait *op;
	struct td_vbd *vbd;
	int minor, err;

	if (!td_rpc_check_args(call, "close", args, spec))
		return 0;
	vbd = arg_vbd(srv, call, args);
	if (!vbd)
		return 0;
	minor = vbd->minor;
	if (vbd->state == TD_VBD_ATTACHED) {
		td_rpc_error(call, -EINVAL,
			     "minor %d has no image open", minor);
		return 0;
	}
	op = wait_new(srv, call, "close", minor);
	if (!op)
		return -ENOMEM;
	/* @op may be gone once td_vbd_close returns 0. */
	err = td_vbd_close(vbd, arg_bool(args, "force", false), &op->w);
	if (err) {
		free(op);
		td_rpc_error(call, err, "minor %d (%s): %s", minor,
			     td_vbd_state_name(vbd->state), strerror(-err));
		return 0;
	}
	td_dbg(TD_SUB_RPC, "vbd %d: rpc closing", minor);
	return 0;
}

static int h_pause(struct td_server *srv, struct td_rpc_call *call,
		   json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "minor", TD_RPC_ARG_INT, true },
		{ "timeout_ms", TD_RPC_ARG_INT, false },
		{ NULL, 0, false },
	};
	json_t *tmo = json_object_get(args, "timeout_ms");
	struct rpc_wait *op;
	struct td_vbd *vbd;
	int minor, err;

	if (!td_rpc_check_args(call, "pause", args, spec))
		return 0;
	vbd = arg_vbd(srv, call, args);
	if (!vbd)
		return 0;
	minor = vbd->minor;
	if (tmo && json_integer_value(tmo) < 0) {
		td_rpc_error(call, -EINVAL,
			     "minor %d: negative timeout_ms", minor);
		return 0;
	}
	if (vbd->state == TD_VBD_ATTACHED || vbd->state == TD_VBD_CLOSING) {
		td_rpc_error(call, -EINVAL,
			     "minor %d is %s: nothing to pause", minor,
			     td_vbd_state_name(vbd->state));
		return 0;
	}
	op = wait_new(srv, call, "pause", minor);
	if (!op)
		return -ENOMEM;
	op->timeout_ms = tmo ? (uint64_t)json_integer_value(tmo) : 0;
	/* Armed first: done may cancel it from a deferred call. */
	if (op->timeout_ms)
		td_loop_timer_arm(&srv->loop, &op->timer,
				  op->timeout_ms * TD_NS_PER_MS);
	err = td_vbd_pause(vbd, &op->w);
	if (err) {
		td_loop_timer_cancel(&srv->loop, &op->timer);
		free(op);
		td_rpc_error(call, err, "minor %d (%s): %s", minor,
			     td_vbd_state_name(vbd->state), strerror(-err));
		return 0;
	}
	td_dbg(TD_SUB_RPC, "vbd %d: rpc pausing", minor);
	return 0;
}

static int h_unpause(struct td_server *srv, struct td_rpc_call *call,
		     json_t *args)
{
	static const struct td_rpc_arg spec[] = {
		{ "minor", TD_RPC_ARG_INT, true },
		{ "spec", TD_RPC_ARG_STR, false },
		{ NULL, 0, false },
	};
	const char *image;
	char err_msg[512] = "";
	struct td_vbd *vbd;
	int err;

	if (!td_rpc_check_args(call, "unpause", args, spec))
		return 0;
	vbd = arg_vbd(srv, call, args);
	if (!vbd)
		return 0;
	image = json_string_value(json_object_get(args, "spec"));
	if (vbd->state != TD_VBD_PAUSED) {
		td_rpc_error(call, -EINVAL, "minor %d is %s, not paused",
			     vbd->minor, td_vbd_state_name(vbd->state));
		return 0;
	}
	if (image && !check_spec(call, vbd->minor, image))
		return 0;
	err = td_vbd_resume(vbd, image, err_msg, sizeof(err_msg));
	if (err) {
		const char *why = err_msg[0] ? err_msg : strerror(-err);

		td_rpc_error(call, err, "minor %d: cannot resume on %s: %s%s",
			     vbd->minor, image ? image : vbd->spec, why,
			     strstr(why, "paused") ? "" :
						     " (it stays paused)");
		return 0;
	}
	td_dbg(TD_SUB_RPC, "vbd %d: rpc resumed on %s", vbd->minor, vbd->spec);
	td_rpc_reply(call, describe_vbd(vbd));
	return 0;
}

static json_t *stats_images(struct td_vbd *vbd)
{
	json_t *a = json_array();
	struct td_image *img;
	struct td_rpc_sink js;
	unsigned depth = 0;

	for (img = vbd->leaf; a && img && depth < CHAIN_MAX;
	     img = img->parent, depth++) {
		json_t *o = json_object();

		json_object_set_new(o, "driver", json_string(img->ops->name));
		json_object_set_new(o, "path", td_rpc_string(img->path));
		json_object_set_new(
			o, "size_sectors",
			json_integer((json_int_t)img->size_sectors));
		td_rpc_sink_init(&js, o);
		td_image_stats(img, &js.sink);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *stats_frontends(struct td_vbd *vbd)
{
	json_t *a = json_array();
	struct td_rpc_sink js;
	struct td_list *pos;

	td_list_for_each(pos, &vbd->frontends) {
		struct td_vbd_frontend *fe =
			td_list_entry(pos, struct td_vbd_frontend, link);
		json_t *o = json_object();

		json_object_set_new(o, "kind", json_string(fe->ops->kind));
		if (fe->ops->describe) {
			td_rpc_sink_init(&js, o);
			fe->ops->describe(fe, &js.sink);
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *stats_counters(const struct td_vbd_stats *st)
{
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I}",
			 "reqs", "read", (json_int_t)st->reqs[TD_OP_READ],
			 "write", (json_int_t)st->reqs[TD_OP_WRITE],
			 "flush", (json_int_t)st->reqs[TD_OP_FLUSH],
			 "discard", (json_int_t)st->reqs[TD_OP_DISCARD],
			 "write_zeroes",
			 (json_int_t)st->reqs[TD_OP_WRITE_ZEROES],
			 "sectors_read", (json_int_t)st->sectors_read,
			 "sectors_written", (json_int_t)st->sectors_written,
			 "errors", (json_int_t)st->errors,
			 "queued_while_paused",
			 (json_int_t)st->queued_while_paused);
}

/* Process-wide: the loop's busy polling, which every VBD here shares. */
static json_t *stats_poll(const struct td_loop *loop)
{
	struct td_loop_poll_stats ps = td_loop_poll_stats(loop);

	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "max_us",
			 (json_int_t)(loop->poll_max_ns / 1000), "window_us",
			 (json_int_t)(ps.window_ns / 1000), "hits",
			 (json_int_t)ps.hits, "misses", (json_int_t)ps.misses,
			 "sleeps", (json_int_t)ps.sleeps);
}

static int h_stats(struct td_server *srv, struct td_rpc_call *call,
		   json_t *args)
{
	struct td_vbd *vbd;
	json_t *res;

	if (!td_rpc_check_args(call, "stats", args, minor_only))
		return 0;
	vbd = arg_vbd(srv, call, args);
	if (!vbd)
		return 0;
	res = describe_vbd(vbd);
	if (!res)
		return -ENOMEM;
	json_object_set_new(res, "inflight", json_integer(vbd->inflight));
	json_object_set_new(res, "counters", stats_counters(&vbd->stats));
	json_object_set_new(res, "images", stats_images(vbd));
	json_object_set_new(res, "frontends", stats_frontends(vbd));
	json_object_set_new(res, "poll", stats_poll(&srv->loop));
	td_rpc_reply(call, res);
	return 0;
}

const struct td_rpc_handler td_rpc_handlers[] = {
	{ "hello", h_hello },
	{ "list", h_list },
	{ "attach", h_attach },
	{ "detach", h_detach },
	{ "open", h_open },
	{ "close", h_close },
	{ "pause", h_pause },
	{ "unpause", h_unpause },
	{ "stats", h_stats },
	/* xenstore backend and online resize: tapdisk/xenbus-rpc.c */
	{ "xenbus-connect", td_xenbus_rpc_connect },
	{ "xenbus-disconnect", td_xenbus_rpc_disconnect },
	{ "xenbus-watch", td_xenbus_rpc_watch },
	{ "xenbus-unwatch", td_xenbus_rpc_unwatch },
	{ "xenbus-list", td_xenbus_rpc_list },
	{ "resize", td_xenbus_rpc_resize },
	{ NULL, NULL },
};
