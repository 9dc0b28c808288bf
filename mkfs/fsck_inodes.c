/* SPDX-License-Identifier: MIT */
/*
 * Pass 1 of fsck.larchfs: inodes, their data, their xattrs, orphans.
 *
 *  1a  the inodes tree, in order: each record decodes (fs/inode.c: 104
 *      bytes, version 1, a known file type, valid nanoseconds) or it goes
 *      (its entries then dangle, pass 2); the facts of each good inode are
 *      added to the fact table.  A missing root is remade; a missing
 *      lost+found is no damage (pass 3 makes one when it needs one).  Its
 *      flags are ones the store may hold (fs/format.h inode_flags_valid:
 *      chattr's from format version 4 on, immutable and append-only only
 *      where opens are checked), else the others are cleared.
 *  1b  the extents tree, merged with the fact table (both in inode order):
 *      no block of a missing inode, or of an inode that holds no data
 *      (directories, devices); no block at or past ceil(size/block_size),
 *      and no stored byte past the size (fs/extent.c's invariant); 1 <= L
 *      <= block_size; `stored` is the sum of the stored lengths; a symlink
 *      holds its whole target (1..4095 bytes, in block 0).
 *  1c  the xattrs tree: names valid as fs/xattr.c would accept them for
 *      that inode's type, values within size, ACL values decode.
 *  1d  the orphans tree: a record names an inode with no link left (left
 *      by a file unlinked while open: the next mount reclaims it) or is
 *      stale; a shift record (fs/shift.c: a collapse or insert a crash or
 *      a failure interrupted, which the next read-write mount finishes)
 *      decodes and names a regular file marked INODE_SHIFTING.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck.h"

#define DROP_BATCH 4096

/* ---- fixes shared by the sub-passes ---- */

/* Deletes ino's blocks, xattrs and (with `record`) its inode and orphan
 * records: blocks in batches of DROP_BATCH, the rest in the last one. */
static int drop_inode(struct fsck *c, uint64_t ino, bool record)
{
	int n, err = 0;
	while ((n = extent_drop(c->t[TREE_EXTENTS], c->b, ino, DROP_BATCH)) >= DROP_BATCH &&
	       !(err = lkv_batch_commit(c->b, NULL)))
		;
	if (n < 0)
		err = n;
	if (!err)
		err = xattr_drop(c->t[TREE_XATTRS], c->b, ino);
	uint8_t k[INO_KEY_LEN];
	ino_key(k, ino);
	if (!err && record)
		err = lkv_batch_delete(c->b, c->t[TREE_INODES], k, sizeof(k));
	if (!err && record)
		err = lkv_batch_delete(c->b, c->t[TREE_ORPHANS], k, sizeof(k));
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	return err;
}

/* ---- 1a: inodes ---- */

struct inode_scan {
	bool root_seen, lf_seen;
};

static int add_fact(struct fsck *c, uint64_t ino, struct fact *x)
{
	if (S_ISDIR(x->mode))
		c->dirs++;
	else
		c->files++;
	if (S_ISREG(x->mode))
		c->data_bytes += x->size < UINT64_MAX - c->data_bytes ? x->size   /* files reach */
				 : UINT64_MAX - c->data_bytes;            /* 2^63 - 1 each */
	if (ino > c->max_ino)
		c->max_ino = ino;
	int err = facts_add(c->facts, ino, x);
	if (err)
		op_fail(c, err, "keeping the facts of inode %" PRIu64, ino);
	return err;
}

/* The root is missing: remade (empty) when fixing, and in the table
 * either way so that the other passes see what -y makes. */
static int missing_root(struct fsck *c)
{
	if (problem(c, UNSAFE, "The root directory (inode 1) is missing"))
		fix_done(c, dir_make(c, LFS_ROOT_INO, 0755, NULL));
	struct fact x = { .mode = S_IFDIR | 0755, .nlink = 2, .parent = LFS_ROOT_INO };
	return add_fact(c, LFS_ROOT_INO, &x);
}

/*
 * The inode mkfs made lost+found with is missing: that is no damage
 * (`rmdir lost+found` is legitimate, as on ext4).  Its number is kept in
 * the table as a missing inode, for pass 3 to make lost+found with if an
 * inode has to be reconnected and the root names no lost+found then.
 */
static int missing_lost_found(struct fsck *c)
{
	struct fact x = { .mode = S_IFDIR | 0700, .nlink = 2, .parent = LFS_ROOT_INO,
			  .flags = F_DEAD };
	int err = facts_add(c->facts, c->info.lost_found_ino, &x);
	if (err)
		op_fail(c, err, "keeping the facts of inode %" PRIu64, c->info.lost_found_ino);
	return err;
}

static int fill_gaps(struct fsck *c, struct inode_scan *st, uint64_t upto)
{
	int err = 0;
	if (!st->root_seen && upto > LFS_ROOT_INO) {
		st->root_seen = true;
		err = missing_root(c);
	}
	uint64_t lf = c->info.lost_found_ino;
	if (!err && !st->lf_seen && upto > lf) {
		st->lf_seen = true;
		err = missing_lost_found(c);
	}
	return err;
}

/* Flags the store cannot keep: unknown ones, chattr's before format
 * version 4, or an immutable or append-only file where opens are not
 * checked (fs/iflags.c), which no daemon would keep from being written. */
static void check_flags(struct fsck *c, uint64_t ino, const uint8_t *v, size_t vl)
{
	struct inode in;
	uint32_t bad = inode_decode(v, vl, &in) ? in.flags & ~inode_flags_valid(&c->info) : 0;
	if (bad && problem(c, UNSAFE, "Inode %" PRIu64 " has flags this store cannot keep "
			   "(0x%" PRIx32 "%s)", ino, bad, bad & ~INODE_IFLAGS ? ", unknown" :
			   " of chattr"))
		fix_done(c, inode_clear_flags(c, ino, bad));
}

static int inode_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		     const uint8_t *v, size_t vl, bool bad)
{
	struct inode_scan *st = arg;
	if (kl != INO_KEY_LEN || ino_key_get(k) == 0) {
		char n[64];
		if (problem(c, UNSAFE, "Inodes tree: a key that names no inode ('%s')",
			    name_printable(k, kl < 16 ? kl : 16, n, sizeof(n))))
			fix_delete(c, c->t[TREE_INODES], k, kl);
		return 0;
	}
	uint64_t ino = ino_key_get(k);
	progress(c, ino, 4 * c->info.next_ino);
	int err = fill_gaps(c, st, ino);
	if (err)
		return err;
	struct fact x;
	if (bad || !inode_record_decode(v, vl, &x) ||
	    (ino == LFS_ROOT_INO && !S_ISDIR(x.mode))) {
		if (problem(c, UNSAFE, "Inode %" PRIu64 ": %s", ino,
			    bad ? "its record cannot be read" :
			    ino == LFS_ROOT_INO ? "the root is not a directory"
						: "a bad record"))
			fix_delete(c, c->t[TREE_INODES], k, kl);
		if (ino == LFS_ROOT_INO)
			return 0;       /* remade by fill_gaps */
		return 0;
	}
	if (ino == LFS_ROOT_INO)
		st->root_seen = true;
	if (ino == c->info.lost_found_ino)
		st->lf_seen = true;
	check_flags(c, ino, v, vl);
	return add_fact(c, ino, &x);
}

static int scan_inodes(struct fsck *c)
{
	struct inode_scan st = { 0 };
	int err = scan_tree(c, c->t[TREE_INODES], NULL, 0, true, inode_one, &st);
	if (err == -EIO) {
		c->inodes_whole = false;
		return 0;
	}
	if (!err)
		err = fill_gaps(c, &st, UINT64_MAX);
	return err;
}

/* Marks the inodes pass 0 lost data of: their paths are wanted. */
static int mark_lost(struct fsck *c)
{
	for (size_t i = 0; i < c->nlost; i++) {
		struct fact x;
		if (facts_get(c->facts, c->lost[i].ino, &x))
			continue;
		x.flags |= F_PATH | F_DATA;
		int err = facts_set(c->facts, c->lost[i].ino, &x);
		if (err)
			return err;
	}
	return 0;
}

/* ---- 1b: extents ---- */

struct ext_scan {
	struct facts_cursor *cur;
	int have;                 /* 1: (ino, x) is the cursor's record */
	uint64_t ino;
	struct fact x;
	uint64_t sum;             /* stored bytes of ino seen so far */
	uint64_t dropped;         /* inode whose blocks were all dealt with */
	uint64_t last_ino, last_block;  /* the last block seen, */
	uint64_t last_len;        /* and the bytes it keeps */
};

static bool holds_data(uint32_t mode)
{
	return S_ISREG(mode) || S_ISLNK(mode);
}

/* Notes that ino kept fewer bytes than it should because pass 0 emptied an
 * extents leaf: the report names the file (its path is wanted). */
static void lost_data(struct fsck *c, uint64_t ino, struct fact *x, uint64_t bytes)
{
	char n[24];
	snprintf(n, sizeof(n), "%" PRIu64, bytes);
	lost_note(c, ino, LOST_BYTES, n, c->fix != FIX_NONE);
	x->flags |= F_PATH;
}

/* ino's blocks have all been seen: `stored` and symlink targets. */
static int ext_finish(struct fsck *c, struct ext_scan *e)
{
	struct fact *x = &e->x;
	if (x->flags & F_DEAD)
		return 0;
	uint64_t want = holds_data(x->mode) ? e->sum : 0;
	if (S_ISLNK(x->mode) && (x->size == 0 || x->size > LFS_SYMLINK_MAX || want != x->size)) {
		if (problem(c, UNSAFE, "Symlink %" PRIu64 " has no valid target (%" PRIu64
			    " bytes long, %" PRIu64 " stored)", e->ino, x->size, want))
			fix_done(c, drop_inode(c, e->ino, true));
		x->flags |= F_DEAD;
		c->files--;
		return facts_set(c->facts, e->ino, x);
	}
	if (x->stored == want)
		return 0;
	if (want < x->stored && c->extents_lost)
		lost_data(c, e->ino, x, x->stored - want);
	if (problem(c, SAFE, "Inode %" PRIu64 " (%s) has %" PRIu64 " bytes stored, "
		    "not %" PRIu64, e->ino, type_name(x->mode), want, x->stored)) {
		struct inode in;
		int err = inode_load(c, e->ino, &in);
		in.stored = want;
		if (!err)
			err = inode_store(c, &in);
		if (!err)
			err = lkv_batch_commit(c->b, NULL);
		lkv_batch_clear(c->b);
		fix_done(c, err);
	}
	x->stored = want;
	return facts_set(c->facts, e->ino, x);
}

/* Moves the cursor to the first inode >= ino, finishing those passed. */
static int ext_advance(struct fsck *c, struct ext_scan *e, uint64_t ino)
{
	while (e->have == 1 && e->ino < ino) {
		int err = ext_finish(c, e);
		if (err)
			return err;
		e->sum = 0;
		e->have = facts_cursor_next(e->cur, &e->ino, &e->x);
		if (e->have < 0)
			return e->have;
	}
	return 0;
}

/* Rewrites block `block` of ino keeping only its first `keep` bytes. */
static int shorten_block(struct fsck *c, const uint8_t *k, size_t keep)
{
	uint8_t *buf = malloc(keep ? keep : 1);
	if (!buf)
		return -ENOMEM;
	size_t vl;
	lkv_tree *t = c->t[TREE_EXTENTS];
	int err = lkv_get(t, k, EXTENT_KEY_LEN, buf, keep, &vl);
	if (!err && keep)
		err = lkv_batch_put(c->b, t, k, EXTENT_KEY_LEN, buf, keep);
	else if (!err)
		err = lkv_batch_delete(c->b, t, k, EXTENT_KEY_LEN);
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	free(buf);
	return err;
}

/* A block's sub-block writes (fs/patch.c): valid, in a store of the
 * version that has them, beside the block just seen, which is a blob. */
static int patch_one(struct fsck *c, struct ext_scan *e, const uint8_t *k, size_t kl)
{
	uint64_t ino = ino_key_get(k), block = extent_key_block(k);
	int err = ext_advance(c, e, ino);
	if (err || e->dropped == ino)
		return err;
	bool beside = format_has_patches(c->info.format_version) && e->last_ino == ino &&
		      e->last_block == block && e->last_len >= c->info.blob_threshold;
	uint8_t *set = malloc(PATCH_SET_MAX);
	size_t len;
	if (!set)
		return -ENOMEM;
	err = lkv_get(c->t[TREE_EXTENTS], k, kl, set, PATCH_SET_MAX, &len);
	if (err && err != -EIO) {
		free(set);
		return err;
	}
	bool valid = !err && len <= PATCH_SET_MAX && patch_valid(set, len, e->last_len) == 0;
	free(set);
	if ((!beside || !valid) &&
	    problem(c, UNSAFE, "Inode %" PRIu64 ": block %" PRIu64 " has sub-block writes "
		    "that %s", ino, block, !beside ? "belong to no stored block" : "are damaged"))
		fix_delete(c, c->t[TREE_EXTENTS], k, kl);
	return 0;
}

static int extent_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		      const uint8_t *v, size_t vl, bool bad)
{
	struct ext_scan *e = arg;
	(void)v;
	(void)bad;
	if (patch_key_is(k, kl))
		return patch_one(c, e, k, kl);
	if (kl != EXTENT_KEY_LEN) {
		char n[64];
		if (problem(c, UNSAFE, "Extents tree: a key that names no block ('%s')",
			    name_printable(k, kl < 16 ? kl : 16, n, sizeof(n))))
			fix_delete(c, c->t[TREE_EXTENTS], k, kl);
		return 0;
	}
	uint64_t ino = ino_key_get(k), block = extent_key_block(k), bs = c->info.block_size;
	progress(c, c->info.next_ino + ino, 4 * c->info.next_ino);
	int err = ext_advance(c, e, ino);
	if (err || e->dropped == ino)
		return err;
	bool exists = e->have == 1 && e->ino == ino && !(e->x.flags & F_DEAD);
	if (!exists || !holds_data(e->x.mode)) {
		if (!c->inodes_whole)
			return 0;
		e->dropped = ino;
		if (problem(c, UNSAFE, exists ? "Inode %" PRIu64 " (%s) has data blocks"
					      : "Inode %" PRIu64 " does not exist but has data "
						"blocks%s", ino,
			    exists ? type_name(e->x.mode) : ""))
			fix_done(c, drop_inode(c, ino, false));
		return 0;
	}
	uint64_t size = e->x.size, start = block * bs;
	uint64_t keep = vl;
	if (block >= (size + bs - 1) / bs || block > UINT64_MAX / bs)
		keep = 0;
	else if (start + vl > size || vl > bs)
		keep = size - start < bs ? size - start : bs;
	if (keep != vl) {
		bool fix = keep ? problem(c, UNSAFE, "Inode %" PRIu64 ": block %" PRIu64
					  " stores %zu bytes, past its size %" PRIu64,
					  ino, block, vl, size)
				: problem(c, vl ? UNSAFE : SAFE, "Inode %" PRIu64 ": block %"
					  PRIu64 " %s (size %" PRIu64 ")", ino, block,
					  vl ? "lies past the end of the file" : "is empty", size);
		if (fix)
			fix_done(c, shorten_block(c, k, keep));
	}
	e->sum += keep;
	e->last_ino = ino;
	e->last_block = block;
	e->last_len = keep;
	return 0;
}

static int scan_extents(struct fsck *c)
{
	struct ext_scan e = { .dropped = 0 };
	int err = facts_cursor_open(c->facts, &e.cur);
	if (err)
		return err;
	e.have = facts_cursor_next(e.cur, &e.ino, &e.x);
	err = e.have < 0 ? e.have : 0;
	if (!err)
		err = scan_tree(c, c->t[TREE_EXTENTS], NULL, 0, false, extent_one, &e);
	if (err == -EIO) {
		c->extents_whole = false;       /* `stored` cannot be judged */
		err = 0;
	} else if (!err) {
		err = ext_advance(c, &e, UINT64_MAX);
		if (!err && e.have == 1)
			err = ext_finish(c, &e);
	}
	facts_cursor_close(e.cur);
	return err;
}

/* ---- 1c: xattrs ---- */

struct xattr_scan {
	uint64_t dropped;
	uint8_t *val;             /* LFS_XATTR_SIZE_MAX bytes */
};

/* Why fs/xattr.c would refuse this name for this inode, or NULL. */
static const char *xattr_name_bad(const char *name, size_t n, uint32_t mode)
{
	if (n == 0 || n > LFS_XATTR_NAME_MAX || strlen(name) != n)
		return "a bad name";
	if (!strncmp(name, "user.", 5))
		return n == 5 ? "an empty user. name"
		       : S_ISREG(mode) || S_ISDIR(mode) ? NULL
		       : "a user. attribute on a file that cannot have one";
	if ((!strncmp(name, "trusted.", 8) && n > 8) ||
	    (!strncmp(name, "security.", 9) && n > 9))
		return NULL;
	if (!strcmp(name, ACL_ACCESS_XATTR))
		return NULL;
	if (!strcmp(name, ACL_DEFAULT_XATTR))
		return S_ISDIR(mode) ? NULL : "a default ACL on a non-directory";
	return "a name in a namespace larchfs does not store";
}

static int xattr_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		     const uint8_t *v, size_t vl, bool bad)
{
	struct xattr_scan *xs = arg;
	(void)v;
	(void)bad;
	char name[LFS_XATTR_NAME_MAX + 1], shown[4 * LFS_XATTR_NAME_MAX + 1];
	bool has_ino = kl >= INO_KEY_LEN;
	uint64_t ino = has_ino ? ino_key_get(k) : 0;
	progress(c, 2 * c->info.next_ino + ino, 4 * c->info.next_ino);
	if (has_ino && ino == xs->dropped)
		return 0;
	struct fact x = { 0 };
	if (has_ino && (facts_get(c->facts, ino, &x) || (x.flags & F_DEAD))) {
		if (!c->inodes_whole)
			return 0;
		xs->dropped = ino;
		if (problem(c, UNSAFE, "Inode %" PRIu64 " does not exist but has extended "
			    "attributes", ino))
			fix_done(c, drop_inode(c, ino, false));
		return 0;
	}
	const uint8_t *key_name = k + (has_ino ? INO_KEY_LEN : 0);
	size_t n = has_ino ? kl - INO_KEY_LEN : 0;
	const char *why = NULL;
	if (n == 0)
		why = "a key that names no attribute";
	else if (n > LFS_XATTR_NAME_MAX)
		why = "a name that is too long";
	if (!why) {
		memcpy(name, key_name, n);
		name[n] = 0;
		why = xattr_name_bad(name, n, x.mode);
	}
	name_printable(key_name, has_ino ? n : kl, shown, sizeof(shown));
	if (!why && vl > LFS_XATTR_SIZE_MAX)
		why = "a value that is too large";
	if (!why && (!strcmp(name, ACL_ACCESS_XATTR) || !strcmp(name, ACL_DEFAULT_XATTR))) {
		size_t len;
		int err = lkv_get(c->t[TREE_XATTRS], k, kl, xs->val, LFS_XATTR_SIZE_MAX, &len);
		if (!err && acl_check(xs->val, len, NULL))
			why = "an ACL that does not decode";
		else if (err && err != -EIO && err != -ENOENT)
			return err;
	}
	if (why && problem(c, UNSAFE, "Inode %" PRIu64 ", extended attribute '%s': %s",
			   ino, shown, why))
		fix_delete(c, c->t[TREE_XATTRS], k, kl);
	return 0;
}

static int scan_xattrs(struct fsck *c)
{
	struct xattr_scan xs = { .val = malloc(LFS_XATTR_SIZE_MAX) };
	if (!xs.val)
		return -ENOMEM;
	int err = scan_tree(c, c->t[TREE_XATTRS], NULL, 0, false, xattr_one, &xs);
	free(xs.val);
	return err == -EIO ? 0 : err;
}

/* ---- 1d: orphans ---- */

/* A shift record (key be64 ino, 's'). */
static int shift_one(struct fsck *c, const uint8_t *k, size_t kl, const uint8_t *v,
		     size_t vl, bool bad)
{
	uint64_t ino = ino_key_get(k);
	struct shift_rec r;
	struct fact x;
	int got = facts_get(c->facts, ino, &x);
	if (got || (x.flags & F_DEAD)) {
		if (c->inodes_whole &&
		    problem(c, SAFE, "Shift record of inode %" PRIu64 ", which does not exist",
			    ino))
			fix_delete(c, c->t[TREE_ORPHANS], k, kl);
	} else if (bad || !shift_rec_decode(v, vl, c->info.block_size, &r) ||
		   !S_ISREG(x.mode)) {
		/* what is left of the shift cannot be told: the file stays as
		 * it is, half-moved; the flag goes with the record */
		if (problem(c, UNSAFE, "Inode %" PRIu64 ": its record of an interrupted "
			    "collapse or insert is damaged; the file keeps its blocks where "
			    "they are", ino))
			fix_delete(c, c->t[TREE_ORPHANS], k, kl);
	} else if (x.nlink > 0) {
		x.flags |= F_SHIFTED;
		c->shifts_pending++;
		return facts_set(c->facts, ino, &x);
	}
	return 0;           /* an orphan's goes with it at the next mount */
}

static int orphan_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		      const uint8_t *v, size_t vl, bool bad)
{
	(void)arg;
	if (shift_key_is(k, kl))
		return shift_one(c, k, kl, v, vl, bad);
	uint64_t ino = kl == INO_KEY_LEN ? ino_key_get(k) : 0;
	progress(c, 3 * c->info.next_ino + ino, 4 * c->info.next_ino);
	struct fact x;
	int got = kl == INO_KEY_LEN ? facts_get(c->facts, ino, &x) : -ENOENT;
	if (kl != INO_KEY_LEN) {
		if (problem(c, SAFE, "Orphans tree: a key that names no inode"))
			fix_delete(c, c->t[TREE_ORPHANS], k, kl);
	} else if (got || (x.flags & F_DEAD)) {
		if (c->inodes_whole &&
		    problem(c, SAFE, "Orphan record of inode %" PRIu64 ", which does not exist",
			    ino))
			fix_delete(c, c->t[TREE_ORPHANS], k, kl);
	} else if (x.nlink == 0) {
		x.flags |= F_ORPHAN;    /* unlinked while open: the mount reclaims it */
		c->orphans_pending++;
		return facts_set(c->facts, ino, &x);
	} else if (problem(c, SAFE, "Orphan record of inode %" PRIu64 ", which still has %"
			   PRIu32 " links", ino, x.nlink)) {
		fix_delete(c, c->t[TREE_ORPHANS], k, kl);
	}
	return 0;
}

int pass1_inodes(struct fsck *c)
{
	pass_start(c, 1, "Checking inodes, data blocks, extended attributes and orphans");
	int err = salvage_inodes(c);
	if (!err)
		err = scan_inodes(c);
	if (!err)
		err = salvage_losses(c);
	if (!err)
		err = mark_lost(c);
	if (!err)
		err = scan_extents(c);
	if (!err)
		err = scan_xattrs(c);
	if (!err) {
		err = scan_tree(c, c->t[TREE_ORPHANS], NULL, 0, true, orphan_one, NULL);
		err = err == -EIO ? 0 : err;
	}
	if (err)
		op_fail(c, err, "pass 1");
	pass_end(c);
	return err;
}
