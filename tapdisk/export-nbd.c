/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The NBD export: every open VBD gets an NBD server on a unix socket
 * RUN_DIR/tapdisk-PID-MINOR.nbd, plus TCP when the open asked for it,
 * unless the open said no_nbd. It lives from open to close, across pauses.
 *
 * The handshake timeout comes from the environment of the tapdisk process
 * (TD_NBD_HANDSHAKE_ENV, milliseconds), read when each VBD opens: the
 * open RPC has no field for it, and tests need a short one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nbd.h"
#include "server.h"
#include "td-log.h"
#include "vbd.h"

/* Socket of minor MINOR in process PID: RUN_DIR/tapdisk-PID-MINOR.nbd */
#define TD_NBD_SOCK_FMT "%s/tapdisk-%d-%d.nbd"

/* The handshake timeout asked for in the environment; 0: the default. */
static unsigned handshake_timeout_ms(const struct td_vbd *vbd)
{
	const char *v = getenv(TD_NBD_HANDSHAKE_ENV);
	unsigned long ms;
	char *end;

	if (!v || !*v)
		return 0;
	errno = 0;
	ms = strtoul(v, &end, 10);
	if (errno || *end || v[0] == '-' || !ms ||
	    ms > TD_NBD_HANDSHAKE_MAX_MS) {
		td_warn(TD_SUB_NBD, "vbd %d: ignoring %s='%s' (1..%u ms)",
			vbd->minor, TD_NBD_HANDSHAKE_ENV, v,
			TD_NBD_HANDSHAKE_MAX_MS);
		return 0;
	}
	return (unsigned)ms;
}

static int nbd_start(struct td_vbd *vbd, unsigned slot, char *err,
		     size_t errlen)
{
	const struct td_vbd_export_opts *o = &vbd->export_opts;
	struct td_nbd_server_opts opts;
	struct td_nbd_server *s;
	char path[PATH_MAX], tcp[sizeof(o->nbd_tcp) + 1];
	int rc;

	vbd->export_priv[slot] = NULL;
	if (o->no_nbd)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), TD_NBD_SOCK_FMT,
			     vbd->srv->run_dir, (int)vbd->srv->pid,
			     vbd->minor) >= sizeof(path)) {
		snprintf(err, errlen, "NBD socket path too long");
		return -ENAMETOOLONG;
	}
	/* The option is a fixed array from the RPC: never trust a NUL. */
	memcpy(tcp, o->nbd_tcp, sizeof(o->nbd_tcp));
	tcp[sizeof(o->nbd_tcp)] = '\0';
	opts.unix_path = path;
	opts.tcp = tcp;
	opts.handshake_timeout_ms = handshake_timeout_ms(vbd);
	rc = td_nbd_server_create(vbd, &opts, &s, err, errlen);
	if (rc)
		return rc;
	vbd->export_priv[slot] = s;
	return 0;
}

static void nbd_stop(struct td_vbd *vbd, unsigned slot)
{
	struct td_nbd_server *s = vbd->export_priv[slot];

	if (!s)
		return;
	vbd->export_priv[slot] = NULL;
	td_nbd_server_destroy(s);
}

static void nbd_describe(struct td_vbd *vbd, unsigned slot,
			 struct td_stats_sink *sink)
{
	struct td_nbd_server *s = vbd->export_priv[slot];

	if (s)
		td_nbd_server_describe(s, sink);
}

const struct td_export_ops td_export_nbd = {
	.name = "nbd",
	.start = nbd_start,
	.stop = nbd_stop,
	.describe = nbd_describe,
};
