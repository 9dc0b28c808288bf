/* SPDX-License-Identifier: MIT */
/*
 * The flush path: making one epoch durable, and the background flusher.
 *
 * Flushing epoch E (one flush at a time, under flush_mu):
 *   1. seal E: new writers go to E+1; wait for E's writers to check out;
 *   2. serialize every leaf dirtied in E as of E, as a delta of what
 *      changed since its chain or a full image (image.c): a writer of E+1
 *      that touched it first has already captured that record (epoch.c),
 *      else it is made now under its tree lock (memory only);
 *   3. append the leaf records and then one commit record to the current
 *      log file, outside every tree lock, and sync it (and the directory,
 *      for a new file), together with the blob segments written in E
 *      when they are few (blob.c: one device flush; the commit lists
 *      their ranges): E is durable when the syncs return;
 *   4. apply the commit to the location table (exactly as recovery would),
 *      publish the new chains and filters, mark leaves clean, advance
 *      `durable` and wake the waiters; a leaf whose chain grew past its
 *      soft limit is queued for the background thread to consolidate
 *      (gc.c);
 *   5. every snapshot_bytes of log, write a snapshot of the table and drop
 *      snapshots and log files nothing needs any more.
 * A flush is foreground (lkv_flush: someone waits for it; a writer past
 * the dirty limit) or background (the flusher, GC, close, check): only a
 * background one consolidates chains past their soft limit (image.c).
 * Callers of lkv_flush that arrive during a flush wait for `durable` to
 * reach their epoch, or for flush_mu to come free, and then flush the next
 * epoch together: one commit serves them all (group commit).  They wait on
 * ep_cv, not on flush_mu, so a caller the running flush serves returns
 * when it publishes, not after whichever flush takes flush_mu next.
 *
 * A flush that fails for want of space (ENOSPC, EDQUOT: another program
 * filled the disk) or memory, before any of it became durable, is kept:
 * its epoch's changes fold into the current epoch (epoch_fold), the bytes
 * it left past the last commit are cut before the next attempt, and the
 * background thread tries again with a growing pause (FLUSH_RETRY_*_MS);
 * callers of lkv_flush get the error meanwhile, and writers past the dirty
 * limit get it at once.  It is logged when it starts and when it ends.
 * Any other error (an I/O error, a failed sync of blob bytes, whose pages
 * the kernel may have dropped) fails the store: no later change is
 * accepted, reads go on, and the store reopens to its last durable epoch.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define WRITE_CHUNK (4u << 20)

struct written {
	struct leaf *l;
	uint8_t type;            /* REC_LEAF, REC_DELTA, 0: unchanged, none */
	struct leaf_loc loc;
	struct bloom bloom;      /* REC_LEAF: the image's filter */
	uint64_t *hash;          /* REC_DELTA: XXH3-64 of the keys it changes */
	size_t nhash;
};

struct flush_ctx {
	lkv_store *s;
	uint64_t epoch;
	bool bg;                 /* a background flush: consolidates */
	bool fatal;              /* failed where a retry is not safe */
	struct blob_plan blobs;  /* the segments it syncs */
	struct buf out;          /* records not yet written */
	uint64_t out_off;        /* file offset of out.p[0] */
	struct commit_enc commit;
	struct written *w;
	size_t nw;
};

#define FLUSH_WAIT_MS 2     /* longest wait before a waiter looks again */
#define FLUSH_RETRY_MIN_MS 100   /* first pause after a flush failed for space */
#define FLUSH_RETRY_MAX_MS 5000  /* the pause doubles up to this */

static int log_roll(lkv_store *s);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

int lkv_flush(lkv_store *s, uint64_t e)
{
	if (s->ro || freeze_settled(s))
		return 0;           /* frozen: all was durable, nothing changed since */
	return flush_through(s, e, false);
}

/* Opens (creating) log file `no` for appending at `off`. */
int log_open_append(lkv_store *s, uint32_t no, uint64_t off)
{
	char name[FILE_NAME_MAX];
	file_name(name, FILE_LOG, no);
	lkv_file *old = s->log, *f;
	logzero_switch(s, NULL, 0);
	if (old)
		s->io->ops->close(old);
	int err = s->io->ops->open(s->io, name, LKV_IO_CREATE, &f);
	if (err)
		return err;
	logzero_switch(s, f, off);
	s->lt.log_file = no;
	s->lt.log_off = off;
	return 0;
}

static int write_out(struct flush_ctx *c)
{
	lkv_store *s = c->s;
	size_t done = 0;
	bool held = logzero_enter(s, c->out_off + c->out.len);
	while (done < c->out.len) {
		ssize_t n = s->io->ops->pwrite(s->log, c->out.p + done, c->out.len - done,
					       c->out_off + done);
		if (n <= 0) {
			logzero_leave(s, held, c->out_off + done);
			return n ? (int)n : -EIO;
		}
		done += n;
	}
	logzero_leave(s, held, c->out_off + done);
	STAT_ADD(s, st_bwritten, done);
	c->out_off += done;
	c->out.len = 0;
	return 0;
}

/* The record of l as of the sealed epoch (image.c), or NULL when l needs
 * none (it left the index). */
static int take_image(struct flush_ctx *c, struct leaf *l, struct leaf_img **img)
{
	*img = NULL;
	if (l->dead_epoch && l->dead_epoch <= c->epoch)
		return 0;
	int err = 0;
	pthread_rwlock_wrlock(&l->tree->lock);
	if (l->sealed && l->captured_epoch == c->epoch) {
		*img = l->sealed;
		l->sealed = NULL;
	} else if (l->dirty_epoch == c->epoch) {
		err = leaf_image(c->s, l, c->bg, img);
		l->captured_epoch = c->epoch;
	} else {
		LKV_ASSERT(!"a leaf changed in a later epoch was not captured");
		err = -EUCLEAN;
	}
	pthread_rwlock_unlock(&l->tree->lock);
	return err;
}

/* Appends the record of one leaf and its commit entry; takes img's key
 * hashes. */
static int add_leaf(struct flush_ctx *c, struct leaf *l, struct leaf_img *img)
{
	lkv_store *s = c->s;
	struct written *w = &c->w[c->nw];
	*w = (struct written){ .l = l, .type = img->type };
	if (!img->type) {                /* nothing changed since its chain */
		c->nw++;
		return 0;
	}
	uint64_t off = c->out_off + c->out.len;
	uint64_t csum;
	int err = record_append(&c->out, img->type, c->epoch, img->body.p, img->body.len,
				s->cctx, s->o.compression_level, &csum);
	if (err)
		return err;
	w->loc = (struct leaf_loc){ .file = s->lt.log_file,
		.len = (uint32_t)(c->out_off + c->out.len - off), .off = off, .csum = csum };
	if (img->type == REC_LEAF) {
		bloom_build(&w->bloom, img->body.p, img->body.len,
			    atomic_load(&l->tree->bloom_bits));
		struct loc_ent e = { .leaf_id = l->id, .tree_id = l->tree->id,
			.nkeys = img->nkeys, .loc = w->loc, .low = l->low,
			.low_len = l->low_len, .bloom = w->bloom };
		commit_enc_base(&c->commit, &e);
		if (l->nchain)
			STAT_ADD(s, st_consolidated, 1);
	} else {
		commit_enc_delta(&c->commit, l->id, l->tree->id, img->nkeys, &w->loc, img->hash,
				 img->nhash);
		w->hash = img->hash;
		w->nhash = img->nhash;
		img->hash = NULL;
		STAT_ADD(s, st_deltas, 1);
	}
	c->nw++;
	STAT_ADD(s, st_raw, img->body.len);
	STAT_ADD(s, st_written, 1);
	return c->out.len >= WRITE_CHUNK ? write_out(c) : 0;
}

static void commit_begin(struct flush_ctx *c, const struct flush_set *fs)
{
	lkv_store *s = c->s;
	pthread_mutex_lock(&s->trees_mu);
	uint32_t next_tree = s->next_tree_id;
	pthread_mutex_unlock(&s->trees_mu);
	commit_enc_begin(&c->commit, s->lt.chain, atomic_load(&s->next_leaf_id), next_tree,
			 fs->trees, fs->ntrees);
}

/*
 * Makes the records written durable: the log alone, or with the segments
 * of c->blobs at once (blob.c).  A failed sync of a segment fails the
 * store (the kernel may have dropped its pages); one of the log alone may
 * be retried, as before.
 */
static int sync_log(struct flush_ctx *c)
{
	lkv_store *s = c->s;
	if (!c->blobs.together)
		return s->io->ops->sync(s->log);
	lkv_file **f = malloc((c->blobs.n + 2) * sizeof(*f));
	int *errs = calloc(c->blobs.n + 2, sizeof(*errs));
	int err = f && errs ? 0 : -ENOMEM;
	size_t n = 0;
	if (!err) {
		f[0] = s->log;
		n = 1 + blob_plan_files(&c->blobs, f + 1);
	}
	if (!err && s->io->ops->sync_many) {
		err = s->io->ops->sync_many(s->io, f, n, errs);
	} else {
		/* the log first: a crash between leaves a commit whose blob
		 * ranges are torn, which recovery drops */
		for (size_t i = 0; i < n && !err; i++)
			err = errs[i] = s->io->ops->sync(f[i]);
	}
	for (size_t i = 1; i < n && err; i++)
		c->fatal |= errs[i] != 0;
	free(f);
	free(errs);
	return err;
}

/*
 * Keeps, of the blob ranges synced with the commit, those it relies on:
 * in segments that hold live bytes once it applies.  A segment it leaves
 * with none may be deleted as soon as it is durable (gc.c), and recovery
 * must not then find a range of the last commit missing.
 */
static void relied_ranges(struct flush_ctx *c, const struct flush_set *fs)
{
	size_t k = 0;
	for (size_t i = 0; i < c->blobs.nranges; i++) {
		uint32_t seg = c->blobs.ranges[i].seg;
		const struct lt_file *f = loctable_seg_find(&c->s->lt, seg);
		int64_t live = f ? (int64_t)f->live : 0;
		for (size_t j = 0; j < fs->nsegd; j++)
			if (fs->segd[j].seg == seg)
				live += fs->segd[j].bytes;
		if (live > 0)
			c->blobs.ranges[k++] = c->blobs.ranges[i];
	}
	c->blobs.nranges = k;
}

/* Writes the records of a sealed epoch and makes them durable. */
static int flush_write(struct flush_ctx *c, struct flush_set *fs, uint64_t *commit_csum)
{
	lkv_store *s = c->s;
	bool fresh = s->log == NULL;
	int err = blob_plan(s, &c->blobs);   /* referenced blobs durable first, or with it */
	s->log_unnamed |= fresh;         /* until a directory sync makes it durable */
	c->fatal = err && err != -ENOMEM;
	if (!err && s->log_torn)         /* a failed flush's bytes past the commit */
		err = logzero_cut(s, s->lt.log_off);
	if (!err)
		s->log_torn = false;
	if (!err && fresh)
		err = log_open_append(s, s->lt.log_file, s->lt.log_off);
	c->out_off = s->lt.log_off;
	commit_begin(c, fs);
	for (size_t i = 0; i < fs->n && !err; i++) {
		struct leaf_img *img;
		err = take_image(c, fs->leaves[i], &img);
		if (!err && img)
			err = add_leaf(c, fs->leaves[i], img);
		leaf_img_free(img);
	}
	if (!err)
		relied_ranges(c, fs);
	if (!err) {
		/* the digests of the commits that ended within reach of here */
		uint64_t start = s->log_base + s->lt.log_off;
		digest_forget(&s->digests, start > DIGEST_REACH ? start - DIGEST_REACH : 0);
		err = commit_enc_end(&c->commit, fs->dead, fs->ndead, fs->segd, fs->nsegd,
				     c->blobs.ranges, c->blobs.nranges, &s->digests);
	}
	if (!err)
		err = record_append(&c->out, REC_COMMIT, c->epoch, c->commit.body.p,
				    c->commit.body.len, NULL, 0, commit_csum);
	if (!err)
		err = write_out(c);
	if (!err)
		err = sync_log(c);
	if (!err && (s->log_unnamed || (c->blobs.together && c->blobs.dir)))
		err = s->io->ops->sync_dir(s->io);
	if (!err)
		s->log_unnamed = false;
	if (!err)
		logzero_kick(s, c->out_off - s->lt.log_off, c->out_off);
	if (c->blobs.together && err)
		c->fatal = true;          /* a directory sync of a new segment, too */
	return err;
}

/* Keeps the digest of the commit just made durable (flush_mu held, before
 * it is applied: the chain is still the one it followed), for the commits
 * that follow within DIGEST_REACH.  Without memory the later commits lack
 * it: logged, never fatal (it only protects against damage). */
static void keep_digest(struct flush_ctx *c, const struct flush_set *fs)
{
	lkv_store *s = c->s;
	struct digest_leaf *v = calloc(c->nw ? c->nw : 1, sizeof(*v));
	struct buf d = { 0 };
	size_t n = 0;
	for (size_t i = 0; v && i < c->nw; i++) {
		struct leaf *l = c->w[i].l;
		if (!c->w[i].type)
			continue;
		v[n++] = (struct digest_leaf){ .id = l->id, .tree = l->tree->id, .loc = c->w[i].loc,
			.isnew = l->loc.file == 0, .low = l->low, .low_len = l->low_len,
			.kind = c->w[i].type == REC_DELTA ? LOC_DELTA : LOC_BASE,
			.hash = c->w[i].hash, .nhash = c->w[i].nhash };
	}
	if (v)
		digest_encode(&d, c->epoch, s->lt.chain, v, n, fs);
	if (!v || digest_keep(&s->digests, s->log_base + c->out_off, &d))
		store_log(s, LKV_LOG_WARN, "no memory to keep the digest of epoch %" PRIu64
			  ": a damaged commit there could not be rebuilt", c->epoch);
	buf_free(&d);
	free(v);
}

/* Queues l for the background thread to consolidate (gc.c): its chain
 * passed the soft limit in a foreground flush.  Caller holds l's tree
 * lock.  Without memory it simply waits for the next flush of it. */
static void queue_consolidation(lkv_store *s, struct leaf *l)
{
	pthread_mutex_lock(&s->bg_mu);
	if (!l->queued) {
		struct leaf **v = s->ncons == s->conscap ?
			realloc(s->cons, (s->conscap * 2 + 16) * sizeof(*v)) : s->cons;
		if (v) {
			if (s->ncons == s->conscap)
				s->conscap = s->conscap * 2 + 16;
			s->cons = v;
			leaf_ref(l);
			v[s->ncons++] = l;
			l->queued = true;
			s->bg_consolidate = true;
			pthread_cond_signal(&s->bg_cv);
		}
	}
	pthread_mutex_unlock(&s->bg_mu);
}

/*
 * The filter of written leaf l's new chain: the one its table entry e
 * (NULL: none) now holds, shared (bloom.c), which for a delta is the
 * base's filter with the delta's keys added (loctable_append); else the
 * one built from the image, or the leaf's own with the delta's keys.
 * Caller holds l's tree lock and flush_mu.
 */
static void publish_bloom(struct leaf *l, struct written *w, const struct loc_ent *e)
{
	if (w->type == REC_LEAF && !(e && e->bloom.nbits == w->bloom.nbits)) {
		bloom_free(&l->bloom);
		l->bloom = w->bloom;
		w->bloom = (struct bloom){ 0 };
	} else if (e) {
		bloom_free(&l->bloom);
		bloom_copy(&l->bloom, &e->bloom);
	} else {
		bloom_add_hashes(&l->bloom, w->hash, w->nhash);
	}
	bloom_free(&w->bloom);
}

/* Makes one written leaf's new chain its own.  Caller holds its tree
 * lock.  -ENOMEM: the store must fail (the table already has it). */
static int publish_leaf(struct flush_ctx *c, struct written *w)
{
	lkv_store *s = c->s;
	struct leaf *l = w->l;
	if (w->type == REC_LEAF) {
		l->loc = w->loc;
		free(l->chain);
		l->chain = NULL;
		l->nchain = 0;
		l->chain_bytes = 0;
	} else if (w->type == REC_DELTA) {
		struct leaf_loc *v = realloc(l->chain, (l->nchain + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->chain = v;
		v[l->nchain++] = w->loc;
		l->chain_bytes += w->loc.len;
	}
	if (w->type)
		publish_bloom(l, w, loctable_get(&s->lt, l->id));
	l->logged_epoch = c->epoch;
	if (l->ents)
		entries_logged(l->ents, c->epoch);
	if (l->dirty_epoch == c->epoch) {
		l->dirty_epoch = 0;
		atomic_fetch_sub(&s->dirty_bytes, l->dirty_charged);
		l->dirty_charged = 0;
	}
	/* a delta, or nothing (a consolidation's mark met by a foreground
	 * flush): the chain is left for the background */
	if (!c->bg && w->type != REC_LEAF && !l->dead_epoch && leaf_chain_long(l))
		queue_consolidation(s, l);
	return 0;
}

/* Step 4: the epoch is durable; make everyone see it. */
static int flush_publish(struct flush_ctx *c, uint64_t commit_csum)
{
	lkv_store *s = c->s;
	int err = commit_apply_own(&s->lt, c->commit.body.p, c->commit.body.len, c->epoch,
				   commit_csum);
	if (err)
		return err;
	s->since_snapshot += c->out_off - s->lt.log_off;
	s->lt.log_off = c->out_off;
	s->tail_ranges = c->blobs.nranges != 0;
	struct lt_file *lf = loctable_log(&s->lt, s->lt.log_file);
	if (lf)
		lf->size = c->out_off;
	uint64_t end;
	uint32_t seg = blob_current(s, &end);
	struct lt_file *sf = seg ? loctable_seg(&s->lt, seg) : NULL;
	if (sf)
		sf->size = end;
	for (size_t i = 0; i < c->nw && !err; i++) {
		struct leaf *l = c->w[i].l;
		pthread_rwlock_wrlock(&l->tree->lock);
		err = publish_leaf(c, &c->w[i]);
		pthread_rwlock_unlock(&l->tree->lock);
	}
	if (err)
		return err;
	pthread_mutex_lock(&s->ep_mu);
	s->durable = c->epoch;
	pthread_cond_broadcast(&s->ep_cv);
	pthread_mutex_unlock(&s->ep_mu);
	return 0;
}

static void mark_durable(lkv_store *s, uint64_t e)
{
	pthread_mutex_lock(&s->ep_mu);
	s->durable = e;
	pthread_cond_broadcast(&s->ep_cv);
	pthread_mutex_unlock(&s->ep_mu);
}

static uint64_t ms_ns(uint64_t ms)
{
	return ms * 1000000u;
}

/* Whether a flush that failed with err before anything of it became
 * durable may be tried again: its log bytes are rewritten from memory. */
static bool flush_retryable(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -ENOMEM;
}

/*
 * Keeps the changes of epoch e, whose flush failed with err, for a later
 * flush (see the header).  Returns err, or the store's failure if even
 * that cannot be done.
 */
static int flush_stall(lkv_store *s, uint64_t e, struct flush_set *fs, int err)
{
	int ferr = epoch_fold(s, e, fs);
	if (ferr) {
		store_log(s, LKV_LOG_ERR, "flush of epoch %" PRIu64 " failed (%s) and its "
			  "changes cannot be kept (%s); the store accepts no more changes",
			  e, strerror(-err), strerror(-ferr));
		return store_fail(s, err);
	}
	s->log_torn = true;
	STAT_ADD(s, st_flush_errors, 1);
	uint64_t pause = s->stall_pause_ms ? s->stall_pause_ms * 2 : FLUSH_RETRY_MIN_MS;
	s->stall_pause_ms = pause < FLUSH_RETRY_MAX_MS ? pause : FLUSH_RETRY_MAX_MS;
	atomic_store(&s->stall_until_ns, now_ns() + ms_ns(s->stall_pause_ms));
	if (!atomic_exchange(&s->stall_err, err)) {
		s->stall_since_ns = now_ns();
		store_log(s, LKV_LOG_ERR, "flush of epoch %" PRIu64 " failed: %s; its changes "
			  "are kept in memory and the flush is retried (writes that need new "
			  "space fail meanwhile)", e, strerror(-err));
	}
	/* after stall_err is set: the thread it wakes reads it to know when
	 * to retry (before, it could go back to sleep for a whole interval) */
	epoch_nudge(s);
	return err;
}

/* After a flush succeeded: ends a stall, saying so. */
static void flush_unstall(lkv_store *s)
{
	if (!atomic_load(&s->stall_err))
		return;
	atomic_store(&s->stall_err, 0);
	s->stall_pause_ms = 0;
	store_log(s, LKV_LOG_WARN, "flushes work again after %.1f s; every change kept "
		  "meanwhile is durable through epoch %" PRIu64,
		  (double)(now_ns() - s->stall_since_ns) / 1e9, s->lt.epoch);
}

/*
 * Seals the current epoch and makes it durable.  Caller holds flush_mu.
 * Never after a failed flush: an epoch is durable only if every earlier
 * one is, and the failed one is not (a failed flush's epoch was folded
 * into the next one).
 */
static int flush_one(lkv_store *s, bool bg)
{
	LKV_ASSERT(mu_held(&s->flush_mu));
	int failed = atomic_load(&s->failed);
	if (failed)
		return failed;
	uint64_t t0 = now_ns();
	struct flush_set fs;
	struct flush_ctx c = { .s = s, .bg = bg };
	atomic_store(&s->flush_bg, bg);      /* for writers capturing a record */
	c.epoch = epoch_seal(s, &fs);
	if (flush_set_empty(&fs)) {
		mark_durable(s, c.epoch);
		return 0;
	}
	int err = 0;
	c.w = calloc(fs.n ? fs.n : 1, sizeof(*c.w));
	uint64_t commit_csum = 0;
	err = c.w ? flush_write(&c, &fs, &commit_csum) : -ENOMEM;
	bool durable = !err;
	if (!err)
		keep_digest(&c, &fs);     /* before publish moves l->loc and the chain */
	if (!err)
		err = flush_publish(&c, commit_csum);
	blob_plan_end(s, &c.blobs, durable);
	for (size_t i = 0; i < c.nw; i++) {
		bloom_free(&c.w[i].bloom);
		free(c.w[i].hash);
	}
	free(c.w);
	buf_free(&c.out);
	buf_free(&c.commit.body);
	if (err && !durable && !c.fatal && flush_retryable(err)) {
		err = flush_stall(s, c.epoch, &fs, err);
		flush_set_free(&fs);
		return err;
	}
	flush_set_free(&fs);
	if (err) {
		store_log(s, LKV_LOG_ERR, "flush of epoch %" PRIu64 " failed: %s; the store "
			  "accepts no more changes", c.epoch, strerror(-err));
		return store_fail(s, err);
	}
	flush_unstall(s);
	uint64_t dt = now_ns() - t0;
	STAT_ADD(s, st_flushes, 1);
	STAT_ADD(s, st_flush_ns, dt);
	uint64_t max = atomic_load(&s->st_flush_max);
	while (dt > max && !atomic_compare_exchange_weak(&s->st_flush_max, &max, dt))
		;
	snapshot_due(s, false);          /* a failure is logged and retried later */
	if (s->lt.log_off >= s->o.log_file_bytes)
		err = log_roll(s);
	cache_evict(s);
	return err;
}

#ifndef NDEBUG
/* Whether file f is `off` bytes long (for assertions). */
static bool file_ends_at(lkv_store *s, lkv_file *f, uint64_t off)
{
	uint64_t size;
	return s->io->ops->size(f, &size) || size == off;
}
#endif

/*
 * Ends the current log file: the next flush starts a new one.  The file
 * must end at its last commit first (recovery goes on to the next file
 * only from there), so zeros written ahead are cut off, durably; if that
 * fails the store fails, as a commit in the next file would be lost.
 * Caller holds flush_mu.
 */
static int log_roll(lkv_store *s)
{
	if (!s->lt.log_off)
		return 0;
	lkv_file *old;
	int err = logzero_end(s, s->lt.log_off, &old);
	if (err) {
		store_log(s, LKV_LOG_ERR, "cannot cut log file %08u at its last commit: %s; "
			  "the store accepts no more changes", s->lt.log_file, strerror(-err));
		return store_fail(s, err);
	}
	LKV_ASSERT(!old || file_ends_at(s, old, s->lt.log_off));
	if (old)
		s->io->ops->close(old);
	s->log_base += s->lt.log_off;     /* digests count back across files */
	s->lt.log_file++;
	s->lt.log_off = 0;
	return 0;
}

/* log_roll for GC, which wants the dead leaf images of the current file. */
int log_seal(lkv_store *s)
{
	pthread_mutex_lock(&s->flush_mu);
	int err = log_roll(s);
	pthread_mutex_unlock(&s->flush_mu);
	return err;
}

/* Waits on ep_cv (ep_mu held) for a change, at most FLUSH_WAIT_MS: a
 * holder of flush_mu other than a flush (GC, check) does not signal it. */
static void flush_wait(lkv_store *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += FLUSH_WAIT_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&s->ep_cv, &s->ep_mu, &ts);
}

/* Makes epoch e (0: the current one) durable; `bg`: a background flush
 * (see the header). */
int flush_through(lkv_store *s, uint64_t e, bool bg)
{
	int err = 0;
	if (!bg)
		atomic_store(&s->fg_flush_ns, now_ns());     /* consolidation_due */
	pthread_mutex_lock(&s->ep_mu);
	if (e == 0)
		e = s->current;
	while (!(err = atomic_load(&s->failed)) && s->durable < e) {
		if (pthread_mutex_trylock(&s->flush_mu)) {   /* a flush is running */
			flush_wait(s);
			continue;
		}
		pthread_mutex_unlock(&s->ep_mu);
		err = flush_one(s, bg);
		pthread_mutex_unlock(&s->flush_mu);
		pthread_mutex_lock(&s->ep_mu);
		pthread_cond_broadcast(&s->ep_cv);           /* flush_mu is free */
		if (err)
			break;
	}
	pthread_mutex_unlock(&s->ep_mu);
	return err;
}
