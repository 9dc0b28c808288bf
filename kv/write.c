/* SPDX-License-Identifier: MIT */
/*
 * The public write calls: what a writer goes through before its batch is
 * applied (batch.c).
 *
 *   - A value of blob_threshold bytes or more goes to its blob segment when
 *     it is put, straight from the caller's buffer (never through the batch
 *     arena); the batch carries the reference and holds the segment until
 *     it ends, so GC cannot drop the bytes before they are referenced.
 *   - Before its first blob a writer helps GC when segments hold too many
 *     dead bytes (gc.c): a bounded pass, the write stall.
 *   - At commit, a writer that finds more than twice dirty_bytes of dirty
 *     leaves, or more than dirty_bytes while the cache is over its budget,
 *     flushes them itself (or, while flushes fail for space, fails with
 *     that error); past dirty_bytes it wakes the flusher.
 * A failed store refuses every change with its error; a read-only or
 * frozen one with -EROFS (the freeze gate, freeze.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

/* Runs a GC pass first when segments hold too many dead bytes (gc.c). */
static int blob_stall(lkv_store *s)
{
	if (!gc_space_pressure(s))
		return 0;
	int err = gc_pass(s, false);
	if (!err && gc_space_pressure(s))
		blob_seal(s);        /* the dead bytes are in the current segment */
	return err;
}

/*
 * Adds the put of a large value: the value goes to its blob segment now,
 * straight from the caller's buffer (never through the arena), and the
 * batch carries the reference.  The batch holds the segment until its
 * commit or clear, so GC cannot drop the bytes before they are referenced.
 * The writer helps GC at most once per batch, before its first blob (a
 * pass skips the segments a batch holds).
 */
static int put_blob(lkv_batch *b, lkv_tree *t, const void *k, size_t kl, const void *v,
		    size_t vl)
{
	lkv_store *s = lkv_batch_store(b);
	int err = change_begin(s);
	if (err)
		return err;
	err = batch_has_blobs(b) ? 0 : blob_stall(s);
	struct blob_ref r;
	if (!err)
		err = blob_write(s, t->id, k, kl, v, vl, &r);
	change_end(s);
	return err ? err : batch_put_blob(b, t, k, kl, &r);
}

int lkv_batch_put(lkv_batch *b, lkv_tree *t, const void *k, size_t kl,
		  const void *v, size_t vl)
{
	lkv_store *s = lkv_batch_store(b);
	if (t && t->s == s && !s->ro && s->o.blob_threshold && vl >= s->o.blob_threshold &&
	    kl <= LKV_KEY_MAX && vl <= LKV_VALUE_MAX && (k || !kl) && v)
		return put_blob(b, t, k, kl, v, vl);
	return batch_put_inline(b, t, k, kl, v, vl);
}

/* Writers that find too much dirty data help flush it (back-pressure):
 * past twice the dirty limit, or past the limit when the cache is over
 * its budget (what is dirty cannot be evicted, so only a flush brings the
 * cache back).  While flushes fail for space and the pause after the last
 * failure runs, such a writer gets that error at once instead of another
 * attempt. */
static int backpressure(lkv_store *s)
{
	size_t dirty = atomic_load(&s->dirty_bytes);
	bool over = atomic_load(&s->cache_bytes) > s->o.cache_bytes;
	if (dirty > 2 * s->o.dirty_bytes || (over && dirty > s->o.dirty_bytes)) {
		int stalled = atomic_load(&s->stall_err);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		if (stalled && now < atomic_load(&s->stall_until_ns))
			return stalled;
		return flush_through(s, 0);
	}
	if (dirty > s->o.dirty_bytes)
		epoch_kick(s);
	return 0;
}

int lkv_batch_commit(lkv_batch *b, uint64_t *epoch)
{
	lkv_store *s = lkv_batch_store(b);
	int err = s->ro ? -EROFS : atomic_load(&s->failed);
	if (!err)
		err = change_begin(s);
	if (err) {
		lkv_batch_clear(b);
		return err;
	}
	err = backpressure(s);
	if (err)
		lkv_batch_clear(b);
	else
		err = batch_commit(b, epoch);
	change_end(s);
	return err;
}

/* ---- single operations ---- */

/* A one-operation batch (a large value goes from the caller's buffer to its
 * segment, as in any batch). */
static int one_op(lkv_tree *t, const void *k, size_t kl, const void *v, size_t vl,
		  bool del, uint64_t *epoch)
{
	lkv_batch *b = lkv_batch_new(t->s);
	if (!b)
		return -ENOMEM;
	int err = del ? lkv_batch_delete(b, t, k, kl) : lkv_batch_put(b, t, k, kl, v, vl);
	if (!err)
		err = lkv_batch_commit(b, epoch);
	lkv_batch_free(b);
	return err;
}

int lkv_put(lkv_tree *t, const void *k, size_t kl, const void *v, size_t vl, uint64_t *epoch)
{
	return one_op(t, k, kl, v, vl, false, epoch);
}

int lkv_delete(lkv_tree *t, const void *k, size_t kl, uint64_t *epoch)
{
	return one_op(t, k, kl, NULL, 0, true, epoch);
}
