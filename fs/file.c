/* SPDX-License-Identifier: MIT */
/*
 * File operations: open, read, write, fsync, fallocate, lseek and
 * copy_file_range.  The block map itself is extent.c's; fallocate's
 * collapse and insert are shift.c's.
 *
 * fsync is the cheap part of the design: every change notes its epoch on
 * the inode (locks.c), and fsync flushes through that epoch, which returns
 * at once when it is already durable and otherwise joins the group commit
 * of whoever else is flushing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define FILL_CHUNK (64ull << 20)   /* fallocate commits this much at a time */
#define COPY_CHUNK (1u << 20)

/* A range the kernel would refuse before any filesystem sees it
 * (rw_verify_area): a negative offset, or an end past the largest off_t. */
static bool range_bad(off_t off, size_t len)
{
	return off < 0 || len > (uint64_t)INT64_MAX - (uint64_t)off;
}

static int truncate_zero(lfs *fs, lkv_batch *b, struct inode *in, void *arg)
{
	(void)arg;
	int err = extent_truncate(fs, b, in, 0);
	if (!err)
		inode_touch(in, true, true);
	return err;
}

int lfs_open(lfs *fs, const struct lfs_cred *c, uint64_t ino, int flags)
{
	(void)c;
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err;
	bool writes = (flags & O_ACCMODE) != O_RDONLY;
	if (S_ISDIR(in.mode) && writes)
		return -EISDIR;
	if (fs->ro && (writes || (flags & O_TRUNC)))
		return -EROFS;
	if ((err = iflags_open(fs, ino, flags)))
		return err;
	/* Linux truncates on O_RDONLY|O_TRUNC too (the kernel has checked
	 * write permission), and stamps mtime even when the file is empty */
	if ((flags & O_TRUNC) && S_ISREG(in.mode))
		err = inode_change(fs, ino, truncate_zero, NULL, NULL);
	if (err)
		lfs_release(fs, ino, flags);
	return err;
}

ssize_t lfs_read(lfs *fs, uint64_t ino, void *buf, size_t len, off_t off)
{
	if (range_bad(off, len))
		return -EINVAL;
	struct inode in;
	int err = inode_get_settled(fs, ino, &in);
	if (err)
		return err;
	if (S_ISDIR(in.mode))
		return -EISDIR;
	if (!S_ISREG(in.mode))
		return -EINVAL;
	ssize_t n = extent_read(fs, &in, buf, len, (uint64_t)off);
	if (n >= 0) {
		atime_update(fs, &in);
		atomic_fetch_add_explicit(&fs->data_read, (uint64_t)n, memory_order_relaxed);
	}
	return n;
}

struct write_arg {
	const void *buf;
	size_t len;         /* cut to what fits below the largest size */
	uint64_t off;
	unsigned flags;
};

static int do_write(lfs *fs, lkv_batch *b, struct inode *in, void *arg)
{
	struct write_arg *w = arg;
	int err;
	if (S_ISDIR(in->mode))
		return -EISDIR;
	if (!S_ISREG(in->mode))
		return -EINVAL;
	if ((err = iflags_refuse(in, LFS_FL_IMMUTABLE)))
		return err;
	if (w->flags & LFS_WRITE_APPEND)
		w->off = in->size;
	if ((in->flags & LFS_FL_APPEND) && !(w->flags & LFS_WRITE_CACHED) && w->off < in->size)
		return -EPERM;
	/* as generic_write_check_limits: nothing at or past the largest
	 * size, a short write up to it */
	if (w->off >= LFS_MAX_FILE)
		return -EFBIG;
	if (w->len > LFS_MAX_FILE - w->off)
		w->len = (size_t)(LFS_MAX_FILE - w->off);
	err = extent_write(fs, b, in, w->buf, w->len, w->off);
	if (err)
		return err;
	if (w->flags & LFS_WRITE_KILL_SUID)
		inode_kill_suid(in, !(w->flags & LFS_WRITE_KILL_SGID));
	if (!(w->flags & LFS_WRITE_KEEP_TIMES))
		inode_touch(in, true, true);
	return 0;
}

ssize_t lfs_write(lfs *fs, uint64_t ino, const void *buf, size_t len, off_t off,
		  unsigned flags)
{
	if (range_bad(flags & LFS_WRITE_APPEND ? 0 : off, len))
		return -EINVAL;
	if (len == 0)
		return 0;
	int err = fs->ro ? -EROFS : space_claim(fs, len);
	if (err)
		return err;
	struct write_arg w = { buf, len, (uint64_t)off, flags };
	err = inode_change(fs, ino, do_write, &w, NULL);
	if (err)
		return err;
	atomic_fetch_add_explicit(&fs->data_written, w.len, memory_order_relaxed);
	return (ssize_t)w.len;
}

int lfs_fsync(lfs *fs, uint64_t ino, bool datasync)
{
	(void)datasync;   /* metadata and data share one commit */
	uint64_t e = epoch_of(fs, ino);
	if (fs->ro || e == 0)
		return 0;          /* unchanged since mount: already durable */
	return lkv_flush(fs->s, e);
}

/* ---- fallocate ---- */

struct falloc_arg {
	int mode;
	uint64_t off, end;
};

/* Allocates [off, end) (one chunk), growing the file unless KEEP_SIZE. */
static int do_fill(lfs *fs, lkv_batch *b, struct inode *in, void *arg)
{
	struct falloc_arg *a = arg;
	uint64_t end = a->end;
	if (!(a->mode & FALLOC_FL_KEEP_SIZE) && end > in->size) {
		in->size = end;
		inode_touch(in, true, false);
	}
	if (end > in->size)
		end = in->size;
	inode_touch(in, false, true);
	return a->off < end ? extent_fill(fs, b, in, a->off, end) : 0;
}

static int do_zero(lfs *fs, lkv_batch *b, struct inode *in, void *arg)
{
	struct falloc_arg *a = arg;
	int err = extent_zero(fs, b, in, a->off, a->end - a->off);
	if (!err && !(a->mode & FALLOC_FL_KEEP_SIZE) && a->end > in->size)
		in->size = a->end;
	inode_touch(in, true, true);
	return err;
}

/* The VFS's checks (vfs_fallocate), in its order: the mode (the modes are
 * exclusive; PUNCH_HOLE needs KEEP_SIZE, COLLAPSE and INSERT refuse it),
 * then the type, then the range against the largest size. */
static int falloc_check(lfs *fs, uint64_t ino, int mode, off_t off, off_t len)
{
	int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE |
		    FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE;
	int kind = mode & ~FALLOC_FL_KEEP_SIZE;
	if (mode & ~known)
		return -EOPNOTSUPP;
	if (kind != 0 && kind != FALLOC_FL_PUNCH_HOLE && kind != FALLOC_FL_ZERO_RANGE &&
	    kind != FALLOC_FL_COLLAPSE_RANGE && kind != FALLOC_FL_INSERT_RANGE)
		return -EOPNOTSUPP;
	if (kind == FALLOC_FL_PUNCH_HOLE && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if ((kind == FALLOC_FL_COLLAPSE_RANGE || kind == FALLOC_FL_INSERT_RANGE) &&
	    (mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (fs->ro)
		return -EROFS;
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err;
	/* vfs_fallocate: only a plain allocation on an append-only file */
	if (kind && (in.flags & LFS_FL_APPEND))
		return -EPERM;
	if ((err = iflags_refuse(&in, LFS_FL_IMMUTABLE)))
		return err;
	if (S_ISDIR(in.mode))
		return -EISDIR;
	if (!S_ISREG(in.mode))
		return -ENODEV;
	if ((uint64_t)off > LFS_MAX_FILE || (uint64_t)len > LFS_MAX_FILE - (uint64_t)off)
		return -EFBIG;
	return 0;
}

/* collapse and insert (shift.c): the store's format first, as ext4 asks
 * for extents, then its block size. */
static int falloc_shift(lfs *fs, uint64_t ino, bool insert, uint64_t off, uint64_t len)
{
	uint64_t bs = fs->info.block_size;
	if (!format_has_shifts(fs->info.format_version))
		return -EOPNOTSUPP;
	if (off % bs || len % bs)
		return -EINVAL;
	return shift_range(fs, ino, insert, off, len);
}

int lfs_fallocate(lfs *fs, uint64_t ino, int mode, off_t off, off_t len)
{
	if (off < 0 || len <= 0)
		return -EINVAL;
	int err = falloc_check(fs, ino, mode, off, len);
	if (err)
		return err;
	struct falloc_arg a = { mode, (uint64_t)off, (uint64_t)off + (uint64_t)len };
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		return falloc_shift(fs, ino, mode & FALLOC_FL_INSERT_RANGE, a.off, (uint64_t)len);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return inode_change(fs, ino, do_zero, &a, NULL);
	/* zero blocks are real data: commit them a bounded chunk at a time */
	if ((err = space_claim(fs, (uint64_t)len)))
		return err;
	uint64_t end = a.end;
	for (uint64_t pos = a.off; pos < end && !err; pos = a.end) {
		a.off = pos;
		a.end = end - pos > FILL_CHUNK ? pos + FILL_CHUNK : end;
		err = inode_change(fs, ino, do_fill, &a, NULL);
	}
	return err;
}

off_t lfs_lseek(lfs *fs, uint64_t ino, off_t off, int whence)
{
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	struct inode in;
	int err = inode_get_settled(fs, ino, &in);
	if (err)
		return err;
	if (off < 0 || (uint64_t)off >= in.size)
		return -ENXIO;
	uint64_t pos;
	err = extent_seek(fs, &in, (uint64_t)off, whence == SEEK_DATA, &pos);
	return err ? err : (off_t)pos;
}

ssize_t lfs_copy_file_range(lfs *fs, uint64_t ino_in, off_t off_in, uint64_t ino_out,
			    off_t off_out, size_t len)
{
	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	size_t cap = len < COPY_CHUNK ? len : COPY_CHUNK, done = 0;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return -ENOMEM;
	ssize_t err = 0;
	while (done < len) {
		size_t want = len - done < cap ? len - done : cap;
		ssize_t n = lfs_read(fs, ino_in, buf, want, off_in + (off_t)done);
		if (n <= 0) {
			err = n;
			break;
		}
		err = lfs_write(fs, ino_out, buf, (size_t)n, off_out + (off_t)done, 0);
		if (err < 0)
			break;
		done += (size_t)err;
		if ((size_t)err < want)
			break;
	}
	free(buf);
	return done ? (ssize_t)done : err;
}
