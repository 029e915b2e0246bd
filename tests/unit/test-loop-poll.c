/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the loop's busy polling: pollers are ignored while polling
 * is off, looked at once by non-sleeping iterations, armed before a sleep
 * (and an arm that finds work prevents it), spun over once the adaptive
 * window has grown, and the window grows on short sleeps and shrinks back
 * to zero on long ones. Real time is used throughout: the spin is bounded
 * by CLOCK_MONOTONIC, so the windows here are generous enough for valgrind.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "loop.h"
#include "td-check.h"

/* Far above any sleep on a ready fd, even under valgrind. */
#define MAX_NS (10 * TD_NS_PER_MS)

static struct td_loop loop;

struct probe {
	struct td_loop_poller p;
	int polls, arms;
	int ready_after;   /* poll finds work from this call on; 0: never */
	bool arm_finds;    /* arm reports (and queues) work */
	struct probe *victim; /* deleted by the first poll */
	struct td_loop_defer d;
	int deferred;
};

static bool probe_poll(struct td_loop_poller *p)
{
	struct probe *x = p->arg;

	x->polls++;
	if (x->victim) {
		td_loop_poller_del(&loop, &x->victim->p);
		x->victim = NULL;
	}
	return x->ready_after && x->polls >= x->ready_after;
}

static void probe_defer(struct td_loop_defer *d)
{
	((struct probe *)d->arg)->deferred++;
}

static bool probe_arm(struct td_loop_poller *p)
{
	struct probe *x = p->arg;

	x->arms++;
	if (!x->arm_finds)
		return false;
	x->arm_finds = false;
	td_loop_defer(&loop, &x->d);
	return true;
}

static void probe_init(struct probe *x)
{
	memset(x, 0, sizeof(*x));
	x->p.poll = probe_poll;
	x->p.arm = probe_arm;
	x->p.arg = x;
	x->d.cb = probe_defer;
	x->d.arg = x;
	td_list_init(&x->d.link);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * TD_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void setup(void)
{
	ck_assert_int_eq(td_loop_init(&loop, NULL, NULL), 0);
}

static void teardown(void)
{
	td_loop_fini(&loop);
}

/* A level-triggered fd that stays readable: every sleep ends at once. */
static void never_drain(struct td_loop_fd *f, uint32_t events)
{
	(void)f;
	(void)events;
}

/* Grows the window by sleeping on an always-ready fd; returns it. */
static uint64_t grow_window(void)
{
	struct td_loop_fd f = { .events = TD_EV_IN, .cb = never_drain };

	f.fd = eventfd(1, EFD_NONBLOCK);
	ck_assert_int_ge(f.fd, 0);
	ck_assert_int_eq(td_loop_fd_add(&loop, &f), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_ge(td_loop_run_once(&loop, 1000 * TD_NS_PER_MS),
				 1);
	td_loop_fd_del(&loop, &f);
	close(f.fd);
	return td_loop_poll_stats(&loop).window_ns;
}

START_TEST(test_off_ignores_pollers)
{
	struct probe x;

	probe_init(&x);
	td_loop_poller_add(&loop, &x.p);
	ck_assert(!td_loop_polling(&loop));
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(td_loop_run_once(&loop, 2 * TD_NS_PER_MS), 0);
	ck_assert_int_eq(x.polls, 0);
	ck_assert_int_eq(x.arms, 0);
	td_loop_poller_del(&loop, &x.p);
}
END_TEST

START_TEST(test_nonsleeping_polls_once)
{
	struct probe x;

	probe_init(&x);
	x.ready_after = 1;
	td_loop_set_poll(&loop, MAX_NS);
	td_loop_poller_add(&loop, &x.p);
	/* Work found by a poller counts as a callback run. */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(x.polls, 1);
	ck_assert_int_eq(x.arms, 0);
	td_loop_poller_del(&loop, &x.p);
}
END_TEST

START_TEST(test_arm_before_sleep)
{
	struct probe x;
	uint64_t t0;

	probe_init(&x);
	td_loop_set_poll(&loop, MAX_NS);
	td_loop_poller_add(&loop, &x.p);
	/* The window starts at zero: no spin, just arm and sleep. */
	t0 = now_ns();
	ck_assert_int_eq(td_loop_run_once(&loop, 5 * TD_NS_PER_MS), 0);
	ck_assert_uint_ge(now_ns() - t0, 4 * TD_NS_PER_MS);
	ck_assert_int_eq(x.arms, 1);
	ck_assert_int_eq(x.polls, 0);
	ck_assert_uint_eq(td_loop_poll_stats(&loop).sleeps, 1);

	/* An arm that finds work keeps the loop awake and runs the work. */
	x.arm_finds = true;
	t0 = now_ns();
	ck_assert_int_ge(td_loop_run_once(&loop, 2000 * TD_NS_PER_MS), 2);
	ck_assert_uint_lt(now_ns() - t0, 1000 * TD_NS_PER_MS);
	ck_assert_int_eq(x.arms, 2);
	ck_assert_int_eq(x.deferred, 1);
	td_loop_poller_del(&loop, &x.p);
}
END_TEST

START_TEST(test_window_adapts)
{
	struct probe x;
	struct td_loop_poll_stats st;

	probe_init(&x);
	td_loop_set_poll(&loop, MAX_NS);
	td_loop_poller_add(&loop, &x.p);
	/* Woken right after blocking: the window grows from zero. */
	ck_assert_uint_gt(grow_window(), 0);
	st = td_loop_poll_stats(&loop);
	ck_assert_uint_ge(st.sleeps, 1);
	ck_assert_uint_ge(st.hits + st.misses, 1);
	ck_assert_int_gt(x.polls, 0);

	/* Sleeps longer than the maximum shrink it back to nothing. */
	for (int i = 0; i < 8; i++)
		td_loop_run_once(&loop, 20 * TD_NS_PER_MS);
	ck_assert_uint_eq(td_loop_poll_stats(&loop).window_ns, 0);

	/* Lowering the maximum clamps the window at once. */
	ck_assert_uint_gt(grow_window(), 0);
	td_loop_set_poll(&loop, 1000);
	ck_assert_uint_le(td_loop_poll_stats(&loop).window_ns, 1000);
	td_loop_poller_del(&loop, &x.p);
}
END_TEST

START_TEST(test_spin_finds_work)
{
	struct probe x;
	uint64_t hits, t0;

	probe_init(&x);
	td_loop_set_poll(&loop, MAX_NS);
	td_loop_poller_add(&loop, &x.p);
	ck_assert_uint_gt(grow_window(), 0);
	hits = td_loop_poll_stats(&loop).hits;
	/*
	 * Work is there on the spin's first look (a window of a few
	 * microseconds may allow only one under valgrind): no arm, no sleep.
	 */
	x.polls = 0;
	x.arms = 0;
	x.ready_after = 1;
	t0 = now_ns();
	ck_assert_int_ge(td_loop_run_once(&loop, 2000 * TD_NS_PER_MS), 1);
	ck_assert_uint_lt(now_ns() - t0, 1000 * TD_NS_PER_MS);
	ck_assert_int_eq(x.polls, 1);
	ck_assert_int_eq(x.arms, 0);
	ck_assert_uint_eq(td_loop_poll_stats(&loop).hits, hits + 1);
	td_loop_poller_del(&loop, &x.p);
}
END_TEST

START_TEST(test_del_during_walk)
{
	struct probe a, b, c;

	probe_init(&a);
	probe_init(&b);
	probe_init(&c);
	td_loop_set_poll(&loop, MAX_NS);
	td_loop_poller_add(&loop, &a.p);
	td_loop_poller_add(&loop, &b.p);
	td_loop_poller_add(&loop, &c.p);
	a.victim = &b;
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(a.polls, 1);
	ck_assert_int_eq(b.polls, 0);
	ck_assert_int_eq(c.polls, 1);
	ck_assert(!b.p.registered);
	td_loop_poller_del(&loop, &b.p); /* harmless twice */
	td_loop_run_once(&loop, 0);
	ck_assert_int_eq(a.polls, 2);
	ck_assert_int_eq(c.polls, 2);
	td_loop_poller_del(&loop, &a.p);
	td_loop_poller_del(&loop, &c.p);
}
END_TEST

static Suite *poll_suite(void)
{
	Suite *s = suite_create("loop-poll");
	TCase *tc = tcase_create("poll");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_off_ignores_pollers);
	tcase_add_test(tc, test_nonsleeping_polls_once);
	tcase_add_test(tc, test_arm_before_sleep);
	tcase_add_test(tc, test_window_adapts);
	tcase_add_test(tc, test_spin_finds_work);
	tcase_add_test(tc, test_del_during_walk);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(poll_suite());
}
