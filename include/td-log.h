/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One logging API for the daemon, drivers and tools. Messages name the
 * object they are about ("vbd 3: ..."). Messages a guest or client can
 * trigger go through td_log_ratelimited so a hostile peer cannot flood
 * the log.
 *
 * The sink is process-wide configuration set once at start-up (before the
 * loop runs) and read-only afterwards; it holds no daemon state.
 */
#ifndef TD_LOG_H
#define TD_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>

enum td_log_level {
	TD_LOG_ERR = 0,
	TD_LOG_WARN,
	TD_LOG_INFO,
	TD_LOG_DEBUG,
};

/* Debug subsystems: a mask of these enables TD_LOG_DEBUG per subsystem. */
enum td_log_subsys {
	TD_SUB_CORE = 1u << 0,
	TD_SUB_LOOP = 1u << 1,
	TD_SUB_IO = 1u << 2,
	TD_SUB_VBD = 1u << 3,
	TD_SUB_DRV = 1u << 4,
	TD_SUB_RPC = 1u << 5,
	TD_SUB_RING = 1u << 6,
	TD_SUB_NBD = 1u << 7,
	TD_SUB_XS = 1u << 8,
};

struct td_log_config {
	enum td_log_level level;   /* messages above this are dropped */
	uint32_t debug_mask;       /* td_log_subsys bits for TD_LOG_DEBUG */
	int fd;                    /* destination, default 2 (stderr) */
	const char *ident;         /* prefix, e.g. "tapdisk" */
};

/*
 * Sets the sink. Called once from main() before anything logs; @cfg is
 * copied. Not thread-safe by design: tapdisk has one thread.
 */
void td_log_configure(const struct td_log_config *cfg);

/* Parses "err|warn|info|debug"; returns 0 or -EINVAL. */
int td_log_parse_level(const char *s, enum td_log_level *out);

/* Logs one line (a trailing newline is added). Never fails. */
void td_log(enum td_log_level lvl, uint32_t subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void td_vlog(enum td_log_level lvl, uint32_t subsys, const char *fmt,
	     va_list ap) __attribute__((format(printf, 3, 0)));

/*
 * Rate limiter owned by the object whose peer can trigger the message
 * (one per ring, per NBD connection, ...): at most @burst messages per
 * @interval_s seconds, then one "N messages suppressed" line.
 */
struct td_ratelimit {
	uint64_t window_start_s;
	unsigned burst, interval_s;
	unsigned printed, suppressed;
};

#define TD_RATELIMIT_INIT { 0, 10, 5, 0, 0 }

void td_log_ratelimited(struct td_ratelimit *rl, enum td_log_level lvl,
			uint32_t subsys, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define td_err(sub, ...) td_log(TD_LOG_ERR, (sub), __VA_ARGS__)
#define td_warn(sub, ...) td_log(TD_LOG_WARN, (sub), __VA_ARGS__)
#define td_info(sub, ...) td_log(TD_LOG_INFO, (sub), __VA_ARGS__)
#define td_dbg(sub, ...) td_log(TD_LOG_DEBUG, (sub), __VA_ARGS__)

#endif
