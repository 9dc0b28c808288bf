/* SPDX-License-Identifier: MIT */
/*
 * Passes 4 and 5 of fsck.larchfs.
 *
 * Pass 4, reference counts (fs/namei.c's conventions): a directory's link
 * count is 2 plus its subdirectories and its size is its number of
 * entries; a file's link count is the number of entries naming it (an
 * orphan, unlinked while open, has none and a count of 0); the root's
 * parent is itself and a non-directory has no parent.  Whatever passes 2
 * and 3 removed or added is already in the counts they kept.
 *
 * Pass 5, the superblock: it decoded (or the mount would have failed) and
 * its next_ino lies above every inode that exists, so that no number is
 * handed out twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck.h"

static void check_shift(struct fsck *c, uint64_t ino, const struct fact *x)
{
	if ((x->flags & (F_SHIFT | F_SHIFTED)) == F_SHIFT &&
	    problem(c, SAFE, "Inode %" PRIu64 " (%s) is marked as being collapsed or "
		    "inserted into, but no record of that exists", ino, type_name(x->mode)))
		fix_done(c, inode_clear_flags(c, ino, INODE_SHIFTING));
}

/* Rewrites the counts of one inode in one batch (and, for an orphan that
 * is named after all, drops its orphan record). */
static int fix_counts(struct fsck *c, uint64_t ino, uint32_t nlink, uint64_t size,
		      uint64_t parent, bool unorphan)
{
	struct inode in;
	int err = inode_load(c, ino, &in);
	if (err)
		return err;
	in.nlink = nlink;
	in.size = size;
	in.parent = parent;
	err = inode_store(c, &in);
	uint8_t k[INO_KEY_LEN];
	ino_key(k, ino);
	if (!err && unorphan)
		err = lkv_batch_delete(c->b, c->t[TREE_ORPHANS], k, sizeof(k));
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	return err;
}

static void check_dir(struct fsck *c, uint64_t ino, const struct fact *x)
{
	char path[4096], msg[160] = "";
	uint32_t nlink = 2 + x->subdirs;
	uint64_t parent = ino == LFS_ROOT_INO ? LFS_ROOT_INO : x->parent;
	size_t o = 0;
	if (x->nlink != nlink)
		o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s%" PRIu32 " links, should "
				      "have %" PRIu32, o ? "; " : "", x->nlink, nlink);
	if (x->size != x->entries)
		o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%ssize %" PRIu64 ", should be %"
				      PRIu32, o ? "; " : "", x->size, x->entries);
	if (x->flags & F_ORPHAN) {
		c->orphans_pending--;     /* not one after all */
		o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%san orphan record, but it is "
				      "in a directory", o ? "; " : "");
	}
	if (ino == LFS_ROOT_INO && x->parent != LFS_ROOT_INO)
		o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%sparent %" PRIu64 ", should "
				      "be itself", o ? "; " : "", x->parent);
	if (!o)
		return;
	if (problem(c, SAFE, "Directory %s (inode %" PRIu64 ") has %s",
		    path_of(c, ino, path, sizeof(path)), ino, msg))
		fix_done(c, fix_counts(c, ino, nlink, x->entries, parent, x->flags & F_ORPHAN));
}

static void check_file(struct fsck *c, uint64_t ino, const struct fact *x)
{
	bool orphan = x->flags & F_ORPHAN;
	if (orphan && x->refs == 0)
		return;         /* unlinked while open: the next mount reclaims it */
	if (x->flags & F_STRAY)
		return;         /* left in no directory: its count waits for that */
	if (orphan)
		c->orphans_pending--;     /* not one after all */
	if (x->nlink == x->refs && x->parent == 0 && !orphan)
		return;
	bool fix;
	if (orphan)
		fix = problem(c, SAFE, "Inode %" PRIu64 " (%s) is recorded as unlinked but "
			      "%" PRIu32 " entries name it", ino, type_name(x->mode), x->refs);
	else if (x->nlink != x->refs)
		fix = problem(c, SAFE, "Inode %" PRIu64 " (%s) has %" PRIu32 " links, should "
			      "have %" PRIu32, ino, type_name(x->mode), x->nlink, x->refs);
	else
		fix = problem(c, SAFE, "Inode %" PRIu64 " (%s) has a parent field (%" PRIu64
			      ") but is not a directory", ino, type_name(x->mode), x->parent);
	if (fix)
		fix_done(c, fix_counts(c, ino, x->refs, x->size, 0, orphan));
}

static void note_orphans(struct fsck *c)
{
	if (c->shifts_pending)
		note(c, "%" PRIu64 " collapse%s or insert%s interrupted by a crash or an "
		     "error will be finished at the next read-write mount", c->shifts_pending,
		     c->shifts_pending == 1 ? "" : "s", c->shifts_pending == 1 ? "" : "s");
	if (c->orphans_pending)
		note(c, "%" PRIu64 " inode%s unlinked while open will be reclaimed at the "
		     "next read-write mount", c->orphans_pending,
		     c->orphans_pending == 1 ? "" : "s");
}

int pass4_counts(struct fsck *c)
{
	pass_start(c, 4, "Checking reference counts");
	if (!c->dirents_whole || !c->inodes_whole) {
		note(c, "Skipped: not every inode and entry could be read");
		note_orphans(c);
		pass_end(c);
		return 0;
	}
	struct facts_cursor *cur;
	int err = facts_cursor_open(c->facts, &cur);
	uint64_t ino;
	struct fact x;
	while (!err && (err = facts_cursor_next(cur, &ino, &x)) > 0) {
		err = 0;
		progress(c, ino, c->info.next_ino);
		if (x.flags & F_DEAD)
			continue;
		check_shift(c, ino, &x);
		if (!S_ISDIR(x.mode))
			check_file(c, ino, &x);
		else if (!(x.flags & F_ORPHAN) || (x.flags & F_NAMED) || x.entries)
			check_dir(c, ino, &x);
	}
	facts_cursor_close(cur);
	if (err < 0)
		op_fail(c, err, "pass 4");
	else
		note_orphans(c);
	pass_end(c);
	return err < 0 ? err : 0;
}

/* Raises the allocator past `above` through the core's own allocator: it
 * writes a superblock whose next_ino reserves a range above it. */
static int raise_next_ino(struct fsck *c, uint64_t above)
{
	int err = lfs_raise_next_ino(c->fs, above);
	if (!err)
		lfs_get_info(c->fs, &c->info);
	return err;
}

int pass5_super(struct fsck *c)
{
	pass_start(c, 5, "Checking the superblock and the inode allocator");
	if (lfs_super_from_copy(c->fs) &&
	    problem(c, SAFE, "The superblock record is damaged or missing; its copy stands in"))
		fix_done(c, lfs_super_rewrite(c->fs));
	if (c->max_ino >= c->info.next_ino &&
	    problem(c, SAFE, "The superblock's next inode number is %" PRIu64 ", but inode %"
		    PRIu64 " exists", c->info.next_ino, c->max_ino))
		fix_done(c, raise_next_ino(c, c->max_ino));
	pass_end(c);
	return 0;
}
