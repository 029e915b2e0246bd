/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "td-log.h"

/*
 * The sink is set once at start-up and read-only afterwards (see td-log.h):
 * it is configuration, not daemon state, so it lives here rather than in
 * struct td_server, which would force every driver to carry a server
 * pointer just to log.
 */
static struct td_log_config td_log_cfg = {
	.level = TD_LOG_INFO,
	.debug_mask = 0,
	.fd = 2,
	.ident = "tapdisk",
};

static const char *const td_level_names[] = { "err", "warn", "info", "debug" };

void td_log_configure(const struct td_log_config *cfg)
{
	td_log_cfg = *cfg;
	if (!td_log_cfg.ident)
		td_log_cfg.ident = "tapdisk";
}

int td_log_parse_level(const char *s, enum td_log_level *out)
{
	for (unsigned i = 0; i < 4; i++) {
		if (!strcasecmp(s, td_level_names[i])) {
			*out = (enum td_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void td_vlog(enum td_log_level lvl, uint32_t subsys, const char *fmt,
	     va_list ap)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (lvl > td_log_cfg.level)
		return;
	if (lvl == TD_LOG_DEBUG && !(td_log_cfg.debug_mask & subsys))
		return;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, sizeof(buf),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     td_log_cfg.ident, (int)getpid(), td_level_names[lvl]);
	if (n < 0)
		return;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line so lines of several processes never interleave. */
	while (write(td_log_cfg.fd, buf, (size_t)n) < 0 && errno == EINTR)
		;
}

void td_log(enum td_log_level lvl, uint32_t subsys, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	td_vlog(lvl, subsys, fmt, ap);
	va_end(ap);
}

void td_log_ratelimited(struct td_ratelimit *rl, enum td_log_level lvl,
			uint32_t subsys, const char *fmt, ...)
{
	struct timespec ts;
	uint64_t now;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec;
	if (now - rl->window_start_s >= rl->interval_s) {
		if (rl->suppressed)
			td_log(lvl, subsys, "%u similar messages suppressed",
			       rl->suppressed);
		rl->window_start_s = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= rl->burst) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	td_vlog(lvl, subsys, fmt, ap);
	va_end(ap);
}
