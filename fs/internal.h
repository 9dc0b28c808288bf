/* SPDX-License-Identifier: MIT */
/*
 * What the modules of the larchfs core share: the mounted filesystem, the
 * in-memory inode, key encodings, and the transaction helper.
 *
 * The filesystem lives in six kv trees (formats in the file that writes
 * each):
 *   super    "sb"                           -> superblock       (super.c)
 *   inodes   be64 ino                       -> inode record     (inode.c)
 *   dirents  be64 parent, be64 hash, name   -> be64-free entry  (dir.c)
 *   extents  be64 ino, be64 block           -> block bytes      (extent.c)
 *            be64 ino, be64 block, 'p'      -> sub-block writes (patch.c)
 *   xattrs   be64 ino, name                 -> value            (xattr.c)
 *   orphans  be64 ino                       -> empty            (orphan.c)
 * Big-endian key prefixes keep one inode's keys together and in order.
 *
 * Locking: an operation locks the lock stripes of every inode it changes
 * (ascending stripe order, locks.c), reads them, builds one batch, commits
 * it, notes the epoch on those inodes' stripes (for fsync), and unlocks.
 * Readers take no lock: a batch is atomic for them.
 */
#ifndef LARCHFS_INTERNAL_H
#define LARCHFS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lfs.h"

#define LOCK_STRIPES  1024u     /* inode mutexes */
#define EPOCH_STRIPES 4096u     /* last-change epochs, for fsync */
#define REF_SHARDS    64u       /* kernel reference tables */
#define LFS_MAX_FILE  (1ull << 60)  /* largest file size, bytes */

struct refshard {
	pthread_mutex_t mu;
	struct refent { uint64_t ino, n; } *v;   /* open addressing, ino 0 empty */
	size_t cap, used;
};

struct lfs {
	lkv_store *s;
	lkv_tree *t_super, *t_inodes, *t_dirents, *t_extents, *t_xattrs, *t_orphans;
	char *dir;
	struct lfs_mount_options opt;
	struct lfs_info info;
	bool ro;

	pthread_mutex_t alloc_mu;       /* inode allocator */
	uint64_t next_ino, reserved_to; /* reserved_to is in the superblock */
	atomic_llong inodes_used;       /* -1 until counted (statfs) */

	uint64_t reserve;               /* host bytes kept free (space.c) */
	_Atomic uint64_t space_free, space_at, space_used, space_gc_at;
	atomic_bool space_freed;        /* data deleted since the last GC */
	atomic_int orphans_held;        /* unlinked, awaiting the kernel's forget */
	struct timespec mounted_at;     /* for the stats */
	void (*stats_extra)(FILE *f);   /* the daemon's lines of the live stats */

	pthread_mutex_t ilock[LOCK_STRIPES];
	pthread_mutex_t rename_mu;      /* directory moves between parents */
	_Atomic uint64_t epoch_of[EPOCH_STRIPES];
	_Atomic unsigned data_seq[LOCK_STRIPES]; /* odd while a commit runs */
	struct refshard refs[REF_SHARDS];
};

/* ---- inodes (inode.c) ---- */
struct inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink, flags;
	uint64_t size;      /* bytes; for directories the entry count */
	uint64_t stored;    /* bytes held in the extents tree */
	uint64_t rdev;
	uint64_t parent;    /* directories: the one parent; else 0 */
	struct timespec atime, mtime, ctime, btime;
};

int  inode_get(lfs *fs, uint64_t ino, struct inode *in);
bool inode_decode(const uint8_t *p, size_t len, struct inode *in);  /* a record */
int  inode_put(lfs *fs, lkv_batch *b, const struct inode *in);
void inode_init(struct inode *in, uint64_t ino, mode_t mode, uid_t uid, gid_t gid);
void inode_to_stat(lfs *fs, const struct inode *in, struct stat *st);
void inode_touch(struct inode *in, bool m, bool c);   /* mtime, ctime = now */
bool inode_kill_suid(struct inode *in);               /* true if changed */
unsigned mode_to_dtype(mode_t mode);
void atime_update(lfs *fs, const struct inode *seen);  /* attr.c */
void now(struct timespec *ts);

/* ---- free space (space.c) ---- */
#define SPACE_INODE 4096        /* what a new inode or name is charged */
void space_tune(lfs *fs, struct lkv_options *ko);
int  space_claim(lfs *fs, uint64_t bytes);     /* 0 or -ENOSPC */
uint64_t space_reserve(lfs *fs);
void space_freed(lfs *fs);                     /* data was deleted */

/* ---- the superblock (super.c) ---- */
#define TREES 6
extern const char *const tree_names[TREES];  /* super inodes dirents extents xattrs orphans */
#define SB_KEY  "sb"
#define SB_LEN  136
bool sb_decode(const uint8_t *p, size_t len, struct lfs_info *i);
int  sb_put(lkv_tree *t, const struct lfs_info *i);  /* at once, not in a batch */

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
#define DIRENT_VAL_LEN 9      /* an entry's value: u64 ino, u8 type */
#define DIRENT_KEY_MAX (16 + LFS_NAME_MAX)

struct dirent_val {
	uint64_t ino;
	unsigned type;      /* DT_* */
};
int  name_check(const char *name);
uint64_t name_hash(const char *name, size_t len);   /* an entry's key hash */
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
/* Deletes about `max` keys of ino's data into b (a block goes with its
 * patches); returns how many: fewer than max when none are left. */
int  extent_drop(lfs *fs, lkv_batch *b, uint64_t ino, int max);

/* ---- sub-block writes beside blob blocks (patch.c) ---- */
#define PATCH_KEY_LEN 17            /* extent key + 'p' */
#define PATCH_HDR     8u            /* an entry's u32 off, u32 len */
#define PATCH_BYTES   (28u << 10)   /* most bytes one block's set holds
					 (and below the blob threshold) */
#define PATCH_ENTRIES 16u           /* most entries in one set */

struct patchset {
	size_t len;                 /* bytes of v in use; 0: no set */
	uint8_t v[PATCH_BYTES + PATCH_ENTRIES * PATCH_HDR];
};
bool patch_enabled(const lfs *fs);
void patch_key(uint8_t k[PATCH_KEY_LEN], uint64_t ino, uint64_t block);
bool patch_key_is(const void *k, size_t kl);
int  patch_valid(const uint8_t *v, size_t vl, size_t limit);
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
int  xattr_drop(lfs *fs, lkv_batch *b, uint64_t ino);
int  xattr_each(lfs *fs, uint64_t ino,
		int (*fn)(void *arg, const uint8_t *key, size_t kl), void *arg);

/* ---- POSIX ACLs (acl.c) ---- */
#define ACL_ACCESS_XATTR  "system.posix_acl_access"
#define ACL_DEFAULT_XATTR "system.posix_acl_default"
int  acl_inherit(lfs *fs, lkv_batch *b, const struct inode *dir, struct inode *in,
		 mode_t umask);
int  acl_check(const void *v, size_t len, bool *minimal);
int  acl_set_access(struct inode *in, const void *v, size_t len, bool *store);
int  acl_chmod(lfs *fs, lkv_batch *b, const struct inode *in);
bool acl_is_name(const char *name);

/* ---- kernel references and orphans (orphan.c) ---- */
void refs_init(lfs *fs);
void refs_free(lfs *fs);
uint64_t refs_get(lfs *fs, uint64_t ino);
int  orphan_add(lfs *fs, lkv_batch *b, uint64_t ino);
int  orphan_release(lfs *fs, uint64_t ino);   /* reclaim if unreferenced */
int  orphan_reclaim_all(lfs *fs);

/* ---- transactions (txn.c) ---- */
#define TXN_MAX_INODES 4

struct txn {
	lfs *fs;
	lkv_batch *b;
	uint64_t ino[TXN_MAX_INODES];
	unsigned nino;
	unsigned stripe[TXN_MAX_INODES];
	unsigned nstripe;
	bool locked;
};

int  txn_begin(lfs *fs, struct txn *t);
void txn_add(struct txn *t, uint64_t ino);       /* before txn_lock */
void txn_lock(struct txn *t);
int  txn_commit(struct txn *t);                  /* notes epochs */
void txn_unlock(struct txn *t);                  /* for a retry */
void txn_end(struct txn *t);                     /* unlocks, frees */
typedef int (*inode_change_fn)(lfs *fs, lkv_batch *b, struct inode *in, void *arg);
int  inode_change(lfs *fs, uint64_t ino, inode_change_fn fn, void *arg,
		  struct inode *out);

/* ---- inode locks, epochs, data sequences (locks.c) ---- */
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

/* ---- keys ---- */
static inline void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t le64_get(const uint8_t *p)
{
	return le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

#endif
