/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The event loop: epoll for fds, a sorted intrusive list for timers, a FIFO
 * intrusive list for deferred calls. Nothing here allocates after
 * td_loop_init: the epoll batch lives on the stack of td_loop_run_once.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "loop.h"
#include "loop-priv.h"

/* Events dispatched per epoll_wait; more simply wait for the next round. */
#define TD_LOOP_BATCH 64

#define TD_EV_MASK (TD_EV_IN | TD_EV_OUT | TD_EV_ERR | TD_EV_HUP)

_Static_assert(TD_EV_IN == EPOLLIN && TD_EV_OUT == EPOLLOUT &&
		       TD_EV_ERR == EPOLLERR && TD_EV_HUP == EPOLLHUP,
	       "TD_EV_* must match the epoll bits");

static uint64_t clock_monotonic_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * TD_NS_PER_S + (uint64_t)ts.tv_nsec;
}

const struct td_clock_ops td_clock_monotonic = {
	.now_ns = clock_monotonic_now,
};

int td_loop_init(struct td_loop *loop, const struct td_clock_ops *clock,
		 void *clock_ctx)
{
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	loop->clock = clock ? clock : &td_clock_monotonic;
	loop->clock_ctx = clock_ctx;
	td_list_init(&loop->timers);
	td_list_init(&loop->deferred);
	loop->defer_gens = TD_LOOP_DEFER_GENS;
	loop->stop = false;
	loop->nfds = 0;
	loop->batch = NULL;
	loop->batch_len = 0;
	td_list_init(&loop->pollers);
	loop->poll_cursor = NULL;
	loop->poll_max_ns = 0;
	loop->poll_ns = 0;
	loop->block_start_ns = 0;
	memset(&loop->pst, 0, sizeof(loop->pst));
	return 0;
}

void td_loop_fini(struct td_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	/* Owners may already have freed what is left: do not walk it. */
	td_list_init(&loop->timers);
	td_list_init(&loop->deferred);
	td_list_init(&loop->pollers);
	loop->nfds = 0;
}

uint64_t td_loop_now(const struct td_loop *loop)
{
	return loop->clock->now_ns(loop->clock_ctx);
}

int td_loop_fd_add(struct td_loop *loop, struct td_loop_fd *f)
{
	struct epoll_event ev = {
		.events = f->events & (TD_EV_IN | TD_EV_OUT),
		.data.ptr = f,
	};

	if (f->registered)
		return -EEXIST;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, f->fd, &ev) < 0)
		return -errno;
	f->registered = true;
	loop->nfds++;
	return 0;
}

int td_loop_fd_mod(struct td_loop *loop, struct td_loop_fd *f,
		   uint32_t events)
{
	struct epoll_event ev = {
		.events = events & (TD_EV_IN | TD_EV_OUT),
		.data.ptr = f,
	};

	if (!f->registered)
		return -ENOENT;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, f->fd, &ev) < 0)
		return -errno;
	f->events = events;
	return 0;
}

void td_loop_fd_del(struct td_loop *loop, struct td_loop_fd *f)
{
	int i;

	if (!f->registered)
		return;
	/* Fails harmlessly if the owner already closed the fd. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, f->fd, NULL);
	f->registered = false;
	loop->nfds--;
	for (i = 0; i < loop->batch_len; i++)
		if (loop->batch[i].data.ptr == f)
			loop->batch[i].data.ptr = NULL;
}

void td_loop_timer_arm(struct td_loop *loop, struct td_loop_timer *t,
		       uint64_t delay_ns)
{
	uint64_t now = td_loop_now(loop);
	struct td_list *pos;

	if (t->armed)
		td_list_del(&t->link);
	t->deadline_ns = delay_ns > UINT64_MAX - now ? UINT64_MAX
						     : now + delay_ns;
	/*
	 * New timers usually expire last, so search from the tail; equal
	 * deadlines keep arming order.
	 */
	for (pos = loop->timers.prev; pos != &loop->timers; pos = pos->prev) {
		struct td_loop_timer *o =
			td_list_entry(pos, struct td_loop_timer, link);

		if (o->deadline_ns <= t->deadline_ns)
			break;
	}
	td_list_add(&t->link, pos);
	t->armed = true;
}

void td_loop_timer_cancel(struct td_loop *loop, struct td_loop_timer *t)
{
	(void)loop;
	if (!t->armed)
		return;
	td_list_del(&t->link);
	t->armed = false;
}

void td_loop_defer(struct td_loop *loop, struct td_loop_defer *d)
{
	if (d->queued)
		return;
	td_list_add_tail(&d->link, &loop->deferred);
	d->queued = true;
}

void td_loop_defer_cancel(struct td_loop *loop, struct td_loop_defer *d)
{
	(void)loop;
	if (!d->queued)
		return;
	td_list_del(&d->link);
	d->queued = false;
}

/* Milliseconds for epoll_wait: rounded up so we never wake before a timer. */
static int wait_ms(const struct td_loop *loop, int64_t max_wait_ns)
{
	uint64_t ns = max_wait_ns < 0 ? UINT64_MAX : (uint64_t)max_wait_ns;
	uint64_t ms;

	if (!td_list_empty(&loop->deferred))
		return 0;
	if (!td_list_empty(&loop->timers)) {
		const struct td_loop_timer *t = td_list_entry(
			loop->timers.next, struct td_loop_timer, link);
		uint64_t now = td_loop_now(loop);
		uint64_t left = t->deadline_ns > now ? t->deadline_ns - now : 0;

		if (left < ns)
			ns = left;
	}
	if (ns == UINT64_MAX)
		return -1;
	ms = ns / TD_NS_PER_MS + (ns % TD_NS_PER_MS != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int run_fds(struct td_loop *loop, int timeout_ms)
{
	struct epoll_event events[TD_LOOP_BATCH];
	int i, n, ran;

	ran = td_loop_poll_before_sleep(loop, &timeout_ms);
	n = epoll_wait(loop->epfd, events, TD_LOOP_BATCH, timeout_ms);
	td_loop_poll_after_wake(loop);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->batch = events;
	loop->batch_len = n;
	for (i = 0; i < n; i++) {
		struct td_loop_fd *f = events[i].data.ptr;

		if (!f)
			continue;
		f->cb(f, events[i].events & TD_EV_MASK);
		ran++;
	}
	loop->batch = NULL;
	loop->batch_len = 0;
	return ran;
}

static int run_timers(struct td_loop *loop)
{
	struct td_list expired;
	struct td_list *pos;
	uint64_t now;
	int ran = 0;

	/* Reading the clock is a syscall on a Xen PV dom0 (no vDSO). */
	if (td_list_empty(&loop->timers))
		return 0;
	now = td_loop_now(loop);

	/*
	 * Detach the expired ones first: a timer re-armed by its callback
	 * with a zero delay waits for the next iteration instead of spinning.
	 * Callbacks may cancel or re-arm timers still on @expired.
	 */
	td_list_init(&expired);
	while (!td_list_empty(&loop->timers)) {
		struct td_loop_timer *t = td_list_entry(
			loop->timers.next, struct td_loop_timer, link);

		if (t->deadline_ns > now)
			break;
		td_list_del(&t->link);
		td_list_add_tail(&t->link, &expired);
	}
	while ((pos = td_list_pop(&expired))) {
		struct td_loop_timer *t =
			td_list_entry(pos, struct td_loop_timer, link);

		t->armed = false;
		t->cb(t);
		ran++;
	}
	return ran;
}

static int run_deferred(struct td_loop *loop)
{
	struct td_list batch, *pos;
	unsigned gen;
	int ran = 0;

	/*
	 * Drain generation by generation: a defer queued by a defer runs in
	 * the next generation of this same drain. One completion walks such a
	 * chain (reap, io core, image, ring response, notify), and every
	 * extra loop iteration would cost an epoll_wait, a syscall that is
	 * dear on a PV dom0. Past loop->defer_gens generations the rest
	 * waits for the next iteration, after a non-sleeping poll of fds, so
	 * a defer that keeps re-queuing itself cannot starve sockets and
	 * signals.
	 */
	for (gen = 0; gen < loop->defer_gens; gen++) {
		if (td_list_empty(&loop->deferred))
			break;
		td_list_move_all(&loop->deferred, &batch);
		while ((pos = td_list_pop(&batch))) {
			struct td_loop_defer *d =
				td_list_entry(pos, struct td_loop_defer, link);

			d->queued = false;
			d->cb(d);
			ran++;
		}
	}
	return ran;
}

int td_loop_run_once(struct td_loop *loop, int64_t max_wait_ns)
{
	int ran;

	/* Not re-entrant: a nested run would reuse the stale-event batch. */
	assert(!loop->batch);
	ran = run_fds(loop, wait_ms(loop, max_wait_ns));
	if (ran < 0)
		return ran;
	ran += run_timers(loop);
	ran += run_deferred(loop);
	return ran;
}

int td_loop_run(struct td_loop *loop)
{
	int r = 0;

	while (!loop->stop) {
		r = td_loop_run_once(loop, -1);
		if (r < 0)
			break;
	}
	loop->stop = false;
	return r < 0 ? r : 0;
}

void td_loop_stop(struct td_loop *loop)
{
	loop->stop = true;
}

void td_loop_set_defer_gens(struct td_loop *loop, unsigned gens)
{
	loop->defer_gens = gens ? gens : 1;
}
