/* SPDX-License-Identifier: MIT */
/*
 * Extended attribute records: the `xattrs` tree maps (be64 ino, name) to
 * the value bytes, with no meaning attached: namespaces, flags and ACLs
 * are the callers' (xattr.c, acl.c).
 */
#include "internal.h"

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

typedef int (*xattr_key_fn)(void *arg, const uint8_t *key, size_t kl);

/* Calls fn on the key of each attribute of ino in tree t, until fn
 * returns non-zero. */
static int each_key(lkv_tree *t, uint64_t ino, xattr_key_fn fn, void *arg)
{
	uint8_t p[INO_KEY_LEN];
	ino_key(p, ino);
	lkv_iter *it;
	int err = lkv_iter_prefix(t, p, sizeof(p), 0, &it);
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

/* Calls fn on each attribute name of ino (the key bytes: the name follows
 * INO_KEY_LEN bytes, not NUL-terminated). */
int xattr_each(lfs *fs, uint64_t ino, xattr_key_fn fn, void *arg)
{
	return each_key(fs->t_xattrs, ino, fn, arg);
}

struct drop_arg { lkv_tree *t; lkv_batch *b; };

static int drop_one(void *arg, const uint8_t *k, size_t kl)
{
	struct drop_arg *d = arg;
	return lkv_batch_delete(d->b, d->t, k, kl);
}

int xattr_drop(lkv_tree *t, lkv_batch *b, uint64_t ino)
{
	struct drop_arg d = { t, b };
	return each_key(t, ino, drop_one, &d);
}
