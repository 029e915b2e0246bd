/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The per-VBD exports, in start order. One line per export: the shm ring
 * listener (tapdisk/export-shm.c) and the NBD export (tapdisk/export-nbd.c)
 * add themselves here.
 */
#include <stddef.h>
#include "vbd.h"
#include "blkif.h"
#include "nbd.h"

const struct td_export_ops *const td_exports[] = {
	&td_export_shm,
	&td_export_nbd,
	NULL,
};
