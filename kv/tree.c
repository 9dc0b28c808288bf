/* SPDX-License-Identifier: MIT */
/*
 * Trees and their in-memory index: for each tree, its leaves sorted by low
 * key, so that the leaf holding key k is the last one whose low key is
 * <= k.  The first leaf's low key is empty and it is never removed, so every
 * key has exactly one leaf.  The index always stays in memory; only leaf
 * contents are paged in and out (cache.c).
 *
 * The index holds one reference to each of its leaves (leaf.c).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
	atomic_init(&t->bloom_bits, s->o.bloom_bits);
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

/* Makes room for one more leaf in the index. */
static int index_grow(struct lkv_tree *t)
{
	if (t->n < t->cap)
		return 0;
	size_t cap = t->cap ? t->cap * 2 : 8;
	struct leaf **v = realloc(t->v, cap * sizeof(*v));
	if (v)
		t->v = v;
	struct key16 *p = v ? realloc(t->pfx, cap * sizeof(*p)) : NULL;
	if (!p)
		return -ENOMEM;
	t->pfx = p;
	t->cap = cap;
	return 0;
}

/* Puts leaf l at index position pos, which keeps the index in order. */
int tree_insert_leaf(struct lkv_tree *t, size_t pos, struct leaf *l)
{
	LKV_ASSERT(pos <= t->n);
	LKV_ASSERT(pos == 0 || keycmp(t->v[pos - 1]->low, t->v[pos - 1]->low_len, l->low,
				      l->low_len) < 0);
	LKV_ASSERT(pos == t->n || keycmp(l->low, l->low_len, t->v[pos]->low,
					 t->v[pos]->low_len) < 0);
	if (index_grow(t))
		return -ENOMEM;
	memmove(&t->v[pos + 1], &t->v[pos], (t->n - pos) * sizeof(*t->v));
	memmove(&t->pfx[pos + 1], &t->pfx[pos], (t->n - pos) * sizeof(*t->pfx));
	t->v[pos] = l;
	t->pfx[pos] = key16_of(l->low, l->low_len);
	t->n++;
	atomic_fetch_add(&t->s->nleaves, 1);
	return 0;
}

/* Appends l to an index being built (recovery), to be sorted by tree_sort. */
int tree_append_leaf(struct lkv_tree *t, struct leaf *l)
{
	if (index_grow(t))
		return -ENOMEM;
	t->v[t->n++] = l;
	atomic_fetch_add(&t->s->nleaves, 1);
	return 0;
}

static int cmp_low(const void *a, const void *b)
{
	const struct leaf *x = *(struct leaf *const *)a, *y = *(struct leaf *const *)b;
	return keycmp(x->low, x->low_len, y->low, y->low_len);
}

/* Sorts an index built by tree_append_leaf.  -EUCLEAN unless the first
 * leaf's low key is empty and no two leaves share a low key. */
int tree_sort(struct lkv_tree *t)
{
	qsort(t->v, t->n, sizeof(*t->v), cmp_low);
	if (!t->n || t->v[0]->low_len)
		return -EUCLEAN;
	for (size_t j = 0; j < t->n; j++)
		t->pfx[j] = key16_of(t->v[j]->low, t->v[j]->low_len);
	for (size_t j = 1; j < t->n; j++)
		if (!keycmp(t->v[j - 1]->low, t->v[j - 1]->low_len, t->v[j]->low,
			    t->v[j]->low_len))
			return -EUCLEAN;
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

/* Bytes of the heap the index of t holds: its arrays and each leaf's
 * struct, low key, chain of record locations and filter (entries are the
 * cache's), by the allocator's own sizes. */
size_t tree_mem(struct lkv_tree *t)
{
	pthread_rwlock_rdlock(&t->lock);
	size_t n = malloc_usable_size(t->v) + malloc_usable_size(t->pfx);
	for (size_t i = 0; i < t->n; i++) {
		const struct leaf *l = t->v[i];
		bool shared;
		n += malloc_usable_size((void *)l) + malloc_usable_size(l->low) +
		     malloc_usable_size(l->chain) + bloom_mem(&l->bloom, &shared);
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

void lkv_tree_set_filter(lkv_tree *t, unsigned bits_per_key)
{
	atomic_store(&t->bloom_bits, bits_per_key <= 64 ? bits_per_key : 64);
}

uint64_t lkv_tree_count(const lkv_tree *t)
{
	return atomic_load(&t->nkeys);
}
