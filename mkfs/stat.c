/* SPDX-License-Identifier: MIT */
/*
 * larchfs-stat: what a larchfs store holds, the dumpe2fs of larchfs.
 *
 *   larchfs-stat [--json|--prometheus] STORE
 *   larchfs-stat --mounted [--json|--prometheus] MOUNTPOINT
 *   larchfs-stat --mounted -w SECONDS [-c COUNT] [--json] MOUNTPOINT
 *
 * Opens the store read-only and prints its superblock, the number of keys
 * and bytes in each of the filesystem's trees (a scan of each: keys only,
 * so a blob is counted by its length, not read), the statistics of the
 * engine (fs/stats.c: cache, flushes, compression, disk and live bytes,
 * space amplification, checksum failures) and the files of the store
 * directory.  A store in use (mounted: the daemon holds the store lock
 * exclusively) cannot be opened; that is exit 1 with a message naming
 * --mounted, which instead asks the daemon serving MOUNTPOINT for its
 * live statistics (the root's virtual xattr LFS_STATS_XATTR).
 *
 * --json and --prometheus print the statistics alone, for programs: the
 * metrics of fs/stats.c (the root's LFS_METRICS_XATTR when mounted) as
 * one JSON object, or as Prometheus text for node_exporter's textfile
 * collector (stat_metrics.c).  -w prints their rates over each interval
 * (stat_watch.c).
 *
 * Exit status: 0 printed, 1 the store or mount could not be read, 16 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "lfs.h"
#include "stat_metrics.h"
#include "stat_watch.h"

#define EXIT_USAGE 16

static void usage(FILE *f)
{
	fprintf(f, "usage: larchfs-stat [--json|--prometheus] STORE\n"
		   "       larchfs-stat --mounted [--json|--prometheus] MOUNTPOINT\n"
		   "       larchfs-stat --mounted -w SECONDS [-c COUNT] [--json] MOUNTPOINT\n"
		   "Prints the superblock, the size of each tree, the engine's statistics and\n"
		   "the store's files of an unmounted store; with --mounted, the live\n"
		   "statistics of the larchfs filesystem mounted on MOUNTPOINT.\n"
		   "  --json          the statistics as one JSON object (with -w, one per line)\n"
		   "  --prometheus    the statistics as Prometheus text (node_exporter's\n"
		   "                  textfile collector)\n"
		   "  -w, -i SECONDS  a line every SECONDS with what the interval did per second:\n"
		   "                  FUSE requests by kind, MiB/s of files and of the engine,\n"
		   "                  flushes and their time, cache hit rate, dirty bytes\n"
		   "  -c COUNT        with -w: stop after COUNT lines (default: until killed)\n");
}

static void quiet_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= LKV_LOG_ERR)
		fprintf(stderr, "larchfs-stat: %s\n", msg);
}

/* ---- the superblock ---- */

static void print_super(const char *dir, const struct lfs_info *i)
{
	char uuid[37], when[64];
	const uint8_t *u = i->uuid;
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
	time_t t = (time_t)i->created_sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(when, sizeof(when), "?");
	printf("Store:                   %s\n", dir);
	printf("Filesystem UUID:         %s\n", uuid);
	printf("Filesystem label:        %s\n", i->label[0] ? i->label : "(none)");
	printf("Format version:          %" PRIu32 "\n", i->format_version);
	printf("Features:                %s\n", i->features & LFS_FEAT_OPEN_CHECKS ?
	       "opens checked (immutable, append-only)" : "(none)");
	printf("Block size:              %" PRIu32 " bytes\n", i->block_size);
	printf("Blob threshold:          %" PRIu32 " bytes\n", i->blob_threshold);
	if (i->compression)
		printf("Compression:             zstd level %" PRId32 "\n", i->compression);
	else
		printf("Compression:             off\n");
	printf("Created:                 %s (%" PRIu64 ")\n", when, i->created_sec);
	printf("Next inode number:       %" PRIu64 "\n", i->next_ino);
	printf("lost+found inode:        %" PRIu64 "\n", i->lost_found_ino);
}

/* ---- trees ---- */

struct tree_count { uint64_t keys, key_bytes, value_bytes; };

static int count_tree(lkv_tree *t, struct tree_count *n)
{
	lkv_iter *it;
	int err = lkv_iter_open(t, NULL, 0, NULL, 0, 0, &it);
	if (err)
		return err;
	const void *k;
	size_t kl, vl;
	memset(n, 0, sizeof(*n));
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		n->keys++;
		n->key_bytes += kl;
		n->value_bytes += vl;
	}
	lkv_iter_close(it);
	return err;
}

static int print_trees(lfs *fs)
{
	lkv_tree *t[TREES];
	int err = trees_open(lfs_store(fs), t);     /* the mount opened them */
	if (err)
		return err;
	printf("\n%-10s %14s %16s %16s\n", "Tree", "Keys", "Key bytes", "Value bytes");
	struct tree_count sum = { 0 };
	for (size_t i = 0; i < TREES; i++) {
		struct tree_count n;
		err = count_tree(t[i], &n);
		if (err) {
			printf("%-10s (cannot be read: %s)\n", tree_names[i], strerror(-err));
			continue;
		}
		printf("%-10s %14" PRIu64 " %16" PRIu64 " %16" PRIu64 "\n", tree_names[i],
		       n.keys, n.key_bytes, n.value_bytes);
		sum.keys += n.keys;
		sum.key_bytes += n.key_bytes;
		sum.value_bytes += n.value_bytes;
	}
	printf("%-10s %14" PRIu64 " %16" PRIu64 " %16" PRIu64 "\n", "total", sum.keys,
	       sum.key_bytes, sum.value_bytes);
	return 0;
}

/* ---- the store's files ---- */

struct file_row { char *name, *holds; uint64_t size; };
struct file_rows { struct file_row *v; size_t n; };

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct file_row *)a)->name, ((const struct file_row *)b)->name);
}

static int add_row(void *arg, const struct lkv_file_info *f)
{
	struct file_rows *r = arg;
	struct file_row *v = realloc(r->v, (r->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	v[r->n] = (struct file_row){ strdup(f->name), strdup(f->holds), f->size };
	if (!v[r->n].name || !v[r->n].holds)
		return -ENOMEM;
	r->n++;
	return 0;
}

/* The store directory's files, by name, with what the engine says each
 * holds (lkv_list_files). */
static void print_files(const char *dir)
{
	struct file_rows r = { 0 };
	lkv_list_files(dir, NULL, add_row, &r);
	qsort(r.v, r.n, sizeof(*r.v), row_cmp);
	printf("\n%-24s %16s  %s\n", "File", "Bytes", "Holds");
	for (size_t i = 0; i < r.n; i++) {
		printf("%-24s %16" PRIu64 "  %s\n", r.v[i].name, r.v[i].size, r.v[i].holds);
		free(r.v[i].name);
		free(r.v[i].holds);
	}
	free(r.v);
}

/* ---- a mounted filesystem ---- */

static int print_mounted(const char *mnt)
{
	char buf[65536];
	ssize_t n = getxattr(mnt, LFS_STATS_XATTR, buf, sizeof(buf));
	if (n < 0) {
		int e = errno;
		fprintf(stderr, "larchfs-stat: %s: %s\n", mnt,
			e == ENODATA || e == EOPNOTSUPP ? "not the root of a larchfs mount"
			: strerror(e));
		return 1;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	return fflush(stdout) ? 1 : 0;
}

/* ---- for programs ---- */

enum form { TEXT, JSON, PROMETHEUS };

static void print_metrics(const struct metrics *m, enum form form, const char *key,
			  const char *where)
{
	char *real = realpath(where, NULL);

	if (form == JSON)
		metrics_write_json(stdout, m, key, real ? real : where);
	else
		metrics_write_prometheus(stdout, m, key, real ? real : where);
	free(real);
}

static int print_mounted_metrics(const char *mnt, enum form form)
{
	struct metrics m;

	if (metrics_read_mount(mnt, &m))
		return 1;
	print_metrics(&m, form, "mountpoint", mnt);
	metrics_free(&m);
	return fflush(stdout) ? 1 : 0;
}

/* The metrics of the store fs has open, as lfs_metrics_print writes them. */
static int print_store_metrics(lfs *fs, const char *dir, enum form form)
{
	char *text = NULL;
	size_t len = 0, line = 0;
	FILE *f = open_memstream(&text, &len);
	struct metrics m;
	int err = f ? lfs_metrics_print(fs, f) : -ENOMEM;

	if (f && fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		err = metrics_parse(text, len, &m, &line);
	free(text);
	if (err) {
		fprintf(stderr, "larchfs-stat: %s: cannot put its statistics together: %s\n", dir,
			strerror(-err));
		return 1;
	}
	print_metrics(&m, form, "store", dir);
	metrics_free(&m);
	return fflush(stdout) ? 1 : 0;
}

/* ---- the command line ---- */

struct args {
	bool mounted;
	enum form form;
	double interval;                /* 0: no -w */
	long count;                     /* 0: until killed */
	const char *path;
};

/* A -w/-i value: seconds, at least 0.1 (a line costs a round trip to the
 * daemon); -1 when it is not one. */
static double parse_interval(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	return *s && !*end && isfinite(v) && v >= 0.1 && v <= 1e6 ? v : -1;
}

static long parse_count(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && !*end && v > 0 && v < LONG_MAX ? v : -1;
}

/* Reads the arguments into a: 0, 1 for -h (printed), or EXIT_USAGE
 * (said why). */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "mounted", no_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", required_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *why = NULL;
	int c;

	*a = (struct args){ .form = TEXT };
	while (!why && (c = getopt_long(argc, argv, "hw:i:c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 1;
		case 'm':
			a->mounted = true;
			break;
		case 'j':
		case 'p':
			if (a->form != TEXT && a->form != (c == 'j' ? JSON : PROMETHEUS))
				why = "--json and --prometheus exclude each other";
			a->form = c == 'j' ? JSON : PROMETHEUS;
			break;
		case 'w':
		case 'i':
			if ((a->interval = parse_interval(optarg)) < 0)
				why = "-w and -i take seconds, 0.1 or more (e.g. -w 1 or -w 0.5)";
			break;
		case 'c':
			if ((a->count = parse_count(optarg)) < 0)
				why = "-c takes a count of lines, 1 or more";
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!why && optind != argc - 1)
		why = argc > optind ? "one STORE or MOUNTPOINT, please" : "no STORE or MOUNTPOINT";
	else if (!why && a->interval && !a->mounted)
		why = "-w needs --mounted: rates are of a mounted filesystem";
	else if (!why && a->interval && a->form == PROMETHEUS)
		why = "-w and --prometheus exclude each other (a scrape takes one snapshot)";
	else if (!why && a->count && !a->interval)
		why = "-c counts the lines of -w";
	if (why) {
		fprintf(stderr, "larchfs-stat: %s\n", why);
		usage(stderr);
		return EXIT_USAGE;
	}
	a->path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct args a;
	int rc = parse_args(argc, argv, &a);

	if (rc)
		return rc == 1 ? 0 : rc;
	const char *dir = a.path;
	if (a.interval)
		return watch_run(dir, a.interval, a.count, a.form == JSON);
	if (a.mounted)
		return a.form == TEXT ? print_mounted(dir) : print_mounted_metrics(dir, a.form);
	struct lfs_mount_options o;
	lfs_mount_options_default(&o);
	o.read_only = true;
	o.cache_bytes = 32u << 20;
	o.log = quiet_log;
	lfs *fs;
	int err = lfs_mount(dir, &o, &fs);
	if (err == -EBUSY) {
		fprintf(stderr, "larchfs-stat: %s: in use (mounted?): for the live statistics "
			"of a mount run larchfs-stat --mounted MOUNTPOINT\n", dir);
		return 1;
	}
	if (err) {
		fprintf(stderr, "larchfs-stat: %s: %s\n", dir,
			err == -ENOENT ? "no larchfs store there" :
			err == -EMEDIUMTYPE ? "no larchfs superblock (not formatted?)" :
			err == -EUCLEAN ? "the store is damaged (run fsck.larchfs)" :
			strerror(-err));
		return 1;
	}
	if (a.form != TEXT) {
		rc = print_store_metrics(fs, dir, a.form);
		lfs_unmount(fs);
		return rc;
	}
	struct lfs_info info;
	lfs_get_info(fs, &info);
	print_super(dir, &info);
	print_trees(fs);
	printf("\n");
	lfs_stats_print(fs, stdout);
	print_files(dir);
	lfs_unmount(fs);
	return 0;
}
