/* SPDX-License-Identifier: MIT */
/*
 * The flush path: making one epoch durable, and the background flusher.
 *
 * Flushing epoch E (one flush at a time, under flush_mu):
 *   1. seal E: new writers go to E+1; wait for E's writers to check out;
 *   2. serialize every leaf dirtied in E as of E: a writer of E+1 that
 *      touched it first has already captured that image (epoch.c), else the
 *      leaf is serialized now under its tree lock (memory only);
 *   3. append the leaf records and then one commit record to the current
 *      log file, outside every tree lock, and sync it (and the directory,
 *      for a new file): E is durable when the sync returns;
 *   4. apply the commit to the location table (exactly as recovery would),
 *      publish the new locations and filters, mark leaves clean, advance
 *      `durable` and wake the waiters;
 *   5. every snapshot_bytes of log, write a snapshot of the table and drop
 *      snapshots and log files nothing needs any more.
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
	struct leaf_loc loc;
	struct bloom bloom;
};

struct flush_ctx {
	lkv_store *s;
	uint64_t epoch;
	bool fatal;              /* failed where a retry is not safe */
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
	return flush_through(s, e);
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

/* The image of l as of the sealed epoch, or NULL when l needs none. */
static int take_image(struct flush_ctx *c, struct leaf *l, struct buf **img)
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
		*img = calloc(1, sizeof(**img));
		err = *img ? entries_encode(l->ents, l->tree->id, l->id, *img) : -ENOMEM;
		l->captured_epoch = c->epoch;
	} else {
		LKV_ASSERT(!"a leaf changed in a later epoch was not captured");
		err = -EUCLEAN;
	}
	pthread_rwlock_unlock(&l->tree->lock);
	return err;
}

/* Appends the record of one leaf and its location entry. */
static int add_leaf(struct flush_ctx *c, struct leaf *l, const struct buf *img)
{
	lkv_store *s = c->s;
	struct written *w = &c->w[c->nw];
	uint64_t off = c->out_off + c->out.len;
	uint64_t csum;
	int err = record_append(&c->out, REC_LEAF, c->epoch, img->p, img->len, s->cctx,
				s->o.compression_level, &csum);
	if (err)
		return err;
	*w = (struct written){ .l = l, .loc = { .file = s->lt.log_file,
		.len = (uint32_t)(c->out_off + c->out.len - off), .off = off, .csum = csum } };
	bloom_build(&w->bloom, img->p, img->len, atomic_load(&l->tree->bloom_bits));
	struct loc_ent e = { .leaf_id = l->id, .tree_id = l->tree->id,
		.nkeys = get_u32(img->p + 12), .loc = w->loc, .low = l->low,
		.low_len = l->low_len, .bloom = w->bloom };
	commit_enc_leaf(&c->commit, &e);
	c->nw++;
	STAT_ADD(s, st_raw, img->len);
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

/* Writes the records of a sealed epoch and makes them durable. */
static int flush_write(struct flush_ctx *c, struct flush_set *fs, uint64_t *commit_csum)
{
	lkv_store *s = c->s;
	bool fresh = s->log == NULL;
	int err = blob_sync(s);          /* referenced blobs durable first */
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
		struct buf *img;
		err = take_image(c, fs->leaves[i], &img);
		if (!err && img)
			err = add_leaf(c, fs->leaves[i], img);
		if (img) {
			buf_free(img);
			free(img);
		}
	}
	if (!err) {
		/* the digests of the commits that ended within reach of here */
		uint64_t start = s->log_base + s->lt.log_off;
		digest_forget(&s->digests, start > DIGEST_REACH ? start - DIGEST_REACH : 0);
		err = commit_enc_end(&c->commit, fs->dead, fs->ndead, fs->segd, fs->nsegd,
				     s->format_version >= 2 ? &s->digests : NULL);
	}
	if (!err)
		err = record_append(&c->out, REC_COMMIT, c->epoch, c->commit.body.p,
				    c->commit.body.len, NULL, 0, commit_csum);
	if (!err)
		err = write_out(c);
	if (!err)
		err = s->io->ops->sync(s->log);
	if (!err && s->log_unnamed)
		err = s->io->ops->sync_dir(s->io);
	if (!err)
		s->log_unnamed = false;
	if (!err)
		logzero_kick(s, c->out_off - s->lt.log_off, c->out_off);
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
	for (size_t i = 0; v && i < c->nw; i++) {
		struct leaf *l = c->w[i].l;
		v[i] = (struct digest_leaf){ .id = l->id, .tree = l->tree->id, .loc = c->w[i].loc,
			.isnew = l->loc.file == 0, .low = l->low, .low_len = l->low_len };
	}
	if (v)
		digest_encode(&d, c->epoch, s->lt.chain, v, c->nw, fs);
	if (!v || digest_keep(&s->digests, s->log_base + c->out_off, &d))
		store_log(s, LKV_LOG_WARN, "no memory to keep the digest of epoch %" PRIu64
			  ": a damaged commit there could not be rebuilt", c->epoch);
	buf_free(&d);
	free(v);
}

/* Step 4: the epoch is durable; make everyone see it. */
static int flush_publish(struct flush_ctx *c, uint64_t commit_csum)
{
	lkv_store *s = c->s;
	int err = commit_apply(&s->lt, c->commit.body.p, c->commit.body.len, c->epoch, commit_csum,
			       NULL, NULL);
	if (err)
		return err;
	s->since_snapshot += c->out_off - s->lt.log_off;
	s->lt.log_off = c->out_off;
	struct lt_file *lf = loctable_log(&s->lt, s->lt.log_file);
	if (lf)
		lf->size = c->out_off;
	uint64_t end;
	uint32_t seg = blob_current(s, &end);
	struct lt_file *sf = seg ? loctable_seg(&s->lt, seg) : NULL;
	if (sf)
		sf->size = end;
	for (size_t i = 0; i < c->nw; i++) {
		struct written *w = &c->w[i];
		struct leaf *l = w->l;
		/* the leaf shares the filter the table now holds (bloom.c) */
		const struct loc_ent *e = loctable_get(&s->lt, l->id);
		pthread_rwlock_wrlock(&l->tree->lock);
		l->loc = w->loc;
		bloom_free(&l->bloom);
		if (e && e->bloom.nbits == w->bloom.nbits) {
			bloom_copy(&l->bloom, &e->bloom);
			bloom_free(&w->bloom);
		} else {
			l->bloom = w->bloom;
			w->bloom = (struct bloom){ 0 };
		}
		if (l->dirty_epoch == c->epoch) {
			l->dirty_epoch = 0;
			atomic_fetch_sub(&s->dirty_bytes, l->dirty_charged);
			l->dirty_charged = 0;
		}
		pthread_rwlock_unlock(&l->tree->lock);
	}
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
static int flush_one(lkv_store *s)
{
	LKV_ASSERT(mu_held(&s->flush_mu));
	int failed = atomic_load(&s->failed);
	if (failed)
		return failed;
	uint64_t t0 = now_ns();
	struct flush_set fs;
	struct flush_ctx c = { .s = s };
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
	if (!err && s->format_version >= 2)
		keep_digest(&c, &fs);     /* before publish moves l->loc and the chain */
	if (!err)
		err = flush_publish(&c, commit_csum);
	for (size_t i = 0; i < c.nw; i++)
		bloom_free(&c.w[i].bloom);
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
	if (s->since_snapshot >= s->o.snapshot_bytes)
		snapshot_due(s);         /* a failure is logged and retried later */
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

int flush_through(lkv_store *s, uint64_t e)
{
	int err = 0;
	pthread_mutex_lock(&s->ep_mu);
	if (e == 0)
		e = s->current;
	while (!(err = atomic_load(&s->failed)) && s->durable < e) {
		if (pthread_mutex_trylock(&s->flush_mu)) {   /* a flush is running */
			flush_wait(s);
			continue;
		}
		pthread_mutex_unlock(&s->ep_mu);
		err = flush_one(s);
		pthread_mutex_unlock(&s->flush_mu);
		pthread_mutex_lock(&s->ep_mu);
		pthread_cond_broadcast(&s->ep_cv);           /* flush_mu is free */
		if (err)
			break;
	}
	pthread_mutex_unlock(&s->ep_mu);
	return err;
}
