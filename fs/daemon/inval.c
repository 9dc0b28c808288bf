/* SPDX-License-Identifier: MIT */
/*
 * The kernel's cached pages of a file, dropped so that the next read comes
 * to the daemon: how access times move under relatime and strictatime.
 *
 * FUSE inodes are S_NOATIME (fs/fuse/inode.c, fuse_init_inode): the kernel
 * never moves an atime itself, and a read its page cache serves never
 * reaches the daemon.  So when a read would move a file's atime
 * (lfs_atime_due: under relatime, once its mtime or ctime has caught up
 * with its atime; under strictatime, always) the daemon drops the file's
 * pages with fp_notify_inval_inode (FUSE_NOTIFY_INVAL_INODE), and the next read comes to
 * the core, which moves the atime (then the kernel's cached attributes
 * are dropped too: fuse_ll.c, ll_touched).
 *
 * Dropping pages waits for those under writeback, whose WRITE replies
 * other request threads send, and writes dirty ones back first (new
 * WRITEs).  So it never runs on a request's thread while the kernel waits
 * for that request: one thread of its own takes a queue of files.  The
 * queue never blocks a request: when it is full the drop is skipped (that
 * atime then moves at a later read).  A SETATTR of times alone
 * (the kernel writing back the mtime of written data, at close(2) or
 * fsync) waits up to WAIT_MS for its file, so that a read right after
 * close(2) comes to the daemon; a drop held up longer (by writeback) then
 * finishes on its own.
 *
 * Dropping pages also drops the kernel's cached attributes and its
 * S_NOSEC, so the next write pays a GETATTR and a GETXATTR of
 * security.capability: a drop per write took a 4 KiB write + fsync loop
 * from 2 to 4 round trips.  So a change's drop (INVAL_CHANGE: a write;
 * INVAL_WAIT: the times' SETATTR, which fsync sends as often as the
 * coarse clock ticks) is at once unless the file had a drop at once in
 * the last QUIET_MS and no read moved its atime since (inval_read); then
 * it waits until QUIET_MS after the first such change, joined by those
 * that follow.  A file written without pause and not read has its pages
 * dropped about twice per QUIET_MS.  (A read less than QUIET_MS after two
 * changes with no read between is served from the pages and does not move
 * the atime.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "fuse_ll.h"

#define QUEUE    256        /* drops waiting; a power of two */
#define LATER    256        /* files whose drop waits for quiet */
#define WAIT_MS  100
#define QUIET_MS 100
#define RECENT   64         /* files' last drop at once, by ino % RECENT */

struct drop {
	uint64_t ino;
	off_t off, len;             /* len 0: to the end of the file */
};

struct recent {
	uint64_t ino, ns;           /* a drop at once of ino at ns (monotonic) */
};

struct later {
	struct drop d;              /* d.ino 0: a free slot */
	uint64_t due_ns;            /* CLOCK_MONOTONIC */
};

static struct {
	pthread_mutex_t mu;         /* owner: everything below */
	pthread_cond_t work, done;
	pthread_t thread;
	bool running, stop;
	struct drop q[QUEUE];
	uint64_t head, tail;        /* q[tail % QUEUE] .. q[head % QUEUE] */
	uint64_t finished;          /* drops done, in queue order */
	struct later later[LATER];  /* drops waiting for a pause, a file once */
	unsigned nlater;            /* slots in use */
	struct recent recent[RECENT];
} inv = { .mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
	  .done = PTHREAD_COND_INITIALIZER };

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Takes a drop whose quiet time is over into *d; else the earliest due
 * time (UINT64_MAX: none waits).  inv.mu held. */
static uint64_t later_take(uint64_t now, struct drop *d)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; inv.nlater && i < LATER; i++) {
		struct later *l = &inv.later[i];
		if (!l->d.ino)
			continue;
		if (l->due_ns <= now) {
			*d = l->d;
			l->d.ino = 0;
			inv.nlater--;
			return 0;
		}
		if (l->due_ns < next)
			next = l->due_ns;
	}
	return next;
}

/* Sleeps until woken or until the monotonic time `until`.  inv.mu held. */
static void sleep_until(uint64_t until)
{
	if (until == UINT64_MAX) {
		pthread_cond_wait(&inv.work, &inv.mu);
		return;
	}
	/* inv.work waits on CLOCK_REALTIME: convert the span */
	struct timespec ts;
	uint64_t now = mono_ns(), span = until > now ? until - now : 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(span / 1000000000u);
	ts.tv_nsec += (long)(span % 1000000000u);
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&inv.work, &inv.mu, &ts);
}

static void *inval_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&inv.mu);
	while (!inv.stop) {
		struct drop d = { 0 };
		bool queued = inv.tail != inv.head;
		if (queued) {
			d = inv.q[inv.tail % QUEUE];
			inv.tail++;
		} else {
			uint64_t next = later_take(mono_ns(), &d);
			if (next) {
				sleep_until(next);
				continue;
			}
		}
		pthread_mutex_unlock(&inv.mu);
		/* -ENOENT: the kernel no longer knows the inode; nothing cached */
		fp_notify_inval_inode(d.ino, d.off, d.len);
		pthread_mutex_lock(&inv.mu);
		if (queued) {
			inv.finished++;
			pthread_cond_broadcast(&inv.done);
		}
	}
	pthread_mutex_unlock(&inv.mu);
	return NULL;
}

int inval_start(void)
{
	int err;

	inv.stop = false;
	err = pthread_create(&inv.thread, NULL, inval_main, NULL);
	inv.running = err == 0;
	return -err;
}

void inval_stop(void)
{
	if (!inv.running)
		return;
	pthread_mutex_lock(&inv.mu);
	inv.stop = true;
	pthread_cond_signal(&inv.work);
	pthread_mutex_unlock(&inv.mu);
	pthread_join(inv.thread, NULL);
	inv.running = false;
}

/* Waits until drop number `seq` is done, or WAIT_MS.  inv.mu held. */
static void wait_done(uint64_t seq)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += WAIT_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (inv.finished <= seq &&
	       pthread_cond_timedwait(&inv.done, &inv.mu, &until) != ETIMEDOUT)
		;
}

/* Joins [off, off + len) to the range of l (len 0: to the end). */
static void later_join(struct later *l, off_t off, off_t len)
{
	off_t end = len ? off + len : 0, lend = l->d.len ? l->d.off + l->d.len : 0;

	if (off < l->d.off)
		l->d.off = off;
	end = !end || !lend ? 0 : end > lend ? end : lend;
	l->d.len = end ? end - l->d.off : 0;
}

/* A drop that waits for a pause: joins the file's waiting one, or in a free
 * slot (none free: skipped, as a full queue's).  inv.mu held. */
static void later_add(uint64_t ino, off_t off, off_t len)
{
	struct later *free_slot = NULL;

	for (unsigned i = 0; i < LATER; i++) {
		struct later *l = &inv.later[i];
		if (l->d.ino == ino) {
			later_join(l, off, len);
			return;
		}
		if (!l->d.ino && !free_slot)
			free_slot = l;
	}
	if (!free_slot)
		return;
	*free_slot = (struct later){ .d = { .ino = ino, .off = off, .len = len },
				     .due_ns = mono_ns() + QUIET_MS * 1000000u };
	inv.nlater++;
	pthread_cond_signal(&inv.work);
}

/* Whether ino had a drop at once in the last QUIET_MS and no read since;
 * if not, one is about to be: noted.  inv.mu held. */
static bool dropped_lately(uint64_t ino)
{
	uint64_t now = mono_ns();
	struct recent *r = &inv.recent[ino % RECENT];

	if (r->ino == ino && now - r->ns < QUIET_MS * 1000000u)
		return true;
	r->ino = ino;
	r->ns = now;
	return false;
}

void inval_pages(uint64_t ino, off_t off, off_t len, enum inval_when when)
{
	pthread_mutex_lock(&inv.mu);
	if (!inv.running) {
		pthread_mutex_unlock(&inv.mu);
		return;
	}
	if (when != INVAL_NOW && dropped_lately(ino)) {
		later_add(ino, off, len);
		pthread_mutex_unlock(&inv.mu);
		return;
	}
	if (inv.head - inv.tail == QUEUE) {
		pthread_mutex_unlock(&inv.mu);
		return;
	}
	uint64_t seq = inv.head++;
	inv.q[seq % QUEUE] = (struct drop){ .ino = ino, .off = off, .len = len };
	pthread_cond_signal(&inv.work);
	if (when == INVAL_WAIT)
		wait_done(seq);
	pthread_mutex_unlock(&inv.mu);
}

void inval_read(uint64_t ino)
{
	pthread_mutex_lock(&inv.mu);
	if (inv.recent[ino % RECENT].ino == ino)
		inv.recent[ino % RECENT].ino = 0;
	pthread_mutex_unlock(&inv.mu);
}
