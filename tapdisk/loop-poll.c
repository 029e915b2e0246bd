/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Adaptive busy polling for the event loop (see struct td_loop_poller).
 *
 * Why: a request from a guest that arrives a few microseconds after we went
 * to sleep costs a wakeup on both sides: the frontend pays for the event
 * channel or eventfd signal, we pay for the scheduler, and on virtual CPUs
 * (which is where dom0 runs) a halted CPU takes tens of microseconds to
 * wake. Spinning briefly on the ring's producer index catches the next
 * request before that. The window adapts the way QEMU's AioContext
 * polling does: it grows while the loop keeps being woken soon after it
 * blocked, and shrinks back to zero when the loop sleeps longer than the
 * maximum, so an idle disk costs no CPU.
 *
 * The spin is measured with CLOCK_MONOTONIC, not the loop's injectable
 * clock: it bounds real CPU time, and a fake clock that never advances
 * must not turn it into an endless loop.
 */
#include <sys/epoll.h>

#include "loop.h"
#include "loop-priv.h"

/* First window after a short sleep, and the smallest worth spinning. */
#define POLL_MIN_NS 4000ull
/* How often a spin peeks at the fds, so sockets and disks are not kept
 * waiting by a busy ring. */
#define POLL_FD_PEEK_NS 10000ull

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t real_now(void)
{
	return td_clock_monotonic.now_ns(NULL);
}

void td_loop_set_poll(struct td_loop *loop, uint64_t max_ns)
{
	loop->poll_max_ns = max_ns;
	if (loop->poll_ns > max_ns)
		loop->poll_ns = max_ns;
	loop->pst.window_ns = loop->poll_ns;
}

void td_loop_poller_add(struct td_loop *loop, struct td_loop_poller *p)
{
	if (p->registered)
		return;
	td_list_add_tail(&p->link, &loop->pollers);
	p->registered = true;
}

void td_loop_poller_del(struct td_loop *loop, struct td_loop_poller *p)
{
	if (!p->registered)
		return;
	/* A walk in progress continues after @p, not from freed memory. */
	if (loop->poll_cursor == &p->link)
		loop->poll_cursor = p->link.next;
	td_list_del(&p->link);
	p->registered = false;
}

struct td_loop_poll_stats td_loop_poll_stats(const struct td_loop *loop)
{
	return loop->pst;
}

/* One pass over the pollers; returns how many found work. */
static int poll_all(struct td_loop *loop, bool arm)
{
	int found = 0;

	loop->poll_cursor = loop->pollers.next;
	while (loop->poll_cursor != &loop->pollers) {
		struct td_loop_poller *p = td_list_entry(
			loop->poll_cursor, struct td_loop_poller, link);

		loop->poll_cursor = p->link.next;
		if (arm ? (p->arm && p->arm(p)) : p->poll(p))
			found++;
	}
	loop->poll_cursor = NULL;
	return found;
}

/* True if an fd is ready; level-triggered, so the event stays for later. */
static bool fd_ready(const struct td_loop *loop)
{
	struct epoll_event ev;

	return epoll_wait(loop->epfd, &ev, 1, 0) > 0;
}

/*
 * Spins for up to the current window; returns how many pollers found work
 * (or 1 for a ready fd), 0 if nothing turned up.
 */
static int spin(struct td_loop *loop, uint64_t start)
{
	uint64_t now = start, peek = start + POLL_FD_PEEK_NS;
	uint64_t end = start + loop->poll_ns;
	int found;

	while (now < end) {
		found = poll_all(loop, false);
		if (found)
			return found;
		now = real_now();
		if (now >= peek) {
			if (fd_ready(loop))
				return 1;
			peek = now + POLL_FD_PEEK_NS;
		}
		cpu_relax();
	}
	return 0;
}

int td_loop_poll_before_sleep(struct td_loop *loop, int *timeout_ms)
{
	uint64_t start;
	int found;

	if (!loop->poll_max_ns || td_list_empty(&loop->pollers))
		return 0;
	/*
	 * An iteration that does not sleep still looks once: with polling
	 * on, nobody is asked to notify us while we are busy.
	 */
	if (*timeout_ms == 0)
		return poll_all(loop, false);
	start = real_now();
	if (loop->poll_ns) {
		found = spin(loop, start);
		if (found) {
			loop->pst.hits++;
			*timeout_ms = 0;
			return found;
		}
		loop->pst.misses++;
	}
	found = poll_all(loop, true);
	if (found) {
		*timeout_ms = 0;
		return found;
	}
	loop->pst.sleeps++;
	loop->block_start_ns = start;
	return 0;
}

void td_loop_poll_after_wake(struct td_loop *loop)
{
	uint64_t blocked;

	if (!loop->block_start_ns)
		return;
	blocked = real_now() - loop->block_start_ns;
	loop->block_start_ns = 0;
	if (blocked > loop->poll_max_ns) {
		/* Idle or slow peer: spinning would only burn CPU. */
		loop->poll_ns /= 2;
		if (loop->poll_ns < POLL_MIN_NS)
			loop->poll_ns = 0;
	} else if (loop->poll_ns < blocked) {
		/* Woken soon after blocking: a longer spin would have won. */
		loop->poll_ns = loop->poll_ns ? loop->poll_ns * 2 : POLL_MIN_NS;
		if (loop->poll_ns > loop->poll_max_ns)
			loop->poll_ns = loop->poll_max_ns;
	}
	loop->pst.window_ns = loop->poll_ns;
}
