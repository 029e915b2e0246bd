/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control-socket server: accepts connections on the process's unix
 * socket, frames and parses messages (include/td-rpc.h, docs/rpc.md),
 * dispatches them through one handler table, and sends replies. Loop
 * thread only. Control path: allocation is fine here.
 */
#ifndef TD_RPC_H
#define TD_RPC_H

#include <jansson.h>

struct td_server;
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
