/* SPDX-License-Identifier: MIT */
/*
 * larchfs-stat: what a larchfs store holds, the dumpe2fs of larchfs.
 *
 *   larchfs-stat STORE
 *   larchfs-stat --mounted MOUNTPOINT
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
 * Exit status: 0 printed, 1 the store or mount could not be read, 16 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "lfs.h"

#define EXIT_USAGE 16

static void usage(FILE *f)
{
	fprintf(f, "usage: larchfs-stat STORE\n"
		   "       larchfs-stat --mounted MOUNTPOINT\n"
		   "Prints the superblock, the size of each tree, the engine's statistics and\n"
		   "the store's files of an unmounted store; with --mounted, the live\n"
		   "statistics of the larchfs filesystem mounted on MOUNTPOINT.\n");
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mounted", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool mounted = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == 'm') {
			mounted = true;
			continue;
		}
		usage(stderr);
		return EXIT_USAGE;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *dir = argv[optind];
	if (mounted)
		return print_mounted(dir);
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
