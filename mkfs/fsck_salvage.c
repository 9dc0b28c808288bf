/* SPDX-License-Identifier: MIT */
/*
 * Salvage: what fsck rebuilds from what a damaged leaf left behind, and
 * how it names what the damage took.
 *
 * Pass 0 has the engine empty a leaf it cannot read; on_damage (fsck_engine.c)
 * notes the key range the leaf held (or, for a key the engine lost alone,
 * that key's inode number).  For the inodes tree that is a range
 * of inode numbers whose records are gone: their data in the extents tree
 * and their entries in the dirents tree survive, so before pass 1 reads the
 * inodes each such number that is the parent of entries gets a directory
 * record (mode 0700, 0755 for the root; passes 2-4 mend its parent, place
 * and counts), and each with data a file record (mode 0600, owned by
 * root, as long as its last block reaches), which pass 3 links into
 * /lost+found as #INO unless an entry still names it, as e2fsck does with
 * an inode no entry names.  The file is of the type a surviving entry
 * names it with when that is a symlink (whose data is its target, so it
 * comes back whole), else a regular file.
 * For the dirents tree the range names directories (by the parent number
 * every key starts with) that lost entries, and for the xattrs tree files
 * that may have lost extended attributes: the report names them by path,
 * so that a user knows where files went missing (their inodes, when they
 * survived, are in /lost+found) and what to look at.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fsck.h"

static int range_add(struct ino_range **v, size_t *n, uint64_t lo, uint64_t hi)
{
	struct ino_range *p = realloc(*v, (*n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*v = p;
	p[(*n)++] = (struct ino_range){ lo, hi };
	return 0;
}

/* The inode numbers [lo, hi] a leaf of keys [low, high) may hold keys of
 * (every key of these trees starts with a be64 inode number). */
static void leaf_inos(const struct lkv_damage *d, uint64_t *lo, uint64_t *hi)
{
	*lo = d->leaf_low_len >= INO_KEY_LEN ? ino_key_get(d->leaf_low) : 0;
	*hi = d->leaf_high && d->leaf_high_len >= INO_KEY_LEN ? ino_key_get(d->leaf_high)
							       : UINT64_MAX;
}

/* Pass 0: a whole leaf of `tree` was lost (emptied, or unreadable). */
void salvage_note_leaf(struct fsck *c, const struct lkv_damage *d)
{
	uint64_t lo, hi;
	int err = 0;
	leaf_inos(d, &lo, &hi);
	if (!strcmp(d->tree, tree_names[TREE_INODES]) && d->repaired)
		err = range_add(&c->lost_inodes, &c->nlost_inodes, lo, hi);
	else if (!strcmp(d->tree, tree_names[TREE_DIRENTS]))
		err = range_add(&c->lost_dirs, &c->nlost_dirs, lo, hi);
	else if (!strcmp(d->tree, tree_names[TREE_XATTRS]))
		err = range_add(&c->lost_xattrs, &c->nlost_xattrs, lo, hi);
	if (err)
		c->op_error = true;
}

/*
 * Pass 0: one key of `tree` was lost (a damaged delta record of the
 * engine loses exactly the keys it changed, not the leaf).  An inode
 * record lost so is mended as a lost leaf's are, for that one number;
 * a directory entry names its directory, for the report.  (A data block's
 * or an extended attribute's key is noted by on_damage already.)
 */
void salvage_note_key(struct fsck *c, const struct lkv_damage *d)
{
	uint64_t ino = d->klen >= INO_KEY_LEN ? ino_key_get(d->key) : 0;
	int err = 0;
	if (!d->repaired || d->klen < INO_KEY_LEN)
		return;
	if (!strcmp(d->tree, tree_names[TREE_INODES]) && d->klen == INO_KEY_LEN)
		err = range_add(&c->lost_inodes, &c->nlost_inodes, ino, ino);
	else if (!strcmp(d->tree, tree_names[TREE_DIRENTS]))
		err = range_add(&c->lost_dirs, &c->nlost_dirs, ino, ino);
	if (err)
		c->op_error = true;
}

/* The symlinks among the lost inodes, as surviving entries name them. */
struct lnk_set { uint64_t *ino; size_t n, cap; };

struct found_data { uint64_t ino, end, hi; bool any, dir; const struct lnk_set *lnk; };

static bool lnk_has(const struct lnk_set *l, uint64_t ino)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (l->ino[i] == ino)
			return true;
	return false;
}

/* The mode a lost inode is recreated with: a directory, a symlink (an
 * entry says so and its data fits a target), or a regular file. */
static mode_t recreate_mode(const struct found_data *f, bool dir)
{
	if (dir)
		return S_IFDIR | (f->ino == LFS_ROOT_INO ? 0755 : 0700);
	if (f->end > 0 && f->end <= LFS_SYMLINK_MAX && lnk_has(f->lnk, f->ino))
		return S_IFLNK | 0777;
	return S_IFREG | 0600;
}

/* Gives inode f->ino a record when it has none: its data (a file) or its
 * entries (a directory) outlived it. */
static int recreate(struct fsck *c, const struct found_data *f, bool dir)
{
	struct inode in;
	if (inode_load(c, f->ino, &in) != -ENOENT)
		return 0;
	mode_t mode = recreate_mode(f, dir);
	const char *as = S_ISLNK(mode) ? "a symlink, as its entry says," : "a regular file";
	if (dir ? !problem(c, UNSAFE, "Directory %" PRIu64 " was lost with a damaged leaf, but "
			   "not its entries: recreated", f->ino)
		: !problem(c, UNSAFE, "Inode %" PRIu64 " was lost with a damaged leaf, but not its "
			   "data: recreated as %s of %" PRIu64 " bytes (for /lost+found "
			   "unless an entry names it)", f->ino, as, f->end))
		return 0;
	inode_init(&in, f->ino, mode, 0, 0);
	in.size = dir ? 0 : f->end;
	in.nlink = dir ? 2 : 1;      /* pass 4 counts what passes 2-3 find */
	in.parent = dir ? LFS_ROOT_INO : 0;   /* pass 3 mends it */
	int err = inode_store(c, &in);
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	fix_done(c, err);
	if (!err)       /* named by path at the end */
		lost_note(c, f->ino, LOST_INODE, S_ISLNK(mode) ? "symlink" : NULL, true);
	if (!err && f->ino > c->max_ino)
		c->max_ino = f->ino;
	return 0;
}

/* One key of inode ino reaching `end` bytes: the inode before it is
 * complete, recreate it.  1 past the range (the scan stops). */
static int note_ino(struct fsck *c, struct found_data *f, uint64_t ino, uint64_t end)
{
	if (ino > f->hi)
		return 1;
	if (f->any && ino != f->ino) {
		int err = recreate(c, f, f->dir);
		if (err)
			return err;
		f->end = 0;
	}
	f->ino = ino;
	f->any = true;
	if (end > f->end)
		f->end = end;
	return 0;
}

/* A key of the extents tree: a block (with its length) or a patch set. */
static int data_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		    const uint8_t *v, size_t vl, bool bad)
{
	(void)v;
	(void)bad;
	if (kl != EXTENT_KEY_LEN && !patch_key_is(k, kl))
		return 0;                /* pass 1 reports such keys */
	uint64_t end = extent_key_block(k) * c->info.block_size + (kl == EXTENT_KEY_LEN ? vl : 0);
	return note_ino(c, arg, ino_key_get(k), end);
}

/* A key of the dirents tree: an entry of the directory it starts with. */
static int parent_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		      const uint8_t *v, size_t vl, bool bad)
{
	(void)v;
	(void)vl;
	(void)bad;
	return kl >= INO_KEY_LEN ? note_ino(c, arg, ino_key_get(k), 0) : 0;
}

/* Recreates the inodes of [lo, hi] that tree t (dirents: as parents;
 * extents: as owners of data) shows existed. */
static int recreate_from(struct fsck *c, const struct ino_range *r, bool dir,
			 const struct lnk_set *lnk)
{
	uint8_t lo[EXTENT_KEY_LEN];
	struct found_data f = { .hi = r->hi, .dir = dir, .lnk = lnk };
	extent_key(lo, r->lo, 0);
	int err = scan_tree(c, c->t[dir ? TREE_DIRENTS : TREE_EXTENTS], lo, INO_KEY_LEN,
			    !dir, dir ? parent_one : data_one, &f);
	if (!err && f.any)
		err = recreate(c, &f, dir);
	return err == -EIO ? 0 : err;
}

static bool in_ranges(const struct ino_range *v, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (ino >= v[i].lo && ino <= v[i].hi)
			return true;
	return false;
}

/* An entry: notes its child when it is a symlink whose inode was lost. */
static int lnk_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		   const uint8_t *v, size_t vl, bool bad)
{
	struct lnk_set *l = arg;
	struct dirent_val dv;
	(void)k;
	(void)kl;
	if (bad || !v || !dirent_val_decode(v, vl, &dv) || dv.type != mode_to_dtype(S_IFLNK) ||
	    !in_ranges(c->lost_inodes, c->nlost_inodes, dv.ino) || lnk_has(l, dv.ino))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *p = realloc(l->ino, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->ino = p;
		l->cap = cap;
	}
	l->ino[l->n++] = dv.ino;
	return 0;
}

/* Before pass 1: a record for every inode of a lost inodes leaf whose
 * data survived (only when fixing: -n reports them in pass 1).  One walk
 * of the entries first finds which of them were symlinks. */
int salvage_inodes(struct fsck *c)
{
	struct lnk_set lnk = { 0 };
	int err = 0;
	if (c->nlost_inodes && c->fix == FIX_ALL) {
		err = scan_tree(c, c->t[TREE_DIRENTS], NULL, 0, true, lnk_one, &lnk);
		err = err == -EIO ? 0 : err;   /* reported; what was read is used */
	}
	for (size_t i = 0; i < c->nlost_inodes && c->fix == FIX_ALL && !err; i++) {
		err = recreate_from(c, &c->lost_inodes[i], true, &lnk);
		if (!err)
			err = recreate_from(c, &c->lost_inodes[i], false, &lnk);
	}
	free(lnk.ino);
	return err;
}

/*
 * After pass 1 read the inodes: the losses the emptied leaves stand for,
 * by inode, for the report by path (report_lost): every directory whose
 * entries a lost dirents leaf held some of, and every inode whose xattrs a
 * lost xattrs leaf may have held (which ones had any is not known).
 */
int salvage_losses(struct fsck *c)
{
	struct facts_cursor *cur;
	uint64_t ino;
	struct fact x;
	if (!c->nlost_dirs && !c->nlost_xattrs)
		return 0;
	int err = facts_cursor_open(c->facts, &cur), r;
	while (!err && (r = facts_cursor_next(cur, &ino, &x)) == 1) {
		if (x.flags & F_DEAD)
			continue;
		if (S_ISDIR(x.mode) && in_ranges(c->lost_dirs, c->nlost_dirs, ino))
			lost_note(c, ino, LOST_ENTRIES, NULL, c->fix != FIX_NONE);
		if (in_ranges(c->lost_xattrs, c->nlost_xattrs, ino))
			lost_note(c, ino, LOST_XATTRS, NULL, c->fix != FIX_NONE);
	}
	if (!err)
		facts_cursor_close(cur);
	return err;
}
