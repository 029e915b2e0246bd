/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private to the NBD connection code (nbd-conn.c, nbd-handshake.c): the
 * connection and request slot structures and the calls between the two
 * files. Loop thread only.
 */
#ifndef TD_NBD_CONN_H
#define TD_NBD_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include "nbd-proto.h"
#include "nbd.h"
#include "req.h"
#include "td-log.h"
#include "vbd.h"

#define INBUF_SIZE (64u << 10)
#define OUTBUF_SIZE (16u << 10)
#define MAX_OPT_DATA (16u << 10)
#define NCHUNKS (TD_NBD_ARENA / TD_NBD_CHUNK)
#define REQ_CHUNKS (TD_NBD_MAX_BLOCK / TD_NBD_CHUNK)
#define MAX_EXTENTS 512u
#define WIOV_MAX 1024
/* Units of input handled per wake-up, so one busy client cannot starve. */
#define INPUT_BUDGET 128

enum rd_unit {
	RD_CLIENT_FLAGS,
	RD_OPT_HDR,
	RD_OPT_DATA,
	RD_OPT_SKIP,
	RD_REQ_HDR,
	RD_REQ_PAYLOAD,
	RD_REQ_SKIP,
	RD_DONE,
};

struct nbd_slot {
	struct td_req req;
	struct td_nbd_conn *c;
	struct td_list link;      /* free list, reply queue or bs_wait */
	struct td_nbd_request r;
	bool flush_after;         /* FUA emulated by a following flush */
	uint32_t refused;         /* NBD error of a refused write */
	const char *why;
	unsigned nchunks;
	uint16_t chunk[REQ_CHUNKS];
	uint8_t hdr[NBD_CHUNK_HDR_SIZE + 8 + 6 + 64];
	struct iovec iov[1 + REQ_CHUNKS]; /* [0] reply header, then data */
	int niov;
	uint64_t reply_len;       /* bytes of the queued reply */
};

struct td_nbd_conn {
	struct td_nbd_server *srv;  /* NULL once shut down */
	struct td_loop *loop;
	struct td_vbd *vbd;         /* only fe is used once the socket is gone */
	int minor;                  /* of the VBD, for messages */
	unsigned id;
	int fd;
	struct td_loop_fd watch;
	uint32_t watched;
	struct td_loop_defer pump;
	struct td_loop_timer hs_timer; /* handshake deadline, until GO */
	struct td_vbd_frontend fe;
	bool fe_added;
	struct td_list link;        /* in srv->conns */
	struct td_ratelimit rl;

	/* input */
	enum rd_unit rd;
	struct iovec *rd_iov;       /* NULL: skip the bytes */
	int rd_iovcnt;
	struct iovec rd_one;
	uint64_t rd_need, rd_got;
	uint8_t hdr[NBD_REQUEST_SIZE];
	size_t in_head, in_tail;
	bool rd_drained;            /* last read came up short */
	struct nbd_slot *cur;       /* slot of the payload being read */

	/* handshake */
	uint32_t opt, opt_len;
	bool structured, meta_alloc, no_zeroes, transmission;
	struct td_nbd_limits lim;

	/* output */
	size_t out_len, out_off;
	struct td_list replies;
	uint64_t reply_off;         /* sent bytes of the first reply */
	bool wblocked;

	/* slots and data buffers */
	struct nbd_slot *slots;
	struct td_list free_slots;
	unsigned nfree_slots;
	uint16_t free_chunks[NCHUNKS];
	unsigned nfree_chunks;
	uint8_t *arena;
	struct td_list bs_wait;     /* block status waiting for a resume */
	unsigned in_vbd;

	bool closing;               /* no more input: finish when idle */
	bool dead;                  /* socket unusable */

	uint8_t in[INBUF_SIZE];
	uint8_t out[OUTBUF_SIZE];
	uint8_t opt_data[MAX_OPT_DATA];
	struct iovec wiov[WIOV_MAX];
};

/* Client-triggered warnings, rate limited per export while attached. */
#define conn_warn(c, fmt, ...)                                          \
	td_log_ratelimited((c)->srv ? &(c)->srv->rl : &(c)->rl,         \
			   TD_LOG_WARN, TD_SUB_NBD, "vbd %d nbd %u: " fmt, \
			   (c)->minor, (c)->id, ##__VA_ARGS__)

/*
 * Makes the next input unit @u: @len bytes into @dst (NULL: skip them).
 * Defined in nbd-conn.c.
 */
void td_nbd_conn_unit_set(struct td_nbd_conn *c, enum rd_unit u, void *dst,
			  uint64_t len);

/* Queues the server greeting and expects the client flags. */
void td_nbd_handshake_start(struct td_nbd_conn *c);

/*
 * Acts on a completed handshake unit (client flags, option header, option
 * data, skipped option data): replies, chooses the next unit, and may set
 * c->closing or enter transmission.
 */
void td_nbd_handshake_unit(struct td_nbd_conn *c);

#endif
