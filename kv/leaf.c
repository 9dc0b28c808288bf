/* SPDX-License-Identifier: MIT */
/*
 * A leaf: one key range of one tree, as the index knows it (struct leaf in
 * internal.h): its low key, the locations of its durable chain (a base
 * image and the delta records after it, image.c) and their bloom filter,
 * its entries while resident (entries.c), and its dirty, captured, dead,
 * logged and full epochs.
 *
 * Leaves are reference counted: the index holds one reference, each flush
 * set that lists the leaf holds one, and a thread that drops the tree lock
 * to load a leaf holds one, so a leaf removed from the index meanwhile
 * (merged away) stays valid until the last of them lets go.  A leaf's low
 * key never changes; a split makes a new leaf for the upper half.
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
	unsigned was = atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel);
	LKV_ASSERT(was >= 1);
	if (was != 1)
		return;
	LKV_ASSERT(atomic_load(&l->pins) == 0);
	entries_free(l->ents);
	leaf_img_free(l->sealed);
	free(l->chain);
	bloom_free(&l->bloom);
	free(l->low);
	free(l);
}
