/* SPDX-License-Identifier: MIT */
/*
 * Collapsing and inserting ranges of a file: fallocate's
 * FALLOC_FL_COLLAPSE_RANGE (the range goes, what follows it moves down)
 * and FALLOC_FL_INSERT_RANGE (a hole the range's length opens at its
 * offset, what follows moves up).
 *
 * Rules, ext4's with the store's block size (st_blksize) where ext4 has
 * its own: the offset and the length are multiples of the block size,
 * else EINVAL; a collapse must end before the end of the file (else it
 * would be a truncate: EINVAL); an insert must start before it (EINVAL)
 * and not grow the file past the largest size (EFBIG).  lfs_fallocate
 * checks the rest first, as the VFS does (modes, types, the range).
 * Stores older than format version 3 refuse both with EOPNOTSUPP, as ext4
 * does on files without extents.
 *
 * How.  Blocks are the unit (extent.c): block k of a file holds bytes
 * [k * bs, (k + 1) * bs), and a missing block is a hole.  A shift by n
 * blocks gives block k the number k - n (collapse) or k + n (insert), with
 * its sub-block writes (patch.c) beside it as they are: a set describes
 * its block's stored value, which does not change.  Only stored keys
 * move, so holes stay holes, and `stored` does not change but for the
 * blocks a collapse deletes.  The engine cannot rename a key: each moved
 * key is read and stored again (a blob block is written anew; the old copy
 * is garbage for the engine's GC), so a shift costs the bytes stored after
 * its offset, in writes and, until GC, in space (claimed at the start:
 * ENOSPC then, not half-way).
 *
 *   collapse  deletes the blocks of the range, then moves every block
 *             after it down, in ascending order: a block's new number is
 *             in the emptied range or that of a block that has already
 *             moved.  The size shrinks at the end, and every block still
 *             ends within it (extent.c's invariant).
 *   insert    grows the size first, then moves every block from the
 *             offset on up, in descending order: a block's new number is
 *             past the old end or that of a block that has moved.
 *
 * Atomicity and memory.  A batch carries at most SHIFT_KEYS keys and
 * SHIFT_BYTES of inline values (blob values go to their segments as they
 * are put; the batch holds references): that bounds memory, and the
 * leaves a batch pins, whatever the file's size.  A shift that fits in one
 * batch is one batch, like every other operation.  A larger one is a
 * journaled sequence of batches, made under the inode's lock throughout:
 * the first also writes the shift record (below) and sets INODE_SHIFTING
 * on the inode, each moves the record's cursor along with the keys it
 * moves, and the last applies the size, deletes the record and clears the
 * flag.  Every state between batches is a valid file (blocks within its
 * size), only not yet the right one.  A crash in between leaves the record
 * and the flag: the next read-write mount finishes the shift before
 * serving anything (shift_resume_all), so after a crash the shift is whole
 * (it is then as if it ended at the crash) or was never made.  A shift
 * that fails half-way (a block that cannot be read, an I/O error) leaves
 * them too; whoever next takes the inode's lock (inode_change, a reader
 * that sees the flag: inode_get_settled) finishes it first, and gets the
 * error while it cannot be finished: the file never shows a half-moved
 * state.  fsck reports a record it finds; its repair of a damaged block
 * (into a hole) lets the next mount finish the shift.
 *
 * A reader takes no lock: one that read the inode before a long shift
 * began and reads on while it runs may see blocks of both states, as it
 * may across any concurrent write.
 *
 * Shift record: key be64 ino, 's' in the orphans tree (whose own keys are
 * a bare be64 ino: the next mount looks at both); value 32 bytes,
 * little-endian:
 *    0  u8     op: 'c' collapse, 'i' insert
 *    1  u8     phase: 0 deleting the range (collapse only), 1 moving
 *    2  u8[6]  zero
 *    8  u64    first block of the range
 *   16  u64    blocks in the range (at least 1)
 *   24  u64    cursor: deleting, the next block to delete; moving down,
 *              the next block to move; moving up, the lowest block that
 *              has moved (every block at or above it has)
 * Valid (shift_rec_decode, format.h): those ops and phases, zeros, and
 * numbers within the largest file's blocks; the inode is a regular file
 * with INODE_SHIFTING.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define SHIFT_KEYS  4096u           /* keys one batch deletes or moves */
#define SHIFT_BYTES (8u << 20)      /* inline value bytes one batch holds */

/* One batch's work: the record as it moves on, and what the batch holds. */
struct shift {
	struct shift_rec r;
	size_t keys, bytes;
	bool done;
};

static bool batch_full(const struct shift *s)
{
	return s->keys >= SHIFT_KEYS || s->bytes >= SHIFT_BYTES;
}

/* ---- the record ---- */

static int rec_put(lfs *fs, lkv_batch *b, uint64_t ino, const struct shift_rec *r)
{
	uint8_t k[SHIFT_KEY_LEN], v[SHIFT_REC_LEN];
	shift_key(k, ino);
	shift_rec_encode(r, v);
	return lkv_batch_put(b, fs->t_orphans, k, sizeof(k), v, sizeof(v));
}

static int rec_del(lfs *fs, lkv_batch *b, uint64_t ino)
{
	uint8_t k[SHIFT_KEY_LEN];
	shift_key(k, ino);
	return lkv_batch_delete(b, fs->t_orphans, k, sizeof(k));
}

/* -ENOENT when ino has none; -EIO (logged) when it does not decode. */
static int rec_get(lfs *fs, uint64_t ino, struct shift_rec *r)
{
	uint8_t k[SHIFT_KEY_LEN], v[SHIFT_REC_LEN + 1];
	size_t vl;
	shift_key(k, ino);
	int err = lkv_get(fs->t_orphans, k, sizeof(k), v, sizeof(v), &vl);
	if (!err && !shift_rec_decode(v, vl, fs->info.block_size, r)) {
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: a damaged shift record",
			(unsigned long long)ino);
		err = -EIO;
	}
	return err;
}

/* ---- one batch of work ---- */

/* The extents key k (block or patch key) with another block number. */
static void key_renumber(uint8_t *nk, const uint8_t *k, size_t kl, uint64_t block)
{
	memcpy(nk, k, kl);
	be64_put(nk + INO_KEY_LEN, block);
}

/* Deletes the blocks of [cursor, first + count) (each with its patches)
 * into b while the batch has room; at the end of the range the move
 * phase begins. */
static int drop_step(lfs *fs, lkv_batch *b, struct inode *in, struct shift *s)
{
	uint64_t end = s->r.first + s->r.count, last = UINT64_MAX;
	lkv_iter *it;
	int err = extent_iter(fs, in->ino, s->r.cursor, end, 0, &it);
	if (err)
		return err;
	const void *k;
	size_t kl, vl;
	bool full = false;
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		uint64_t block = extent_key_block(k);
		if (block != last && batch_full(s)) {
			s->r.cursor = block;          /* a block goes with its patches */
			full = true;
			break;
		}
		if (!patch_key_is(k, kl))
			in->stored -= vl < in->stored ? vl : in->stored;
		if ((err = lkv_batch_delete(b, fs->t_extents, k, kl)))
			break;
		s->keys++;
		last = block;
	}
	lkv_iter_close(it);
	if (err < 0)
		return err;
	if (!full) {
		s->r.phase = SHIFT_MOVING;
		s->r.cursor = end;
	}
	if (last != UINT64_MAX)
		space_freed(fs);
	return 0;
}

/* Moves the key k (value v) of the block `block` by the shift into b. */
static int move_key(lfs *fs, lkv_batch *b, struct shift *s, const uint8_t *k, size_t kl,
		    const void *v, size_t vl, uint64_t block)
{
	uint8_t nk[PATCH_KEY_LEN];
	uint64_t to = s->r.op == SHIFT_COLLAPSE ? block - s->r.count : block + s->r.count;
	if (kl > sizeof(nk))
		return -EIO;
	key_renumber(nk, k, kl, to);
	int err = lkv_batch_put(b, fs->t_extents, nk, kl, v, vl);
	if (!err)
		err = lkv_batch_delete(b, fs->t_extents, k, kl);
	s->keys++;
	if (vl < fs->info.blob_threshold)
		s->bytes += vl;               /* a blob value is only referenced */
	return err;
}

/* Moves blocks while the batch has room: down from the cursor on
 * (collapse), or up from below the cursor to the range's start (insert:
 * in descending order, where a block's patches come before the block). */
static int move_step(lfs *fs, lkv_batch *b, struct inode *in, struct shift *s)
{
	bool down = s->r.op == SHIFT_COLLAPSE;
	lkv_iter *it;
	int err = down ? extent_iter(fs, in->ino, s->r.cursor, EXTENT_END, 0, &it)
		       : extent_iter(fs, in->ino, s->r.first, s->r.cursor, LKV_REVERSE, &it);
	if (err)
		return err;
	const void *k, *v;
	size_t kl, vl;
	uint64_t last = UINT64_MAX;
	bool full = false;
	while ((err = lkv_iter_next(it, &k, &kl, &v, &vl)) > 0) {
		uint64_t block = extent_key_block(k);
		if (block != last && batch_full(s)) {
			full = true;                  /* a block goes with its patches */
			break;
		}
		if ((err = move_key(fs, b, s, k, kl, v, vl, block)))
			break;
		last = block;
	}
	lkv_iter_close(it);
	if (err < 0) {
		if (err == -EIO && last != UINT64_MAX)
			lfs_log(fs, LKV_LOG_ERR, "inode %llu: a block after block %llu cannot "
				"be read; the shift stops there", (unsigned long long)in->ino,
				(unsigned long long)last);
		return err;
	}
	if (full)
		s->r.cursor = down ? last + 1 : last;
	else
		s->done = true;
	return 0;
}

/* Fills one batch: deletes and moves until the shift is done or the batch
 * has no room left. */
static int shift_fill(lfs *fs, lkv_batch *b, struct inode *in, struct shift *s)
{
	int err = 0;
	while (!err && !s->done && !batch_full(s))
		err = s->r.phase == SHIFT_DROPPING ? drop_step(fs, b, in, s)
						   : move_step(fs, b, in, s);
	return err;
}

/*
 * Runs the shift r of inode in (its stripe held by t, the record written
 * already when journaled) to its end, one batch at a time.  The first
 * batch that does not end it starts the journal.  On an error the batches
 * committed stay, with the record: the shift is finished later.
 */
static int shift_run(lfs *fs, struct txn *t, struct inode *in, struct shift_rec *r,
		     bool journaled)
{
	for (;;) {
		struct shift s = { .r = *r };
		int err = shift_fill(fs, t->b, in, &s);
		if (!err && s.done) {
			if (r->op == SHIFT_COLLAPSE)
				in->size -= r->count * fs->info.block_size;
			in->flags &= ~INODE_SHIFTING;
			inode_touch(in, true, true);
			if (journaled)
				err = rec_del(fs, t->b, in->ino);
		} else if (!err) {
			in->flags |= INODE_SHIFTING;
			journaled = true;
			err = rec_put(fs, t->b, in->ino, &s.r);
		}
		if (!err)
			err = inode_put(fs, t->b, in);
		if (!err)
			err = txn_commit(t);
		if (err) {
			lkv_batch_clear(t->b);
			return err;
		}
		if (s.done)
			return 0;
		*r = s.r;
	}
}

/* ---- starting, finishing ---- */

/* The bytes the keys of ino from block `from` on hold: what a shift
 * writes again. */
static int bytes_from(lfs *fs, uint64_t ino, uint64_t from, uint64_t *out)
{
	lkv_iter *it;
	int err = extent_iter(fs, ino, from, EXTENT_END, 0, &it);
	if (err)
		return err;
	const void *k;
	size_t kl, vl;
	*out = 0;
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0)
		*out += vl;
	lkv_iter_close(it);
	return err < 0 ? err : 0;
}

/* The checks ext4 makes under the inode's lock, and the record of the new
 * shift. */
static int shift_plan(lfs *fs, const struct inode *in, bool insert, uint64_t off,
		      uint64_t len, struct shift_rec *r)
{
	uint64_t bs = fs->info.block_size;
	if (!S_ISREG(in->mode))
		return S_ISDIR(in->mode) ? -EISDIR : -ENODEV;
	if (insert && len > LFS_MAX_FILE - in->size)
		return -EFBIG;
	if (off >= in->size || (!insert && len >= in->size - off))
		return -EINVAL;
	*r = (struct shift_rec){
		.op = insert ? SHIFT_INSERT : SHIFT_COLLAPSE,
		.phase = insert ? SHIFT_MOVING : SHIFT_DROPPING,
		.first = off / bs, .count = len / bs,
		.cursor = insert ? (in->size + bs - 1) / bs : off / bs,
	};
	return 0;
}

int shift_range(lfs *fs, uint64_t ino, bool insert, uint64_t off, uint64_t len)
{
	struct txn t;
	struct inode in;
	struct shift_rec r;
	uint64_t bytes = 0;
	int err = txn_begin(fs, &t);
	if (err)
		return err;
	err = txn_add(&t, ino);
	if (!err) {
		txn_lock(&t);
		err = inode_get(fs, ino, &in);
	}
	if (!err && (in.flags & INODE_SHIFTING))
		err = shift_settle(fs, ino, &in);
	if (!err)
		err = shift_plan(fs, &in, insert, off, len, &r);
	if (!err)
		err = bytes_from(fs, ino, insert ? r.first : r.first + r.count, &bytes);
	if (!err)
		err = space_claim(fs, bytes);
	if (!err) {
		if (insert)
			in.size += len;
		err = shift_run(fs, &t, &in, &r, false);
	}
	txn_end(&t);
	return err;
}

/* Clears a shift flag that has no record (damage; fsck says so too). */
static int unflag(lfs *fs, struct txn *t, struct inode *in)
{
	lfs_log(fs, LKV_LOG_WARN, "inode %llu: marked as being shifted, with no shift "
		"record; unmarking it", (unsigned long long)in->ino);
	in->flags &= ~INODE_SHIFTING;
	int err = inode_put(fs, t->b, in);
	return err ? err : txn_commit(t);
}

/*
 * Finishes the shift inode ino was left in; the caller holds its lock and
 * *in (read under it) gets the inode as it is after.  A read-only mount
 * cannot: -EIO, since the file's data is half-moved.
 */
int shift_settle(lfs *fs, uint64_t ino, struct inode *in)
{
	LFS_ASSERT(ino_locked(fs, ino));
	if (fs->ro) {
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: a collapse or insert was interrupted; "
			"a read-write mount finishes it", (unsigned long long)ino);
		return -EIO;
	}
	struct txn t;
	struct shift_rec r;
	int err = txn_begin(fs, &t);
	if (!err)
		err = txn_add(&t, ino);
	if (err) {
		txn_end(&t);
		return err;
	}
	txn_adopt(&t);
	err = inode_get(fs, ino, in);
	if (!err) {
		err = rec_get(fs, ino, &r);
		if (err == -ENOENT)
			err = (in->flags & INODE_SHIFTING) ? unflag(fs, &t, in) : 0;
		else if (!err && !S_ISREG(in->mode))
			err = -EIO;
		else if (!err)
			err = shift_run(fs, &t, in, &r, true);
	}
	txn_end(&t);
	if (err)
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: an interrupted collapse or insert "
			"cannot be finished: %s", (unsigned long long)ino, strerror(-err));
	return err ? err : inode_get(fs, ino, in);
}

/* inode_get for lock-free readers: an inode left in a shift is finished
 * first (under its lock), or its error returned. */
int inode_get_settled(lfs *fs, uint64_t ino, struct inode *in)
{
	int err = inode_get(fs, ino, in);
	if (err || !(in->flags & INODE_SHIFTING))
		return err;
	ino_lock(fs, ino);
	err = inode_get(fs, ino, in);
	if (!err && (in->flags & INODE_SHIFTING))
		err = shift_settle(fs, ino, in);
	ino_unlock(fs, ino);
	return err;
}

/* The inodes with a shift record, into *v. */
static int shift_list(lfs *fs, uint64_t **v, size_t *n)
{
	lkv_iter *it;
	size_t cap = 0;
	int err = lkv_iter_open(fs->t_orphans, NULL, 0, NULL, 0, 0, &it);
	if (err)
		return err;
	const void *k;
	size_t kl, vl;
	*v = NULL;
	*n = 0;
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		if (!shift_key_is(k, kl))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *nv = realloc(*v, cap * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			*v = nv;
		}
		(*v)[(*n)++] = ino_key_get(k);
	}
	lkv_iter_close(it);
	if (err == -EIO) {         /* finish what was read; the rest waits */
		lfs_log(fs, LKV_LOG_ERR, "the orphans tree cannot be read whole: collapses "
			"and inserts a crash interrupted are not all finished; run "
			"fsck.larchfs");
		err = 0;
	}
	return err < 0 ? err : 0;
}

/*
 * At a read-write mount, after the orphans (whose records go with them):
 * finishes every shift a crash or a failure left.  One that cannot be
 * finished is logged and left (its file then answers with the error), and
 * so are the records of an unreadable part of the orphans tree: damage is
 * no reason to refuse the mount.  Returns only an error of memory.
 */
int shift_resume_all(lfs *fs)
{
	uint64_t *v = NULL;
	size_t n;
	int err = shift_list(fs, &v, &n);
	for (size_t i = 0; i < n && !err; i++) {
		struct inode in;
		ino_lock(fs, v[i]);
		int got = inode_get(fs, v[i], &in);
		if (got == -ENOENT) {      /* a stale record: nothing to finish */
			uint8_t k[SHIFT_KEY_LEN];
			shift_key(k, v[i]);
			if (lkv_delete(fs->t_orphans, k, sizeof(k), NULL))
				lfs_log(fs, LKV_LOG_WARN, "inode %llu: a stale shift record "
					"stays", (unsigned long long)v[i]);
		} else if (!got) {
			shift_settle(fs, v[i], &in);
		}
		ino_unlock(fs, v[i]);
	}
	free(v);
	return err;
}
