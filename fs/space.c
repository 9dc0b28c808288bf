/* SPDX-License-Identifier: MIT */
/*
 * Keeping the store out of ENOSPC's way.
 *
 * A flush that cannot be written for want of space is kept by the engine
 * and retried (kv/flush.c); meanwhile fsync fails with ENOSPC.  So that
 * this happens only when another program fills the disk, the filesystem
 * never lets its own writes fill the host filesystem so far that a flush
 * cannot be written.  It keeps a reserve of free host space:
 * operations that add data (writes, fallocate, new inodes, links, xattrs)
 * fail with ENOSPC when the host's free space would drop below it, while
 * everything that frees space (unlink, rmdir, truncate, punch) and small
 * changes (rename, chmod) go on.  The reserve covers what the engine may
 * still need to write: twice the dirty-byte limit (back-pressure lets
 * dirty leaves reach that before a writer must flush) plus two blob
 * segments (a GC pass copies up to a segment's worth before it deletes
 * anything, and the segment being appended may be that far from full).
 *
 * On small hosts the engine's file sizes shrink with the host (segments,
 * log files and the dirty limit at most 1/16, 1/32, 1/32 of its size), so
 * that the reserve stays a modest share of the disk.
 *
 * Free space is sampled with statvfs at most every SAMPLE_NS or after
 * SAMPLE_BYTES of accepted data, so the check costs nothing per call; the
 * reserve absorbs what is accepted between samples.  When an operation is
 * refused, lkv_gc_free first gives back the segments that deleted files
 * emptied (it copies nothing, so it needs no room), so deleting makes room
 * at once: one call per GC_GAP_NS (it copies nothing, so it is cheap), or
 * at once when data was freed since the last (space_freed).  The space of
 * an unlinked file comes back when the kernel forgets the inode, usually
 * milliseconds after the unlink (wait_for_forgets).
 */
#include <errno.h>
#include <sys/statvfs.h>
#include <time.h>

#include "internal.h"

#define SAMPLE_NS    (50ull * 1000 * 1000)
#define SAMPLE_BYTES (4ull << 20)
#define GC_GAP_NS    (100ull * 1000 * 1000)
#define FORGET_WAIT_NS (500ull * 1000 * 1000)
#define MIB          (1ull << 20)

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The host filesystem's free bytes for the store; UINT64_MAX when unknown
 * (an I/O layer of a test, or statvfs failing). */
static uint64_t host_free(lfs *fs)
{
	struct statvfs sv;
	if (fs->opt.io || statvfs(fs->dir, &sv))
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void space_tune(lfs *fs, struct lkv_options *ko)
{
	struct statvfs sv;
	if (!fs->opt.io && !statvfs(fs->dir, &sv)) {
		uint64_t size = (uint64_t)sv.f_blocks * sv.f_frsize;
		ko->blob_segment_bytes = clamp(size / 16, MIB, ko->blob_segment_bytes);
		ko->log_file_bytes = clamp(size / 32, MIB, ko->log_file_bytes);
		ko->dirty_bytes = clamp(size / 32, MIB, ko->dirty_bytes);
	}
	fs->reserve = 2 * (uint64_t)ko->dirty_bytes + 2 * ko->blob_segment_bytes;
}

/* Samples the free space; true when `bytes` more fit above the reserve. */
static bool space_fits(lfs *fs, uint64_t bytes)
{
	uint64_t now = mono_ns(), avail = atomic_load(&fs->space_free);
	if (now - atomic_load(&fs->space_at) > SAMPLE_NS ||
	    atomic_load(&fs->space_used) > SAMPLE_BYTES || avail < fs->reserve + bytes) {
		avail = host_free(fs);
		atomic_store(&fs->space_free, avail);
		atomic_store(&fs->space_at, now);
		atomic_store(&fs->space_used, 0);
	}
	return avail == UINT64_MAX || avail >= fs->reserve + bytes;
}

/* An unlinked file's space comes back only when the kernel forgets it,
 * which it sends a moment after the unlink: a writer refused for space
 * waits up to FORGET_WAIT_NS for such files, so that `rm big; write`
 * finds the room. */
static void wait_for_forgets(lfs *fs)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (uint64_t t0 = mono_ns(); atomic_load(&fs->orphans_held) > 0 &&
	     !atomic_load(&fs->space_freed) && mono_ns() - t0 < FORGET_WAIT_NS;)
		nanosleep(&tick, NULL);
}

int space_claim(lfs *fs, uint64_t bytes)
{
	if (!space_fits(fs, bytes)) {
		wait_for_forgets(fs);
		uint64_t now = mono_ns(), last = atomic_load(&fs->space_gc_at);
		bool freed = atomic_exchange(&fs->space_freed, false);
		if ((now - last < GC_GAP_NS && !freed) ||
		    !atomic_compare_exchange_strong(&fs->space_gc_at, &last, now))
			return -ENOSPC;
		int err = lkv_gc_free(fs->s);
		if (err && err != -ENOSPC && err != -EDQUOT)   /* the engine said so */
			lfs_log(fs, LKV_LOG_WARN, "out of space, and GC failed: %s",
				strerror(-err));
		atomic_store(&fs->space_at, 0);
		if (!space_fits(fs, bytes))
			return -ENOSPC;
	}
	atomic_fetch_add(&fs->space_used, bytes);
	return 0;
}

void space_freed(lfs *fs)
{
	atomic_store(&fs->space_freed, true);
}

uint64_t space_reserve(lfs *fs)
{
	return fs->reserve;
}
