/* SPDX-License-Identifier: MIT */
/*
 * Live statistics: what a mounted filesystem and its engine have done, as
 * text, one "Label: value" line each.
 *
 * The same text is printed by `larchfs-stat STORE` for an unmounted store
 * and served by the daemon as the virtual xattr "larchfs.stats" of the
 * root directory (LFS_STATS_XATTR), which `larchfs-stat --mounted MNT`
 * reads: the numbers are there without unmounting, for anyone who may
 * look at the root.  The xattr is not listed and cannot be set; its value
 * changes from one read to the next, so a length query (size 0) answers
 * with room to spare.
 *
 * Counters run from the mount (or the tool's open); ratios are of bytes
 * written since then, except space amplification, which is of the store
 * as it is (every file on disk against every live record).
 *
 * Every figure is true when it is read, or says what it lacks: the engine
 * counts live bytes when a flush commits, while new blobs are on disk as
 * soon as they are written, so with changes not yet flushed (dirty bytes)
 * disk over live would count data that is live as garbage (a copy of
 * 1 GiB, before its first flush, read 1072x): space amplification then
 * reads "n/a until the next flush".  A ratio of nothing is "n/a" too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define STATS_SLACK 1024   /* what a length query adds for the counters' growth */

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void print_mib(FILE *f, const char *label, uint64_t bytes)
{
	fprintf(f, "%-22s %.1f MiB (%" PRIu64 " bytes)\n", label,
		(double)bytes / (1 << 20), bytes);
}

/* Whether the engine's live bytes are those of the store as it is now:
 * nothing is waiting for a flush (see the head of this file). */
static bool live_counted(const struct lkv_stats *st)
{
	return st->dirty_bytes == 0;
}

static void print_engine(FILE *f, const struct lkv_stats *st)
{
	uint64_t lookups = st->cache_hits + st->cache_misses;
	uint64_t raw = st->raw_bytes_written + st->blob_raw_bytes_written;
	uint64_t stored = st->bytes_written;   /* records, commits, snapshots */

	fprintf(f, "%-22s %.1f of %.1f MiB, ", "Cache:", (double)st->cache_bytes / (1 << 20),
		(double)st->cache_budget / (1 << 20));
	if (lookups)
		fprintf(f, "%.2f%% hit rate", 100.0 * ratio(st->cache_hits, lookups));
	else
		fprintf(f, "hit rate n/a (no lookups yet)");
	fprintf(f, " (%" PRIu64 " hits, %" PRIu64 " misses)\n", st->cache_hits,
		st->cache_misses);
	fprintf(f, "%-22s %" PRIu64 " (%" PRIu64 " resident)\n", "Leaves:", st->leaves,
		st->resident_leaves);
	fprintf(f, "%-22s %" PRIu64 "\n", "Bloom filter skips:", st->bloom_skips);
	if (st->flushes)
		fprintf(f, "%-22s %" PRIu64 ", mean %.3f ms, max %.3f ms\n", "Flushes:",
			st->flushes, ratio(st->flush_ns_total, st->flushes) / 1e6,
			(double)st->flush_ns_max / 1e6);
	else
		fprintf(f, "%-22s 0\n", "Flushes:");
	fprintf(f, "%-22s %" PRIu64 " failed and kept for a retry%s%s\n", "Flush failures:",
		st->flush_errors, st->flush_stalled ? "; failing now: " : "",
		st->flush_stalled ? strerror(-st->flush_stalled) : "");
	fprintf(f, "%-22s %" PRIu64 " written, %" PRIu64 " durable\n", "Epochs:",
		st->epoch, st->durable_epoch);
	print_mib(f, "Dirty:", st->dirty_bytes);
	print_mib(f, "Written:", stored);
	print_mib(f, "Read:", st->bytes_read);
	if (raw && stored)
		fprintf(f, "%-22s %.2fx (%.1f MiB of leaves and values became %.1f MiB)\n",
			"Compression ratio:", ratio(raw, stored), (double)raw / (1 << 20),
			(double)stored / (1 << 20));
	else
		fprintf(f, "%-22s n/a (nothing written yet)\n", "Compression ratio:");
	print_mib(f, "Disk bytes:", st->disk_bytes);
	if (live_counted(st)) {
		print_mib(f, "Live bytes:", st->live_bytes);
		if (st->live_bytes)
			fprintf(f, "%-22s %.2fx\n", "Space amplification:",
				ratio(st->disk_bytes, st->live_bytes));
		else
			fprintf(f, "%-22s n/a (nothing live)\n", "Space amplification:");
	} else {
		fprintf(f, "%-22s %.1f MiB (%" PRIu64 " bytes) at the last flush\n",
			"Live bytes:", (double)st->live_bytes / (1 << 20), st->live_bytes);
		fprintf(f, "%-22s n/a until the %s flush (live bytes are counted when "
			"changes are flushed)\n", "Space amplification:",
			st->flushes ? "next" : "first");
	}
	fprintf(f, "%-22s %" PRIu64 ", %.1f MiB live of %.1f MiB%s\n", "Blob segments:",
		st->segments, (double)st->blob_live_bytes / (1 << 20),
		(double)st->blob_disk_bytes / (1 << 20),
		live_counted(st) ? "" : " (count and live bytes at the last flush)");
	fprintf(f, "%-22s %" PRIu64 " passes, %.1f MiB moved\n", "Garbage collection:",
		st->gc_runs, (double)st->gc_bytes_moved / (1 << 20));
	fprintf(f, "%-22s %" PRIu64 "\n", "Checksum failures:", st->checksum_failures);
	if (st->log_damage || st->salvaged_bytes)
		fprintf(f, "%-22s %" PRIu64 " places read past at open (%" PRIu64 " leaf images "
			"lost), %" PRIu64 " bytes dropped\n", "Log damage:", st->log_damage,
			st->lost_leaf_images, st->salvaged_bytes);
}

/* Writes the statistics of fs to f; `live` adds the mount's age. */
static void stats_print(lfs *fs, FILE *f, bool live)
{
	struct lkv_stats st;
	struct timespec t;
	long long inodes = atomic_load(&fs->inodes_used);

	lkv_stats(fs->s, &st);
	fprintf(f, "%-22s %s\n", "Store:", fs->dir);
	if (live) {
		now(&t);
		fprintf(f, "%-22s %lld s\n", "Mounted for:",
			(long long)(t.tv_sec - fs->mounted_at.tv_sec));
	}
	fprintf(f, "%-22s %s\n", "Mode:", fs->ro ? "read-only" : "read-write");
	if (inodes >= 0)
		fprintf(f, "%-22s %lld\n", "Inodes:", inodes);
	fprintf(f, "%-22s %d\n", "Orphans held:", atomic_load(&fs->orphans_held));
	fprintf(f, "%-22s %.1f MiB read, %.1f MiB written\n", "File data:",
		(double)atomic_load(&fs->data_read) / (1 << 20),
		(double)atomic_load(&fs->data_written) / (1 << 20));
	print_engine(f, &st);
	if (live && fs->stats_extra)
		fs->stats_extra(f);
}

int lfs_stats_print(lfs *fs, FILE *f)
{
	stats_print(fs, f, false);
	return ferror(f) ? -EIO : 0;
}

void lfs_stats_extra(lfs *fs, void (*print)(FILE *f))
{
	fs->stats_extra = print;
}

ssize_t lfs_stats_xattr(lfs *fs, void *value, size_t size)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	stats_print(fs, f, true);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	ssize_t ret = (ssize_t)len;
	if (size == 0)
		ret += STATS_SLACK;
	else if (len > size)
		ret = -ERANGE;
	else
		memcpy(value, text, len);
	free(text);
	return ret;
}
