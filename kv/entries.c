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
 *
 * What writers change is remembered for the leaf's next delta record
 * (delta.c): entries_change and entries_remove stamp the entry (or a
 * tombstone, for a deletion) with the writer's epoch and, for a value
 * replaced under the same flags, two descriptions of what changed: how
 * many bytes at its start and end did not change (a splice: an insertion
 * that shifts what follows), and the windows where it may differ at the
 * same offsets (edits: overwrites, appends, a length field that grew).
 * Both are kept relative to the value the leaf's durable chain holds: a
 * second change before that chain catches up keeps the smaller counts and
 * the union of the windows (bytes shared by the first and the last value
 * and by every value between), so the delta that logs the change is right
 * whichever of the epochs in between became durable.  entries_put and
 * entries_del change a leaf without remembering (loading, splitting).
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
	free(e->ed);
}

void entries_free(struct entries *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->n; i++)
		ent_release(&d->e[i]);
	for (uint32_t i = 0; i < d->ntomb; i++)
		free(d->tomb[i].k);
	free(d->e);
	free(d->tomb);
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

/* How many bytes at the start (*pre) and at the end (*suf) two values
 * share, the two ranges never overlapping in either. */
static void shared_ends(const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
			uint32_t *pre, uint32_t *suf)
{
	size_t n = al < bl ? al : bl, p = 0, q = 0;
	while (p < n && a[p] == b[p])
		p++;
	while (q < n - p && a[al - 1 - q] == b[bl - 1 - q])
		q++;
	*pre = (uint32_t)p;
	*suf = (uint32_t)q;
}

/* ---- edit windows ---- */

#define EDIT_GAP 32           /* differing runs closer than this: one window */

/* Adds window [off, off + len) to ed, merging what overlaps or nearly
 * touches it, and then the two closest windows while there are too many. */
static void edit_add(struct edits *ed, uint32_t off, uint32_t len)
{
	uint32_t i = 0, end = off + len;
	while (i < ed->n && ed->w[i].off + ed->w[i].len + EDIT_GAP < off)
		i++;
	uint32_t j = i;                       /* [i, j): windows it absorbs */
	while (j < ed->n && ed->w[j].off <= end + EDIT_GAP) {
		uint32_t we = ed->w[j].off + ed->w[j].len;
		off = ed->w[j].off < off ? ed->w[j].off : off;
		end = we > end ? we : end;
		j++;
	}
	memmove(&ed->w[i + 1], &ed->w[j], (ed->n - j) * sizeof(ed->w[0]));
	ed->w[i].off = off;
	ed->w[i].len = end - off;
	ed->n = ed->n - (j - i) + 1;
	if (ed->n <= EDIT_MAX)
		return;
	uint32_t best = 0;                    /* the smallest gap: merge there */
	for (uint32_t k = 1; k + 1 < ed->n; k++)
		if (ed->w[k + 1].off - (ed->w[k].off + ed->w[k].len) <
		    ed->w[best + 1].off - (ed->w[best].off + ed->w[best].len))
			best = k;
	ed->w[best].len = ed->w[best + 1].off + ed->w[best + 1].len - ed->w[best].off;
	memmove(&ed->w[best + 1], &ed->w[best + 2], (ed->n - best - 2) * sizeof(ed->w[0]));
	ed->n--;
}

/* Adds to ed the windows where b differs from a at the same offsets,
 * and b's bytes past a's end. */
static void edit_diff(struct edits *ed, const uint8_t *a, size_t al, const uint8_t *b,
		      size_t bl)
{
	size_t n = al < bl ? al : bl, i = 0;
	while (i < n) {
		uint64_t x, y;
		while (i + 8 <= n && (memcpy(&x, a + i, 8), memcpy(&y, b + i, 8), x == y))
			i += 8;
		while (i < n && a[i] == b[i])
			i++;
		if (i >= n)
			break;
		size_t start = i, eq = 0;
		while (i < n && eq < EDIT_GAP) {
			eq = a[i] == b[i] ? eq + 1 : 0;
			i++;
		}
		edit_add(ed, (uint32_t)start, (uint32_t)(i - eq - start));
	}
	if (bl > al)
		edit_add(ed, (uint32_t)al, (uint32_t)(bl - al));
}

/* Inserts or replaces key k; *at gets its index and *old (when not NULL)
 * the entry it replaced, whose memory the caller then releases.  Returns
 * 0 or -ENOMEM (leaf unchanged). */
static int put_at(struct entries *d, const void *k, size_t kl, const void *v, size_t vl,
		  uint8_t flags, uint32_t *at, struct entry *old, bool *found)
{
	uint32_t i = entries_search(d, k, kl, found);
	uint8_t *mem = malloc(kl + vl ? kl + vl : 1);
	if (!mem || (!*found && ent_grow(d, d->n + 1))) {
		free(mem);
		return -ENOMEM;
	}
	if (kl)
		memcpy(mem, k, kl);       /* an empty key may come as NULL */
	if (vl)
		memcpy(mem + kl, v, vl);
	if (*found) {
		d->bytes -= ent_bytes(d->e[i].kl, d->e[i].vl);
		*old = d->e[i];
	} else {
		memmove(&d->e[i + 1], &d->e[i], (d->n - i) * sizeof(*d->e));
		d->n++;
	}
	d->e[i] = (struct entry){ .pfx = key16_of(k, kl), .k = mem, .v = mem + kl,
				     .kl = kl, .vl = vl, .flags = flags, .own = true };
	d->bytes += ent_bytes(kl, vl);
	*at = i;
	return 0;
}

/* Inserts or replaces key k.  Returns 0 or -ENOMEM (leaf unchanged). */
int entries_put(struct entries *d, const void *k, size_t kl, const void *v, size_t vl,
	     uint8_t flags)
{
	uint32_t i;
	struct entry old;
	bool found;
	int err = put_at(d, k, kl, v, vl, flags, &i, &old, &found);
	if (!err && found)
		ent_release(&old);
	return err;
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

/* ---- tombstones ---- */

/* Index of the first tombstone >= key; *found when equal. */
static uint32_t tomb_search(const struct entries *d, const void *k, size_t kl, bool *found)
{
	uint32_t lo = 0, hi = d->ntomb;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (keycmp(d->tomb[mid].k, d->tomb[mid].kl, k, kl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < d->ntomb && !keycmp(d->tomb[lo].k, d->tomb[lo].kl, k, kl);
	return lo;
}

static void tomb_drop(struct entries *d, uint32_t i)
{
	d->tomb_bytes -= d->tomb[i].kl + 16u;
	free(d->tomb[i].k);
	memmove(&d->tomb[i], &d->tomb[i + 1], (d->ntomb - i - 1) * sizeof(*d->tomb));
	d->ntomb--;
}

/* Records the deletion of k in epoch ep. */
static int tomb_add(struct entries *d, const void *k, size_t kl, uint64_t ep)
{
	bool found;
	uint32_t i = tomb_search(d, k, kl, &found);
	if (found) {
		d->tomb[i].ep = ep;
		return 0;
	}
	if (d->ntomb == d->tombcap) {
		uint32_t cap = d->tombcap ? d->tombcap * 2 : 8;
		struct tomb *t = realloc(d->tomb, (size_t)cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		d->tomb = t;
		d->tombcap = cap;
	}
	uint8_t *mem = malloc(kl ? kl : 1);
	if (!mem)
		return -ENOMEM;
	if (kl)
		memcpy(mem, k, kl);
	memmove(&d->tomb[i + 1], &d->tomb[i], (d->ntomb - i) * sizeof(*d->tomb));
	d->tomb[i] = (struct tomb){ .k = mem, .kl = (uint32_t)kl, .ep = ep };
	d->ntomb++;
	d->tomb_bytes += kl + 16u;
	return 0;
}

/* ---- changes a delta remembers ---- */

/*
 * A writer's put of k in epoch ep into a leaf whose durable chain holds
 * its changes through epoch `logged`: as entries_put, and remembered for
 * the next delta (see the header).  Returns 0 or -ENOMEM (leaf unchanged).
 */
int entries_change(struct entries *d, const void *k, size_t kl, const void *v, size_t vl,
		   uint8_t flags, uint64_t ep, uint64_t logged)
{
	uint32_t i;
	struct entry old;
	bool found, tombed;
	uint32_t t = tomb_search(d, k, kl, &tombed);
	int err = put_at(d, k, kl, v, vl, flags, &i, &old, &found);
	if (err)
		return err;
	struct entry *e = &d->e[i];
	e->ep = ep;
	bool dirty = found && old.ep > logged;  /* changed before: relative to that */
	if (found && old.flags == flags && (!dirty || old.ed)) {
		/* without memory no description: a put logs the value */
		e->ed = dirty ? old.ed : calloc(1, sizeof(*e->ed));
		if (dirty)
			old.ed = NULL;
		if (e->ed) {
			uint32_t pre, suf;
			shared_ends(old.v, old.vl, v, vl, &pre, &suf);
			e->ed->pre = dirty && e->ed->pre < pre ? e->ed->pre : pre;
			e->ed->suf = dirty && e->ed->suf < suf ? e->ed->suf : suf;
			edit_diff(e->ed, old.v, old.vl, v, vl);
		}
	}
	if (found)
		ent_release(&old);
	if (tombed)
		tomb_drop(d, t);        /* the put logs the whole value */
	return 0;
}

/* A writer's deletion of k in epoch ep, remembered for the next delta.
 * Returns 1 when k was there, 0 when not, or -ENOMEM (leaf unchanged). */
int entries_remove(struct entries *d, const void *k, size_t kl, uint64_t ep)
{
	bool found;
	entries_search(d, k, kl, &found);
	if (!found)
		return 0;
	int err = tomb_add(d, k, kl, ep);
	if (err)
		return err;
	entries_del(d, k, kl);
	return 1;
}

/* Forgets the changes the durable chain now holds: those of epochs up to
 * `logged` (entries compare their epoch with the leaf's instead). */
void entries_logged(struct entries *d, uint64_t logged)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < d->ntomb; i++) {
		if (d->tomb[i].ep <= logged) {
			d->tomb_bytes -= d->tomb[i].kl + 16u;
			free(d->tomb[i].k);
		} else {
			d->tomb[w++] = d->tomb[i];
		}
	}
	d->ntomb = w;
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
			.kl = e->kl, .vl = e->vl, .flags = e->flags, .own = true,
			.ep = e->ep };   /* how it changed: not kept, a put logs it */
		dst->bytes += ent_bytes(e->kl, e->vl);
	}
	return 0;
}

/* Where entries_split cuts d, given keep: entries [0, cut) stay.
 * *right gets the serialized bytes of the entries that would move. */
static uint32_t split_point(const struct entries *d, size_t keep, size_t *right)
{
	size_t acc = 0;
	uint32_t cut = 0;
	while (cut < d->n - 1 && acc < keep) {
		acc += ent_bytes(d->e[cut].kl, d->e[cut].vl);
		cut++;
	}
	if (cut == 0)
		cut = 1;
	*right = 0;
	for (uint32_t i = cut; i < d->n; i++)
		*right += ent_bytes(d->e[i].kl, d->e[i].vl);
	return cut;
}

/* The smaller of the two parts entries_split(d, keep) would make of d,
 * in bytes. */
size_t entries_split_smaller(const struct entries *d, size_t keep)
{
	if (d->n < 2)
		return 0;
	size_t right;
	split_point(d, keep, &right);
	size_t left = d->bytes - LEAF_HDR - right;
	return left < right ? left : right;
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
	size_t rbytes;
	uint32_t cut = split_point(d, keep, &rbytes);
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

/* As entries_absorb, remembered as writers' puts of epoch ep (a merge:
 * the keys are new to d's chain).  -ENOMEM leaves d with part of them. */
int entries_absorb_changed(struct entries *d, struct entries *right, uint64_t ep)
{
	uint32_t from = d->n;
	int err = leaf_copy_range(d, right, 0, right->n);
	for (uint32_t i = from; i < d->n; i++) {
		bool tombed;
		uint32_t t = tomb_search(d, d->e[i].k, d->e[i].kl, &tombed);
		d->e[i].ep = ep;
		if (tombed)
			tomb_drop(d, t);
	}
	return err;
}

/* Remembers that key k left d in epoch ep (a split moved it to the next
 * leaf): d's next delta deletes it.  -ENOMEM. */
int entries_moved(struct entries *d, const void *k, size_t kl, uint64_t ep)
{
	return tomb_add(d, k, kl, ep);
}

/* Memory a resident leaf costs, for the cache budget.  Constant time:
 * it is asked at every change of a leaf, and a leaf being emptied (a
 * directory's unlinks) holds thousands of tombstones until its next
 * delta is logged; summing them each time halved larchfs's unlink rate. */
size_t entries_mem(const struct entries *d)
{
	LKV_ASSERT(d->ntomb || d->tomb_bytes == 0);
	return sizeof(*d) + (size_t)d->cap * sizeof(*d->e) + d->bytes + 16 * d->n +
	       (size_t)d->tombcap * sizeof(*d->tomb) + d->tomb_bytes;
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
		*e = (struct entry){ .own = false };
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
