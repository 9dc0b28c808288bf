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
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

	fprintf(f, "%-22s %.1f of %.1f MiB (peak %.1f), ", "Cache:",
		(double)st->cache_bytes / (1 << 20), (double)st->cache_budget / (1 << 20),
		(double)st->cache_peak / (1 << 20));
	if (lookups)
		fprintf(f, "%.2f%% hit rate", 100.0 * ratio(st->cache_hits, lookups));
	else
		fprintf(f, "hit rate n/a (no lookups yet)");
	fprintf(f, " (%" PRIu64 " hits, %" PRIu64 " misses)\n", st->cache_hits,
		st->cache_misses);
	fprintf(f, "%-22s %" PRIu64 " (%" PRIu64 " resident)\n", "Leaves:", st->leaves,
		st->resident_leaves);
	fprintf(f, "%-22s %" PRIu64 " delta records held; %" PRIu64 " deltas written, %" PRIu64
		" read, %" PRIu64 " consolidations\n", "Leaf chains:", st->chain_links,
		st->deltas_written, st->deltas_read, st->consolidations);
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

/* ---- memory, of a mounted filesystem's daemon ----
 *
 * Where the daemon's memory is: the engine's cache (within its budget),
 * its index and location table (fixed per leaf), the table of inodes the
 * kernel holds (at most 64 bytes each, inocount.c), and what malloc holds
 * beside what is in use.  The README's "Memory" section gives the bound
 * these add up to.
 */
struct memory {
	struct lkv_memory kv;
	uint64_t kernel_inodes, kernel_table;
	uint64_t rss;                       /* 0 if /proc cannot say */
	uint64_t heap_used, heap_free;      /* malloc: in use; held but free */
};

static void memory_of(lfs *fs, struct memory *m)
{
	memset(m, 0, sizeof(*m));
	lkv_memory(fs->s, &m->kv);
	inocounts_size(&fs->refs, &m->kernel_inodes, &m->kernel_table);
	struct mallinfo2 mi = mallinfo2();
	m->heap_used = mi.uordblks + mi.hblkhd;
	m->heap_free = mi.fordblks;
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long pages, resident;
	if (f && fscanf(f, "%llu %llu", &pages, &resident) == 2)
		m->rss = resident * (uint64_t)sysconf(_SC_PAGESIZE);
	if (f)
		fclose(f);
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1 << 20);
}

static void print_memory(lfs *fs, FILE *f)
{
	struct memory m;
	memory_of(fs, &m);
	fprintf(f, "%-22s %.1f MiB resident; malloc: %.1f MiB in use, %.1f MiB free but held\n",
		"Memory:", mib(m.rss), mib(m.heap_used), mib(m.heap_free));
	fprintf(f, "%-22s cache %.1f MiB, index %.1f MiB (%" PRIu64 " leaves), "
		"location table %.1f MiB\n", "Memory, engine:", mib(m.kv.cache), mib(m.kv.index),
		m.kv.leaves, mib(m.kv.loctable));
	fprintf(f, "%-22s %" PRIu64 " held, %.1f MiB (%.0f bytes each)\n", "Kernel inodes:",
		m.kernel_inodes, mib(m.kernel_table),
		ratio(m.kernel_table, m.kernel_inodes));
}

/* Writes the statistics of fs to f; `live` adds the mount's age. */
static void stats_print(lfs *fs, FILE *f, bool live)
{
	struct lkv_stats st;
	struct timespec t;
	uint64_t inodes = lkv_tree_count(fs->t_inodes);

	lkv_stats(fs->s, &st);
	fprintf(f, "%-22s %s\n", "Store:", fs->dir);
	if (live) {
		now(&t);
		fprintf(f, "%-22s %lld s\n", "Mounted for:",
			(long long)(t.tv_sec - fs->mounted_at.tv_sec));
	}
	fprintf(f, "%-22s %s\n", "Mode:", fs->ro ? "read-only" : "read-write");
	fprintf(f, "%-22s %" PRIu64 "\n", "Inodes:", inodes);
	fprintf(f, "%-22s %d\n", "Orphans held:", atomic_load(&fs->orphans_held));
	fprintf(f, "%-22s %.1f MiB read, %.1f MiB written\n", "File data:",
		(double)atomic_load(&fs->data_read) / (1 << 20),
		(double)atomic_load(&fs->data_written) / (1 << 20));
	print_engine(f, &st);
	if (live)
		print_memory(fs, f);
	if (live && fs->stats_extra)
		fs->stats_extra(f);
}

/* ---- the metrics, for programs ---- */

/*
 * LFS_METRICS_XATTR serves the same figures as numbers, in Prometheus's
 * text exposition format (version 0.0.4), which larchfs-stat turns into
 * JSON, rates (-w) or a file for node_exporter: for each metric a
 * "# HELP" and a "# TYPE" line, then its samples.  Names start with
 * larchfs_ (larchfs_engine_ for the engine's), carry their unit (_bytes,
 * _seconds) and end in _total for counters; values are exact decimal
 * integers, seconds with nine decimals.  A figure that is not true at the
 * moment (space amplification with changes not yet flushed, the inode
 * count before it is known) is left out rather than wrong.  The daemon
 * appends its own (lfs_stats_extra: the FUSE requests).
 */

enum metric_unit { AS_IS, NS_AS_SECONDS };

struct engine_metric {
	const char *name;            /* after "larchfs_engine_" */
	bool counter;                /* else a gauge */
	size_t off;                  /* of a uint64_t in struct lkv_stats */
	enum metric_unit unit;
	const char *help;
};

#define C true
#define G false
#define ST(field) offsetof(struct lkv_stats, field)
static const struct engine_metric engine_metrics[] = {
	{ "cache_hits_total", C, ST(cache_hits), AS_IS, "Leaf lookups answered from the cache." },
	{ "cache_misses_total", C, ST(cache_misses), AS_IS,
	  "Leaf lookups that read the leaf from disk." },
	{ "bloom_skips_total", C, ST(bloom_skips), AS_IS,
	  "Lookups of absent keys answered by a bloom filter, without reading." },
	{ "leaves_read_total", C, ST(leaves_read), AS_IS, "Leaves read from disk." },
	{ "leaves_written_total", C, ST(leaves_written), AS_IS, "Leaves written by flushes." },
	{ "deltas_written_total", C, ST(deltas_written), AS_IS,
	  "Of the leaves written, those written as a delta of their chain." },
	{ "deltas_read_total", C, ST(deltas_read), AS_IS,
	  "Delta records read to page leaves in." },
	{ "consolidations_total", C, ST(consolidations), AS_IS,
	  "Full leaf images written to end a chain of deltas." },
	{ "chain_links", G, ST(chain_links), AS_IS,
	  "Delta records the leaves' chains hold, as of the last flush." },
	{ "evictions_total", C, ST(evictions), AS_IS, "Clean leaves evicted from the cache." },
	{ "read_bytes_total", C, ST(bytes_read), AS_IS,
	  "Bytes the engine read from the store's files." },
	{ "written_bytes_total", C, ST(bytes_written), AS_IS,
	  "Bytes the engine wrote to the store's files (leaves, blobs, commits, snapshots)." },
	{ "leaf_raw_written_bytes_total", C, ST(raw_bytes_written), AS_IS,
	  "Leaf bytes written, before compression." },
	{ "blob_written_bytes_total", C, ST(blob_bytes_written), AS_IS,
	  "Bytes written to blob segments." },
	{ "blob_raw_written_bytes_total", C, ST(blob_raw_bytes_written), AS_IS,
	  "Blob values written, before compression." },
	{ "blob_read_bytes_total", C, ST(blob_bytes_read), AS_IS,
	  "Bytes of blob values read." },
	{ "flushes_total", C, ST(flushes), AS_IS,
	  "Flushes (group commits) that made an epoch durable." },
	{ "flush_seconds_total", C, ST(flush_ns_total), NS_AS_SECONDS,
	  "Time those flushes took, in all." },
	{ "flush_max_seconds", G, ST(flush_ns_max), NS_AS_SECONDS,
	  "The longest of those flushes." },
	{ "flush_failures_total", C, ST(flush_errors), AS_IS,
	  "Flushes that failed for want of space and were kept for a retry." },
	{ "snapshots_total", C, ST(snapshots), AS_IS, "Snapshots of the location table written." },
	{ "snapshots_full_total", C, ST(snapshots_full), AS_IS,
	  "Of the snapshots written, those of the whole table (the rest are deltas)." },
	{ "snapshot_written_bytes_total", C, ST(snapshot_bytes_written), AS_IS,
	  "Bytes of snapshots written (part of written_bytes_total)." },
	{ "checksum_failures_total", C, ST(checksum_failures), AS_IS,
	  "Reads that failed because what was read did not match its checksum." },
	{ "gc_runs_total", C, ST(gc_runs), AS_IS, "Garbage collection passes." },
	{ "gc_moved_bytes_total", C, ST(gc_bytes_moved), AS_IS,
	  "Live bytes that garbage collection copied." },
	{ "cache_bytes", G, ST(cache_bytes), AS_IS, "Bytes of leaves in the cache." },
	{ "cache_budget_bytes", G, ST(cache_budget), AS_IS, "The cache's size." },
	{ "cache_peak_bytes", G, ST(cache_peak), AS_IS,
	  "The most bytes of leaves the cache has held since the mount." },
	{ "dirty_bytes", G, ST(dirty_bytes), AS_IS, "Bytes of leaves changed and not yet flushed." },
	{ "leaves", G, ST(leaves), AS_IS, "Leaves in the store." },
	{ "resident_leaves", G, ST(resident_leaves), AS_IS, "Leaves in the cache." },
	{ "epoch", G, ST(epoch), AS_IS, "The epoch changes are stamped with now." },
	{ "durable_epoch", G, ST(durable_epoch), AS_IS, "The last epoch made durable." },
	{ "disk_bytes", G, ST(disk_bytes), AS_IS,
	  "Bytes of the store's files on disk (logs, segments, snapshots)." },
	{ "live_bytes", G, ST(live_bytes), AS_IS,
	  "Bytes of records still referenced, counted when changes are flushed." },
	{ "blob_live_bytes", G, ST(blob_live_bytes), AS_IS,
	  "Bytes of blobs still referenced, counted when changes are flushed." },
	{ "blob_disk_bytes", G, ST(blob_disk_bytes), AS_IS, "Bytes of blob segments on disk." },
	{ "blob_segments", G, ST(segments), AS_IS,
	  "Blob segment files, counted when changes are flushed." },
	{ "log_damage", G, ST(log_damage), AS_IS,
	  "Damaged places in the log that the open read past." },
	{ "lost_leaf_images", G, ST(lost_leaf_images), AS_IS,
	  "Leaf images lost in that damage (their leaves read as EIO)." },
	{ "salvaged_bytes", G, ST(salvaged_bytes), AS_IS,
	  "Log bytes dropped by a salvaging open." },
};
#undef C
#undef G
#undef ST

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric_u64(FILE *f, const char *name, const char *type, const char *help,
		       uint64_t v)
{
	metric_head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

void lfs_metrics_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void print_engine_metrics(FILE *f, const struct lkv_stats *st)
{
	char name[96];

	for (size_t i = 0; i < sizeof(engine_metrics) / sizeof(engine_metrics[0]); i++) {
		const struct engine_metric *m = &engine_metrics[i];
		uint64_t v;

		memcpy(&v, (const char *)st + m->off, sizeof(v));
		snprintf(name, sizeof(name), "larchfs_engine_%s", m->name);
		metric_head(f, name, m->counter ? "counter" : "gauge", m->help);
		if (m->unit == NS_AS_SECONDS)
			fprintf(f, "%s %" PRIu64 ".%09" PRIu64 "\n", name, v / 1000000000u,
				v % 1000000000u);
		else
			fprintf(f, "%s %" PRIu64 "\n", name, v);
	}
	metric_u64(f, "larchfs_engine_flush_failing", "gauge",
		   "1 while flushes fail for want of space (they are retried), else 0.",
		   st->flush_stalled != 0);
	if (live_counted(st) && st->live_bytes) {
		metric_head(f, "larchfs_engine_space_amplification_ratio", "gauge",
			    "Disk bytes over live bytes; absent while changes wait for a flush.");
		fprintf(f, "larchfs_engine_space_amplification_ratio %.4f\n",
			ratio(st->disk_bytes, st->live_bytes));
	}
}

static void memory_metrics(lfs *fs, FILE *f)
{
	struct memory m;
	memory_of(fs, &m);
	if (m.rss)
		metric_u64(f, "larchfs_resident_bytes", "gauge",
			   "The daemon's resident memory.", m.rss);
	metric_u64(f, "larchfs_heap_used_bytes", "gauge", "Bytes malloc has handed out.",
		   m.heap_used);
	metric_u64(f, "larchfs_heap_free_bytes", "gauge",
		   "Bytes malloc holds that are free (fragmentation, arenas).", m.heap_free);
	metric_u64(f, "larchfs_engine_index_bytes", "gauge",
		   "The engine's index of leaves: structs, low keys, bloom filters.", m.kv.index);
	metric_u64(f, "larchfs_engine_loctable_bytes", "gauge",
		   "The engine's location table.", m.kv.loctable);
	metric_u64(f, "larchfs_kernel_inodes", "gauge",
		   "Inodes the kernel holds a lookup reference to.", m.kernel_inodes);
	metric_u64(f, "larchfs_kernel_inodes_bytes", "gauge",
		   "Bytes of the table of inodes the kernel holds.", m.kernel_table);
}

/* Writes the metrics of fs to f; `live` adds the mount's and the daemon's. */
static void metrics_print(lfs *fs, FILE *f, bool live)
{
	struct lkv_stats st;
	uint64_t inodes = lkv_tree_count(fs->t_inodes);

	lkv_stats(fs->s, &st);
	metric_head(f, "larchfs_store_info", "gauge", "The store, as a label; always 1.");
	fputs("larchfs_store_info{store=\"", f);
	lfs_metrics_label(f, fs->dir);
	fputs("\"} 1\n", f);
	if (live) {
		metric_head(f, "larchfs_mount_time_seconds", "gauge",
			    "When the store was mounted, in seconds since the epoch.");
		fprintf(f, "larchfs_mount_time_seconds %lld.%09ld\n",
			(long long)fs->mounted_at.tv_sec, fs->mounted_at.tv_nsec);
	}
	metric_u64(f, "larchfs_read_only", "gauge", "1 for a read-only mount, else 0.", fs->ro);
	metric_u64(f, "larchfs_inodes", "gauge", "Inodes in use.", inodes);
	metric_u64(f, "larchfs_orphans_held", "gauge",
		   "Unlinked files still open, kept until they are let go.",
		   (uint64_t)atomic_load(&fs->orphans_held));
	metric_u64(f, "larchfs_read_bytes_total", "counter",
		   "File bytes read (read requests and copy_file_range).",
		   atomic_load(&fs->data_read));
	metric_u64(f, "larchfs_written_bytes_total", "counter",
		   "File bytes written (write requests and copy_file_range).",
		   atomic_load(&fs->data_written));
	print_engine_metrics(f, &st);
	if (live)
		memory_metrics(fs, f);
	if (live && fs->metrics_extra)
		fs->metrics_extra(f);
}

/* ---- the ways out: the tools' file, the virtual xattrs ---- */

int lfs_stats_print(lfs *fs, FILE *f)
{
	stats_print(fs, f, false);
	return ferror(f) ? -EIO : 0;
}

int lfs_metrics_print(lfs *fs, FILE *f)
{
	metrics_print(fs, f, false);
	return ferror(f) ? -EIO : 0;
}

void lfs_stats_extra(lfs *fs, void (*text)(FILE *f), void (*metrics)(FILE *f))
{
	fs->stats_extra = text;
	fs->metrics_extra = metrics;
}

/* What print writes about fs, with lfs_getxattr's size convention. */
static ssize_t serve_text(lfs *fs, void (*print)(lfs *fs, FILE *f, bool live), void *value,
			  size_t size)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	print(fs, f, true);
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

ssize_t lfs_stats_xattr(lfs *fs, void *value, size_t size)
{
	return serve_text(fs, stats_print, value, size);
}

ssize_t lfs_metrics_xattr(lfs *fs, void *value, size_t size)
{
	return serve_text(fs, metrics_print, value, size);
}
