/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vhd-util internals: one function per verb, shared helpers. Each verb
 * gets argv starting at the verb name with "--debug", "--json" and
 * "--help" already removed (see struct vu_opts) and returns 0 or -errno
 * after printing at most one error line on stderr.
 */
#ifndef TD_VHD_UTIL_H
#define TD_VHD_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <inttypes.h>

#include "vhd-format.h"

/* Global options stripped from the command line before getopt. */
struct vu_opts {
	bool json;   /* --json: machine-readable output (query/check/scan) */
	bool debug;  /* --debug: accepted for blktap compatibility */
	bool help;   /* --help / -h: print the verb's usage, exit 0 */
};

/* Prints "vhd-util VERB: message" on stderr (one line); returns @rc. */
int vu_fail(const char *verb, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prints the library's error line for @err on stderr; returns @rc. */
int vu_fail_err(const char *verb, int rc, const struct td_vhd_err *err);
/* Parses a decimal u64; returns 0 or -EINVAL. */
int vu_parse_u64(const char *s, uint64_t *out);

/* Progress bar on stderr when @enabled: vu_progress(p, done, total). */
struct vu_progress {
	bool enabled;
	int last;    /* last printed per-mille, -1 before the first */
};
void vu_progress_init(struct vu_progress *p, bool forced);
void vu_progress(struct vu_progress *p, uint64_t done, uint64_t total);
void vu_progress_done(struct vu_progress *p);

/* One logical volume of a volume group (vhd-util-lvm.c). */
struct vu_lv {
	char name[128];
	uint64_t size;       /* lv_size, bytes */
	bool active;         /* lv_attr: state 'a' */
	bool linear;         /* first segment linear: dev/start valid */
	char dev[256];       /* physical volume holding the first segment */
	uint64_t start;      /* byte offset of the volume in dev */
	uint64_t seg_len;    /* bytes of the first segment */
};
/*
 * Lists every logical volume of @vg (active or not) with where its first
 * segment lies, by running vgs and lvs. *@lvs is malloc'd (free it).
 * Returns 0, -ENOENT (no LVM tools, or no physical volume in @vg), -EIO
 * (a tool failed, e.g. no such VG) or -EINVAL (unparsable report).
 */
int vu_lvm_list(const char *vg, struct vu_lv **lvs, size_t *n);
/*
 * The volume name a parent locator or parent name @path designates in
 * @vg: the LV part of a device-mapper name (/dev/mapper/VG-LV, as blktap
 * and we write for volumes, "--" decoded), else the last component
 * (/dev/VG/LV, LV).
 */
void vu_lvm_volume_name(const char *vg, const char *path, char *out,
			size_t outlen);

int vu_create(int argc, char **argv, const struct vu_opts *o);
int vu_snapshot(int argc, char **argv, const struct vu_opts *o);
int vu_query(int argc, char **argv, const struct vu_opts *o);
int vu_check(int argc, char **argv, const struct vu_opts *o);
int vu_repair(int argc, char **argv, const struct vu_opts *o);
int vu_resize(int argc, char **argv, const struct vu_opts *o);
int vu_revert(int argc, char **argv, const struct vu_opts *o);
int vu_coalesce(int argc, char **argv, const struct vu_opts *o);
int vu_set(int argc, char **argv, const struct vu_opts *o);
int vu_scan(int argc, char **argv, const struct vu_opts *o);
int vu_read(int argc, char **argv, const struct vu_opts *o);
int vu_fill(int argc, char **argv, const struct vu_opts *o);
int vu_modify(int argc, char **argv, const struct vu_opts *o);

#endif /* TD_VHD_UTIL_H */
