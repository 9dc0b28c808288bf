/* SPDX-License-Identifier: MIT */
/*
 * Pass 3 of fsck.larchfs: directory connectivity.
 *
 *  - every inode is named by some entry: one that is not (and is not an
 *    orphan, unlinked while open) is linked into lost+found as "#INO";
 *  - every directory's chain of parents reaches the root: each directory
 *    is walked up until it meets the root or a directory already known to
 *    reach it, marking the walk; meeting a directory of the walk in
 *    progress is a cycle (unreachable from the root, or pass 2 would have
 *    kept only one entry per directory), broken by moving one of its
 *    directories (the one mkfs made lost+found with if it is one, else the
 *    lowest number) into lost+found.  Each directory is walked over once.
 *
 * lost+found is found as e2fsck finds it: the directory the root names
 * "lost+found", whatever its number.  A store may have none (`rmdir
 * lost+found` is legitimate): that is no problem, and fsck makes one only
 * when an inode has to be reconnected, with the number mkfs made it with
 * (pass 1 keeps it in the table when that inode is gone), or puts back
 * the directory of that number when nothing names it.  (e2fsck -p and -y
 * make it whenever it is missing; a check of fsck.larchfs is always a
 * full one, so at every boot that would undo the rmdir.)  A root entry
 * "lost+found" that names something else than a directory is left alone,
 * and the inodes that need lost+found are left where they are.
 *
 * The moves only add and remove entries (and set the moved directory's
 * parent field), one batch each; the link counts and sizes they change are
 * pass 4's, which finds them off by exactly what was moved.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck.h"

/* lost+found as far as pass 3 knows it. */
struct lf {
	uint64_t ino;       /* the directory; 0: none (yet) */
	bool taken;         /* the root's "lost+found" names something else */
};

/* A free name for ino in dir: base, or base.1, base.2 ... */
static int free_name(struct fsck *c, uint64_t dir, const char *base, char *out, size_t cap)
{
	struct dirent_val d;
	for (unsigned i = 0; i < 1000; i++) {
		if (i)
			snprintf(out, cap, "%s.%u", base, i);
		else
			snprintf(out, cap, "%s", base);
		int err = entry_get(c, dir, out, &d);
		if (err == -ENOENT)
			return 0;
		if (err)
			return err;
	}
	return -EEXIST;
}

/* Adds the entry (and a directory's parent field) in one batch; with
 * old_parent, also removes the entry it had there. */
static int relink(struct fsck *c, uint64_t ino, const struct fact *x, uint64_t target,
		  const char *name, uint64_t old_parent, const char *old_name)
{
	struct dirent_val d = { .ino = ino, .type = mode_to_dtype(x->mode) };
	int err = entry_put(c, target, name, &d);
	if (!err && old_name)
		err = entry_del(c, old_parent, old_name);
	if (!err && S_ISDIR(x->mode)) {
		struct inode in;
		err = inode_load(c, ino, &in);
		in.parent = target;
		if (!err)
			err = inode_store(c, &in);
	}
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	return err;
}

/* Counts a new entry in the target directory's facts. */
static int count_in(struct fsck *c, uint64_t target, bool dir, int delta)
{
	struct fact t;
	int err = facts_get(c->facts, target, &t);
	if (err)
		return err;
	t.entries += (uint32_t)delta;
	if (dir)
		t.subdirs += (uint32_t)delta;
	return facts_set(c->facts, target, &t);
}

/* Links unattached inode ino (facts x) into directory target under a
 * free name made from base, and updates the facts. */
static int link_into(struct fsck *c, uint64_t ino, struct fact *x, uint64_t target,
		     const char *base)
{
	char name[64];
	int err = free_name(c, target, base, name, sizeof(name));
	if (err)
		return err;
	if (problem(c, UNSAFE, "%s %" PRIu64 " (%" PRIu64 " %s) is in no directory; "
		    "linking it into %s as '%s'", S_ISDIR(x->mode) ? "Directory" : "Inode",
		    ino, x->size, S_ISDIR(x->mode) ? "entries" : "bytes",
		    target == LFS_ROOT_INO ? "/" : "/" LOST_FOUND_NAME, name))
		fix_done(c, relink(c, ino, x, target, name, 0, NULL));
	if (S_ISDIR(x->mode)) {
		x->flags |= F_NAMED;
		x->parent = target;
	} else {
		x->refs++;
	}
	err = facts_set(c->facts, ino, x);
	return err ? err : count_in(c, target, S_ISDIR(x->mode), 1);
}

/* ---- lost+found ---- */

/* Finds what the root names lost+found.  An entry that names a missing
 * inode does not count (pass 2 removes it). */
static int lf_find(struct fsck *c, struct lf *lf)
{
	struct dirent_val d;
	struct fact x;
	*lf = (struct lf){ 0 };
	int err = entry_get(c, LFS_ROOT_INO, LOST_FOUND_NAME, &d);
	if (err == -ENOENT)
		return 0;
	if (err == -EIO) {
		lf->taken = true;       /* pass 2 said so */
		return 0;
	}
	if (err)
		return err;
	err = facts_get(c->facts, d.ino, &x);
	if (err == -ENOENT || (!err && (x.flags & F_DEAD)))
		return 0;
	if (err)
		return err;
	if (S_ISDIR(x.mode) && !(x.flags & F_ORPHAN) && x.parent == LFS_ROOT_INO)
		lf->ino = d.ino;
	else
		lf->taken = true;
	return 0;
}

/* The directory mkfs made lost+found with, unnamed, while the root names
 * no lost+found: it goes back into the root under that name. */
static int lf_reattach(struct fsck *c, struct lf *lf)
{
	uint64_t ino = c->info.lost_found_ino;
	struct fact x;
	if (lf->ino || lf->taken || facts_get(c->facts, ino, &x) || !S_ISDIR(x.mode) ||
	    (x.flags & (F_DEAD | F_ORPHAN | F_NAMED)))
		return 0;
	int err = link_into(c, ino, &x, LFS_ROOT_INO, LOST_FOUND_NAME);
	if (!err)
		lf->ino = ino;
	return err;
}

/*
 * lost+found for an inode that needs it: the one there is, or a new one,
 * made with the number mkfs gave it when that inode is gone (pass 1 kept
 * it in the table as missing).  *ok false when there can be none: the
 * name is taken, or the number is in use (then mkdir /lost+found helps).
 */
static int lf_need(struct fsck *c, struct lf *lf, bool *ok)
{
	uint64_t ino = c->info.lost_found_ino;
	struct fact x;
	*ok = lf->ino != 0;
	if (lf->ino || lf->taken || facts_get(c->facts, ino, &x) || !(x.flags & F_DEAD))
		return 0;
	if (problem(c, SAFE, "/" LOST_FOUND_NAME " not found; making it (inode %" PRIu64 ")",
		    ino))
		fix_done(c, dir_make(c, ino, 0700, LOST_FOUND_NAME));
	x = (struct fact){ .mode = S_IFDIR | 0700, .nlink = 2, .parent = LFS_ROOT_INO,
			   .flags = F_NAMED | F_REACHED };
	int err = facts_set(c->facts, ino, &x);
	if (!err)
		err = count_in(c, LFS_ROOT_INO, true, 1);
	if (!err) {
		c->dirs++;
		lf->ino = ino;
		*ok = true;
	}
	return err;
}

/* Why inodes cannot be reconnected, once. */
static void lf_missing(struct fsck *c, const struct lf *lf)
{
	unfixable(c, lf->taken ? "/" LOST_FOUND_NAME " is not a directory; inodes in no "
				 "directory cannot be reconnected"
			       : "There is no /" LOST_FOUND_NAME " and inode %" PRIu64
				 " is in use; inodes in no directory cannot be reconnected "
				 "(mkdir /" LOST_FOUND_NAME ")",
		  c->info.lost_found_ino);
}

/* Moves an unattached inode into lost+found as "#INO"; false in *moved
 * when there is no lost+found to move it to. */
static int link_to_lost_found(struct fsck *c, struct lf *lf, uint64_t ino, struct fact *x,
			      bool *moved)
{
	char base[32];
	int err = lf_need(c, lf, moved);
	if (err || !*moved)
		return err;
	snprintf(base, sizeof(base), "#%" PRIu64, ino);
	return link_into(c, ino, x, lf->ino, base);
}

/* ---- unattached inodes ---- */

static int unattached(struct fsck *c, struct lf *lf)
{
	struct facts_cursor *cur;
	int err = lf_reattach(c, lf);
	if (!err)
		err = facts_cursor_open(c->facts, &cur);
	if (err)
		return err;
	uint64_t ino;
	struct fact x;
	bool told = false;
	while (!err && (err = facts_cursor_next(cur, &ino, &x)) > 0) {
		err = 0;
		progress(c, ino, 2 * c->info.next_ino);
		if (ino == LFS_ROOT_INO || (x.flags & (F_DEAD | F_ORPHAN)))
			continue;
		bool lost = S_ISDIR(x.mode) ? !(x.flags & F_NAMED) : x.refs == 0;
		if (!lost || (err = facts_get(c->facts, ino, &x)))   /* fresh: not the cursor's copy */
			continue;
		bool moved;
		err = link_to_lost_found(c, lf, ino, &x, &moved);
		if (!err && !moved) {
			if (!told)
				lf_missing(c, lf);
			told = true;
			unfixable(c, "Inode %" PRIu64 " (%s) is in no directory", ino,
				  type_name(x.mode));
			x.flags |= F_STRAY;
			err = facts_set(c->facts, ino, &x);
		}
	}
	facts_cursor_close(cur);
	return err < 0 ? err : 0;
}

/* ---- cycles ---- */

struct walk {
	uint64_t *v;
	size_t n, cap;
};

static int walk_push(struct walk *w, uint64_t ino)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		uint64_t *v = realloc(w->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = ino;
	return 0;
}

static int set_flags(struct fsck *c, uint64_t ino, uint32_t set, uint32_t clear)
{
	struct fact x;
	int err = facts_get(c->facts, ino, &x);
	if (err)
		return err;
	x.flags = (x.flags | set) & ~clear;
	return facts_set(c->facts, ino, &x);
}

/* Breaks the cycle w->v[from..]: moves one member into lost+found (the
 * directory mkfs made lost+found with, if it is one and nothing else is
 * lost+found, into the root as lost+found). */
static int break_cycle(struct fsck *c, struct walk *w, size_t from, struct lf *lf)
{
	uint64_t mklf = c->info.lost_found_ino, pick = 0;
	char list[256] = "";
	size_t o = 0;
	for (size_t i = from; i < w->n; i++) {
		uint64_t d = w->v[i];
		if (o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%" PRIu64,
					      i > from ? ", " : "", d);
		if (pick != mklf && (d == mklf || !pick || d < pick))
			pick = d;
	}
	bool home = pick == mklf && !lf->ino && !lf->taken, ok = true;
	int err = home ? 0 : lf_need(c, lf, &ok);
	if (err)
		return err;
	if (!ok) {
		lf_missing(c, lf);
		unfixable(c, "Directories %s form a cycle that the root does not reach", list);
		return 0;
	}
	struct fact x;
	if ((err = facts_get(c->facts, pick, &x)))
		return err;
	uint64_t target = home ? LFS_ROOT_INO : lf->ino, old = x.parent;
	char name[64], base[32], old_name[LFS_NAME_MAX + 1];
	snprintf(base, sizeof(base), home ? LOST_FOUND_NAME : "#%" PRIu64, pick);
	if ((err = free_name(c, target, base, name, sizeof(name))))
		return err;
	bool named = entry_name(c, old, pick, old_name) > 0;
	if (problem(c, UNSAFE, "Directories %s form a cycle that the root does not reach; "
		    "moving directory %" PRIu64 " into %s as '%s'", list, pick,
		    target == LFS_ROOT_INO ? "/" : "/" LOST_FOUND_NAME, name))
		fix_done(c, relink(c, pick, &x, target, name, old, named ? old_name : NULL));
	if (home)
		lf->ino = pick;
	x.parent = target;
	if ((err = facts_set(c->facts, pick, &x)))
		return err;
	if (named && (err = count_in(c, old, true, -1)))
		return err;
	return count_in(c, target, true, 1);
}

/* Walks from dir up to the root or a directory known to reach it. */
static int walk_up(struct fsck *c, uint64_t dir, struct walk *w, struct lf *lf)
{
	w->n = 0;
	int err = 0;
	for (uint64_t d = dir; !err;) {
		struct fact x;
		if (d == LFS_ROOT_INO)
			break;
		err = facts_get(c->facts, d, &x);
		if (err || (x.flags & F_REACHED))
			break;
		if (x.flags & F_ONPATH) {
			size_t from = 0;
			while (w->v[from] != d)
				from++;
			err = break_cycle(c, w, from, lf);
			break;
		}
		if (!S_ISDIR(x.mode) || (x.flags & (F_DEAD | F_ORPHAN)))
			break;
		if (!(err = set_flags(c, d, F_ONPATH, 0)))
			err = walk_push(w, d);
		d = x.parent;
	}
	if (err == -ENOENT)
		err = 0;        /* a parent that is gone: pass 2 said so */
	for (size_t i = 0; i < w->n && !err; i++)
		err = set_flags(c, w->v[i], F_REACHED, F_ONPATH);
	return err;
}

static int cycles(struct fsck *c, struct lf *lf)
{
	struct facts_cursor *cur;
	int err = facts_cursor_open(c->facts, &cur);
	struct walk w = { 0 };
	uint64_t ino;
	struct fact x;
	while (!err && (err = facts_cursor_next(cur, &ino, &x)) > 0) {
		err = 0;
		progress(c, c->info.next_ino + ino, 2 * c->info.next_ino);
		if (S_ISDIR(x.mode) && !(x.flags & (F_REACHED | F_DEAD | F_ORPHAN)))
			err = walk_up(c, ino, &w, lf);
	}
	facts_cursor_close(cur);
	free(w.v);
	return err < 0 ? err : 0;
}

int pass3_connect(struct fsck *c)
{
	pass_start(c, 3, "Checking directory connectivity");
	if (!c->dirents_whole || !c->inodes_whole) {
		note(c, "Skipped: not every inode and entry could be read");
		pass_end(c);
		return 0;
	}
	struct lf lf;
	int err = lf_find(c, &lf);
	if (!err)
		err = unattached(c, &lf);
	if (!err)
		err = cycles(c, &lf);
	if (err)
		op_fail(c, err, "pass 3");
	pass_end(c);
	return err;
}
