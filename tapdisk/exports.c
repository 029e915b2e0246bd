/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The per-VBD exports, in start order: one line per export.
 */
#include <stddef.h>
#include "blkif.h"

const struct td_export_ops *const td_exports[] = {
	&td_export_shm,
	NULL,
};
