// SPDX-License-Identifier: GPL-2.0-only
/*
 * VHD format library: UTF-16 names and relative paths (pure, no I/O).
 */
#include <errno.h>
#include <string.h>

#include "vhd-format.h"
#include "vhd-priv.h"

/* Decodes one UTF-8 code point; returns bytes used or -EILSEQ. */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
	unsigned n, i;
	uint32_t c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		c &= 0x07;
	} else {
		return -EILSEQ;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -EILSEQ;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* reject overlong forms, surrogates and out-of-range values */
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c < 0xe000))
		return -EILSEQ;
	*cp = c;
	return (int)n;
}

static void put_unit(uint8_t *p, uint16_t u, bool be)
{
	if (be) {
		p[0] = (uint8_t)(u >> 8);
		p[1] = (uint8_t)u;
	} else {
		p[0] = (uint8_t)u;
		p[1] = (uint8_t)(u >> 8);
	}
}

static uint16_t get_unit(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

int td_vhd_utf8_to_utf16(const char *in, uint8_t *out, size_t outlen,
			 bool be, size_t *written)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	uint32_t cp;
	int n;

	while (*s) {
		n = utf8_decode(s, &cp);
		if (n < 0)
			return n;
		s += n;
		if (cp >= 0x10000) {
			if (o + 4 > outlen)
				return -ENAMETOOLONG;
			cp -= 0x10000;
			put_unit(out + o, (uint16_t)(0xd800 | (cp >> 10)), be);
			put_unit(out + o + 2, (uint16_t)(0xdc00 | (cp & 0x3ff)),
				 be);
			o += 4;
		} else {
			if (o + 2 > outlen)
				return -ENAMETOOLONG;
			put_unit(out + o, (uint16_t)cp, be);
			o += 2;
		}
	}
	*written = o;
	return 0;
}

static int put_utf8(char *out, size_t outlen, size_t *o, uint32_t cp)
{
	unsigned char b[4];
	size_t n, i;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n + 1 > outlen)
		return -ENAMETOOLONG;
	for (i = 0; i < n; i++)
		out[(*o)++] = (char)b[i];
	return 0;
}

int td_vhd_utf16_to_utf8(const uint8_t *in, size_t inlen, bool be,
			 char *out, size_t outlen)
{
	size_t i = 0, o = 0;
	uint32_t cp;
	uint16_t u, lo;
	int rc;

	if (!outlen)
		return -ENAMETOOLONG;
	while (i + 1 < inlen) {
		u = get_unit(in + i, be);
		i += 2;
		if (!u)
			break;
		if (u >= 0xd800 && u < 0xdc00) {
			if (i + 1 >= inlen)
				return -EILSEQ;
			lo = get_unit(in + i, be);
			if (lo < 0xdc00 || lo >= 0xe000)
				return -EILSEQ;
			i += 2;
			cp = 0x10000 + ((uint32_t)(u - 0xd800) << 10) +
			     (lo - 0xdc00);
		} else if (u >= 0xdc00 && u < 0xe000) {
			return -EILSEQ;
		} else {
			cp = u;
		}
		rc = put_utf8(out, outlen, &o, cp);
		if (rc)
			return rc;
	}
	if (i < inlen && (inlen & 1) && i + 1 == inlen && in[i])
		return -EILSEQ;
	out[o] = '\0';
	return 0;
}

/* Next path component of *@p (skipping slashes): start and length. */
static size_t next_comp(const char **p)
{
	size_t n = 0;

	while (**p == '/')
		(*p)++;
	while ((*p)[n] && (*p)[n] != '/')
		n++;
	return n;
}

int td_vhd_relpath(const char *from, const char *target, char *out,
		   size_t outlen)
{
	const char *f = from, *t = target, *fc, *tc;
	size_t fl, tl, o = 0, n;
	unsigned ups = 0;

	if (from[0] != '/' || target[0] != '/' || !outlen)
		return -EINVAL;
	/* skip the components both share, as long as @from still has a
	 * directory component left (its last component is the file) */
	for (;;) {
		fc = f;
		tc = t;
		fl = next_comp(&fc);
		tl = next_comp(&tc);
		if (!fl || !tl || !fc[fl] || !tc[tl] || fl != tl ||
		    memcmp(fc, tc, fl))
			break;
		f = fc + fl;
		t = tc + tl;
	}
	/* every directory component left in @from is one "../" */
	for (fc = f;;) {
		fl = next_comp(&fc);
		if (!fl || !fc[fl])
			break;
		/* fc[fl] == '/' but only count it if a name follows */
		tc = fc + fl;
		if (!next_comp(&tc))
			break;
		ups++;
		fc += fl;
	}
	if (!ups) {
		if (outlen < 3)
			return -ENAMETOOLONG;
		memcpy(out, "./", 2);
		o = 2;
	}
	for (; ups; ups--) {
		if (o + 4 > outlen)
			return -ENAMETOOLONG;
		memcpy(out + o, "../", 3);
		o += 3;
	}
	while (*t == '/')
		t++;
	n = strlen(t);
	if (o + n + 1 > outlen)
		return -ENAMETOOLONG;
	memcpy(out + o, t, n + 1);
	return 0;
}
