/* SPDX-License-Identifier: MIT */
/*
 * What the modules of the larchfs core share: the mounted filesystem
 * (struct lfs) and each module's calls.  The trees, keys and records are
 * format.h's; the API is lfs.h's.
 *
 * Locking: an operation locks the lock stripes of every inode it changes
 * (a transaction, txn.c: ascending stripe order), reads them, builds one
 * batch, commits it, notes the epoch on those inodes' stripes (for
 * fsync), and unlocks.  Readers take no lock: a batch is atomic for them.
 * Lock order: rename_mu, then inode stripes (ascending), then alloc_mu or
 * a count shard's mu; the engine's own locks come last.
 *
 * Each shared field of struct lfs says what protects it: "mount" (set
 * while lfs_mount runs, read-only after), a mutex, "atomic", or "owner"
 * (the field is the lock).
 */
#ifndef LARCHFS_INTERNAL_H
#define LARCHFS_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "format.h"
#include "lfs.h"
#include "lfs_assert.h"

#define LOCK_STRIPES  1024u     /* inode mutexes */
#define EPOCH_STRIPES 4096u     /* last-change epochs, for fsync */
#define COUNT_SHARDS  64u       /* per-inode count tables (inocount.c) */
/* The largest file size: the kernel's MAX_LFS_FILESIZE (2^63 - 1), which
 * FUSE mounts get as s_maxbytes, as tmpfs does.  Block numbers stay far
 * from overflowing (2^51 at 4 KiB blocks). */
#define LFS_MAX_FILE  ((uint64_t)INT64_MAX)

/* A table of counts per inode (inocount.c), sharded. */
struct inocounts {
	struct countshard {
		pthread_mutex_t mu;                        /* owner: guards v, cap, used */
		struct countent { uint64_t ino, n; } *v;   /* mu; open addressing, ino 0
							      empty, n > 0 */
		size_t cap, used;                          /* mu */
	} sh[COUNT_SHARDS];
};

struct lfs {
	/* the store and what it was mounted with (mount.c) */
	lkv_store *s;                   /* mount */
	lkv_tree *t_super, *t_inodes, *t_dirents, *t_extents, *t_xattrs, *t_orphans;
					/* mount */
	char *dir;                      /* mount */
	struct lfs_mount_options opt;   /* mount */
	bool store_ro;                  /* mount; the store is open read-only */
	atomic_bool ro;                 /* atomic; changes are refused: store_ro,
					   or remounted read-only (lfs_remount) */
	pthread_mutex_t remount_mu;     /* owner: remounting */
	struct lfs_info info;           /* mount, but for next_ino: alloc_mu */
	struct timespec mounted_at;     /* mount; for the stats */
	void (*stats_extra)(FILE *f);   /* these two set once before requests */
	void (*metrics_extra)(FILE *f); /* are served (lfs_stats_extra), then
					   read-only */
	_Atomic uint64_t data_read, data_written;   /* atomic; bytes that
					   lfs_read returned and lfs_write took */

	/* the inode allocator (ialloc.c) */
	pthread_mutex_t alloc_mu;       /* owner: next_ino, reserved_to, info.next_ino */
	uint64_t next_ino;              /* alloc_mu; the next number handed out */
	uint64_t reserved_to;           /* alloc_mu; = info.next_ino */
	uint64_t copy_bound;            /* alloc_mu; the superblock copy's next_ino */
	bool super_from_copy;           /* alloc_mu; the record is damaged: the
					   copy stands in (until rewritten) */

	/* free space (space.c) */
	uint64_t reserve;               /* mount; host bytes kept free */
	_Atomic uint64_t space_free, space_at, space_used, space_gc_at;  /* atomic */
	atomic_bool space_freed;        /* atomic; data deleted since the last GC */

	/* kernel references and orphans (orphan.c) */
	struct inocounts refs;          /* each shard under its own mu */
	atomic_int orphans_held;        /* atomic; unlinked, awaiting the forget */
	atomic_bool refs_short;         /* atomic; a reference went uncounted */

	/* descriptors open for writing, where opens are checked (iflags.c) */
	struct inocounts writers;       /* each shard under its own mu */
	atomic_bool said_no_open_checks; /* atomic; logged once */

	/* inode locks (locks.c) */
	pthread_mutex_t ilock[LOCK_STRIPES];     /* owner: each inode of its stripe */
	pthread_mutex_t rename_mu;      /* owner: directory moves between parents */
	_Atomic uint64_t epoch_of[EPOCH_STRIPES]; /* atomic; only ever raised */
	_Atomic unsigned data_seq[LOCK_STRIPES];  /* atomic; bumped under the
						     stripe's ilock, odd while a
						     commit runs */
};

/* ---- inodes (inode.c) ---- */
int  inode_get(lfs *fs, uint64_t ino, struct inode *in);
int  inode_put(lfs *fs, lkv_batch *b, const struct inode *in);
void inode_to_stat(lfs *fs, const struct inode *in, struct stat *st);
void inode_touch(struct inode *in, bool m, bool c);   /* mtime, ctime = now */
bool inode_kill_suid(struct inode *in, bool in_group); /* true if changed */
bool cred_in_group(const struct lfs_cred *c, gid_t gid);
void atime_update(lfs *fs, const struct inode *seen);  /* attr.c */
void now(struct timespec *ts);

/* ---- inode flags (iflags.c) ---- */
/* -EPERM when inode in has any of the flags `which` (lfs.h lists who asks
 * for which). */
static inline int iflags_refuse(const struct inode *in, uint32_t which)
{
	return in->flags & which ? -EPERM : 0;
}
#define IFLAGS_FIXED (LFS_FL_IMMUTABLE | LFS_FL_APPEND)   /* no unlink, rename, ... */
/* An open's flag rules, and its count where opens are checked (ino not
 * locked). */
int  iflags_open(lfs *fs, uint64_t ino, int flags);
/* Counts a descriptor open for writing on the new inode ino. */
int  writer_new(lfs *fs, uint64_t ino, int flags);

/* ---- free space (space.c) ---- */
#define SPACE_INODE 4096        /* what a new inode or name is charged */
void space_tune(lfs *fs, struct lkv_options *ko);
int  space_claim(lfs *fs, uint64_t bytes);     /* 0 or -ENOSPC */
uint64_t space_reserve(lfs *fs);
void space_freed(lfs *fs);                     /* data was deleted */

/* ---- the superblock (super.c) ---- */
int  sb_put(lkv_tree *t, const struct lfs_info *i);  /* at once, not in a batch */
#define SB_COPY_STEP (1ull << 20)   /* how far the copy's next_ino runs ahead */
int  sb_copy_put(lkv_store *s, const struct lfs_info *i, uint64_t bound);
int  sb_copy_get(lkv_store *s, struct lfs_info *i);

/* ---- the inode allocator (ialloc.c) ---- */
void ialloc_init(lfs *fs);
void ialloc_start(lfs *fs);      /* once fs->info is read */
void ialloc_free(lfs *fs);
int  ino_alloc(lfs *fs, uint64_t *ino);

/* ---- messages (log.c) ---- */
void lfs_log(lfs *fs, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lfs_log_stderr(void *arg, int level, const char *msg);  /* the default sink */

/* ---- directory entries (dir.c) ---- */
int  name_check(const char *name);
int  dirent_get(lfs *fs, uint64_t parent, const char *name, struct dirent_val *d);
int  dirent_put(lfs *fs, lkv_batch *b, uint64_t parent, const char *name,
		const struct dirent_val *d);
int  dirent_del(lfs *fs, lkv_batch *b, uint64_t parent, const char *name);

/* ---- file data (extent.c) ---- */
ssize_t extent_read(lfs *fs, const struct inode *in, void *buf, size_t len, uint64_t off);
int  extent_write(lfs *fs, lkv_batch *b, struct inode *in, const void *buf,
		  size_t len, uint64_t off);
int  extent_truncate(lfs *fs, lkv_batch *b, struct inode *in, uint64_t size);
int  extent_zero(lfs *fs, lkv_batch *b, struct inode *in, uint64_t off, uint64_t len);
int  extent_fill(lfs *fs, lkv_batch *b, struct inode *in, uint64_t off, uint64_t end);
int  extent_seek(lfs *fs, const struct inode *in, uint64_t off, bool data, uint64_t *out);
/* An iterator over ino's keys (blocks and their patch sets) of the blocks
 * [from, to), to EXTENT_END: to the last; flags as lkv_iter_open's. */
#define EXTENT_END UINT64_MAX
int  extent_iter(lfs *fs, uint64_t ino, uint64_t from, uint64_t to, unsigned flags,
		 lkv_iter **it);

/* ---- sub-block writes beside blob blocks (patch.c) ---- */
struct patchset {
	size_t len;                 /* bytes of v in use; 0: no set */
	uint8_t v[PATCH_SET_MAX];
};
bool patch_enabled(const lfs *fs);
int  patch_load(lfs *fs, uint64_t ino, uint64_t block, size_t limit,
		struct patchset *ps);
void patch_apply(const struct patchset *ps, size_t o, uint8_t *buf, size_t n);
int  patch_add(lfs *fs, lkv_batch *b, uint64_t ino, uint64_t block, size_t stored,
	       size_t o, const uint8_t *data, size_t n);
int  patch_drop(lfs *fs, lkv_batch *b, uint64_t ino, uint64_t block);

/* ---- xattr records (xattr_records.c) ---- */
int  xattr_get_raw(lfs *fs, uint64_t ino, const char *name, void *buf, size_t cap,
		   size_t *len);
int  xattr_put_raw(lfs *fs, lkv_batch *b, uint64_t ino, const char *name,
		   const void *v, size_t len);
int  xattr_del_raw(lfs *fs, lkv_batch *b, uint64_t ino, const char *name);
int  xattr_each(lfs *fs, uint64_t ino,
		int (*fn)(void *arg, const uint8_t *key, size_t kl), void *arg);

/* ---- POSIX ACLs (acl.c) ---- */
int  acl_inherit(lfs *fs, lkv_batch *b, const struct inode *dir, struct inode *in,
		 mode_t umask);
int  acl_set_access(struct inode *in, const void *v, size_t len, bool *store);
int  acl_chmod(lfs *fs, lkv_batch *b, const struct inode *in);
bool acl_is_name(const char *name);

/* ---- counts per inode (inocount.c) ---- */
void inocounts_init(struct inocounts *c);
void inocounts_free(struct inocounts *c);
int  inocounts_add(struct inocounts *c, uint64_t ino, uint64_t n);   /* -ENOMEM */
uint64_t inocounts_get(struct inocounts *c, uint64_t ino);
/* Takes n (at most what there is) away; returns the count there was. */
uint64_t inocounts_drop(struct inocounts *c, uint64_t ino, uint64_t n);
/* Inodes with a count, and the bytes the table holds for them. */
void inocounts_size(struct inocounts *c, uint64_t *entries, uint64_t *bytes);

/* ---- kernel references and orphans (orphan.c) ---- */
uint64_t refs_get(lfs *fs, uint64_t ino);
int  orphan_add(lfs *fs, lkv_batch *b, uint64_t ino);
int  orphan_add_tmpfile(lfs *fs, lkv_batch *b, uint64_t ino, bool linkable);
/* The orphan ino (locked) gets its first name: its record goes in b.
 * -ENOENT unless it is an O_TMPFILE file made without O_EXCL. */
int  orphan_name(lfs *fs, lkv_batch *b, uint64_t ino);
void orphans_held_add(lfs *fs);               /* one more awaits its forget */
void orphans_held_drop(lfs *fs);
int  orphan_release(lfs *fs, uint64_t ino);   /* reclaim if unreferenced */
int  orphan_reclaim_all(lfs *fs);
int  orphan_reclaim_unheld(lfs *fs);   /* those the kernel let go of */

/* ---- transactions (txn.c) ---- */
#define TXN_MAX_INODES 5      /* a rename's: two parents, two names' inodes and
				  RENAME_WHITEOUT's whiteout */

/* A transaction: owned by the thread that began it, never shared. */
struct txn {
	lfs *fs;
	lkv_batch *b;
	uint64_t ino[TXN_MAX_INODES];      /* the inodes it changes */
	unsigned nino;
	unsigned stripe[TXN_MAX_INODES];   /* their stripes, ascending, once each */
	unsigned nstripe;
	bool locked;                       /* the stripes are held */
	bool adopted;                      /* ... by an enclosing transaction */
};

int  txn_begin(lfs *fs, struct txn *t);
int  txn_add(struct txn *t, uint64_t ino);       /* before txn_lock */
void txn_lock(struct txn *t);
void txn_adopt(struct txn *t);                   /* stripes held already */
int  txn_commit(struct txn *t);                  /* notes epochs */
void txn_unlock(struct txn *t);                  /* for a retry */
void txn_end(struct txn *t);                     /* unlocks, frees */

/* ---- one operation on one inode (change.c) ---- */
typedef int (*inode_change_fn)(lfs *fs, lkv_batch *b, struct inode *in, void *arg);
int  inode_change(lfs *fs, uint64_t ino, inode_change_fn fn, void *arg,
		  struct inode *out);

/* ---- collapse and insert (shift.c) ---- */
int  shift_range(lfs *fs, uint64_t ino, bool insert, uint64_t off, uint64_t len);
int  shift_settle(lfs *fs, uint64_t ino, struct inode *in);  /* ino locked */
int  inode_get_settled(lfs *fs, uint64_t ino, struct inode *in);
int  shift_resume_all(lfs *fs);

/* ---- inode locks, epochs, data sequences (locks.c) ---- */
bool mutex_held(pthread_mutex_t *mu);     /* for LFS_ASSERT: by anyone */
bool ino_locked(lfs *fs, uint64_t ino);   /* for LFS_ASSERT: by anyone */
unsigned lock_stripe(uint64_t ino);
void stripe_lock(lfs *fs, unsigned stripe);
void stripe_unlock(lfs *fs, unsigned stripe);
void ino_lock(lfs *fs, uint64_t ino);
void ino_unlock(lfs *fs, uint64_t ino);
void epoch_note(lfs *fs, uint64_t ino, uint64_t e);
void data_seq_bump(lfs *fs, unsigned stripe);
unsigned data_seq_read(lfs *fs, uint64_t ino);
bool data_seq_stable(lfs *fs, uint64_t ino, unsigned seq);
uint64_t epoch_of(lfs *fs, uint64_t ino);
void locks_init(lfs *fs);
void locks_free(lfs *fs);

#endif
