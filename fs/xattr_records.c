/* SPDX-License-Identifier: MIT */
/*
 * Extended attribute records: the `xattrs` tree maps (be64 ino, name) to
 * the value bytes, with no meaning attached: namespaces, flags and ACLs
 * are the callers' (xattr.c, acl.c).
 */
#include "internal.h"

#define XATTR_KEY_MAX (8 + LFS_XATTR_NAME_MAX)

static size_t xattr_key(uint8_t *k, uint64_t ino, const char *name)
{
	size_t n = strlen(name);
	be64_put(k, ino);
	memcpy(k + 8, name, n);
	return 8 + n;
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
int xattr_each(lfs *fs, uint64_t ino,
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
