/* SPDX-License-Identifier: MIT */
/*
 * larchfs-stat's metrics (stat_metrics.h): reading the exposition text the
 * core and the daemon write (fs/stats.c, fs/daemon/fuse_proto.c) and
 * writing it out again as JSON or Prometheus text.
 *
 * The reader takes the text format of Prometheus 0.0.4 as far as larchfs
 * uses it: "# HELP name text" and "# TYPE name type" lines, other comments,
 * blank lines, and samples "name{label="value",...} value" (a timestamp
 * after the value is allowed and ignored).  A family's samples follow its
 * TYPE line, all together, as the format requires.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "lfs.h"
#include "stat_metrics.h"

/* ---- reading ---- */

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/* The name at *p, copied; *p moves past it.  NULL when there is none. */
static char *take_name(const char **p, const char *end)
{
	const char *s = *p;

	while (*p < end && name_char(**p, *p == s))
		(*p)++;
	return *p > s ? strndup(s, (size_t)(*p - s)) : NULL;
}

static void skip_blanks(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

/* A quoted label value at *p, unescaped into a new string.  -EINVAL when
 * it is not one, -ENOMEM. */
static int take_label_value(const char **p, const char *end, char **out)
{
	const char *s = *p;
	char *v, *w;

	if (s >= end || *s != '"')
		return -EINVAL;
	v = w = malloc((size_t)(end - s));
	if (!v)
		return -ENOMEM;
	for (s++; s < end && *s != '"'; s++) {
		if (*s == '\\' && s + 1 < end) {
			s++;
			*w++ = *s == 'n' ? '\n' : *s;
		} else {
			*w++ = *s;
		}
	}
	if (s >= end) {
		free(v);
		return -EINVAL;
	}
	*w = '\0';
	*p = s + 1;
	*out = v;
	return 0;
}

static void sample_free(struct metric_sample *s)
{
	for (size_t i = 0; i < s->nlabels; i++) {
		free(s->labels[i].name);
		free(s->labels[i].value);
	}
	free(s->labels);
	free(s->name);
	free(s->text);
}

/* {name="value",...} at *p into s.  -EINVAL, -ENOMEM. */
static int take_labels(const char **p, const char *end, struct metric_sample *s)
{
	(*p)++;                          /* the '{' */
	for (;;) {
		skip_blanks(p, end);
		if (*p < end && **p == '}') {
			(*p)++;
			return 0;
		}
		struct metric_label l = { take_name(p, end), NULL };
		if (!l.name)
			return -EINVAL;
		struct metric_label *v = realloc(s->labels, (s->nlabels + 1) * sizeof(*v));
		if (!v) {
			free(l.name);
			return -ENOMEM;
		}
		s->labels = v;
		s->labels[s->nlabels++] = l;
		skip_blanks(p, end);
		if (*p >= end || **p != '=')
			return -EINVAL;
		(*p)++;
		skip_blanks(p, end);
		int err = take_label_value(p, end, &s->labels[s->nlabels - 1].value);
		if (err)
			return err;
		skip_blanks(p, end);
		if (*p < end && **p == ',')
			(*p)++;
		else if (*p >= end || **p != '}')
			return -EINVAL;
	}
}

/* One sample line [p, end) into s. */
static int parse_sample(const char *p, const char *end, struct metric_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->name = take_name(&p, end);
	if (!s->name)
		return -EINVAL;
	if (p < end && *p == '{') {
		int err = take_labels(&p, end, s);
		if (err)
			return err;
	}
	skip_blanks(&p, end);
	const char *v = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	if (p == v)
		return -EINVAL;
	s->text = strndup(v, (size_t)(p - v));
	if (!s->text)
		return -ENOMEM;
	char *stop;
	s->value = strtod(s->text, &stop);
	if (*stop)
		return -EINVAL;
	skip_blanks(&p, end);
	while (p < end && *p >= '0' && *p <= '9')   /* a timestamp */
		p++;
	skip_blanks(&p, end);
	return p == end ? 0 : -EINVAL;
}

static struct metric_family *family_find(struct metrics *m, const char *name)
{
	for (size_t i = 0; i < m->nfam; i++)
		if (!strcmp(m->fam[i].name, name))
			return &m->fam[i];
	return NULL;
}

static struct metric_family *family_add(struct metrics *m, const char *name, size_t len)
{
	struct metric_family *v = realloc(m->fam, (m->nfam + 1) * sizeof(*v));

	if (!v)
		return NULL;
	m->fam = v;
	v = &m->fam[m->nfam];
	*v = (struct metric_family){ strndup(name, len), NULL, NULL, m->n, 0 };
	if (!v->name)
		return NULL;
	m->nfam++;
	return v;
}

/* "# HELP name text" or "# TYPE name type" at [p, end); other comments
 * are ignored.  *cur becomes the family named. */
static int parse_comment(struct metrics *m, const char *p, const char *end,
			 struct metric_family **cur)
{
	bool help = end - p > 7 && !memcmp(p, "# HELP ", 7);
	bool type = end - p > 7 && !memcmp(p, "# TYPE ", 7);

	if (!help && !type)
		return 0;
	p += 7;
	const char *name = p;
	while (p < end && name_char(*p, p == name))
		p++;
	if (p == name)
		return -EINVAL;
	char *nm = strndup(name, (size_t)(p - name));
	if (!nm)
		return -ENOMEM;
	struct metric_family *f = family_find(m, nm);
	free(nm);
	if (f && f->n)                   /* its samples were earlier */
		return -EINVAL;
	if (!f && !(f = family_add(m, name, (size_t)(p - name))))
		return -ENOMEM;
	f->first = m->n;
	skip_blanks(&p, end);
	char **field = help ? &f->help : &f->type;
	free(*field);
	if (!(*field = strndup(p, (size_t)(end - p))))
		return -ENOMEM;
	*cur = f;
	return 0;
}

static int parse_line(struct metrics *m, const char *p, const char *end,
		      struct metric_family **cur)
{
	skip_blanks(&p, end);
	if (p == end)
		return 0;
	if (*p == '#')
		return parse_comment(m, p, end, cur);
	struct metric_sample s;
	int err = parse_sample(p, end, &s);
	if (!err && (!*cur || strcmp((*cur)->name, s.name) || (*cur)->first + (*cur)->n != m->n)) {
		/* a sample of a family without a TYPE line: untyped */
		if (family_find(m, s.name))
			err = -EINVAL;               /* its samples are not together */
		else if (!(*cur = family_add(m, s.name, strlen(s.name))))
			err = -ENOMEM;
	}
	if (!err) {
		struct metric_sample *v = realloc(m->v, (m->n + 1) * sizeof(*v));
		if (!v)
			err = -ENOMEM;
		else
			m->v = v;
	}
	if (err) {
		sample_free(&s);
		return err;
	}
	m->v[m->n++] = s;
	(*cur)->n++;
	return 0;
}

int metrics_parse(const char *text, size_t len, struct metrics *m, size_t *bad_line)
{
	const char *p = text, *end = text + len;
	struct metric_family *cur = NULL;
	size_t line = 0;

	memset(m, 0, sizeof(*m));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		line++;
		int err = parse_line(m, p, eol, &cur);
		if (err) {
			if (bad_line)
				*bad_line = line;
			metrics_free(m);
			return err;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

void metrics_free(struct metrics *m)
{
	for (size_t i = 0; i < m->n; i++)
		sample_free(&m->v[i]);
	for (size_t i = 0; i < m->nfam; i++) {
		free(m->fam[i].name);
		free(m->fam[i].type);
		free(m->fam[i].help);
	}
	free(m->v);
	free(m->fam);
	memset(m, 0, sizeof(*m));
}

const struct metric_family *metrics_family(const struct metrics *m, const char *name)
{
	return family_find((struct metrics *)m, name);
}

double metrics_get(const struct metrics *m, const char *name, const char *label,
		   double fallback)
{
	const struct metric_family *f = metrics_family(m, name);

	for (size_t i = 0; f && i < f->n; i++) {
		const struct metric_sample *s = &m->v[f->first + i];
		if (!label)
			return s->value;
		for (size_t j = 0; j < s->nlabels; j++)
			if (!strcmp(s->labels[j].value, label))
				return s->value;
	}
	return fallback;
}

/* ---- from a mount ---- */

/* The value of xattr `name` of path, in a new buffer.  One request when
 * it fits in what the last call needed (the rates of -w count their own
 * reads: one GETXATTR an interval). */
static ssize_t read_xattr(const char *path, const char *name, char **out)
{
	static size_t cap = 65536;
	char *buf = NULL;
	ssize_t n = -1;

	for (int tries = 0; tries < 8; tries++) {
		char *b = realloc(buf, cap + 1);
		if (!b) {
			errno = ENOMEM;
			n = -1;
			break;
		}
		buf = b;
		n = getxattr(path, name, buf, cap);
		if (n >= 0 || errno != ERANGE)
			break;
		n = getxattr(path, name, NULL, 0);      /* it grew: how far? */
		if (n < 0)
			break;
		cap = (size_t)n > cap ? (size_t)n : 2 * cap;
	}
	if (n < 0) {
		int e = errno;
		free(buf);
		errno = e;
		return -1;
	}
	*out = buf;
	return n;
}

int metrics_read_mount(const char *mnt, struct metrics *m)
{
	char *text;
	ssize_t n = read_xattr(mnt, LFS_METRICS_XATTR, &text);

	if (n < 0) {
		int e = errno;
		if ((e == ENODATA || e == EOPNOTSUPP) && getxattr(mnt, LFS_STATS_XATTR, NULL, 0) >= 0)
			fprintf(stderr, "larchfs-stat: %s: the daemon serving it is older than this "
				"larchfs-stat (it has no %s): remount it with this version\n", mnt,
				LFS_METRICS_XATTR);
		else if (e == ENODATA || e == EOPNOTSUPP)
			fprintf(stderr, "larchfs-stat: %s: not the root of a larchfs mount\n", mnt);
		else if (e == ENOTCONN)
			fprintf(stderr, "larchfs-stat: %s: its daemon is gone (%s): unmount it "
				"(fusermount3 -u)\n", mnt, strerror(e));
		else
			fprintf(stderr, "larchfs-stat: %s: %s\n", mnt, strerror(e));
		return -e;
	}
	size_t line = 0;
	int err = metrics_parse(text, (size_t)n, m, &line);
	free(text);
	if (err == -EINVAL)
		fprintf(stderr, "larchfs-stat: %s: line %zu of its %s is not in the "
			"exposition format\n", mnt, line, LFS_METRICS_XATTR);
	else if (err)
		fprintf(stderr, "larchfs-stat: %s: %s\n", mnt, strerror(-err));
	return err;
}

/* ---- JSON ---- */

/* The length of the UTF-8 sequence at s (valid, shortest form, no
 * surrogates), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	uint32_t c = n == 4 ? s[0] & 0x07u : n == 3 ? s[0] & 0x0fu : s[0] & 0x1fu;

	if (s[0] >= 0xf5 || s[0] < 0xc2)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

void json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		if (*s == '"' || *s == '\\') {
			fprintf(f, "\\%c", *s++);
		} else if (*s == '\n') {
			fputs("\\n", f);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s++);
		} else if (*s < 0x80) {
			fputc(*s++, f);
		} else {
			size_t n = utf8_len(s);
			if (n) {
				fwrite(s, 1, n, f);
				s += n;
			} else {
				fputs("\\ufffd", f);
				s++;
			}
		}
	}
	fputc('"', f);
}

void json_number(FILE *f, double v, bool unknown_below_zero)
{
	if (!isfinite(v) || (unknown_below_zero && v < 0))
		fputs("null", f);
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.9g", v);
}

/* Is s a number as JSON writes them? */
static bool json_number_text(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		if (*++s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return !*s;
}

/* A sample's value: as written when that is JSON, else as a double. */
static void json_value(FILE *f, const struct metric_sample *s)
{
	if (json_number_text(s->text))
		fputs(s->text, f);
	else
		json_number(f, s->value, false);
}

static const char *short_name(const char *name)
{
	size_t n = strlen(METRICS_PREFIX);
	return strncmp(name, METRICS_PREFIX, n) ? name : name + n;
}

static bool is_info(const struct metric_family *fam)
{
	size_t n = strlen(fam->name);
	return n > 5 && !strcmp(fam->name + n - 5, "_info");
}

static void json_family(FILE *f, const struct metrics *m, const struct metric_family *fam)
{
	const struct metric_sample *s = &m->v[fam->first];

	fputc(',', f);
	json_string(f, short_name(fam->name));
	fputc(':', f);
	if (fam->n == 1 && s->nlabels == 0) {
		json_value(f, s);
		return;
	}
	fputc('{', f);
	for (size_t i = 0; i < fam->n; i++, s++) {
		if (i)
			fputc(',', f);
		json_string(f, s->nlabels ? s->labels[0].value : "");
		fputc(':', f);
		json_value(f, s);
	}
	fputc('}', f);
}

void metrics_write_json(FILE *f, const struct metrics *m, const char *where_key,
			const char *where)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	fprintf(f, "{\"time\":%lld.%03ld,", (long long)now.tv_sec, now.tv_nsec / 1000000);
	json_string(f, where_key);
	fputc(':', f);
	json_string(f, where);
	for (size_t i = 0; i < m->nfam; i++) {
		const struct metric_family *fam = &m->fam[i];
		for (size_t j = 0; is_info(fam) && j < fam->n; j++) {
			const struct metric_sample *s = &m->v[fam->first + j];
			for (size_t k = 0; k < s->nlabels; k++) {
				if (!strcmp(s->labels[k].name, where_key))
					continue;     /* the caller's says it */
				fputc(',', f);
				json_string(f, s->labels[k].name);
				fputc(':', f);
				json_string(f, s->labels[k].value);
			}
		}
	}
	for (size_t i = 0; i < m->nfam; i++)
		if (m->fam[i].n && !is_info(&m->fam[i]))
			json_family(f, m, &m->fam[i]);
	fputs("}\n", f);
}

/* ---- Prometheus ---- */

static void prom_label(FILE *f, const char *name, const char *value)
{
	fprintf(f, "%s=\"", name);
	lfs_metrics_label(f, value);
	fputc('"', f);
}

void metrics_write_prometheus(FILE *f, const struct metrics *m, const char *where_key,
			      const char *where)
{
	for (size_t i = 0; i < m->nfam; i++) {
		const struct metric_family *fam = &m->fam[i];
		if (!fam->n)
			continue;
		if (fam->help)
			fprintf(f, "# HELP %s %s\n", fam->name, fam->help);
		if (fam->type)
			fprintf(f, "# TYPE %s %s\n", fam->name, fam->type);
		for (size_t j = 0; j < fam->n; j++) {
			const struct metric_sample *s = &m->v[fam->first + j];
			fprintf(f, "%s{", s->name);
			prom_label(f, where_key, where);
			for (size_t k = 0; k < s->nlabels; k++) {
				if (strcmp(s->labels[k].name, where_key)) {
					fputc(',', f);
					prom_label(f, s->labels[k].name, s->labels[k].value);
				}
			}
			fprintf(f, "} %s\n", s->text);
		}
	}
}
