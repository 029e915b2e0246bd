// SPDX-License-Identifier: GPL-2.0-only
/*
 * tap-ctl: the xenstore backend verbs (xenbus-connect, xenbus-disconnect,
 * xenbus-watch, xenbus-unwatch, xenbus-list) and resize. Each is one RPC
 * (docs/rpc.md, "xenstore backend") through libtdctl's generic call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tap-ctl.h"

struct xb_call {
	const char *type;
	json_t *args; /* NULL once handed to libtdctl, which steals it */
	json_t **res;
};

static int do_call(struct cli *c, struct td_ctl *ctl, void *arg,
		   struct td_ctl_error *e)
{
	struct xb_call *x = arg;
	json_t *args = x->args;

	(void)c;
	x->args = NULL;
	return td_ctl_call(ctl, x->type, args, x->res, e);
}

/* Runs @type with @args (stolen) on c->pid; *res gets the result. */
static int call(struct cli *c, const char *type, json_t *args, json_t **res)
{
	struct xb_call x = { type, args, res };
	int ret;

	if (!args)
		return cli_fail(c, -ENOMEM, "out of memory");
	ret = cli_call(c, true, do_call, &x);
	json_decref(x.args); /* still ours if the connect failed */
	return ret;
}

static int call_quiet(struct cli *c, const char *type, json_t *args)
{
	json_t *res = NULL;
	int ret = call(c, type, args, &res);

	json_decref(res);
	return ret;
}

static json_t *xb_args(const struct cli *c, const char *key)
{
	json_t *a = json_pack("{s:s}", key, c->backend);

	if (a && c->transport)
		json_object_set_new(a, "transport", json_string(c->transport));
	if (a && c->fe_timeout_ms)
		json_object_set_new(a, "timeout_ms",
				    json_integer(c->fe_timeout_ms));
	return a;
}

int cmd_xenbus_connect(struct cli *c)
{
	json_t *a = xb_args(c, "backend_path");

	if (a)
		json_object_set_new(a, "minor", json_integer(c->minor));
	return call_quiet(c, "xenbus-connect", a);
}

int cmd_xenbus_disconnect(struct cli *c)
{
	if (c->transport || c->fe_timeout_ms)
		return cli_fail(c, -EINVAL, "only -b is accepted here");
	return call_quiet(c, "xenbus-disconnect",
			  json_pack("{s:s}", "backend_path", c->backend));
}

int cmd_xenbus_watch(struct cli *c)
{
	if (c->fe_timeout_ms)
		return cli_fail(c, -EINVAL,
				"--frontend-timeout is for xenbus-connect");
	return call_quiet(c, "xenbus-watch", xb_args(c, "dir"));
}

int cmd_xenbus_unwatch(struct cli *c)
{
	return call_quiet(c, "xenbus-unwatch",
			  json_pack("{s:s}", "dir", c->backend));
}

int cmd_xenbus_list(struct cli *c)
{
	json_t *res = NULL, *devs, *d;
	size_t i;
	int ret = call(c, "xenbus-list", json_object(), &res);

	if (ret)
		return ret;
	devs = json_object_get(res, "devices");
	if (c->json) {
		json_dumpf(res, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		/* One key=value line per device, like list. */
		json_array_foreach(devs, i, d) {
			const char *err = json_string_value(
				json_object_get(d, "error"));

			printf("minor=%" JSON_INTEGER_FORMAT
			       " backend=%s state=%s frontend_state=%s "
			       "transport=%s",
			       json_integer_value(json_object_get(d, "minor")),
			       json_string_value(json_object_get(d, "backend")),
			       json_string_value(json_object_get(d, "state")),
			       json_string_value(json_object_get(
				       d, "frontend_state")),
			       json_string_value(json_object_get(
				       d, "transport")));
			if (err && *err)
				printf(" error=\"%s\"", err);
			putchar('\n');
		}
	}
	json_decref(res);
	return 0;
}

int cmd_resize(struct cli *c)
{
	json_t *res = NULL;
	int ret = call(c, "resize", json_pack("{s:i}", "minor", c->minor),
		       &res);

	if (ret)
		return ret;
	printf("minor=%d sectors=%" JSON_INTEGER_FORMAT " old_sectors=%"
	       JSON_INTEGER_FORMAT "\n", c->minor,
	       json_integer_value(json_object_get(res, "size_sectors")),
	       json_integer_value(json_object_get(res, "old_sectors")));
	json_decref(res);
	return 0;
}
