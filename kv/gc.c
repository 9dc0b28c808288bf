/* SPDX-License-Identifier: MIT */
/*
 * Getting disk space back: blob segments and log files whose live share
 * fell under gc_live_percent are emptied, then deleted.
 *
 * A segment is emptied by walking its records: a record is live iff the
 * key stored in it still references exactly this record (segment and
 * offset).  Live records are copied, verified, to the current segment and
 * the keys re-pointed by conditional batch operations, which do nothing if
 * the key changed meanwhile.  A log file is emptied by marking every leaf
 * with a record of its chain (base or delta) in it for a full image, so
 * the next flush writes it elsewhere and its chain starts again.
 *
 * Consolidation: a foreground flush that leaves a chain past its soft
 * limit (image.c) queues the leaf; once foreground flushes pause, the
 * background thread marks each dirty (gc_consolidate) and flushes in the
 * background, which writes their full images, so that a caller of
 * lkv_flush neither writes a consolidation it could leave nor waits for
 * a background flush that writes one.
 *
 * Deletion waits for durability: a segment is unlinked only once the
 * durable location table counts no live byte in it (the epoch that moved
 * its last record is durable, so no crash can bring a reference back), and
 * a log file only once it holds no live leaf and neither kept snapshot's
 * replay starts in or before it (flush.c).  Space accounting is exact, so
 * a record GC could not find or read keeps its segment alive (and logged)
 * instead of being lost.
 *
 * Every pass starts with a flush, because live counts are durable ones:
 * values already overwritten then count as dead, and segments with no
 * live byte left are deleted without copying anything.
 *
 * The flusher runs a bounded pass (one segment's worth of copying at most)
 * every gc_interval; lkv_gc runs an unbounded one and waits for the files
 * to go; lkv_gc_free only deletes segments with nothing live left, which
 * needs no room to copy into (for a disk that is full).  And a writer about to
 * append blobs while segments hold more than live / gc_live_percent plus
 * half a segment first runs a bounded pass itself (a write stall); if that
 * leaves the pressure on, the dead bytes are in the segment being
 * appended, which is then sealed so that the next pass can reclaim it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define GC_BATCH 64                     /* relocations per commit */
#define GC_PASS_BYTES (64ull << 20)     /* bytes a background pass may move, */
					/* at most one segment's worth */

struct victim { uint32_t no; uint64_t live, size; };

/* Files of one kind whose live share is below the threshold, oldest first
 * (the current file excepted). */
static size_t pick(lkv_store *s, bool segs, uint32_t current, bool forced,
		   struct victim **out)
{
	pthread_mutex_lock(&s->flush_mu);
	const struct lt_file *f = segs ? s->lt.segs : s->lt.files;
	size_t n = segs ? s->lt.nsegs : s->lt.nfiles, k = 0;
	struct victim *v = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++) {
		if (f[i].no == current || (!segs && f[i].no >= current))
			continue;
		bool sparse = f[i].live * 100 < f[i].size * s->o.gc_live_percent;
		if ((sparse || (forced && f[i].live < f[i].size)) && f[i].live)
			v[k++] = (struct victim){ f[i].no, f[i].live, f[i].size };
	}
	pthread_mutex_unlock(&s->flush_mu);
	*out = v;
	return k;
}

/* Whether key k of tree t still references blob r. */
static bool still_references(lkv_tree *t, const uint8_t *k, size_t kl, const struct blob_ref *r)
{
	uint8_t v[BLOB_REF_LEN], flags;
	size_t vl;
	struct blob_ref cur;
	return tree_get_raw(t, k, kl, &flags, v, sizeof(v), &vl) == 0 && (flags & ENT_BLOB) &&
	       !blob_ref_decode(v, vl, &cur) && cur.seg == r->seg && cur.off == r->off;
}

/* Copies one live record to the current segment and queues the switch. */
static int relocate(lkv_store *s, lkv_batch *b, lkv_tree *t, const uint8_t *k,
		    const struct blob_ref *r, uint64_t *moved)
{
	uint8_t *rec;
	struct blob_ref to;
	int err = blob_read_record(s, r, &rec);
	if (err == -ESTALE)
		blob_unreadable(s, r);     /* only GC deletes segments: not moved */
	if (err)
		return err == -ENOMEM ? err : 0;    /* unreadable: stays, logged */
	err = blob_copy(s, rec, r->len, r, &to);
	free(rec);
	if (!err && (err = batch_appended(b, to.seg)))
		blob_done(s, to.seg);
	if (!err)
		err = batch_relocate(b, t, k, r->klen, r, &to);
	*moved += r->len;
	return err;
}

/* Moves every live record out of segment v. */
static int gc_segment(lkv_store *s, const struct victim *v, uint64_t *budget)
{
	lkv_batch *b = lkv_batch_new(s);
	uint8_t *key = malloc(LKV_KEY_MAX);
	uint64_t off = 0, moved = 0;
	uint32_t tree_id;
	struct blob_ref r;
	int err = b && key ? 0 : -ENOMEM;
	int walk = 0;
	while (!err && moved < *budget &&
	       !(walk = blob_next(s, v->no, v->size, &off, &tree_id, key, &r))) {
		lkv_tree *t = store_tree_by_id(s, tree_id);
		if (t && still_references(t, key, r.klen, &r))
			err = relocate(s, b, t, key, &r, &moved);
		if (!err && batch_size(b) >= GC_BATCH)
			err = batch_commit(b, NULL);
	}
	if (!err)
		err = batch_commit(b, NULL);
	if (!err && walk && off < v->size) {
		char name[FILE_NAME_MAX];
		file_name(name, FILE_BLOB, v->no);
		store_log(s, LKV_LOG_WARN, "segment %s: no record at offset %" PRIu64 " of %"
			  PRIu64 "; what follows is not collected", name, off, v->size);
	}
	lkv_batch_free(b);
	free(key);
	*budget -= moved < *budget ? moved : *budget;
	STAT_ADD(s, st_gc_moved, moved);
	return err;
}

/* Whether some record of l's chain lies in log file no. */
static bool chain_in(const struct leaf *l, uint32_t no)
{
	if (l->loc.file == no)
		return true;
	for (uint32_t i = 0; i < l->nchain; i++)
		if (l->chain[i].file == no)
			return true;
	return false;
}

/* Pages in each leaf of v (one ref each, dropped) and marks it for a full
 * image (`full`: at any flush, else at a background one).  Returns the
 * first error; the rest are still released. */
static int rewrite_all(lkv_store *s, struct leaf **v, size_t n, bool full)
{
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		int e2 = err ? err : cache_load(s, v[i]);
		if (!e2) {
			e2 = full ? batch_mark_rewrite(s, v[i], false, NULL)
				  : batch_mark_consolidate(s, v[i]);
			cache_release(v[i]);
		} else {
			leaf_unref(v[i]);
		}
		if (!err)
			err = e2;
	}
	return err;
}

/* Marks every leaf with a record of its chain in log file `no` for
 * rewriting. */
static int gc_log(lkv_store *s, uint32_t no)
{
	struct leaf **v = NULL;
	size_t n = 0, cap = 0;
	int err = 0;
	pthread_mutex_lock(&s->trees_mu);
	for (size_t i = 0; i < s->ntrees && !err; i++) {
		struct lkv_tree *t = s->trees[i];
		pthread_rwlock_rdlock(&t->lock);
		for (size_t j = 0; j < t->n && !err; j++) {
			struct leaf *l = t->v[j];
			if (!chain_in(l, no) || l->dirty_epoch)
				continue;
			if (n == cap) {
				void *p = realloc(v, (cap = cap * 2 + 64) * sizeof(*v));
				if (!p) {
					err = -ENOMEM;
					break;
				}
				v = p;
			}
			leaf_ref(l);
			v[n++] = l;
		}
		pthread_rwlock_unlock(&t->lock);
	}
	pthread_mutex_unlock(&s->trees_mu);
	if (err) {
		for (size_t i = 0; i < n; i++)
			leaf_unref(v[i]);
	} else {
		err = rewrite_all(s, v, n, true);
	}
	free(v);
	return err;
}

/*
 * Consolidates the chains the foreground flushes queued (flush.c): marks
 * each leaf still in the index and still past its soft limit dirty,
 * paging it in if it was evicted, then flushes in the background, which
 * writes their full images (image.c).  Called by the background thread,
 * once foreground flushes pause (consolidation_due).  A change like any other (freeze.c):
 * on a frozen store the queue is dropped, and a leaf whose chain is still
 * long is queued again by its next foreground flush (its hard limit
 * bounds it meanwhile).
 */
int gc_consolidate(lkv_store *s)
{
	int gate = change_begin(s);
	pthread_mutex_lock(&s->bg_mu);
	struct leaf **v = s->cons;
	size_t n = s->ncons;
	s->cons = NULL;
	s->ncons = s->conscap = 0;
	s->bg_consolidate = false;
	for (size_t i = 0; i < n; i++)
		v[i]->queued = false;
	pthread_mutex_unlock(&s->bg_mu);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct leaf *l = v[i];
		pthread_rwlock_rdlock(&l->tree->lock);
		bool want = !gate && !l->dead_epoch && leaf_chain_long(l);
		pthread_rwlock_unlock(&l->tree->lock);
		if (want)
			v[k++] = l;
		else
			leaf_unref(l);
	}
	int err = rewrite_all(s, v, k, false);
	free(v);
	if (!err && k)
		err = flush_through(s, 0, true);
	if (!gate)
		change_end(s);
	return gate ? gate : err;
}

/* Whether the durable table has a segment with no live byte left. */
static bool dead_segments(lkv_store *s)
{
	uint32_t current = blob_current(s, NULL);
	bool any = false;
	pthread_mutex_lock(&s->flush_mu);
	for (size_t i = 0; i < s->lt.nsegs && !any; i++)
		any = !s->lt.segs[i].live && s->lt.segs[i].no != current;
	pthread_mutex_unlock(&s->flush_mu);
	return any;
}

/* The live bytes the current epoch has added to or taken from seg. */
static int64_t unflushed_delta(lkv_store *s, uint32_t seg)
{
	int64_t d = 0;
	pthread_mutex_lock(&s->ep_mu);
	const struct flush_set *fs = &s->sets[s->current & 1];
	for (size_t i = 0; i < fs->nsegd; i++)
		if (fs->segd[i].seg == seg)
			d += fs->segd[i].bytes;
	pthread_mutex_unlock(&s->ep_mu);
	return d;
}

/*
 * Deletes segments nothing references, durably or in memory: no live byte
 * in the durable table (no crash can bring a reference back), none added
 * in the unflushed epoch, and no append whose batch is still under way (it
 * may reference the segment after the segment stopped being current).
 * The last commit's blob ranges (which recovery reads) name only segments
 * it leaves live bytes in (flush.c).
 * flush_mu keeps a flush from moving bytes between the two counts meanwhile.
 */
static void drop_dead_segments(lkv_store *s)
{
	pthread_mutex_lock(&s->flush_mu);
	uint32_t current = blob_current(s, NULL);
	for (size_t i = 0; i < s->lt.nsegs;) {
		struct lt_file f = s->lt.segs[i];
		if (f.live || f.no == current || blob_pending(s, f.no) ||
		    unflushed_delta(s, f.no)) {
			i++;
			continue;
		}
		char name[FILE_NAME_MAX];
		file_name(name, FILE_BLOB, f.no);
		store_file_forget(s, FILE_BLOB, f.no);
		atomic_fetch_sub(&s->blob_disk, f.size);
		int err = s->io->ops->unlink(s->io, name);
		if (err && err != -ENOENT)
			store_log(s, LKV_LOG_WARN, "cannot delete segment %s: %s", name,
				  strerror(-err));
		loctable_seg_drop(&s->lt, f.no);    /* moves the last entry to i */
	}
	pthread_mutex_unlock(&s->flush_mu);
}

/* Whether segments hold more than live / gc_live_percent plus half a
 * segment (the current one is not collectable), live counting the changes
 * not yet flushed (else a fill of a new store would look like waste). */
bool gc_space_pressure(lkv_store *s)
{
	int64_t mem = atomic_load(&s->blob_live_mem);
	uint64_t disk = atomic_load(&s->blob_disk), live = mem > 0 ? (uint64_t)mem : 0;
	unsigned pct = s->o.gc_live_percent ? s->o.gc_live_percent : 1;
	return disk > live * 100 / pct + s->o.blob_segment_bytes / 2;
}

/*
 * One GC pass: empties sparse segments (within a byte budget unless
 * forced) and sparse log files, makes the moves durable, and deletes what
 * they freed.  A forced pass also snapshots twice, so that log files no
 * snapshot's replay needs can go at once.
 */
int gc_pass(lkv_store *s, bool forced, bool bg)
{
	if (s->ro)
		return 0;
	pthread_mutex_lock(&s->gc_mu);
	uint64_t budget = forced ? UINT64_MAX
				 : s->o.blob_segment_bytes < GC_PASS_BYTES ? s->o.blob_segment_bytes
									   : GC_PASS_BYTES;
	int err = 0;
	if (forced) {             /* the files being appended hold dead bytes too */
		blob_seal(s);
		err = log_seal(s);
	}
	/* live counts are durable ones: flush first, so that values already
	 * overwritten count as dead and wholly dead segments go uncopied */
	if (!err)
		err = flush_through(s, 0, bg);
	if (err) {
		pthread_mutex_unlock(&s->gc_mu);
		return err;
	}
	drop_dead_segments(s);
	struct victim *v;
	size_t n = pick(s, true, blob_current(s, NULL), forced, &v);
	err = v ? 0 : -ENOMEM;
	size_t nsegs = n;
	for (size_t i = 0; i < n && !err && budget; i++)
		err = gc_segment(s, &v[i], &budget);
	free(v);
	v = NULL;
	n = 0;
	if (!err) {
		pthread_mutex_lock(&s->flush_mu);
		uint32_t log_file = s->lt.log_file;
		pthread_mutex_unlock(&s->flush_mu);
		n = pick(s, false, log_file, forced, &v);
		err = v ? 0 : -ENOMEM;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = gc_log(s, v[i].no);
	free(v);
	if (!err && !forced && !nsegs && !n && !dead_segments(s)) {
		pthread_mutex_unlock(&s->gc_mu);      /* nothing to do */
		return 0;
	}
	if (!err)
		err = flush_through(s, 0, bg);
	if (!err)
		drop_dead_segments(s);
	if (!err && (forced || n)) {
		pthread_mutex_lock(&s->flush_mu);
		for (int i = 0; i < 2 && !err; i++)
			err = snapshot_write(s, false);
		pthread_mutex_unlock(&s->flush_mu);
	}
	STAT_ADD(s, st_gc_runs, 1);
	pthread_mutex_unlock(&s->gc_mu);
	return err;
}

int lkv_gc(lkv_store *s)
{
	if (s->ro)
		return 0;
	int err = change_begin(s);
	if (err)
		return err;
	err = gc_pass(s, true, true);
	change_end(s);
	return err;
}

int lkv_gc_free(lkv_store *s)
{
	if (s->ro)
		return 0;
	int err = change_begin(s);
	if (err)
		return err;
	pthread_mutex_lock(&s->gc_mu);
	blob_seal(s);             /* the appended segment may be wholly dead too */
	err = flush_through(s, 0, true);
	if (!err)
		drop_dead_segments(s);
	pthread_mutex_unlock(&s->gc_mu);
	change_end(s);
	return err;
}
