/* SPDX-License-Identifier: MIT */
/*
 * Writes seed inputs for fuzz_decode into argv[1]: real record framings,
 * leaf bodies, commit and snapshot bodies and bloom filters, produced by
 * the engine's own encoders, then the filesystem's records
 * (make_corpus_fs.c).  Run by hand when a format changes:
 *   build/tests/fuzz/make_corpus tests/fuzz/corpus
 */
#include <stdio.h>
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
	commit_apply(&lt, commit.p, commit.len, 1, 99, NULL, NULL);
	snapshot_encode(&lt, &snap);
	emit(argv[1], "snapshot", SEL_SNAPSHOT, snap.p, snap.len);
	struct buf bl = { 0 };
	bloom_encode(&b, &bl);
	emit(argv[1], "bloom", SEL_BLOOM, bl.p, bl.len);

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
