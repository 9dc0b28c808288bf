/* SPDX-License-Identifier: MIT */
/*
 * The location table: where the durable image of every leaf lives, plus the
 * tree names and id allocators.  It is exactly what recovery rebuilds, and
 * the running store keeps it current by applying each commit after it is
 * durable (the same commit_apply as recovery), so a snapshot of it is always
 * the state at the end of one epoch.
 *
 * Each leaf's entry names its chain: the base image and the delta records
 * after it (delta.c), with the count of keys and the bloom filter of
 * what the whole chain holds, and for each delta the XXH3-64 of the keys
 * it changes when there are at most LINK_HASHES_MAX of them (so that
 * fsck, finding that delta damaged, knows which keys it cost).  A flush
 * writes no delta of more keys (image.c); a link is unlisted only when
 * its delta and its commit were lost and the digest that rebuilt the
 * commit did not list them either (digest.c).
 *
 * The encodings (commit bodies and snapshot bodies share them; a record's
 * layout, record.c, says which one a body uses).  A location is
 *   u32 log file, u32 record length, u64 offset, u64 record checksum.
 * Layout 0 (formats 1 and 2: no chains), in commits and snapshots:
 *   u64 leaf id, u32 tree id, u32 number of keys, location,
 *   varint+bytes low key, bloom filter (bloom.c)
 * Layout 3, in a commit, one of:
 *   u8 0 (base), u64 leaf id, u32 tree id, u32 number of keys, location,
 *      varint+bytes low key, bloom filter: the leaf's chain becomes this
 *      image alone;
 *   u8 1 (delta), u64 leaf id, u32 tree id, u32 number of keys, location,
 *      varint n, n x u64 XXH3-64 of each key the delta changes: the delta
 *      is appended to the leaf's chain, and its keys to the filter (a
 *      commit applies only if the leaf exists);
 * and in a snapshot:
 *   u64 leaf id, u32 tree id, u32 number of keys, location of the base,
 *   varint+bytes low key, bloom filter,
 *   varint n, n x { location of a delta, u8 listed (0 or 1),
 *                   listed: varint m (<= LINK_HASHES_MAX), m x u64 hash }
 *
 * Live bytes are exact: a log file's are the lengths of the leaf records
 * (bases and deltas) the table points into it, a segment's the lengths of
 * the blob records that some committed entry references.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TREE_NAME_MAX 255

void loctable_init(struct loctable *lt)
{
	*lt = (struct loctable){ .next_leaf_id = 1, .next_tree_id = 1, .log_file = 1,
				 .prev_lost = true };
}

static void chain_free(struct chain_link *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(c[i].hash);
	free(c);
}

void loc_ent_free(struct loc_ent *e)
{
	if (!e)
		return;
	free(e->low);
	bloom_free(&e->bloom);
	chain_free(e->chain, e->nchain);
	free(e->hash);
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
	free(lt->touched);
	free(lt->prev);
	loctable_init(lt);
}

/* Bytes of the heap entry e holds, its filter's bits only when not
 * shared (they are counted with the index's leaf). */
static size_t ent_mem(const struct loc_ent *e)
{
	bool shared;
	size_t bloom = bloom_mem(&e->bloom, &shared);
	size_t n = malloc_usable_size((void *)e) + malloc_usable_size(e->low) +
		   malloc_usable_size(e->chain) + (shared ? 0 : bloom);
	for (uint32_t i = 0; i < e->nchain; i++)
		n += malloc_usable_size(e->chain[i].hash);
	return n;
}

/* Bytes of the heap the table holds (caller holds flush_mu). */
size_t loctable_mem(const struct loctable *lt)
{
	size_t n = malloc_usable_size(lt->slot) + malloc_usable_size(lt->files) +
		   malloc_usable_size(lt->segs) + malloc_usable_size(lt->trees) +
		   malloc_usable_size(lt->touched) + malloc_usable_size(lt->prev);
	for (size_t i = 0; i < lt->cap; i++)
		if (lt->slot[i])
			n += ent_mem(lt->slot[i]);
	return n;
}

static uint64_t *hashes_copy(const uint64_t *h, uint32_t n)
{
	uint64_t *c = malloc(n ? n * sizeof(*c) : 1);
	if (c && n)
		memcpy(c, h, n * sizeof(*c));
	return c;
}

static int ent_copy(const struct loc_ent *e, struct loc_ent **out)
{
	struct loc_ent *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = *e;
	c->bloom = (struct bloom){ 0 };
	c->chain = NULL;
	c->nchain = 0;
	c->hash = NULL;
	c->nhash = 0;
	c->low = malloc(e->low_len ? e->low_len : 1);
	int err = c->low ? 0 : -ENOMEM;
	if (!err && e->nchain) {
		c->chain = calloc(e->nchain, sizeof(*c->chain));
		err = c->chain ? 0 : -ENOMEM;
	}
	for (uint32_t i = 0; !err && i < e->nchain; i++, c->nchain++) {
		c->chain[i] = e->chain[i];
		if (e->chain[i].hash && !(c->chain[i].hash = hashes_copy(e->chain[i].hash,
									   e->chain[i].nhash)))
			err = -ENOMEM;
	}
	if (err) {
		loc_ent_free(c);
		return err;
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
	to->touched = dup_array(from->touched, from->ntouched, sizeof(*to->touched));
	to->touched_cap = from->ntouched;
	to->prev = dup_array(from->prev, from->nprev, sizeof(*to->prev));
	int err = to->slot && to->trees && to->files && to->segs && to->touched && to->prev ?
		  0 : -ENOMEM;
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

/* Counts (sign 1) or uncounts (-1) every record of e's chain as live. */
static void chain_live(struct loctable *lt, const struct loc_ent *e, int64_t sign)
{
	live_adjust(lt, &e->loc, sign);
	for (uint32_t i = 0; i < e->nchain; i++)
		live_adjust(lt, &e->chain[i].loc, sign);
}

/* Notes leaf id as changed since the last snapshot (see struct loctable). */
static void touch(struct loctable *lt, uint64_t id)
{
	if (!lt->track || lt->touched_lost)
		return;
	if (lt->ntouched == lt->touched_cap) {
		size_t cap = lt->touched_cap ? lt->touched_cap * 2 : 256;
		uint64_t *t = realloc(lt->touched, cap * sizeof(*t));
		if (!t) {
			lt->touched_lost = true;        /* the next snapshot is full */
			return;
		}
		lt->touched = t;
		lt->touched_cap = cap;
	}
	lt->touched[lt->ntouched++] = id;
}

void loctable_rotate(struct loctable *lt)
{
	for (size_t i = 0; i < lt->ntouched; i++) {
		struct loc_ent *e = loctable_get(lt, lt->touched[i]);
		if (e)
			e->touched = false;
	}
	for (size_t i = 0; lt->touched_lost && i < lt->cap; i++)
		if (lt->slot[i])        /* some were marked but not listed */
			lt->slot[i]->touched = false;
	free(lt->prev);
	lt->prev = lt->touched;
	lt->nprev = lt->ntouched;
	lt->prev_lost = lt->touched_lost || !lt->track;
	lt->touched = NULL;
	lt->ntouched = lt->touched_cap = 0;
	lt->touched_lost = false;
}

/* Inserts or replaces the entry for e->leaf_id; takes ownership of e. */
int loctable_put(struct loctable *lt, struct loc_ent *e)
{
	if (lt_grow(lt))
		return -ENOMEM;
	size_t i = slot_of(lt, e->leaf_id);
	while (lt->slot[i] && lt->slot[i]->leaf_id != e->leaf_id)
		i = (i + 1) & (lt->cap - 1);
	e->touched = lt->slot[i] && lt->slot[i]->touched;
	if (lt->slot[i]) {
		chain_live(lt, lt->slot[i], -1);
		loc_ent_free(lt->slot[i]);
	} else {
		lt->n++;
	}
	lt->slot[i] = e;
	chain_live(lt, e, 1);
	if (!e->touched && lt->track) {
		e->touched = true;
		touch(lt, e->leaf_id);
	}
	return 0;
}

/*
 * Appends the delta that d (a commit's LOC_DELTA entry) names to its
 * leaf's chain: the link (with d's key hashes when few enough), the new
 * count of keys, the keys in the filter.  Takes ownership of d.  -EUCLEAN
 * when the table has no such leaf of that tree; -ENOMEM.
 */
int loctable_append(struct loctable *lt, struct loc_ent *d)
{
	struct loc_ent *e = loctable_get(lt, d->leaf_id);
	int err = e && e->tree_id == d->tree_id ? 0 : -EUCLEAN;
	struct chain_link *c = err ? NULL : realloc(e->chain, (e->nchain + 1) * sizeof(*c));
	if (!err && !c)
		err = -ENOMEM;
	if (err) {
		loc_ent_free(d);
		return err;
	}
	e->chain = c;
	c[e->nchain] = (struct chain_link){ .loc = d->loc };
	if (d->nhash <= LINK_HASHES_MAX) {
		c[e->nchain].hash = d->hash;
		c[e->nchain].nhash = d->nhash;
		d->hash = NULL;
	}
	const uint64_t *h = c[e->nchain].hash ? c[e->nchain].hash : d->hash;
	if (h)
		bloom_add_hashes(&e->bloom, h, d->nhash);
	e->nchain++;
	e->nkeys = d->nkeys;
	if (!e->touched && lt->track) {
		e->touched = true;
		touch(lt, e->leaf_id);
	}
	live_adjust(lt, &d->loc, 1);
	loc_ent_free(d);
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
	if (!lt->slot[i]->touched)
		touch(lt, id);          /* a delta snapshot lists it as dropped */
	chain_live(lt, lt->slot[i], -1);
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

static void loc_encode(const struct leaf_loc *l, struct buf *out)
{
	buf_u32(out, l->file);
	buf_u32(out, l->len);
	buf_u64(out, l->off);
	buf_u64(out, l->csum);
}

static bool loc_decode(struct rd *r, struct leaf_loc *l)
{
	l->file = rd_u32(r);
	l->len = rd_u32(r);
	l->off = rd_u64(r);
	l->csum = rd_u64(r);
	return !r->bad && l->file && l->len >= REC_HDR;
}

static void ent_head_encode(const struct loc_ent *e, struct buf *out)
{
	buf_u64(out, e->leaf_id);
	buf_u32(out, e->tree_id);
	buf_u32(out, e->nkeys);
	loc_encode(&e->loc, out);
}

static void ent_low_encode(const struct loc_ent *e, struct buf *out)
{
	buf_bytes(out, e->low, e->low_len);
	bloom_encode(&e->bloom, out);
}

/* An entry as layout 0 writes it (the tests' and the fuzz corpus's). */
void loc_ent_encode(const struct loc_ent *e, struct buf *out)
{
	ent_head_encode(e, out);
	ent_low_encode(e, out);
}

static int ent_head_decode(struct rd *r, struct loc_ent *e)
{
	e->leaf_id = rd_u64(r);
	e->tree_id = rd_u32(r);
	e->nkeys = rd_u32(r);
	return loc_decode(r, &e->loc) && e->leaf_id ? 0 : -EUCLEAN;
}

static int ent_low_decode(struct rd *r, struct loc_ent *e)
{
	size_t ll;
	const uint8_t *low = rd_bytes(r, LKV_KEY_MAX, &ll);
	if (r->bad)
		return -EUCLEAN;
	e->low = malloc(ll ? ll : 1);
	if (!e->low)
		return -ENOMEM;
	memcpy(e->low, low, ll);
	e->low_len = ll;
	return bloom_decode(&e->bloom, r);
}

/* varint n and n hashes (at most `max`), into *h (malloc'd). */
static int hashes_decode(struct rd *r, size_t max, uint64_t **h, uint32_t *n)
{
	uint64_t count = rd_varint(r);
	if (r->bad || count > max || count > rd_left(r) / 8)
		return -EUCLEAN;
	*h = malloc(count ? count * sizeof(**h) : 1);
	if (!*h)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++)
		(*h)[i] = rd_u64(r);
	*n = (uint32_t)count;
	return 0;
}

static void hashes_encode(const uint64_t *h, size_t n, struct buf *out)
{
	buf_varint(out, n);
	for (size_t i = 0; i < n; i++)
		buf_u64(out, h[i]);
}

/* Decodes an entry of a commit or snapshot body of `layout` (record.c):
 * with `snap`, a snapshot's. */
int loc_ent_decode_as(struct rd *r, uint16_t layout, bool snap, struct loc_ent **out)
{
	struct loc_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	int err = 0;
	if (layout == REC_LAYOUT && !snap) {
		e->kind = rd_u8(r);
		err = e->kind > LOC_DELTA ? -EUCLEAN : 0;
	}
	if (!err)
		err = ent_head_decode(r, e);
	if (!err && e->kind == LOC_DELTA)
		err = hashes_decode(r, LKV_VALUE_MAX, &e->hash, &e->nhash);
	else if (!err)
		err = ent_low_decode(r, e);
	uint64_t n = !err && snap && layout == REC_LAYOUT ? rd_varint(r) : 0;
	if (!err && (r->bad || n > rd_left(r) / 25))
		err = -EUCLEAN;
	if (!err && n && !(e->chain = calloc(n, sizeof(*e->chain))))
		err = -ENOMEM;
	for (uint64_t i = 0; i < n && !err; i++, e->nchain++) {
		struct chain_link *c = &e->chain[i];
		uint8_t listed;
		err = loc_decode(r, &c->loc) && (listed = rd_u8(r)) <= 1 ? 0 : -EUCLEAN;
		if (!err && listed)
			err = hashes_decode(r, LINK_HASHES_MAX, &c->hash, &c->nhash);
	}
	if (err) {
		loc_ent_free(e);
		return err == -ENOMEM ? err : -EUCLEAN;
	}
	*out = e;
	return 0;
}

/* Layout 0's entry (commits and snapshots alike). */
int loc_ent_decode(struct rd *r, struct loc_ent **out)
{
	return loc_ent_decode_as(r, 0, false, out);
}

/* A commit's entry (layout 3) of a new base image for its leaf. */
void commit_ent_encode_base(const struct loc_ent *e, struct buf *out)
{
	buf_u8(out, LOC_BASE);
	ent_head_encode(e, out);
	ent_low_encode(e, out);
}

/* A commit's entry (layout 3) of a delta appended to leaf `id`'s chain. */
void commit_ent_encode_delta(uint64_t id, uint32_t tree_id, uint32_t nkeys,
			     const struct leaf_loc *loc, const uint64_t *hash, size_t nhash,
			     struct buf *out)
{
	struct loc_ent e = { .leaf_id = id, .tree_id = tree_id, .nkeys = nkeys, .loc = *loc };
	buf_u8(out, LOC_DELTA);
	ent_head_encode(&e, out);
	hashes_encode(hash, nhash, out);
}

/* A snapshot's entry (layout 3): the whole chain. */
void snap_ent_encode(const struct loc_ent *e, struct buf *out)
{
	ent_head_encode(e, out);
	ent_low_encode(e, out);
	buf_varint(out, e->nchain);
	for (uint32_t i = 0; i < e->nchain; i++) {
		loc_encode(&e->chain[i].loc, out);
		buf_u8(out, e->chain[i].hash != NULL);
		if (e->chain[i].hash)
			hashes_encode(e->chain[i].hash, e->chain[i].nhash, out);
	}
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

