/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control protocol shared by tapdisk (server) and libtdctl (client).
 * Wire format, documented in docs/rpc.md: each message is a 4-byte
 * big-endian length followed by that many bytes of UTF-8 JSON (an object).
 *
 *   request: {"version": 1, "id": N, "type": "open", "args": {...}}
 *   reply:   {"version": 1, "id": N, "result": {...}}
 *        or  {"version": 1, "id": N,
 *             "error": {"code": -2, "name": "ENOENT", "message": "..."}}
 *
 * Several requests may be sent on one connection; replies carry the id of
 * their request and may come out of order (pause completes later).
 */
#ifndef TD_RPC_PROTO_H
#define TD_RPC_PROTO_H

#include <stdint.h>
#include <stddef.h>

#define TD_RPC_VERSION 1
/* Largest message body either side accepts; larger ones close the link. */
#define TD_RPC_MAX_MSG (64u * 1024u)
#define TD_RPC_HDR_SIZE 4u

/* Default run directory; TAPDISK_RUN_DIR or --run-dir override it. */
#define TD_RUN_DIR_DEFAULT "/var/run/tapdisk"
#define TD_RUN_DIR_ENV "TAPDISK_RUN_DIR"
/* Control socket of process PID: RUN_DIR/tapdisk-PID.sock */
#define TD_RPC_SOCK_FMT "%s/tapdisk-%d.sock"
/* Minor allocation file: RUN_DIR/tapdevMINOR, holding the owner pid. */
#define TD_MINOR_FILE_FMT "%s/tapdev%d"

/* Encodes @len as the 4-byte big-endian frame header into @hdr. */
static inline void td_rpc_put_len(unsigned char hdr[4], uint32_t len)
{
	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
}

/* Decodes a 4-byte big-endian frame header. */
static inline uint32_t td_rpc_get_len(const unsigned char hdr[4])
{
	return ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
	       ((uint32_t)hdr[2] << 8) | hdr[3];
}

/*
 * Resolves the run directory: @override if not NULL, else $TAPDISK_RUN_DIR,
 * else the default. Returns a pointer to static or caller memory; never
 * NULL.
 */
const char *td_rpc_run_dir(const char *override);

/* Symbolic name of an errno value ("ENOENT"), "E?" if unknown. */
const char *td_errno_name(int err);

#endif
