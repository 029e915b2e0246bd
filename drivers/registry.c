/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The driver registry: a const table, one line per driver in
 * TD_DRIVER_LIST. A new driver adds X(its ops table name) there.
 */
#include <stddef.h>
#include <string.h>
#include "image.h"

#define TD_DRIVER_LIST(X) \
	X(td_drv_aio)     \
	X(td_drv_ram)     \
	X(td_drv_null)    \
	X(td_drv_vhd)

#define TD_DRIVER_DECLARE(ops) extern const struct td_driver_ops ops;
#define TD_DRIVER_ENTRY(ops) &ops,

TD_DRIVER_LIST(TD_DRIVER_DECLARE)

const struct td_driver_ops *const td_drivers[] = {
	TD_DRIVER_LIST(TD_DRIVER_ENTRY)
	NULL,
};

const struct td_driver_ops *td_driver_lookup(const char *name)
{
	int i;

	if (!name)
		return NULL;
	for (i = 0; td_drivers[i]; i++)
		if (!strcmp(td_drivers[i]->name, name))
			return td_drivers[i];
	return NULL;
}
