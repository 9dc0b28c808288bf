/* SPDX-License-Identifier: MIT */
/*
 * The on-disk format of larchfs: its trees, the layout of their keys, and
 * the codecs of their records.  The core, fsck.larchfs and larchfs-stat
 * read and write the store through these, so that each layout is written
 * down once.  Nothing here holds state or takes a lock; the few helpers
 * that touch the store work on one kv tree and know nothing of a mount.
 *
 * A filesystem is six trees of one larchkv store (each record's format,
 * byte by byte, is in the file that writes it):
 *   super    "sb"                          -> superblock         (super.c)
 *   inodes   be64 ino                      -> inode record       (inode.c)
 *   dirents  be64 parent, be64 hash, name  -> u64 ino, u8 type   (dir.c)
 *   extents  be64 ino, be64 block          -> block bytes        (extent.c)
 *            be64 ino, be64 block, 'p'     -> sub-block writes   (patch.c)
 *   xattrs   be64 ino, name                -> value              (xattr_records.c;
 *                                             ACL values: acl.c)
 *   orphans  be64 ino                      -> empty, or 'l'      (orphan.c)
 *            be64 ino, 's'                 -> shift record       (shift.c)
 * Every key but the superblock's begins with a be64 inode number (in
 * dirents, the directory's), so one inode's keys sit together and in
 * order, and the ino_key of an inode is the prefix of all of them.
 */
#ifndef LARCHFS_FORMAT_H
#define LARCHFS_FORMAT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lfs.h"
#include "lfs_assert.h"

/* ---- byte order ---- */

static inline void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t le64_get(const uint8_t *p)
{
	return le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

/* ---- the trees ---- */

enum tree { TREE_SUPER, TREE_INODES, TREE_DIRENTS, TREE_EXTENTS, TREE_XATTRS,
	    TREE_ORPHANS, TREES };
extern const char *const tree_names[TREES];   /* "super", "inodes", ... */
/* Opens the six trees of store s into t (a store that lacks one: -ENOENT
 * when read-only). */
int trees_open(lkv_store *s, lkv_tree *t[TREES]);

/* ---- inode numbers: the inodes and orphans keys, every other's prefix ---- */

#define INO_KEY_LEN 8

static inline void ino_key(uint8_t k[INO_KEY_LEN], uint64_t ino)
{
	be64_put(k, ino);
}

/* The inode number a key (of at least INO_KEY_LEN bytes) begins with. */
static inline uint64_t ino_key_get(const uint8_t *k)
{
	return be64_get(k);
}

/* ---- the superblock (super.c) ---- */

#define SB_KEY       "sb"
#define SB_KEY_LEN   2
#define SB_LEN       136
#define SB_VERSION_PATCHES 2     /* the first format with sub-block writes */
#define SB_VERSION_SHIFTS  3     /* the first with collapse and insert (shift.c) */
#define SB_VERSION_IFLAGS  4     /* the first with inode flags (iflags.c) */
#define SB_FEATURES        LFS_FEAT_OPEN_CHECKS   /* every feature bit known */

void sb_encode(const struct lfs_info *i, uint8_t p[SB_LEN]);
/* false when p is not a superblock of a version this build reads */
bool sb_decode(const uint8_t *p, size_t len, struct lfs_info *i);

/* ---- inode records (inode.c) ---- */

#define INODE_REC_LEN 104
#define INODE_SHIFTING 0x1u     /* flags: a collapse or insert is under way, its
				   record in the orphans tree (shift.c) */
/* flags, format version 4 on: chattr's, as lfs_set_iflags takes them */
#define INODE_IFLAGS   LFS_FL_ALL

/* Whether a store of this format version may hold inode flags. */
static inline bool format_has_iflags(uint32_t format_version)
{
	return format_version >= SB_VERSION_IFLAGS;
}

/* The flags an inode record of the store `i` may hold: the immutable and
 * append-only ones only where opens are checked (iflags.c says why). */
static inline uint32_t inode_flags_valid(const struct lfs_info *i)
{
	uint32_t ok = INODE_SHIFTING;
	if (format_has_iflags(i->format_version))
		ok |= LFS_FL_NODUMP | LFS_FL_NOATIME;
	if (format_has_iflags(i->format_version) && (i->features & LFS_FEAT_OPEN_CHECKS))
		ok |= LFS_FL_IMMUTABLE | LFS_FL_APPEND;
	return ok;
}

struct inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink, flags;
	uint64_t size;      /* bytes; for directories the entry count */
	uint64_t stored;    /* bytes held in the extents tree */
	uint64_t rdev;
	uint64_t parent;    /* directories: the one parent; else 0 */
	struct timespec atime, mtime, ctime, btime;
};

void inode_encode(const struct inode *in, uint8_t p[INODE_REC_LEN]);
/* false when p is not a record of this version (in->ino is not set) */
bool inode_decode(const uint8_t *p, size_t len, struct inode *in);
/* A new inode's record: nlink 1 (2 for a directory), every time now. */
void inode_init(struct inode *in, uint64_t ino, mode_t mode, uid_t uid, gid_t gid);

/* The DT_* type of a mode: the S_IFMT bits shifted, as an entry stores it. */
static inline unsigned mode_to_dtype(mode_t mode)
{
	return (mode & S_IFMT) >> 12;
}

/* ---- directory entries (dir.c) ---- */

#define DIRENT_KEY_HDR 16                  /* be64 parent, be64 hash */
#define DIRENT_KEY_MAX (DIRENT_KEY_HDR + LFS_NAME_MAX)
#define DIRENT_VAL_LEN 9                   /* u64 LE child ino, u8 type */

/* An entry's key hash: in [3, 2^62 + 2] (dir.c says why). */
uint64_t name_hash(const char *name, size_t len);

/* Encodes the key of `name` (1..LFS_NAME_MAX bytes) in directory parent;
 * returns its length. */
static inline size_t dirent_key(uint8_t k[DIRENT_KEY_MAX], uint64_t parent,
				const char *name)
{
	size_t len = strlen(name);
	LFS_ASSERT(len >= 1 && len <= LFS_NAME_MAX);
	be64_put(k, parent);
	be64_put(k + 8, name_hash(name, len));
	memcpy(k + DIRENT_KEY_HDR, name, len);
	return DIRENT_KEY_HDR + len;
}

/* A dirents key taken apart.  name points into the key (not
 * NUL-terminated); in a damaged key len may be 0 or past LFS_NAME_MAX. */
struct dirent_key {
	uint64_t parent, hash;
	const uint8_t *name;
	size_t len;
};

/* Takes key k apart: true when it is well formed (a name of 1..LFS_NAME_MAX
 * bytes).  Either way dk gets what the key holds: parent when kl >= 8, hash
 * when kl >= 16, the bytes past those as the name. */
static inline bool dirent_key_decode(const uint8_t *k, size_t kl, struct dirent_key *dk)
{
	dk->parent = kl >= INO_KEY_LEN ? be64_get(k) : 0;
	dk->hash = kl >= DIRENT_KEY_HDR ? be64_get(k + 8) : 0;
	dk->len = kl > DIRENT_KEY_HDR ? kl - DIRENT_KEY_HDR : 0;
	dk->name = k + (dk->len ? DIRENT_KEY_HDR : kl);      /* within the key */
	return dk->len > 0 && dk->len <= LFS_NAME_MAX;
}

struct dirent_val {
	uint64_t ino;
	unsigned type;      /* DT_* */
};

static inline void dirent_val_encode(const struct dirent_val *d, uint8_t v[DIRENT_VAL_LEN])
{
	le64_put(v, d->ino);
	v[8] = (uint8_t)d->type;
}

/* false when v is not DIRENT_VAL_LEN bytes */
static inline bool dirent_val_decode(const uint8_t *v, size_t vl, struct dirent_val *d)
{
	if (vl != DIRENT_VAL_LEN)
		return false;
	d->ino = le64_get(v);
	d->type = v[8];
	return true;
}

/* ---- file data (extent.c) and sub-block writes (patch.c) ---- */

#define EXTENT_KEY_LEN 16                  /* be64 ino, be64 block */
#define PATCH_KEY_LEN  17                  /* an extent key, then 'p' */
#define PATCH_HDR      8u                  /* an entry's u32 off, u32 len */
#define PATCH_BYTES    (28u << 10)         /* most bytes one block's set holds
					      (and below the blob threshold) */
#define PATCH_ENTRIES  16u                 /* most entries in one set */
#define PATCH_SET_MAX  (PATCH_BYTES + PATCH_ENTRIES * PATCH_HDR)

static inline void extent_key(uint8_t k[EXTENT_KEY_LEN], uint64_t ino, uint64_t block)
{
	be64_put(k, ino);
	be64_put(k + 8, block);
}

/* The block number of an extent or patch key. */
static inline uint64_t extent_key_block(const uint8_t *k)
{
	return be64_get(k + 8);
}

static inline void patch_key(uint8_t k[PATCH_KEY_LEN], uint64_t ino, uint64_t block)
{
	extent_key(k, ino, block);
	k[EXTENT_KEY_LEN] = 'p';
}

static inline bool patch_key_is(const void *k, size_t kl)
{
	return kl == PATCH_KEY_LEN && ((const uint8_t *)k)[EXTENT_KEY_LEN] == 'p';
}

/* Whether a store of this format version may hold sub-block writes. */
static inline bool format_has_patches(uint32_t format_version)
{
	return format_version >= SB_VERSION_PATCHES;
}

/* 0 when v is a valid set for a block of `limit` stored bytes, else -EIO. */
int patch_valid(const uint8_t *v, size_t vl, size_t limit);

/* ---- orphans (orphan.c) ---- */

/* The value of an O_TMPFILE file's orphan record while linkat may still
 * name it; any other orphan record's value is empty. */
#define ORPHAN_LINKABLE 'l'

/* ---- collapse and insert (shift.c) ---- */

/* Whether a store of this format version may hold shift records, and so
 * collapse and insert ranges. */
static inline bool format_has_shifts(uint32_t format_version)
{
	return format_version >= SB_VERSION_SHIFTS;
}

#define SHIFT_KEY_LEN 9                    /* be64 ino, 's' (orphans tree) */
#define SHIFT_REC_LEN 32
#define SHIFT_COLLAPSE 'c'
#define SHIFT_INSERT   'i'
#define SHIFT_DROPPING 0                   /* phases: deleting the range */
#define SHIFT_MOVING   1                   /* moving the blocks after it */

/* An interrupted collapse or insert: what is left to do (shift.c). */
struct shift_rec {
	uint8_t op, phase;
	uint64_t first, count;   /* the range, in blocks */
	uint64_t cursor;         /* where the phase has got to */
};

static inline void shift_key(uint8_t k[SHIFT_KEY_LEN], uint64_t ino)
{
	ino_key(k, ino);
	k[INO_KEY_LEN] = 's';
}

static inline bool shift_key_is(const void *k, size_t kl)
{
	return kl == SHIFT_KEY_LEN && ((const uint8_t *)k)[INO_KEY_LEN] == 's';
}

static inline void shift_rec_encode(const struct shift_rec *r, uint8_t v[SHIFT_REC_LEN])
{
	memset(v, 0, SHIFT_REC_LEN);
	v[0] = r->op;
	v[1] = r->phase;
	le64_put(v + 8, r->first);
	le64_put(v + 16, r->count);
	le64_put(v + 24, r->cursor);
}

/* false when v is not a record a file of block size bs can have (shift.c
 * says what is valid). */
static inline bool shift_rec_decode(const uint8_t *v, size_t vl, uint32_t bs,
				    struct shift_rec *r)
{
	if (vl != SHIFT_REC_LEN)
		return false;
	*r = (struct shift_rec){ .op = v[0], .phase = v[1], .first = le64_get(v + 8),
				 .count = le64_get(v + 16), .cursor = le64_get(v + 24) };
	uint64_t blocks = ((uint64_t)INT64_MAX / bs) + 1;   /* of the largest file */
	bool zero = true;
	for (int i = 2; i < 8; i++)
		zero &= v[i] == 0;
	return zero && (r->op == SHIFT_COLLAPSE || r->op == SHIFT_INSERT) &&
	       (r->phase == SHIFT_MOVING || (r->phase == SHIFT_DROPPING &&
					     r->op == SHIFT_COLLAPSE)) &&
	       r->count >= 1 && r->count <= blocks && r->first <= blocks - r->count &&
	       r->cursor <= blocks;
}

/* Deletes about `max` keys of ino's data from tree t into b (a block goes
 * with its patches); returns how many: fewer than max when none are left. */
int extent_drop(lkv_tree *t, lkv_batch *b, uint64_t ino, int max);

/* ---- extended attributes (xattr_records.c, acl.c) ---- */

#define XATTR_KEY_MAX (INO_KEY_LEN + LFS_XATTR_NAME_MAX)
#define ACL_ACCESS_XATTR  "system.posix_acl_access"
#define ACL_DEFAULT_XATTR "system.posix_acl_default"

/* Encodes the key of ino's attribute `name` (1..LFS_XATTR_NAME_MAX bytes);
 * returns its length. */
static inline size_t xattr_key(uint8_t k[XATTR_KEY_MAX], uint64_t ino, const char *name)
{
	size_t n = strlen(name);
	LFS_ASSERT(n >= 1 && n <= LFS_XATTR_NAME_MAX);
	ino_key(k, ino);
	memcpy(k + INO_KEY_LEN, name, n);
	return INO_KEY_LEN + n;
}

/* Deletes every attribute of ino from tree t into b. */
int xattr_drop(lkv_tree *t, lkv_batch *b, uint64_t ino);

/* Validates an ACL value: 0, or -EINVAL / -EOPNOTSUPP; *minimal (may be
 * NULL) tells whether it says no more than a mode. */
int acl_check(const void *v, size_t len, bool *minimal);

#endif
