/* SPDX-License-Identifier: MIT */
/*
 * Pass 3 of fsck.larchfs: directory connectivity.
 *
 *  - lost+found (the superblock's lost_found_ino) is a directory;
 *  - every inode is named by some entry: one that is not (and is not an
 *    orphan, unlinked while open) is linked into lost+found as "#INO"
 *    (lost+found itself, unnamed, goes back into the root);
 *  - every directory's chain of parents reaches the root: each directory
 *    is walked up until it meets the root or a directory already known to
 *    reach it, marking the walk; meeting a directory of the walk in
 *    progress is a cycle (unreachable from the root, or pass 2 would have
 *    kept only one entry per directory), broken by moving one of its
 *    directories (lost+found if it is one, else the lowest number) into
 *    lost+found.  Each directory is walked over once.
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

#define LF_NAME "lost+found"

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

/* Where an unattached inode goes: lost+found, or the root for lost+found. */
static int place_of(struct fsck *c, uint64_t ino, uint64_t *target, char *name,
		    size_t cap)
{
	uint64_t lf = c->info.lost_found_ino;
	char base[32];
	*target = ino == lf ? LFS_ROOT_INO : lf;
	snprintf(base, sizeof(base), ino == lf ? LF_NAME : "#%" PRIu64, ino);
	return free_name(c, *target, base, name, cap);
}

int link_to_lost_found(struct fsck *c, uint64_t ino, struct fact *x)
{
	uint64_t target;
	char name[64];
	int err = place_of(c, ino, &target, name, sizeof(name));
	if (err)
		return err;
	if (problem(c, UNSAFE, "%s %" PRIu64 " (%" PRIu64 " %s) is in no directory; "
		    "linking it into %s as '%s'", S_ISDIR(x->mode) ? "Directory" : "Inode",
		    ino, x->size, S_ISDIR(x->mode) ? "entries" : "bytes",
		    target == LFS_ROOT_INO ? "/" : "/" LF_NAME, name))
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

/* ---- unattached inodes ---- */

static int check_lost_found(struct fsck *c, bool *ok)
{
	struct fact x;
	uint64_t lf = c->info.lost_found_ino;
	*ok = !facts_get(c->facts, lf, &x) && S_ISDIR(x.mode) && !(x.flags & F_DEAD);
	if (!*ok)   /* not remade: its number is taken by something else */
		unfixable(c, "lost+found (inode %" PRIu64 ") is not a directory; "
			  "unattached inodes cannot be reconnected", lf);
	return 0;
}

static int unattached(struct fsck *c, bool lf_ok)
{
	struct facts_cursor *cur;
	int err = facts_cursor_open(c->facts, &cur);
	uint64_t ino;
	struct fact x;
	while (!err && (err = facts_cursor_next(cur, &ino, &x)) > 0) {
		err = 0;
		progress(c, ino, 2 * c->info.next_ino);
		if (ino == LFS_ROOT_INO || (x.flags & (F_DEAD | F_ORPHAN)))
			continue;
		bool lost = S_ISDIR(x.mode) ? !(x.flags & F_NAMED) : x.refs == 0;
		if (!lost)
			continue;
		if (!(lf_ok || ino == c->info.lost_found_ino))
			unfixable(c, "Inode %" PRIu64 " (%s) is in no directory", ino,
				  type_name(x.mode));
		else if (!(err = facts_get(c->facts, ino, &x)))   /* fresh: not the cursor's copy */
			err = link_to_lost_found(c, ino, &x);
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

/* Breaks the cycle w->v[from..]: moves one member into lost+found. */
static int break_cycle(struct fsck *c, struct walk *w, size_t from, bool lf_ok)
{
	uint64_t lf = c->info.lost_found_ino, pick = 0;
	char list[256] = "";
	size_t o = 0;
	for (size_t i = from; i < w->n; i++) {
		uint64_t d = w->v[i];
		if (o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%" PRIu64,
					      i > from ? ", " : "", d);
		if (pick != lf && (d == lf || !pick || d < pick))
			pick = d;
	}
	if (!lf_ok && pick != lf) {
		unfixable(c, "Directories %s form a cycle that the root does not reach", list);
		return 0;
	}
	struct fact x;
	int err = facts_get(c->facts, pick, &x);
	if (err)
		return err;
	uint64_t target, old = x.parent;
	char name[64], old_name[LFS_NAME_MAX + 1];
	if ((err = place_of(c, pick, &target, name, sizeof(name))))
		return err;
	bool named = entry_name(c, old, pick, old_name) > 0;
	if (problem(c, UNSAFE, "Directories %s form a cycle that the root does not reach; "
		    "moving directory %" PRIu64 " into %s as '%s'", list, pick,
		    target == LFS_ROOT_INO ? "/" : "/" LF_NAME, name))
		fix_done(c, relink(c, pick, &x, target, name, old, named ? old_name : NULL));
	x.parent = target;
	if ((err = facts_set(c->facts, pick, &x)))
		return err;
	if (named && (err = count_in(c, old, true, -1)))
		return err;
	return count_in(c, target, true, 1);
}

/* Walks from dir up to the root or a directory known to reach it. */
static int walk_up(struct fsck *c, uint64_t dir, struct walk *w, bool lf_ok)
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
			err = break_cycle(c, w, from, lf_ok);
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

static int cycles(struct fsck *c, bool lf_ok)
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
			err = walk_up(c, ino, &w, lf_ok);
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
	bool lf_ok;
	int err = check_lost_found(c, &lf_ok);
	if (!err)
		err = unattached(c, lf_ok);
	if (!err)
		err = cycles(c, lf_ok);
	if (err)
		op_fail(c, err, "pass 3");
	pass_end(c);
	return err;
}
