/* SPDX-License-Identifier: MIT */
/*
 * Inode records: the `inodes` tree maps be64 ino to one fixed-size record.
 *
 * Record format, version 1 (104 bytes, little-endian):
 *    0  u8    version (1)
 *    1  u8[3] zero
 *    4  u32   mode (type and permission bits, as st_mode)
 *    8  u32   uid
 *   12  u32   gid
 *   16  u32   nlink
 *   20  u32   flags: INODE_SHIFTING (1) while a collapse or insert is
 *               under way (shift.c); the other bits zero
 *   24  u64   size: bytes for files and symlinks, entries for directories
 *   32  u64   stored: bytes of data held in the extents tree
 *   40  u64   rdev
 *   48  u64   parent: a directory's parent (the root's is itself), else 0
 *   56  atime, 68 mtime, 80 ctime, 92 btime: each i64 seconds, u32 ns
 * A record of another length or version is damage: -EIO, logged.
 *
 * Also the in-memory inode's small rules: a new inode (inode_init), the
 * times (now, inode_touch), clearing suid/sgid (and the group membership
 * that rule asks about), and struct stat.
 */
#include <errno.h>
#include <time.h>

#include "internal.h"

#define INODE_VERSION 1

static void ts_put(uint8_t *p, const struct timespec *ts)
{
	le64_put(p, (uint64_t)ts->tv_sec);
	le32_put(p + 8, (uint32_t)ts->tv_nsec);
}

static bool ts_get(const uint8_t *p, struct timespec *ts)
{
	ts->tv_sec = (time_t)le64_get(p);
	ts->tv_nsec = le32_get(p + 8);
	return ts->tv_nsec < 1000000000;
}

void inode_encode(const struct inode *in, uint8_t p[INODE_REC_LEN])
{
	memset(p, 0, INODE_REC_LEN);
	p[0] = INODE_VERSION;
	le32_put(p + 4, in->mode);
	le32_put(p + 8, in->uid);
	le32_put(p + 12, in->gid);
	le32_put(p + 16, in->nlink);
	le32_put(p + 20, in->flags);
	le64_put(p + 24, in->size);
	le64_put(p + 32, in->stored);
	le64_put(p + 40, in->rdev);
	le64_put(p + 48, in->parent);
	ts_put(p + 56, &in->atime);
	ts_put(p + 68, &in->mtime);
	ts_put(p + 80, &in->ctime);
	ts_put(p + 92, &in->btime);
}

bool inode_decode(const uint8_t *p, size_t len, struct inode *in)
{
	if (len != INODE_REC_LEN || p[0] != INODE_VERSION)
		return false;
	in->mode = le32_get(p + 4);
	in->uid = le32_get(p + 8);
	in->gid = le32_get(p + 12);
	in->nlink = le32_get(p + 16);
	in->flags = le32_get(p + 20);
	in->size = le64_get(p + 24);
	in->stored = le64_get(p + 32);
	in->rdev = le64_get(p + 40);
	in->parent = le64_get(p + 48);
	bool ok = ts_get(p + 56, &in->atime);      /* all four decoded, no short cut */
	ok &= ts_get(p + 68, &in->mtime);
	ok &= ts_get(p + 80, &in->ctime);
	ok &= ts_get(p + 92, &in->btime);
	return ok;
}

/* -ENOENT for a missing inode, -EIO for a record that does not decode. */
int inode_get(lfs *fs, uint64_t ino, struct inode *in)
{
	uint8_t key[INO_KEY_LEN], rec[INODE_REC_LEN + 1];
	size_t len;
	ino_key(key, ino);
	int err = lkv_get(fs->t_inodes, key, sizeof(key), rec, sizeof(rec), &len);
	if (err)
		return err;
	if (!inode_decode(rec, len, in)) {
		lfs_log(fs, LKV_LOG_ERR, "inode %llu: bad record (%zu bytes)",
			(unsigned long long)ino, len);
		return -EIO;
	}
	in->ino = ino;
	return 0;
}

int inode_put(lfs *fs, lkv_batch *b, const struct inode *in)
{
	uint8_t key[INO_KEY_LEN], rec[INODE_REC_LEN];
	ino_key(key, in->ino);
	inode_encode(in, rec);
	return lkv_batch_put(b, fs->t_inodes, key, sizeof(key), rec, sizeof(rec));
}

/* The kernel's clock for timestamps (current_time: the coarse one, a
 * tick's resolution), so that a time the core stamps is never later than
 * one the kernel stamps afterwards: with the writeback cache the kernel
 * sets mtime on a write, and an atime the core set at the create must
 * not look newer (relatime would then never move it). */
void now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME_COARSE, ts);
}

void inode_init(struct inode *in, uint64_t ino, mode_t mode, uid_t uid, gid_t gid)
{
	*in = (struct inode){ .ino = ino, .mode = mode, .uid = uid, .gid = gid,
			      .nlink = S_ISDIR(mode) ? 2 : 1 };
	now(&in->btime);
	in->atime = in->mtime = in->ctime = in->btime;
}

void inode_touch(struct inode *in, bool m, bool c)
{
	struct timespec t;
	now(&t);
	if (m)
		in->mtime = t;
	if (c)
		in->ctime = t;
}

/* Whether the caller counts as a member of group gid: its own group, or
 * one of the supplementary groups it came with (c->groups: the caller
 * may leave them out when no decision needs them). */
bool cred_in_group(const struct lfs_cred *c, gid_t gid)
{
	if (c->gid == gid)
		return true;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

/*
 * What a write, truncate, fallocate or chown of a non-directory by a
 * caller without CAP_FSETID takes from it, by Linux's rule (since 6.2,
 * fs/attr.c: setattr_should_drop_suidgid and setattr_should_drop_sgid):
 * S_ISUID always; S_ISGID when the group may execute, and also without
 * group-exec when the caller is outside the file's group (`in_group`
 * false).  Without group-exec the bit once only marked mandatory locking,
 * so a member keeps it; anyone else who may rewrite such a file must not
 * leave it set-group-ID (the CVE-2016-1237 class).  Directories keep
 * theirs.  Returns whether the mode changed.
 */
bool inode_kill_suid(struct inode *in, bool in_group)
{
	mode_t kill = S_ISUID;
	if ((in->mode & S_IXGRP) || !in_group)
		kill |= S_ISGID;
	if (S_ISDIR(in->mode) || !(in->mode & kill))
		return false;
	in->mode &= ~kill;
	return true;
}

void inode_to_stat(lfs *fs, const struct inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = in->rdev;
	st->st_size = (off_t)in->size;
	st->st_blocks = (blkcnt_t)((in->stored + 511) / 512);
	st->st_blksize = fs->info.block_size;
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
}
