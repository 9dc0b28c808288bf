/* SPDX-License-Identifier: MIT */
/*
 * Digests: what each recent commit did, repeated in later commits, so that
 * a commit record lost to damage in the middle of the log can be rebuilt
 * and the epochs after it kept (recovery.c, when salvaging).
 *
 * Every commit of format 2 ends with the digests of the commits that ended
 * less than DIGEST_REACH bytes of log before its own flush began (counting
 * back across log files), oldest first.  A damaged region of up to
 * DIGEST_REACH bytes can then hold no commit whose digest the first intact
 * commit after it lacks: the flush of that commit began inside the region,
 * where its predecessor ended.
 *
 * A digest (varints are LEB128; zigzag maps a signed change to unsigned):
 *   varint length of the rest
 *   varint epoch, u64 prev: the chain value its commit followed (the
 *       checksum of the commit before it; its own is the next digest's
 *       prev, or the carrying commit's)
 *   varint n, n × { varint tree id, varint+bytes name }   trees created
 *   varint n, n × { varint leaf id, varint tree id,        leaves written
 *                   varint log file, varint record length, varint offset,
 *                   u8 flags: 1 new (the leaf was first written then),
 *                     and in layout 3 (record.c) also 2 delta (the record
 *                     is a delta appended to the leaf's chain, delta.c),
 *                   varint+bytes low key (present only when new),
 *                   only for a delta: varint m, m x u64 the XXH3-64 of
 *                     each key it changes (m <= LINK_HASHES_MAX; m =
 *                     LINK_HASHES_MAX + 1 with no hashes: not listed) }
 *   varint n, n × varint leaf id                            leaves deleted
 *   varint n, n × { varint segment, varint zigzag(change) } live blob bytes
 * It is the commit less what the leaf records themselves hold (the count
 * of keys, the bloom filter, the record checksum) and the allocators'
 * next ids (the carrying commit has later ones).  A digest's layout is
 * that of the commit carrying it.  The key hashes of a delta are there
 * although its record holds the keys: a region of damage small deltas
 * share can take a commit with its deltas, and fsck then still reads past
 * each delta by dropping the keys it changed (check.c) instead of
 * emptying its leaf, whose base and other links lie elsewhere (issue
 * 21: one damaged block must not lose more than it held, or more than
 * fsck can rebuild).  The chain values let a reader
 * check that the digests it applies join the state it has to the
 * carrying commit without a hole.  The digest section of a
 * commit body is u32 n, then n digests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TREE_NAME_MAX 255
#define DIG_NEW    1
#define DIG_DELTA  2

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- encoding ---- */

/* A delta's key hashes: all of them, or none when there are more than a
 * chain link lists. */
static void digest_encode_hashes(struct buf *d, const uint64_t *hash, size_t nhash)
{
	if (!hash || nhash > LINK_HASHES_MAX) {
		buf_varint(d, LINK_HASHES_MAX + 1);
		return;
	}
	buf_varint(d, nhash);
	for (size_t j = 0; j < nhash; j++)
		buf_u64(d, hash[j]);
}

/*
 * Appends the digest of the commit of `epoch` (following chain value prev) that wrote
 * the n leaves w (their new locations; `isnew` says which were never
 * written before) and recorded what fs says it deleted, created and moved.
 */
void digest_encode(struct buf *out, uint64_t epoch, uint64_t prev,
		   const struct digest_leaf *w, size_t n, const struct flush_set *fs)
{
	struct buf d = { 0 };
	buf_varint(&d, epoch);
	buf_u64(&d, prev);
	buf_varint(&d, fs->ntrees);
	for (size_t i = 0; i < fs->ntrees; i++) {
		buf_varint(&d, fs->trees[i]->id);
		buf_bytes(&d, fs->trees[i]->name, strlen(fs->trees[i]->name));
	}
	buf_varint(&d, n);
	for (size_t i = 0; i < n; i++) {
		bool delta = w[i].kind == LOC_DELTA;
		buf_varint(&d, w[i].id);
		buf_varint(&d, w[i].tree);
		buf_varint(&d, w[i].loc.file);
		buf_varint(&d, w[i].loc.len);
		buf_varint(&d, w[i].loc.off);
		buf_u8(&d, (w[i].isnew ? DIG_NEW : 0) | (delta ? DIG_DELTA : 0));
		if (w[i].isnew)
			buf_bytes(&d, w[i].low, w[i].low_len);
		if (delta)
			digest_encode_hashes(&d, w[i].hash, w[i].nhash);
	}
	buf_varint(&d, fs->ndead);
	for (size_t i = 0; i < fs->ndead; i++)
		buf_varint(&d, fs->dead[i]);
	buf_varint(&d, fs->nsegd);
	for (size_t i = 0; i < fs->nsegd; i++) {
		buf_varint(&d, fs->segd[i].seg);
		buf_varint(&d, zigzag(fs->segd[i].bytes));
	}
	buf_varint(out, d.len);
	buf_add(out, d.p, d.len);
	out->oom |= d.oom;
	buf_free(&d);
}

/* ---- the ring of recent digests (flush_mu) ---- */

/* Keeps the digest of a commit that ended at global log position `end`. */
int digest_keep(struct digest_ring *ring, uint64_t end, const struct buf *d)
{
	if (d->oom)
		return -ENOMEM;
	if (ring->n == ring->cap) {
		size_t cap = ring->cap ? ring->cap * 2 : 16;
		struct kept_digest *v = realloc(ring->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ring->v = v;
		ring->cap = cap;
	}
	struct kept_digest *k = &ring->v[ring->n];
	k->bytes = malloc(d->len ? d->len : 1);
	if (!k->bytes)
		return -ENOMEM;
	memcpy(k->bytes, d->p, d->len);
	k->len = d->len;
	k->end = end;
	ring->n++;
	return 0;
}

/* Forgets the digests of commits that ended before `from` (global log
 * position): a flush that begins at from + DIGEST_REACH need not carry
 * them. */
void digest_forget(struct digest_ring *ring, uint64_t from)
{
	size_t drop = 0;
	while (drop < ring->n && ring->v[drop].end < from)
		free(ring->v[drop++].bytes);
	if (drop == 0)
		return;         /* also an empty ring, whose v may be NULL */
	memmove(ring->v, ring->v + drop, (ring->n - drop) * sizeof(*ring->v));
	ring->n -= drop;
}

void digest_ring_free(struct digest_ring *ring)
{
	digest_forget(ring, UINT64_MAX);
	free(ring->v);
	*ring = (struct digest_ring){ 0 };
}

/* Appends the digest section (the ring, oldest first) to a commit body. */
void digest_section(struct buf *body, const struct digest_ring *ring)
{
	buf_u32(body, (uint32_t)ring->n);
	for (size_t i = 0; i < ring->n; i++)
		buf_add(body, ring->v[i].bytes, ring->v[i].len);
}

/* ---- decoding ---- */

/* A delta's key hashes (left in the body, little-endian). */
static void decode_hashes(struct rd *r, struct digest_leaf *l)
{
	l->nhash = rd_varint(r);
	if (l->nhash == LINK_HASHES_MAX + 1)
		return;                         /* not listed */
	if (l->nhash > LINK_HASHES_MAX || l->nhash * 8 > rd_left(r)) {
		r->bad = true;
		return;
	}
	l->hash_le = rd_take(r, l->nhash * 8);
}

static int decode_one(struct rd *r, uint16_t layout, struct digest *d)
{
	*d = (struct digest){ 0 };
	d->epoch = rd_varint(r);
	d->prev = rd_u64(r);
	d->ntrees = rd_varint(r);
	if (r->bad || d->ntrees > rd_left(r))
		return -EUCLEAN;
	d->trees = calloc(d->ntrees ? d->ntrees : 1, sizeof(*d->trees));
	for (size_t i = 0; d->trees && i < d->ntrees && !r->bad; i++) {
		d->trees[i].id = (uint32_t)rd_varint(r);
		d->trees[i].name = rd_bytes(r, TREE_NAME_MAX, &d->trees[i].name_len);
	}
	d->nleaves = rd_varint(r);
	if (!d->trees || r->bad || d->nleaves > rd_left(r))
		return d->trees ? -EUCLEAN : -ENOMEM;
	d->leaves = calloc(d->nleaves ? d->nleaves : 1, sizeof(*d->leaves));
	for (size_t i = 0; d->leaves && i < d->nleaves && !r->bad; i++) {
		struct digest_leaf *l = &d->leaves[i];
		l->id = rd_varint(r);
		l->tree = (uint32_t)rd_varint(r);
		l->loc.file = (uint32_t)rd_varint(r);
		l->loc.len = (uint32_t)rd_varint(r);
		l->loc.off = rd_varint(r);
		uint8_t flags = rd_u8(r);
		l->isnew = flags & DIG_NEW;
		l->kind = flags & DIG_DELTA ? LOC_DELTA : LOC_BASE;
		if (l->isnew)
			l->low = rd_bytes(r, LKV_KEY_MAX, &l->low_len);
		if (l->kind == LOC_DELTA)
			decode_hashes(r, l);
		if (flags > (layout == REC_LAYOUT ? 2 : 1) || !l->id || !l->loc.file ||
		    l->loc.len < REC_HDR)
			r->bad = true;
	}
	d->ndead = rd_varint(r);
	if (!d->leaves || r->bad || d->ndead > rd_left(r))
		return d->leaves ? -EUCLEAN : -ENOMEM;
	d->dead = calloc(d->ndead ? d->ndead : 1, sizeof(*d->dead));
	for (size_t i = 0; d->dead && i < d->ndead; i++)
		d->dead[i] = rd_varint(r);
	d->nsegd = rd_varint(r);
	if (!d->dead || r->bad || d->nsegd > rd_left(r))
		return d->dead ? -EUCLEAN : -ENOMEM;
	d->segd = calloc(d->nsegd ? d->nsegd : 1, sizeof(*d->segd));
	for (size_t i = 0; d->segd && i < d->nsegd; i++) {
		d->segd[i].seg = (uint32_t)rd_varint(r);
		d->segd[i].bytes = unzigzag(rd_varint(r));
	}
	if (!d->segd)
		return -ENOMEM;
	return r->bad || rd_left(r) ? -EUCLEAN : 0;
}

static void digest_free(struct digest *d)
{
	free(d->trees);
	free(d->leaves);
	free(d->dead);
	free(d->segd);
}

void digests_free(struct digest *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		digest_free(&v[i]);
	free(v);
}

/*
 * Decodes a digest section of `layout` from r (which must end with it).
 * *out gets the digests (pointers into the body: valid while it is);
 * -EUCLEAN when it is malformed.
 */
int digests_decode(struct rd *r, uint16_t layout, struct digest **out, size_t *n)
{
	uint32_t count = rd_u32(r);
	*out = NULL;
	*n = 0;
	if (r->bad || count > rd_left(r))
		return -EUCLEAN;
	struct digest *v = calloc(count ? count : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int err = 0;
	size_t i = 0;
	for (; i < count && !err; i++) {
		size_t len = rd_varint(r);
		const uint8_t *p = rd_take(r, len);
		struct rd one = rd_init(p, p ? len : 0);
		err = p ? decode_one(&one, layout, &v[i]) : -EUCLEAN;
	}
	if (!err && (r->bad || rd_left(r)))
		err = -EUCLEAN;
	if (err) {
		digests_free(v, i);
		return err;
	}
	*out = v;
	*n = count;
	return 0;
}
