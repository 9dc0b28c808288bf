/* SPDX-License-Identifier: MIT */
/*
 * The filesystem's half of the fuzz target (fuzz_decode.c picks the
 * decoder): every decoder of bytes larchfs reads from its trees
 * (fs/format.h), fed the way its callers feed it.
 *
 * Callers read a record with lkv_get into a buffer of the size they expect
 * plus one byte, and pass the value's whole length, which may be more than
 * the buffer holds; each harness below copies what such a buffer would hold
 * into a heap block of exactly that size, so ASan reports any read past what
 * the caller has.  Where a decoder has an encoder, what decodes must encode
 * back to the same bytes (abort() if not), except for the bytes the decoder
 * is documented (here) to ignore.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/internal.h"
#include "fuzz.h"

/* ---- helpers ---- */

/* A heap copy of what a buffer of `cap` bytes holds of p, n: exactly
 * min(n, cap) bytes (at least one allocated). */
static uint8_t *copy_capped(const uint8_t *p, size_t n, size_t cap)
{
	size_t k = n < cap ? n : cap;
	uint8_t *b = malloc(k ? k : 1);
	if (!b)
		abort();
	memcpy(b, p, k);
	return b;
}

static void same_or_abort(const void *a, const void *b, size_t n)
{
	if (memcmp(a, b, n))
		abort();      /* decode then encode must give the same bytes */
}

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- inode records (fs/inode.c) ---- */

/* As inode_get reads one.  Bytes 1-3 of a record are zero when written;
 * inode_decode does not look at them, so the round trip ignores them. */
void fuzz_inode(const uint8_t *p, size_t n)
{
	uint8_t *rec = copy_capped(p, n, INODE_REC_LEN + 1);
	struct inode in;
	if (inode_decode(rec, n, &in)) {
		uint8_t out[INODE_REC_LEN], want[INODE_REC_LEN];
		inode_encode(&in, out);
		memcpy(want, rec, sizeof(want));
		memset(want + 1, 0, 3);
		same_or_abort(out, want, sizeof(want));
	}
	free(rec);
}

/* ---- the superblock (fs/super.c) ---- */

/* The bytes sb_encode writes back for superblock p: the label (40..103)
 * is cut at its first NUL within 63 bytes and zero-padded, since
 * sb_decode keeps 63 bytes of it and sb_encode writes up to the NUL. */
static void sb_canonical(const uint8_t *p, uint8_t want[SB_LEN])
{
	memcpy(want, p, SB_LEN);
	size_t label = strnlen((const char *)p + 40, 63);
	memset(want + 40 + label, 0, 64 - label);
}

static void sb_round_trip(const uint8_t *p, const struct lfs_info *i)
{
	uint8_t out[SB_LEN], want[SB_LEN];
	sb_encode(i, out);
	sb_canonical(p, want);
	same_or_abort(out, want, SB_LEN);
}

/* As read_super (mount.c) reads the record of tree `super`. */
void fuzz_super(const uint8_t *p, size_t n)
{
	uint8_t *rec = copy_capped(p, n, SB_LEN + 1);
	struct lfs_info i;
	if (sb_decode(rec, n, &i))
		sb_round_trip(rec, &i);
	free(rec);
}

/* The copy in the engine's META, as mount and fsck read it (sb_copy_get);
 * it is the record's bytes with next_ino raised to a bound. */
void fuzz_super_copy(lkv_store *s)
{
	struct lfs_info i;
	if (sb_copy_get(s, &i))
		return;
	uint8_t meta[LKV_META_MAX];
	size_t len;
	if (lkv_meta_read(s, meta, sizeof(meta), &len) || len != SB_LEN)
		abort();      /* sb_copy_get took something else for a superblock */
	sb_round_trip(meta, &i);
}

/* ---- directory entries (fs/dir.c, fs/readdir.c) ---- */

/* Input: u16 LE key length, the key, then the value.  As readdir and fsck
 * read an entry: the key as the iterator gives it (exactly its bytes),
 * the value as dirent_get reads it (a buffer of DIRENT_VAL_LEN + 1). */
void fuzz_dirent(const uint8_t *p, size_t n)
{
	if (n < 2)
		return;
	size_t kl = le16_at(p);
	p += 2, n -= 2;
	if (kl > n)
		kl = n;
	uint8_t *k = copy_capped(p, kl, kl);
	struct dirent_key dk;
	bool ok = dirent_key_decode(k, kl, &dk);
	/* fsck uses the parts of a damaged key too: they must lie in it */
	if (dk.name < k || dk.len > kl || (size_t)(dk.name - k) > kl - dk.len)
		abort();
	uint64_t h = name_hash((const char *)dk.name, dk.len);
	if (h < 3 || h > (1ull << 62) + 2)
		abort();      /* dir.c: every hash lies in [3, 2^62 + 2] */
	if (ok) {
		char name[LFS_NAME_MAX + 1];
		memcpy(name, dk.name, dk.len);     /* as readdir copies it */
		name[dk.len] = 0;
		if (strlen(name) == dk.len && name_hash(name, dk.len) == dk.hash) {
			uint8_t out[DIRENT_KEY_MAX];
			size_t ol = dirent_key(out, dk.parent, name);
			if (ol != kl)
				abort();
			same_or_abort(out, k, kl);
		}
	}
	free(k);

	size_t vl = n - kl;
	uint8_t *v = copy_capped(p + kl, vl, DIRENT_VAL_LEN + 1);
	struct dirent_val dv;
	if (dirent_val_decode(v, vl, &dv)) {
		uint8_t out[DIRENT_VAL_LEN];
		dirent_val_encode(&dv, out);
		same_or_abort(out, v, DIRENT_VAL_LEN);
	}
	free(v);
}

/* ---- sub-block writes (fs/patch.c) ---- */

/* Checks what patch_valid promises of a valid set (patch.c): entries in
 * ascending order, neither overlapping nor touching, inside the block;
 * patch_apply and merge rely on it. */
static void patch_walk(const uint8_t *v, size_t vl, size_t limit)
{
	size_t end = 0;
	for (size_t pos = 0; pos < vl;) {
		if (vl - pos < PATCH_HDR)
			abort();
		size_t off = le32_get(v + pos), len = le32_get(v + pos + 4);
		if (len == 0 || len > vl - pos - PATCH_HDR || (pos && off <= end) ||
		    off > limit || len > limit - off)
			abort();
		end = off + len;
		pos += PATCH_HDR + len;
	}
}

/* Applies ps to windows of a block of `limit` bytes, each an exact heap
 * block (ASan sees a write outside it): the whole block when it is no
 * larger than the largest block size, and one byte either side of each
 * entry, as reads of part of a block (extent.c) do. */
static void patch_apply_windows(const struct patchset *ps, size_t limit)
{
	if (limit <= (1u << 20)) {
		uint8_t *blk = calloc(1, limit ? limit : 1);
		if (!blk)
			abort();
		patch_apply(ps, 0, blk, limit);
		for (size_t pos = 0; pos < ps->len;) {
			size_t off = le32_get(ps->v + pos), len = le32_get(ps->v + pos + 4);
			same_or_abort(blk + off, ps->v + pos + PATCH_HDR, len);
			pos += PATCH_HDR + len;
		}
		free(blk);
	}
	for (size_t pos = 0; pos < ps->len;) {
		size_t off = le32_get(ps->v + pos), len = le32_get(ps->v + pos + 4);
		size_t o = off ? off - 1 : 0, end = off + len < limit ? off + len + 1 : limit;
		uint8_t *w = malloc(end - o);
		if (!w)
			abort();
		patch_apply(ps, o, w, end - o);
		same_or_abort(w + (off - o), ps->v + pos + PATCH_HDR, len);
		free(w);
		pos += PATCH_HDR + len;
	}
}

/* Input: u32 LE limit (the block's stored length), then the set.  As
 * patch_load reads it: lkv_get into a patchset, the whole length in len. */
void fuzz_patchset(const uint8_t *p, size_t n)
{
	if (n < 4)
		return;
	size_t limit = le32_get(p);
	p += 4, n -= 4;
	uint8_t *v = copy_capped(p, n, n);
	int err = patch_valid(v, n, limit);
	if (err && err != -EIO)
		abort();
	if (!err) {
		patch_walk(v, n, limit);
		struct patchset *ps = malloc(sizeof(*ps));
		if (!ps)
			abort();
		ps->len = n;
		if (n <= sizeof(ps->v)) {      /* patch_load rejects longer ones */
			memcpy(ps->v, v, n);
			patch_apply_windows(ps, limit);
		}
		free(ps);
	}
	free(v);
}

/* ---- ACLs (fs/acl.c) ---- */

/* As acl_read reads an ACL xattr (a buffer of exactly its length) and
 * acl_set_access takes one: the mode it gives is the entries' owner,
 * mask-or-group and other permissions; the rest of the mode stays. */
void fuzz_acl(const uint8_t *p, size_t n)
{
	uint8_t *v = copy_capped(p, n, n);
	bool minimal;
	int err = acl_check(v, n, &minimal);
	if (err && err != -EINVAL && err != -EOPNOTSUPP)
		abort();
	if (!err) {
		unsigned u = 0, g = 0, m = 0, o = 0, entries = 0;
		bool mask = false;
		for (size_t off = 4; off < n; off += 8, entries++) {
			unsigned tag = le16_at(v + off), perm = le16_at(v + off + 2);
			if (tag == 0x01)
				u = perm;
			else if (tag == 0x04)
				g = perm;
			else if (tag == 0x10)
				m = perm, mask = true;
			else if (tag == 0x20)
				o = perm;
		}
		if (minimal != (entries == 3))
			abort();      /* minimal: owner, group and other alone */
		struct inode in = { .mode = S_IFDIR | S_ISGID | 0777 };
		bool store;
		if (acl_set_access(&in, v, n, &store) || store == minimal ||
		    in.mode != (S_IFDIR | S_ISGID | u << 6 | (mask ? m : g) << 3 | o))
			abort();
	}
	free(v);
}

/* ---- keys ---- */

/* An orphans (or inodes) key, as orphan_list reads it: INO_KEY_LEN
 * bytes, else skipped. */
void fuzz_orphan_key(const uint8_t *p, size_t n)
{
	uint8_t *k = copy_capped(p, n, n);
	if (n == INO_KEY_LEN) {
		uint8_t out[INO_KEY_LEN];
		ino_key(out, ino_key_get(k));
		same_or_abort(out, k, INO_KEY_LEN);
	}
	free(k);
}

/* An extents key, as fsck tells them apart: a patch set's (patch_key_is),
 * a block's (EXTENT_KEY_LEN bytes), or damage, whose block is not read. */
void fuzz_extent_key(const uint8_t *p, size_t n)
{
	uint8_t *k = copy_capped(p, n, n);
	uint8_t out[PATCH_KEY_LEN];
	if (patch_key_is(k, n)) {
		patch_key(out, ino_key_get(k), extent_key_block(k));
		same_or_abort(out, k, PATCH_KEY_LEN);
	} else if (n == EXTENT_KEY_LEN) {
		extent_key(out, ino_key_get(k), extent_key_block(k));
		same_or_abort(out, k, EXTENT_KEY_LEN);
	}
	free(k);
}

/* An xattrs key, as listxattr reads it (xattr.c list_one: the iterator's
 * prefix is the inode's key, the rest is the name). */
void fuzz_xattr_key(const uint8_t *p, size_t n)
{
	uint8_t *k = copy_capped(p, n, n);
	size_t nl = n >= INO_KEY_LEN ? n - INO_KEY_LEN : 0;
	if (nl >= 1 && nl <= LFS_XATTR_NAME_MAX && !memchr(k + INO_KEY_LEN, 0, nl)) {
		char name[LFS_XATTR_NAME_MAX + 1];
		memcpy(name, k + INO_KEY_LEN, nl);
		name[nl] = 0;
		acl_is_name(name);
		uint8_t out[XATTR_KEY_MAX];
		if (xattr_key(out, ino_key_get(k), name) != n)
			abort();
		same_or_abort(out, k, n);
	}
	free(k);
}
