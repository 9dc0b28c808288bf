/* SPDX-License-Identifier: MIT */
/*
 * The location table: where the durable image of every leaf lives, plus the
 * tree names and id allocators.  It is exactly what recovery rebuilds, and
 * the running store keeps it current by applying each commit after it is
 * durable (the same commit_apply as recovery), so a snapshot of it is always
 * the state at the end of one epoch.
 *
 * A location entry (in commit and snapshot bodies, commit.c and snapshot.c):
 *   u64 leaf id, u32 tree id, u32 number of keys,
 *   u32 log file, u32 record length, u64 offset, u64 record checksum,
 *   varint+bytes low key, bloom filter (bloom.c)
 *
 * Live bytes are exact: a log file's are the lengths of the leaf records
 * the table points into it, a segment's the lengths of the blob records
 * that some committed entry references.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TREE_NAME_MAX 255

void loctable_init(struct loctable *lt)
{
	*lt = (struct loctable){ .next_leaf_id = 1, .next_tree_id = 1, .log_file = 1 };
}

void loc_ent_free(struct loc_ent *e)
{
	if (!e)
		return;
	free(e->low);
	bloom_free(&e->bloom);
	free(e);
}

void loctable_free(struct loctable *lt)
{
	for (size_t i = 0; i < lt->cap; i++)
		loc_ent_free(lt->slot[i]);
	free(lt->slot);
	for (size_t i = 0; i < lt->ntrees; i++)
		free(lt->trees[i].name);
	free(lt->trees);
	free(lt->files);
	free(lt->segs);
	loctable_init(lt);
}

/* Bytes of the heap the table holds (caller holds flush_mu). */
size_t loctable_mem(const struct loctable *lt)
{
	size_t n = malloc_usable_size(lt->slot) + malloc_usable_size(lt->files) +
		   malloc_usable_size(lt->segs) + malloc_usable_size(lt->trees);
	for (size_t i = 0; i < lt->cap; i++) {
		const struct loc_ent *e = lt->slot[i];
		bool shared;
		size_t bloom = e ? bloom_mem(&e->bloom, &shared) : 0;
		if (e)      /* shared bits are counted with the index's leaf */
			n += malloc_usable_size((void *)e) + malloc_usable_size(e->low) +
			     (shared ? 0 : bloom);
	}
	return n;
}

static int ent_copy(const struct loc_ent *e, struct loc_ent **out)
{
	struct loc_ent *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = *e;
	c->bloom = (struct bloom){ 0 };
	c->low = malloc(e->low_len ? e->low_len : 1);
	if (!c->low) {
		loc_ent_free(c);
		return -ENOMEM;
	}
	bloom_copy(&c->bloom, &e->bloom);
	memcpy(c->low, e->low, e->low_len);
	*out = c;
	return 0;
}

static void *dup_array(const void *p, size_t n, size_t size)
{
	void *q = malloc(n ? n * size : 1);
	if (q && n)
		memcpy(q, p, n * size);
	return q;
}

/* A deep copy of `from` into the (uninitialized) `to`, to undo a replay
 * that went wrong. */
int loctable_copy(struct loctable *to, const struct loctable *from)
{
	*to = *from;
	to->slot = calloc(from->cap ? from->cap : 1, sizeof(*to->slot));
	to->trees = dup_array(from->trees, from->ntrees, sizeof(*to->trees));
	to->files = dup_array(from->files, from->nfiles, sizeof(*to->files));
	to->segs = dup_array(from->segs, from->nsegs, sizeof(*to->segs));
	int err = to->slot && to->trees && to->files && to->segs ? 0 : -ENOMEM;
	for (size_t i = 0; i < from->ntrees; i++)
		to->trees[i].name = err ? NULL : strdup(from->trees[i].name);
	for (size_t i = 0; i < from->ntrees && !err; i++)
		err = to->trees[i].name ? 0 : -ENOMEM;
	for (size_t i = 0; i < from->cap && !err; i++)
		if (from->slot[i])
			err = ent_copy(from->slot[i], &to->slot[i]);
	if (err) {
		if (!to->trees)
			to->ntrees = 0;
		loctable_free(to);
	}
	return err;
}

/* ---- the hash table (linear probing, backward-shift deletion) ---- */

static size_t slot_of(const struct loctable *lt, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 7) & (lt->cap - 1);
}

struct loc_ent *loctable_get(const struct loctable *lt, uint64_t id)
{
	if (!lt->cap)
		return NULL;
	for (size_t i = slot_of(lt, id);; i = (i + 1) & (lt->cap - 1)) {
		if (!lt->slot[i] || lt->slot[i]->leaf_id == id)
			return lt->slot[i];
	}
}

static int lt_grow(struct loctable *lt)
{
	if ((lt->n + 1) * 4 < lt->cap * 3)
		return 0;
	size_t ncap = lt->cap ? lt->cap * 2 : 1024;
	struct loc_ent **old = lt->slot, **nslot = calloc(ncap, sizeof(*nslot));
	if (!nslot)
		return -ENOMEM;
	size_t ocap = lt->cap;
	lt->slot = nslot;
	lt->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i])
			continue;
		size_t j = slot_of(lt, old[i]->leaf_id);
		while (nslot[j])
			j = (j + 1) & (ncap - 1);
		nslot[j] = old[i];
	}
	free(old);
	return 0;
}

static struct lt_file *lt_find(struct lt_file **v, size_t *n, uint32_t no, bool add)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].no == no)
			return &(*v)[i];
	if (!add)
		return NULL;
	struct lt_file *f = realloc(*v, (*n + 1) * sizeof(*f));
	if (!f)
		return NULL;
	*v = f;
	f[*n] = (struct lt_file){ .no = no };
	return &f[(*n)++];
}

struct lt_file *loctable_log(struct loctable *lt, uint32_t no)
{
	return lt_find(&lt->files, &lt->nfiles, no, true);
}

struct lt_file *loctable_seg(struct loctable *lt, uint32_t no)
{
	return lt_find(&lt->segs, &lt->nsegs, no, true);
}

/* The entry of segment no, or NULL (never adds one). */
struct lt_file *loctable_seg_find(struct loctable *lt, uint32_t no)
{
	return lt_find(&lt->segs, &lt->nsegs, no, false);
}

void loctable_seg_drop(struct loctable *lt, uint32_t no)
{
	struct lt_file *f = lt_find(&lt->segs, &lt->nsegs, no, false);
	if (f)
		*f = lt->segs[--lt->nsegs];
}

uint64_t loctable_file_live(const struct loctable *lt, uint32_t no)
{
	for (size_t i = 0; i < lt->nfiles; i++)
		if (lt->files[i].no == no)
			return lt->files[i].live;
	return 0;
}

static void live_adjust(struct loctable *lt, const struct leaf_loc *loc, int64_t sign)
{
	struct lt_file *f = loctable_log(lt, loc->file);
	LKV_ASSERT(!f || sign > 0 || f->live >= loc->len);
	if (f)
		f->live += sign * (int64_t)loc->len;
}

/* Inserts or replaces the entry for e->leaf_id; takes ownership of e. */
int loctable_put(struct loctable *lt, struct loc_ent *e)
{
	if (lt_grow(lt))
		return -ENOMEM;
	size_t i = slot_of(lt, e->leaf_id);
	while (lt->slot[i] && lt->slot[i]->leaf_id != e->leaf_id)
		i = (i + 1) & (lt->cap - 1);
	if (lt->slot[i]) {
		live_adjust(lt, &lt->slot[i]->loc, -1);
		loc_ent_free(lt->slot[i]);
	} else {
		lt->n++;
	}
	lt->slot[i] = e;
	live_adjust(lt, &e->loc, 1);
	return 0;
}

void loctable_del(struct loctable *lt, uint64_t id)
{
	if (!lt->cap)
		return;
	size_t i = slot_of(lt, id);
	while (lt->slot[i] && lt->slot[i]->leaf_id != id)
		i = (i + 1) & (lt->cap - 1);
	if (!lt->slot[i])
		return;
	live_adjust(lt, &lt->slot[i]->loc, -1);
	loc_ent_free(lt->slot[i]);
	lt->slot[i] = NULL;
	lt->n--;
	/* backward shift: move later members of the cluster into the hole */
	for (size_t j = (i + 1) & (lt->cap - 1); lt->slot[j]; j = (j + 1) & (lt->cap - 1)) {
		size_t home = slot_of(lt, lt->slot[j]->leaf_id);
		bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
		if (movable) {
			lt->slot[i] = lt->slot[j];
			lt->slot[j] = NULL;
			i = j;
		}
	}
}

int loctable_add_tree(struct loctable *lt, uint32_t id, const uint8_t *name, size_t len)
{
	struct lt_tree *t = realloc(lt->trees, (lt->ntrees + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	lt->trees = t;
	char *n = strndup((const char *)name, len);
	if (!n)
		return -ENOMEM;
	t[lt->ntrees++] = (struct lt_tree){ .id = id, .name = n };
	return 0;
}

/* ---- encoding ---- */

void loc_ent_encode(const struct loc_ent *e, struct buf *out)
{
	buf_u64(out, e->leaf_id);
	buf_u32(out, e->tree_id);
	buf_u32(out, e->nkeys);
	buf_u32(out, e->loc.file);
	buf_u32(out, e->loc.len);
	buf_u64(out, e->loc.off);
	buf_u64(out, e->loc.csum);
	buf_bytes(out, e->low, e->low_len);
	bloom_encode(&e->bloom, out);
}

int loc_ent_decode(struct rd *r, struct loc_ent **out)
{
	struct loc_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->leaf_id = rd_u64(r);
	e->tree_id = rd_u32(r);
	e->nkeys = rd_u32(r);
	e->loc.file = rd_u32(r);
	e->loc.len = rd_u32(r);
	e->loc.off = rd_u64(r);
	e->loc.csum = rd_u64(r);
	size_t ll;
	const uint8_t *low = rd_bytes(r, LKV_KEY_MAX, &ll);
	int err = r->bad || e->leaf_id == 0 || e->loc.file == 0 ||
		e->loc.len < REC_HDR ? -EUCLEAN : 0;
	if (!err) {
		e->low = malloc(ll ? ll : 1);
		err = e->low ? 0 : -ENOMEM;
	}
	if (!err) {
		memcpy(e->low, low, ll);
		e->low_len = ll;
		err = bloom_decode(&e->bloom, r);
	}
	if (err) {
		loc_ent_free(e);
		return err;
	}
	*out = e;
	return 0;
}

void trees_encode(const struct lt_tree *t, size_t n, struct buf *out)
{
	buf_u32(out, n);
	for (size_t i = 0; i < n; i++) {
		buf_u32(out, t[i].id);
		buf_bytes(out, t[i].name, strlen(t[i].name));
	}
}

/* Decodes a tree list and (when apply) adds it to lt. */
int trees_decode(struct loctable *lt, struct rd *r, bool apply)
{
	uint32_t n = rd_u32(r);
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		uint32_t id = rd_u32(r);
		size_t len;
		const uint8_t *name = rd_bytes(r, TREE_NAME_MAX, &len);
		if (r->bad || id == 0 || memchr(name, 0, len))
			return -EUCLEAN;
		for (size_t j = 0; j < lt->ntrees; j++)
			if (lt->trees[j].id == id)
				return -EUCLEAN;
		if (apply) {
			int err = loctable_add_tree(lt, id, name, len);
			if (err)
				return err;
		}
	}
	return r->bad ? -EUCLEAN : 0;
}

