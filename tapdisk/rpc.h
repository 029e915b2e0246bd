/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control-socket server: accepts connections on the process's unix
 * socket, frames and parses messages (include/td-rpc.h, docs/rpc.md),
 * dispatches them through one handler table, and sends replies. Loop
 * thread only. Control path: allocation is fine here.
 */
#ifndef TD_RPC_H
#define TD_RPC_H

#include <stdbool.h>
#include <jansson.h>
#include "image.h"

struct td_server;
struct td_vbd;
struct td_rpc_server;
struct td_rpc_call; /* one request being handled; owned by the RPC layer */

struct td_rpc_handler {
	const char *type;
	/*
	 * Handles one request. @args is borrowed (an object, possibly empty).
	 * The handler replies now or later with exactly one td_rpc_reply or
	 * td_rpc_error on @call. Returning -errno instead means "not handled,
	 * reply with that error" (no call on @call then).
	 */
	int (*fn)(struct td_server *srv, struct td_rpc_call *call,
		  json_t *args);
};

/* The handler table, in tapdisk/rpc-handlers.c, terminated by type NULL. */
extern const struct td_rpc_handler td_rpc_handlers[];

/* Helpers for handlers, in tapdisk/rpc-handlers.c (loop thread). */

enum td_rpc_arg_type {
	TD_RPC_ARG_INT,  /* any JSON integer */
	TD_RPC_ARG_UINT, /* a JSON integer >= 0 */
	TD_RPC_ARG_BOOL,
	TD_RPC_ARG_STR,
};

/* One accepted argument; a spec is an array ended by key NULL. */
struct td_rpc_arg {
	const char *key;
	enum td_rpc_arg_type type;
	bool required;
};

/*
 * Checks @args of message @type against @spec: every key known and of its
 * type, every required key present. On a problem sends the -EINVAL reply
 * on @call (naming the key) and returns false: the handler then returns 0
 * without touching @call again.
 */
bool td_rpc_check_args(struct td_rpc_call *call, const char *type,
		       json_t *args, const struct td_rpc_arg *spec);

/*
 * Finds the VBD of @minor (any value; outside int range there is none).
 * If there is none, sends the -ENOENT reply "minor N is not attached to
 * tapdisk PID" on @call and returns NULL.
 */
struct td_vbd *td_rpc_find_vbd(struct td_server *srv,
			       struct td_rpc_call *call, json_int_t minor);

/* A td_stats_sink that adds each value to obj (borrowed) as key: value. */
struct td_rpc_sink {
	struct td_stats_sink sink;
	json_t *obj;
};

/* Makes @js fill @obj (NULL-safe: values are then dropped). */
void td_rpc_sink_init(struct td_rpc_sink *js, json_t *obj);

/*
 * Listens on @path (mode 0600): an existing socket nobody answers on is
 * replaced, a live one gives -EADDRINUSE. Returns 0 or -errno.
 */
int td_rpc_server_create(struct td_server *srv, const char *path,
			 struct td_rpc_server **out);

/* Closes the listener and every connection; pending calls are dropped. */
void td_rpc_server_destroy(struct td_rpc_server *rs);

/* Sends the result (reference stolen, NULL means {}) and frees @call. */
void td_rpc_reply(struct td_rpc_call *call, json_t *result);

/*
 * Returns a new JSON string for @s (NULL: JSON null), replacing the bytes
 * of a string that is not valid UTF-8 (paths may hold any byte) by '?'.
 * NULL only on ENOMEM. For handlers building results.
 */
json_t *td_rpc_string(const char *s);

/* Sends an error reply (code @err = -errno) and frees @call. */
void td_rpc_error(struct td_rpc_call *call, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
