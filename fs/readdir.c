/* SPDX-License-Identifier: MIT */
/*
 * The directory calls: opendir, readdir and fsyncdir.
 *
 * readdir lists "." and ".." at offsets 0 and 1, then the entries in key
 * order, that is by name hash; the offset after an entry is its hash
 * (dir.c), so a later call resumes after it whatever changed meanwhile.
 */
#include <dirent.h>
#include <errno.h>

#include "internal.h"

int lfs_opendir(lfs *fs, uint64_t ino)
{
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err;
	return S_ISDIR(in.mode) ? 0 : -ENOTDIR;
}

/* Emits the entries with hash above `after`. */
static int emit_entries(lfs *fs, uint64_t ino, uint64_t after, lfs_dirent_fn fn,
			void *arg)
{
	uint8_t lo[DIRENT_KEY_HDR], hi[INO_KEY_LEN];
	ino_key(lo, ino);
	be64_put(lo + INO_KEY_LEN, after + 1);      /* the first hash above */
	ino_key(hi, ino + 1);
	lkv_iter *it;
	int err = lkv_iter_open(fs->t_dirents, lo, sizeof(lo), hi, sizeof(hi), 0, &it);
	if (err)
		return err;
	uint64_t prev = 0;
	const void *kp, *vp;
	size_t kl, vl;
	char name[LFS_NAME_MAX + 1];
	while ((err = lkv_iter_next(it, &kp, &kl, &vp, &vl)) > 0) {
		struct dirent_key dk;
		struct dirent_val dv;
		if (!dirent_key_decode(kp, kl, &dk) || !dirent_val_decode(vp, vl, &dv)) {
			lfs_log(fs, LKV_LOG_ERR, "directory %llu: bad entry (key of %zu bytes, "
				"value of %zu; run fsck.larchfs)", (unsigned long long)ino, kl, vl);
			err = -EIO;
			break;
		}
		memcpy(name, dk.name, dk.len);
		name[dk.len] = 0;
		if (fn(arg, name, dk.len, dv.ino, dv.type, (off_t)dk.hash, dk.hash != prev)) {
			err = 0;
			break;
		}
		prev = dk.hash;
	}
	lkv_iter_close(it);
	return err < 0 ? err : 0;
}

int lfs_readdir(lfs *fs, uint64_t ino, off_t off, lfs_dirent_fn fn, void *arg)
{
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err;
	if (!S_ISDIR(in.mode))
		return -ENOTDIR;
	if (off < 0)
		return -EINVAL;
	if ((off < 1 && fn(arg, ".", 1, ino, DT_DIR, 1, true)) ||
	    (off < 2 && fn(arg, "..", 2, in.parent, DT_DIR, 2, true))) {
		atime_update(fs, &in);
		return 0;
	}
	if (in.nlink == 0)   /* removed: nothing more to list */
		return 0;
	err = emit_entries(fs, ino, off < 2 ? 2 : (uint64_t)off, fn, arg);
	if (!err)
		atime_update(fs, &in);
	return err;
}

int lfs_fsyncdir(lfs *fs, uint64_t ino)
{
	return lfs_fsync(fs, ino, false);
}
