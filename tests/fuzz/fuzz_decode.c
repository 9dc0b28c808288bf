/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for every decoder of on-disk bytes.  The first input
 * byte, modulo SELECTORS (fuzz.h), picks the decoder; the rest is its input:
 *
 *   the engine's (this file)
 *    0 record framing   record_parse_header, record_open (checksum, zstd)
 *    1 leaf body        entries_decode -> entries_encode round trip,
 *                       blob_ref_decode, bloom_build
 *    2 commit body      commit_apply, layout 0 (formats 1 and 2)
 *    3 snapshot body    snapshot_decode, layout 0
 *    4 bloom filter     bloom_decode, bloom_may_contain
 *   the filesystem's (fuzz_fs.c; fs/format.h)
 *    5 inode record     inode_decode -> inode_encode
 *    6 superblock       sb_decode -> sb_encode, as read from tree `super`
 *    7 superblock copy  the engine's META and META.bak (meta_load), then
 *                       sb_copy_get -> sb_decode -> sb_encode; layout in fuzz.h
 *    8 directory entry  u16 LE key length, key, value:
 *                       dirent_key_decode -> dirent_key, name_hash;
 *                       dirent_val_decode -> dirent_val_encode
 *    9 patch set        u32 LE block length, set: patch_valid, patch_apply
 *   10 ACL xattr        acl_check, acl_set_access
 *   11 orphans key      ino_key_get -> ino_key
 *   12 extents key      patch_key_is, extent_key_block -> extent_key, patch_key
 *   13 xattrs key       the name after ino_key_get -> xattr_key
 *   the engine's again
 *   14 leaf delta       u32 LE length L, a leaf body of L bytes, then a
 *                       delta body: delta_open/delta_next, delta_hashes,
 *                       and delta_apply (strict, then lenient) to the leaf
 *                       decoded from the body -> entries_encode ->
 *                       entries_decode
 *   15 commit body      commit_apply, layout 3 (chains, blob ranges),
 *                       applied to a table holding leaf 77 of tree 3, then
 *                       commit_ranges and commit_digests
 *   16 snapshot body    snapshot_decode, layout 3
 *   17 delta snapshot   snapshot_decode_delta, on a table of epoch 0
 *                       holding leaf 77 of tree 3 (as its base), and
 *                       alone (as lkv_check reads it)
 *
 * Decoders must reject garbage with an error; any crash, leak, sanitizer
 * report or failed round trip (abort) is a bug.  Built with -Dfuzz=true
 * (clang); corpus_main.c replays the corpus through the same function in
 * every ordinary test run.  To fuzz one decoder alone:
 *   LARCH_FUZZ_SELECTOR=9 build-fuzz/tests/fuzz/fuzz_decode WORK tests/fuzz/corpus
 * (new inputs go to WORK, the first directory; keep the committed corpus
 * small and add only regressions to it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv/internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the engine's records ---- */

static void fuzz_record(const uint8_t *p, size_t n)
{
	struct rec_hdr h;
	uint8_t *raw;
	if (n < REC_HDR || record_parse_header(p, &h) || n - REC_HDR < h.stored_len)
		return;
	if (record_open(p, &h, &raw) == 0)
		free(raw);
}

static void fuzz_leaf(const uint8_t *p, size_t n)
{
	if (n < 12)
		return;
	uint8_t *raw = malloc(n);
	memcpy(raw, p, n);
	struct entries *d;
	if (entries_decode(raw, n, get_u32(p), get_u64(p + 4), &d) == 0) {
		struct blob_ref r;
		for (uint32_t i = 0; i < d->n; i++)
			if (d->e[i].flags & ENT_BLOB)
				blob_ref_decode(d->e[i].v, d->e[i].vl, &r);
		struct buf b = { 0 };
		entries_encode(d, get_u32(p), get_u64(p + 4), &b);
		if (b.len != n || memcmp(b.p, p, n))
			abort();      /* decode then encode must give the same bytes */
		buf_free(&b);
		entries_free(d);
	} else {
		free(raw);
	}
	struct bloom f = { 0 };
	bloom_build(&f, p, n, 10);
	bloom_free(&f);
}

static void fuzz_tables(const uint8_t *p, size_t n, bool snapshot, uint16_t layout)
{
	struct loctable lt;
	loctable_init(&lt);
	if (snapshot) {
		snapshot_decode(&lt, p, n, layout);
		loctable_free(&lt);
		return;
	}
	if (layout == REC_LAYOUT) {
		/* a leaf for deltas to append to, as the corpus's commits name */
		struct loc_ent *e = calloc(1, sizeof(*e));
		e->leaf_id = 77;
		e->tree_id = 3;
		e->loc = (struct leaf_loc){ .file = 1, .len = 100, .off = 0, .csum = 5 };
		e->low = malloc(1);
		loctable_add_tree(&lt, 3, (const uint8_t *)"main", 4);
		loctable_put(&lt, e);
	}
	commit_apply(&lt, p, n, layout, lt.epoch + 1, 1, NULL, NULL);
	struct blob_range *r;
	struct digest *d;
	size_t nr, nd;
	if (commit_ranges(p, n, layout, &r, &nr) == 0)
		free(r);
	if (commit_digests(p, n, layout, &d, &nd) == 0)
		digests_free(d, nd);
	loctable_free(&lt);
}

static void fuzz_snapdelta(const uint8_t *p, size_t n)
{
	for (int on_base = 0; on_base < 2; on_base++) {
		struct loctable lt;
		loctable_init(&lt);
		if (on_base) {
			struct loc_ent *e = calloc(1, sizeof(*e));
			e->leaf_id = 77;
			e->tree_id = 3;
			e->low = malloc(1);
			loctable_add_tree(&lt, 3, (const uint8_t *)"main", 4);
			loctable_put(&lt, e);
		}
		snapshot_decode_delta(&lt, p, n, on_base);
		loctable_free(&lt);
	}
}

static void fuzz_delta(const uint8_t *p, size_t n)
{
	if (n < 4 || get_u32(p) > n - 4)
		return;
	size_t ll = get_u32(p);
	const uint8_t *dp = p + 4 + ll;
	size_t dn = n - 4 - ll;
	struct delta_rd it;
	struct delta_op op;
	if (delta_open(dp, dn, &it) == 0)
		while (delta_next(&it, &op) > 0)
			;
	uint64_t *h;
	size_t nh;
	if (delta_hashes(dp, dn, &h, &nh) == 0)
		free(h);
	for (int lenient = 0; lenient < 2 && ll >= 12; lenient++) {
		uint8_t *raw = malloc(ll ? ll : 1);
		memcpy(raw, p + 4, ll);
		struct entries *d;
		if (entries_decode(raw, ll, get_u32(p + 4), get_u64(p + 8), &d)) {
			free(raw);
			return;
		}
		struct lost_set lost = { 0 };
		int err = lenient ? delta_apply_lenient(d, dp, dn, get_u32(p + 4), get_u64(p + 8),
							&lost)
				  : delta_apply(d, dp, dn, get_u32(p + 4), get_u64(p + 8),
						dn >= 20 ? get_u64(dp + 12) : 0);
		if (!err) {
			/* what applied is a valid leaf again */
			struct buf b = { 0 };
			struct entries *again;
			entries_encode(d, 1, 2, &b);
			uint8_t *copy = malloc(b.len);
			memcpy(copy, b.p, b.len);
			if (entries_decode(copy, b.len, 1, 2, &again))
				abort();
			entries_free(again);
			buf_free(&b);
		}
		free(lost.h);
		entries_free(d);
	}
}

static void fuzz_bloom(const uint8_t *p, size_t n)
{
	struct rd r = rd_init(p, n);
	struct bloom b;
	if (bloom_decode(&b, &r) == 0) {
		bloom_may_contain(&b, p, n);
		bloom_free(&b);
	}
}

/* ---- the superblock copy: the engine's META files, read as at open ---- */

/* A read-only lkv_io over the two META files of one input.  meta_load on a
 * read-only store opens, sizes, reads and closes them, nothing more (it
 * repairs a copy only when writable). */
struct lkv_file {
	const uint8_t *p;
	size_t len;
};

struct memio {
	struct lkv_io io;
	struct lkv_file f[2];        /* META, META.bak */
	bool has[2];
};

static int mem_open(lkv_io *io, const char *name, int flags, lkv_file **out)
{
	struct memio *m = (struct memio *)io;
	int i = !strcmp(name, "META") ? 0 : !strcmp(name, "META.bak") ? 1 : -1;
	if (i < 0 || !m->has[i])
		return -ENOENT;
	if (!(flags & LKV_IO_RDONLY))
		abort();              /* a read-only store opened a file to write */
	*out = &m->f[i];
	return 0;
}

static void mem_close(lkv_file *f)
{
	(void)f;
}

static ssize_t mem_pread(lkv_file *f, void *buf, size_t len, uint64_t off)
{
	if (off >= f->len)
		return 0;
	size_t k = f->len - off < len ? f->len - off : len;
	memcpy(buf, f->p + off, k);
	return (ssize_t)k;
}

static int mem_size(lkv_file *f, uint64_t *size)
{
	*size = f->len;
	return 0;
}

static const struct lkv_io_ops mem_ops = {
	.open = mem_open, .close = mem_close, .pread = mem_pread, .size = mem_size,
};

/* Gives a copy of META's layout (kv/meta.c) the store's uuid, the payload
 * length its size says and its checksum. */
static void meta_fixup(uint8_t *b, size_t len, const uint8_t uuid[16])
{
	if (len < FUZZ_META_FRAME)
		return;
	put_u32(b + 12, (uint32_t)(len - FUZZ_META_FRAME));
	memcpy(b + 16, uuid, 16);
	put_u64(b + len - 8, lkv_checksum(b, len - 8));
}

static void fuzz_meta(const uint8_t *p, size_t n)
{
	if (n < FUZZ_META_HDR)
		return;
	uint8_t flags = p[0];
	size_t len[2];
	len[0] = p[17] | (size_t)p[18] << 8;      /* fuzz.h */
	if (len[0] > n - FUZZ_META_HDR)
		len[0] = n - FUZZ_META_HDR;
	len[1] = n - FUZZ_META_HDR - len[0];
	struct memio m = { .io = { .ops = &mem_ops } };
	uint8_t *copy[2];
	size_t at = FUZZ_META_HDR;
	for (int i = 0; i < 2; at += len[i], i++) {
		copy[i] = malloc(len[i] ? len[i] : 1);
		memcpy(copy[i], p + at, len[i]);
		if (flags & FUZZ_META_FIXUP)
			meta_fixup(copy[i], len[i], p + 1);
		m.f[i] = (struct lkv_file){ copy[i], len[i] };
		m.has[i] = flags & (i ? FUZZ_META_BACKUP : FUZZ_META_PRIMARY);
	}
	lkv_store *s = calloc(1, sizeof(*s));
	pthread_mutex_init(&s->meta_mu, NULL);
	s->io = &m.io;
	s->ro = true;
	memcpy(s->uuid, p + 1, 16);
	if (meta_load(s) == 0)
		fuzz_super_copy(s);
	free(s->meta);
	pthread_mutex_destroy(&s->meta_mu);
	free(s);
	free(copy[0]);
	free(copy[1]);
}

/* ---- the dispatcher ---- */

/* LARCH_FUZZ_SELECTOR=N gives every input to decoder N, whatever its
 * first byte, so that a libFuzzer run spends its time on one decoder. */
static int only = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *e = getenv("LARCH_FUZZ_SELECTOR");
	if (e && *e)
		only = atoi(e) % SELECTORS;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch ((enum fuzz_sel)(only >= 0 ? only : data[0] % SELECTORS)) {
	case SEL_RECORD:     fuzz_record(p, n); break;
	case SEL_LEAF:       fuzz_leaf(p, n); break;
	case SEL_COMMIT:     fuzz_tables(p, n, false, 0); break;
	case SEL_SNAPSHOT:   fuzz_tables(p, n, true, 0); break;
	case SEL_DELTA:      fuzz_delta(p, n); break;
	case SEL_COMMIT3:    fuzz_tables(p, n, false, REC_LAYOUT); break;
	case SEL_SNAPSHOT3:  fuzz_tables(p, n, true, REC_LAYOUT); break;
	case SEL_SNAPDELTA:  fuzz_snapdelta(p, n); break;
	case SEL_BLOOM:      fuzz_bloom(p, n); break;
	case SEL_INODE:      fuzz_inode(p, n); break;
	case SEL_SUPER:      fuzz_super(p, n); break;
	case SEL_SUPER_COPY: fuzz_meta(p, n); break;
	case SEL_DIRENT:     fuzz_dirent(p, n); break;
	case SEL_PATCHSET:   fuzz_patchset(p, n); break;
	case SEL_ACL:        fuzz_acl(p, n); break;
	case SEL_ORPHAN_KEY: fuzz_orphan_key(p, n); break;
	case SEL_EXTENT_KEY: fuzz_extent_key(p, n); break;
	case SEL_XATTR_KEY:  fuzz_xattr_key(p, n); break;
	case SELECTORS:      break;
	}
	return 0;
}
