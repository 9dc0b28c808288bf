/* SPDX-License-Identifier: MIT */
/*
 * Delta records: what changed in a leaf since the previous record of its
 * chain.
 *
 * A leaf's durable contents are its chain: one full image (REC_LEAF, the
 * body entries.c describes), the base, followed by zero or more delta
 * records (REC_DELTA), each holding only the keys changed since the record
 * before it.  The location table names the base and every delta
 * (loctable.c); a flush appends a delta where it would have rewritten the
 * whole leaf, until the chain is long enough to be consolidated into a new
 * base (image.c decides).
 *
 * Delta body (the raw payload of a REC_DELTA record, see record.c):
 *
 *   0   u32  tree id
 *   4   u64  leaf id
 *   12  u64  prev: the checksum of the record it follows in the chain (the
 *            base image, or the delta before it)
 *   20  u32  number of keys in the leaf once it applies
 *   24  u32  number of operations N (at least 1)
 *   28  N operations, in strictly increasing key order:
 *         u8      op: 0 put, 1 splice, 2 delete, 3 patch
 *         varint  key length (<= LKV_KEY_MAX), key bytes
 *         put:    u8 flags, varint value length (<= LKV_VALUE_MAX), value
 *         splice: u8 flags, varint P, varint S, varint middle length M,
 *                 the M middle bytes
 *         delete: nothing more
 *         patch:  u8 flags, varint new length L (<= LKV_VALUE_MAX),
 *                 varint W (1..EDIT_MAX), then W windows in increasing
 *                 offset order, disjoint, inside [0, L):
 *                   varint offset, varint length (> 0) and the bytes
 *
 * put sets the key's value (inserting or replacing).  splice replaces the
 * value of a key the leaf holds, of at least P + S bytes, with its first P
 * bytes, the middle and its last S bytes (P + S > 0): a small write that
 * shifts what follows it logs the bytes that changed, not the value.
 * patch cuts or extends the value of a key the leaf holds to L bytes and
 * writes each window's bytes at its offset; every byte at or past the old
 * length must lie in a window: an overwrite or an append in a large
 * value, or a length field at its start, logs the bytes that changed.
 * delete removes the key; one the leaf does not hold is no error (it was
 * made and deleted again since the previous record).
 *
 * A body is valid iff it decodes exactly to its end, its ids match the
 * leaf, its prev matches the record before it, its keys strictly
 * increase, op and flags are known and lengths within their limits.  It
 * applies iff every splice finds its key, long enough, every patch finds
 * its key and writes every byte past its old end, every resulting value
 * is within LKV_VALUE_MAX, and the leaf then holds the stated number of
 * keys.  A reader (cache.c, check.c) decodes the base, then applies
 * each delta in chain order; anything invalid is damage (-EUCLEAN).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DELTA_HDR 28
#define SPLICE_MIN 16          /* a splice must save this much over a put */

enum { OP_PUT, OP_SPLICE, OP_DEL, OP_PATCH };

/* ---- encoding ---- */

static int hash_push(uint64_t **v, size_t *n, size_t *cap, const void *k, size_t kl)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		uint64_t *p = realloc(*v, c * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = lkv_checksum(k, kl);
	return 0;
}

/* The bytes a patch of e's windows (clipped to its value) logs, or
 * SIZE_MAX without windows. */
static size_t patch_cost(const struct entry *e)
{
	if (!e->ed || !e->ed->n || e->ed->w[0].off >= e->vl)
		return SIZE_MAX;
	size_t cost = 0;
	for (uint32_t i = 0; i < e->ed->n && e->ed->w[i].off < e->vl; i++) {
		uint32_t end = e->ed->w[i].off + e->ed->w[i].len;
		cost += (end < e->vl ? end : e->vl) - e->ed->w[i].off + 8;
	}
	return cost;
}

/* Appends the operation that logs entry e's change: the cheapest of a
 * splice, a patch and a put. */
static void op_entry(struct buf *out, const struct entry *e)
{
	uint32_t pre = e->ed ? e->ed->pre : 0, suf = e->ed ? e->ed->suf : 0;
	size_t splice = pre + suf >= SPLICE_MIN ? e->vl - pre - suf + 8 : SIZE_MAX;
	size_t patch = patch_cost(e);
	uint8_t op = splice <= patch && splice < e->vl ? OP_SPLICE
		     : patch < e->vl ? OP_PATCH : OP_PUT;
	buf_u8(out, op);
	buf_bytes(out, e->k, e->kl);
	buf_u8(out, e->flags);
	if (op == OP_PUT) {
		buf_bytes(out, e->v, e->vl);
	} else if (op == OP_SPLICE) {
		buf_varint(out, pre);
		buf_varint(out, suf);
		buf_bytes(out, e->v + pre, e->vl - pre - suf);
	} else {
		uint32_t n = 0;
		while (n < e->ed->n && e->ed->w[n].off < e->vl)
			n++;
		buf_varint(out, e->vl);
		buf_varint(out, n);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t off = e->ed->w[i].off, end = off + e->ed->w[i].len;
			if (end > e->vl)
				end = (uint32_t)e->vl;
			buf_varint(out, off);
			buf_bytes(out, e->v + off, end - off);
		}
	}
}

/*
 * Appends to out the delta of d (leaf `leaf_id` of tree `tree_id`) that
 * follows the record with checksum prev: every entry and tombstone changed
 * after epoch `after`.  *hash (malloc'd) gets the XXH3-64 of each key it
 * changes, in key order, *nhash their count (0: no change).  -ENOMEM.
 */
int delta_encode(const struct entries *d, uint32_t tree_id, uint64_t leaf_id, uint64_t prev,
		 uint64_t after, struct buf *out, uint64_t **hash, size_t *nhash)
{
	size_t start = out->len, cap = 0;
	uint32_t i = 0, t = 0;
	int err = 0;
	*hash = NULL;
	*nhash = 0;
	buf_u32(out, tree_id);
	buf_u64(out, leaf_id);
	buf_u64(out, prev);
	buf_u32(out, d->n);
	size_t count_at = out->len;
	buf_u32(out, 0);
	while (!err && (i < d->n || t < d->ntomb)) {
		const struct entry *e = i < d->n ? &d->e[i] : NULL;
		const struct tomb *tb = t < d->ntomb ? &d->tomb[t] : NULL;
		bool take_tomb = tb && (!e || keycmp(tb->k, tb->kl, e->k, e->kl) < 0);
		if (take_tomb) {
			t++;
			if (tb->ep <= after)
				continue;
			buf_u8(out, OP_DEL);
			buf_bytes(out, tb->k, tb->kl);
			err = hash_push(hash, nhash, &cap, tb->k, tb->kl);
		} else {
			i++;
			if (e->ep <= after)
				continue;
			op_entry(out, e);
			err = hash_push(hash, nhash, &cap, e->k, e->kl);
		}
	}
	if (!err && out->oom)
		err = -ENOMEM;
	if (err) {
		free(*hash);
		*hash = NULL;
		*nhash = 0;
		out->len = start;
		return err;
	}
	put_u32(out->p + count_at, (uint32_t)*nhash);
	return 0;
}

/* ---- decoding ---- */

/* Reads a patch's length and windows (checking their order and bounds),
 * leaving op->v at its first window and op->vl the windows' length. */
static void patch_read(struct rd *r, struct delta_op *op)
{
	uint64_t len = rd_varint(r), n = rd_varint(r), end = 0;
	const uint8_t *at = r->p;
	if (r->bad || len > LKV_VALUE_MAX || n == 0 || n > EDIT_MAX) {
		r->bad = true;
		return;
	}
	for (uint64_t i = 0; i < n && !r->bad; i++) {
		uint64_t off = rd_varint(r);
		size_t wl = 0;
		rd_bytes(r, LKV_VALUE_MAX, &wl);
		if (off < end || wl == 0 || off + wl > len)
			r->bad = true;
		end = off + wl;
	}
	op->newlen = (uint32_t)len;
	op->nwin = (uint32_t)n;
	op->v = at;
	op->vl = r->bad ? 0 : (size_t)(r->p - at);
}

/* Reads the header of a delta body.  -EUCLEAN when it cannot be one. */
int delta_open(const uint8_t *raw, size_t len, struct delta_rd *it)
{
	*it = (struct delta_rd){ .r = rd_init(raw, len) };
	it->tree_id = rd_u32(&it->r);
	it->leaf_id = rd_u64(&it->r);
	it->prev = rd_u64(&it->r);
	it->nkeys = rd_u32(&it->r);
	it->nops = rd_u32(&it->r);
	if (it->r.bad || it->nops == 0 || it->nops > rd_left(&it->r) / 2)
		return -EUCLEAN;
	return 0;
}

/*
 * The next operation of a delta opened with delta_open (pointers into the
 * body): 1, or 0 after the last one (when the body ends exactly there),
 * or -EUCLEAN.
 */
int delta_next(struct delta_rd *it, struct delta_op *op)
{
	struct rd *r = &it->r;
	if (it->done == it->nops)
		return rd_left(r) ? -EUCLEAN : 0;
	*op = (struct delta_op){ 0 };
	op->op = rd_u8(r);
	op->k = rd_bytes(r, LKV_KEY_MAX, &op->kl);
	if (op->op != OP_DEL) {
		op->flags = rd_u8(r);
		if (op->flags & ~ENT_BLOB)
			r->bad = true;
	}
	if (op->op == OP_PUT) {
		op->v = rd_bytes(r, LKV_VALUE_MAX, &op->vl);
	} else if (op->op == OP_SPLICE) {
		uint64_t pre = rd_varint(r), suf = rd_varint(r);
		op->v = rd_bytes(r, LKV_VALUE_MAX, &op->vl);
		if (pre > LKV_VALUE_MAX || suf > LKV_VALUE_MAX || pre + suf == 0)
			r->bad = true;
		op->pre = (uint32_t)pre;
		op->suf = (uint32_t)suf;
	} else if (op->op == OP_PATCH) {
		patch_read(r, op);
	} else if (op->op != OP_DEL) {
		r->bad = true;
	}
	if (!r->bad && it->done &&
	    keycmp(it->last_k, it->last_kl, op->k, op->kl) >= 0)
		r->bad = true;
	if (r->bad)
		return -EUCLEAN;
	it->last_k = op->k;
	it->last_kl = op->kl;
	it->done++;
	return 1;
}

/* ---- applying ---- */

/* Applies one splice to the entry of op->k. */
static int apply_splice(struct entries *d, const struct delta_op *op)
{
	bool found;
	uint32_t i = entries_search(d, op->k, op->kl, &found);
	if (!found)
		return -EUCLEAN;
	const struct entry *e = &d->e[i];
	if ((uint64_t)op->pre + op->suf > e->vl ||
	    (uint64_t)op->pre + op->suf + op->vl > LKV_VALUE_MAX)
		return -EUCLEAN;
	size_t vl = op->pre + op->vl + op->suf;
	uint8_t *v = malloc(vl ? vl : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, e->v, op->pre);
	if (op->vl)
		memcpy(v + op->pre, op->v, op->vl);
	memcpy(v + op->pre + op->vl, e->v + e->vl - op->suf, op->suf);
	int err = entries_put(d, op->k, op->kl, v, vl, op->flags);
	free(v);
	return err;
}

/* Applies one patch (checked by delta_next) to the entry of op->k. */
static int apply_patch(struct entries *d, const struct delta_op *op)
{
	bool found;
	uint32_t i = entries_search(d, op->k, op->kl, &found);
	if (!found)
		return -EUCLEAN;
	const struct entry *e = &d->e[i];
	struct rd r = rd_init(op->v, op->vl);
	uint64_t old = e->vl, written = old;   /* [0, written): bytes known */
	uint8_t *v = malloc(op->newlen ? op->newlen : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, e->v, old < op->newlen ? old : op->newlen);
	bool ok = true;
	for (uint32_t w = 0; w < op->nwin; w++) {
		uint64_t off = rd_varint(&r);
		size_t wl = 0;
		const uint8_t *p = rd_bytes(&r, LKV_VALUE_MAX, &wl);
		ok &= off <= written;        /* no byte past the old end unwritten */
		memcpy(v + off, p, wl);
		if (off + wl > written)
			written = off + wl;
	}
	ok &= written >= op->newlen;
	int err = ok ? entries_put(d, op->k, op->kl, v, op->newlen, op->flags) : -EUCLEAN;
	free(v);
	return err;
}

/*
 * Applies a delta body to the entries of leaf `leaf_id` of tree `tree_id`,
 * whose chain so far ends with the record of checksum prev.  -EUCLEAN when
 * the body is not a valid delta for it (the entries may then be changed in
 * part: the caller drops them), -ENOMEM.
 */
int delta_apply(struct entries *d, const uint8_t *raw, size_t len, uint32_t tree_id,
		uint64_t leaf_id, uint64_t prev)
{
	struct delta_rd it;
	struct delta_op op;
	int err = delta_open(raw, len, &it), more;
	if (!err && (it.tree_id != tree_id || it.leaf_id != leaf_id || it.prev != prev))
		err = -EUCLEAN;
	while (!err && (more = delta_next(&it, &op)) > 0) {
		if (op.op == OP_PUT)
			err = entries_put(d, op.k, op.kl, op.v, op.vl, op.flags);
		else if (op.op == OP_SPLICE)
			err = apply_splice(d, &op);
		else if (op.op == OP_PATCH)
			err = apply_patch(d, &op);
		else
			entries_del(d, op.k, op.kl);
	}
	if (!err && more < 0)
		err = more;
	if (!err && d->n != it.nkeys)
		err = -EUCLEAN;
	return err;
}

/* The XXH3-64 of every key a valid delta body changes (*hash malloc'd).
 * -EUCLEAN, -ENOMEM. */
int delta_hashes(const uint8_t *raw, size_t len, uint64_t **hash, size_t *nhash)
{
	struct delta_rd it;
	struct delta_op op;
	size_t cap = 0;
	int err = delta_open(raw, len, &it), more = 0;
	*hash = NULL;
	*nhash = 0;
	while (!err && (more = delta_next(&it, &op)) > 0)
		err = hash_push(hash, nhash, &cap, op.k, op.kl);
	if (!err && more < 0)
		err = more;
	if (err) {
		free(*hash);
		*hash = NULL;
		*nhash = 0;
	}
	return err;
}

/* ---- reading past a damaged delta (fsck) ---- */

int lost_add(struct lost_set *s, uint64_t h)
{
	if (lost_has(s, h))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		uint64_t *v = realloc(s->h, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->h = v;
		s->cap = cap;
	}
	s->h[s->n++] = h;
	return 0;
}

bool lost_has(const struct lost_set *s, uint64_t h)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i] == h)
			return true;
	return false;
}

static void lost_del(struct lost_set *s, uint64_t h)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i] == h) {
			s->h[i] = s->h[--s->n];
			return;
		}
}

/*
 * Applies a delta after an earlier one of the chain was lost (its keys'
 * hashes in `lost`): a put or delete makes its key known again; a splice
 * of a lost key, or one that does not fit the value read so far (which
 * is not the value it was made for), loses its key instead; the count of
 * keys is not checked.  The caller then drops every entry whose key is
 * still lost.  -EUCLEAN when the body is not a valid delta of this leaf.
 */
int delta_apply_lenient(struct entries *d, const uint8_t *raw, size_t len, uint32_t tree_id,
			uint64_t leaf_id, struct lost_set *lost)
{
	struct delta_rd it;
	struct delta_op op;
	int err = delta_open(raw, len, &it), more = 0;
	if (!err && (it.tree_id != tree_id || it.leaf_id != leaf_id))
		err = -EUCLEAN;
	while (!err && (more = delta_next(&it, &op)) > 0) {
		uint64_t h = lkv_checksum(op.k, op.kl);
		if (op.op == OP_SPLICE || op.op == OP_PATCH) {
			err = lost_has(lost, h) ? 0
			      : op.op == OP_SPLICE ? apply_splice(d, &op) : apply_patch(d, &op);
			if (err == -EUCLEAN)
				err = lost_add(lost, h);
			continue;
		}
		lost_del(lost, h);
		if (op.op == OP_PUT)
			err = entries_put(d, op.k, op.kl, op.v, op.vl, op.flags);
		else
			entries_del(d, op.k, op.kl);
	}
	return !err && more < 0 ? more : err;
}
