/* SPDX-License-Identifier: MIT */
/*
 * The xattr calls: lfs_setxattr, lfs_getxattr, lfs_listxattr and
 * lfs_removexattr.  Names are 1..255 bytes in the user., trusted. and
 * security. namespaces, or one of the two POSIX ACL names, whose values
 * are checked and kept in step with the mode (acl.c).  user. attributes
 * exist only on regular files and directories, as on Linux.  The root's
 * LFS_STATS_XATTR and LFS_METRICS_XATTR are served by stats.c, neither
 * stored nor listed.
 * The records themselves are xattr_records.c's.
 */
#include <errno.h>
#include <sys/xattr.h>

#include "internal.h"

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

/* Applies a set (v != NULL) or a removal to the inode's attributes. */
static int xattr_change(lfs *fs, uint64_t ino, const char *name, const void *v,
			size_t size, int flags)
{
	struct txn t;
	int err = txn_begin(fs, &t);
	if (err)
		return err;
	struct inode in;
	size_t len;
	err = txn_add(&t, ino);
	if (!err) {
		txn_lock(&t);
		err = inode_get(fs, ino, &in);
	}
	if (!err)
		err = iflags_refuse(&in, IFLAGS_FIXED);   /* xattr_permission's */
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
	if (!err && v && !strcmp(name, ACL_ACCESS_XATTR)) {
		err = acl_set_access(&in, v, size, &store);
		if (flags & LFS_XATTR_KILL_SGID)
			in.mode &= ~(mode_t)S_ISGID;
	}
	else if (!err && v && !strcmp(name, ACL_DEFAULT_XATTR))
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
	if (ino == LFS_ROOT_INO && !strcmp(name, LFS_METRICS_XATTR))
		return lfs_metrics_xattr(fs, value, size);
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
	size_t n = kl - INO_KEY_LEN;
	if (l->size && l->len + n + 1 <= l->size) {
		memcpy(l->list + l->len, k + INO_KEY_LEN, n);
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
