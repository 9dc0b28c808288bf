/* SPDX-License-Identifier: MIT */
/*
 * Directory entries: the `dirents` tree.
 *
 * Key:   be64 parent ino, be64 hash, name bytes (1..255, no '/' or NUL)
 * Value: u64 LE child ino, u8 type (DT_*)          (9 bytes)
 *
 * hash = (XXH3-64(name) >> 2) + 3, so it lies in [3, 2^62 + 2]: above the
 * readdir offsets of "." (0 -> 1) and ".." (1 -> 2) and below 2^63, as
 * telldir needs.  Entries of a directory are ordered by hash, and the
 * readdir offset after an entry is its hash: a later readdir resumes at the
 * first key above it, whatever was created or deleted meanwhile.  Names
 * whose hashes collide form a group that readdir emits whole (lfs.h).
 * A lookup is one point get; a directory of a million entries costs what
 * the tree's depth costs.
 */
#include <dirent.h>
#include <errno.h>

#include "internal.h"

#define DIRENT_KEY_MAX (16 + LFS_NAME_MAX)

int name_check(const char *name)
{
	size_t n = strnlen(name, LFS_NAME_MAX + 1);
	if (n == 0)
		return -ENOENT;
	if (n > LFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (strchr(name, '/'))
		return -EINVAL;
	return 0;
}

uint64_t name_hash(const char *name, size_t len)
{
	return (lkv_checksum(name, len) >> 2) + 3;
}

static size_t dirent_key(uint8_t *k, uint64_t parent, const char *name)
{
	size_t len = strlen(name);
	be64_put(k, parent);
	be64_put(k + 8, name_hash(name, len));
	memcpy(k + 16, name, len);
	return 16 + len;
}

int dirent_get(lfs *fs, uint64_t parent, const char *name, struct dirent_val *d)
{
	int err = name_check(name);
	if (err)
		return err;
	uint8_t k[DIRENT_KEY_MAX], v[DIRENT_VAL_LEN + 1];
	size_t kl = dirent_key(k, parent, name), vl;
	err = lkv_get(fs->t_dirents, k, kl, v, sizeof(v), &vl);
	if (err)
		return err;
	if (vl != DIRENT_VAL_LEN) {
		lfs_log(fs, LKV_LOG_ERR, "directory %llu: bad entry '%s'",
			(unsigned long long)parent, name);
		return -EIO;
	}
	d->ino = le64_get(v);
	d->type = v[8];
	return 0;
}

int dirent_put(lfs *fs, lkv_batch *b, uint64_t parent, const char *name,
	       const struct dirent_val *d)
{
	uint8_t k[DIRENT_KEY_MAX], v[DIRENT_VAL_LEN];
	size_t kl = dirent_key(k, parent, name);
	le64_put(v, d->ino);
	v[8] = (uint8_t)d->type;
	return lkv_batch_put(b, fs->t_dirents, k, kl, v, sizeof(v));
}

int dirent_del(lfs *fs, lkv_batch *b, uint64_t parent, const char *name)
{
	uint8_t k[DIRENT_KEY_MAX];
	size_t kl = dirent_key(k, parent, name);
	return lkv_batch_delete(b, fs->t_dirents, k, kl);
}

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
	uint8_t lo[16], hi[8];
	be64_put(lo, ino);
	be64_put(lo + 8, after + 1);
	be64_put(hi, ino + 1);
	lkv_iter *it;
	int err = lkv_iter_open(fs->t_dirents, lo, sizeof(lo), hi, sizeof(hi), 0, &it);
	if (err)
		return err;
	uint64_t prev = 0;
	const void *kp, *vp;
	size_t kl, vl;
	char name[LFS_NAME_MAX + 1];
	while ((err = lkv_iter_next(it, &kp, &kl, &vp, &vl)) > 0) {
		const uint8_t *k = kp, *v = vp;
		if (kl <= 16 || kl > DIRENT_KEY_MAX || vl != DIRENT_VAL_LEN) {
			lfs_log(fs, LKV_LOG_ERR, "directory %llu: bad entry (key of %zu bytes, "
				"value of %zu; run fsck.larchfs)", (unsigned long long)ino, kl, vl);
			err = -EIO;
			break;
		}
		uint64_t h = be64_get(k + 8);
		memcpy(name, k + 16, kl - 16);
		name[kl - 16] = 0;
		if (fn(arg, name, kl - 16, le64_get(v), v[8], (off_t)h, h != prev)) {
			err = 0;
			break;
		}
		prev = h;
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
