/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tap-ctl: the verbs that start, configure and stop tapdisks and VBDs.
 * Each is a thin sequence of libtdctl calls; multi-step verbs (create,
 * destroy) undo what they did when a later step fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "td-rpc.h"
#include "tap-ctl.h"

static void open_opts(const struct cli *c, struct td_ctl_open_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->readonly = c->readonly;
	o->no_o_direct = c->no_o_direct;
	o->no_nbd = c->no_nbd;
	o->no_shm = c->no_shm;
	o->nbd_tcp = c->nbd_tcp;
}

static void spawn_opts(const struct cli *c, struct td_ctl_spawn_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->io_engine = c->io_engine;
	o->log_level = c->log_level;
	o->poll_us = c->poll_us;
}

int cmd_spawn(struct cli *c)
{
	struct td_ctl_spawn_opts so;
	struct td_ctl_error e;
	pid_t pid;

	spawn_opts(c, &so);
	if (td_ctl_spawn(c->run_dir, &so, &pid, &e))
		return cli_fail_ctl(c, &e);
	if (isatty(STDOUT_FILENO))
		printf("tapdisk spawned with pid %d\n", (int)pid);
	else
		printf("%d\n", (int)pid);
	return 0;
}

/* The one-call steps of the minor-addressed verbs, run by cli_call. */
static int do_attach(struct cli *c, struct td_ctl *ctl, void *arg,
		     struct td_ctl_error *e)
{
	(void)arg;
	return td_ctl_attach(ctl, c->minor, e);
}

static int do_detach(struct cli *c, struct td_ctl *ctl, void *arg,
		     struct td_ctl_error *e)
{
	(void)arg;
	return td_ctl_detach(ctl, c->minor, e);
}

static int do_open(struct cli *c, struct td_ctl *ctl, void *arg,
		   struct td_ctl_error *e)
{
	struct td_ctl_open_opts oo;

	(void)arg;
	open_opts(c, &oo);
	return td_ctl_open(ctl, c->minor, c->spec, &oo, e);
}

static int do_close(struct cli *c, struct td_ctl *ctl, void *arg,
		    struct td_ctl_error *e)
{
	(void)arg;
	return td_ctl_close(ctl, c->minor, c->force, e);
}

static int do_pause(struct cli *c, struct td_ctl *ctl, void *arg,
		    struct td_ctl_error *e)
{
	(void)arg;
	return td_ctl_pause(ctl, c->minor, c->timeout_s * 1000, e);
}

static int do_unpause(struct cli *c, struct td_ctl *ctl, void *arg,
		      struct td_ctl_error *e)
{
	(void)arg;
	return td_ctl_unpause(ctl, c->minor, c->spec, e);
}

int cmd_attach(struct cli *c)
{
	struct td_ctl_error e;
	int ret;

	ret = cli_call(c, true, do_attach, NULL);
	/* The minor now lives as long as this tapdisk does. */
	if (!ret && td_ctl_minor_set_owner(c->run_dir, c->minor, c->pid, &e))
		return cli_fail_ctl(c, &e);
	return ret;
}

int cmd_detach(struct cli *c)
{
	return cli_call(c, true, do_detach, NULL);
}

int cmd_open(struct cli *c)
{
	return cli_call(c, true, do_open, NULL);
}

int cmd_close(struct cli *c)
{
	return cli_call(c, true, do_close, NULL);
}

int cmd_pause(struct cli *c)
{
	/* -t is the pause's own deadline, given to tapdisk, not ours. */
	return cli_call(c, false, do_pause, NULL);
}

int cmd_unpause(struct cli *c)
{
	return cli_call(c, true, do_unpause, NULL);
}

/* Finds the state name of @minor in tapdisk @ctl; NULL if not attached. */
static int vbd_state(struct td_ctl *ctl, int minor, char *state, size_t len,
		     struct td_ctl_error *e)
{
	json_t *vbds, *v;
	size_t i;
	int err;

	err = td_ctl_list(ctl, &vbds, e);
	if (err)
		return err;
	err = -ENOENT;
	json_array_foreach(vbds, i, v) {
		const char *s;

		if (json_integer_value(json_object_get(v, "minor")) != minor)
			continue;
		s = json_string_value(json_object_get(v, "state"));
		snprintf(state, len, "%s", s ? s : "?");
		err = 0;
	}
	json_decref(vbds);
	return err;
}

static int do_destroy(struct cli *c, struct td_ctl *ctl, void *arg,
		      struct td_ctl_error *e)
{
	char state[32];
	int err;

	(void)arg;
	err = vbd_state(ctl, c->minor, state, sizeof(state), e);
	if (err == -ENOENT) {
		e->code = err;
		snprintf(e->msg, sizeof(e->msg),
			 "minor %d is not attached to tapdisk %d", c->minor,
			 (int)c->pid);
		return err;
	}
	if (!err && strcmp(state, "attached"))
		err = td_ctl_close(ctl, c->minor, false, e);
	if (!err)
		err = td_ctl_detach(ctl, c->minor, e);
	if (err)
		return err;
	err = td_ctl_minor_free(c->run_dir, c->minor, e);
	return err == -ENOENT ? 0 : err;
}

int cmd_destroy(struct cli *c)
{
	return cli_call(c, true, do_destroy, NULL);
}

/* Undoes a failed create: the tapdisk only existed for this VBD. */
static void create_undo(const struct cli *c, pid_t pid, int minor)
{
	struct td_ctl_error e;

	if (pid > 0)
		kill(pid, SIGTERM);
	td_ctl_minor_free(c->run_dir, minor, &e);
}

int cmd_create(struct cli *c)
{
	struct td_ctl_spawn_opts so;
	struct td_ctl_open_opts oo;
	struct td_ctl_error e;
	struct td_ctl *ctl = NULL;
	pid_t pid = 0;
	int minor, ret = 0;

	if (td_ctl_minor_alloc(c->run_dir, getpid(), &minor, &e))
		return cli_fail_ctl(c, &e);
	spawn_opts(c, &so);
	open_opts(c, &oo);
	if (td_ctl_spawn(c->run_dir, &so, &pid, &e) ||
	    td_ctl_minor_set_owner(c->run_dir, minor, pid, &e) ||
	    td_ctl_connect_pid(c->run_dir, pid, &ctl, &e)) {
		ret = cli_fail_ctl(c, &e);
		goto fail;
	}
	cli_apply_timeout(c, ctl);
	if (td_ctl_attach(ctl, minor, &e) ||
	    td_ctl_open(ctl, minor, c->spec, &oo, &e)) {
		ret = cli_fail_ctl(c, &e);
		goto fail;
	}
	td_ctl_disconnect(ctl);
	printf(TD_MINOR_FILE_FMT "\n", c->run_dir, minor);
	return 0;

fail:
	td_ctl_disconnect(ctl);
	create_undo(c, pid, minor);
	return ret;
}

int cmd_allocate(struct cli *c)
{
	struct td_ctl_error e;
	int minor;

	/* Owner 0: held until "free", as blktap's allocate did. */
	if (td_ctl_minor_alloc(c->run_dir, 0, &minor, &e))
		return cli_fail_ctl(c, &e);
	printf(TD_MINOR_FILE_FMT "\n", c->run_dir, minor);
	return 0;
}

int cmd_free(struct cli *c)
{
	struct td_ctl_error e;

	if (td_ctl_minor_free(c->run_dir, c->minor, &e))
		return cli_fail_ctl(c, &e);
	return 0;
}
