/* SPDX-License-Identifier: MIT */
/*
 * The leaf cache: paging leaf contents in from the log files, and evicting
 * clean ones with CLOCK when the resident bytes pass the budget.
 *
 * Every resident leaf sits on one circular ring (cache_mu).  An access sets
 * the leaf's reference bit; the hand clears set bits and evicts the first
 * leaf it finds with the bit clear that is clean (not dirty, no captured
 * image waiting for a flush) and not pinned.  Eviction frees the entries
 * only: the leaf stays in the index with its location and bloom filter.
 *
 * The budget (o.cache_bytes) is a bound, not a target: cache_bytes, every
 * resident leaf's entries (pinned and dirty ones too), stays at or below
 * it.  Two things make it so:
 *  - a batch grows its leaves under their tree's lock, where nothing can
 *    be evicted, so eviction runs down to a low mark, a sixteenth (at
 *    least 64 KiB) below the budget, before and after each batch, and the
 *    batches in flight grow into that gap;
 *  - a load makes room before it installs: it reserves its leaf's bytes
 *    with a compare-and-swap that succeeds only below the low mark,
 *    evicting as long as it does not, so loads never take the gap.
 * Dirty leaves cannot be evicted, so their limit (a quarter of the
 * budget, twice that before a writer must flush: write.c) counts them as
 * the cache does (batch.c, dirty_charge):
 * counted as serialized bytes, a 4 MiB cache held about 3 MiB of dirty
 * leaves and writers passed the budget by up to 37 KiB in 5 of 12 runs.
 * What can still pass it: batches in flight that add more than the gap,
 * and a load that finds nothing to evict in RESERVE_TRIES tries (every
 * leaf pinned, dirty or locked), which installs anyway rather than fail.
 * cache_peak says whether it happened; generic/092 asserts it does not,
 * with four writers and a 4 MiB cache.
 *
 * A leaf is paged in from its chain: the base image, then each delta
 * record applied in order (delta.c).  Every record read verifies its
 * checksum, that it is the one the location table expects (its
 * checksum), and that the body decodes to this leaf of this tree (a delta
 * also names the record it follows).  A failure is -EIO for the
 * operation, counted and logged with the file and offset; nothing is
 * installed.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define EVICT_SCAN_MAX 1024
#define RESERVE_TRIES 64    /* evictions a load tries before it installs anyway */

/* The gap eviction keeps below the budget for batches in flight: a
 * sixteenth, and at least 64 KiB (a few leaves' growth). */
static size_t low_mark(const lkv_store *s)
{
	size_t slack = s->o.cache_bytes / 16 > (64u << 10) ? s->o.cache_bytes / 16 : 64u << 10;
	return s->o.cache_bytes > slack ? s->o.cache_bytes - slack : 0;
}

static void note_peak(lkv_store *s, size_t now)
{
	size_t peak = atomic_load(&s->cache_peak);
	while (now > peak && !atomic_compare_exchange_weak(&s->cache_peak, &peak, now))
		;
}

/* Adds delta (may be negative) to the resident bytes, keeping their peak. */
static void cache_charge(lkv_store *s, ssize_t delta)
{
	if (delta <= 0) {
		atomic_fetch_sub(&s->cache_bytes, (size_t)-delta);
		return;
	}
	note_peak(s, atomic_fetch_add(&s->cache_bytes, (size_t)delta) + (size_t)delta);
}

/* ---- the ring ---- */

static void ring_add(lkv_store *s, struct leaf *l)
{
	pthread_mutex_lock(&s->cache_mu);
	if (!s->hand) {
		l->ring_next = l->ring_prev = l;
		s->hand = l;
	} else {
		l->ring_next = s->hand;
		l->ring_prev = s->hand->ring_prev;
		l->ring_prev->ring_next = l;
		s->hand->ring_prev = l;
	}
	atomic_fetch_add(&s->resident, 1);
	pthread_mutex_unlock(&s->cache_mu);
}

static void ring_del_locked(lkv_store *s, struct leaf *l)
{
	if (l->ring_next == l) {
		s->hand = NULL;
	} else {
		l->ring_prev->ring_next = l->ring_next;
		l->ring_next->ring_prev = l->ring_prev;
		if (s->hand == l)
			s->hand = l->ring_next;
	}
	l->ring_next = l->ring_prev = NULL;
	atomic_fetch_sub(&s->resident, 1);
}

/*
 * Brings the charge of a resident leaf up to date after its entries
 * changed, and puts a newly resident leaf on the ring.  Caller holds the
 * tree's write lock.
 */
void cache_track(lkv_store *s, struct leaf *l)
{
	LKV_ASSERT(rw_write_held(&l->tree->lock));
	size_t now = l->ents ? entries_mem(l->ents) : 0;
	if (l->ents && !l->ring_next)
		ring_add(s, l);
	cache_charge(s, (ssize_t)now - (ssize_t)l->charged);
	l->charged = now;
	atomic_store_explicit(&l->clock_ref, 1, memory_order_relaxed);
}

/* Takes a leaf that leaves the index (or the store) off the ring. */
void cache_untrack(lkv_store *s, struct leaf *l)
{
	pthread_mutex_lock(&s->cache_mu);
	if (l->ring_next)
		ring_del_locked(s, l);
	pthread_mutex_unlock(&s->cache_mu);
	cache_charge(s, -(ssize_t)l->charged);
	l->charged = 0;
}

static bool evictable(const struct leaf *l)
{
	return l->ents && !l->dirty_epoch && !l->sealed && !l->dead_epoch &&
	       atomic_load(&l->pins) == 0;
}

/* Evicts clean leaves until the cache holds at most `target` bytes (or a
 * bounded scan finds nothing more); returns how many, and sets *locked
 * when it passed over one only because a writer held its tree.  Called
 * with no tree lock held. */
static size_t evict_to(lkv_store *s, size_t target, bool *locked)
{
	size_t n = 0;
	if (atomic_load(&s->cache_bytes) <= target)
		return 0;
	pthread_mutex_lock(&s->cache_mu);
	for (size_t scan = 0; s->hand && scan < EVICT_SCAN_MAX &&
	     atomic_load(&s->cache_bytes) > target; scan++) {
		struct leaf *l = s->hand;
		s->hand = l->ring_next;
		if (atomic_exchange_explicit(&l->clock_ref, 0, memory_order_relaxed) ||
		    !evictable(l))
			continue;
		if (pthread_rwlock_trywrlock(&l->tree->lock)) {
			*locked = true;
			continue;
		}
		if (evictable(l)) {
			ring_del_locked(s, l);
			entries_free(l->ents);
			l->ents = NULL;
			cache_charge(s, -(ssize_t)l->charged);
			l->charged = 0;
			STAT_ADD(s, st_evict, 1);
			n++;
		}
		pthread_rwlock_unlock(&l->tree->lock);
	}
	pthread_mutex_unlock(&s->cache_mu);
	return n;
}

/* Brings the cache down to its low mark once it has passed it. */
void cache_evict(lkv_store *s)
{
	bool locked = false;
	evict_to(s, low_mark(s), &locked);
}

/* Charges `need` bytes to the cache for a load about to install them,
 * within the budget: evicts while they do not fit, and charges anyway
 * when nothing more can go (every leaf pinned or dirty).  It tries again
 * (after a yield, RESERVE_TRIES times at most) only while it found
 * leaves it could have evicted but for a writer holding their tree:
 * a cache full of dirty leaves costs one scan, not a spin. */
static void cache_reserve(lkv_store *s, size_t need)
{
	size_t room = low_mark(s);      /* the gap above is the writers' */
	bool again = true;              /* the last scan evicted, or met locks */
	for (int tries = 0;;) {
		size_t cur = atomic_load(&s->cache_bytes);
		if (cur + need <= room) {
			if (atomic_compare_exchange_weak(&s->cache_bytes, &cur, cur + need)) {
				note_peak(s, cur + need);
				return;
			}
			continue;
		}
		if (!again || tries++ == RESERVE_TRIES) {
			cache_charge(s, (ssize_t)need);
			return;
		}
		if (tries > 2)
			sched_yield();  /* a writer holds their tree */
		bool locked = false;
		again = evict_to(s, need < room ? room - need : 0, &locked) > 0 || locked;
	}
}

/* ---- loading ---- */

static int cache_read_install(lkv_store *s, struct leaf *l);

/*
 * Reads and verifies the record at loc, which must be of `type` (and
 * epoch-free: any), into *raw (malloc'd, its length in *len).  -EIO with
 * *why when it cannot be read or is not the record loc names, -ENOMEM.
 */
static int read_record(lkv_store *s, const struct leaf_loc *loc, uint8_t type, uint8_t **raw,
		       size_t *len, const char **why, bool *bad_bytes)
{
	uint8_t *rec = malloc(loc->len);
	if (!rec)
		return -ENOMEM;
	struct rec_hdr h;
	int err = store_read_at(s, FILE_LOG, loc->file, loc->off, rec, loc->len);
	*bad_bytes = !err;
	*why = err ? strerror(-err) : NULL;
	if (!err && (record_parse_header(rec, &h) || h.type != type ||
		     h.csum != loc->csum || REC_HDR + (uint64_t)h.stored_len != loc->len))
		err = -EIO;
	if (!err)
		err = record_open(rec, &h, raw);
	if (!err)
		*len = h.raw_len;
	free(rec);
	if (err && err != -ENOMEM && !*why)
		*why = "checksum mismatch or not the expected record";
	return err == -ENOMEM ? err : err ? -EIO : 0;
}

/* Reads and decodes l's base image at loc into *out. */
int leaf_read_base(lkv_store *s, struct leaf *l, const struct leaf_loc *loc,
		   struct entries **out, const char **why, bool *bad_bytes)
{
	uint8_t *raw;
	size_t len;
	int err = read_record(s, loc, REC_LEAF, &raw, &len, why, bad_bytes);
	if (err)
		return err;
	err = entries_decode(raw, len, l->tree->id, l->id, out);
	if (err) {
		free(raw);
		if (err == -ENOMEM)
			return err;
		*why = "malformed leaf";
		return -EIO;
	}
	return 0;
}

/*
 * Reads the delta at loc and applies it to d (l's entries as of the
 * record with checksum prev; lost: NULL, or leniently, see delta.c).
 * -EIO with *why; d may then be changed in part.
 */
int leaf_read_delta(lkv_store *s, struct leaf *l, const struct leaf_loc *loc, uint64_t prev,
		    struct entries *d, struct lost_set *lost, const char **why, bool *bad_bytes)
{
	uint8_t *raw;
	size_t len;
	int err = read_record(s, loc, REC_DELTA, &raw, &len, why, bad_bytes);
	if (err)
		return err;
	err = lost ? delta_apply_lenient(d, raw, len, l->tree->id, l->id, lost)
		   : delta_apply(d, raw, len, l->tree->id, l->id, prev);
	free(raw);
	STAT_ADD(s, st_delta_read, 1);
	if (err && err != -ENOMEM) {
		*why = "malformed delta, or not one of this chain";
		return -EIO;
	}
	return err;
}

/*
 * Reads and verifies l's chain (base image at loc, then the n deltas of
 * `chain`); returns the decoded entries, or -ENOMEM, or -EIO with *why
 * saying what failed (not yet logged: the caller first checks whether the
 * leaf simply moved), *bad_bytes whether the bytes were read but wrong,
 * and *at which record (-1 the base, else the delta's index).
 */
int leaf_read(lkv_store *s, struct leaf *l, const struct leaf_loc *loc,
	      const struct leaf_loc *chain, uint32_t n, struct entries **out,
	      const char **why, bool *bad_bytes, int *at)
{
	struct entries *d = NULL;
	*at = -1;
	int err = leaf_read_base(s, l, loc, &d, why, bad_bytes);
	for (uint32_t i = 0; i < n && !err; i++) {
		*at = (int)i;
		err = leaf_read_delta(s, l, &chain[i], i ? chain[i - 1].csum : loc->csum, d,
				      NULL, why, bad_bytes);
	}
	if (err) {
		entries_free(d);
		return err;
	}
	STAT_ADD(s, st_read, 1);
	*out = d;
	return 0;
}

/* Counts and logs a leaf that cannot be read (record `at` of its chain,
 * at loc); returns -EIO. */
static int leaf_read_failed(lkv_store *s, struct leaf *l, const struct leaf_loc *loc, int at,
			    const char *why, bool bad_bytes)
{
	char name[FILE_NAME_MAX];
	file_name(name, FILE_LOG, loc->file);
	if (bad_bytes)
		STAT_ADD(s, st_csum, 1);
	if (at < 0)
		store_log(s, LKV_LOG_ERR, "leaf %" PRIu64 " of tree '%s' at %s offset %" PRIu64
			  ": %s", l->id, l->tree->name, name, loc->off, why);
	else
		store_log(s, LKV_LOG_ERR, "leaf %" PRIu64 " of tree '%s', delta %d of its chain "
			  "at %s offset %" PRIu64 ": %s", l->id, l->tree->name, at + 1, name,
			  loc->off, why);
	return -EIO;
}

/* A copy of l's chain (l's tree lock held); -ENOMEM. */
static int chain_copy(const struct leaf *l, struct leaf_loc *base, struct leaf_loc **chain,
		      uint32_t *n)
{
	*base = l->loc;
	*n = l->nchain;
	*chain = malloc((l->nchain ? l->nchain : 1) * sizeof(**chain));
	if (!*chain)
		return -ENOMEM;
	if (l->nchain)
		memcpy(*chain, l->chain, l->nchain * sizeof(**chain));
	return 0;
}

/* Whether l's chain is still base and the n records of chain. */
static bool chain_same(const struct leaf *l, const struct leaf_loc *base,
		       const struct leaf_loc *chain, uint32_t n)
{
	return l->loc.file == base->file && l->loc.off == base->off && l->nchain == n &&
	       (!n || (l->chain[n - 1].file == chain[n - 1].file &&
		       l->chain[n - 1].off == chain[n - 1].off));
}

/*
 * Makes leaf l resident and pins it, so that eviction cannot undo the load
 * before the caller uses it; the caller ends with cache_release.  The
 * caller holds a reference to l and no tree lock.  Concurrent loaders of
 * one leaf may both read it; one installs.
 */
int cache_load(lkv_store *s, struct leaf *l)
{
	struct lkv_tree *t = l->tree;
	atomic_fetch_add(&l->pins, 1);
	pthread_rwlock_rdlock(&t->lock);
	bool resident = l->ents != NULL;
	pthread_rwlock_unlock(&t->lock);
	if (resident)
		return 0;
	int err = cache_read_install(s, l);
	if (err)
		atomic_fetch_sub(&l->pins, 1);
	return err;
}

/* Ends a cache_load: unpins l and drops the caller's reference. */
void cache_release(struct leaf *l)
{
	atomic_fetch_sub(&l->pins, 1);
	leaf_unref(l);
}

static int cache_read_install(lkv_store *s, struct leaf *l)
{
	struct lkv_tree *t = l->tree;
	struct leaf_loc base, *chain = NULL;
	uint32_t n;
	struct entries *d;
	const char *why;
	bool bad_bytes;
	int at;
	pthread_rwlock_rdlock(&t->lock);
	int err = l->ents ? 0 : chain_copy(l, &base, &chain, &n);
	bool resident = l->ents != NULL;
	pthread_rwlock_unlock(&t->lock);
	if (err || resident)
		return err;
	for (;;) {
		err = leaf_read(s, l, &base, chain, n, &d, &why, &bad_bytes, &at);
		if (err != -EIO)
			break;
		/* a writer may have loaded, changed and flushed the leaf
		 * meanwhile, and its old log file be gone: then the leaf is
		 * resident, or was evicted again from its new place */
		pthread_rwlock_rdlock(&t->lock);
		resident = l->ents != NULL;
		bool same = chain_same(l, &base, chain, n);
		int cerr = 0;
		if (!resident && !same) {
			struct leaf_loc *old = chain;
			cerr = chain_copy(l, &base, &chain, &n);
			free(old);
		}
		pthread_rwlock_unlock(&t->lock);
		if (resident || cerr) {
			free(chain);
			return cerr;
		}
		if (same) {
			err = leaf_read_failed(s, l, at < 0 ? &base : &chain[at], at, why,
					       bad_bytes);
			free(chain);
			return err;
		}
	}
	if (err) {
		free(chain);
		return err;
	}
	STAT_ADD(s, st_misses, 1);
	size_t need = entries_mem(d);
	cache_reserve(s, need);
	pthread_rwlock_wrlock(&t->lock);
	if (!l->ents && chain_same(l, &base, chain, n)) {
		LKV_ASSERT(l->charged == 0);
		l->ents = d;
		l->charged = need;      /* reserved above */
		d = NULL;
		cache_track(s, l);
	}
	pthread_rwlock_unlock(&t->lock);
	free(chain);
	if (d) {
		cache_charge(s, -(ssize_t)need);      /* another load installed it */
		entries_free(d);
	}
	return 0;
}
