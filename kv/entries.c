/* SPDX-License-Identifier: MIT */
/*
 * The entries of a leaf: sorted key/value pairs, in memory and as the leaf
 * image on disk.
 *
 * In memory a resident leaf's entries are an array sorted by key.  Entries
 * decoded from disk point into the decoded image (`base`); entries written
 * since are owned allocations holding key and value back to back.
 *
 * On-disk leaf body (the raw payload of a REC_LEAF record, see record.c):
 *
 *   0   u32  tree id
 *   4   u64  leaf id
 *   12  u32  number of entries N
 *   16  N entries, in strictly increasing key order:
 *         u8      flags (ENT_BLOB: value is a blob reference; others 0)
 *         varint  key length   (<= LKV_KEY_MAX)
 *         varint  value length (<= LKV_VALUE_MAX)
 *         key bytes, value bytes
 *
 * A body is valid iff it decodes exactly to its end, its ids match the
 * location that pointed at it, and its keys strictly increase.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LEAF_HDR 16

int keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t ent_bytes(size_t kl, size_t vl)
{
	return 1 + varint_len(kl) + varint_len(vl) + kl + vl;
}

struct entries *entries_new(void)
{
	struct entries *d = calloc(1, sizeof(*d));
	if (d)
		d->bytes = LEAF_HDR;
	return d;
}

static void ent_release(struct entry *e)
{
	if (e->own)
		free((void *)e->k);
}

void entries_free(struct entries *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->n; i++)
		ent_release(&d->e[i]);
	free(d->e);
	free(d->base);
	free(d);
}

uint32_t entries_search(const struct entries *d, const void *k, size_t kl, bool *found)
{
	struct key16 kp = key16_of(k, kl);
	uint32_t lo = 0, hi = d->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct entry *e = &d->e[mid];
		if (keycmp16(e->pfx, e->k, e->kl, kp, k, kl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < d->n && !keycmp16(d->e[lo].pfx, d->e[lo].k, d->e[lo].kl, kp, k, kl);
	return lo;
}

static int ent_grow(struct entries *d, uint32_t need)
{
	if (need <= d->cap)
		return 0;
	uint32_t cap = d->cap ? d->cap * 2 : 16;
	while (cap < need)
		cap *= 2;
	struct entry *e = realloc(d->e, (size_t)cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	d->e = e;
	d->cap = cap;
	return 0;
}

/*
 * Gives back the array's room past a quarter full.  A batch that puts
 * thousands of keys in one leaf grows its array to hold them all before
 * the split that follows cuts the leaf to size: without this the pieces
 * kept that array, 196 KiB for 4,096 entries, in a leaf of 16 KiB (a
 * scratch store of fsck held 83 MiB in a 25 MiB cache).  A failed realloc
 * leaves the array as it was.
 */
static void ent_shrink(struct entries *d)
{
	if (d->cap <= 16 || d->n >= d->cap / 4)
		return;
	uint32_t cap = d->n + d->n / 4 > 16 ? d->n + d->n / 4 : 16;
	struct entry *e = realloc(d->e, (size_t)cap * sizeof(*e));
	if (e) {
		d->e = e;
		d->cap = cap;
	}
}

/* Inserts or replaces key k.  Returns 0 or -ENOMEM (leaf unchanged). */
int entries_put(struct entries *d, const void *k, size_t kl, const void *v, size_t vl,
	     uint8_t flags)
{
	bool found;
	uint32_t i = entries_search(d, k, kl, &found);
	uint8_t *mem = malloc(kl + vl ? kl + vl : 1);
	if (!mem || (!found && ent_grow(d, d->n + 1))) {
		free(mem);
		return -ENOMEM;
	}
	if (kl)
		memcpy(mem, k, kl);       /* an empty key may come as NULL */
	if (vl)
		memcpy(mem + kl, v, vl);
	if (found) {
		d->bytes -= ent_bytes(d->e[i].kl, d->e[i].vl);
		ent_release(&d->e[i]);
	} else {
		memmove(&d->e[i + 1], &d->e[i], (d->n - i) * sizeof(*d->e));
		d->n++;
	}
	d->e[i] = (struct entry){ .pfx = key16_of(k, kl), .k = mem, .v = mem + kl,
				     .kl = kl, .vl = vl, .flags = flags, .own = true };
	d->bytes += ent_bytes(kl, vl);
	return 0;
}

/* Removes key k; returns whether it was there. */
bool entries_del(struct entries *d, const void *k, size_t kl)
{
	bool found;
	uint32_t i = entries_search(d, k, kl, &found);
	if (!found)
		return false;
	d->bytes -= ent_bytes(d->e[i].kl, d->e[i].vl);
	ent_release(&d->e[i]);
	memmove(&d->e[i], &d->e[i + 1], (d->n - i - 1) * sizeof(*d->e));
	d->n--;
	ent_shrink(d);
	return true;
}

/* Appends copies of src's entries [from, to) to dst, in owned storage. */
static int leaf_copy_range(struct entries *dst, const struct entries *src,
			   uint32_t from, uint32_t to)
{
	if (ent_grow(dst, dst->n + (to - from)))
		return -ENOMEM;
	for (uint32_t i = from; i < to; i++) {
		const struct entry *e = &src->e[i];
		uint8_t *mem = malloc(e->kl + e->vl ? e->kl + e->vl : 1);
		if (!mem)
			return -ENOMEM;
		memcpy(mem, e->k, e->kl);
		if (e->vl)
			memcpy(mem + e->kl, e->v, e->vl);
		dst->e[dst->n++] = (struct entry){ .pfx = e->pfx, .k = mem, .v = mem + e->kl,
			.kl = e->kl, .vl = e->vl, .flags = e->flags, .own = true };
		dst->bytes += ent_bytes(e->kl, e->vl);
	}
	return 0;
}

/*
 * Moves what follows the first `keep` bytes of entries (the entry that
 * crosses the mark stays) of d into new entries *right.  d keeps at least
 * one entry and right gets at least one.  -ENOMEM leaves d as it was.
 */
int entries_split(struct entries *d, size_t keep, struct entries **right)
{
	if (d->n < 2)
		return -EINVAL;
	size_t acc = 0;
	uint32_t cut = 0;
	while (cut < d->n - 1 && acc < keep) {
		acc += ent_bytes(d->e[cut].kl, d->e[cut].vl);
		cut++;
	}
	if (cut == 0)
		cut = 1;
	struct entries *r = entries_new();
	if (!r || leaf_copy_range(r, d, cut, d->n)) {
		entries_free(r);
		return -ENOMEM;
	}
	for (uint32_t i = cut; i < d->n; i++)
		ent_release(&d->e[i]);
	d->n = cut;
	d->bytes -= r->bytes - LEAF_HDR;
	ent_shrink(d);
	*right = r;
	return 0;
}

/* Appends every entry of right (all greater than d's) to d. */
int entries_absorb(struct entries *d, struct entries *right)
{
	return leaf_copy_range(d, right, 0, right->n);
}

/* Memory a resident leaf costs, for the cache budget. */
size_t entries_mem(const struct entries *d)
{
	return sizeof(*d) + (size_t)d->cap * sizeof(*d->e) + d->bytes + 16 * d->n;
}

int entries_encode(const struct entries *d, uint32_t tree_id, uint64_t leaf_id, struct buf *out)
{
	if (!buf_reserve(out, d->bytes))
		return -ENOMEM;
	buf_u32(out, tree_id);
	buf_u64(out, leaf_id);
	buf_u32(out, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		const struct entry *e = &d->e[i];
		buf_u8(out, e->flags);
		buf_varint(out, e->kl);
		buf_varint(out, e->vl);
		buf_add(out, e->k, e->kl);
		buf_add(out, e->v, e->vl);
	}
	return out->oom ? -ENOMEM : 0;
}

/*
 * Decodes a raw body into resident entries that point into raw.  -EUCLEAN
 * when the body is malformed or belongs to another leaf; then raw stays the
 * caller's.
 */
int entries_decode(uint8_t *raw, size_t len, uint32_t tree_id, uint64_t leaf_id,
		struct entries **out)
{
	struct rd r = rd_init(raw, len);
	uint32_t tid = rd_u32(&r);
	uint64_t lid = rd_u64(&r);
	uint32_t n = rd_u32(&r);
	if (r.bad || tid != tree_id || lid != leaf_id || n > len / 3)
		return -EUCLEAN;
	struct entries *d = entries_new();
	if (!d || ent_grow(d, n ? n : 1)) {
		entries_free(d);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		struct entry *e = &d->e[i];
		size_t kl, vl;
		e->own = false;
		e->flags = rd_u8(&r);
		kl = rd_varint(&r);
		vl = rd_varint(&r);
		if (e->flags & ~ENT_BLOB || kl > LKV_KEY_MAX || vl > LKV_VALUE_MAX) {
			r.bad = true;
			break;
		}
		e->kl = kl;
		e->vl = vl;
		e->k = rd_take(&r, kl);
		e->v = rd_take(&r, vl);
		if (!r.bad)
			e->pfx = key16_of(e->k, kl);
		if (r.bad || (i && keycmp(d->e[i - 1].k, d->e[i - 1].kl, e->k, kl) >= 0))
			r.bad = true;
		d->n = i + 1;
	}
	if (r.bad || rd_left(&r)) {
		d->n = 0;          /* entries point into raw: nothing to release */
		entries_free(d);
		return -EUCLEAN;
	}
	d->bytes = len;
	d->base = raw;
	*out = d;
	return 0;
}
