/* SPDX-License-Identifier: MIT */
/*
 * FUSE low-level glue: each request becomes one call into the core (lfs.h)
 * and one reply.  No filesystem logic lives here, only the contract with
 * the kernel:
 *
 *  - Lookup counts.  Every reply that hands the kernel an inode (an entry,
 *    a create, a READDIRPLUS entry) carries one core reference, taken by
 *    the core call that produced its attributes.  When such a reply cannot
 *    be delivered (the request was interrupted) the reference is dropped
 *    again.  FORGET gives references back.
 *  - Caching.  We are the only writer, so the kernel may keep entries,
 *    negative entries, attributes, symlink targets, file pages and
 *    directory listings for a day (TIMEOUT): every change goes through the
 *    kernel, which drops what the change makes stale.
 *  - Round trips.  A round trip costs more than most core calls, so
 *    requests the kernel can do without are refused once with ENOSYS,
 *    after which it stops sending them (FLUSH, OPENDIR, OPEN, CREATE).
 *  - Permissions are the kernel's (default_permissions, POSIX ACLs).
 *    Clearing suid/sgid on write, truncate and chown is ours: the daemon
 *    takes HANDLE_KILLPRIV_V2 (ll_init), so that writes cost no
 *    GETXATTR each, and the kernel says in each WRITE and SETATTR when
 *    the caller lacks CAP_FSETID.  (Not v1, FUSE_HANDLE_KILLPRIV,
 *    which does not say whether the writer is privileged.)
 *  - Errors are the core's negative errnos, sent back as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>        /* RENAME_NOREPLACE, _EXCHANGE, _WHITEOUT */
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>     /* FS_IOC_GETFLAGS, struct fsxattr */
#include <linux/fuse.h>   /* FUSE_* flags, FATTR_*, FUSE_ROOT_ID */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fuse_ll.h"
#include "fuse_statx_abi.h"
#include "remount.h"

#define TIMEOUT 86400u    /* seconds the kernel may trust what it is told */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static struct larch_ll *ll_of(struct fp_req *req)
{
	return req->userdata;
}

static lfs *fs_of(struct fp_req *req)
{
	return ll_of(req)->fs;
}

/* The caller, for owning new inodes. */
static struct lfs_cred cred_of(struct fp_req *req)
{
	return (struct lfs_cred){ .uid = req->uid, .gid = req->gid,
				  .umask = req->umask };
}

/* Adds the caller's supplementary groups to c (a /proc read); *groups is
 * then to be freed.  Without them c counts as in its own group only. */
static void add_groups(struct fp_req *req, struct lfs_cred *c, gid_t **groups)
{
	int n = fp_req_groups(req, 0, NULL);

	*groups = NULL;
	if (n > 0 && (*groups = malloc((size_t)n * sizeof(gid_t)))) {
		int got = fp_req_groups(req, n, *groups);

		c->groups = *groups;
		c->ngroups = got < 0 ? 0 : got < n ? got : n;
	}
}

/*
 * The caller with its supplementary groups when the core needs them: it
 * decides again (as the VFS did) whether a new file in a setgid directory
 * keeps the S_ISGID its mode asks for, which it may only for a member of
 * the directory's group.  The groups cost a /proc read, so they are read
 * only for such a mode; *groups is then to be freed.
 */
static struct lfs_cred cred_for_new(struct fp_req *req, mode_t mode, gid_t **groups)
{
	struct lfs_cred c = cred_of(req);

	*groups = NULL;
	if ((mode & S_ISGID) && !S_ISDIR(mode))
		add_groups(req, &c, groups);
	return c;
}

/* Whether the caller may keep a file's S_ISGID: root, or in its group. */
static bool caller_in_group(struct fp_req *req, gid_t gid)
{
	gid_t groups[64];
	int n;

	if (req->uid == 0 || req->gid == gid)
		return true;
	n = fp_req_groups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* ret: 0 or a negative errno. */
static void reply_status(struct fp_req *req, int ret)
{
	fp_reply_err(req, -ret);
}

static void entry_fill(struct fp_entry *e, const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->attr = *st;
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
}

/* Replies to a call that returned attributes and took a reference. */
static void reply_entry(lfs *fs, struct fp_req *req, int ret, const struct stat *st)
{
	struct fp_entry e;

	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	entry_fill(&e, st);
	if (fp_reply_entry(req, &e) != 0)
		lfs_forget(fs, e.ino, 1);
}

static void reply_attr(struct fp_req *req, int ret, const struct stat *st)
{
	if (ret < 0)
		reply_status(req, ret);
	else
		fp_reply_attr(req, st, TIMEOUT);
}

/* ---- names ---- */

/*
 * "." names the inode itself; the kernel asks for it when it decodes an
 * NFS file handle of an inode it no longer caches (of any type).  The
 * reference is taken first so that the inode cannot be reclaimed between
 * reading its attributes and the kernel receiving them.
 */
static int lookup_self(lfs *fs, uint64_t ino, struct stat *st)
{
	int ret;

	lfs_ref(fs, ino, 1);
	ret = lfs_getattr(fs, ino, st);
	if (ret < 0)
		lfs_forget(fs, ino, 1);
	return ret;
}

/* ".." (the parent, for NFS) is the core's to resolve like any name.  A
 * missing name becomes a negative entry the kernel may cache. */
static void ll_lookup(struct fp_req *req, uint64_t parent, const char *name)
{
	lfs *fs = fs_of(req);
	struct stat st;
	int ret;

	if (strcmp(name, ".") == 0)
		ret = lookup_self(fs, parent, &st);
	else
		ret = lfs_lookup(fs, parent, name, &st);
	if (ret == -ENOENT) {
		struct fp_entry e = { .ino = 0, .entry_timeout = TIMEOUT };

		fp_reply_entry(req, &e);
		return;
	}
	reply_entry(fs, req, ret, &st);
}

static void ll_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct larch_ll *ll = userdata;

	lfs_forget(ll->fs, ino, nlookup);
}

static void ll_mknod(struct fp_req *req, uint64_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	lfs *fs = fs_of(req);
	gid_t *groups;
	struct lfs_cred c = cred_for_new(req, mode, &groups);
	struct stat st;

	reply_entry(fs, req, lfs_mknod(fs, &c, parent, name, mode, rdev, &st), &st);
	free(groups);
}

static void ll_mkdir(struct fp_req *req, uint64_t parent, const char *name,
		     mode_t mode)
{
	lfs *fs = fs_of(req);
	struct lfs_cred c = cred_of(req);
	struct stat st;

	reply_entry(fs, req, lfs_mkdir(fs, &c, parent, name, mode, &st), &st);
}

static void ll_symlink(struct fp_req *req, const char *target, uint64_t parent,
		       const char *name)
{
	lfs *fs = fs_of(req);
	struct lfs_cred c = cred_of(req);
	struct stat st;

	reply_entry(fs, req, lfs_symlink(fs, &c, target, parent, name, &st), &st);
}

static void ll_link(struct fp_req *req, uint64_t ino, uint64_t newparent,
		    const char *newname)
{
	lfs *fs = fs_of(req);
	struct stat st;

	reply_entry(fs, req, lfs_link(fs, ino, newparent, newname, &st), &st);
}

static void ll_unlink(struct fp_req *req, uint64_t parent, const char *name)
{
	reply_status(req, lfs_unlink(fs_of(req), parent, name));
}

static void ll_rmdir(struct fp_req *req, uint64_t parent, const char *name)
{
	reply_status(req, lfs_rmdir(fs_of(req), parent, name));
}

/* renameat2's flags, RENAME_WHITEOUT (overlayfs) among them: the caller
 * owns the whiteout (the kernel has checked its CAP_MKNOD). */
static void ll_rename(struct fp_req *req, uint64_t parent, const char *name,
		      uint64_t newparent, const char *newname,
		      unsigned int flags)
{
	struct lfs_cred c = cred_of(req);
	unsigned lflags = 0;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) {
		reply_status(req, -EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE)
		lflags |= LFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		lflags |= LFS_RENAME_EXCHANGE;
	if (flags & RENAME_WHITEOUT)
		lflags |= LFS_RENAME_WHITEOUT;
	reply_status(req, lfs_renameat2(fs_of(req), &c, parent, name, newparent,
					newname, lflags));
}

static void ll_readlink(struct fp_req *req, uint64_t ino)
{
	char buf[LFS_SYMLINK_MAX + 1];
	ssize_t n = lfs_readlink(fs_of(req), ino, buf, LFS_SYMLINK_MAX);

	if (n < 0) {
		reply_status(req, (int)n);
		return;
	}
	buf[n] = '\0';
	fp_reply_readlink(req, buf);
}

/* ---- access times (see inval.c) ---- */

/* The kernel holds attributes for a day: an atime the core moved on an
 * access must not wait that long to show.  (Attributes only: on the
 * access's own thread that takes no lock the kernel holds.) */
void ll_touched(void *arg, uint64_t ino)
{
	(void)arg;
	inval_read(ino);
	fp_notify_inval_inode(ino, -1, 0);
}

/* After a change to a file: when a read would now move its atime, the
 * pages the kernel caches from off for len bytes (0: to the end) go, so
 * that the read comes to the core (when: see inval.c).  An empty file has
 * no pages to drop: the SETATTR of its ctime that the kernel sends with a
 * rename or unlink waited for an invalidation of nothing, and renames of
 * empty files ran at two thirds of their rate (fs-bench). */
static void atime_watch(lfs *fs, uint64_t ino, const struct stat *st, off_t off,
			off_t len, enum inval_when when)
{
	if (S_ISREG(st->st_mode) && st->st_size > 0 && lfs_atime_due(fs, st))
		inval_pages(ino, off, len, when);
}

/* ---- attributes ---- */

static void statx_time(struct larch_fuse_sx_time *t, const struct timespec *ts)
{
	t->tv_sec = ts->tv_sec;
	t->tv_nsec = (uint32_t)ts->tv_nsec;
}

/* st and the birth time bt in the kernel's statx layout. */
static void statx_fill(struct larch_fuse_statx *sx, const struct stat *st,
		       const struct timespec *bt)
{
	memset(sx, 0, sizeof(*sx));
	sx->mask = STATX_BASIC_STATS | STATX_BTIME;
	sx->blksize = (uint32_t)st->st_blksize;
	sx->nlink = (uint32_t)st->st_nlink;
	sx->uid = st->st_uid;
	sx->gid = st->st_gid;
	sx->mode = (uint16_t)st->st_mode;
	sx->ino = st->st_ino;
	sx->size = (uint64_t)st->st_size;
	sx->blocks = (uint64_t)st->st_blocks;
	statx_time(&sx->atime, &st->st_atim);
	statx_time(&sx->btime, bt);
	statx_time(&sx->ctime, &st->st_ctim);
	statx_time(&sx->mtime, &st->st_mtim);
	sx->rdev_major = major(st->st_rdev);
	sx->rdev_minor = minor(st->st_rdev);
}

/*
 * STATX (statx(2) asking for the birth time): the attributes and the
 * birth time, in fuse_statx_out.  The birth time never changes once the
 * inode exists, so reading it apart from the rest loses nothing.
 */
static void ll_statx(struct fp_req *req, uint64_t ino)
{
	struct larch_fuse_statx_out out;
	struct timespec bt;
	struct stat st;
	int ret = lfs_getattr(fs_of(req), ino, &st);

	if (ret == 0)
		ret = lfs_get_btime(fs_of(req), ino, &bt);
	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	memset(&out, 0, sizeof(out));
	out.attr_valid = (uint64_t)TIMEOUT;
	statx_fill(&out.stat, &st, &bt);
	fp_reply_buf(req, (const char *)&out, sizeof(out));
}

static void ll_getattr(struct fp_req *req, uint64_t ino)
{
	struct stat st;

	reply_attr(req, lfs_getattr(fs_of(req), ino, &st), &st);
}

static const struct {
	int fuse;
	unsigned lfs;
} setattr_bits[] = {
	{ FATTR_MODE,      LFS_SET_MODE },
	{ FATTR_UID,       LFS_SET_UID },
	{ FATTR_GID,       LFS_SET_GID },
	{ FATTR_SIZE,      LFS_SET_SIZE },
	{ FATTR_ATIME,     LFS_SET_ATIME },
	{ FATTR_MTIME,     LFS_SET_MTIME },
	{ FATTR_ATIME_NOW, LFS_SET_ATIME_NOW },
	{ FATTR_MTIME_NOW, LFS_SET_MTIME_NOW },
	{ FATTR_CTIME,     LFS_SET_CTIME },
	{ FATTR_KILL_SUIDGID, LFS_SET_KILL_SUIDGID },
};

/*
 * What HANDLE_KILLPRIV_V2 leaves unsaid.  The kernel flags a chown that
 * changes an id, and a truncate by a caller without CAP_FSETID
 * (FATTR_KILL_SUIDGID), but two of its requests to drop privileges come
 * bare:
 *  - file_remove_privs, before fallocate, copy_file_range into the file or
 *    a write-through write by a caller without CAP_FSETID, sends a SETATTR
 *    with nothing to set (it also does so when all it drops is a file
 *    capability, which it removes itself);
 *  - chown(f, -1, -1), which clears suid on Linux even for root, sends
 *    the ctime alone (with the writeback cache; without it, nothing).
 * So a SETATTR of the ctime alone, and a bare one from anyone but root,
 * clear suid/sgid as those calls do on a local filesystem.  Root's bare
 * SETATTR keeps them, since it may be a capability drop before root's own
 * write; a chown(-1, -1) by root without the writeback cache then keeps
 * them too.
 */
static bool bare_kill(struct fp_req *req, int to_set)
{
	if (!fp_killpriv_v2())
		return false;
	return to_set == FATTR_CTIME || (to_set == 0 && req->uid != 0);
}

/*
 * Whether a setattr that clears privileges needs the caller's
 * supplementary groups: only to decide on a S_ISGID without group-exec
 * (kept for a member of the file's group), when the caller is not root
 * and the file's group is not the caller's own.
 */
static bool needs_groups(lfs *fs, const struct lfs_cred *c, uint64_t ino,
			 unsigned valid)
{
	struct stat st;

	return (valid & (LFS_SET_KILL_SUIDGID | LFS_SET_UID | LFS_SET_GID)) &&
	       c->uid != 0 && lfs_getattr(fs, ino, &st) == 0 &&
	       (st.st_mode & (S_ISGID | S_IXGRP)) == S_ISGID &&
	       st.st_gid != c->gid;
}

/*
 * Whether a SETATTR's times are the caller's own (utimensat(2) with
 * times, the VFS's ATTR_TIMES_SET), which an append-only file refuses,
 * rather than the clock's (touch: both times now) or the kernel's own
 * (with the writeback cache it sends a file's mtime and ctime, with a
 * file handle, as they were stamped).  FUSE does not pass the bit on:
 * both times now arrive as ATIME_NOW with MTIME (MTIME_NOW too but for a
 * cached file, whose mtime the kernel stamps itself), and the kernel's
 * own keeping comes with a file handle (fuse_flush_times), which
 * utimensat never sends.  A utimensat with the access time now and the
 * modification time given looks like touch, and goes through.
 */
static bool times_given(int to_set, const struct fp_file *fi)
{
	bool now = (to_set & FATTR_ATIME_NOW) && (to_set & FATTR_MTIME);

	return !fi && !now && (to_set & (FATTR_ATIME | FATTR_MTIME));
}

/* A SETATTR of these alone is the kernel writing back times (or a
 * utimensat(2)). */
#define TIMES (LFS_SET_ATIME | LFS_SET_MTIME | LFS_SET_ATIME_NOW | LFS_SET_MTIME_NOW | \
	       LFS_SET_CTIME | LFS_SET_TIMES_GIVEN)

static void ll_setattr(struct fp_req *req, uint64_t ino, struct stat *attr,
		       unsigned valid_in, struct fp_file *fi)
{
	int to_set = (int)valid_in;
	struct lfs_cred c = cred_of(req);
	gid_t *groups = NULL;
	unsigned valid = 0;
	struct stat st;
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(setattr_bits); i++)
		if (to_set & setattr_bits[i].fuse)
			valid |= setattr_bits[i].lfs;
	if (bare_kill(req, to_set))
		valid |= LFS_SET_KILL_SUIDGID;
	if (times_given(to_set, fi))
		valid |= LFS_SET_TIMES_GIVEN;
	if (needs_groups(fs_of(req), &c, ino, valid))
		add_groups(req, &c, &groups);
	ret = lfs_setattr(fs_of(req), &c, ino, attr, valid, &st);
	free(groups);
	if (ret == 0)
		atime_watch(fs_of(req), ino, &st, 0, 0, valid & ~TIMES ? INVAL_CHANGE : INVAL_WAIT);
	reply_attr(req, ret, &st);
}

/* ---- files ---- */

/*
 * Files have no per-open state in the core, so there is no file handle.
 * When the kernel can do without OPEN it is refused once: the kernel then
 * opens files itself (keeping their cached pages) and sends no RELEASE
 * either, two round trips fewer per open.  O_TRUNC arrives as a SETATTR
 * of the size, since ll_init does not take ATOMIC_O_TRUNC (that SETATTR
 * is where a truncating open by a caller outside the file's group loses
 * S_ISGID, generic/070; the flags of an OPEN say nothing of it), and
 * write permission and read-only mounts are the kernel's checks anyway.
 *
 * A store whose opens are checked (-o iflags, LFS_FEAT_OPEN_CHECKS) is
 * served with OPEN, CREATE and RELEASE, each a round trip: the core then
 * refuses writes to immutable and append-only files at open, as ext4
 * does, and counts the descriptors open for writing (fs/iflags.c says
 * why).  O_TRUNC comes as a SETATTR there too, after the OPEN, and the
 * core refuses it to both kinds of file.  A descriptor open for writing
 * an append-only file is served with direct I/O, so that each write(2)
 * reaches the core, which refuses one that is no longer an append
 * (fcntl(F_SETFL) can take O_APPEND away: the kernel's check of that, in
 * setfl, sees no FUSE inode append-only).
 */
static bool appends_only(lfs *fs, uint64_t ino, int flags)
{
	unsigned fl;

	return (flags & O_ACCMODE) != O_RDONLY && lfs_get_iflags(fs, ino, &fl) == 0 &&
	       (fl & LFS_FL_APPEND);
}

static void ll_open(struct fp_req *req, uint64_t ino, struct fp_file *fi)
{
	lfs *fs = fs_of(req);
	struct lfs_cred c = cred_of(req);
	int ret;

	if (ll_of(req)->skip_open) {
		reply_status(req, -ENOSYS);
		return;
	}
	ret = lfs_open(fs, &c, ino, fi->flags);
	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	fi->keep_cache = 1;
	fi->direct_io = appends_only(fs, ino, fi->flags);
	if (fp_reply_open(req, fi) != 0)
		lfs_release(fs, ino, fi->flags);
}

/* Where opens are checked (ll_open), a descriptor goes. */
static void ll_release(struct fp_req *req, uint64_t ino, struct fp_file *fi)
{
	lfs_release(fs_of(req), ino, fi->flags);
	reply_status(req, 0);
}

/* Replies to a CREATE or TMPFILE that made (or opened) a file. */
static void reply_create(lfs *fs, struct fp_req *req, int ret, const struct stat *st,
			 struct fp_file *fi)
{
	struct fp_entry e;

	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	entry_fill(&e, st);
	fi->keep_cache = 1;
	if (fp_reply_create(req, &e, fi) != 0) {
		lfs_release(fs, e.ino, fi->flags);
		lfs_forget(fs, e.ino, 1);
	}
}

/*
 * open(O_TMPFILE) (TMPFILE, whose body is CREATE's with the name "/"): a file with no name, which the kernel may link later (LINK, as
 * linkat(2) of the file asks) unless it was opened with O_EXCL.  The
 * kernel sends it whether or not it sends OPEN, and answers
 * EOPNOTSUPP for every tmpfile after one ENOSYS.
 */
static void ll_tmpfile(struct fp_req *req, uint64_t parent, mode_t mode,
		       struct fp_file *fi)
{
	lfs *fs = fs_of(req);
	gid_t *groups;
	struct lfs_cred c = cred_for_new(req, mode, &groups);
	struct stat st;

	reply_create(fs, req, lfs_tmpfile(fs, &c, parent, mode, fi->flags, &st), &st, fi);
	free(groups);
}

/*
 * Without OPEN, CREATE is refused once too: the kernel then creates with
 * MKNOD and opens without a round trip, where a CREATE's open would cost
 * a RELEASE at the last close.
 */
static void ll_create(struct fp_req *req, uint64_t parent, const char *name,
		      mode_t mode, struct fp_file *fi)
{
	lfs *fs = fs_of(req);
	gid_t *groups;
	struct lfs_cred c;
	struct stat st;
	int ret;

	if (ll_of(req)->skip_open) {
		reply_status(req, -ENOSYS);
		return;
	}
	c = cred_for_new(req, mode, &groups);
	ret = lfs_create(fs, &c, parent, name, mode, fi->flags, &st);
	free(groups);
	reply_create(fs, req, ret, &st, fi);
}

static void ll_read(struct fp_req *req, uint64_t ino, size_t size, off_t off,
		    struct fp_file *fi)
{
	char *buf = malloc(size ? size : 1);
	bool strict = ll_of(req)->strictatime;   /* req is gone once replied */
	ssize_t n;

	(void)fi;
	if (!buf) {
		reply_status(req, -ENOMEM);
		return;
	}
	n = lfs_read(fs_of(req), ino, buf, size, off);
	if (n < 0)
		reply_status(req, (int)n);
	else
		fp_reply_buf(req, buf, (size_t)n);
	free(buf);
	if (n > 0 && strict)
		inval_pages(ino, off, (off_t)size, INVAL_NOW);
}

/*
 * What a write by a caller without CAP_FSETID clears of ino's mode, as
 * lfs_write flags (0: nothing): suid, and sgid with group-exec or, without
 * it, for a caller outside the file's group.  The kernel has usually
 * cleared them with a SETATTR before the write; this covers an inode it
 * had marked as having none (S_NOSEC).
 */
static unsigned privs_to_kill(struct fp_req *req, uint64_t ino)
{
	struct stat st;

	if (lfs_getattr(fs_of(req), ino, &st) != 0)
		return 0;
	if ((st.st_mode & (S_ISGID | S_IXGRP)) == S_ISGID &&
	    !caller_in_group(req, st.st_gid))
		return LFS_WRITE_KILL_SUID | LFS_WRITE_KILL_SGID;
	if ((st.st_mode & S_ISUID) ||
	    (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		return LFS_WRITE_KILL_SUID;
	return 0;
}

/*
 * The data is used where the transport received it (the reader's buffer
 * or the ring entry's payload), never copied: splice would need somewhere
 * to splice to, and the core takes bytes in memory.
 *
 * A WRITE that clears suid/sgid (FUSE_WRITE_KILL_SUIDGID) changes the
 * mode behind the kernel's cached attributes, and a WRITE's reply carries
 * none: before replying, the kernel is told to drop them, so that no stat
 * after the write(2) returns can see the old mode.  (Attributes only: that takes
 * no lock the writer holds.)
 */
static void ll_write(struct fp_req *req, uint64_t ino, const char *buf,
		     size_t size, off_t off, struct fp_file *fi)
{
	struct larch_ll *ll = ll_of(req);
	unsigned kill = req->write_kills_suid ? privs_to_kill(req, ino) : 0;
	unsigned flags = kill;
	struct stat st;
	ssize_t n;

	/* With the writeback cache the kernel places appends itself, and the
	 * pages it writes back belong at their offsets whatever the flags of
	 * the file they are sent through. */
	if (!ll->writeback_on && (fi->flags & O_APPEND))
		flags |= LFS_WRITE_APPEND;
	if (ll->writeback_on)
		flags |= LFS_WRITE_KEEP_TIMES;
	if (fi->writepage)
		flags |= LFS_WRITE_CACHED;
	n = lfs_write(ll->fs, ino, buf, size, off, flags);
	if (n >= 0 && kill)
		fp_notify_inval_inode(ino, -1, 0);
	if (n < 0)
		reply_status(req, (int)n);
	else
		fp_reply_write(req, (size_t)n);
	/* Pages written back stay cached: while a read would move the atime
	 * (a new file's, until read; or after a change) they go, once the
	 * reply has ended their writeback.  (A read in the moment between
	 * the two is served from them.)  Without the writeback cache this is
	 * also where mtime moves. */
	if (n > 0 && lfs_getattr(ll->fs, ino, &st) == 0)
		atime_watch(ll->fs, ino, &st, off, (off_t)n, INVAL_CHANGE);
}

static void ll_fsync(struct fp_req *req, uint64_t ino, int datasync,
		     struct fp_file *fi)
{
	(void)fi;
	reply_status(req, lfs_fsync(fs_of(req), ino, datasync != 0));
}

static void ll_fallocate(struct fp_req *req, uint64_t ino, int mode, off_t off,
			 off_t len, struct fp_file *fi)
{
	(void)fi;
	reply_status(req, lfs_fallocate(fs_of(req), ino, mode, off, len));
}

/* Only SEEK_DATA and SEEK_HOLE come here; the kernel does the others. */
/*
 * With the writeback cache the kernel may hold written pages the store has
 * not seen, and it does not write them back before asking: answering from
 * the store could call fresh data a hole.  ENOSYS makes the kernel answer
 * itself from then on (all data, the hole at EOF), which is always right.
 */
static void ll_lseek(struct fp_req *req, uint64_t ino, off_t off, int whence,
		     struct fp_file *fi)
{
	struct larch_ll *ll = ll_of(req);

	(void)fi;
	if (ll->writeback_on) {
		reply_status(req, -ENOSYS);
		return;
	}
	off_t ret = lfs_lseek(ll->fs, ino, off, whence);

	if (ret < 0)
		reply_status(req, (int)ret);
	else
		fp_reply_lseek(req, ret);
}

static void ll_copy_file_range(struct fp_req *req, uint64_t ino_in, off_t off_in,
			       uint64_t ino_out, off_t off_out, size_t len, int flags)
{
	ssize_t n;

	if (flags != 0) {
		reply_status(req, -EINVAL);
		return;
	}
	n = lfs_copy_file_range(fs_of(req), ino_in, off_in, ino_out, off_out, len);
	if (n < 0)
		reply_status(req, (int)n);
	else
		fp_reply_write(req, (size_t)n);
}

/* ---- directories ---- */

/*
 * Directories are read without a handle, so OPENDIR is pure cost.  When
 * the kernel can do without it, it is refused once and never sent again;
 * the kernel then also caches listings, as we ask for here otherwise.
 * (The kernel sends it for directories only: lfs_opendir's check is
 * needed only when it does.)
 */
static void ll_opendir(struct fp_req *req, uint64_t ino,
		       struct fp_file *fi)
{
	int ret;

	if (ll_of(req)->skip_opendir) {
		reply_status(req, -ENOSYS);
		return;
	}
	ret = lfs_opendir(fs_of(req), ino);
	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fp_reply_open(req, fi);
}

/* One entry taken from lfs_readdir for a READDIR(PLUS) reply. */
struct dent {
	uint64_t ino;
	off_t next;         /* resume offset */
	unsigned type;      /* DT_* */
	size_t name;        /* offset of its NUL-terminated name in names */
	bool ref;           /* READDIRPLUS: hands the kernel a reference */
};

/*
 * A listing is gathered first and written out second, so that the
 * entries of a READDIRPLUS reply are looked up only once it is known they
 * will be sent (and outside lfs_readdir).  An entry's size in the reply
 * depends only on its name, so `used` is exact before anything is
 * written.  group_* remember the state at the last group start, to drop a
 * group that does not fit whole (see lfs_readdir).
 */
struct listing {
	struct fp_req *req;
	bool plus, full;
	size_t size, used;          /* reply capacity and bytes taken */
	struct dent *v;
	size_t n, cap;
	char *names;                /* `size` bytes: less than the entries take */
	size_t names_len;
	size_t group_n, group_used, group_names;
};

static size_t entry_size(const struct listing *l, const char *name)
{
	static const struct fp_entry none;

	if (l->plus)
		return fp_add_direntry_plus(NULL, 0, name, &none, 0);
	return fp_add_direntry(NULL, 0, name, &none.attr, 0);
}

static int listing_init(struct listing *l, struct fp_req *req, size_t size,
			bool plus)
{
	memset(l, 0, sizeof(*l));
	l->req = req;
	l->plus = plus;
	l->size = size;
	l->cap = size / entry_size(l, "x") + 1;
	l->v = malloc(l->cap * sizeof(*l->v));
	l->names = malloc(size + 1);
	return l->v && l->names ? 0 : -ENOMEM;
}

static void listing_free(struct listing *l)
{
	free(l->v);
	free(l->names);
}

/* No room for the entry: drop the part of its group already taken, since
 * the entries of a group share one resume offset. */
static int listing_full(struct listing *l)
{
	l->n = l->group_n;
	l->used = l->group_used;
	l->names_len = l->group_names;
	l->full = true;
	return 1;
}

static int listing_take(void *arg, const char *name, size_t namelen,
			uint64_t ino, unsigned type, off_t next,
			bool group_start)
{
	struct listing *l = arg;
	char *copy = l->names + l->names_len;
	size_t esize;

	if (group_start) {
		l->group_n = l->n;
		l->group_used = l->used;
		l->group_names = l->names_len;
	}
	if (l->n == l->cap || l->names_len + namelen + 1 > l->size)
		return listing_full(l);
	memcpy(copy, name, namelen);
	copy[namelen] = '\0';
	esize = entry_size(l, copy);
	if (l->used + esize > l->size)
		return listing_full(l);
	l->v[l->n++] = (struct dent){ .ino = ino, .next = next, .type = type,
				      .name = l->names_len };
	l->used += esize;
	l->names_len += namelen + 1;
	return 0;
}

static bool is_dot_or_dotdot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/*
 * Writes a READDIRPLUS entry.  Each one but "." and ".." (which the
 * kernel skips) is looked up, which yields its attributes and the
 * reference the kernel takes for it.  If the lookup fails (the name went
 * away meanwhile) the entry goes out bare, as READDIR would send it.
 */
static size_t put_plus(lfs *fs, uint64_t dir, struct listing *l,
		       struct dent *d, char *buf, size_t room)
{
	const char *name = l->names + d->name;
	struct fp_entry e;
	struct stat st;

	if (!is_dot_or_dotdot(name) && lfs_lookup(fs, dir, name, &st) == 0) {
		entry_fill(&e, &st);
		d->ino = e.ino;
		d->ref = true;
	} else {
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = d->ino;
		e.attr.st_mode = (mode_t)d->type << 12;
	}
	return fp_add_direntry_plus(buf, room, name, &e, d->next);
}

static size_t put_plain(struct listing *l, const struct dent *d, char *buf,
			size_t room)
{
	struct stat st = { .st_ino = d->ino, .st_mode = (mode_t)d->type << 12 };

	return fp_add_direntry(buf, room, l->names + d->name, &st,
				 d->next);
}

static void listing_reply(struct listing *l, lfs *fs, uint64_t dir)
{
	char *buf = malloc(l->used ? l->used : 1);
	size_t len = 0;

	if (!buf) {
		reply_status(l->req, -ENOMEM);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		char *at = buf + len;
		size_t room = l->used - len;

		len += l->plus ? put_plus(fs, dir, l, &l->v[i], at, room)
			       : put_plain(l, &l->v[i], at, room);
	}
	if (fp_reply_buf(l->req, buf, len) != 0)
		for (size_t i = 0; i < l->n; i++)
			if (l->v[i].ref)
				lfs_forget(fs, l->v[i].ino, 1);
	free(buf);
}

/* A group too big for the whole reply cannot be listed: -EINVAL, which is
 * what getdents says of a buffer too small for one entry. */
static void list_dir(struct fp_req *req, uint64_t ino, size_t size, off_t off,
		     bool plus)
{
	lfs *fs = fs_of(req);
	struct listing l;
	int ret = listing_init(&l, req, size, plus);

	if (ret == 0)
		ret = lfs_readdir(fs, ino, off, listing_take, &l);
	if (ret >= 0 && l.n == 0 && l.full)
		ret = -EINVAL;
	if (ret < 0)
		reply_status(req, ret);
	else
		listing_reply(&l, fs, ino);
	listing_free(&l);
}

/* Under strictatime the listing the kernel caches goes once it has it,
 * so that the next readdir comes here too (the core moves the atime). */
static void ll_readdir(struct fp_req *req, uint64_t ino, size_t size, off_t off,
		       struct fp_file *fi)
{
	bool strict = ll_of(req)->strictatime;   /* req is gone once replied */

	(void)fi;
	list_dir(req, ino, size, off, false);
	if (strict)
		inval_pages(ino, 0, 0, INVAL_NOW);
}

static void ll_readdirplus(struct fp_req *req, uint64_t ino, size_t size,
			   off_t off, struct fp_file *fi)
{
	bool strict = ll_of(req)->strictatime;

	(void)fi;
	list_dir(req, ino, size, off, true);
	if (strict)
		inval_pages(ino, 0, 0, INVAL_NOW);
}

static void ll_fsyncdir(struct fp_req *req, uint64_t ino, int datasync,
			struct fp_file *fi)
{
	(void)datasync;
	(void)fi;
	reply_status(req, lfs_fsyncdir(fs_of(req), ino));
}

/* ---- extended attributes ---- */

static void ll_setxattr(struct fp_req *req, uint64_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	lfs *fs = fs_of(req);
	struct stat st;

	if (!strcmp(name, "system.posix_acl_access") && !lfs_getattr(fs, ino, &st) &&
	    (st.st_mode & S_ISGID) && !caller_in_group(req, st.st_gid))
		flags |= LFS_XATTR_KILL_SGID;
	reply_status(req, lfs_setxattr(fs, ino, name, value, size, flags));
}

/* GETXATTR and LISTXATTR: size 0 asks for the length only. */
static void reply_xattr(struct fp_req *req, ssize_t n, const char *buf,
			size_t size)
{
	if (n < 0)
		reply_status(req, (int)n);
	else if (size == 0)
		fp_reply_xattr(req, (size_t)n);
	else
		fp_reply_buf(req, buf, (size_t)n);
}

static void ll_getxattr(struct fp_req *req, uint64_t ino, const char *name,
			size_t size)
{
	char *buf = NULL;

	if (size && !(buf = malloc(size))) {
		reply_status(req, -ENOMEM);
		return;
	}
	reply_xattr(req, lfs_getxattr(fs_of(req), ino, name, buf, size), buf,
		    size);
	free(buf);
}

static void ll_listxattr(struct fp_req *req, uint64_t ino, size_t size)
{
	char *buf = NULL;

	if (size && !(buf = malloc(size))) {
		reply_status(req, -ENOMEM);
		return;
	}
	reply_xattr(req, lfs_listxattr(fs_of(req), ino, buf, size), buf, size);
	free(buf);
}

static void ll_removexattr(struct fp_req *req, uint64_t ino, const char *name)
{
	reply_status(req, lfs_removexattr(fs_of(req), ino, name));
}

/* ---- inode flags: chattr(1), lsattr(1) ---- */

/*
 * The kernel's fileattr calls reach the daemon as FUSE_IOCTL
 * (fs/fuse/ioctl.c, fuse_priv_ioctl): FS_IOC_GETFLAGS and SETFLAGS, and
 * FS_IOC_FSGETXATTR and FSSETXATTR, of which FSGETXATTR is also how the
 * kernel reads the flags before it sets them (fs/file_attr.c,
 * vfs_fileattr_set).  The kernel has checked by then that the caller owns
 * the file, and that it has CAP_LINUX_IMMUTABLE to change i or a; the
 * core checks which flags the store can keep.  Any other ioctl: ENOTTY,
 * as without a handler.
 */
static const struct { unsigned fl, xflag; } xflags[] = {
	{ LFS_FL_IMMUTABLE, FS_XFLAG_IMMUTABLE },
	{ LFS_FL_APPEND,    FS_XFLAG_APPEND },
	{ LFS_FL_NODUMP,    FS_XFLAG_NODUMP },
	{ LFS_FL_NOATIME,   FS_XFLAG_NOATIME },
};

_Static_assert(LFS_FL_IMMUTABLE == FS_IMMUTABLE_FL && LFS_FL_APPEND == FS_APPEND_FL &&
	       LFS_FL_NODUMP == FS_NODUMP_FL && LFS_FL_NOATIME == FS_NOATIME_FL,
	       "the core's flags are Linux's FS_*_FL");

/* xfs's flag word from ours, or (to) ours from xfs's: -EOPNOTSUPP for
 * one we do not keep. */
static unsigned to_xflags(unsigned fl)
{
	unsigned x = 0;

	for (size_t i = 0; i < ARRAY_SIZE(xflags); i++)
		if (fl & xflags[i].fl)
			x |= xflags[i].xflag;
	return x;
}

static int from_fsxattr(const struct fsxattr *x, unsigned *fl)
{
	unsigned rest = x->fsx_xflags;

	*fl = 0;
	for (size_t i = 0; i < ARRAY_SIZE(xflags); i++)
		if (rest & xflags[i].xflag) {
			*fl |= xflags[i].fl;
			rest &= ~xflags[i].xflag;
		}
	return rest || x->fsx_extsize || x->fsx_projid || x->fsx_cowextsize ? -EOPNOTSUPP : 0;
}

static void get_flags(struct fp_req *req, uint64_t ino, bool xfs, size_t out_size)
{
	struct fsxattr x = { 0 };
	unsigned fl;
	int ret = lfs_get_iflags(fs_of(req), ino, &fl);

	if (ret == 0 && out_size < (xfs ? sizeof(x) : sizeof(fl)))
		ret = -EINVAL;
	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	x.fsx_xflags = to_xflags(fl);
	if (xfs)
		fp_reply_ioctl(req, 0, &x, sizeof(x));
	else
		fp_reply_ioctl(req, 0, &fl, sizeof(fl));
}

static void set_flags(struct fp_req *req, uint64_t ino, bool xfs, const void *in,
		      size_t in_size)
{
	struct fsxattr x;
	unsigned fl = 0;
	int ret = in_size < (xfs ? sizeof(x) : sizeof(fl)) ? -EINVAL : 0;

	if (ret == 0 && xfs) {
		memcpy(&x, in, sizeof(x));
		ret = from_fsxattr(&x, &fl);
	} else if (ret == 0) {
		memcpy(&fl, in, sizeof(fl));
	}
	if (ret == 0)
		ret = lfs_set_iflags(fs_of(req), ino, fl);
	if (ret < 0)
		reply_status(req, ret);
	else
		fp_reply_ioctl(req, 0, NULL, 0);
}

/* ---- the filesystem ---- */

static void ll_statfs(struct fp_req *req, uint64_t ino)
{
	struct statvfs sv;
	int ret = lfs_statfs(fs_of(req), &sv);

	(void)ino;
	if (ret < 0)
		reply_status(req, ret);
	else
		fp_reply_statfs(req, &sv);
}

/*
 * Capabilities, beyond the protocol layer's own (fuse_proto.c: async
 * reads, big writes, max_pages, parallel directory operations):
 *  - WRITEBACK_CACHE (unless -o nowriteback): small writes merge in the
 *    page cache and reach us as large ones.
 *  - DO_READDIRPLUS, always rather than READDIRPLUS_AUTO: a lookup in the
 *    core costs far less than the LOOKUP round trip it saves when the
 *    entries are then stat'ed (ls -l, du, rsync), and AUTO would send
 *    later batches bare.
 *  - CACHE_SYMLINKS: targets never change, so READLINK is sent once.
 *  - POSIX_ACL: the kernel checks ACLs (and implies default_permissions);
 *    DONT_MASK: the core applies the umask, which a default ACL overrides.
 *  - EXPORT_SUPPORT: lookups of "." and ".." work, for NFS.
 *  - HANDLE_KILLPRIV_V2: writes skip the kernel's GETXATTR of
 *    security.capability (head of the file); the kernel says in each WRITE
 *    and SETATTR when suid/sgid are ours to clear.
 * Not taken: ATOMIC_O_TRUNC (ll_open says why), HANDLE_KILLPRIV (v1; see
 * the head of the file), AUTO_INVAL_DATA and EXPLICIT_INVAL_DATA (nobody
 * changes files behind the kernel's back, so a changed mtime must not
 * throw away its pages), splice (we reply from memory; replying through
 * a pipe measured slower), POSIX_LOCKS and FLOCK_LOCKS (the kernel keeps
 * locks locally, right for a filesystem with one host), SETXATTR_EXT
 * (fuse_proto.c decodes the short SETXATTR header), and ASYNC_DIO: with
 * it the kernel completes a non-extending AIO direct write from the reply
 * without dropping the page cache over the range, so a buffered read that
 * raced the write keeps returning the old bytes (generic/082).  Without
 * it such a write waits for its reply in io_submit, and
 * generic_file_direct_write drops the pages after it.
 * IOCTL_DIR and NO_OPEN_SUPPORT / NO_OPENDIR_SUPPORT are offers only, with
 * nothing to answer: ioctls on directories come through (chattr, lsattr,
 * the remount request), and an ENOSYS to OPEN or OPENDIR is taken as
 * "never again" (ll_open, ll_opendir).
 * max_write 1 MiB (256-page requests).  max_readahead stays the kernel's
 * offer (128 KiB): it only takes a smaller one, and a larger
 * read_ahead_kb on the mount measured no faster.
 */
static void ll_init(void *userdata, struct fp_conn *conn)
{
	struct larch_ll *ll = userdata;
	uint64_t want = FUSE_DO_READDIRPLUS | FUSE_CACHE_SYMLINKS | FUSE_POSIX_ACL |
			FUSE_DONT_MASK | FUSE_EXPORT_SUPPORT | FUSE_HANDLE_KILLPRIV_V2;
	struct lfs_info info;

	if (ll->writeback)
		want |= FUSE_WRITEBACK_CACHE;
	conn->want |= want & conn->capable;
	lfs_get_info(ll->fs, &info);
	ll->skip_open = (conn->capable & FUSE_NO_OPEN_SUPPORT) &&
			!(info.features & LFS_FEAT_OPEN_CHECKS);
	conn->max_write = LARCH_MAX_WRITE;
	conn->time_gran = 1;
	ll->writeback_on = conn->want & FUSE_WRITEBACK_CACHE;
	ll->skip_opendir = conn->capable & FUSE_NO_OPENDIR_SUPPORT;
}

/* ---- the mount as a whole ---- */

/*
 * larchfs's own remount request (remount.h), from root on the root
 * directory, answered once the core has flushed and stopped writing, or
 * resumed.  Any other ioctl that reaches it is ENOTTY, as on a
 * filesystem without it.
 */
static void remount_ioctl(struct fp_req *req, uint64_t ino, unsigned int cmd,
			  unsigned flags, const void *in_buf, size_t in_bufsz)
{
	struct larch_remount r;
	int ret;

	if (cmd != LARCH_IOC_REMOUNT || ino != FUSE_ROOT_ID || (flags & FUSE_IOCTL_COMPAT)) {
		reply_status(req, -ENOTTY);
		return;
	}
	if (req->uid != 0) {
		reply_status(req, -EPERM);
		return;
	}
	if (in_bufsz != sizeof(r)) {
		reply_status(req, -EINVAL);
		return;
	}
	memcpy(&r, in_buf, sizeof(r));
	if (r.flags & ~LARCH_REMOUNT_RO || r.reserved) {
		reply_status(req, -EINVAL);
		return;
	}
	ret = lfs_remount(fs_of(req), r.flags & LARCH_REMOUNT_RO);
	if (ret < 0)
		reply_status(req, ret);
	else
		fp_reply_ioctl(req, 0, NULL, 0);
}

/* ioctl: chattr's and lsattr's (inode flags, above), and the remount
 * request. */
static void ll_ioctl(struct fp_req *req, uint64_t ino, unsigned int cmd, unsigned flags,
		     const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	switch (cmd) {
	case FS_IOC_GETFLAGS:
	case FS_IOC_FSGETXATTR:
		get_flags(req, ino, cmd == FS_IOC_FSGETXATTR, out_bufsz);
		break;
	case FS_IOC_SETFLAGS:
	case FS_IOC_FSSETXATTR:
		set_flags(req, ino, cmd == FS_IOC_FSSETXATTR, in_buf, in_bufsz);
		break;
	default:
		remount_ioctl(req, ino, cmd, flags, in_buf, in_bufsz);
	}
}

/*
 * Left out on purpose: flush (fuse_proto.c answers ENOSYS, so the kernel
 * stops sending FLUSH: writes are in the store already, and with the
 * writeback cache the kernel writes its pages back before it would send
 * one), releasedir (no per-open state; answered 0), access
 * (default_permissions), locks (the kernel keeps them locally, right for
 * a filesystem with one host).
 */
const struct fp_ops larch_ll_ops = {
	.init            = ll_init,
	.forget          = ll_forget,
	.lookup          = ll_lookup,
	.getattr         = ll_getattr,
	.statx           = ll_statx,
	.setattr         = ll_setattr,
	.readlink        = ll_readlink,
	.mknod           = ll_mknod,
	.mkdir           = ll_mkdir,
	.unlink          = ll_unlink,
	.rmdir           = ll_rmdir,
	.symlink         = ll_symlink,
	.rename          = ll_rename,
	.link            = ll_link,
	.open            = ll_open,
	.release         = ll_release,
	.read            = ll_read,
	.write           = ll_write,
	.fsync           = ll_fsync,
	.opendir         = ll_opendir,
	.readdir         = ll_readdir,
	.readdirplus     = ll_readdirplus,
	.fsyncdir        = ll_fsyncdir,
	.statfs          = ll_statfs,
	.setxattr        = ll_setxattr,
	.getxattr        = ll_getxattr,
	.listxattr       = ll_listxattr,
	.removexattr     = ll_removexattr,
	.create          = ll_create,
	.tmpfile         = ll_tmpfile,
	.fallocate       = ll_fallocate,
	.lseek           = ll_lseek,
	.ioctl           = ll_ioctl,
	.copy_file_range = ll_copy_file_range,
};
