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
 * pages with fuse_lowlevel_notify_inval_inode, and the next read comes to
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
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "fuse_ll.h"

#define QUEUE   256         /* drops waiting; a power of two */
#define WAIT_MS 100

struct drop {
	uint64_t ino;
	off_t off, len;             /* len 0: to the end of the file */
};

static struct {
	pthread_mutex_t mu;         /* owner: everything below */
	pthread_cond_t work, done;
	struct fuse_session *se;
	pthread_t thread;
	bool running, stop;
	struct drop q[QUEUE];
	uint64_t head, tail;        /* q[tail % QUEUE] .. q[head % QUEUE] */
	uint64_t finished;          /* drops done, in queue order */
} inv = { .mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
	  .done = PTHREAD_COND_INITIALIZER };

static void *inval_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&inv.mu);
	while (!inv.stop) {
		if (inv.tail == inv.head) {
			pthread_cond_wait(&inv.work, &inv.mu);
			continue;
		}
		struct drop d = inv.q[inv.tail % QUEUE];
		inv.tail++;
		pthread_mutex_unlock(&inv.mu);
		/* -ENOENT: the kernel no longer knows the inode; nothing cached */
		fuse_lowlevel_notify_inval_inode(inv.se, d.ino, d.off, d.len);
		pthread_mutex_lock(&inv.mu);
		inv.finished++;
		pthread_cond_broadcast(&inv.done);
	}
	pthread_mutex_unlock(&inv.mu);
	return NULL;
}

int inval_start(struct fuse_session *se)
{
	int err;

	inv.se = se;
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

void inval_pages(uint64_t ino, off_t off, off_t len, bool wait)
{
	pthread_mutex_lock(&inv.mu);
	if (!inv.running || inv.head - inv.tail == QUEUE) {
		pthread_mutex_unlock(&inv.mu);
		return;
	}
	uint64_t seq = inv.head++;
	inv.q[seq % QUEUE] = (struct drop){ .ino = ino, .off = off, .len = len };
	pthread_cond_signal(&inv.work);
	if (wait)
		wait_done(seq);
	pthread_mutex_unlock(&inv.mu);
}
