/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz target's two halves share.  The engine's decoders
 * (fuzz_decode.c) and the filesystem's (fuzz_fs.c) are separate
 * translation units because each half needs its own internal.h (kv/ and
 * fs/ both have one, with overlapping helper names).
 */
#ifndef LARCH_FUZZ_H
#define LARCH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "larchkv.h"

/* The selector: the first input byte, modulo SELECTORS, picks the decoder
 * (the table is fuzz_decode.c's header comment).  Values never change
 * meaning: the corpus files begin with them. */
enum fuzz_sel {
	SEL_RECORD, SEL_LEAF, SEL_COMMIT, SEL_SNAPSHOT, SEL_BLOOM,
	SEL_INODE, SEL_SUPER, SEL_SUPER_COPY, SEL_DIRENT, SEL_PATCHSET, SEL_ACL,
	SEL_ORPHAN_KEY, SEL_EXTENT_KEY, SEL_XATTR_KEY,
	SEL_DELTA, SEL_COMMIT3, SEL_SNAPSHOT3, SEL_SNAPDELTA,
	SELECTORS
};

/* ---- fuzz_fs.c: one call per filesystem decoder; p, n is the input
 * after the selector byte ---- */
void fuzz_inode(const uint8_t *p, size_t n);
void fuzz_super(const uint8_t *p, size_t n);
void fuzz_dirent(const uint8_t *p, size_t n);
void fuzz_patchset(const uint8_t *p, size_t n);
void fuzz_acl(const uint8_t *p, size_t n);
void fuzz_orphan_key(const uint8_t *p, size_t n);
void fuzz_extent_key(const uint8_t *p, size_t n);
void fuzz_xattr_key(const uint8_t *p, size_t n);
/* The superblock copy of a store whose META files fuzz_decode.c loaded
 * (s is no real store: only its META record is set). */
void fuzz_super_copy(lkv_store *s);

/* ---- the layout of a superblock-copy input (SEL_SUPER_COPY) ----
 *   0  u8      flags: FUZZ_META_*
 *   1  u8[16]  the store's uuid
 *  17  u16 LE  length of META; then META's bytes, then META.bak's
 * With FUZZ_META_FIXUP each present copy of FUZZ_META_FRAME bytes or more
 * gets the store's uuid, the payload length its size says and a correct
 * checksum, so that mutations reach the superblock decoder past the
 * engine's framing (a fuzzer does not find checksums). */
#define FUZZ_META_PRIMARY 0x1      /* META exists */
#define FUZZ_META_BACKUP  0x2      /* META.bak exists */
#define FUZZ_META_FIXUP   0x4
#define FUZZ_META_HDR     19
#define FUZZ_META_FRAME   48       /* kv/meta.c: a copy's bytes but its payload */

/* ---- make_corpus: writes sel then n bytes of p to dir/name ---- */
void emit(const char *dir, const char *name, uint8_t sel, const void *p, size_t n);
/* make_corpus_fs.c: the filesystem decoders' seeds */
int make_fs_corpus(const char *dir);

#endif
