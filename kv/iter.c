/* SPDX-License-Identifier: MIT */
/*
 * Reads: point lookups and range scans.
 *
 * A lookup holds its tree's read lock while it searches a resident leaf.
 * For an evicted leaf it first asks the leaf's bloom filter (a "no" ends the
 * lookup without I/O), else it drops the lock, loads the leaf and retries.
 *
 * A value stored as a blob is read after the tree lock is dropped, from the
 * reference copied under it; the copy holds its segment (blob_hold) until
 * the read is done, so GC cannot delete the segment even if the key is
 * overwritten meanwhile.  A read that still cannot reach the record looks
 * the key up again while the reference keeps changing.
 *
 * An iterator copies the matching entries of one leaf at a time into its
 * own buffer under the read lock, then returns them without holding any
 * lock.  It resumes from the last key it returned (not from a leaf
 * pointer), so splits, merges and evictions between calls are harmless.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Looks key k up; on a hit copies bytes [off, off + len) of the value (as
 * far as it reaches) into buf, sets *vlen to the value's full length and
 * returns the number of bytes copied.  -ENOENT when absent.
 */
static ssize_t get_range(lkv_tree *t, const void *k, size_t kl, uint64_t off, void *buf,
			 size_t len, size_t *vlen, uint8_t *raw_flags)
{
	lkv_store *s = t->s;
	struct leaf *held = NULL;   /* loaded by the previous round, pinned */
	struct blob_ref ref, tried = { 0 };
	ssize_t ret = -ENOENT;
	if (kl > LKV_KEY_MAX)
		return -EINVAL;
	for (;;) {
		pthread_rwlock_rdlock(&t->lock);
		struct leaf *l = t->v[tree_find(t, k, kl)];
		if (l->ents) {
			bool found, blob = false;
			uint32_t i = entries_search(l->ents, k, kl, &found);
			ret = found ? 0 : -ENOENT;
			if (found) {
				const struct entry *e = &l->ents->e[i];
				blob = (e->flags & ENT_BLOB) && !raw_flags;
				if (raw_flags)
					*raw_flags = e->flags;
				if (blob && blob_ref_decode(e->v, e->vl, &ref))
					ret = -EIO;
				else if (blob && blob_hold(s, ref.seg))
					ret = -ENOMEM;
				*vlen = blob ? ref.raw_len : e->vl;
				size_t n = off >= *vlen ? 0 : *vlen - off < len ? *vlen - off : len;
				if (!blob && n)
					memcpy(buf, e->v + off, n);
				if (!ret)
					ret = (ssize_t)n;
			}
			atomic_store_explicit(&l->clock_ref, 1, memory_order_relaxed);
			pthread_rwlock_unlock(&t->lock);
			STAT_ADD(s, st_hits, 1);
			if (blob && ret == 0)         /* nothing to read */
				blob_done(s, ref.seg);
			if (blob && ret > 0) {
				int err = blob_read(s, &ref, off, buf, (size_t)ret);
				blob_done(s, ref.seg);
				bool moved = ref.seg != tried.seg || ref.off != tried.off;
				tried = ref;
				if (err == -ESTALE && moved)
					continue;        /* GC may have moved it: look again */
				if (err == -ESTALE)
					err = blob_unreadable(s, &ref);
				if (err)
					ret = err;
			}
			break;
		}
		if (!bloom_may_contain(&l->bloom, k, kl)) {
			pthread_rwlock_unlock(&t->lock);
			STAT_ADD(s, st_bloom, 1);
			break;
		}
		leaf_ref(l);
		pthread_rwlock_unlock(&t->lock);
		if (held)
			cache_release(held);
		held = NULL;
		int err = cache_load(s, l);
		if (err) {
			leaf_unref(l);
			return err;
		}
		held = l;
	}
	if (held)
		cache_release(held);
	return ret;
}

int lkv_get(lkv_tree *t, const void *k, size_t kl, void *buf, size_t cap, size_t *vlen)
{
	ssize_t n = get_range(t, k, kl, 0, buf, cap, vlen, NULL);
	return n < 0 ? (int)n : 0;
}

int tree_get_raw(lkv_tree *t, const void *k, size_t kl, uint8_t *flags, void *buf,
		 size_t cap, size_t *vl)
{
	ssize_t n = get_range(t, k, kl, 0, buf, cap, vl, flags);
	return n < 0 ? (int)n : 0;
}

ssize_t lkv_get_range(lkv_tree *t, const void *k, size_t kl, uint64_t off, void *buf,
		      size_t len, size_t *vlen)
{
	size_t dummy;
	return get_range(t, k, kl, off, buf, len, vlen ? vlen : &dummy, NULL);
}

/* ---- iterators ---- */

struct lkv_iter;
static void release_holds(struct lkv_iter *it);

struct lkv_iter {
	struct lkv_tree *t;
	bool reverse, done;
	struct buf lo, hi;        /* bounds; hi.len == 0 with !has_hi: none */
	bool has_hi;
	struct buf pos;           /* resume point: forward >= pos, reverse < pos */
	bool has_pos;
	struct buf items;         /* copied entries: u8 flags, varint kl, vl, key, value */
	size_t at;                /* read offset in items */
	struct buf val;           /* the current value when it is a blob */
	uint32_t *held;           /* segments held for the copied references */
	size_t nheld, heldcap;
	int hold_err;             /* a hold could not be taken (-ENOMEM) */
};

int lkv_iter_open(lkv_tree *t, const void *lo, size_t lo_len, const void *hi,
		  size_t hi_len, unsigned flags, lkv_iter **out)
{
	if (lo_len > LKV_KEY_MAX || hi_len > LKV_KEY_MAX || (flags & ~LKV_REVERSE))
		return -EINVAL;
	lkv_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->t = t;
	it->reverse = flags & LKV_REVERSE;
	if (lo)
		buf_add(&it->lo, lo, lo_len);
	if (hi) {
		buf_add(&it->hi, hi, hi_len);
		it->has_hi = true;
	}
	if (it->reverse && hi) {
		buf_add(&it->pos, hi, hi_len);
		it->has_pos = true;
	} else if (!it->reverse) {
		buf_add(&it->pos, it->lo.p, it->lo.len);
		it->has_pos = true;
	}
	if (it->lo.oom || it->hi.oom || it->pos.oom) {
		lkv_iter_close(it);
		return -ENOMEM;
	}
	*out = it;
	return 0;
}

/* The smallest key greater than every key with this prefix, if any. */
static bool prefix_end(const uint8_t *p, size_t len, size_t *end_len)
{
	while (len && p[len - 1] == 0xff)
		len--;
	*end_len = len;
	return len > 0;
}

int lkv_iter_prefix(lkv_tree *t, const void *prefix, size_t len, unsigned flags,
		    lkv_iter **out)
{
	uint8_t hi[LKV_KEY_MAX];
	size_t hl;
	if (len > LKV_KEY_MAX)
		return -EINVAL;
	memcpy(hi, prefix, len);
	if (!prefix_end(hi, len, &hl))
		return lkv_iter_open(t, prefix, len, NULL, 0, flags, out);
	hi[hl - 1]++;
	return lkv_iter_open(t, prefix, len, hi, hl, flags, out);
}

void lkv_iter_close(lkv_iter *it)
{
	if (!it)
		return;
	buf_free(&it->lo);
	buf_free(&it->hi);
	buf_free(&it->pos);
	buf_free(&it->items);
	buf_free(&it->val);
	release_holds(it);
	free(it->held);
	free(it);
}

static bool in_bounds(const lkv_iter *it, const struct entry *e)
{
	if (keycmp(e->k, e->kl, it->lo.p, it->lo.len) < 0)
		return false;
	return !it->has_hi || keycmp(e->k, e->kl, it->hi.p, it->hi.len) < 0;
}

static void release_holds(lkv_iter *it)
{
	for (size_t i = 0; i < it->nheld; i++)
		blob_done(it->t->s, it->held[i]);
	it->nheld = 0;
}

/* Holds the segment of a blob reference being copied (caller holds the
 * tree lock, so the reference is current). */
static void hold_ref(lkv_iter *it, const struct entry *e)
{
	struct blob_ref r;
	if (blob_ref_decode(e->v, e->vl, &r))
		return;                      /* reported when it is read */
	if (it->nheld == it->heldcap) {
		size_t cap = it->heldcap ? it->heldcap * 2 : 16;
		uint32_t *v = realloc(it->held, cap * sizeof(*v));
		if (!v) {
			it->hold_err = -ENOMEM;
			return;
		}
		it->held = v;
		it->heldcap = cap;
	}
	if (blob_hold(it->t->s, r.seg)) {
		it->hold_err = -ENOMEM;
		return;
	}
	it->held[it->nheld++] = r.seg;
}

static void copy_ent(lkv_iter *it, const struct entry *e)
{
	if (e->flags & ENT_BLOB)
		hold_ref(it, e);
	buf_u8(&it->items, e->flags);
	buf_varint(&it->items, e->kl);
	buf_varint(&it->items, e->vl);
	buf_add(&it->items, e->k, e->kl);
	buf_add(&it->items, e->v, e->vl);
}

/*
 * Copies the entries of one resident leaf (index position i) in range and
 * moves the resume point to the next leaf.  Caller holds the read lock.
 */
static void fill_from(lkv_iter *it, size_t i)
{
	struct lkv_tree *t = it->t;
	const struct entries *d = t->v[i]->ents;
	bool found;
	if (!it->reverse) {
		uint32_t j = entries_search(d, it->pos.p, it->pos.len, &found);
		for (; j < d->n && in_bounds(it, &d->e[j]); j++)
			copy_ent(it, &d->e[j]);
		it->pos.len = 0;
		if (i + 1 < t->n && (j == d->n)) {
			const struct leaf *nx = t->v[i + 1];
			buf_add(&it->pos, nx->low, nx->low_len);
			it->done = it->has_hi &&
				keycmp(nx->low, nx->low_len, it->hi.p, it->hi.len) >= 0;
		} else {
			it->done = true;
		}
	} else {
		uint32_t j = it->has_pos ? entries_search(d, it->pos.p, it->pos.len, &found) : d->n;
		for (; j > 0 && in_bounds(it, &d->e[j - 1]); j--)
			copy_ent(it, &d->e[j - 1]);
		const struct leaf *l = t->v[i];
		it->pos.len = 0;
		buf_add(&it->pos, l->low, l->low_len);
		it->has_pos = true;
		it->done = i == 0 || j > 0 ||
			keycmp(l->low, l->low_len, it->lo.p, it->lo.len) <= 0;
	}
}

/* Refills the item buffer from the next leaf that has matching entries. */
static int refill(lkv_iter *it)
{
	struct lkv_tree *t = it->t;
	struct leaf *held = NULL;
	int err = 0;
	it->items.len = 0;
	it->at = 0;
	release_holds(it);
	while (!it->done && it->items.len == 0 && !err) {
		pthread_rwlock_rdlock(&t->lock);
		size_t i;
		if (it->reverse && !it->has_pos) {
			i = t->n - 1;
		} else {
			i = tree_find(t, it->pos.p, it->pos.len);
			/* reverse: keys < pos; pos equal to a leaf's low key means
			 * the previous leaf */
			if (it->reverse && i > 0 && !keycmp(t->v[i]->low, t->v[i]->low_len,
							     it->pos.p, it->pos.len))
				i--;
		}
		struct leaf *l = t->v[i];
		if (l->ents) {
			atomic_store_explicit(&l->clock_ref, 1, memory_order_relaxed);
			fill_from(it, i);
			pthread_rwlock_unlock(&t->lock);
			if (it->items.oom || it->pos.oom || it->hold_err)
				err = -ENOMEM;
			continue;
		}
		leaf_ref(l);
		pthread_rwlock_unlock(&t->lock);
		if (held)
			cache_release(held);
		held = NULL;
		err = cache_load(t->s, l);
		if (err)
			leaf_unref(l);
		else
			held = l;
	}
	if (held)
		cache_release(held);
	return err;
}

/* Reads the blob a copied reference names into it->val. */
static int iter_blob(lkv_iter *it, const void *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct blob_ref r;
	if (blob_ref_decode(v, vl, &r))
		return -EIO;
	it->val.len = 0;
	if (!buf_reserve(&it->val, r.raw_len ? r.raw_len : 1))
		return -ENOMEM;
	int err = blob_read(it->t->s, &r, 0, it->val.p, r.raw_len);
	if (err == -ESTALE) {
		/* moved by GC since the copy? then the tree has the new place */
		size_t len;
		ssize_t n = get_range(it->t, k, kl, 0, it->val.p, r.raw_len, &len, NULL);
		err = n < 0 ? (int)n : len == r.raw_len ? 0 : -EIO;
	}
	it->val.len = r.raw_len;
	return err;
}

/* Steps to the next copied item: its flags, key and stored value (for a
 * blob, the reference).  1, 0 at the end, or a negative errno. */
static int iter_step(lkv_iter *it, uint8_t *flags, const void **k, size_t *kl,
		     const void **v, size_t *vl)
{
	if (it->at >= it->items.len) {
		int err = refill(it);
		if (err)
			return err;
		if (it->items.len == 0)
			return 0;
	}
	struct rd r = rd_init(it->items.p + it->at, it->items.len - it->at);
	*flags = rd_u8(&r);
	*kl = rd_varint(&r);
	*vl = rd_varint(&r);
	*k = rd_take(&r, *kl);
	*v = rd_take(&r, *vl);
	it->at = r.p - it->items.p;
	return 1;
}

int lkv_iter_next_len(lkv_iter *it, const void **k, size_t *kl, size_t *vlen)
{
	uint8_t flags = 0;
	const void *v = NULL;
	size_t vl = 0;
	int ret = iter_step(it, &flags, k, kl, &v, &vl);
	if (ret <= 0)
		return ret;
	struct blob_ref r;
	if ((flags & ENT_BLOB) && blob_ref_decode(v, vl, &r))
		return -EIO;
	*vlen = (flags & ENT_BLOB) ? r.raw_len : vl;
	return 1;
}

int lkv_iter_next(lkv_iter *it, const void **k, size_t *kl, const void **v, size_t *vl)
{
	uint8_t flags = 0;
	int ret = iter_step(it, &flags, k, kl, v, vl);
	if (ret <= 0)
		return ret;
	if (flags & ENT_BLOB) {
		int err = iter_blob(it, *k, *kl, *v, *vl);
		if (err)
			return err;
		*v = it->val.p;
		*vl = it->val.len;
	}
	return 1;
}
