/* SPDX-License-Identifier: MIT */
/*
 * The background thread of a writable store: it seals and flushes the
 * current epoch every flush_interval_ms (bounding what an unsynced crash
 * loses), or at once when kicked (a writer found too many dirty bytes),
 * consolidates the chains foreground flushes left past their soft limit
 * (gc.c) once foreground flushes pause (image.c: consolidation_due), and
 * runs a bounded GC pass every
 * gc_interval_ms.  While flushes fail for want of space (flush.c) it
 * retries after the flush's pause instead of the interval, so the kept
 * changes become durable soon after space returns.
 */
#include <string.h>
#include <time.h>

#include "internal.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Runs a bounded GC pass when gc_interval_ms has passed since the last. */
static void maybe_gc(lkv_store *s)
{
	uint64_t now = now_ns();
	if (!s->o.gc_interval_ms || now - s->gc_last_ns < s->o.gc_interval_ms * 1000000ull)
		return;
	s->gc_last_ns = now;
	int err = gc_pass(s, false, true);
	if (err && err != atomic_load(&s->failed) && err != atomic_load(&s->stall_err))
		store_log(s, LKV_LOG_WARN, "background GC: %s", strerror(-err));
}

/* When the next flush is due (UINT64_MAX: only when kicked): flush_interval_ms
 * after the last one; while flushes fail for space, when the pause after
 * the last failure ends, kicks or not (a failed attempt encodes every dirty
 * leaf: writers past the dirty limit must not drive a loop of them). */
static uint64_t flush_due(lkv_store *s, uint64_t next)
{
	if (atomic_load(&s->stall_err))
		return atomic_load(&s->stall_until_ns);
	if (s->bg_kick)
		return 0;
	uint64_t c = s->bg_consolidate ? consolidation_due(s) : UINT64_MAX;
	return c < next ? c : next;
}

/* Waits (bg_mu held) until `due`, a kick or a wake-up. */
static void bg_wait(lkv_store *s, uint64_t due)
{
	if (due == UINT64_MAX) {
		pthread_cond_wait(&s->bg_cv, &s->bg_mu);
		return;
	}
	uint64_t now = now_ns();
	uint64_t wait = due > now ? due - now : 0;    /* due may pass meanwhile */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = ts.tv_nsec + wait;
	ts.tv_sec += ns / 1000000000u;
	ts.tv_nsec = ns % 1000000000u;
	pthread_cond_timedwait(&s->bg_cv, &s->bg_mu, &ts);
}

static uint64_t next_flush(lkv_store *s)
{
	return s->o.flush_interval_ms ? now_ns() + s->o.flush_interval_ms * 1000000ull
				      : UINT64_MAX;
}

static void *flusher_main(void *arg)
{
	lkv_store *s = arg;
	s->gc_last_ns = now_ns();
	uint64_t next = next_flush(s);
	pthread_mutex_lock(&s->bg_mu);
	while (!s->bg_stop) {
		uint64_t due = flush_due(s, next);
		if (due > now_ns()) {
			bg_wait(s, due);
			continue;        /* a wake-up may have changed what is due */
		}
		/* a wake-up for consolidation alone flushes only through it: a
		 * second flush would be one more that an fsync may wait for */
		uint64_t now = now_ns();
		bool flush = s->bg_kick || now >= next || atomic_load(&s->stall_err);
		bool consolidate = s->bg_consolidate && now >= consolidation_due(s);
		s->bg_kick = false;
		pthread_mutex_unlock(&s->bg_mu);
		if (consolidate)
			gc_consolidate(s);   /* a failure is the flush's: retried */
		if (flush && epoch_has_work(s))
			flush_through(s, 0, true);
		if (flush)
			next = next_flush(s);
		maybe_gc(s);
		pthread_mutex_lock(&s->bg_mu);
	}
	pthread_mutex_unlock(&s->bg_mu);
	return NULL;
}

int flusher_start(lkv_store *s)
{
	s->bg_stop = false;     /* after a flusher_stop (lkv_thaw) */
	int err = pthread_create(&s->flusher, NULL, flusher_main, s);
	s->flusher_running = !err;
	return -err;
}

void flusher_stop(lkv_store *s)
{
	if (!s->flusher_running)
		return;
	pthread_mutex_lock(&s->bg_mu);
	s->bg_stop = true;
	pthread_cond_signal(&s->bg_cv);
	pthread_mutex_unlock(&s->bg_mu);
	pthread_join(s->flusher, NULL);
	s->flusher_running = false;
}
