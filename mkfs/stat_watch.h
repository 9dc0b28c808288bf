/* SPDX-License-Identifier: MIT */
/*
 * larchfs-stat -w: the rates of a mounted filesystem over each interval,
 * one line each (iostat's way), or one JSON object per line.
 */
#ifndef LARCHFS_STAT_WATCH_H
#define LARCHFS_STAT_WATCH_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "stat_metrics.h"

/* The kinds of FUSE requests the line counts apart (stat_watch.c says
 * which opcode is which). */
enum req_kind { RK_LOOKUP, RK_ATTR, RK_READ, RK_WRITE, RK_DIR, RK_NAMES, RK_SYNC, RK_OTHER,
		RK_KINDS };
extern const char *const req_kind_name[RK_KINDS];

/* What happened between two readings of the metrics.  A figure that
 * cannot be known is negative (printed "-", null in JSON). */
struct watch_rates {
	double when;                    /* the second reading: seconds since the epoch */
	double seconds;                 /* between the readings */
	double req[RK_KINDS], req_total;           /* requests per second */
	double fs_read, fs_written;     /* file bytes per second */
	double kv_read, kv_written;     /* the engine's disk bytes per second */
	double flushes;                 /* per second */
	double flush_mean;              /* seconds; -1: no flush */
	double flush_max;               /* seconds; -1: no flush */
	bool flush_max_exact;           /* else flush_max is the mount's longest
					   flush, longer than none of these */
	double flush_max_mount;         /* the mount's longest flush, seconds */
	double hit_ratio;               /* cache hits of lookups; -1: none */
	double dirty;                   /* bytes, at the second reading */
};

/* The rates from reading a to reading b, `seconds` apart. */
void watch_rates(const struct metrics *a, const struct metrics *b, double seconds,
		 double when, struct watch_rates *r);

/* The column heads (two lines) and one line of rates. */
void watch_header(FILE *f);
void watch_line(FILE *f, const struct watch_rates *r);
/* One JSON object on one line; `mnt` names the mount. */
void watch_json(FILE *f, const struct watch_rates *r, const char *mnt);

/* How many lines of rates go between heads: the terminal's height less
 * the head (stdout a terminal), else $LINES's, else 0: the head once. */
int  watch_screen_lines(FILE *f);

/* Reads the mount's metrics every `interval` seconds and prints the rates
 * of each interval, `count` times (0: until killed).  Returns the exit
 * status: 0, or 1 when the mount could not be read (said on stderr). */
int  watch_run(const char *mnt, double interval, long count, bool json);

#endif
