// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test helper: writes a file's bytes into one VHD image (this file only,
 * allocating blocks) at a sector, through the format library's
 * synchronous write path, then writes the batmap and footers.
 *   vhd-write IMAGE SECTOR INPUT
 * INPUT's size must be a multiple of 512.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhd-format.h"

int main(int argc, char **argv)
{
	struct td_vhd_err err = { 0 };
	static uint8_t buf[1 << 20] __attribute__((aligned(4096)));
	struct td_vhd *v;
	uint64_t sector;
	ssize_t n;
	int fd, rc;

	if (argc != 4) {
		fprintf(stderr, "usage: vhd-write IMAGE SECTOR INPUT\n");
		return 2;
	}
	sector = strtoull(argv[2], NULL, 0);
	fd = open(argv[3], O_RDONLY);
	if (fd < 0) {
		perror(argv[3]);
		return 1;
	}
	err.name = argv[1];
	rc = td_vhd_open(argv[1], 0, &v, &err);
	if (rc) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (n % 512) {
			fprintf(stderr, "input not a multiple of 512\n");
			rc = -EINVAL;
			break;
		}
		rc = td_vhd_write(v, sector, (uint32_t)(n / 512), buf, &err);
		if (rc)
			break;
		sector += (uint64_t)n / 512;
	}
	if (!rc)
		rc = td_vhd_write_batmap(v, &err);
	if (!rc)
		rc = td_vhd_write_footer(v, &err);
	if (rc)
		fprintf(stderr, "%s\n", err.msg[0] ? err.msg : strerror(-rc));
	td_vhd_close(v);
	close(fd);
	return rc ? 1 : 0;
}
