/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The event loop: one per tapdisk process, one thread. Watches file
 * descriptors with epoll, runs timers against an injectable clock, and runs
 * deferred calls after the current event has been handled.
 *
 * Every registration object (td_loop_fd, td_loop_timer, td_loop_defer) is
 * owned and embedded by the caller; the loop never allocates after
 * td_loop_init, so the data path may (un)register freely. All functions are
 * called from the loop thread only, including from inside callbacks:
 * a callback may unregister itself or any other registration.
 */
#ifndef TD_LOOP_H
#define TD_LOOP_H

#include <stdint.h>
#include <stdbool.h>
#include "td-list.h"

/* Time source in nanoseconds; tests replace it with a fake clock. */
struct td_clock_ops {
	uint64_t (*now_ns)(void *ctx);
};

/* The default: CLOCK_MONOTONIC. */
extern const struct td_clock_ops td_clock_monotonic;

struct td_loop;
struct epoll_event;

/* Generations of defers queued by defers one iteration runs, by default. */
#define TD_LOOP_DEFER_GENS 8

/* Events for td_loop_fd: the epoll bits we use. */
#define TD_EV_IN 0x1u
#define TD_EV_OUT 0x4u
#define TD_EV_ERR 0x8u  /* always reported, need not be requested */
#define TD_EV_HUP 0x10u /* always reported, need not be requested */

struct td_loop_fd {
	int fd;
	uint32_t events;
	/* Called with the ready events; may unregister @f. */
	void (*cb)(struct td_loop_fd *f, uint32_t events);
	void *arg;
	bool registered;
};

struct td_loop_timer {
	uint64_t deadline_ns;
	void (*cb)(struct td_loop_timer *t);
	void *arg;
	struct td_list link;
	bool armed;
};

struct td_loop_defer {
	void (*cb)(struct td_loop_defer *d);
	void *arg;
	struct td_list link;
	bool queued;
};

/*
 * Busy polling, for work the loop can see without a syscall: a guest ring's
 * producer index, an io_uring completion queue. Before it would sleep, a
 * loop with polling enabled spins over its pollers for an adaptive window
 * (grown while work keeps arriving soon after the loop blocks, shrunk to
 * nothing when it does not), because on a busy disk waking up a sleeping
 * thread costs more than the wait itself. An iteration that does not sleep
 * polls each poller once instead. Owned and embedded by the caller.
 */
struct td_loop_poller {
	/*
	 * Finds pending work and does it (or queues it) without sleeping;
	 * true if there was any. Called in a tight loop: check shared memory
	 * first, make syscalls only when there is something to do.
	 */
	bool (*poll)(struct td_loop_poller *p);
	/*
	 * The loop is about to sleep: turn on whatever will wake it (ask the
	 * peer for a notification), then look once more. If work is already
	 * pending, queue it (td_loop_defer) and return true: the loop then
	 * does not sleep. May be NULL.
	 */
	bool (*arm)(struct td_loop_poller *p);
	void *arg;
	struct td_list link;
	bool registered;
};

/* Counters of the polling machinery, for stats. */
struct td_loop_poll_stats {
	uint64_t hits;   /* spins that found work */
	uint64_t misses; /* spins that ran out */
	uint64_t sleeps; /* sleeps with pollers armed */
	uint64_t window_ns; /* the current spin window */
};

struct td_loop {
	int epfd;
	const struct td_clock_ops *clock;
	void *clock_ctx;
	struct td_list timers;   /* sorted by deadline */
	struct td_list deferred; /* FIFO */
	unsigned defer_gens;     /* see td_loop_set_defer_gens */
	bool stop;
	unsigned nfds;
	/*
	 * Private: the epoll batch being dispatched. td_loop_fd_del clears
	 * its entry there, so a registration removed (and perhaps freed) by
	 * an earlier callback of the same batch is never called.
	 */
	struct epoll_event *batch;
	int batch_len;
	/* Private: busy polling (loop-poll.c). */
	struct td_list pollers;
	struct td_list *poll_cursor; /* the walk in progress, or NULL */
	uint64_t poll_max_ns; /* 0: polling off, pollers never spun/armed */
	uint64_t poll_ns;     /* current adaptive window */
	uint64_t block_start_ns; /* when the armed sleep began, 0: none */
	struct td_loop_poll_stats pst;
};

/*
 * Initialises @loop (caller-owned memory). @clock NULL means monotonic.
 * Returns 0 or -errno (epoll_create1 failure).
 */
int td_loop_init(struct td_loop *loop, const struct td_clock_ops *clock,
		 void *clock_ctx);

/*
 * Releases the epoll fd. Registrations still present are simply dropped:
 * their owners must not touch them afterwards.
 */
void td_loop_fini(struct td_loop *loop);

/* Current time on the loop's clock. */
uint64_t td_loop_now(const struct td_loop *loop);

/*
 * Starts watching @f->fd for @f->events; @f must stay valid until
 * td_loop_fd_del. Returns 0, -EEXIST if already registered, or -errno.
 */
int td_loop_fd_add(struct td_loop *loop, struct td_loop_fd *f);

/* Changes the watched events of a registered fd. Returns 0 or -errno. */
int td_loop_fd_mod(struct td_loop *loop, struct td_loop_fd *f,
		   uint32_t events);

/* Stops watching; harmless if not registered. Does not close the fd. */
void td_loop_fd_del(struct td_loop *loop, struct td_loop_fd *f);

/* Arms (or re-arms) @t to fire @delay_ns from now, once. */
void td_loop_timer_arm(struct td_loop *loop, struct td_loop_timer *t,
		       uint64_t delay_ns);

/* Disarms @t; harmless if not armed. */
void td_loop_timer_cancel(struct td_loop *loop, struct td_loop_timer *t);

/*
 * Queues @d to run once, after the current callback returns and before the
 * loop sleeps again. A defer queued from inside a deferred call runs in the
 * same drain, after the calls queued before it, for up to
 * TD_LOOP_DEFER_GENS (td_loop_set_defer_gens) such generations; the rest
 * waits for the next
 * iteration (after a non-sleeping poll of fds), so chains of deferred work
 * cannot starve fds. Queuing an already-queued defer is a no-op. This is
 * how code completes work "later" without recursing into its caller.
 */
void td_loop_defer(struct td_loop *loop, struct td_loop_defer *d);

/* Removes @d from the queue if queued. */
void td_loop_defer_cancel(struct td_loop *loop, struct td_loop_defer *d);

/*
 * Runs one iteration: waits at most @max_wait_ns (-1 = until the next timer
 * or forever) for fd events, then dispatches fds, expired timers and
 * deferred calls. Returns the number of callbacks run (pollers that found
 * work included), or -errno.
 */
int td_loop_run_once(struct td_loop *loop, int64_t max_wait_ns);

/* Runs until td_loop_stop is called. Returns 0 or -errno. */
int td_loop_run(struct td_loop *loop);

/* Makes td_loop_run return after the current iteration. */
void td_loop_stop(struct td_loop *loop);

/*
 * Sets how many generations of defers (calls queued by deferred calls) one
 * iteration runs before it polls fds again; at least 1. Fewer means fairer
 * to fds but more epoll_wait calls per request. Loop thread.
 */
void td_loop_set_defer_gens(struct td_loop *loop, unsigned gens);

/*
 * Sets the longest spin before sleeping; 0 turns polling off (the
 * default), and then pollers are neither spun nor armed: their owners do
 * their own notification handling (see td_loop_polling).
 */
void td_loop_set_poll(struct td_loop *loop, uint64_t max_ns);

/* True if the loop polls: a poller may then leave arming to its arm hook. */
static inline bool td_loop_polling(const struct td_loop *loop)
{
	return loop->poll_max_ns != 0;
}

/* Registers @p (caller-owned, valid until td_loop_poller_del). */
void td_loop_poller_add(struct td_loop *loop, struct td_loop_poller *p);

/* Unregisters @p; harmless if not registered. Safe inside a poll hook. */
void td_loop_poller_del(struct td_loop *loop, struct td_loop_poller *p);

/* A copy of the polling counters. */
struct td_loop_poll_stats td_loop_poll_stats(const struct td_loop *loop);

#define TD_NS_PER_MS 1000000ull
#define TD_NS_PER_S 1000000000ull

#endif
