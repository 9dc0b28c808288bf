/* SPDX-License-Identifier: MIT */
/*
 * Atomic batches across trees, and how one is applied: keeping leaves
 * within size (split, merge, drop empty) as it goes.  The public write
 * calls (write.c) add admission in front of this: back-pressure and GC
 * help; GC's relocations use this file directly.
 *
 * Committing a batch:
 *   1. sort the operations by (tree, key), the last one on a key wins;
 *   2. page in and pin every leaf the batch touches, holding no lock;
 *   3. write-lock the touched trees in ascending id order and check that
 *      each key's leaf is still resident (a split or a dropped leaf may
 *      have moved the key meanwhile: if so unlock and go back to 2);
 *   4. check in to the current epoch, apply everything, split/merge the
 *      changed leaves, check out, unlock.
 * A large value arrives as the reference of a blob record already
 * appended (write.c, blob.c); the live blob bytes of each segment are
 * adjusted in the same epoch as the entries that gain or lose a reference.
 * Readers take the tree lock shared, so they see a batch whole or not at
 * all; recovery does too, because a batch lives in exactly one epoch.
 * Nothing in steps 3-4 does I/O, so a seal never waits long for a writer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct op {
	struct lkv_tree *t;
	size_t koff, voff;      /* into the batch arena */
	uint32_t kl, vl;
	uint32_t seq;           /* position in the batch */
	bool del;
	uint8_t flags;          /* ENT_BLOB: the value is a reference */
	bool cond;              /* apply only if the key still references expect */
	struct blob_ref expect;
};

struct lkv_batch {
	lkv_store *s;
	struct op *ops;
	size_t n, cap;
	struct buf arena;
	struct leaf **pins;     /* leaves pinned for this commit */
	size_t npins, pincap;
	uint32_t *appended;     /* segments holding blobs appended for it */
	size_t nappended, appcap;
};

lkv_store *lkv_batch_store(const lkv_batch *b)
{
	return b->s;
}

lkv_batch *lkv_batch_new(lkv_store *s)
{
	lkv_batch *b = calloc(1, sizeof(*b));
	if (b)
		b->s = s;
	return b;
}

static void appended_done(lkv_batch *b);

void lkv_batch_clear(lkv_batch *b)
{
	appended_done(b);
	b->n = 0;
	b->arena.len = 0;
	b->arena.oom = false;
}

void lkv_batch_free(lkv_batch *b)
{
	if (!b)
		return;
	appended_done(b);
	free(b->ops);
	buf_free(&b->arena);
	free(b->pins);
	free(b->appended);
	free(b);
}

/* Notes that a blob was appended to segment seg for this batch; the
 * append stays pending until the commit ends.  On -ENOMEM the caller
 * ends it itself. */
int batch_appended(lkv_batch *b, uint32_t seg)
{
	if (b->nappended == b->appcap) {
		size_t cap = b->appcap ? b->appcap * 2 : 8;
		uint32_t *v = realloc(b->appended, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->appended = v;
		b->appcap = cap;
	}
	b->appended[b->nappended++] = seg;
	return 0;
}

static void appended_done(lkv_batch *b)
{
	for (size_t i = 0; i < b->nappended; i++)
		blob_done(b->s, b->appended[i]);
	b->nappended = 0;
}

static int batch_add(lkv_batch *b, lkv_tree *t, const void *k, size_t kl,
		     const void *v, size_t vl, bool del)
{
	if (!t || t->s != b->s || kl > LKV_KEY_MAX || vl > LKV_VALUE_MAX || (kl && !k) ||
	    (vl && !v))
		return -EINVAL;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct op *o = realloc(b->ops, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		b->ops = o;
		b->cap = cap;
	}
	size_t koff = b->arena.len;
	buf_add(&b->arena, k, kl);
	buf_add(&b->arena, v, vl);
	if (b->arena.oom)
		return -ENOMEM;
	b->ops[b->n] = (struct op){ .t = t, .koff = koff, .voff = koff + kl,
				    .kl = kl, .vl = vl, .seq = (uint32_t)b->n, .del = del };
	b->n++;
	return 0;
}

size_t batch_size(const lkv_batch *b)
{
	return b->n;
}

int lkv_batch_delete(lkv_batch *b, lkv_tree *t, const void *k, size_t kl)
{
	return batch_add(b, t, k, kl, NULL, 0, true);
}

/* Adds the put of key k whose value is the blob record r, which was
 * appended for this batch (the batch holds its segment until it ends). */
int batch_put_blob(lkv_batch *b, lkv_tree *t, const void *k, size_t kl,
		   const struct blob_ref *r)
{
	int err = batch_appended(b, r->seg);
	if (err) {
		blob_done(b->s, r->seg);
		return err;
	}
	uint8_t ref[BLOB_REF_LEN];
	blob_ref_encode(r, ref);
	err = batch_add(b, t, k, kl, ref, sizeof(ref), false);
	if (!err)
		b->ops[b->n - 1].flags = ENT_BLOB;
	return err;
}

/* Whether the batch has appended a blob yet. */
bool batch_has_blobs(const lkv_batch *b)
{
	return b->nappended > 0;
}

/* Adds a put of a small value (below the blob threshold, or no blobs). */
int batch_put_inline(lkv_batch *b, lkv_tree *t, const void *k, size_t kl, const void *v,
		     size_t vl)
{
	return batch_add(b, t, k, kl, v, vl, false);
}

/* GC: points key k at blob `to` if it still references blob `from`. */
int batch_relocate(lkv_batch *b, lkv_tree *t, const void *k, size_t kl,
		   const struct blob_ref *from, const struct blob_ref *to)
{
	uint8_t ref[BLOB_REF_LEN];
	blob_ref_encode(to, ref);
	int err = batch_add(b, t, k, kl, ref, sizeof(ref), false);
	if (!err) {
		struct op *o = &b->ops[b->n - 1];
		o->flags = ENT_BLOB;
		o->cond = true;
		o->expect = *from;
	}
	return err;
}

/* ---- step 1: order ---- */

static int op_cmp(const void *a, const void *b, void *arena)
{
	const struct op *x = a, *y = b;
	const uint8_t *base = arena;
	if (x->t->id != y->t->id)
		return x->t->id < y->t->id ? -1 : 1;
	int c = keycmp(base + x->koff, x->kl, base + y->koff, y->kl);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : 1;
}

static bool same_key(const lkv_batch *b, const struct op *x, const struct op *y)
{
	return x->t == y->t && !keycmp(b->arena.p + x->koff, x->kl, b->arena.p + y->koff, y->kl);
}

/* Sorts by (tree, key) and keeps only the last operation on each key. */
static void batch_sort(lkv_batch *b)
{
	if (b->n < 2)
		return;
	qsort_r(b->ops, b->n, sizeof(*b->ops), op_cmp, b->arena.p);
	size_t w = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (w && same_key(b, &b->ops[w - 1], &b->ops[i]))
			w--;
		b->ops[w++] = b->ops[i];
	}
	b->n = w;
}

/* ---- step 2: page in and pin ---- */

static int pin(lkv_batch *b, struct leaf *l)
{
	if (b->npins == b->pincap) {
		size_t cap = b->pincap ? b->pincap * 2 : 16;
		struct leaf **v = realloc(b->pins, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->pins = v;
		b->pincap = cap;
	}
	leaf_ref(l);
	atomic_fetch_add(&l->pins, 1);
	b->pins[b->npins++] = l;
	return 0;
}

/* Takes over the pin and reference of a cache_load. */
static int pin_loaded(lkv_batch *b, struct leaf *l)
{
	int err = pin(b, l);
	cache_release(l);
	return err;
}

static void unpin_all(lkv_batch *b)
{
	for (size_t i = 0; i < b->npins; i++) {
		atomic_fetch_sub(&b->pins[i]->pins, 1);
		leaf_unref(b->pins[i]);
	}
	b->npins = 0;
}

/*
 * Pins the leaf of every op, tree by tree under the read lock.  A leaf that
 * is not resident is loaded with no lock held, and its op looked up again.
 */
static int pin_all(lkv_batch *b)
{
	size_t i = 0;
	while (i < b->n) {
		struct lkv_tree *t = b->ops[i].t;
		struct leaf *missing = NULL;
		int err = 0;
		pthread_rwlock_rdlock(&t->lock);
		for (; i < b->n && b->ops[i].t == t && !err; i++) {
			struct leaf *l = t->v[tree_find(t, b->arena.p + b->ops[i].koff,
							b->ops[i].kl)];
			if (b->npins && b->pins[b->npins - 1] == l)
				continue;
			if (!l->ents) {
				missing = l;
				leaf_ref(l);
				break;
			}
			err = pin(b, l);
		}
		pthread_rwlock_unlock(&t->lock);
		if (missing) {
			/* stays pinned by the load until this commit ends */
			err = cache_load(b->s, missing);
			if (!err)
				err = pin_loaded(b, missing);
			else
				leaf_unref(missing);
		}
		if (err)
			return err;
	}
	return 0;
}

/* ---- step 3: lock ---- */

static void lock_trees(lkv_batch *b, bool lock)
{
	for (size_t i = 0; i < b->n; i++) {
		if (i && b->ops[i].t == b->ops[i - 1].t)
			continue;
		if (lock)
			pthread_rwlock_wrlock(&b->ops[i].t->lock);
		else
			pthread_rwlock_unlock(&b->ops[i].t->lock);
	}
}

static bool all_resident(lkv_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct lkv_tree *t = b->ops[i].t;
		if (!t->v[tree_find(t, b->arena.p + b->ops[i].koff, b->ops[i].kl)]->ents)
			return false;
	}
	return true;
}

/* ---- step 4: apply ---- */

/*
 * Keeps store->dirty_bytes in step with a dirty leaf's memory, counted as
 * the cache counts it (entries_mem): dirty leaves cannot be evicted, so
 * the dirty limit, a quarter of the cache, must be in the cache's unit.
 * Counted as serialized bytes, small entries (inodes, names) made 1.25 MB
 * "dirty" hold about 3 MB of a 4 MB cache, and loads found nothing to
 * evict.
 */
static void dirty_charge(lkv_store *s, struct leaf *l)
{
	size_t now = l->ents && !l->dead_epoch ? entries_mem(l->ents) : 0;
	atomic_fetch_add(&s->dirty_bytes, now);
	atomic_fetch_sub(&s->dirty_bytes, l->dirty_charged);
	l->dirty_charged = now;
	cache_track(s, l);
}

/* A split must move at least this share of leaf_bytes either way: a leaf
 * that is too big because of one large value (a growing one: larchfs's
 * sub-block writes) keeps its few small neighbours instead of being cut
 * into a tiny leaf and a new one whose full image holds the value. */
#define SPLIT_MIN_SHARE 16

/*
 * What a split of leaf pos leaves in it: half its entries' bytes, or,
 * for the tree's last leaf, 7/8 of a leaf.  Keys that only grow (inode
 * numbers) land in the last leaf: halves would leave every leaf behind
 * them half full for good, doubling the index, its snapshots and the
 * reads of a scan; the eighth left over is room for records that grow.
 */
static size_t split_keep(const lkv_store *s, const struct lkv_tree *t, size_t pos)
{
	if (pos + 1 == t->n)
		return (size_t)s->o.leaf_bytes * 7 / 8;
	return t->v[pos]->ents->bytes / 2;
}

/* Whether leaf pos is over leaf_bytes and a split would cut it into two
 * pieces neither of which is tiny. */
static bool leaf_should_split(const lkv_store *s, const struct lkv_tree *t, size_t pos)
{
	const struct entries *d = t->v[pos]->ents;
	return d->bytes > s->o.leaf_bytes && d->n >= 2 &&
	       entries_split_smaller(d, split_keep(s, t, pos)) >=
		       s->o.leaf_bytes / SPLIT_MIN_SHARE;
}

/* Splits leaf at pos until every piece fits in leaf_bytes (or the rest is
 * one large value with next to nothing beside it). */
static int leaf_fit(lkv_store *s, struct lkv_tree *t, size_t pos, uint64_t e)
{
	struct leaf *l = t->v[pos];
	while (leaf_should_split(s, t, pos)) {
		struct entries *rd;
		int err = entries_split(l->ents, split_keep(s, t, pos), &rd);
		if (err)
			return err;
		struct leaf *nl = leaf_new(t, atomic_fetch_add(&s->next_leaf_id, 1),
					   rd->e[0].k, rd->e[0].kl);
		if (!nl || tree_insert_leaf(t, pos + 1, nl)) {
			/* undo: give the entries back */
			entries_absorb(l->ents, rd);
			entries_free(rd);
			if (nl)
				leaf_unref(nl);
			return -ENOMEM;
		}
		nl->ents = rd;
		/* l's next delta deletes the keys that moved (or, short of
		 * memory, it is a full image); a leaf no flush ever took an
		 * image of needs none: its next record is a full image */
		bool imaged = l->loc.file || l->captured_epoch;
		for (uint32_t i = 0; imaged && i < rd->n; i++)
			if (entries_moved(l->ents, rd->e[i].k, rd->e[i].kl, e))
				l->full_epoch = e;
		err = epoch_dirty(s, nl, e);
		dirty_charge(s, nl);
		dirty_charge(s, l);
		if (err)
			return err;
		if (leaf_should_split(s, t, pos + 1)) {
			int err2 = leaf_fit(s, t, pos + 1, e);
			if (err2)
				return err2;
		}
	}
	return 0;
}

/* Drops leaf pos from the index in epoch e. */
static int leaf_drop(lkv_store *s, struct lkv_tree *t, size_t pos, uint64_t e)
{
	struct leaf *l = t->v[pos];
	int err = epoch_dead(s, l, e);
	if (err)
		return err;
	tree_remove_leaf(t, pos);
	dirty_charge(s, l);
	cache_untrack(s, l);
	leaf_unref(l);
	return 0;
}

/* Moves every entry of leaf pos+1 into leaf pos and drops pos+1. */
static int leaf_merge_right(lkv_store *s, struct lkv_tree *t, size_t pos, uint64_t e)
{
	struct leaf *l = t->v[pos], *r = t->v[pos + 1];
	int err = epoch_dirty(s, l, e);
	if (!err)
		err = epoch_dirty(s, r, e);        /* captures r's sealed image */
	if (!err)
		err = entries_absorb_changed(l->ents, r->ents, e);   /* puts in l's delta */
	if (err)
		return err;
	dirty_charge(s, l);
	return leaf_drop(s, t, pos + 1, e);
}

static bool mergeable(const lkv_store *s, const struct leaf *a, const struct leaf *b)
{
	return a->ents && b->ents && a->ents->bytes + b->ents->bytes <= s->o.leaf_bytes * 3 / 4;
}

/*
 * After a leaf at pos changed: split it if too big; drop it if empty (not
 * the first); if it is small, merge it with a resident neighbour when the
 * two fit comfortably in one leaf.
 */
static int leaf_rebalance(lkv_store *s, struct lkv_tree *t, size_t pos, uint64_t e)
{
	struct leaf *l = t->v[pos];
	if (l->ents->bytes > s->o.leaf_bytes)
		return leaf_fit(s, t, pos, e);
	if (l->ents->n == 0 && pos > 0)
		return leaf_drop(s, t, pos, e);
	if (l->ents->bytes >= s->o.leaf_bytes / 4)
		return 0;
	if (pos + 1 < t->n && mergeable(s, l, t->v[pos + 1]))
		return leaf_merge_right(s, t, pos, e);
	if (pos > 0 && mergeable(s, t->v[pos - 1], l))
		return leaf_merge_right(s, t, pos - 1, e);
	return 0;
}

static bool same_blob(const struct entry *e, const struct blob_ref *r)
{
	struct blob_ref cur;
	return e && (e->flags & ENT_BLOB) && !blob_ref_decode(e->v, e->vl, &cur) &&
	       cur.seg == r->seg && cur.off == r->off;
}

/* Accounts for a blob reference gained (+1) or lost (-1) in epoch e. */
static int blob_account(lkv_store *s, const uint8_t *v, size_t vl, int sign, uint64_t e)
{
	struct blob_ref r;
	if (blob_ref_decode(v, vl, &r))
		return -EUCLEAN;
	return epoch_seg_delta(s, r.seg, sign * (int64_t)r.len, e);
}

static int apply_op(lkv_batch *b, const struct op *o, uint64_t e, struct leaf **lp)
{
	struct lkv_tree *t = o->t;
	const uint8_t *k = b->arena.p + o->koff;
	struct leaf *l = t->v[tree_find(t, k, o->kl)];
	bool found;
	uint32_t i = entries_search(l->ents, k, o->kl, &found);
	const struct entry *old = found ? &l->ents->e[i] : NULL;
	*lp = l;
	if (o->cond && !same_blob(old, &o->expect))
		return 0;            /* changed since GC looked: leave it */
	int err = epoch_dirty(b->s, l, e);
	if (!err && old && (old->flags & ENT_BLOB))
		err = blob_account(b->s, old->v, old->vl, -1, e);
	if (!err && (o->flags & ENT_BLOB))
		err = blob_account(b->s, b->arena.p + o->voff, o->vl, 1, e);
	if (err)
		return err;
	if (o->del) {
		int r = entries_remove(l->ents, k, o->kl, e);
		if (r > 0)
			atomic_fetch_sub(&t->nkeys, 1);
		return r < 0 ? -ENOMEM : 0;
	}
	err = entries_change(l->ents, k, o->kl, b->arena.p + o->voff, o->vl, o->flags, e,
			     l->logged_epoch);
	if (!err && !found)
		atomic_fetch_add(&t->nkeys, 1);
	return err;
}

/* Done with changing leaf l in this batch: charge it and rebalance it. */
static int leaf_done(lkv_store *s, struct leaf *l, uint64_t e)
{
	if (l->dead_epoch)
		return 0;        /* merged into its left neighbour meanwhile */
	dirty_charge(s, l);
	return leaf_rebalance(s, l->tree, tree_find(l->tree, l->low, l->low_len), e);
}

static int batch_apply(lkv_batch *b, uint64_t e)
{
	int err = 0;
	struct leaf *prev = NULL, *l;
	for (size_t i = 0; i < b->n && !err; i++) {
		err = apply_op(b, &b->ops[i], e, &l);
		if (!err && prev && l != prev)
			err = leaf_done(b->s, prev, e);
		prev = l;
	}
	if (!err && prev)
		err = leaf_done(b->s, prev, e);
	return err;
}

/* ---- commit ---- */

/* The bytes of keys and values the batch's caller wrote (GC's moves are
 * not theirs), for write amplification in lkv_stats. */
static uint64_t user_bytes(const lkv_batch *b)
{
	uint64_t n = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct op *o = &b->ops[i];
		struct blob_ref r;
		if (o->cond)
			continue;
		n += o->kl;
		if (o->flags & ENT_BLOB && !blob_ref_decode(b->arena.p + o->voff, o->vl, &r))
			n += r.raw_len;
		else if (!o->del)
			n += o->vl;
	}
	return n;
}

/*
 * Applies the batch (steps 1-4 above) in one epoch, stored in *epoch (may
 * be NULL), and resets it.  No back-pressure here: that is the caller's
 * (write.c for users; GC's relocations must not wait on themselves).
 * An error after part of the batch was applied fails the store.
 */
int batch_commit(lkv_batch *b, uint64_t *epoch)
{
	lkv_store *s = b->s;
	int err = b->arena.oom ? -ENOMEM : 0;
	batch_sort(b);
	cache_evict(s);      /* room for what the batch adds (cache.c) */
	while (!err && b->n) {
		err = pin_all(b);
		if (err)
			break;
		lock_trees(b, true);
		if (all_resident(b))
			break;
		lock_trees(b, false);
		unpin_all(b);
	}
	if (!err && b->n) {
		uint64_t e = epoch_enter(s);
		STAT_ADD(s, st_user, user_bytes(b));
		err = batch_apply(b, e);
		epoch_exit(s, e);
		lock_trees(b, false);
		if (epoch)
			*epoch = e;
		if (err)      /* applied in part: never let that become durable */
			store_fail(s, err);
	} else if (!err && epoch) {
		*epoch = lkv_epoch_current(s);
	}
	unpin_all(b);
	appended_done(b);
	lkv_batch_clear(b);
	cache_evict(s);
	return err;
}

/*
 * Marks resident leaf l dirty without changing it, with `full` for a full
 * image at the next flush (GC moving leaves out of a mostly dead log file,
 * fsck), else for the next background flush to consolidate its chain.
 * The caller holds a pin on l and no tree lock.  With `lost` (fsck) a leaf that is not resident because its chain
 * cannot be read first gets `repl` as its entries (what could be read of
 * it), or none: its keys are gone, the tree stays whole.  Takes repl.
 * Returns 1 when it gave l those entries (the caller owns the tree's key
 * count: the lost chain's count is in the location table, under flush_mu,
 * which may not be taken inside the tree's lock), else 0 or -errno.
 */
static int mark_dirty(lkv_store *s, struct leaf *l, bool lost, struct entries *repl,
		      bool full)
{
	int err = 0;
	bool emptied = false;
	pthread_rwlock_wrlock(&l->tree->lock);
	if (lost && !l->ents && !l->dead_epoch) {
		l->ents = repl ? repl : entries_new();
		repl = NULL;
		if (l->ents)
			cache_track(s, l);
		else
			err = -ENOMEM;
		emptied = !err;
	}
	if (l->ents && !l->dead_epoch) {
		uint64_t e = epoch_enter(s);
		err = epoch_dirty(s, l, e);
		if (!err) {
			if (full)
				l->full_epoch = e;
			/* a rewrite changes no key: dirty_bytes counts changes
			 * (lkv_stats), and GC and the consolidation flush at
			 * once themselves; what fsck emptied is a change */
			if (lost)
				dirty_charge(s, l);
			else
				cache_track(s, l);
		}
		epoch_exit(s, e);
	}
	pthread_rwlock_unlock(&l->tree->lock);
	entries_free(repl);
	return err ? err : emptied;
}

int batch_mark_rewrite(lkv_store *s, struct leaf *l, bool lost, struct entries *repl)
{
	return mark_dirty(s, l, lost, repl, true);
}

/*
 * As batch_mark_rewrite without lost, but not for a full image at any
 * flush: a background flush writes one anyway for a chain past its soft
 * limit (image.c), and a foreground flush that meets l first writes only
 * what changed, or nothing, and queues l again (flush.c).
 */
int batch_mark_consolidate(lkv_store *s, struct leaf *l)
{
	return mark_dirty(s, l, false, NULL, false);
}
