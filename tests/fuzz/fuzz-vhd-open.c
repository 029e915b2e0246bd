// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target for the VHD format library's open path: the input is a
 * whole image file. Builds as a libFuzzer target (-DTD_LIBFUZZER with
 * -fsanitize=fuzzer) or as a plain program that runs every file named
 * on the command line through the same function, so "make check" replays
 * a corpus of corrupted images.
 *
 * Properties: nothing crashes; a file that opens read-write and takes a
 * write still opens (and validates) afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhd-format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(struct td_vhd *v)
{
	static uint8_t buf[64 * 512] __attribute__((aligned(4096)));
	uint64_t nsec = td_vhd_size(v) / 512, run, s;
	char path[4096];
	bool alloc, raw;
	int i;

	for (i = 0, s = 0; i < 8 && s < nsec; i++, s += nsec / 8 + 1) {
		uint32_t n = nsec - s < 64 ? (uint32_t)(nsec - s) : 64;

		/* differencing images fail with -ENOLINK: no parent open */
		td_vhd_read(v, s, n, buf, NULL);
		td_vhd_sector_status(v, s, n, &alloc, &run, NULL);
	}
	td_vhd_parent_path(v, path, sizeof(path), &raw, NULL);
	td_vhd_phys_size(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pattern[512] = { 0x5a };
	struct td_vhd_err err = { "fuzz", "" };
	char path[64];
	struct td_vhd *v;
	int fd, rc;

	fd = memfd_create("fuzz-vhd", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (!td_vhd_open(path, TD_VHD_OPEN_RDONLY, &v, &err)) {
		exercise(v);
		td_vhd_close(v);
	}
	if (!td_vhd_open(path, 0, &v, &err)) {
		rc = td_vhd_size(v) >= 512 ?
			     td_vhd_write(v, 0, 1, pattern, &err) : 0;
		if (!rc)
			rc = td_vhd_write_batmap(v, &err);
		if (!rc)
			rc = td_vhd_write_footer(v, &err);
		td_vhd_close(v);
		/* what we wrote must be a valid image */
		if (!rc && td_vhd_open(path, TD_VHD_OPEN_RDONLY, &v, &err)) {
			fprintf(stderr, "image invalid after our write: %s\n",
				err.msg);
			abort();
		} else if (!rc) {
			td_vhd_close(v);
		}
	}
	close(fd);
	return 0;
}
