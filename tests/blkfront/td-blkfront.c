/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * td-blkfront: a simulated Xen guest frontend for tapdisk's shm transport.
 * Parses and validates the command line (every error is one line on
 * stderr, exit 2), finds the VBD's socket and runs one verb.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "td-rpc.h"
#include "bf-verbs.h"
#include "bf-xenbus.h"

#define PROG "td-blkfront"

enum verb { VERB_VERIFY = 1, VERB_BENCH = 2, VERB_ATTACK = 4,
	    VERB_RESIZE = 8 };
#define VERB_ALL (VERB_VERIFY | VERB_BENCH | VERB_ATTACK | VERB_RESIZE)

static const char usage[] =
"Usage: " PROG " [OPTIONS] VERB [VERB OPTIONS]\n"
"Plays a Xen guest's blkfront against a tapdisk VBD over the shm transport\n"
"(include/td-shm.h): memfd pages as grants, eventfds as event channels.\n"
"\n"
"Verbs:\n"
"  verify   write a seeded pattern and read it back across segment and page\n"
"           boundaries, direct and indirect requests, with flushes,\n"
"           barriers and discards interleaved; exit 0 only if all matches\n"
"  bench    random or sequential I/O for a bounded time; prints IOPS,\n"
"           MiB/s and latency percentiles (text or --json)\n"
"  attack   send each malformed request, check each is refused, then\n"
"           check the VBD still serves correct data\n"
"  resize-wait  (--xenstore only) connect, wait for an online resize,\n"
"           then write and read the new last sector\n"
"\n"
"Finding the VBD (one of):\n"
"  -p, --pid PID          tapdisk process id, with --minor\n"
"  -m, --minor MINOR      VBD minor, with --pid\n"
"      --run-dir DIR      run directory for --pid/--minor (default\n"
"                         $TAPDISK_RUN_DIR, else " TD_RUN_DIR_DEFAULT ")\n"
"  -s, --socket PATH      the VBD's blkif socket (tap-ctl list --json:\n"
"                         \"blkif_socket\")\n"
"  -X, --xenstore FEDIR   xenstore mode: do blkfront's xenbus handshake\n"
"                         on frontend directory FEDIR (its \"backend\"\n"
"                         node names the backend) through libxenstore\n"
"                         (XENSTORED_PATH), rings over the xenbus shm\n"
"                         transport (docs/xenstore.md); Closing/Closed\n"
"                         on exit\n"
"      --xs-garbage KIND  xenstore mode: write a bad node instead (ring-ref,\n"
"                         order, evtchn, protocol, queues); the backend\n"
"                         must refuse, printing its error node\n"
"\n"
"Features to negotiate (the connection uses the lower of this and what\n"
"the backend advertises; verify and bench print what was used):\n"
"  -o, --ring-order N     ring pages 2^N, 0..4 (default 0)\n"
"  -q, --queues N         rings/event channels, 1..16 (default 1)\n"
"  -i, --indirect N       max indirect segments, 0 (none)..256 (default 32)\n"
"  -P, --persistent on|off  feature-persistent (default on)\n"
"  -a, --abi ABI          native, x86_32 or x86_64 (default native)\n"
"\n"
"Common:\n"
"      --seed N           pattern and random seed (default 1)\n"
"  -t, --timeout MS       longest wait for any response, 100..600000\n"
"                         (default 10000)\n"
"  -h, --help             this text\n"
"\n"
"verify:\n"
"      --size SIZE        bytes at the disk start to exercise (suffix k, m,\n"
"                         g; multiple of 512; default 16m or the disk);\n"
"                         the last 1 MiB of the disk is always exercised\n"
"      --ops N            random operations after the fill, 1..1000000\n"
"                         (default 1000)\n"
"  -d, --iodepth N        requests in flight, 1..4096 (default 16)\n"
"\n"
"bench:\n"
"      --rw MODE          read, write, randread, randwrite, rw, randrw\n"
"                         (default randread)\n"
"      --bs SIZE          request size, 512..1m, multiple of 512 (default\n"
"                         4k); above 44k needs --indirect\n"
"  -d, --iodepth N        requests in flight, 1..4096 (default 32)\n"
"      --rwmixread PCT    reads in percent for rw/randrw (default 50)\n"
"      --runtime SEC      duration, 0.1..600 (default 5)\n"
"      --size SIZE        region at the disk start (default the whole disk)\n"
"      --json             one JSON object instead of text\n"
"\n"
"attack:\n"
"      --overrun          instead: publish a producer index past the ring\n"
"                         end; that ring must stop answering while other\n"
"                         queues and a second connection keep serving\n"
"\n"
"Exit status: 0 success, 1 a check failed or the backend misbehaved,\n"
"2 bad usage.\n";

enum {
	O_RUN_DIR = 256, O_SEED, O_SIZE, O_OPS, O_RW, O_BS, O_RWMIX,
	O_RUNTIME, O_JSON, O_OVERRUN, O_XS_GARBAGE, O_LAST = O_XS_GARBAGE,
};

static const struct option longopts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "minor", required_argument, NULL, 'm' },
	{ "socket", required_argument, NULL, 's' },
	{ "run-dir", required_argument, NULL, O_RUN_DIR },
	{ "ring-order", required_argument, NULL, 'o' },
	{ "queues", required_argument, NULL, 'q' },
	{ "indirect", required_argument, NULL, 'i' },
	{ "persistent", required_argument, NULL, 'P' },
	{ "abi", required_argument, NULL, 'a' },
	{ "seed", required_argument, NULL, O_SEED },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "size", required_argument, NULL, O_SIZE },
	{ "ops", required_argument, NULL, O_OPS },
	{ "iodepth", required_argument, NULL, 'd' },
	{ "rw", required_argument, NULL, O_RW },
	{ "bs", required_argument, NULL, O_BS },
	{ "rwmixread", required_argument, NULL, O_RWMIX },
	{ "runtime", required_argument, NULL, O_RUNTIME },
	{ "json", no_argument, NULL, O_JSON },
	{ "overrun", no_argument, NULL, O_OVERRUN },
	{ "xenstore", required_argument, NULL, 'X' },
	{ "xs-garbage", required_argument, NULL, O_XS_GARBAGE },
	{ NULL, 0, NULL, 0 },
};

/* Which verbs accept each option (by getopt code). */
static unsigned allowed_verbs(int code)
{
	switch (code) {
	case O_SIZE:
	case 'd':
		return VERB_VERIFY | VERB_BENCH;
	case O_OPS:
		return VERB_VERIFY;
	case O_RW:
	case O_BS:
	case O_RWMIX:
	case O_RUNTIME:
	case O_JSON:
		return VERB_BENCH;
	case O_OVERRUN:
		return VERB_ATTACK;
	default:
		return VERB_ALL;
	}
}

static const char *opt_name(int code)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == code)
			return o->name;
	return "?";
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t num(const char *s, const char *what, uint64_t lo,
		    uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < lo || v > hi)
		die("--%s must be an integer in %" PRIu64 "..%" PRIu64
		    " (got '%s')", what, lo, hi, s);
	return v;
}

/* A byte count with an optional k/m/g (binary) suffix. */
static uint64_t size_arg(const char *s, const char *what)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!errno && end != s && *s != '-') {
		switch (*end) {
		case 'k': case 'K': shift = 10; end++; break;
		case 'm': case 'M': shift = 20; end++; break;
		case 'g': case 'G': shift = 30; end++; break;
		default: break;
		}
	}
	if (errno || end == s || *end || *s == '-' || v == 0 ||
	    v > (UINT64_MAX >> shift) || ((v << shift) % 512))
		die("--%s must be a positive multiple of 512 bytes, with an "
		    "optional k, m or g suffix (got '%s')", what, s);
	return v << shift;
}

static void parse_rw(struct td_bf_cmd *c, const char *s)
{
	static const struct {
		const char *name;
		enum td_bf_pattern_kind kind;
		int pct;
	} modes[] = {
		{ "read", TD_BF_SEQ, 100 }, { "write", TD_BF_SEQ, 0 },
		{ "randread", TD_BF_RAND, 100 }, { "randwrite", TD_BF_RAND, 0 },
		{ "rw", TD_BF_SEQ, -1 }, { "randrw", TD_BF_RAND, -1 },
	};

	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, modes[i].name))
			continue;
		c->kind = modes[i].kind;
		if (modes[i].pct >= 0)
			c->read_pct = (unsigned)modes[i].pct;
		c->mixed = modes[i].pct < 0;
		return;
	}
	die("--rw must be read, write, randread, randwrite, rw or randrw "
	    "(got '%s')", s);
}

struct parsed {
	struct td_bf_cmd c;
	const char *run_dir, *sock, *verb_name, *xs_front;
	enum td_bf_xs_garbage garbage;
	long pid, minor;
	bool have_pid, have_minor, have_depth, have_mix, have_size;
	unsigned verb;
	int given[O_LAST + 1];  /* option codes seen, for verb checks */
};

static void parse_verb_opt(struct parsed *p, int code, const char *arg);

/* Options that find the VBD or shape the connection. */
static void parse_one(struct parsed *p, int code, const char *arg)
{
	struct td_bf_cmd *c = &p->c;

	switch (code) {
	case 'p':
		p->pid = (long)num(arg, "pid", 1, INT_MAX);
		p->have_pid = true;
		break;
	case 'm':
		p->minor = (long)num(arg, "minor", 0, INT_MAX);
		p->have_minor = true;
		break;
	case 's':
		p->sock = arg;
		break;
	case 'X':
		p->xs_front = arg;
		break;
	case O_XS_GARBAGE:
		if (td_bf_xs_garbage_parse(arg, &p->garbage))
			die("--xs-garbage must be ring-ref, order, evtchn, "
			    "protocol or queues (got '%s')", arg);
		break;
	case O_RUN_DIR:
		p->run_dir = arg;
		break;
	case 'o':
		c->fo.ring_order = (unsigned)num(arg, "ring-order", 0,
						  TD_SHM_MAX_RING_ORDER);
		break;
	case 'q':
		c->fo.queues = (unsigned)num(arg, "queues", 1,
					     TD_SHM_MAX_QUEUES);
		break;
	case 'i':
		c->fo.indirect = (unsigned)num(arg, "indirect", 0,
					       TD_SHM_MAX_INDIRECT_SEGS);
		break;
	case 'P':
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			die("--persistent must be on or off (got '%s')", arg);
		c->fo.persistent = !strcmp(arg, "on");
		break;
	case 'a':
		if (td_bf_abi_parse(arg, &c->fo.abi))
			die("--abi must be native, x86_32 or x86_64 (got '%s')",
			    arg);
		break;
	case O_SEED:
		c->seed = num(arg, "seed", 0, UINT64_MAX);
		break;
	case 't':
		c->fo.timeout_ms = (unsigned)num(arg, "timeout", 100, 600000);
		break;
	default:
		parse_verb_opt(p, code, arg);
		break;
	}
}

/* Options of one verb or another; main() checks which verb took them. */
static void parse_verb_opt(struct parsed *p, int code, const char *arg)
{
	struct td_bf_cmd *c = &p->c;
	char *end;

	switch (code) {
	case O_SIZE:
		c->size = size_arg(arg, "size");
		p->have_size = true;
		break;
	case O_OPS:
		c->ops = (unsigned)num(arg, "ops", 1, 1000000);
		break;
	case 'd':
		c->depth = (unsigned)num(arg, "iodepth", 1, 4096);
		p->have_depth = true;
		break;
	case O_RW:
		parse_rw(c, arg);
		break;
	case O_BS:
		c->bs = (uint32_t)size_arg(arg, "bs");
		if (c->bs > (1u << 20))
			die("--bs must be at most 1m (got '%s')", arg);
		break;
	case O_RWMIX:
		c->read_pct = (unsigned)num(arg, "rwmixread", 0, 100);
		p->have_mix = true;
		break;
	case O_RUNTIME:
		errno = 0;
		c->runtime = strtod(arg, &end);
		if (errno || end == arg || *end || !(c->runtime >= 0.1) ||
		    c->runtime > 600)
			die("--runtime must be 0.1..600 seconds (got '%s')",
			    arg);
		break;
	case O_JSON:
		c->json = true;
		break;
	case O_OVERRUN:
		c->overrun = true;
		break;
	default:
		break;
	}
}

static void defaults(struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	p->c.fo.abi = TD_BF_ABI_NATIVE;
	p->c.fo.queues = 1;
	p->c.fo.indirect = 32;
	p->c.fo.persistent = true;
	p->c.fo.timeout_ms = 10000;
	p->c.seed = 1;
	p->c.ops = 1000;
	p->c.kind = TD_BF_RAND;
	p->c.read_pct = 100;
	p->c.bs = 4096;
	p->c.runtime = 5;
}

static void parse_verb(struct parsed *p, const char *v)
{
	if (!strcmp(v, "verify"))
		p->verb = VERB_VERIFY;
	else if (!strcmp(v, "bench"))
		p->verb = VERB_BENCH;
	else if (!strcmp(v, "attack"))
		p->verb = VERB_ATTACK;
	else if (!strcmp(v, "resize-wait"))
		p->verb = VERB_RESIZE;
	else
		die("unknown verb '%s' (verify, bench, attack or resize-wait; "
		    "see --help)", v);
	p->verb_name = v;
}

/* Cross-option checks once the verb is known; builds the socket path. */
static void finish(struct parsed *p, char *path, size_t len)
{
	struct td_bf_cmd *c = &p->c;
	const char *dir;

	for (int code = 0; code <= O_LAST; code++)
		if (p->given[code] && !(allowed_verbs(code) & p->verb))
			die("--%s is not an option of %s", opt_name(code),
			    p->verb_name);
	if (p->xs_front && (p->sock || p->have_pid || p->have_minor))
		die("--xenstore excludes --socket, --pid and --minor");
	if (p->garbage && !p->xs_front)
		die("--xs-garbage needs --xenstore");
	if (p->verb == VERB_RESIZE && !p->xs_front)
		die("resize-wait needs --xenstore");
	if (p->xs_front) {
		path[0] = '\0';
		c->fo.sock_path = path;
		if (!p->have_depth)
			c->depth = p->verb == VERB_BENCH ? 32 : 16;
		if (p->verb == VERB_VERIFY && !p->have_size)
			c->size = 0;
		return;
	}
	if (p->sock && (p->have_pid || p->have_minor || p->run_dir))
		die("--socket excludes --pid, --minor and --run-dir");
	if (!p->sock && !(p->have_pid && p->have_minor))
		die("name the VBD with --pid and --minor, or --socket");
	if (p->have_mix && !c->mixed)
		die("--rwmixread needs --rw rw or randrw");
	if (c->mixed && !p->have_mix)
		c->read_pct = 50;
	if (!p->have_depth)
		c->depth = p->verb == VERB_BENCH ? 32 : 16;
	if (p->verb == VERB_VERIFY && !p->have_size)
		c->size = 0;
	if (p->sock) {
		if (strlen(p->sock) >= len)
			die("--socket path too long");
		snprintf(path, len, "%s", p->sock);
	} else {
		dir = p->run_dir ? p->run_dir : getenv(TD_RUN_DIR_ENV);
		if (!dir || !*dir)
			dir = TD_RUN_DIR_DEFAULT;
		if (snprintf(path, len, TD_SHM_SOCK_FMT, dir, (int)p->pid,
			     (int)p->minor) >= (int)len)
			die("--run-dir path too long");
	}
	c->fo.sock_path = path;
}

static int run_verb(struct parsed *p)
{
	switch (p->verb) {
	case VERB_VERIFY:
		return td_bf_verify(&p->c);
	case VERB_BENCH:
		return td_bf_bench(&p->c);
	case VERB_RESIZE:
		return td_bf_resize_wait(&p->c);
	default:
		return td_bf_attack(&p->c);
	}
}

/* xenstore mode: the verb runs over the xenbus handshake. */
static int run_xenstore(struct parsed *p)
{
	struct td_bf_xs *x;
	char err[256];
	int rc;

	if (td_bf_xs_open(p->xs_front, p->c.fo.timeout_ms, p->garbage, &x,
			  err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	p->c.fo.hs = td_bf_xs_handshake(x);
	p->c.xs = x;
	rc = run_verb(p);
	td_bf_xs_close(x);
	return rc;
}

int main(int argc, char **argv)
{
	static char path[PATH_MAX];
	struct parsed p;
	int code;

	defaults(&p);
	opterr = 0;
	while ((code = getopt_long(argc, argv, "p:m:s:X:o:q:i:P:a:t:d:h",
				   longopts, NULL)) != -1) {
		if (code == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (code == '?' || code == ':') {
			if (optopt)
				die("option -%c needs an argument or is "
				    "unknown (see --help)", optopt);
			die("unknown option or missing argument: '%s' (see "
			    "--help)", argv[optind - 1]);
		}
		if (code >= 0 && code <= O_LAST)
			p.given[code] = 1;
		parse_one(&p, code, optarg);
	}
	if (optind >= argc)
		die("missing verb: verify, bench or attack (see --help)");
	if (optind + 1 < argc)
		die("unexpected argument '%s' after the verb",
		    argv[optind + 1]);
	parse_verb(&p, argv[optind]);
	finish(&p, path, sizeof(path));
	setvbuf(stdout, NULL, _IOLBF, 0);
	return p.xs_front ? run_xenstore(&p) : run_verb(&p);
}
