/* SPDX-License-Identifier: MIT */
/*
 * Flush epochs: stamping changes, and sealing an epoch for its flush.
 *
 * `current` is the epoch new writers check in to; `durable` the newest epoch
 * whose commit is on stable storage.  Only the flusher (under flush_mu)
 * seals: it makes current+1 the new current and waits for the writers still
 * checked in to the old one.  Flushes run one at a time and finish before
 * the next seal, so at most two epochs have unflushed changes: the sealed
 * one being written and the current one.  Their flush sets live in
 * sets[epoch & 1].
 *
 * A writer checks in while holding the write locks of the trees it changes
 * (batch.c); that makes epochs monotone per leaf and keeps every wait on a
 * seal short: writers never do I/O while checked in.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

uint64_t epoch_enter(lkv_store *s)
{
	pthread_mutex_lock(&s->ep_mu);
	uint64_t e = s->current;
	s->writers[e & 1]++;
	pthread_mutex_unlock(&s->ep_mu);
	return e;
}

void epoch_exit(lkv_store *s, uint64_t e)
{
	pthread_mutex_lock(&s->ep_mu);
	LKV_ASSERT(s->writers[e & 1] > 0);
	if (--s->writers[e & 1] == 0 && e != s->current)
		pthread_cond_broadcast(&s->ep_cv);
	pthread_mutex_unlock(&s->ep_mu);
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	size_t c = *cap ? *cap * 2 : 64;
	void *q = realloc(p, c * size);
	if (q)
		*cap = c;
	return q;
}

/* Serializes l as of its sealed dirty epoch for that epoch's flush: the
 * record that flush would write (image.c), a delta of what changed since
 * the leaf's chain or a full image.  Later changes are stamped with the
 * later epoch, so the flush after can tell them apart. */
static int capture_sealed(lkv_store *s, struct leaf *l)
{
	struct leaf_img *img;
	int err = leaf_image(s, l, atomic_load(&s->flush_bg), &img);
	if (err)
		return err;
	l->sealed = img;
	l->captured_epoch = l->dirty_epoch;
	return 0;
}

static int set_add_leaf(struct flush_set *fs, struct leaf *l)
{
	struct leaf **v = grow(fs->leaves, &fs->cap, fs->n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	fs->leaves = v;
	leaf_ref(l);
	v[fs->n++] = l;
	return 0;
}

static int set_add_dead(struct flush_set *fs, uint64_t id)
{
	uint64_t *d = grow(fs->dead, &fs->deadcap, fs->ndead, sizeof(*d));
	if (!d)
		return -ENOMEM;
	fs->dead = d;
	d[fs->ndead++] = id;
	return 0;
}

/*
 * Records that leaf l changes in epoch e.  Caller holds l's tree write lock
 * and is checked in to e.  If l still carries changes of the sealed epoch
 * e-1 that its flush has not serialized yet, they are captured first
 * (cooperative serialization), so the flush never sees e's changes and
 * never waits for this writer.  Returns 0 or -ENOMEM.
 */
int epoch_dirty(lkv_store *s, struct leaf *l, uint64_t e)
{
	LKV_ASSERT(rw_write_held(&l->tree->lock));
	LKV_ASSERT(l->dirty_epoch <= e && l->ents && !l->dead_epoch);
	if (l->dirty_epoch == e)
		return 0;
	if (l->dirty_epoch && l->captured_epoch != l->dirty_epoch) {
		int err = capture_sealed(s, l);
		if (err)
			return err;
	}
	pthread_mutex_lock(&s->ep_mu);
	int err = set_add_leaf(&s->sets[e & 1], l);
	pthread_mutex_unlock(&s->ep_mu);
	if (err)
		return err;
	l->dirty_epoch = e;
	return 0;
}

/* Records that l left the index in epoch e (merged or emptied). */
int epoch_dead(lkv_store *s, struct leaf *l, uint64_t e)
{
	LKV_ASSERT(rw_write_held(&l->tree->lock) && !l->dead_epoch);
	pthread_mutex_lock(&s->ep_mu);
	/* recorded even for a leaf never written: deleting an unknown id is
	 * a no-op, and "written by the sealed flush" is not known here */
	int err = set_add_dead(&s->sets[e & 1], l->id);
	pthread_mutex_unlock(&s->ep_mu);
	if (!err)
		l->dead_epoch = e;
	return err;
}

int epoch_add_tree(lkv_store *s, struct lkv_tree *t, uint64_t e)
{
	pthread_mutex_lock(&s->ep_mu);
	struct flush_set *fs = &s->sets[e & 1];
	struct lkv_tree **v = grow(fs->trees, &fs->treecap, fs->ntrees, sizeof(*v));
	if (v) {
		fs->trees = v;
		v[fs->ntrees++] = t;
	}
	pthread_mutex_unlock(&s->ep_mu);
	return v ? 0 : -ENOMEM;
}

/* Records that epoch e changed the live blob bytes of segment seg. */
int epoch_seg_delta(lkv_store *s, uint32_t seg, int64_t bytes, uint64_t e)
{
	pthread_mutex_lock(&s->ep_mu);
	struct flush_set *fs = &s->sets[e & 1];
	struct seg_delta *d = NULL;
	for (size_t i = fs->nsegd; i-- > 0 && !d;)
		if (fs->segd[i].seg == seg)
			d = &fs->segd[i];
	if (!d) {
		struct seg_delta *v = grow(fs->segd, &fs->segdcap, fs->nsegd, sizeof(*v));
		if (v) {
			fs->segd = v;
			d = &v[fs->nsegd++];
			*d = (struct seg_delta){ .seg = seg };
		}
	}
	if (d) {
		d->bytes += bytes;
		atomic_fetch_add(&s->blob_live_mem, bytes);
	}
	pthread_mutex_unlock(&s->ep_mu);
	return d ? 0 : -ENOMEM;
}

/* Asks the background thread (background.c) to flush the current epoch
 * now; nothing happens without one. */
void epoch_kick(lkv_store *s)
{
	pthread_mutex_lock(&s->bg_mu);
	s->bg_kick = true;
	pthread_cond_signal(&s->bg_cv);
	pthread_mutex_unlock(&s->bg_mu);
}

/* Wakes the background thread to look again at when to flush (a flush
 * failed for space: retry after its pause, not the whole interval). */
void epoch_nudge(lkv_store *s)
{
	pthread_mutex_lock(&s->bg_mu);
	pthread_cond_signal(&s->bg_cv);
	pthread_mutex_unlock(&s->bg_mu);
}

/* Whether the current epoch has changes to flush. */
bool epoch_has_work(lkv_store *s)
{
	pthread_mutex_lock(&s->ep_mu);
	bool work = !flush_set_empty(&s->sets[s->current & 1]);
	pthread_mutex_unlock(&s->ep_mu);
	return work;
}

bool flush_set_empty(const struct flush_set *fs)
{
	return !fs->n && !fs->ndead && !fs->ntrees && !fs->nsegd;
}

void flush_set_free(struct flush_set *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		leaf_unref(fs->leaves[i]);
	free(fs->leaves);
	free(fs->dead);
	free(fs->trees);
	free(fs->segd);
	*fs = (struct flush_set){ 0 };
}

/*
 * Moves one leaf of failed epoch e to the current epoch `next`.  Caller
 * holds the leaf's tree lock.  A record captured for e is dropped: the
 * leaf's chain still ends where it did, and the changes of e, stamped
 * with epochs after the chain's (logged_epoch), go into next's record
 * with next's own.
 */
static int fold_leaf(lkv_store *s, struct leaf *l, uint64_t e, uint64_t next)
{
	if (l->sealed && l->captured_epoch == e) {
		leaf_img_free(l->sealed);
		l->sealed = NULL;
	}
	if (l->dirty_epoch != e || (l->dead_epoch && l->dead_epoch <= e))
		return 0;      /* changed in next too (so listed there), or gone */
	pthread_mutex_lock(&s->ep_mu);
	int err = set_add_leaf(&s->sets[next & 1], l);
	pthread_mutex_unlock(&s->ep_mu);
	if (!err)
		l->dirty_epoch = next;
	return err;
}

/* Adds what fs deleted, created and moved between segments to set `to`.
 * Caller holds ep_mu. */
static int fold_rest(struct flush_set *to, const struct flush_set *fs)
{
	for (size_t i = 0; i < fs->ndead; i++)
		if (set_add_dead(to, fs->dead[i]))
			return -ENOMEM;
	for (size_t i = 0; i < fs->ntrees; i++) {
		struct lkv_tree **v = grow(to->trees, &to->treecap, to->ntrees, sizeof(*v));
		if (!v)
			return -ENOMEM;
		to->trees = v;
		v[to->ntrees++] = fs->trees[i];
	}
	for (size_t i = 0; i < fs->nsegd; i++) {
		struct seg_delta *d = NULL;
		for (size_t j = 0; j < to->nsegd && !d; j++)
			if (to->segd[j].seg == fs->segd[i].seg)
				d = &to->segd[j];
		if (!d) {
			struct seg_delta *v = grow(to->segd, &to->segdcap, to->nsegd, sizeof(*v));
			if (!v)
				return -ENOMEM;
			to->segd = v;
			d = &v[to->nsegd++];
			*d = (struct seg_delta){ .seg = fs->segd[i].seg };
		}
		d->bytes += fs->segd[i].bytes;     /* blob_live_mem already counts it */
	}
	return 0;
}

/*
 * Gives the changes of sealed epoch e, whose flush failed before any of it
 * became durable, to the current epoch e + 1: its leaves (still dirty,
 * now as of e + 1), the leaves it deleted, the trees it created and its
 * live blob byte changes are flushed with e + 1's, and e is never durable
 * on its own.  No epoch boundary is lost that a crash could have shown:
 * the state at the end of e + 1 includes all of e.  Caller holds flush_mu
 * (so no seal runs meanwhile) and still frees fs.  -ENOMEM leaves the
 * fold incomplete: the caller must fail the store.
 */
int epoch_fold(lkv_store *s, uint64_t e, struct flush_set *fs)
{
	uint64_t next = e + 1;
	int err = 0;
	LKV_ASSERT(mu_held(&s->flush_mu) && lkv_epoch_current(s) == next);
	for (size_t i = 0; i < fs->n && !err; i++) {
		struct leaf *l = fs->leaves[i];
		pthread_rwlock_wrlock(&l->tree->lock);
		err = fold_leaf(s, l, e, next);
		pthread_rwlock_unlock(&l->tree->lock);
	}
	pthread_mutex_lock(&s->ep_mu);
	if (!err)
		err = fold_rest(&s->sets[next & 1], fs);
	pthread_mutex_unlock(&s->ep_mu);
	return err;
}

/*
 * Seals the current epoch: later writers go to the next one.  Waits for the
 * sealed epoch's writers to check out, then hands its flush set to the
 * caller (the flusher, holding flush_mu).  Returns the sealed epoch.
 */
uint64_t epoch_seal(lkv_store *s, struct flush_set *out)
{
	pthread_mutex_lock(&s->ep_mu);
	uint64_t e = s->current++;
	while (s->writers[e & 1])
		pthread_cond_wait(&s->ep_cv, &s->ep_mu);
	*out = s->sets[e & 1];
	s->sets[e & 1] = (struct flush_set){ 0 };
	pthread_mutex_unlock(&s->ep_mu);
	return e;
}

/* ---- the public view ---- */

uint64_t lkv_epoch_current(lkv_store *s)
{
	pthread_mutex_lock(&s->ep_mu);
	uint64_t e = s->current;
	pthread_mutex_unlock(&s->ep_mu);
	return e;
}

uint64_t lkv_epoch_durable(lkv_store *s)
{
	pthread_mutex_lock(&s->ep_mu);
	uint64_t e = s->durable;
	pthread_mutex_unlock(&s->ep_mu);
	return e;
}
