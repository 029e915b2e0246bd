/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Standalone driver for the fuzz targets: replays the files named on the
 * command line through LLVMFuzzerTestOneInput, so make check can run a
 * corpus without libFuzzer. Linked into every replay program; a libFuzzer
 * build (-DTD_LIBFUZZER, -fsanitize=fuzzer) brings its own main instead.
 */
#ifndef TD_LIBFUZZER
#include <libgen.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf;
		long len;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		buf = malloc(len > 0 ? (size_t)len : 1);
		if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
			fprintf(stderr, "%s: read failed\n", argv[i]);
			fclose(f);
			free(buf);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)len);
		free(buf);
		n++;
	}
	printf("%s: %d inputs, no crash\n", basename(argv[0]), n);
	return 0;
}
#endif
