/* SPDX-License-Identifier: MIT */
/*
 * The freeze gate: every change to a store (a commit, a blob, a GC pass,
 * a META write) runs between change_begin and change_end, and the gate
 * counts those running.  freeze_gate_close shuts it and waits until none
 * is left; from then on change_begin refuses with -EROFS until
 * freeze_gate_open.  store.c's lkv_freeze/lkv_thaw settle the files
 * around it, under freeze_mu; freeze_settled tells a flush whether a
 * freeze has made everything durable (waiting for one under way).
 *
 * Invariant: while the gate is shut, s->changing counts only changes that
 * are turning back (change_begin's undo), so no write reaches the files.
 */
#include <errno.h>
#include <time.h>

#include "internal.h"

int change_begin(lkv_store *s)
{
	atomic_fetch_add(&s->changing, 1);
	if (atomic_load(&s->frozen)) {       /* the gate is shut: turn back */
		change_end(s);
		return -EROFS;
	}
	return 0;
}

void change_end(lkv_store *s)
{
	LKV_ASSERT(atomic_load(&s->changing) > 0);
	atomic_fetch_sub(&s->changing, 1);
}

bool freeze_gate_close(lkv_store *s)
{
	if (atomic_exchange(&s->frozen, true))
		return false;
	while (atomic_load(&s->changing))
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	return true;
}

void freeze_gate_open(lkv_store *s)
{
	atomic_store(&s->frozen, false);
}

bool freeze_settled(lkv_store *s)
{
	if (!atomic_load(&s->frozen))
		return false;
	/* lkv_freeze holds freeze_mu while it makes everything durable, and
	 * opens the gate again if it fails: wait for it to end either way */
	pthread_mutex_lock(&s->freeze_mu);
	bool settled = atomic_load(&s->frozen);
	pthread_mutex_unlock(&s->freeze_mu);
	return settled;
}
