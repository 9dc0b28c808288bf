/* SPDX-License-Identifier: MIT */
/*
 * The larchfs core: POSIX filesystem operations over a larchkv store,
 * with no kernel and no FUSE in sight.  The FUSE glue (fuse_ll.c) and the
 * unit tests both drive the filesystem through this header only.
 *
 * Conventions
 *  - Every function returning int or ssize_t returns 0 (or a count) on
 *    success and a negative errno on failure; nothing aborts on bad input
 *    or on I/O errors.  A checksum failure underneath is -EIO.
 *  - Each mutating operation is one atomic kv batch: after a crash it is
 *    either wholly there or not at all, and operations are never seen out
 *    of order (the engine's epochs give prefix consistency).
 *  - Access control is the kernel's business (the daemon mounts with
 *    default_permissions); the core checks the rules that are the
 *    filesystem's own: types, emptiness, names, loops, xattr flags.  The
 *    caller's credentials are used to own new inodes, for setgid
 *    inheritance and for suid/sgid clearing.
 *  - Inode numbers are never reused, so the generation is always 0 and
 *    (ino, 0) identifies an inode forever (NFS export).
 *  - Thread safety: any number of threads may call in at once.
 *
 * Lifetime of unlinked inodes: the kernel holds a reference ("lookup
 * count") on every inode it was told about.  lfs_ref adds to it, lfs_forget
 * takes away.  An inode whose link count drops to zero while referenced is
 * kept (recorded as an orphan) and reclaimed when its count reaches zero,
 * at unmount, or at the next mount after a crash.
 */
#ifndef LARCHFS_LFS_H
#define LARCHFS_LFS_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "larchkv.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LFS_ROOT_INO   1ull     /* the root directory; FUSE_ROOT_ID */
#define LFS_NAME_MAX   255      /* longest name, bytes */
#define LFS_XATTR_NAME_MAX 255  /* longest xattr name, bytes */
#define LFS_XATTR_SIZE_MAX 65536 /* largest xattr value, bytes */
#define LFS_SYMLINK_MAX 4095    /* longest symlink target, bytes */

typedef struct lfs lfs;

/* ------------------------------------------------------------------------
 * Formatting and mounting
 * ---------------------------------------------------------------------- */
struct lfs_format_options {
	const char *label;          /* NULL: none; up to 63 bytes */
	uint32_t    block_size;     /* file block size; 0: default (64 KiB) */
	uint32_t    blob_threshold; /* 0: default (32 KiB) */
	int         compression;    /* zstd level, 0 off; -1: default (1) */
	uid_t       root_uid;       /* owner of / and lost+found */
	gid_t       root_gid;
	bool        force;          /* format over an existing store */
	lkv_io     *io;             /* NULL: POSIX files; else an empty store's
				     * I/O layer (tests: faultio), borrowed */
};

/* What a formatted store says about itself (its superblock). */
struct lfs_info {
	uint8_t  uuid[16];
	char     label[64];
	uint32_t format_version;
	uint32_t block_size;
	uint32_t blob_threshold;
	int32_t  compression;
	uint64_t created_sec;
	uint64_t next_ino;          /* every inode number below this may be used */
	uint64_t lost_found_ino;
	uint32_t features;          /* LFS_FEAT_* */
};

/* lfs_info.features: the kernel reports every open and release of a file
 * (the daemon checks opens: -o iflags), so that the immutable and
 * append-only inode flags can be set and kept (lfs_set_iflags). */
#define LFS_FEAT_OPEN_CHECKS 0x1u

void lfs_format_options_default(struct lfs_format_options *o);

/* Makes a new filesystem in directory `dir` (created if missing).
 * -EEXIST when dir already holds a store and -ENOTEMPTY when it holds
 * anything else; `why` (may be NULL, 256 bytes) then says what is there.
 * force replaces an old store; it never deletes other files. */
int lfs_format(const char *dir, const struct lfs_format_options *o,
	       struct lfs_info *info, char *why);

enum lfs_atime { LFS_ATIME_RELATIME, LFS_ATIME_NOATIME, LFS_ATIME_STRICT };

struct lfs_mount_options {
	bool        read_only;
	bool        salvage;            /* open past log damage (LKV_SALVAGE): fsck */
	size_t      cache_bytes;        /* 0: engine default */
	unsigned    flush_interval_ms;  /* 0: default (5000); background flush */
	int         compression;        /* -1: the store's default */
	enum lfs_atime atime;
	bool        nodiratime;         /* directories' atimes never move */
	bool        open_checks;        /* make the store LFS_FEAT_OPEN_CHECKS
					   (remembered: every later mount has
					   it); format version 4 or later */
	lkv_io     *io;                 /* NULL: POSIX files (tests: faultio) */
	void      (*log)(void *arg, int level, const char *msg); /* NULL: stderr */
	void       *log_arg;
	/* The core moved ino's atime on an access (a read, readdir or
	 * readlink), from the thread of the access: attributes a cache above
	 * holds are stale.  NULL: nobody cares. */
	void      (*touched)(void *arg, uint64_t ino);
	void       *touched_arg;
};

/* Whether an access now would move the atime of an inode with attributes
 * st, by the mount's atime policy: what a cache above the core must let
 * reach it.  relatime: atime not newer than mtime or ctime, or a day old.
 * Never for an inode with the no-atime flag (LFS_FL_NOATIME, below). */
bool lfs_atime_due(lfs *fs, const struct stat *st);

void lfs_mount_options_default(struct lfs_mount_options *o);

/* Opens the filesystem in `dir` and reclaims orphans left by a crash.
 * -ENOENT: no store; -EMEDIUMTYPE: a larchkv store without a larchfs
 * superblock (not formatted); -EUCLEAN: damaged; -EBUSY: in use.
 * The reason is logged. */
int  lfs_mount(const char *dir, const struct lfs_mount_options *o, lfs **out);

/* Reclaims unreferenced orphans, flushes everything and frees fs.
 * Returns the first error met; fs is freed regardless. */
int  lfs_unmount(lfs *fs);

/* A remount, read-only or back to read-write.  Read-only: every later
 * change fails with -EROFS, everything is flushed and the store's files
 * are left as an unmount leaves them, untouched until a read-write remount
 * (they may be copied meanwhile).  Back to read-write: changes go through
 * again, and unlinked files let go of meanwhile are reclaimed.  -EROFS for
 * read-write when the store was opened read-only (read_only at mount); a
 * flush that fails (-ENOSPC, -EIO) leaves the filesystem read-write. */
int  lfs_remount(lfs *fs, bool read_only);

void lfs_get_info(lfs *fs, struct lfs_info *info);
lkv_store *lfs_store(lfs *fs);       /* for stats and tools */

/* For fsck, when an inode exists at or past the superblock's next_ino:
 * makes the allocator hand out only numbers above `above`, and writes the
 * superblock that says so at once.  -EROFS on a read-only mount. */
int lfs_raise_next_ino(lfs *fs, uint64_t above);

/* For fsck: whether the superblock record was missing or damaged at mount,
 * its copy standing in (lfs_get_info shows the copy); and rewriting the
 * record from it (once its leaf is readable again).  -EROFS read-only. */
bool lfs_super_from_copy(lfs *fs);
int  lfs_super_rewrite(lfs *fs);

/* ------------------------------------------------------------------------
 * Attributes
 * ---------------------------------------------------------------------- */
struct lfs_cred {
	uid_t uid;
	gid_t gid;
	mode_t umask;               /* applied to new inodes' modes */
	const gid_t *groups;        /* supplementary groups, may be NULL (see
				     * below) */
	int ngroups;
};
/* The supplementary groups are consulted where membership of a group
 * decides: a new file's S_ISGID in a setgid directory (mknod, create),
 * and the S_ISGID without group-exec that lfs_setattr's clearing of
 * privileges leaves only to members.  A caller that leaves them out
 * counts as a member of its own group alone. */

/* st_ino, st_mode, st_nlink, st_uid, st_gid, st_rdev, st_size, st_blocks
 * (512-byte units of stored data), st_blksize, st_atim, st_mtim, st_ctim. */
int lfs_getattr(lfs *fs, uint64_t ino, struct stat *st);

/* Birth time (statx btime). */
int lfs_get_btime(lfs *fs, uint64_t ino, struct timespec *ts);

/* lfs_setattr's `valid` bits. */
#define LFS_SET_MODE      (1u << 0)
#define LFS_SET_UID       (1u << 1)
#define LFS_SET_GID       (1u << 2)
#define LFS_SET_SIZE      (1u << 3)
#define LFS_SET_ATIME     (1u << 4)
#define LFS_SET_MTIME     (1u << 5)
#define LFS_SET_ATIME_NOW (1u << 6)
#define LFS_SET_MTIME_NOW (1u << 7)
#define LFS_SET_CTIME     (1u << 8)
#define LFS_SET_KILL_SUIDGID (1u << 9)  /* the caller lacks CAP_FSETID:
					   clear privileges (below) */
#define LFS_SET_TIMES_GIVEN  (1u << 10) /* the times come from the caller
					   (utimensat with times), not from
					   the clock or the kernel's own
					   keeping: refused on an append-only
					   file, as the VFS's ATTR_TIMES_SET */

/* chmod, chown, truncate up and down, utimensat (times from st_atim and
 * st_mtim; the _NOW bits take the clock).  ctime is always set to now
 * unless LFS_SET_CTIME gives one.  On success *out (may be NULL) holds the
 * new attributes.  -EISDIR on truncating a directory, -EFBIG past the
 * largest file.
 *
 * A chown, and LFS_SET_KILL_SUIDGID (a truncate, write or fallocate by a
 * caller without CAP_FSETID), clear a non-directory's privileges as
 * Linux does (setattr_should_drop_suidgid): S_ISUID; S_ISGID when the
 * group may execute, or when c is outside the file's group (as it was
 * before a chown) and not root.  Root counts as holding CAP_FSETID.
 *
 * -EPERM for any change of an immutable inode, and for a change of mode,
 * owner, size or LFS_SET_TIMES_GIVEN of an append-only one (inode flags,
 * below). */
int lfs_setattr(lfs *fs, const struct lfs_cred *c, uint64_t ino,
		const struct stat *st, unsigned valid, struct stat *out);

/* ------------------------------------------------------------------------
 * Inode flags (chattr(1), lsattr(1)): the values of Linux's FS_*_FL, as
 * FS_IOC_GETFLAGS and FS_IOC_SETFLAGS carry them.  Stored from format
 * version 4 on.  The immutable and append-only flags need a store whose
 * opens are checked (LFS_FEAT_OPEN_CHECKS), and are kept as ext4 keeps
 * them:
 *   immutable: no write, truncate, fallocate, change of attributes or
 *     times, link, unlink, rename, xattr change, open for writing or with
 *     O_TRUNC; in a directory, no entry made or removed;
 *   append-only: writes only at the end, no truncate, no fallocate but a
 *     plain one, no change of mode, owner or given times (lfs_setattr), no
 *     link, unlink, rename or xattr change, no open for writing without
 *     O_APPEND or with O_TRUNC; in a directory, entries may be made but
 *     not removed.
 * Each refusal is -EPERM.  Whether the caller may change the flags at all
 * (its owner, CAP_LINUX_IMMUTABLE for i and a) is the kernel's check.
 * ---------------------------------------------------------------------- */
#define LFS_FL_IMMUTABLE 0x10u   /* i: FS_IMMUTABLE_FL */
#define LFS_FL_APPEND    0x20u   /* a: FS_APPEND_FL */
#define LFS_FL_NODUMP    0x40u   /* d: FS_NODUMP_FL, for dump(8) alone */
#define LFS_FL_NOATIME   0x80u   /* A: FS_NOATIME_FL, no atime updates */
#define LFS_FL_ALL (LFS_FL_IMMUTABLE | LFS_FL_APPEND | LFS_FL_NODUMP | LFS_FL_NOATIME)

int lfs_get_iflags(lfs *fs, uint64_t ino, unsigned *flags);
/* Replaces the flags (and sets ctime).  -EOPNOTSUPP for a flag outside
 * LFS_FL_ALL, for any on a store of a format older than 4, and for i or
 * a where opens are not checked; -EBUSY for i on a file open for writing
 * (lfs_open: it could not be refused the writes a cache holds). */
int lfs_set_iflags(lfs *fs, uint64_t ino, unsigned flags);

/* ------------------------------------------------------------------------
 * Names.  Every call that returns an inode's attributes in `out` (lookup,
 * mknod, mkdir, symlink, link, create) adds one reference to it (see the
 * head of this file); the caller passes it on to the kernel or drops it
 * with lfs_forget.
 * ---------------------------------------------------------------------- */
int  lfs_lookup(lfs *fs, uint64_t parent, const char *name, struct stat *out);
void lfs_ref(lfs *fs, uint64_t ino, uint64_t n);
void lfs_forget(lfs *fs, uint64_t ino, uint64_t n);

/* Regular files, fifos, sockets, character and block devices. */
int lfs_mknod(lfs *fs, const struct lfs_cred *c, uint64_t parent,
	      const char *name, mode_t mode, dev_t rdev, struct stat *out);
int lfs_mkdir(lfs *fs, const struct lfs_cred *c, uint64_t parent,
	      const char *name, mode_t mode, struct stat *out);
int lfs_symlink(lfs *fs, const struct lfs_cred *c, const char *target,
		uint64_t parent, const char *name, struct stat *out);
/* Copies the target (not NUL-terminated) and returns its length; -EINVAL
 * for a non-symlink; truncated to cap. */
ssize_t lfs_readlink(lfs *fs, uint64_t ino, char *buf, size_t cap);

int lfs_unlink(lfs *fs, uint64_t parent, const char *name);
int lfs_rmdir(lfs *fs, uint64_t parent, const char *name);
/* -ENOENT for an inode with no link left, but for an O_TMPFILE file made
 * without O_EXCL (lfs_tmpfile), whose first name this is. */
int lfs_link(lfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
	     struct stat *out);

#define LFS_RENAME_NOREPLACE (1u << 0)   /* = RENAME_NOREPLACE */
#define LFS_RENAME_EXCHANGE  (1u << 1)   /* = RENAME_EXCHANGE */
#define LFS_RENAME_WHITEOUT  (1u << 2)   /* = RENAME_WHITEOUT */
/* renameat2(2).  With LFS_RENAME_WHITEOUT the source name is left, in the
 * same batch, to a whiteout: a new character device 0/0 of mode 0, owned
 * by c as a new file of the source directory would be (overlayfs's mark
 * of a deleted name).  EXCHANGE with either other flag, or a whiteout
 * without c: -EINVAL. */
int lfs_renameat2(lfs *fs, const struct lfs_cred *c, uint64_t parent,
		  const char *name, uint64_t newparent, const char *newname,
		  unsigned flags);
/* lfs_renameat2 without a caller: no whiteout. */
int lfs_rename(lfs *fs, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags);

/* ------------------------------------------------------------------------
 * Files
 * ---------------------------------------------------------------------- */
/* Opens an existing inode: O_TRUNC truncates (regular files), and a
 * directory with write access flags is -EISDIR; the inode flags' rules
 * apply (-EPERM).  Where opens are checked (LFS_FEAT_OPEN_CHECKS) an open
 * for writing, here or by lfs_create or lfs_tmpfile, is counted until
 * lfs_release: the caller must report every release then. */
int lfs_open(lfs *fs, const struct lfs_cred *c, uint64_t ino, int flags);
/* A descriptor opened with `flags` is closed for good. */
void lfs_release(lfs *fs, uint64_t ino, int flags);

/* Creates and opens `name` (O_EXCL: -EEXIST if it exists; otherwise opens
 * the existing file, honouring O_TRUNC).  Adds a reference like lookup. */
int lfs_create(lfs *fs, const struct lfs_cred *c, uint64_t parent,
	       const char *name, mode_t mode, int flags, struct stat *out);

/* open(O_TMPFILE): a regular file owned as if made in directory parent,
 * with no name (st_nlink 0).  Adds a reference like lookup; it is
 * reclaimed, as a file unlinked while open is, when the references go, at
 * unmount or at the next mount after a crash.  lfs_link may give it a
 * name first, unless flags has O_EXCL (linkat(2)'s rule).  -ENOENT when
 * parent was removed, -ENOTDIR when it is no directory. */
int lfs_tmpfile(lfs *fs, const struct lfs_cred *c, uint64_t parent,
		mode_t mode, int flags, struct stat *out);

/* Reads up to len bytes at off; returns the count (0 at or past EOF).
 * -EINVAL when off is negative or off + len passes 2^63 - 1 (as the
 * kernel's checks say before any filesystem sees a read or write). */
ssize_t lfs_read(lfs *fs, uint64_t ino, void *buf, size_t len, off_t off);

/* Writes len bytes at off (at EOF when append); returns len, or fewer
 * when the write would pass the largest file size, 2^63 - 1 (the
 * kernel's MAX_LFS_FILESIZE): -EFBIG when it starts there, -EINVAL as
 * lfs_read.  With
 * LFS_WRITE_KILL_SUID (the writer lacks CAP_FSETID) it clears the file's
 * privileges by lfs_setattr's rule: suid, and sgid when group-executable,
 * or with LFS_WRITE_KILL_SGID too (the writer is outside the file's
 * group) whatever the group may do. */
#define LFS_WRITE_APPEND   (1u << 0)
#define LFS_WRITE_KILL_SUID (1u << 1)
#define LFS_WRITE_KILL_SGID (1u << 3)
/* Leave mtime and ctime alone: with a writeback cache the kernel owns them
 * (it stamps them at write(2) time and sends them with setattr), and the
 * data it writes back later must not stamp a later time. */
#define LFS_WRITE_KEEP_TIMES (1u << 2)
/* Data a cache accepted earlier (the kernel's writeback): it was written
 * through a descriptor opened before the file became append-only, so the
 * append-only rule does not apply (it is an open's, as on ext4).  Any
 * other write into an append-only file must start at or past its end:
 * -EPERM.  An immutable file takes no write: -EPERM. */
#define LFS_WRITE_CACHED (1u << 4)
ssize_t lfs_write(lfs *fs, uint64_t ino, const void *buf, size_t len,
		  off_t off, unsigned flags);

/* Flushes through the epoch of the inode's last change; returns at once
 * when that epoch is already durable. */
int lfs_fsync(lfs *fs, uint64_t ino, bool datasync);

/* Flushes everything. */
int lfs_sync(lfs *fs);

/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
 * FALLOC_FL_ZERO_RANGE (optionally |KEEP_SIZE), FALLOC_FL_COLLAPSE_RANGE
 * and FALLOC_FL_INSERT_RANGE (ext4's rules with the store's block size,
 * st_blksize: -EINVAL for an offset or length not a multiple of it, a
 * collapse reaching the end of the file or an insert at or past it;
 * -EFBIG past the largest size; -EOPNOTSUPP on a store older than format
 * version 3; fs/shift.c).  Other modes and combinations -EOPNOTSUPP. */
int lfs_fallocate(lfs *fs, uint64_t ino, int mode, off_t off, off_t len);

/* SEEK_DATA / SEEK_HOLE (SEEK_SET/CUR/END are the kernel's).  -ENXIO when
 * off is at or past EOF, or no data follows for SEEK_DATA. */
off_t lfs_lseek(lfs *fs, uint64_t ino, off_t off, int whence);

ssize_t lfs_copy_file_range(lfs *fs, uint64_t ino_in, off_t off_in,
			    uint64_t ino_out, off_t off_out, size_t len);

/* ------------------------------------------------------------------------
 * Directories
 * ---------------------------------------------------------------------- */
/* Checks that ino is a directory (-ENOTDIR). */
int lfs_opendir(lfs *fs, uint64_t ino);

/*
 * Emits the entries of directory ino after offset off ("." and ".." come
 * first, at offsets 0 and 1).  For each entry, fn gets its name, inode,
 * type (DT_*), and the offset to resume after it; every offset stays valid
 * while the directory changes (entries are ordered by a hash of their
 * name).  fn returns 0 to go on, or 1 when it has no room for the entry,
 * which ends the call without emitting it.
 *
 * Entries whose names hash alike share one resume offset and must be
 * emitted together: `group_start` is true on the first entry of each
 * group.  When fn runs out of room inside a group it must drop the
 * entries of that group it already took (back to its last group start)
 * before returning 1.
 */
typedef int (*lfs_dirent_fn)(void *arg, const char *name, size_t namelen,
			     uint64_t ino, unsigned type, off_t next,
			     bool group_start);
int lfs_readdir(lfs *fs, uint64_t ino, off_t off, lfs_dirent_fn fn, void *arg);

int lfs_fsyncdir(lfs *fs, uint64_t ino);

/* ------------------------------------------------------------------------
 * Extended attributes (user., trusted., security., system.posix_acl_*)
 * ---------------------------------------------------------------------- */
/* flags: XATTR_CREATE (-EEXIST) / XATTR_REPLACE (-ENODATA), and
 * LFS_XATTR_KILL_SGID when the caller is neither privileged nor in the
 * file's group.  Setting system.posix_acl_access updates the mode's
 * permission bits to match, and with LFS_XATTR_KILL_SGID drops S_ISGID (as
 * posix_acl_update_mode does).  Removing an absent ACL succeeds. */
#define LFS_XATTR_KILL_SGID 0x100
int lfs_setxattr(lfs *fs, uint64_t ino, const char *name, const void *value,
		 size_t size, int flags);
/* With size 0: returns the value's length.  -ENODATA when absent, -ERANGE
 * when size is too small. */
ssize_t lfs_getxattr(lfs *fs, uint64_t ino, const char *name, void *value,
		     size_t size);
/* NUL-separated names; size 0 returns the length needed. */
ssize_t lfs_listxattr(lfs *fs, uint64_t ino, char *list, size_t size);
int lfs_removexattr(lfs *fs, uint64_t ino, const char *name);

/* ------------------------------------------------------------------------
 * The filesystem as a whole
 * ---------------------------------------------------------------------- */
/* Block counts from the host filesystem under the store, file counts from
 * the inode allocator. */
int lfs_statfs(lfs *fs, struct statvfs *sv);

/* The statistics of the filesystem and its engine as text ("Label: value"
 * lines): lfs_stats_print for the tools, and the root directory's virtual
 * xattr LFS_STATS_XATTR (lfs_getxattr serves it through lfs_stats_xattr,
 * with lfs_getxattr's size convention) for a mounted filesystem. */
#define LFS_STATS_XATTR "larchfs.stats"
int lfs_stats_print(lfs *fs, FILE *f);
ssize_t lfs_stats_xattr(lfs *fs, void *value, size_t size);
/* The same figures for programs, in Prometheus's text exposition format
 * (names larchfs_*, "# HELP" and "# TYPE" lines, exact values; stats.c
 * says which): lfs_metrics_print for the tools, the root's virtual xattr
 * LFS_METRICS_XATTR for a mounted filesystem (served like
 * LFS_STATS_XATTR). */
#define LFS_METRICS_XATTR "larchfs.metrics"
int lfs_metrics_print(lfs *fs, FILE *f);
ssize_t lfs_metrics_xattr(lfs *fs, void *value, size_t size);
/* Writes v as a label value of that format: \, " and newline escaped. */
void lfs_metrics_label(FILE *f, const char *v);

/* The two xattrs end with what `text` and `metrics` write (the daemon's
 * own counters, in each one's format); set once, before the mount serves
 * requests. */
void lfs_stats_extra(lfs *fs, void (*text)(FILE *f), void (*metrics)(FILE *f));

#ifdef __cplusplus
}
#endif
#endif
