/* SPDX-License-Identifier: MIT */
/*
 * POSIX ACLs.  The kernel enforces them (FUSE_CAP_POSIX_ACL); the
 * filesystem stores them as the xattrs system.posix_acl_access and
 * system.posix_acl_default, and keeps them in step with the mode, as
 * fs/posix_acl.c does for local filesystems:
 *  - setting an access ACL sets the mode's permission bits from it, and an
 *    ACL that says no more than the mode is not stored at all;
 *  - chmod rewrites the owner, group-or-mask and other entries;
 *  - a new inode in a directory with a default ACL gets that ACL, masked by
 *    the mode it was created with, instead of the umask; a new directory
 *    also inherits the default ACL itself.
 *
 * Xattr format (little-endian): u32 version 2, then 8-byte entries
 * {u16 tag, u16 perm, u32 id}, in tag order; id matters for USER and GROUP.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define ACL_VERSION   2
#define ACL_USER_OBJ  0x01
#define ACL_USER      0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP     0x08
#define ACL_MASK      0x10
#define ACL_OTHER     0x20
#define ACL_MAX_ENTRIES ((LFS_XATTR_SIZE_MAX - 4) / 8)

static uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

bool acl_is_name(const char *name)
{
	return !strcmp(name, ACL_ACCESS_XATTR) || !strcmp(name, ACL_DEFAULT_XATTR);
}

/* Validates an ACL: entries in tag order, one each of USER_OBJ, GROUP_OBJ
 * and OTHER, a MASK exactly when named entries exist.  *minimal (may be
 * NULL) tells whether it says no more than a mode. */
int acl_check(const void *v, size_t len, bool *minimal)
{
	const uint8_t *p = v;
	if (len < 4)
		return -EINVAL;
	if (le32_get(p) != ACL_VERSION)
		return -EOPNOTSUPP;
	if ((len - 4) % 8)
		return -EINVAL;
	unsigned seen = 0, prev = 0, named = 0;
	for (size_t off = 4; off < len; off += 8) {
		unsigned tag = le16_get(p + off), perm = le16_get(p + off + 2);
		bool one = tag == ACL_USER_OBJ || tag == ACL_GROUP_OBJ ||
			   tag == ACL_MASK || tag == ACL_OTHER;
		if (perm > 7 || tag < prev || (one && (seen & tag)) ||
		    !(one || tag == ACL_USER || tag == ACL_GROUP))
			return -EINVAL;
		named += !one;
		seen |= tag;
		prev = tag;
	}
	unsigned need = ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_OTHER;
	if ((seen & need) != need || (named && !(seen & ACL_MASK)))
		return -EINVAL;
	if (minimal)
		*minimal = !named && !(seen & ACL_MASK);
	return 0;
}

/* The permission bits an ACL grants: owner, mask (or group), other. */
static mode_t acl_mode(const uint8_t *p, size_t len)
{
	mode_t u = 0, g = 0, m = 0, o = 0;
	bool has_mask = false;
	for (size_t off = 4; off < len; off += 8) {
		unsigned tag = le16_get(p + off), perm = le16_get(p + off + 2);
		if (tag == ACL_USER_OBJ)
			u = perm;
		else if (tag == ACL_GROUP_OBJ)
			g = perm;
		else if (tag == ACL_MASK)
			m = perm, has_mask = true;
		else if (tag == ACL_OTHER)
			o = perm;
	}
	return u << 6 | (has_mask ? m : g) << 3 | o;
}

int acl_set_access(struct inode *in, const void *v, size_t len, bool *store)
{
	bool minimal;
	int err = acl_check(v, len, &minimal);
	if (err)
		return err;
	in->mode = (in->mode & ~0777u) | acl_mode(v, len);
	*store = !minimal;
	return 0;
}

/* Sets the owner, group-or-mask and other entries from mode; with `mask`
 * they are ANDed with it (inheritance) and mode is narrowed to match. */
static void acl_apply_mode(uint8_t *p, size_t len, mode_t *mode, bool mask)
{
	bool has_mask = false;
	for (size_t off = 4; off < len; off += 8)
		has_mask |= le16_get(p + off) == ACL_MASK;
	for (size_t off = 4; off < len; off += 8) {
		unsigned tag = le16_get(p + off), perm = le16_get(p + off + 2), bits;
		if (tag == ACL_USER_OBJ)
			bits = *mode >> 6 & 7;
		else if (tag == (has_mask ? ACL_MASK : ACL_GROUP_OBJ))
			bits = *mode >> 3 & 7;
		else if (tag == ACL_OTHER)
			bits = *mode & 7;
		else
			continue;
		le16_put(p + off + 2, (uint16_t)(mask ? perm & bits : bits));
	}
	if (mask)
		*mode = (*mode & ~0777u) | acl_mode(p, len);
}

/* Reads an ACL xattr into a new buffer: 0 and *out NULL when absent. */
static int acl_read(lfs *fs, uint64_t ino, const char *name, uint8_t **out, size_t *len)
{
	*out = NULL;
	int err = xattr_get_raw(fs, ino, name, NULL, 0, len);
	if (err)
		return err == -ENOENT ? 0 : err;
	uint8_t *p = malloc(*len ? *len : 1);
	if (!p)
		return -ENOMEM;
	size_t again;
	err = xattr_get_raw(fs, ino, name, p, *len, &again);
	if (!err && (again != *len || acl_check(p, *len, NULL)))
		err = -EIO;
	if (err) {
		free(p);
		return err == -ENOENT ? 0 : err;
	}
	*out = p;
	return 0;
}

int acl_chmod(lfs *fs, lkv_batch *b, const struct inode *in)
{
	uint8_t *p;
	size_t len;
	int err = acl_read(fs, in->ino, ACL_ACCESS_XATTR, &p, &len);
	if (err || !p)
		return err;
	mode_t mode = in->mode;
	acl_apply_mode(p, len, &mode, false);
	err = xattr_put_raw(fs, b, in->ino, ACL_ACCESS_XATTR, p, len);
	free(p);
	return err;
}

int acl_inherit(lfs *fs, lkv_batch *b, const struct inode *dir, struct inode *in,
		mode_t umask)
{
	uint8_t *p;
	size_t len;
	int err = acl_read(fs, dir->ino, ACL_DEFAULT_XATTR, &p, &len);
	if (err)
		return err;
	if (!p) {
		in->mode &= ~(umask & 0777);
		return 0;
	}
	if (S_ISDIR(in->mode))
		err = xattr_put_raw(fs, b, in->ino, ACL_DEFAULT_XATTR, p, len);
	mode_t mode = in->mode;
	acl_apply_mode(p, len, &mode, true);
	in->mode = mode;
	bool minimal;
	acl_check(p, len, &minimal);
	if (!err && !minimal)
		err = xattr_put_raw(fs, b, in->ino, ACL_ACCESS_XATTR, p, len);
	free(p);
	return err;
}
