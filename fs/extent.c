/* SPDX-License-Identifier: MIT */
/*
 * File data: the `extents` tree maps (be64 ino, be64 block number) to the
 * bytes of that block, block_size (superblock) bytes per block.
 *
 * A block's value holds its first L bytes (1 <= L <= block_size); bytes
 * from L to the block's end read as zeros, and so does a missing block (a
 * hole).  Invariant: no block stores bytes at or beyond the file's size, so
 * growing a file (truncate up, a write past EOF) never exposes old bytes.
 * Small files and the tails of large ones therefore live inline in leaves;
 * a full block is at or above the engine's blob threshold and goes to a
 * blob segment.  inode.stored is the sum of every L (st_blocks).
 * Symlink targets are stored the same way, in block 0.
 *
 * A small write into a blob block is kept beside it as a patch (patch.c)
 * until the block is next stored whole: reads apply a block's patches,
 * and every store of a block deletes them.
 *
 * The calls that change a file's blocks run under its inode's lock, in
 * its transaction; extent_read and extent_seek take no lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Says which file lost which bytes when a block cannot be read (the
 * engine's own message names only the store file and offset); returns err. */
static int extent_failed(lfs *fs, uint64_t ino, uint64_t block, int err)
{
	uint64_t bs = fs->info.block_size;
	lfs_log(fs, LKV_LOG_ERR, "inode %llu: bytes %llu-%llu (block %llu) cannot be read: %s",
		(unsigned long long)ino, (unsigned long long)(block * bs),
		(unsigned long long)((block + 1) * bs - 1), (unsigned long long)block,
		strerror(-err));
	return err;
}

/* The stored length of a block; 0 for a hole. */
static int block_len(lfs *fs, uint64_t ino, uint64_t block, size_t *len)
{
	uint8_t k[EXTENT_KEY_LEN];
	extent_key(k, ino, block);
	int err = lkv_get(fs->t_extents, k, sizeof(k), NULL, 0, len);
	if (err == -ENOENT) {
		*len = 0;
		return 0;
	}
	return err;
}

/* Reads a whole block with its patches into buf (block_size bytes); *len
 * gets its stored length and the rest is zeroed.  The caller holds the
 * inode's lock, so the two reads agree. */
static int block_read(lfs *fs, uint64_t ino, uint64_t block, uint8_t *buf, size_t *len)
{
	LFS_ASSERT(ino_locked(fs, ino));
	uint8_t k[EXTENT_KEY_LEN];
	size_t bs = fs->info.block_size;
	struct patchset *ps = malloc(sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	int err = patch_load(fs, ino, block, bs, ps);
	extent_key(k, ino, block);
	if (!err)
		err = lkv_get(fs->t_extents, k, sizeof(k), buf, bs, len);
	if (err == -ENOENT) {
		*len = 0;
		err = 0;
	} else if (!err && *len > bs) {
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: block %llu holds %zu bytes",
			(unsigned long long)ino, (unsigned long long)block, *len);
		err = -EIO;
	} else if (err) {
		err = extent_failed(fs, ino, block, err);
	}
	if (!err) {
		memset(buf + *len, 0, bs - *len);
		patch_apply(ps, 0, buf, bs);
	}
	free(ps);
	return err;
}

/* Stores the first len bytes of a block (deletes it when len is 0) in
 * place of the block and its patches, and accounts the change against
 * old_len. */
static int block_store(lfs *fs, lkv_batch *b, struct inode *in, uint64_t block,
		       const void *data, size_t len, size_t old_len)
{
	LFS_ASSERT(len <= fs->info.block_size);
	uint8_t k[EXTENT_KEY_LEN];
	int err = old_len >= fs->info.blob_threshold ? patch_drop(fs, b, in->ino, block) : 0;
	if (err)
		return err;
	extent_key(k, in->ino, block);
	in->stored = in->stored - old_len + len;
	if (len == 0)
		return old_len ? lkv_batch_delete(b, fs->t_extents, k, sizeof(k)) : 0;
	return lkv_batch_put(b, fs->t_extents, k, sizeof(k), data, len);
}

/*
 * Reads bytes [o, o + n) of a block with its patches (ps NULL: it has
 * none), without the inode's lock: the patches first, then the block.
 * With no patches the block alone is a state that existed (patch.c); with
 * some, both are read again if the inode's data sequence shows that a
 * commit ran meanwhile, which may have folded them.
 */
static int read_part(lfs *fs, uint64_t ino, uint64_t block, size_t o, uint8_t *buf,
		     size_t n, struct patchset *ps)
{
	uint8_t k[EXTENT_KEY_LEN];
	extent_key(k, ino, block);
	for (;;) {
		unsigned seq = data_seq_read(fs, ino);
		int err = ps ? patch_load(fs, ino, block, fs->info.block_size, ps) : 0;
		if (err)
			return err;
		ssize_t got = lkv_get_range(fs->t_extents, k, sizeof(k), o, buf, n, NULL);
		if (got == -ENOENT)
			got = 0;
		if (got < 0)
			return extent_failed(fs, ino, block, (int)got);
		memset(buf + got, 0, n - (size_t)got);
		if (!ps || !ps->len)
			return 0;
		patch_apply(ps, o, buf, n);
		if (data_seq_stable(fs, ino, seq))
			return 0;
	}
}

ssize_t extent_read(lfs *fs, const struct inode *in, void *buf, size_t len, uint64_t off)
{
	if (off >= in->size)
		return 0;
	if (len > in->size - off)
		len = (size_t)(in->size - off);
	size_t bs = fs->info.block_size, done = 0;
	struct patchset *ps = NULL;
	int err = 0;
	while (done < len && !err) {
		uint64_t pos = off + done, start = pos - pos % bs;
		size_t o = (size_t)(pos % bs), n = bs - o < len - done ? bs - o : len - done;
		/* only a blob block has patches: one that can hold blob_threshold
		 * bytes within the size this read goes by */
		bool maybe = patch_enabled(fs) && in->size - start >= fs->info.blob_threshold;
		if (maybe && !ps && !(ps = malloc(sizeof(*ps))))
			err = -ENOMEM;
		else
			err = read_part(fs, in->ino, pos / bs, o, (uint8_t *)buf + done, n,
					maybe ? ps : NULL);
		done += n;
	}
	free(ps);
	return err ? err : (ssize_t)len;
}

/* Writes n bytes at offset o of one block. */
static int write_block(lfs *fs, lkv_batch *b, struct inode *in, uint64_t block,
		       size_t o, const uint8_t *data, size_t n, uint8_t *tmp)
{
	size_t bs = fs->info.block_size, old_len;
	uint64_t start = block * bs;
	int err;
	if (o == 0 && (n == bs || start + n >= in->size)) {
		/* nothing of the old block survives */
		err = block_len(fs, in->ino, block, &old_len);
		return err ? err : block_store(fs, b, in, block, data, n, old_len);
	}
	err = block_len(fs, in->ino, block, &old_len);
	if (!err)
		err = patch_add(fs, b, in->ino, block, old_len, o, data, n);
	if (err)
		return err < 0 ? err : 0;
	err = block_read(fs, in->ino, block, tmp, &old_len);
	if (err)
		return err;
	memcpy(tmp + o, data, n);
	size_t len = o + n > old_len ? o + n : old_len;
	return block_store(fs, b, in, block, tmp, len, old_len);
}

int extent_write(lfs *fs, lkv_batch *b, struct inode *in, const void *buf,
		 size_t len, uint64_t off)
{
	LFS_ASSERT(ino_locked(fs, in->ino));
	size_t bs = fs->info.block_size, done = 0;
	uint8_t *tmp = malloc(bs);
	if (!tmp)
		return -ENOMEM;
	int err = 0;
	while (done < len && !err) {
		uint64_t pos = off + done;
		size_t o = (size_t)(pos % bs), n = bs - o < len - done ? bs - o : len - done;
		err = write_block(fs, b, in, pos / bs, o, (const uint8_t *)buf + done, n, tmp);
		done += n;
	}
	free(tmp);
	if (!err && off + len > in->size)
		in->size = off + len;
	return err;
}

int extent_iter(lfs *fs, uint64_t ino, uint64_t from, uint64_t to, unsigned flags,
		lkv_iter **it)
{
	uint8_t lo[EXTENT_KEY_LEN], hi[EXTENT_KEY_LEN];
	extent_key(lo, ino, from);
	if (to != EXTENT_END)
		extent_key(hi, ino, to);
	else
		ino_key(hi, ino + 1);
	return lkv_iter_open(fs->t_extents, lo, sizeof(lo), hi,
			     to != EXTENT_END ? EXTENT_KEY_LEN : INO_KEY_LEN, flags, it);
}

/* Deletes every stored block in [first, last) (last 0: to the end). */
static int drop_blocks(lfs *fs, lkv_batch *b, struct inode *in, uint64_t first,
		       uint64_t last)
{
	lkv_iter *it;
	int err = extent_iter(fs, in->ino, first, last ? last : EXTENT_END, 0, &it);
	if (err)
		return err;
	const void *k;
	size_t kl, vl;
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		if (!patch_key_is(k, kl))
			in->stored -= vl < in->stored ? vl : in->stored;
		err = lkv_batch_delete(b, fs->t_extents, k, kl);
		if (err)
			break;
	}
	lkv_iter_close(it);
	return err < 0 ? err : 0;
}

/* Zeroes bytes [o, end) of one block as far as they are stored. */
static int zero_in_block(lfs *fs, lkv_batch *b, struct inode *in, uint64_t block,
			 size_t o, size_t end)
{
	size_t bs = fs->info.block_size, old_len;
	uint8_t *tmp = malloc(bs);
	if (!tmp)
		return -ENOMEM;
	int err = block_read(fs, in->ino, block, tmp, &old_len);
	if (!err && old_len > o) {
		size_t len = old_len;
		if (end >= old_len)
			len = o;        /* the stored tail goes */
		else
			memset(tmp + o, 0, end - o);
		err = block_store(fs, b, in, block, tmp, len, old_len);
	}
	free(tmp);
	return err;
}

int extent_truncate(lfs *fs, lkv_batch *b, struct inode *in, uint64_t size)
{
	LFS_ASSERT(ino_locked(fs, in->ino));
	size_t bs = fs->info.block_size;
	if (size < in->size) {
		int err = drop_blocks(fs, b, in, (size + bs - 1) / bs, 0);
		if (!err && size % bs)
			err = zero_in_block(fs, b, in, size / bs, size % bs, bs);
		if (err)
			return err;
	}
	in->size = size;
	return 0;
}

int extent_zero(lfs *fs, lkv_batch *b, struct inode *in, uint64_t off, uint64_t len)
{
	LFS_ASSERT(ino_locked(fs, in->ino));
	if (off >= in->size || len == 0)
		return 0;
	uint64_t end = len > in->size - off ? in->size : off + len;
	size_t bs = fs->info.block_size;
	uint64_t first = off / bs, last = (end - 1) / bs;
	size_t o = (size_t)(off % bs), e = (size_t)((end - 1) % bs) + 1;
	if (first == last)
		return zero_in_block(fs, b, in, first, o, e);
	int err = zero_in_block(fs, b, in, first, o, bs);
	if (!err && last > first + 1)
		err = drop_blocks(fs, b, in, first + 1, last);
	if (!err)
		err = zero_in_block(fs, b, in, last, 0, e);
	return err;
}

/* fallocate: stores zeros wherever [off, end) is a hole, so that the range
 * counts as data and in st_blocks.  end must not pass the file size. */
int extent_fill(lfs *fs, lkv_batch *b, struct inode *in, uint64_t off, uint64_t end)
{
	LFS_ASSERT(ino_locked(fs, in->ino) && end <= in->size);
	size_t bs = fs->info.block_size;
	uint8_t *tmp = malloc(bs);
	if (!tmp)
		return -ENOMEM;
	int err = 0;
	for (uint64_t block = off / bs; block * bs < end && !err; block++) {
		size_t want = end - block * bs < bs ? (size_t)(end - block * bs) : bs, old_len;
		err = block_read(fs, in->ino, block, tmp, &old_len);
		if (!err && old_len < want)
			err = block_store(fs, b, in, block, tmp, want, old_len);
	}
	free(tmp);
	return err;
}

/*
 * SEEK_DATA / SEEK_HOLE from off (< size).  Data is what blocks store:
 * [start, start + L) of each block.  The end of the file counts as a hole.
 */
int extent_seek(lfs *fs, const struct inode *in, uint64_t off, bool data, uint64_t *out)
{
	size_t bs = fs->info.block_size;
	lkv_iter *it;
	int err = extent_iter(fs, in->ino, off / bs, EXTENT_END, 0, &it);
	if (err)
		return err;
	uint64_t pos = off;
	const void *k;
	size_t kl, vl;
	bool found = false;
	while (!found && (err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		if (kl != EXTENT_KEY_LEN)
			continue;       /* patches; a damaged key names no block (fsck's) */
		uint64_t start = extent_key_block(k) * bs, stop = start + vl;
		if (data) {
			if (stop > pos) {
				*out = start > pos ? start : pos;
				found = true;
			}
		} else if (start > pos || stop <= pos) {
			*out = pos;     /* pos lies in a hole before this block */
			found = true;
		} else if (vl < bs) {
			*out = stop;
			found = true;
		} else {
			pos = stop;
		}
	}
	lkv_iter_close(it);
	if (err < 0)
		return err;
	if (!found) {
		if (data)
			return -ENXIO;
		*out = pos;
	}
	if (*out >= in->size) {
		if (data)
			return -ENXIO;
		*out = in->size;
	}
	return 0;
}

int extent_drop(lkv_tree *t, lkv_batch *b, uint64_t ino, int max)
{
	uint8_t lo[INO_KEY_LEN], hi[INO_KEY_LEN];
	ino_key(lo, ino);
	ino_key(hi, ino + 1);
	lkv_iter *it;
	int err = lkv_iter_open(t, lo, sizeof(lo), hi, sizeof(hi), 0, &it);
	if (err)
		return err;
	const void *k;
	size_t kl, vl;
	int n = 0;
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		if (n >= max && !patch_key_is(k, kl))
			break;          /* a block goes with its patches */
		err = lkv_batch_delete(b, t, k, kl);
		if (err)
			break;
		n++;
	}
	lkv_iter_close(it);
	return err < 0 ? err : n;
}
