/* SPDX-License-Identifier: MIT */
/*
 * The log, zeroed ahead of the flush.
 *
 * A flush appends its records to the current log file and fdatasyncs it.
 * Appending grows the file, so that sync must also write the inode (its
 * size; on a journaled filesystem, a journal commit), while a sync after
 * overwriting blocks that are already written needs only the data and a
 * cache flush: on ext4 here, 7.5k overwrite+fdatasync a second against
 * 4.7k append+fdatasync.  So when flushes are small (an fsync loop), a
 * helper thread keeps the next ZERO_AHEAD bytes of the file (at most a
 * sixteenth of a log file) written with zeros and synced, and a flush that
 * lands inside them overwrites.
 *
 * Invariants, under zero_mu:
 *   - below `zeroed` every byte of the current log file is written and
 *     the file is at least that long, durably (the helper synced them);
 *   - `written` is where the last flush that wrote past `zeroed` ended.
 *     The helper writes only at or past max(zeroed, written), and a flush
 *     whose records end past `zeroed` writes them holding zero_mu, so the
 *     two never write the same bytes.  `zeroed` only grows while a file is
 *     current, so a flush may compare against it without the lock;
 *   - s->log changes (open, roll) only under both flush_mu and zero_mu.
 * Recovery reads zeros past the last commit as a torn tail, as it reads a
 * crash's partial flush.  It continues into the next log file only from a
 * file that ends exactly at a commit, so a roll first cuts the zeroed tail
 * off, durably (logzero_cut), and so does a clean close.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define ZERO_AHEAD  (1u << 20)     /* zeroed bytes kept past the flush, */
#define ZERO_SHARE  16u            /* and at most this part of a log file */
#define ZERO_SMALL  (256u << 10)   /* flushes this small start the helper */
#define ZERO_CHUNK  (256u << 10)   /* one write of zeros */

static uint64_t ahead(const lkv_store *s)
{
	uint64_t share = s->o.log_file_bytes / ZERO_SHARE;
	return share < ZERO_AHEAD ? share : ZERO_AHEAD;
}

/* Writes zeros up to ahead() past the last flush (not past the size at
 * which the file rolls over) and syncs them.  Caller holds zero_mu. */
static int zero_ahead(lkv_store *s, const uint8_t *zeros)
{
	lkv_file *f = s->log;
	uint64_t zeroed = atomic_load(&s->log_zeroed);
	uint64_t from = zeroed > s->log_written ? zeroed : s->log_written;
	uint64_t to = atomic_load(&s->log_pos) + ahead(s);
	if (to > s->o.log_file_bytes)
		to = s->o.log_file_bytes;
	if (!f || s->zero_failed || atomic_load(&s->failed) || from >= to)
		return 0;
	for (uint64_t at = from; at < to;) {
		size_t n = to - at < ZERO_CHUNK ? (size_t)(to - at) : ZERO_CHUNK;
		ssize_t w = s->io->ops->pwrite(f, zeros, n, at);
		if (w <= 0)
			return w ? (int)w : -EIO;
		at += (uint64_t)w;
	}
	int err = s->io->ops->sync(f);
	if (!err)
		atomic_store(&s->log_zeroed, to);
	return err;
}

static void *zeroer_main(void *arg)
{
	lkv_store *s = arg;
	uint8_t *zeros = calloc(1, ZERO_CHUNK);
	pthread_mutex_lock(&s->zero_mu);
	while (zeros && !s->zero_stop) {
		if (!s->zero_kick)
			pthread_cond_wait(&s->zero_cv, &s->zero_mu);
		s->zero_kick = false;
		if (s->zero_stop)
			break;
		int err = zero_ahead(s, zeros);
		if (err) {     /* costs only speed: flushes append instead */
			s->zero_failed = true;          /* until the next file */
			store_log(s, LKV_LOG_WARN, "cannot write zeros ahead in the current "
				  "log file (flushes append instead): %s", strerror(-err));
		}
	}
	pthread_mutex_unlock(&s->zero_mu);
	free(zeros);
	return NULL;
}

int logzero_start(lkv_store *s)
{
	s->zero_stop = false;   /* after a logzero_stop (lkv_thaw) */
	int err = pthread_create(&s->zeroer, NULL, zeroer_main, s);
	s->zeroer_running = !err;
	return -err;
}

void logzero_stop(lkv_store *s)
{
	if (!s->zeroer_running)
		return;
	pthread_mutex_lock(&s->zero_mu);
	s->zero_stop = true;
	pthread_cond_signal(&s->zero_cv);
	pthread_mutex_unlock(&s->zero_mu);
	pthread_join(s->zeroer, NULL);
	s->zeroer_running = false;
}

/* Before a flush writes its records [from, end) (flush_mu held): takes
 * zero_mu when they pass the zeroed range; returns whether it did. */
bool logzero_enter(lkv_store *s, uint64_t end)
{
	if (end <= atomic_load(&s->log_zeroed))
		return false;
	pthread_mutex_lock(&s->zero_mu);
	return true;
}

/* After the flush wrote its records up to end. */
void logzero_leave(lkv_store *s, bool held, uint64_t end)
{
	if (held) {
		if (end > s->log_written)
			s->log_written = end;
		pthread_mutex_unlock(&s->zero_mu);
	}
	atomic_store(&s->log_pos, end);
}

/* After a flush of `bytes` that ended at `end`: a small one asks the
 * helper to zero further ahead when half the zeroed range is used. */
void logzero_kick(lkv_store *s, uint64_t bytes, uint64_t end)
{
	uint64_t zeroed = atomic_load(&s->log_zeroed);
	if (!s->zeroer_running || bytes > ZERO_SMALL || end + ahead(s) / 2 <= zeroed ||
	    zeroed >= s->o.log_file_bytes)
		return;
	pthread_mutex_lock(&s->zero_mu);
	s->zero_kick = true;
	pthread_cond_signal(&s->zero_cv);
	pthread_mutex_unlock(&s->zero_mu);
}

/* Makes f (may be NULL) the current log file, which holds `off` bytes of
 * records.  Caller holds flush_mu. */
void logzero_switch(lkv_store *s, lkv_file *f, uint64_t off)
{
	pthread_mutex_lock(&s->zero_mu);
	s->log = f;
	s->zero_failed = false;
	atomic_store(&s->log_zeroed, 0);
	atomic_store(&s->log_pos, off);
	s->log_written = off;
	pthread_mutex_unlock(&s->zero_mu);
}

/* Cuts the current log file at `off` when anything lies past it, durably.
 * Caller holds zero_mu. */
static int cut_locked(lkv_store *s, uint64_t off)
{
	uint64_t size = 0;
	int err = s->log ? s->io->ops->size(s->log, &size) : 0;
	if (!err && size > off) {
		err = s->io->ops->truncate(s->log, off);
		if (!err)
			err = s->io->ops->sync(s->log);
		if (!err) {
			atomic_store(&s->log_zeroed, 0);
			s->log_written = off;
		}
	}
	return err;
}

/* Cuts the current log file at `off`, the end of its last commit, when
 * anything lies past it (zeros, or a helper's failed write), and makes
 * that durable.  Caller holds flush_mu. */
int logzero_cut(lkv_store *s, uint64_t off)
{
	pthread_mutex_lock(&s->zero_mu);
	int err = cut_locked(s, off);
	pthread_mutex_unlock(&s->zero_mu);
	return err;
}

/*
 * Ends the current log file at `off`: cuts it there durably and stops
 * using it, in one hold of zero_mu, so that the helper cannot write zeros
 * past the cut before the file stops being current (recovery would then
 * stop at this file and lose the commits of the next).  *old gets the
 * file (may be NULL) for the caller to close.  Caller holds flush_mu.
 */
int logzero_end(lkv_store *s, uint64_t off, lkv_file **old)
{
	pthread_mutex_lock(&s->zero_mu);
	int err = cut_locked(s, off);
	*old = err ? NULL : s->log;
	if (!err) {
		s->log = NULL;
		s->zero_failed = false;
		atomic_store(&s->log_zeroed, 0);
		atomic_store(&s->log_pos, 0);
		s->log_written = 0;
	}
	pthread_mutex_unlock(&s->zero_mu);
	return err;
}
