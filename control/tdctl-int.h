/* SPDX-License-Identifier: GPL-2.0-only */
/* Helpers shared by the files of libtdctl; not part of its API. */
#ifndef TD_CTL_INT_H
#define TD_CTL_INT_H

#include <stdint.h>
#include "tdctl.h"

/* Fills @e (if not NULL) with @code and a formatted message; returns @code. */
int td_ctl_seterr(struct td_ctl_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
uint64_t td_ctl_now_ms(void);

#endif
