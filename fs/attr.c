/* SPDX-License-Identifier: MIT */
/*
 * getattr and setattr (chmod, chown, truncate, utimensat, as one batch
 * each), and atime updates after reads, by the mount's policy (relatime,
 * noatime, strictatime).  An atime update is a transaction of its own
 * after the read, so a caller must not hold the inode's lock then.
 */
#include <errno.h>

#include "internal.h"

#define DAY_SEC (24 * 3600)

static bool ts_le(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

/* An inode left in a collapse or insert (shift.c) is finished first; when
 * it cannot be, its attributes are shown as they are, so that the file
 * can still be looked at and removed. */
int lfs_getattr(lfs *fs, uint64_t ino, struct stat *st)
{
	struct inode in;
	int err = inode_get_settled(fs, ino, &in);
	if (err && err != -ENOENT)
		err = inode_get(fs, ino, &in);
	if (!err)
		inode_to_stat(fs, &in, st);
	return err;
}

int lfs_get_btime(lfs *fs, uint64_t ino, struct timespec *ts)
{
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (!err)
		*ts = in.btime;
	return err;
}

/* relatime: atime moves when it is not newer than mtime or ctime, or is a
 * day old; with nodiratime never for a directory. */
static bool atime_due_at(lfs *fs, mode_t mode, const struct timespec *atime,
			 const struct timespec *mtime, const struct timespec *ctime)
{
	if (fs->ro || fs->opt.atime == LFS_ATIME_NOATIME ||
	    (fs->opt.nodiratime && S_ISDIR(mode)))
		return false;
	if (fs->opt.atime == LFS_ATIME_STRICT)
		return true;
	struct timespec t;
	now(&t);
	return ts_le(atime, mtime) || ts_le(atime, ctime) ||
	       t.tv_sec - atime->tv_sec >= DAY_SEC;
}

/* ... and never for an inode with the no-atime flag (chattr +A). */
static bool atime_due(lfs *fs, const struct inode *in)
{
	return !(in->flags & LFS_FL_NOATIME) &&
	       atime_due_at(fs, in->mode, &in->atime, &in->mtime, &in->ctime);
}

bool lfs_atime_due(lfs *fs, const struct stat *st)
{
	struct inode in;
	return atime_due_at(fs, st->st_mode, &st->st_atim, &st->st_mtim, &st->st_ctim) &&
	       !(inode_get(fs, st->st_ino, &in) == 0 && (in.flags & LFS_FL_NOATIME));
}

/* Notes an access (read, readdir, readlink) of `seen`, an inode as read
 * before the access, in its own batch.  A failure is logged, not returned:
 * the access itself succeeded. */
static int touch_atime(lfs *fs, lkv_batch *b, struct inode *in, void *arg)
{
	(void)fs;
	(void)b;
	(void)arg;
	now(&in->atime);
	return 0;
}

void atime_update(lfs *fs, const struct inode *seen)
{
	if (!atime_due(fs, seen))
		return;
	int err = inode_change(fs, seen->ino, touch_atime, NULL, NULL);
	if (err && err != -ENOENT)
		lfs_log(fs, LKV_LOG_WARN, "inode %llu: atime not updated: %s",
			(unsigned long long)seen->ino, strerror(-err));
	else if (!err && fs->opt.touched)
		fs->opt.touched(fs->opt.touched_arg, seen->ino);
}

static int set_size(lfs *fs, lkv_batch *b, struct inode *in, uint64_t size)
{
	if (S_ISDIR(in->mode))
		return -EISDIR;
	if (!S_ISREG(in->mode))
		return -EINVAL;
	if (size > LFS_MAX_FILE)
		return -EFBIG;
	if (size < in->size)
		space_freed(fs);
	int err = extent_truncate(fs, b, in, size);
	if (!err)
		inode_touch(in, true, true);
	return err;
}

static void set_times(struct inode *in, const struct stat *st, unsigned valid)
{
	struct timespec t;
	now(&t);
	if (valid & LFS_SET_ATIME_NOW)
		in->atime = t;
	else if (valid & LFS_SET_ATIME)
		in->atime = st->st_atim;
	if (valid & LFS_SET_MTIME_NOW)
		in->mtime = t;
	else if (valid & LFS_SET_MTIME)
		in->mtime = st->st_mtim;
	in->ctime = (valid & LFS_SET_CTIME) ? st->st_ctim : t;
}

struct setattr_arg {
	const struct lfs_cred *c;
	const struct stat *st;
	unsigned valid;
};

/* Whether caller c keeps a file's S_ISGID without group-exec through a
 * change that clears privileges, the file's group being gid: as a member
 * of it, or as root (taken to hold CAP_FSETID, as the daemon takes it:
 * the kernel asks for the clearing only of callers without it, but for a
 * chown, which it flags for every caller). */
static bool keeps_sgid(const struct lfs_cred *c, gid_t gid)
{
	return c->uid == 0 || cred_in_group(c, gid);
}

static int apply(lfs *fs, lkv_batch *b, struct inode *in, void *arg)
{
	const struct setattr_arg *a = arg;
	const struct stat *st = a->st;
	unsigned valid = a->valid;
	bool member = keeps_sgid(a->c, in->gid);   /* of the group before a chown */
	int err = iflags_refuse(in, LFS_FL_IMMUTABLE);
	if (!err && (valid & (LFS_SET_MODE | LFS_SET_UID | LFS_SET_GID | LFS_SET_SIZE |
			      LFS_SET_TIMES_GIVEN)))
		err = iflags_refuse(in, LFS_FL_APPEND);
	if (err)
		return err;
	if ((valid & LFS_SET_SIZE) && st->st_size < 0)
		return -EINVAL;
	if (valid & LFS_SET_SIZE)
		err = set_size(fs, b, in, (uint64_t)st->st_size);
	if (!err && (valid & (LFS_SET_UID | LFS_SET_GID))) {
		if (valid & LFS_SET_UID)
			in->uid = st->st_uid;
		if (valid & LFS_SET_GID)
			in->gid = st->st_gid;
		inode_kill_suid(in, member);
	}
	if (valid & LFS_SET_KILL_SUIDGID)
		inode_kill_suid(in, member);
	if (!err && (valid & LFS_SET_MODE)) {
		in->mode = (in->mode & S_IFMT) | (st->st_mode & 07777);
		err = acl_chmod(fs, b, in);
	}
	set_times(in, st, valid);
	return err;
}

int lfs_setattr(lfs *fs, const struct lfs_cred *c, uint64_t ino, const struct stat *st,
		unsigned valid, struct stat *out)
{
	struct setattr_arg a = { c, st, valid };
	struct inode in;
	int err = inode_change(fs, ino, apply, &a, &in);
	if (!err && out)
		inode_to_stat(fs, &in, out);
	return err;
}
