/* SPDX-License-Identifier: MIT */
/*
 * The commit record: what one flush changed in the location table, written
 * after that flush's leaf records (flush.c) and applied to the table, by
 * the running store once the record is durable and by recovery when it
 * replays the log (recovery.c).  Encoder and decoder live here together.
 *
 * Commit body (raw payload of a REC_COMMIT record, epoch in its header):
 *   u64 prev: checksum of the previous commit record (the chain; a commit
 *       whose prev does not match is from an abandoned history: ignored)
 *   u64 next leaf id, u32 next tree id
 *   u32 n, n × { u32 tree id, varint+bytes name }     trees created
 *   u32 n, n × location entry (loctable.c)            leaves written
 *   u32 n, n × u64 leaf id                             leaves deleted
 *   u32 n, n × { u32 segment, u64 change }  live blob bytes gained (two's
 *       complement: lost) in each segment
 *   layout 3 only: u32 n, n × { u32 segment, u64 offset, u32 length,
 *       u64 XXH3-64 }: the blob ranges the commit relies on that were
 *       synced together with it (see below)
 *   formats 2 and 3: the digest section (digest.c): what the recent
 *       commits before it did, to rebuild one that damage destroyed
 * Its record's layout (record.c) says which entry encoding it uses: a
 * layout-3 commit writes, for each leaf, a new base image or a delta
 * appended to the leaf's chain.
 *
 * Blob ranges: a flush whose epoch appended few blob bytes (BLOB_TOGETHER_MAX,
 * blob.c) syncs the segments and the log together, in one device flush,
 * instead of the segments first; its commit lists the bytes it relies on.
 * The commit is then durable only if those bytes are too, which recovery
 * checks for the last commit of the log (recovery.c): one whose ranges do
 * not read back with their checksums is dropped, as a torn commit is.
 * An earlier commit's flush finished before the next began, so only the
 * last can be torn this way.  It lists only ranges of segments that hold
 * live bytes once it applies, which GC cannot delete while it is the
 * last (gc.c).
 *
 * A commit applies iff its epoch is later than the table's, its prev is
 * the table's chain, it decodes exactly to its end, every tree it names
 * exists or is created by it, every leaf a delta names exists, no live
 * count would go negative, and (during replay) the caller's check accepts
 * every leaf location.  It applies whole or not at all: the body is
 * walked once to validate, once to apply (the running store applies the
 * commit it just made in one walk, commit_apply_own).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TREE_NAME_MAX 255

/* ---- encoding ---- */

/* Starts a commit body that follows `chain`: the allocators' next ids and
 * the trees created in the epoch. */
void commit_enc_begin(struct commit_enc *c, uint64_t chain, uint64_t next_leaf,
		      uint32_t next_tree, struct lkv_tree *const *trees, size_t ntrees)
{
	*c = (struct commit_enc){ 0 };
	buf_u64(&c->body, chain);
	buf_u64(&c->body, next_leaf);
	buf_u32(&c->body, next_tree);
	buf_u32(&c->body, ntrees);
	for (size_t i = 0; i < ntrees; i++) {
		buf_u32(&c->body, trees[i]->id);
		buf_bytes(&c->body, trees[i]->name, strlen(trees[i]->name));
	}
	c->count_at = c->body.len;
	buf_u32(&c->body, 0);    /* leaf count, patched in commit_enc_end */
}

/* Adds a new base image of one leaf (its chain starts again). */
void commit_enc_base(struct commit_enc *c, const struct loc_ent *e)
{
	commit_ent_encode_base(e, &c->body);
	c->nleaves++;
}

/* Adds a delta appended to the chain of leaf `id`. */
void commit_enc_delta(struct commit_enc *c, uint64_t id, uint32_t tree_id, uint32_t nkeys,
		      const struct leaf_loc *loc, const uint64_t *hash, size_t nhash)
{
	commit_ent_encode_delta(id, tree_id, nkeys, loc, hash, nhash, &c->body);
	c->nleaves++;
}

/* Ends the body with the leaves deleted, the live blob bytes each segment
 * gained or lost, the blob ranges synced with it and the digests of the
 * recent commits.  -ENOMEM if any part could not be added. */
int commit_enc_end(struct commit_enc *c, const uint64_t *dead, size_t ndead,
		   const struct seg_delta *segd, size_t nsegd, const struct blob_range *ranges,
		   size_t nranges, const struct digest_ring *ring)
{
	if (c->body.oom)
		return -ENOMEM;
	put_u32(c->body.p + c->count_at, c->nleaves);
	buf_u32(&c->body, ndead);
	for (size_t i = 0; i < ndead; i++)
		buf_u64(&c->body, dead[i]);
	buf_u32(&c->body, nsegd);
	for (size_t i = 0; i < nsegd; i++) {
		buf_u32(&c->body, segd[i].seg);
		buf_u64(&c->body, (uint64_t)segd[i].bytes);
	}
	buf_u32(&c->body, nranges);
	for (size_t i = 0; i < nranges; i++) {
		buf_u32(&c->body, ranges[i].seg);
		buf_u64(&c->body, ranges[i].off);
		buf_u32(&c->body, ranges[i].len);
		buf_u64(&c->body, ranges[i].csum);
	}
	digest_section(&c->body, ring);
	return c->body.oom ? -ENOMEM : 0;
}

/* ---- decoding and applying ---- */

/* Whether tree id exists, or is created by the commit body (whose tree
 * list starts after the 20-byte prefix). */
static bool lt_tree_known(const struct loctable *lt, uint32_t id, const uint8_t *body,
			  size_t len)
{
	for (size_t i = 0; i < lt->ntrees; i++)
		if (lt->trees[i].id == id)
			return true;
	struct rd r = rd_init(body + 20, len - 20);
	uint32_t n = rd_u32(&r);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		size_t nl;
		if (rd_u32(&r) == id)
			return true;
		rd_bytes(&r, TREE_NAME_MAX, &nl);
	}
	return false;
}

/* Checks (and skips) the digest section that ends a body. */
static int digests_check(struct rd *r, uint16_t layout)
{
	struct digest *d;
	size_t n;
	int err = digests_decode(r, layout, &d, &n);
	if (!err)
		digests_free(d, n);
	return err;
}

/* Reads the blob range section of a layout-3 body into *out (malloc'd,
 * may be NULL with pointers ignored). */
static int ranges_decode(struct rd *r, struct blob_range **out, size_t *n)
{
	uint32_t count = rd_u32(r);
	if (r->bad || count > rd_left(r) / 24)
		return -EUCLEAN;
	struct blob_range *v = out ? malloc(count ? count * sizeof(*v) : 1) : NULL;
	if (out && !v)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		struct blob_range g;
		g.seg = rd_u32(r);
		g.off = rd_u64(r);
		g.len = rd_u32(r);
		g.csum = rd_u64(r);
		if (!g.seg || !g.len)
			r->bad = true;
		if (v)
			v[i] = g;
	}
	if (r->bad) {
		free(v);
		return -EUCLEAN;
	}
	if (out) {
		*out = v;
		*n = count;
	}
	return 0;
}

/* Validates (apply false) or applies one leaf entry of a commit. */
static int leaf_walk(struct loctable *lt, struct rd *r, uint16_t layout, bool apply,
		     loc_check_fn check, void *arg, const uint8_t *body, size_t len)
{
	struct loc_ent *e;
	int err = loc_ent_decode_as(r, layout, false, &e);
	if (err)
		return err;
	if (apply)
		return e->kind == LOC_DELTA ? loctable_append(lt, e) : loctable_put(lt, e);
	if (check)
		err = check(arg, e);
	if (!err && !lt_tree_known(lt, e->tree_id, body, len))
		err = -EUCLEAN;
	if (!err && e->kind == LOC_DELTA) {
		const struct loc_ent *known = loctable_get(lt, e->leaf_id);
		if (!known || known->tree_id != e->tree_id)
			err = -EUCLEAN;
	}
	loc_ent_free(e);
	return err;
}

/*
 * One pass over a commit body: with apply false it only validates, so that
 * a commit is applied whole or not at all.
 */
static int commit_walk(struct loctable *lt, const uint8_t *body, size_t len, uint16_t layout,
		       bool apply, loc_check_fn check, void *arg)
{
	struct rd r = rd_init(body, len);
	uint64_t prev = rd_u64(&r);
	uint64_t next_leaf = rd_u64(&r);
	uint32_t next_tree = rd_u32(&r);
	if (r.bad)
		return -EUCLEAN;
	if (prev != lt->chain)
		return -ESTALE;
	int err = trees_decode(lt, &r, apply);
	uint32_t n = err ? 0 : rd_u32(&r);
	for (uint32_t i = 0; i < n && !err; i++)
		err = leaf_walk(lt, &r, layout, apply, check, arg, body, len);
	n = err ? 0 : rd_u32(&r);
	for (uint32_t i = 0; i < n && !err && !r.bad; i++) {
		uint64_t id = rd_u64(&r);
		if (apply)
			loctable_del(lt, id);
	}
	n = err ? 0 : rd_u32(&r);
	for (uint32_t i = 0; i < n && !err && !r.bad; i++) {
		uint32_t no = rd_u32(&r);
		uint64_t change = rd_u64(&r);
		struct lt_file *f = apply ? loctable_seg(lt, no) : loctable_seg_find(lt, no);
		uint64_t live = f ? f->live : 0;
		if (no == 0 || (apply && !f) || live + change > (uint64_t)UINT32_MAX << 24)
			err = apply && !f ? -ENOMEM : -EUCLEAN;   /* never negative */
		else if (apply)
			f->live += change;
	}
	if (!err && !r.bad && layout == REC_LAYOUT)
		err = ranges_decode(&r, NULL, NULL);
	if (!err && !r.bad && apply)
		r.p = r.end;                      /* the digests: checked already */
	else if (!err && !r.bad && (rd_left(&r) || layout == REC_LAYOUT))   /* formats 2, 3 */
		err = digests_check(&r, layout);
	if (!err && (r.bad || rd_left(&r)))
		err = -EUCLEAN;
	if (!err && apply) {
		if (next_leaf > lt->next_leaf_id)
			lt->next_leaf_id = next_leaf;
		if (next_tree > lt->next_tree_id)
			lt->next_tree_id = next_tree;
	}
	return err;
}

/* Skips what precedes the blob ranges (layout 3) or the digest section
 * of a commit body. */
static void skip_to_ranges(struct rd *r, uint16_t layout)
{
	rd_take(r, 8 + 8 + 4);              /* prev, next leaf id, next tree id */
	uint32_t n = rd_u32(r);
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		size_t len;
		rd_u32(r);
		rd_bytes(r, TREE_NAME_MAX, &len);
	}
	n = rd_u32(r);
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		struct loc_ent *e;
		if (loc_ent_decode_as(r, layout, false, &e))
			r->bad = true;
		else
			loc_ent_free(e);
	}
	n = rd_u32(r);
	for (uint32_t i = 0; i < n && !r->bad; i++)
		rd_u64(r);
	n = rd_u32(r);
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		rd_u32(r);
		rd_u64(r);
	}
}

/* The digests a commit body of `layout` carries (none in format 1);
 * pointers into body.  -EUCLEAN when the body is malformed. */
int commit_digests(const uint8_t *body, size_t len, uint16_t layout, struct digest **out,
		   size_t *n)
{
	struct rd r = rd_init(body, len);
	skip_to_ranges(&r, layout);
	*out = NULL;
	*n = 0;
	if (!r.bad && layout == REC_LAYOUT)
		ranges_decode(&r, NULL, NULL);
	if (r.bad)
		return -EUCLEAN;
	return rd_left(&r) || layout == REC_LAYOUT ? digests_decode(&r, layout, out, n) : 0;
}

/* The blob ranges a commit body of `layout` lists (*out malloc'd; none
 * before layout 3).  -EUCLEAN when the body is malformed. */
int commit_ranges(const uint8_t *body, size_t len, uint16_t layout, struct blob_range **out,
		  size_t *n)
{
	struct rd r = rd_init(body, len);
	*out = NULL;
	*n = 0;
	if (layout != REC_LAYOUT)
		return 0;
	skip_to_ranges(&r, layout);
	return r.bad ? -EUCLEAN : ranges_decode(&r, out, n);
}

/*
 * Applies a verified commit record of `epoch` with checksum `csum`, whose
 * body is of `layout` (its record's).
 * -ESTALE: it does not follow the current chain; -EUCLEAN: malformed.
 * Either way the table is unchanged (short of -ENOMEM midway).
 */
int commit_apply(struct loctable *lt, const uint8_t *body, size_t len, uint16_t layout,
		 uint64_t epoch, uint64_t csum, loc_check_fn check, void *arg)
{
	if (epoch <= lt->epoch)
		return -ESTALE;
	int err = commit_walk(lt, body, len, layout, false, check, arg);
	if (!err)
		err = commit_walk(lt, body, len, layout, true, NULL, NULL);
	if (!err) {
		lt->epoch = epoch;
		lt->chain = csum;
	}
	return err;
}


/* The flush's own commit, just made (layout REC_LAYOUT), applied without
 * the validating walk: it is valid as encoded.  -ENOMEM midway leaves the
 * table changed in part (the store then fails). */
int commit_apply_own(struct loctable *lt, const uint8_t *body, size_t len, uint64_t epoch,
		     uint64_t csum)
{
	int err = commit_walk(lt, body, len, REC_LAYOUT, true, NULL, NULL);
	if (!err) {
		lt->epoch = epoch;
		lt->chain = csum;
	}
	return err;
}
