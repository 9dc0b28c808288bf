/* SPDX-License-Identifier: MIT */
/*
 * Transactions: an operation's changes to a few inodes as one atomic
 * batch, made under those inodes' locks.
 *
 *   txn_begin   a new batch (-EROFS on a read-only mount)
 *   txn_add     each inode the operation changes, before txn_lock: at
 *               most TXN_MAX_INODES (one more is a bug: -E2BIG)
 *   txn_lock    takes their lock stripes in ascending order (locks.c),
 *               so that two transactions never deadlock
 *   ...         reads under the locks, changes into t->b
 *   txn_commit  commits the batch, with each stripe's data sequence odd
 *               meanwhile, and notes the epoch on each inode (for fsync)
 *   txn_end     unlocks and frees; txn_unlock instead unlocks and forgets
 *               the inodes, for a retry with another set
 *   txn_adopt   instead of txn_lock, when this thread already holds the
 *               stripes (a transaction within another's locks: a shift
 *               finished on the way, shift.c); they stay held at the end
 *
 * A transaction may commit several batches in turn (a long shift does).
 * A struct txn belongs to the thread that began it.  (inode_change, the
 * whole cycle for an operation on one inode, is change.c's.)
 */
#include <errno.h>

#include "internal.h"

int txn_begin(lfs *fs, struct txn *t)
{
	*t = (struct txn){ .fs = fs };
	if (fs->ro)
		return -EROFS;
	t->b = lkv_batch_new(fs->s);
	return t->b ? 0 : -ENOMEM;
}

/* Adds an inode whose change the transaction makes (and whose stripe it
 * locks); duplicates are fine.  One more than TXN_MAX_INODES would be
 * neither locked nor noted for fsync: that is a bug, and -E2BIG. */
int txn_add(struct txn *t, uint64_t ino)
{
	LFS_ASSERT(!t->locked);
	for (unsigned i = 0; i < t->nino; i++)
		if (t->ino[i] == ino)
			return 0;
	LFS_ASSERT(t->nino < TXN_MAX_INODES);
	if (t->nino == TXN_MAX_INODES) {
		lfs_log(t->fs, LKV_LOG_ERR, "inode %llu: a transaction of more than %u inodes",
			(unsigned long long)ino, TXN_MAX_INODES);
		return -E2BIG;
	}
	t->ino[t->nino++] = ino;
	return 0;
}

/* Fills t->stripe with the lock stripes of t's inodes, each once, in
 * ascending order: the order every transaction takes them in. */
static void collect_stripes(struct txn *t)
{
	t->nstripe = 0;
	for (unsigned i = 0; i < t->nino; i++) {
		unsigned s = lock_stripe(t->ino[i]), j = t->nstripe;
		bool dup = false;
		for (unsigned k = 0; k < t->nstripe; k++)
			dup |= t->stripe[k] == s;
		if (dup)
			continue;
		while (j > 0 && t->stripe[j - 1] > s) {   /* insertion sort */
			t->stripe[j] = t->stripe[j - 1];
			j--;
		}
		t->stripe[j] = s;
		t->nstripe++;
	}
}

void txn_lock(struct txn *t)
{
	LFS_ASSERT(!t->locked);
	collect_stripes(t);
	for (unsigned i = 0; i < t->nstripe; i++)
		stripe_lock(t->fs, t->stripe[i]);
	t->locked = true;
}

void txn_adopt(struct txn *t)
{
	LFS_ASSERT(!t->locked);
	collect_stripes(t);
	for (unsigned i = 0; i < t->nstripe; i++)
		LFS_ASSERT(mutex_held(&t->fs->ilock[t->stripe[i]]));
	t->locked = t->adopted = true;
}

int txn_commit(struct txn *t)
{
	LFS_ASSERT(t->locked);
	uint64_t e = 0;
	for (unsigned i = 0; i < t->nstripe; i++)
		data_seq_bump(t->fs, t->stripe[i]);
	int err = lkv_batch_commit(t->b, &e);
	for (unsigned i = 0; i < t->nstripe; i++)
		data_seq_bump(t->fs, t->stripe[i]);
	if (err) {
		lfs_log(t->fs, LKV_LOG_ERR, "commit of a change to inode %llu failed: %s",
			(unsigned long long)(t->nino ? t->ino[0] : 0), strerror(-err));
		return err;
	}
	for (unsigned i = 0; i < t->nino; i++)
		epoch_note(t->fs, t->ino[i], e);
	return 0;
}

/* Unlocks and forgets the inodes, for a retry with another set; the batch
 * is cleared. */
void txn_unlock(struct txn *t)
{
	if (t->locked && !t->adopted)
		for (unsigned i = t->nstripe; i-- > 0;)
			stripe_unlock(t->fs, t->stripe[i]);
	t->locked = t->adopted = false;
	t->nino = 0;
	if (t->b)
		lkv_batch_clear(t->b);
}

void txn_end(struct txn *t)
{
	txn_unlock(t);
	lkv_batch_free(t->b);
	t->b = NULL;
}
