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
 * Every leaf read verifies the record checksum, that the record is the one
 * the location table expects (its checksum), and that the body decodes to
 * this leaf of this tree.  A failure is -EIO for the operation, counted and
 * logged with the file and offset; nothing is installed.
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

static int cache_read_install(lkv_store *s, struct leaf *l, const struct leaf_loc *lp);

/*
 * Reads and verifies the image at loc; returns the decoded entries, or
 * -ENOMEM, or -EIO with *why saying what failed (not yet logged: the
 * caller first checks whether the leaf simply moved) and *bad_bytes
 * whether the bytes were read but wrong.
 */
int leaf_read(lkv_store *s, struct leaf *l, const struct leaf_loc *loc,
	      struct entries **out, const char **why, bool *bad_bytes)
{
	uint8_t *rec = malloc(loc->len), *raw = NULL;
	if (!rec)
		return -ENOMEM;
	struct rec_hdr h;
	int err = store_read_at(s, FILE_LOG, loc->file, loc->off, rec, loc->len);
	*bad_bytes = !err;
	*why = err ? strerror(-err) : NULL;
	if (!err && (record_parse_header(rec, &h) || h.type != REC_LEAF ||
		     h.csum != loc->csum || REC_HDR + (uint64_t)h.stored_len != loc->len))
		err = -EIO;
	if (!err)
		err = record_open(rec, &h, &raw);
	if (!err) {
		err = entries_decode(raw, h.raw_len, l->tree->id, l->id, out);
		if (err)
			free(raw);
	}
	free(rec);
	if (err == -ENOMEM)
		return err;
	if (err && !*why)
		*why = err == -EIO ? "checksum mismatch or not the expected record"
				   : "malformed leaf";
	if (!err)
		STAT_ADD(s, st_read, 1);
	return err ? -EIO : 0;
}

/* Counts and logs a leaf that cannot be read; returns -EIO. */
static int leaf_read_failed(lkv_store *s, struct leaf *l, const struct leaf_loc *loc,
			    const char *why, bool bad_bytes)
{
	char name[FILE_NAME_MAX];
	file_name(name, FILE_LOG, loc->file);
	if (bad_bytes)
		STAT_ADD(s, st_csum, 1);
	store_log(s, LKV_LOG_ERR, "leaf %" PRIu64 " of tree '%s' at %s offset %" PRIu64 ": %s",
		  l->id, l->tree->name, name, loc->off, why);
	return -EIO;
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
	struct leaf_loc loc = l->loc;
	bool resident = l->ents != NULL;
	pthread_rwlock_unlock(&t->lock);
	if (resident)
		return 0;
	int err = cache_read_install(s, l, &loc);
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

static int cache_read_install(lkv_store *s, struct leaf *l, const struct leaf_loc *lp)
{
	struct lkv_tree *t = l->tree;
	struct leaf_loc loc = *lp;
	struct entries *d;
	const char *why;
	bool bad_bytes;
	for (;;) {
		int err = leaf_read(s, l, &loc, &d, &why, &bad_bytes);
		if (!err)
			break;
		if (err == -ENOMEM)
			return err;
		/* a writer may have loaded, changed and flushed the leaf
		 * meanwhile, and its old log file be gone: then the leaf is
		 * resident, or was evicted again from its new place */
		pthread_rwlock_rdlock(&t->lock);
		bool resident = l->ents != NULL;
		struct leaf_loc now = l->loc;
		pthread_rwlock_unlock(&t->lock);
		if (resident)
			return 0;
		if (now.file == loc.file && now.off == loc.off)
			return leaf_read_failed(s, l, &loc, why, bad_bytes);
		loc = now;
	}
	STAT_ADD(s, st_misses, 1);
	size_t need = entries_mem(d);
	cache_reserve(s, need);
	pthread_rwlock_wrlock(&t->lock);
	if (!l->ents && l->loc.off == loc.off && l->loc.file == loc.file) {
		LKV_ASSERT(l->charged == 0);
		l->ents = d;
		l->charged = need;      /* reserved above */
		d = NULL;
		cache_track(s, l);
	}
	pthread_rwlock_unlock(&t->lock);
	if (d) {
		cache_charge(s, -(ssize_t)need);      /* another load installed it */
		entries_free(d);
	}
	return 0;
}
