/* SPDX-License-Identifier: MIT */
/*
 * Inode locks, transactions and the epoch of each inode's last change.
 *
 * Inode locks are a fixed array of mutexes indexed by a hash of the inode
 * number.  An operation takes the stripes of every inode it changes in
 * ascending stripe order, so two operations never deadlock; two inodes that
 * share a stripe share the lock, which is harmless.
 *
 * fsync needs the epoch of an inode's last change.  Keeping it per inode
 * would need a table that grows with the inodes ever changed; instead a
 * fixed array of stripes holds the newest epoch of any inode hashed to it.
 * An fsync may therefore flush a little more than it had to, never less.
 *
 * Each lock stripe also has a data sequence, odd while a transaction
 * holding that stripe commits.  A lock-free reader that needs two reads of
 * one inode to agree (a block and its sub-block writes, patch.c) takes the
 * sequence before and compares it after.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "internal.h"

static unsigned hash_ino(uint64_t ino)
{
	ino *= 0x9e3779b97f4a7c15ull;
	return (unsigned)(ino >> 32);
}

static unsigned lock_stripe(uint64_t ino)
{
	return hash_ino(ino) % LOCK_STRIPES;
}

void locks_init(lfs *fs)
{
	for (unsigned i = 0; i < LOCK_STRIPES; i++)
		pthread_mutex_init(&fs->ilock[i], NULL);
	pthread_mutex_init(&fs->rename_mu, NULL);
	for (unsigned i = 0; i < EPOCH_STRIPES; i++)
		atomic_init(&fs->epoch_of[i], 0);
	for (unsigned i = 0; i < LOCK_STRIPES; i++)
		atomic_init(&fs->data_seq[i], 0);
}

void locks_free(lfs *fs)
{
	for (unsigned i = 0; i < LOCK_STRIPES; i++)
		pthread_mutex_destroy(&fs->ilock[i]);
	pthread_mutex_destroy(&fs->rename_mu);
}

void ino_lock(lfs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->ilock[lock_stripe(ino)]);
}

void ino_unlock(lfs *fs, uint64_t ino)
{
	pthread_mutex_unlock(&fs->ilock[lock_stripe(ino)]);
}

void epoch_note(lfs *fs, uint64_t ino, uint64_t e)
{
	_Atomic uint64_t *slot = &fs->epoch_of[hash_ino(ino) % EPOCH_STRIPES];
	uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
	while (old < e && !atomic_compare_exchange_weak(slot, &old, e))
		;
}

uint64_t epoch_of(lfs *fs, uint64_t ino)
{
	return atomic_load(&fs->epoch_of[hash_ino(ino) % EPOCH_STRIPES]);
}

/* The data sequence of ino's stripe, for data_seq_stable. */
unsigned data_seq_read(lfs *fs, uint64_t ino)
{
	return atomic_load(&fs->data_seq[lock_stripe(ino)]);
}

/* Whether no commit on ino's stripe ran or was running since
 * data_seq_read returned seq.  When one did, yields before the caller
 * reads again, so that the commit can finish. */
bool data_seq_stable(lfs *fs, uint64_t ino, unsigned seq)
{
	if (!(seq & 1) && atomic_load(&fs->data_seq[lock_stripe(ino)]) == seq)
		return true;
	sched_yield();
	return false;
}

/* ---- transactions ---- */

int txn_begin(lfs *fs, struct txn *t)
{
	*t = (struct txn){ .fs = fs };
	if (fs->ro)
		return -EROFS;
	t->b = lkv_batch_new(fs->s);
	return t->b ? 0 : -ENOMEM;
}

/* Adds an inode whose change the transaction makes (and whose stripe it
 * locks).  Duplicates are fine. */
void txn_add(struct txn *t, uint64_t ino)
{
	for (unsigned i = 0; i < t->nino; i++)
		if (t->ino[i] == ino)
			return;
	if (t->nino < TXN_MAX_INODES)
		t->ino[t->nino++] = ino;
}

void txn_lock(struct txn *t)
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
	for (unsigned i = 0; i < t->nstripe; i++)
		pthread_mutex_lock(&t->fs->ilock[t->stripe[i]]);
	t->locked = true;
}

int txn_commit(struct txn *t)
{
	uint64_t e = 0;
	for (unsigned i = 0; i < t->nstripe; i++)
		atomic_fetch_add(&t->fs->data_seq[t->stripe[i]], 1);
	int err = lkv_batch_commit(t->b, &e);
	for (unsigned i = 0; i < t->nstripe; i++)
		atomic_fetch_add(&t->fs->data_seq[t->stripe[i]], 1);
	if (err) {
		lfs_log(t->fs, LKV_LOG_ERR, "commit of a change to inode %llu failed: %s",
			(unsigned long long)(t->nino ? t->ino[0] : 0), strerror(-err));
		return err;
	}
	for (unsigned i = 0; i < t->nino; i++)
		epoch_note(t->fs, t->ino[i], e);
	return 0;
}

/* Runs fn on inode ino under its lock, in one batch, and commits; *out
 * (may be NULL) gets the inode as written. */
int inode_change(lfs *fs, uint64_t ino, inode_change_fn fn, void *arg, struct inode *out)
{
	struct txn t;
	int err = txn_begin(fs, &t);
	if (err)
		return err;
	txn_add(&t, ino);
	txn_lock(&t);
	struct inode in;
	err = inode_get(fs, ino, &in);
	if (!err)
		err = fn(fs, t.b, &in, arg);
	if (!err)
		err = inode_put(fs, t.b, &in);
	if (!err)
		err = txn_commit(&t);
	txn_end(&t);
	if (!err && out)
		*out = in;
	return err;
}

/* Unlocks and forgets the inodes, for a retry with another set; the batch
 * is cleared. */
void txn_unlock(struct txn *t)
{
	if (t->locked)
		for (unsigned i = t->nstripe; i-- > 0;)
			pthread_mutex_unlock(&t->fs->ilock[t->stripe[i]]);
	t->locked = false;
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
