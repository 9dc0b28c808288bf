/* SPDX-License-Identifier: MIT */
/*
 * The inode allocator: hands out inode numbers, never the same one twice.
 *
 * Numbers come from a range reserved in the superblock: its next_ino
 * (super.c) is the end of the range.  A reservation is committed (lkv_put)
 * before any number from it is used, so the batch creating an inode is in
 * the same or a later epoch than the reservation: after a crash next_ino
 * is always above every inode that exists, and numbers are never reused.
 *
 * The superblock's copy (super.c) holds a bound instead of next_ino; the
 * record's next_ino never passes it: a reservation that would raises the
 * bound in the copy first.
 *
 * State, all under alloc_mu: next_ino (the next number to hand out),
 * reserved_to (the end of the reserved range), fs->info.next_ino (the
 * same end, as the superblock records it; lfs_get_info copies fs->info
 * under alloc_mu for that field's sake) and copy_bound (the copy's).
 */
#include <errno.h>

#include "internal.h"

#define RESERVE_INOS 1024      /* numbers reserved by one superblock write */

void ialloc_init(lfs *fs)
{
	pthread_mutex_init(&fs->alloc_mu, NULL);
}

void ialloc_free(lfs *fs)
{
	pthread_mutex_destroy(&fs->alloc_mu);
}

/* Hands out numbers from the superblock's next_ino on (fs->info read). */
void ialloc_start(lfs *fs)
{
	fs->next_ino = fs->reserved_to = fs->info.next_ino;
}

/* Raises the bound in the superblock's copy (super.c) past `next_ino`,
 * durably, before the record's next_ino may pass it (alloc_mu held). */
static int raise_bound(lfs *fs, uint64_t next_ino)
{
	if (next_ino <= fs->copy_bound)
		return 0;
	uint64_t bound = next_ino + SB_COPY_STEP;
	int err = sb_copy_put(fs->s, &fs->info, bound);
	if (!err)
		fs->copy_bound = bound;
	return err;
}

/* Reserves the next RESERVE_INOS numbers from next_ino in the superblock
 * (alloc_mu held). */
static int reserve(lfs *fs)
{
	LFS_ASSERT(mutex_held(&fs->alloc_mu));
	struct lfs_info i = fs->info;
	i.next_ino = fs->next_ino + RESERVE_INOS;
	int err = raise_bound(fs, i.next_ino);
	if (!err)
		err = sb_put(fs->t_super, &i);
	if (!err)
		fs->reserved_to = fs->info.next_ino = i.next_ino;
	return err;
}

int ino_alloc(lfs *fs, uint64_t *ino)
{
	LFS_ASSERT(!fs->store_ro);   /* it writes the superblock (a remount
					to read-only may race: the engine
					then refuses the write) */
	int err = 0;
	pthread_mutex_lock(&fs->alloc_mu);
	if (fs->next_ino >= fs->reserved_to)
		err = reserve(fs);
	if (!err)
		*ino = fs->next_ino++;
	pthread_mutex_unlock(&fs->alloc_mu);
	return err;
}

int lfs_raise_next_ino(lfs *fs, uint64_t above)
{
	if (fs->ro)
		return -EROFS;
	int err = 0;
	pthread_mutex_lock(&fs->alloc_mu);
	if (above >= fs->next_ino) {
		fs->next_ino = fs->reserved_to = above + 1;
		err = reserve(fs);
	}
	pthread_mutex_unlock(&fs->alloc_mu);
	return err;
}

bool lfs_super_from_copy(lfs *fs)
{
	pthread_mutex_lock(&fs->alloc_mu);
	bool copy = fs->super_from_copy;
	pthread_mutex_unlock(&fs->alloc_mu);
	return copy;
}

int lfs_super_rewrite(lfs *fs)
{
	if (fs->ro)
		return -EROFS;
	pthread_mutex_lock(&fs->alloc_mu);
	int err = sb_put(fs->t_super, &fs->info);
	if (!err)
		fs->super_from_copy = false;
	pthread_mutex_unlock(&fs->alloc_mu);
	return err;
}

void lfs_get_info(lfs *fs, struct lfs_info *info)
{
	pthread_mutex_lock(&fs->alloc_mu);
	*info = fs->info;
	pthread_mutex_unlock(&fs->alloc_mu);
}
