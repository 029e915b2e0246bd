/* SPDX-License-Identifier: GPL-2.0-only */
/* Between loop.c and loop-poll.c only: the polling steps of an iteration. */
#ifndef TD_LOOP_PRIV_H
#define TD_LOOP_PRIV_H

#include "loop.h"

/*
 * Called with the epoll timeout the loop is about to use. A sleeping
 * iteration spins over the pollers, then arms them; a non-sleeping one
 * polls each once. Sets *@timeout_ms to 0 if work turned up. Returns how
 * many pollers found work (counted as callbacks run).
 */
int td_loop_poll_before_sleep(struct td_loop *loop, int *timeout_ms);

/* Called after epoll_wait returns: adapts the window to how long it slept. */
void td_loop_poll_after_wake(struct td_loop *loop);

#endif
