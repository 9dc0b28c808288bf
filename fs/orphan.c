/* SPDX-License-Identifier: MIT */
/*
 * Kernel references and orphans: how an unlinked inode lives on while it
 * is open, and how its space comes back.
 *
 * The kernel holds a reference on every inode it has been handed (the FUSE
 * lookup count).  The refs table counts them per inode (inocount.c).  When
 * the last link goes, the operation that
 * dropped it records the inode in the `orphans` tree (key be64 ino, empty
 * value) in the same batch; the inode is reclaimed as soon as no reference
 * remains: at once when unreferenced, else on the forget that drops the
 * last reference, else at unmount, else (after a crash) at the next mount.
 *
 * An O_TMPFILE file is an orphan from birth: lfs_tmpfile makes the inode,
 * with no link, and its orphan record in one batch, so that a crash leaves
 * it to the next mount to reclaim.  Its record's value is one byte 'l'
 * (ORPHAN_LINKABLE) unless it was opened with O_EXCL: linkat may then give
 * it a name (lfs_link), which deletes the record in the same batch.  Any
 * other orphan record's value is empty, and its inode is never named
 * again.  (The kernel refuses such links itself, by I_LINKABLE; the
 * record makes the core's own rule the same.)  Older versions read the
 * records' keys only, so a store keeps working with them either way.
 *
 * Reclaiming deletes the data in batches of RECLAIM_BATCH blocks, so a huge
 * file does not become one huge batch; the last batch deletes the xattrs,
 * the inode and its orphan record (and the record of a collapse or insert
 * it was left in, shift.c).  A crash in between leaves the orphan
 * record, and the next mount finishes the job.
 * Callers of orphan_release hold the inode's lock (asserted).
 *
 * The counts must agree with the caller's: a forget of more references
 * than were counted is a bug, logged and asserted, unless lfs_ref once had
 * no memory to count one (refs_short).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "internal.h"

#define RECLAIM_BATCH 4096

/* ---- the reference table (inocount.c) ---- */

void lfs_ref(lfs *fs, uint64_t ino, uint64_t n)
{
	if (inocounts_add(&fs->refs, ino, n)) {
		atomic_store(&fs->refs_short, true);
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: no memory to count a reference",
			(unsigned long long)ino);
	}
}

uint64_t refs_get(lfs *fs, uint64_t ino)
{
	return inocounts_get(&fs->refs, ino);
}

/* More references were dropped than counted: the caller's count and ours
 * disagree, a bug, unless lfs_ref once had no memory to count one. */
static void ref_underflow(lfs *fs, uint64_t ino, uint64_t counted, uint64_t n)
{
	lfs_log(fs, LKV_LOG_ERR, "inode %llu: %llu references forgotten, but %llu counted",
		(unsigned long long)ino, (unsigned long long)n,
		(unsigned long long)counted);
	LFS_ASSERT(atomic_load(&fs->refs_short));
}

/* Drops n references; true when none remain. */
static bool ref_drop(lfs *fs, uint64_t ino, uint64_t n)
{
	uint64_t counted = inocounts_drop(&fs->refs, ino, n);
	if (counted < n)
		ref_underflow(fs, ino, counted, n);
	return counted <= n;
}

void lfs_forget(lfs *fs, uint64_t ino, uint64_t n)
{
	ino_lock(fs, ino);
	if (ref_drop(fs, ino, n) && !fs->ro) {
		int err = orphan_release(fs, ino);
		if (err)
			lfs_log(fs, LKV_LOG_ERR, "inode %llu: reclaim failed: %s (retried at mount)",
				(unsigned long long)ino, strerror(-err));
	}
	ino_unlock(fs, ino);
}

/* ---- orphans ---- */

int orphan_add(lfs *fs, lkv_batch *b, uint64_t ino)
{
	uint8_t k[INO_KEY_LEN];
	ino_key(k, ino);
	return lkv_batch_put(b, fs->t_orphans, k, sizeof(k), "", 0);
}

int orphan_add_tmpfile(lfs *fs, lkv_batch *b, uint64_t ino, bool linkable)
{
	static const uint8_t mark = ORPHAN_LINKABLE;
	uint8_t k[INO_KEY_LEN];
	ino_key(k, ino);
	return lkv_batch_put(b, fs->t_orphans, k, sizeof(k), &mark, linkable);
}

int orphan_name(lfs *fs, lkv_batch *b, uint64_t ino)
{
	LFS_ASSERT(ino_locked(fs, ino));
	uint8_t k[INO_KEY_LEN], v[2];
	size_t vl;
	ino_key(k, ino);
	int err = lkv_get(fs->t_orphans, k, sizeof(k), v, sizeof(v), &vl);
	if (err)
		return err;
	if (vl != 1 || v[0] != ORPHAN_LINKABLE)
		return -ENOENT;
	return lkv_batch_delete(b, fs->t_orphans, k, sizeof(k));
}

void orphans_held_add(lfs *fs)
{
	atomic_fetch_add(&fs->orphans_held, 1);     /* space.c waits for these */
}

void orphans_held_drop(lfs *fs)
{
	int held = atomic_load(&fs->orphans_held);
	while (held > 0 && !atomic_compare_exchange_weak(&fs->orphans_held, &held, held - 1))
		;
}

/* Deletes everything of an unlinked inode, in bounded batches. */
static int reclaim(lfs *fs, uint64_t ino)
{
	LFS_ASSERT(ino_locked(fs, ino));
	lkv_batch *b = lkv_batch_new(fs->s);
	if (!b)
		return -ENOMEM;
	int n = 0, err = 0;
	while ((n = extent_drop(fs->t_extents, b, ino, RECLAIM_BATCH)) >= RECLAIM_BATCH &&
	       !(err = lkv_batch_commit(b, NULL)))
		;
	if (n < 0)
		err = n;
	uint8_t k[INO_KEY_LEN];
	ino_key(k, ino);
	if (!err)
		err = xattr_drop(fs->t_xattrs, b, ino);
	if (!err)
		err = lkv_batch_delete(b, fs->t_inodes, k, sizeof(k));
	if (!err)
		err = lkv_batch_delete(b, fs->t_orphans, k, sizeof(k));
	uint8_t sk[SHIFT_KEY_LEN];   /* a shift it was left in goes too (shift.c) */
	shift_key(sk, ino);
	if (!err)
		err = lkv_batch_delete(b, fs->t_orphans, sk, sizeof(sk));
	if (!err)
		err = lkv_batch_commit(b, NULL);
	lkv_batch_free(b);
	if (!err) {
		orphans_held_drop(fs);
		space_freed(fs);
	}
	return err;
}

int orphan_release(lfs *fs, uint64_t ino)
{
	LFS_ASSERT(ino_locked(fs, ino));
	if (refs_get(fs, ino)) {
		orphans_held_add(fs);
		return 0;
	}
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err == -ENOENT ? 0 : err;
	return in.nlink ? 0 : reclaim(fs, ino);
}

/* Collects the orphan records' inode numbers. */
static int orphan_list(lfs *fs, uint64_t **out, size_t *n)
{
	lkv_iter *it;
	int err = lkv_iter_open(fs->t_orphans, NULL, 0, NULL, 0, 0, &it);
	if (err)
		return err;
	uint64_t *v = NULL;
	size_t cap = 0;
	const void *k;
	size_t kl, vl;
	*n = 0;
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
		if (kl != INO_KEY_LEN)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[(*n)++] = ino_key_get(k);
	}
	lkv_iter_close(it);
	if (err == -EIO && *n) {       /* reclaim what was read; the rest waits */
		lfs_log(fs, LKV_LOG_ERR, "the orphans tree cannot be read past inode %" PRIu64
			": unlinked files held open before a crash are not all reclaimed; run "
			"fsck.larchfs", v[*n - 1]);
		err = 0;
	}
	if (err < 0) {
		free(v);
		return err;
	}
	*out = v;
	return 0;
}

/* Reclaims every orphan whose inode has no link left (a stale record of
 * a linked inode goes too); with unheld, only those the kernel holds no
 * reference to.  Damage (-EIO) is no reason to refuse a mount: what cannot
 * be read is logged and left to fsck (it costs only the space of files
 * that were unlinked while open). */
static int reclaim_orphans(lfs *fs, bool unheld)
{
	uint64_t *v = NULL;
	size_t n = 0;
	int err = orphan_list(fs, &v, &n);
	if (err == -EIO) {
		lfs_log(fs, LKV_LOG_ERR, "the orphans tree cannot be read: unlinked files "
			"held open before a crash are not reclaimed; run fsck.larchfs");
		return 0;
	}
	for (size_t i = 0; i < n && !err; i++) {
		struct inode in;
		ino_lock(fs, v[i]);
		if (unheld && refs_get(fs, v[i])) {
			ino_unlock(fs, v[i]);
			continue;
		}
		err = inode_get(fs, v[i], &in);
		if (err == -ENOENT || (!err && in.nlink == 0)) {
			err = reclaim(fs, v[i]);
		} else if (!err) {
			uint8_t k[INO_KEY_LEN];
			ino_key(k, v[i]);
			err = lkv_delete(fs->t_orphans, k, sizeof(k), NULL);
		}
		if (err == -EIO) {
			lfs_log(fs, LKV_LOG_ERR, "orphan inode %" PRIu64 " cannot be reclaimed "
				"(damage); run fsck.larchfs", v[i]);
			err = 0;
		}
		ino_unlock(fs, v[i]);
	}
	free(v);
	return err;
}

/* At mount and unmount no kernel reference counts. */
int orphan_reclaim_all(lfs *fs)
{
	return reclaim_orphans(fs, false);
}

/* After a read-only spell (lfs_remount), during which forgets could not
 * reclaim what they let go of. */
int orphan_reclaim_unheld(lfs *fs)
{
	return reclaim_orphans(fs, true);
}
