/* SPDX-License-Identifier: MIT */
/*
 * Sub-block writes: a small write into a block that lives in a blob
 * segment is kept beside the block instead of rewriting it.
 *
 * Without them a 4 KiB write into a 64 KiB block read the block, changed
 * it and wrote all 64 KiB to a new blob: 16x the bytes, and a flush that
 * syncs the segment before the log (two device flushes per fsync).  A
 * patch set is an inline value, so the write costs a few KiB of leaf and
 * the flush syncs only the log.
 *
 * Key: the block's extent key (be64 ino, be64 block) followed by the byte
 * 'p'; it sorts right after its block and before the next one, so a scan
 * of an inode's or a range of blocks' keys sees it.  Value, a sequence of
 * entries, little-endian:
 *    0  u32  off: where in the block the bytes go
 *    4  u32  len (>= 1)
 *    8  len bytes
 * Valid (patch_valid): entries in ascending order of off, neither
 * overlapping nor touching, each inside the block's stored length; that
 * base block is stored as a blob (its length is at least blob_threshold).
 * A block's bytes are its stored value with each entry copied over it.
 *
 * Writers (extent.c, under the inode's lock) add a write to the set while
 * it stays small (PATCH_BYTES, PATCH_ENTRIES and below blob_threshold);
 * otherwise they fold: read the block with its patches, apply the write,
 * store the whole block and delete the set in the same batch.  Every
 * change that stores a block deletes its set, so a set always describes
 * the block value it sits beside.
 *
 * Readers take no lock.  They read the set first and the block after: a
 * block never changes without its set being deleted in the same batch, so
 * when there is no set the block alone is a state that existed.  When
 * there is one, the block may have been folded between the two reads;
 * locks.c's data sequence tells, and the reader retries.
 *
 * Stores of format version 1 have no patch sets (patch_enabled).
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

bool patch_enabled(const lfs *fs)
{
	return format_has_patches(fs->info.format_version);
}

/* 0 when v is a valid set for a block of `limit` stored bytes, else -EIO. */
int patch_valid(const uint8_t *v, size_t vl, size_t limit)
{
	size_t pos = 0, end = 0;
	if (vl == 0)
		return -EIO;
	while (pos < vl) {
		if (vl - pos < PATCH_HDR)
			return -EIO;
		size_t off = le32_get(v + pos), len = le32_get(v + pos + 4);
		if (len == 0 || len > vl - pos - PATCH_HDR || off < end + (pos ? 1 : 0) ||
		    off > limit || len > limit - off)
			return -EIO;
		end = off + len;
		pos += PATCH_HDR + len;
	}
	return 0;
}

/* Reads the set of (ino, block) into ps; ps->len is 0 when there is none.
 * A set that is too long or malformed for a block of `limit` bytes is
 * damage: -EIO, logged. */
int patch_load(lfs *fs, uint64_t ino, uint64_t block, size_t limit, struct patchset *ps)
{
	uint8_t k[PATCH_KEY_LEN];
	ps->len = 0;
	if (!patch_enabled(fs))
		return 0;
	patch_key(k, ino, block);
	int err = lkv_get(fs->t_extents, k, sizeof(k), ps->v, sizeof(ps->v), &ps->len);
	if (err == -ENOENT) {
		ps->len = 0;
		return 0;
	}
	if (!err && (ps->len > sizeof(ps->v) || patch_valid(ps->v, ps->len, limit)))
		err = -EIO;
	if (err) {
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: the sub-block writes of block %llu "
			"cannot be read: %s", (unsigned long long)ino,
			(unsigned long long)block, strerror(-err));
		ps->len = 0;
	}
	return err;
}

/* Copies what the set holds of block bytes [o, o + n) into buf, which
 * holds those bytes. */
void patch_apply(const struct patchset *ps, size_t o, uint8_t *buf, size_t n)
{
	for (size_t pos = 0; pos < ps->len;) {
		size_t off = le32_get(ps->v + pos), len = le32_get(ps->v + pos + 4);
		const uint8_t *src = ps->v + pos + PATCH_HDR;
		pos += PATCH_HDR + len;
		size_t lo = off > o ? off : o, hi = off + len < o + n ? off + len : o + n;
		if (lo < hi)
			memcpy(buf + (lo - o), src + (lo - off), hi - lo);
	}
}

/* Appends an entry of len bytes at off to out at `at`; returns where its
 * bytes go (src, when not NULL, is copied there). */
static uint8_t *put_entry(uint8_t *out, size_t *at, size_t off, const uint8_t *src,
			  size_t len)
{
	uint8_t *p = out + *at;
	le32_put(p, (uint32_t)off);
	le32_put(p + 4, (uint32_t)len);
	if (src)
		memcpy(p + PATCH_HDR, src, len);
	*at += PATCH_HDR + len;
	return p + PATCH_HDR;
}

/*
 * Merges a write of n bytes at o into old, giving out (its length in
 * *out_len): entries that overlap or touch [o, o + n) become one entry
 * with the write's bytes on top; the rest are copied.  Returns false when
 * the result would pass the limits, so the caller folds instead.
 */
static bool merge(const struct patchset *old, size_t o, const uint8_t *data, size_t n,
		  size_t max_len, uint8_t *out, size_t *out_len)
{
	size_t lo = o, hi = o + n, entries = 1, bytes = 0;
	for (size_t pos = 0; pos < old->len;) {   /* the merged entry's span */
		size_t off = le32_get(old->v + pos), len = le32_get(old->v + pos + 4);
		pos += PATCH_HDR + len;
		if (off <= hi && off + len >= lo) {
			lo = off < lo ? off : lo;
			hi = off + len > hi ? off + len : hi;
		} else {
			entries++;
			bytes += len;
		}
	}
	bytes += hi - lo;
	if (entries > PATCH_ENTRIES || bytes > PATCH_BYTES ||
	    entries * PATCH_HDR + bytes > max_len)
		return false;
	size_t at = 0, pos = 0;
	bool placed = false;
	while (pos < old->len || !placed) {
		size_t off = SIZE_MAX, len = 0;
		if (pos < old->len) {
			off = le32_get(old->v + pos);
			len = le32_get(old->v + pos + 4);
		}
		if (!placed && off >= lo) {
			/* the merged span is contiguous: each part of it
			 * overlaps or touches the write */
			uint8_t *m = put_entry(out, &at, lo, NULL, hi - lo);
			patch_apply(old, lo, m, hi - lo);
			memcpy(m + (o - lo), data, n);
			placed = true;
		}
		if (pos < old->len && (off + len < lo || off > hi))
			put_entry(out, &at, off, old->v + pos + PATCH_HDR, len);
		pos += PATCH_HDR + len;
	}
	*out_len = at;
	return true;
}

/*
 * Records a write of n bytes at offset o of a block whose stored length
 * is `stored` (the write must lie inside it) as a patch in batch b.
 * Returns 1 when recorded, 0 when the caller must fold the block instead
 * (the block is not a blob, the write is large, or the set is full), or a
 * negative errno.
 */
int patch_add(lfs *fs, lkv_batch *b, uint64_t ino, uint64_t block, size_t stored,
	      size_t o, const uint8_t *data, size_t n)
{
	size_t threshold = fs->info.blob_threshold;
	if (!patch_enabled(fs) || stored < threshold || n > PATCH_BYTES || o + n > stored)
		return 0;
	struct patchset *old = malloc(2 * sizeof(*old)), *neu = old + 1;
	if (!old)
		return -ENOMEM;
	int err = patch_load(fs, ino, block, stored, old);
	if (!err && merge(old, o, data, n, threshold - 1, neu->v, &neu->len)) {
		uint8_t k[PATCH_KEY_LEN];
		patch_key(k, ino, block);
		err = lkv_batch_put(b, fs->t_extents, k, sizeof(k), neu->v, neu->len);
		if (!err)
			err = 1;
	}
	free(old);
	return err;
}

/* Deletes the set of (ino, block) in b, when there is one. */
int patch_drop(lfs *fs, lkv_batch *b, uint64_t ino, uint64_t block)
{
	uint8_t k[PATCH_KEY_LEN];
	size_t len;
	if (!patch_enabled(fs))
		return 0;
	patch_key(k, ino, block);
	int err = lkv_get(fs->t_extents, k, sizeof(k), NULL, 0, &len);
	if (err == -ENOENT)
		return 0;
	return err ? err : lkv_batch_delete(b, fs->t_extents, k, sizeof(k));
}
