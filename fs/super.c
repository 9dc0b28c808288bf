/* SPDX-License-Identifier: MIT */
/*
 * The superblock and formatting (mkfs).
 *
 * Superblock: key "sb" in tree `super`, one record (136 bytes, LE):
 *    0  u8[8]  magic "LARCHFS1"
 *    8  u32    format version: 4; a store of version 1 is mounted and
 *              checked as it is, and never gets version 2's sub-block
 *              writes (patch.c), which version 1's tools do not know; one
 *              of version 1 or 2 never gets version 3's shift records
 *              (shift.c: it refuses collapse and insert); one of version
 *              1 to 3 never gets version 4's inode flags (iflags.c: it
 *              refuses chattr), which older daemons would not keep
 *   12  u32    block size: file data is cut into blocks of this size
 *   16  u32    blob threshold handed to the engine
 *   20  i32    default zstd level
 *   24  u8[16] uuid (the engine store's)
 *   40  u8[64] label, NUL-padded
 *  104  u64    creation time, seconds
 *  112  u64    next_ino: every inode number below it may be in use
 *  120  u64    lost+found's inode number
 *  128  u64    feature bits, version 4 on: LFS_FEAT_OPEN_CHECKS (1), the
 *              kernel is asked at every open (the daemon serves OPEN), so
 *              that immutable and append-only files are refused writes
 *              at open (iflags.c); set by a mount with -o iflags and kept
 * Valid (sb_decode): the magic, a version from SB_VERSION_MIN to
 * SB_VERSION, a block size that is a power of two from 4 KiB to 1 MiB,
 * next_ino at least FIRST_INO, and no feature bit but SB_FEATURES' (none
 * before version 4).  It is rewritten whole (sb_put, outside any batch)
 * when the allocator (ialloc.c) reserves numbers, and when a mount sets a
 * feature (mount.c); nothing else changes after formatting.
 *
 * The copy: the same record in the engine's META (kv/meta.c: two files
 * outside the log, so no single damaged region holds both the record and
 * its copy), except that its next_ino is a bound: the allocator raises it
 * (by SB_COPY_STEP) before next_ino would pass it, so the copy is
 * rewritten once per SB_COPY_STEP inodes.  The record is read first; the
 * copy stands in when the record is missing or damaged (mount.c), its
 * bound then being a next_ino above every number ever handed out.
 *
 * Formatting (lfs_format) makes the store, its six trees (format.h), the
 * superblock, and in one batch the root (inode 1) and lost+found (inode 2,
 * named in the root); numbers below FIRST_INO are the format's own.  It
 * formats only an empty directory, or over an old store when forced,
 * never over other files.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SB_MAGIC       "LARCHFS1"
#define SB_VERSION     4        /* what mkfs writes */
#define SB_VERSION_MIN 1        /* the oldest still read */
#define FIRST_INO      16       /* numbers below are the format's own */
#define LOST_FOUND_INO 2
#define DEFAULT_BLOCK  (64u << 10)
#define DEFAULT_BLOB   (32u << 10)

const char *const tree_names[TREES] = {
	[TREE_SUPER] = "super", [TREE_INODES] = "inodes", [TREE_DIRENTS] = "dirents",
	[TREE_EXTENTS] = "extents", [TREE_XATTRS] = "xattrs", [TREE_ORPHANS] = "orphans",
};

/*
 * Trees whose lookups find their key keep no bloom filter: an inode is
 * looked up by the number an entry or the kernel gave, which exists; the
 * superblock and the orphans are read whole.  The inodes tree holds one
 * key per file, so its filters were half the engine's filter memory and
 * of each snapshot of its location table (10M files: 12 of 25 MB).
 * Entries (lookups of missing names), extents (holes) and xattrs (most
 * files lack security.capability) keep theirs.
 */
static const bool no_filter[TREES] = {
	[TREE_SUPER] = true, [TREE_INODES] = true, [TREE_ORPHANS] = true,
};

int trees_open(lkv_store *s, lkv_tree *t[TREES])
{
	int err = 0;
	for (int i = 0; i < TREES && !err; i++) {
		err = lkv_tree_open(s, tree_names[i], &t[i]);
		if (!err && no_filter[i])
			lkv_tree_set_filter(t[i], 0);
	}
	return err;
}

/* ---- the superblock record ---- */

void sb_encode(const struct lfs_info *i, uint8_t p[SB_LEN])
{
	memset(p, 0, SB_LEN);
	memcpy(p, SB_MAGIC, 8);
	le32_put(p + 8, i->format_version);
	le32_put(p + 12, i->block_size);
	le32_put(p + 16, i->blob_threshold);
	le32_put(p + 20, (uint32_t)i->compression);
	memcpy(p + 24, i->uuid, 16);
	memcpy(p + 40, i->label, strnlen(i->label, 63));
	le64_put(p + 104, i->created_sec);
	le64_put(p + 112, i->next_ino);
	le64_put(p + 120, i->lost_found_ino);
	le64_put(p + 128, i->features);
}

bool sb_decode(const uint8_t *p, size_t len, struct lfs_info *i)
{
	if (len != SB_LEN || memcmp(p, SB_MAGIC, 8))
		return false;
	memset(i, 0, sizeof(*i));
	i->format_version = le32_get(p + 8);
	i->block_size = le32_get(p + 12);
	i->blob_threshold = le32_get(p + 16);
	i->compression = (int32_t)le32_get(p + 20);
	memcpy(i->uuid, p + 24, 16);
	memcpy(i->label, p + 40, 63);
	i->created_sec = le64_get(p + 104);
	i->next_ino = le64_get(p + 112);
	i->lost_found_ino = le64_get(p + 120);
	uint64_t features = le64_get(p + 128);
	i->features = (uint32_t)features;
	return i->format_version >= SB_VERSION_MIN && i->format_version <= SB_VERSION &&
	       i->block_size >= 4096 &&
	       i->block_size <= (1u << 20) && !(i->block_size & (i->block_size - 1)) &&
	       i->next_ino >= FIRST_INO && !(features & ~(uint64_t)SB_FEATURES) &&
	       (!features || format_has_iflags(i->format_version));
}

int sb_put(lkv_tree *t, const struct lfs_info *i)
{
	uint8_t rec[SB_LEN];
	sb_encode(i, rec);
	return lkv_put(t, SB_KEY, SB_KEY_LEN, rec, sizeof(rec), NULL);
}

/* ---- the copy ---- */

/* Writes the superblock's copy, with `bound` as its next_ino, durably. */
int sb_copy_put(lkv_store *s, const struct lfs_info *i, uint64_t bound)
{
	struct lfs_info c = *i;
	uint8_t rec[SB_LEN];
	c.next_ino = bound;
	sb_encode(&c, rec);
	return lkv_meta_write(s, rec, sizeof(rec));
}

/* Reads the copy: 0, -ENOENT (none), -EUCLEAN (not a superblock). */
int sb_copy_get(lkv_store *s, struct lfs_info *i)
{
	uint8_t rec[SB_LEN + 1];
	size_t len;
	int err = lkv_meta_read(s, rec, sizeof(rec), &len);
	if (err)
		return err;
	return sb_decode(rec, len, i) ? 0 : -EUCLEAN;
}

/* ---- formatting ---- */

void lfs_format_options_default(struct lfs_format_options *o)
{
	*o = (struct lfs_format_options){ .block_size = DEFAULT_BLOCK,
					  .blob_threshold = DEFAULT_BLOB,
					  .compression = 1 };
}

/* Puts inode in's record into b. */
static int put_inode(lkv_batch *b, lkv_tree *inodes, const struct inode *in)
{
	uint8_t k[INO_KEY_LEN], rec[INODE_REC_LEN];
	ino_key(k, in->ino);
	inode_encode(in, rec);
	return lkv_batch_put(b, inodes, k, sizeof(k), rec, sizeof(rec));
}

/* Writes the root directory and lost+found, in it, in one batch. */
static int make_root(lkv_store *s, lkv_tree *t[TREES], const struct lfs_format_options *o)
{
	struct inode root, lf;
	inode_init(&root, LFS_ROOT_INO, S_IFDIR | 0755, o->root_uid, o->root_gid);
	inode_init(&lf, LOST_FOUND_INO, S_IFDIR | 0700, o->root_uid, o->root_gid);
	root.parent = LFS_ROOT_INO;
	root.nlink = 3;
	root.size = 1;
	lf.parent = LFS_ROOT_INO;
	lkv_batch *b = lkv_batch_new(s);
	if (!b)
		return -ENOMEM;
	struct dirent_val dv = { .ino = LOST_FOUND_INO, .type = mode_to_dtype(S_IFDIR) };
	uint8_t k[DIRENT_KEY_MAX], v[DIRENT_VAL_LEN];
	size_t kl = dirent_key(k, LFS_ROOT_INO, "lost+found");
	dirent_val_encode(&dv, v);
	int err = put_inode(b, t[TREE_INODES], &root);
	if (!err)
		err = put_inode(b, t[TREE_INODES], &lf);
	if (!err)
		err = lkv_batch_put(b, t[TREE_DIRENTS], k, kl, v, sizeof(v));
	if (!err)
		err = lkv_batch_commit(b, NULL);
	lkv_batch_free(b);
	return err;
}

static int format_store(const char *dir, const struct lfs_format_options *o,
			struct lfs_info *info)
{
	struct lkv_options ko;
	lkv_options_default(&ko);
	ko.flags = LKV_CREATE;
	ko.io = o->io;
	ko.flush_interval_ms = 0;
	ko.gc_interval_ms = 0;
	lkv_store *s;
	int err = lkv_open(dir, &ko, &s);
	if (err)
		return err;
	lkv_tree *t[TREES];
	err = trees_open(s, t);
	struct lfs_info i = { .format_version = SB_VERSION, .block_size = o->block_size,
			      .blob_threshold = o->blob_threshold,
			      .compression = o->compression,
			      .created_sec = (uint64_t)time(NULL), .next_ino = FIRST_INO,
			      .lost_found_ino = LOST_FOUND_INO };
	lkv_uuid(s, i.uuid);
	if (o->label)
		snprintf(i.label, sizeof(i.label), "%s", o->label);
	if (!err)
		err = sb_copy_put(s, &i, i.next_ino + SB_COPY_STEP);
	if (!err)
		err = sb_put(t[TREE_SUPER], &i);
	if (!err)
		err = make_root(s, t, o);
	if (!err)
		err = lkv_flush(s, 0);
	int cerr = lkv_close(s);
	if (!err)
		err = cerr;
	if (!err && info)
		*info = i;
	return err;
}

int lfs_format(const char *dir, const struct lfs_format_options *opt,
	       struct lfs_info *info, char *why)
{
	struct lfs_format_options o;
	lfs_format_options_default(&o);
	if (opt) {
		o = *opt;
		if (!o.block_size)
			o.block_size = DEFAULT_BLOCK;
		if (!o.blob_threshold)
			o.blob_threshold = DEFAULT_BLOB;
		if (o.compression < 0)
			o.compression = 1;
	}
	if (o.block_size < 4096 || o.block_size > (1u << 20) ||
	    (o.block_size & (o.block_size - 1)) || o.blob_threshold < 64 ||
	    o.compression > 22 || (o.label && strlen(o.label) > 63)) {
		if (why)
			snprintf(why, 256, "bad format options");
		return -EINVAL;
	}
	if (why)
		why[0] = 0;
	if (o.io)
		return format_store(dir, &o, info);
	char foreign[128];
	int st = lkv_probe(dir, NULL, foreign, sizeof(foreign));
	if (st < 0)
		return st;
	if ((st & LKV_PROBE_STORE) && !o.force) {
		if (why)
			snprintf(why, 256, "%s already holds a store (force replaces it)", dir);
		return -EEXIST;
	}
	if (st & LKV_PROBE_FOREIGN) {    /* never: force replaces stores, not files */
		if (why)
			snprintf(why, 256, "%s is not empty (it holds '%.100s'); a store "
				 "goes in an empty directory, or over an old store", dir, foreign);
		return -ENOTEMPTY;
	}
	if (st == LKV_PROBE_EMPTY && mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if (st & LKV_PROBE_STORE) {
		int err = lkv_destroy(dir, NULL);
		if (err && why)
			snprintf(why, 256, "%s %s", dir, err == -EBUSY ? "is in use (mounted?)"
							 : strerror(-err));
		if (err)
			return err;
	}
	return format_store(dir, &o, info);
}
