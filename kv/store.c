/* SPDX-License-Identifier: MIT */
/*
 * The store object: options, open, freeze and close, trees by name,
 * epochs, stats and messages.  Recovery (recovery.c) does the real work of
 * opening.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define TREE_NAME_MAX 255
#define DIRTY_FLOOR   (1u << 20)   /* the dirty limit is never lowered below */

static int unsettle(lkv_store *s);

void lkv_options_default(struct lkv_options *o)
{
	*o = (struct lkv_options){
		.cache_bytes = 256u << 20,
		.dirty_bytes = 64u << 20,
		.flush_interval_ms = 5000,
		.compression_level = 1,
		.leaf_bytes = 16u << 10,
		.bloom_bits = 10,
		.snapshot_bytes = 64u << 20,
		.snapshot_share = 20,
		.log_file_bytes = 64u << 20,
		.blob_threshold = 32u << 10,
		.blob_segment_bytes = 256u << 20,
		.gc_live_percent = 60,
		.gc_interval_ms = 10000,
		.lock_wait_ms = 30000,
	};
}

static void store_free(lkv_store *s)
{
	for (size_t i = 0; i < s->ntrees; i++)
		tree_free(s->trees[i]);
	free(s->trees);
	for (int i = 0; i < 2; i++)
		flush_set_free(&s->sets[i]);
	loctable_free(&s->lt);
	store_files_close(s);
	if (s->log)
		s->io->ops->close(s->log);
	if (s->seg)
		s->io->ops->close(s->seg);
	for (size_t i = 0; i < s->nseg_unsynced; i++)
		s->io->ops->close(s->seg_unsynced[i].f);
	free(s->seg_unsynced);
	for (size_t i = 0; i < s->ncons; i++)
		leaf_unref(s->cons[i]);
	free(s->cons);
	free(s->meta);
	digest_ring_free(&s->digests);
	pthread_mutex_destroy(&s->meta_mu);
	free(s->seg_pending);
	if (s->own_io && s->io)
		s->io->ops->destroy(s->io);
	ZSTD_freeCCtx(s->cctx);
	pthread_mutex_destroy(&s->trees_mu);
	pthread_mutex_destroy(&s->ep_mu);
	pthread_cond_destroy(&s->ep_cv);
	pthread_mutex_destroy(&s->flush_mu);
	pthread_mutex_destroy(&s->bg_mu);
	pthread_cond_destroy(&s->bg_cv);
	pthread_mutex_destroy(&s->zero_mu);
	pthread_cond_destroy(&s->zero_cv);
	pthread_mutex_destroy(&s->cache_mu);
	pthread_rwlock_destroy(&s->files_mu);
	pthread_mutex_destroy(&s->blob_mu);
	pthread_cond_destroy(&s->blob_cv);
	pthread_mutex_destroy(&s->gc_mu);
	pthread_mutex_destroy(&s->freeze_mu);
	free(s->dir);
	free(s);
}

static int check_options(const struct lkv_options *o)
{
	if (o->leaf_bytes < 256 || o->leaf_bytes > (64u << 20) ||
	    o->compression_level < 0 || o->compression_level > ZSTD_maxCLevel() ||
	    o->bloom_bits > 64 || o->snapshot_bytes == 0 || o->log_file_bytes == 0 ||
	    (o->blob_threshold && o->blob_threshold < 64) || o->blob_segment_bytes < (1u << 20) ||
	    o->gc_live_percent > 100 ||
	    (o->flags & ~(LKV_CREATE | LKV_READONLY | LKV_SALVAGE)))
		return -EINVAL;
	return 0;
}

static lkv_store *store_alloc(const char *dir, const struct lkv_options *o)
{
	lkv_store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->o = *o;
	if (!s->o.log)
		s->o.log = store_log_stderr;
	/* Dirty leaves cannot be evicted: past a quarter of the cache they
	 * would crowd out the clean ones (write.c flushes at twice the limit,
	 * and a flush's sealed leaves stay resident until it ends). */
	size_t dirty_max = s->o.cache_bytes / 4 > DIRTY_FLOOR ? s->o.cache_bytes / 4 : DIRTY_FLOOR;
	if (s->o.dirty_bytes > dirty_max)
		s->o.dirty_bytes = dirty_max;
	s->ro = o->flags & LKV_READONLY;
	s->dir = strdup(dir);
	s->cctx = ZSTD_createCCtx();
	pthread_mutex_init(&s->trees_mu, NULL);
	pthread_mutex_init(&s->ep_mu, NULL);
	pthread_cond_init(&s->ep_cv, NULL);
	pthread_mutex_init(&s->flush_mu, NULL);
	pthread_mutex_init(&s->bg_mu, NULL);
	pthread_cond_init(&s->bg_cv, NULL);
	pthread_mutex_init(&s->zero_mu, NULL);
	pthread_cond_init(&s->zero_cv, NULL);
	pthread_mutex_init(&s->cache_mu, NULL);
	pthread_rwlock_init(&s->files_mu, NULL);
	pthread_mutex_init(&s->blob_mu, NULL);
	pthread_cond_init(&s->blob_cv, NULL);
	pthread_mutex_init(&s->gc_mu, NULL);
	pthread_mutex_init(&s->meta_mu, NULL);
	pthread_mutex_init(&s->freeze_mu, NULL);
	loctable_init(&s->lt);
	if (!s->dir || !s->cctx) {
		store_free(s);
		return NULL;
	}
	return s;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Takes the store lock.  When another process holds it and says it is
 * closing the store (lkv_close_begin; an unmount returns before the daemon
 * has flushed and let go), waits for it, at most lock_wait_ms, saying so
 * once.  A holder that has not said so within LOCK_GRACE_MS is using the
 * store: -EBUSY, naming it.
 */
#define LOCK_GRACE_MS 1000
#define LOCK_POLL_NS  (20 * 1000 * 1000)

static int take_lock(lkv_store *s)
{
	const struct lkv_io_ops *ops = s->io->ops;
	uint64_t t0 = mono_ms();
	bool said = false;
	pid_t pid = 0;
	int err;
	while ((err = ops->lock(s->io, !s->ro)) == -EBUSY && ops->lock_holder) {
		bool closing = false;
		uint64_t waited = mono_ms() - t0;
		if (ops->lock_holder(s->io, &pid, &closing) ||
		    (!closing && waited >= LOCK_GRACE_MS) ||
		    (closing && waited >= s->o.lock_wait_ms))
			break;
		if (closing && !said) {
			store_log(s, LKV_LOG_WARN, "waiting for process %ld, which is closing the "
				  "store (at most %u s)", (long)pid, s->o.lock_wait_ms / 1000);
			said = true;
		}
		struct timespec tick = { 0, LOCK_POLL_NS };
		nanosleep(&tick, NULL);
	}
	if (err == -EBUSY && said)
		store_log(s, LKV_LOG_ERR, "process %ld is still closing the store after %u s",
			  (long)pid, s->o.lock_wait_ms / 1000);
	else if (err == -EBUSY)
		store_log(s, LKV_LOG_ERR, "the store is in use by another process");
	return err;
}

int lkv_open(const char *dir, const struct lkv_options *o, lkv_store **out)
{
	struct lkv_options def;
	if (!o) {
		lkv_options_default(&def);
		o = &def;
	}
	int err = check_options(o);
	if (err)
		return err;
	lkv_store *s = store_alloc(dir, o);
	if (!s)
		return -ENOMEM;
	s->io = o->io;
	if (!s->io) {
		err = lkv_io_posix(dir, (o->flags & LKV_CREATE) && !s->ro, &s->io);
		s->own_io = true;
		if (err)
			store_log(s, LKV_LOG_ERR, "cannot open the directory: %s", strerror(-err));
	}
	if (!err)
		err = take_lock(s);
	if (!err)
		err = recovery_run(s);
	if (!err && !s->ro)
		err = unsettle(s);
	if (err) {
		flusher_stop(s);
		store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void lkv_close_begin(lkv_store *s)
{
	if (!s->ro && s->io->ops->lock_closing)
		s->io->ops->lock_closing(s->io);
}

/*
 * Leaves the files as a closed store's: every change durable, a snapshot
 * of it when that pays (snapshot_due), the log cut at its last commit.  The background thread is
 * stopped first, and the log zeroing helper too.  A flush that fails is
 * said, as `doing` what, and `then`.
 */
static int settle(lkv_store *s, const char *doing, const char *then)
{
	int err = 0;
	flusher_stop(s);
	if (!s->ro && !atomic_load(&s->failed)) {
		err = flush_through(s, 0, true);
		if (err && !atomic_load(&s->failed))
			store_log(s, LKV_LOG_ERR, "%s: the changes made after epoch %" PRIu64
				  " cannot be written (%s)%s", doing, s->lt.epoch,
				  strerror(-err), then);
		if (!err)
			snapshot_due(s, true);          /* a failure is logged */
	}
	logzero_stop(s);
	if (!s->ro && !atomic_load(&s->failed)) {     /* the log ends at its last commit */
		pthread_mutex_lock(&s->flush_mu);
		int cerr = logzero_cut(s, s->lt.log_off);
		pthread_mutex_unlock(&s->flush_mu);
		err = err ? err : cerr;
	}
	return err;
}

/* Starts what settle() stopped. */
static int unsettle(lkv_store *s)
{
	int err = s->o.flush_interval_ms ? flusher_start(s) : 0;
	return err ? err : logzero_start(s);
}

int lkv_freeze(lkv_store *s)
{
	if (s->ro)
		return 0;
	pthread_mutex_lock(&s->freeze_mu);
	int err = 0;
	if (freeze_gate_close(s)) {
		err = settle(s, "freezing", "; retried");
		if (err) {
			int uerr = unsettle(s);
			freeze_gate_open(s);
			err = uerr ? uerr : err;
		}
	}
	pthread_mutex_unlock(&s->freeze_mu);
	return err;
}

int lkv_thaw(lkv_store *s)
{
	if (s->ro)
		return 0;
	pthread_mutex_lock(&s->freeze_mu);
	int err = 0;
	if (atomic_load(&s->frozen)) {
		err = unsettle(s);
		if (!err)
			freeze_gate_open(s);
	}
	pthread_mutex_unlock(&s->freeze_mu);
	return err;
}

int lkv_close(lkv_store *s)
{
	if (!s)
		return 0;
	lkv_close_begin(s);
	int err = settle(s, "closing", " and are lost");
	store_free(s);
	return err;
}

void lkv_uuid(const lkv_store *s, uint8_t uuid[16])
{
	memcpy(uuid, s->uuid, 16);
}

/* ---- trees ---- */

static struct lkv_tree *tree_by_name(lkv_store *s, const char *name)
{
	for (size_t i = 0; i < s->ntrees; i++)
		if (!strcmp(s->trees[i]->name, name))
			return s->trees[i];
	return NULL;
}

/* Creates tree `name` with its first (empty) leaf in the current epoch. */
static int tree_add(lkv_store *s, const char *name, struct lkv_tree **out)
{
	struct lkv_tree *t;
	void *v = realloc(s->trees, (s->ntrees + 1) * sizeof(*s->trees));
	if (!v)
		return -ENOMEM;
	s->trees = v;
	int err = tree_create(s, s->next_tree_id, name, &t);
	if (err)
		return err;
	struct leaf *l = leaf_new(t, atomic_fetch_add(&s->next_leaf_id, 1), "", 0);
	if (!l || !(l->ents = entries_new()) || tree_insert_leaf(t, 0, l)) {
		if (l)
			leaf_unref(l);
		tree_free(t);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&t->lock);
	uint64_t e = epoch_enter(s);
	err = epoch_add_tree(s, t, e);
	if (!err)
		err = epoch_dirty(s, l, e);
	epoch_exit(s, e);
	if (!err)
		cache_track(s, l);
	pthread_rwlock_unlock(&t->lock);
	if (err)
		return store_fail(s, err);
	s->next_tree_id++;
	s->trees[s->ntrees++] = t;
	*out = t;
	return 0;
}

int lkv_tree_open(lkv_store *s, const char *name, lkv_tree **out)
{
	size_t len = strlen(name);
	if (len == 0 || len > TREE_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->trees_mu);
	int err = 0;
	*out = tree_by_name(s, name);
	if (!*out)
		err = s->ro ? -ENOENT : atomic_load(&s->failed);
	if (!*out && !err)
		err = tree_add(s, name, out);
	pthread_mutex_unlock(&s->trees_mu);
	return err;
}

/* ---- stats ---- */

struct disk_sum { lkv_io *io; uint64_t bytes, blob_bytes; };

/* Adds the size of one store file (log, segment, snapshot) to the sum. */
static int add_file_size(void *arg, const struct file_id *id, bool tmp, const char *name)
{
	struct disk_sum *d = arg;
	uint64_t size;
	if (!id || (id->kind != FILE_LOG && id->kind != FILE_BLOB && id->kind != FILE_SNAP) ||
	    file_size(d->io, name, &size))
		return 0;
	(void)tmp;
	d->bytes += size;
	if (id->kind == FILE_BLOB)
		d->blob_bytes += size;
	return 0;
}

#define LD(f) atomic_load_explicit(&s->f, memory_order_relaxed)

void lkv_memory(lkv_store *s, struct lkv_memory *m)
{
	*m = (struct lkv_memory){ .cache = LD(cache_bytes), .cache_budget = s->o.cache_bytes,
		.dirty = LD(dirty_bytes), .leaves = LD(nleaves) };
	for (size_t i = 0;; i++) {      /* trees live until the close */
		pthread_mutex_lock(&s->trees_mu);
		struct lkv_tree *t = i < s->ntrees ? s->trees[i] : NULL;
		pthread_mutex_unlock(&s->trees_mu);
		if (!t)
			break;
		m->index += tree_mem(t);
	}
	pthread_mutex_lock(&s->flush_mu);
	m->loctable = loctable_mem(&s->lt);
	pthread_mutex_unlock(&s->flush_mu);
}

void lkv_stats(lkv_store *s, struct lkv_stats *st)
{
	*st = (struct lkv_stats){
		.cache_hits = LD(st_hits), .cache_misses = LD(st_misses),
		.bloom_skips = LD(st_bloom), .leaves_read = LD(st_read),
		.leaves_written = LD(st_written), .evictions = LD(st_evict),
		.bytes_read = LD(st_bread), .bytes_written = LD(st_bwritten),
		.raw_bytes_written = LD(st_raw), .flushes = LD(st_flushes),
		.flush_ns_total = LD(st_flush_ns), .flush_ns_max = LD(st_flush_max),
		.snapshots = LD(st_snaps), .snapshots_full = LD(st_snap_full),
		.snapshot_bytes_written = LD(st_snap_bytes), .checksum_failures = LD(st_csum),
		.blob_bytes_written = LD(st_blob_written), .blob_raw_bytes_written = LD(st_blob_raw),
		.blob_bytes_read = LD(st_blob_read),
		.gc_runs = LD(st_gc_runs), .gc_bytes_moved = LD(st_gc_moved),
		.flush_errors = LD(st_flush_errors), .flush_stalled = LD(stall_err),
		.salvaged_bytes = s->salvaged,
		.log_damage = s->log_damage, .lost_leaf_images = s->lost_leaf_images,
		.rebuilt_commits = s->rebuilt_commits,
		.deltas_written = LD(st_deltas), .deltas_read = LD(st_delta_read),
		.consolidations = LD(st_consolidated), .user_bytes_written = LD(st_user),
		.log_zero_bytes = LD(st_zero),
		.cache_bytes = LD(cache_bytes), .cache_budget = s->o.cache_bytes,
		.cache_peak = LD(cache_peak),
		.dirty_bytes = LD(dirty_bytes),
		.leaves = LD(nleaves), .resident_leaves = LD(resident),
		.epoch = lkv_epoch_current(s), .durable_epoch = lkv_epoch_durable(s),
	};
	pthread_mutex_lock(&s->flush_mu);
	for (size_t i = 0; i < s->lt.nfiles; i++)
		st->live_bytes += s->lt.files[i].live;
	for (size_t i = 0; i < s->lt.nsegs; i++)
		st->blob_live_bytes += s->lt.segs[i].live;
	st->segments = s->lt.nsegs;
	st->live_bytes += st->blob_live_bytes;
	for (size_t i = 0; i < s->lt.cap; i++)
		if (s->lt.slot[i])
			st->chain_links += s->lt.slot[i]->nchain;
	pthread_mutex_unlock(&s->flush_mu);
	struct disk_sum sum = { s->io, 0, 0 };
	files_list(s->io, add_file_size, &sum);
	st->disk_bytes = sum.bytes;
	st->blob_disk_bytes = sum.blob_bytes;
}
