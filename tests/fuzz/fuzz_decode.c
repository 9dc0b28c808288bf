/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for every decoder of on-disk bytes.  The first input
 * byte, modulo SELECTORS (fuzz.h), picks the decoder; the rest is its input:
 *
 *   the engine's (this file)
 *    0 record framing   record_parse_header, record_open (checksum, zstd)
 *    1 leaf body        entries_decode -> entries_encode round trip,
 *                       blob_ref_decode, bloom_build
 *    2 commit body      commit_apply
 *    3 snapshot body    snapshot_decode
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

static void fuzz_tables(const uint8_t *p, size_t n, bool snapshot)
{
	struct loctable lt;
	loctable_init(&lt);
	if (snapshot)
		snapshot_decode(&lt, p, n);
	else
		commit_apply(&lt, p, n, 1, 1, NULL, NULL);
	loctable_free(&lt);
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
	case SEL_COMMIT:     fuzz_tables(p, n, false); break;
	case SEL_SNAPSHOT:   fuzz_tables(p, n, true); break;
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
