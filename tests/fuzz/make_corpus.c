/* SPDX-License-Identifier: MIT */
/*
 * Writes seed inputs for fuzz_decode into argv[1]: real record framings,
 * leaf bodies, leaf deltas, commit and snapshot bodies (of layouts 0 and
 * 3) and bloom filters, produced by the engine's own encoders, then the
 * filesystem's records
 * (make_corpus_fs.c).  Run by hand when a format changes:
 *   build/tests/fuzz/make_corpus tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"
#include "fuzz.h"

void emit(const char *dir, const char *name, uint8_t sel, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return;
	}
	fputc(sel, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

/*
 * Layout 3: a delta of the leaf (a splice, a put, a delete), framed as a
 * record too; a commit that makes leaf 77 a new base and one that appends
 * the delta, with blob ranges and a digest; the snapshot of the table
 * with that chain.
 */
static void delta_seeds(const char *dir, struct entries *d, const struct buf *leaf,
			const struct bloom *b, ZSTD_CCtx *c)
{
	char v[600];
	memset(v, 'x', sizeof(v));
	entries_put(d, "big", 3, v, sizeof(v), 0);
	v[300] = 'y';
	entries_change(d, "big", 3, v, sizeof(v), 0, 2, 0);
	entries_change(d, "key005", 6, "new", 3, 0, 2, 0);
	entries_remove(d, "key007", 6, 2);
	struct buf base = { 0 }, delta = { 0 }, in = { 0 }, rec = { 0 };
	uint64_t *h, csum, bcsum;
	size_t nh;
	(void)leaf;
	/* the base: the leaf as it was before those changes */
	struct entries *old = entries_new();
	for (uint32_t i = 0; i < d->n; i++)
		entries_put(old, d->e[i].k, d->e[i].kl, d->e[i].v, d->e[i].vl, 0);
	entries_put(old, "key007", 6, "value 49", 8, 0);
	entries_put(old, "key005", 6, "value 25", 8, 0);
	v[300] = 'x';
	entries_put(old, "big", 3, v, sizeof(v), 0);
	entries_encode(old, 3, 77, &base);
	record_append(&rec, REC_LEAF, 5, base.p, base.len, c, 0, &bcsum);
	delta_encode(d, 3, 77, bcsum, 0, &delta, &h, &nh);
	buf_u32(&in, (uint32_t)base.len);
	buf_add(&in, base.p, base.len);
	buf_add(&in, delta.p, delta.len);
	emit(dir, "delta", SEL_DELTA, in.p, in.len);
	struct buf drec = { 0 };
	record_append(&drec, REC_DELTA, 6, delta.p, delta.len, c, 0, &csum);
	emit(dir, "record-delta", SEL_RECORD, drec.p, drec.len);

	struct digest_ring ring = { 0 };
	struct commit_enc ce;
	struct loc_ent e = { .leaf_id = 77, .tree_id = 3, .nkeys = old->n,
		.loc = { .file = 1, .len = rec.len, .off = 0, .csum = bcsum },
		.low = (uint8_t *)"", .low_len = 0, .bloom = *b };
	commit_enc_begin(&ce, 0, 78, 4, NULL, 0);
	commit_enc_base(&ce, &e);
	commit_enc_end(&ce, NULL, 0, NULL, 0, NULL, 0, &ring);
	emit(dir, "commit3-base", SEL_COMMIT3, ce.body.p, ce.body.len);
	struct digest_leaf w = { .id = 77, .tree = 3, .loc = e.loc, .kind = LOC_BASE };
	struct flush_set fs = { 0 };
	struct buf dg = { 0 };
	digest_encode(&dg, 5, 0, &w, 1, &fs);
	digest_keep(&ring, 1000, &dg);
	buf_free(&ce.body);

	struct leaf_loc dl = { .file = 1, .len = drec.len, .off = rec.len, .csum = csum };
	struct blob_range br = { .seg = 1, .off = 0, .len = 4096, .csum = 1234 };
	commit_enc_begin(&ce, 99, 78, 4, NULL, 0);
	commit_enc_delta(&ce, 77, 3, d->n, &dl, h, nh);
	commit_enc_end(&ce, NULL, 0, NULL, 0, &br, 1, &ring);
	emit(dir, "commit3-delta", SEL_COMMIT3, ce.body.p, ce.body.len);

	struct loctable lt;
	struct buf snap = { 0 };
	loctable_init(&lt);
	loctable_add_tree(&lt, 3, (const uint8_t *)"main", 4);
	struct loc_ent *copy = calloc(1, sizeof(*copy));
	*copy = e;
	copy->low = malloc(1);
	bloom_copy(&copy->bloom, b);
	loctable_put(&lt, copy);
	struct loc_ent *de = calloc(1, sizeof(*de));
	*de = (struct loc_ent){ .kind = LOC_DELTA, .leaf_id = 77, .tree_id = 3, .nkeys = d->n,
				.loc = dl, .hash = h, .nhash = (uint32_t)nh };
	loctable_append(&lt, de);
	snapshot_encode(&lt, &snap);
	emit(dir, "snapshot3", SEL_SNAPSHOT3, snap.p, snap.len);

	/* a delta snapshot (snapshot.c) of epoch 5 on epoch 0: leaf 77
	 * changed, leaf 78 dropped, one segment */
	snap.len = 0;
	uint64_t base_epoch = lt.epoch;
	lt.epoch = 5;
	snapshot_head_encode(&lt, &base_epoch, &snap);
	buf_u64(&snap, 1);
	snap_ent_encode(loctable_get(&lt, 77), &snap);
	buf_u64(&snap, 1);
	buf_u64(&snap, 78);
	buf_u32(&snap, 1);
	buf_u32(&snap, 1);
	buf_u64(&snap, 4096);
	emit(dir, "snapshot-delta", SEL_SNAPDELTA, snap.p, snap.len);

	loctable_free(&lt);
	digest_ring_free(&ring);
	entries_free(old);
	buf_free(&snap);
	buf_free(&dg);
	buf_free(&ce.body);
	buf_free(&base);
	buf_free(&delta);
	buf_free(&drec);
	buf_free(&in);
	buf_free(&rec);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct entries *d = entries_new();
	char k[32], v[64];
	for (int i = 0; i < 20; i++) {
		int kl = snprintf(k, sizeof(k), "key%03d", i);
		int vl = snprintf(v, sizeof(v), "value %d", i * i);
		entries_put(d, k, kl, v, vl, 0);
	}
	struct buf leaf = { 0 }, rec = { 0 }, zrec = { 0 }, commit = { 0 }, snap = { 0 };
	entries_encode(d, 3, 77, &leaf);
	emit(argv[1], "leaf", SEL_LEAF, leaf.p, leaf.len);
	uint64_t csum;
	ZSTD_CCtx *c = ZSTD_createCCtx();
	record_append(&rec, REC_LEAF, 5, leaf.p, leaf.len, c, 0, &csum);
	emit(argv[1], "record-raw", SEL_RECORD, rec.p, rec.len);
	record_append(&zrec, REC_LEAF, 5, leaf.p, leaf.len, c, 3, &csum);
	emit(argv[1], "record-zstd", SEL_RECORD, zrec.p, zrec.len);

	struct bloom b = { 0 };
	bloom_build(&b, leaf.p, leaf.len, 10);
	struct loc_ent e = { .leaf_id = 77, .tree_id = 3, .nkeys = 20,
		.loc = { .file = 1, .len = rec.len, .off = 0, .csum = csum },
		.low = (uint8_t *)"", .low_len = 0, .bloom = b };
	buf_u64(&commit, 0);            /* prev */
	buf_u64(&commit, 78);           /* next leaf id */
	buf_u32(&commit, 4);            /* next tree id */
	buf_u32(&commit, 1);            /* one tree */
	buf_u32(&commit, 3);
	buf_bytes(&commit, "main", 4);
	buf_u32(&commit, 1);            /* one leaf */
	loc_ent_encode(&e, &commit);
	buf_u32(&commit, 1);            /* one deleted */
	buf_u64(&commit, 12);
	buf_u32(&commit, 1);            /* one segment gains live bytes */
	buf_u32(&commit, 1);
	buf_u64(&commit, 70000);
	emit(argv[1], "commit", SEL_COMMIT, commit.p, commit.len);

	struct loctable lt;
	loctable_init(&lt);
	commit_apply(&lt, commit.p, commit.len, 0, 1, 99, NULL, NULL);
	/* a snapshot of layout 0, as formats 1 and 2 wrote them */
	snapshot_head_encode(&lt, NULL, &snap);
	buf_u64(&snap, lt.n);
	for (size_t i = 0; i < lt.cap; i++)
		if (lt.slot[i])
			loc_ent_encode(lt.slot[i], &snap);
	buf_u32(&snap, lt.nsegs);
	for (size_t i = 0; i < lt.nsegs; i++) {
		buf_u32(&snap, lt.segs[i].no);
		buf_u64(&snap, lt.segs[i].live);
	}
	emit(argv[1], "snapshot", SEL_SNAPSHOT, snap.p, snap.len);
	struct buf bl = { 0 };
	bloom_encode(&b, &bl);
	emit(argv[1], "bloom", SEL_BLOOM, bl.p, bl.len);

	delta_seeds(argv[1], d, &leaf, &b, c);

	/* a leaf whose value is a blob reference */
	struct entries *bd = entries_new();
	struct blob_ref br = { .seg = 1, .off = 4096, .len = 70000, .raw_len = 65536,
			       .codec = 0, .klen = 4, .csum = 99 };
	uint8_t ref[BLOB_REF_LEN];
	struct buf bleaf = { 0 };
	blob_ref_encode(&br, ref);
	entries_put(bd, "blob", 4, ref, sizeof(ref), ENT_BLOB);
	entries_encode(bd, 3, 78, &bleaf);
	emit(argv[1], "leaf-blobref", SEL_LEAF, bleaf.p, bleaf.len);
	buf_free(&bleaf);
	entries_free(bd);

	loctable_free(&lt);
	bloom_free(&b);
	buf_free(&bl);
	buf_free(&leaf);
	buf_free(&rec);
	buf_free(&zrec);
	buf_free(&commit);
	buf_free(&snap);
	entries_free(d);
	ZSTD_freeCCtx(c);
	return make_fs_corpus(argv[1]);
}
