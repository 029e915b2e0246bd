// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target for the NBD server's untrusted input. The first byte of an
 * input picks how the rest is cut into pieces (1 byte at a time up to
 * 1 MiB); the rest is the byte stream a client sends after the server's
 * greeting (client flags, options, requests, payloads). It goes through a
 * socketpair into a real connection (handshake, option and request
 * parsing, the data path) of a writable 4 MiB VBD on the ram driver, in
 * process on the real loop; the replies are read and dropped. The pure
 * parsers (INFO/GO and META_CONTEXT payloads, request headers) also get
 * the stream.
 *
 * Builds as a libFuzzer target (-DTD_LIBFUZZER with -fsanitize=fuzzer) or
 * as a plain program that runs every file named on the command line, so
 * "make check" replays a corpus (tests/nbd/nbd-fuzz-corpus.sh).
 *
 * Properties: nothing crashes or leaks; once the client's input ends
 * (EOF), the server finishes what it accepted and closes the connection
 * within a bounded number of loop iterations; then no client is left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "image.h"
#include "nbd-proto.h"
#include "nbd.h"
#include "server.h"
#include "td-log.h"
#include "vbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loop iterations allowed after EOF before we call it a hang. */
#define MAX_ITER 20000

struct fuzz_env {
	struct td_server srv;
	struct td_vbd *vbd;
	struct td_nbd_server *nbd;
};

static struct fuzz_env *env_get(void)
{
	static struct fuzz_env *e;
	struct td_log_config lc = { TD_LOG_ERR, 0, 2, "fuzz-nbd" };
	struct td_vbd_export_opts eo;
	struct td_nbd_server_opts so = { NULL, NULL, 0 };
	char err[256];

	if (e)
		return e;
	/* Client errors are warnings: keep the fuzzer's output readable. */
	td_log_configure(&lc);
	e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	td_list_init(&e->srv.vbds);
	td_list_init(&e->srv.images);
	e->srv.sigfd = -1;
	memset(&eo, 0, sizeof(eo));
	eo.no_nbd = true;
	eo.no_shm = true;
	if (td_loop_init(&e->srv.loop, NULL, NULL) ||
	    td_io_aio_ops.create(&e->srv.loop, 64, &e->srv.io) ||
	    td_vbd_create(&e->srv, 3, &e->vbd) ||
	    td_vbd_open(e->vbd, "ram:4M", 0, &eo, err, sizeof(err)) ||
	    td_nbd_server_create(e->vbd, &so, &e->nbd, err, sizeof(err))) {
		fprintf(stderr, "fuzz-nbd: setup failed\n");
		abort();
	}
	return e;
}

/* The pure parsers on the raw bytes: results must stay inside them. */
static void parsers(const uint8_t *data, size_t size)
{
	struct td_nbd_limits lim = { 4u << 20, false, true, true, true, false,
				     TD_NBD_MAX_BLOCK };
	uint32_t len = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	const char *end = (const char *)data + size, *why;
	struct td_nbd_request r;
	struct td_nbd_info_opt io;
	struct td_nbd_meta_opt mo;
	size_t off;

	if (!td_nbd_parse_info_opt(data, len, &io) &&
	    (io.name_len > NBD_MAX_STRING ||
	     (io.name_len && (io.name < (const char *)data ||
			      io.name + io.name_len > end))))
		abort();
	if (!td_nbd_parse_meta_opt(data, len, true, &mo) &&
	    (mo.name_len > NBD_MAX_STRING ||
	     (mo.name_len && mo.name + mo.name_len > end)))
		abort();
	td_nbd_parse_meta_opt(data, len, false, &mo);
	for (off = 0; off + NBD_REQUEST_SIZE <= size && off < 4096;
	     off += NBD_REQUEST_SIZE) {
		td_nbd_decode_request(data + off, &r);
		lim.read_only = r.handle & 1;
		lim.structured = r.handle & 2;
		why = NULL;
		if (td_nbd_check_request(&r, &lim, &why) && !why)
			abort();
	}
}

/* Reads and drops whatever the server sent; true at its EOF. */
static bool drain(int fd)
{
	static uint8_t junk[1 << 16];

	for (;;) {
		ssize_t n = recv(fd, junk, sizeof(junk), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
}

/* Sends @size bytes in pieces of size pieces[@mode & 7]. */
static void feed(struct fuzz_env *e, int fd, uint8_t mode,
		 const uint8_t *data, size_t size)
{
	static const size_t pieces[8] = { 1 << 20, 4096, 512, 64, 28, 16,
					  3, 1 };
	size_t piece = pieces[mode & 7], off = 0;
	int idle = 0;

	while (off < size && idle < MAX_ITER) {
		size_t n = size - off < piece ? size - off : piece;
		ssize_t k = send(fd, data + off, n, MSG_NOSIGNAL);

		if (k > 0) {
			off += (size_t)k;
			idle = 0;
		} else if (k < 0 && errno != EAGAIN) {
			return; /* the server hung up on us */
		} else {
			idle++;
		}
		td_loop_run_once(&e->srv.loop, 0);
		if (drain(fd))
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_env *e = env_get();
	int sv[2], i;
	bool eof = false;

	if (!size)
		return 0;
	parsers(data + 1, size - 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv))
		return 0;
	if (td_nbd_server_add_client(e->nbd, sv[0])) {
		close(sv[1]);
		return 0;
	}
	feed(e, sv[1], data[0], data + 1, size - 1);
	shutdown(sv[1], SHUT_WR);
	for (i = 0; i < MAX_ITER && !eof; i++) {
		td_loop_run_once(&e->srv.loop, 0);
		eof = drain(sv[1]);
	}
	if (!eof) {
		fprintf(stderr, "fuzz-nbd: connection still open after EOF\n");
		abort();
	}
	close(sv[1]);
	/* Let the connection free itself (deferred) before the next input. */
	for (i = 0; i < 64; i++)
		td_loop_run_once(&e->srv.loop, 0);
	if (e->nbd->nconns) {
		fprintf(stderr, "fuzz-nbd: %u clients left\n", e->nbd->nconns);
		abort();
	}
	return 0;
}
