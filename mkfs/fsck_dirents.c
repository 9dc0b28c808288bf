/* SPDX-License-Identifier: MIT */
/*
 * Pass 2 of fsck.larchfs: directory entries, one scan of the dirents tree
 * in key order, that is directory by directory.
 *
 * For each entry: its directory exists and is one; the key is well formed
 * (be64 parent, be64 hash, a name of 1..255 bytes without '/' or NUL that
 * is not "." or "..") and its hash is the name's (fs/dir.c); the value is
 * 9 bytes; it names an inode that exists (not the root, not its own
 * directory) and carries that inode's type.  Entries are counted per
 * directory (its size) and per named inode (a file's link count);
 * subdirectories per directory (its link count).
 *
 * A directory has exactly one entry, in the directory its parent field
 * names.  An entry elsewhere is kept aside until every entry has been
 * seen: if the directory has its proper entry by then, the other is a
 * second name and goes; if not, the entry wins and the parent field is
 * fixed.  Directories with no entry at all are pass 3's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck.h"

struct moved { uint64_t hash; size_t len; char name[LFS_NAME_MAX + 1]; };

struct dir_scan {
	uint64_t parent;
	bool started, parent_ok;
	uint32_t mode;
	uint32_t entries, subdirs;
	struct moved *moved;      /* entries of this directory re-keyed ahead */
	size_t nmoved, capmoved;
};

/* ---- directories ---- */

static int finish_dir(struct fsck *c, struct dir_scan *d)
{
	if (!d->started || !d->parent_ok)
		return 0;
	struct fact x;
	int err = facts_get(c->facts, d->parent, &x);
	if (err)
		return err;
	x.entries = d->entries;
	x.subdirs = d->subdirs;
	return facts_set(c->facts, d->parent, &x);
}

/* A new directory's entries begin. */
static int start_dir(struct fsck *c, struct dir_scan *d, uint64_t parent)
{
	int err = finish_dir(c, d);
	if (err)
		return err;
	struct fact x;
	d->parent = parent;
	d->started = true;
	d->entries = d->subdirs = 0;
	d->nmoved = 0;
	d->parent_ok = !facts_get(c->facts, parent, &x) && S_ISDIR(x.mode) &&
		       !(x.flags & F_DEAD);
	d->mode = d->parent_ok ? x.mode : 0;
	if (d->parent_ok || !c->inodes_whole)
		return 0;
	bool exists = !facts_get(c->facts, parent, &x) && !(x.flags & F_DEAD);
	if (problem(c, UNSAFE, "Inode %" PRIu64 " %s, but has directory entries", parent,
		    exists ? "is not a directory" : "does not exist")) {
		uint8_t p[INO_KEY_LEN];
		ino_key(p, parent);
		fix_done(c, drop_prefix(c, c->t[TREE_DIRENTS], p, sizeof(p)));
	}
	return 0;
}

/* ---- entries ---- */

static void del_entry(struct fsck *c, uint64_t parent, const char *name)
{
	int err = entry_del(c, parent, name);
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	fix_done(c, err);
}

/* The path of the entry with key k, for a message. */
static const char *key_path(struct fsck *c, const uint8_t *k, size_t kl, char *buf,
			    size_t cap)
{
	char shown[4 * LFS_NAME_MAX + 1];
	struct dirent_key dk;
	dirent_key_decode(k, kl, &dk);
	name_printable(dk.name, dk.len, shown, sizeof(shown));
	return entry_path(c, dk.parent, shown, buf, cap);
}

static bool moved_here(struct dir_scan *d, uint64_t hash, const char *name, size_t len)
{
	for (size_t i = 0; i < d->nmoved; i++)
		if (d->moved[i].hash == hash && d->moved[i].len == len &&
		    !memcmp(d->moved[i].name, name, len))
			return true;
	return false;
}

static int note_moved(struct dir_scan *d, uint64_t hash, const char *name, size_t len)
{
	if (d->nmoved == d->capmoved) {
		size_t cap = d->capmoved ? d->capmoved * 2 : 8;
		struct moved *m = realloc(d->moved, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		d->moved = m;
		d->capmoved = cap;
	}
	struct moved *m = &d->moved[d->nmoved++];
	m->hash = hash;
	m->len = len;
	memcpy(m->name, name, len);
	m->name[len] = 0;
	return 0;
}

/* Why the key's name is not one a directory may hold, or NULL. */
static const char *bad_name(const uint8_t *p, size_t n)
{
	if (n == 0 || n > LFS_NAME_MAX)
		return "a name of a bad length";
	if (memchr(p, 0, n) || memchr(p, '/', n))
		return "a name with a '/' or a NUL byte";
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return "a '.' or '..' entry";
	return NULL;
}

/* Re-keys an entry whose hash is wrong under its name's hash: true when
 * it stays (moved, or would be with -y); false when it is a duplicate. */
static bool rekey(struct fsck *c, struct dir_scan *d, const uint8_t *k, size_t kl,
		  const char *name, const struct dirent_val *dv, const char *path)
{
	struct dirent_val there;
	if (entry_get(c, d->parent, name, &there) == 0) {
		if (problem(c, UNSAFE, "Entry %s is stored twice (once under a wrong hash)",
			    path))
			fix_delete(c, c->t[TREE_DIRENTS], k, kl);
		return false;
	}
	struct dirent_key dk;
	dirent_key_decode(k, kl, &dk);
	uint64_t want = name_hash(name, dk.len);
	if (problem(c, UNSAFE, "Entry %s is stored under a wrong hash", path)) {
		int err = entry_put(c, d->parent, name, dv);
		if (!err)
			err = lkv_batch_delete(c->b, c->t[TREE_DIRENTS], k, kl);
		if (!err)
			err = lkv_batch_commit(c->b, NULL);
		lkv_batch_clear(c->b);
		if (!err && want > dk.hash)
			err = note_moved(d, want, name, dk.len);   /* the scan meets it */
		fix_done(c, err);
	}
	return true;
}

static int add_cand(struct fsck *c, uint64_t parent, uint64_t child, const char *name)
{
	if (c->ncands == c->capcands) {
		size_t cap = c->capcands ? c->capcands * 2 : 16;
		struct cand *n = realloc(c->cands, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->cands = n;
		c->capcands = cap;
	}
	char *dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	c->cands[c->ncands++] = (struct cand){ parent, child, dup };
	return 0;
}

/* A good entry naming child (whose facts are x): counts it. */
static int count_entry(struct fsck *c, struct dir_scan *d, const char *name,
		       uint64_t child, struct fact *x)
{
	char path[4096];
	if (!S_ISDIR(x->mode)) {
		x->refs++;
		d->entries++;
		if (x->flags & F_PATH) {
			if (remember_entry(c, child, d->parent, name))
				return -ENOMEM;
			x->flags &= ~F_PATH;
		}
		return facts_set(c->facts, child, x);
	}
	if (x->flags & F_NAMED) {
		if (problem(c, UNSAFE, "Entry %s is a second name of directory %" PRIu64,
			    entry_path(c, d->parent, name, path, sizeof(path)), child))
			del_entry(c, d->parent, name);
		return 0;
	}
	d->entries++;
	if (x->parent != d->parent)
		return add_cand(c, d->parent, child, name);
	x->flags |= F_NAMED;
	d->subdirs++;
	return facts_set(c->facts, child, x);
}

/* Why entry (dk, v) cannot be kept whatever it names, or NULL. */
static const char *entry_malformed(const struct dirent_key *dk, const uint8_t *v,
				   size_t vl, struct dirent_val *dv)
{
	const char *why = dk->len == 0 ? "a key with no name" : bad_name(dk->name, dk->len);
	if (!why && !dirent_val_decode(v, vl, dv))
		why = "a value that is not an entry";
	return why;
}

/* Whether the entry's child (dv) may be named at all: true with its facts
 * in x; else reported, and deleted with -y. */
static bool entry_target_ok(struct fsck *c, const uint8_t *k, size_t kl, uint64_t parent,
			    const struct dirent_val *dv, struct fact *x)
{
	char path[4096];
	uint64_t child = dv->ino;
	if (child == 0 || child == LFS_ROOT_INO || child == parent) {
		if (problem(c, UNSAFE, "Entry %s names %s", key_path(c, k, kl, path, sizeof(path)),
			    child == parent ? "its own directory" :
			    child ? "the root directory" : "inode 0"))
			fix_delete(c, c->t[TREE_DIRENTS], k, kl);
		return false;
	}
	if (facts_get(c->facts, child, x) || (x->flags & F_DEAD)) {
		if (c->inodes_whole &&
		    problem(c, UNSAFE, "Entry %s names inode %" PRIu64 ", which does not exist",
			    key_path(c, k, kl, path, sizeof(path)), child))
			fix_delete(c, c->t[TREE_DIRENTS], k, kl);
		return false;
	}
	return true;
}

/* The entry's type byte says what its child (facts x) is; with -y or -p
 * a wrong one is rewritten. */
static void check_type(struct fsck *c, const uint8_t *k, size_t kl, const char *name,
		       const struct dirent_val *dv, const struct fact *x)
{
	char path[4096];
	unsigned type = mode_to_dtype(x->mode);
	if (dv->type == type ||
	    !problem(c, SAFE, "Entry %s says %s, but inode %" PRIu64 " is a %s",
		     key_path(c, k, kl, path, sizeof(path)),
		     dv->type < 16 ? type_name((uint32_t)dv->type << 12) : "an unknown type",
		     dv->ino, type_name(x->mode)))
		return;
	struct dirent_val fixed = { .ino = dv->ino, .type = type };
	int err = entry_put(c, ino_key_get(k), name, &fixed);
	if (!err)
		err = lkv_batch_commit(c->b, NULL);
	lkv_batch_clear(c->b);
	fix_done(c, err);
}

static int entry_one(struct fsck *c, void *arg, const uint8_t *k, size_t kl,
		     const uint8_t *v, size_t vl, bool bad)
{
	struct dir_scan *d = arg;
	char name[LFS_NAME_MAX + 1], path[4096];
	(void)bad;
	if (kl < INO_KEY_LEN) {
		if (problem(c, UNSAFE, "Dirents tree: a key of %zu bytes", kl))
			fix_delete(c, c->t[TREE_DIRENTS], k, kl);
		return 0;
	}
	struct dirent_key dk;
	dirent_key_decode(k, kl, &dk);
	progress(c, dk.parent, c->info.next_ino);
	int err = 0;
	if (!d->started || dk.parent != d->parent)
		err = start_dir(c, d, dk.parent);
	if (err || !d->parent_ok)
		return err;
	struct dirent_val dv;
	const char *why = entry_malformed(&dk, v, vl, &dv);
	if (why) {
		if (problem(c, UNSAFE, "Entry %s: %s", key_path(c, k, kl, path, sizeof(path)),
			    why))
			fix_delete(c, c->t[TREE_DIRENTS], k, kl);
		return 0;
	}
	memcpy(name, dk.name, dk.len);
	name[dk.len] = 0;
	bool hash_ok = dk.hash == name_hash(name, dk.len);
	if (hash_ok && moved_here(d, dk.hash, name, dk.len))
		return 0;       /* counted where it was met under its old key */
	struct fact x;
	if (!entry_target_ok(c, k, kl, dk.parent, &dv, &x))
		return 0;
	/* a good entry under a wrong hash moves (before any fix by name) */
	if (!hash_ok && !rekey(c, d, k, kl, name, &dv, key_path(c, k, kl, path, sizeof(path))))
		return 0;
	check_type(c, k, kl, name, &dv, &x);
	return count_entry(c, d, name, dv.ino, &x);
}

/* ---- directories named from elsewhere than their parent field ---- */

static int settle_cand(struct fsck *c, struct cand *cd)
{
	char path[4096];
	struct fact x, p;
	int err = facts_get(c->facts, cd->child, &x);
	if (!err)
		err = facts_get(c->facts, cd->parent, &p);
	if (err)
		return err;
	entry_path(c, cd->parent, cd->name, path, sizeof(path));
	if (x.flags & F_NAMED) {
		if (problem(c, UNSAFE, "Entry %s is a second name of directory %" PRIu64,
			    path, cd->child)) {
			del_entry(c, cd->parent, cd->name);
		}
		p.entries--;
		return facts_set(c->facts, cd->parent, &p);
	}
	if (problem(c, SAFE, "Directory %s has parent %" PRIu64 " on record, but its "
		    "entry is in directory %" PRIu64, path, x.parent, cd->parent)) {
		struct inode in;
		err = inode_load(c, cd->child, &in);
		in.parent = cd->parent;
		if (!err)
			err = inode_store(c, &in);
		if (!err)
			err = lkv_batch_commit(c->b, NULL);
		lkv_batch_clear(c->b);
		fix_done(c, err);
	}
	x.parent = cd->parent;
	x.flags |= F_NAMED;
	p.subdirs++;
	err = facts_set(c->facts, cd->child, &x);
	return err ? err : facts_set(c->facts, cd->parent, &p);
}

int pass2_dirents(struct fsck *c)
{
	pass_start(c, 2, "Checking directory entries");
	struct dir_scan d = { 0 };
	int err = scan_tree(c, c->t[TREE_DIRENTS], NULL, 0, true, entry_one, &d);
	if (err == -EIO) {
		c->dirents_whole = false;
		err = 0;
	}
	if (!err)
		err = finish_dir(c, &d);
	for (size_t i = 0; i < c->ncands && !err; i++)
		err = settle_cand(c, &c->cands[i]);
	free(d.moved);
	if (err)
		op_fail(c, err, "pass 2");
	pass_end(c);
	return err;
}
