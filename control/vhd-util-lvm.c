// SPDX-License-Identifier: GPL-2.0-only
/*
 * vhd-util: the logical volumes of an LVM volume group, for scan -l.
 *
 * Like blktap's lvm-util, this asks the LVM tools (vgs, lvs) rather than
 * device-mapper, so inactive volumes are listed too: each volume's first
 * segment is located on its physical volume (PV pe_start + first extent
 * * extent size) and vhd-util scan reads the VHD metadata there, whether
 * or not /dev/VG/LV exists. The tools run without a shell (the VG name is
 * an argument, never interpreted) and their stderr is discarded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vhd-util.h"

#define LVM_OUT_MAX (16u << 20) /* bound on what we read from a tool */

/* Runs @argv (PATH lookup), returns its stdout NUL-terminated in *@out. */
static int run_tool(char *const argv[], char **out)
{
	size_t len = 0, cap = 4096;
	int pfd[2], st, rc = 0;
	char *buf = malloc(cap);
	ssize_t r;
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	if (pipe2(pfd, O_CLOEXEC)) {
		free(buf);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		free(buf);
		return rc;
	}
	if (!pid) {
		int null = open("/dev/null", O_RDWR);

		dup2(pfd[1], STDOUT_FILENO);
		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			dup2(null, STDIN_FILENO);
		}
		/* LVM complains about every inherited descriptor */
		setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		if (len + 1 == cap) {
			char *n = cap < LVM_OUT_MAX ? realloc(buf, cap * 2)
						    : NULL;

			if (!n) {
				rc = -ENOMEM;
				break;
			}
			buf = n;
			cap *= 2;
		}
		r = read(pfd[0], buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!rc && (!WIFEXITED(st) || WEXITSTATUS(st)))
		rc = WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -ENOENT
							     : -EIO;
	if (rc) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Splits one "a|b|c" report line (leading blanks skipped) in place. */
static unsigned split(char *line, char **f, unsigned max)
{
	unsigned n = 0;

	line += strspn(line, " \t");
	while (n < max) {
		f[n++] = line;
		line = strchr(line, '|');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

struct vg_pv {
	char name[256];
	uint64_t pe_start;
};

/* vgs: the extent size and where each PV's first extent begins. */
static int read_vg(const char *vg, uint64_t *extent, struct vg_pv **pvs,
		   size_t *npv)
{
	char *argv[] = { "vgs", "--noheadings", "--nosuffix", "--units", "b",
			 "--separator", "|", "-o",
			 "vg_extent_size,pv_name,pe_start", (char *)vg, NULL };
	char *out, *line, *save = NULL, *f[3];
	struct vg_pv *p;
	int rc = run_tool(argv, &out);

	*pvs = NULL;
	*npv = 0;
	if (rc)
		return rc;
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (split(line, f, 3) != 3 || vu_parse_u64(f[0], extent) ||
		    !*extent || strlen(f[1]) >= sizeof(p->name)) {
			rc = -EINVAL;
			break;
		}
		p = realloc(*pvs, (*npv + 1) * sizeof(*p));
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		*pvs = p;
		p += (*npv)++;
		strcpy(p->name, f[1]);
		if (vu_parse_u64(f[2], &p->pe_start)) {
			rc = -EINVAL;
			break;
		}
	}
	free(out);
	if (!rc && !*npv)
		rc = -ENOENT;
	return rc;
}

/* "/dev/sdb(123)": PV name and first extent of a linear segment. */
static int parse_devices(char *dev, const struct vg_pv *pvs, size_t npv,
			 uint64_t extent, struct vu_lv *lv)
{
	char *lp = strchr(dev, '('), *rp;
	uint64_t pe;
	size_t i;

	if (!lp || strchr(dev, ','))
		return -EINVAL;
	rp = strchr(lp, ')');
	if (!rp || rp[1])
		return -EINVAL;
	*lp = *rp = '\0';
	if (vu_parse_u64(lp + 1, &pe))
		return -EINVAL;
	for (i = 0; i < npv; i++) {
		if (strcmp(pvs[i].name, dev))
			continue;
		if (pe > (UINT64_MAX - pvs[i].pe_start) / extent)
			return -EINVAL;
		snprintf(lv->dev, sizeof(lv->dev), "%s", dev);
		lv->start = pvs[i].pe_start + pe * extent;
		return 0;
	}
	return -ENOENT;
}

static int add_lv(struct vu_lv **lvs, size_t *n, char **f,
		  const struct vg_pv *pvs, size_t npv, uint64_t extent)
{
	struct vu_lv *lv;
	uint64_t seg_start;

	if (vu_parse_u64(f[4], &seg_start))
		return -EINVAL;
	if (seg_start)
		return 0; /* only the first segment holds the metadata */
	if (strlen(f[0]) >= sizeof(lv->name))
		return -ENAMETOOLONG;
	lv = realloc(*lvs, (*n + 1) * sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	*lvs = lv;
	lv += (*n)++;
	memset(lv, 0, sizeof(*lv));
	strcpy(lv->name, f[0]);
	if (vu_parse_u64(f[1], &lv->size) || vu_parse_u64(f[5], &lv->seg_len))
		return -EINVAL;
	lv->active = strlen(f[2]) > 4 && f[2][4] == 'a';
	lv->linear = !strcmp(f[3], "linear") &&
		     !parse_devices(f[6], pvs, npv, extent, lv);
	return 0;
}

int vu_lvm_list(const char *vg, struct vu_lv **lvs, size_t *n)
{
	char *argv[] = { "lvs", "--noheadings", "--nosuffix", "--units", "b",
			 "--separator", "|", "-o",
			 "lv_name,lv_size,lv_attr,segtype,seg_start,seg_size,"
			 "devices", (char *)vg, NULL };
	char *out, *line, *save = NULL, *f[7];
	struct vg_pv *pvs;
	uint64_t extent;
	size_t npv;
	int rc;

	*lvs = NULL;
	*n = 0;
	rc = read_vg(vg, &extent, &pvs, &npv);
	if (rc)
		return rc;
	rc = run_tool(argv, &out);
	if (rc) {
		free(pvs);
		return rc;
	}
	for (line = strtok_r(out, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		if (split(line, f, 7) != 7)
			rc = -EINVAL;
		else
			rc = add_lv(lvs, n, f, pvs, npv, extent);
	}
	free(out);
	free(pvs);
	if (rc) {
		free(*lvs);
		*lvs = NULL;
		*n = 0;
	}
	return rc;
}

/* Decodes a device-mapper name's LV part: "--" is a '-' in the name. */
static void dm_unescape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 1 < outlen; s++, o++) {
		out[o] = *s;
		if (s[0] == '-' && s[1] == '-')
			s++;
	}
	out[o] = '\0';
}

void vu_lvm_volume_name(const char *vg, const char *path, char *out,
			size_t outlen)
{
	const char *base = strrchr(path, '/'), *s;
	char prefix[300];
	size_t o = 0;

	base = base ? base + 1 : path;
	for (s = vg; *s && o + 3 < sizeof(prefix); s++) {
		if (*s == '-')
			prefix[o++] = '-';
		prefix[o++] = *s;
	}
	prefix[o++] = '-';
	prefix[o] = '\0';
	if (!strncmp(base, prefix, o)) {
		dm_unescape(base + o, out, outlen);
		return;
	}
	/* another VG's dm name: its one single '-' ends the VG part */
	if (base - path >= 8 && !strncmp(base - 8, "/mapper/", 8)) {
		for (s = base; *s; s++) {
			if (s[0] == '-' && s[1] == '-')
				s++;
			else if (s[0] == '-')
				break;
		}
		if (*s) {
			dm_unescape(s + 1, out, outlen);
			return;
		}
	}
	snprintf(out, outlen, "%s", base);
}
