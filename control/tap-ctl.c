/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tap-ctl: command-line control of tapdisk processes, through libtdctl.
 * Verbs, option letters and the key=value list format follow blktap's
 * tap-ctl so XenServer's storage manager (drivers/blktap2.py) keeps
 * working. Every error is one line "tap-ctl VERB: message" on stderr and
 * the exit status is the errno value.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "td-rpc.h"
#include "tap-ctl.h"

/* Which options a verb takes, beyond -h/--help. */
#define O_PID (1u << 0)
#define O_MINOR (1u << 1)
#define O_SPEC (1u << 2)
#define O_TIMEOUT (1u << 3)
#define O_OPEN (1u << 4)   /* -R -D -N --no-nbd --nbd-tcp --no-shm */
#define O_FORCE (1u << 5)
#define O_LIST (1u << 6)   /* -t TYPE -f FILE */
#define O_JSON (1u << 7)
#define O_SPAWN (1u << 8)  /* --io-engine --log-level --poll-us */
#define O_XENBUS (1u << 9) /* -b PATH --transport --frontend-timeout */

/* Required options. */
#define R_PID (1u << 0)
#define R_MINOR (1u << 1)
#define R_SPEC (1u << 2)
#define R_BACKEND (1u << 3)

struct verb {
	const char *name;
	int (*fn)(struct cli *c);
	unsigned opts, required;
	const char *usage;
	const char *help;
};

static int cmd_list(struct cli *c);
static int cmd_stats(struct cli *c);

static const struct verb verbs[] = {
	{ "spawn", cmd_spawn, O_SPAWN, 0,
	  "spawn [--io-engine aio|uring] [--log-level LEVEL] [--poll-us N]",
	  "Starts a tapdisk process and prints its pid." },
	{ "create", cmd_create, O_SPEC | O_TIMEOUT | O_OPEN | O_SPAWN, R_SPEC,
	  "create -a TYPE:PATH [-R] [-D] [-N] [--nbd-tcp HOST:PORT] [-t SECS]",
	  "Allocates a minor, spawns a tapdisk, attaches and opens the image;\n"
	  "prints the device name (RUN_DIR/tapdevMINOR)." },
	{ "destroy", cmd_destroy, O_PID | O_MINOR | O_TIMEOUT, R_PID | R_MINOR,
	  "destroy -p PID -m MINOR [-t SECS]",
	  "Closes and detaches the VBD and frees its minor." },
	{ "attach", cmd_attach, O_PID | O_MINOR, R_PID | R_MINOR,
	  "attach -p PID -m MINOR", "Creates VBD MINOR in tapdisk PID." },
	{ "detach", cmd_detach, O_PID | O_MINOR, R_PID | R_MINOR,
	  "detach -p PID -m MINOR", "Removes a closed VBD." },
	{ "open", cmd_open, O_PID | O_MINOR | O_SPEC | O_TIMEOUT | O_OPEN,
	  R_PID | R_MINOR | R_SPEC,
	  "open -p PID -m MINOR -a TYPE:PATH [-R] [-D] [-N|--no-nbd]\n"
	  "          [--nbd-tcp HOST:PORT] [--no-shm] [-t SECS]",
	  "Opens an image on an attached VBD. -R read-only, -D no O_DIRECT,\n"
	  "-N no NBD export, --nbd-tcp also serve NBD on TCP." },
	{ "close", cmd_close, O_PID | O_MINOR | O_FORCE | O_TIMEOUT,
	  R_PID | R_MINOR, "close -p PID -m MINOR [-f] [-t SECS]",
	  "Closes the image once in-flight I/O is done; -f fails queued I/O." },
	{ "pause", cmd_pause, O_PID | O_MINOR | O_TIMEOUT, R_PID | R_MINOR,
	  "pause -p PID -m MINOR [-t SECS]",
	  "Drains I/O and closes the chain; new requests wait. -t bounds the\n"
	  "wait (the VBD keeps pausing after a timeout)." },
	{ "unpause", cmd_unpause, O_PID | O_MINOR | O_SPEC | O_TIMEOUT,
	  R_PID | R_MINOR, "unpause -p PID -m MINOR [-a TYPE:PATH] [-t SECS]",
	  "Reopens the chain (on a new leaf with -a, which must have the\n"
	  "same size) and runs the requests that waited." },
	{ "list", cmd_list, O_PID | O_MINOR | O_LIST | O_JSON, 0,
	  "list [-p PID] [-m MINOR] [-t TYPE] [-f FILE] [--json]",
	  "Lists tapdisks and their VBDs: a table on a terminal, else lines\n"
	  "\"pid=P minor=M state=0xF args=TYPE:PATH\" (state: blktap flags)." },
	{ "stats", cmd_stats, O_PID | O_MINOR | O_JSON, R_PID | R_MINOR,
	  "stats -p PID -m MINOR [--json]",
	  "Prints the VBD's counters, image chain and frontends: indented on\n"
	  "a terminal, else (and with --json) one line of JSON." },
	{ "xenbus-connect", cmd_xenbus_connect,
	  O_PID | O_MINOR | O_XENBUS | O_TIMEOUT, R_PID | R_MINOR | R_BACKEND,
	  "xenbus-connect -p PID -m MINOR -b BACKEND_PATH [--transport xen|shm]"
	  "\n          [--frontend-timeout MS]",
	  "Serves the xenstore device at BACKEND_PATH (written by the\n"
	  "toolstack, docs/xenstore.md) from open VBD MINOR: advertises,\n"
	  "InitWait, connects the frontend's rings. --frontend-timeout gives\n"
	  "up on a frontend that does not connect in time." },
	{ "xenbus-disconnect", cmd_xenbus_disconnect, O_PID | O_XENBUS,
	  R_PID | R_BACKEND, "xenbus-disconnect -p PID -b BACKEND_PATH",
	  "Disconnects the rings (in-flight I/O finishes), writes Closed and\n"
	  "stops serving BACKEND_PATH; the VBD stays open." },
	{ "xenbus-watch", cmd_xenbus_watch, O_PID | O_XENBUS,
	  R_PID | R_BACKEND,
	  "xenbus-watch -p PID -b DIR [--transport xen|shm]",
	  "Serves every device toolstacks create under DIR (e.g.\n"
	  "/local/domain/0/backend/vbd3), opening the image in its params." },
	{ "xenbus-unwatch", cmd_xenbus_unwatch, O_PID | O_XENBUS,
	  R_PID | R_BACKEND, "xenbus-unwatch -p PID -b DIR",
	  "Stops watching DIR (devices already served stay)." },
	{ "xenbus-list", cmd_xenbus_list, O_PID | O_JSON, R_PID,
	  "xenbus-list -p PID [--json]",
	  "Lists the xenstore devices tapdisk PID serves and their states." },
	{ "resize", cmd_resize, O_PID | O_MINOR | O_TIMEOUT, R_PID | R_MINOR,
	  "resize -p PID -m MINOR [-t SECS]",
	  "After the image grew: pauses, reopens it at its new size, resumes\n"
	  "and tells xenstore frontends (sectors + state, as blkback)." },
	{ "allocate", cmd_allocate, 0, 0, "allocate",
	  "Reserves a free minor and prints its device name." },
	{ "free", cmd_free, O_MINOR, R_MINOR, "free -m MINOR",
	  "Releases a minor reserved by allocate or create." },
	{ NULL, NULL, 0, 0, NULL, NULL },
};

int cli_fail(const struct cli *c, int err, const char *fmt, ...)
{
	char msg[1200], *nl;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line, whatever the message held. */
	while ((nl = strchr(msg, '\n')))
		*nl = ' ';
	fprintf(stderr, "tap-ctl %s: %s\n", c->verb, msg);
	if (err < 0)
		err = -err;
	return err > 0 && err < 256 ? err : 1;
}

int cli_fail_ctl(const struct cli *c, const struct td_ctl_error *e)
{
	return cli_fail(c, e->code ? e->code : -EIO, "%s", e->msg);
}

int cli_connect(const struct cli *c, struct td_ctl **out)
{
	struct td_ctl_error e;

	if (td_ctl_connect_pid(c->run_dir, c->pid, out, &e))
		return cli_fail_ctl(c, &e);
	return 0;
}

void cli_apply_timeout(const struct cli *c, struct td_ctl *ctl)
{
	if (c->timeout_s > 0)
		td_ctl_set_timeout(ctl, c->timeout_s * 1000);
}

int cli_call(struct cli *c, bool timeout, cli_call_fn fn, void *arg)
{
	struct td_ctl_error e;
	struct td_ctl *ctl;
	int ret;

	ret = cli_connect(c, &ctl);
	if (ret)
		return ret;
	if (timeout)
		cli_apply_timeout(c, ctl);
	ret = fn(c, ctl, arg, &e) ? cli_fail_ctl(c, &e) : 0;
	td_ctl_disconnect(ctl);
	return ret;
}

static void usage(FILE *f)
{
	const struct verb *v;

	fprintf(f, "usage: tap-ctl VERB [OPTIONS]   (tap-ctl VERB --help)\n\n"
		   "Controls tapdisk processes through their sockets in the "
		   "run directory\n($" TD_RUN_DIR_ENV ", default "
		   TD_RUN_DIR_DEFAULT ").\n\nverbs:\n");
	for (v = verbs; v->name; v++)
		fprintf(f, "  %s\n", v->usage);
}

static void verb_usage(const struct verb *v)
{
	printf("usage: tap-ctl %s\n\n%s\n", v->usage, v->help);
}

/* Strict decimal parse of an option value into [min, max]. */
static bool parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

enum { L_JSON = 256, L_NO_NBD, L_NBD_TCP, L_NO_SHM, L_IO_ENGINE, L_LOG_LEVEL,
       L_POLL_US, L_TRANSPORT, L_FE_TIMEOUT };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, L_JSON },
	{ "no-nbd", no_argument, NULL, L_NO_NBD },
	{ "nbd-tcp", required_argument, NULL, L_NBD_TCP },
	{ "no-shm", no_argument, NULL, L_NO_SHM },
	{ "io-engine", required_argument, NULL, L_IO_ENGINE },
	{ "log-level", required_argument, NULL, L_LOG_LEVEL },
	{ "poll-us", required_argument, NULL, L_POLL_US },
	{ "transport", required_argument, NULL, L_TRANSPORT },
	{ "frontend-timeout", required_argument, NULL, L_FE_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

/* Which option class an option belongs to; 0 if none. */
static unsigned opt_class(int ch)
{
	switch (ch) {
	case 'p': return O_PID;
	case 'm': return O_MINOR;
	case 'a': return O_SPEC;
	case 'R': case 'D': case 'N': case L_NO_NBD: case L_NBD_TCP:
	case L_NO_SHM:
		return O_OPEN;
	case 'f': return O_FORCE | O_LIST;
	case 't': return O_TIMEOUT | O_LIST;
	case L_JSON: return O_JSON;
	case L_IO_ENGINE: case L_LOG_LEVEL: case L_POLL_US: return O_SPAWN;
	case 'b': case L_TRANSPORT: case L_FE_TIMEOUT: return O_XENBUS;
	}
	return 0;
}

static int set_opt(struct cli *c, const struct verb *v, int ch,
		   const char *arg)
{
	long n;

	switch (ch) {
	case 'p':
		if (!parse_int(arg, 1, INT_MAX, &n))
			return cli_fail(c, -EINVAL, "invalid pid '%s'", arg);
		c->pid = (pid_t)n;
		break;
	case 'm':
		if (!parse_int(arg, 0, INT_MAX, &n))
			return cli_fail(c, -EINVAL, "invalid minor '%s'", arg);
		c->minor = (int)n;
		break;
	case 'a': c->spec = arg; break;
	case 'R': c->readonly = true; break;
	case 'D': c->no_o_direct = true; break;
	case 'N': case L_NO_NBD: c->no_nbd = true; break;
	case L_NBD_TCP: c->nbd_tcp = arg; break;
	case L_NO_SHM: c->no_shm = true; break;
	case L_JSON: c->json = true; break;
	case L_IO_ENGINE: c->io_engine = arg; break;
	case L_LOG_LEVEL: c->log_level = arg; break;
	case L_POLL_US:
		/* tapdisk's own bound (TD_POLL_US_MAX) */
		if (!parse_int(arg, 0, 10000, &n))
			return cli_fail(c, -EINVAL,
					"invalid --poll-us '%s' (0..10000)",
					arg);
		c->poll_us = arg;
		break;
	case 'b': c->backend = arg; break;
	case L_TRANSPORT: c->transport = arg; break;
	case L_FE_TIMEOUT:
		if (!parse_int(arg, 1, 86400000, &n))
			return cli_fail(c, -EINVAL,
					"invalid --frontend-timeout '%s' (ms)",
					arg);
		c->fe_timeout_ms = (int)n;
		break;
	case 'f':
		if (v->opts & O_LIST)
			c->file = arg;
		else
			c->force = true;
		break;
	case 't':
		if (v->opts & O_LIST) {
			c->type = arg;
		} else {
			if (!parse_int(arg, 1, 86400, &n))
				return cli_fail(c, -EINVAL,
						"invalid timeout '%s' (secs)",
						arg);
			c->timeout_s = (int)n;
		}
		break;
	}
	return 0;
}

static int parse_args(struct cli *c, const struct verb *v, int argc,
		      char **argv, bool *help)
{
	/* list's -t and -f take a value; close's -f does not. */
	const char *shortopts = v->opts & O_LIST ? "+:hp:m:t:f:" :
						   "+:hp:m:a:b:RDNft:";
	int ch, ret;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, long_opts, NULL)) !=
	       -1) {
		if (ch == 'h') {
			*help = true;
			return 0;
		}
		if (ch == ':')
			return cli_fail(c, -EINVAL, "option %s needs a value",
					argv[optind - 1]);
		if (ch == '?' || !(opt_class(ch) & v->opts))
			return cli_fail(c, -EINVAL,
					"unknown option %s (see tap-ctl %s "
					"--help)", optopt && ch == '?' ?
					(char[]){ '-', (char)optopt, 0 } :
					argv[optind - 1], v->name);
		ret = set_opt(c, v, ch, optarg);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return cli_fail(c, -EINVAL, "unexpected argument '%s'",
				argv[optind]);
	if ((v->required & R_PID) && !c->pid)
		return cli_fail(c, -EINVAL, "missing -p PID");
	if ((v->required & R_MINOR) && c->minor < 0)
		return cli_fail(c, -EINVAL, "missing -m MINOR");
	if ((v->required & R_SPEC) && !c->spec)
		return cli_fail(c, -EINVAL, "missing -a TYPE:PATH");
	if ((v->required & R_BACKEND) && !c->backend)
		return cli_fail(c, -EINVAL, "missing -b PATH");
	if (c->spec && !strchr(c->spec, ':'))
		return cli_fail(c, -EINVAL, "'%s' is not TYPE:PATH", c->spec);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .minor = -1 };
	const struct verb *v;
	bool help = false;
	int ret;

	if (argc < 2) {
		usage(stderr);
		return EINVAL;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (v = verbs; v->name; v++)
		if (!strcmp(v->name, argv[1]))
			break;
	c.verb = argv[1];
	if (!v->name) {
		fprintf(stderr, "tap-ctl: unknown verb '%s' (see tap-ctl "
				"--help)\n", argv[1]);
		return EINVAL;
	}
	c.run_dir = td_rpc_run_dir(NULL);
	ret = parse_args(&c, v, argc - 1, argv + 1, &help);
	if (ret)
		return ret;
	if (help) {
		verb_usage(v);
		return 0;
	}
	ret = v->fn(&c);
	if (fflush(stdout) == EOF && !ret)
		ret = cli_fail(&c, -errno, "writing output: %s",
			       strerror(errno));
	return ret;
}

/* --- list --- */

static bool spec_matches(const char *spec, const char *type, const char *file)
{
	const char *colon;

	if (!type && !file)
		return true;
	if (!spec || !(colon = strchr(spec, ':')))
		return false;
	if (type && (strncmp(spec, type, (size_t)(colon - spec)) ||
		     strlen(type) != (size_t)(colon - spec)))
		return false;
	return !file || !strcmp(colon + 1, file);
}

/* Filters @vbds (an array) in place by -m, -t and -f. */
static void filter_vbds(const struct cli *c, json_t *vbds)
{
	size_t i = 0;

	while (i < json_array_size(vbds)) {
		json_t *v = json_array_get(vbds, i);
		const char *spec =
			json_string_value(json_object_get(v, "spec"));

		if ((c->minor >= 0 &&
		     json_integer_value(json_object_get(v, "minor")) !=
			     c->minor) ||
		    !spec_matches(spec, c->type, c->file))
			json_array_remove(vbds, i);
		else
			i++;
	}
}

static void print_table_row(int pid, json_t *v)
{
	const char *spec = v ? json_string_value(json_object_get(v, "spec")) :
			       NULL;
	const char *colon = spec ? strchr(spec, ':') : NULL;

	if (!v) {
		printf("%8d %6s %-9s %6s %-6s %s\n", pid, "-", "-", "-", "-",
		       "-");
		return;
	}
	printf("%8d %6" JSON_INTEGER_FORMAT " %-9s %#6llx %-6.*s %s\n", pid,
	       json_integer_value(json_object_get(v, "minor")),
	       json_string_value(json_object_get(v, "state")),
	       (unsigned long long)json_integer_value(
		       json_object_get(v, "flags")),
	       colon ? (int)(colon - spec) : 1, colon ? spec : "-",
	       colon ? colon + 1 : "-");
}

static void print_kv_row(int pid, json_t *v)
{
	const char *spec;

	if (!v) {
		printf("pid=%d\n", pid);
		return;
	}
	spec = json_string_value(json_object_get(v, "spec"));
	printf("pid=%d minor=%" JSON_INTEGER_FORMAT " state=%#llx", pid,
	       json_integer_value(json_object_get(v, "minor")),
	       (unsigned long long)json_integer_value(
		       json_object_get(v, "flags")));
	if (spec)
		printf(" args=%s", spec);
	putchar('\n');
}

/* Asks one tapdisk for its VBDs; *vbds NULL if it vanished meanwhile. */
static int list_one(const struct cli *c, pid_t pid, json_t **vbds)
{
	struct td_ctl_error e;
	struct td_ctl *ctl;
	int err;

	*vbds = NULL;
	err = td_ctl_connect_pid(c->run_dir, pid, &ctl, &e);
	if (err == -ESRCH && !c->pid)
		return 0; /* exited between discovery and connect */
	if (err)
		return cli_fail_ctl(c, &e);
	err = td_ctl_list(ctl, vbds, &e);
	td_ctl_disconnect(ctl);
	if (err == -ECONNRESET && !c->pid)
		return 0;
	return err ? cli_fail_ctl(c, &e) : 0;
}

static int cmd_list(struct cli *c)
{
	bool filtered = c->minor >= 0 || c->type || c->file;
	bool tty = isatty(STDOUT_FILENO) && !c->json;
	json_t *out = json_array();
	struct td_ctl_error e;
	pid_t *pids = NULL;
	size_t n = 0, i, j;
	int ret = 0;

	if (c->pid) {
		pids = malloc(sizeof(*pids));
		if (!pids)
			return cli_fail(c, -ENOMEM, "out of memory");
		pids[0] = c->pid;
		n = 1;
	} else if (td_ctl_find_tapdisks(c->run_dir, &pids, &n, &e)) {
		json_decref(out);
		return cli_fail_ctl(c, &e);
	}
	for (i = 0; i < n && !ret; i++) {
		json_t *vbds;

		ret = list_one(c, pids[i], &vbds);
		if (ret || !vbds)
			continue;
		filter_vbds(c, vbds);
		if (filtered && !json_array_size(vbds)) {
			json_decref(vbds);
			continue;
		}
		json_array_append_new(out, json_pack("{s:i, s:o}", "pid",
						     (int)pids[i], "vbds",
						     vbds));
	}
	free(pids);
	if (ret) {
		json_decref(out);
		return ret;
	}
	if (c->json) {
		json_t *doc = json_pack("{s:o}", "tapdisks", out);

		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(doc);
		return 0;
	}
	if (tty)
		printf("%8s %6s %-9s %6s %-6s %s\n", "PID", "MINOR", "STATE",
		       "FLAGS", "TYPE", "PATH");
	for (i = 0; i < json_array_size(out); i++) {
		json_t *t = json_array_get(out, i), *vbds, *v;
		int pid = (int)json_integer_value(json_object_get(t, "pid"));

		vbds = json_object_get(t, "vbds");
		if (!json_array_size(vbds))
			(tty ? print_table_row : print_kv_row)(pid, NULL);
		json_array_foreach(vbds, j, v)
			(tty ? print_table_row : print_kv_row)(pid, v);
	}
	json_decref(out);
	return 0;
}

/* --- stats --- */

static int get_stats(struct cli *c, struct td_ctl *ctl, void *arg,
		     struct td_ctl_error *e)
{
	return td_ctl_stats(ctl, c->minor, arg, e);
}

static int cmd_stats(struct cli *c)
{
	json_t *res;
	int ret;

	ret = cli_call(c, false, get_stats, &res);
	if (ret)
		return ret;
	/* One line of JSON unless a person is reading: SM parses a line. */
	json_dumpf(res, stdout,
		   JSON_PRESERVE_ORDER |
			   (isatty(STDOUT_FILENO) && !c->json ? JSON_INDENT(2) :
								JSON_COMPACT));
	putchar('\n');
	json_decref(res);
	return 0;
}
