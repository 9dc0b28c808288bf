/* SPDX-License-Identifier: MIT */
/*
 * Keys for fsck.larchfs: fixes that delete keys, and whole-tree scans.
 *
 * A scan reads one tree in key order.  A value it cannot read (a damaged
 * blob, left by -n) is passed on as NULL and the scan goes on after its
 * key; a leaf it cannot read ends the scan with -EIO, reported once, and
 * the tree is then not checked whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck.h"

/* ---- fixes ---- */

void fix_delete(struct fsck *c, lkv_tree *t, const uint8_t *k, size_t kl)
{
	int err = lkv_batch_delete(c->b, t, k, kl);
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	fix_done(c, err);
}

int drop_prefix(struct fsck *c, lkv_tree *t, const uint8_t *p, size_t plen)
{
	for (;;) {
		lkv_iter *it;
		int err = lkv_iter_prefix(t, p, plen, 0, &it);
		if (err)
			return err;
		const void *k;
		size_t kl, vl;
		unsigned n = 0;
		while (n < 4096 && (err = lkv_iter_next_len(it, &k, &kl, &vl)) > 0) {
			err = lkv_batch_delete(c->b, t, k, kl);
			if (err)
				break;
			n++;
		}
		lkv_iter_close(it);
		if (err >= 0 && n)
			err = lkv_batch_commit(c->b, NULL);
		lkv_batch_clear(c->b);
		if (err < 0 || n < 4096)
			return err < 0 ? err : 0;
	}
}

/* ---- scans ---- */

static void describe_key(const uint8_t *k, size_t kl, char *buf,
			 size_t cap)
{
	if (kl >= INO_KEY_LEN)
		snprintf(buf, cap, "a key of inode %" PRIu64, ino_key_get(k));
	else
		snprintf(buf, cap, "a key of %zu bytes", kl);
}

/* Opens an iterator at the first key above `after` (or at lo). */
static int reopen(lkv_tree *t, const uint8_t *after, size_t alen, bool have,
		  const void *lo, size_t lo_len, lkv_iter **it)
{
	uint8_t k[LKV_KEY_MAX + 1];
	if (!have)
		return lkv_iter_open(t, lo, lo_len, NULL, 0, 0, it);
	memcpy(k, after, alen);
	k[alen] = 0;         /* the smallest key above `after` */
	return lkv_iter_open(t, k, alen + 1, NULL, 0, 0, it);
}

int scan_tree(struct fsck *c, lkv_tree *t, const void *lo, size_t lo_len, bool want_value,
	      scan_fn fn, void *arg)
{
	uint8_t *last = malloc(LKV_KEY_MAX);
	if (!last)
		return -ENOMEM;
	size_t last_len = 0;
	bool have = false;
	lkv_iter *it = NULL;
	int err = reopen(t, NULL, 0, false, lo, lo_len, &it);
	const char *tree = lkv_tree_name(t);
	while (!err) {
		const void *k, *v = NULL;
		size_t kl, vl;
		int r = want_value ? lkv_iter_next(it, &k, &kl, &v, &vl)
				   : lkv_iter_next_len(it, &k, &kl, &vl);
		if (r == 0)
			break;
		bool bad = false;
		if (r == -EIO && want_value) {
			/* a value that cannot be read: find its key without it */
			lkv_iter_close(it);
			it = NULL;
			err = reopen(t, last, last_len, have, lo, lo_len, &it);
			if (!err && (r = lkv_iter_next_len(it, &k, &kl, &vl)) == 0)
				break;
			v = NULL;
			bad = true;
		}
		if (r == -EIO) {
			char what[128];
			if (have)
				describe_key(last, last_len, what, sizeof(what));
			else
				snprintf(what, sizeof(what), "its first key");
			printf("Tree %s cannot be read past %s (an unreadable leaf): "
			       "the rest of it is not checked.\n", tree, what);
			c->incomplete = true;
			if (!c->leaves_bad) {       /* pass 0 did not count it */
				c->found++;
				c->left++;
			}
			err = -EIO;
			break;
		}
		if (r < 0) {
			err = r;
			break;
		}
		if (kl > LKV_KEY_MAX) {
			err = -EIO;
			break;
		}
		memcpy(last, k, kl);
		last_len = kl;
		have = true;
		int rc = fn(c, arg, last, kl, v, vl, bad);
		if (rc == 1)
			break;
		if (rc < 0)
			err = rc;
		if (bad && !err) {
			/* go on after the key whose value was unreadable */
			lkv_iter_close(it);
			it = NULL;
			err = reopen(t, last, last_len, true, lo, lo_len, &it);
		}
	}
	if (it)
		lkv_iter_close(it);
	free(last);
	return err;
}
