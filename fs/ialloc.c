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
 * State, all under alloc_mu: next_ino (the next number to hand out),
 * reserved_to (the end of the reserved range) and fs->info.next_ino (the
 * same end, as the superblock records it; lfs_get_info copies fs->info
 * under alloc_mu for that field's sake).
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

/* Reserves the next RESERVE_INOS numbers from next_ino in the superblock
 * (alloc_mu held). */
static int reserve(lfs *fs)
{
	LFS_ASSERT(mutex_held(&fs->alloc_mu));
	struct lfs_info i = fs->info;
	i.next_ino = fs->next_ino + RESERVE_INOS;
	int err = sb_put(fs->t_super, &i);
	if (!err)
		fs->reserved_to = fs->info.next_ino = i.next_ino;
	return err;
}

int ino_alloc(lfs *fs, uint64_t *ino)
{
	LFS_ASSERT(!fs->ro);      /* it writes the superblock */
	int err = 0;
	pthread_mutex_lock(&fs->alloc_mu);
	if (fs->next_ino >= fs->reserved_to)
		err = reserve(fs);
	if (!err)
		*ino = fs->next_ino++;
	pthread_mutex_unlock(&fs->alloc_mu);
	if (!err && atomic_load(&fs->inodes_used) >= 0)
		atomic_fetch_add(&fs->inodes_used, 1);
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

void lfs_get_info(lfs *fs, struct lfs_info *info)
{
	pthread_mutex_lock(&fs->alloc_mu);
	*info = fs->info;
	pthread_mutex_unlock(&fs->alloc_mu);
}
