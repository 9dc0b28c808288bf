/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes: the `xattrs` tree maps (be64 ino, name) to the
 * value bytes.  Names are 1..255 bytes in the user., trusted. and
 * security. namespaces, or one of the two POSIX ACL names, whose values
 * are checked and kept in step with the mode (acl.c).  user. attributes
 * exist only on regular files and directories, as on Linux.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>

#include "internal.h"

#define XATTR_KEY_MAX (8 + LFS_XATTR_NAME_MAX)
#define ACL_ACCESS  "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

static size_t xattr_key(uint8_t *k, uint64_t ino, const char *name)
{
	size_t n = strlen(name);
	be64_put(k, ino);
	memcpy(k + 8, name, n);
	return 8 + n;
}

bool acl_is_name(const char *name)
{
	return !strcmp(name, ACL_ACCESS) || !strcmp(name, ACL_DEFAULT);
}

/* -EOPNOTSUPP for a namespace we do not store, -ERANGE for a bad length,
 * -EPERM for user. on something else than a file or directory. */
static int name_ok(const char *name, mode_t mode)
{
	size_t n = strnlen(name, LFS_XATTR_NAME_MAX + 1);
	if (n == 0 || n > LFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (!strncmp(name, "user.", 5))
		return n > 5 ? (S_ISREG(mode) || S_ISDIR(mode) ? 0 : -EPERM) : -EINVAL;
	if ((!strncmp(name, "trusted.", 8) && n > 8) ||
	    (!strncmp(name, "security.", 9) && n > 9) || acl_is_name(name))
		return 0;
	return -EOPNOTSUPP;
}

int xattr_get_raw(lfs *fs, uint64_t ino, const char *name, void *buf, size_t cap,
		  size_t *len)
{
	uint8_t k[XATTR_KEY_MAX];
	size_t kl = xattr_key(k, ino, name);
	return lkv_get(fs->t_xattrs, k, kl, buf, cap, len);
}

int xattr_put_raw(lfs *fs, lkv_batch *b, uint64_t ino, const char *name,
		  const void *v, size_t len)
{
	uint8_t k[XATTR_KEY_MAX];
	size_t kl = xattr_key(k, ino, name);
	return lkv_batch_put(b, fs->t_xattrs, k, kl, len ? v : "", len);
}

int xattr_del_raw(lfs *fs, lkv_batch *b, uint64_t ino, const char *name)
{
	uint8_t k[XATTR_KEY_MAX];
	size_t kl = xattr_key(k, ino, name);
	return lkv_batch_delete(b, fs->t_xattrs, k, kl);
}

/* Calls fn on each attribute name of ino (key bytes, not NUL-terminated). */
static int xattr_each(lfs *fs, uint64_t ino,
		      int (*fn)(void *arg, const uint8_t *key, size_t kl), void *arg)
{
	uint8_t p[8];
	be64_put(p, ino);
	lkv_iter *it;
	int err = lkv_iter_prefix(fs->t_xattrs, p, sizeof(p), 0, &it);
	if (err)
		return err;
	const void *k;
	size_t kl, vl;
	while ((err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0)
		if ((err = fn(arg, k, kl)))
			break;
	lkv_iter_close(it);
	return err < 0 ? err : 0;
}

struct drop_arg { lfs *fs; lkv_batch *b; };

static int drop_one(void *arg, const uint8_t *k, size_t kl)
{
	struct drop_arg *d = arg;
	return lkv_batch_delete(d->b, d->fs->t_xattrs, k, kl);
}

int xattr_drop(lfs *fs, lkv_batch *b, uint64_t ino)
{
	struct drop_arg d = { fs, b };
	return xattr_each(fs, ino, drop_one, &d);
}

/* Applies a set (v != NULL) or a removal to the inode's attributes. */
static int xattr_change(lfs *fs, uint64_t ino, const char *name, const void *v,
			size_t size, int flags)
{
	struct txn t;
	int err = txn_begin(fs, &t);
	if (err)
		return err;
	txn_add(&t, ino);
	txn_lock(&t);
	struct inode in;
	size_t len;
	err = inode_get(fs, ino, &in);
	if (!err)
		err = name_ok(name, in.mode);
	if (!err) {
		err = xattr_get_raw(fs, ino, name, NULL, 0, &len);
		bool exists = !err;
		err = err == -ENOENT ? 0 : err;
		if (!err && (flags & XATTR_CREATE) && exists)
			err = -EEXIST;
		if (!err && !exists && !v && acl_is_name(name))
			err = 1;        /* no ACL to remove: done (as set_acl(NULL)) */
		else if (!err && !exists && (!v || (flags & XATTR_REPLACE)))
			err = -ENODATA;
	}
	bool store = v != NULL;
	if (!err && v && !strcmp(name, ACL_ACCESS)) {
		err = acl_set_access(&in, v, size, &store);
		if (flags & LFS_XATTR_KILL_SGID)
			in.mode &= ~(mode_t)S_ISGID;
	}
	else if (!err && v && !strcmp(name, ACL_DEFAULT))
		err = S_ISDIR(in.mode) ? acl_check(v, size, NULL) : -EACCES;
	if (!err)
		err = store ? xattr_put_raw(fs, t.b, ino, name, v, size)
			    : xattr_del_raw(fs, t.b, ino, name);
	if (!err) {
		inode_touch(&in, false, true);
		err = inode_put(fs, t.b, &in);
	}
	if (!err)
		err = txn_commit(&t);
	txn_end(&t);
	return err > 0 ? 0 : err;
}

int lfs_setxattr(lfs *fs, uint64_t ino, const char *name, const void *value,
		 size_t size, int flags)
{
	if (size > LFS_XATTR_SIZE_MAX)
		return -E2BIG;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE | LFS_XATTR_KILL_SGID))
		return -EINVAL;
	int err = fs->ro ? -EROFS : space_claim(fs, size + LFS_XATTR_NAME_MAX);
	if (err)
		return err;
	return xattr_change(fs, ino, name, value ? value : "", size, flags);
}

int lfs_removexattr(lfs *fs, uint64_t ino, const char *name)
{
	return xattr_change(fs, ino, name, NULL, 0, 0);
}

ssize_t lfs_getxattr(lfs *fs, uint64_t ino, const char *name, void *value, size_t size)
{
	if (ino == LFS_ROOT_INO && !strcmp(name, LFS_STATS_XATTR))
		return lfs_stats_xattr(fs, value, size);
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (!err)
		err = name_ok(name, in.mode);
	if (err == -EPERM)
		return -ENODATA;
	if (err)
		return err;
	size_t len;
	err = xattr_get_raw(fs, ino, name, value, size, &len);
	if (err)
		return err == -ENOENT ? -ENODATA : err;
	if (size && len > size)
		return -ERANGE;
	return (ssize_t)len;
}

struct list_arg { char *list; size_t size, len; };

static int list_one(void *arg, const uint8_t *k, size_t kl)
{
	struct list_arg *l = arg;
	size_t n = kl - 8;
	if (l->size && l->len + n + 1 <= l->size) {
		memcpy(l->list + l->len, k + 8, n);
		l->list[l->len + n] = 0;
	}
	l->len += n + 1;
	return 0;
}

ssize_t lfs_listxattr(lfs *fs, uint64_t ino, char *list, size_t size)
{
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err;
	struct list_arg l = { list, size, 0 };
	err = xattr_each(fs, ino, list_one, &l);
	if (err)
		return err;
	if (size && l.len > size)
		return -ERANGE;
	return (ssize_t)l.len;
}
