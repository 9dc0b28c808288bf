/* SPDX-License-Identifier: MIT */
/*
 * Inode locks, the epoch of each inode's last change, and the data
 * sequence of each lock stripe.  Transactions (txn.c) are built on these.
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

#include "internal.h"

static unsigned hash_ino(uint64_t ino)
{
	ino *= 0x9e3779b97f4a7c15ull;
	return (unsigned)(ino >> 32);
}

unsigned lock_stripe(uint64_t ino)
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

/* Whether mu is locked, by anyone: as much of "the caller holds mu" as a
 * debug check can tell, since a mutex does not say who holds it. */
bool mutex_held(pthread_mutex_t *mu)
{
	if (pthread_mutex_trylock(mu) == EBUSY)
		return true;
	pthread_mutex_unlock(mu);
	return false;
}

bool ino_locked(lfs *fs, uint64_t ino)
{
	return mutex_held(&fs->ilock[lock_stripe(ino)]);
}

void stripe_lock(lfs *fs, unsigned stripe)
{
	pthread_mutex_lock(&fs->ilock[stripe]);
}

void stripe_unlock(lfs *fs, unsigned stripe)
{
	pthread_mutex_unlock(&fs->ilock[stripe]);
}

void ino_lock(lfs *fs, uint64_t ino)
{
	stripe_lock(fs, lock_stripe(ino));
}

void ino_unlock(lfs *fs, uint64_t ino)
{
	stripe_unlock(fs, lock_stripe(ino));
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

/* A commit on `stripe` begins or ends: its data sequence turns odd, then
 * even again (the stripe's lock held). */
void data_seq_bump(lfs *fs, unsigned stripe)
{
	LFS_ASSERT(mutex_held(&fs->ilock[stripe]));
	atomic_fetch_add(&fs->data_seq[stripe], 1);
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
