/* SPDX-License-Identifier: MIT */
/*
 * larchfs-stat's metrics: the text of LFS_METRICS_XATTR (or of
 * lfs_metrics_print), in Prometheus's text exposition format, read into
 * families and samples, and written back out as JSON or as Prometheus text
 * with a label that says which mount or store they are of.
 *
 * Functions returning int return 0 or a negative errno.
 */
#ifndef LARCHFS_STAT_METRICS_H
#define LARCHFS_STAT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define METRICS_PREFIX "larchfs_"   /* of every name; JSON keys go without */

struct metric_label {
	char *name, *value;             /* value unescaped */
};

struct metric_sample {
	char *name;
	struct metric_label *labels;
	size_t nlabels;
	char *text;                     /* the value as written */
	double value;
};

struct metric_family {
	char *name, *type, *help;       /* type: "counter", "gauge", ... */
	size_t first, n;                /* its samples: v[first .. first + n) */
};

struct metrics {
	struct metric_sample *v;
	size_t n;
	struct metric_family *fam;
	size_t nfam;
};

/* Reads text[0..len) into m (emptied first).  -EINVAL for a line that is
 * not a comment, a blank or a sample of the family announced by the
 * "# TYPE" line before it; *bad_line (may be NULL) then says which, from 1.
 * -ENOMEM. */
int  metrics_parse(const char *text, size_t len, struct metrics *m, size_t *bad_line);
void metrics_free(struct metrics *m);

/* The value of the sample `name` whose label (if `label` is not NULL) has
 * that value; `fallback` when there is none. */
double metrics_get(const struct metrics *m, const char *name, const char *label,
		   double fallback);
/* The family `name`, or NULL. */
const struct metric_family *metrics_family(const struct metrics *m, const char *name);

/* Reads LFS_METRICS_XATTR of the mount's root into m.  On failure prints
 * why, naming `mnt`, and returns a negative errno. */
int  metrics_read_mount(const char *mnt, struct metrics *m);

/* m as one JSON object on one line: "time" (now, in seconds since the
 * epoch), then `where_key`: `where` (e.g. "mountpoint"), then each info
 * metric's other labels (larchfs_store_info: "store"), then every other
 * metric under its name without METRICS_PREFIX: a number, or for a
 * labelled family an object from label value to number. */
void metrics_write_json(FILE *f, const struct metrics *m, const char *where_key,
			const char *where);

/* m as Prometheus text, every sample with the label where_key="where"
 * first (in place of a label of that name it has).  Families without
 * samples are left out. */
void metrics_write_prometheus(FILE *f, const struct metrics *m, const char *where_key,
			      const char *where);

/* s as a JSON string, quotes included: control characters escaped, bytes
 * that are not UTF-8 replaced by U+FFFD. */
void json_string(FILE *f, const char *s);
/* v as a JSON number, or null when it is not finite (or negative, when
 * `unknown_below_zero`: the convention for "not known" of the callers). */
void json_number(FILE *f, double v, bool unknown_below_zero);

#endif
