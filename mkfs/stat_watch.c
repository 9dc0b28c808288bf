/* SPDX-License-Identifier: MIT */
/*
 * larchfs-stat -w (stat_watch.h): reads a mount's metrics (the counters
 * of fs/stats.c and the daemon's FUSE requests) every interval and prints
 * what changed, per second, as iostat and zpool iostat do: requests by
 * kind, file bytes read and written, the engine's bytes read and written
 * on disk, flushes with their mean and longest time, the cache's hit rate
 * over the interval and the dirty bytes at its end.  The column heads
 * come again every screenful.
 *
 * The engine exports the longest flush since the mount, not per interval
 * (struct lkv_stats.flush_ns_max).  An interval's longest flush is known
 * when it had one flush (its mean), or when the mount's longest grew in it
 * (that flush is the one); otherwise the line shows "<=" and the mount's
 * longest, which the interval's did not exceed.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "stat_watch.h"

#define MiB (1024.0 * 1024.0)

const char *const req_kind_name[RK_KINDS] = {
	[RK_LOOKUP] = "lookup", [RK_ATTR] = "attr", [RK_READ] = "read", [RK_WRITE] = "write",
	[RK_DIR] = "dir", [RK_NAMES] = "names", [RK_SYNC] = "sync", [RK_OTHER] = "other",
};

/* The opcodes counted apart; every other one is RK_OTHER (FORGET, OPEN,
 * RELEASE, INIT, FALLOCATE, LSEEK, COPY_FILE_RANGE, locks, ...). */
static const struct { const char *op; enum req_kind kind; } op_kinds[] = {
	{ "LOOKUP", RK_LOOKUP },
	{ "GETATTR", RK_ATTR }, { "SETATTR", RK_ATTR }, { "ACCESS", RK_ATTR },
	{ "READLINK", RK_ATTR }, { "STATFS", RK_ATTR }, { "GETXATTR", RK_ATTR },
	{ "SETXATTR", RK_ATTR }, { "LISTXATTR", RK_ATTR }, { "REMOVEXATTR", RK_ATTR },
	{ "READ", RK_READ }, { "WRITE", RK_WRITE },
	{ "READDIR", RK_DIR }, { "READDIRPLUS", RK_DIR }, { "OPENDIR", RK_DIR },
	{ "RELEASEDIR", RK_DIR },
	{ "MKNOD", RK_NAMES }, { "MKDIR", RK_NAMES }, { "CREATE", RK_NAMES },
	{ "SYMLINK", RK_NAMES }, { "LINK", RK_NAMES }, { "UNLINK", RK_NAMES },
	{ "RMDIR", RK_NAMES }, { "RENAME", RK_NAMES }, { "RENAME2", RK_NAMES },
	{ "TMPFILE", RK_NAMES },
	{ "FSYNC", RK_SYNC }, { "FSYNCDIR", RK_SYNC }, { "SYNCFS", RK_SYNC },
};

static enum req_kind op_kind(const char *op)
{
	for (size_t i = 0; i < sizeof(op_kinds) / sizeof(op_kinds[0]); i++)
		if (!strcmp(op_kinds[i].op, op))
			return op_kinds[i].kind;
	return RK_OTHER;
}

/* ---- rates ---- */

/* How much counter `name` (with that label) grew from a to b; after a
 * restart of the counters (b below a), b's value. */
static double grew(const struct metrics *a, const struct metrics *b, const char *name,
		   const char *label)
{
	double va = metrics_get(a, name, label, 0), vb = metrics_get(b, name, label, 0);
	return vb >= va ? vb - va : vb;
}

static void request_rates(const struct metrics *a, const struct metrics *b, double secs,
			  struct watch_rates *r)
{
	const char *name = METRICS_PREFIX "fuse_requests_total";
	const struct metric_family *f = metrics_family(b, name);

	for (size_t i = 0; f && i < f->n; i++) {
		const struct metric_sample *s = &b->v[f->first + i];
		if (!s->nlabels)
			continue;
		double d = grew(a, b, name, s->labels[0].value) / secs;
		r->req[op_kind(s->labels[0].value)] += d;
		r->req_total += d;
	}
}

static void flush_rates(const struct metrics *a, const struct metrics *b, double secs,
			struct watch_rates *r)
{
	double n = grew(a, b, METRICS_PREFIX "engine_flushes_total", NULL);
	double t = grew(a, b, METRICS_PREFIX "engine_flush_seconds_total", NULL);
	double max_a = metrics_get(a, METRICS_PREFIX "engine_flush_max_seconds", NULL, 0);
	double max_b = metrics_get(b, METRICS_PREFIX "engine_flush_max_seconds", NULL, 0);

	r->flushes = n / secs;
	r->flush_max_mount = max_b;
	r->flush_mean = r->flush_max = -1;
	r->flush_max_exact = true;
	if (n <= 0)
		return;
	r->flush_mean = t / n;
	if (n == 1) {
		r->flush_max = r->flush_mean;
	} else {
		r->flush_max = max_b;
		r->flush_max_exact = max_b > max_a;
	}
}

void watch_rates(const struct metrics *a, const struct metrics *b, double secs, double when,
		 struct watch_rates *r)
{
	memset(r, 0, sizeof(*r));
	r->when = when;
	r->seconds = secs;
	if (!(secs > 0))
		secs = 1e-9;
	request_rates(a, b, secs, r);
	r->fs_read = grew(a, b, METRICS_PREFIX "read_bytes_total", NULL) / secs;
	r->fs_written = grew(a, b, METRICS_PREFIX "written_bytes_total", NULL) / secs;
	r->kv_read = grew(a, b, METRICS_PREFIX "engine_read_bytes_total", NULL) / secs;
	r->kv_written = grew(a, b, METRICS_PREFIX "engine_written_bytes_total", NULL) / secs;
	flush_rates(a, b, secs, r);
	double hits = grew(a, b, METRICS_PREFIX "engine_cache_hits_total", NULL);
	double misses = grew(a, b, METRICS_PREFIX "engine_cache_misses_total", NULL);
	r->hit_ratio = hits + misses > 0 ? hits / (hits + misses) : -1;
	r->dirty = metrics_get(b, METRICS_PREFIX "engine_dirty_bytes", NULL, 0);
}

/* ---- the table ---- */

struct column {
	const char *group, *head;
	int width;
};

enum { C_TIME, C_TOTAL, C_KINDS, C_FS_RD = C_KINDS + RK_KINDS, C_FS_WR, C_KV_RD, C_KV_WR,
       C_FLUSHES, C_MEAN, C_MAX, C_HIT, C_DIRTY, COLUMNS };

static const struct column columns[COLUMNS] = {
	[C_TIME] = { "", "time", 8 },
	[C_TOTAL] = { "requests/s", "total", 6 },
	[C_KINDS + RK_LOOKUP] = { "requests/s", "lookup", 6 },
	[C_KINDS + RK_ATTR] = { "requests/s", "attr", 5 },
	[C_KINDS + RK_READ] = { "requests/s", "read", 5 },
	[C_KINDS + RK_WRITE] = { "requests/s", "write", 5 },
	[C_KINDS + RK_DIR] = { "requests/s", "dir", 5 },
	[C_KINDS + RK_NAMES] = { "requests/s", "names", 5 },
	[C_KINDS + RK_SYNC] = { "requests/s", "sync", 5 },
	[C_KINDS + RK_OTHER] = { "requests/s", "other", 5 },
	[C_FS_RD] = { "MiB/s", "fs-rd", 6 },
	[C_FS_WR] = { "MiB/s", "fs-wr", 6 },
	[C_KV_RD] = { "MiB/s", "kv-rd", 6 },
	[C_KV_WR] = { "MiB/s", "kv-wr", 6 },
	[C_FLUSHES] = { "flushes", "/s", 5 },
	[C_MEAN] = { "flushes", "mean-ms", 7 },
	[C_MAX] = { "flushes", "max-ms", 7 },
	[C_HIT] = { "cache", "hit%", 5 },
	[C_DIRTY] = { "dirty", "MiB", 7 },
};

/* The group line: each group's name centred in dashes over its columns. */
static void header_groups(FILE *f)
{
	for (int c = 0; c < COLUMNS;) {
		int end = c, span = -1;
		while (end < COLUMNS && !strcmp(columns[end].group, columns[c].group))
			span += columns[end++].width + 1;
		int name = (int)strlen(columns[c].group);
		if (c)
			fputc(' ', f);
		if (end - c == 1 || !name) {
			fprintf(f, "%*s", span, columns[c].group);
		} else {
			int left = (span - name - 2) / 2, right = span - name - 2 - left;
			fprintf(f, "%.*s %s %.*s", left, "----------------------------------------",
				columns[c].group, right, "----------------------------------------");
		}
		c = end;
	}
	fputc('\n', f);
}

void watch_header(FILE *f)
{
	header_groups(f);
	for (int c = 0; c < COLUMNS; c++)
		fprintf(f, c ? " %*s" : "%-*s", columns[c].width, columns[c].head);
	fputc('\n', f);
}

/* v in at most `width` characters after `prefix`: with up to `decimals`
 * decimals, fewer if it does not fit, then in k, M or G. "-" below zero. */
static void cell(char *buf, size_t cap, int width, const char *prefix, double v, int decimals)
{
	static const char suffix[] = " kMG";

	if (v < 0) {
		snprintf(buf, cap, "-");
		return;
	}
	if (v == 0)
		decimals = 0;
	for (int s = 0; s < 4; s++, v /= 1000) {
		for (int d = decimals; d >= 0; d--) {
			int n = snprintf(buf, cap, "%s%.*f%.*s", prefix, d, v, s ? 1 : 0,
					 &suffix[s]);
			if (n <= width)
				return;
		}
		decimals = 1;
	}
}

void watch_line(FILE *f, const struct watch_rates *r)
{
	char v[COLUMNS][32];
	time_t when = (time_t)r->when;
	struct tm tm;

	if (!localtime_r(&when, &tm) || !strftime(v[C_TIME], sizeof(v[C_TIME]), "%H:%M:%S", &tm))
		snprintf(v[C_TIME], sizeof(v[C_TIME]), "?");
	/* counts per second: a decimal only below 10 */
#define COUNT(c, x) cell(v[c], sizeof(v[c]), columns[c].width, "", x, (x) < 10 ? 1 : 0)
#define FIGURE(c, x, d) cell(v[c], sizeof(v[c]), columns[c].width, "", x, d)
	COUNT(C_TOTAL, r->req_total);
	for (int k = 0; k < RK_KINDS; k++)
		COUNT(C_KINDS + k, r->req[k]);
	FIGURE(C_FS_RD, r->fs_read / MiB, 1);
	FIGURE(C_FS_WR, r->fs_written / MiB, 1);
	FIGURE(C_KV_RD, r->kv_read / MiB, 1);
	FIGURE(C_KV_WR, r->kv_written / MiB, 1);
	COUNT(C_FLUSHES, r->flushes);
	FIGURE(C_MEAN, r->flush_mean < 0 ? -1 : r->flush_mean * 1e3, 2);
	cell(v[C_MAX], sizeof(v[C_MAX]), columns[C_MAX].width, r->flush_max_exact ? "" : "<=",
	     r->flush_max < 0 ? -1 : r->flush_max * 1e3, 2);
	FIGURE(C_HIT, r->hit_ratio < 0 ? -1 : r->hit_ratio * 100, 1);
	FIGURE(C_DIRTY, r->dirty / MiB, 1);
#undef COUNT
#undef FIGURE
	for (int c = 0; c < COLUMNS; c++)
		fprintf(f, c ? " %*s" : "%-*s", columns[c].width, v[c]);
	fputc('\n', f);
}

/* ---- JSON ---- */

static void json_field(FILE *f, const char *key, double v)
{
	fprintf(f, ",\"%s\":", key);
	json_number(f, v, true);
}

void watch_json(FILE *f, const struct watch_rates *r, const char *mnt)
{
	fprintf(f, "{\"time\":%.3f,\"mountpoint\":", r->when);
	json_string(f, mnt);
	json_field(f, "interval_seconds", r->seconds);
	fprintf(f, ",\"requests_per_second\":{\"total\":");
	json_number(f, r->req_total, true);
	for (int k = 0; k < RK_KINDS; k++)
		json_field(f, req_kind_name[k], r->req[k]);
	fputc('}', f);
	json_field(f, "fs_read_bytes_per_second", r->fs_read);
	json_field(f, "fs_written_bytes_per_second", r->fs_written);
	json_field(f, "engine_read_bytes_per_second", r->kv_read);
	json_field(f, "engine_written_bytes_per_second", r->kv_written);
	json_field(f, "flushes_per_second", r->flushes);
	json_field(f, "flush_mean_seconds", r->flush_mean);
	json_field(f, "flush_max_seconds", r->flush_max_exact ? r->flush_max : -1);
	json_field(f, "flush_max_since_mount_seconds", r->flush_max_mount);
	json_field(f, "cache_hit_ratio", r->hit_ratio);
	json_field(f, "dirty_bytes", r->dirty);
	fputs("}\n", f);
}

/* ---- the loop ---- */

int watch_screen_lines(FILE *f)
{
	struct winsize ws;
	int rows = 0;

	if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0)
		rows = ws.ws_row;
	else if (getenv("LINES"))
		rows = atoi(getenv("LINES"));
	if (rows <= 0)
		return 0;
	return rows > 3 ? rows - 2 : 1;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void timespec_add(struct timespec *t, double secs)
{
	long long ns = t->tv_nsec + (long long)((secs - (double)(long long)secs) * 1e9);
	t->tv_sec += (time_t)secs + (time_t)(ns / 1000000000);
	t->tv_nsec = (long)(ns % 1000000000);
}

int watch_run(const char *mnt, double interval, long count, bool json)
{
	struct metrics a, b;
	struct timespec ta, tb, next;
	long shown = 0;
	char *real = realpath(mnt, NULL);    /* what JSON names it by */

	if (metrics_read_mount(mnt, &a)) {
		free(real);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &ta);
	next = ta;
	while (count == 0 || shown < count) {
		timespec_add(&next, interval);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (metrics_read_mount(mnt, &b)) {
			metrics_free(&a);
			free(real);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &tb);
		if (seconds_between(&next, &tb) > interval)   /* late: start again from now */
			next = tb;
		struct watch_rates r;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		watch_rates(&a, &b, seconds_between(&ta, &tb),
			    (double)now.tv_sec + (double)now.tv_nsec / 1e9, &r);
		int screen = watch_screen_lines(stdout);
		if (json)
			watch_json(stdout, &r, real ? real : mnt);
		else if (shown == 0 || (screen > 0 && shown % screen == 0))
			watch_header(stdout);
		if (!json)
			watch_line(stdout, &r);
		fflush(stdout);
		metrics_free(&a);
		a = b;
		ta = tb;
		shown++;
	}
	metrics_free(&a);
	free(real);
	return ferror(stdout) ? 1 : 0;
}
