/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests of the event loop: fds, timers on a fake clock, defers, stop. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "loop.h"
#include "td-check.h"

struct fake_clock {
	uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

static const struct td_clock_ops fake_clock_ops = { .now_ns = fake_now };

/* Shared by the tests: each test starts with a fresh loop on a fake clock. */
static struct td_loop loop;
static struct fake_clock fclock;

static void setup(void)
{
	fclock.now = 1000 * TD_NS_PER_S;
	ck_assert_int_eq(td_loop_init(&loop, &fake_clock_ops, &fclock), 0);
}

static void teardown(void)
{
	td_loop_fini(&loop);
}

/* ---- fds ---- */

struct fd_probe {
	struct td_loop_fd f;
	int calls;
	uint32_t last;
};

static void probe_cb(struct td_loop_fd *f, uint32_t events)
{
	struct fd_probe *p = td_container_of(f, struct fd_probe, f);

	p->calls++;
	p->last = events;
}

static void probe_init(struct fd_probe *p, int fd, uint32_t events)
{
	memset(p, 0, sizeof(*p));
	p->f.fd = fd;
	p->f.events = events;
	p->f.cb = probe_cb;
}

START_TEST(test_fd_readiness)
{
	struct fd_probe p;
	int pfd[2];
	char c = 'x';

	ck_assert_int_eq(pipe(pfd), 0);
	probe_init(&p, pfd[0], TD_EV_IN);
	ck_assert_int_eq(td_loop_fd_add(&loop, &p.f), 0);
	ck_assert(p.f.registered);
	ck_assert_int_eq(td_loop_fd_add(&loop, &p.f), -EEXIST);
	ck_assert_uint_eq(loop.nfds, 1);

	/* Nothing to read: a zero wait returns without calling anybody. */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(p.calls, 0);

	ck_assert_int_eq(write(pfd[1], &c, 1), 1);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(p.calls, 1);
	ck_assert_uint_eq(p.last, TD_EV_IN);

	/* Level-triggered: still readable until drained. */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(p.calls, 2);

	/* The writer going away is reported as HUP without asking. */
	close(pfd[1]);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert(p.last & TD_EV_HUP);

	td_loop_fd_del(&loop, &p.f);
	ck_assert(!p.f.registered);
	ck_assert_uint_eq(loop.nfds, 0);
	td_loop_fd_del(&loop, &p.f); /* harmless twice */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(p.calls, 3);
	close(pfd[0]);
}
END_TEST

START_TEST(test_fd_mod)
{
	struct fd_probe p;
	int pfd[2];

	ck_assert_int_eq(pipe(pfd), 0);
	probe_init(&p, pfd[1], TD_EV_IN);
	ck_assert_int_eq(td_loop_fd_mod(&loop, &p.f, TD_EV_OUT), -ENOENT);
	ck_assert_int_eq(td_loop_fd_add(&loop, &p.f), 0);
	/* A write end never becomes readable. */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(td_loop_fd_mod(&loop, &p.f, TD_EV_OUT), 0);
	ck_assert_uint_eq(p.f.events, TD_EV_OUT);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_uint_eq(p.last, TD_EV_OUT);
	td_loop_fd_del(&loop, &p.f);
	close(pfd[0]);
	close(pfd[1]);
}
END_TEST

START_TEST(test_fd_bad)
{
	struct fd_probe p;

	probe_init(&p, -1, TD_EV_IN);
	ck_assert_int_eq(td_loop_fd_add(&loop, &p.f), -EBADF);
	ck_assert(!p.f.registered);
	ck_assert_uint_eq(loop.nfds, 0);
}
END_TEST

static void del_self_cb(struct td_loop_fd *f, uint32_t events)
{
	struct fd_probe *p = td_container_of(f, struct fd_probe, f);

	p->calls++;
	td_loop_fd_del(&loop, f);
}

START_TEST(test_fd_del_self)
{
	struct fd_probe p;
	int efd = eventfd(1, EFD_NONBLOCK);

	ck_assert_int_ge(efd, 0);
	probe_init(&p, efd, TD_EV_IN);
	p.f.cb = del_self_cb;
	ck_assert_int_eq(td_loop_fd_add(&loop, &p.f), 0);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(p.calls, 1);
	ck_assert(!p.f.registered);
	/* Still readable, but no longer watched. */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(p.calls, 1);
	close(efd);
}
END_TEST

/*
 * Two registrations ready in the same epoll batch; whichever runs first
 * deletes the other and frees it. The other must not be called: under
 * ASan or valgrind a stale dispatch would be a use-after-free, and the
 * call counter catches it otherwise.
 */
static struct fd_probe *pair[2];
static int pair_calls;

static void del_other_cb(struct td_loop_fd *f, uint32_t events)
{
	int me = f->arg == (void *)0 ? 0 : 1;
	struct fd_probe *other = pair[1 - me];

	pair_calls++;
	if (!other)
		return;
	td_loop_fd_del(&loop, &other->f);
	close(other->f.fd);
	free(other);
	pair[1 - me] = NULL;
}

START_TEST(test_fd_del_other)
{
	int i;

	pair_calls = 0;
	for (i = 0; i < 2; i++) {
		int efd = eventfd(1, EFD_NONBLOCK);

		ck_assert_int_ge(efd, 0);
		pair[i] = malloc(sizeof(*pair[i]));
		ck_assert_ptr_nonnull(pair[i]);
		probe_init(pair[i], efd, TD_EV_IN);
		pair[i]->f.cb = del_other_cb;
		pair[i]->f.arg = (void *)(uintptr_t)i;
		ck_assert_int_eq(td_loop_fd_add(&loop, &pair[i]->f), 0);
	}
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(pair_calls, 1);
	ck_assert_uint_eq(loop.nfds, 1);
	/* The survivor keeps being dispatched. */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(pair_calls, 2);
	for (i = 0; i < 2; i++) {
		if (!pair[i])
			continue;
		td_loop_fd_del(&loop, &pair[i]->f);
		close(pair[i]->f.fd);
		free(pair[i]);
	}
}
END_TEST

/* ---- timers ---- */

static int fired[16];
static int nfired;

struct tprobe {
	struct td_loop_timer t;
	int id;
};

static void record_cb(struct td_loop_timer *t)
{
	struct tprobe *p = td_container_of(t, struct tprobe, t);

	ck_assert(!t->armed);
	ck_assert_int_lt(nfired, 16);
	fired[nfired++] = p->id;
}

static void tprobe_init(struct tprobe *p, int id)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->t.cb = record_cb;
	td_list_init(&p->t.link);
}

START_TEST(test_timer_order)
{
	struct tprobe t[4];
	int i;

	nfired = 0;
	for (i = 0; i < 4; i++)
		tprobe_init(&t[i], i);
	td_loop_timer_arm(&loop, &t[0].t, 30 * TD_NS_PER_MS);
	td_loop_timer_arm(&loop, &t[1].t, 10 * TD_NS_PER_MS);
	td_loop_timer_arm(&loop, &t[2].t, 20 * TD_NS_PER_MS);
	td_loop_timer_arm(&loop, &t[3].t, 20 * TD_NS_PER_MS);
	ck_assert_uint_eq(t[1].t.deadline_ns, fclock.now + 10 * TD_NS_PER_MS);

	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(nfired, 0);

	fclock.now += 15 * TD_NS_PER_MS;
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(nfired, 1);
	ck_assert_int_eq(fired[0], 1);

	/* Equal deadlines fire in arming order, then the later one. */
	fclock.now += 100 * TD_NS_PER_MS;
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 3);
	ck_assert_int_eq(nfired, 4);
	ck_assert_int_eq(fired[1], 2);
	ck_assert_int_eq(fired[2], 3);
	ck_assert_int_eq(fired[3], 0);
	for (i = 0; i < 4; i++)
		ck_assert(!t[i].t.armed);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
}
END_TEST

START_TEST(test_timer_cancel_rearm)
{
	struct tprobe a, b;

	nfired = 0;
	tprobe_init(&a, 1);
	tprobe_init(&b, 2);
	td_loop_timer_arm(&loop, &a.t, 10 * TD_NS_PER_MS);
	td_loop_timer_arm(&loop, &b.t, 20 * TD_NS_PER_MS);
	td_loop_timer_cancel(&loop, &a.t);
	ck_assert(!a.t.armed);
	td_loop_timer_cancel(&loop, &a.t); /* harmless twice */

	/* Re-arming an armed timer moves it: b now expires after 50ms. */
	td_loop_timer_arm(&loop, &b.t, 50 * TD_NS_PER_MS);
	fclock.now += 30 * TD_NS_PER_MS;
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(nfired, 0);

	td_loop_timer_arm(&loop, &a.t, 5 * TD_NS_PER_MS);
	fclock.now += 25 * TD_NS_PER_MS;
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 2);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[0], 1); /* deadline 35ms */
	ck_assert_int_eq(fired[1], 2); /* deadline 50ms */
}
END_TEST

/* A periodic timer and a timer cancelling another expired one. */
static struct tprobe *victim;
static int periodic_runs;

static void periodic_cb(struct td_loop_timer *t)
{
	periodic_runs++;
	td_loop_timer_arm(&loop, t, 0);
}

static void canceller_cb(struct td_loop_timer *t)
{
	record_cb(t);
	td_loop_timer_cancel(&loop, &victim->t);
}

START_TEST(test_timer_in_callback)
{
	struct tprobe per, killer, v;

	nfired = 0;
	periodic_runs = 0;
	tprobe_init(&per, 0);
	tprobe_init(&killer, 1);
	tprobe_init(&v, 2);
	per.t.cb = periodic_cb;
	killer.t.cb = canceller_cb;
	victim = &v;

	/* A zero-delay re-arm waits for the next iteration, no spinning. */
	td_loop_timer_arm(&loop, &per.t, 0);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(periodic_runs, 1);
	ck_assert(per.t.armed);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(periodic_runs, 2);
	td_loop_timer_cancel(&loop, &per.t);

	/* Both expire together; the first cancels the second. */
	td_loop_timer_arm(&loop, &killer.t, 1);
	td_loop_timer_arm(&loop, &v.t, 2);
	fclock.now += 10;
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 1);
	ck_assert_int_eq(nfired, 1);
	ck_assert_int_eq(fired[0], 1);
	ck_assert(!v.t.armed);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
}
END_TEST

/* On the real clock, an unbounded wait sleeps until the nearest timer. */
START_TEST(test_timer_wakes_wait)
{
	struct td_loop rl;
	struct tprobe t;
	uint64_t start;

	ck_assert_int_eq(td_loop_init(&rl, NULL, NULL), 0);
	ck_assert_ptr_eq(rl.clock, &td_clock_monotonic);
	nfired = 0;
	tprobe_init(&t, 7);
	start = td_loop_now(&rl);
	td_loop_timer_arm(&rl, &t.t, 5 * TD_NS_PER_MS);
	ck_assert_int_eq(td_loop_run_once(&rl, -1), 1);
	ck_assert_int_eq(nfired, 1);
	/* Correctness, not speed: it must never fire early. */
	ck_assert_uint_ge(td_loop_now(&rl) - start, 5 * TD_NS_PER_MS);
	/* max_wait bounds the sleep when no timer is due. */
	ck_assert_int_eq(td_loop_run_once(&rl, 1 * TD_NS_PER_MS), 0);
	td_loop_fini(&rl);
}
END_TEST

/* ---- defers ---- */

struct dprobe {
	struct td_loop_defer d;
	int id;
};

static struct dprobe *chained;

static void defer_record(struct td_loop_defer *d)
{
	struct dprobe *p = td_container_of(d, struct dprobe, d);

	ck_assert(!d->queued);
	ck_assert_int_lt(nfired, 16);
	fired[nfired++] = p->id;
	if (p->id == 1 && chained)
		td_loop_defer(&loop, &chained->d);
}

static void dprobe_init(struct dprobe *p, int id)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->d.cb = defer_record;
	td_list_init(&p->d.link);
}

START_TEST(test_defer_order_once)
{
	struct dprobe d[4];
	int i;

	nfired = 0;
	chained = NULL;
	for (i = 0; i < 4; i++)
		dprobe_init(&d[i], i);
	td_loop_defer(&loop, &d[2].d);
	td_loop_defer(&loop, &d[0].d);
	td_loop_defer(&loop, &d[2].d); /* already queued: no-op */
	td_loop_defer(&loop, &d[3].d);
	td_loop_defer(&loop, &d[1].d);
	td_loop_defer_cancel(&loop, &d[1].d);
	ck_assert(!d[1].d.queued);
	td_loop_defer_cancel(&loop, &d[1].d); /* harmless twice */

	/* Pending defers mean no sleep even for an unbounded wait. */
	ck_assert_int_eq(td_loop_run_once(&loop, -1), 3);
	ck_assert_int_eq(nfired, 3);
	ck_assert_int_eq(fired[0], 2);
	ck_assert_int_eq(fired[1], 0);
	ck_assert_int_eq(fired[2], 3);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	ck_assert_int_eq(nfired, 3);
}
END_TEST

START_TEST(test_defer_in_defer)
{
	struct dprobe a, b, c;

	nfired = 0;
	dprobe_init(&a, 1);
	dprobe_init(&b, 2);
	dprobe_init(&c, 3);
	chained = &c;
	td_loop_defer(&loop, &a.d);
	td_loop_defer(&loop, &b.d);
	/* c is queued by a: it runs in the same drain, after b. */
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 3);
	ck_assert_int_eq(nfired, 3);
	ck_assert_int_eq(fired[0], 1);
	ck_assert_int_eq(fired[1], 2);
	ck_assert_int_eq(fired[2], 3);
	ck_assert_int_eq(td_loop_run_once(&loop, 0), 0);
	chained = NULL;
}
END_TEST

/* A defer that always re-queues itself. */
static int nrequeue;

static void requeue_cb(struct td_loop_defer *d)
{
	nrequeue++;
	td_loop_defer(&loop, d);
}

START_TEST(test_defer_chain_bounded)
{
	struct td_loop_defer d;
	struct fd_probe p;
	int efd = eventfd(0, EFD_NONBLOCK);

	ck_assert_int_ge(efd, 0);
	memset(&d, 0, sizeof(d));
	d.cb = requeue_cb;
	td_list_init(&d.link);
	nrequeue = 0;
	probe_init(&p, efd, TD_EV_IN);
	ck_assert_int_eq(td_loop_fd_add(&loop, &p.f), 0);
	td_loop_defer(&loop, &d);
	/* One iteration runs a bounded number of generations... */
	ck_assert_int_eq(td_loop_run_once(&loop, -1), TD_LOOP_DEFER_GENS);
	ck_assert_int_eq(nrequeue, TD_LOOP_DEFER_GENS);
	ck_assert(d.queued);
	/* ... and the next one still sees an fd that became ready. */
	ck_assert_int_eq(eventfd_write(efd, 1), 0);
	ck_assert_int_eq(td_loop_run_once(&loop, -1),
			 1 + TD_LOOP_DEFER_GENS);
	ck_assert_int_eq(p.calls, 1);
	/* The bound is the loop's to set; zero means one generation. */
	ck_assert_int_eq(eventfd_read(efd, &(eventfd_t){ 0 }), 0);
	td_loop_set_defer_gens(&loop, 3);
	ck_assert_int_eq(td_loop_run_once(&loop, -1), 3);
	td_loop_set_defer_gens(&loop, 0);
	ck_assert_int_eq(td_loop_run_once(&loop, -1), 1);
	ck_assert_int_eq(nrequeue, 2 * TD_LOOP_DEFER_GENS + 4);
	td_loop_defer_cancel(&loop, &d);
	td_loop_fd_del(&loop, &p.f);
	close(efd);
}
END_TEST

/* A defer queued from a fd callback runs in the same iteration, after it. */
static struct dprobe *from_fd;

static void queue_defer_cb(struct td_loop_fd *f, uint32_t events)
{
	uint64_t v;

	ck_assert_int_eq(read(f->fd, &v, sizeof(v)), sizeof(v));
	ck_assert_int_lt(nfired, 16);
	fired[nfired++] = 100;
	td_loop_defer(&loop, &from_fd->d);
}

START_TEST(test_defer_after_fd)
{
	struct fd_probe p;
	struct dprobe d;
	int efd = eventfd(1, EFD_NONBLOCK);

	ck_assert_int_ge(efd, 0);
	nfired = 0;
	chained = NULL;
	dprobe_init(&d, 5);
	from_fd = &d;
	probe_init(&p, efd, TD_EV_IN);
	p.f.cb = queue_defer_cb;
	ck_assert_int_eq(td_loop_fd_add(&loop, &p.f), 0);
	ck_assert_int_eq(td_loop_run_once(&loop, -1), 2);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[0], 100);
	ck_assert_int_eq(fired[1], 5);
	td_loop_fd_del(&loop, &p.f);
	close(efd);
}
END_TEST

/* ---- run / stop ---- */

static int ticks;

static void tick_cb(struct td_loop_timer *t)
{
	if (++ticks == 3)
		td_loop_stop(&loop);
	else
		td_loop_timer_arm(&loop, t, 0);
}

START_TEST(test_run_stop)
{
	struct td_loop_timer t;

	memset(&t, 0, sizeof(t));
	t.cb = tick_cb;
	ticks = 0;
	td_loop_timer_arm(&loop, &t, 0);
	ck_assert_int_eq(td_loop_run(&loop), 0);
	ck_assert_int_eq(ticks, 3);
	ck_assert(!loop.stop);

	/* The loop runs again after a stop. */
	ticks = 1;
	td_loop_timer_arm(&loop, &t, 0);
	ck_assert_int_eq(td_loop_run(&loop), 0);
	ck_assert_int_eq(ticks, 3);

	/* A stop requested before run makes it return at once. */
	td_loop_stop(&loop);
	ck_assert_int_eq(td_loop_run(&loop), 0);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fd_readiness);
	tcase_add_test(tc, test_fd_mod);
	tcase_add_test(tc, test_fd_bad);
	tcase_add_test(tc, test_fd_del_self);
	tcase_add_test(tc, test_fd_del_other);
	tcase_add_test(tc, test_timer_order);
	tcase_add_test(tc, test_timer_cancel_rearm);
	tcase_add_test(tc, test_timer_in_callback);
	tcase_add_test(tc, test_timer_wakes_wait);
	tcase_add_test(tc, test_defer_order_once);
	tcase_add_test(tc, test_defer_in_defer);
	tcase_add_test(tc, test_defer_chain_bounded);
	tcase_add_test(tc, test_defer_after_fd);
	tcase_add_test(tc, test_run_stop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return td_check_run(loop_suite());
}
