/* SPDX-License-Identifier: MIT */
/*
 * Names: lookup, the calls that make and remove names (mknod, mkdir,
 * symlink, create, link, unlink, rmdir) and rename (with renameat2's
 * flags, RENAME_WHITEOUT's whiteout made in the same batch), and
 * O_TMPFILE's unnamed file, which lfs_link may name later.  Each is one atomic
 * batch over the inodes it changes, taken under their locks.
 *
 * Link counts: a file's nlink is its number of entries; a directory's is
 * 2 plus its subdirectories (its entry, its ".", each child's "..").  A
 * directory's size is its number of entries.
 *
 * Calls that name an existing entry look it up without locks, lock every
 * inode involved, and look again: if the entry changed meanwhile they
 * retry.  Directory moves between parents are serialised by rename_mu, so
 * the walk that refuses to move a directory into its own subtree sees a
 * stable tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include "internal.h"

#define LFS_LINK_MAX 65000u

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

static int dir_get(lfs *fs, uint64_t ino, struct inode *in)
{
	int err = inode_get(fs, ino, in);
	if (err)
		return err;
	if (!S_ISDIR(in->mode))
		return -ENOTDIR;
	return in->nlink ? 0 : -ENOENT;   /* removed while in use */
}

static int stat_ref(lfs *fs, uint64_t ino, struct stat *out)
{
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err;
	if (out)
		inode_to_stat(fs, &in, out);
	lfs_ref(fs, ino, 1);
	return 0;
}

int lfs_lookup(lfs *fs, uint64_t parent, const char *name, struct stat *out)
{
	struct inode dir;
	int err = inode_get(fs, parent, &dir);
	if (err)
		return err;
	if (!S_ISDIR(dir.mode))
		return -ENOTDIR;
	if (!strcmp(name, "."))
		return stat_ref(fs, parent, out);
	if (!strcmp(name, ".."))
		return stat_ref(fs, dir.parent, out);
	struct dirent_val d;
	err = dirent_get(fs, parent, name, &d);
	return err ? err : stat_ref(fs, d.ino, out);
}

/* Owner, group and mode of a new inode in dir (inode_init_owner). */
static void init_owner(const struct lfs_cred *c, const struct inode *dir, mode_t *mode,
		       gid_t *gid)
{
	*gid = c->gid;
	if (!(dir->mode & S_ISGID))
		return;
	*gid = dir->gid;
	if (S_ISDIR(*mode))
		*mode |= S_ISGID;
	else if ((*mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
		 !cred_in_group(c, *gid) && c->uid != 0)
		*mode &= ~(mode_t)S_ISGID;
}

/* Whether `name` may be made in directory parent (read into dir):
 * -EEXIST, -ENOTDIR, -ENOENT (parent removed), -EMLINK for a directory. */
static int may_make(lfs *fs, uint64_t parent, const char *name, bool is_dir,
		    struct inode *dir)
{
	struct dirent_val d;
	int err = dir_get(fs, parent, dir);
	if (!err) {
		err = dirent_get(fs, parent, name, &d);
		err = err == -ENOENT ? 0 : err ? err : -EEXIST;
	}
	if (!err)
		err = iflags_refuse(dir, LFS_FL_IMMUTABLE);
	if (!err && is_dir && dir->nlink >= LFS_LINK_MAX)
		err = -EMLINK;
	return err;
}

/* Takes a number for a new inode named `name` in parent and locks both.
 * A transaction names its inodes before it locks them, so the number is
 * taken first; the name is checked without locks before, so that a name
 * refused costs no number, and again under the locks. */
static int lock_new(lfs *fs, struct txn *t, uint64_t parent, const char *name,
		    bool is_dir, struct inode *dir, uint64_t *ino)
{
	int err = may_make(fs, parent, name, is_dir, dir);
	if (!err)
		err = ino_alloc(fs, ino);
	if (!err)
		err = txn_add(t, parent);
	if (!err)
		err = txn_add(t, *ino);
	if (err)
		return err;
	txn_lock(t);
	return may_make(fs, parent, name, is_dir, dir);
}

/* Puts the new inode `in` (a symlink with its target) and its entry `name`
 * in directory dir into t's batch, and counts it in dir. */
static int add_node(lfs *fs, struct txn *t, const struct lfs_cred *c, struct inode *dir,
		    struct inode *in, const char *name, const char *target)
{
	int err = target ? extent_write(fs, t->b, in, target, strlen(target), 0)
			 : acl_inherit(fs, t->b, dir, in, c->umask);
	struct dirent_val d = { .ino = in->ino, .type = mode_to_dtype(in->mode) };
	if (!err)
		err = dirent_put(fs, t->b, dir->ino, name, &d);
	if (!err) {
		dir->size++;
		dir->nlink += S_ISDIR(in->mode);
		inode_touch(dir, true, true);
		err = inode_put(fs, t->b, dir);
	}
	return err ? err : inode_put(fs, t->b, in);
}

/* Begins a transaction that makes an inode or a name: the space one
 * inode is charged (SPACE_INODE) is claimed too, and the transaction
 * ended if it cannot be. */
static int txn_begin_claim(lfs *fs, struct txn *t)
{
	int err = txn_begin(fs, t);
	if (err)
		return err;
	if ((err = space_claim(fs, SPACE_INODE)))
		txn_end(t);
	return err;
}

/* The body of every call that makes a new inode and names it. */
static int make_node(lfs *fs, const struct lfs_cred *c, uint64_t parent, const char *name,
		     mode_t mode, dev_t rdev, const char *target, struct stat *out)
{
	int err = name_check(name);
	if (err)
		return err;
	if (is_dot(name))
		return -EEXIST;
	struct txn t;
	if ((err = txn_begin_claim(fs, &t)))
		return err;
	struct inode dir, in;
	uint64_t ino = 0;
	gid_t gid;
	err = lock_new(fs, &t, parent, name, S_ISDIR(mode), &dir, &ino);
	if (!err) {
		init_owner(c, &dir, &mode, &gid);
		inode_init(&in, ino, mode, c->uid, gid);
		in.rdev = rdev;
		if (S_ISDIR(mode))
			in.parent = parent;
		err = add_node(fs, &t, c, &dir, &in, name, target);
	}
	if (!err)
		err = txn_commit(&t);
	txn_end(&t);
	if (!err) {
		if (out)
			inode_to_stat(fs, &in, out);
		lfs_ref(fs, ino, 1);
	}
	return err;
}

int lfs_mknod(lfs *fs, const struct lfs_cred *c, uint64_t parent, const char *name,
	      mode_t mode, dev_t rdev, struct stat *out)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG: case S_IFIFO: case S_IFSOCK:
		rdev = 0;
		break;
	case S_IFCHR: case S_IFBLK:
		break;
	default:
		return -EINVAL;
	}
	return make_node(fs, c, parent, name, mode & (S_IFMT | 07777), rdev, NULL, out);
}

int lfs_mkdir(lfs *fs, const struct lfs_cred *c, uint64_t parent, const char *name,
	      mode_t mode, struct stat *out)
{
	return make_node(fs, c, parent, name, S_IFDIR | (mode & 07777), 0, NULL, out);
}

int lfs_symlink(lfs *fs, const struct lfs_cred *c, const char *target, uint64_t parent,
		const char *name, struct stat *out)
{
	size_t n = strnlen(target, LFS_SYMLINK_MAX + 1);
	if (n == 0)
		return -ENOENT;
	if (n > LFS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return make_node(fs, c, parent, name, S_IFLNK | 0777, 0, target, out);
}

ssize_t lfs_readlink(lfs *fs, uint64_t ino, char *buf, size_t cap)
{
	struct inode in;
	int err = inode_get(fs, ino, &in);
	if (err)
		return err;
	if (!S_ISLNK(in.mode))
		return -EINVAL;
	ssize_t n = extent_read(fs, &in, buf, cap, 0);
	if (n >= 0)
		atime_update(fs, &in);
	return n;
}

/* A descriptor open for writing on the new file ino, which the caller
 * gets a reference to only when that could be counted. */
static int new_writer(lfs *fs, uint64_t ino, int flags)
{
	int err = writer_new(fs, ino, flags);
	if (err)
		lfs_forget(fs, ino, 1);
	return err;
}

int lfs_create(lfs *fs, const struct lfs_cred *c, uint64_t parent, const char *name,
	       mode_t mode, int flags, struct stat *out)
{
	if ((mode & S_IFMT) && !S_ISREG(mode))
		return -EINVAL;
	struct stat st;
	int err = make_node(fs, c, parent, name, S_IFREG | (mode & 07777), 0, NULL, &st);
	if (!err && !(err = new_writer(fs, st.st_ino, flags)) && out)
		*out = st;
	if (err != -EEXIST || (flags & O_EXCL) || is_dot(name))
		return err;
	/* it exists: open it instead, as open(O_CREAT) without O_EXCL does */
	struct dirent_val d;
	if ((err = dirent_get(fs, parent, name, &d)))
		return err;
	if (d.type == DT_DIR)
		return -EISDIR;
	if ((err = lfs_open(fs, c, d.ino, flags)))
		return err;
	if ((err = stat_ref(fs, d.ino, out)))
		lfs_release(fs, d.ino, flags);
	return err;
}

/* Makes the tmpfile `in` (number taken, locked in t) in directory dir:
 * the inode with no link and its orphan record. */
static int make_tmpfile(lfs *fs, struct txn *t, const struct lfs_cred *c,
			const struct inode *dir, struct inode *in, bool linkable)
{
	int err = acl_inherit(fs, t->b, dir, in, c->umask);
	in->nlink = 0;
	if (!err)
		err = inode_put(fs, t->b, in);
	return err ? err : orphan_add_tmpfile(fs, t->b, in->ino, linkable);
}

int lfs_tmpfile(lfs *fs, const struct lfs_cred *c, uint64_t parent, mode_t mode,
		int flags, struct stat *out)
{
	if ((mode & S_IFMT) && !S_ISREG(mode))
		return -EINVAL;
	struct txn t;
	int err = txn_begin_claim(fs, &t);
	if (err)
		return err;
	struct inode dir, in;
	uint64_t ino = 0;
	gid_t gid;
	mode = S_IFREG | (mode & 07777);
	err = dir_get(fs, parent, &dir);
	if (!err)
		err = iflags_refuse(&dir, LFS_FL_IMMUTABLE);
	if (!err)
		err = ino_alloc(fs, &ino);
	if (!err)
		err = txn_add(&t, ino);
	if (!err) {
		txn_lock(&t);
		init_owner(c, &dir, &mode, &gid);
		inode_init(&in, ino, mode, c->uid, gid);
		err = make_tmpfile(fs, &t, c, &dir, &in, !(flags & O_EXCL));
	}
	if (!err)
		err = txn_commit(&t);
	txn_end(&t);
	if (!err) {
		lfs_ref(fs, ino, 1);
		orphans_held_add(fs);
		err = new_writer(fs, ino, flags);
	}
	if (!err && out)
		inode_to_stat(fs, &in, out);
	return err;
}

/* ---- removing names ---- */

/* Drops one link of `in` (already locked, in batch t); records an orphan
 * when it was the last. */
static int drop_link(lfs *fs, struct txn *t, struct inode *in)
{
	LFS_ASSERT(t->locked);
	in->nlink = S_ISDIR(in->mode) || in->nlink == 0 ? 0 : in->nlink - 1;
	inode_touch(in, false, true);
	int err = inode_put(fs, t->b, in);
	if (!err && in->nlink == 0)
		err = orphan_add(fs, t->b, in->ino);
	return err;
}

/* Locks parent and the inode `name` names, which must then still be
 * there; fills dir, d and in. */
static int lock_entry(lfs *fs, struct txn *t, uint64_t parent, const char *name,
		      struct inode *dir, struct dirent_val *d, struct inode *in)
{
	for (;;) {
		int err = dir_get(fs, parent, dir);
		if (!err)
			err = dirent_get(fs, parent, name, d);
		if (!err)
			err = txn_add(t, parent);
		if (!err)
			err = txn_add(t, d->ino);
		if (err)
			return err;
		txn_lock(t);
		struct dirent_val again;
		err = dirent_get(fs, parent, name, &again);
		if (!err && again.ino == d->ino) {
			err = dir_get(fs, parent, dir);
			return err ? err : inode_get(fs, d->ino, in);
		}
		txn_unlock(t);
		if (err)
			return err;
	}
}

static int remove_entry(lfs *fs, uint64_t parent, const char *name, bool rmdir)
{
	int err = name_check(name);
	if (err)
		return err;
	if (is_dot(name))
		return !rmdir ? -EISDIR : !strcmp(name, ".") ? -EINVAL : -ENOTEMPTY;
	struct txn t;
	if ((err = txn_begin(fs, &t)))
		return err;
	struct inode dir, in;
	struct dirent_val d;
	err = lock_entry(fs, &t, parent, name, &dir, &d, &in);
	if (!err)        /* may_delete's */
		err = iflags_refuse(&dir, IFLAGS_FIXED);
	if (!err)
		err = iflags_refuse(&in, IFLAGS_FIXED);
	if (!err && rmdir && !S_ISDIR(in.mode))
		err = -ENOTDIR;
	else if (!err && !rmdir && S_ISDIR(in.mode))
		err = -EISDIR;
	else if (!err && rmdir && in.size)
		err = -ENOTEMPTY;
	if (!err)
		err = dirent_del(fs, t.b, parent, name);
	if (!err) {
		dir.size--;
		dir.nlink -= rmdir;
		inode_touch(&dir, true, true);
		err = inode_put(fs, t.b, &dir);
	}
	if (!err)
		err = drop_link(fs, &t, &in);
	if (!err)
		err = txn_commit(&t);
	if (!err && in.nlink == 0)
		err = orphan_release(fs, in.ino);
	txn_end(&t);
	return err;
}

int lfs_unlink(lfs *fs, uint64_t parent, const char *name)
{
	return remove_entry(fs, parent, name, false);
}

int lfs_rmdir(lfs *fs, uint64_t parent, const char *name)
{
	return remove_entry(fs, parent, name, true);
}

int lfs_link(lfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
	     struct stat *out)
{
	int err = name_check(newname);
	if (err)
		return err;
	if (is_dot(newname))
		return -EEXIST;
	struct txn t;
	if ((err = txn_begin_claim(fs, &t)))
		return err;
	struct inode in, dir;
	struct dirent_val d;
	err = txn_add(&t, ino);
	if (!err)
		err = txn_add(&t, newparent);
	if (!err) {
		txn_lock(&t);
		err = inode_get(fs, ino, &in);
	}
	if (!err && S_ISDIR(in.mode))
		err = -EPERM;
	if (!err)
		err = iflags_refuse(&in, IFLAGS_FIXED);
	bool named = !err && in.nlink == 0;     /* an O_TMPFILE file's first name */
	if (named)
		err = orphan_name(fs, t.b, ino);
	if (!err && in.nlink >= LFS_LINK_MAX)
		err = -EMLINK;
	if (!err)
		err = dir_get(fs, newparent, &dir);
	if (!err)
		err = iflags_refuse(&dir, LFS_FL_IMMUTABLE);
	if (!err) {
		err = dirent_get(fs, newparent, newname, &d);
		err = err == -ENOENT ? 0 : err ? err : -EEXIST;
	}
	if (!err) {
		d = (struct dirent_val){ .ino = ino, .type = mode_to_dtype(in.mode) };
		err = dirent_put(fs, t.b, newparent, newname, &d);
	}
	if (!err) {
		in.nlink++;
		inode_touch(&in, false, true);
		dir.size++;
		inode_touch(&dir, true, true);
		err = inode_put(fs, t.b, &in);
	}
	if (!err)
		err = inode_put(fs, t.b, &dir);
	if (!err)
		err = txn_commit(&t);
	txn_end(&t);
	if (!err) {
		if (out)
			inode_to_stat(fs, &in, out);
		lfs_ref(fs, ino, 1);
		if (named)
			orphans_held_drop(fs);
	}
	return err;
}

/* ---- rename ---- */

struct rename_op {
	uint64_t parent, newparent;
	const char *name, *newname;
	unsigned flags;
	const struct lfs_cred *c;  /* the caller: owns a whiteout */
	uint64_t whiteout;         /* its number (LFS_RENAME_WHITEOUT), else 0 */
	struct inode dir, ndir_store, src, dst;
	struct inode *ndir;        /* &dir when both parents are one */
	bool has_dst;
};

/* -EINVAL when `dir` is `ino` or lies beneath it. */
static int check_not_within(lfs *fs, uint64_t dir, uint64_t ino)
{
	for (unsigned depth = 0; depth < 100000; depth++) {
		if (dir == ino)
			return -EINVAL;
		if (dir == LFS_ROOT_INO)
			return 0;
		struct inode in;
		int err = inode_get(fs, dir, &in);
		if (err)
			return err;
		dir = in.parent;
	}
	lfs_log(fs, LKV_LOG_ERR, "directory %llu: parent chain does not reach the root",
		(unsigned long long)ino);
	return -EIO;
}

/* Names the rename's inodes to t: both parents, the source and any target. */
static int rename_add(struct txn *t, const struct rename_op *r, uint64_t src, uint64_t dst)
{
	int err = txn_add(t, r->parent);
	if (!err)
		err = txn_add(t, r->newparent);
	if (!err)
		err = txn_add(t, src);
	if (!err && r->has_dst)
		err = txn_add(t, dst);
	if (!err && r->whiteout)
		err = txn_add(t, r->whiteout);
	return err;
}

/* Looks up both names and locks all four inodes, retrying if either entry
 * changed before the locks were taken. */
static int rename_lock(lfs *fs, struct txn *t, struct rename_op *r)
{
	for (;;) {
		struct dirent_val s, d, s2, d2;
		int err = dir_get(fs, r->parent, &r->dir);
		if (!err)
			err = dir_get(fs, r->newparent, &r->ndir_store);
		if (!err)
			err = dirent_get(fs, r->parent, r->name, &s);
		if (err)
			return err;
		err = dirent_get(fs, r->newparent, r->newname, &d);
		if (err && err != -ENOENT)
			return err;
		r->has_dst = !err;
		if ((err = rename_add(t, r, s.ino, r->has_dst ? d.ino : 0)))
			return err;
		txn_lock(t);
		int e1 = dirent_get(fs, r->parent, r->name, &s2);
		int e2 = dirent_get(fs, r->newparent, r->newname, &d2);
		if (!e1 && s2.ino == s.ino && (r->has_dst ? !e2 && d2.ino == d.ino : e2 == -ENOENT)) {
			err = dir_get(fs, r->parent, &r->dir);
			r->ndir = r->parent == r->newparent ? &r->dir : &r->ndir_store;
			if (!err && r->ndir != &r->dir)
				err = dir_get(fs, r->newparent, r->ndir);
			if (!err)
				err = inode_get(fs, s.ino, &r->src);
			if (!err && r->has_dst)
				err = inode_get(fs, d.ino, &r->dst);
			return err;
		}
		txn_unlock(t);
	}
}

/* vfs_rename's may_delete of the source, and may_create of the target
 * name or may_delete of the inode it names. */
static int rename_iflags(const struct rename_op *r)
{
	int err = iflags_refuse(&r->dir, IFLAGS_FIXED);
	if (!err)
		err = iflags_refuse(&r->src, IFLAGS_FIXED);
	if (!err)
		err = iflags_refuse(r->ndir, r->has_dst ? IFLAGS_FIXED : LFS_FL_IMMUTABLE);
	if (!err && r->has_dst)
		err = iflags_refuse(&r->dst, IFLAGS_FIXED);
	return err;
}

static int rename_check(lfs *fs, struct rename_op *r)
{
	bool sdir = S_ISDIR(r->src.mode), ddir = r->has_dst && S_ISDIR(r->dst.mode);
	int flags_err = rename_iflags(r);
	if (flags_err)
		return flags_err;
	if (r->flags & LFS_RENAME_EXCHANGE) {
		if (!r->has_dst)
			return -ENOENT;
		int err = 0;
		if (sdir && r->parent != r->newparent)
			err = check_not_within(fs, r->newparent, r->src.ino);
		if (!err && ddir && r->parent != r->newparent)
			err = check_not_within(fs, r->parent, r->dst.ino);
		return err;
	}
	if (r->has_dst && (r->flags & LFS_RENAME_NOREPLACE))
		return -EEXIST;
	if (r->has_dst && sdir && !ddir)
		return -ENOTDIR;
	if (r->has_dst && !sdir && ddir)
		return -EISDIR;
	if (ddir && r->dst.size)
		return -ENOTEMPTY;
	if (sdir && !r->has_dst && r->parent != r->newparent &&
	    r->ndir->nlink >= LFS_LINK_MAX)
		return -EMLINK;
	return sdir && r->parent != r->newparent
		       ? check_not_within(fs, r->newparent, r->src.ino) : 0;
}

/* Moves directory `in` from one parent to another: its ".." follows. */
static void move_dir(struct inode *in, struct inode *from, struct inode *to)
{
	if (!S_ISDIR(in->mode) || from == to)
		return;
	in->parent = to->ino;
	from->nlink--;
	to->nlink++;
}

static int rename_exchange(lfs *fs, struct txn *t, struct rename_op *r)
{
	struct dirent_val s = { r->src.ino, mode_to_dtype(r->src.mode) };
	struct dirent_val d = { r->dst.ino, mode_to_dtype(r->dst.mode) };
	int err = dirent_put(fs, t->b, r->parent, r->name, &d);
	if (!err)
		err = dirent_put(fs, t->b, r->newparent, r->newname, &s);
	move_dir(&r->src, &r->dir, r->ndir);
	move_dir(&r->dst, r->ndir, &r->dir);
	inode_touch(&r->dst, false, true);
	if (!err)
		err = inode_put(fs, t->b, &r->dst);
	return err;
}

/*
 * RENAME_WHITEOUT: the source name is left to a whiteout, as overlayfs
 * marks a name its lower layer must not show through: a new character
 * device 0/0 of mode 0 (S_IFCHR | 0), owned by the caller as a new file
 * of the source directory, in the rename's batch.
 */
static int leave_whiteout(lfs *fs, struct txn *t, struct rename_op *r)
{
	struct inode wh;
	mode_t mode = S_IFCHR;
	gid_t gid;
	init_owner(r->c, &r->dir, &mode, &gid);
	inode_init(&wh, r->whiteout, mode, r->c->uid, gid);
	struct dirent_val d = { wh.ino, mode_to_dtype(wh.mode) };
	int err = acl_inherit(fs, t->b, &r->dir, &wh, r->c->umask);
	if (!err)
		err = dirent_put(fs, t->b, r->parent, r->name, &d);
	return err ? err : inode_put(fs, t->b, &wh);
}

static int rename_move(lfs *fs, struct txn *t, struct rename_op *r)
{
	struct dirent_val s = { r->src.ino, mode_to_dtype(r->src.mode) };
	int err = r->whiteout ? leave_whiteout(fs, t, r)
			      : dirent_del(fs, t->b, r->parent, r->name);
	if (!err)
		err = dirent_put(fs, t->b, r->newparent, r->newname, &s);
	move_dir(&r->src, &r->dir, r->ndir);
	r->dir.size -= !r->whiteout;
	if (r->has_dst) {
		if (S_ISDIR(r->dst.mode))
			r->ndir->nlink--;          /* the replaced directory's ".." */
		if (!err)
			err = drop_link(fs, t, &r->dst);
	} else {
		r->ndir->size++;
	}
	return err;
}

/* renameat2's rules for flags: EXCHANGE goes with neither of the others;
 * a whiteout needs someone to own it. */
static int rename_flags_ok(const struct lfs_cred *c, unsigned flags)
{
	unsigned known = LFS_RENAME_NOREPLACE | LFS_RENAME_EXCHANGE | LFS_RENAME_WHITEOUT;
	if (flags & ~known)
		return -EINVAL;
	if ((flags & LFS_RENAME_EXCHANGE) && (flags & ~LFS_RENAME_EXCHANGE))
		return -EINVAL;
	return (flags & LFS_RENAME_WHITEOUT) && !c ? -EINVAL : 0;
}

/* A whiteout's number, and the space a new inode is charged. */
static int whiteout_alloc(lfs *fs, struct rename_op *r)
{
	if (!(r->flags & LFS_RENAME_WHITEOUT))
		return 0;
	int err = space_claim(fs, SPACE_INODE);
	return err ? err : ino_alloc(fs, &r->whiteout);
}

int lfs_rename(lfs *fs, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname, unsigned flags)
{
	return lfs_renameat2(fs, NULL, parent, name, newparent, newname, flags);
}

int lfs_renameat2(lfs *fs, const struct lfs_cred *c, uint64_t parent, const char *name,
		  uint64_t newparent, const char *newname, unsigned flags)
{
	int err = rename_flags_ok(c, flags);
	if (!err)
		err = name_check(name);
	if (!err)
		err = name_check(newname);
	if (err)
		return err;
	if (is_dot(name) || is_dot(newname))
		return -EINVAL;
	struct txn t;
	if ((err = txn_begin(fs, &t)))
		return err;
	bool cross = parent != newparent;
	if (cross)
		pthread_mutex_lock(&fs->rename_mu);
	struct rename_op r = { .parent = parent, .newparent = newparent, .name = name,
			       .newname = newname, .flags = flags, .c = c };
	err = whiteout_alloc(fs, &r);
	if (!err)
		err = rename_lock(fs, &t, &r);
	if (!err && r.has_dst && (flags & LFS_RENAME_NOREPLACE))
		err = -EEXIST;      /* even when both names are one inode */
	bool same = !err && r.has_dst && r.src.ino == r.dst.ino;
	if (!err && !same)
		err = rename_check(fs, &r);
	if (!err && !same) {
		err = (flags & LFS_RENAME_EXCHANGE) ? rename_exchange(fs, &t, &r)
						    : rename_move(fs, &t, &r);
		inode_touch(&r.src, false, true);
		inode_touch(&r.dir, true, true);
		inode_touch(r.ndir, true, true);
		if (!err)
			err = inode_put(fs, t.b, &r.src);
		if (!err)
			err = inode_put(fs, t.b, &r.dir);
		if (!err && r.ndir != &r.dir)
			err = inode_put(fs, t.b, r.ndir);
		if (!err)
			err = txn_commit(&t);
		if (!err && r.has_dst && !(flags & LFS_RENAME_EXCHANGE) && r.dst.nlink == 0)
			err = orphan_release(fs, r.dst.ino);
	}
	txn_end(&t);
	if (cross)
		pthread_mutex_unlock(&fs->rename_mu);
	return err;
}
