/* SPDX-License-Identifier: MIT */
/*
 * larchkv: the embedded key-value engine under larchfs.
 *
 * A store is a directory holding named, ordered trees of byte keys and byte
 * values.  Every mutation is stamped with a flush epoch; an epoch becomes
 * durable when its commit record is on stable storage.  After any crash the
 * store opens to exactly the state at the end of some sealed epoch, no older
 * than the last one reported durable.  Batches are all-or-nothing, for
 * readers and for recovery.
 *
 * Conventions: functions returning int return 0 (or a count) on success and
 * a negative errno on failure.  They never abort on bad input or I/O errors.
 * A checksum mismatch on anything read from disk is -EIO.
 *
 * Thread safety: a store and its trees may be used from any number of
 * threads at once.  A batch or an iterator belongs to one thread at a time.
 */
#ifndef LARCHKV_H
#define LARCHKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LKV_KEY_MAX   2048u                /* longest key, bytes */
#define LKV_VALUE_MAX (256u << 20)         /* longest value, bytes */

typedef struct lkv_store lkv_store;
typedef struct lkv_tree  lkv_tree;
typedef struct lkv_batch lkv_batch;
typedef struct lkv_iter  lkv_iter;

/* ------------------------------------------------------------------------
 * The I/O layer.  Every byte the engine reads or writes goes through one of
 * these; tests substitute their own to inject faults and power cuts.  Names
 * are plain file names inside the store directory (no slashes).
 * Every call returns 0 / a byte count, or a negative errno.
 * ---------------------------------------------------------------------- */
typedef struct lkv_io   lkv_io;
typedef struct lkv_file lkv_file;      /* defined by each implementation */

#define LKV_IO_CREATE 0x1              /* create if missing */
#define LKV_IO_EXCL   0x2              /* with CREATE: fail if it exists */
#define LKV_IO_RDONLY 0x4              /* no writes through this handle */

struct lkv_io_ops {
	int     (*open)(lkv_io *io, const char *name, int flags, lkv_file **out);
	void    (*close)(lkv_file *f);
	ssize_t (*pread)(lkv_file *f, void *buf, size_t len, uint64_t off);
	ssize_t (*pwrite)(lkv_file *f, const void *buf, size_t len, uint64_t off);
	int     (*sync)(lkv_file *f);               /* data + size durable */
	int     (*truncate)(lkv_file *f, uint64_t size);
	int     (*size)(lkv_file *f, uint64_t *size);
	int     (*unlink)(lkv_io *io, const char *name);
	int     (*rename)(lkv_io *io, const char *from, const char *to);
	int     (*sync_dir)(lkv_io *io);            /* names durable */
	/* Calls fn for every name in the directory; stops at fn's first
	 * non-zero return, which list returns. */
	int     (*list)(lkv_io *io, int (*fn)(void *arg, const char *name),
			void *arg);
	/* Takes the store lock: exclusive for writers, shared for readers.
	 * -EBUSY when another holder conflicts.  Released by destroy. */
	int     (*lock)(lkv_io *io, bool exclusive);
	void    (*destroy)(lkv_io *io);
	/* Optional (NULL: none): a hint to start writing [off, off+len) to the
	 * device now, so that a later sync has less to wait for.  Durability
	 * still comes from sync alone. */
	void    (*writeback)(lkv_file *f, uint64_t off, uint64_t len);
	/* Optional (NULL: none): the holder of the lock says it is closing the
	 * store (it will let go soon), and a would-be holder asks who holds
	 * it: its pid (0 unknown) and whether it said it is closing.  Lets an
	 * open wait for a store that an exiting process still holds. */
	void    (*lock_closing)(lkv_io *io);
	int     (*lock_holder)(lkv_io *io, pid_t *pid, bool *closing);
	/* Optional (NULL: sync each in turn): makes the n files durable,
	 * in any order or at once (a crash meanwhile may leave any of them
	 * durable and the others not), so that the device may flush its
	 * cache once for all of them.  errs[i] gets file i's result; returns
	 * the first error, or 0 when every file is durable. */
	int     (*sync_many)(lkv_io *io, lkv_file *const *f, size_t n, int *errs);
};

struct lkv_io {
	const struct lkv_io_ops *ops;
};

/* The POSIX layer over directory `dir` (created when `create`).  Its store
 * lock is flock(2) on the file LKV_LOCK_FILE in the directory. */
int lkv_io_posix(const char *dir, bool create, lkv_io **out);
#define LKV_LOCK_FILE "LOCK"

/* ------------------------------------------------------------------------
 * A store directory's files, for tools.  `io` is the I/O layer to use, or
 * NULL for POSIX files in `dir`.
 * ---------------------------------------------------------------------- */
#define LKV_PROBE_EMPTY   0x0          /* no store file (or no directory) */
#define LKV_PROBE_STORE   0x1          /* a store's FORMAT is there */
#define LKV_PROBE_FOREIGN 0x2          /* files that are not a store's */

/* What `dir` holds: LKV_PROBE_* bits, the first foreign name copied into
 * `foreign` (cap bytes; may be NULL), or a negative errno. */
int lkv_probe(const char *dir, lkv_io *io, char *foreign, size_t cap);

/* Deletes every file of the store in `dir` (never other files), holding
 * the store lock: -EBUSY when the store is in use. */
int lkv_destroy(const char *dir, lkv_io *io);

struct lkv_file_info {
	const char *name;
	uint64_t size;
	const char *holds;      /* what it holds, in words; "" if not a store file */
};
typedef int (*lkv_file_fn)(void *arg, const struct lkv_file_info *f);
/* Calls fn for every file in `dir` (unordered); stops at fn's first
 * non-zero return, which it returns. */
int lkv_list_files(const char *dir, lkv_io *io, lkv_file_fn fn, void *arg);

/* ------------------------------------------------------------------------
 * Opening a store
 * ---------------------------------------------------------------------- */
#define LKV_CREATE   0x1   /* make a new store if the directory has none */
#define LKV_READONLY 0x2   /* no writes; shared lock; no background flusher */
/* Damage in the log (records that fail their checksum, with committed
 * records after them) normally refuses the open.  With LKV_SALVAGE the
 * store opens as of the last commit before the damage: everything after
 * it is dropped (truncated, unless read-only), logged and counted in
 * lkv_stats.salvaged_bytes.  For fsck's repairs. */
#define LKV_SALVAGE  0x4

enum lkv_log_level { LKV_LOG_ERR = 3, LKV_LOG_WARN = 4, LKV_LOG_INFO = 6 };

struct lkv_options {
	unsigned flags;              /* LKV_CREATE, LKV_READONLY, LKV_SALVAGE */
	size_t   cache_bytes;        /* budget for resident leaves */
	size_t   dirty_bytes;        /* memory of dirty leaves (as the cache
					counts it) that forces a flush;
					lowered to a quarter of cache_bytes
					(but not below 1 MiB) */
	unsigned flush_interval_ms;  /* background seal period; 0 = never */
	int      compression_level;  /* zstd level for leaves; 0 = off */
	unsigned leaf_bytes;         /* a leaf splits past this size */
	unsigned bloom_bits;         /* bloom bits per key; 0 = no filters */
	uint64_t snapshot_bytes;     /* log growth between table snapshots, at
					least */
	unsigned snapshot_share;     /* ... and at least this many times the
					next snapshot's bytes (up to 32 x
					snapshot_bytes; 0: not) */
	uint64_t log_file_bytes;     /* a log file rolls over past this */
	size_t   blob_threshold;     /* values this big go to blob segments; 0 never */
	uint64_t blob_segment_bytes; /* a segment rolls over past this */
	unsigned gc_live_percent;    /* files less live than this are reclaimed */
	unsigned gc_interval_ms;     /* background GC period; 0 = only lkv_gc */
	lkv_io  *io;                 /* NULL: POSIX files; else borrowed */
	unsigned lock_wait_ms;       /* how long an open waits for a store whose
					holder is closing it (default 30000) */
	/* Where messages go (default: stderr).  Each message names the store
	 * directory, the file and offset where one is involved, and the cause. */
	void   (*log)(void *arg, int level, const char *msg);
	void    *log_arg;
};

void lkv_options_default(struct lkv_options *o);

/* Opens the store in `dir`.  -ENOENT: no store there (and no LKV_CREATE);
 * -EBUSY: another process holds it; -EUCLEAN: the store is damaged beyond
 * what recovery may ignore; -EIO: an I/O error.  The reason is logged. */
int  lkv_open(const char *dir, const struct lkv_options *o, lkv_store **out);

/* Flushes everything (unless read-only or failed) and frees the store.
 * Returns the flush's error, if any; the store is freed regardless. */
int  lkv_close(lkv_store *s);

/* Says that this process is about to close the store (lkv_close does it
 * too): an lkv_open elsewhere then waits for it instead of failing with
 * -EBUSY.  Call it when the user's side is done (a filesystem unmounted)
 * and work remains before lkv_close. */
void lkv_close_begin(lkv_store *s);

/* Freezing, for a filesystem remounted read-only: lkv_freeze waits for
 * the changes under way to end, then leaves the store's files as
 * lkv_close would (every change durable, a snapshot, the log cut at its
 * last commit), and until lkv_thaw writes nothing: changes, GC and
 * lkv_meta_write fail with -EROFS and the background thread is stopped,
 * so the files may be copied.  Both return 0 when there is nothing to do
 * (already so, or a read-only store).  A freeze that cannot flush thaws
 * again and returns the error. */
int  lkv_freeze(lkv_store *s);
int  lkv_thaw(lkv_store *s);

/* The store's identity, set when it was created. */
void lkv_uuid(const lkv_store *s, uint8_t uuid[16]);

/* A small record of the user's, kept outside the log and the trees in two
 * files, for what must survive the damage of any one region of the disk
 * (larchfs keeps a copy of its superblock there).  Written synchronously:
 * durable when lkv_meta_write returns; meant for rare updates.  read: the
 * record's length in *len (copied up to cap bytes), -ENOENT if none.
 * write: -EROFS read-only, -EINVAL past LKV_META_MAX bytes. */
#define LKV_META_MAX 4096u
int lkv_meta_read(lkv_store *s, void *buf, size_t cap, size_t *len);
int lkv_meta_write(lkv_store *s, const void *p, size_t len);

/* ------------------------------------------------------------------------
 * Trees.  A handle stays valid until lkv_close.  Opening a missing tree
 * creates it (durable with the epoch it was created in); in a read-only
 * store a missing tree is -ENOENT.
 * ---------------------------------------------------------------------- */
int  lkv_tree_open(lkv_store *s, const char *name, lkv_tree **out);
const char *lkv_tree_name(const lkv_tree *t);

/* Bloom filter bits per key for the images of t's leaves written from now
 * on (the store's bloom_bits until set; at most 64).  0 keeps no filter:
 * for a tree whose lookups nearly always find their key, where a filter
 * costs memory and snapshot bytes and saves no read.  Not persistent: the
 * opener sets it each time; leaves keep what they were written with until
 * they are written again. */
void lkv_tree_set_filter(lkv_tree *t, unsigned bits_per_key);

/* The number of keys in the tree, as of the last batch applied, in
 * constant time.  Not a scan: the open sums the key counts the durable
 * leaf images carry, and each batch adds the keys it created and takes
 * away those it deleted, so the count is as crash-consistent as the keys
 * (lkv_check verifies it). */
uint64_t lkv_tree_count(const lkv_tree *t);

/* Copies up to `cap` bytes of the value into buf and sets *vlen to its full
 * length.  -ENOENT when the key is absent. */
int  lkv_get(lkv_tree *t, const void *key, size_t klen,
	     void *buf, size_t cap, size_t *vlen);

/* Copies bytes [off, off + len) of the value, as far as it reaches, into
 * buf; returns the count copied and sets *vlen (may be NULL) to the full
 * length.  A large uncompressed value is read only where the range lies.
 * -ENOENT when the key is absent. */
ssize_t lkv_get_range(lkv_tree *t, const void *key, size_t klen, uint64_t off,
		      void *buf, size_t len, size_t *vlen);

/* Single-operation batches.  *epoch (may be NULL) receives the epoch the
 * change was stamped with. */
int  lkv_put(lkv_tree *t, const void *key, size_t klen,
	     const void *val, size_t vlen, uint64_t *epoch);
int  lkv_delete(lkv_tree *t, const void *key, size_t klen, uint64_t *epoch);

/* ------------------------------------------------------------------------
 * Atomic batches across trees.  Later operations on one key override
 * earlier ones.  commit applies every operation or none and resets the
 * batch for reuse.  A value of blob_threshold bytes or more is written to
 * its blob segment by put itself, so put can fail with an I/O error; a
 * batch cleared or freed uncommitted leaves those bytes dead, for GC.
 * ---------------------------------------------------------------------- */
lkv_batch *lkv_batch_new(lkv_store *s);
int  lkv_batch_put(lkv_batch *b, lkv_tree *t, const void *key, size_t klen,
		   const void *val, size_t vlen);
int  lkv_batch_delete(lkv_batch *b, lkv_tree *t, const void *key, size_t klen);
int  lkv_batch_commit(lkv_batch *b, uint64_t *epoch);
void lkv_batch_clear(lkv_batch *b);
void lkv_batch_free(lkv_batch *b);

/* ------------------------------------------------------------------------
 * Range scans.  Keys in [lo, hi) in byte order; lo NULL = from the first
 * key, hi NULL = to the last.  LKV_REVERSE walks from hi down to lo.
 * Each leaf is read atomically; a scan that spans leaves may see later
 * changes to leaves it has not reached yet (it is not a snapshot).
 * ---------------------------------------------------------------------- */
#define LKV_REVERSE 0x1

int  lkv_iter_open(lkv_tree *t, const void *lo, size_t lo_len,
		   const void *hi, size_t hi_len, unsigned flags,
		   lkv_iter **out);
/* Keys sharing `prefix`. */
int  lkv_iter_prefix(lkv_tree *t, const void *prefix, size_t len,
		     unsigned flags, lkv_iter **out);
/* 1 and the next item (pointers valid until the next call), 0 at the end,
 * or a negative errno. */
int  lkv_iter_next(lkv_iter *it, const void **key, size_t *klen,
		   const void **val, size_t *vlen);
/* Like lkv_iter_next but gives only the value's length, so a large value
 * is not read. */
int  lkv_iter_next_len(lkv_iter *it, const void **key, size_t *klen,
		       size_t *vlen);
void lkv_iter_close(lkv_iter *it);

/* ------------------------------------------------------------------------
 * Flush epochs.
 * ---------------------------------------------------------------------- */
uint64_t lkv_epoch_current(lkv_store *s);
uint64_t lkv_epoch_durable(lkv_store *s);
/* Blocks until epoch `e` (0: the current one) is durable.  Concurrent
 * callers share one commit.  Returns at once when it already is. */
int  lkv_flush(lkv_store *s, uint64_t e);

/* Reclaims disk space now: empties every segment and log file that holds
 * dead bytes, makes that durable and deletes the emptied files.  (A bounded
 * pass also runs in the background every gc_interval_ms.) */
int  lkv_gc(lkv_store *s);

/* Gives back only what needs no copying: flushes, then deletes every blob
 * segment that holds nothing live.  For a nearly full disk, where lkv_gc
 * could not find room to copy live values into. */
int  lkv_gc_free(lkv_store *s);

/* ------------------------------------------------------------------------
 * Checking a store (fsck).  lkv_check reads every leaf of every tree and
 * every blob from disk (not from the cache), verifying checksums, decoding,
 * key order, that each leaf's keys lie within its bounds, that every blob
 * reference lies inside its segment, and the live-byte accounting of every
 * segment and log file.  Each problem is reported through fn.
 * With LKV_CHECK_REPAIR it also fixes what it can, durably: a value whose
 * blob fails its checksum or lies outside its segment is deleted (its key
 * reported); a leaf that cannot be read is replaced by an empty one (its
 * key range reported: the keys in it are lost, and the layer above must
 * mend what referred to them); a leaf with a damaged delta record keeps
 * the rest of its chain, its keys that delta changed are deleted one by
 * one (each reported), and when the delta also made keys that nothing
 * names any more its key range is reported too, as `partial`; wrong
 * live-byte counts are corrected.
 * Returns 0 when the walk finished (problems or not; see the stats), or a
 * negative errno when it could not (the store has failed, no memory).
 * ---------------------------------------------------------------------- */
#define LKV_CHECK_REPAIR 0x1

struct lkv_damage {
	const char *tree;               /* the tree, or NULL (store-wide) */
	const void *key;                /* the key whose value is lost, or */
	size_t klen;                    /* NULL with a leaf's low key: */
	const void *leaf_low;           /* the leaf's first key (may be empty) */
	size_t leaf_low_len;
	const void *leaf_high;          /* keys below this; NULL: to the end */
	size_t leaf_high_len;
	const char *what;               /* what is wrong, naming file and offset */
	bool repaired;                  /* fixed by LKV_CHECK_REPAIR */
	bool partial;                   /* with a leaf's low key: the leaf is kept
					   but lost keys that cannot be named
					   (ones a damaged delta record made) */
};

struct lkv_check_stats {
	uint64_t leaves, entries, blobs, blob_bytes;
	uint64_t problems, repaired;
};

typedef void (*lkv_check_fn)(void *arg, const struct lkv_damage *d);
int lkv_check(lkv_store *s, unsigned flags, lkv_check_fn fn, void *arg,
	      struct lkv_check_stats *st);

/* ------------------------------------------------------------------------
 * Stats (a consistent-enough copy of counters; all monotone except the
 * gauges marked so).
 * ---------------------------------------------------------------------- */
struct lkv_stats {
	uint64_t cache_hits, cache_misses;   /* leaf lookups */
	uint64_t bloom_skips;                /* misses answered by a filter */
	uint64_t leaves_read, leaves_written, evictions;
	uint64_t bytes_read, bytes_written;  /* on disk */
	uint64_t raw_bytes_written;          /* leaf bytes before compression */
	uint64_t flushes, flush_ns_total, flush_ns_max;
	uint64_t snapshots;
	uint64_t snapshots_full;             /* of them, whole tables (the rest
						are deltas: snapshot.c) */
	uint64_t snapshot_bytes_written;     /* of bytes_written */
	uint64_t checksum_failures;
	/* gauges */
	uint64_t cache_bytes, cache_budget, dirty_bytes;
	uint64_t cache_peak;                 /* the most cache_bytes since open */
	uint64_t leaves, resident_leaves;
	uint64_t epoch, durable_epoch;
	uint64_t disk_bytes;                 /* logs, segments and snapshots */
	uint64_t live_bytes;                 /* leaf and blob records referenced */
	uint64_t blob_live_bytes, blob_disk_bytes, segments;
	uint64_t blob_bytes_written, blob_bytes_read;
	uint64_t blob_raw_bytes_written;     /* values before compression */
	uint64_t gc_runs, gc_bytes_moved;
	uint64_t flush_errors;               /* flushes that failed and were kept */
	int32_t flush_stalled;               /* gauge: the last flush's error while
						flushes fail for space, else 0 */
	uint64_t salvaged_bytes;             /* log bytes dropped by LKV_SALVAGE */
	uint64_t log_damage;                 /* damaged places in the log that the
						open read past, keeping the commits
						after them */
	uint64_t lost_leaf_images;           /* of those, leaf images that were in
						the damage (the leaves read as -EIO) */
	uint64_t rebuilt_commits;            /* commits lost in the damage and
						rebuilt from later ones' digests */
	/* leaf chains: a full image and the delta records after it */
	uint64_t deltas_written;             /* of leaves_written, deltas */
	uint64_t deltas_read;                /* delta records read paging leaves
						in (leaves_read counts the leaves) */
	uint64_t consolidations;             /* full images that ended a chain */
	uint64_t chain_links;                /* gauge: delta records the chains
						hold, as of the last flush */
	uint64_t user_bytes_written;         /* keys and values the callers put
						(bytes_written / this: the write
						amplification) */
	uint64_t log_zero_bytes;             /* zeros written ahead in the log
						(logzero.c), not in bytes_written */
};

void lkv_stats(lkv_store *s, struct lkv_stats *st);

/* Where the engine's memory is, in bytes of the heap (the allocator's
 * sizes).  It walks every leaf of the index and the location table: a
 * few milliseconds per hundred thousand leaves, so not for every
 * request. */
struct lkv_memory {
	uint64_t cache, cache_budget;   /* resident leaves' entries */
	uint64_t dirty;                 /* of which changed, not yet flushed */
	uint64_t index;                 /* the trees' leaves: structs, low keys,
					   bloom filters, the sorted arrays */
	uint64_t loctable;              /* the location table: the durable copy
					   of each leaf's place, low key and
					   filter, that snapshots are written
					   from */
	uint64_t leaves;
};
void lkv_memory(lkv_store *s, struct lkv_memory *m);

/* XXH3-64 through xxhash's run-time SIMD dispatch (exposed for the
 * benchmark and the tools). */
uint64_t lkv_checksum(const void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
