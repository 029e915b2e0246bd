// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util: command-line tool for VHD images, compatible with blktap's
 * vhd-util for the verbs and options XenServer's storage manager uses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhd-util.h"

struct vu_verb {
	const char *name;
	int (*fn)(int argc, char **argv, const struct vu_opts *o);
	const char *summary;
};

static const struct vu_verb verbs[] = {
	{ "create", vu_create, "create a dynamic or fixed image" },
	{ "snapshot", vu_snapshot, "create a differencing child" },
	{ "query", vu_query, "print sizes, parent, hidden flag, depth" },
	{ "check", vu_check, "validate an image (and its parents)" },
	{ "repair", vu_repair, "rewrite the footers and batmap" },
	{ "resize", vu_resize, "change the virtual size (journaled)" },
	{ "revert", vu_revert, "undo an interrupted resize from its journal" },
	{ "coalesce", vu_coalesce, "merge an image into its parent" },
	{ "set", vu_set, "set a field (hidden, marker, parent)" },
	{ "scan", vu_scan, "list images matching a pattern" },
	{ "read", vu_read, "dump metadata or data" },
	{ "fill", vu_fill, "allocate every block" },
	{ "modify", vu_modify, "change the parent or zero the BAT" },
};

int vu_fail(const char *verb, int rc, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	char *p;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "vhd-util %s: %s\n", verb, msg);
	return rc;
}

int vu_fail_err(const char *verb, int rc, const struct td_vhd_err *err)
{
	return vu_fail(verb, rc, "%s", err->msg[0] ? err->msg :
		       strerror(rc < 0 ? -rc : rc));
}

int vu_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

void vu_progress_init(struct vu_progress *p, bool forced)
{
	p->enabled = forced || isatty(STDERR_FILENO);
	p->last = -1;
}

void vu_progress(struct vu_progress *p, uint64_t done, uint64_t total)
{
	int pm = total ? (int)(done * 1000 / total) : 1000, i;
	char bar[41];

	if (!p->enabled || pm == p->last)
		return;
	p->last = pm;
	for (i = 0; i < 40; i++)
		bar[i] = i < pm * 40 / 1000 ? '#' : ' ';
	bar[40] = '\0';
	fprintf(stderr, "\r[%s] %5.1f%%", bar, pm / 10.0);
	fflush(stderr);
}

void vu_progress_done(struct vu_progress *p)
{
	if (!p->enabled)
		return;
	vu_progress(p, 1, 1);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: vhd-util COMMAND [--json] [--debug] [OPTIONS]\n"
		   "       vhd-util COMMAND --help\ncommands:\n");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
}

/* Removes the long options every verb accepts, so getopt sees the rest. */
static int strip_globals(int argc, char **argv, struct vu_opts *o)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			o->json = true;
		else if (!strcmp(argv[i], "--debug"))
			o->debug = true;
		else if (!strcmp(argv[i], "--help"))
			o->help = true;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	struct vu_opts o = { 0 };
	size_t i;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[1], verbs[i].name))
			continue;
		argc = strip_globals(argc - 1, argv + 1, &o);
		optind = 1;
		opterr = 0;
		rc = verbs[i].fn(argc, argv + 1, &o);
		fflush(stdout);
		if (rc < 0)
			rc = -rc;
		return rc > 255 || rc == 0 ? !!rc : rc;
	}
	fprintf(stderr, "vhd-util: unknown command '%s' (try --help)\n",
		argv[1]);
	return 2;
}
