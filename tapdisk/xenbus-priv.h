/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internals of the xenbus backend shared by tapdisk/xenbus*.c. Not for
 * other modules: they use tapdisk/xenbus.h.
 */
#ifndef TD_XENBUS_PRIV_H
#define TD_XENBUS_PRIV_H

#include "td-list.h"
#include "td-log.h"
#include "loop.h"
#include "vbd.h"
#include "xenbus.h"
#include "xs.h"

#define XB_PATH_MAX 256
#define XB_ERR_MAX 640

struct xbshm;
struct xbshm_conn;

struct td_xenbus {
	struct td_server *srv;
	struct td_loop *loop;
	struct td_xs *xs;
	struct td_list devs;     /* td_xenbus_dev.link: served devices */
	struct td_list zombies;  /* disconnected, draining, then freed */
	struct td_list watches;  /* struct xb_watch.link (mode b) */
	unsigned next_id;        /* for watch tokens */
	struct xbshm *shm;       /* shm test transport, made on demand */
};

struct td_xenbus_dev {
	struct td_xenbus *xb;
	struct td_list link;
	unsigned id;
	char be[XB_PATH_MAX];       /* backend directory */
	char fe[XB_PATH_MAX];       /* frontend directory ("frontend") */
	char tok_be[32], tok_fe[32];
	bool watching;
	uint32_t domid;             /* "frontend-id" */
	int minor;                  /* the VBD, found by minor each time */
	bool owns_vbd;              /* mode (b): closed and detached with us */
	struct td_xenbus_opts opts;

	int be_state;               /* what we last wrote */
	int fe_state;               /* what we last read (-1: none) */
	struct td_blkif *blkif;     /* connected rings */
	struct td_blkif *draining;  /* disconnected, not yet freed */
	bool failed;                /* gave up: no further action */
	struct td_loop_defer update; /* coalesces watch events */
	struct td_loop_timer timer;  /* connect timeout */
	struct xbshm_conn *shm_link; /* shm: deposit socket of the rings */
	uint64_t connects;
	char error[XB_ERR_MAX];     /* last error written, "" if none */
	struct td_ratelimit rl;
};

/* xenbus.c: small xenstore helpers on xb->xs. */
int xb_read(struct td_xenbus *xb, td_xs_tx t, const char *dir,
	    const char *key, char **val);
int xb_read_u32(struct td_xenbus *xb, td_xs_tx t, const char *dir,
		const char *key, uint32_t *v);
int xb_write(struct td_xenbus *xb, td_xs_tx t, const char *dir,
	     const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Strict decimal parse of a whole string into [0, max]. */
int xb_parse_u32(const char *s, uint32_t max, uint32_t *v);
/* @dir + "/" + @key into @buf; -ENAMETOOLONG if it does not fit. */
int xb_join(char *buf, size_t len, const char *dir, const char *key);

/* xenbus-dev.c: one device's state machine. */
int xb_dev_create(struct td_xenbus *xb, int minor, const char *be,
		  const struct td_xenbus_opts *o, bool owns_vbd,
		  struct td_xenbus_dev **out, char *err, size_t errlen);
/* Stops it; @write_closed: write Closed once drained. Frees it. */
void xb_dev_destroy(struct td_xenbus_dev *dev, bool write_closed);
/* Frees a device at xenbus teardown, touching no xenstore state. */
void xb_dev_free_now(struct td_xenbus_dev *dev);
/* Reports @err to xenstore as blkback does, then Closing; @fmt why. */
void xb_dev_fatal(struct td_xenbus_dev *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes hotplug-status "error" and hotplug-error @msg in @be. */
void xb_hotplug_error(struct td_xenbus *xb, const char *be, const char *msg);
/* Writes the Linux-style error node for backend @be: "ERRNO message". */
void xb_error_node(struct td_xenbus *xb, const char *be, int err,
		   const char *msg);
/* Closes and detaches VBD @minor (asynchronously). */
void xb_vbd_close(struct td_xenbus *xb, int minor);
struct td_xenbus_dev *xb_dev_find(struct td_xenbus *xb, const char *be);
/* Routes a watch event with token "xb/ID/..." to its device. */
void xb_dev_event(struct td_xenbus *xb, unsigned id);

/* xenbus-watch.c: mode (b). */
void xb_watch_event(struct td_xenbus *xb, unsigned id);
void xb_watch_free_all(struct td_xenbus *xb);

/* xenbus-shm.c: the shm test transport. */
void xbshm_destroy(struct xbshm *s);
/* Closes a deposit socket handed to a device (the frontend sees EOF). */
void xbshm_conn_close(struct xbshm_conn *c);

#endif
