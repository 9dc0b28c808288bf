/* SPDX-License-Identifier: MIT */
/*
 * Records for fsck.larchfs: inode records and directory entries read and
 * written by key through the core's codecs (fs/format.h), in the trees of
 * the mount being checked (c->t); writes go into the fix's batch (c->b).
 * Unlike the core's own record calls these log nothing (fsck reports what
 * it finds itself) and take names as given: fsck has checked them.
 */
#include <errno.h>
#include <string.h>

#include "fsck.h"

int inode_load(struct fsck *c, uint64_t ino, struct inode *in)
{
	uint8_t k[INO_KEY_LEN], rec[INODE_REC_LEN + 1];
	size_t len;
	ino_key(k, ino);
	int err = lkv_get(c->t[TREE_INODES], k, sizeof(k), rec, sizeof(rec), &len);
	if (!err && !inode_decode(rec, len, in))
		err = -EIO;
	in->ino = ino;
	return err;
}

int inode_store(struct fsck *c, const struct inode *in)
{
	uint8_t k[INO_KEY_LEN], rec[INODE_REC_LEN];
	ino_key(k, in->ino);
	inode_encode(in, rec);
	return lkv_batch_put(c->b, c->t[TREE_INODES], k, sizeof(k), rec, sizeof(rec));
}

int inode_clear_flags(struct fsck *c, uint64_t ino, uint32_t bits)
{
	struct inode in;
	int err = inode_load(c, ino, &in);
	in.flags &= ~bits;
	if (!err)
		err = inode_store(c, &in);
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	return err;
}

int dir_make(struct fsck *c, uint64_t ino, mode_t perm, const char *name)
{
	struct inode in;
	inode_init(&in, ino, S_IFDIR | perm, 0, 0);
	in.parent = LFS_ROOT_INO;
	int err = inode_store(c, &in);
	struct dirent_val d;
	if (!err && name && entry_get(c, LFS_ROOT_INO, name, &d) == -ENOENT) {
		d = (struct dirent_val){ .ino = ino, .type = mode_to_dtype(S_IFDIR) };
		err = entry_put(c, LFS_ROOT_INO, name, &d);
	}
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	return err;
}

int entry_get(struct fsck *c, uint64_t parent, const char *name, struct dirent_val *d)
{
	uint8_t k[DIRENT_KEY_MAX], v[DIRENT_VAL_LEN + 1];
	size_t kl = dirent_key(k, parent, name), vl;
	int err = lkv_get(c->t[TREE_DIRENTS], k, kl, v, sizeof(v), &vl);
	return err ? err : dirent_val_decode(v, vl, d) ? 0 : -EIO;
}

int entry_put(struct fsck *c, uint64_t parent, const char *name,
	      const struct dirent_val *d)
{
	uint8_t k[DIRENT_KEY_MAX], v[DIRENT_VAL_LEN];
	size_t kl = dirent_key(k, parent, name);
	dirent_val_encode(d, v);
	return lkv_batch_put(c->b, c->t[TREE_DIRENTS], k, kl, v, sizeof(v));
}

int entry_del(struct fsck *c, uint64_t parent, const char *name)
{
	uint8_t k[DIRENT_KEY_MAX];
	size_t kl = dirent_key(k, parent, name);
	return lkv_batch_delete(c->b, c->t[TREE_DIRENTS], k, kl);
}

size_t entry_name(struct fsck *c, uint64_t parent, uint64_t child, char *name)
{
	uint8_t p[INO_KEY_LEN];
	ino_key(p, parent);
	lkv_iter *it;
	if (lkv_iter_prefix(c->t[TREE_DIRENTS], p, sizeof(p), 0, &it))
		return 0;
	const void *k, *v;
	size_t kl, vl, len = 0;
	while (!len && lkv_iter_next(it, &k, &kl, &v, &vl) > 0) {
		struct dirent_key dk;
		struct dirent_val dv;
		if (dirent_key_decode(k, kl, &dk) && dirent_val_decode(v, vl, &dv) &&
		    dv.ino == child) {
			memcpy(name, dk.name, dk.len);
			name[dk.len] = 0;
			len = dk.len;
		}
	}
	lkv_iter_close(it);
	return len;
}

/* The core's decoder (fs/inode.c), and a mode of a known type. */
bool inode_record_decode(const uint8_t *p, size_t len, struct fact *x)
{
	struct inode in;
	if (!inode_decode(p, len, &in))
		return false;
	*x = (struct fact){ .mode = in.mode, .nlink = in.nlink, .size = in.size,
			    .stored = in.stored, .parent = in.parent,
			    .flags = (in.flags & INODE_SHIFTING) ? F_SHIFT : 0 };
	switch (x->mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return true;
	default:
		return false;
	}
}
