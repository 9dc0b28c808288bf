/* SPDX-License-Identifier: MIT */
/*
 * The background thread of a writable store: it seals and flushes the
 * current epoch every flush_interval_ms (bounding what an unsynced crash
 * loses), or at once when kicked (a writer found too many dirty bytes),
 * and runs a bounded GC pass every gc_interval_ms.
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
	int err = gc_pass(s, false);
	if (err && err != atomic_load(&s->failed))
		store_log(s, LKV_LOG_WARN, "background GC: %s", strerror(-err));
}

static void *flusher_main(void *arg)
{
	lkv_store *s = arg;
	s->gc_last_ns = now_ns();
	pthread_mutex_lock(&s->bg_mu);
	while (!s->bg_stop) {
		if (!s->bg_kick) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = ts.tv_nsec + (uint64_t)s->o.flush_interval_ms * 1000000u;
			ts.tv_sec += ns / 1000000000u;
			ts.tv_nsec = ns % 1000000000u;
			if (s->o.flush_interval_ms)
				pthread_cond_timedwait(&s->bg_cv, &s->bg_mu, &ts);
			else
				pthread_cond_wait(&s->bg_cv, &s->bg_mu);
		}
		s->bg_kick = false;
		if (s->bg_stop)
			break;
		pthread_mutex_unlock(&s->bg_mu);
		if (epoch_has_work(s))
			flush_through(s, 0);
		maybe_gc(s);
		pthread_mutex_lock(&s->bg_mu);
	}
	pthread_mutex_unlock(&s->bg_mu);
	return NULL;
}

int flusher_start(lkv_store *s)
{
	int err = pthread_create(&s->flusher, NULL, flusher_main, s);
	s->flusher_running = !err;
	return -err;
}

void flusher_kick(lkv_store *s)
{
	pthread_mutex_lock(&s->bg_mu);
	s->bg_kick = true;
	pthread_cond_signal(&s->bg_cv);
	pthread_mutex_unlock(&s->bg_mu);
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
