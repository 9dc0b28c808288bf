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
 *   u32 n, n × location entry                         leaves written
 *   u32 n, n × u64 leaf id                             leaves deleted
 *   u32 n, n × { u32 segment, u64 change }  live blob bytes gained (two's
 *       complement: lost) in each segment
 *   format 2 only: the digest section (digest.c): what the recent commits
 *       before it did, to rebuild one that damage destroyed
 *
 * A commit applies iff its epoch is later than the table's, its prev is
 * the table's chain, it decodes exactly to its end, every tree it names
 * exists or is created by it, no live count would go negative, and (during
 * replay) the caller's check accepts every leaf location.  It applies whole
 * or not at all: the body is walked once to validate, once to apply.
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

/* Adds the new location of one leaf. */
void commit_enc_leaf(struct commit_enc *c, const struct loc_ent *e)
{
	loc_ent_encode(e, &c->body);
	c->nleaves++;
}

/* Ends the body with the leaves deleted, the live blob bytes each segment
 * gained or lost, and (format 2: ring not NULL) the digests of the recent
 * commits.  -ENOMEM if any part could not be added. */
int commit_enc_end(struct commit_enc *c, const uint64_t *dead, size_t ndead,
		   const struct seg_delta *segd, size_t nsegd, const struct digest_ring *ring)
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
	if (ring)
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

/* Checks (and skips) the digest section that ends a format-2 body. */
static int digests_check(struct rd *r)
{
	struct digest *d;
	size_t n;
	int err = digests_decode(r, &d, &n);
	if (!err)
		digests_free(d, n);
	return err;
}

/*
 * One pass over a commit body: with apply false it only validates, so that
 * a commit is applied whole or not at all.
 */
static int commit_walk(struct loctable *lt, const uint8_t *body, size_t len, bool apply,
		       loc_check_fn check, void *arg)
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
	for (uint32_t i = 0; i < n && !err; i++) {
		struct loc_ent *e;
		err = loc_ent_decode(&r, &e);
		if (err)
			break;
		if (apply) {
			err = loctable_put(lt, e);
			continue;
		}
		if (check)
			err = check(arg, e);
		if (!err && !lt_tree_known(lt, e->tree_id, body, len))
			err = -EUCLEAN;
		loc_ent_free(e);
	}
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
	if (!err && !r.bad && rd_left(&r))        /* format 2: digests */
		err = digests_check(&r);
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

/* Skips what precedes the digest section of a commit body. */
static void skip_to_digests(struct rd *r)
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
		if (loc_ent_decode(r, &e))
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

/* The digests a commit body carries (none in format 1); pointers into
 * body.  -EUCLEAN when the body is malformed. */
int commit_digests(const uint8_t *body, size_t len, struct digest **out, size_t *n)
{
	struct rd r = rd_init(body, len);
	skip_to_digests(&r);
	*out = NULL;
	*n = 0;
	if (r.bad)
		return -EUCLEAN;
	return rd_left(&r) ? digests_decode(&r, out, n) : 0;
}

/*
 * Applies a verified commit record of `epoch` with checksum `csum`.
 * -ESTALE: it does not follow the current chain; -EUCLEAN: malformed.
 * Either way the table is unchanged (short of -ENOMEM midway).
 */
int commit_apply(struct loctable *lt, const uint8_t *body, size_t len,
		 uint64_t epoch, uint64_t csum, loc_check_fn check, void *arg)
{
	if (epoch <= lt->epoch)
		return -ESTALE;
	int err = commit_walk(lt, body, len, false, check, arg);
	if (!err)
		err = commit_walk(lt, body, len, true, NULL, NULL);
	if (!err) {
		lt->epoch = epoch;
		lt->chain = csum;
	}
	return err;
}

