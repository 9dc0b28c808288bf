/* SPDX-License-Identifier: MIT */
/*
 * Directory entries: the `dirents` tree, and the rules for names.
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
 * the tree's depth costs.  The directory calls (readdir) are readdir.c's.
 */
#include <errno.h>

#include "internal.h"

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
	if (!dirent_val_decode(v, vl, d)) {
		lfs_log(fs, LKV_LOG_ERR, "directory %llu: bad entry '%s'",
			(unsigned long long)parent, name);
		return -EIO;
	}
	return 0;
}

int dirent_put(lfs *fs, lkv_batch *b, uint64_t parent, const char *name,
	       const struct dirent_val *d)
{
	uint8_t k[DIRENT_KEY_MAX], v[DIRENT_VAL_LEN];
	size_t kl = dirent_key(k, parent, name);
	dirent_val_encode(d, v);
	return lkv_batch_put(b, fs->t_dirents, k, kl, v, sizeof(v));
}

int dirent_del(lfs *fs, lkv_batch *b, uint64_t parent, const char *name)
{
	uint8_t k[DIRENT_KEY_MAX];
	size_t kl = dirent_key(k, parent, name);
	return lkv_batch_delete(b, fs->t_dirents, k, kl);
}
