/* SPDX-License-Identifier: MIT */
/*
 * Trees and their in-memory index: for each tree, its leaves sorted by low
 * key, so that the leaf holding key k is the last one whose low key is
 * <= k.  The first leaf's low key is empty and it is never removed, so every
 * key has exactly one leaf.  The index always stays in memory; only leaf
 * contents are paged in and out (cache.c).
 *
 * Leaves are reference counted: the index holds one reference, each flush
 * set that lists the leaf holds one, and a thread that drops the tree lock
 * to load a leaf holds one, so a leaf removed from the index meanwhile
 * (merged away) stays valid until the last of them lets go.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct leaf *leaf_new(struct lkv_tree *t, uint64_t id, const void *low, size_t low_len)
{
	struct leaf *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->low = malloc(low_len ? low_len : 1);
	if (!l->low) {
		free(l);
		return NULL;
	}
	memcpy(l->low, low, low_len);
	l->low_len = low_len;
	l->id = id;
	l->tree = t;
	atomic_init(&l->refs, 1);
	return l;
}

void leaf_ref(struct leaf *l)
{
	atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

/* Drops a reference; the last one frees the leaf (which is out of the
 * index, out of every flush set and out of the cache ring by then). */
void leaf_unref(struct leaf *l)
{
	if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
		return;
	leaf_data_free(l->data);
	if (l->sealed) {
		buf_free(l->sealed);
		free(l->sealed);
	}
	bloom_free(&l->bloom);
	free(l->low);
	free(l);
}

int tree_create(lkv_store *s, uint32_t id, const char *name, struct lkv_tree **out)
{
	struct lkv_tree *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->name = strdup(name);
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int err = pthread_rwlock_init(&t->lock, &a);
	pthread_rwlockattr_destroy(&a);
	if (!t->name || err) {
		free(t->name);
		free(t);
		return -ENOMEM;
	}
	t->s = s;
	t->id = id;
	*out = t;
	return 0;
}

/* Frees a tree and every leaf in its index (store teardown only). */
void tree_free(struct lkv_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		leaf_unref(t->v[i]);
	free(t->v);
	free(t->pfx);
	pthread_rwlock_destroy(&t->lock);
	free(t->name);
	free(t);
}

/* Position of the leaf that holds key k (the tree has at least one leaf). */
size_t tree_find(const struct lkv_tree *t, const void *k, size_t kl)
{
	struct key16 kp = key16_of(k, kl);
	size_t lo = 1, hi = t->n;     /* v[0] holds everything below v[1] */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (keycmp16(t->pfx[mid], t->v[mid]->low, t->v[mid]->low_len, kp, k, kl) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* Puts leaf l at index position pos (the caller keeps the order). */
int tree_insert_leaf(struct lkv_tree *t, size_t pos, struct leaf *l)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct leaf **v = realloc(t->v, cap * sizeof(*v));
		if (v)
			t->v = v;
		struct key16 *p = v ? realloc(t->pfx, cap * sizeof(*p)) : NULL;
		if (!p)
			return -ENOMEM;
		t->pfx = p;
		t->cap = cap;
	}
	memmove(&t->v[pos + 1], &t->v[pos], (t->n - pos) * sizeof(*t->v));
	memmove(&t->pfx[pos + 1], &t->pfx[pos], (t->n - pos) * sizeof(*t->pfx));
	t->v[pos] = l;
	t->pfx[pos] = key16_of(l->low, l->low_len);
	t->n++;
	atomic_fetch_add(&t->s->nleaves, 1);
	return 0;
}

/* Takes the leaf at pos out of the index; the index's reference passes to
 * the caller. */
void tree_remove_leaf(struct lkv_tree *t, size_t pos)
{
	memmove(&t->v[pos], &t->v[pos + 1], (t->n - pos - 1) * sizeof(*t->v));
	memmove(&t->pfx[pos], &t->pfx[pos + 1], (t->n - pos - 1) * sizeof(*t->pfx));
	t->n--;
	atomic_fetch_sub(&t->s->nleaves, 1);
}

struct lkv_tree *store_tree_by_id(lkv_store *s, uint32_t id)
{
	struct lkv_tree *t = NULL;
	pthread_mutex_lock(&s->trees_mu);
	for (size_t i = 0; i < s->ntrees && !t; i++)
		if (s->trees[i]->id == id)
			t = s->trees[i];
	pthread_mutex_unlock(&s->trees_mu);
	return t;
}

const char *lkv_tree_name(const lkv_tree *t)
{
	return t->name;
}
