/* SPDX-License-Identifier: MIT */
/*
 * Inode flags: chattr(1)'s immutable (i), append-only (a), no-dump (d) and
 * no-atime (A), kept in the flags word of the inode record (inode.c) from
 * format version 4 on, and what the immutable and append-only ones forbid.
 * The calls that change inodes ask iflags_refuse (internal.h) before they
 * change anything, in the order Linux's VFS checks them; the rules are
 * listed in lfs.h.
 *
 * Why i and a need a store whose opens are checked: ext4 refuses a write
 * to an immutable file in write(2) itself, and a write-open of either
 * kind of file in open(2).  Through FUSE the kernel never sees the flags
 * (it sets S_IMMUTABLE and S_APPEND on no FUSE inode), and with the
 * writeback cache a write(2) lands in the page cache without asking the
 * daemon: refused only when written back, it would be lost after write(2)
 * said it was done.  Only OPEN can stop it in time, and the daemon refuses
 * OPEN (so that an open costs no round trip) unless the store says its
 * opens are checked (LFS_FEAT_OPEN_CHECKS, set by -o iflags).  There,
 * every descriptor open for writing is counted here (lfs_open,
 * lfs_create, lfs_tmpfile, until lfs_release), and the immutable flag is
 * refused (-EBUSY) to a file such a descriptor is open on, where ext4
 * would set it and fail the descriptor's later writes: the writes it
 * would have to fail may sit in the kernel's cache already.  The count
 * and the flag change under the inode's lock, so that an open and a
 * chattr +i see one another.  The kernel sends RELEASE after close(2) has
 * returned, so `echo x >f; chattr +i f` may find f still counted: +i waits
 * up to RELEASE_WAIT_MS for the count to go.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>

#include "internal.h"

#define RELEASE_WAIT_MS 500

static bool counts_writers(const lfs *fs)
{
	return fs->info.features & LFS_FEAT_OPEN_CHECKS;
}

static bool writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

int lfs_get_iflags(lfs *fs, uint64_t ino, unsigned *flags)
{
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (!err)
		*flags = in.flags & INODE_IFLAGS;
	return err;
}

/* The first refusal for want of checked opens is logged, with the cure. */
static void say_no_open_checks(lfs *fs)
{
	if (!atomic_exchange(&fs->said_no_open_checks, true))
		lfs_log(fs, LKV_LOG_WARN, "the immutable and append-only flags need opens "
			"checked: mount with -o iflags");
}

static int set_flags(lfs *fs, lkv_batch *b, struct inode *in, void *arg)
{
	(void)b;
	unsigned flags = *(unsigned *)arg;
	uint32_t valid = inode_flags_valid(&fs->info) & INODE_IFLAGS;
	if (flags & ~valid) {
		if (flags & ~valid & (LFS_FL_IMMUTABLE | LFS_FL_APPEND) &
		    ~(in->flags & INODE_IFLAGS))
			say_no_open_checks(fs);
		return -EOPNOTSUPP;
	}
	if ((flags & ~in->flags & LFS_FL_IMMUTABLE) && inocounts_get(&fs->writers, in->ino))
		return -EBUSY;
	in->flags = (in->flags & ~INODE_IFLAGS) | flags;
	inode_touch(in, false, true);
	return 0;
}

/* Waits (unlocked: lfs_release takes no inode lock) for the releases of
 * descriptors just closed, before +i looks at the count under the lock. */
static void wait_for_releases(lfs *fs, uint64_t ino)
{
	struct timespec tick = { 0, 1000 * 1000 };
	for (int ms = 0; ms < RELEASE_WAIT_MS && inocounts_get(&fs->writers, ino); ms++)
		nanosleep(&tick, NULL);
}

int lfs_set_iflags(lfs *fs, uint64_t ino, unsigned flags)
{
	if (flags & ~LFS_FL_ALL)
		return -EOPNOTSUPP;
	if (flags & LFS_FL_IMMUTABLE)
		wait_for_releases(fs, ino);
	return inode_change(fs, ino, set_flags, &flags, NULL);
}

/* may_open's rules for the flags, as ext4 meets them. */
static int open_allowed(const struct inode *in, int flags)
{
	int err = writes(flags) || (flags & O_TRUNC) ? iflags_refuse(in, LFS_FL_IMMUTABLE) : 0;
	if (!err && (in->flags & LFS_FL_APPEND) &&
	    ((writes(flags) && !(flags & O_APPEND)) || (flags & O_TRUNC)))
		err = -EPERM;
	return err;
}

int iflags_open(lfs *fs, uint64_t ino, int flags)
{
	if (!writes(flags) && !(flags & O_TRUNC))
		return 0;
	ino_lock(fs, ino);
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (!err)
		err = open_allowed(&in, flags);
	if (!err && writes(flags) && counts_writers(fs))
		err = inocounts_add(&fs->writers, ino, 1);
	ino_unlock(fs, ino);
	return err;
}

int writer_new(lfs *fs, uint64_t ino, int flags)
{
	return writes(flags) && counts_writers(fs) ? inocounts_add(&fs->writers, ino, 1) : 0;
}

void lfs_release(lfs *fs, uint64_t ino, int flags)
{
	if (!writes(flags) || !counts_writers(fs))
		return;
	if (inocounts_drop(&fs->writers, ino, 1) == 0) {
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: a release of a descriptor not counted "
			"as open for writing", (unsigned long long)ino);
		LFS_ASSERT(!"a release without its open");
	}
}
