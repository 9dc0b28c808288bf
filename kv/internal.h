/* SPDX-License-Identifier: MIT */
/*
 * larchkv internals: the in-memory objects every module shares.
 *
 *   store ──< tree ──< leaf            (index: leaves sorted by low key)
 *     │                  └─ entries    (resident entries; NULL when evicted)
 *     ├─ epochs: current, durable, writers per epoch, flush sets
 *     ├─ loctable: the durable location of every leaf (what recovery rebuilds)
 *     └─ cache: CLOCK ring of resident leaves
 *
 * Locking, outermost first:
 *   flush_mu   one flush at a time (seal → write → sync → publish)
 *   tree->lock rwlock; readers of a tree share it, writers take it
 *              exclusively, several trees always in ascending id order
 *   ep_mu      epoch counters and flush sets (held only briefly)
 *   cache_mu   the CLOCK ring; eviction only try-locks trees
 *   files_mu   read handles of log files and segments (files.c)
 *   zero_mu    the log's zeroed range (logzero.c), inside flush_mu
 *   blob_mu    the segment being appended and its bookkeeping (blob.c)
 *   gc_mu      one GC pass at a time; taken before flush_mu
 *   bg_mu      the background thread's requests (background.c)
 * Each shared field below names what protects it: a lock, "atomic", or
 * "fixed" (set before other threads can see it, then only read).
 *
 * Epoch invariant: a writer checks in to the current epoch *while holding
 * the write locks of every tree it changes*, so the epochs stamped on one
 * leaf never decrease.  A leaf dirty in a sealed epoch D that a writer of a
 * later epoch wants to change is first serialized as of D ("captured"), so
 * the flush of D never waits for writers and never sees their changes.
 */
#ifndef LKV_INTERNAL_H
#define LKV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <zstd.h>

#include "codec.h"
#include "larchkv.h"

/* ---- the kinds of file in a store directory (files.c) ---- */
enum file_kind { FILE_LOG, FILE_BLOB, FILE_SNAP, FILE_FORMAT, FILE_META, FILE_LOCK };

/* ---- on-disk location of one record ---- */
struct leaf_loc {
	uint32_t file;        /* log file number; 0 = never written */
	uint32_t len;         /* whole record, header included */
	uint64_t off;
	uint64_t csum;        /* the record's checksum */
};

/* ---- bloom filter of one leaf image (bloom.c) ---- */
struct bloom {
	uint8_t *bits;
	uint32_t nbits;       /* 0: no filter, every key may be present */
	uint8_t k;
};

/* ---- a resident leaf's entries (entries.c) ---- */
#define ENT_BLOB 0x1      /* the value is a blob reference (reserved) */

struct entry {
	struct key16 pfx;     /* the key's first 16 bytes, for searching */
	const uint8_t *k, *v;
	/* what a writer changed (entries_change), for the leaf's next delta:
	 * ep is the epoch of the last change (0: none since it was read), ed
	 * (while the change is not in the leaf's durable chain; NULL: none
	 * known, a put logs it) how the value differs from the one the chain
	 * holds */
	uint64_t ep;
	struct edits *ed;
	uint32_t vl;
	uint16_t kl;          /* <= LKV_KEY_MAX */
	uint8_t flags;
	bool own;             /* k (and v, which follows it) is malloc'd */
};

/* How a changed value differs from the value a leaf's chain holds (and
 * from every value between: entries.c): pre and suf bytes at its start
 * and end are the same (a splice logs the rest), and outside its windows
 * (at most EDIT_MAX, sorted, disjoint) it is the same at the same offsets
 * (a patch logs the windows). */
#define EDIT_MAX 4
struct edits {
	uint32_t pre, suf;
	uint32_t n;
	struct { uint32_t off, len; } w[EDIT_MAX + 1];   /* one spare, merging */
};

/* A key a writer deleted: the leaf's next delta deletes it too. */
struct tomb {
	uint8_t *k;
	uint32_t kl;
	uint64_t ep;          /* epoch of the deletion */
};

struct entries {
	struct entry *e;
	uint32_t n, cap;
	uint8_t *base;        /* decoded image that non-owned entries point into */
	size_t bytes;         /* serialized size of the body */
	struct tomb *tomb;    /* deletions not yet in the durable chain, by key */
	uint32_t ntomb, tombcap;
	size_t tomb_bytes;    /* their keys' bytes + 16 each (entries_mem) */
};

/* ---- a leaf: one key range of one tree ---- */
struct leaf {
	/* fixed */
	uint64_t id;
	struct lkv_tree *tree;
	uint8_t *low;         /* smallest key this leaf may hold ("" = -inf) */
	uint32_t low_len;

	/* tree->lock (written holding it exclusively, read holding it shared) */
	struct leaf_loc loc;      /* its durable chain: the full image (base), */
	struct leaf_loc *chain;   /* ... then the delta records after it */
	uint32_t nchain;
	uint64_t chain_bytes;     /* the deltas' record bytes */
	struct bloom bloom;       /* filter of the keys the chain holds */
	struct entries *ents;     /* NULL while evicted */
	uint64_t dirty_epoch;     /* epoch of the newest unflushed change; 0 clean */
	uint64_t captured_epoch;  /* newest sealed epoch whose image was taken */
	uint64_t dead_epoch;      /* epoch that removed it from the index; 0 alive */
	uint64_t logged_epoch;    /* newest epoch whose changes the chain holds */
	uint64_t full_epoch;      /* a change of this epoch (split, merge, GC
				     rewrite) needs a full image; 0 none */
	struct leaf_img *sealed;  /* record captured by a writer for captured_epoch */
	bool queued;              /* on the consolidation queue (bg_mu) */
	size_t charged;           /* bytes counted in store->cache_bytes */
	size_t dirty_charged;     /* bytes counted in store->dirty_bytes */

	atomic_uint refs;         /* atomic; lifetime: index, flush sets, loaders */
	atomic_uint pins;         /* atomic; >0: may not be evicted */
	atomic_uchar clock_ref;   /* atomic; CLOCK second-chance bit */
	struct leaf *ring_prev, *ring_next;   /* cache_mu; the resident ring */
};

/* ---- a tree ---- */
struct lkv_tree {
	struct lkv_store *s;  /* fixed */
	uint32_t id;          /* fixed */
	char *name;           /* fixed */
	pthread_rwlock_t lock;
	struct leaf **v;      /* lock; index sorted by low key; v[0]->low is "" */
	struct key16 *pfx;    /* lock; pfx[i]: the first 16 bytes of v[i]->low */
	size_t n, cap;        /* lock */
	atomic_uint_fast64_t nkeys;   /* atomic, changed holding lock exclusively:
					 keys in the tree, as of the last batch
					 applied (lkv_tree_count) */
	atomic_uint bloom_bits;       /* atomic; per key, for the images the
					 flush builds (lkv_tree_set_filter) */
};

/* ---- what one epoch changed (epoch.c) ----
 * ep_mu while its epoch is open; the flusher's alone once sealed. */
struct flush_set {
	struct leaf **leaves;             /* dirtied in the epoch, one ref each */
	size_t n, cap;
	uint64_t *dead;                   /* ids of leaves it deleted */
	size_t ndead, deadcap;
	struct lkv_tree **trees;          /* trees it created */
	size_t ntrees, treecap;
	struct seg_delta *segd;           /* live blob bytes it added/removed */
	size_t nsegd, segdcap;
};

struct seg_delta { uint32_t seg; int64_t bytes; };

/* ---- the durable location table (loctable.c) ---- */
#define LINK_HASHES_MAX 32   /* keys a link lists; a wider change is an image */

/* One delta record of a leaf's chain. */
struct chain_link {
	struct leaf_loc loc;
	uint64_t *hash;       /* XXH3-64 of each key it changes; NULL: not
				 listed (more than LINK_HASHES_MAX) */
	uint32_t nhash;
};

enum { LOC_BASE, LOC_DELTA };

struct loc_ent {
	uint64_t leaf_id;
	uint32_t tree_id;
	uint32_t nkeys;
	struct leaf_loc loc;          /* the base image */
	struct chain_link *chain;     /* the deltas after it, oldest first */
	uint32_t nchain;
	uint8_t *low;
	uint32_t low_len;
	struct bloom bloom;
	/* a commit's entry (layout 3) is LOC_BASE (the above, with no chain)
	 * or LOC_DELTA: loc is the delta appended to the chain, hash lists
	 * every key it changes, and low and bloom are empty */
	uint8_t kind;
	bool touched;                 /* in the table's touched list */
	uint64_t *hash;
	uint32_t nhash;
};

struct lt_tree { uint32_t id; char *name; };
struct lt_file { uint32_t no; uint64_t live, size; };   /* size: not persisted */

/* flush_mu (recovery builds it before other threads start) */
struct loctable {
	struct loc_ent **slot;            /* open addressing on leaf_id */
	size_t cap, n;
	struct lt_tree *trees;
	size_t ntrees;
	struct lt_file *files;            /* live leaf bytes per log file */
	size_t nfiles;
	struct lt_file *segs;             /* live blob bytes per segment */
	size_t nsegs;
	uint64_t epoch;                   /* last epoch applied */
	uint64_t chain;                   /* checksum of the last commit applied */
	uint64_t next_leaf_id;
	uint32_t next_tree_id;
	uint32_t log_file;                /* where the next commit goes */
	uint64_t log_off;
	/* the leaves put, appended to or dropped since the last snapshot
	 * (touched: an entry's flag says it is listed) and between the two
	 * before it (prev): a delta snapshot holds both (snapshot.c).  Kept
	 * only while `track`; *_lost when one could not be noted (or, for
	 * prev, is not known: before the first snapshot after an open) */
	uint64_t *touched, *prev;
	size_t ntouched, touched_cap, nprev;
	bool track, touched_lost, prev_lost;
};

/* ---- a leaf's next record (image.c) ---- */
struct leaf_img {
	uint8_t type;         /* REC_LEAF (full image) or REC_DELTA */
	struct buf body;      /* the raw record body */
	uint32_t nkeys;       /* keys in the leaf once it applies */
	uint64_t *hash;       /* REC_DELTA: XXH3-64 of each key it changes */
	size_t nhash;
};

/* A range of a segment that a commit relies on (blob.c, commit.c). */
struct blob_range {
	uint32_t seg;
	uint32_t len;
	uint64_t off;
	uint64_t csum;        /* XXH3-64 of its bytes */
};

/* ---- the digests of recent commits (digest.c) ---- */
struct kept_digest { uint64_t end; uint8_t *bytes; size_t len; };
struct digest_ring {                /* flush_mu */
	struct kept_digest *v;
	size_t n, cap;
};

/* ---- the store ---- */
#define SNAP_DELTAS_MAX 32          /* deltas on a full snapshot (snapshot.c) */
struct lkv_store {
	/* fixed */
	char *dir;
	struct lkv_options o;
	lkv_io *io;
	bool own_io, ro;
	uint8_t uuid[16];

	pthread_mutex_t trees_mu;
	struct lkv_tree **trees;          /* trees_mu */
	size_t ntrees;                    /* trees_mu */
	uint32_t next_tree_id;            /* trees_mu */
	atomic_uint_fast64_t next_leaf_id;   /* atomic */

	/* epochs (ep_mu) */
	pthread_mutex_t ep_mu;
	pthread_cond_t ep_cv;             /* writers drained / epoch durable */
	uint64_t current, durable;
	uint64_t writers[2];              /* checked in, by epoch parity */
	struct flush_set sets[2];         /* by epoch parity */

	/* flush path (flush_mu) */
	pthread_mutex_t flush_mu;
	struct loctable lt;
	ZSTD_CCtx *cctx;
	uint64_t since_snapshot;          /* log bytes since the last snapshot */
	uint32_t snap_log_file;           /* replay start of the newest snapshot */
	uint32_t keep_log_from;           /* ... of the older one kept beside it */
	struct snap_path {                /* a snapshot and those it builds on */
		bool valid;               /* known and whole */
		uint64_t tip;             /* its epoch */
		uint64_t full_bytes;      /* the full one's record bytes */
		uint64_t delta_bytes;     /* record bytes of the deltas after it */
		uint32_t deltas;
		uint64_t epochs[SNAP_DELTAS_MAX + 1];  /* the full one's, then
							  the deltas' in order */
	} snap_new, snap_old;             /* the newest snapshot's, the one before's */
	uint64_t snap_entry_bytes;        /* bytes per entry of the last one */
	bool tail_ranges;                 /* the last commit relies on blob ranges
					     (or may: at open) */
	atomic_int failed;                /* atomic; first write error, report.c */
	atomic_bool frozen;               /* atomic; lkv_freeze: changes refused */
	atomic_int changing;              /* atomic; changes admitted (write.c) */
	pthread_mutex_t freeze_mu;        /* owner: freezing and thawing */
	uint64_t salvaged;                /* fixed after open: log bytes LKV_SALVAGE
					     dropped */
	uint64_t log_damage;              /* fixed after open: damaged places the
					     replay read past */
	uint64_t lost_leaf_images;        /* fixed after open: leaf images named by
					     commits but lost to damage */
	uint64_t rebuilt_commits;         /* fixed after open: commits lost to damage
					     and rebuilt from digests */
	uint64_t snap_retry_ns;           /* no snapshot before (one failed) */
	atomic_bool flush_bg;             /* atomic; the running flush is a
					     background one (image.c) */
	_Atomic uint64_t fg_flush_ns;     /* atomic; when a caller of lkv_flush
					     last asked for a flush (image.c) */

	/* the user's record outside the log (meta.c; meta_mu) */
	pthread_mutex_t meta_mu;
	uint8_t *meta;
	size_t meta_len;
	uint64_t meta_seq;
	bool has_meta;

	bool log_torn;                    /* a failed flush left bytes past log_off */
	uint64_t log_base;                /* log bytes in the files before the
					     current one, since the open */
	struct digest_ring digests;       /* of the commits within reach */
	bool log_unnamed;                 /* the log file's name is not durable yet */
	atomic_int stall_err;             /* atomic; the error of the last flush if
					     it failed for space, else 0 */
	_Atomic uint64_t stall_until_ns;  /* atomic; no retry for writers before */
	uint64_t stall_pause_ms;          /* the pause after the last failure */
	uint64_t stall_since_ns;          /* when the stall began */

	/* background thread (bg_mu; the two below are the opener's) */
	pthread_t flusher;
	bool flusher_running;
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	bool bg_stop, bg_kick;
	bool bg_consolidate;              /* leaves wait in cons */
	struct leaf **cons;               /* chains to consolidate, one ref each */
	size_t ncons, conscap;
	uint64_t gc_last_ns;              /* the background thread's own */

	/* the log zeroed ahead of the flush (logzero.c; zero_mu) */
	pthread_t zeroer;
	bool zeroer_running;              /* the opener's */
	pthread_mutex_t zero_mu;
	pthread_cond_t zero_cv;
	bool zero_stop, zero_kick, zero_failed;
	_Atomic uint64_t log_zeroed;      /* atomic; written and synced below this */
	_Atomic uint64_t log_pos;         /* atomic; end of the last flush's records */
	uint64_t log_written;             /* end of the last flush past log_zeroed */

	/* cache (cache_mu) */
	pthread_mutex_t cache_mu;
	struct leaf *hand;                /* CLOCK hand into the resident ring */
	atomic_size_t cache_bytes, dirty_bytes;   /* atomic */
	atomic_size_t cache_peak;         /* atomic; most cache_bytes since open */
	atomic_size_t resident, nleaves;  /* atomic; leaves on the ring; in indexes */

	/* read handles of log files and segments (files_mu) */
	pthread_rwlock_t files_mu;
	struct { enum file_kind kind; uint32_t no; lkv_file *f; } *files;
	uint32_t format_version;          /* fixed after open (format.c) */
	size_t nfiles;
	lkv_file *log;                    /* the log file being appended: flush_mu
					     and zero_mu to change, either to read */

	/* blob segments (blob_mu) */
	pthread_mutex_t blob_mu;
	pthread_cond_t blob_cv;           /* appends in flight finished */
	lkv_file *seg;                    /* being appended; NULL until needed */
	uint32_t seg_no;                  /* its number (highest in use) */
	uint64_t seg_end;                 /* reserved end */
	unsigned seg_writers;             /* appends in flight */
	bool seg_dirty, seg_new;          /* needs sync; needs a directory sync */
	uint64_t seg_synced;              /* its bytes below this are synced */
	struct retired { lkv_file *f; uint32_t no; uint64_t size, synced; }
		*seg_unsynced;            /* rolled over, not yet synced */
	size_t nseg_unsynced;
	atomic_uint_fast64_t blob_disk;   /* atomic; bytes in segment files */
	atomic_int_fast64_t blob_live_mem; /* atomic; live blob bytes, unflushed
					      changes included */
	struct seg_count { uint32_t seg; int n; } *seg_pending;  /* appends whose
					     batch has not ended, per segment */
	size_t nseg_pending;

	pthread_mutex_t gc_mu;            /* one GC pass at a time */

	/* stats (relaxed atomics) */
	atomic_uint_fast64_t st_hits, st_misses, st_bloom, st_read, st_written,
		st_evict, st_bread, st_bwritten, st_raw, st_flushes, st_flush_ns,
		st_flush_max, st_snaps, st_snap_full, st_snap_bytes, st_csum, st_blob_written, st_blob_raw, st_blob_read,
		st_gc_runs, st_gc_moved, st_flush_errors, st_deltas, st_consolidated,
		st_delta_read, st_user, st_zero;
};

#define STAT_ADD(s, f, n) atomic_fetch_add_explicit(&(s)->f, (n), memory_order_relaxed)

/* ---- checksum.c ---- */
uint64_t checksum2(const void *a, size_t al, const void *b, size_t bl);
int  checksum_range(lkv_io *io, lkv_file *f, uint64_t off, uint64_t len, uint64_t *out);

/* ---- report.c ---- */
void store_log(lkv_store *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void store_log_stderr(void *arg, int level, const char *msg);  /* default sink */
int  store_fail(lkv_store *s, int err);   /* records the first write error */
_Noreturn void lkv_assert_fail(const char *expr, const char *file, int line);

/* Checks an invariant that only a bug can break (never bad input or an I/O
 * error: those are errors).  Compiled in unless NDEBUG, as in the tests and
 * the sanitizer build; a failure reports file and line and aborts. */
#ifdef NDEBUG
#define LKV_ASSERT(x) ((void)0)
#else
#define LKV_ASSERT(x) ((x) ? (void)0 : lkv_assert_fail(#x, __FILE__, __LINE__))
#endif

/* Whether some thread holds the lock (for assertions: a lock held by
 * another thread passes, one held by none fails). */
static inline bool mu_held(pthread_mutex_t *m)
{
	if (pthread_mutex_trylock(m))
		return true;
	pthread_mutex_unlock(m);
	return false;
}

static inline bool rw_write_held(pthread_rwlock_t *l)
{
	if (pthread_rwlock_tryrdlock(l))
		return true;
	pthread_rwlock_unlock(l);
	return false;
}

/* ---- leaf.c ---- */
struct leaf *leaf_new(struct lkv_tree *t, uint64_t id, const void *low, size_t low_len);
void leaf_ref(struct leaf *l);
void leaf_unref(struct leaf *l);

/* ---- entries.c ---- */
struct entries *entries_new(void);
void entries_free(struct entries *d);
/* Index of the first entry >= key; *found when equal. */
uint32_t entries_search(const struct entries *d, const void *k, size_t kl, bool *found);
int  entries_put(struct entries *d, const void *k, size_t kl, const void *v, size_t vl,
	      uint8_t flags);
bool entries_del(struct entries *d, const void *k, size_t kl);
int  entries_change(struct entries *d, const void *k, size_t kl, const void *v, size_t vl,
		    uint8_t flags, uint64_t ep, uint64_t logged);
int  entries_remove(struct entries *d, const void *k, size_t kl, uint64_t ep);
void entries_logged(struct entries *d, uint64_t logged);
int  entries_split(struct entries *d, size_t keep, struct entries **right);
size_t entries_split_smaller(const struct entries *d, size_t keep);
int  entries_absorb(struct entries *d, struct entries *right);
int  entries_absorb_changed(struct entries *d, struct entries *right, uint64_t ep);
int  entries_moved(struct entries *d, const void *k, size_t kl, uint64_t ep);
size_t entries_mem(const struct entries *d);
int  entries_encode(const struct entries *d, uint32_t tree_id, uint64_t leaf_id, struct buf *out);
/* Decodes a raw leaf body; takes ownership of `raw` on success. */
int  entries_decode(uint8_t *raw, size_t len, uint32_t tree_id, uint64_t leaf_id,
		 struct entries **out);
int  keycmp(const void *a, size_t al, const void *b, size_t bl);
/* keycmp of a and b given their prefixes (key16_of). */
static inline int keycmp16(struct key16 ap, const void *a, size_t al,
			   struct key16 bp, const void *b, size_t bl)
{
	if (ap.hi != bp.hi)
		return ap.hi < bp.hi ? -1 : 1;
	if (ap.lo != bp.lo)
		return ap.lo < bp.lo ? -1 : 1;
	if (al <= 16 && bl <= 16)    /* zero padding: the shorter is a prefix */
		return al < bl ? -1 : al > bl;
	return keycmp(a, al, b, bl);
}

/* ---- delta.c ---- */
struct delta_rd {
	struct rd r;
	uint32_t tree_id, nkeys, nops, done;
	uint64_t leaf_id, prev;
	const uint8_t *last_k;
	size_t last_kl;
};
struct delta_op {
	uint8_t op, flags;        /* op: 0 put, 1 splice, 2 delete, 3 patch */
	const uint8_t *k, *v;     /* v: the value, a splice's middle, or a
				     patch's encoded windows */
	size_t kl, vl;
	uint32_t pre, suf;        /* splice */
	uint32_t newlen, nwin;    /* patch */
};
int  delta_encode(const struct entries *d, uint32_t tree_id, uint64_t leaf_id, uint64_t prev,
		  uint64_t after, struct buf *out, uint64_t **hash, size_t *nhash);
int  delta_open(const uint8_t *raw, size_t len, struct delta_rd *it);
int  delta_next(struct delta_rd *it, struct delta_op *op);
int  delta_apply(struct entries *d, const uint8_t *raw, size_t len, uint32_t tree_id,
		 uint64_t leaf_id, uint64_t prev);
int  delta_hashes(const uint8_t *raw, size_t len, uint64_t **hash, size_t *nhash);
/* Keys whose value is unknown after a damaged delta was skipped (fsck). */
struct lost_set { uint64_t *h; size_t n, cap; };
int  lost_add(struct lost_set *s, uint64_t h);
bool lost_has(const struct lost_set *s, uint64_t h);
int  delta_apply_lenient(struct entries *d, const uint8_t *raw, size_t len, uint32_t tree_id,
			 uint64_t leaf_id, struct lost_set *lost);

/* ---- image.c ---- */
/* The checksum of the last record of l's chain (the one a delta follows). */
static inline uint64_t leaf_chain_tail(const struct leaf *l)
{
	return l->nchain ? l->chain[l->nchain - 1].csum : l->loc.csum;
}
int  leaf_image(lkv_store *s, struct leaf *l, bool background, struct leaf_img **out);
void leaf_img_free(struct leaf_img *img);
bool leaf_chain_long(const struct leaf *l);
/* When the queued consolidations may run (CLOCK_MONOTONIC ns). */
uint64_t consolidation_due(lkv_store *s);

/* ---- bloom.c ---- */
void bloom_build(struct bloom *b, const uint8_t *raw_leaf, size_t len, unsigned bits_per_key);
bool bloom_may_contain(const struct bloom *b, const void *k, size_t kl);
/* h: lkv_checksum of each key; shared bits are copied first */
void bloom_add_hashes(struct bloom *b, const uint64_t *h, size_t n);
void bloom_free(struct bloom *b);
/* dst shares src's bits (they never change); bloom_free each. */
void bloom_copy(struct bloom *dst, const struct bloom *src);
/* Bytes of the heap b's bits take; *shared: another filter holds them too. */
size_t bloom_mem(const struct bloom *b, bool *shared);
void bloom_encode(const struct bloom *b, struct buf *out);
int  bloom_decode(struct bloom *b, struct rd *r);

/* ---- record.c ---- */
#define REC_HDR     32
#define REC_LEAF     1
#define REC_COMMIT   2
#define REC_SNAPSHOT 3
#define REC_DELTA    4
#define REC_SNAPDELTA 5     /* a delta snapshot (snapshot.c), layout 3 only */
/* The body layout a record's header names: 0 for the records of formats 1
 * and 2, REC_LAYOUT for those this build writes (format 3: chains). */
#define REC_LAYOUT   3

struct rec_hdr {
	uint8_t type, codec;
	uint16_t layout;
	uint32_t stored_len, raw_len;
	uint64_t epoch, csum;
};

int  record_append(struct buf *out, uint8_t type, uint64_t epoch, const void *raw,
		   size_t raw_len, ZSTD_CCtx *cctx, int level, uint64_t *csum);
int  record_parse_header(const uint8_t *p, struct rec_hdr *h);
/* Verifies the checksum of header+body and returns the raw body
 * (malloc'd) in *raw.  -EIO on mismatch, -EUCLEAN on a bad body. */
int  record_open(const uint8_t *hdr_and_body, const struct rec_hdr *h, uint8_t **raw);
int  record_read(lkv_store *s, lkv_file *f, uint64_t off, uint64_t size, struct rec_hdr *h,
		 uint8_t **rec);

/* ---- loctable.c ---- */
void loctable_init(struct loctable *lt);
void loctable_free(struct loctable *lt);
size_t loctable_mem(const struct loctable *lt);
struct loc_ent *loctable_get(const struct loctable *lt, uint64_t id);
uint64_t loctable_file_live(const struct loctable *lt, uint32_t file);
struct lt_file *loctable_seg(struct loctable *lt, uint32_t no);  /* adds it */
struct lt_file *loctable_log(struct loctable *lt, uint32_t no);  /* adds it */
void loctable_seg_drop(struct loctable *lt, uint32_t no);
struct lt_file *loctable_seg_find(struct loctable *lt, uint32_t no);
int  loctable_put(struct loctable *lt, struct loc_ent *e);   /* takes e */
int  loctable_append(struct loctable *lt, struct loc_ent *d); /* takes d */
int  loctable_copy(struct loctable *to, const struct loctable *from);
int  loctable_add_tree(struct loctable *lt, uint32_t id, const uint8_t *name, size_t len);
void loctable_del(struct loctable *lt, uint64_t id);
/* After a snapshot: the touched list becomes prev, and touched starts
 * empty. */
void loctable_rotate(struct loctable *lt);
/* Commit bodies and snapshot bodies share the entry and tree encodings. */
void loc_ent_encode(const struct loc_ent *e, struct buf *out);     /* layout 0 */
int  loc_ent_decode(struct rd *r, struct loc_ent **out);             /* layout 0 */
int  loc_ent_decode_as(struct rd *r, uint16_t layout, bool snap, struct loc_ent **out);
void commit_ent_encode_base(const struct loc_ent *e, struct buf *out);
void commit_ent_encode_delta(uint64_t id, uint32_t tree_id, uint32_t nkeys,
			     const struct leaf_loc *loc, const uint64_t *hash, size_t nhash,
			     struct buf *out);
void snap_ent_encode(const struct loc_ent *e, struct buf *out);
void loc_ent_free(struct loc_ent *e);
void trees_encode(const struct lt_tree *t, size_t n, struct buf *out);
int  trees_decode(struct loctable *lt, struct rd *r, bool apply);

/* ---- digest.c ---- */
#define DIGEST_REACH (64u << 10)   /* log bytes a commit's digests cover */

struct digest_leaf {
	uint64_t id;
	uint32_t tree;
	struct leaf_loc loc;    /* csum unknown (0) when decoded */
	uint8_t isnew;
	uint8_t kind;           /* LOC_BASE, or LOC_DELTA: loc is a delta */
	const uint8_t *low;     /* when isnew */
	size_t low_len;
	/* LOC_DELTA: the hashes of the keys it changes (encoding: hash,
	 * nhash; decoded: hash_le, nhash u64 LE in the body), or nhash
	 * LINK_HASHES_MAX + 1: not listed */
	const uint64_t *hash;
	const uint8_t *hash_le;
	size_t nhash;
};

struct digest {
	uint64_t epoch, prev;
	struct digest_tree { uint32_t id; const uint8_t *name; size_t name_len; } *trees;
	size_t ntrees;
	struct digest_leaf *leaves;
	size_t nleaves;
	uint64_t *dead;
	size_t ndead;
	struct seg_delta *segd;
	size_t nsegd;
};

void digest_encode(struct buf *out, uint64_t epoch, uint64_t prev,
		   const struct digest_leaf *w, size_t n, const struct flush_set *fs);
int  digest_keep(struct digest_ring *ring, uint64_t end, const struct buf *d);
void digest_forget(struct digest_ring *ring, uint64_t from);
void digest_ring_free(struct digest_ring *ring);
void digest_section(struct buf *body, const struct digest_ring *ring);
int  digests_decode(struct rd *r, uint16_t layout, struct digest **out, size_t *n);
void digests_free(struct digest *v, size_t n);

/* ---- commit.c ---- */
struct commit_enc {
	struct buf body;
	size_t count_at;        /* where the leaf count goes */
	uint32_t nleaves;
};
void commit_enc_begin(struct commit_enc *c, uint64_t chain, uint64_t next_leaf,
		      uint32_t next_tree, struct lkv_tree *const *trees, size_t ntrees);
void commit_enc_base(struct commit_enc *c, const struct loc_ent *e);
void commit_enc_delta(struct commit_enc *c, uint64_t id, uint32_t tree_id, uint32_t nkeys,
		      const struct leaf_loc *loc, const uint64_t *hash, size_t nhash);
int  commit_enc_end(struct commit_enc *c, const uint64_t *dead, size_t ndead,
		    const struct seg_delta *segd, size_t nsegd, const struct blob_range *ranges,
		    size_t nranges, const struct digest_ring *ring);
int  commit_digests(const uint8_t *body, size_t len, uint16_t layout, struct digest **out,
		    size_t *n);
int  commit_ranges(const uint8_t *body, size_t len, uint16_t layout, struct blob_range **out,
		   size_t *n);
/* check (may be NULL) vets every leaf location before anything applies. */
typedef int (*loc_check_fn)(void *arg, const struct loc_ent *e);
int  commit_apply(struct loctable *lt, const uint8_t *body, size_t len, uint16_t layout,
		  uint64_t epoch, uint64_t csum, loc_check_fn check, void *arg);
int  commit_apply_own(struct loctable *lt, const uint8_t *body, size_t len, uint64_t epoch,
		      uint64_t csum);

/* ---- snapshot.c ---- */
void snapshot_encode(const struct loctable *lt, struct buf *out);
void snapshot_head_encode(const struct loctable *lt, const uint64_t *base, struct buf *out);
int  snapshot_decode(struct loctable *lt, const uint8_t *body, size_t len, uint16_t layout);
int  snapshot_decode_delta(struct loctable *lt, const uint8_t *body, size_t len,
			   bool on_base);
int  snapshot_write(lkv_store *s, bool full);
void snapshot_due(lkv_store *s, bool closing);
int  snapshot_load_newest(lkv_store *s);
int  snapshot_check(lkv_store *s, bool repair, void (*bad)(void *, const char *, int),
		    void *arg);

/* ---- meta.c ---- */
int  meta_load(lkv_store *s);

/* ---- format.c ---- */
int  format_create(lkv_store *s);
int  format_read(lkv_store *s);

/* ---- tree.c ---- */
int  tree_create(lkv_store *s, uint32_t id, const char *name, struct lkv_tree **out);
void tree_free(struct lkv_tree *t);
size_t tree_mem(struct lkv_tree *t);
size_t tree_find(const struct lkv_tree *t, const void *k, size_t kl);
int  tree_insert_leaf(struct lkv_tree *t, size_t pos, struct leaf *l);
int  tree_append_leaf(struct lkv_tree *t, struct leaf *l);
int  tree_sort(struct lkv_tree *t);
void tree_remove_leaf(struct lkv_tree *t, size_t pos);
struct lkv_tree *store_tree_by_id(lkv_store *s, uint32_t id);

/* ---- files.c ---- */
struct file_id {
	enum file_kind kind;
	uint64_t no;            /* log file or segment number; snapshot epoch */
};
#define FILE_NAME_MAX 32
#define FORMAT_PRIMARY 0        /* file_id.no of FORMAT */
#define FORMAT_BACKUP  1        /* ... and of FORMAT.bak */
void file_name(char out[FILE_NAME_MAX], enum file_kind kind, uint64_t no);
bool file_parse(const char *name, struct file_id *id, bool *tmp);
/* id NULL: not a store file. */
typedef int (*files_fn)(void *arg, const struct file_id *id, bool tmp, const char *name);
int  files_list(lkv_io *io, files_fn fn, void *arg);
int  file_size(lkv_io *io, const char *name, uint64_t *size);
int  file_write_whole(lkv_io *io, const char *name, const void *p, size_t len);
int  store_read_at(lkv_store *s, enum file_kind kind, uint32_t no, uint64_t off, void *buf,
		   size_t len);
void store_file_forget(lkv_store *s, enum file_kind kind, uint32_t no);
void store_files_close(lkv_store *s);

/* ---- cache.c ---- */
int  cache_load(lkv_store *s, struct leaf *l);   /* resident and pinned */
/* Reads and verifies l's chain from disk (no cache): base at loc, then n
 * deltas; -EIO with *why and *at (-1: the base, else the delta). */
int  leaf_read(lkv_store *s, struct leaf *l, const struct leaf_loc *loc,
	       const struct leaf_loc *chain, uint32_t n, struct entries **out,
	       const char **why, bool *bad_bytes, int *at);
int  leaf_read_base(lkv_store *s, struct leaf *l, const struct leaf_loc *loc,
		    struct entries **out, const char **why, bool *bad_bytes);
struct lost_set;
int  leaf_read_delta(lkv_store *s, struct leaf *l, const struct leaf_loc *loc, uint64_t prev,
		     struct entries *d, struct lost_set *lost, const char **why,
		     bool *bad_bytes);
void cache_release(struct leaf *l);
void cache_track(lkv_store *s, struct leaf *l);  /* recharge after a change */
void cache_untrack(lkv_store *s, struct leaf *l);
void cache_evict(lkv_store *s);

/* ---- blob.c ---- */
#define BLOB_REF_LEN 31
struct blob_ref {
	uint32_t seg;
	uint64_t off;
	uint32_t len;         /* whole record */
	uint32_t raw_len;     /* the value */
	uint8_t codec;
	uint16_t klen;
	uint64_t csum;        /* the record's header checksum */
};
void blob_ref_encode(const struct blob_ref *r, uint8_t out[BLOB_REF_LEN]);
int  blob_ref_decode(const uint8_t *p, size_t n, struct blob_ref *r);
int  blob_write(lkv_store *s, uint32_t tree_id, const void *k, size_t kl, const void *v,
		size_t vl, struct blob_ref *r);
int  blob_copy(lkv_store *s, const uint8_t *rec, size_t len, const struct blob_ref *old,
	       struct blob_ref *r);
/* What one flush syncs of the segments (blob.c). */
struct blob_plan {
	struct retired *v;                /* rolled-over segments, closed after */
	size_t n;
	lkv_file *cur;                    /* the current segment, if written to */
	uint64_t cur_end;                 /* ... up to here */
	bool dir;                         /* a new segment: sync the directory */
	bool together;                    /* synced with the log; ranges listed */
	struct blob_range *ranges;
	size_t nranges;
};
int  blob_plan(lkv_store *s, struct blob_plan *p);
size_t blob_plan_files(const struct blob_plan *p, lkv_file **f);
void blob_plan_end(lkv_store *s, struct blob_plan *p, bool synced);
bool blob_range_ok(lkv_store *s, const struct blob_range *r);
uint32_t blob_current(lkv_store *s, uint64_t *end);
int  blob_hold(lkv_store *s, uint32_t seg);
void blob_done(lkv_store *s, uint32_t seg);
bool blob_pending(lkv_store *s, uint32_t seg);
void blob_seal(lkv_store *s);
int  blob_read(lkv_store *s, const struct blob_ref *r, uint64_t off, void *buf, size_t len);
int  blob_unreadable(lkv_store *s, const struct blob_ref *r);
int  blob_read_record(lkv_store *s, const struct blob_ref *r, uint8_t **rec);
int  blob_next(lkv_store *s, uint32_t no, uint64_t size, uint64_t *off, uint32_t *tree_id,
	       uint8_t key[LKV_KEY_MAX], struct blob_ref *r);

/* ---- batch.c ---- */
lkv_store *lkv_batch_store(const lkv_batch *b);
int  batch_put_inline(lkv_batch *b, lkv_tree *t, const void *k, size_t kl, const void *v,
		      size_t vl);
int  batch_put_blob(lkv_batch *b, lkv_tree *t, const void *k, size_t kl,
		    const struct blob_ref *r);
bool batch_has_blobs(const lkv_batch *b);
int  batch_commit(lkv_batch *b, uint64_t *epoch);
int  batch_relocate(lkv_batch *b, lkv_tree *t, const void *k, size_t kl,
		    const struct blob_ref *from, const struct blob_ref *to);
int  batch_appended(lkv_batch *b, uint32_t seg);
/* Marks l dirty for a full image at the next flush; with `lost` (fsck) a
 * leaf that is not resident because its chain cannot be read gets repl
 * (or no entries) first, and then it returns 1 (the caller owns the
 * tree's key count: the lost chain's count is in the location table,
 * under flush_mu, which may not be taken inside the tree's lock).  Takes
 * repl. */
int  batch_mark_rewrite(lkv_store *s, struct leaf *l, bool lost, struct entries *repl);
/* Marks l dirty with no change, for a background flush to consolidate
 * its chain (image.c); a foreground flush writes what changed, if any. */
int  batch_mark_consolidate(lkv_store *s, struct leaf *l);
size_t batch_size(const lkv_batch *b);

/* ---- iter.c ---- */
/* The stored entry of key k: its flags and value bytes as they are in the
 * leaf (a blob reference is not followed). */
int  tree_get_raw(lkv_tree *t, const void *k, size_t kl, uint8_t *flags, void *buf,
		  size_t cap, size_t *vl);

/* ---- gc.c ---- */
int  gc_pass(lkv_store *s, bool forced, bool bg);
int  gc_consolidate(lkv_store *s);
bool gc_space_pressure(lkv_store *s);

/* ---- epoch.c ---- */
uint64_t epoch_enter(lkv_store *s);
void epoch_exit(lkv_store *s, uint64_t e);
int  epoch_dirty(lkv_store *s, struct leaf *l, uint64_t e);
int  epoch_dead(lkv_store *s, struct leaf *l, uint64_t e);
int  epoch_add_tree(lkv_store *s, struct lkv_tree *t, uint64_t e);
bool epoch_has_work(lkv_store *s);
void epoch_kick(lkv_store *s);
void epoch_nudge(lkv_store *s);
int  epoch_seg_delta(lkv_store *s, uint32_t seg, int64_t bytes, uint64_t e);
uint64_t epoch_seal(lkv_store *s, struct flush_set *out);
int  epoch_fold(lkv_store *s, uint64_t e, struct flush_set *fs);
void flush_set_free(struct flush_set *fs);
bool flush_set_empty(const struct flush_set *fs);

/* ---- flush.c ---- */
int  flush_through(lkv_store *s, uint64_t e, bool bg);
int  log_seal(lkv_store *s);

/* ---- freeze.c ---- */
/* A change (a commit, a blob, GC, META) runs between these; change_begin
 * refuses it with -EROFS while the gate is shut.  freeze_gate_close shuts
 * it and waits for those admitted to end (false: it was shut already). */
int  change_begin(lkv_store *s);
void change_end(lkv_store *s);
bool freeze_gate_close(lkv_store *s);
void freeze_gate_open(lkv_store *s);
/* True when the store is frozen and settled (every change durable);
 * waits for a freeze under way to end. */
bool freeze_settled(lkv_store *s);

/* ---- background.c ---- */
int  flusher_start(lkv_store *s);
void flusher_stop(lkv_store *s);
int  log_open_append(lkv_store *s, uint32_t no, uint64_t off);

/* ---- logzero.c ---- */
int  logzero_start(lkv_store *s);
void logzero_stop(lkv_store *s);
bool logzero_enter(lkv_store *s, uint64_t end);
void logzero_leave(lkv_store *s, bool held, uint64_t end);
void logzero_kick(lkv_store *s, uint64_t bytes, uint64_t end);
void logzero_switch(lkv_store *s, lkv_file *f, uint64_t off);
int  logzero_cut(lkv_store *s, uint64_t off);
int  logzero_end(lkv_store *s, uint64_t off, lkv_file **old);

/* ---- recovery.c ---- */
int  recovery_run(lkv_store *s);

#endif
